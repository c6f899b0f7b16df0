// Benchmark (not a test): time for the panel to apply one delta and render it, in headless Chromium.
//
//   node --import tsx bench/panel-render.ts [--updates 100] [--intervals 600] [--extra-rx 8]
//
// The panel holds `intervals` of history (600 = ten minutes at 1 s) for every stage; the Stages tab
// shows an RX stage with "compare" on, so the time chart draws p50 and p99 of every RX stage
// (2 × (4 + extra-rx) series, 24 by default), the histogram, the waterfall, the table and the
// heatmap of all 600 intervals. Each update is one host delta (every stage changed, one new interval).
// "apply" is the message handler (store merge), "render" the one animation-frame render that follows
// (chart.js draws synchronously with update('none'); the heatmap is drawn by hand).
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { ToPanel } from '../src/core/protocol.ts';
import { buildWebview, launch, readyPosted, rendered, send, servePanel } from '../test/webview/harness.ts';
import { makePanelState, nextDelta } from '../test/webview/fixture.ts';

const { values } = parseArgs({
  options: {
    updates: { type: 'string', default: '100' },
    intervals: { type: 'string', default: '600' },
    'extra-rx': { type: 'string', default: '8' },
    width: { type: 'string', default: '1400' },
  },
});
const updates = Number(values.updates);
const intervals = Number(values.intervals);
const extraRx = Number(values['extra-rx']);

type Sample = { apply: number; render: number; frame: number; parts: Record<string, number> };
type Bench = { __bench(d: unknown): Promise<Sample> };

const bundle = await buildWebview();
const server = await servePanel(bundle.js);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: Number(values.width), height: 1000 } });
  await page.goto(server.url);
  await readyPosted(page);
  await page.evaluate(`window.__bench = async (d) => {
    const stats = window.nslatPanel.stats;
    const before = stats.renders;
    const t0 = performance.now();
    window.dispatchEvent(new MessageEvent('message', { data: d }));
    const apply = performance.now() - t0;
    await new Promise((r) => requestAnimationFrame(() => r()));
    if (stats.renders !== before + 1) throw new Error('expected exactly one render per delta, got ' + (stats.renders - before));
    return { apply, render: stats.lastRenderMs, frame: performance.now() - t0, parts: { ...stats.parts } };
  }`);

  const state = makePanelState({ intervals, extraRx, journeys: 300 });
  const deltas: ToPanel[] = Array.from({ length: updates + 10 }, () => nextDelta(state));
  await send(page, { type: 'snapshot', state });
  await rendered(page);
  await page.locator('#compare').check();
  await rendered(page);
  const series = (await page.evaluate('window.nslatPanel.store.series.length')) as number;
  const lines = (await page.evaluate('window.nslatPanel.charts.time.chart.data.datasets.length')) as number;

  const run = async (label: string, list: ToPanel[]) => {
    const rows: Sample[] = [];
    for (const d of list) rows.push(await page.evaluate((dd) => (globalThis as unknown as Bench).__bench(dd), d));
    return { label, rows };
  };
  // Warm up (JIT, chart.js caches), then measure.
  await run('warm-up', deltas.slice(0, 10));
  const { rows } = await run('stages', deltas.slice(10));

  const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  };
  const fmt = (v: number) => `${v.toFixed(2)} ms`;
  const total = rows.map((r) => r.apply + r.render);
  console.log(`machine: ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (figures grow with load)`);
  console.log(`panel render benchmark: ${rows.length} deltas, ${series} intervals of history (heatmap ${Math.min(series, 600)} columns), ${state.stages.length} stages, time chart ${lines} series, viewport ${values.width}px, Chromium headless`);
  console.log(`  apply + render   median ${fmt(q(total, 0.5))}   p95 ${fmt(q(total, 0.95))}   max ${fmt(Math.max(...total))}`);
  console.log(`  apply (merge)    median ${fmt(q(rows.map((r) => r.apply), 0.5))}   p95 ${fmt(q(rows.map((r) => r.apply), 0.95))}`);
  console.log(`  render (1 frame) median ${fmt(q(rows.map((r) => r.render), 0.5))}   p95 ${fmt(q(rows.map((r) => r.render), 0.95))}`);
  const parts = Object.keys(rows[0]?.parts ?? {});
  console.log(`  render parts     ${parts.map((k) => `${k} ${fmt(q(rows.map((r) => r.parts[k] ?? 0), 0.5))}`).join(', ')} (medians)`);
  console.log(`  to next frame    median ${fmt(q(rows.map((r) => r.frame), 0.5))}   p95 ${fmt(q(rows.map((r) => r.frame), 0.95))}  (includes waiting for the frame)`);
} finally {
  await browser.close();
  await server.close();
  await bundle.cleanup();
}

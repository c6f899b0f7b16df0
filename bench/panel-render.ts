// Benchmark (not a test): time for the panel to apply one delta and render it, in headless Chromium.
//
//   node --import tsx bench/panel-render.ts [--updates 100] [--intervals 600] [--extra-rx 8]
//        [--width 1400] [--height 1000] [--baseline GIT_REF|DIR] [--rounds 5] [--trace 30]
//
// The panel holds `intervals` of history (600 = ten minutes at 1 s) for every stage; the Stages tab
// shows an RX stage with "compare" on, so the time chart draws p50 and p99 of every RX stage
// (2 × (4 + extra-rx) series, 24 by default), the histogram, the waterfall, the table and the
// heatmap of all 600 intervals. Each update is one host delta (every stage changed, one new interval).
// "apply" is the message handler (store merge), "render" the one animation-frame render that follows
// (chart.js draws synchronously with update('none'); the heatmap is drawn by hand), "layout" the
// style and layout the browser does after it (forced right after the render, so it is counted).
//
// --trace N then feeds N more deltas to each panel under Chromium's performance tracing and reports
// the renderer main thread's time per update by phase: the frame's JS, and what the timers above do
// not see — the commit, where the canvases' recorded drawing is rasterised, and paint.
//
// --baseline bundles webview/ as it is in that git commit (or in DIR/webview) as well, loads both
// panels in the same browser and feeds them the same deltas in interleaved rounds (A B, B A, …), so
// the machine's load hits both alike; it prints the ratio current / baseline per part.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import type { Browser, Page } from 'playwright-core';
import type { ToPanel } from '../src/core/protocol.ts';
import { buildWebview, launch, readyPosted, rendered, ROOT, send, servePanel } from '../test/webview/harness.ts';
import { makePanelState, nextDelta } from '../test/webview/fixture.ts';

const { values } = parseArgs({
  options: {
    updates: { type: 'string', default: '100' },
    intervals: { type: 'string', default: '600' },
    'extra-rx': { type: 'string', default: '8' },
    width: { type: 'string', default: '1400' },
    height: { type: 'string', default: '1000' },
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    trace: { type: 'string', default: '30' },
  },
});
const updates = Number(values.updates);
const intervals = Number(values.intervals);
const extraRx = Number(values['extra-rx']);
const rounds = Math.max(1, Math.min(updates, Number(values.rounds)));
const traced = Math.max(0, Number(values.trace));

type Sample = { apply: number; render: number; layout: number; frame: number; parts: Record<string, number> };
type Bench = { __bench(d: unknown): Promise<Sample> };

/** webview/ of a git commit (or DIR/webview) copied into a temp dir, for --baseline. */
async function baselineDir(ref: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  if (existsSync(join(ref, 'webview', 'main.ts'))) return { dir: join(ref, 'webview'), cleanup: async () => {} };
  const tmp = await mkdtemp(join(tmpdir(), 'nslat-baseline-'));
  const files = (await execa('git', ['ls-tree', '-r', '--name-only', ref, '--', 'webview'], { cwd: ROOT })).stdout.split('\n').filter(Boolean);
  if (!files.includes('webview/main.ts')) throw new Error(`--baseline ${ref}: no webview/main.ts in that commit`);
  for (const f of files) {
    await mkdir(dirname(join(tmp, f)), { recursive: true });
    await writeFile(join(tmp, f), (await execa('git', ['show', `${ref}:${f}`], { cwd: ROOT, stripFinalNewline: false })).stdout);
  }
  return { dir: join(tmp, 'webview'), cleanup: () => rm(tmp, { recursive: true, force: true }) };
}

const BENCH_FN = `window.__bench = async (d) => {
  const stats = window.nslatPanel.stats;
  const before = stats.renders;
  const t0 = performance.now();
  window.dispatchEvent(new MessageEvent('message', { data: d }));
  const apply = performance.now() - t0;
  await new Promise((r) => requestAnimationFrame(() => r()));
  if (stats.renders !== before + 1) throw new Error('expected exactly one render per delta, got ' + (stats.renders - before));
  // Style and layout the render left to do (the browser would do it right after this frame's callbacks).
  const l0 = performance.now();
  void document.documentElement.offsetHeight;
  const layout = performance.now() - l0;
  return { apply, render: stats.lastRenderMs, layout, frame: performance.now() - t0, parts: { ...stats.parts } };
}`;

interface Variant {
  name: string;
  page: Page;
  rows: Sample[];
  rounds: Sample[][];
  trace?: Record<string, number>;
  series: number;
  lines: number;
}

const state = makePanelState({ intervals, extraRx, journeys: 300 });
const deltas: ToPanel[] = Array.from({ length: updates + 10 + traced }, () => nextDelta(state));

const cleanups: (() => Promise<void>)[] = [];
let browser: Browser | undefined;
try {
  const builds: { name: string; dir?: string }[] = [{ name: 'current' }];
  if (values.baseline) {
    const b = await baselineDir(values.baseline);
    cleanups.push(b.cleanup);
    builds.push({ name: `baseline ${values.baseline}`, dir: b.dir });
  }
  browser = await launch();
  const variants: Variant[] = [];
  for (const b of builds) {
    const bundle = await buildWebview(b.dir);
    cleanups.push(bundle.cleanup);
    const server = await servePanel(bundle.js);
    cleanups.push(server.close);
    // Own context per variant: separate renderer processes, no shared caches.
    const ctx = await browser.newContext({ viewport: { width: Number(values.width), height: Number(values.height) } });
    const page = await ctx.newPage();
    await page.goto(server.url);
    await readyPosted(page);
    await page.evaluate(BENCH_FN);
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    await page.locator('#compare').check();
    await rendered(page);
    const series = (await page.evaluate('window.nslatPanel.store.series.length')) as number;
    const lines = (await page.evaluate('window.nslatPanel.charts.time.chart.data.datasets.length')) as number;
    variants.push({ name: b.name, page, rows: [], rounds: [], series, lines });
  }

  const run = async (v: Variant, list: ToPanel[]) => {
    const rows: Sample[] = [];
    for (const d of list) rows.push(await v.page.evaluate((dd) => (globalThis as unknown as Bench).__bench(dd), d));
    return rows;
  };
  // Warm up (JIT, chart.js caches), then measure in interleaved rounds.
  for (const v of variants) await run(v, deltas.slice(0, 10));
  const measured = deltas.slice(10, 10 + updates);
  for (let r = 0; r < rounds; r++) {
    const block = measured.slice(Math.floor((r * measured.length) / rounds), Math.floor(((r + 1) * measured.length) / rounds));
    const order = r % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      const rows = await run(v, block);
      v.rows.push(...rows);
      v.rounds.push(rows);
    }
  }

  // Renderer main thread per update, from a trace: top-level events of the page's main thread.
  if (traced > 0) {
    for (const v of variants) {
      await browser.startTracing(v.page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'cc', 'toplevel'] });
      await run(v, deltas.slice(10 + updates));
      const buf = await browser.stopTracing();
      const trace = JSON.parse(buf.toString('utf8')) as { traceEvents: { ph: string; name: string; pid: number; tid: number; dur?: number; args?: { name?: string } }[] };
      const mainThreads = new Set(trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
      const sums: Record<string, number> = {};
      for (const e of trace.traceEvents) if (e.ph === 'X' && e.dur && mainThreads.has(`${e.pid}:${e.tid}`)) sums[e.name] = (sums[e.name] ?? 0) + e.dur / 1000 / traced;
      v.trace = {
        'frame JS': sums['FireAnimationFrame'] ?? 0,
        'commit (canvas raster)': sums['Commit'] ?? 0,
        'style+layout': (sums['UpdateLayoutTree'] ?? 0) + (sums['Layout'] ?? 0),
        paint: sums['Paint'] ?? 0,
        'main thread busy': sums['ThreadControllerImpl::RunTask'] ?? 0,
      };
    }
  }

  const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  };
  const med = (xs: number[]) => q(xs, 0.5);
  const fmt = (v: number) => `${v.toFixed(2)} ms`;
  const total = (r: Sample) => r.apply + r.render + r.layout;
  const partNames = [...new Set(variants.flatMap((v) => v.rows.flatMap((r) => Object.keys(r.parts))))];
  console.log(`machine: ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (figures grow with load)`);
  for (const v of variants) {
    const rows = v.rows;
    console.log(`${v.name === 'current' ? '' : `[${v.name}] `}panel render benchmark: ${rows.length} deltas, ${v.series} intervals of history (heatmap ${Math.min(v.series, 600)} columns), ${state.stages.length} stages, time chart ${v.lines} series, viewport ${values.width}×${values.height}px, Chromium headless`);
    console.log(`  apply + render   median ${fmt(med(rows.map(total)))}   p95 ${fmt(q(rows.map(total), 0.95))}   max ${fmt(Math.max(...rows.map(total)))}  (includes layout)`);
    console.log(`  apply (merge)    median ${fmt(med(rows.map((r) => r.apply)))}   p95 ${fmt(q(rows.map((r) => r.apply), 0.95))}`);
    console.log(`  render (1 frame) median ${fmt(med(rows.map((r) => r.render)))}   p95 ${fmt(q(rows.map((r) => r.render), 0.95))}`);
    console.log(`  layout after     median ${fmt(med(rows.map((r) => r.layout)))}   p95 ${fmt(q(rows.map((r) => r.layout), 0.95))}`);
    console.log(`  render parts     ${partNames.map((k) => `${k} ${fmt(med(rows.map((r) => r.parts[k] ?? 0)))}`).join(', ')} (medians)`);
    console.log(`  to next frame    median ${fmt(med(rows.map((r) => r.frame)))}   p95 ${fmt(q(rows.map((r) => r.frame), 0.95))}  (includes waiting for the frame)`);
    if (v.trace) console.log(`  traced (${traced} more deltas, mean per update, tracing adds overhead): ${Object.entries(v.trace).map(([k, x]) => `${k} ${fmt(x)}`).join(', ')}`);
  }
  if (variants.length === 2) {
    const [cur, base] = variants as [Variant, Variant];
    const ratio = (f: (r: Sample) => number, p: number) => {
      const perRound = cur.rounds.map((rows, i) => q(rows.map(f), p) / q(base.rounds[i]!.map(f), p));
      return { all: q(cur.rows.map(f), p) / q(base.rows.map(f), p), perRound };
    };
    const show = (label: string, f: (r: Sample) => number, p = 0.5) => {
      const r = ratio(f, p);
      const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
      console.log(`  ${label.padEnd(20)} ${x(r.all)}   per round ${r.perRound.map(x).join(' ')}`);
    };
    console.log(`current / ${base.name}: ratio of medians, same deltas, ${rounds} interleaved rounds (lower is faster)`);
    show('apply + render', total);
    show('apply + render (p95)', total, 0.95);
    show('render', (r) => r.render);
    show('layout', (r) => r.layout);
    for (const k of partNames) show(k, (r) => r.parts[k] ?? 0);
    if (cur.trace && base.trace) console.log(`  traced: ${Object.keys(cur.trace).map((k) => `${k} ${(cur.trace![k]! / base.trace![k]!).toFixed(2)}×`).join(', ')}`);
  }
} finally {
  await browser?.close();
  for (const c of cleanups.reverse()) await c();
}

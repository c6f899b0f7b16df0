// The latency panel in real headless Chromium (Debian's /usr/bin/chromium via playwright-core),
// served with the real HTML from panelHtml.ts and its CSP, fed recorded data: the helper stream of
// test/fixtures/helper-stream.jsonl through the real Aggregator, and test/fixtures/panel-state.json
// (ten-odd stages over two minutes with reloads).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { PanelState, type StageSummary, type ToPanel } from '../../src/core/protocol.ts';
import { makePanelState, nextDelta } from './fixture.ts';
import { shortReason } from '../../src/core/feeds.ts';
import { captured, threadedIrqStream } from '../fixtures/captured.ts';
import { recorded } from '../fixtures/recorded.ts';
import { panelCsp, panelHtml } from '../../src/extension/panelHtml.ts';
import {
  canvasInk,
  computed,
  fixtureState,
  panelOf,
  panelSuite,
  pixelsNear,
  readyPosted,
  savedScroll,
  posted,
  ROOT,
  recordedPanel,
  rendered,
  send,
  TEST_THEME,
} from './harness.ts';

const RESULTS = join(ROOT, 'test-results');

mkdirSync(RESULTS, { recursive: true });
const { open, clean, server } = panelSuite({ width: 1280, height: 900 });

const text = (page: Page, sel: string) => page.locator(sel).first().textContent();

describe('panelHtml', () => {
  test('strict CSP with a nonce, and only the given URIs', () => {
    const html = panelHtml({ scriptUri: 'https://x.vscode-cdn.net/ext/dist/webview.js', styleUri: 'https://x.vscode-cdn.net/ext/media/panel.css', cspSource: 'https://*.vscode-cdn.net', nonce: 'abc123XYZ' });
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
    assert.equal(csp, "default-src 'none'; img-src https://*.vscode-cdn.net data:; style-src https://*.vscode-cdn.net; script-src 'nonce-abc123XYZ'; font-src https://*.vscode-cdn.net");
    assert.equal(csp, panelCsp('https://*.vscode-cdn.net', 'abc123XYZ'));
    const scripts = html.match(/<script[^>]*>/g) ?? [];
    assert.deepEqual(scripts, ['<script nonce="abc123XYZ" src="https://x.vscode-cdn.net/ext/dist/webview.js">']);
    assert.match(html, /<link rel="stylesheet" href="https:\/\/x.vscode-cdn.net\/ext\/media\/panel.css">/);
    assert.doesNotMatch(html, /style=/, 'no inline style attributes');
    assert.doesNotMatch(html, /<style/, 'no inline style elements');
    const a = /nonce-([^']+)'/.exec(panelHtml({ scriptUri: 's', styleUri: 'c', cspSource: 'x' }))?.[1];
    const b = /nonce-([^']+)'/.exec(panelHtml({ scriptUri: 's', styleUri: 'c', cspSource: 'x' }))?.[1];
    assert.ok(a && b && a !== b && Buffer.from(a, 'base64').length === 16, 'a fresh 128-bit nonce per render');
    assert.throws(() => panelHtml({ scriptUri: 's', styleUri: 'c', cspSource: 'x', nonce: '"><script>' }));
  });
});

describe('panel in headless Chromium', () => {
  test('fixtures are valid PanelState', () => {
    PanelState.parse(fixtureState());
    PanelState.parse(recordedPanel().state);
  });

  test('recorded session: ready, charts, heatmap, theme, delta, journeys, no CSP violations', async () => {
    const { page, problems } = await open();
    // The CSP the page runs under is the real one.
    assert.equal(await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content'), server().csp);
    assert.deepEqual(await posted(page), [{ type: 'ready' }], 'ready is posted on load, once');
    assert.match((await text(page, '#banner')) ?? '', /Waiting for the first snapshot/, 'deliberate empty state before data');
    assert.match((await text(page, '#histogram')) ?? '', /No data yet/);

    const { state, delta } = recordedPanel();
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    assert.equal(await page.locator('#banner').isHidden(), true);

    // Charts drawn: real ink on every chart canvas, in the theme's series colours.
    for (const id of ['histogram-canvas', 'timeseries-canvas', 'waterfall-canvas']) {
      const ink = await canvasInk(page, id);
      assert.ok(ink.w > 100 && ink.h > 100, `${id} sized (${ink.w}×${ink.h})`);
      assert.ok(ink.ink > 2000 && ink.colors > 5, `${id} has drawing on it: ${JSON.stringify(ink)}`);
    }
    assert.ok((await pixelsNear(page, 'histogram-canvas', TEST_THEME['--vscode-charts-blue']!)) > 500, 'histogram bars in --vscode-charts-blue');
    assert.ok((await pixelsNear(page, 'timeseries-canvas', TEST_THEME['--vscode-charts-orange']!)) > 50, 'p99 line in --vscode-charts-orange');
    // Heatmap drawn on its own canvas: many distinct cell colours.
    const heat = await canvasInk(page, 'heatmap-canvas');
    assert.ok(heat.ink > 20000 && heat.colors > 20, `heatmap drawn: ${JSON.stringify(heat)}`);

    // Theme applied from --vscode-* variables.
    assert.equal(await computed(page, 'body', 'background-color'), 'rgb(16, 24, 32)');
    assert.equal(await computed(page, 'body', 'color'), 'rgb(224, 228, 232)');
    assert.match((await computed(page, 'body', 'font-family')) ?? '', /DejaVu Sans/);
    assert.equal(await computed(page, '.actions button:not(.secondary)', 'background-color'), 'rgb(14, 99, 156)');
    assert.equal(await computed(page, '.card', 'border-top-color'), 'rgb(51, 64, 76)');

    // Table fallback: p50/p90/p99/max per stage, and skipped boundaries with their reason.
    const rows = await page.locator('#stage-table tbody tr').count();
    assert.ok(rows >= state.stages.filter((s) => s.dir !== 'irq').length);
    const skipped = state.health.boundaries.filter((b) => !b.active);
    assert.ok(skipped.length > 0);
    for (const b of skipped) assert.ok(((await text(page, `#stage-table tr[data-key="skip:${b.slot}:${b.dir}:${b.name}"]`)) ?? '').includes(`${b.name}${b.dir.toUpperCase()}not attached${shortReason(b.reason)}`), b.name);
    // (recorded where fentry is refused and kprobes are absent: ip_output has no other alternative)
    assert.match((await text(page, '#attach-chips')) ?? '', /ip_output: fentry not permitted; kprobes absent/);

    // Loss apart from activity: the LOST tile is what nslat lost with its worst share, the loss
    // table every loss with what it is a share of, the activity table the rest.
    const ringbuf = state.health.loss.find((l) => l.name === 'ringbuf_drop')!;
    assert.ok(ringbuf.total > 0 && ringbuf.of > 0, 'the stream carries a ring-buffer loss');
    const lostTotal = state.health.loss.reduce((a, l) => a + l.total, 0);
    assert.match((await text(page, '#health-lost')) ?? '', new RegExp(`^${lostTotal} \\([<\\d.]+ % of [\\d.]+(?: [kMG])? (started packets|snapshots)\\)$`));
    assert.equal(await page.locator('#health-lost').getAttribute('class'), 'warn');
    // the row shows the loss as a share: "0.15 % of 10.4 k started packets", the figures the host sent
    const share = /^([\d.]+) % of ([\d.]+) ([kM]) started packets$/.exec(ringbuf.label);
    assert.ok(share, `the share reads "${ringbuf.label}"`);
    assert.ok(Math.abs(Number(share[1]) - (100 * ringbuf.total) / ringbuf.of) < 0.01, `${ringbuf.label}: ${ringbuf.total} of ${ringbuf.of}`);
    assert.ok(Math.abs(Number(share[2]) * (share[3] === 'k' ? 1e3 : 1e6) - ringbuf.of) <= 0.05 * ringbuf.of, `${ringbuf.label}: of ${ringbuf.of}`);
    assert.equal(await text(page, '#loss-table tr[data-key="ringbuf_drop"]'), `ringbuf_drop${ringbuf.total}${ringbuf.label}`);
    assert.equal(await page.locator('#loss-table tr[data-key="ringbuf_drop"]').getAttribute('class'), 'failed');
    const actKeys = await page.locator('#activity-table tbody tr').evaluateAll((trs) => trs.map((t) => t.getAttribute('data-key')));
    assert.ok(actKeys.includes('started') && actKeys.includes('finished') && !actKeys.includes('ringbuf_drop'), actKeys.join());

    // A delta updates the numbers: the stage's row and the health row.
    const target = state.stages.find((s) => s.kind === 'stage' && s.dir === 'rx')!;
    const before = await text(page, `#stage-table tr[data-key="${target.key}"]`);
    const changed: StageSummary = { ...target, count: target.count + 1000, p99: 777_000, max: 1_048_576 };
    const measured = [
      { slot: 'rx', dir: 'rx', seen: 1_204_800, measured: 75_300 },
      { slot: 'tx', dir: 'tx', seen: 9_000, measured: 9_000 },
    ];
    const withNew: ToPanel = { ...delta, stages: [...delta.stages.filter((s) => s.key !== target.key), changed], health: { ...(delta.health ?? state.health), events_per_s: 43210, measured } };
    await send(page, withNew);
    await rendered(page);
    const afterRow = await text(page, `#stage-table tr[data-key="${target.key}"]`);
    assert.notEqual(afterRow, before);
    assert.match(afterRow ?? '', /777 µs/);
    assert.equal(await text(page, '#health-events'), '43.2k');
    // The measured share of each packet object (sampling), as the counters show it.
    assert.equal(await text(page, '#health-measured'), 'RX 1 in 16 of 1.20M · TX all of 9.00k');
    assert.equal(await page.locator('#health-measured').getAttribute('title'), 'rx: measured 1 in 16 of 1.20M packets (75.3k)\ntx: every packet measured (9.00k)');
    // The new intervals of the delta reached the time axis.
    const n = (await page.evaluate('window.nslatPanel.store.series.length')) as number;
    assert.equal(n, state.series.length + delta.points.length);

    // Journeys: click one, see its timeline.
    await page.getByRole('tab', { name: 'Packet journeys' }).click();
    await rendered(page);
    const list = page.locator('#journey-table tbody tr');
    assert.ok((await list.count()) > 0, 'journeys listed');
    assert.equal(await page.locator('#journey-timeline svg').count(), 0);
    await list.first().locator('button').click();
    await rendered(page);
    const newest = [...state.journeys, ...delta.journeys].at(-1)!;
    assert.equal(await page.locator('#journey-timeline svg .segment').count(), newest.marks.length - 1, 'one segment per step');
    const labels = await page.locator('#journey-timeline svg .mark-label').allTextContents();
    assert.deepEqual(labels.map((l) => l.split(' ')[0]), [...newest.marks].sort((a, b) => a.t_ns - b.t_ns).map((m) => m.boundary));
    assert.equal(await page.locator('#journey-marks tbody tr').count(), newest.marks.length);

    // IRQ tab: per CPU and vector.
    await page.getByRole('tab', { name: 'IRQ & softirq' }).click();
    await rendered(page);
    for (const id of ['hardirq-canvas', 'softirq-delay-canvas', 'softirq-time-canvas']) {
      const ink = await canvasInk(page, id);
      assert.ok(ink.ink > 1000, `${id} drawn: ${JSON.stringify(ink)}`);
    }
    assert.match((await text(page, '#irq-table')) ?? '', /NET_RX/);

    // Commands and probe links go to the host.
    await page.locator('button[data-value="reload"]').click();
    await page.locator('#attach-chips button').first().click();
    const msgs = await posted(page);
    assert.deepEqual(msgs.slice(1), [{ type: 'command', command: 'reload' }, { type: 'openProbe', boundary: state.health.boundaries[0]!.name }]);

    await page.getByRole('tab', { name: 'Stages' }).click();
    await rendered(page);
    await page.screenshot({ path: join(RESULTS, 'panel-recorded.png'), fullPage: true });
    await clean(page, problems);
  });

  test('fixture: reload marks, a stage added in C, keyboard, clear', async () => {
    const { page, problems } = await open();
    const state = fixtureState();
    await send(page, { type: 'snapshot', state });
    await rendered(page);

    // Reload marks on the time axis: a failed reload is drawn in red (--vscode-errorForeground).
    assert.ok((await pixelsNear(page, 'timeseries-canvas', TEST_THEME['--vscode-errorForeground']!, 10)) > 30, 'failed reload marked in red');
    assert.ok((await pixelsNear(page, 'heatmap-canvas', TEST_THEME['--vscode-errorForeground']!, 10)) > 30, 'failed reload marked on the heatmap');

    // A stage a probe author adds in C shows up by its own name.
    const added: StageSummary = { ...state.stages[0]!, key: 'rx:stage:xdp_prog→netif_receive_skb', name: 'xdp_prog→netif_receive_skb', from: 'xdp_prog', p50: 321 };
    await send(page, { type: 'delta', stages: [added], points: [], journeys: [], reloads: [] });
    await rendered(page);
    assert.match((await text(page, `#stage-table tr[data-key="${added.key}"]`)) ?? '', /xdp_prog→netif_receive_skb.*321 ns/);
    assert.ok((await page.locator(`#stage-select option[value="${added.key}"]`).count()) === 1);

    // Keyboard: tabs by arrow keys, stage selection by Enter on a table button.
    await page.getByRole('tab', { name: 'Stages' }).focus();
    await page.keyboard.press('ArrowRight');
    await rendered(page);
    assert.equal(await page.getByRole('tab', { name: 'IRQ & softirq' }).getAttribute('aria-selected'), 'true');
    assert.equal((await page.evaluate('document.activeElement.id')) as string, 'tab-irq');
    await page.keyboard.press('ArrowLeft');
    const tx = state.stages.find((s) => s.dir === 'tx' && s.kind === 'stage')!;
    await page.locator(`#stage-table tr[data-key="${tx.key}"] button`).focus();
    await page.keyboard.press('Enter');
    await rendered(page);
    assert.equal(await page.locator('#stage-select').inputValue(), tx.key);
    assert.match((await text(page, '#histogram-title')) ?? '', new RegExp(`TX ${tx.name}`));
    assert.equal((await page.evaluate('document.activeElement.dataset.value')) as string, tx.key, 'focus kept while the table updates');

    await page.screenshot({ path: join(RESULTS, 'panel.png'), fullPage: true });
    await page.getByRole('tab', { name: 'Packet journeys' }).click();
    await page.locator('#journey-table tbody tr button').nth(3).click();
    await rendered(page);
    await page.screenshot({ path: join(RESULTS, 'panel-journeys.png'), fullPage: true });
    await page.getByRole('tab', { name: 'IRQ & softirq' }).click();
    await rendered(page);
    await page.screenshot({ path: join(RESULTS, 'panel-irq.png'), fullPage: true });

    // clear empties the panel back to its waiting state.
    await send(page, { type: 'clear' });
    await rendered(page);
    assert.equal(await page.locator('#banner').isVisible(), true);
    assert.equal(await page.locator('#irq-table tbody tr').count(), 0);
    await clean(page, problems);
  });

  test('window reload: UI state comes back from getState, data from the next snapshot', async () => {
    const { page, problems } = await open();
    const state = fixtureState();
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    const tx = state.stages.find((s) => s.dir === 'tx' && s.kind === 'stage')!;
    await page.locator('#stage-select').selectOption(tx.key);
    await page.locator('#compare').check();
    await page.getByRole('tab', { name: 'IRQ & softirq' }).click();
    await rendered(page);
    await page.evaluate('window.scrollTo(0, 200)');
    await savedScroll(page, 200);
    const saved = (await page.evaluate('window.__states.at(-1)')) as Record<string, unknown>;
    assert.equal(saved.tab, 'irq');
    assert.equal(saved.stage, tx.key);
    assert.equal(JSON.stringify(saved).includes('"stages"'), false, 'setState holds UI state only, no data');

    await page.reload();
    await readyPosted(page);
    assert.deepEqual(await posted(page), [{ type: 'ready' }]);
    assert.equal(await page.locator('#tab-irq').getAttribute('aria-selected'), 'true', 'tab restored');
    assert.match((await text(page, '#banner')) ?? '', /Waiting for the first snapshot/, 'no data until the host re-sends it');
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    assert.equal(await page.locator('#panel-irq').isVisible(), true);
    assert.ok((await canvasInk(page, 'hardirq-canvas')).ink > 1000, 'data back after the host re-sends the snapshot');
    assert.equal(await page.evaluate('window.scrollY'), 200, 'scroll position restored');
    await page.getByRole('tab', { name: 'Stages' }).click();
    await rendered(page);
    assert.equal(await page.locator('#stage-select').inputValue(), tx.key, 'selected stage restored');
    assert.equal(await page.locator('#compare').isChecked(), true);
    await clean(page, problems);
  });

  test('incremental drawing matches a full redraw: time chart lines and heatmap columns as history slides', async () => {
    const { page, problems } = await open();
    // Near the store's 1800-interval bound, so deltas both add intervals and drop the oldest.
    const state = makePanelState({ intervals: 1797, extraRx: 2, journeys: 5 });
    const deltas = Array.from({ length: 6 }, () => nextDelta(state));
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    await page.locator('#compare').check();
    await rendered(page);
    for (const d of deltas) {
      await send(page, d);
      await rendered(page);
    }
    const check = (await page.evaluate(`(() => {
      const p = window.nslatPanel;
      const series = p.store.series;
      const key = document.getElementById('stage-select').value;
      const want = (k, f) => series.map((s) => { const v = s.stages[k]; return v && v[0] > 0 && v[f] > 0 ? v[f] : null; });
      const ds = p.charts.time.chart.data.datasets;
      const pts = (d) => d._data ?? d.data;
      return {
        n: series.length,
        first: series[0].t_ms === ${JSON.stringify(state.series[0]!.t_ms)},
        lines: ds.length,
        xOk: ds.every((d) => pts(d).length === series.length && pts(d).every((q, i) => q.x === series[i].t_ms)),
        p99: JSON.stringify(pts(ds[0]).map((q) => q.y)) === JSON.stringify(want(key, 2)),
        p50: JSON.stringify(pts(ds[1]).map((q) => q.y)) === JSON.stringify(want(key, 1)),
      };
    })()`)) as Record<string, unknown>;
    // compare mode: p99 and p50 of every RX stage (the recorded ones and the two added)
    const rxStages = state.stages.filter((s) => s.dir === 'rx' && s.kind === 'stage').length;
    assert.deepEqual(check, { n: 1800, first: false, lines: 2 * rxStages, xOk: true, p99: true, p50: true }, 'lines follow the sliding history point for point');

    // The heatmap shifted its kept columns and computed only the new ones: the same pixels as drawn from scratch.
    const pixels = () => page.evaluate(`(() => { const c = document.getElementById('heatmap-canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let h = 0; for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0; return h; })()`);
    const incremental = await pixels();
    await page.evaluate('window.nslatPanel.heatmap.kept = undefined');
    await page.locator('#stage-select').dispatchEvent('change');
    await rendered(page);
    assert.equal(await pixels(), incremental);
    await clean(page, problems);
  });

  test('chart legends: one item per line under the time chart and the waterfall; a click hides and shows the line', async () => {
    const { page, problems } = await open();
    await send(page, { type: 'snapshot', state: fixtureState() });
    await rendered(page);
    await page.locator('#compare').check();
    await rendered(page);
    const lines = (await page.evaluate('window.nslatPanel.charts.time.chart.data.datasets.map((d) => d.label)')) as string[];
    assert.ok(lines.length > 2, `compare shows more than the selected stage (${lines.length} lines)`);
    const items = page.locator('#timeseries .chart-legend button');
    assert.deepEqual(await items.allTextContents(), lines, 'time chart legend: every line, in order');
    const layers = (await page.evaluate('window.nslatPanel.charts.waterfall.chart.data.datasets.map((d) => d.label)')) as string[];
    assert.deepEqual(await page.locator('#waterfall .chart-legend button').allTextContents(), layers, 'waterfall legend: every layer');
    const visible = () => page.evaluate('window.nslatPanel.charts.time.chart.isDatasetVisible(1)');
    assert.equal(await visible(), true);
    await items.nth(1).click();
    assert.equal(await visible(), false, 'clicking a legend item hides its line');
    assert.equal(await items.nth(1).getAttribute('aria-checked'), 'false');
    // Hidden stays hidden while deltas arrive.
    const state = fixtureState();
    const last = state.series.at(-1)!;
    await send(page, { type: 'delta', stages: [], points: [{ ...last, t_ms: last.t_ms + 1000 }], journeys: [], reloads: [] });
    await rendered(page);
    assert.equal(await visible(), false);
    await items.nth(1).click();
    assert.equal(await visible(), true, 'and a second click shows it again');
    assert.equal(await items.nth(1).getAttribute('aria-checked'), 'true');
    await clean(page, problems);
  });

  test('updates are batched: many deltas in one frame render once', async () => {
    const { page, problems } = await open();
    const state = fixtureState();
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    const before = (await page.evaluate('window.nslatPanel.stats.renders')) as number;
    const last = state.series.at(-1)!;
    await page.evaluate((ds) => {
      for (const d of ds) (globalThis as unknown as { dispatchEvent(e: unknown): void }).dispatchEvent(new (globalThis as unknown as { MessageEvent: new (t: string, i: unknown) => unknown }).MessageEvent('message', { data: d }));
    }, Array.from({ length: 20 }, (_, i): ToPanel => ({ type: 'delta', stages: [], points: [{ ...last, t_ms: last.t_ms + 1000 * (i + 1) }], journeys: [], reloads: [] })));
    await rendered(page);
    const renders = ((await page.evaluate('window.nslatPanel.stats.renders')) as number) - before;
    assert.ok(renders >= 1 && renders <= 2, `20 deltas rendered ${renders} times`);
    assert.equal((await page.evaluate('window.nslatPanel.store.series.length')) as number, state.series.length + 20);
    await clean(page, problems);
  });

  test('a clean session from the real helper: the LOST tile reads 0, the activity is listed apart', async () => {
    const { page, problems } = await open();
    // The stream recorded from the real helper on loopback traffic: nothing lost, much done.
    const state = panelOf(recorded());
    assert.deepEqual(state.health.loss.filter((l) => l.total > 0), [], 'the recording lost nothing');
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    assert.equal(await text(page, '#health-lost'), '0');
    assert.equal(await page.locator('#health-lost').getAttribute('class'), '', 'no warning colour');
    // every loss is listed, each at 0 % of what it applies to
    const lossRows = await page.locator('#loss-table tbody tr').evaluateAll((trs) => trs.map((t) => [...t.querySelectorAll('td, th')].map((c) => c.textContent)));
    assert.deepEqual(lossRows.map((r) => r[0]), state.health.loss.map((l) => l.name));
    const ringbuf = lossRows.find((r) => r[0] === 'ringbuf_drop')!;
    assert.equal(ringbuf[1], '0');
    assert.match(ringbuf[2]!, /^0 % of [\d.]+(?: [kM])? started packets$/);
    assert.equal(await page.locator('#loss-table tr.failed').count(), 0);
    // the work the probes did is in the activity table, with its counts
    const activity = new Map(await page.locator('#activity-table tbody tr').evaluateAll((trs) => trs.map((t) => [t.getAttribute('data-key'), t.querySelectorAll('td, th')[1]?.textContent] as [string, string])));
    for (const k of ['started', 'finished']) assert.ok(/[1-9]/.test(activity.get(k) ?? ''), `activity ${k}: ${activity.get(k)}`);
    for (const l of state.health.loss) assert.ok(!activity.has(l.name), `${l.name} is not activity`);
    await clean(page, problems);
  });

  test('what fed each boundary: its mechanism on the chip, or why nothing did; IRQ threads on the IRQ tab', async () => {
    const { page, problems } = await open();
    // Real helper output of a kernel where netfilter hooks feed ip_rcv and ip_local_deliver.
    await send(page, { type: 'snapshot', state: panelOf(captured('helper-6.18-netfilter')) });
    await rendered(page);
    const chip = (name: string, slot = 'rx') => page.locator(`#attach-chips li[data-slot="${slot}"][data-boundary="${name}"]`);
    assert.equal(await chip('ip_rcv').getAttribute('class'), 'chip on');
    assert.equal((await chip('ip_rcv').textContent())?.trim(), 'fed: ip_rcv netfilter');
    assert.equal(await chip('ip_rcv').locator('.mech').textContent(), ' netfilter');
    assert.equal(await chip('ip_rcv').locator('button').getAttribute('title'), 'RX boundary ip_rcv (rx): fed by netfilter (ipv4/pre_routing, ipv6/pre_routing). Open its probe source.');
    assert.equal(await chip('ip_local_deliver').locator('.mech').textContent(), ' netfilter');
    assert.equal(await chip('netif_rx').locator('.mech').textContent(), ' tp_btf');
    assert.equal(await chip('sendmsg', 'tx').locator('.mech').textContent(), ' tp_btf+tracepoint');
    // nothing feeds ip_output here: the chip says why, in short; the tooltip completely
    assert.equal(await chip('ip_output', 'tx').getAttribute('class'), 'chip off');
    assert.equal(await chip('ip_output', 'tx').locator('.why').textContent(), ': fentry not permitted; kprobes absent');
    assert.match((await chip('ip_output', 'tx').locator('button').getAttribute('title')) ?? '', /nothing feeds it — fentry not permitted on this kernel \(EPERM at load\); kprobes absent on this kernel \(ENOENT/);
    // named groups get chips too
    assert.equal(await chip('irq_thread', 'irq').getAttribute('class'), 'chip off group');
    assert.equal(await text(page, '#health-attached'), '16 / 17');
    // counters of work done (started, finished, NAPI polls…) are not losses
    assert.equal(await text(page, '#health-lost'), '0');

    // IRQ tab on this kernel: nothing is threaded, and the card says so.
    await page.getByRole('tab', { name: 'IRQ & softirq' }).click();
    await rendered(page);
    assert.match((await text(page, '#irq-thread-latency .empty')) ?? '', /^Nothing is threaded here: device IRQ handlers run in hard IRQ context/);
    assert.equal(await page.locator('#irq-thread-time').isHidden(), true, 'one card says why, not two');

    // The same kernel with --no-netfilter: ip_rcv is fed by nothing, and the chip says why.
    await send(page, { type: 'snapshot', state: panelOf(captured('helper-6.18-no-netfilter')) });
    await rendered(page);
    assert.equal(await chip('ip_rcv').getAttribute('class'), 'chip off');
    assert.equal(await chip('ip_rcv').locator('.why').textContent(), ': fentry not permitted; kprobes absent; netfilter hooks turned off (--no-netfilter)');
    assert.equal(await text(page, '#health-attached'), '14 / 17');

    // A threaded-IRQ kernel: wake-up latency and thread run time per line and CPU, drawn.
    await send(page, { type: 'snapshot', state: panelOf(threadedIrqStream(true)) });
    await rendered(page);
    assert.equal(await page.locator('#irq-thread-latency .empty').isHidden(), true);
    assert.equal(await page.locator('#irq-thread-time').isHidden(), false);
    for (const id of ['irq-thread-latency-canvas', 'irq-thread-time-canvas']) {
      const ink = await canvasInk(page, id);
      assert.ok(ink.ink > 1000, `${id} drawn: ${JSON.stringify(ink)}`);
    }
    assert.match((await text(page, '#irq-table')) ?? '', /irq_thread 24 virtio0-input\.0IRQ thread wake-up/);
    assert.equal(await page.locator('#irq-thread-latency').getAttribute('title'), 'fed by fentry+fexit (irq_thread_fn, irq_forced_thread_fn)');
    // threaded, but nothing could feed the group: why
    await send(page, { type: 'snapshot', state: panelOf(threadedIrqStream(false)) });
    await rendered(page);
    assert.equal(await text(page, '#irq-thread-latency .empty'), 'Not measured: fentry not permitted; tracepoint sched_switch not found.');
    await clean(page, problems);
  });
});

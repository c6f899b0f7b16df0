// Several hosts, saved traces and comparisons in the panel, in real headless Chromium (the real
// bundle, HTML and CSP of panel.test.ts): the host selector lists the hosts with their state and
// asks for another; the Compare tab asks for a stage on the chosen hosts and overlays their
// histograms; a saved trace's scrubber moves through its intervals; a range selection on the time
// axis starts a comparison (split at a reload mark when it crosses one), whose table and charts
// then show. The data comes from the real Aggregator and src/core (hostStageOf, compareRanges).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Aggregator } from '../../src/core/aggregate.ts';
import { compareRanges } from '../../src/core/compare.ts';
import { formatClock, formatKindValue } from '../../src/core/format.ts';
import { hostStageOf } from '../../src/core/hostStage.ts';
import type { FromPanel, HelperMessage, HostEntry, TimeRange } from '../../src/core/protocol.ts';
import { makeStream } from '../fixtures/stream.ts';
import { canvasInk, panelSuite, pixelsNear, posted, rendered, ROOT, send, TEST_THEME } from './harness.ts';

const RESULTS = join(ROOT, 'test-results');
const T = Date.UTC(2026, 11, 1, 12, 0, 0);

mkdirSync(RESULTS, { recursive: true });
const { open, clean } = panelSuite({ width: 1280, height: 1000 });

/** An aggregator fed with a stream; `slower` doubles every value of the rx stages (bucket index +8). */
function aggregatorOf(msgs: HelperMessage[], host: string, slower = false): Aggregator {
  const agg = new Aggregator({ host, now: () => T });
  for (const m of msgs) {
    if (slower && m.type === 'snapshot') {
      for (const s of m.slots) for (const h of s.hists) if (h.dir === 'rx' && h.kind === 'stage') {
        h.sum *= 2;
        h.buckets = h.buckets.map(([i, n]) => [i >= 8 ? i + 8 : i, n]);
      }
    }
    agg.ingest(m);
  }
  return agg;
}

const HOSTS: HostEntry[] = [
  { host: 'local', label: 'this machine', state: 'running', events_per_s: 1200 },
  { host: 'lab1', label: 'lab1', state: 'running', events_per_s: 800 },
  { host: 'lab2', label: 'lab2', state: 'failed', message: 'lost the connection to lab2: Connection reset; the data collected so far is kept' },
];

const sent = async (page: Page, type: FromPanel['type']) => (await posted(page)).filter((m) => m.type === type);

describe('several hosts, traces and comparisons in the panel', () => {
  test('host selector: every host with its state; choosing one asks for it', async () => {
    const { page, problems } = await open();
    const agg = aggregatorOf(makeStream({ snapshots: 10 }), 'local');
    await send(page, { type: 'snapshot', state: agg.panelState() });
    await rendered(page);
    assert.equal(await page.locator('#hostbar').isHidden(), true, 'no host list yet: no selector');
    await send(page, { type: 'hosts', hosts: HOSTS, selected: 'local' });
    await rendered(page);
    assert.equal(await page.locator('#hostbar').isVisible(), true);
    assert.deepEqual(await page.locator('#host-select option').allTextContents(), ['this machine — running', 'lab1 — running', 'lab2 — failed']);
    assert.equal(await page.locator('#host-select').inputValue(), 'local');
    assert.equal(await page.locator('#host-select option[value="lab2"]').getAttribute('title'), HOSTS[2]!.message);
    assert.equal((await page.locator('#host-summary').textContent())?.trim(), '3 hosts: 2 tracing (2.00k events/s), 1 failed');
    await page.locator('#host-select').selectOption('lab1');
    assert.deepEqual(await sent(page, 'selectHost'), [{ type: 'selectHost', host: 'lab1' }]);
    // The host answers with the new selection (and that host's snapshot): the selector follows.
    await send(page, { type: 'hosts', hosts: HOSTS, selected: 'lab1' });
    await rendered(page);
    assert.equal(await page.locator('#host-select').inputValue(), 'lab1');
    await clean(page, problems);
  });

  test('Compare tab, hosts side by side: asks for the stage on the chosen hosts, overlays their histograms, stops asking when left', async () => {
    const { page, problems } = await open();
    const local = aggregatorOf(makeStream({ snapshots: 20, seed: 1 }), 'local');
    const lab1 = aggregatorOf(makeStream({ snapshots: 20, seed: 2 }), 'lab1', true);
    await send(page, { type: 'snapshot', state: local.panelState() });
    await send(page, { type: 'hosts', hosts: HOSTS.slice(0, 2), selected: 'local' });
    await rendered(page);
    await page.getByRole('tab', { name: 'Compare' }).click();
    await rendered(page);
    const asks = await sent(page, 'compareHosts');
    assert.equal(asks.length, 1, JSON.stringify(asks));
    const ask = asks[0] as Extract<FromPanel, { type: 'compareHosts' }>;
    assert.deepEqual(ask.hosts, ['local', 'lab1'], 'every host, by default');
    const stage = local.stage(ask.key)!;
    assert.equal(stage.kind, 'stage', `the first stage with packets: ${ask.key}`);
    assert.equal(await page.locator('#cmp-stage').inputValue(), ask.key);
    assert.match((await page.locator('#cmp-hist').textContent()) ?? '', /Waiting for the hosts/);

    await send(page, { type: 'hostCompare', key: ask.key, hosts: [hostStageOf(local, HOSTS[0]!, ask.key), hostStageOf(lab1, HOSTS[1]!, ask.key)] });
    await rendered(page);
    const hist = await canvasInk(page, 'cmp-hist-canvas');
    assert.ok(hist.ink > 2000 && hist.colors > 4, `overlaid histograms drawn: ${JSON.stringify(hist)}`);
    // one host in --vscode-charts-blue, the other in --vscode-charts-orange (bar borders)
    assert.ok((await pixelsNear(page, 'cmp-hist-canvas', TEST_THEME['--vscode-charts-blue']!)) > 50, 'first host in blue');
    assert.ok((await pixelsNear(page, 'cmp-hist-canvas', TEST_THEME['--vscode-charts-orange']!)) > 50, 'second host in orange');
    const time = await canvasInk(page, 'cmp-time-canvas');
    assert.ok(time.ink > 1000, `p50/p99 over time drawn: ${JSON.stringify(time)}`);
    assert.deepEqual(await page.locator('#cmp-time ~ .chart-legend button, #cmp-time .chart-legend button').allTextContents(), ['this machine p50', 'this machine p99', 'lab1 p50', 'lab1 p99']);
    const rows = await page.locator('#cmp-host-table tbody tr').allTextContents();
    assert.equal(rows.length, 2);
    assert.ok(rows[0]!.startsWith('this machinerunning') && rows[0]!.includes(formatKindValue(stage.p50, stage.kind)), rows[0]);
    const lab1p50 = lab1.stage(ask.key)!.p50;
    assert.ok(lab1p50 > 1.8 * stage.p50, 'lab1 is twice as slow');
    assert.ok(rows[1]!.includes(formatKindValue(lab1p50, stage.kind)), rows[1]);
    await page.screenshot({ path: join(RESULTS, 'webview-compare-hosts.png'), fullPage: true });

    // Unticking a host asks again without it; leaving the tab stops the updates.
    await page.locator('#cmp-host-list input[value="lab1"]').uncheck();
    await rendered(page);
    assert.deepEqual((await sent(page, 'compareHosts')).at(-1), { type: 'compareHosts', key: ask.key, hosts: ['local'] });
    await page.getByRole('tab', { name: 'Stages' }).click();
    await rendered(page);
    assert.deepEqual((await sent(page, 'compareHosts')).at(-1), { type: 'compareHosts', key: '', hosts: [] });
    await clean(page, problems);
  });

  test('a saved trace: the scrubber moves through its intervals, with each interval\'s figures and a cursor on the time axis', async () => {
    const { page, problems } = await open();
    // A live session shows no scrubber.
    const agg = aggregatorOf(makeStream({ snapshots: 30 }), 'lab1');
    await send(page, { type: 'snapshot', state: agg.panelState() });
    await rendered(page);
    assert.equal(await page.locator('#scrubber').isHidden(), true);
    agg.setSession({ state: 'stopped', message: 'Saved trace nslat-lab1.jsonl: 30 intervals over 30 s; read-only.', trace: { file: 'nslat-lab1.jsonl', intervals: 30 } });
    const state = agg.panelState();
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    assert.equal(await page.locator('#scrubber').isVisible(), true);
    assert.equal(await page.locator('.state').textContent(), 'saved trace');
    const readout = () => page.locator('#scrubber-readout').textContent();
    const at = (i: number) => new RegExp(`^interval ${i + 1} of 30 · ${formatClock(state.series[i]!.t_ms)}`);
    assert.match((await readout()) ?? '', at(29), 'at the last interval first');
    const key = state.stages.find((s) => s.kind === 'stage' && s.dir === 'rx' && s.count > 0)!.key;
    const cell = async () => (await page.locator(`#scrub-table tr[data-key="${key}"] td`).allTextContents()).slice(1);
    const figures = (i: number) => {
      const v = state.series[i]!.stages[key]!;
      return [String(v[0]), formatKindValue(v[1], 'stage'), formatKindValue(v[2], 'stage')];
    };
    assert.deepEqual(await cell(), figures(29));
    // keyboard on the slider, then the buttons
    await page.locator('#scrubber-range').focus();
    await page.keyboard.press('ArrowLeft');
    await rendered(page);
    assert.match((await readout()) ?? '', at(28));
    assert.deepEqual(await cell(), figures(28));
    await page.keyboard.press('Home');
    await rendered(page);
    assert.match((await readout()) ?? '', at(0));
    await page.getByRole('button', { name: 'Next interval' }).click();
    await page.getByRole('button', { name: 'Next interval' }).click();
    await rendered(page);
    assert.match((await readout()) ?? '', at(2));
    assert.deepEqual(await cell(), figures(2));
    // the interval on the time chart: a line in the theme's accent (--vscode-focusBorder)
    assert.ok((await pixelsNear(page, 'timeseries-canvas', TEST_THEME['--vscode-focusBorder']!, 8)) > 100, 'cursor drawn');
    const hist = await canvasInk(page, 'scrub-hist-canvas');
    assert.ok(hist.ink > 1000, `interval histogram drawn: ${JSON.stringify(hist)}`);
    await page.screenshot({ path: join(RESULTS, 'webview-trace-scrubber.png'), fullPage: true });
    await clean(page, problems);
  });

  test('range selection on the time axis starts a comparison: two ranges, or one across a reload mark; the result shows in the Compare tab', async () => {
    const { page, problems } = await open(1280, 1100);
    const agg = aggregatorOf(makeStream({ snapshots: 30 }), 'local');
    const state = agg.panelState();
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    const mark = state.reloads.find((r) => r.ok)!;
    assert.ok(mark, 'the stream has a reload');

    const canvas = page.locator('#timeseries-canvas');
    await canvas.scrollIntoViewIfNeeded();
    const box = (await canvas.boundingBox())!;
    const area = (await page.evaluate('(() => { const c = window.nslatPanel.charts.time.chart; return { ...c.chartArea, min: c.scales.x.min, max: c.scales.x.max }; })()')) as { left: number; right: number; top: number; bottom: number; min: number; max: number };
    const xOf = (t: number) => area.left + ((t - area.min) / (area.max - area.min)) * (area.right - area.left);
    const drag = async (t0: number, t1: number) => {
      const y = box.y + (area.top + area.bottom) / 2;
      await page.mouse.move(box.x + xOf(t0), y);
      await page.mouse.down();
      await page.mouse.move(box.x + (xOf(t0) + xOf(t1)) / 2, y, { steps: 4 });
      await page.mouse.move(box.x + xOf(t1), y, { steps: 4 });
      await page.mouse.up();
      await rendered(page);
    };
    const s = state.series;
    const near = (got: number, want: number) => Math.abs(got - want) <= ((area.max - area.min) / (area.right - area.left)) * 1.5;

    // Two ranges away from the reload: the first is A, the second B.
    await drag(s[1]!.t_ms, s[8]!.t_ms);
    assert.match((await page.locator('#range-hint').textContent()) ?? '', /^A: .* Drag another range/);
    assert.deepEqual(await sent(page, 'compareRanges'), []);
    await drag(s[20]!.t_ms, s[28]!.t_ms);
    const asked = (await sent(page, 'compareRanges')) as Extract<FromPanel, { type: 'compareRanges' }>[];
    assert.equal(asked.length, 1);
    const { a, b } = asked[0]!;
    assert.ok(near(a.from_ms, s[1]!.t_ms) && near(a.to_ms, s[8]!.t_ms) && near(b.from_ms, s[20]!.t_ms) && near(b.to_ms, s[28]!.t_ms), JSON.stringify(asked[0]));
    assert.equal(await page.getByRole('tab', { name: 'Compare' }).getAttribute('aria-selected'), 'true', 'the Compare tab shows');
    assert.match((await page.locator('#cmp-summary').textContent()) ?? '', /Drag across the time axis/);

    // The host's answer: the real comparison of those ranges.
    const answer = compareRanges(agg, 'this machine', a, b);
    assert.ok(answer.comparison);
    await send(page, { type: 'comparison', comparison: answer.comparison });
    await rendered(page);
    assert.match((await page.locator('#cmp-summary').textContent()) ?? '', /^A: this machine .* \(\d+ intervals\) — B: .*Mann–Whitney.*Holm-adjusted over \d+ tests at α = 0\.01/);
    const rows = page.locator('#cmp-table tbody tr');
    assert.equal(await rows.count(), answer.comparison.stages.length);
    const first = answer.comparison.stages[0]!;
    assert.match((await page.locator('#cmp-statement').textContent()) ?? '', /B's p50 is .* Verdict: (no difference beyond noise|too few intervals to tell)\.$/);
    assert.equal(await rows.first().getAttribute('class'), `verdict-${first.verdict} selected`);
    for (const id of ['cmp-win-hist-canvas', 'cmp-noise-canvas']) {
      const ink = await canvasInk(page, id);
      assert.ok(ink.ink > 500, `${id} drawn: ${JSON.stringify(ink)}`);
    }
    await page.screenshot({ path: join(RESULTS, 'webview-compare-windows.png'), fullPage: true });

    // Back on the Stages tab, one range across the reload mark: before against after, split there.
    await page.getByRole('tab', { name: 'Stages' }).click();
    await rendered(page);
    const i = s.findIndex((p) => p.t_ms > mark.t_ms);
    await drag(s[i - 6]!.t_ms, s[i + 6]!.t_ms);
    const split = ((await sent(page, 'compareRanges')) as Extract<FromPanel, { type: 'compareRanges' }>[]).at(-1)!;
    const exp: [TimeRange, TimeRange] = [{ from_ms: s[i - 6]!.t_ms, to_ms: mark.t_ms }, { from_ms: mark.t_ms, to_ms: s[i + 6]!.t_ms }];
    assert.equal(split.a.to_ms, mark.t_ms, 'A ends at the reload');
    assert.equal(split.b.from_ms, mark.t_ms, 'B starts at it');
    assert.ok(near(split.a.from_ms, exp[0].from_ms) && near(split.b.to_ms, exp[1].to_ms), JSON.stringify(split));
    assert.match((await page.locator('#range-hint').textContent()) ?? '', /before the rx reload/);
    // Escape clears a pending A; a click is no range.
    await page.getByRole('tab', { name: 'Stages' }).click();
    await drag(s[2]!.t_ms, s[5]!.t_ms);
    await page.keyboard.press('Escape');
    await drag(s[22]!.t_ms, s[22]!.t_ms);
    assert.equal((await sent(page, 'compareRanges')).length, 2, 'no comparison from a cleared A and a click');
    await clean(page, problems);
  });
});

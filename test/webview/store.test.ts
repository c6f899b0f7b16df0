// The panel's data model and formatting, in plain Node (no browser): snapshot replaces, delta merges,
// clear empties; stages keep the host's order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StageSummary } from '../../src/core/protocol.ts';
import { bucketLabel, bucketRangeLabel, formatCount, formatNs } from '../../src/core/format.ts';
import { fromValues } from '../../src/core/hist.ts';
import { MAX_BARS, histogramBars } from '../../webview/bins.ts';
import { MAX_POINTS, Store, stageSeries } from '../../webview/store.ts';
import { makePanelState } from './fixture.ts';

const stage = (over: Partial<StageSummary> & { key: string; name: string }): StageSummary => ({
  kind: 'stage', dir: 'rx', count: 10, sum: 100, buckets: new Array(32).fill(0), p50: 1, p90: 2, p99: 3, p999: 4, max: 5, ...over,
});

test('snapshot replaces, delta merges, clear empties', () => {
  const s = new Store();
  const state = makePanelState({ intervals: 5, journeys: 3 });
  s.apply({ type: 'snapshot', state });
  assert.equal(s.series.length, 5);
  assert.equal(s.stages.size, state.stages.length);
  const first = state.stages[0]!;
  const last = state.series.at(-1)!;
  const d = s.apply({
    type: 'delta',
    stages: [{ ...first, p99: 999 }, stage({ key: 'rx:stage:new', name: 'new' })],
    points: [last, { ...last, t_ms: last.t_ms + 1000 }], // the repeated one is dropped
    journeys: [state.journeys[0]!],
    reloads: [{ t_ms: last.t_ms, slot: 'rx', ok: false }],
  });
  assert.deepEqual(d, { session: false, stages: true, series: true, journeys: true, reloads: true, health: false, hostCounters: false });
  assert.equal(s.stages.get(first.key)?.p99, 999);
  assert.ok(s.stages.has('rx:stage:new'));
  assert.equal(s.series.length, 6);
  assert.equal(s.journeys.length, 4);
  assert.equal(s.reloads.length, 1);
  s.apply({ type: 'snapshot', state });
  assert.equal(s.stages.has('rx:stage:new'), false, 'a snapshot replaces everything');
  s.apply({ type: 'clear' });
  assert.equal(s.loaded, false);
  assert.equal(s.stages.size + s.series.length + s.journeys.length, 0);
});

test('history is bounded', () => {
  const s = new Store();
  const state = makePanelState({ intervals: 2, journeys: 0 });
  s.apply({ type: 'snapshot', state });
  const p = state.series[1]!;
  for (let i = 1; i <= MAX_POINTS + 10; i++) s.apply({ type: 'delta', stages: [], points: [{ ...p, t_ms: p.t_ms + i * 1000 }], journeys: [], reloads: [] });
  assert.equal(s.series.length, MAX_POINTS);
  assert.equal(s.series.at(-1)!.t_ms, p.t_ms + (MAX_POINTS + 10) * 1000);
});

test('stages keep the order of the snapshot; new stages of a delta go next to their neighbours in it', () => {
  const s = new Store();
  const state = makePanelState({ intervals: 1, journeys: 0 });
  const keys = ['rx:stage:a→c', 'rx:stage:c→d', 'tx:stage:b', 'irq:hardirq:h:0', 'irq:hardirq:h:1'];
  state.stages = keys.map((key) => stage({ key, name: key.split(':')[2]! }));
  s.apply({ type: 'snapshot', state });
  assert.deepEqual(s.orderedStages().map((x) => x.key), keys, 'the host\'s order, not re-sorted');
  const st = (key: string) => stage({ key, name: key });
  s.apply({ type: 'delta', stages: [st('rx:stage:c→d'), st('rx:stage:d→e'), st('tx:stage:b')], points: [], journeys: [], reloads: [] });
  s.apply({ type: 'delta', stages: [st('rx:stage:0→a'), st('rx:stage:a→c')], points: [], journeys: [], reloads: [] });
  s.apply({ type: 'delta', stages: [st('irq:softirq_time:NET_RX:0')], points: [], journeys: [], reloads: [] });
  assert.deepEqual(s.orderedStages().map((x) => x.key), [
    'rx:stage:0→a', // before the delta's first known stage
    'rx:stage:a→c',
    'rx:stage:c→d',
    'rx:stage:d→e', // after the known stage before it in the delta
    'tx:stage:b',
    'irq:hardirq:h:0',
    'irq:hardirq:h:1',
    'irq:softirq_time:NET_RX:0', // a delta with no known stage: last
  ]);
  assert.equal(s.stages.get('rx:stage:c→d')?.name, 'rx:stage:c→d', 'a known stage is updated in place');
  s.apply({ type: 'snapshot', state });
  assert.deepEqual(s.orderedStages().map((x) => x.key), keys, 'a snapshot brings the host\'s order back');
});

test('series points leave gaps where a stage saw no packet', () => {
  const pts = stageSeries(
    [
      { t_ms: 1, stages: { k: [3, 10, 20, [64, 3], 1] }, events_per_s: 0 },
      { t_ms: 2, stages: { k: [0, 0, 0, [], 1] }, events_per_s: 0 },
      { t_ms: 3, stages: {}, events_per_s: 0 },
    ],
    'k',
    2,
  );
  assert.deepEqual(pts, [{ x: 1, y: 20 }, { x: 2, y: null }, { x: 3, y: null }]);
});

test('formatting', () => {
  assert.equal(formatNs(512), '512 ns');
  assert.equal(formatNs(1536), '1.54 µs');
  assert.equal(formatNs(27_000_000), '27.0 ms');
  assert.equal(formatCount(43210), '43.2k');
  // log-linear buckets: labels at their real edges (1024 ns, 1152 ns), the last one open
  assert.equal(bucketLabel(64), '1.02µs–1.15µs');
  assert.equal(bucketLabel(255), '≥16.1s');
  assert.equal(bucketLabel(3, 'packets'), '3');
  assert.equal(bucketRangeLabel(64, 71), '1.02µs–2.05µs');
});

test('histogram bars: one per log-linear bucket over the used range, aligned groups past MAX_BARS, real edges', () => {
  const narrow = histogramBars(fromValues([1000, 1100, 1200]), 'ns');
  // one empty bucket each side; 1000 in 960 … 1023, 1100 in 1024 … 1151, 1200 in 1152 … 1279
  assert.deepEqual(narrow, { labels: ['896ns–960ns', '960ns–1.02µs', '1.02µs–1.15µs', '1.15µs–1.28µs', '1.28µs–1.41µs'], data: [0, 1, 1, 1, 0], group: 1 });
  // 100 ns … 5 ms: too many buckets for one bar each, so aligned groups of 4 (two per power of two)
  const values = Array.from({ length: 5000 }, (_, i) => 100 + i * 997);
  const wide = histogramBars(fromValues(values), 'ns');
  assert.ok(wide.labels.length <= MAX_BARS && wide.group === 4, `${wide.labels.length} bars of ${wide.group}`);
  assert.equal(wide.data.reduce((a, b) => a + b, 0), values.length);
  assert.deepEqual(wide.labels.slice(0, 3), ['64ns–96ns', '96ns–128ns', '128ns–192ns']);
  // each bar ends where the next begins
  for (let i = 0; i + 1 < wide.labels.length; i++) assert.equal(wide.labels[i]!.split('–')[1], wide.labels[i + 1]!.split('–')[0]);
});

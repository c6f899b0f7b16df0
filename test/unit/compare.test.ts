/**
 * Before/after comparison (src/core/compare.ts) and its statistics (src/core/stats.ts): the
 * Mann–Whitney test against reference values, Holm's adjustment, the Hodges–Lehmann shift; then
 * windows of synthetic intervals: a known shift is flagged with its size, equal distributions are
 * not (over many seeded trials), interval-to-interval noise, a single burst and a shift below the
 * histograms' resolution are not, and too few intervals say so.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Aggregator } from '../../src/core/aggregate.ts';
import type { Interval, IntervalStage } from '../../src/core/accumulate.ts';
import { compare, differences, intervalsIn, resolutionAt, windowOf, type StageMeta, type Window } from '../../src/core/compare.ts';
import { bucketOf } from '../../src/core/hist.ts';
import { erfc, hodgesLehmann, holm, mannWhitney, median } from '../../src/core/stats.ts';
import { lognormal, makeStream, rng } from '../fixtures/stream.ts';

const close = (got: number, want: number, rel: number, what: string) => assert.ok(Math.abs(got - want) <= rel * Math.abs(want), `${what}: ${got} vs ${want}`);

test('Mann–Whitney: exact p for small samples without ties, normal approximation with ties (reference: scipy.stats.mannwhitneyu)', () => {
  const sep = mannWhitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
  assert.equal(sep.u, 25);
  assert.equal(sep.exact, true);
  close(sep.p, 2 / 252, 1e-12, 'complete separation, 5 vs 5');
  const r = mannWhitney([19, 22, 16, 29, 24], [20, 11, 17, 12]);
  assert.equal(r.u, 3);
  close(r.p, 0.1111111111111111, 1e-9, 'scipy exact');
  // symmetric: swapping the samples gives the same p
  close(mannWhitney([20, 11, 17, 12], [19, 22, 16, 29, 24]).p, r.p, 1e-12, 'swapped');
  const tied = mannWhitney([1, 2, 2, 3, 3, 3, 4, 5], [3, 4, 4, 5, 5, 6, 7, 7, 7]);
  assert.equal(tied.exact, false);
  assert.equal(tied.u, 64.5);
  close(tied.p, 0.006274233849838661, 1e-5, 'scipy asymptotic with ties');
  const a = [10.2, 12.5, 8.1, 12.0, 9.5, 9.5, 13.8, 10.3, 9.9, 11.5, 12.3, 9.9, 11.2, 8.1, 9.3, 9.1, 7.3, 7.0, 6.7, 9.5, 9.7, 9.4, 10.1, 7.3, 9.8, 10.5, 11.5, 8.3, 9.2, 6.0];
  const b = [10.5, 7.1, 8.7, 13.7, 7.1, 13.1, 12.2, 10.9, 12.4, 12.6, 13.6, 11.0, 10.3, 10.3, 9.5, 11.4, 9.9, 13.6, 7.8, 9.3, 9.6, 7.3, 15.3, 6.7, 10.9, 10.4, 14.8, 7.5, 13.6, 10.0, 11.2, 10.2, 12.8, 9.2, 11.3, 12.2, 15.2, 6.7, 14.6, 13.4];
  const big = mannWhitney(a, b);
  assert.equal(big.u, 799);
  close(big.p, 0.01844377822052003, 1e-5, 'scipy asymptotic, 30 vs 40');
  assert.equal(mannWhitney([3, 3, 3], [3, 3, 3, 3]).p, 1, 'all equal: nothing to tell');
  assert.throws(() => mannWhitney([], [1]), RangeError);
});

test('erfc, Holm, Hodges–Lehmann, median', () => {
  close(erfc(0), 1, 1e-7, 'erfc(0)');
  close(erfc(1), 0.157299207050285, 2e-7, 'erfc(1)');
  close(erfc(4), 1.541725790028002e-8, 2e-7, 'erfc(4)');
  close(erfc(-1), 1.842700792949715, 2e-7, 'erfc(-1)');
  assert.deepEqual(holm([0.01, 0.04, 0.03, 0.005]).map((v) => +v.toFixed(10)), [0.03, 0.06, 0.06, 0.02]);
  assert.deepEqual(holm([0.5, 0.9]), [1, 1]);
  assert.equal(hodgesLehmann([1, 2, 3], [4, 6]), 3);
  assert.equal(hodgesLehmann([0, 0, 0, 100], [5, 5, 5]), 5, 'an outlier does not move it');
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

// ---------------------------------------------------------------- synthetic windows

const STAGES: StageMeta[] = ['a→b', 'b→c', 'c→d', 'd→e', 'e→f', 'f→g'].map((name) => ({ key: `rx:stage:${name}`, name, kind: 'stage', dir: 'rx' as const }));

interface Spec {
  /** Median of the stage, ns. */
  median: number;
  /** Packet-to-packet spread (log-normal sigma) within an interval. */
  sigma?: number;
  /** Interval-to-interval spread (log-normal sigma of each interval's median). */
  noise?: number;
  packets?: number;
  /** Multiplies the values of interval `index` (a burst). */
  burst?: { index: number; factor: number };
}

function stageOf(values: number[]): IntervalStage {
  const m = new Map<number, number>();
  let sum = 0;
  for (const v of values) {
    m.set(bucketOf(v), (m.get(bucketOf(v)) ?? 0) + 1);
    sum += v;
  }
  const sparse: number[] = [];
  for (const i of [...m.keys()].sort((x, y) => x - y)) sparse.push(i, m.get(i)!);
  return { count: values.length, sum, sparse };
}

/** `n` one-second intervals from t0 holding every stage of `specs` (by key). */
function windowOfSpecs(label: string, n: number, specs: Record<string, Spec>, seed: number, t0 = 0): Window {
  const r = rng(seed);
  const intervals: Interval[] = [];
  for (let i = 0; i < n; i++) {
    const stages = new Map<string, IntervalStage>();
    for (const [key, s] of Object.entries(specs)) {
      const med = lognormal(r, s.median, s.noise ?? 0.03) * (s.burst?.index === i ? s.burst.factor : 1);
      const values = Array.from({ length: s.packets ?? 200 }, () => Math.max(1, lognormal(r, med, s.sigma ?? 0.3)));
      stages.set(key, stageOf(values));
    }
    intervals.push({ id: i + 1, t_ms: t0 + (i + 1) * 1000, dur_ms: 1000, events: 0, stages });
  }
  return { label, intervals, stages: STAGES.filter((s) => s.key in specs) };
}

function specs(median: (i: number) => number, extra: Partial<Spec> = {}): Record<string, Spec> {
  return Object.fromEntries(STAGES.map((s, i) => [s.key, { median: median(i), ...extra }]));
}

const BASE = (i: number) => 2_000 * (i + 1);

test('a known shift of one stage is flagged, with its size and direction; the others are not', () => {
  const a = windowOfSpecs('before', 30, specs(BASE), 1);
  const slow = STAGES[2]!.key;
  const b = windowOfSpecs('after', 30, { ...specs(BASE), [slow]: { median: BASE(2) * 1.4 } }, 2);
  const c = compare(a, b);
  const row = c.stages.find((s) => s.key === slow)!;
  assert.equal(row.verdict, 'higher');
  assert.ok(row.p50!.significant && row.p50!.adjusted! < 1e-6, `p50 adjusted p ${row.p50!.adjusted}`);
  close(row.p50!.shift, BASE(2) * 0.4, 0.15, 'p50 shift ≈ the injected 40 %');
  close(row.p50!.b - row.p50!.a, BASE(2) * 0.4, 0.15, 'whole-window p50 difference');
  assert.deepEqual(differences(c).map((s) => s.key), [slow], 'only the shifted stage');
  // and the other way round it is faster
  assert.equal(compare(b, a).stages.find((s) => s.key === slow)!.verdict, 'lower');
  assert.equal(c.a.intervals, 30);
  assert.equal(row.a!.block_p50.length, 30, 'one block per interval at 200 packets');
  assert.ok(row.a!.buckets.length > 0 && row.a!.buckets.length % 2 === 0, 'histograms as flat pairs');
});

test('equal distributions are not flagged: 200 seeded trials of 6 stages, family-wise error within α', (t) => {
  // Interval medians wander by some 30 %, so chance shifts often exceed one bucket: only the test
  // keeps them from being flagged.
  const spec = specs(BASE, { packets: 100, noise: 0.3 });
  let flagged = 0;
  let naive = 0;
  let tested = 0;
  for (let i = 0; i < 200; i++) {
    const c = compare(windowOfSpecs('a', 12, spec, 1000 + i), windowOfSpecs('b', 12, spec, 5000 + i));
    tested += c.stages.filter((s) => s.p50?.p_value !== null).length;
    if (differences(c).length) flagged++;
    // each stage and quantile tested alone at α, without Holm's adjustment
    if (c.stages.some((s) => [s.p50!, s.p99!].some((d) => d.p_value! <= c.alpha && Math.abs(d.shift) >= d.resolution))) naive++;
  }
  assert.equal(tested, 200 * 6, 'every stage was tested');
  t.diagnostic(`${flagged} of 200 trials flagged a difference; ${naive} would without the adjustment`);
  // α = 0.01 family-wise: about 2 trials in 200 by chance; 6 would be a 1-in-100 000 fluke.
  assert.ok(flagged <= 5, `${flagged} of 200 trials flagged a difference`);
  // twelve tests a trial at α each (p50 and p99 of a stage move together): several times as many
  assert.ok(naive >= 6, `without the adjustment ${naive} of 200 trials would flag one`);
});

test('noise: a shift inside large interval-to-interval noise, a single burst, and a shift below the resolution are not flagged', () => {
  const key = STAGES[0]!.key;
  // +40 % but each interval's median wanders by a factor of two or so, over 6 intervals
  const noisyA = windowOfSpecs('a', 6, { [key]: { median: 10_000, noise: 0.7 } }, 11);
  const noisyB = windowOfSpecs('b', 6, { [key]: { median: 14_000, noise: 0.7 } }, 12);
  const n = compare(noisyA, noisyB).stages[0]!;
  assert.equal(n.verdict, 'same', `noise: p ${n.p50!.p_value}`);
  assert.ok(n.p50!.p_value! > 0.01);
  // one interval of B twenty times slower (a burst): the whole-window p99 moves, the verdict does not
  const a = windowOfSpecs('a', 20, { [key]: { median: 10_000 } }, 21);
  const b = windowOfSpecs('b', 20, { [key]: { median: 10_000, burst: { index: 7, factor: 20 } } }, 22);
  const burst = compare(a, b).stages[0]!;
  assert.ok(burst.p99!.b > 1.5 * burst.p99!.a, 'the burst shows in the window p99');
  assert.equal(burst.verdict, 'same');
  // 3 % slower with hardly any noise over many intervals: the rank test is sure, but a shift
  // inside one bucket is below what the histograms resolve
  const fine = compare(
    windowOfSpecs('a', 60, { [key]: { median: 100_000, noise: 0.002, packets: 2000, sigma: 0.05 } }, 31),
    windowOfSpecs('b', 60, { [key]: { median: 103_000, noise: 0.002, packets: 2000, sigma: 0.05 } }, 32),
  ).stages[0]!;
  assert.ok(fine.p50!.adjusted! < 0.01, `the test alone would flag it (adjusted p ${fine.p50!.adjusted})`);
  assert.ok(Math.abs(fine.p50!.shift) < fine.p50!.resolution, `shift ${fine.p50!.shift} below one bucket (${fine.p50!.resolution})`);
  assert.equal(fine.p50!.significant, false);
  assert.equal(fine.verdict, 'same');
});

test('too few blocks, stages on one side only, and blocks of consecutive low-rate intervals', () => {
  const k0 = STAGES[0]!.key;
  const k1 = STAGES[1]!.key;
  const few = compare(windowOfSpecs('a', 3, { [k0]: { median: 1000 } }, 41), windowOfSpecs('b', 3, { [k0]: { median: 5000 } }, 42));
  assert.equal(few.stages[0]!.verdict, 'too_few');
  assert.equal(few.stages[0]!.p50!.p_value, null);
  assert.ok(few.stages[0]!.p50!.b > few.stages[0]!.p50!.a, 'the figures are still there');
  const only = compare(windowOfSpecs('a', 8, { [k0]: { median: 1000 } }, 43), windowOfSpecs('b', 8, { [k1]: { median: 1000 } }, 44));
  assert.deepEqual(only.stages.map((s) => [s.key, s.verdict]), [[k0, 'only_a'], [k1, 'only_b']]);
  // 12 packets per interval, 50 per block: a block spans 5 intervals (the remainder joins the last)
  const slow = compare(windowOfSpecs('a', 40, { [k0]: { median: 1000, packets: 12 } }, 45), windowOfSpecs('b', 40, { [k0]: { median: 3000, packets: 12 } }, 46));
  assert.equal(slow.stages[0]!.a!.block_p50.length, 8);
  assert.equal(slow.stages[0]!.a!.count, 480);
  assert.equal(slow.stages[0]!.verdict, 'higher');
  // the per-CPU series of a stage are left out (their total is compared)
  const withCpu: Window = { ...windowOfSpecs('a', 8, { [k0]: { median: 1000 } }, 47) };
  withCpu.stages = [...withCpu.stages, { key: `${k0}:cpu0`, name: 'a→b', kind: 'stage', dir: 'rx', cpu: 0 }];
  assert.deepEqual(compare(withCpu, withCpu).stages.map((s) => s.key), [k0]);
});

test('intervalsIn keeps the intervals wholly inside a range; resolutionAt is one bucket', () => {
  const ivs = [1, 2, 3, 4, 5].map((i) => ({ t_ms: i * 1000, dur_ms: 1000 }));
  assert.deepEqual(intervalsIn(ivs, { from_ms: 1000, to_ms: 3000 }).map((x) => x.t_ms), [2000, 3000]);
  assert.deepEqual(intervalsIn(ivs, { from_ms: 1500, to_ms: 4500 }).map((x) => x.t_ms), [3000, 4000], 'straddling intervals are in neither');
  assert.equal(resolutionAt(5), 1);
  assert.equal(resolutionAt(1000), 64, '1000 ns lies in [960, 1024)');
  assert.ok(resolutionAt(1e6) / 1e6 <= 0.125);
});

test('windows of an aggregator: the recorded stream before and after its reload, and a range that holds nothing', () => {
  const agg = new Aggregator();
  for (const m of makeStream({ snapshots: 30 })) agg.ingest(m);
  const ivs = agg.intervals();
  assert.equal(ivs.length, 30);
  const reload = agg.panelState().reloads[0]!.t_ms;
  const before = windowOf(agg, 'before', { from_ms: ivs[0]!.t_ms - ivs[0]!.dur_ms, to_ms: reload });
  const after = windowOf(agg, 'after', { from_ms: reload, to_ms: ivs.at(-1)!.t_ms });
  assert.equal(before.intervals.length + after.intervals.length, 29, 'the interval holding the reload is in neither window');
  const c = compare(before, after);
  assert.ok(c.stages.length > 5);
  assert.ok(c.stages.every((s) => s.key.split(':').length === 3), 'no per-CPU series');
  // the stream's values are drawn from one distribution throughout (with a burst every 10 s)
  assert.deepEqual(differences(c).map((s) => s.key), []);
  const empty = windowOf(agg, 'none', { from_ms: 0, to_ms: 1 });
  assert.equal(compare(empty, empty).stages.length, 0);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HIST_BUCKETS,
  HIST_SUB,
  addSparse,
  bucketEnd,
  bucketLower,
  bucketOf,
  bucketUpper,
  countOf,
  emptyBuckets,
  fromSparse,
  fromValues,
  histMax,
  log2BucketOf,
  mergeBuckets,
  percentiles,
  quantile,
  toSparse,
} from '../../src/core/hist.ts';
import { lognormal, rng } from '../fixtures/stream.ts';

const LAST = HIST_BUCKETS - 1;

test('bucketOf follows the probes: exact below 16, then 8 log-linear sub-buckets per power of two, overflow → last', () => {
  assert.equal(HIST_SUB, 8);
  assert.equal(bucketOf(0), 0);
  for (let v = 1; v < 16; v++) assert.equal(bucketOf(v), v, `v=${v} is its own bucket`);
  assert.equal(bucketOf(16), 16);
  assert.equal(bucketOf(17), 16); // [16, 18)
  assert.equal(bucketOf(18), 17);
  assert.equal(bucketOf(1023), 63); // 2^9 · (8 + 7)/8 ≤ 1023 < 2^10
  assert.equal(bucketOf(1024), 64); // (10 − 2)·8
  assert.equal(bucketOf(1151), 64);
  assert.equal(bucketOf(1152), 65); // 1024 · 9/8
  assert.equal(bucketOf(1920), 71);
  assert.equal(bucketOf(2047), 71);
  assert.equal(bucketOf(2048), 72);
  assert.equal(bucketOf(2 ** 29), 216);
  assert.equal(bucketOf(2 ** 30 - 1), 223);
  assert.equal(bucketOf(2 ** 30), 224);
  assert.equal(bucketOf(15 * 2 ** 30 - 1), LAST - 1);
  assert.equal(bucketOf(15 * 2 ** 30), LAST);
  assert.equal(bucketOf(2 ** 40), LAST);
  assert.equal(bucketOf(Number.MAX_SAFE_INTEGER), LAST);
  assert.equal(bucketOf(-5), 0);
  assert.equal(bucketOf(Number.NaN), 0);
  assert.equal(bucketOf(1.9), 1, 'fractions are floored');
  assert.equal(bucketUpper(LAST), Infinity);
  assert.equal(bucketEnd(LAST), Infinity);
  assert.equal(bucketUpper(0), 0);
  assert.equal(bucketLower(LAST), 15 * 2 ** 30);
});

test('bucket edges round-trip: bucketOf(bucketLower(i)) = bucketOf(bucketUpper(i)) = i, bucketEnd(i) begins i + 1', () => {
  for (let i = 0; i <= LAST; i++) {
    assert.equal(bucketOf(bucketLower(i)), i, `lower bound of ${i}`);
    if (i === LAST) break;
    assert.equal(bucketOf(bucketUpper(i)), i, `upper bound of ${i}`);
    assert.equal(bucketEnd(i), bucketUpper(i) + 1, `end of ${i}`);
    assert.equal(bucketEnd(i), bucketLower(i + 1), `bucket ${i} ends where ${i + 1} begins`);
    assert.equal(bucketOf(bucketEnd(i)), i + 1, `end of ${i}`);
    assert.ok(bucketLower(i) <= bucketUpper(i), `bucket ${i} is not empty`);
    if (bucketLower(i) > 0) assert.equal(bucketOf(bucketLower(i) - 1), i - 1, `just below ${i}`);
  }
  // every value from 0 to 2^20 lands in the bucket whose edges hold it
  for (let v = 0; v <= 2 ** 20; v++) {
    const i = bucketOf(v);
    if (!(bucketLower(i) <= v && v <= bucketUpper(i))) assert.fail(`v=${v} in bucket ${i} [${bucketLower(i)}, ${bucketUpper(i)}]`);
  }
});

test('every bucket from 8 on is at most 12.5 % of its lower bound wide (exact below)', () => {
  let widest = 0;
  for (let i = 1; i < LAST; i++) {
    const w = bucketEnd(i) - bucketLower(i);
    if (i < 2 * HIST_SUB) assert.equal(w, 1, `bucket ${i} is one value`);
    const rel = w / bucketLower(i);
    if (i >= HIST_SUB) assert.ok(rel <= 1 / HIST_SUB, `bucket ${i}: ${w} wide at ${bucketLower(i)} (${(rel * 100).toFixed(2)} %)`);
    widest = Math.max(widest, i >= HIST_SUB ? rel : 0);
  }
  assert.equal(widest, 0.125); // the first sub-bucket of each power of two from 16 on
});

test('log2BucketOf: each log-linear bucket lies inside one power of two, each holds 8 of them', () => {
  const per = new Map<number, number[]>();
  for (let i = 0; i <= LAST; i++) {
    const k = log2BucketOf(i);
    if (k === 0) assert.equal(bucketLower(i), 0);
    else {
      assert.ok(bucketLower(i) >= 2 ** (k - 1), `bucket ${i} starts below 2^${k - 1}`);
      if (i < LAST) assert.ok(bucketUpper(i) < 2 ** k, `bucket ${i} ends above 2^${k} − 1`);
    }
    per.set(k, [...(per.get(k) ?? []), i]);
  }
  assert.deepEqual(per.get(0), [0]);
  assert.deepEqual(per.get(1), [1]);
  assert.deepEqual(per.get(3), [4, 5, 6, 7]);
  assert.deepEqual(per.get(11), [64, 65, 66, 67, 68, 69, 70, 71]); // 1024 … 2047
  assert.equal(log2BucketOf(LAST), 34); // 15·2^30 lies in [2^33, 2^34)
  for (const [k, is] of per) if (k >= 4) assert.equal(is.length, HIST_SUB, `2^${k - 1} … 2^${k} − 1`);
});

test('addSparse adds deltas and ignores out-of-range buckets and bad counts', () => {
  const b = emptyBuckets();
  assert.equal(addSparse(b, [[3, 5], [10, 2]]), 7);
  assert.equal(addSparse(b, [[3, 1], [-1, 9], [HIST_BUCKETS, 9], [2.5, 9], [4, -3], [5, Number.NaN], [6, Infinity]]), 1);
  assert.equal(b[3], 6);
  assert.equal(b[10], 2);
  assert.equal(countOf(b), 8);
  assert.deepEqual(toSparse(b), [[3, 6], [10, 2]]);
  const c = fromSparse([[3, 1]]);
  mergeBuckets(c, b);
  assert.deepEqual(toSparse(c), [[3, 7], [10, 2]]);
  // huge counts stay exact up to 2^53
  const h = emptyBuckets();
  addSparse(h, [[64, 2 ** 52], [64, 2 ** 52]]);
  assert.equal(countOf(h), 2 ** 53);
  assert.ok(quantile(h, 0.5) >= 1024 && quantile(h, 0.5) < 1152);
});

test('empty histograms give zeros', () => {
  const b = emptyBuckets();
  assert.equal(quantile(b, 0.5), 0);
  assert.equal(histMax(b), 0);
  assert.deepEqual(percentiles(b), { p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  assert.equal(quantile(fromValues([0, 0, 0]), 0.99), 0);
});

test('max is the top of the highest bucket, tightened by the sum', () => {
  const b = fromValues([1500]); // bucket 67: 1408 … 1535
  assert.equal(histMax(b), 1535);
  assert.equal(histMax(b, 1500), 1500);
  // two values in different buckets: 100 (bucket 36: 96 … 103) and 5000 (bucket 81: 4608 … 5119)
  const c = fromValues([100, 5000]);
  assert.equal(histMax(c), 5119);
  assert.equal(histMax(c, 5100), 5100 - 96); // other value counted at its bucket's lower bound
  // an inconsistent sum never pushes the max below the bucket's lower bound
  assert.equal(histMax(c, 10), 4608);
  // the open-ended last bucket (≥ 15·2^30 ns) is bounded by the sum only, else twice its lower bound
  const d = fromValues([2e10]);
  assert.equal(histMax(d, 2e10), 2e10);
  assert.equal(histMax(d), 2 * 15 * 2 ** 30);
});

test('quantiles: within the exact quantile\'s bucket, and within 5 % at p50 and p99 on smooth distributions', () => {
  // Measured (seed 7, 20 000 values) against the exact nearest-rank value, worst of p50 and p99:
  // uniform 1.5 % (p99), exponential 0.02 %, log-normal 0.4 % (p99), narrow log-normal 0.2 %.
  // p90 stays under 0.1 %; p99.9 reaches 5.4 % on the uniform one (its sharp upper edge sits inside
  // a bucket). Over seeds 1, 2, 3, 11 and 99 the worst p50/p99 error is 1.7 %.
  const r = rng(7);
  const N = 20_000;
  const dists: Record<string, () => number> = {
    uniform: () => Math.floor(1000 + r() * 99_000),
    exponential: () => Math.floor(-Math.log(Math.max(r(), 1e-12)) * 20_000),
    lognormal: () => lognormal(r, 30_000, 1.0),
    narrow: () => lognormal(r, 4_000, 0.2),
  };
  let worst = 0;
  for (const [name, gen] of Object.entries(dists)) {
    const values = Array.from({ length: N }, gen);
    const sorted = values.slice().sort((a, b) => a - b);
    const sum = values.reduce((a, b) => a + b, 0);
    const b = fromValues(values);
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = sorted[Math.ceil(q * N) - 1]!;
      const est = quantile(b, q, sum);
      // the guarantee: same bucket as the exact nearest-rank quantile (so within 12.5 %)
      assert.ok(est >= bucketLower(bucketOf(exact)) && est <= bucketEnd(bucketOf(exact)), `${name} q${q}: ${est} outside bucket of ${exact}`);
      const rel = Math.abs(est - exact) / exact;
      const bound = q === 0.5 || q === 0.99 ? 0.05 : 1 / HIST_SUB;
      assert.ok(rel <= bound, `${name} q${q}: estimate ${est.toFixed(0)} vs exact ${exact}: ${(rel * 100).toFixed(2)}% > ${bound * 100}%`);
      if (q === 0.5 || q === 0.99) worst = Math.max(worst, rel);
    }
    const max = histMax(b, sum);
    assert.ok(max >= sorted[N - 1]!, `${name}: max ${max} below the true max ${sorted[N - 1]}`);
    assert.ok(max <= (sorted[N - 1]! + 1) * (1 + 1 / HIST_SUB), `${name}: max ${max} more than a bucket above the true max`);
  }
  assert.ok(worst < 0.02, `worst p50/p99 error ${(worst * 100).toFixed(2)} % (measured 1.5 %)`);
});

test('quantiles on spikes: within one bucket (12.5 %) even where interpolation cannot help', () => {
  const values = [...Array.from({ length: 900 }, () => 2100), ...Array.from({ length: 100 }, () => 520_000)];
  const b = fromValues(values);
  const sum = values.reduce((a, c) => a + c, 0);
  const p50 = quantile(b, 0.5, sum);
  const p99 = quantile(b, 0.99, sum);
  // 2100 is in bucket 72 (2048 … 2303), 520 000 in bucket 135 (491 520 … 524 287)
  assert.ok(p50 >= 2048 && p50 < 2304, `p50 ${p50}`);
  assert.ok(p99 >= 491_520 && p99 < 524_288, `p99 ${p99}`);
  assert.ok(Math.abs(p50 - 2100) / 2100 <= 1 / HIST_SUB && Math.abs(p99 - 520_000) / 520_000 <= 1 / HIST_SUB);
  // monotone in q
  let prev = -1;
  for (let q = 0; q <= 1.0001; q += 0.01) {
    const v = quantile(b, Math.min(1, q), sum);
    assert.ok(v >= prev, `not monotone at q=${q}`);
    prev = v;
  }
  // out-of-range q is clamped
  assert.equal(quantile(b, -1, sum), quantile(b, 0, sum));
  assert.equal(quantile(b, 2, sum), quantile(b, 1, sum));
  assert.equal(quantile(b, 1, sum), histMax(b, sum));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HIST_BUCKETS,
  addSparse,
  bucketLower,
  bucketOf,
  bucketUpper,
  countOf,
  emptyBuckets,
  fromSparse,
  fromValues,
  histMax,
  mergeBuckets,
  percentiles,
  quantile,
  toSparse,
} from '../../src/core/hist.ts';
import { lognormal, rng } from '../fixtures/stream.ts';

const LAST = HIST_BUCKETS - 1;

test('bucketOf follows the probes: 0 → 0, 2^(i-1) ≤ v < 2^i → i, overflow → last', () => {
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(1), 1);
  assert.equal(bucketOf(2), 2);
  assert.equal(bucketOf(3), 2);
  assert.equal(bucketOf(4), 3);
  assert.equal(bucketOf(1023), 10);
  assert.equal(bucketOf(1024), 11);
  assert.equal(bucketOf(2 ** 29), 30);
  assert.equal(bucketOf(2 ** 30 - 1), 30);
  assert.equal(bucketOf(2 ** 30), LAST);
  assert.equal(bucketOf(2 ** 40), LAST);
  assert.equal(bucketOf(Number.MAX_SAFE_INTEGER), LAST);
  assert.equal(bucketOf(-5), 0);
  assert.equal(bucketOf(Number.NaN), 0);
  for (let i = 1; i < LAST; i++) {
    assert.equal(bucketOf(bucketLower(i)), i, `lower bound of ${i}`);
    assert.equal(bucketOf(bucketUpper(i)), i, `upper bound of ${i}`);
    assert.equal(bucketOf(bucketUpper(i) + 1), i + 1);
  }
  assert.equal(bucketUpper(LAST), Infinity);
  assert.equal(bucketUpper(0), 0);
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
  addSparse(h, [[12, 2 ** 52], [12, 2 ** 52]]);
  assert.equal(countOf(h), 2 ** 53);
  assert.ok(quantile(h, 0.5) >= 2048 && quantile(h, 0.5) < 4096);
});

test('empty histograms give zeros', () => {
  const b = emptyBuckets();
  assert.equal(quantile(b, 0.5), 0);
  assert.equal(histMax(b), 0);
  assert.deepEqual(percentiles(b), { p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  assert.equal(quantile(fromValues([0, 0, 0]), 0.99), 0);
});

test('max is the top of the highest bucket, tightened by the sum', () => {
  const b = fromValues([1500]);
  assert.equal(histMax(b), 2047);
  assert.equal(histMax(b, 1500), 1500);
  // two values in different buckets: 100 (bucket 7, lower 64) and 5000 (bucket 13)
  const c = fromValues([100, 5000]);
  assert.equal(histMax(c), 8191);
  assert.equal(histMax(c, 5100), 5100 - 64); // other value counted at its bucket's lower bound
  // an inconsistent sum never pushes the max below the bucket's lower bound
  assert.equal(histMax(c, 10), 4096);
  // the open-ended last bucket is bounded by the sum only
  const d = fromValues([5e9]);
  assert.equal(histMax(d, 5e9), 5e9);
  assert.equal(histMax(d), 2 ** LAST - 1);
});

test('quantiles stay within the exact quantile\'s bucket and are accurate on smooth distributions', () => {
  const r = rng(7);
  const N = 20_000;
  const dists: Record<string, { gen: () => number; p50: number; tail: number }> = {
    uniform: { gen: () => Math.floor(1000 + r() * 99_000), p50: 0.05, tail: 0.35 },
    exponential: { gen: () => Math.floor(-Math.log(Math.max(r(), 1e-12)) * 20_000), p50: 0.05, tail: 0.25 },
    lognormal: { gen: () => lognormal(r, 30_000, 1.0), p50: 0.05, tail: 0.2 },
    narrow: { gen: () => lognormal(r, 4_000, 0.2), p50: 0.05, tail: 0.35 },
  };
  for (const [name, d] of Object.entries(dists)) {
    const values = Array.from({ length: N }, d.gen);
    const sorted = values.slice().sort((a, b) => a - b);
    const sum = values.reduce((a, b) => a + b, 0);
    const b = fromValues(values);
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = sorted[Math.ceil(q * N) - 1]!;
      const est = quantile(b, q, sum);
      // the guarantee: same bucket as the exact nearest-rank quantile (so within a factor of 2)
      assert.ok(est >= bucketLower(bucketOf(exact)) && est <= bucketUpper(bucketOf(exact)) + 1, `${name} q${q}: ${est} outside bucket of ${exact}`);
      const rel = Math.abs(est - exact) / exact;
      const bound = q === 0.5 ? d.p50 : d.tail;
      assert.ok(rel <= bound, `${name} q${q}: estimate ${est.toFixed(0)} vs exact ${exact}: ${(rel * 100).toFixed(1)}% > ${bound * 100}%`);
    }
    const max = histMax(b, sum);
    assert.ok(max >= sorted[N - 1]!, `${name}: max ${max} below the true max ${sorted[N - 1]}`);
    assert.ok(max < 2 * sorted[N - 1]! + 2, `${name}: max ${max} more than 2× the true max`);
  }
});

test('quantiles on spikes: within a factor of 2 even where interpolation cannot help', () => {
  const values = [...Array.from({ length: 900 }, () => 2100), ...Array.from({ length: 100 }, () => 520_000)];
  const b = fromValues(values);
  const sum = values.reduce((a, c) => a + c, 0);
  const p50 = quantile(b, 0.5, sum);
  const p99 = quantile(b, 0.99, sum);
  assert.ok(p50 >= 2048 && p50 < 4096);
  assert.ok(p99 >= 262_144 && p99 < 524_288 + 1);
  assert.ok(p50 / 2100 < 2 && 2100 / p50 < 2);
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

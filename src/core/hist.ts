/**
 * Log-linear histograms, as the probes keep them (HDR-histogram style): each power of two is split
 * into 2^HIST_SUB_BITS linear sub-buckets, so a bucket is at most 1/2^HIST_SUB_BITS (12.5 %) of its
 * lower bound wide.
 *   - v < SUB (= 2^HIST_SUB_BITS): bucket v, exact;
 *   - v ≥ SUB, with e = ⌊log2 v⌋: bucket (e − HIST_SUB_BITS + 1)·SUB + the HIST_SUB_BITS bits of v
 *     below its top bit, i.e. v in [(SUB + s)·2^(e−HIST_SUB_BITS), (SUB + s + 1)·2^(e−HIST_SUB_BITS));
 *   - the last bucket, HIST_BUCKETS − 1, also holds everything larger.
 * bpf/probes/nslat.bpf.h (nslat_bucket) computes the same index in a few instructions.
 * Values are integers: ns for latency histograms, packets for NAPI work.
 *
 * A dense histogram here is a plain `number[]` of HIST_BUCKETS counts; the helper sends sparse
 * `[bucket, count]` pairs as deltas (protocol.ts HistDelta) which are added with `addSparse`.
 */
import { HIST_BUCKETS, HIST_SUB_BITS } from './contract.ts';

export { HIST_BUCKETS, HIST_SUB_BITS };

export type Buckets = number[];
export type SparseBuckets = ReadonlyArray<readonly [number, number]>;

const LAST = HIST_BUCKETS - 1;
/** Sub-buckets per power of two. */
export const HIST_SUB = 2 ** HIST_SUB_BITS;

export function emptyBuckets(): Buckets {
  return new Array<number>(HIST_BUCKETS).fill(0);
}

/** The bucket a value falls into. */
export function bucketOf(v: number): number {
  if (!(v >= 1)) return 0; // 0, and defensively negatives and NaN
  const x = Math.floor(v);
  if (x < HIST_SUB) return x;
  // ⌊log2 x⌋, exact for integers (Math.log2 can round up just below a power of two)
  let e = x < 2 ** 32 ? 31 - Math.clz32(x) : Math.floor(Math.log2(x));
  if (2 ** e > x) e--;
  else if (2 ** (e + 1) <= x) e++;
  const shift = e - HIST_SUB_BITS;
  const sub = Math.floor(x / 2 ** shift) - HIST_SUB; // 0 .. HIST_SUB-1
  return Math.min((shift + 1) * HIST_SUB + sub, LAST);
}

/** Smallest value bucket i can hold. */
export function bucketLower(i: number): number {
  if (i <= 0) return 0;
  if (i < HIST_SUB) return i;
  const shift = Math.floor(i / HIST_SUB) - 1;
  return (HIST_SUB + (i % HIST_SUB)) * 2 ** shift;
}

/** The first value above bucket i (its exclusive upper edge); Infinity for the last bucket. */
export function bucketEnd(i: number): number {
  if (i >= LAST) return Infinity;
  return bucketLower(i + 1);
}

/** Largest (integer) value bucket i can hold; Infinity for the last, open-ended bucket. */
export function bucketUpper(i: number): number {
  if (i <= 0) return 0;
  return bucketEnd(i) - 1;
}

/** The power-of-two (bcc log2) bucket that log-linear bucket i lies in: 0 for v = 0, k for
 *  2^(k−1) ≤ v < 2^k. Every log-linear bucket lies inside one, so the log2 view is exact. */
export function log2BucketOf(i: number): number {
  const lo = bucketLower(i);
  if (lo <= 0) return 0;
  return lo < 2 ** 32 ? 32 - Math.clz32(lo) : Math.floor(Math.log2(lo)) + 1;
}

function validCount(n: number): boolean {
  return Number.isFinite(n) && n > 0;
}

/** Adds sparse [bucket, count] pairs into a dense histogram. Pairs with a bucket outside the
 *  histogram or a count that is not a positive finite number are ignored (the protocol schema
 *  already rejects them; this keeps hand-built input from poisoning the totals).
 *  Returns the number of values added. */
export function addSparse(dst: Buckets, sparse: SparseBuckets): number {
  let added = 0;
  for (const [i, n] of sparse) {
    if (!Number.isInteger(i) || i < 0 || i > LAST || !validCount(n)) continue;
    dst[i] = (dst[i] ?? 0) + n;
    added += n;
  }
  return added;
}

/** dst += src, bucket by bucket. */
export function mergeBuckets(dst: Buckets, src: Readonly<Buckets>): void {
  for (let i = 0; i < HIST_BUCKETS; i++) {
    const n = src[i] ?? 0;
    if (validCount(n)) dst[i] = (dst[i] ?? 0) + n;
  }
}

export function toSparse(b: Readonly<Buckets>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < HIST_BUCKETS; i++) {
    const n = b[i] ?? 0;
    if (validCount(n)) out.push([i, n]);
  }
  return out;
}

export function fromSparse(sparse: SparseBuckets): Buckets {
  const b = emptyBuckets();
  addSparse(b, sparse);
  return b;
}

/** Dense histogram of a list of values (tests, replays of raw samples). */
export function fromValues(values: Iterable<number>): Buckets {
  const b = emptyBuckets();
  for (const v of values) b[bucketOf(v)]! += 1;
  return b;
}

/** Number of values in the histogram. */
export function countOf(b: Readonly<Buckets>): number {
  let c = 0;
  for (let i = 0; i < HIST_BUCKETS; i++) {
    const n = b[i] ?? 0;
    if (validCount(n)) c += n;
  }
  return c;
}

function highestNonEmpty(b: Readonly<Buckets>): number {
  for (let i = LAST; i >= 0; i--) if (validCount(b[i] ?? 0)) return i;
  return -1;
}

/**
 * An upper bound of the largest value: the top of the highest nonempty bucket, tightened by the
 * observed sum when that is known (every other value is at least its bucket's lower bound, so the
 * largest is at most sum − Σ lower bounds of the others). Never below the bucket's lower bound.
 * For the open-ended last bucket without a sum, returns twice its lower bound.
 */
export function histMax(b: Readonly<Buckets>, sum?: number): number {
  const h = highestNonEmpty(b);
  if (h <= 0) return 0;
  let upper = h >= LAST ? 2 * bucketLower(LAST) : bucketUpper(h);
  if (sum !== undefined && Number.isFinite(sum) && sum >= 0) {
    let others = (b[h]! - 1) * bucketLower(h);
    for (let i = 1; i < h; i++) {
      const n = b[i] ?? 0;
      if (validCount(n)) others += n * bucketLower(i);
    }
    const bySum = sum - others;
    if (h >= LAST) upper = bySum; // the sum is the only bound on the open-ended bucket
    else upper = Math.min(upper, bySum);
  }
  return Math.max(upper, bucketLower(h));
}

/**
 * The q-quantile (0 ≤ q ≤ 1) estimated from the buckets: find the bucket holding rank q·N,
 * interpolate inside it (see inBucket), clamp to histMax. Monotone in q.
 *
 * Accuracy: the estimate always lies in the same bucket as the exact nearest-rank quantile (the
 * ⌈q·N⌉-th smallest value), so it is never off by more than one bucket width (≤ 12.5 % of the
 * value) whatever the distribution. Inside the bucket the density is modelled as linear between
 * neighbouring buckets (see inBucket), which suits smooth latency distributions;
 * test/unit/hist.test.ts measures the error on several distributions.
 */
export function quantile(b: Readonly<Buckets>, q: number, sum?: number): number {
  const n = countOf(b);
  if (n <= 0) return 0;
  const qq = Number.isFinite(q) ? Math.min(1, Math.max(0, q)) : 0.5;
  const rank = qq * n;
  const max = histMax(b, sum);
  let cum = 0;
  for (let i = 0; i < HIST_BUCKETS; i++) {
    const c = b[i] ?? 0;
    if (!validCount(c)) continue;
    if (cum + c >= rank) {
      if (i < HIST_SUB) return Math.min(i, max); // exact values
      const lo = bucketLower(i);
      const hi = i >= LAST ? Math.max(max, lo) : bucketEnd(i); // interpolate over [lo, hi)
      const v = lo + inBucket(b, i, hi - lo, rank - cum);
      return Math.max(lo, Math.min(v, max));
    }
    cum += c;
  }
  return max;
}

function density(b: Readonly<Buckets>, i: number): number {
  if (i < 0 || i > LAST) return 0;
  const c = b[i] ?? 0;
  if (!validCount(c)) return 0;
  return c / (i >= LAST ? bucketLower(LAST) : bucketEnd(i) - bucketLower(i));
}

/**
 * Offset x inside bucket i (of width w, holding c values) below which `m` of its values lie,
 * modelling the density inside the bucket as linear between the averages of this bucket's mean
 * density and its neighbours' (a piecewise-linear density across buckets): latency distributions
 * mostly fall or rise across a bucket, and a flat (uniform) model overestimates the upper
 * quantiles of a falling tail.
 */
function inBucket(b: Readonly<Buckets>, i: number, w: number, m: number): number {
  const c = b[i]!;
  if (w <= 0) return 0;
  const d = c / w;
  const below = i > 1 ? density(b, i - 1) : d;
  const above = i < LAST ? density(b, i + 1) : 0;
  let dl = (below + d) / 2;
  let dh = (d + above) / 2;
  const k = (2 * c) / ((dl + dh) * w);
  if (!Number.isFinite(k) || k <= 0) return (w * m) / c;
  dl *= k;
  dh *= k;
  const slope = (dh - dl) / w;
  if (Math.abs(slope) * w < 1e-9 * dl) return m / dl;
  // ∫0^x (dl + slope·t) dt = m  →  x = (−dl + √(dl² + 2·slope·m)) / slope
  const disc = dl * dl + 2 * slope * m;
  const x = (-dl + Math.sqrt(Math.max(0, disc))) / slope;
  return Math.min(w, Math.max(0, x));
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export function percentiles(b: Readonly<Buckets>, sum?: number): Percentiles {
  return {
    p50: quantile(b, 0.5, sum),
    p90: quantile(b, 0.9, sum),
    p99: quantile(b, 0.99, sum),
    p999: quantile(b, 0.999, sum),
    max: histMax(b, sum),
  };
}

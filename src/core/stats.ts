/**
 * The statistics of before/after comparisons (compare.ts), pure and small: the Mann–Whitney U
 * test (exact for small samples without ties, else the normal approximation with the tie
 * correction and a continuity correction), the Hodges–Lehmann shift estimate that goes with it,
 * and Holm's step-down adjustment for testing many stages at once.
 */

export interface MannWhitney {
  /** U of the second sample: pairs (a, b) with b > a, ties counting one half. */
  u: number;
  /** Two-sided p-value; 1 when every value is the same. */
  p: number;
  /** True when p comes from the exact distribution of U. */
  exact: boolean;
}

/** Both samples at most this long, and no ties: the exact distribution of U (the table grows with
 *  m·n·(m·n)). Above it the normal approximation is within a few per cent of the exact p. */
export const EXACT_MAX = 25;

/** Midranks (1-based) of `values`, and the tie groups' sizes. */
function ranks(values: readonly number[]): { rank: number[]; ties: number[] } {
  const idx = values.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const rank = new Array<number>(values.length);
  const ties: number[] = [];
  for (let i = 0; i < idx.length; ) {
    let j = i + 1;
    while (j < idx.length && idx[j]![0] === idx[i]![0]) j++;
    const mid = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) rank[idx[k]![1]] = mid;
    if (j - i > 1) ties.push(j - i);
    i = j;
  }
  return { rank, ties };
}

/** P(U ≤ u) for samples of sizes m and n drawn from one continuous distribution, exactly: the
 *  distribution of U under the null hypothesis, by the largest of the i + j values. It is one of
 *  the second sample's with probability j/(i+j), and then exceeds all i values of the first (U
 *  grows by i); else it adds nothing: p(i, j, u) = i/(i+j)·p(i−1, j, u) + j/(i+j)·p(i, j−1, u−i). */
function exactCdf(m: number, n: number, u: number): number {
  // dist[i][j]: the distribution of U for sizes (i, j), as an array over u = 0..i·j.
  let prev: number[][] = [];
  for (let i = 0; i <= m; i++) {
    const row: number[][] = [];
    for (let j = 0; j <= n; j++) {
      if (i === 0 || j === 0) {
        row.push([1]);
        continue;
      }
      const d = new Array<number>(i * j + 1).fill(0);
      const a = prev[j]!; // sizes (i−1, j)
      const b = row[j - 1]!; // sizes (i, j−1)
      for (let k = 0; k < a.length; k++) d[k]! += (i / (i + j)) * a[k]!;
      for (let k = 0; k < b.length; k++) d[k + i]! += (j / (i + j)) * b[k]!;
      row.push(d);
    }
    prev = row;
  }
  const dist = prev[n]!;
  let c = 0;
  for (let k = 0; k <= Math.min(u, dist.length - 1); k++) c += dist[k]!;
  return Math.min(1, c);
}

/** The complementary error function, with a fractional error below 1.2e-7 everywhere (Chebyshev
 *  fit, Numerical Recipes' erfcc): small p-values keep their digits. */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Two-sided Mann–Whitney U test of `a` against `b`. Needs at least one value in each. */
export function mannWhitney(a: readonly number[], b: readonly number[]): MannWhitney {
  const m = a.length;
  const n = b.length;
  if (m === 0 || n === 0) throw new RangeError('mannWhitney needs a value in each sample');
  const { rank, ties } = ranks([...a, ...b]);
  let rb = 0;
  for (let k = m; k < m + n; k++) rb += rank[k]!;
  const u = rb - (n * (n + 1)) / 2;
  const mu = (m * n) / 2;
  if (ties.length === 0 && m <= EXACT_MAX && n <= EXACT_MAX) {
    const lo = exactCdf(m, n, Math.floor(u));
    const hi = 1 - exactCdf(m, n, Math.ceil(u) - 1);
    return { u, p: Math.min(1, 2 * Math.min(lo, hi)), exact: true };
  }
  const N = m + n;
  const tieTerm = ties.reduce((s, t) => s + t * t * t - t, 0) / (N * (N - 1));
  const variance = ((m * n) / 12) * (N + 1 - tieTerm);
  if (!(variance > 0)) return { u, p: 1, exact: false };
  const z = Math.max(0, Math.abs(u - mu) - 0.5) / Math.sqrt(variance);
  return { u, p: Math.min(1, erfc(z / Math.SQRT2)), exact: false };
}

/** Median of a list (mean of the middle two for an even length); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** The Hodges–Lehmann estimate of the shift from `a` to `b`: the median of every difference
 *  b_j − a_i (the shift the rank test is about; a few outliers on either side do not move it). */
export function hodgesLehmann(a: readonly number[], b: readonly number[]): number {
  const d = new Float64Array(a.length * b.length);
  let k = 0;
  for (const y of b) for (const x of a) d[k++] = y - x;
  d.sort();
  if (d.length === 0) return Number.NaN;
  const h = d.length >> 1;
  return d.length % 2 ? d[h]! : (d[h - 1]! + d[h]!) / 2;
}

/** Holm's step-down adjustment: adjusted p-values, in the input's order, such that rejecting
 *  every hypothesis with adjusted p ≤ α keeps the chance of any false rejection at most α. */
export function holm(p: readonly number[]): number[] {
  const order = p.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<number>(p.length);
  let running = 0;
  order.forEach(([v, i], r) => {
    running = Math.max(running, Math.min(1, (p.length - r) * v));
    out[i] = running;
  });
  return out;
}

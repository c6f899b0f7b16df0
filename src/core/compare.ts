/**
 * Before/after comparison: two windows — two traces, or two time ranges of one session — set side
 * by side on every stage. For each stage: the p50 and p99 of each window, their histograms, and
 * whether B differs from A by more than the interval-to-interval noise.
 *
 * The test (docs/compare.md says why):
 *  - the unit is a block of consecutive intervals holding at least `minPackets` packets of the
 *    stage (one interval at ordinary rates), not a packet: packets of one interval share queues,
 *    bursts and CPU state, so they are not independent, while the intervals of a window are its
 *    repeated measurements. Each block gives a p50 and a p99 (hist.ts quantile);
 *  - A's block values against B's with the two-sided Mann–Whitney U test (stats.ts): rank-based,
 *    so it assumes no distribution of the per-block percentiles (skewed, with bursts) and one
 *    burst cannot make a difference alone; the shift is the Hodges–Lehmann estimate;
 *  - every stage and quantile tested is one hypothesis: Holm's adjustment keeps the chance of any
 *    false flag in the whole comparison at most `alpha`;
 *  - a shift smaller than one histogram bucket at A's value (at most 12.5 % of it, hist.ts) is
 *    below what the histograms resolve and is never flagged, however many blocks there are.
 * Pure logic: the CLI (`nslat diff`), the extension and the tests call it.
 */
import type { Aggregator } from './aggregate.ts';
import type { Interval, IntervalStage } from './accumulate.ts';
import { formatClock } from './format.ts';
import { bucketEnd, bucketLower, bucketOf, HIST_BUCKETS, quantile } from './hist.ts';
import type { Comparison, CompareSideStage, CompareVerdict, QuantileDiff, StageComparison, StageSummary, TimeRange } from './protocol.ts';
import { hodgesLehmann, holm, mannWhitney } from './stats.ts';

export const COMPARE_DEFAULTS = {
  /** Family-wise significance level. */
  alpha: 0.01,
  /** Packets a block needs at least (its p99 then rests on a handful of the slowest). */
  minPackets: 50,
  /** Blocks a side needs at least: with 5 against 5, the smallest two-sided Mann–Whitney p is
   *  2/252 ≈ 0.008, just under the default α. */
  minBlocks: 5,
  /** Blocks per side at most (longer windows merge neighbouring blocks), which bounds the work of
   *  the shift estimate (m·n differences). */
  maxBlocks: 400,
} as const;

export interface CompareOptions {
  alpha?: number;
  minPackets?: number;
  minBlocks?: number;
  maxBlocks?: number;
}

/** What a stage is, as compared (a StageSummary's identity). */
export type StageMeta = Pick<StageSummary, 'key' | 'name' | 'kind' | 'dir' | 'cpu'>;

/** One window: its intervals (in time order) and the stages they may hold. */
export interface Window {
  label: string;
  range?: TimeRange;
  intervals: readonly Pick<Interval, 't_ms' | 'dur_ms' | 'stages'>[];
  stages: readonly StageMeta[];
}

/** The intervals lying wholly inside `range` (an interval covers (t_ms − dur_ms, t_ms]), so an
 *  interval that straddles a range's edge — a reload inside it — is in neither window. */
export function intervalsIn<T extends Pick<Interval, 't_ms' | 'dur_ms'>>(intervals: readonly T[], range: TimeRange): T[] {
  return intervals.filter((iv) => iv.t_ms - iv.dur_ms >= range.from_ms - 1e-6 && iv.t_ms <= range.to_ms + 1e-6);
}

/** A window of an aggregator's history: all of it, or the intervals inside `range`. The stages
 *  are its stages over the whole history (per-CPU series included; compare() leaves them out). */
export function windowOf(agg: Aggregator, label: string, range?: TimeRange): Window {
  const all = agg.intervals();
  const w: Window = { label, intervals: range ? intervalsIn(all, range) : all, stages: agg.report().stages };
  if (range) w.range = range;
  return w;
}

interface Side {
  count: number;
  sum: number;
  /** Dense buckets over the window. */
  buckets: number[];
  blocks: { p50: number; p99: number }[];
}

function addStage(dst: { count: number; sum: number; buckets: number[] }, st: IntervalStage): void {
  dst.count += st.count;
  dst.sum += st.sum;
  for (let j = 0; j + 1 < st.sparse.length; j += 2) {
    const i = st.sparse[j]!;
    if (i >= 0 && i < HIST_BUCKETS) dst.buckets[i]! += st.sparse[j + 1]!;
  }
}

function emptyAcc(): { count: number; sum: number; buckets: number[] } {
  return { count: 0, sum: 0, buckets: new Array<number>(HIST_BUCKETS).fill(0) };
}

/** A stage's side of a window: its totals, and blocks of consecutive intervals of at least
 *  `minPackets` (a short remainder joins the last block), at most `maxBlocks` of them. */
function sideOf(w: Window, key: string, minPackets: number, maxBlocks: number): Side {
  const total = emptyAcc();
  let blocks: { count: number; sum: number; buckets: number[] }[] = [];
  let cur = emptyAcc();
  for (const iv of w.intervals) {
    const st = iv.stages.get(key);
    if (!st || !(st.count > 0)) continue;
    addStage(total, st);
    addStage(cur, st);
    if (cur.count >= minPackets) {
      blocks.push(cur);
      cur = emptyAcc();
    }
  }
  if (cur.count > 0 && blocks.length) {
    const last = blocks[blocks.length - 1]!;
    last.count += cur.count;
    last.sum += cur.sum;
    for (let i = 0; i < HIST_BUCKETS; i++) last.buckets[i]! += cur.buckets[i]!;
  }
  while (blocks.length > maxBlocks) {
    const merged: typeof blocks = [];
    for (let i = 0; i < blocks.length; i += 2) {
      const a = blocks[i]!;
      const b = blocks[i + 1];
      if (b) {
        a.count += b.count;
        a.sum += b.sum;
        for (let k = 0; k < HIST_BUCKETS; k++) a.buckets[k]! += b.buckets[k]!;
      }
      merged.push(a);
    }
    blocks = merged;
  }
  return {
    count: total.count,
    sum: total.sum,
    buckets: total.buckets,
    blocks: blocks.map((b) => ({ p50: quantile(b.buckets, 0.5, b.sum), p99: quantile(b.buckets, 0.99, b.sum) })),
  };
}

/** One bucket's width at value v: what the histograms cannot tell apart there. */
export function resolutionAt(v: number): number {
  const i = bucketOf(v);
  return Math.max(1, (Number.isFinite(bucketEnd(i)) ? bucketEnd(i) : 2 * bucketLower(i)) - bucketLower(i));
}

function flat(b: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) if (b[i]! > 0) out.push(i, b[i]!);
  return out;
}

function sideStage(s: Side): CompareSideStage {
  return { count: s.count, block_p50: s.blocks.map((b) => b.p50), block_p99: s.blocks.map((b) => b.p99), buckets: flat(s.buckets) };
}

type Pending = { row: StageComparison; tests: Array<{ q: 'p50' | 'p99'; p: number }> };

/** Compares every stage of A and B (per-CPU series left out: their totals over CPUs are compared),
 *  in A's stage order, then B's stages that A lacks. */
export function compare(a: Window, b: Window, options: CompareOptions = {}): Comparison {
  const o = { ...COMPARE_DEFAULTS, ...options };
  const minPackets = Math.max(1, Math.round(o.minPackets));
  const minBlocks = Math.max(2, Math.round(o.minBlocks));
  const metas = new Map<string, StageMeta>();
  for (const s of [...a.stages, ...b.stages]) if (s.cpu === undefined && !metas.has(s.key)) metas.set(s.key, s);

  const pending: Pending[] = [];
  for (const meta of metas.values()) {
    const sa = sideOf(a, meta.key, minPackets, o.maxBlocks);
    const sb = sideOf(b, meta.key, minPackets, o.maxBlocks);
    if (sa.count === 0 && sb.count === 0) continue;
    const row: StageComparison = { key: meta.key, name: meta.name, kind: meta.kind, dir: meta.dir, verdict: 'same' };
    if (sa.count > 0) row.a = sideStage(sa);
    if (sb.count > 0) row.b = sideStage(sb);
    const p: Pending = { row, tests: [] };
    pending.push(p);
    if (sa.count === 0 || sb.count === 0) {
      row.verdict = sa.count === 0 ? 'only_b' : 'only_a';
      continue;
    }
    const enough = sa.blocks.length >= minBlocks && sb.blocks.length >= minBlocks;
    for (const q of ['p50', 'p99'] as const) {
      const qa = quantile(sa.buckets, q === 'p50' ? 0.5 : 0.99, sa.sum);
      const qb = quantile(sb.buckets, q === 'p50' ? 0.5 : 0.99, sb.sum);
      const va = sa.blocks.map((x) => x[q]);
      const vb = sb.blocks.map((x) => x[q]);
      const d: QuantileDiff = { a: qa, b: qb, shift: enough ? hodgesLehmann(va, vb) : qb - qa, p_value: null, adjusted: null, resolution: resolutionAt(qa), significant: false };
      if (enough) {
        d.p_value = mannWhitney(va, vb).p;
        p.tests.push({ q, p: d.p_value });
      }
      row[q] = d;
    }
    if (!enough) row.verdict = 'too_few';
  }

  // Holm over every test of the comparison.
  const all = pending.flatMap((x) => x.tests.map((t) => ({ x, t })));
  const adjusted = holm(all.map((e) => e.t.p));
  all.forEach((e, i) => {
    const d = e.x.row[e.t.q]!;
    d.adjusted = adjusted[i]!;
    d.significant = d.adjusted <= o.alpha && Math.abs(d.shift) >= d.resolution;
  });
  for (const { row } of pending) {
    if (row.verdict !== 'same') continue;
    row.verdict = verdictOf(row.p50, row.p99);
  }
  return {
    a: { label: a.label, ...(a.range ? { range: a.range } : {}), intervals: a.intervals.length },
    b: { label: b.label, ...(b.range ? { range: b.range } : {}), intervals: b.intervals.length },
    alpha: o.alpha,
    min_packets: minPackets,
    min_blocks: minBlocks,
    stages: pending.map((x) => x.row),
  };
}

function verdictOf(...ds: Array<QuantileDiff | undefined>): CompareVerdict {
  const up = ds.some((d) => d?.significant && d.shift > 0);
  const down = ds.some((d) => d?.significant && d.shift < 0);
  return up && down ? 'mixed' : up ? 'higher' : down ? 'lower' : 'same';
}

/** Stages whose verdict is a difference beyond noise. */
export function differences(c: Comparison): StageComparison[] {
  return c.stages.filter((s) => s.verdict === 'higher' || s.verdict === 'lower' || s.verdict === 'mixed');
}

/** "12:00:00–12:02:00" (local time). */
export function rangeLabel(r: TimeRange): string {
  return `${formatClock(r.from_ms)}–${formatClock(r.to_ms)}`;
}

/** Two time ranges of an aggregator's history compared (the panel's range selection), or why not:
 *  a range that holds no whole interval. `what` names the source in the labels. */
export function compareRanges(agg: Aggregator, what: string, a: TimeRange, b: TimeRange, options: CompareOptions = {}): { comparison?: Comparison; error?: string } {
  const wa = windowOf(agg, `${what} ${rangeLabel(a)}`, a);
  const wb = windowOf(agg, `${what} ${rangeLabel(b)}`, b);
  const empty = wa.intervals.length === 0 ? a : wb.intervals.length === 0 ? b : undefined;
  if (empty) return { error: `No whole interval lies inside ${empty === a ? 'the first' : 'the second'} range (${rangeLabel(empty)}): select a wider one.` };
  return { comparison: compare(wa, wb, options) };
}

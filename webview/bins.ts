// The bars of the histogram chart: the log-linear buckets of a stage's used range, merged in aligned
// groups when there are too many to draw. No DOM here (the unit tests import it).
import { type Unit, bucketRangeLabel } from '../src/core/format.ts';

/** At most this many bars: more would be thinner than a few pixels in a panel column. */
export const MAX_BARS = 64;

/** Which buckets the bars of a histogram cover: its used range (one empty bucket each side), in
 *  aligned groups of `group` buckets (1, 2, 4, … : the smallest that makes at most MAX_BARS). */
export function barLayout(b: readonly number[], minGroup = 1): { lo: number; hi: number; group: number } {
  let lo = b.findIndex((c) => c > 0);
  let hi = b.length - 1;
  while (hi > 0 && !(b[hi]! > 0)) hi--;
  if (lo < 0) lo = hi = 0;
  lo = Math.max(0, lo - 1);
  hi = Math.min(b.length - 1, hi + 1);
  let group = 1;
  while (group < minGroup || (group < b.length && Math.floor(hi / group) - Math.floor(lo / group) + 1 > MAX_BARS)) group *= 2;
  return { lo, hi, group };
}

/** Bars of `b` over a layout, each labelled with the real edges it covers. */
export function barsOver(b: readonly number[], l: { lo: number; hi: number; group: number }, unit: Unit): { labels: string[]; data: number[] } {
  const labels: string[] = [];
  const data: number[] = [];
  for (let g = Math.floor(l.lo / l.group); g <= Math.floor(l.hi / l.group); g++) {
    const first = g * l.group;
    const last = Math.min(b.length - 1, first + l.group - 1);
    let n = 0;
    for (let i = first; i <= last; i++) n += b[i] ?? 0;
    labels.push(bucketRangeLabel(first, last, unit));
    data.push(n);
  }
  return { labels, data };
}

/** The bars of a histogram: its used range (one empty bucket each side), one bar per log-linear
 *  bucket while there are at most MAX_BARS, else per aligned group of 2, 4, 8 (one power of two),
 *  … buckets, each labelled with the real edges it covers. */
export function histogramBars(b: readonly number[], unit: Unit): { labels: string[]; data: number[]; group: number } {
  const l = barLayout(b);
  return { ...barsOver(b, l, unit), group: l.group };
}

/** Several histograms on common bars (the layout of their sum), each as shares of its own count:
 *  histograms of different sizes overlaid. `minGroup`: bars at least this many buckets wide (a
 *  histogram whose counts are known per aligned group only). */
export function overlayBars(list: readonly (readonly number[])[], unit: Unit, minGroup = 1): { labels: string[]; shares: number[][]; group: number } {
  const n = Math.max(0, ...list.map((b) => b.length));
  const sum = new Array<number>(n).fill(0);
  for (const b of list) for (let i = 0; i < b.length; i++) sum[i]! += b[i] ?? 0;
  const l = barLayout(sum, minGroup);
  const labels = barsOver(sum, l, unit).labels;
  const shares = list.map((b) => {
    const { data } = barsOver(b, l, unit);
    const total = b.reduce((a, c) => a + (c > 0 ? c : 0), 0);
    return data.map((c) => (total > 0 ? c / total : 0));
  });
  return { labels, shares, group: l.group };
}

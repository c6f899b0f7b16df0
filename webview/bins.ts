// The bars of the histogram chart: the log-linear buckets of a stage's used range, merged in aligned
// groups when there are too many to draw. No DOM here (the unit tests import it).
import { type Unit, bucketRangeLabel } from '../src/core/format.ts';

/** At most this many bars: more would be thinner than a few pixels in a panel column. */
export const MAX_BARS = 64;

/** The bars of a histogram: its used range (one empty bucket each side), one bar per log-linear
 *  bucket while there are at most MAX_BARS, else per aligned group of 2, 4, 8 (one power of two),
 *  … buckets, each labelled with the real edges it covers. */
export function histogramBars(b: readonly number[], unit: Unit): { labels: string[]; data: number[]; group: number } {
  let lo = b.findIndex((c) => c > 0);
  let hi = b.length - 1;
  while (hi > 0 && !(b[hi]! > 0)) hi--;
  if (lo < 0) lo = hi = 0;
  lo = Math.max(0, lo - 1);
  hi = Math.min(b.length - 1, hi + 1);
  let group = 1;
  while (group < b.length && Math.floor(hi / group) - Math.floor(lo / group) + 1 > MAX_BARS) group *= 2;
  const labels: string[] = [];
  const data: number[] = [];
  for (let g = Math.floor(lo / group); g <= Math.floor(hi / group); g++) {
    const first = g * group;
    const last = Math.min(b.length - 1, first + group - 1);
    let n = 0;
    for (let i = first; i <= last; i++) n += b[i] ?? 0;
    labels.push(bucketRangeLabel(first, last, unit));
    data.push(n);
  }
  return { labels, data, group };
}

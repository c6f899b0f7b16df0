/**
 * How nslat writes its figures, for every view: the CLI report, the exports' human-readable
 * parts, the language-server hover and the panel (the webview bundle imports this module).
 * Pure functions, no imports beyond the bucket arithmetic: nothing here touches the DOM or Node.
 */
import { HIST_BUCKETS } from './contract.ts';
import { bucketEnd, bucketLower } from './hist.ts';

/** What a histogram's values count: time in ns, or packets (NAPI work per poll). */
export type Unit = 'ns' | 'packets';

/** The unit of a histogram kind: napi_work counts packets, every other kind measures ns. */
export function unitOfKind(kind: string): Unit {
  return kind === 'napi_work' ? 'packets' : 'ns';
}

const TIME_UNITS = ['ns', 'µs', 'ms', 's'] as const;

/** Three significant digits, trailing zeros kept (so columns line up): 1.50, 12.3, 456. */
function sig3(v: number): string {
  if (v >= 99.95) return v.toFixed(0);
  if (v >= 9.995) return v.toFixed(1);
  return v.toFixed(2);
}

/** A duration in ns: "0 ns", "850 ns", "1.54 µs", "12.3 ms", "2.00 s" (three significant digits,
 *  whole ns below 1 µs). "—" when not a number. */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return '—';
  const neg = ns < 0 ? '-' : '';
  let v = Math.abs(ns);
  let u = 0;
  while (u < TIME_UNITS.length - 1 && v >= 999.5) {
    v /= 1000;
    u++;
  }
  const s = u === 0 ? (Number.isInteger(v) ? String(v) : sig3(v)) : sig3(v);
  return `${neg}${s} ${TIME_UNITS[u]}`;
}

/** The short form for axis ticks and bucket labels: "4.10µs", "512ns". */
export function formatNsShort(ns: number): string {
  return formatNs(ns).replace(' ', '');
}

/** A count: "950", "12.3k", "4.50M", "1.20G". "—" when not a number. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  if (a < 1_000) return Number.isInteger(n) ? String(n) : n.toFixed(1);
  if (a < 1_000_000) return `${sig3(n / 1_000)}k`;
  if (a < 1_000_000_000) return `${sig3(n / 1_000_000)}M`;
  return `${sig3(n / 1_000_000_000)}G`;
}

/** A histogram value in its unit: a duration for ns, a rounded count of packets otherwise. */
export function formatValue(v: number, unit: Unit): string {
  if (unit === 'ns') return formatNs(v);
  if (!Number.isFinite(v)) return '—';
  return v >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
}

/** A histogram value in the unit of its kind. */
export function formatKindValue(v: number, kind: string): string {
  return formatValue(v, unitOfKind(kind));
}

function shortValue(v: number, unit: Unit): string {
  return unit === 'ns' ? formatNsShort(v) : formatCount(v);
}

/** The smallest value bucket i holds, written in its unit ("0", "1.02µs", "1.15µs", "64"). Decimal:
 *  the label says the bucket's real edge (log-linear edges are not powers of two: 1152 ns is
 *  "1.15µs"). Three significant digits keep neighbouring edges apart: they differ by at least
 *  1/(2·HIST_SUB − 1), 6.7 %. */
export function bucketLowLabel(i: number, unit: Unit = 'ns'): string {
  return i <= 0 ? '0' : shortValue(bucketLower(i), unit);
}

/** The values bucket i holds, as a range from its lower edge to its exclusive upper edge (the next
 *  bucket's lower edge): "0", "1.02µs–1.15µs", "5" for an exact small value, "≥16.1s" for the open
 *  last one. */
export function bucketLabel(i: number, unit: Unit = 'ns'): string {
  return bucketRangeLabel(i, i, unit);
}

/** The values buckets first..last hold together, as one range: "1.02µs–2.05µs" (buckets 80..87, one
 *  power of two); a bucket of one exact value is that value ("5", "5ns"). */
export function bucketRangeLabel(first: number, last: number, unit: Unit = 'ns'): string {
  const lo = Math.max(0, first);
  const hi = Math.max(lo, last);
  if (hi <= 0) return '0';
  if (hi >= HIST_BUCKETS - 1 || !Number.isFinite(bucketEnd(hi))) return `≥${bucketLowLabel(lo, unit)}`;
  if (bucketEnd(hi) - bucketLower(lo) === 1) return shortValue(bucketLower(lo), unit);
  return `${bucketLowLabel(lo, unit)}–${shortValue(bucketEnd(hi), unit)}`;
}

/** Wall-clock ms → "12:04:05" (local time). */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

const KIND_LABELS: Record<string, string> = {
  stage: 'stage',
  cum: 'since entry',
  hardirq: 'hard IRQ',
  irq_thread_latency: 'IRQ thread wake-up',
  irq_thread_time: 'IRQ thread run',
  softirq_delay: 'softirq raise→run',
  softirq_time: 'softirq run',
  napi_work: 'NAPI work',
};

/** What a histogram kind measures, in words. */
export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind;
}

/** An IP protocol number as a name: "TCP", "UDP", "ICMP", "proto 132". */
export function l4Name(l4: number | undefined): string {
  if (l4 === 6) return 'TCP';
  if (l4 === 17) return 'UDP';
  if (l4 === 1 || l4 === 58) return 'ICMP';
  return l4 ? `proto ${l4}` : '';
}

/** The share of a probe object's packets that was measured: "measured 1 in 16 of 1.2M packets
 *  (75.3k)", "every packet measured (1.2M)"; of the IRQ object's events, "timed 1 in 8 of 30.1k
 *  hard IRQs and softirq runs (3.76k)". The "1 in N" is the share the counters show (what was
 *  measured of what was seen), not the rate last set. */
export function formatMeasured(measured: number, seen: number, of: 'packets' | 'irq' = 'packets'): string {
  const [one, many, verb] = of === 'irq' ? ['hard IRQ and softirq run', 'hard IRQs and softirq runs', 'timed'] : ['packet', 'packets', 'measured'];
  if (!(seen > 0)) return `no ${many} seen`;
  if (measured >= seen) return `every ${one} ${verb} (${formatCount(seen)})`;
  if (!(measured > 0)) return `none of ${formatCount(seen)} ${many} ${verb}`;
  return `${verb} ${formatMeasuredShort(measured, seen)} ${many} (${formatCount(measured)})`;
}

/** The same, short (a panel tile): "1 in 16 of 1.2M", "all of 1.2M". */
export function formatMeasuredShort(measured: number, seen: number): string {
  if (!(seen > 0)) return '–';
  if (measured >= seen) return `all of ${formatCount(seen)}`;
  if (!(measured > 0)) return `none of ${formatCount(seen)}`;
  const n = seen / measured;
  return `1 in ${n < 10 ? String(Math.round(n * 10) / 10) : Math.round(n)} of ${formatCount(seen)}`;
}

/** A share as a percentage: "0 %", "<0.01 %", "0.02 %", "12.5 %". */
export function formatPercent(share: number): string {
  const p = 100 * share;
  if (!(p > 0)) return '0 %';
  if (p < 0.01) return '<0.01 %';
  if (p < 10) return `${p.toFixed(2).replace(/\.?0+$/, '')} %`;
  return `${p.toFixed(1).replace(/\.0$/, '')} %`;
}

/** 1234567 → "1.2 M", 12345 → "12.3 k", 999 → "999". */
export function formatCountShort(n: number): string {
  const a = Math.abs(n);
  const f = (v: number, u: string): string => `${(v >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, ''))} ${u}`;
  if (a < 1_000) return String(Math.round(n));
  if (a < 1_000_000) return f(n / 1_000, 'k');
  if (a < 1_000_000_000) return f(n / 1_000_000, 'M');
  return f(n / 1_000_000_000, 'G');
}

/** A size in bytes: "0 B", "512 B", "12.3 KiB", "4.50 MiB", "1.20 GiB". "—" when not a number. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let u = 0;
  while (u < units.length - 1 && v >= 1023.5) {
    v /= 1024;
    u++;
  }
  return `${n < 0 ? '-' : ''}${u === 0 ? String(Math.round(v)) : sig3(v)} ${units[u]}`;
}

/** A count per second: "0/s", "950/s", "12.3k/s", "0.50/s" (below 10 with two decimals, so a rare
 *  counter does not read as zero). */
export function formatRate(perS: number): string {
  if (!Number.isFinite(perS)) return '—';
  if (perS !== 0 && Math.abs(perS) < 10) return `${perS.toFixed(2)}/s`;
  return `${formatCount(Math.round(perS))}/s`;
}

// ---------------------------------------------------------------- comparisons (compare.ts)

/** A signed difference in its unit: "+1.98 ms", "-120 ns", "+3 packets"; "±0" for none. */
export function formatSigned(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return '—';
  if (v === 0) return '±0';
  const s = formatValue(Math.abs(v), unit);
  return `${v > 0 ? '+' : '-'}${s}${unit === 'packets' ? ' packets' : ''}`;
}

/** A change relative to `base`: "+190 %", "-12 %", "+0.4 %"; "" when base is not positive. */
export function formatRelative(diff: number, base: number): string {
  if (!(base > 0) || !Number.isFinite(diff)) return '';
  const p = (100 * diff) / base;
  const a = Math.abs(p);
  return `${p >= 0 ? '+' : '-'}${a >= 10 ? a.toFixed(0) : a.toFixed(1)} %`;
}

/** A p-value: "p = 0.003", "p = 0.41", "p < 0.0001"; "no test" when null. */
export function formatP(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return 'no test';
  if (p < 1e-4) return 'p < 0.0001';
  return `p = ${p < 0.01 ? p.toPrecision(1) : p.toFixed(p < 0.1 ? 3 : 2)}`;
}

/** A compared stage's verdict in words (CompareVerdict), for a stage of `kind`. */
export function verdictText(verdict: string, kind: string): string {
  const time = unitOfKind(kind) === 'ns';
  switch (verdict) {
    case 'higher':
      return time ? 'slower beyond noise' : 'higher beyond noise';
    case 'lower':
      return time ? 'faster beyond noise' : 'lower beyond noise';
    case 'mixed':
      return 'p50 and p99 moved apart beyond noise';
    case 'same':
      return 'no difference beyond noise';
    case 'too_few':
      return 'too few intervals to tell';
    case 'only_a':
      return 'only in A';
    case 'only_b':
      return 'only in B';
    default:
      return verdict;
  }
}

/** The verdict in a word or two, for a table column. */
export function verdictShort(verdict: string, kind: string): string {
  const time = unitOfKind(kind) === 'ns';
  const short: Record<string, string> = { higher: time ? 'slower' : 'higher', lower: time ? 'faster' : 'lower', mixed: 'mixed', same: 'same', too_few: 'too few', only_a: 'only in A', only_b: 'only in B' };
  return short[verdict] ?? verdict;
}

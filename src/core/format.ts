/**
 * How nslat writes its figures, for every view: the CLI report, the exports' human-readable
 * parts, the language-server hover and the panel (the webview bundle imports this module).
 * Pure functions, no imports beyond the bucket arithmetic: nothing here touches the DOM or Node.
 */
import { HIST_BUCKETS } from './contract.ts';
import { bucketLower, bucketUpper } from './hist.ts';

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

/** The smallest value bucket i holds, written in its unit ("0", "1.02µs", "64"). Decimal: the
 *  label says the bucket's real edge, 1024 ns is "1.02µs". */
export function bucketLowLabel(i: number, unit: Unit = 'ns'): string {
  return i <= 0 ? '0' : shortValue(bucketLower(i), unit);
}

/** The values bucket i holds, as a range: "0", "1.02µs–2.05µs", "≥2.20s" for the open last one. */
export function bucketLabel(i: number, unit: Unit = 'ns'): string {
  if (i <= 0) return '0';
  if (i >= HIST_BUCKETS - 1 || !Number.isFinite(bucketUpper(i))) return `≥${bucketLowLabel(i, unit)}`;
  return `${bucketLowLabel(i, unit)}–${shortValue(bucketUpper(i) + 1, unit)}`;
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

// Number and label formatting for the panel. Pure functions: no DOM.

/** 1234 → "1.23 µs"; values are ns. */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return '–';
  const a = Math.abs(ns);
  if (a < 1_000) return `${trim(ns)} ns`;
  if (a < 1_000_000) return `${trim(ns / 1_000)} µs`;
  if (a < 1_000_000_000) return `${trim(ns / 1_000_000)} ms`;
  return `${trim(ns / 1_000_000_000)} s`;
}

/** Short form for axis ticks: "4µs", "512ns". */
export function formatNsShort(ns: number): string {
  return formatNs(ns).replace(' ', '');
}

function trim(v: number): string {
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return v.toFixed(2).replace(/\.?0+$/, '');
}

/** 12345 → "12.3k". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a < 1_000) return Number.isInteger(n) ? String(n) : n.toFixed(1);
  if (a < 1_000_000) return `${trim(n / 1_000)}k`;
  if (a < 1_000_000_000) return `${trim(n / 1_000_000)}M`;
  return `${trim(n / 1_000_000_000)}G`;
}

/** Lower edge of log2 bucket i (bucket 0 holds v == 0; bucket i holds 2^(i-1) <= v < 2^i). */
export function bucketLow(i: number): number {
  return i === 0 ? 0 : 2 ** (i - 1);
}

/** Label of log2 bucket i for a value unit ("ns" formats as time, anything else as a count). */
export function bucketLabel(i: number, last: number, unit: 'ns' | 'count' = 'ns'): string {
  const f = unit === 'ns' ? formatNsShort : (n: number) => formatCount(n);
  if (i === 0) return unit === 'ns' ? '0' : '0';
  if (i === last) return `≥${f(bucketLow(i))}`;
  return `${f(bucketLow(i))}–${f(2 ** i)}`;
}

/** Wall-clock ms → "12:04:05". */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Whether a histogram kind measures ns (the rest, like napi_work, count things). */
export function kindUnit(kind: string): 'ns' | 'count' {
  return kind === 'napi_work' ? 'count' : 'ns';
}

export function formatValue(v: number, kind: string): string {
  return kindUnit(kind) === 'ns' ? formatNs(v) : formatCount(v);
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

export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind;
}

export function l4Name(l4: number | undefined): string {
  if (l4 === 6) return 'TCP';
  if (l4 === 17) return 'UDP';
  if (l4 === 1 || l4 === 58) return 'ICMP';
  return l4 ? `proto ${l4}` : '';
}

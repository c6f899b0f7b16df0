/**
 * OpenMetrics 1.0 text exposition (also read by Prometheus): the one writer for both the `.prom`
 * file a trace ends with (toOpenMetrics of a report) and the live /metrics of `nslat serve` (the
 * same report plus the host's counters and the agent's own state). Serve it with content type
 * OPENMETRICS_CONTENT_TYPE (or, format 'prometheus', as the text format 0.0.4 for scrapers that do
 * not ask for OpenMetrics), or write it to a file for node_exporter's textfile collector.
 *
 * Families (every sample carries `host`):
 *  - nslat_stage_latency_seconds (histogram): RX/TX stages (kind="stage") and cumulative times
 *    since the packet entered the stack (kind="cum"), labelled dir, kind, stage, from, to; IRQ
 *    series (dir="irq": hardirq, softirq_delay, softirq_time, irq_thread_*) over all CPUs, labelled
 *    irq or vec. Counts are of measured packets (1 in nslat_measure_every, see sampling.ts).
 *  - nslat_napi_poll_packets (histogram): packets per NAPI poll, over all CPUs.
 *  - nslat_irq_cpu_events / nslat_irq_cpu_seconds (counters): the per-CPU split of the IRQ
 *    series (their count and summed time per CPU); nslat_napi_cpu_polls / _packets likewise.
 *    Per-CPU series are counters, not histograms, so a 128-CPU host does not multiply the
 *    histogram series by 128.
 *  - nslat_lost (counter): what nslat lost, by loss (the protocol's loss counters and
 *    lost_snapshots); nslat_loss_base (counter): what each is a share of (started packets, hard
 *    IRQs, snapshots), so nslat_lost / nslat_loss_base is the share lost.
 *  - nslat_activity (counter): the other probe counters (seen, started, finished, sampled, …).
 *  - nslat_skb_drops (counter): kfree_skb drops by reason.
 *  - nslat_prog_runs / nslat_prog_run_seconds (counters): kernel bpf_stats.
 *  - nslat_host_* : the host's own counters as running totals (host.ts HostTotals, the Aggregator's
 *    own: Aggregator.hostTotals()), see hostFamilies.
 *  - live only (LiveStatus): nslat_up, nslat_info, nslat_helper_starts, nslat_helper_losses,
 *    nslat_snapshots, nslat_reloads, nslat_measure_every, nslat_last_snapshot_timestamp_seconds,
 *    nslat_serve_resident_memory_bytes, nslat_serve_heap_used_bytes, nslat_series_overflow.
 *  - `_info` families are gauges of value 1 (not the OpenMetrics info type), so that promtool and
 *    the 0.0.4 format read them too.
 *
 * Buckets: log-linear bucket i holds the integers bucketLower(i) … bucketUpper(i) (hist.ts), so its
 * cumulative `le` bound is exactly bucketUpper(i) ns (1151 ns, 1279 ns, …: not powers of two).
 * `perOctave` (8, 4, 2 or 1 buckets per power of two) merges aligned runs of nslat's 8 sub-buckets
 * into coarser Prometheus buckets, each at most 1/perOctave of its lower bound wide (12.5, 25, 50,
 * 100 %): a quantile PromQL interpolates is then within one such bucket. A series writes every
 * bound over a contiguous range of whole powers of two, from the one below its smallest value to
 * the top of its largest. The histograms are running totals, so that range only grows, and by
 * whole powers of two: the set of `le` series Prometheus sees stays the same from one scrape to
 * the next, which rate() and histogram_quantile() over a window need (a bound appearing in the
 * middle of a range would start a series mid-window). The open-ended last bucket only appears in
 * le="+Inf", which is always written.
 */
import { writeFileSync } from 'node:fs';
import { HIST_BUCKETS, LOSS_COUNTERS, LOST_SNAPSHOTS, SOFTIRQ_VECTORS } from '../protocol.ts';
import { bucketUpper, HIST_SUB } from '../hist.ts';
import type { Report, StageReport } from '../aggregate.ts';
import { KEY_SNMP, type HostTotals } from '../host.ts';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
/** The Prometheus text format, for scrapers that do not ask for OpenMetrics. */
export const PROMETHEUS_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export type ExpositionFormat = 'openmetrics' | 'prometheus';

/** The format a scraper's Accept header asks for: OpenMetrics when it names it, else 0.0.4. */
export function formatFor(accept: string | undefined): ExpositionFormat {
  return /application\/openmetrics-text/i.test(accept ?? '') ? 'openmetrics' : 'prometheus';
}

/** Exported buckets per power of two. */
export const PER_OCTAVE = [1, 2, 4, 8] as const;
export type PerOctave = (typeof PER_OCTAVE)[number];

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes HELP text: backslash and line feed (quotes are fine there). */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

type Labels = Array<[string, string | number | undefined]>;

function labelText(labels: Labels): string {
  const parts = labels.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** OpenMetrics number: integers as integers, others in shortest round-trip form. */
function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** A number of ns as seconds: exact decimal digits for whole ns, else the nearest double. */
function secondsText(ns: number): string {
  return Number.isInteger(ns) && ns >= 0 && ns < Number.MAX_SAFE_INTEGER ? nsToSecondsText(ns) : num(ns / 1e9);
}

/** An integer number of ns as an exact decimal number of seconds ("1023" → "0.000001023"). */
export function nsToSecondsText(ns: number): string {
  const digits = String(Math.round(ns)).padStart(10, '0');
  const int = digits.slice(0, -9).replace(/^0+(?=\d)/, '');
  const frac = digits.slice(-9).replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}

// ---------------------------------------------------------------- bucket ranges

const LAST = HIST_BUCKETS - 1;

/** First and last nslat bucket of the power of two bucket i lies in (values below HIST_SUB are
 *  one range of exact buckets). */
function octaveOf(i: number): [number, number] {
  const start = Math.floor(i / HIST_SUB) * HIST_SUB;
  return [start, Math.min(start + HIST_SUB - 1, LAST)];
}

/** Whether bucket i's upper edge is a bound at `perOctave` buckets per power of two: the next
 *  bucket starts a merged bucket (buckets below HIST_SUB, exact small values, are always kept). */
export function isBound(i: number, perOctave: PerOctave): boolean {
  if (i >= LAST) return false;
  const next = i + 1;
  return next < HIST_SUB || next % (HIST_SUB / perOctave) === 0;
}

/** The nonempty range of a histogram: [first, last] nonempty bucket, or undefined. */
function usedRange(buckets: readonly number[]): [number, number] | undefined {
  let lo = -1;
  let hi = -1;
  for (let i = 0; i < HIST_BUCKETS; i++) {
    if ((buckets[i] ?? 0) > 0) {
      if (lo < 0) lo = i;
      hi = i;
    }
  }
  return lo < 0 ? undefined : [lo, hi];
}

/** The bucket indices whose upper edges are written as `le` for a series using buckets lo..hi:
 *  every bound from the one just below lo's power of two to the top of hi's. */
export function boundsFor(lo: number, hi: number, perOctave: PerOctave): number[] {
  const first = Math.max(0, octaveOf(lo)[0] - 1);
  const last = Math.min(octaveOf(hi)[1], LAST - 1);
  const out: number[] = [];
  for (let i = first; i <= last; i++) if (isBound(i, perOctave)) out.push(i);
  return out;
}

// ---------------------------------------------------------------- the exposition

interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  unit?: string;
  lines: string[];
}

/** Families in the order they are declared, each with its samples kept together (OpenMetrics
 *  wants a family's samples in one block). */
class Exposition {
  private readonly families = new Map<string, Family>();

  constructor(readonly host: string) {}

  family(name: string, type: Family['type'], help: string, unit?: string): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { name, type, help, unit, lines: [] };
      this.families.set(name, f);
    }
    return f;
  }

  /** A counter's sample (`_total`) or a gauge's. */
  sample(f: Family, labels: Labels, value: number): void {
    const suffix = f.type === 'counter' ? '_total' : '';
    f.lines.push(`${f.name}${suffix}${labelText([['host', this.host], ...labels])} ${num(value)}`);
  }

  histogram(f: Family, labels: Labels, s: StageReport, scale: number, range: [number, number] | undefined, perOctave: PerOctave): void {
    const all: Labels = [['host', this.host], ...labels];
    const cumulative: number[] = [];
    let cum = 0;
    for (let i = 0; i < HIST_BUCKETS; i++) {
      cum += s.buckets[i] ?? 0;
      cumulative.push(cum);
    }
    if (range) {
      for (const i of boundsFor(range[0], range[1], perOctave)) {
        const bound = bucketUpper(i);
        const le = scale === 1 ? String(bound) : nsToSecondsText(bound);
        f.lines.push(`${f.name}_bucket${labelText([...all, ['le', le]])} ${num(cumulative[i]!)}`);
      }
    }
    // +Inf must equal _count: use the bucket total (a delta's `count` could disagree with its buckets)
    f.lines.push(`${f.name}_bucket${labelText([...all, ['le', '+Inf']])} ${num(cum)}`);
    f.lines.push(`${f.name}_count${labelText(all)} ${num(cum)}`);
    f.lines.push(`${f.name}_sum${labelText(all)} ${scale === 1 ? num(s.sum) : secondsText(s.sum)}`);
  }

  /** OpenMetrics 1.0, or the Prometheus text format 0.0.4 for clients that do not accept it
   *  (there a counter's TYPE and HELP name its `_total` samples, and UNIT and EOF do not exist). */
  text(format: ExpositionFormat = 'openmetrics'): string {
    const om = format === 'openmetrics';
    const out: string[] = [];
    for (const f of this.families.values()) {
      const name = !om && f.type === 'counter' ? `${f.name}_total` : f.name;
      out.push(`# TYPE ${name} ${f.type}`);
      if (f.unit && om) out.push(`# UNIT ${name} ${f.unit}`);
      out.push(`# HELP ${name} ${escapeHelp(f.help)}`);
      for (const l of f.lines) out.push(l);
    }
    if (om) out.push('# EOF');
    return `${out.join('\n')}\n`;
  }
}

/** What `nslat serve` adds about itself. */
export interface LiveStatus {
  /** A helper session is running and its snapshots arrive. */
  up: boolean;
  version: string;
  kernel?: string;
  arch?: string;
  helperVersion?: string;
  /** Helper sessions started, and lost (by reason: helper-exited, connection-lost, start-failed). */
  helperStarts: number;
  helperLosses: Record<string, number>;
  /** Snapshots taken into the totals. */
  snapshots: number;
  /** Reloads by slot and result. */
  reloads: Array<{ slot: string; ok: boolean; count: number }>;
  /** The current sampling: 1 in N packets measured (absent while down). */
  measureEvery?: number;
  /** 1 in N hard IRQs and softirq runs timed (the IRQ object's sampling). */
  irqMeasureEvery?: number;
  /** Wall-clock seconds of the last snapshot. */
  lastSnapshotS?: number;
  /** nslat serve's own memory (bytes): resident set and JavaScript heap in use. */
  memory?: { rss: number; heapUsed: number };
}

export interface OpenMetricsOptions {
  /** Value of the `host` label on every sample (default report.host). */
  host?: string;
  /** Buckets per power of two (default 8: nslat's own buckets). */
  perOctave?: PerOctave;
  /** The host's counters as running totals (Aggregator.hostTotals()). */
  hostTotals?: HostTotals;
  /** The agent's own state (nslat serve). */
  live?: LiveStatus;
  /** OpenMetrics (default) or the Prometheus text format 0.0.4. */
  format?: ExpositionFormat;
}

function stageLabels(s: StageReport): Labels {
  return [
    ['dir', s.dir],
    ['kind', s.kind],
    ['stage', s.name],
    ['from', s.from],
    ['to', s.to],
    ['irq', s.irq],
    ['vec', s.vec],
  ];
}

export function toOpenMetrics(report: Report, opts: OpenMetricsOptions = {}): string {
  const x = new Exposition(opts.host ?? report.host);
  const perOctave = opts.perOctave ?? 8;
  if (opts.live) liveFamilies(x, opts.live, report, report.series_overflow + (opts.hostTotals?.overflow ?? 0));

  const lat = x.family(
    'nslat_stage_latency_seconds',
    'histogram',
    'Per-packet time between consecutive network stack boundaries (kind="stage"), since the packet entered the stack (kind="cum"), and IRQ/softirq times over all CPUs (dir="irq"); measured packets only (1 in nslat_measure_every).',
    'seconds',
  );
  const napi = x.family('nslat_napi_poll_packets', 'histogram', 'Packets processed per NAPI poll, over all CPUs.');
  const cpuEvents = x.family('nslat_irq_cpu_events', 'counter', 'Per-CPU count of the IRQ series of nslat_stage_latency_seconds (hard IRQs, softirq runs, IRQ thread runs) by kind and line or vector.');
  const cpuSeconds = x.family('nslat_irq_cpu_seconds', 'counter', 'Per-CPU summed time of the IRQ series of nslat_stage_latency_seconds: rate() is the share of that CPU spent there.', 'seconds');
  const napiPolls = x.family('nslat_napi_cpu_polls', 'counter', 'NAPI polls per CPU.');
  const napiPackets = x.family('nslat_napi_cpu_packets', 'counter', 'Packets processed by NAPI polls per CPU.');

  for (const s of report.stages) {
    if (s.cpu !== undefined) {
      // one CPU's share of an IRQ series: counters only (the histogram is the over-CPU total)
      if (s.unit === 'packets') {
        x.sample(napiPolls, [['napi', s.name], ['cpu', s.cpu]], s.count);
        x.sample(napiPackets, [['napi', s.name], ['cpu', s.cpu]], s.sum);
      } else {
        const labels: Labels = [['kind', s.kind], ['stage', s.name], ['irq', s.irq], ['vec', s.vec], ['cpu', s.cpu]];
        x.sample(cpuEvents, labels, s.count);
        x.sample(cpuSeconds, labels, s.sum / 1e9);
      }
      continue;
    }
    const range = usedRange(s.buckets);
    if (s.unit === 'packets') x.histogram(napi, [['napi', s.name]], s, 1, range, perOctave);
    else x.histogram(lat, stageLabels(s), s, 1e-9, range, perOctave);
  }

  const lost = x.family('nslat_lost', 'counter', `Measurements nslat lost, by loss (${[...LOSS_COUNTERS, LOST_SNAPSHOTS].join(', ')}).`);
  const base = x.family('nslat_loss_base', 'counter', 'What each loss is a share of (base: started_packets, hard_irqs, snapshots): nslat_lost / nslat_loss_base is the share lost.');
  for (const l of report.loss) {
    x.sample(lost, [['loss', l.name]], l.total);
    x.sample(base, [['loss', l.name], ['base', l.base]], l.of);
  }
  const activity = x.family('nslat_activity', 'counter', 'Probe counters that count work, not loss: seen (packets that passed the filters at the entry boundary), started (measured), finished, sampled, filtered, ...');
  for (const [k, r] of Object.entries(report.activity)) x.sample(activity, [['counter', k]], r.total);
  const drops = x.family('nslat_skb_drops', 'counter', 'Packets freed by kfree_skb, by drop reason.');
  for (const [k, r] of Object.entries(report.drops)) x.sample(drops, [['reason', k]], r.total);
  const runs = x.family('nslat_prog_runs', 'counter', 'BPF program runs (kernel bpf_stats).');
  const runSeconds = x.family('nslat_prog_run_seconds', 'counter', 'Time spent in BPF programs (kernel bpf_stats).', 'seconds');
  for (const p of report.programs.filter((q) => q.runs > 0)) {
    x.sample(runs, [['slot', p.slot], ['prog', p.name]], p.runs);
    x.sample(runSeconds, [['slot', p.slot], ['prog', p.name]], p.run_time_ns / 1e9);
  }
  if (opts.hostTotals) hostFamilies(x, opts.hostTotals);
  return x.text(opts.format);
}

export function writeOpenMetrics(path: string, report: Report, opts?: OpenMetricsOptions): void {
  writeFileSync(path, toOpenMetrics(report, opts));
}

// ---------------------------------------------------------------- nslat serve's own state

function liveFamilies(x: Exposition, live: LiveStatus, report: Report, overflow: number): void {
  x.sample(x.family('nslat_up', 'gauge', '1 while the helper runs on the host and its snapshots arrive; 0 while nslat serve reconnects.'), [], live.up ? 1 : 0);
  x.sample(
    x.family('nslat_info', 'gauge', 'nslat and the traced kernel (value 1).'),
    [['version', live.version], ['kernel', live.kernel ?? report.kernel], ['arch', live.arch ?? report.features?.arch], ['helper_version', live.helperVersion ?? report.helper_version]],
    1,
  );
  x.sample(x.family('nslat_helper_starts', 'counter', 'Helper sessions started (the first, and each reconnection).'), [], live.helperStarts);
  const losses = x.family('nslat_helper_losses', 'counter', 'Helper sessions lost, by reason (helper-exited, connection-lost, start-failed); nslat serve reconnects with backoff.');
  for (const [reason, n] of Object.entries(live.helperLosses)) x.sample(losses, [['reason', reason]], n);
  x.sample(x.family('nslat_snapshots', 'counter', 'Helper snapshots added into these totals (one per --interval while up).'), [], live.snapshots);
  const reloads = x.family('nslat_reloads', 'counter', 'Probe reloads by slot and result (ok: the new probes run; failed: the old ones kept running).');
  for (const r of live.reloads) x.sample(reloads, [['slot', r.slot], ['result', r.ok ? 'ok' : 'failed']], r.count);
  if (live.measureEvery !== undefined) x.sample(x.family('nslat_measure_every', 'gauge', 'Sampling: 1 in N packets that pass the filters is measured through the stages (the histograms count those).'), [], live.measureEvery);
  if (live.irqMeasureEvery !== undefined) x.sample(x.family('nslat_irq_measure_every', 'gauge', 'Sampling: 1 in N hard IRQs and softirq runs is timed (the IRQ histograms count those; the kernel counts them all).'), [], live.irqMeasureEvery);
  if (live.lastSnapshotS !== undefined) x.sample(x.family('nslat_last_snapshot_timestamp_seconds', 'gauge', 'Wall-clock time of the last snapshot.', 'seconds'), [], live.lastSnapshotS);
  if (live.memory) {
    x.sample(x.family('nslat_serve_resident_memory_bytes', 'gauge', 'Resident memory of the nslat serve process.', 'bytes'), [], live.memory.rss);
    x.sample(x.family('nslat_serve_heap_used_bytes', 'gauge', 'JavaScript heap in use by nslat serve (bounded however long it runs).', 'bytes'), [], live.memory.heapUsed);
  }
  x.sample(x.family('nslat_series_overflow', 'counter', 'Values not exported because a cap on distinct series was reached (stages, interfaces, IRQ lines, counters).'), [], overflow);
}

// ---------------------------------------------------------------- the host's counters

/** Interface statistics every Linux device has (/sys/class/net/IFACE/statistics), written from an
 *  interface's first sample on, 0 until they move: the helper sends only counters that moved, and
 *  a drop counter that never moved should read 0, not be missing. The protocol counters the tables
 *  always show (KEY_SNMP) are written likewise from the first sample. */
export const IFACE_STATS = ['rx_packets', 'tx_packets', 'rx_bytes', 'tx_bytes', 'rx_errors', 'tx_errors', 'rx_dropped', 'tx_dropped', 'rx_missed_errors', 'rx_fifo_errors', 'rx_over_errors'] as const;
const IFACE_STAT_SET = new Set<string>(IFACE_STATS);

function hostFamilies(x: Exposition, h: HostTotals): void {
  const stat = x.family('nslat_host_iface_stat', 'counter', 'Interface counters (/sys/class/net/IFACE/statistics: rx_packets, tx_bytes, rx_dropped, ...).');
  const drv = x.family('nslat_host_iface_driver_stat', 'counter', 'The driver\'s own counters (ethtool -S), by its names.');
  const info = x.family('nslat_host_iface_info', 'gauge', 'Interface configuration: driver and operational state (value 1).');
  const mtu = x.family('nslat_host_iface_mtu_bytes', 'gauge', 'Interface MTU.', 'bytes');
  const speed = x.family('nslat_host_iface_speed_mbps', 'gauge', 'Link speed in Mbit/s, where the device reports one.');
  const queues = x.family('nslat_host_iface_queues', 'gauge', 'RX and TX queues of the interface.');
  const ring = x.family('nslat_host_iface_ring_entries', 'gauge', 'NIC ring sizes (ethtool -g): current and maximum, rx and tx.');
  const coal = x.family('nslat_host_iface_coalesce', 'gauge', 'Interrupt coalescing (ethtool -c), by ethtool\'s parameter names.');
  const steer = x.family('nslat_host_iface_queue_cpus_info', 'gauge', 'RPS CPU mask per RX queue and XPS mask per TX queue (hex, as sysfs shows them; value 1).');
  const qp = x.family('nslat_host_qdisc_packets', 'counter', 'Packets sent by the qdisc (tc -s qdisc).');
  const qb = x.family('nslat_host_qdisc_bytes', 'counter', 'Bytes sent by the qdisc.', 'bytes');
  const qd = x.family('nslat_host_qdisc_drops', 'counter', 'Packets dropped by the qdisc.');
  const qo = x.family('nslat_host_qdisc_overlimits', 'counter', 'Qdisc overlimits.');
  const qr = x.family('nslat_host_qdisc_requeues', 'counter', 'Qdisc requeues.');
  const qbb = x.family('nslat_host_qdisc_backlog_bytes', 'gauge', 'Bytes queued in the qdisc.', 'bytes');
  const qbp = x.family('nslat_host_qdisc_backlog_packets', 'gauge', 'Packets queued in the qdisc.');
  for (const i of h.ifaces.values()) {
    const id: Labels = [['iface', i.name], ['netns', i.netns === 0 ? undefined : i.netns]];
    for (const k of IFACE_STATS) x.sample(stat, [...id, ['stat', k]], i.stats.get(k) ?? 0);
    for (const [k, v] of i.stats) if (!IFACE_STAT_SET.has(k)) x.sample(stat, [...id, ['stat', k]], v);
    for (const [k, v] of i.driver) x.sample(drv, [...id, ['stat', k]], v);
    const c = i.config;
    if (c) {
      x.sample(info, [...id, ['driver', c.driver ?? ''], ['operstate', c.operstate ?? '']], 1);
      if (c.mtu !== undefined) x.sample(mtu, id, c.mtu);
      if (c.speed_mbps !== undefined && c.speed_mbps >= 0) x.sample(speed, id, c.speed_mbps);
      if (c.rx_queues !== undefined) x.sample(queues, [...id, ['queue', 'rx']], c.rx_queues);
      if (c.tx_queues !== undefined) x.sample(queues, [...id, ['queue', 'tx']], c.tx_queues);
      for (const [k, v] of Object.entries(c.rings ?? {})) if (v !== undefined) x.sample(ring, [...id, ['ring', k]], v);
      for (const [k, v] of Object.entries(c.coalesce ?? {})) x.sample(coal, [...id, ['param', k]], v);
      (c.rps ?? []).forEach((mask, q) => x.sample(steer, [...id, ['queue', `rx-${q}`], ['steering', 'rps'], ['mask', mask]], 1));
      (c.xps ?? []).forEach((mask, q) => x.sample(steer, [...id, ['queue', `tx-${q}`], ['steering', 'xps'], ['mask', mask]], 1));
    }
    for (const q of i.qdiscs.values()) {
      const ql: Labels = [...id, ['qdisc', q.kind], ['handle', q.handle], ['parent', q.parent]];
      x.sample(qp, ql, q.sent_packets);
      x.sample(qb, ql, q.sent_bytes);
      x.sample(qd, ql, q.drops);
      x.sample(qo, ql, q.overlimits);
      x.sample(qr, ql, q.requeues);
      x.sample(qbb, ql, q.backlog_bytes);
      x.sample(qbp, ql, q.backlog_packets);
    }
  }

  const softnet = x.family('nslat_host_softnet', 'counter', 'Per-CPU /proc/net/softnet_stat counters by column: processed, dropped (backlog full), time_squeeze (NET_RX softirq out of budget or time), received_rps, flow_limit.');
  const cpuTime = x.family('nslat_host_cpu_seconds', 'counter', 'CPU time by mode as sar -u splits it (user, nice, system, irq, softirq, iowait, idle, steal).', 'seconds');
  const softirqs = x.family('nslat_host_softirqs', 'counter', 'Softirq runs per CPU and vector (/proc/softirqs).');
  for (const c of [...h.cpus.values()].sort((a, b) => a.cpu - b.cpu)) {
    for (const [k, v] of Object.entries(c.softnet)) x.sample(softnet, [['cpu', c.cpu], ['counter', k]], v);
    for (const [k, v] of Object.entries(c.time)) x.sample(cpuTime, [['cpu', c.cpu], ['mode', k]], v / 1e9);
    c.softirqs.forEach((v, i) => x.sample(softirqs, [['cpu', c.cpu], ['vector', SOFTIRQ_VECTORS[i] ?? String(i)]], v ?? 0));
  }

  const irqs = x.family('nslat_host_irqs', 'counter', 'Interrupts per IRQ line and CPU (/proc/interrupts; only the CPUs a line fired on).');
  const irqInfo = x.family('nslat_host_irq_info', 'gauge', 'IRQ line: its action name, the NIC queue behind it, its affinity (smp_affinity_list) and effective affinity (value 1).');
  for (const q of [...h.irqs.values()].sort((a, b) => a.irq - b.irq)) {
    q.counts.forEach((v, cpu) => {
      if (v > 0) x.sample(irqs, [['irq', q.irq], ['name', q.name], ['cpu', cpu]], v);
    });
    x.sample(irqInfo, [['irq', q.irq], ['name', q.name], ['iface', q.queue?.iface], ['device', q.queue?.device], ['queue', q.queue?.queue], ['affinity', q.affinity], ['effective_affinity', q.effective_affinity]], 1);
  }

  const snmp = x.family('nslat_host_snmp', 'counter', 'Protocol counters (/proc/net/snmp, netstat, snmp6) as Group.Name: Tcp.RetransSegs, TcpExt.ListenDrops, Udp.RcvbufErrors, ...');
  const snmpTotals = new Map<string, number>(h.samples > 0 ? KEY_SNMP.map((k) => [k, 0]) : []);
  for (const [k, v] of h.snmp) snmpTotals.set(k, v);
  for (const [k, v] of [...snmpTotals].sort((a, b) => (a[0] < b[0] ? -1 : 1))) x.sample(snmp, [['counter', k]], v);

  const rq = x.family('nslat_host_socket_recv_queue_bytes', 'gauge', 'Recv-Q of the sockets with the longest queues and of those the filter names (ss; for a listener, its accept queue).', 'bytes');
  const sq = x.family('nslat_host_socket_send_queue_bytes', 'gauge', 'Send-Q of the same sockets (for a listener, its accept queue limit).', 'bytes');
  const sd = x.family('nslat_host_socket_drops', 'gauge', 'Packets the socket dropped over its life (SK_MEMINFO).');
  const rtt = x.family('nslat_host_socket_rtt_seconds', 'gauge', 'Smoothed TCP round-trip time of the socket.', 'seconds');
  for (const s of h.sockets) {
    const sl: Labels = [['proto', s.proto], ['state', s.state], ['local', s.local], ['remote', s.remote], ['inode', s.inode], ['comm', s.procs[0]?.comm]];
    x.sample(rq, sl, s.recv_q);
    x.sample(sq, sl, s.send_q);
    if (s.drops !== undefined) x.sample(sd, sl, s.drops);
    if (s.tcp) x.sample(rtt, sl, s.tcp.rtt_us / 1e6);
  }
  x.sample(x.family('nslat_host_samples', 'counter', 'Host counter samples taken (one per snapshot).'), [], h.samples);
  x.sample(x.family('nslat_host_sample_cost_seconds', 'counter', 'CPU time the helper spent reading the host counters.', 'seconds'), [], h.costNs / 1e9);
}

/**
 * OpenMetrics 1.0 text exposition (also read by Prometheus), so Prometheus/Grafana can take over
 * across many hosts. Serve it with content type OPENMETRICS_CONTENT_TYPE, or write it to a file
 * for node_exporter's textfile collector.
 *
 * Families:
 *  - nslat_stage_latency_seconds (histogram): every ns series — RX/TX stages and cumulative times
 *    and IRQ series — labelled host, dir, kind, stage (+ from, to, cpu, irq, vec when known).
 *    Per-CPU IRQ series are exported without their over-CPU totals (sum them in PromQL), so no
 *    sample is counted twice.
 *  - nslat_napi_poll_packets (histogram): packets per NAPI poll, per CPU.
 *  - nslat_lost (counter): what nslat lost, by loss (the protocol's loss counters and
 *    lost_snapshots); nslat_loss_base (counter): what each is a share of (started packets, hard
 *    IRQs, snapshots), so nslat_lost / nslat_loss_base is the share lost.
 *  - nslat_activity (counter): the other probe counters (started, finished, sampled, …).
 *  - nslat_skb_drops (counter): kfree_skb drops by reason.
 *  - nslat_prog_runs / nslat_prog_run_seconds (counters).
 *
 * Buckets: log-linear bucket i holds the integers bucketLower(i) … bucketUpper(i) (hist.ts), so its
 * cumulative `le` bound is exactly bucketUpper(i) ns (1151 ns, 1279 ns, …: the edges are not powers
 * of two). Of the HIST_BUCKETS bounds only those that carry information are written: each
 * nonempty bucket's, and the one just below it (its lower edge, so histogram_quantile interpolates
 * over the bucket's own width); a run of empty buckets in between changes no cumulative count.
 * The open-ended last bucket only appears in le="+Inf", which is always written.
 */
import { writeFileSync } from 'node:fs';
import { HIST_BUCKETS, LOSS_COUNTERS, LOST_SNAPSHOTS } from '../protocol.ts';
import { bucketUpper } from '../hist.ts';
import type { Report, StageReport } from '../aggregate.ts';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

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

/** An integer number of ns as an exact decimal number of seconds ("1023" → "0.000001023"). */
export function nsToSecondsText(ns: number): string {
  const digits = String(Math.round(ns)).padStart(10, '0');
  const int = digits.slice(0, -9).replace(/^0+(?=\d)/, '');
  const frac = digits.slice(-9).replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}

/** `le` for bucket i, in the family's unit (scale 1e-9 turns ns into seconds). */
function leOf(i: number, scale: number): string {
  const bound = bucketUpper(i); // bucket 0 → 0
  return scale === 1 ? String(bound) : nsToSecondsText(bound);
}

function histogramLines(name: string, labels: Labels, s: StageReport, scale: number): string[] {
  const out: string[] = [];
  const has = (i: number): boolean => (s.buckets[i] ?? 0) > 0;
  let cum = 0;
  for (let i = 0; i < HIST_BUCKETS - 1; i++) {
    cum += s.buckets[i] ?? 0;
    if (has(i) || has(i + 1)) out.push(`${name}_bucket${labelText([...labels, ['le', leOf(i, scale)]])} ${num(cum)}`);
  }
  cum += s.buckets[HIST_BUCKETS - 1] ?? 0;
  // +Inf must equal _count: use the bucket total (a delta's `count` could disagree with its buckets)
  out.push(`${name}_bucket${labelText([...labels, ['le', '+Inf']])} ${num(cum)}`);
  out.push(`${name}_count${labelText(labels)} ${num(cum)}`);
  out.push(`${name}_sum${labelText(labels)} ${num(scale === 1 ? s.sum : s.sum * scale)}`);
  return out;
}

export interface OpenMetricsOptions {
  /** Value of the `host` label on every sample (default report.host). */
  host?: string;
}

export function toOpenMetrics(report: Report, opts: OpenMetricsOptions = {}): string {
  const host = opts.host ?? report.host;
  const lines: string[] = [];
  const leaf = (s: StageReport): boolean => !s.total_over_cpus;

  const lat = report.stages.filter((s) => s.unit === 'ns' && leaf(s));
  lines.push(
    '# TYPE nslat_stage_latency_seconds histogram',
    '# UNIT nslat_stage_latency_seconds seconds',
    `# HELP nslat_stage_latency_seconds ${escapeHelp('Per-packet time between consecutive network stack boundaries (kind="stage"), since the packet entered the stack (kind="cum"), and IRQ/softirq times (dir="irq").')}`,
  );
  for (const s of lat) {
    const labels: Labels = [
      ['host', host],
      ['dir', s.dir],
      ['kind', s.kind],
      ['stage', s.name],
      ['from', s.from],
      ['to', s.to],
      ['cpu', s.cpu],
      ['irq', s.irq],
      ['vec', s.vec],
    ];
    lines.push(...histogramLines('nslat_stage_latency_seconds', labels, s, 1e-9));
  }

  const napi = report.stages.filter((s) => s.unit === 'packets' && leaf(s));
  if (napi.length) {
    lines.push('# TYPE nslat_napi_poll_packets histogram', '# HELP nslat_napi_poll_packets Packets processed per NAPI poll.');
    for (const s of napi) lines.push(...histogramLines('nslat_napi_poll_packets', [['host', host], ['napi', s.name], ['cpu', s.cpu]], s, 1));
  }

  const counter = (name: string, help: string, samples: Array<[Labels, number]>, unit?: string): void => {
    lines.push(`# TYPE ${name} counter`);
    if (unit) lines.push(`# UNIT ${name} ${unit}`);
    lines.push(`# HELP ${name} ${escapeHelp(help)}`);
    for (const [labels, v] of samples) lines.push(`${name}_total${labelText(labels)} ${num(v)}`);
  };
  counter(
    'nslat_lost',
    `Measurements nslat lost, by loss (${[...LOSS_COUNTERS, LOST_SNAPSHOTS].join(', ')}).`,
    report.loss.map((l) => [[['host', host], ['loss', l.name]], l.total]),
  );
  counter(
    'nslat_loss_base',
    'What each loss is a share of (base: started_packets, hard_irqs, snapshots): nslat_lost / nslat_loss_base is the share lost.',
    report.loss.map((l) => [[['host', host], ['loss', l.name], ['base', l.base]], l.of]),
  );
  counter(
    'nslat_activity',
    'Probe counters that count work, not loss (started, finished, sampled, filtered, ...).',
    Object.entries(report.activity).map(([k, r]) => [[['host', host], ['counter', k]], r.total]),
  );
  counter(
    'nslat_skb_drops',
    'Packets freed by kfree_skb, by drop reason.',
    Object.entries(report.drops).map(([k, r]) => [[['host', host], ['reason', k]], r.total]),
  );
  const progs = report.programs.filter((p) => p.runs > 0);
  counter('nslat_prog_runs', 'BPF program runs (kernel bpf_stats).', progs.map((p) => [[['host', host], ['slot', p.slot], ['prog', p.name]], p.runs]));
  counter('nslat_prog_run_seconds', 'Time spent in BPF programs (kernel bpf_stats).', progs.map((p) => [[['host', host], ['slot', p.slot], ['prog', p.name]], p.run_time_ns / 1e9]), 'seconds');
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

export function writeOpenMetrics(path: string, report: Report, opts?: OpenMetricsOptions): void {
  writeFileSync(path, toOpenMetrics(report, opts));
}

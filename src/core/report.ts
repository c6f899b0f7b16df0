/**
 * Report renderers for the CLI (`nslat trace` / `nslat replay` --format table|json).
 *  - formatTable: a per-layer percentile table (RX, then TX), IRQ tables, bcc-style log2
 *    histograms on request (summed from the log-linear buckets), what nslat lost (each loss as a share of what it applies to), activity counters, kernel drop
 *    reasons, per-program cost.
 *  - toJsonDocument: one JSON document, described by the exported zod schema ReportDocument.
 */
import { z } from 'zod';
import { AttachType, Direction, Feed, HIST_BUCKETS, LOSS_BASE_LABEL, LOSS_MEANING, LossBase, StageRecord, formatLossShare } from './protocol.ts';
import { bucketOf, log2BucketOf } from './hist.ts';
import { formatMeasured, formatNs, formatValue } from './format.ts';
import { shortReason } from './feeds.ts';
import type { FedReport, Report, StageReport, Unit } from './aggregate.ts';

// ------------------------------------------------------------------ JSON document

export const REPORT_SCHEMA = 'nslat.report/v3';

const num = z.number().finite();
const nullableNum = num.nullable();

/** A stage of the JSON document: the stage record's identity, its attach details with null for
 *  "none", figures with null without data, and sparse buckets. `kind` is "stage", "cum",
 *  "hardirq", "irq_thread_latency", "irq_thread_time", "softirq_delay", "softirq_time",
 *  "napi_work", a probe author's own, or "boundary" for a boundary no program could attach to
 *  (see skip_reason). */
export const ReportStage = StageRecord.pick({
  name: true,
  kind: true,
  dir: true,
  from: true,
  to: true,
  cpu: true,
  irq: true,
  vec: true,
  total_over_cpus: true,
  unit: true,
})
  .extend({
    /** `${dir}:${kind}:${name}` (+ `:cpu${n}`); absent for skipped boundaries. */
    key: z.string().optional(),
    /** Attach type of the first program feeding the boundary the stage ends at. */
    attach: AttachType.nullable(),
    /** Every attach type feeding it, "+"-joined ("netfilter", "fentry+tp_btf"); null when nothing does. */
    mechanism: z.string().nullable(),
    /** The programs feeding it (program, attach type, target, netfilter namespaces). */
    feeds: z.array(Feed),
    /** Why nothing feeds it: the helper's reason, complete. */
    skip_reason: z.string().nullable(),
    /** Packets (or events) measured. */
    count: num.min(0),
    sum: num.min(0),
    /** Percentiles interpolated in the log-linear buckets (see hist.ts for accuracy); null without data. */
    mean: nullableNum,
    p50: nullableNum,
    p90: nullableNum,
    p99: nullableNum,
    p999: nullableNum,
    /** Upper bound of the largest value (top of the highest bucket, tightened by the sum). */
    max: nullableNum,
    /** Sparse log-linear buckets [index, count] (hist.ts: index i counts bucketLower(i) ≤ v <
     *  bucketEnd(i); below HIST_SUB each index is one exact value). */
    buckets: z.array(z.tuple([z.number().int().min(0).max(HIST_BUCKETS - 1), num.min(0)])),
  })
  .strict();
export type ReportStage = z.infer<typeof ReportStage>;

/** A boundary or named group of a loaded object: what feeds it, or why nothing does. */
export const ReportFed = z.strictObject({
  slot: z.string(),
  name: z.string(),
  /** Boundaries only (groups have neither). */
  dir: Direction.optional(),
  id: z.number().int().optional(),
  active: z.boolean(),
  mechanism: z.string().nullable(),
  feeds: z.array(Feed),
  reason: z.string().nullable(),
});
export type ReportFed = z.infer<typeof ReportFed>;

/** One loss: how many, of how many packets, IRQs or snapshots (base), and the share. */
export const ReportLoss = z.strictObject({
  total: num.min(0),
  of: num.min(0),
  base: LossBase,
  /** total / of; null when of is 0. */
  share: num.min(0).nullable(),
});
export type ReportLoss = z.infer<typeof ReportLoss>;

export const ReportDocument = z.strictObject({
  schema: z.literal(REPORT_SCHEMA),
  host: z.string(),
  kernel: z.string().nullable(),
  helper_version: z.string().nullable(),
  ncpus: z.number().int().nullable(),
  /** From the helper's hello; null fields when the helper did not say. */
  features: z.strictObject({
    arch: z.string().nullable(),
    preempt_rt: z.boolean().nullable(),
    irq_threads: z.boolean().nullable(),
    netfilter: z.boolean().nullable(),
  }),
  /** ISO 8601 wall-clock time of the start, when known. */
  started: z.string().nullable(),
  duration_s: num.min(0),
  snapshots: z.number().int().min(0),
  /** RX stages in boundary order, then TX, then IRQ (per vector/line total, then per CPU). */
  stages: z.array(ReportStage),
  /** What nslat lost: measurements it should have made and did not. */
  loss: z.strictObject({
    /** Every loss counter (protocol.ts LOSS_COUNTERS: ringbuf_drop, map_full, stale,
     *  irq_out_of_range, udp_unpaired, evicted, udp_queue_race), as a share of the started packets (rx/tx) or
     *  hard IRQs (irq) it applies to. */
    counters: z.record(z.string(), ReportLoss),
    /** Snapshots missing from the helper's sequence, of received + missing. */
    lost_snapshots: ReportLoss,
    /** Histogram values dropped because too many distinct series appeared. */
    series_overflow: num.min(0),
  }),
  /** Every other probe counter, as totals: work the probes did (started, finished, sampled,
   *  filtered, sendmsg, napi_polls, coalesced, …). */
  activity: z.record(z.string(), num.min(0)),
  /** Per packet object: of the packets that passed its filters (`seen`), how many were timed
   *  through every later boundary (`measured`; sampling, see src/core/sampling.ts). */
  measured: z.array(z.strictObject({ slot: z.string(), dir: z.string(), seen: num.min(0), measured: num.min(0) })),
  /** Packets the kernel freed with kfree_skb, by drop reason, as totals (not nslat's loss). */
  drops: z.record(z.string(), num.min(0)),
  programs: z.array(
    z.strictObject({
      slot: z.string(),
      name: z.string(),
      status: z.enum(['attached', 'skipped', 'failed']),
      attach: AttachType.nullable(),
      reason: z.string().nullable(),
      runs: num.min(0),
      ns_per_run: num.min(0),
    }),
  ),
  /** Every boundary of the loaded objects (RX, then TX), fed or not. */
  boundaries: z.array(ReportFed),
  /** Named groups that are not boundaries (irq_thread, coalesced). */
  groups: z.array(ReportFed),
  reloads: z.array(z.strictObject({ t_ms: num, slot: z.string(), ok: z.boolean(), message: z.string().optional() })),
  journeys: z.number().int().min(0),
});
export type ReportDocument = z.infer<typeof ReportDocument>;

function lossDoc(l: ReportLoss): ReportLoss {
  return { total: l.total, of: l.of, base: l.base, share: l.of > 0 ? l.total / l.of : null };
}

function finiteOrNull(v: number, has: boolean): number | null {
  return has && Number.isFinite(v) ? v : null;
}

function stageDoc(s: StageReport): ReportStage {
  const has = s.count > 0;
  const d: ReportStage = {
    name: s.name,
    key: s.key,
    kind: s.kind,
    dir: s.dir,
    total_over_cpus: s.total_over_cpus,
    unit: s.unit,
    attach: s.attach ?? null,
    mechanism: s.mechanism ?? null,
    feeds: (s.feeds ?? []).map((f) => ({ ...f })),
    skip_reason: s.skip_reason ?? null,
    count: s.count,
    sum: s.sum,
    mean: finiteOrNull(s.mean, has),
    p50: finiteOrNull(s.p50, has),
    p90: finiteOrNull(s.p90, has),
    p99: finiteOrNull(s.p99, has),
    p999: finiteOrNull(s.p999, has),
    max: finiteOrNull(s.max, has),
    buckets: s.buckets.flatMap((n, i) => (n > 0 ? [[i, n] as [number, number]] : [])),
  };
  if (s.from !== undefined) d.from = s.from;
  if (s.to !== undefined) d.to = s.to;
  if (s.cpu !== undefined) d.cpu = s.cpu;
  if (s.irq !== undefined) d.irq = s.irq;
  if (s.vec !== undefined) d.vec = s.vec;
  return d;
}

/** One JSON document for `--format json`; validates against ReportDocument. Skipped boundaries
 *  appear as stages of kind "boundary" with a skip_reason, count 0 and null percentiles, placed
 *  in boundary order. */
export function toJsonDocument(report: Report): ReportDocument {
  const stages: ReportStage[] = [];
  for (const row of pathRows(report, ['rx', 'tx'])) {
    if ('skipped' in row) {
      const b = row.skipped;
      stages.push({ name: b.name, kind: 'boundary', dir: b.dir, total_over_cpus: false, unit: 'ns', attach: null, mechanism: null, feeds: [], skip_reason: b.reason ?? 'not attached', count: 0, sum: 0, mean: null, p50: null, p90: null, p99: null, p999: null, max: null, buckets: [] });
    } else stages.push(stageDoc(row.stage));
  }
  for (const s of report.stages) if (s.dir !== 'rx' && s.dir !== 'tx') stages.push(stageDoc(s));
  const totals = (m: Record<string, { total: number }>): Record<string, number> => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.total]));
  const fedDoc = (f: FedReport): ReportFed => {
    const d: ReportFed = { slot: f.slot, name: f.name, active: f.active, mechanism: f.mechanism ?? null, feeds: f.feeds.map((x) => ({ ...x })), reason: f.reason ?? null };
    if (f.dir !== undefined) d.dir = f.dir;
    if (f.id !== undefined) d.id = f.id;
    return d;
  };
  const ft = report.features;
  return {
    schema: REPORT_SCHEMA,
    host: report.host,
    kernel: report.kernel ?? null,
    helper_version: report.helper_version ?? null,
    ncpus: report.ncpus ?? null,
    features: { arch: ft?.arch ?? null, preempt_rt: ft?.preempt_rt ?? null, irq_threads: ft?.irq_threads ?? null, netfilter: ft?.netfilter ?? null },
    started: report.started_ms !== undefined && Number.isFinite(report.started_ms) ? new Date(report.started_ms).toISOString() : null,
    duration_s: report.duration_s,
    snapshots: report.snapshots,
    stages,
    loss: {
      counters: Object.fromEntries(report.loss.filter((l) => l.name !== 'lost_snapshots').map((l) => [l.name, lossDoc(l)])),
      lost_snapshots: lossDoc(report.loss.find((l) => l.name === 'lost_snapshots') ?? { total: report.lost_snapshots, of: report.snapshots + report.lost_snapshots, base: 'snapshots', share: null }),
      series_overflow: report.series_overflow,
    },
    activity: totals(report.activity),
    measured: report.measured.map((m) => ({ ...m })),
    drops: totals(report.drops),
    programs: report.programs.map((p) => ({ slot: p.slot, name: p.name, status: p.status, attach: p.attach ?? null, reason: p.reason ?? null, runs: p.runs, ns_per_run: p.ns_per_run })),
    boundaries: report.boundaries.map(fedDoc),
    groups: report.groups.map(fedDoc),
    reloads: report.reloads.map((r) => ({ ...r })),
    journeys: report.journeys,
  };
}

// ------------------------------------------------------------------ text tables

export interface TableOptions {
  /** ANSI colours (bold titles, dim skipped rows, red loss). Default false. */
  color?: boolean;
  /** Terminal width; long names are shortened and histogram bars narrowed to fit. Default 100. */
  width?: number;
  /** Also print bcc-style log2 histograms per stage, summed from the fine buckets (default false;
   *  the CLI's --log2). */
  histograms?: boolean;
  /** Include the cumulative ("time since entry") stages in histograms too (default false). */
  cumulativeHistograms?: boolean;
  /** NAPI budget for "polls that used the whole budget" (default 64, the kernel's default weight). */
  napiBudget?: number;
}

type PathRow = { stage: StageReport } | { skipped: Report['skipped'][number] };

/** RX/TX rows: 'stage' rows in boundary order with each skipped boundary placed before the first
 *  stage that ends after it, then the other kinds (cum, custom) in report order. */
function pathRows(report: Report, dirs: Array<'rx' | 'tx'>): PathRow[] {
  const rows: PathRow[] = [];
  for (const dir of dirs) {
    const stages = report.stages.filter((s) => s.dir === dir);
    const skipped = report.skipped.filter((b) => b.dir === dir).sort((a, b) => a.id - b.id);
    let k = 0;
    for (const s of stages.filter((x) => x.kind === 'stage')) {
      while (k < skipped.length && s.to_id !== undefined && skipped[k]!.id < s.to_id) rows.push({ skipped: skipped[k++]! });
      rows.push({ stage: s });
    }
    while (k < skipped.length) rows.push({ skipped: skipped[k++]! });
    for (const s of stages) if (s.kind !== 'stage') rows.push({ stage: s });
  }
  return rows;
}

const ESC = '\u001b[';
function paint(on: boolean, code: string, s: string): string {
  return on ? `${ESC}${code}m${s}${ESC}0m` : s;
}

function cut(s: string, n: number): string {
  if (n <= 1) return s.slice(0, Math.max(0, n));
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** Lays out rows as columns: first column left-aligned (and shortened to fit `width`), the others
 *  right-aligned except those listed in `left`. A row of one cell plus `span[i]` (a skipped
 *  boundary and its reason) prints that text after its first cell, across the other columns. */
export function layout(header: string[], rows: string[][], width: number, left: number[] = [0], span: Array<string | undefined> = []): string[] {
  const ncol = header.length;
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r, j) => (i > 0 && span[j] !== undefined ? 0 : (r[i] ?? '').length))));
  const total = w.reduce((a, b) => a + b, 0) + 2 * (ncol - 1) + 2;
  if (total > width) {
    // shorten the last (free-text) column first, then the name column
    let over = total - width;
    const shrink = (i: number, min: number): void => {
      const can = Math.max(0, w[i]! - min);
      const d = Math.min(can, over);
      w[i]! -= d;
      over -= d;
    };
    const freeText = left.includes(ncol - 1) && ncol > 1;
    // names matter more than the free text (skip reasons are also in the JSON document)
    if (freeText) shrink(ncol - 1, 10);
    shrink(0, 16);
    shrink(0, 10);
  }
  const fmt = (r: string[]): string =>
    '  ' +
    r
      .map((c, i) => {
        const s = cut(c, w[i]!);
        return left.includes(i) ? (i === ncol - 1 ? s : s.padEnd(w[i]!)) : s.padStart(w[i]!);
      })
      .join('  ');
  // Spanning text wraps at spaces onto at most three lines under itself.
  const spanned = (r: string[], text: string): string => {
    const name = cut(r[0] ?? '', w[0]!).padEnd(w[0]!);
    const avail = Math.max(10, width - w[0]! - 4);
    const lines: string[] = [];
    let cur = '';
    for (const word of text.split(' ')) {
      if (cur && cur.length + 1 + word.length > avail) {
        lines.push(cur);
        cur = word;
      } else cur = cur ? `${cur} ${word}` : word;
    }
    if (cur) lines.push(cur);
    const shown = lines.length > 3 ? [...lines.slice(0, 2), cut(lines.slice(2).join(' '), avail)] : lines;
    return shown.map((l, i) => `  ${i === 0 ? name : ' '.repeat(w[0]!)}  ${cut(l, avail)}`).join('\n');
  };
  return [fmt(header), ...rows.map((r, j) => (span[j] !== undefined ? spanned(r, span[j]!) : fmt(r)))];
}

/** The "fed by" cell: the mechanism(s) feeding the boundary a stage ends at, or why nothing feeds
 *  it (short; the JSON document has the complete reason). */
function fedByText(s: { mechanism?: string; attach?: string; skip_reason?: string }): string {
  if (s.skip_reason) return `skipped: ${shortReason(s.skip_reason)}`;
  return s.mechanism ?? s.attach ?? '';
}

function stageLabel(s: StageReport): string {
  if (s.kind === 'stage' && s.from !== undefined && s.to !== undefined) return `${s.from} → ${s.to}`;
  if (s.kind === 'cum' && s.to !== undefined) return `entry → ${s.to}`;
  return s.kind === 'stage' || s.kind === 'cum' ? s.name : `${s.name} [${s.kind}]`;
}

function v(s: StageReport, x: number): string {
  return s.count > 0 ? formatValue(x, s.unit) : '-';
}

/** The log-linear buckets summed per power of two (bcc's log2 buckets): index 0 counts 0, index k
 *  counts 2^(k−1) ≤ v < 2^k. Exact, since every log-linear bucket lies inside one power of two
 *  (hist.ts log2BucketOf); the open last bucket lands in the highest index. */
export function log2Buckets(buckets: readonly number[]): number[] {
  const out = new Array<number>(log2BucketOf(HIST_BUCKETS - 1) + 1).fill(0);
  for (let i = 0; i < HIST_BUCKETS; i++) {
    const n = buckets[i] ?? 0;
    if (n > 0) out[log2BucketOf(i)]! += n;
  }
  return out;
}

/**
 * A bcc-style log2 histogram (like libbpf-tools' print_log2_hist), in the stage's unit, summed
 * exactly from the log-linear buckets (log2Buckets):
 *
 *      nsecs               : count    distribution
 *       1024 -> 2047       : 311      |****                                    |
 *
 * Rows run from the lowest to the highest nonempty power of two (bcc starts at 0; in ns that would
 * be ten empty rows for microsecond latencies). Row k is [2^(k-1), 2^k − 1]; row 0 is 0; the
 * highest row also holds everything above the last bucket's lower bound ("inf").
 */
export function formatLog2Hist(buckets: readonly number[], unit: Unit | string = 'ns', opts: { color?: boolean; stars?: number } = {}): string[] {
  const label = unit === 'ns' ? 'nsecs' : unit;
  const rows = log2Buckets(buckets);
  const top = rows.length - 1;
  let lo = -1;
  let hi = -1;
  let max = 0;
  for (let k = 0; k <= top; k++) {
    const n = rows[k]!;
    if (n > 0) {
      if (lo < 0) lo = k;
      hi = k;
      max = Math.max(max, n);
    }
  }
  const stars = Math.max(10, Math.min(40, opts.stars ?? 40));
  const out = [`${' '.repeat(5)}${label.padEnd(19)} : count    distribution`];
  if (lo < 0) return out;
  for (let k = lo; k <= hi; k++) {
    const n = rows[k]!;
    const low = k === 0 ? 0 : 2 ** (k - 1);
    const high = k === 0 ? '0' : k === top ? 'inf' : String(2 ** k - 1);
    const nstars = max > 0 ? Math.floor((Math.min(n, max) * stars) / max) : 0;
    const bar = '*'.repeat(nstars) + ' '.repeat(stars - nstars);
    out.push(`${String(low).padStart(10)} -> ${high.padEnd(10)} : ${String(n).padEnd(8)} |${paint(opts.color === true, '36', bar)}|`);
  }
  return out;
}

const KNOWN_IRQ_KINDS = ['hardirq', 'irq_thread_latency', 'irq_thread_time', 'softirq_delay', 'softirq_time', 'napi_work'];

const cpuLabel = (s: StageReport): string => (s.total_over_cpus ? 'all' : s.cpu !== undefined ? String(s.cpu) : '-');

/** "hardirq 24 virtio0-input.0" (the line number added when the name lacks it). */
function lineLabel(s: StageReport): string {
  return s.irq !== undefined && !s.name.includes(String(s.irq)) ? `${s.irq} ${s.name}` : s.name;
}

/** Two kinds of one series side by side (softirq delay and run time, IRQ thread wake-up and run
 *  time): one entry per name and CPU, the total over CPUs before the per-CPU ones. */
interface Pair {
  a?: StageReport;
  b?: StageReport;
  first: StageReport;
}

function pairs(as: StageReport[], bs: StageReport[], num: (s: StageReport) => number): Pair[] {
  const byKey = new Map<string, Pair>();
  for (const [s, isA] of [...as.map((x) => [x, true] as const), ...bs.map((x) => [x, false] as const)]) {
    const k = `${num(s)}:${s.name}:${cpuLabel(s)}`;
    const e = byKey.get(k) ?? { first: s };
    if (isA) e.a = s;
    else e.b = s;
    byKey.set(k, e);
  }
  return [...byKey.values()].sort(
    (x, y) =>
      num(x.first) - num(y.first) ||
      (x.first.name < y.first.name ? -1 : x.first.name > y.first.name ? 1 : 0) ||
      (x.first.total_over_cpus === y.first.total_over_cpus ? (x.first.cpu ?? -1) - (y.first.cpu ?? -1) : x.first.total_over_cpus ? -1 : 1),
  );
}

/** The paired table; when it does not fit the width, the two halves one after the other.
 *  `names`: first column, count and p50 headers of the first kind, count and p50 of the second. */
function pairedTable(entries: Pair[], label: (e: Pair) => string, names: [string, string, string, string, string], width: number, bold: (s: string) => string): string[] {
  const dash = ['-', '-', '-', '-'];
  const part = (s?: StageReport): string[] => (s ? [String(s.count), v(s, s.p50), v(s, s.p99), v(s, s.max)] : dash);
  const [first, countA, p50A, countB, p50B] = names;
  const lines = layout([first, 'cpu', countA, p50A, 'p99', 'max', countB, p50B, 'p99', 'max'], entries.map((e) => [label(e), cpuLabel(e.first), ...part(e.a), ...part(e.b)]), width);
  if (lines.every((l) => l.length <= width)) return [bold(lines[0]!), ...lines.slice(1)];
  const out: string[] = [];
  for (const [hdr, pick] of [[[first, 'cpu', countA, p50A, 'p99', 'max'], (e: Pair) => part(e.a)], [[first, 'cpu', countB, p50B, 'p99', 'max'], (e: Pair) => part(e.b)]] as const) {
    const l2 = layout([...hdr], entries.map((e) => [label(e), cpuLabel(e.first), ...pick(e)]), width);
    out.push(bold(l2[0]!), ...l2.slice(1));
  }
  return out;
}

/** IRQ thread wake-up latency and threaded handler run time, where device IRQs are threaded by
 *  force; elsewhere one line saying why there is nothing to show. Nothing when IRQs were not traced. */
function irqThreadSection(report: Report, irq: StageReport[], width: number, bold: (s: string) => string, dim: (s: string) => string): string[] {
  const lat = irq.filter((s) => s.kind === 'irq_thread_latency');
  const run = irq.filter((s) => s.kind === 'irq_thread_time');
  const group = report.groups.find((g) => g.name === 'irq_thread');
  const irqTraced = group !== undefined || irq.length > 0 || report.programs.some((p) => p.slot === 'irq');
  const threaded = report.features?.irq_threads;
  if (!irqTraced || (lat.length === 0 && run.length === 0 && threaded === undefined && !group)) return [];
  const title = 'IRQ thread wake-up (threaded IRQs): hard IRQ → handler thread runs, per line and CPU';
  const out = ['', bold(title.length <= width ? title : 'IRQ thread wake-up (threaded IRQs), per line and CPU')];
  if (lat.length || run.length) {
    out.push(...pairedTable(pairs(lat, run, (s) => s.irq ?? 9999), (e) => lineLabel(e.first), ['line', 'wakeups', 'wake p50', 'runs', 'run p50'], width, bold));
    const fed = group?.mechanism ?? lat[0]?.mechanism ?? run[0]?.mechanism;
    if (fed) out.push(dim(`  fed by ${fed}`));
  } else if (threaded === false) {
    out.push(dim(cut('  nothing is threaded here (no PREEMPT_RT, no threadirqs): handlers run in hard IRQ context', width)));
  } else if (group && !group.active) {
    out.push(dim(cut(`  not measured: ${shortReason(group.reason)}`, width)));
  } else {
    out.push(dim('  no threaded IRQ handler ran during the trace'));
  }
  return out;
}

/** What each loss base counts, for the line under the Loss table. */
const BASE_EXPLAINED: Record<LossBase, string> = {
  started_packets: 'passed an rx/tx entry boundary',
  hard_irqs: 'seen by the irq probes',
  snapshots: 'received + missing',
};

/** The whole text report (`--format table`). */
export function formatTable(report: Report, opts: TableOptions = {}): string {
  const color = opts.color === true;
  const width = Math.max(60, opts.width ?? 100);
  const budget = opts.napiBudget ?? 64;
  const bold = (s: string): string => paint(color, '1', s);
  const dim = (s: string): string => paint(color, '2', s);
  const out: string[] = [];

  const head = [`nslat on ${report.host}`];
  if (report.kernel) head.push(`kernel ${report.kernel}`);
  head.push(`${report.duration_s.toFixed(1)} s`, `${report.snapshots} snapshots${report.lost_snapshots ? ` (${report.lost_snapshots} lost)` : ''}`);
  out.push(bold(head.join(' — ')));
  for (const m of report.measured) out.push(dim(cut(`${m.dir === m.slot ? m.dir : `${m.slot} (${m.dir})`}: ${formatMeasured(m.measured, m.seen)}`, width)));

  // per-layer percentile tables
  for (const dir of ['rx', 'tx'] as const) {
    for (const [title, kinds] of [
      [`${dir.toUpperCase()} per stage`, ['stage']],
      [`${dir.toUpperCase()} cumulative (time since the packet entered the stack)`, ['cum']],
      [`${dir.toUpperCase()} other`, null],
    ] as const) {
      const rows = pathRows(report, [dir]).filter((r) => {
        if ('skipped' in r) return kinds?.[0] === 'stage';
        const k = r.stage.kind;
        return kinds ? (kinds as readonly string[]).includes(k) : k !== 'stage' && k !== 'cum';
      });
      if (rows.length === 0) continue;
      out.push('', bold(title));
      // A skipped boundary's row is its name and why nothing feeds it, across the number columns.
      const cells = rows.map((r) => ('skipped' in r ? [`(${r.skipped.name})`] : [stageLabel(r.stage), String(r.stage.count), v(r.stage, r.stage.p50), v(r.stage, r.stage.p90), v(r.stage, r.stage.p99), v(r.stage, r.stage.max), fedByText(r.stage)]));
      const span = rows.map((r) => ('skipped' in r ? `skipped: ${shortReason(r.skipped.reason ?? 'not attached')}` : undefined));
      const lines = layout(['stage', 'packets', 'p50', 'p90', 'p99', 'max', 'fed by'], cells, width, [0, 6], span);
      out.push(bold(lines[0]!));
      lines.slice(1).forEach((l, i) => out.push('skipped' in rows[i]! ? l.split('\n').map(dim).join('\n') : l));
    }
  }

  // IRQ tables
  const irq = report.stages.filter((s) => s.dir === 'irq');
  const hard = irq.filter((s) => s.kind === 'hardirq');
  if (hard.length) {
    out.push('', bold('Hard IRQ handler time (per line and CPU)'));
    const lines = layout(['line', 'cpu', 'count', 'p50', 'p99', 'max', 'fed by'], hard.map((s) => [lineLabel(s), cpuLabel(s), String(s.count), v(s, s.p50), v(s, s.p99), v(s, s.max), fedByText(s)]), width, [0, 6]);
    out.push(bold(lines[0]!), ...lines.slice(1));
  }
  out.push(...irqThreadSection(report, irq, width, bold, dim));
  const delay = irq.filter((s) => s.kind === 'softirq_delay');
  const time = irq.filter((s) => s.kind === 'softirq_time');
  if (delay.length || time.length) {
    out.push('', bold('Softirq: raise → run delay and run time (per vector and CPU)'));
    const label = (e: Pair): string => (e.first.vec !== undefined ? `${e.first.name} (${e.first.vec})` : e.first.name);
    out.push(...pairedTable(pairs(delay, time, (s) => s.vec ?? 99), label, ['vector', 'raises', 'delay p50', 'runs', 'run p50'], width, bold));
  }
  const napi = irq.filter((s) => s.kind === 'napi_work');
  if (napi.length) {
    out.push('', bold(`NAPI poll work vs budget (${budget} packets per poll)`));
    // Polls of at least `budget` packets: exact when the budget is a bucket's lower edge (every
    // integer below 16, and 64, the kernel's default weight), else from the lower edge of
    // the bucket holding it (at most 12.5 % below).
    const full = bucketOf(budget);
    const lines = layout(
      ['napi', 'cpu', 'polls', 'p50', 'p99', 'max', 'at budget'],
      napi.map((s) => {
        const atBudget = s.buckets.reduce((a, n, i) => (i >= full ? a + n : a), 0);
        return [s.name, cpuLabel(s), String(s.count), v(s, s.p50), v(s, s.p99), v(s, s.max), s.count > 0 ? `${((100 * atBudget) / s.count).toFixed(1)}%` : '-'];
      }),
      width,
    );
    out.push(bold(lines[0]!), ...lines.slice(1));
  }
  const otherIrq = irq.filter((s) => !KNOWN_IRQ_KINDS.includes(s.kind));
  if (otherIrq.length) {
    out.push('', bold('Other IRQ series'));
    const lines = layout(['series', 'cpu', 'count', 'p50', 'p99', 'max'], otherIrq.map((s) => [stageLabel(s), cpuLabel(s), String(s.count), v(s, s.p50), v(s, s.p99), v(s, s.max)]), width);
    out.push(bold(lines[0]!), ...lines.slice(1));
  }

  // histograms
  if (opts.histograms === true) {
    const stars = Math.min(40, width - 42);
    const hists = report.stages.filter((s) => s.count > 0 && (s.dir !== 'irq' ? s.kind !== 'cum' || opts.cumulativeHistograms : s.total_over_cpus || s.cpu === undefined));
    if (hists.length) out.push('', bold('Histograms (log2)'));
    for (const s of hists) {
      out.push('', cut(`${s.dir} ${stageLabel(s)}${s.total_over_cpus ? ' (all CPUs)' : ''}: ${s.count} ${s.unit === 'packets' ? 'polls' : s.dir === 'irq' ? 'events' : 'packets'}, p50 ${v(s, s.p50)}, p99 ${v(s, s.p99)}`, width));
      out.push(...formatLog2Hist(s.buckets, s.unit, { color, stars }));
    }
  }

  // loss: what nslat itself failed to measure, each as a share of what it applies to
  const red = (n: number, s: string): string => (n > 0 ? paint(color, '31', s) : s);
  const lostTotal = report.loss.reduce((a, l) => a + l.total, 0) + report.series_overflow;
  out.push('', bold('Loss') + dim(`  (measurements nslat lost: ${lostTotal === 0 ? 'none' : lostTotal})`));
  const lossRows = report.loss.map((l) => [l.name.replace(/_/g, ' '), String(l.total), formatLossShare(l), LOSS_MEANING[l.name as keyof typeof LOSS_MEANING] ?? '']);
  if (report.series_overflow) lossRows.push(['series overflow', String(report.series_overflow), 'histogram values', 'too many distinct series; values dropped']);
  const lossLines = layout(['loss', 'total', 'share', 'meaning'], lossRows, width, [0, 2, 3]);
  out.push(dim(lossLines[0]!));
  lossLines.slice(1).forEach((l, i) => out.push(red(Number(lossRows[i]![1]), l)));
  const bases = [...new Set(report.loss.filter((l) => l.of > 0).map((l) => l.base))];
  if (bases.length) out.push(dim(cut(`  shares of: ${bases.map((b) => `${LOSS_BASE_LABEL[b]} = ${BASE_EXPLAINED[b]}`).join('; ')}`, width)));

  // activity: what the probes did (not losses)
  const act = Object.entries(report.activity);
  if (act.length) {
    out.push('', bold('Activity') + dim('  (work the probes counted; not losses)'));
    const lines = layout(['counter', 'total', 'per s'], act.map(([k, r]) => [k, String(r.total), r.per_s.toFixed(2)]), width);
    out.push(dim(lines[0]!), ...lines.slice(1));
  }
  if (Object.keys(report.drops).length) {
    out.push('', bold('Kernel drops') + dim(cut('  (packets the kernel freed with kfree_skb, by reason; not lost by nslat)', width - 12)));
    const lines = layout(['reason', 'packets', 'per s'], Object.entries(report.drops).map(([k, r]) => [k, String(r.total), r.per_s.toFixed(2)]), width);
    out.push(dim(lines[0]!), ...lines.slice(1));
  }

  // programs
  if (report.programs.length) {
    // Without kernel bpf_stats every run count is 0: say so rather than print a column of zeros.
    const stats = report.programs.some((p) => p.runs > 0);
    out.push('', bold('Programs') + (stats ? '' : dim('  (runs and ns/run: trace with --bpf-stats)')));
    const lines = layout(
      ['program', 'slot', 'attach', 'runs', 'ns/run', 'status'],
      report.programs.map((p) => [p.name, p.slot, p.attach ?? '-', stats ? String(p.runs) : '-', p.runs > 0 ? p.ns_per_run.toFixed(0) : '-', p.status === 'attached' ? 'attached' : `${p.status}${p.reason ? `: ${shortReason(p.reason)}` : ''}`]),
      width,
      [0, 1, 2, 5],
    );
    out.push(bold(lines[0]!), ...lines.slice(1));
  }
  if (report.reloads.length) {
    out.push('', bold('Reloads'));
    for (const r of report.reloads) out.push(`  ${new Date(r.t_ms).toISOString()}  ${r.slot}  ${r.ok ? 'ok' : 'failed'}${r.message ? `: ${r.message}` : ''}`);
  }
  return `${out.join('\n')}\n`;
}

/** Formats ns for tables; re-exported so the CLI can format single values the same way. */
export { formatNs };

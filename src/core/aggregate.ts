/**
 * Aggregation: helper messages in, per-stage running totals, a time series, journeys, health and
 * reports out. Pure logic, no I/O; the CLI, the extension and `nslat replay` all feed one of these.
 *
 * Series keys are `${dir}:${kind}:${name}`; a HistDelta that carries a `cpu` also feeds the per-CPU
 * series `${dir}:${kind}:${name}:cpu${n}` (so IRQ data exists both per CPU and per vector/line over
 * all CPUs — the over-CPU total has `total_over_cpus: true` in reports).
 *
 * Memory is bounded (defaults in DEFAULTS below, all overridable):
 *  - series: at most `maxSeries` distinct keys (1024); values for further keys are counted in
 *    `series_overflow` and otherwise dropped;
 *  - intervals (one per helper snapshot): at most `maxIntervals` (1800). Intervals younger than
 *    `fullResolutionMs` (15 min) before the newest one keep full resolution; when the cap is
 *    exceeded, all older intervals are merged pairwise (so old history gets coarser by factors of
 *    two, and stays bounded); if that is not enough (very fast snapshots), the oldest half of all
 *    intervals is merged pairwise. Each interval stores only the stages that saw data, as sparse
 *    buckets, so its size is O(active stages × nonempty buckets);
 *  - journeys: a ring of the last `maxJourneys` (1000);
 *  - reload marks: the last `maxReloads` (1000).
 */
import {
  HIST_BUCKETS,
  activityCounters,
  lossFigures,
  type AttachType,
  type Boundary,
  type Direction,
  type Feed,
  type Group,
  type Health,
  type HelloMessage,
  type HelperMessage,
  type IntervalPoint,
  type JourneyMessage,
  type LossFigure,
  type PanelState,
  type ProgramStatus,
  type ReloadMark,
  type SessionInfo,
  type SlotCounters,
  type SnapshotMessage,
  type StageSummary,
  type ToPanel,
} from './protocol.ts';
import { mechanismOf } from './feeds.ts';
import { addSparse, emptyBuckets, percentiles, quantile, toSparse } from './hist.ts';
import { type Unit, unitOfKind } from './format.ts';

export interface AggregatorOptions {
  /** Host name shown in reports and the panel ("local" by default). */
  host?: string;
  /** Intervals younger than this (relative to the newest) are never merged. Default 15 min. */
  fullResolutionMs?: number;
  maxIntervals?: number;
  maxJourneys?: number;
  maxSeries?: number;
  maxReloads?: number;
  /** Called after every ingest/markReload/setSession that changed something. */
  onChange?: (agg: Aggregator) => void;
  /** Wall clock in ms, for messages that arrive before `hello` (tests inject a fixed clock). */
  now?: () => number;
}

export const DEFAULTS = {
  fullResolutionMs: 15 * 60_000,
  maxIntervals: 1800,
  maxJourneys: 1000,
  maxSeries: 1024,
  maxReloads: 1000,
} as const;

export type { Unit };
export { unitOfKind };

/** Per-stage (per-series) results, in stage order. */
export interface StageReport {
  key: string;
  name: string;
  kind: string;
  dir: Direction;
  /** Slot whose snapshot carried it (the last one, if several). */
  slot: string;
  from?: string;
  to?: string;
  /** Boundary ids of `from`/`to` in their slot's `loaded` message, when announced. */
  from_id?: number;
  to_id?: number;
  cpu?: number;
  irq?: number;
  vec?: number;
  /** True for the total over CPUs of per-CPU series (the per-CPU ones carry `cpu`). */
  total_over_cpus: boolean;
  /** "packets" for napi_work, "ns" for everything else. */
  unit: Unit;
  /** Attach type of the (first) program feeding this stage (from `loaded` boundaries/programs). */
  attach?: AttachType;
  /** Every attach type feeding the boundary this stage ends at, "+"-joined ("fentry+tp_btf"). */
  mechanism?: string;
  /** The programs feeding that boundary (from `loaded`). */
  feeds?: Feed[];
  /** Why the boundary feeding it is not active, when it is not. */
  skip_reason?: string;
  count: number;
  sum: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Dense HIST_BUCKETS counts over the whole session. */
  buckets: number[];
}

/** A boundary announced by `loaded` that no attached program feeds (so no stage measures it). */
export interface SkippedBoundary {
  slot: string;
  dir: Direction;
  name: string;
  id: number;
  reason?: string;
}

/** A boundary or named group as the last `loaded` of its slot announced it. */
export interface FedReport {
  slot: string;
  name: string;
  /** Boundaries only. */
  dir?: Direction;
  id?: number;
  active: boolean;
  /** "+"-joined attach types of the programs feeding it; absent when nothing does. */
  mechanism?: string;
  feeds: Feed[];
  /** Why nothing feeds it (the helper's reason, complete). */
  reason?: string;
}

/** What the helper's hello says about the kernel. */
export interface KernelFeatures {
  arch?: string;
  preempt_rt?: boolean;
  irq_threads?: boolean;
  netfilter?: boolean;
}

export interface ProgramReport {
  slot: string;
  name: string;
  section: string;
  status: ProgramStatus['status'];
  attach?: AttachType;
  reason?: string;
  prog_id?: number;
  runs: number;
  run_time_ns: number;
  /** Mean ns per run over the session (0 without bpf_stats or runs). */
  ns_per_run: number;
  recursion_misses: number;
}

export interface Rate {
  total: number;
  per_s: number;
}

/** A loss (protocol.ts lossFigures) with its mean rate and its share in each slot. */
export interface LossReport extends LossFigure {
  per_s: number;
  /** Per slot that reported it (lost snapshots: none). */
  slots: Record<string, { total: number; of: number }>;
}

export interface Report {
  host: string;
  kernel?: string;
  helper_version?: string;
  ncpus?: number;
  /** Wall-clock ms of the helper start (from hello) or of the first message. */
  started_ms?: number;
  /** Wall-clock ms of the last snapshot. */
  ended_ms?: number;
  /** Time covered by snapshots (Σ interval_ns), s. */
  duration_s: number;
  snapshots: number;
  /** Snapshots missing from the helper's sequence (seq gaps). */
  lost_snapshots: number;
  stages: StageReport[];
  skipped: SkippedBoundary[];
  /** Every boundary of the loaded objects, fed or not, in slot and boundary order. */
  boundaries: FedReport[];
  /** Named groups of the loaded objects that are not boundaries (irq_thread, coalesced). */
  groups: FedReport[];
  /** From hello, when one was seen. */
  features?: KernelFeatures;
  /** What nslat lost: every loss counter (protocol.ts LOSS_COUNTERS), then lost snapshots, each
   *  as a share of what it applies to. */
  loss: LossReport[];
  /** Every other probe counter (started, finished, sampled, filtered, …), totals and mean rate. */
  activity: Record<string, Rate>;
  /** kfree_skb drop reasons, totals and mean rate. */
  drops: Record<string, Rate>;
  programs: ProgramReport[];
  reloads: ReloadMark[];
  /** Journeys received (all of them, not only the ones still in the ring). */
  journeys: number;
  /** Histogram values dropped because the series cap was reached. */
  series_overflow: number;
}

interface Series {
  key: string;
  kind: string;
  dir: Direction;
  name: string;
  slot: string;
  from?: string;
  to?: string;
  cpu?: number;
  irq?: number;
  vec?: number;
  total: boolean;
  buckets: number[];
  count: number;
  sum: number;
}

interface IntervalStage {
  count: number;
  sum: number;
  /** sparse, flattened: [bucket, count, bucket, count, …] */
  sparse: number[];
}

interface Interval {
  id: number;
  /** wall ms at the end of the interval */
  t_ms: number;
  dur_ms: number;
  events: number;
  stages: Map<string, IntervalStage>;
}

interface SlotInfo {
  object: string;
  programs: ProgramStatus[];
  boundaries: Boundary[];
  groups: Group[];
  loaded: boolean;
}

interface ProgTotals {
  slot: string;
  name: string;
  prog_id: number;
  runs: number;
  time: number;
  misses: number;
}

const DIR_RANK: Record<string, number> = { rx: 0, tx: 1, irq: 2 };
const PATH_KIND_RANK: Record<string, number> = { stage: 0, cum: 1 };
const IRQ_KIND_RANK: Record<string, number> = { hardirq: 0, irq_thread_latency: 1, irq_thread_time: 2, softirq_delay: 3, softirq_time: 4, napi_work: 5 };


function flatSparse(b: number[]): number[] {
  const out: number[] = [];
  for (const [i, n] of toSparse(b)) out.push(i, n);
  return out;
}

function denseFromFlat(flat: readonly number[]): number[] {
  const b = emptyBuckets();
  for (let j = 0; j + 1 < flat.length; j += 2) b[flat[j]!]! += flat[j + 1]!;
  return b;
}

export class Aggregator {
  private readonly opts: Required<Omit<AggregatorOptions, 'onChange' | 'host' | 'now'>>;
  private readonly onChange?: (agg: Aggregator) => void;
  private readonly now: () => number;

  private hello?: HelloMessage;
  private session: SessionInfo;
  private readonly slots = new Map<string, SlotInfo>();
  /** `${dir}:${name}` → latest boundary (with slot) announced by any `loaded`. */
  private readonly boundaries = new Map<string, Boundary & { slot: string }>();
  private readonly series = new Map<string, Series>();
  private intervals: Interval[] = [];
  private intervalSeq = 0;
  private readonly journeyRing: JourneyMessage[] = [];
  private journeyTotal = 0;
  private reloads: ReloadMark[] = [];
  private reloadTotal = 0;
  /** slot → counter → total */
  private readonly slotCounters = new Map<string, Map<string, number>>();
  /** slot → hard IRQs measured (hardirq histogram counts) */
  private readonly slotHardIrqs = new Map<string, number>();
  /** slot → the kind of object, from its `loaded` boundaries or its histograms */
  private readonly slotKinds = new Map<string, SlotCounters['kind']>();
  private readonly drops = new Map<string, number>();
  private readonly progs = new Map<string, ProgTotals>();
  private snapshots = 0;
  private lostSnapshots = 0;
  private lastSeq?: number;
  private coveredNs = 0;
  private firstMs?: number;
  private lastSnapshotMs?: number;
  private lastEventsPerS = 0;
  private seriesOverflow = 0;

  // delta tracking for panelDelta()
  private readonly dirty = new Set<string>();
  private sentIntervalId = 0;
  private sentJourneys = 0;
  private sentReloads = 0;
  private healthDirty = false;
  private sessionDirty = false;
  private resync = false;

  constructor(options: AggregatorOptions = {}) {
    this.opts = {
      fullResolutionMs: options.fullResolutionMs ?? DEFAULTS.fullResolutionMs,
      maxIntervals: Math.max(4, options.maxIntervals ?? DEFAULTS.maxIntervals),
      maxJourneys: Math.max(1, options.maxJourneys ?? DEFAULTS.maxJourneys),
      maxSeries: Math.max(1, options.maxSeries ?? DEFAULTS.maxSeries),
      maxReloads: Math.max(1, options.maxReloads ?? DEFAULTS.maxReloads),
    };
    this.onChange = options.onChange;
    this.now = options.now ?? Date.now;
    this.session = { host: options.host ?? 'local', state: 'running' };
  }

  // ------------------------------------------------------------------ input

  /** Wall-clock ms of a monotonic ns timestamp, via hello's (mono_ns, wall_ns) pair; without a
   *  hello, the receive time (or now). */
  wallMs(mono_ns: number, recvMs?: number): number {
    if (this.hello) return (this.hello.wall_ns + (mono_ns - this.hello.mono_ns)) / 1e6;
    return recvMs ?? this.now();
  }

  /** Merges one (already validated) helper message. `recvMs` is the wall-clock receive time, used
   *  only to place messages that arrive before a `hello`. */
  ingest(msg: HelperMessage, recvMs?: number): void {
    if (this.firstMs === undefined) this.firstMs = recvMs ?? this.now();
    switch (msg.type) {
      case 'hello': {
        this.hello = msg;
        const info: SessionInfo = { ...this.session, kernel: msg.kernel, started_ms: msg.wall_ns / 1e6 };
        if (msg.arch !== undefined) info.arch = msg.arch;
        if (msg.preempt_rt !== undefined) info.preempt_rt = msg.preempt_rt;
        if (msg.irq_threads !== undefined) info.irq_threads = msg.irq_threads;
        if (msg.netfilter !== undefined) info.netfilter = msg.netfilter;
        this.session = info;
        this.sessionDirty = true;
        break;
      }
      case 'loaded': {
        this.slots.set(msg.slot, { object: msg.object, programs: msg.programs, boundaries: msg.boundaries, groups: msg.groups ?? [], loaded: true });
        this.slotKinds.set(msg.slot, msg.boundaries.length > 0 ? 'packets' : 'irq');
        for (const b of msg.boundaries) this.boundaries.set(`${b.dir}:${b.name}`, { ...b, slot: msg.slot });
        if (msg.replaced) this.pushReload({ t_ms: this.wallMs(msg.mono_ns, recvMs), slot: msg.slot, ok: true });
        // attach types may have changed for existing stages
        for (const k of this.series.keys()) this.dirty.add(k);
        this.healthDirty = true;
        break;
      }
      case 'unloaded': {
        const s = this.slots.get(msg.slot);
        if (s) s.loaded = false;
        this.healthDirty = true;
        break;
      }
      case 'snapshot':
        this.ingestSnapshot(msg, recvMs);
        break;
      case 'journey':
        this.journeyRing.push(msg);
        if (this.journeyRing.length > this.opts.maxJourneys) this.journeyRing.shift();
        this.journeyTotal++;
        break;
      case 'error':
      case 'log':
      case 'bye':
        return; // the session reports these; nothing to aggregate
    }
    this.onChange?.(this);
  }

  /** Records a reload outcome that did not come as a `loaded` message — e.g. a compile error or a
   *  verifier rejection (the old probes keep running). A successful `loaded` with replaced:true
   *  is marked automatically; don't mark it twice. */
  markReload(slot: string, ok: boolean, message?: string, t_ms: number = this.now()): void {
    const mark: ReloadMark = { t_ms, slot, ok };
    if (message !== undefined) mark.message = message;
    this.pushReload(mark);
    this.onChange?.(this);
  }

  /** Updates the session info shown by the panel (state, message, host …). */
  setSession(info: Partial<SessionInfo>): void {
    this.session = { ...this.session, ...info };
    this.sessionDirty = true;
    this.onChange?.(this);
  }

  private pushReload(mark: ReloadMark): void {
    this.reloads.push(mark);
    this.reloadTotal++;
    if (this.reloads.length > this.opts.maxReloads) this.reloads.shift();
  }

  private ingestSnapshot(msg: SnapshotMessage, recvMs?: number): void {
    if (this.lastSeq !== undefined && msg.seq > this.lastSeq + 1) this.lostSnapshots += msg.seq - this.lastSeq - 1;
    this.lastSeq = msg.seq;
    this.snapshots++;
    this.coveredNs += msg.interval_ns;
    const t_ms = this.wallMs(msg.mono_ns, recvMs);
    this.lastSnapshotMs = t_ms;
    const iv: Interval = { id: ++this.intervalSeq, t_ms, dur_ms: msg.interval_ns / 1e6, events: 0, stages: new Map() };

    for (const slot of msg.slots) {
      for (const h of slot.hists) {
        const base = `${h.dir}:${h.kind}:${h.name}`;
        if (!this.slotKinds.has(slot.slot)) this.slotKinds.set(slot.slot, h.dir === 'irq' ? 'irq' : 'packets');
        if (h.kind === 'hardirq' && Number.isFinite(h.count) && h.count > 0) this.slotHardIrqs.set(slot.slot, (this.slotHardIrqs.get(slot.slot) ?? 0) + h.count);
        const targets: Array<[string, boolean]> = h.cpu === undefined ? [[base, false]] : [[`${base}:cpu${h.cpu}`, false], [base, true]];
        const count = Number.isFinite(h.count) && h.count > 0 ? h.count : 0;
        const sum = Number.isFinite(h.sum) && h.sum > 0 ? h.sum : 0;
        iv.events += count;
        for (const [key, total] of targets) {
          const s = this.seriesFor(key, h, slot.slot, total);
          if (!s) {
            this.seriesOverflow += count;
            continue;
          }
          s.slot = slot.slot;
          const delta = emptyBuckets();
          addSparse(delta, h.buckets);
          if (count === 0 && h.buckets.length === 0) continue;
          for (let i = 0; i < HIST_BUCKETS; i++) s.buckets[i]! += delta[i]!;
          s.count += count;
          s.sum += sum;
          this.dirty.add(key);
          let st = iv.stages.get(key);
          if (!st) {
            st = { count: 0, sum: 0, sparse: [] };
            iv.stages.set(key, st);
          }
          st.count += count;
          st.sum += sum;
          if (st.sparse.length === 0) st.sparse = flatSparse(delta);
          else {
            const d = denseFromFlat(st.sparse);
            for (let i = 0; i < HIST_BUCKETS; i++) d[i]! += delta[i]!;
            st.sparse = flatSparse(d);
          }
        }
      }
      // zero counters are kept too, so reports say "ringbuf_drop 0" rather than nothing
      let counters = this.slotCounters.get(slot.slot);
      if (!counters) {
        counters = new Map();
        this.slotCounters.set(slot.slot, counters);
      }
      for (const [k, v] of Object.entries(slot.counters)) if (Number.isFinite(v) && v >= 0) counters.set(k, (counters.get(k) ?? 0) + v);
      for (const [k, v] of Object.entries(slot.drops)) if (Number.isFinite(v) && v >= 0) this.drops.set(k, (this.drops.get(k) ?? 0) + v);
      for (const p of slot.progs) {
        const key = `${slot.slot}:${p.name}`;
        let t = this.progs.get(key);
        if (!t) {
          t = { slot: slot.slot, name: p.name, prog_id: p.prog_id, runs: 0, time: 0, misses: 0 };
          this.progs.set(key, t);
        }
        t.prog_id = p.prog_id;
        t.runs += p.run_cnt;
        t.time += p.run_time_ns;
        t.misses += p.recursion_misses;
      }
    }
    this.lastEventsPerS = iv.dur_ms > 0 ? iv.events / (iv.dur_ms / 1000) : 0;
    this.intervals.push(iv);
    this.healthDirty = true;
    this.compact();
  }

  private seriesFor(key: string, h: { kind: string; dir: Direction; name: string; from?: string; to?: string; cpu?: number; irq?: number; vec?: number }, slot: string, total: boolean): Series | undefined {
    let s = this.series.get(key);
    if (s) return s;
    if (this.series.size >= this.opts.maxSeries) return undefined;
    s = { key, kind: h.kind, dir: h.dir, name: h.name, slot, total, buckets: emptyBuckets(), count: 0, sum: 0 };
    if (h.from !== undefined) s.from = h.from;
    if (h.to !== undefined) s.to = h.to;
    if (!total && h.cpu !== undefined) s.cpu = h.cpu;
    if (h.irq !== undefined) s.irq = h.irq;
    if (h.vec !== undefined) s.vec = h.vec;
    this.series.set(key, s);
    this.dirty.add(key);
    return s;
  }

  // ------------------------------------------------------------------ bounded history

  private compact(): void {
    if (this.intervals.length <= this.opts.maxIntervals) return;
    const newest = this.intervals[this.intervals.length - 1]!.t_ms;
    const cutoff = newest - this.opts.fullResolutionMs;
    let old = 0;
    while (old < this.intervals.length && this.intervals[old]!.t_ms < cutoff) old++;
    if (old >= 2) this.mergePairs(old);
    if (this.intervals.length > this.opts.maxIntervals) this.mergePairs(Math.floor(this.intervals.length / 2));
    this.resync = true;
  }

  /** Merges intervals [0, n) pairwise (n rounded down to even). */
  private mergePairs(n: number): void {
    const m = n - (n % 2);
    const merged: Interval[] = [];
    for (let i = 0; i < m; i += 2) merged.push(mergeIntervals(this.intervals[i]!, this.intervals[i + 1]!));
    this.intervals = merged.concat(this.intervals.slice(m));
  }

  // ------------------------------------------------------------------ ordering and lookups

  private boundaryIndex(dir: Direction, name: string | undefined): number {
    if (name === undefined) return Number.POSITIVE_INFINITY;
    return this.boundaries.get(`${dir}:${name}`)?.id ?? Number.POSITIVE_INFINITY;
  }

  private endpoints(s: Series): { from?: string; to?: string } {
    if (s.from !== undefined || s.to !== undefined) return { from: s.from, to: s.to };
    const parts = s.name.split('→');
    if (parts.length === 2) return { from: parts[0]!.trim(), to: parts[1]!.trim() };
    return { to: s.name };
  }

  private compare = (a: Series, b: Series): number => {
    const d = (DIR_RANK[a.dir] ?? 3) - (DIR_RANK[b.dir] ?? 3);
    if (d) return d;
    if (a.dir === 'irq') {
      const k = (IRQ_KIND_RANK[a.kind] ?? 9) - (IRQ_KIND_RANK[b.kind] ?? 9);
      if (k) return k;
      if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
      const an = a.irq ?? a.vec ?? -1;
      const bn = b.irq ?? b.vec ?? -1;
      if (an !== bn) return an - bn;
    } else {
      const k = (PATH_KIND_RANK[a.kind] ?? 9) - (PATH_KIND_RANK[b.kind] ?? 9);
      if (k) return k;
      if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
      const ea = this.endpoints(a);
      const eb = this.endpoints(b);
      const t = cmpNum(this.boundaryIndex(a.dir, ea.to), this.boundaryIndex(b.dir, eb.to));
      if (t) return t;
      const f = cmpNum(this.boundaryIndex(a.dir, ea.from), this.boundaryIndex(b.dir, eb.from));
      if (f) return f;
    }
    if (a.name !== b.name) return a.name < b.name ? -1 : 1;
    if (a.total !== b.total) return a.total ? -1 : 1; // the total before its per-CPU series
    return (a.cpu ?? -1) - (b.cpu ?? -1);
  };

  private orderedSeries(keys?: Iterable<string>): Series[] {
    const list: Series[] = [];
    if (keys) {
      for (const k of keys) {
        const s = this.series.get(k);
        if (s) list.push(s);
      }
    } else list.push(...this.series.values());
    return list.sort(this.compare);
  }

  /** Attach type, mechanism and feeds (or skip reason) of the program(s) feeding a series, from
   *  `loaded`. */
  private attachOf(s: Series): { attach?: AttachType; mechanism?: string; feeds?: Feed[]; skip_reason?: string } {
    const { from, to } = this.endpoints(s);
    const b =
      (to !== undefined ? this.boundaries.get(`${s.dir}:${to}`) : undefined) ??
      (from !== undefined ? this.boundaries.get(`${s.dir}:${from}`) : undefined) ??
      this.boundaries.get(`${s.dir}:${s.kind}`) ??
      this.boundaries.get(`${s.dir}:${s.name}`);
    if (b) {
      const out: { attach?: AttachType; mechanism?: string; feeds?: Feed[]; skip_reason?: string } = {};
      if (b.attach) out.attach = b.attach;
      const m = mechanismOf(b);
      if (m) out.mechanism = m;
      if (b.feeds?.length) out.feeds = b.feeds;
      if (!b.active) out.skip_reason = b.reason ?? 'not attached';
      return out;
    }
    const slot = this.slots.get(s.slot);
    if (slot) {
      // IRQ series: the named group that feeds the kind (irq_thread_latency → irq_thread), else
      // the one attach type of the slot's programs.
      const g = s.dir === 'irq' ? slot.groups.find((x) => s.kind.startsWith(`${x.name}_`)) : undefined;
      if (g) {
        const out: { attach?: AttachType; mechanism?: string; feeds?: Feed[]; skip_reason?: string } = {};
        if (g.attach) out.attach = g.attach;
        const m = mechanismOf(g);
        if (m) out.mechanism = m;
        if (g.feeds.length) out.feeds = g.feeds;
        if (!g.active) out.skip_reason = g.reason ?? 'not attached';
        return out;
      }
      const types = new Set(slot.programs.filter((p) => p.status === 'attached' && p.attach).map((p) => p.attach!));
      if (types.size === 1) {
        const t = [...types][0]!;
        return { attach: t, mechanism: t };
      }
    }
    return {};
  }

  // ------------------------------------------------------------------ outputs

  private stageReport(s: Series): StageReport {
    const p = percentiles(s.buckets, s.sum);
    const r: StageReport = {
      key: s.key,
      name: s.name,
      kind: s.kind,
      dir: s.dir,
      slot: s.slot,
      total_over_cpus: s.total,
      unit: unitOfKind(s.kind),
      ...this.attachOf(s),
      count: s.count,
      sum: s.sum,
      mean: s.count > 0 ? s.sum / s.count : 0,
      ...p,
      buckets: s.buckets.slice(),
    };
    if (s.from !== undefined) r.from = s.from;
    if (s.to !== undefined) r.to = s.to;
    if (s.dir !== 'irq') {
      const e = this.endpoints(s);
      const fi = this.boundaryIndex(s.dir, e.from);
      const ti = this.boundaryIndex(s.dir, e.to);
      if (Number.isFinite(fi)) r.from_id = fi;
      if (Number.isFinite(ti)) r.to_id = ti;
    }
    if (s.cpu !== undefined) r.cpu = s.cpu;
    if (s.irq !== undefined) r.irq = s.irq;
    if (s.vec !== undefined) r.vec = s.vec;
    return r;
  }

  private summary(s: Series): StageSummary {
    const p = percentiles(s.buckets, s.sum);
    const out: StageSummary = { key: s.key, kind: s.kind, dir: s.dir, name: s.name, count: s.count, sum: s.sum, buckets: s.buckets.slice(), ...p };
    if (s.from !== undefined) out.from = s.from;
    if (s.to !== undefined) out.to = s.to;
    if (s.cpu !== undefined) out.cpu = s.cpu;
    return out;
  }

  private point(iv: Interval): IntervalPoint {
    const stages: IntervalPoint['stages'] = {};
    for (const [key, st] of iv.stages) {
      const b = denseFromFlat(st.sparse);
      stages[key] = [st.count, quantile(b, 0.5, st.sum), quantile(b, 0.99, st.sum), b];
    }
    return { t_ms: iv.t_ms, stages, events_per_s: iv.dur_ms > 0 ? iv.events / (iv.dur_ms / 1000) : 0 };
  }

  /** Counter totals per slot, with each slot's kind (a slot seen only through counters holds
   *  packets unless it is named irq). */
  private counterSlots(): Array<SlotCounters & { slot: string }> {
    return [...this.slotCounters].map(([slot, c]) => ({
      slot,
      kind: this.slotKinds.get(slot) ?? (slot === 'irq' ? 'irq' : 'packets'),
      counters: Object.fromEntries(c),
      hard_irqs: this.slotHardIrqs.get(slot) ?? 0,
    }));
  }

  private health(): Health {
    const programs: Health['programs'] = [];
    const boundaries: Health['boundaries'] = [];
    const groups: NonNullable<Health['groups']> = [];
    for (const [slot, info] of this.slots) {
      if (!info.loaded) continue;
      for (const p of info.programs) programs.push({ ...p, slot });
      for (const b of info.boundaries) boundaries.push({ ...b, slot });
      for (const g of info.groups) groups.push({ ...g, slot });
    }
    return {
      events_per_s: this.lastEventsPerS,
      loss: lossFigures(this.counterSlots(), this.snapshots, this.lostSnapshots),
      activity: activityCounters(this.counterSlots()),
      drops: Object.fromEntries(this.drops),
      progs: [...this.progs.values()].map((t) => ({ slot: t.slot, name: t.name, ns_per_run: t.runs > 0 ? t.time / t.runs : 0, runs: t.runs })),
      programs,
      boundaries,
      groups,
    };
  }

  /** The full state for the panel; also resets what panelDelta() considers already sent.
   *  `maxPoints` limits the time series to the newest N intervals (a 4 h session at 1 Hz with 30
   *  series is ~8 MB of JSON in full; see bench/aggregate.ts). */
  panelState(opts: { maxPoints?: number } = {}): PanelState {
    const ivs = opts.maxPoints !== undefined && opts.maxPoints >= 0 ? this.intervals.slice(Math.max(0, this.intervals.length - opts.maxPoints)) : this.intervals;
    const state: PanelState = {
      session: { ...this.session },
      stages: this.orderedSeries().map((s) => this.summary(s)),
      series: ivs.map((iv) => this.point(iv)),
      journeys: this.journeyRing.slice(),
      reloads: this.reloads.slice(),
      health: this.health(),
    };
    this.markSent();
    this.resync = false;
    return state;
  }

  /** Everything so far has reached the panel. */
  private markSent(): void {
    this.dirty.clear();
    this.sentIntervalId = this.intervalSeq;
    this.sentJourneys = this.journeyTotal;
    this.sentReloads = this.reloadTotal;
    this.healthDirty = false;
    this.sessionDirty = false;
  }

  /** What changed since the last panelState()/panelDelta(): changed stages (in stage order), new
   *  interval points, new journeys and reload marks; health and session only when they changed. */
  panelDelta(): Extract<ToPanel, { type: 'delta' }> {
    const stages = this.orderedSeries(this.dirty).map((s) => this.summary(s));
    const points = this.intervals.filter((iv) => iv.id > this.sentIntervalId).map((iv) => this.point(iv));
    const newJourneys = Math.min(this.journeyTotal - this.sentJourneys, this.journeyRing.length);
    const journeys = newJourneys > 0 ? this.journeyRing.slice(-newJourneys) : [];
    const newReloads = Math.min(this.reloadTotal - this.sentReloads, this.reloads.length);
    const reloads = newReloads > 0 ? this.reloads.slice(-newReloads) : [];
    const delta: Extract<ToPanel, { type: 'delta' }> = { type: 'delta', stages, points, journeys, reloads };
    if (this.sessionDirty) delta.session = { ...this.session };
    if (this.healthDirty) delta.health = this.health();
    this.markSent();
    return delta;
  }

  /** True when history was compacted since the panel last got a full state: old points it holds
   *  no longer match, so send panelState() instead of a delta. */
  needsResync(): boolean {
    return this.resync;
  }

  /** panelDelta(), or a full snapshot when needsResync(). */
  panelMessage(opts: { maxPoints?: number } = {}): ToPanel {
    if (this.resync) return { type: 'snapshot', state: this.panelState(opts) };
    return this.panelDelta();
  }

  /** True when any delta is pending for the panel. */
  hasChanges(): boolean {
    return (
      this.dirty.size > 0 ||
      this.intervalSeq > this.sentIntervalId ||
      this.journeyTotal > this.sentJourneys ||
      this.reloadTotal > this.sentReloads ||
      this.healthDirty ||
      this.sessionDirty ||
      this.resync
    );
  }

  /** Journeys still in the ring, oldest first. */
  journeys(): JourneyMessage[] {
    return this.journeyRing.slice();
  }

  helloInfo(): HelloMessage | undefined {
    return this.hello;
  }

  /** Number of intervals held (bounded by maxIntervals). */
  intervalCount(): number {
    return this.intervals.length;
  }

  seriesCount(): number {
    return this.series.size;
  }

  private lossReport(duration_s: number): LossReport[] {
    const slots = this.counterSlots();
    return lossFigures(slots, this.snapshots, this.lostSnapshots).map((f) => {
      const by: LossReport['slots'] = {};
      for (const s of slots) {
        if (!(f.name in s.counters)) continue;
        const [one] = lossFigures([s], 0, 0).filter((x) => x.name === f.name);
        by[s.slot] = { total: one!.total, of: one!.of };
      }
      return { ...f, per_s: duration_s > 0 ? f.total / duration_s : 0, slots: by };
    });
  }

  report(): Report {
    const duration_s = this.coveredNs / 1e9;
    const rates = (m: Map<string, number> | Record<string, number>): Record<string, Rate> => {
      const out: Record<string, Rate> = {};
      for (const [k, v] of [...(m instanceof Map ? m.entries() : Object.entries(m))].sort((a, b) => (a[0] < b[0] ? -1 : 1))) out[k] = { total: v, per_s: duration_s > 0 ? v / duration_s : 0 };
      return out;
    };
    const skipped: SkippedBoundary[] = [];
    const programs: ProgramReport[] = [];
    const boundaries: FedReport[] = [];
    const groups: FedReport[] = [];
    const fed = (slot: string, x: Boundary | Group): FedReport => {
      const r: FedReport = { slot, name: x.name, active: x.active, feeds: x.feeds ?? [] };
      if ('dir' in x) {
        r.dir = x.dir;
        r.id = x.id;
      }
      const m = mechanismOf(x);
      if (m) r.mechanism = m;
      if (!x.active) r.reason = x.reason ?? 'not attached';
      return r;
    };
    for (const [slot, info] of this.slots) {
      if (info.loaded) {
        for (const b of info.boundaries) boundaries.push(fed(slot, b));
        for (const g of info.groups) groups.push(fed(slot, g));
      }
      for (const b of info.boundaries) {
        if (!b.active) {
          const sb: SkippedBoundary = { slot, dir: b.dir, name: b.name, id: b.id };
          if (b.reason !== undefined) sb.reason = b.reason;
          skipped.push(sb);
        }
      }
      for (const p of info.programs) {
        const t = this.progs.get(`${slot}:${p.name}`);
        const pr: ProgramReport = {
          slot,
          name: p.name,
          section: p.section,
          status: info.loaded ? p.status : 'skipped',
          runs: t?.runs ?? 0,
          run_time_ns: t?.time ?? 0,
          ns_per_run: t && t.runs > 0 ? t.time / t.runs : 0,
          recursion_misses: t?.misses ?? 0,
        };
        if (p.attach !== undefined) pr.attach = p.attach;
        const reason = info.loaded ? p.reason : 'slot unloaded';
        if (reason !== undefined) pr.reason = reason;
        const id = t?.prog_id ?? p.prog_id;
        if (id !== undefined) pr.prog_id = id;
        programs.push(pr);
      }
    }
    // programs that reported stats but were not announced by `loaded` (e.g. a trace cut at the start)
    for (const t of this.progs.values()) {
      if (programs.some((p) => p.slot === t.slot && p.name === t.name)) continue;
      programs.push({ slot: t.slot, name: t.name, section: '', status: 'attached', prog_id: t.prog_id, runs: t.runs, run_time_ns: t.time, ns_per_run: t.runs > 0 ? t.time / t.runs : 0, recursion_misses: t.misses });
    }
    skipped.sort((a, b) => (DIR_RANK[a.dir] ?? 3) - (DIR_RANK[b.dir] ?? 3) || a.id - b.id);
    const r: Report = {
      host: this.session.host,
      duration_s,
      snapshots: this.snapshots,
      lost_snapshots: this.lostSnapshots,
      stages: this.orderedSeries().map((s) => this.stageReport(s)),
      skipped,
      boundaries: boundaries.sort((a, b) => (DIR_RANK[a.dir ?? ''] ?? 3) - (DIR_RANK[b.dir ?? ''] ?? 3) || (a.id ?? 0) - (b.id ?? 0)),
      groups,
      loss: this.lossReport(duration_s),
      activity: rates(activityCounters(this.counterSlots())),
      drops: rates(this.drops),
      programs,
      reloads: this.reloads.slice(),
      journeys: this.journeyTotal,
      series_overflow: this.seriesOverflow,
    };
    if (this.hello) {
      r.kernel = this.hello.kernel;
      r.helper_version = this.hello.helper_version;
      r.ncpus = this.hello.ncpus;
      r.started_ms = this.hello.wall_ns / 1e6;
      const f: KernelFeatures = {};
      if (this.hello.arch !== undefined) f.arch = this.hello.arch;
      if (this.hello.preempt_rt !== undefined) f.preempt_rt = this.hello.preempt_rt;
      if (this.hello.irq_threads !== undefined) f.irq_threads = this.hello.irq_threads;
      if (this.hello.netfilter !== undefined) f.netfilter = this.hello.netfilter;
      r.features = f;
    } else if (this.firstMs !== undefined) r.started_ms = this.firstMs;
    if (this.lastSnapshotMs !== undefined) r.ended_ms = this.lastSnapshotMs;
    return r;
  }
}

function cmpNum(a: number, b: number): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function mergeIntervals(a: Interval, b: Interval): Interval {
  const stages = new Map<string, IntervalStage>();
  for (const src of [a, b]) {
    for (const [key, st] of src.stages) {
      const cur = stages.get(key);
      if (!cur) {
        stages.set(key, { count: st.count, sum: st.sum, sparse: st.sparse.slice() });
        continue;
      }
      const d = denseFromFlat(cur.sparse);
      const e = denseFromFlat(st.sparse);
      for (let i = 0; i < HIST_BUCKETS; i++) d[i]! += e[i]!;
      stages.set(key, { count: cur.count + st.count, sum: cur.sum + st.sum, sparse: flatSparse(d) });
    }
  }
  return { id: Math.max(a.id, b.id), t_ms: Math.max(a.t_ms, b.t_ms), dur_ms: a.dur_ms + b.dur_ms, events: a.events + b.events, stages };
}

/**
 * Report building: the session's report (Report) from an Accumulator: stage records in stage
 * order, boundaries and groups with what feeds them, losses with their shares, activity and drop
 * rates, per-program cost, reloads.
 */
import {
  activityCounters,
  lossFigures,
  measuredShares,
  type AttachType,
  type Boundary,
  type Direction,
  type Feed,
  type Group,
  type LossFigure,
  type MeasuredShare,
  type HostReport,
  type ProgramStatus,
  type ReloadMark,
} from './protocol.ts';
import { hostReport } from './host-summary.ts';
import { mechanismOf } from './feeds.ts';
import type { Accumulator } from './accumulate.ts';
import { DIR_RANK, orderedSeries, stageRecord, type Stage } from './stage.ts';

/** Per-stage (per-series) results, in stage order: the stage record. */
export type StageReport = Stage;

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
  /** Per packet object: how many of the packets it saw were measured (sampling). */
  measured: MeasuredShare[];
  /** kfree_skb drop reasons, totals and mean rate. */
  drops: Record<string, Rate>;
  programs: ProgramReport[];
  reloads: ReloadMark[];
  /** Journeys received (all of them, not only the ones still in the ring). */
  journeys: number;
  /** Histogram values dropped because the series cap was reached. */
  series_overflow: number;
  /** The host's counters (interfaces, CPUs, IRQ lines, protocol counters, sockets), their events
   *  and hints; absent when the helper sent none. */
  host_counters?: HostReport;
}

export class ReportBuilder {
  constructor(private readonly acc: Accumulator) {}

  lossReport(duration_s: number): LossReport[] {
    const slots = this.acc.counterSlots();
    return lossFigures(slots, this.acc.snapshots, this.acc.lostSnapshots).map((f) => {
      const by: LossReport['slots'] = {};
      for (const s of slots) {
        if (!(f.name in s.counters)) continue;
        const [one] = lossFigures([s], 0, 0).filter((x) => x.name === f.name);
        by[s.slot] = { total: one!.total, of: one!.of };
      }
      return { ...f, per_s: duration_s > 0 ? f.total / duration_s : 0, slots: by };
    });
  }

  /** The session's report: stages in stage order, then everything `loaded` and the counters say. */
  report(): Report {
    const duration_s = this.acc.coveredNs / 1e9;
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
    for (const [slot, info] of this.acc.slots) {
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
        const t = this.acc.progs.get(`${slot}:${p.name}`);
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
    for (const t of this.acc.progs.values()) {
      if (programs.some((p) => p.slot === t.slot && p.name === t.name)) continue;
      programs.push({ slot: t.slot, name: t.name, section: '', status: 'attached', prog_id: t.prog_id, runs: t.runs, run_time_ns: t.time, ns_per_run: t.runs > 0 ? t.time / t.runs : 0, recursion_misses: t.misses });
    }
    skipped.sort((a, b) => (DIR_RANK[a.dir] ?? 3) - (DIR_RANK[b.dir] ?? 3) || a.id - b.id);
    const r: Report = {
      host: this.acc.session.host,
      duration_s,
      snapshots: this.acc.snapshots,
      lost_snapshots: this.acc.lostSnapshots,
      stages: orderedSeries(this.acc, this.acc.series).map((s) => stageRecord(this.acc, s)),
      skipped,
      boundaries: boundaries.sort((a, b) => (DIR_RANK[a.dir ?? ''] ?? 3) - (DIR_RANK[b.dir ?? ''] ?? 3) || (a.id ?? 0) - (b.id ?? 0)),
      groups,
      loss: this.lossReport(duration_s),
      activity: rates(activityCounters(this.acc.counterSlots())),
      measured: measuredShares(this.acc.counterSlots(), (slot) => this.acc.slotDirs.get(slot)),
      drops: rates(this.acc.drops),
      programs,
      reloads: this.acc.reloads.slice(),
      journeys: this.acc.journeyTotal,
      series_overflow: this.acc.seriesOverflow,
    };
    if (this.acc.hello) {
      r.kernel = this.acc.hello.kernel;
      r.helper_version = this.acc.hello.helper_version;
      r.ncpus = this.acc.hello.ncpus;
      r.started_ms = this.acc.hello.wall_ns / 1e6;
      const f: KernelFeatures = {};
      if (this.acc.hello.arch !== undefined) f.arch = this.acc.hello.arch;
      if (this.acc.hello.preempt_rt !== undefined) f.preempt_rt = this.acc.hello.preempt_rt;
      if (this.acc.hello.irq_threads !== undefined) f.irq_threads = this.acc.hello.irq_threads;
      if (this.acc.hello.netfilter !== undefined) f.netfilter = this.acc.hello.netfilter;
      r.features = f;
    } else if (this.acc.firstMs !== undefined) r.started_ms = this.acc.firstMs;
    if (this.acc.lastSnapshotMs !== undefined) r.ended_ms = this.acc.lastSnapshotMs;
    const host = hostReport(this.acc);
    if (host) r.host_counters = host;
    return r;
  }
}

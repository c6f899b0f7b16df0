/**
 * Aggregation: helper messages in, per-stage running totals, a time series, journeys, health and
 * reports out. Pure logic, no I/O; the CLI, the extension and `nslat replay` all feed one of these.
 * The Aggregator is the façade over three parts: accumulate.ts (ingest, series, intervals,
 * compaction), panel-sync.ts (panel state and deltas) and report-build.ts (the report); stage.ts
 * holds the stage record they all produce and the one stage order.
 *
 * Series keys are `${dir}:${kind}:${name}`; a HistDelta that carries a `cpu` also feeds the per-CPU
 * series `${dir}:${kind}:${name}:cpu${n}` (so IRQ data exists both per CPU and per vector/line over
 * all CPUs — the over-CPU total has `total_over_cpus: true` in reports).
 *
 * Memory is bounded (defaults in accumulate.ts DEFAULTS, all overridable):
 *  - series: at most `maxSeries` distinct keys (1024); values for further keys are counted in
 *    `series_overflow` and otherwise dropped;
 *  - intervals (one per helper snapshot): at most `maxIntervals` (1800). Intervals younger than
 *    `fullResolutionMs` (15 min) before the newest one keep full resolution; when the cap is
 *    exceeded, all older intervals are merged pairwise (so old history gets coarser by factors of
 *    two, and stays bounded); if that is not enough (very fast snapshots), the oldest half of all
 *    intervals is merged pairwise. Each interval stores only the stages that saw data, as sparse
 *    buckets, so its size is O(active stages × nonempty buckets);
 *  - journeys: a ring of the last `maxJourneys` (1000);
 *  - reload marks: the last `maxReloads` (1000);
 *  - the host's tables: `hostLimits` (host.ts HOST_LIMITS).
 */
import type { HelloMessage, HelperMessage, JourneyMessage, PanelState, ReloadMark, SessionInfo, ToPanel } from './protocol.ts';
import { type Unit, unitOfKind } from './format.ts';
import { Accumulator, DEFAULTS, type AccumulatorOptions, type Interval } from './accumulate.ts';
import { PanelSync } from './panel-sync.ts';
import { ReportBuilder, type Report } from './report-build.ts';
import { stageRecord, type Stage } from './stage.ts';
import type { HostTotals } from './host.ts';

export type { FedReport, KernelFeatures, LossReport, ProgramReport, Rate, Report, SkippedBoundary, StageReport } from './report-build.ts';
export type { Stage } from './stage.ts';
export type { Unit };
export { DEFAULTS, unitOfKind };

/** The accumulator's bounds (accumulate.ts), plus a callback after every ingest/markReload/setSession
 *  that changed something. */
export interface AggregatorOptions extends AccumulatorOptions {
  onChange?: (agg: Aggregator) => void;
}

export class Aggregator {
  private readonly onChange?: (agg: Aggregator) => void;
  private readonly acc: Accumulator;
  private readonly panel: PanelSync;
  private readonly reports: ReportBuilder;

  constructor(options: AggregatorOptions = {}) {
    const { onChange, ...acc } = options;
    this.onChange = onChange;
    this.acc = new Accumulator(acc);
    this.panel = new PanelSync(this.acc);
    this.reports = new ReportBuilder(this.acc);
  }

  // ------------------------------------------------------------------ input

  /** Wall-clock ms of a monotonic ns timestamp, via hello's (mono_ns, wall_ns) pair; without a
   *  hello, the receive time (or now). */
  wallMs(mono_ns: number, recvMs?: number): number {
    return this.acc.wallMs(mono_ns, recvMs);
  }

  /** Merges one (already validated) helper message. `recvMs` is the wall-clock receive time, used
   *  only to place messages that arrive before a `hello`. */
  ingest(msg: HelperMessage, recvMs?: number): void {
    if (this.acc.ingest(msg, recvMs)) this.onChange?.(this);
  }

  /** Records a reload outcome that did not come as a `loaded` message — e.g. a compile error or a
   *  verifier rejection (the old probes keep running). A successful `loaded` with replaced:true
   *  is marked automatically; don't mark it twice. */
  markReload(slot: string, ok: boolean, message?: string, t_ms: number = this.acc.now()): void {
    const mark: ReloadMark = { t_ms, slot, ok };
    if (message !== undefined) mark.message = message;
    this.acc.pushReload(mark);
    this.onChange?.(this);
  }

  /** Updates the session info shown by the panel (state, message, host …). */
  setSession(info: Partial<SessionInfo>): void {
    this.acc.setSession(info);
    this.onChange?.(this);
  }

  /** No helper sends host samples any more (its session ended): the host's gauges (socket
   *  queues) are not current until the next sample. */
  clearHostGauges(): void {
    this.acc.host.clearGauges();
  }

  // ------------------------------------------------------------------ panel

  /** The full state for the panel; also resets what panelDelta() considers already sent.
   *  `maxPoints` limits the time series to the newest N intervals. */
  panelState(opts: { maxPoints?: number } = {}): PanelState {
    return this.panel.panelState(opts);
  }

  /** What changed since the last panelState()/panelDelta(). */
  panelDelta(): Extract<ToPanel, { type: 'delta' }> {
    return this.panel.panelDelta();
  }

  /** True when history was compacted since the panel last got a full state. */
  needsResync(): boolean {
    return this.panel.needsResync();
  }

  /** panelDelta(), or a full snapshot when needsResync(). */
  panelMessage(opts: { maxPoints?: number } = {}): ToPanel {
    return this.panel.panelMessage(opts);
  }

  /** True when any delta is pending for the panel. */
  hasChanges(): boolean {
    return this.panel.hasChanges();
  }

  // ------------------------------------------------------------------ lookups and report

  /** Journeys still in the ring, oldest first. */
  journeys(): JourneyMessage[] {
    return this.acc.journeyRing.slice();
  }

  helloInfo(): HelloMessage | undefined {
    return this.acc.hello;
  }

  /** The history's intervals, oldest first (one per snapshot; the oldest merged pairwise as it
   *  grows), at full bucket resolution: the windows of a comparison (compare.ts). Read-only. */
  intervals(): readonly Interval[] {
    return this.acc.intervals;
  }

  /** One stage's record (report() builds every stage's). */
  stage(key: string): Stage | undefined {
    const s = this.acc.series.get(key);
    return s ? stageRecord(this.acc, s) : undefined;
  }

  /** Number of intervals held (bounded by maxIntervals). */
  intervalCount(): number {
    return this.acc.intervals.length;
  }

  seriesCount(): number {
    return this.acc.series.size;
  }

  /** The host's counters as running totals, read only (the OpenMetrics exposition's). */
  hostTotals(): HostTotals {
    return this.acc.host.totals();
  }

  report(): Report {
    return this.reports.report();
  }
}

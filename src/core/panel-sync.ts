/**
 * Panel synchronisation: the full panel state, then deltas of what changed since, from an
 * Accumulator. Tracks what the panel already has (interval, journey and reload sequence numbers)
 * and takes the accumulator's record of changed stages, health and session.
 */
import { HIST_BUCKETS, MAX_INTERVAL_BUCKETS, activityCounters, lossFigures, measuredShares, type Health, type IntervalPoint, type PanelState, type ToPanel } from './protocol.ts';
import { quantile } from './hist.ts';
import { denseFromFlat, type Accumulator, type Interval } from './accumulate.ts';
import { orderedSeries, stageRecord, stageSummary } from './stage.ts';
import { hostPoint } from './host.ts';
import { hostSummary } from './host-summary.ts';

export class PanelSync {
  private sentIntervalId = 0;
  private sentJourneys = 0;
  private sentReloads = 0;

  constructor(private readonly acc: Accumulator) {}

  /** The full state for the panel; also resets what panelDelta() considers already sent.
   *  `maxPoints` limits the time series to the newest N intervals (a 4 h session at 1 Hz with 30
   *  series is ~8 MB of JSON in full; see bench/aggregate.ts). */
  panelState(opts: { maxPoints?: number } = {}): PanelState {
    const a = this.acc;
    const ivs = opts.maxPoints !== undefined && opts.maxPoints >= 0 ? a.intervals.slice(Math.max(0, a.intervals.length - opts.maxPoints)) : a.intervals;
    const state: PanelState = {
      session: { ...a.session },
      stages: this.summaries(),
      series: ivs.map((iv) => point(iv)),
      journeys: a.journeyRing.slice(),
      reloads: a.reloads.slice(),
      health: this.health(),
    };
    const host = hostSummary(a);
    if (host) state.host_counters = host;
    this.markSent();
    a.changes.compacted = false;
    return state;
  }

  /** What changed since the last panelState()/panelDelta(): changed stages (in stage order), new
   *  interval points, new journeys and reload marks; health and session only when they changed. */
  panelDelta(): Extract<ToPanel, { type: 'delta' }> {
    const a = this.acc;
    const stages = this.summaries(a.changes.stages);
    const points = a.intervals.filter((iv) => iv.id > this.sentIntervalId).map((iv) => point(iv));
    const newJourneys = Math.min(a.journeyTotal - this.sentJourneys, a.journeyRing.length);
    const journeys = newJourneys > 0 ? a.journeyRing.slice(-newJourneys) : [];
    const newReloads = Math.min(a.reloadTotal - this.sentReloads, a.reloads.length);
    const reloads = newReloads > 0 ? a.reloads.slice(-newReloads) : [];
    const delta: Extract<ToPanel, { type: 'delta' }> = { type: 'delta', stages, points, journeys, reloads };
    if (a.changes.session) delta.session = { ...a.session };
    if (a.changes.health) delta.health = this.health();
    if (a.changes.host) {
      const host = hostSummary(a);
      if (host) delta.host_counters = host;
    }
    this.markSent();
    return delta;
  }

  /** True when history was compacted since the panel last got a full state: old points it holds
   *  no longer match, so send panelState() instead of a delta. */
  needsResync(): boolean {
    return this.acc.changes.compacted;
  }

  /** panelDelta(), or a full snapshot when needsResync(). */
  panelMessage(opts: { maxPoints?: number } = {}): ToPanel {
    if (this.needsResync()) return { type: 'snapshot', state: this.panelState(opts) };
    return this.panelDelta();
  }

  /** True when any delta is pending for the panel. */
  hasChanges(): boolean {
    const a = this.acc;
    return (
      a.changes.stages.size > 0 ||
      a.intervalSeq > this.sentIntervalId ||
      a.journeyTotal > this.sentJourneys ||
      a.reloadTotal > this.sentReloads ||
      a.changes.health ||
      a.changes.session ||
      a.changes.host ||
      a.changes.compacted
    );
  }

  private summaries(keys?: Iterable<string>): PanelState['stages'] {
    return orderedSeries(this.acc, this.acc.series, keys).map((s) => stageSummary(stageRecord(this.acc, s)));
  }

  /** Everything so far has reached the panel. */
  private markSent(): void {
    const a = this.acc;
    a.changes.clear();
    this.sentIntervalId = a.intervalSeq;
    this.sentJourneys = a.journeyTotal;
    this.sentReloads = a.reloadTotal;
  }

  private health(): Health {
    const a = this.acc;
    const programs: Health['programs'] = [];
    const boundaries: Health['boundaries'] = [];
    const groups: NonNullable<Health['groups']> = [];
    for (const [slot, info] of a.slots) {
      if (!info.loaded) continue;
      for (const p of info.programs) programs.push({ ...p, slot });
      for (const b of info.boundaries) boundaries.push({ ...b, slot });
      for (const g of info.groups) groups.push({ ...g, slot });
    }
    return {
      events_per_s: a.lastEventsPerS,
      loss: lossFigures(a.counterSlots(), a.snapshots, a.lostSnapshots),
      activity: activityCounters(a.counterSlots()),
      measured: measuredShares(a.counterSlots(), (slot) => a.slotDirs.get(slot)),
      drops: Object.fromEntries(a.drops),
      progs: [...a.progs.values()].map((t) => ({ slot: t.slot, name: t.name, ns_per_run: t.runs > 0 ? t.time / t.runs : 0, runs: t.runs })),
      programs,
      boundaries,
      groups,
    };
  }
}

function point(iv: Interval): IntervalPoint {
  const stages: IntervalPoint['stages'] = {};
  for (const [key, st] of iv.stages) {
    const b = denseFromFlat(st.sparse);
    const { pairs, group } = boundedPairs(st.sparse);
    stages[key] = [st.count, quantile(b, 0.5, st.sum), quantile(b, 0.99, st.sum), pairs, group];
  }
  const p: IntervalPoint = { t_ms: iv.t_ms, stages, events_per_s: iv.dur_ms > 0 ? iv.events / (iv.dur_ms / 1000) : 0 };
  if (iv.host) p.host_counters = hostPoint(iv.host, iv.dur_ms);
  return p;
}

/** Flattened sparse buckets (in bucket order) as at most MAX_INTERVAL_BUCKETS flat [first bucket,
 *  count] pairs: aligned groups of 1, 2, 4, … buckets, the smallest group that fits. Groups up to
 *  HIST_SUB stay inside one power of two, so every pair still starts and ends at real bucket edges. */
export function boundedPairs(flat: readonly number[]): { pairs: number[]; group: number } {
  let group = 1;
  for (;;) {
    let groups = 0;
    let last = -1;
    for (let j = 0; j + 1 < flat.length; j += 2) {
      const g = Math.floor(flat[j]! / group);
      if (g !== last) {
        groups++;
        last = g;
      }
    }
    if (groups <= MAX_INTERVAL_BUCKETS || group >= HIST_BUCKETS) break;
    group *= 2;
  }
  if (group === 1) return { pairs: flat.slice(), group };
  const pairs: number[] = [];
  for (let j = 0; j + 1 < flat.length; j += 2) {
    const first = Math.floor(flat[j]! / group) * group;
    if (pairs.length && pairs[pairs.length - 2] === first) pairs[pairs.length - 1]! += flat[j + 1]!;
    else pairs.push(first, flat[j + 1]!);
  }
  return { pairs, group };
}

/**
 * The host section every view shows, from an Accumulator: the host tables (host.ts) with the
 * hints the rules find (hints.ts) in the intervals held, and the intervals in which event counters
 * moved. The panel synchronisation and the report building both take it from here.
 */
import type { HostEventRecord, HostReport, HostSummary } from './protocol.ts';
import { quantile } from './hist.ts';
import { denseFromFlat, type Accumulator, type Interval, type IntervalStage } from './accumulate.ts';
import { HintIndex, type HintInterval } from './hints.ts';
import { sortedEvents, type IntervalHost } from './host.ts';

/** p99 of an interval's stage, computed once per stage record (intervals are only replaced, by
 *  compaction, never changed). */
const p99Cache = new WeakMap<IntervalStage, number>();

function stageP99(st: IntervalStage | undefined): number | undefined {
  if (!st || !(st.count > 0)) return undefined;
  let v = p99Cache.get(st);
  if (v === undefined) {
    v = quantile(denseFromFlat(st.sparse), 0.99, st.sum);
    p99Cache.set(st, v);
  }
  return Number.isFinite(v) ? v : undefined;
}

/** An interval with host figures as the hint rules read it. */
function hintInterval(iv: Interval, host: IntervalHost): HintInterval {
  return { t_ms: iv.t_ms, dur_ms: iv.dur_ms, host, p99: (key) => stageP99(iv.stages.get(key)) };
}

/** The rules' states over an Accumulator's intervals, kept in step with them: the intervals held
 *  only grow (new ones at the end), so each new one is added; when compaction has merged old ones
 *  (the last interval taken is no longer where it was), the states are built again. */
class HintsInStep {
  private index = new HintIndex();
  /** Intervals of the accumulator taken so far, and the last of them. */
  private taken = 0;
  private last: Interval | undefined;

  over(intervals: readonly Interval[]): HintIndex {
    if (this.taken > intervals.length || (this.taken > 0 && intervals[this.taken - 1] !== this.last)) {
      this.index = new HintIndex();
      this.taken = 0;
    }
    for (; this.taken < intervals.length; this.taken++) {
      const iv = intervals[this.taken]!;
      if (iv.host) this.index.add(hintInterval(iv, iv.host));
    }
    this.last = intervals[this.taken - 1];
    return this.index;
  }
}

const inStep = new WeakMap<Accumulator, HintsInStep>();

/** The host's tables and hints; undefined until a snapshot carried host counters. */
export function hostSummary(acc: Accumulator): HostSummary | undefined {
  if (acc.host.samples === 0) return undefined;
  const tables = acc.host.tables();
  let hints = inStep.get(acc);
  if (!hints) {
    hints = new HintsInStep();
    inStep.set(acc, hints);
  }
  return { ...tables, hints: hints.over(acc.intervals).hints(tables) };
}

/** The intervals held in which an event counter moved, oldest first. */
export function hostEvents(intervals: readonly Interval[]): HostEventRecord[] {
  const out: HostEventRecord[] = [];
  for (const iv of intervals) if (iv.host && iv.host.events.size) out.push({ t_ms: iv.t_ms, dur_ms: iv.dur_ms, counters: sortedEvents(iv.host.events.values()) });
  return out;
}

/** The report's host section: the summary and the event intervals. */
export function hostReport(acc: Accumulator): HostReport | undefined {
  const s = hostSummary(acc);
  return s && { ...s, events: hostEvents(acc.intervals) };
}

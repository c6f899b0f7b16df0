// The panel's copy of the host's data: a snapshot replaces it, a delta merges into it, clear empties it.
// Pure (no DOM), so it can be tested and benchmarked on its own.
import type {
  Health,
  HostSummary,
  IntervalPoint,
  JourneyMessage,
  PanelState,
  ReloadMark,
  SessionInfo,
  StageSummary,
  ToPanel,
} from '../src/core/protocol.ts';

/** History kept in the panel: 30 minutes at one interval per second. */
export const MAX_POINTS = 1800;
export const MAX_JOURNEYS = 500;
export const MAX_RELOADS = 200;

/** Which parts of the panel a change touches (so a render only redraws what changed). */
export interface Dirty {
  session: boolean;
  stages: boolean;
  series: boolean;
  journeys: boolean;
  reloads: boolean;
  health: boolean;
  /** The host counters' tables and hints (their per-interval figures ride on `series`). */
  hostCounters: boolean;
}

export function allDirty(v = true): Dirty {
  return { session: v, stages: v, series: v, journeys: v, reloads: v, health: v, hostCounters: v };
}

export class Store {
  session: SessionInfo | undefined;
  /** By key. */
  readonly stages = new Map<string, StageSummary>();
  /** Keys of `stages` in display order (orderedStages). */
  private order: string[] = [];
  series: IntervalPoint[] = [];
  journeys: JourneyMessage[] = [];
  reloads: ReloadMark[] = [];
  health: Health | undefined;
  /** The traced machine's own counters over the session, when the helper sends them. */
  hostCounters: HostSummary | undefined;
  /** Whether any snapshot arrived since load or the last clear. */
  loaded = false;
  /** orderedStages() until the next change (a render asks for it several times). */
  private ordered: StageSummary[] | undefined;

  /** Applies one host message; returns what changed. Unknown messages change nothing. */
  apply(msg: ToPanel): Dirty {
    this.ordered = undefined;
    switch (msg.type) {
      case 'snapshot':
        this.replace(msg.state);
        return allDirty();
      case 'delta': {
        const d = allDirty(false);
        if (msg.session) {
          this.session = msg.session;
          d.session = true;
        }
        this.merge(msg.stages ?? []);
        d.stages = (msg.stages?.length ?? 0) > 0;
        if (msg.points?.length) {
          const last = this.series.at(-1)?.t_ms ?? -Infinity;
          for (const p of msg.points) if (p.t_ms > last || this.series.length === 0) this.series.push(p);
          trimFront(this.series, MAX_POINTS);
          d.series = true;
        }
        if (msg.journeys?.length) {
          this.journeys.push(...msg.journeys);
          trimFront(this.journeys, MAX_JOURNEYS);
          d.journeys = true;
        }
        if (msg.reloads?.length) {
          this.reloads.push(...msg.reloads);
          trimFront(this.reloads, MAX_RELOADS);
          d.reloads = true;
          d.series = true;
        }
        if (msg.health) {
          this.health = msg.health;
          d.health = true;
        }
        if (msg.host_counters) {
          this.hostCounters = msg.host_counters;
          d.hostCounters = true;
        }
        this.loaded = true;
        return d;
      }
      case 'clear':
        this.clear();
        return allDirty();
      default:
        return allDirty(false);
    }
  }

  replace(state: PanelState): void {
    this.ordered = undefined;
    this.session = state.session;
    this.stages.clear();
    for (const s of state.stages) this.stages.set(s.key, s);
    this.order = [...this.stages.keys()];
    this.series = state.series.slice(-MAX_POINTS);
    this.journeys = state.journeys.slice(-MAX_JOURNEYS);
    this.reloads = state.reloads.slice(-MAX_RELOADS);
    this.health = state.health;
    this.hostCounters = state.host_counters;
    this.loaded = true;
  }

  clear(): void {
    this.ordered = undefined;
    this.session = undefined;
    this.stages.clear();
    this.order = [];
    this.series = [];
    this.journeys = [];
    this.reloads = [];
    this.health = undefined;
    this.hostCounters = undefined;
    this.loaded = false;
  }

  /** Stages in display order, which is the host's: a snapshot sends every stage in that order, a
   *  delta only the stages that changed, in that order (see merge()). */
  orderedStages(): StageSummary[] {
    return (this.ordered ??= this.order.map((k) => this.stages.get(k)!));
  }

  /** Merges a delta's stages. Known stages keep their place. A delta does not say where a new stage
   *  goes among the stages it leaves out, so a new stage goes right after the known stage that
   *  precedes it in the delta, or right before the first known one when none precedes it, or last
   *  when the delta holds no known stage. The next snapshot brings the host's full order. */
  private merge(stages: readonly StageSummary[]): void {
    const added = new Set(stages.filter((s) => !this.stages.has(s.key)).map((s) => s.key));
    for (const s of stages) this.stages.set(s.key, s);
    if (added.size === 0) return;
    let at = -1; // index in `order` of the last known stage of the delta so far
    let waiting: string[] = []; // new stages before the delta's first known one
    for (const { key } of stages) {
      if (added.delete(key)) {
        if (at < 0) waiting.push(key);
        else this.order.splice(++at, 0, key);
        continue;
      }
      const i = this.order.indexOf(key);
      if (i < 0) continue; // a key the delta repeats while it is still waiting
      this.order.splice(i, 0, ...waiting);
      at = i + waiting.length;
      waiting = [];
    }
    this.order.push(...waiting);
  }

  /** Boundaries with no attached program, with the reason (skipped stages). */
  inactiveBoundaries(): Health['boundaries'] {
    return (this.health?.boundaries ?? []).filter((b) => !b.active);
  }
}

function trimFront<T>(a: T[], max: number): void {
  if (a.length > max) a.splice(0, a.length - max);
}

/** Values of one stage over time, in the shape chart.js reads without parsing. */
export function stageSeries(series: IntervalPoint[], key: string, field: 1 | 2): { x: number; y: number | null }[] {
  const out = new Array<{ x: number; y: number | null }>(series.length);
  for (let i = 0; i < series.length; i++) {
    const p = series[i]!;
    const v = p.stages[key];
    // A stage with no packets in an interval has no percentile: leave a gap, not a zero.
    out[i] = { x: p.t_ms, y: v && v[0] > 0 && v[field] > 0 ? v[field] : null };
  }
  return out;
}

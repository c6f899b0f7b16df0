// The panel's copy of the host's data: a snapshot replaces it, a delta merges into it, clear empties it.
// Pure (no DOM), so it can be tested and benchmarked on its own.
import type {
  Health,
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
}

export function allDirty(v = true): Dirty {
  return { session: v, stages: v, series: v, journeys: v, reloads: v, health: v };
}

export class Store {
  session: SessionInfo | undefined;
  /** By key, in the order stages first appeared. */
  readonly stages = new Map<string, StageSummary>();
  series: IntervalPoint[] = [];
  journeys: JourneyMessage[] = [];
  reloads: ReloadMark[] = [];
  health: Health | undefined;
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
        for (const s of msg.stages ?? []) this.stages.set(s.key, s);
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
    this.series = state.series.slice(-MAX_POINTS);
    this.journeys = state.journeys.slice(-MAX_JOURNEYS);
    this.reloads = state.reloads.slice(-MAX_RELOADS);
    this.health = state.health;
    this.loaded = true;
  }

  clear(): void {
    this.ordered = undefined;
    this.session = undefined;
    this.stages.clear();
    this.series = [];
    this.journeys = [];
    this.reloads = [];
    this.health = undefined;
    this.loaded = false;
  }

  /** Stages in display order: by direction (rx, tx, irq), then by boundary order, then as they came. */
  orderedStages(): StageSummary[] {
    return (this.ordered ??= this.sortStages());
  }

  private sortStages(): StageSummary[] {
    const order = this.boundaryOrder();
    const dirRank: Record<string, number> = { rx: 0, tx: 1, irq: 2 };
    const KINDS = ['stage', 'cum', 'hardirq', 'irq_thread_latency', 'irq_thread_time', 'softirq_delay', 'softirq_time', 'napi_work'];
    const kindRank = (k: string) => (KINDS.includes(k) ? KINDS.indexOf(k) : KINDS.length);
    const arrival = new Map<string, number>();
    // Series without boundaries (IRQ lines, softirq vectors) keep the order their names first came
    // in, with CPUs together under each name.
    const nameArrival = new Map<string, number>();
    let i = 0;
    for (const [k, s] of this.stages) {
      arrival.set(k, i);
      if (!nameArrival.has(`${s.kind}:${s.name}`)) nameArrival.set(`${s.kind}:${s.name}`, i);
      i++;
    }
    const pos = (s: StageSummary) => {
      const to = s.to !== undefined ? order.get(`${s.dir}:${s.to}`) : undefined;
      const from = s.from !== undefined ? order.get(`${s.dir}:${s.from}`) : undefined;
      return to ?? from ?? Number.MAX_SAFE_INTEGER;
    };
    return [...this.stages.values()].sort(
      (a, b) =>
        (dirRank[a.dir] ?? 3) - (dirRank[b.dir] ?? 3) ||
        kindRank(a.kind) - kindRank(b.kind) ||
        (a.kind === b.kind ? 0 : a.kind.localeCompare(b.kind)) ||
        pos(a) - pos(b) ||
        (nameArrival.get(`${a.kind}:${a.name}`) ?? 0) - (nameArrival.get(`${b.kind}:${b.name}`) ?? 0) ||
        (a.cpu ?? -1) - (b.cpu ?? -1) ||
        (arrival.get(a.key) ?? 0) - (arrival.get(b.key) ?? 0),
    );
  }

  /** Boundary name → position in the probe author's enum order (per direction). */
  boundaryOrder(): Map<string, number> {
    const m = new Map<string, number>();
    for (const b of this.health?.boundaries ?? []) {
      const k = `${b.dir}:${b.name}`;
      if (!m.has(k)) m.set(k, b.id);
    }
    return m;
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

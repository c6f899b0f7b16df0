/**
 * The stage record and the one stage order. A series is the running total of one stage (or of
 * one CPU of it); `stageRecord` turns it into the typed record every view consumes (the report,
 * the panel's StageSummary, the exports, the hover's StageStat), and `compareStages` is the
 * order stages are shown in everywhere: RX, then TX (by boundary id), then IRQ (by kind and line).
 */
import { mechanismOf } from './feeds.ts';
import { type Unit, unitOfKind } from './format.ts';
import { percentiles } from './hist.ts';
import type { Boundary, Direction, Group, ProgramStatus, StageRecord, StageSummary } from './protocol.ts';

/** One stage's aggregate over the session (the schema is protocol.ts StageRecord). */
export type Stage = StageRecord;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The record's unit is format.ts's Unit. */
export type UnitMatches = Same<Stage['unit'], Unit> extends true ? true : never;
const unitMatches: UnitMatches = true;
void unitMatches;

/** The running totals of one series: a stage, or one CPU of it. */
export interface Series {
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

/** An object's programs, boundaries and groups as its slot's last `loaded` announced them. */
export interface SlotInfo {
  object: string;
  programs: ProgramStatus[];
  boundaries: Boundary[];
  groups: Group[];
  loaded: boolean;
}

/** What the record and the order look up: boundaries (`${dir}:${name}`, the latest of any
 *  `loaded`) and slots. */
export interface StageContext {
  readonly boundaries: ReadonlyMap<string, Boundary & { slot: string }>;
  readonly slots: ReadonlyMap<string, SlotInfo>;
}

export const DIR_RANK: Record<string, number> = { rx: 0, tx: 1, irq: 2 };
const PATH_KIND_RANK: Record<string, number> = { stage: 0, cum: 1 };
const IRQ_KIND_RANK: Record<string, number> = { hardirq: 0, irq_thread_latency: 1, irq_thread_time: 2, softirq_delay: 3, softirq_time: 4, napi_work: 5 };

function cmpNum(a: number, b: number): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** The id of a boundary in its slot's `loaded`, +∞ when not announced. */
export function boundaryIndex(ctx: StageContext, dir: Direction, name: string | undefined): number {
  if (name === undefined) return Number.POSITIVE_INFINITY;
  return ctx.boundaries.get(`${dir}:${name}`)?.id ?? Number.POSITIVE_INFINITY;
}

/** The boundaries a series runs between: its own from/to, else its "a→b" name, else it ends at
 *  its name. */
export function endpoints(s: Series): { from?: string; to?: string } {
  if (s.from !== undefined || s.to !== undefined) return { from: s.from, to: s.to };
  const parts = s.name.split('→');
  if (parts.length === 2) return { from: parts[0]!.trim(), to: parts[1]!.trim() };
  return { to: s.name };
}

/** The stage order: by direction; RX/TX stages then cumulative ones, by the ids of the
 *  boundaries they end and start at; IRQ kinds in a fixed order, then by line or vector; then
 *  by name, the total over CPUs before its per-CPU series, and by CPU. */
export function compareStages(ctx: StageContext): (a: Series, b: Series) => number {
  return (a, b) => {
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
      const ea = endpoints(a);
      const eb = endpoints(b);
      const t = cmpNum(boundaryIndex(ctx, a.dir, ea.to), boundaryIndex(ctx, b.dir, eb.to));
      if (t) return t;
      const f = cmpNum(boundaryIndex(ctx, a.dir, ea.from), boundaryIndex(ctx, b.dir, eb.from));
      if (f) return f;
    }
    if (a.name !== b.name) return a.name < b.name ? -1 : 1;
    if (a.total !== b.total) return a.total ? -1 : 1; // the total before its per-CPU series
    return (a.cpu ?? -1) - (b.cpu ?? -1);
  };
}

/** The series (all, or those of `keys`) in stage order. */
export function orderedSeries(ctx: StageContext, series: ReadonlyMap<string, Series>, keys?: Iterable<string>): Series[] {
  const list: Series[] = [];
  if (keys) {
    for (const k of keys) {
      const s = series.get(k);
      if (s) list.push(s);
    }
  } else list.push(...series.values());
  return list.sort(compareStages(ctx));
}

type AttachInfo = Pick<Stage, 'attach' | 'mechanism' | 'feeds' | 'skip_reason'>;

function attachInfo(x: Boundary | Group): AttachInfo {
  const out: AttachInfo = {};
  if (x.attach) out.attach = x.attach;
  const m = mechanismOf(x);
  if (m) out.mechanism = m;
  if (x.feeds?.length) out.feeds = x.feeds;
  if (!x.active) out.skip_reason = x.reason ?? 'not attached';
  return out;
}

/** Attach type, mechanism and feeds (or skip reason) of the program(s) feeding a series, from
 *  `loaded`. */
function attachOf(ctx: StageContext, s: Series): AttachInfo {
  const { from, to } = endpoints(s);
  const b =
    (to !== undefined ? ctx.boundaries.get(`${s.dir}:${to}`) : undefined) ??
    (from !== undefined ? ctx.boundaries.get(`${s.dir}:${from}`) : undefined) ??
    ctx.boundaries.get(`${s.dir}:${s.kind}`) ??
    ctx.boundaries.get(`${s.dir}:${s.name}`);
  if (b) return attachInfo(b);
  const slot = ctx.slots.get(s.slot);
  if (slot) {
    // IRQ series: the named group that feeds the kind (irq_thread_latency → irq_thread), else
    // the one attach type of the slot's programs.
    const g = s.dir === 'irq' ? slot.groups.find((x) => s.kind.startsWith(`${x.name}_`)) : undefined;
    if (g) return attachInfo(g);
    const types = new Set(slot.programs.filter((p) => p.status === 'attached' && p.attach).map((p) => p.attach!));
    if (types.size === 1) {
      const t = [...types][0]!;
      return { attach: t, mechanism: t };
    }
  }
  return {};
}

/** The record of a series: identity, attach details from `loaded`, and figures. */
export function stageRecord(ctx: StageContext, s: Series): Stage {
  const p = percentiles(s.buckets, s.sum);
  const r: Stage = {
    key: s.key,
    name: s.name,
    kind: s.kind,
    dir: s.dir,
    slot: s.slot,
    total_over_cpus: s.total,
    unit: unitOfKind(s.kind),
    ...attachOf(ctx, s),
    count: s.count,
    sum: s.sum,
    mean: s.count > 0 ? s.sum / s.count : 0,
    ...p,
    buckets: s.buckets.slice(),
  };
  if (s.from !== undefined) r.from = s.from;
  if (s.to !== undefined) r.to = s.to;
  if (s.dir !== 'irq') {
    const e = endpoints(s);
    const fi = boundaryIndex(ctx, s.dir, e.from);
    const ti = boundaryIndex(ctx, s.dir, e.to);
    if (Number.isFinite(fi)) r.from_id = fi;
    if (Number.isFinite(ti)) r.to_id = ti;
  }
  if (s.cpu !== undefined) r.cpu = s.cpu;
  if (s.irq !== undefined) r.irq = s.irq;
  if (s.vec !== undefined) r.vec = s.vec;
  return r;
}

/** The panel's view of a stage record (protocol.ts StageSummary). */
export function stageSummary(st: Stage): StageSummary {
  const out: StageSummary = { key: st.key, kind: st.kind, dir: st.dir, name: st.name, count: st.count, sum: st.sum, buckets: st.buckets, p50: st.p50, p90: st.p90, p99: st.p99, p999: st.p999, max: st.max };
  if (st.from !== undefined) out.from = st.from;
  if (st.to !== undefined) out.to = st.to;
  if (st.cpu !== undefined) out.cpu = st.cpu;
  return out;
}

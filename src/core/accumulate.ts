/**
 * Accumulation: helper messages in, running totals out. Per-series totals, the bounded history
 * of intervals (one per snapshot, compacted as it grows), the journey ring, reload marks,
 * counters, drops and per-program cost. Pure logic, no I/O. What changed since the last look is
 * kept in `changes` for the panel synchronisation to take.
 */
import {
  HIST_BUCKETS,
  type Boundary,
  type Direction,
  type HelloMessage,
  type HelperMessage,
  type JourneyMessage,
  type ReloadMark,
  type SessionInfo,
  type SlotCounters,
  type SnapshotMessage,
} from './protocol.ts';
import { IRQ_LINES } from './contract.ts';
import { addSparse, emptyBuckets, toSparse, type SparseBuckets } from './hist.ts';
import { HostAccumulator, mergeIntervalHost, type HostLimits, type IntervalHost } from './host.ts';
import type { Series, SlotInfo, StageContext } from './stage.ts';

export interface AccumulatorOptions {
  /** Host name shown in reports and the panel ("local" by default). */
  host?: string;
  /** Intervals younger than this (relative to the newest) are never merged. Default 15 min. */
  fullResolutionMs?: number;
  maxIntervals?: number;
  maxJourneys?: number;
  maxSeries?: number;
  maxReloads?: number;
  /** Bounds of the host's tables (host.ts HOST_LIMITS by default). */
  hostLimits?: Partial<HostLimits>;
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

export interface IntervalStage {
  count: number;
  sum: number;
  /** sparse, flattened: [bucket, count, bucket, count, …] */
  sparse: number[];
}

export interface Interval {
  id: number;
  /** wall ms at the end of the interval */
  t_ms: number;
  dur_ms: number;
  events: number;
  stages: Map<string, IntervalStage>;
  /** The host's counters of the same snapshot (host.ts), when it carried them. */
  host?: IntervalHost;
}

export interface ProgTotals {
  slot: string;
  name: string;
  prog_id: number;
  runs: number;
  time: number;
  misses: number;
}

/** What changed since the last clear(): series, health (slots, counters), session info, and
 *  whether history was compacted. Interval, journey and reload sequence numbers are on the
 *  Accumulator itself. */
export class Changes {
  readonly stages = new Set<string>();
  health = false;
  session = false;
  /** Host counters arrived (host tables and hints). */
  host = false;
  compacted = false;

  clear(): void {
    this.stages.clear();
    this.health = false;
    this.session = false;
    this.host = false;
  }
}

export function flatSparse(b: number[]): number[] {
  const out: number[] = [];
  for (const [i, n] of toSparse(b)) out.push(i, n);
  return out;
}

/** Flattened sparse buckets plus [bucket, count] pairs, flattened in bucket order. Pairs addSparse
 *  would skip (bucket out of range, count not a positive finite number) are skipped; no dense pass
 *  over all HIST_BUCKETS is made (an interval of one stage fills a few dozen of them). */
export function mergeFlat(flat: readonly number[], pairs: SparseBuckets): number[] {
  const add = new Map<number, number>();
  for (const [i, n] of pairs) {
    if (!Number.isInteger(i) || i < 0 || i >= HIST_BUCKETS || !Number.isFinite(n) || !(n > 0)) continue;
    add.set(i, (add.get(i) ?? 0) + n);
  }
  if (add.size === 0) return flat.slice();
  for (let j = 0; j + 1 < flat.length; j += 2) add.set(flat[j]!, (add.get(flat[j]!) ?? 0) + flat[j + 1]!);
  const out: number[] = [];
  for (const i of [...add.keys()].sort((a, b) => a - b)) out.push(i, add.get(i)!);
  return out;
}

export function denseFromFlat(flat: readonly number[]): number[] {
  const b = emptyBuckets();
  for (let j = 0; j + 1 < flat.length; j += 2) b[flat[j]!]! += flat[j + 1]!;
  return b;
}

export class Accumulator implements StageContext {
  private readonly opts: Required<Omit<AccumulatorOptions, 'host' | 'now' | 'hostLimits'>>;
  readonly now: () => number;
  readonly changes = new Changes();

  hello?: HelloMessage;
  session: SessionInfo;
  readonly slots = new Map<string, SlotInfo>();
  /** `${dir}:${name}` → latest boundary (with slot) announced by any `loaded`. */
  readonly boundaries = new Map<string, Boundary & { slot: string }>();
  readonly series = new Map<string, Series>();
  intervals: Interval[] = [];
  intervalSeq = 0;
  readonly journeyRing: JourneyMessage[] = [];
  journeyTotal = 0;
  reloads: ReloadMark[] = [];
  reloadTotal = 0;
  /** slot → counter → total */
  readonly slotCounters = new Map<string, Map<string, number>>();
  /** slot → hard IRQs measured (hardirq histogram counts) */
  readonly slotHardIrqs = new Map<string, number>();
  /** IRQ slot → [hard IRQs and softirq runs the kernel counted while it was loaded, those it timed] */
  readonly slotIrqShare = new Map<string, [number, number]>();
  /** slot → the kind of object, from its `loaded` boundaries or its histograms */
  readonly slotKinds = new Map<string, SlotCounters['kind']>();
  /** slot → its object's direction, from its `loaded` message */
  readonly slotDirs = new Map<string, string>();
  readonly drops = new Map<string, number>();
  readonly progs = new Map<string, ProgTotals>();
  /** The host's counters over the session (HostSample of each snapshot). */
  readonly host: HostAccumulator;
  snapshots = 0;
  lostSnapshots = 0;
  private lastSeq?: number;
  coveredNs = 0;
  firstMs?: number;
  lastSnapshotMs?: number;
  lastEventsPerS = 0;
  seriesOverflow = 0;

  constructor(options: AccumulatorOptions = {}) {
    this.opts = {
      fullResolutionMs: options.fullResolutionMs ?? DEFAULTS.fullResolutionMs,
      maxIntervals: Math.max(4, options.maxIntervals ?? DEFAULTS.maxIntervals),
      maxJourneys: Math.max(1, options.maxJourneys ?? DEFAULTS.maxJourneys),
      maxSeries: Math.max(1, options.maxSeries ?? DEFAULTS.maxSeries),
      maxReloads: Math.max(1, options.maxReloads ?? DEFAULTS.maxReloads),
    };
    this.host = new HostAccumulator(options.hostLimits);
    this.now = options.now ?? Date.now;
    this.session = { host: options.host ?? 'local', state: 'running' };
  }

  /** Wall-clock ms of a monotonic ns timestamp, via hello's (mono_ns, wall_ns) pair; without a
   *  hello, the receive time (or now). */
  wallMs(mono_ns: number, recvMs?: number): number {
    if (this.hello) return (this.hello.wall_ns + (mono_ns - this.hello.mono_ns)) / 1e6;
    return recvMs ?? this.now();
  }

  /** Merges one (already validated) helper message; false for the messages that carry nothing
   *  to aggregate (error, log, bye). */
  ingest(msg: HelperMessage, recvMs?: number): boolean {
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
        this.changes.session = true;
        break;
      }
      case 'loaded': {
        this.slots.set(msg.slot, { object: msg.object, programs: msg.programs, boundaries: msg.boundaries, groups: msg.groups ?? [], loaded: true });
        this.slotKinds.set(msg.slot, msg.boundaries.length > 0 ? 'packets' : 'irq');
        if (msg.dir) this.slotDirs.set(msg.slot, msg.dir);
        for (const b of msg.boundaries) this.boundaries.set(`${b.dir}:${b.name}`, { ...b, slot: msg.slot });
        if (msg.replaced) this.pushReload({ t_ms: this.wallMs(msg.mono_ns, recvMs), slot: msg.slot, ok: true });
        // attach types may have changed for existing stages
        for (const k of this.series.keys()) this.changes.stages.add(k);
        this.changes.health = true;
        break;
      }
      case 'unloaded': {
        const s = this.slots.get(msg.slot);
        if (s) s.loaded = false;
        this.changes.health = true;
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
        return false; // the session reports these; nothing to aggregate
    }
    return true;
  }

  /** Updates the session info (state, message, host …). */
  setSession(info: Partial<SessionInfo>): void {
    this.session = { ...this.session, ...info };
    this.changes.session = true;
  }

  pushReload(mark: ReloadMark): void {
    this.reloads.push(mark);
    this.reloadTotal++;
    if (this.reloads.length > this.opts.maxReloads) this.reloads.shift();
  }

  /** Counter totals per slot, with each slot's kind (a slot seen only through counters holds
   *  packets unless it is named irq). */
  counterSlots(): Array<SlotCounters & { slot: string }> {
    return [...this.slotCounters].map(([slot, c]) => ({
      slot,
      kind: this.slotKinds.get(slot) ?? (slot === 'irq' ? 'irq' : 'packets'),
      counters: Object.fromEntries(c),
      hard_irqs: this.slotHardIrqs.get(slot) ?? 0,
      irq_seen: this.slotIrqShare.get(slot)?.[0],
      irq_timed: this.slotIrqShare.get(slot)?.[1],
    }));
  }

  /** The IRQ objects' timed share of what the kernel counted in the same interval (their hard IRQ
   *  lines, /proc/interrupts, and softirq runs, /proc/softirqs). */
  private countIrqShare(msg: SnapshotMessage): void {
    const host = msg.host!;
    let kernel = 0;
    for (const q of host.irqs) if (q.irq < IRQ_LINES) for (const v of q.counts) kernel += Number.isFinite(v) && v > 0 ? v : 0;
    for (const c of host.cpus) for (const v of c.softirqs) kernel += Number.isFinite(v) && v > 0 ? v : 0;
    for (const slot of msg.slots) {
      const irq = this.slotKinds.get(slot.slot) === 'irq' || slot.hists.some((h) => h.dir === 'irq');
      if (!irq) continue;
      let timed = 0;
      for (const h of slot.hists) if ((h.kind === 'hardirq' || h.kind === 'softirq_delay') && Number.isFinite(h.count) && h.count > 0) timed += h.count;
      const cur = this.slotIrqShare.get(slot.slot) ?? [0, 0];
      this.slotIrqShare.set(slot.slot, [cur[0] + kernel, cur[1] + timed]);
    }
  }

  private ingestSnapshot(msg: SnapshotMessage, recvMs?: number): void {
    if (this.lastSeq !== undefined && msg.seq > this.lastSeq + 1) this.lostSnapshots += msg.seq - this.lastSeq - 1;
    this.lastSeq = msg.seq;
    this.snapshots++;
    this.coveredNs += msg.interval_ns;
    const t_ms = this.wallMs(msg.mono_ns, recvMs);
    this.lastSnapshotMs = t_ms;
    const iv: Interval = { id: ++this.intervalSeq, t_ms, dur_ms: msg.interval_ns / 1e6, events: 0, stages: new Map() };

    if (msg.host) this.countIrqShare(msg);
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
          if (count === 0 && h.buckets.length === 0) continue;
          addSparse(s.buckets, h.buckets);
          s.count += count;
          s.sum += sum;
          this.changes.stages.add(key);
          let st = iv.stages.get(key);
          if (!st) {
            st = { count: 0, sum: 0, sparse: [] };
            iv.stages.set(key, st);
          }
          st.count += count;
          st.sum += sum;
          st.sparse = mergeFlat(st.sparse, h.buckets);
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
    if (msg.host) {
      iv.host = this.host.ingest(msg.host, msg.interval_ns);
      this.changes.host = true;
    }
    this.lastEventsPerS = iv.dur_ms > 0 ? iv.events / (iv.dur_ms / 1000) : 0;
    this.intervals.push(iv);
    this.changes.health = true;
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
    this.changes.stages.add(key);
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
    this.changes.compacted = true;
  }

  /** Merges intervals [0, n) pairwise (n rounded down to even). */
  private mergePairs(n: number): void {
    const m = n - (n % 2);
    const merged: Interval[] = [];
    for (let i = 0; i < m; i += 2) merged.push(mergeIntervals(this.intervals[i]!, this.intervals[i + 1]!));
    this.intervals = merged.concat(this.intervals.slice(m));
  }
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
      const pairs: Array<[number, number]> = [];
      for (let j = 0; j + 1 < st.sparse.length; j += 2) pairs.push([st.sparse[j]!, st.sparse[j + 1]!]);
      stages.set(key, { count: cur.count + st.count, sum: cur.sum + st.sum, sparse: mergeFlat(cur.sparse, pairs) });
    }
  }
  const out: Interval = { id: Math.max(a.id, b.id), t_ms: Math.max(a.t_ms, b.t_ms), dur_ms: a.dur_ms + b.dur_ms, events: a.events + b.events, stages };
  const host = mergeIntervalHost(a.host, b.host);
  if (host) out.host = host;
  return out;
}

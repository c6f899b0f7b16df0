// A PanelState for the panel tests and the render benchmark, generated deterministically from the
// stream recorded from the real helper (test/fixtures/helper-recorded.jsonl): its series (stages,
// cumulative times, IRQ/softirq per CPU and vector, NAPI work) with their recorded medians and
// rates, its boundaries, groups and programs as `loaded` announced them, its counters (loss and
// activity, through the protocol's one definition), its journeys; stretched to 120 intervals with a
// burst, a slower socket→application path after a good reload and a failed one.
//
//   node --import tsx test/webview/fixture.ts   rewrites test/fixtures/panel-state.json
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bucketEnd, bucketLower, bucketOf, histMax, quantile, toSparse } from '../../src/core/hist.ts';
import { HIST_BUCKETS, type IntervalPoint, type JourneyMessage, type LoadedMessage, PanelState, type SnapshotMessage, type StageSummary, type ToPanel, activityCounters, lossFigures } from '../../src/core/protocol.ts';
import { boundedPairs } from '../../src/core/panel-sync.ts';
import { recorded } from '../fixtures/recorded.ts';

type Delta = Extract<ToPanel, { type: 'delta' }>;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
const lnCdf = (v: number, median: number, sigma: number) => (v <= 0 ? 0 : 0.5 * (1 + erf(Math.log(v / median) / (sigma * Math.SQRT2))));

/** Log-linear bucket counts of `n` values: a log-normal body around `median` plus a slow tail.
 *  Only the buckets within six sigmas of either part are computed, each edge's CDF once. */
function buckets(n: number, median: number, sigma: number, tail: number, r: () => number): number[] {
  const out = new Array<number>(HIST_BUCKETS).fill(0);
  const cdf = (v: number) => (1 - tail) * lnCdf(v, median, sigma) + tail * lnCdf(v, median * 12, 0.9);
  const first = Math.max(1, bucketOf(median * Math.exp(-6 * sigma)));
  const last = Math.min(HIST_BUCKETS - 1, bucketOf(median * 12 * Math.exp(6 * 0.9)));
  let below = cdf(bucketLower(first));
  for (let i = first; i <= last; i++) {
    const above = cdf(bucketEnd(i));
    const expect = (above - below) * n;
    below = above;
    if (expect < 1e-6) continue;
    out[i] = Math.max(0, Math.round(expect + (r() - 0.5) * Math.sqrt(expect) * 2));
  }
  return out;
}

/** Percentile of the buckets, as the host computes it (hist.ts quantile). */
export function percentile(b: number[], q: number): number {
  return quantile(b, q);
}

interface StageDef {
  kind: string;
  dir: 'rx' | 'tx' | 'irq';
  name: string;
  from?: string;
  to?: string;
  cpu?: number;
  irq?: number;
  vec?: number;
  rate: number; // per second
  median: number;
  sigma: number;
  tail: number;
}

const stage = (dir: 'rx' | 'tx', from: string, to: string, rate: number, median: number, sigma = 0.45, tail = 0.02): StageDef => ({ kind: 'stage', dir, name: `${from}→${to}`, from, to, rate, median, sigma, tail });

const REC = recorded();
const SNAPS = REC.filter((m): m is SnapshotMessage => m.type === 'snapshot');
const LOADED = REC.filter((m): m is LoadedMessage => m.type === 'loaded');
const REC_SECONDS = Math.max(1e-3, SNAPS.slice(1).reduce((a, m) => a + m.interval_ns, 0) / 1e9);

/** The recorded series, each with its median and its rate per second (×4, so the charts are busy). */
function recordedDefs(): StageDef[] {
  const by = new Map<string, { def: Omit<StageDef, 'rate' | 'median'>; b: number[]; sum: number; n: number }>();
  for (const m of SNAPS) for (const sl of m.slots) for (const h of sl.hists) {
    if (h.count === 0) continue;
    const def: Omit<StageDef, 'rate' | 'median'> = { kind: h.kind, dir: h.dir, name: h.name, sigma: h.kind === 'napi_work' ? 0.4 : 0.5, tail: h.dir === 'irq' ? 0.01 : 0.02 };
    if (h.from !== undefined) def.from = h.from;
    if (h.to !== undefined) def.to = h.to;
    if (h.cpu !== undefined) def.cpu = h.cpu;
    if (h.irq !== undefined) def.irq = h.irq;
    if (h.vec !== undefined) def.vec = h.vec;
    const key = stageKey(def);
    const e = by.get(key) ?? { def, b: new Array<number>(HIST_BUCKETS).fill(0), sum: 0, n: 0 };
    for (const [i, n] of h.buckets) e.b[i]! += n;
    e.sum += h.sum;
    e.n += h.count;
    by.set(key, e);
  }
  const rank = { rx: 0, tx: 1, irq: 2 };
  return [...by.values()].sort((a, b) => rank[a.def.dir] - rank[b.def.dir]).map((e) => ({ ...e.def, rate: Math.max(5, Math.round((4 * e.n) / REC_SECONDS)), median: Math.max(1, quantile(e.b, 0.5, e.sum)) }));
}

function defs(extraRx: number): StageDef[] {
  const d = recordedDefs();
  // Stages a probe author added in C: they come with their own names.
  for (let i = 0; i < extraRx; i++) d.push(stage('rx', `my_hook_${i}`, `my_hook_${i + 1}`, 2000, 400 * (i + 1)));
  return d;
}

export function stageKey(s: { dir: string; kind: string; name: string; cpu?: number }): string {
  return `${s.dir}:${s.kind}:${s.name}${s.cpu !== undefined ? `:${s.cpu}` : ''}`;
}

function summary(def: StageDef, b: number[]): StageSummary {
  const count = b.reduce((a, c) => a + c, 0);
  let sum = 0;
  // every value at the middle of its bucket (the open last one at 1.5 × its lower edge)
  b.forEach((c, i) => {
    if (c > 0) sum += Math.round(c * (i === 0 ? 0 : i === HIST_BUCKETS - 1 ? 1.5 * bucketLower(i) : (bucketLower(i) + bucketEnd(i) - 1) / 2));
  });
  return {
    key: stageKey(def),
    kind: def.kind,
    dir: def.dir,
    name: def.name,
    ...(def.from !== undefined ? { from: def.from } : {}),
    ...(def.to !== undefined ? { to: def.to } : {}),
    ...(def.cpu !== undefined ? { cpu: def.cpu } : {}),
    count,
    sum,
    // A copy: the running totals keep growing, and every delta carries the buckets of its own time.
    buckets: [...b],
    p50: Math.round(percentile(b, 0.5)),
    p90: Math.round(percentile(b, 0.9)),
    p99: Math.round(percentile(b, 0.99)),
    p999: Math.round(percentile(b, 0.999)),
    max: count ? histMax(b) : 0,
  };
}

export const T0_MS = Date.UTC(2026, 10, 25, 18, 0, 0);

export interface FixtureOptions {
  intervals?: number;
  /** Extra RX stages (a probe author's own), to load the charts in the benchmark. */
  extraRx?: number;
  journeys?: number;
  seed?: number;
}

/** The stage that gets slower after the reload at interval 70. */
export const SLOWER_STAGE = 'sock_enqueue→app_read';

interface Gen {
  defs: StageDef[];
  totals: Map<string, number[]>;
  r: () => number;
  t: number;
  i: number;
}
const gens = new WeakMap<PanelState, Gen>();

function point(g: Gen): IntervalPoint {
  const p: IntervalPoint = { t_ms: T0_MS + g.i * 1000, stages: {}, events_per_s: 0 };
  const phase = g.i;
  for (const def of g.defs) {
    // A burst of load around interval 40, a slower TCP receive path after the reload at 70.
    const burst = phase >= 38 && phase < 46 ? 3 : 1;
    const slower = def.name === SLOWER_STAGE && phase >= 70 ? 1.8 : 1;
    const n = Math.max(0, Math.round(def.rate * (0.85 + 0.3 * g.r()) * (def.kind === 'napi_work' ? 1 : burst > 1 ? 1.6 : 1)));
    const b = buckets(n, def.median * slower * (burst > 1 && def.dir !== 'irq' ? 2.2 : 1), def.sigma, def.tail * burst, g.r);
    const count = b.reduce((a, c) => a + c, 0);
    const key = stageKey(def);
    // bounded as the host sends it (panel-sync.ts)
    const { pairs, group } = boundedPairs(toSparse(b).flat());
    p.stages[key] = [count, Math.round(percentile(b, 0.5)), Math.round(percentile(b, 0.99)), pairs, group];
    const tot = g.totals.get(key)!;
    for (let k = 0; k < HIST_BUCKETS; k++) tot[k]! += b[k]!;
    if (def.kind === 'stage') p.events_per_s += count;
  }
  p.events_per_s = Math.round(p.events_per_s * 1.8);
  g.i++;
  return p;
}

const JOURNEYS = REC.filter((m): m is JourneyMessage => m.type === 'journey');

/** The k-th recorded journey (cycled), one in seven made slow, placed on the fixture's clock. */
function journey(r: () => number, k: number): JourneyMessage {
  const src = JOURNEYS[k % JOURNEYS.length]!;
  const f = k % 7 === 3 ? 14 : 1;
  return { ...structuredClone(src), reason: f > 1 ? 'slow' : src.reason, mono_ns: 5_000_000_000_000 + k * 1_250_000_000 + Math.round(r() * 1e6), total_ns: src.total_ns * f, marks: src.marks.map((m) => ({ ...m, t_ns: m.t_ns * f })) };
}

export function makePanelState(o: FixtureOptions = {}): PanelState {
  const intervals = o.intervals ?? 120;
  const g: Gen = { defs: defs(o.extraRx ?? 0), totals: new Map(), r: rng(o.seed ?? 42), t: 0, i: 0 };
  for (const d of g.defs) g.totals.set(stageKey(d), new Array<number>(HIST_BUCKETS).fill(0));
  const series: IntervalPoint[] = [];
  for (let i = 0; i < intervals; i++) series.push(point(g));
  const stages = g.defs.map((d) => summary(d, g.totals.get(stageKey(d))!));
  const journeys = Array.from({ length: o.journeys ?? 40 }, (_, k) => journey(g.r, k));
  // Counter totals per slot over the session: the recorded ones scaled to its length.
  const scale = intervals / REC_SECONDS;
  const slots = LOADED.map((l) => {
    const counters: Record<string, number> = {};
    for (const m of SNAPS) for (const [k, v] of Object.entries(m.slots.find((x) => x.slot === l.slot)?.counters ?? {})) counters[k] = (counters[k] ?? 0) + Math.round(v * scale);
    const hard_irqs = stages.filter((x) => x.kind === 'hardirq' && x.dir === 'irq').reduce((a, x) => a + x.count, 0);
    return { kind: l.boundaries.length ? ('packets' as const) : ('irq' as const), counters, hard_irqs: l.boundaries.length ? 0 : hard_irqs };
  });
  const progRuns = SNAPS.at(-1)!.slots.flatMap((sl) => sl.progs.map((p, i) => ({ slot: sl.slot, name: p.name, ns_per_run: 60 + ((i * 37) % 90), runs: Math.round(p.run_cnt * scale) + 1000 })));
  const state: PanelState = {
    session: { host: 'this machine', state: 'running', kernel: (REC[0] as Extract<(typeof REC)[number], { type: 'hello' }>).kernel, started_ms: T0_MS - 5_000, message: 'Tracing loopback TCP and UDP' },
    stages,
    series,
    journeys,
    reloads: intervals > 100 ? [
      { t_ms: T0_MS + 70_000 + 400, slot: 'rx', ok: true },
      { t_ms: T0_MS + 100_000 + 200, slot: 'rx', ok: false, message: 'verifier: R1 invalid mem access (rx.bpf.c:88)' },
    ] : [],
    health: {
      events_per_s: series.at(-1)?.events_per_s ?? 0,
      loss: lossFigures(slots, intervals, 0),
      activity: activityCounters(slots),
      drops: { NOT_SPECIFIED: 12, TCP_OLD_DATA: 2 },
      progs: progRuns,
      programs: LOADED.flatMap((l) => l.programs.map((p) => ({ ...p, slot: l.slot }))),
      boundaries: LOADED.flatMap((l) => l.boundaries.map((b) => ({ ...b, slot: l.slot }))),
      groups: LOADED.flatMap((l) => (l.groups ?? []).map((x) => ({ ...x, slot: l.slot }))),
    },
  };
  gens.set(state, g);
  return state;
}

/** The next interval of a state made by makePanelState, as the host would send it. */
export function nextDelta(state: PanelState): Delta {
  const g = gens.get(state);
  if (!g) throw new Error('nextDelta: state not made by makePanelState');
  const p = point(g);
  const stages = g.defs.map((d) => summary(d, g.totals.get(stageKey(d))!));
  return { type: 'delta', stages, points: [p], journeys: [], reloads: [], health: { ...state.health, events_per_s: p.events_per_s } };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const state = PanelState.parse(makePanelState());
  const out = fileURLToPath(new URL('../fixtures/panel-state.json', import.meta.url));
  writeFileSync(out, `${JSON.stringify(state)}\n`);
  console.log(`wrote ${out}: ${state.stages.length} stages, ${state.series.length} intervals, ${state.journeys.length} journeys`);
}

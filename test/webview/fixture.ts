// A realistic PanelState for the panel tests and the render benchmark, generated deterministically:
// loopback TCP through the tracepoint-only boundaries this kernel has (fentry EPERM, no kprobes),
// IRQ/softirq per CPU and vector, sampled journeys, one good and one failed reload.
//
//   node --import tsx test/webview/fixture.ts   rewrites test/fixtures/panel-state.json
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HIST_BUCKETS, type IntervalPoint, type JourneyMessage, PanelState, type StageSummary, type ToPanel } from '../../src/core/protocol.ts';

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

/** log2 bucket counts of `n` values: a log-normal body around `median` plus a slow tail. */
function buckets(n: number, median: number, sigma: number, tail: number, r: () => number): number[] {
  const out = new Array<number>(HIST_BUCKETS).fill(0);
  for (let i = 1; i < HIST_BUCKETS; i++) {
    const lo = 2 ** (i - 1);
    const hi = i === HIST_BUCKETS - 1 ? Infinity : 2 ** i;
    const p = (1 - tail) * (lnCdf(hi, median, sigma) - lnCdf(lo, median, sigma)) + tail * (lnCdf(hi, median * 12, 0.9) - lnCdf(lo, median * 12, 0.9));
    const expect = p * n;
    out[i] = Math.max(0, Math.round(expect + (r() - 0.5) * Math.sqrt(expect) * 2));
  }
  return out;
}

/** Percentile from log2 buckets, interpolated inside the bucket. */
export function percentile(b: number[], q: number): number {
  const total = b.reduce((a, c) => a + c, 0);
  if (total === 0) return 0;
  const want = q * total;
  let acc = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c > 0 && acc + c >= want) {
      const lo = i === 0 ? 0 : 2 ** (i - 1);
      const hi = i === 0 ? 1 : 2 ** i;
      return lo + ((want - acc) / c) * (hi - lo);
    }
    acc += c;
  }
  return 2 ** (b.length - 1);
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

function defs(extraRx: number): StageDef[] {
  const d: StageDef[] = [
    stage('rx', 'netif_rx', 'netif_receive_skb', 4200, 1_400),
    stage('rx', 'netif_receive_skb', 'tcp_probe', 4100, 3_100),
    stage('rx', 'tcp_probe', 'skb_copy_datagram_iovec', 3900, 21_000, 0.7, 0.04),
    stage('rx', 'skb_copy_datagram_iovec', 'consume_skb', 3900, 700, 0.35),
    { kind: 'cum', dir: 'rx', name: 'skb_copy_datagram_iovec', to: 'skb_copy_datagram_iovec', rate: 3900, median: 27_000, sigma: 0.6, tail: 0.04 },
    stage('tx', 'tcp_sendmsg_locked', 'net_dev_queue', 4000, 3_900),
    stage('tx', 'net_dev_queue', 'net_dev_start_xmit', 4000, 900, 0.3),
    stage('tx', 'net_dev_start_xmit', 'net_dev_xmit', 4000, 1_700),
    stage('tx', 'net_dev_xmit', 'consume_skb', 3800, 5_500, 0.6),
    { kind: 'cum', dir: 'tx', name: 'net_dev_xmit', to: 'net_dev_xmit', rate: 4000, median: 7_000, sigma: 0.5, tail: 0.02 },
  ];
  // Stages a probe author added in C: they come with their own names.
  for (let i = 0; i < extraRx; i++) d.push(stage('rx', `my_hook_${i}`, `my_hook_${i + 1}`, 2000, 400 * (i + 1)));
  for (const cpu of [0, 1]) {
    d.push({ kind: 'hardirq', dir: 'irq', name: 'hardirq 24 virtio0-input.0', irq: 24, cpu, rate: cpu ? 300 : 900, median: 2_600, sigma: 0.5, tail: 0.01 });
    d.push({ kind: 'hardirq', dir: 'irq', name: 'hardirq 25 virtio0-output.0', irq: 25, cpu, rate: 200, median: 1_300, sigma: 0.4, tail: 0.01 });
  }
  d.push({ kind: 'hardirq', dir: 'irq', name: 'hardirq 11 LOC timer', irq: 11, cpu: 0, rate: 250, median: 4_200, sigma: 0.5, tail: 0.01 });
  for (const [vec, name, dm, rm] of [[3, 'NET_RX', 4_500, 9_000], [2, 'NET_TX', 3_000, 2_000], [1, 'TIMER', 9_000, 3_000]] as const) {
    for (const cpu of [0, 1]) {
      d.push({ kind: 'softirq_delay', dir: 'irq', name, vec, cpu, rate: 800, median: dm * (cpu ? 1.4 : 1), sigma: 0.6, tail: 0.03 });
      d.push({ kind: 'softirq_time', dir: 'irq', name, vec, cpu, rate: 800, median: rm, sigma: 0.5, tail: 0.02 });
    }
  }
  for (const cpu of [0, 1]) d.push({ kind: 'napi_work', dir: 'irq', name: 'napi_work', cpu, rate: 600, median: 6, sigma: 0.6, tail: 0 });
  return d;
}

export function stageKey(s: { dir: string; kind: string; name: string; cpu?: number }): string {
  return `${s.dir}:${s.kind}:${s.name}${s.cpu !== undefined ? `:${s.cpu}` : ''}`;
}

function summary(def: StageDef, b: number[]): StageSummary {
  const count = b.reduce((a, c) => a + c, 0);
  let sum = 0;
  let hi = 0;
  b.forEach((c, i) => {
    if (c > 0) hi = i;
    sum += Math.round(c * (i === 0 ? 0 : 1.5 * 2 ** (i - 1)));
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
    max: count ? 2 ** hi : 0,
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
    const slower = def.name === 'netif_receive_skb→tcp_probe' && phase >= 70 ? 1.8 : 1;
    const n = Math.max(0, Math.round(def.rate * (0.85 + 0.3 * g.r()) * (def.kind === 'napi_work' ? 1 : burst > 1 ? 1.6 : 1)));
    const b = buckets(n, def.median * slower * (burst > 1 && def.dir !== 'irq' ? 2.2 : 1), def.sigma, def.tail * burst, g.r);
    const count = b.reduce((a, c) => a + c, 0);
    const key = stageKey(def);
    p.stages[key] = [count, Math.round(percentile(b, 0.5)), Math.round(percentile(b, 0.99)), b];
    const tot = g.totals.get(key)!;
    for (let k = 0; k < HIST_BUCKETS; k++) tot[k]! += b[k]!;
    if (def.kind === 'stage') p.events_per_s += count;
  }
  p.events_per_s = Math.round(p.events_per_s * 1.8);
  g.i++;
  return p;
}

function journey(r: () => number, k: number): JourneyMessage {
  const rx = k % 3 !== 2;
  const slow = k % 7 === 3;
  const names = rx ? ['netif_rx', 'netif_receive_skb', 'tcp_probe', 'skb_copy_datagram_iovec', 'consume_skb'] : ['tcp_sendmsg_locked', 'net_dev_queue', 'net_dev_start_xmit', 'net_dev_xmit', 'consume_skb'];
  const med = rx ? [0, 1_400, 3_100, 21_000, 700] : [0, 3_900, 900, 1_700, 5_500];
  let t = 0;
  const marks = names.map((boundary, i) => {
    t += Math.round(med[i]! * (0.5 + r()) * (slow && i === 3 ? 14 : 1));
    return { boundary, t_ns: i === 0 ? 0 : t };
  });
  const total = marks.at(-1)!.t_ns;
  return {
    type: 'journey',
    slot: rx ? 'rx' : 'tx',
    dir: rx ? 'rx' : 'tx',
    reason: slow ? 'slow' : 'sampled',
    mono_ns: 5_000_000_000_000 + k * 1_250_000_000 + Math.round(r() * 1e6),
    total_ns: total,
    marks,
    ifindex: 1,
    l4: 6,
    family: 'ipv4',
    sport: rx ? 5201 : 40000 + k,
    dport: rx ? 40000 + k : 5201,
    len: 1448 - (k % 5) * 200,
    cpu: k % 2,
    end: rx ? (k % 11 === 5 ? 'drop:TCP_OLD_DATA' : 'read') : 'consume',
  };
}

export function makePanelState(o: FixtureOptions = {}): PanelState {
  const intervals = o.intervals ?? 120;
  const g: Gen = { defs: defs(o.extraRx ?? 0), totals: new Map(), r: rng(o.seed ?? 42), t: 0, i: 0 };
  for (const d of g.defs) g.totals.set(stageKey(d), new Array<number>(HIST_BUCKETS).fill(0));
  const series: IntervalPoint[] = [];
  for (let i = 0; i < intervals; i++) series.push(point(g));
  const stages = g.defs.map((d) => summary(d, g.totals.get(stageKey(d))!));
  const journeys = Array.from({ length: o.journeys ?? 40 }, (_, k) => journey(g.r, k));
  const progs = [
    ['rx', 'handle_netif_rx', 118],
    ['rx', 'handle_netif_receive_skb', 142],
    ['rx', 'handle_tcp_probe', 205],
    ['rx', 'handle_skb_copy_datagram_iovec', 131],
    ['rx', 'handle_consume_skb', 96],
    ['tx', 'handle_net_dev_queue', 121],
    ['tx', 'handle_net_dev_xmit', 88],
    ['irq', 'handle_irq_handler_entry', 64],
    ['irq', 'handle_softirq_entry', 59],
  ] as const;
  const b = (id: number, name: string, dir: 'rx' | 'tx', slot: string, active: boolean, attach?: 'tracepoint' | 'tp_btf' | 'raw_tp', reason?: string) => ({
    id, name, dir, slot, active, ...(attach ? { attach } : {}), ...(reason ? { reason } : {}),
  });
  const noFentry = 'fentry not permitted on this kernel (EPERM); kprobes unavailable';
  const state: PanelState = {
    session: { host: 'this machine', state: 'running', kernel: '6.1.0-nslat', started_ms: T0_MS - 5_000, message: 'Tracing loopback TCP (iperf3 -c 127.0.0.1)' },
    stages,
    series,
    journeys,
    reloads: intervals > 100 ? [
      { t_ms: T0_MS + 70_000 + 400, slot: 'rx', ok: true },
      { t_ms: T0_MS + 100_000 + 200, slot: 'rx', ok: false, message: 'verifier: R1 invalid mem access (rx.bpf.c:88)' },
    ] : [],
    health: {
      events_per_s: series.at(-1)?.events_per_s ?? 0,
      counters: { sampled: 812, ringbuf_drop: 0, map_full: 0, stale: 3 },
      drops: { NOT_SPECIFIED: 12, TCP_OLD_DATA: 2 },
      progs: progs.map(([slot, name, ns], i) => ({ slot, name, ns_per_run: ns, runs: 480_000 - i * 9_000 })),
      programs: [
        ...progs.map(([slot, name], i) => ({ slot, name, section: `tp_btf/${name.replace('handle_', '')}`, status: 'attached' as const, attach: 'tp_btf' as const, prog_id: 300 + i })),
        { slot: 'rx', name: 'ip_rcv__fentry', section: 'fentry/ip_rcv', status: 'skipped' as const, reason: noFentry },
        { slot: 'rx', name: 'ip_local_deliver__fentry', section: 'fentry/ip_local_deliver', status: 'skipped' as const, reason: noFentry },
      ],
      boundaries: [
        b(0, 'netif_rx', 'rx', 'rx', true, 'tracepoint'),
        b(1, 'netif_receive_skb', 'rx', 'rx', true, 'tp_btf'),
        b(2, 'ip_rcv', 'rx', 'rx', false, undefined, noFentry),
        b(3, 'ip_local_deliver', 'rx', 'rx', false, undefined, noFentry),
        b(4, 'tcp_probe', 'rx', 'rx', true, 'tp_btf'),
        b(5, 'skb_copy_datagram_iovec', 'rx', 'rx', true, 'tp_btf'),
        b(6, 'consume_skb', 'rx', 'rx', true, 'tp_btf'),
        b(10, 'tcp_sendmsg_locked', 'tx', 'tx', true, 'tp_btf'),
        b(11, 'net_dev_queue', 'tx', 'tx', true, 'tp_btf'),
        b(12, 'net_dev_start_xmit', 'tx', 'tx', true, 'tp_btf'),
        b(13, 'net_dev_xmit', 'tx', 'tx', true, 'tp_btf'),
        b(14, 'consume_skb', 'tx', 'tx', true, 'tp_btf'),
      ],
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

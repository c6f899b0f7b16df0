/**
 * Hints: named rules that find, in the host's counters and the stages of the same intervals, a
 * reason for a latency or loss pattern. Every view shows them: the CLI report, the JSON document
 * and the panel's Host tab.
 *
 * A rule reads the intervals (their host figures and stage percentiles) and the session's host
 * tables. It reads the intervals one at a time, oldest first, into a running state of its own
 * (`add`), and finds its hints from that state and the tables (`check`): a panel that gets the
 * hints after every snapshot pays for the new interval only, not for every interval held. The
 * intervals held change only by growing, until compaction merges old ones; then the states are
 * built again (HintIndex, kept in step by host-summary.ts). A rule finds the same hints whether
 * its state was built at once or interval by interval.
 */
import { HINT_MAX_INTERVALS, type Hint, type HostIrqRow, type HostSocketRow } from './protocol.ts';
import { type HostTables, type IntervalHost, eventKindOf, qdiscLabel, socketLabel, softirqShare } from './host.ts';
import { HOST_TOTAL_KEYS, keyFamily, nicIrqsKey, recvQKey } from './host-keys.ts';
import { formatBytes, formatCount, formatNs, formatPercent, formatRate } from './format.ts';

/** One interval as the rules see it. */
export interface HintInterval {
  /** Wall-clock ms at the end of the interval (the stages' t_ms). */
  t_ms: number;
  dur_ms: number;
  host: IntervalHost;
  /** p99 (ns) of a stage series in this interval (aggregate.ts keys: "irq:softirq_delay:NET_RX",
   *  "rx:stage:sock_enqueue→app_read"); undefined when it saw nothing. */
  p99(key: string): number | undefined;
}

export type RuleHint = Omit<Hint, 'interval_count'>;

export interface HintRule<S = unknown> {
  /** The rule's name, as hints carry it. */
  name: string;
  /** What it looks for, in words. */
  what: string;
  /** Its state before any interval. */
  start(): S;
  /** Takes the next interval into the state: `k` is its position (0 the oldest), `earlier` the
   *  intervals before it. */
  add(state: S, iv: HintInterval, k: number, earlier: readonly HintInterval[]): void;
  /** Its hints, each with every interval that shows it (positions turned into t_ms by `t`). */
  check(state: S, tables: HostTables, t: readonly number[]): RuleHint[];
}

/** The rules' thresholds. */
export const HINT_LIMITS = {
  /** A p99 rises when it reaches this many times its reference (the median p99 elsewhere). */
  rise: 1.5,
  /** A CPU is saturated by softirq from this share of an interval's time. */
  softirqSaturated: 0.5,
  /** A NIC's interrupts are on one CPU when that CPU took at least this share of them... */
  oneCpuShare: 0.95,
  /** ...of at least this many. */
  minNicIrqs: 50,
  /** A Recv-Q stays high when it is non-empty in this many consecutive intervals. */
  recvQRun: 3,
} as const;

/** The stage series the rules read (aggregate.ts series keys). */
export const NET_RX_DELAY = 'irq:softirq_delay:NET_RX';
export const netRxDelayOnCpu = (cpu: number): string => `${NET_RX_DELAY}:cpu${cpu}`;
export const SOCK_TO_APP = 'rx:stage:sock_enqueue→app_read';

/** The median of values in ascending order; undefined for none. */
function middle(s: readonly number[]): number | undefined {
  if (!s.length) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const median = (values: readonly number[]): number | undefined => middle([...values].sort((a, b) => a - b));

/** Values kept in order as they arrive, for a median at any time. */
class Sorted {
  private readonly v: number[] = [];

  add(x: number): void {
    let lo = 0;
    let hi = this.v.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.v[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    this.v.splice(lo, 0, x);
  }

  median(): number | undefined {
    return middle(this.v);
  }
}

/** The median p99 inside a set of intervals against the others; undefined when either side has
 *  no packets. */
class P99Against {
  readonly inside = new Sorted();
  readonly outside = new Sorted();

  add(p99: number | undefined, inside: boolean): void {
    if (p99 !== undefined) (inside ? this.inside : this.outside).add(p99);
  }

  medians(): { a: number; b: number } | undefined {
    const a = this.inside.median();
    const b = this.outside.median();
    return a === undefined || b === undefined ? undefined : { a, b };
  }
}

/** Appends position k to the list of `key` (once per interval). */
function hit<K>(m: Map<K, number[]>, key: K, k: number): void {
  const list = m.get(key);
  if (!list) m.set(key, [k]);
  else if (list[list.length - 1] !== k) list.push(k);
}

const counter = (iv: HintInterval, key: string): number => iv.host.counters.get(key) ?? 0;
const times = (t: readonly number[], positions: readonly number[] = []): number[] => positions.map((k) => t[k]!);
const snmpTotal = (t: HostTables, name: string): number => t.snmp.find((r) => r.name === name)?.total ?? 0;
const plural = (n: number, one: string, many = `${one}s`): string => `${formatCount(n)} ${n === 1 ? one : many}`;

/** A rule's state that is only the intervals in which a host-wide counter series moved. */
const movedIn = (key: string) => ({
  start: (): number[] => [],
  add(state: number[], iv: HintInterval, k: number): void {
    if (counter(iv, key) > 0) state.push(k);
  },
});

// ------------------------------------------------------------------ the rules

interface SqueezeState {
  squeezed: number[];
  total: number;
  delay: P99Against;
}

const netRxDelaySqueeze: HintRule<SqueezeState> = {
  name: 'netrx-delay-squeeze',
  what: 'NET_RX softirq raise→run delay p99 rising while softnet time_squeeze moves',
  start: () => ({ squeezed: [], total: 0, delay: new P99Against() }),
  add(st, iv, k) {
    const n = counter(iv, HOST_TOTAL_KEYS.time_squeeze);
    if (n > 0) {
      st.squeezed.push(k);
      st.total += n;
    }
    st.delay.add(iv.p99(NET_RX_DELAY), n > 0);
  },
  check({ squeezed, total, delay }, tables, t) {
    if (!squeezed.length) return [];
    const cmp = delay.medians();
    if (!cmp || !(cmp.a >= HINT_LIMITS.rise * cmp.b)) return [];
    const cpus = tables.cpus.filter((c) => c.softnet.time_squeeze > 0).map((c) => `CPU ${c.cpu} ${formatCount(c.softnet.time_squeeze)}`);
    return [
      {
        rule: 'netrx-delay-squeeze',
        title: `NET_RX softirq raise→run delay p99 is ${formatNs(cmp.a)} in the ${plural(squeezed.length, 'interval')} where time_squeeze moved, against ${formatNs(cmp.b)} in the others`,
        detail: `softnet time_squeeze counted ${plural(total, 'squeeze')} (${cpus.join(', ')}): NAPI polls ran out of budget or time and left packets for a later NET_RX run, which waits. Raise net.core.netdev_budget / netdev_budget_usecs, or spread the receive work (more queues, RPS).`,
        intervals: times(t, squeezed),
      },
    ];
  },
};

const NIC_IRQS = keyFamily(nicIrqsKey(0));

/** By nicIrqsKey(cpu): the intervals in which NIC queue interrupts landed on that CPU. */
const nicIrqsOneCpu: HintRule<Map<string, number[]>> = {
  name: 'nic-irqs-one-cpu',
  what: "all of a NIC's IRQ lines landing on one CPU (actual counts, with their affinity)",
  start: () => new Map(),
  add(st, iv, k) {
    for (const [key, v] of iv.host.counters) if (v > 0 && keyFamily(key) === NIC_IRQS) hit(st, key, k);
  },
  check(st, tables, t) {
    if (tables.cpus.length < 2) return [];
    const byNic = new Map<string, HostIrqRow[]>();
    for (const q of tables.irqs) {
      if (!q.queue || !(q.total > 0)) continue;
      const nic = q.queue.iface ?? q.queue.device;
      byNic.set(nic, [...(byNic.get(nic) ?? []), q]);
    }
    const out: RuleHint[] = [];
    for (const [nic, lines] of byNic) {
      if (lines.length < 2) continue;
      const perCpu: number[] = [];
      for (const q of lines) q.counts.forEach((n, c) => (perCpu[c] = (perCpu[c] ?? 0) + n));
      const total = perCpu.reduce((a, b) => a + (b ?? 0), 0);
      let top = 0;
      perCpu.forEach((n, c) => {
        if ((n ?? 0) > (perCpu[top] ?? 0)) top = c;
      });
      const share = total > 0 ? (perCpu[top] ?? 0) / total : 0;
      if (total < HINT_LIMITS.minNicIrqs || share < HINT_LIMITS.oneCpuShare) continue;
      const aff = lines.map((q) => `${q.irq} ${q.queue?.queue ?? q.name}: affinity ${q.affinity ?? '?'}${q.effective_affinity !== undefined ? `, effective ${q.effective_affinity}` : ''}`);
      const pinned = lines.every((q) => q.effective_affinity !== undefined && q.effective_affinity === String(top));
      out.push({
        rule: 'nic-irqs-one-cpu',
        title: `All ${lines.length} IRQ lines of ${nic} land on CPU ${top}: ${formatPercent(share)} of ${plural(total, 'interrupt')}`,
        detail: `${aff.join('; ')}. One CPU takes every hard IRQ of the NIC and runs the NET_RX softirq it raises, while the other ${plural(tables.cpus.length - 1, 'CPU')} take none of it${pinned ? ' (the effective affinity pins them there)' : ''}. Spread the lines (their smp_affinity_list, irqbalance) or the receive work (RPS: queues/rx-N/rps_cpus).`,
        intervals: times(t, st.get(nicIrqsKey(top))),
      });
    }
    return out;
  },
};

/** A run of consecutive intervals in which a socket's Recv-Q was not empty. */
interface Run {
  start: number;
  length: number;
  /** The largest queue in it. */
  most: number;
}

interface RecvQState {
  /** By recvQKey: the run going on (or the last one) and the longest, the first of equals. */
  runs: Map<string, { cur: Run; best: Run }>;
  /** sock_enqueue→app_read p99 of every interval. */
  p99: Array<number | undefined>;
}

const RECV_Q = recvQKey('');

/** sock_enqueue→app_read p99 in a run against the intervals before the queue filled; without
 *  those, the run's last third against its first. */
function readDelay(p99: ReadonlyArray<number | undefined>, t: readonly number[], run: Run): { a?: number; b?: number } {
  const inRun: number[] = [];
  for (let k = run.start; k < run.start + run.length; k++) if (p99[k] !== undefined) inRun.push(p99[k]!);
  const before: number[] = [];
  for (let k = 0; k < run.start; k++) if (p99[k] !== undefined && t[k]! < t[run.start]!) before.push(p99[k]!);
  if (before.length) return { a: median(inRun), b: median(before) };
  if (inRun.length < 3) return {};
  const third = Math.max(1, Math.floor(inRun.length / 3));
  return { a: median(inRun.slice(-third)), b: median(inRun.slice(0, third)) };
}

/** readDelay of each longest run, computed once: a run's record is replaced, never changed, when
 *  the run grows, and the intervals it reads never change. */
const compared = new WeakMap<Run, { a?: number; b?: number }>();

const socketRecvQ: HintRule<RecvQState> = {
  name: 'socket-recvq-high',
  what: 'a socket whose Recv-Q stays non-empty while sock_enqueue→app_read p99 grows',
  start: () => ({ runs: new Map(), p99: [] }),
  add(st, iv, k) {
    st.p99.push(iv.p99(SOCK_TO_APP));
    for (const [key, v] of iv.host.gauges) {
      if (!(v > 0) || !key.startsWith(RECV_Q)) continue;
      const r = st.runs.get(key);
      if (!r) {
        const cur = { start: k, length: 1, most: v };
        st.runs.set(key, { cur, best: { ...cur } });
        continue;
      }
      if (r.cur.start + r.cur.length === k) {
        r.cur.length++;
        r.cur.most = Math.max(r.cur.most, v);
      } else r.cur = { start: k, length: 1, most: v };
      if (r.cur.length > r.best.length) r.best = { ...r.cur };
    }
  },
  check(st, tables, t) {
    const out: RuleHint[] = [];
    for (const s of tables.sockets) {
      // a listener's Recv-Q is its accept queue (listen-overflows), not data waiting to be read
      if (s.state === 'LISTEN') continue;
      const run = st.runs.get(recvQKey(s.id))?.best;
      if (!run || run.length < HINT_LIMITS.recvQRun) continue;
      let cmp = compared.get(run);
      if (!cmp) {
        cmp = readDelay(st.p99, t, run);
        compared.set(run, cmp);
      }
      const { a, b } = cmp;
      if (a === undefined || b === undefined || !(a >= HINT_LIMITS.rise * b)) continue;
      out.push({
        rule: 'socket-recvq-high',
        title: `${socketLabel(s)} keeps up to ${formatBytes(run.most)} in its Recv-Q for ${plural(run.length, 'interval')} while sock_enqueue→app_read p99 grows to ${formatNs(a)} (from ${formatNs(b)})`,
        detail: `The application reads slower than data arrives, so packets wait in the socket's queue before the read${s.rcvbuf !== undefined ? ` (receive buffer ${formatBytes(s.rcvbuf)}` + (s.drops_seen ? `, ${plural(s.drops_seen, 'drop')} while listed)` : ')') : ''}. Look at what the reading thread does between reads (CPU, locks, blocking calls).`,
        intervals: t.slice(run.start, run.start + run.length),
      });
    }
    return out;
  },
};

/** By interface (ifaceId): the intervals in which its statistics' or driver's drop counters
 *  moved. An event counter names its interface first ("eth0 rx_missed_errors", "eth0 driver
 *  rx_queue_0_drops"; interface names hold no space). */
const nicDrops: HintRule<Map<string, number[]>> = {
  name: 'nic-drops',
  what: "packets dropped at the NIC: the interface's drop statistics or the driver's drop counters",
  start: () => new Map(),
  add(st, iv, k) {
    for (const e of iv.host.events.values()) {
      if (e.kind !== 'drop' || e.counter.includes(' qdisc ')) continue;
      const sp = e.counter.indexOf(' ');
      if (sp > 0) hit(st, e.counter.slice(0, sp), k);
    }
  },
  check(st, tables, t) {
    const out: RuleHint[] = [];
    for (const i of tables.ifaces) {
      const moved = [
        ...Object.entries(i.stats).filter(([k, v]) => v > 0 && eventKindOf('stats', k)).map(([k, v]) => `${k} ${formatCount(v)}`),
        ...Object.entries(i.driver).filter(([k, v]) => v > 0 && eventKindOf('driver', k)).map(([k, v]) => `driver ${k} ${formatCount(v)}`),
      ];
      if (!moved.length) continue;
      const r = i.config?.rings;
      const ring = r?.rx !== undefined && r.rx_max !== undefined ? (r.rx < r.rx_max ? ` Its RX ring holds ${r.rx} of at most ${r.rx_max} descriptors: a larger one (ethtool -G ${i.name} rx ${r.rx_max}) absorbs longer bursts.` : ` Its RX ring is at its maximum (${r.rx}).`) : '';
      out.push({
        rule: 'nic-drops',
        title: `${i.id}${i.config?.driver ? ` (${i.config.driver})` : ''} drops packets at the interface: ${moved.join(', ')}`,
        detail: `rx_missed_errors and fifo errors mean the NIC found no free buffer in its ring; rx_dropped counts packets the stack dropped right after the driver (no memory, a full backlog, no handler); the driver's own counters say which queue.${ring}`,
        intervals: times(t, st.get(i.id)),
      });
    }
    return out;
  },
};

/** By event counter ("veth0 qdisc tbf 1: drops"): the intervals in which a qdisc dropped. */
const qdiscDrops: HintRule<Map<string, number[]>> = {
  name: 'qdisc-drops',
  what: 'a qdisc dropping packets (its limit reached)',
  start: () => new Map(),
  add(st, iv, k) {
    for (const e of iv.host.events.keys()) if (e.includes(' qdisc ') && e.endsWith(' drops')) hit(st, e, k);
  },
  check(st, tables, t) {
    const out: RuleHint[] = [];
    for (const i of tables.ifaces) {
      for (const q of i.qdiscs) {
        if (!(q.drops > 0)) continue;
        const name = `${i.id} ${qdiscLabel(q)} drops`;
        out.push({
          rule: 'qdisc-drops',
          title: `${i.id} ${qdiscLabel(q)} (${q.parent}) dropped ${plural(q.drops, 'packet')} (${formatRate(tables.duration_s > 0 ? q.drops / tables.duration_s : 0)})`,
          detail: `It sent ${plural(q.sent_packets, 'packet')} (overlimits ${formatCount(q.overlimits)}: times it held packets back)${q.backlog_max_packets > 0 ? `; its backlog held up to ${plural(q.backlog_max_packets, 'packet')} at a snapshot` : ''}. Packets that arrive faster than it lets them out wait in its queue, and beyond its limit it drops them; the wait shows in the TX stage net_dev_queue→net_dev_start_xmit.`,
          intervals: times(t, st.get(name)),
        });
      }
    }
    return out;
  },
};

/** One CPU: the intervals it spent at least HINT_LIMITS.softirqSaturated of in softirq, its
 *  largest share in them, and its NET_RX delay p99 in them against the others. */
interface CpuSoftirq {
  saturated: number[];
  peak: number;
  traced: boolean;
  delay: P99Against;
}

const softirqSaturated: HintRule<Map<number, CpuSoftirq>> = {
  name: 'softirq-saturated-cpu',
  what: 'a CPU saturated by softirq (its share of the CPU time) while softirq delay grows there',
  start: () => new Map(),
  add(st, iv, k, earlier) {
    const take = (c: CpuSoftirq, cpu: number, x: HintInterval, j: number) => {
      const time = x.host.cpu.get(cpu);
      const share = time ? softirqShare(time) ?? 0 : 0;
      const p99 = x.p99(netRxDelayOnCpu(cpu));
      if (p99 !== undefined) c.traced = true;
      const sat = share >= HINT_LIMITS.softirqSaturated;
      if (sat) {
        c.saturated.push(j);
        c.peak = Math.max(c.peak, share);
      }
      c.delay.add(p99, sat);
    };
    // a CPU first sampled now was in none of the earlier intervals: not saturated there
    for (const cpu of iv.host.cpu.keys()) {
      if (st.has(cpu)) continue;
      const c: CpuSoftirq = { saturated: [], peak: 0, traced: false, delay: new P99Against() };
      earlier.forEach((x, j) => take(c, cpu, x, j));
      st.set(cpu, c);
    }
    for (const [cpu, c] of st) take(c, cpu, iv, k);
  },
  check(st, tables, t) {
    const out: RuleHint[] = [];
    for (const c of tables.cpus) {
      const s = st.get(c.cpu);
      if (!s?.saturated.length) continue;
      const cmp = s.delay.medians();
      if (s.traced && (!cmp || !(cmp.a >= HINT_LIMITS.rise * cmp.b))) continue;
      out.push({
        rule: 'softirq-saturated-cpu',
        title: cmp
          ? `CPU ${c.cpu} spends up to ${formatPercent(s.peak)} of its time in softirq, and its NET_RX raise→run delay p99 is ${formatNs(cmp.a)} then, against ${formatNs(cmp.b)} otherwise`
          : `CPU ${c.cpu} spends up to ${formatPercent(s.peak)} of its time in softirq (the NET_RX delay was not traced: add the irq stage)`,
        detail: `${plural(s.saturated.length, 'interval')} at or above ${formatPercent(HINT_LIMITS.softirqSaturated)} softirq on CPU ${c.cpu} (${formatPercent(c.time.softirq)} over the session; NET_RX ran ${formatCount(c.softirqs.NET_RX ?? 0)} times, NET_TX ${formatCount(c.softirqs.NET_TX ?? 0)}). Softirqs queue behind each other on a saturated CPU; spread the IRQs and receive work over more CPUs (affinity, RPS/RFS, more queues).`,
        intervals: times(t, s.saturated),
      });
    }
    return out;
  },
};

const tcpRetransmits: HintRule<number[]> = {
  name: 'tcp-retransmits',
  what: 'TCP retransmits moving (Tcp.RetransSegs)',
  ...movedIn(HOST_TOTAL_KEYS.retrans),
  check(when, tables, t) {
    const total = snmpTotal(tables, 'Tcp.RetransSegs');
    if (!(total > 0)) return [];
    const out = snmpTotal(tables, 'Tcp.OutSegs');
    const socks = tables.sockets.filter((s) => s.tcp && (s.tcp.retrans > 0 || s.tcp.lost > 0)).slice(0, 5);
    return [
      {
        rule: 'tcp-retransmits',
        title: `TCP retransmitted ${plural(total, 'segment')}${out > 0 ? ` (${formatPercent(total / out)} of ${formatCount(out)} sent)` : ''} in ${plural(when.length, 'interval')}`,
        detail: `A retransmit waits for a timeout or for duplicate ACKs, so it adds at least a round trip to the data it carries.${socks.length ? ` Sockets retransmitting: ${socks.map((s) => `${socketLabel(s)} (rtt ${formatNs((s.tcp?.rtt_us ?? 0) * 1000)}, cwnd ${s.tcp?.cwnd}, retransmits ${s.tcp?.retrans}, lost ${s.tcp?.lost})`).join('; ')}.` : ''} Look for drops on the path (the qdisc, the NIC, the peer's receive queue).`,
        intervals: times(t, when),
      },
    ];
  },
};

const listenOverflows: HintRule<number[]> = {
  name: 'listen-overflows',
  what: 'listen queue overflows (TcpExt.ListenOverflows, ListenDrops)',
  start: () => [],
  add(when, iv, k) {
    if (iv.host.events.has('TcpExt.ListenOverflows') || iv.host.events.has('TcpExt.ListenDrops')) when.push(k);
  },
  check(when, tables, t) {
    const overflows = snmpTotal(tables, 'TcpExt.ListenOverflows');
    const drops = snmpTotal(tables, 'TcpExt.ListenDrops');
    if (!(overflows > 0 || drops > 0)) return [];
    const full = tables.sockets.filter((s) => s.state === 'LISTEN' && s.recv_q_max > 0).slice(0, 5);
    return [
      {
        rule: 'listen-overflows',
        title: `Listeners dropped ${plural(Math.max(overflows, drops), 'connection attempt')} (ListenOverflows ${formatCount(overflows)}, ListenDrops ${formatCount(drops)})`,
        detail: `The accept queue was full: the application accepts slower than connections arrive, and each dropped SYN costs the client a retransmit timeout (1 s and more).${full.length ? ` Listeners with a queue: ${full.map((s) => `${socketLabel(s)} up to ${s.recv_q_max} of ${s.send_q} waiting`).join('; ')}.` : ''} Accept faster, or raise the listen backlog (and net.core.somaxconn).`,
        intervals: times(t, when),
      },
    ];
  },
};

const udpRcvbufErrors: HintRule<number[]> = {
  name: 'udp-rcvbuf-errors',
  what: 'UDP datagrams dropped because a receive buffer was full (Udp.RcvbufErrors)',
  ...movedIn(HOST_TOTAL_KEYS.rcvbuf_errors),
  check(when, tables, t) {
    const total = tables.snmp.filter((r) => /^Udp(Lite)?6?\.RcvbufErrors$/.test(r.name)).reduce((a, r) => a + r.total, 0);
    if (!(total > 0)) return [];
    const suspects: HostSocketRow[] = tables.sockets.filter((s) => s.proto === 'udp' && (s.recv_q_max > 0 || s.drops_seen > 0)).slice(0, 5);
    return [
      {
        rule: 'udp-rcvbuf-errors',
        title: `${plural(total, 'UDP datagram')} dropped: a receive buffer was full (RcvbufErrors) in ${plural(when.length, 'interval')}`,
        detail: `${suspects.length ? `Sockets with data waiting: ${suspects.map((s) => `${socketLabel(s)}: Recv-Q up to ${formatBytes(s.recv_q_max)}${s.rcvbuf !== undefined ? ` of ${formatBytes(s.rcvbuf)}` : ''}${s.drops_seen ? `, ${plural(s.drops_seen, 'drop')}` : ''}`).join('; ')}. ` : ''}The reader does not keep up (or has stopped): datagrams wait in the queue until it is full, then the kernel drops them. Read faster, or give the socket a larger buffer (SO_RCVBUF, net.core.rmem_max).`,
        intervals: times(t, when),
      },
    ];
  },
};

/** Every rule, in the order hints are listed. */
export const HINT_RULES: readonly HintRule[] = [nicDrops, qdiscDrops, nicIrqsOneCpu, softirqSaturated, netRxDelaySqueeze, socketRecvQ, udpRcvbufErrors, listenOverflows, tcpRetransmits];

// ------------------------------------------------------------------ the rules' states

/** Every rule's state over a list of intervals, taken one at a time (oldest first). */
export class HintIndex {
  /** The end (t_ms) of each interval taken, oldest first. */
  readonly t: number[] = [];
  private readonly intervals: HintInterval[] = [];
  private readonly states = HINT_RULES.map((r) => r.start());

  /** Every rule's state over `intervals`. */
  static of(intervals: readonly HintInterval[]): HintIndex {
    const index = new HintIndex();
    for (const iv of intervals) index.add(iv);
    return index;
  }

  get length(): number {
    return this.t.length;
  }

  /** Takes the next interval (newer than every one taken). */
  add(iv: HintInterval): void {
    const k = this.t.length;
    this.t.push(iv.t_ms);
    HINT_RULES.forEach((r, j) => r.add(this.states[j], iv, k, this.intervals));
    this.intervals.push(iv);
  }

  /** One rule's hints, each with every interval that shows it. */
  check(rule: HintRule, tables: HostTables): RuleHint[] {
    const j = HINT_RULES.indexOf(rule);
    if (j < 0) throw new Error(`${rule.name} is not in HINT_RULES`);
    return rule.check(this.states[j], tables, this.t);
  }

  /** Every rule's hints, each with the newest HINT_MAX_INTERVALS of its intervals and their count. */
  hints(tables: HostTables): Hint[] {
    return HINT_RULES.flatMap((r) => this.check(r, tables)).map((h) => ({ ...h, intervals: h.intervals.slice(-HINT_MAX_INTERVALS), interval_count: h.intervals.length }));
  }
}

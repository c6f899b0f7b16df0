/**
 * Hints: named rules that find, in the host's counters and the stages of the same intervals, a
 * reason for a latency or loss pattern. Each rule is a pure function of HintInput (the intervals
 * with their host figures and stage percentiles, and the session's host tables) and returns the
 * hints it finds, none when its pattern is absent. Every view shows them: the CLI report, the
 * JSON document and the panel's Host tab.
 */
import { HINT_MAX_INTERVALS, type Hint, type HostIrqRow, type HostSocketRow } from './protocol.ts';
import { type HostTables, type IntervalHost, eventKindOf, qdiscLabel, socketLabel, softirqShare } from './host.ts';
import { HOST_TOTAL_KEYS, nicIrqsKey, recvQKey } from './host-keys.ts';
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

export interface HintInput {
  /** The intervals that carry host figures, oldest first. */
  intervals: readonly HintInterval[];
  tables: HostTables;
}

export interface HintRule {
  /** The rule's name, as hints carry it. */
  name: string;
  /** What it looks for, in words. */
  what: string;
  /** Its hints, each with every interval that shows it (hostHints keeps the newest). */
  check(input: HintInput): Array<Omit<Hint, 'interval_count'>>;
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

function median(values: readonly number[]): number | undefined {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function defined<T>(v: T | undefined): v is T {
  return v !== undefined;
}

/** Median p99 of `key` over `inside` intervals against the others; undefined when either side has
 *  no packets. */
function p99Against(intervals: readonly HintInterval[], inside: ReadonlySet<HintInterval>, key: string): { a: number; b: number } | undefined {
  const a = median(intervals.filter((iv) => inside.has(iv)).map((iv) => iv.p99(key)).filter(defined));
  const b = median(intervals.filter((iv) => !inside.has(iv)).map((iv) => iv.p99(key)).filter(defined));
  return a === undefined || b === undefined ? undefined : { a, b };
}

const counter = (iv: HintInterval, key: string): number => iv.host.counters.get(key) ?? 0;
const times = (ivs: readonly HintInterval[]): number[] => ivs.map((iv) => iv.t_ms);
const snmpTotal = (t: HostTables, name: string): number => t.snmp.find((r) => r.name === name)?.total ?? 0;
const plural = (n: number, one: string, many = `${one}s`): string => `${formatCount(n)} ${n === 1 ? one : many}`;

// ------------------------------------------------------------------ the rules

const netRxDelaySqueeze: HintRule = {
  name: 'netrx-delay-squeeze',
  what: 'NET_RX softirq raise→run delay p99 rising while softnet time_squeeze moves',
  check({ intervals, tables }) {
    const squeezed = intervals.filter((iv) => counter(iv, HOST_TOTAL_KEYS.time_squeeze) > 0);
    if (!squeezed.length) return [];
    const cmp = p99Against(intervals, new Set(squeezed), NET_RX_DELAY);
    if (!cmp || !(cmp.a >= HINT_LIMITS.rise * cmp.b)) return [];
    const total = squeezed.reduce((a, iv) => a + counter(iv, HOST_TOTAL_KEYS.time_squeeze), 0);
    const cpus = tables.cpus.filter((c) => c.softnet.time_squeeze > 0).map((c) => `CPU ${c.cpu} ${formatCount(c.softnet.time_squeeze)}`);
    return [
      {
        rule: 'netrx-delay-squeeze',
        title: `NET_RX softirq raise→run delay p99 is ${formatNs(cmp.a)} in the ${plural(squeezed.length, 'interval')} where time_squeeze moved, against ${formatNs(cmp.b)} in the others`,
        detail: `softnet time_squeeze counted ${plural(total, 'squeeze')} (${cpus.join(', ')}): NAPI polls ran out of budget or time and left packets for a later NET_RX run, which waits. Raise net.core.netdev_budget / netdev_budget_usecs, or spread the receive work (more queues, RPS).`,
        intervals: times(squeezed),
      },
    ];
  },
};

const nicIrqsOneCpu: HintRule = {
  name: 'nic-irqs-one-cpu',
  what: "all of a NIC's IRQ lines landing on one CPU (actual counts, with their affinity)",
  check({ intervals, tables }) {
    if (tables.cpus.length < 2) return [];
    const byNic = new Map<string, HostIrqRow[]>();
    for (const q of tables.irqs) {
      if (!q.queue || !(q.total > 0)) continue;
      const nic = q.queue.iface ?? q.queue.device;
      byNic.set(nic, [...(byNic.get(nic) ?? []), q]);
    }
    const out: Array<Omit<Hint, 'interval_count'>> = [];
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
        intervals: times(intervals.filter((iv) => counter(iv, nicIrqsKey(top)) > 0)),
      });
    }
    return out;
  },
};

/** The longest run of consecutive intervals in which `key`'s gauge is above zero. */
function longestRun(intervals: readonly HintInterval[], key: string): HintInterval[] {
  let best: HintInterval[] = [];
  let cur: HintInterval[] = [];
  for (const iv of intervals) {
    if ((iv.host.gauges.get(key) ?? 0) > 0) {
      cur.push(iv);
      if (cur.length > best.length) best = cur;
    } else cur = [];
  }
  return best;
}

const socketRecvQ: HintRule = {
  name: 'socket-recvq-high',
  what: 'a socket whose Recv-Q stays non-empty while sock_enqueue→app_read p99 grows',
  check({ intervals, tables }) {
    const out: Array<Omit<Hint, 'interval_count'>> = [];
    for (const s of tables.sockets) {
      // a listener's Recv-Q is its accept queue (listen-overflows), not data waiting to be read
      if (s.state === 'LISTEN') continue;
      const run = longestRun(intervals, recvQKey(s.id));
      if (run.length < HINT_LIMITS.recvQRun) continue;
      const inRun = run.map((iv) => iv.p99(SOCK_TO_APP)).filter(defined);
      const before = intervals.filter((iv) => iv.t_ms < run[0]!.t_ms).map((iv) => iv.p99(SOCK_TO_APP)).filter(defined);
      // Against the intervals before the queue filled; without those, the run's last third
      // against its first.
      let a: number | undefined;
      let b: number | undefined;
      if (before.length) {
        a = median(inRun);
        b = median(before);
      } else if (inRun.length >= 3) {
        const third = Math.max(1, Math.floor(inRun.length / 3));
        a = median(inRun.slice(-third));
        b = median(inRun.slice(0, third));
      }
      if (a === undefined || b === undefined || !(a >= HINT_LIMITS.rise * b)) continue;
      const most = Math.max(...run.map((iv) => iv.host.gauges.get(recvQKey(s.id)) ?? 0));
      out.push({
        rule: 'socket-recvq-high',
        title: `${socketLabel(s)} keeps up to ${formatBytes(most)} in its Recv-Q for ${plural(run.length, 'interval')} while sock_enqueue→app_read p99 grows to ${formatNs(a)} (from ${formatNs(b)})`,
        detail: `The application reads slower than data arrives, so packets wait in the socket's queue before the read${s.rcvbuf !== undefined ? ` (receive buffer ${formatBytes(s.rcvbuf)}` + (s.drops_seen ? `, ${plural(s.drops_seen, 'drop')} while listed)` : ')') : ''}. Look at what the reading thread does between reads (CPU, locks, blocking calls).`,
        intervals: times(run),
      });
    }
    return out;
  },
};

const nicDrops: HintRule = {
  name: 'nic-drops',
  what: "packets dropped at the NIC: the interface's drop statistics or the driver's drop counters",
  check({ intervals, tables }) {
    const out: Array<Omit<Hint, 'interval_count'>> = [];
    for (const i of tables.ifaces) {
      const moved = [
        ...Object.entries(i.stats).filter(([k, v]) => v > 0 && eventKindOf('stats', k)).map(([k, v]) => `${k} ${formatCount(v)}`),
        ...Object.entries(i.driver).filter(([k, v]) => v > 0 && eventKindOf('driver', k)).map(([k, v]) => `driver ${k} ${formatCount(v)}`),
      ];
      if (!moved.length) continue;
      const r = i.config?.rings;
      const ring = r?.rx !== undefined && r.rx_max !== undefined ? (r.rx < r.rx_max ? ` Its RX ring holds ${r.rx} of at most ${r.rx_max} descriptors: a larger one (ethtool -G ${i.name} rx ${r.rx_max}) absorbs longer bursts.` : ` Its RX ring is at its maximum (${r.rx}).`) : '';
      const prefix = `${i.id} `;
      const when = intervals.filter((iv) => [...iv.host.events.values()].some((e) => e.kind === 'drop' && e.counter.startsWith(prefix) && !e.counter.includes(' qdisc ')));
      out.push({
        rule: 'nic-drops',
        title: `${i.id}${i.config?.driver ? ` (${i.config.driver})` : ''} drops packets at the interface: ${moved.join(', ')}`,
        detail: `rx_missed_errors and fifo errors mean the NIC found no free buffer in its ring; rx_dropped counts packets the stack dropped right after the driver (no memory, a full backlog, no handler); the driver's own counters say which queue.${ring}`,
        intervals: times(when),
      });
    }
    return out;
  },
};

const qdiscDrops: HintRule = {
  name: 'qdisc-drops',
  what: 'a qdisc dropping packets (its limit reached)',
  check({ intervals, tables }) {
    const out: Array<Omit<Hint, 'interval_count'>> = [];
    for (const i of tables.ifaces) {
      for (const q of i.qdiscs) {
        if (!(q.drops > 0)) continue;
        const name = `${i.id} ${qdiscLabel(q)} drops`;
        const when = intervals.filter((iv) => iv.host.events.has(name));
        out.push({
          rule: 'qdisc-drops',
          title: `${i.id} ${qdiscLabel(q)} (${q.parent}) dropped ${plural(q.drops, 'packet')} (${formatRate(tables.duration_s > 0 ? q.drops / tables.duration_s : 0)})`,
          detail: `It sent ${plural(q.sent_packets, 'packet')} (overlimits ${formatCount(q.overlimits)}: times it held packets back)${q.backlog_max_packets > 0 ? `; its backlog held up to ${plural(q.backlog_max_packets, 'packet')} at a snapshot` : ''}. Packets that arrive faster than it lets them out wait in its queue, and beyond its limit it drops them; the wait shows in the TX stage net_dev_queue→net_dev_start_xmit.`,
          intervals: times(when),
        });
      }
    }
    return out;
  },
};

const softirqSaturated: HintRule = {
  name: 'softirq-saturated-cpu',
  what: 'a CPU saturated by softirq (its share of the CPU time) while softirq delay grows there',
  check({ intervals, tables }) {
    const out: Array<Omit<Hint, 'interval_count'>> = [];
    for (const c of tables.cpus) {
      const share = (iv: HintInterval) => {
        const t = iv.host.cpu.get(c.cpu);
        return t ? softirqShare(t) ?? 0 : 0;
      };
      const sat = intervals.filter((iv) => share(iv) >= HINT_LIMITS.softirqSaturated);
      if (!sat.length) continue;
      const key = netRxDelayOnCpu(c.cpu);
      const traced = intervals.some((iv) => iv.p99(key) !== undefined);
      const cmp = p99Against(intervals, new Set(sat), key);
      if (traced && (!cmp || !(cmp.a >= HINT_LIMITS.rise * cmp.b))) continue;
      const peak = Math.max(...sat.map(share));
      out.push({
        rule: 'softirq-saturated-cpu',
        title: cmp
          ? `CPU ${c.cpu} spends up to ${formatPercent(peak)} of its time in softirq, and its NET_RX raise→run delay p99 is ${formatNs(cmp.a)} then, against ${formatNs(cmp.b)} otherwise`
          : `CPU ${c.cpu} spends up to ${formatPercent(peak)} of its time in softirq (the NET_RX delay was not traced: add the irq stage)`,
        detail: `${plural(sat.length, 'interval')} at or above ${formatPercent(HINT_LIMITS.softirqSaturated)} softirq on CPU ${c.cpu} (${formatPercent(c.time.softirq)} over the session; NET_RX ran ${formatCount(c.softirqs.NET_RX ?? 0)} times, NET_TX ${formatCount(c.softirqs.NET_TX ?? 0)}). Softirqs queue behind each other on a saturated CPU; spread the IRQs and receive work over more CPUs (affinity, RPS/RFS, more queues).`,
        intervals: times(sat),
      });
    }
    return out;
  },
};

const tcpRetransmits: HintRule = {
  name: 'tcp-retransmits',
  what: 'TCP retransmits moving (Tcp.RetransSegs)',
  check({ intervals, tables }) {
    const total = snmpTotal(tables, 'Tcp.RetransSegs');
    if (!(total > 0)) return [];
    const out = snmpTotal(tables, 'Tcp.OutSegs');
    const when = intervals.filter((iv) => counter(iv, HOST_TOTAL_KEYS.retrans) > 0);
    const socks = tables.sockets.filter((s) => s.tcp && (s.tcp.retrans > 0 || s.tcp.lost > 0)).slice(0, 5);
    return [
      {
        rule: 'tcp-retransmits',
        title: `TCP retransmitted ${plural(total, 'segment')}${out > 0 ? ` (${formatPercent(total / out)} of ${formatCount(out)} sent)` : ''} in ${plural(when.length, 'interval')}`,
        detail: `A retransmit waits for a timeout or for duplicate ACKs, so it adds at least a round trip to the data it carries.${socks.length ? ` Sockets retransmitting: ${socks.map((s) => `${socketLabel(s)} (rtt ${formatNs((s.tcp?.rtt_us ?? 0) * 1000)}, cwnd ${s.tcp?.cwnd}, retransmits ${s.tcp?.retrans}, lost ${s.tcp?.lost})`).join('; ')}.` : ''} Look for drops on the path (the qdisc, the NIC, the peer's receive queue).`,
        intervals: times(when),
      },
    ];
  },
};

const listenOverflows: HintRule = {
  name: 'listen-overflows',
  what: 'listen queue overflows (TcpExt.ListenOverflows, ListenDrops)',
  check({ intervals, tables }) {
    const overflows = snmpTotal(tables, 'TcpExt.ListenOverflows');
    const drops = snmpTotal(tables, 'TcpExt.ListenDrops');
    if (!(overflows > 0 || drops > 0)) return [];
    const when = intervals.filter((iv) => iv.host.events.has('TcpExt.ListenOverflows') || iv.host.events.has('TcpExt.ListenDrops'));
    const full = tables.sockets.filter((s) => s.state === 'LISTEN' && s.recv_q_max > 0).slice(0, 5);
    return [
      {
        rule: 'listen-overflows',
        title: `Listeners dropped ${plural(Math.max(overflows, drops), 'connection attempt')} (ListenOverflows ${formatCount(overflows)}, ListenDrops ${formatCount(drops)})`,
        detail: `The accept queue was full: the application accepts slower than connections arrive, and each dropped SYN costs the client a retransmit timeout (1 s and more).${full.length ? ` Listeners with a queue: ${full.map((s) => `${socketLabel(s)} up to ${s.recv_q_max} of ${s.send_q} waiting`).join('; ')}.` : ''} Accept faster, or raise the listen backlog (and net.core.somaxconn).`,
        intervals: times(when),
      },
    ];
  },
};

const udpRcvbufErrors: HintRule = {
  name: 'udp-rcvbuf-errors',
  what: 'UDP datagrams dropped because a receive buffer was full (Udp.RcvbufErrors)',
  check({ intervals, tables }) {
    const total = tables.snmp.filter((r) => /^Udp(Lite)?6?\.RcvbufErrors$/.test(r.name)).reduce((a, r) => a + r.total, 0);
    if (!(total > 0)) return [];
    const when = intervals.filter((iv) => counter(iv, HOST_TOTAL_KEYS.rcvbuf_errors) > 0);
    const suspects: HostSocketRow[] = tables.sockets.filter((s) => s.proto === 'udp' && (s.recv_q_max > 0 || s.drops_seen > 0)).slice(0, 5);
    return [
      {
        rule: 'udp-rcvbuf-errors',
        title: `${plural(total, 'UDP datagram')} dropped: a receive buffer was full (RcvbufErrors) in ${plural(when.length, 'interval')}`,
        detail: `${suspects.length ? `Sockets with data waiting: ${suspects.map((s) => `${socketLabel(s)}: Recv-Q up to ${formatBytes(s.recv_q_max)}${s.rcvbuf !== undefined ? ` of ${formatBytes(s.rcvbuf)}` : ''}${s.drops_seen ? `, ${plural(s.drops_seen, 'drop')}` : ''}`).join('; ')}. ` : ''}The reader does not keep up (or has stopped): datagrams wait in the queue until it is full, then the kernel drops them. Read faster, or give the socket a larger buffer (SO_RCVBUF, net.core.rmem_max).`,
        intervals: times(when),
      },
    ];
  },
};

/** Every rule, in the order hints are listed. */
export const HINT_RULES: readonly HintRule[] = [nicDrops, qdiscDrops, nicIrqsOneCpu, softirqSaturated, netRxDelaySqueeze, socketRecvQ, udpRcvbufErrors, listenOverflows, tcpRetransmits];

/** Every rule's hints, each with the newest HINT_MAX_INTERVALS of its intervals and their count. */
export function hostHints(input: HintInput): Hint[] {
  return HINT_RULES.flatMap((r) => r.check(input)).map((h) => ({ ...h, intervals: h.intervals.slice(-HINT_MAX_INTERVALS), interval_count: h.intervals.length }));
}

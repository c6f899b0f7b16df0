/**
 * Host counters: the helper's HostSample of each snapshot in (protocol.ts), the host's figures of
 * that interval and the session's tables out. Pure logic, no I/O.
 *
 *  - Per interval (IntervalHost, kept on the Accumulator's interval of the same snapshot, so it
 *    has the same t_ms as the stages and is compacted with them): the series the time charts
 *    draw (host-keys.ts), each CPU's time split, and the event counters that moved: drops,
 *    softnet time_squeeze, TCP retransmits, queue overflows (eventKindOf says which counter is
 *    which).
 *  - Over the session (HostTables): totals and mean rates of every counter that moved, the
 *    latest configuration of each interface and IRQ line, the sockets listed with their queues at
 *    most, what the helper could not read.
 *
 *  - As running totals (HostTotals, read only): what the OpenMetrics exposition of `nslat serve`
 *    writes, counters that only grow across probe reloads and helper restarts.
 *
 * Memory is bounded like the stage series: at most HostLimits interfaces, IRQ lines and sockets
 * (the one seen longest ago makes room, and is counted in `overflow`; when every one was in the
 * last sample, the new one is counted and dropped) and counter names per table; with
 * `staleSamples`, an interface, IRQ line or socket not named for that many samples is forgotten
 * (a long-running agent: containers come and go with their veth interfaces). An interval holds only
 * what moved in it, so its size is O(interfaces + CPUs + listed sockets + counters that moved).
 */
import {
  SOFTIRQ_VECTORS,
  type HostCounterRow,
  type HostCpu,
  type HostCpuRow,
  type HostEventCounter,
  type HostEventKind,
  type HostIface,
  type HostIfaceConfig,
  type HostIfaceRow,
  type HostIrq,
  type HostIrqRow,
  type HostPoint,
  type HostQdiscRow,
  type HostSample,
  type HostSocket,
  type HostSocketRow,
  type HostSummary,
} from './protocol.ts';
import { HOST_TOTAL_KEYS, dropsKey, nicIrqsKey, recvQKey, rxPacketsKey, softirqShareKey, txPacketsKey } from './host-keys.ts';

export interface HostLimits {
  ifaces: number;
  irqs: number;
  sockets: number;
  /** Distinct counter names per table: one interface's statistics, its driver counters, the
   *  protocol counters. */
  counters: number;
  /** Qdiscs per interface. */
  qdiscs: number;
  errors: number;
  /** Samples after which an interface, IRQ line or socket not named again is forgotten; 0: never
   *  (a session's tables keep everything they saw, within the limits above). */
  staleSamples: number;
}

export const HOST_LIMITS: Readonly<HostLimits> = {
  ifaces: 256,
  irqs: 1024,
  sockets: 256,
  counters: 1024,
  qdiscs: 64,
  errors: 64,
  staleSamples: 0,
};

/** The protocol counters every table shows, moved or not (the ones that explain latency and
 *  loss most often, as `netstat -s` names them). */
export const KEY_SNMP = [
  'Tcp.RetransSegs',
  'Tcp.InErrs',
  'TcpExt.ListenOverflows',
  'TcpExt.ListenDrops',
  'TcpExt.TCPBacklogDrop',
  'TcpExt.TCPRcvQDrop',
  'Udp.InErrors',
  'Udp.RcvbufErrors',
  'Udp.SndbufErrors',
  'Udp.InCsumErrors',
  'Ip.InDiscards',
] as const;

/** CPU time of one CPU in one interval (ns), as /proc/stat splits it. */
export type CpuTime = HostCpu['time_ns'];

/** The host's figures of one interval. */
export interface IntervalHost {
  /** Counter series (host-keys.ts): the interval's delta, only those that moved. Summed on merge. */
  counters: Map<string, number>;
  /** Queue lengths: the largest seen. The largest on merge. */
  gauges: Map<string, number>;
  /** Each CPU's time in the interval. Summed on merge. */
  cpu: Map<number, CpuTime>;
  /** Event counters that moved, by their name (HostEventCounter.counter). Summed on merge. */
  events: Map<string, HostEventCounter>;
}

// ------------------------------------------------------------------ which counters are events

const IFACE_DROP = new Set(['rx_dropped', 'tx_dropped', 'rx_missed_errors', 'rx_fifo_errors', 'rx_over_errors', 'tx_fifo_errors']);
/** Statistics counted in an interface's `drops` (ip -s link's "dropped" and "missed"; qdisc
 *  drops are added apart). */
const IFACE_DROP_TOTAL = new Set(['rx_dropped', 'tx_dropped', 'rx_missed_errors']);
const DRIVER_DROP = /drop|discard|miss|no_?buf|fifo|overrun|alloc_fail|_full/i;
const UDP_GROUPS = new Set(['Udp', 'Udp6', 'UdpLite', 'UdpLite6']);

/** The event kind of a counter, or undefined for a counter that is not an event. `source` says
 *  where it comes from: interface statistics, driver (`ethtool -S`), qdisc, softnet_stat or a
 *  protocol counter ("Group.Name"). */
export function eventKindOf(source: 'stats' | 'driver' | 'qdisc' | 'softnet' | 'snmp' | 'socket', name: string): HostEventKind | undefined {
  switch (source) {
    case 'stats':
      return IFACE_DROP.has(name) ? 'drop' : undefined;
    case 'driver':
      return DRIVER_DROP.test(name) ? 'drop' : undefined;
    case 'qdisc':
      return name === 'drops' ? 'drop' : undefined;
    case 'socket':
      return name === 'drops' ? 'drop' : undefined;
    case 'softnet':
      if (name === 'time_squeeze') return 'squeeze';
      return name === 'dropped' || name === 'flow_limit' ? 'drop' : undefined;
    case 'snmp': {
      const dot = name.indexOf('.');
      const group = name.slice(0, dot);
      const n = name.slice(dot + 1);
      if (group === 'Tcp') return n === 'RetransSegs' ? 'retransmit' : n === 'InErrs' || n === 'InCsumErrors' ? 'drop' : undefined;
      if (group === 'TcpExt') {
        if (/Retrans/.test(n)) return 'retransmit';
        if (/^Listen(Overflows|Drops)$|^TCPBacklogDrop$|^TCPRcvQDrop$|QFull.*Drop/.test(n)) return 'overflow';
        return /Drop/.test(n) ? 'drop' : undefined;
      }
      if (UDP_GROUPS.has(group)) return /^(Rcv|Snd)bufErrors$/.test(n) ? 'overflow' : /^(InErrors|InCsumErrors|MemErrors)$/.test(n) ? 'drop' : undefined;
      if (group === 'Ip' || group === 'Ip6') return /^(InDiscards|OutDiscards|InHdrErrors)$/.test(n) ? 'drop' : undefined;
      if (group === 'IpExt') return n === 'InCsumErrors' ? 'drop' : undefined;
      return undefined;
    }
  }
}

// ------------------------------------------------------------------ names

/** An interface as the tables name it: its name, "name@netns" outside the helper's namespace. */
export function ifaceId(i: { name: string; netns: number }): string {
  return i.netns ? `${i.name}@${i.netns}` : i.name;
}

/** A socket from one sample to the next: protocol and both ends (and its namespace). */
export function socketId(s: Pick<HostSocket, 'proto' | 'local' | 'remote' | 'netns'>): string {
  return `${s.proto} ${s.local} ${s.remote}${s.netns ? `@${s.netns}` : ''}`;
}

/** "udp 127.0.0.1:5000 (python3 4242)": a socket and the processes that hold it. */
export function socketLabel(s: Pick<HostSocket, 'proto' | 'local' | 'remote' | 'netns' | 'procs' | 'state'>): string {
  const who = s.procs.length ? ` (${s.procs.map((p) => `${p.comm} ${p.pid}`).join(', ')})` : '';
  const peer = s.state === 'LISTEN' || s.state === 'UNCONN' ? '' : ` → ${s.remote}`;
  return `${s.proto} ${s.local}${peer}${s.netns ? ` netns ${s.netns}` : ''}${who}`;
}

export function qdiscLabel(q: { kind: string; handle: string }): string {
  return `qdisc ${q.kind} ${q.handle}`;
}

// ------------------------------------------------------------------ intervals

export function emptyIntervalHost(): IntervalHost {
  return { counters: new Map(), gauges: new Map(), cpu: new Map(), events: new Map() };
}

const CPU_FIELDS = ['user', 'nice', 'system', 'irq', 'softirq', 'iowait', 'idle', 'steal'] as const;

function cpuTotal(t: CpuTime): number {
  let s = 0;
  for (const f of CPU_FIELDS) s += t[f];
  return s;
}

/** Two consecutive intervals as one (history compaction): counters, CPU time and events summed,
 *  queue lengths the larger. */
export function mergeIntervalHost(a: IntervalHost | undefined, b: IntervalHost | undefined): IntervalHost | undefined {
  if (!a) return b && cloneHost(b);
  if (!b) return cloneHost(a);
  const out = cloneHost(a);
  for (const [k, v] of b.counters) out.counters.set(k, (out.counters.get(k) ?? 0) + v);
  for (const [k, v] of b.gauges) out.gauges.set(k, Math.max(out.gauges.get(k) ?? 0, v));
  for (const [c, t] of b.cpu) {
    const cur = out.cpu.get(c);
    if (!cur) out.cpu.set(c, { ...t });
    else for (const f of CPU_FIELDS) cur[f] += t[f];
  }
  for (const [k, e] of b.events) {
    const cur = out.events.get(k);
    out.events.set(k, cur ? { ...cur, delta: cur.delta + e.delta } : { ...e });
  }
  return out;
}

function cloneHost(h: IntervalHost): IntervalHost {
  return {
    counters: new Map(h.counters),
    gauges: new Map(h.gauges),
    cpu: new Map([...h.cpu].map(([c, t]) => [c, { ...t }])),
    events: new Map([...h.events].map(([k, e]) => [k, { ...e }])),
  };
}

/** A CPU's share of the interval in softirq; undefined without time. */
export function softirqShare(t: CpuTime): number | undefined {
  const total = cpuTotal(t);
  return total > 0 ? t.softirq / total : undefined;
}

/** The interval as the panel gets it: every series value, CPU shares included; events in order
 *  of kind, then largest first. */
export function hostPoint(h: IntervalHost, dur_ms: number): HostPoint {
  const v: Record<string, number> = {};
  for (const [k, n] of h.counters) v[k] = n;
  for (const [k, n] of h.gauges) v[k] = n;
  for (const [c, t] of h.cpu) {
    const s = softirqShare(t);
    if (s !== undefined) v[softirqShareKey(c)] = s;
  }
  return { dur_ms, v, events: sortedEvents(h.events.values()) };
}

const KIND_RANK: Record<HostEventKind, number> = { drop: 0, overflow: 1, squeeze: 2, retransmit: 3 };

export function sortedEvents(events: Iterable<HostEventCounter>): HostEventCounter[] {
  return [...events].sort((a, b) => KIND_RANK[a.kind] - KIND_RANK[b.kind] || b.delta - a.delta || (a.counter < b.counter ? -1 : 1));
}

// ------------------------------------------------------------------ session tables and totals

/** An interface over the session. */
export interface IfaceTotals {
  readonly id: string;
  readonly name: string;
  readonly ifindex: number;
  readonly netns: number;
  /** The latest configuration the helper sent. */
  readonly config?: HostIfaceConfig;
  /** Totals of the statistics and driver counters that moved. */
  readonly stats: ReadonlyMap<string, number>;
  readonly driver: ReadonlyMap<string, number>;
  /** By "kind handle parent": counters as totals, the backlog as last seen and at most. */
  readonly qdiscs: ReadonlyMap<string, Readonly<HostQdiscRow>>;
}

/** A CPU over the session. */
export interface CpuTotals {
  readonly cpu: number;
  readonly softnet: Readonly<HostCpuRow['softnet']>;
  /** CPU time by mode (ns). */
  readonly time: Readonly<CpuTime>;
  /** Softirq runs by vector, in SOFTIRQ_VECTORS order. */
  readonly softirqs: readonly number[];
}

/** An IRQ line over the session. */
export interface IrqTotals {
  readonly irq: number;
  readonly name: string;
  readonly queue?: HostIrq['queue'];
  readonly affinity?: string;
  readonly effective_affinity?: string;
  /** Interrupts per CPU (index = CPU; 0 where it never fired). */
  readonly counts: readonly number[];
}

/** The running totals, read only (HostAccumulator.totals()): what the OpenMetrics exposition
 *  writes. They are the accumulator's own tables, not copies. */
export interface HostTotals {
  readonly samples: number;
  /** The helper's CPU time collecting the samples, summed (ns). */
  readonly costNs: number;
  /** What a full table did not keep (HostLimits). */
  readonly overflow: number;
  /** By ifaceId. */
  readonly ifaces: ReadonlyMap<string, IfaceTotals>;
  readonly cpus: ReadonlyMap<number, CpuTotals>;
  readonly irqs: ReadonlyMap<number, IrqTotals>;
  /** Totals of the protocol counters that moved ("Group.Name"). */
  readonly snmp: ReadonlyMap<string, number>;
  /** The sockets the last sample listed, as it listed them; none while no helper sends samples
   *  (clearGauges). */
  readonly sockets: readonly HostSocket[];
}

interface IfaceState extends IfaceTotals {
  ifindex: number;
  config?: HostIfaceConfig;
  stats: Map<string, number>;
  driver: Map<string, number>;
  qdiscs: Map<string, HostQdiscRow>;
  seen: number;
}

interface CpuState extends CpuTotals {
  softnet: HostCpuRow['softnet'];
  time: CpuTime;
  softirqMax: number;
  softirqs: number[];
}

interface IrqState extends IrqTotals {
  name: string;
  queue?: HostIrq['queue'];
  affinity?: string;
  effective_affinity?: string;
  counts: number[];
  seen: number;
}

interface SocketState {
  last: HostSocket;
  recv_q_max: number;
  send_q_max: number;
  samples: number;
  drops_seen: number;
  seen: number;
}

/** The session's host tables without hints (host-summary.ts adds them). */
export type HostTables = Omit<HostSummary, 'hints'>;

export class HostAccumulator {
  samples = 0;
  coveredNs = 0;
  private costSum = 0;
  private costMax = 0;
  overflow = 0;
  private readonly limits: Readonly<HostLimits>;
  /** A helper sends samples: the last one's gauges (socket queues) are current. */
  private live = false;
  private readonly ifaces = new Map<string, IfaceState>();
  private readonly cpus = new Map<number, CpuState>();
  private readonly irqs = new Map<number, IrqState>();
  private readonly sockets = new Map<string, SocketState>();
  private readonly snmp = new Map<string, number>();
  private readonly errors: string[] = [];
  private readonly errorSet = new Set<string>();

  constructor(limits: Partial<HostLimits> = {}) {
    this.limits = { ...HOST_LIMITS, ...limits };
  }

  /** Merges one sample covering `intervalNs`; returns the interval's figures. */
  ingest(sample: HostSample, intervalNs: number): IntervalHost {
    const iv = emptyIntervalHost();
    const n = ++this.samples;
    this.live = true;
    this.coveredNs += Number.isFinite(intervalNs) && intervalNs > 0 ? intervalNs : 0;
    if (Number.isFinite(sample.cost_ns)) {
      this.costSum += sample.cost_ns;
      this.costMax = Math.max(this.costMax, sample.cost_ns);
    }
    const count = (k: string, v: number) => {
      if (v > 0) iv.counters.set(k, (iv.counters.get(k) ?? 0) + v);
    };
    const event = (kind: HostEventKind | undefined, counter: string, delta: number) => {
      if (!kind || !(delta > 0)) return;
      const cur = iv.events.get(counter);
      iv.events.set(counter, { kind, counter, delta: (cur?.delta ?? 0) + delta });
    };

    for (const i of sample.ifaces) this.ingestIface(i, n, count, event);
    for (const c of sample.cpus) this.ingestCpu(c, iv, count, event);
    for (const q of sample.irqs) this.ingestIrq(q, n, count);
    for (const [name, v] of Object.entries(sample.snmp)) {
      if (!(v > 0)) continue;
      if (!this.snmp.has(name) && this.snmp.size >= this.limits.counters) {
        this.overflow++;
        continue;
      }
      this.snmp.set(name, (this.snmp.get(name) ?? 0) + v);
      event(eventKindOf('snmp', name), name, v);
      if (name === 'Tcp.RetransSegs') count(HOST_TOTAL_KEYS.retrans, v);
      else if (name === 'TcpExt.ListenDrops') count(HOST_TOTAL_KEYS.listen_drops, v);
      else if (name.endsWith('.RcvbufErrors') && UDP_GROUPS.has(name.slice(0, name.indexOf('.')))) count(HOST_TOTAL_KEYS.rcvbuf_errors, v);
    }
    for (const s of sample.sockets) this.ingestSocket(s, n, iv, event);
    for (const e of sample.errors ?? []) {
      if (this.errorSet.has(e) || this.errors.length >= this.limits.errors) continue;
      this.errorSet.add(e);
      this.errors.push(e);
    }
    this.forgetStale(n);
    return iv;
  }

  /** No helper sends samples any more (until the next one does): the last sample's gauges are
   *  no longer current, so no socket is. Totals stay. */
  clearGauges(): void {
    this.live = false;
  }

  private ingestIface(i: HostIface, n: number, count: (k: string, v: number) => void, event: (k: HostEventKind | undefined, c: string, d: number) => void): void {
    const id = ifaceId(i);
    let st = this.ifaces.get(id);
    if (!st) {
      if (!this.makeRoom(this.ifaces, this.limits.ifaces, n)) return;
      st = { id, name: i.name, ifindex: i.ifindex, netns: i.netns, stats: new Map(), driver: new Map(), qdiscs: new Map(), seen: n };
      this.ifaces.set(id, st);
    }
    st.seen = n;
    st.ifindex = i.ifindex;
    if (i.config) st.config = i.config;
    let drops = 0;
    for (const [k, v] of Object.entries(i.stats)) {
      if (!(v > 0) || !this.addTo(st.stats, k, v)) continue;
      event(eventKindOf('stats', k), `${id} ${k}`, v);
      if (IFACE_DROP_TOTAL.has(k)) drops += v;
    }
    count(rxPacketsKey(id), i.stats.rx_packets ?? 0);
    count(txPacketsKey(id), i.stats.tx_packets ?? 0);
    for (const [k, v] of Object.entries(i.driver ?? {})) {
      if (!(v > 0) || !this.addTo(st.driver, k, v)) continue;
      event(eventKindOf('driver', k), `${id} driver ${k}`, v);
    }
    for (const q of i.qdiscs ?? []) {
      const key = `${q.kind} ${q.handle} ${q.parent}`;
      let row = st.qdiscs.get(key);
      if (!row) {
        if (st.qdiscs.size >= this.limits.qdiscs) {
          this.overflow++;
          continue;
        }
        row = { kind: q.kind, handle: q.handle, parent: q.parent, sent_packets: 0, sent_bytes: 0, drops: 0, overlimits: 0, requeues: 0, backlog_bytes: 0, backlog_packets: 0, backlog_max_packets: 0 };
        st.qdiscs.set(key, row);
      }
      row.sent_packets += q.sent_packets;
      row.sent_bytes += q.sent_bytes;
      row.drops += q.drops;
      row.overlimits += q.overlimits;
      row.requeues += q.requeues;
      row.backlog_bytes = q.backlog_bytes;
      row.backlog_packets = q.backlog_packets;
      row.backlog_max_packets = Math.max(row.backlog_max_packets, q.backlog_packets);
      event(eventKindOf('qdisc', 'drops'), `${id} ${qdiscLabel(q)} drops`, q.drops);
      drops += q.drops;
    }
    count(dropsKey(id), drops);
  }

  private ingestCpu(c: HostCpu, iv: IntervalHost, count: (k: string, v: number) => void, event: (k: HostEventKind | undefined, c: string, d: number) => void): void {
    let st = this.cpus.get(c.cpu);
    if (!st) {
      st = {
        cpu: c.cpu,
        softnet: { processed: 0, dropped: 0, time_squeeze: 0, received_rps: 0, flow_limit: 0 },
        time: { user: 0, nice: 0, system: 0, irq: 0, softirq: 0, iowait: 0, idle: 0, steal: 0 },
        softirqMax: 0,
        softirqs: new Array<number>(SOFTIRQ_VECTORS.length).fill(0),
      };
      this.cpus.set(c.cpu, st);
    }
    for (const f of Object.keys(st.softnet) as (keyof CpuState['softnet'])[]) {
      const v = c.softnet[f];
      if (!(v > 0)) continue;
      st.softnet[f] += v;
      event(eventKindOf('softnet', f), `CPU ${c.cpu} softnet ${f}`, v);
    }
    count(HOST_TOTAL_KEYS.time_squeeze, c.softnet.time_squeeze);
    count(HOST_TOTAL_KEYS.softnet_dropped, c.softnet.dropped);
    for (const f of CPU_FIELDS) st.time[f] += Number.isFinite(c.time_ns[f]) ? c.time_ns[f] : 0;
    const prev = iv.cpu.get(c.cpu);
    if (prev) for (const f of CPU_FIELDS) prev[f] += c.time_ns[f];
    else iv.cpu.set(c.cpu, { ...c.time_ns });
    const share = softirqShare(iv.cpu.get(c.cpu)!);
    if (share !== undefined) st.softirqMax = Math.max(st.softirqMax, share);
    c.softirqs.forEach((v, k) => {
      if (k < st.softirqs.length && v > 0) st.softirqs[k]! += v;
    });
  }

  private ingestIrq(q: HostIrq, n: number, count: (k: string, v: number) => void): void {
    let st = this.irqs.get(q.irq);
    if (!st) {
      if (!this.makeRoom(this.irqs, this.limits.irqs, n)) return;
      st = { irq: q.irq, name: q.name, counts: [], seen: n };
      this.irqs.set(q.irq, st);
    }
    st.seen = n;
    st.name = q.name;
    if (q.queue) st.queue = q.queue;
    if (q.affinity !== undefined) st.affinity = q.affinity;
    if (q.effective_affinity !== undefined) st.effective_affinity = q.effective_affinity;
    q.counts.forEach((v, cpu) => {
      if (!(v > 0)) return;
      while (st.counts.length <= cpu) st.counts.push(0);
      st.counts[cpu]! += v;
      if (st.queue) count(nicIrqsKey(cpu), v);
    });
  }

  private ingestSocket(s: HostSocket, n: number, iv: IntervalHost, event: (k: HostEventKind | undefined, c: string, d: number) => void): void {
    const id = socketId(s);
    let st = this.sockets.get(id);
    if (!st) {
      if (!this.makeRoom(this.sockets, this.limits.sockets, n)) return;
      st = { last: s, recv_q_max: 0, send_q_max: 0, samples: 0, drops_seen: 0, seen: 0 };
      this.sockets.set(id, st);
    } else if (st.seen === n - 1 && s.inode === st.last.inode && s.drops !== undefined && st.last.drops !== undefined && s.drops > st.last.drops) {
      // The same socket in consecutive samples: its drop counter moved in this interval.
      const d = s.drops - st.last.drops;
      st.drops_seen += d;
      event(eventKindOf('socket', 'drops'), `${socketLabel(s)} socket drops`, d);
    }
    st.last = s;
    st.seen = n;
    st.samples++;
    st.recv_q_max = Math.max(st.recv_q_max, s.recv_q);
    st.send_q_max = Math.max(st.send_q_max, s.send_q);
    const k = recvQKey(id);
    iv.gauges.set(k, Math.max(iv.gauges.get(k) ?? 0, s.recv_q));
  }

  /** Adds to a counter table; false when the table is full and the name new (counted). */
  private addTo(m: Map<string, number>, k: string, v: number): boolean {
    if (!m.has(k) && m.size >= this.limits.counters) {
      this.overflow++;
      return false;
    }
    m.set(k, (m.get(k) ?? 0) + v);
    return true;
  }

  /** Room for one more entry: the one seen longest ago goes (counted) if it was not in this
   *  sample; false (and counted) when every one was. */
  private makeRoom<T extends { seen: number }>(m: Map<string | number, T>, limit: number, n: number): boolean {
    if (m.size < limit) return true;
    let oldKey: string | number | undefined;
    let oldSeen = Infinity;
    for (const [k, v] of m) {
      if (v.seen < oldSeen) {
        oldSeen = v.seen;
        oldKey = k;
      }
    }
    this.overflow++;
    if (oldKey === undefined || oldSeen >= n) return false;
    m.delete(oldKey);
    return true;
  }

  /** With `staleSamples`: forgets the interfaces, IRQ lines and sockets no sample named for that
   *  long (not counted: they are gone from the host, not refused). */
  private forgetStale(n: number): void {
    const limit = this.limits.staleSamples;
    if (!(limit > 0)) return;
    const forget = <K>(m: Map<K, { seen: number }>) => {
      for (const [k, v] of m) if (n - v.seen > limit) m.delete(k);
    };
    forget(this.ifaces);
    forget(this.irqs);
    forget(this.sockets);
  }

  private isCurrent(st: SocketState): boolean {
    return this.live && st.seen === this.samples;
  }

  /** The running totals, read only. */
  totals(): HostTotals {
    return {
      samples: this.samples,
      costNs: this.costSum,
      overflow: this.overflow,
      ifaces: this.ifaces,
      cpus: this.cpus,
      irqs: this.irqs,
      snmp: this.snmp,
      sockets: [...this.sockets.values()].filter((st) => this.isCurrent(st)).map((st) => st.last),
    };
  }

  /** The session's tables. */
  tables(): HostTables {
    const dur = this.coveredNs / 1e9;
    const rate = (v: number) => (dur > 0 ? v / dur : 0);
    const ifaces: HostIfaceRow[] = [...this.ifaces.values()]
      .sort((a, b) => a.netns - b.netns || a.ifindex - b.ifindex || (a.name < b.name ? -1 : 1))
      .map((st) => {
        const stat = (k: string) => st.stats.get(k) ?? 0;
        const qdiscs = [...st.qdiscs.values()].map((q) => ({ ...q }));
        let drops = qdiscs.reduce((a, q) => a + q.drops, 0);
        for (const k of IFACE_DROP_TOTAL) drops += stat(k);
        const row: HostIfaceRow = {
          id: st.id,
          name: st.name,
          ifindex: st.ifindex,
          netns: st.netns,
          stats: Object.fromEntries([...st.stats].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
          // drop counters first, then the largest
          driver: Object.fromEntries([...st.driver].sort((a, b) => Number(!!eventKindOf('driver', b[0])) - Number(!!eventKindOf('driver', a[0])) || b[1] - a[1] || (a[0] < b[0] ? -1 : 1))),
          qdiscs,
          rx_pps: rate(stat('rx_packets')),
          tx_pps: rate(stat('tx_packets')),
          rx_Bps: rate(stat('rx_bytes')),
          tx_Bps: rate(stat('tx_bytes')),
          drops,
          errors: stat('rx_errors') + stat('tx_errors'),
        };
        if (st.config) row.config = st.config;
        return row;
      });
    const cpus: HostCpuRow[] = [...this.cpus.values()]
      .sort((a, b) => a.cpu - b.cpu)
      .map((st) => {
        const total = cpuTotal(st.time);
        const share = (f: (typeof CPU_FIELDS)[number]) => (total > 0 ? st.time[f] / total : 0);
        const time = Object.fromEntries(CPU_FIELDS.map((f) => [f, share(f)])) as HostCpuRow['time'];
        return { cpu: st.cpu, softnet: { ...st.softnet }, time, softirq_max: st.softirqMax, softirqs: Object.fromEntries(SOFTIRQ_VECTORS.map((v, k) => [v, st.softirqs[k] ?? 0])) };
      });
    const irqs: HostIrqRow[] = [...this.irqs.values()]
      .map((st) => {
        const row: HostIrqRow = { irq: st.irq, name: st.name, counts: st.counts.slice(), total: st.counts.reduce((a, b) => a + b, 0) };
        if (st.queue) row.queue = st.queue;
        if (st.affinity !== undefined) row.affinity = st.affinity;
        if (st.effective_affinity !== undefined) row.effective_affinity = st.effective_affinity;
        return row;
      })
      .sort((a, b) => a.irq - b.irq);
    const snmpRow = (name: string): HostCounterRow => {
      const total = this.snmp.get(name) ?? 0;
      const row: HostCounterRow = { name, total, per_s: rate(total) };
      const kind = eventKindOf('snmp', name);
      if (kind) row.kind = kind;
      return row;
    };
    const key = new Set<string>(KEY_SNMP);
    const snmp = [...KEY_SNMP.map(snmpRow), ...[...this.snmp.keys()].filter((k) => !key.has(k)).sort().map(snmpRow)];
    const sockets: HostSocketRow[] = [...this.sockets.entries()]
      .map(([id, st]) => ({ ...st.last, id, recv_q_max: st.recv_q_max, send_q_max: st.send_q_max, samples: st.samples, current: this.isCurrent(st), drops_seen: st.drops_seen }))
      .sort((a, b) => b.recv_q_max - a.recv_q_max || b.send_q_max - a.send_q_max || (a.id < b.id ? -1 : 1));
    return {
      samples: this.samples,
      duration_s: dur,
      cost_ns: { mean: this.samples > 0 ? this.costSum / this.samples : 0, max: this.costMax },
      ifaces,
      cpus,
      irqs,
      snmp,
      sockets,
      errors: this.errors.slice(),
      overflow: this.overflow,
    };
  }
}

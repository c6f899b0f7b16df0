/**
 * Running totals of the host's own counters (protocol.ts HostSample) for the OpenMetrics
 * exposition: each snapshot's deltas are added to what came before, so every exported counter only
 * grows, across probe reloads and helper restarts alike; gauges (queues, configuration) keep the
 * last value seen. Pure logic, no I/O.
 *
 * Memory is bounded however long it runs: what a host names changes (containers come and go with
 * their veth interfaces, sockets churn), so every set of names is capped, and an interface or IRQ
 * line not named for `staleSamples` samples is forgotten (its series end; if it comes back its
 * counters start again from zero, which Prometheus reads as a counter reset). Values for names past
 * a cap are not kept and are counted in `overflow`.
 */
import type { HostIfaceConfig, HostSample, HostSocket } from '../protocol.ts';

export interface HostTotalsOptions {
  /** Interfaces kept (default 256). */
  maxIfaces?: number;
  /** Driver (`ethtool -S`) counters kept per interface (default 256). */
  maxDriverStats?: number;
  /** Qdiscs kept per interface (default 16). */
  maxQdiscs?: number;
  /** IRQ lines kept (default 512). */
  maxIrqs?: number;
  /** Protocol counters kept (default 1024). */
  maxSnmp?: number;
  /** Samples after which an interface or IRQ line not named again is forgotten (default 300). */
  staleSamples?: number;
}

export const HOST_TOTALS_DEFAULTS: Required<HostTotalsOptions> = {
  maxIfaces: 256,
  maxDriverStats: 256,
  maxQdiscs: 16,
  maxIrqs: 512,
  maxSnmp: 1024,
  staleSamples: 300,
};

/** Interface statistics every Linux device has (/sys/class/net/IFACE/statistics), exported from
 *  an interface's first sample on, 0 until they move: the helper sends only counters that moved,
 *  and a drop counter that never moved should read 0, not be missing. */
export const IFACE_STATS = ['rx_packets', 'tx_packets', 'rx_bytes', 'tx_bytes', 'rx_errors', 'tx_errors', 'rx_dropped', 'tx_dropped', 'rx_missed_errors', 'rx_fifo_errors', 'rx_over_errors'] as const;
/** Protocol counters every Linux kernel has, exported from the first sample on, 0 until they move. */
export const SNMP_COUNTERS = ['Tcp.RetransSegs', 'TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPBacklogDrop', 'Udp.InErrors', 'Udp.RcvbufErrors', 'Udp.SndbufErrors', 'Ip.InDiscards'] as const;

export interface QdiscTotals {
  kind: string;
  handle: string;
  parent: string;
  sent_packets: number;
  sent_bytes: number;
  drops: number;
  overlimits: number;
  requeues: number;
  backlog_bytes: number;
  backlog_packets: number;
}

export interface IfaceTotals {
  name: string;
  netns: number;
  stats: Map<string, number>;
  driver: Map<string, number>;
  qdiscs: Map<string, QdiscTotals>;
  config?: HostIfaceConfig;
  lastSeen: number;
}

export interface CpuTotals {
  cpu: number;
  softnet: Record<string, number>;
  time_ns: Record<string, number>;
  softirqs: number[];
}

export interface IrqTotals {
  irq: number;
  name: string;
  queue?: { iface?: string; device: string; queue: string };
  affinity?: string;
  effective_affinity?: string;
  /** Interrupts per CPU, only CPUs it ever fired on. */
  counts: Map<number, number>;
  lastSeen: number;
}

/** Adds the deltas of `src` into `dst`, keeping at most `max` names; returns the values refused. */
function addDeltas(dst: Map<string, number>, src: Readonly<Record<string, number>> | undefined, max: number): number {
  let refused = 0;
  for (const [k, v] of Object.entries(src ?? {})) {
    if (!Number.isFinite(v) || v < 0) continue;
    const cur = dst.get(k);
    if (cur === undefined && dst.size >= max) {
      refused++;
      continue;
    }
    dst.set(k, (cur ?? 0) + v);
  }
  return refused;
}

function addRecord(dst: Record<string, number>, src: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(src)) if (Number.isFinite(v) && v >= 0) dst[k] = (dst[k] ?? 0) + v;
}

export class HostTotals {
  private readonly opts: Required<HostTotalsOptions>;
  /** `${netns}/${name}` → totals. */
  readonly ifaces = new Map<string, IfaceTotals>();
  readonly cpus = new Map<number, CpuTotals>();
  readonly irqs = new Map<number, IrqTotals>();
  readonly snmp = new Map<string, number>();
  /** The last sample's sockets (gauges: only the current ones mean anything). */
  sockets: HostSocket[] = [];
  samples = 0;
  costNs = 0;
  /** Values not kept because a cap was reached. */
  overflow = 0;

  constructor(options: HostTotalsOptions = {}) {
    this.opts = { ...HOST_TOTALS_DEFAULTS, ...options };
  }

  ingest(h: HostSample): void {
    const n = ++this.samples;
    if (Number.isFinite(h.cost_ns) && h.cost_ns > 0) this.costNs += h.cost_ns;
    for (const i of h.ifaces) {
      const key = `${i.netns}/${i.name}`;
      let t = this.ifaces.get(key);
      if (!t) {
        if (this.ifaces.size >= this.opts.maxIfaces) this.forgetOldest(this.ifaces);
        t = { name: i.name, netns: i.netns, stats: new Map(IFACE_STATS.map((k) => [k, 0])), driver: new Map(), qdiscs: new Map(), lastSeen: n };
        this.ifaces.set(key, t);
      }
      t.lastSeen = n;
      this.overflow += addDeltas(t.stats, i.stats, this.opts.maxDriverStats);
      this.overflow += addDeltas(t.driver, i.driver, this.opts.maxDriverStats);
      if (i.config) t.config = { ...t.config, ...i.config };
      for (const q of i.qdiscs ?? []) {
        const qk = `${q.handle}|${q.parent}|${q.kind}`;
        let qt = t.qdiscs.get(qk);
        if (!qt) {
          if (t.qdiscs.size >= this.opts.maxQdiscs) {
            this.overflow++;
            continue;
          }
          qt = { kind: q.kind, handle: q.handle, parent: q.parent, sent_packets: 0, sent_bytes: 0, drops: 0, overlimits: 0, requeues: 0, backlog_bytes: 0, backlog_packets: 0 };
          t.qdiscs.set(qk, qt);
        }
        qt.sent_packets += q.sent_packets;
        qt.sent_bytes += q.sent_bytes;
        qt.drops += q.drops;
        qt.overlimits += q.overlimits;
        qt.requeues += q.requeues;
        qt.backlog_bytes = q.backlog_bytes;
        qt.backlog_packets = q.backlog_packets;
      }
    }
    for (const c of h.cpus) {
      let t = this.cpus.get(c.cpu);
      if (!t) {
        // CPUs are few and fixed (every online one, every sample): no cap needed beyond the
        // kernel's own limit on CPU numbers.
        t = { cpu: c.cpu, softnet: {}, time_ns: {}, softirqs: [] };
        this.cpus.set(c.cpu, t);
      }
      addRecord(t.softnet, c.softnet);
      addRecord(t.time_ns, c.time_ns);
      c.softirqs.forEach((v, i) => {
        if (Number.isFinite(v) && v >= 0) t.softirqs[i] = (t.softirqs[i] ?? 0) + v;
      });
    }
    for (const q of h.irqs) {
      let t = this.irqs.get(q.irq);
      if (!t) {
        if (this.irqs.size >= this.opts.maxIrqs) this.forgetOldest(this.irqs);
        t = { irq: q.irq, name: q.name, counts: new Map(), lastSeen: n };
        this.irqs.set(q.irq, t);
      }
      t.lastSeen = n;
      t.name = q.name;
      if (q.queue) t.queue = q.queue;
      if (q.affinity !== undefined) t.affinity = q.affinity;
      if (q.effective_affinity !== undefined) t.effective_affinity = q.effective_affinity;
      q.counts.forEach((v, cpu) => {
        if (Number.isFinite(v) && v > 0) t.counts.set(cpu, (t.counts.get(cpu) ?? 0) + v);
      });
    }
    if (n === 1) for (const k of SNMP_COUNTERS) if (this.snmp.size < this.opts.maxSnmp) this.snmp.set(k, 0);
    this.overflow += addDeltas(this.snmp, h.snmp, this.opts.maxSnmp);
    this.sockets = h.sockets.slice();
    this.forgetStale(n);
  }

  /** The host's sockets are only meaningful while a helper sends samples. */
  clearGauges(): void {
    this.sockets = [];
  }

  private forgetStale(n: number): void {
    const limit = this.opts.staleSamples;
    for (const [k, t] of this.ifaces) if (n - t.lastSeen > limit) this.ifaces.delete(k);
    for (const [k, t] of this.irqs) if (n - t.lastSeen > limit) this.irqs.delete(k);
  }

  private forgetOldest<K>(m: Map<K, { lastSeen: number }>): void {
    let oldest: K | undefined;
    let seen = Infinity;
    for (const [k, t] of m) {
      if (t.lastSeen < seen) {
        seen = t.lastSeen;
        oldest = k;
      }
    }
    if (oldest !== undefined) {
      m.delete(oldest);
      this.overflow++;
    }
  }
}

/**
 * The "Host" section of the text report (`nslat trace` / `nslat replay`, --format table): hints,
 * the intervals in which event counters moved, then the tables as the standard tools show them:
 * interfaces (`ip -s link`, `ethtool -S/-g/-c`, `tc -s qdisc`), CPUs (`sar -u`, softnet_stat,
 * softirqs), IRQ lines (/proc/interrupts with their affinity), protocol counters (`netstat -s`) and
 * sockets (`ss`). Every figure is written by format.ts.
 */
import type { HostIfaceRow, HostReport, HostSocketRow } from './protocol.ts';
import { formatBytes, formatClock, formatCount, formatNs, formatPercent, formatRate } from './format.ts';
import { qdiscLabel } from './host.ts';
import { cut, layout, paint } from './text-table.ts';

export interface HostTableOptions {
  width: number;
  color?: boolean;
  /** Event intervals listed (the newest); the JSON document has all of them. Default 20. */
  maxEvents?: number;
  /** Sockets listed. Default 12. */
  maxSockets?: number;
}

/** Words wrapped at spaces to `width`, each line indented by `indent`. */
function wrap(text: string, width: number, indent: string): string[] {
  const avail = Math.max(20, width - indent.length);
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(' ')) {
    if (cur && cur.length + 1 + word.length > avail) {
      lines.push(indent + cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) lines.push(indent + cut(cur, avail));
  return lines;
}

const pct = (share: number): string => formatPercent(share).replace(' %', '%');


/** The configuration lines under an interface: rings, coalescing, queues, RPS/XPS, MTU. */
function ifaceConfig(i: HostIfaceRow): string | undefined {
  const c = i.config;
  if (!c) return undefined;
  const parts: string[] = [];
  if (c.driver !== undefined) parts.push(`driver ${c.driver}`);
  if (c.speed_mbps !== undefined && c.speed_mbps > 0) parts.push(`${c.speed_mbps} Mb/s`);
  if (c.mtu !== undefined) parts.push(`mtu ${c.mtu}`);
  if (c.rx_queues !== undefined || c.tx_queues !== undefined) parts.push(`queues rx ${c.rx_queues ?? '?'} tx ${c.tx_queues ?? '?'}`);
  const r = c.rings;
  if (r && (r.rx !== undefined || r.tx !== undefined)) parts.push(`rings rx ${r.rx ?? '?'}${r.rx_max !== undefined ? `/${r.rx_max}` : ''} tx ${r.tx ?? '?'}${r.tx_max !== undefined ? `/${r.tx_max}` : ''}`);
  const co = Object.entries(c.coalesce ?? {});
  if (co.length) parts.push(`coalesce ${co.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (c.rps?.length) parts.push(`rps ${c.rps.join(',')}`);
  if (c.xps?.length) parts.push(`xps ${c.xps.join(',')}`);
  return parts.length ? parts.join('; ') : undefined;
}

function socketProcs(s: HostSocketRow): string {
  return s.procs.length ? s.procs.map((p) => `${p.comm}(${p.pid})`).join(',') : '-';
}

/** The section's lines (empty first line included). */
export function formatHostSection(h: HostReport, o: HostTableOptions): string[] {
  const width = o.width;
  const color = o.color === true;
  const bold = (s: string): string => paint(color, '1', s);
  const dim = (s: string): string => paint(color, '2', s);
  const red = (s: string): string => paint(color, '31', s);
  const out: string[] = [];
  const table = (header: string[], rows: string[][], left: number[] = [0]): void => {
    const lines = layout(header, rows, width, left);
    out.push(dim(lines[0]!), ...lines.slice(1));
  };

  out.push('', bold('Host') + dim(cut(`  (${h.samples} samples over ${h.duration_s.toFixed(1)} s; each cost the helper ${formatNs(h.cost_ns.mean)} of CPU, at most ${formatNs(h.cost_ns.max)})`, width - 6)));

  // hints first: what the counters explain
  out.push('', bold('Hints') + dim(h.hints.length ? '  (counters that explain a latency or loss pattern)' : '  (no rule found a pattern)'));
  for (const x of h.hints) {
    out.push(...wrap(`[${x.rule}] ${x.title}`, width, '  ').map((l, i) => (i === 0 ? red(l) : `  ${l}`)));
    out.push(...wrap(x.detail, width, '      '));
  }

  const maxEvents = o.maxEvents ?? 20;
  out.push('', bold('Events') + dim(cut(`  (intervals in which a drop, time_squeeze, retransmit or queue-overflow counter moved: ${h.events.length})`, width - 8)));
  const shown = h.events.slice(-maxEvents);
  if (h.events.length > shown.length) out.push(dim(`  … ${h.events.length - shown.length} earlier ones in --format json`));
  for (const e of shown) {
    const what = e.counters.map((c) => `${c.counter} +${formatCount(c.delta)}`).join(', ');
    out.push(...wrap(`${formatClock(e.t_ms)}  ${what}`, width, '  ').map((l, i) => (i === 0 ? l : `          ${l.trimStart()}`)));
  }

  if (h.ifaces.length) {
    out.push('', bold('Interfaces') + dim('  (ip -s link, tc -s qdisc, ethtool -S/-g/-c; totals and mean rates)'));
    const lines = layout(
      ['iface', 'state', 'rx pkts', 'rx/s', 'rx bytes', 'tx pkts', 'tx/s', 'tx bytes', 'drops', 'errs'],
      h.ifaces.map((i) => [i.id, i.config?.operstate ?? '-', formatCount(i.stats.rx_packets ?? 0), formatRate(i.rx_pps), formatBytes(i.stats.rx_bytes ?? 0), formatCount(i.stats.tx_packets ?? 0), formatRate(i.tx_pps), formatBytes(i.stats.tx_bytes ?? 0), formatCount(i.drops), formatCount(i.errors)]),
      width,
      [0, 1],
    );
    out.push(dim(lines[0]!));
    h.ifaces.forEach((i, k) => {
      out.push(i.drops > 0 ? red(lines[k + 1]!) : lines[k + 1]!);
      const sub = (s: string) => out.push(...wrap(s, width, '      ').map(dim));
      const cfg = ifaceConfig(i);
      if (cfg) sub(cfg);
      for (const q of i.qdiscs) {
        if (q.kind === 'noqueue' && q.sent_packets === 0 && q.drops === 0) continue;
        sub(`${qdiscLabel(q)} ${q.parent}: sent ${formatCount(q.sent_packets)} (${formatBytes(q.sent_bytes)}), dropped ${formatCount(q.drops)}, overlimits ${formatCount(q.overlimits)}, requeues ${formatCount(q.requeues)}, backlog ${formatCount(q.backlog_packets)} (at most ${formatCount(q.backlog_max_packets)}) packets`);
      }
      const stats = Object.entries(i.stats).filter(([k, v]) => v > 0 && !/^(rx|tx)_(packets|bytes)$/.test(k));
      if (stats.length) sub(`statistics: ${stats.map(([k, v]) => `${k} ${formatCount(v)}`).join(', ')}`);
      const drv = Object.entries(i.driver);
      if (drv.length) sub(`driver: ${drv.slice(0, 12).map(([k, v]) => `${k} ${formatCount(v)}`).join(', ')}${drv.length > 12 ? `, … ${drv.length - 12} more` : ''}`);
    });
  }

  if (h.cpus.length) {
    out.push('', bold('CPUs') + dim(cut('  (CPU time as sar -u splits it; softirq max: the largest share of one interval)', width - 6)));
    table(
      ['cpu', '%usr', '%nice', '%sys', '%irq', '%soft', '%iowait', '%steal', '%idle', 'softirq max'],
      h.cpus.map((c) => [String(c.cpu), pct(c.time.user), pct(c.time.nice), pct(c.time.system), pct(c.time.irq), pct(c.time.softirq), pct(c.time.iowait), pct(c.time.steal), pct(c.time.idle), pct(c.softirq_max)]),
    );
    out.push('', bold('Softnet') + dim(cut('  (/proc/net/softnet_stat and NET_RX/NET_TX softirq runs, totals)', width - 9)));
    table(
      ['cpu', 'processed', 'dropped', 'time_squeeze', 'received_rps', 'flow_limit', 'NET_RX runs', 'NET_TX runs'],
      h.cpus.map((c) => [String(c.cpu), formatCount(c.softnet.processed), formatCount(c.softnet.dropped), formatCount(c.softnet.time_squeeze), formatCount(c.softnet.received_rps), formatCount(c.softnet.flow_limit), formatCount(c.softirqs.NET_RX ?? 0), formatCount(c.softirqs.NET_TX ?? 0)]),
    );
  }

  const irqs = h.irqs.filter((q) => q.total > 0 || q.queue);
  if (irqs.length) {
    out.push('', bold('IRQ lines') + dim(cut('  (/proc/interrupts over the session, smp_affinity_list, effective affinity)', width - 11)));
    const ncpu = Math.max(h.cpus.length, ...irqs.map((q) => q.counts.length));
    const perCpu = ncpu <= 8;
    const header = ['irq', 'name', 'nic queue', 'total', ...(perCpu ? Array.from({ length: ncpu }, (_, c) => `CPU${c}`) : ['busiest CPUs']), 'affinity', 'effective'];
    table(
      header,
      irqs.map((q) => {
        const counts = perCpu
          ? Array.from({ length: ncpu }, (_, c) => formatCount(q.counts[c] ?? 0))
          : [q.counts.map((n, c) => [c, n] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([c, n]) => `${c}:${formatCount(n)}`).join(' ') || '-'];
        return [String(q.irq), q.name, q.queue ? `${q.queue.iface ?? q.queue.device} ${q.queue.queue}` : '-', formatCount(q.total), ...counts, q.affinity ?? '-', q.effective_affinity ?? '-'];
      }),
      [0, 1, 2],
    );
  }

  out.push('', bold('Protocol counters') + dim('  (netstat -s: /proc/net/snmp, netstat, snmp6; totals and mean rates)'));
  table(
    ['counter', 'total', 'per s', 'event'],
    h.snmp.map((r) => [r.name, formatCount(r.total), formatRate(r.per_s), r.kind ?? '']),
    [0, 3],
  );

  const maxSockets = o.maxSockets ?? 12;
  if (h.sockets.length) {
    out.push('', bold('Sockets') + dim(cut(`  (ss: the longest queues, and the sockets of the session's filter; ${h.sockets.length} listed)`, width - 9)));
    const list = h.sockets.slice(0, maxSockets);
    const lines = layout(
      ['socket', 'state', 'Recv-Q', 'max', 'Send-Q', 'drops', 'process'],
      list.map((s) => [`${s.flow ? '* ' : ''}${s.proto} ${s.local} ${s.remote}${s.netns ? ` @${s.netns}` : ''}`, s.current ? s.state : `${s.state} (gone)`, formatBytes(s.recv_q), formatBytes(s.recv_q_max), formatBytes(s.send_q), formatCount(s.drops_seen), socketProcs(s)]),
      width,
      [0, 1, 6],
    );
    out.push(dim(lines[0]!));
    list.forEach((s, k) => {
      out.push(lines[k + 1]!);
      const more: string[] = [];
      if (s.rcvbuf !== undefined) more.push(`rcvbuf ${formatBytes(s.rcvbuf)}`);
      if (s.sndbuf !== undefined) more.push(`sndbuf ${formatBytes(s.sndbuf)}`);
      if (s.tcp) more.push(`rtt ${formatNs(s.tcp.rtt_us * 1000)} ± ${formatNs(s.tcp.rttvar_us * 1000)}, cwnd ${s.tcp.cwnd}, retransmits ${formatCount(s.tcp.retrans)}, unacked ${s.tcp.unacked}, lost ${s.tcp.lost}`);
      if (more.length) out.push(...wrap(more.join('; '), width, '      ').map(dim));
    });
    if (h.sockets.some((s) => s.flow)) out.push(dim("  * a socket of the session's --filter (port or pid)"));
    if (h.sockets.length > maxSockets) out.push(dim(`  … ${h.sockets.length - maxSockets} more in --format json`));
  }
  if (h.errors.length) {
    out.push('', bold('Not read') + dim('  (what the helper could not read on this host)'));
    for (const e of h.errors) out.push(...wrap(e, width, '  ').map(dim));
  }
  if (h.overflow > 0) out.push(dim(`  ${formatCount(h.overflow)} counters, interfaces, IRQ lines or sockets not kept: a table was full`));
  return out;
}

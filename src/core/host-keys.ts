/**
 * The series keys of the host's per-interval figures (protocol.ts HostPoint.v), shared by the core
 * (host.ts, hints.ts) and the panel. No imports, so the webview bundle takes it as it is.
 *
 * Counters are the interval's delta and absent when they did not move (read absent as 0); CPU
 * shares are fractions of the interval's time, present for every CPU sampled; queue lengths are
 * the largest seen in the interval (bytes), present for every socket listed.
 */

/** Counter series: packets received, sent, and dropped (statistics rx/tx_dropped and rx_missed,
 *  plus qdisc drops) by an interface (its HostIfaceRow.id). */
export const rxPacketsKey = (iface: string): string => `rx_packets:${iface}`;
export const txPacketsKey = (iface: string): string => `tx_packets:${iface}`;
export const dropsKey = (iface: string): string => `drops:${iface}`;
/** Share of a CPU's time in softirq. */
export const softirqShareKey = (cpu: number): string => `softirq:${cpu}`;
/** Interrupts of IRQ lines that belong to a NIC queue, on one CPU. */
export const nicIrqsKey = (cpu: number): string => `nic_irqs:${cpu}`;
/** A listed socket's Recv-Q (bytes, the largest seen in the interval), by HostSocketRow.id. */
export const recvQKey = (socket: string): string => `recv_q:${socket}`;

/** Counter series over the whole host. */
export const HOST_TOTAL_KEYS = {
  /** softnet_stat time_squeeze, all CPUs: NAPI polls that ran out of budget or time. */
  time_squeeze: 'time_squeeze',
  /** softnet_stat dropped, all CPUs: packets dropped because the backlog queue was full. */
  softnet_dropped: 'softnet_dropped',
  /** Tcp.RetransSegs. */
  retrans: 'retrans',
  /** TcpExt.ListenDrops (every SYN or connection a listener dropped, overflows included). */
  listen_drops: 'listen_drops',
  /** Udp.RcvbufErrors + Udp6.RcvbufErrors (+ UdpLite): datagrams dropped, receive buffer full. */
  rcvbuf_errors: 'rcvbuf_errors',
} as const;

/** The part of a key before its first colon: the series family ("rx_packets", "softirq"). */
export function keyFamily(key: string): string {
  const i = key.indexOf(':');
  return i < 0 ? key : key.slice(0, i);
}

/** The part after the first colon: whose series it is (an interface, a CPU, a socket). */
export function keySubject(key: string): string {
  const i = key.indexOf(':');
  return i < 0 ? '' : key.slice(i + 1);
}

/**
 * nslat's stage catalogue: which kernel tracepoints and functions mark which boundary a packet
 * passes, which points must not read the skb, and what each probe counter (enum nslat_counter)
 * means: a loss or activity, by the protocol's one definition (LOSS_COUNTERS).
 */
import { LOSS_BASE_LABEL, LOSS_MEANING, isLossCounter, lossBaseOf } from '../core/protocol.ts';

export interface StageInfo {
  dir: 'rx' | 'tx' | 'irq';
  /** The boundary, as docs/architecture.md (the stage model) names it. */
  stage: string;
  note?: string;
}

const E = (dir: StageInfo['dir'], stage: string, names: string[], note?: string): Array<[string, StageInfo]> =>
  names.map((n) => [n, { dir, stage, note }]);

/** Tracepoint or function name → the stages it can feed (consume_skb feeds both RX and TX). */
const CATALOGUE = new Map<string, StageInfo[]>();
for (const [name, info] of [
  ...E('irq', 'NIC IRQ (hard IRQ handler time per line and CPU)', ['irq_handler_entry', 'irq_handler_exit']),
  ...E('irq', 'NET_RX softirq raised → runs (vector 3, keyed by CPU)', ['softirq_raise', 'softirq_entry', 'softirq_exit']),
  ...E('irq', 'IRQ-thread wake-up latency (PREEMPT_RT)', ['sched_wakeup', 'sched_switch']),
  ...E('rx', 'NAPI poll', ['napi_poll']),
  ...E('rx', 'driver hands skb to stack', ['napi_gro_receive_entry', 'netif_receive_skb_entry', 'netif_rx', 'netif_rx_entry', 'napi_gro_receive', 'eth_type_trans']),
  ...E('rx', 'L2 core / protocol dispatch', ['netif_receive_skb', '__netif_receive_skb_core']),
  ...E('rx', 'IP receive', ['ip_rcv', 'ip_rcv_core', 'ipv6_rcv']),
  ...E('rx', 'IP local deliver', ['ip_local_deliver']),
  ...E('rx', 'L4 receive', ['tcp_probe', 'tcp_v4_rcv', 'tcp_v6_rcv', 'udp_rcv']),
  ...E('rx', 'socket enqueue', ['tcp_queue_rcv', '__udp_enqueue_schedule_skb', 'tcp_data_queue'], '__udp_enqueue_schedule_skb: check its return value'),
  ...E('rx', 'application read', ['skb_copy_datagram_iovec', 'tcp_recvmsg', 'skb_consume_udp']),
  ...E('rx', 'end of life', ['consume_skb', 'kfree_skb'], 'forget the packet here (kfree_skb carries the drop reason)'),
  ...E('tx', 'sendmsg', ['tcp_sendmsg_locked', 'sock_send_length', 'tcp_sendmsg', 'udp_sendmsg']),
  ...E('tx', 'IP output', ['ip_queue_xmit', 'ip_output']),
  ...E('tx', 'device queue', ['net_dev_queue']),
  ...E('tx', 'qdisc', ['qdisc_enqueue', 'qdisc_dequeue']),
  ...E('tx', 'driver transmit starts', ['net_dev_start_xmit']),
  ...E('tx', 'driver transmit returned', ['net_dev_xmit'], 'do not dereference the skb here: the driver may already have freed it'),
  ...E('tx', 'completion', ['consume_skb'], 'after the TX-completion IRQ'),
]) {
  const list = CATALOGUE.get(name) ?? [];
  list.push(info);
  CATALOGUE.set(name, list);
}

export function stagesFor(name: string): StageInfo[] {
  return CATALOGUE.get(name) ?? [];
}

/** Tracepoints that fire after the skb was handed on (possibly freed on another CPU). */
export const SKB_GONE_TRACEPOINTS = new Set(['net_dev_xmit']);

/** Kernel functions that free an skb: their fexit/kretprobe must not read it. */
export function isSkbFreeingFunction(name: string): boolean {
  return /^(?:__)?(?:kfree_skb\w*|consume_skb\w*|dev_kfree_skb\w*|dev_consume_skb\w*|napi_consume_skb|napi_skb_free_stolen_head|__napi_kfree_skb|skb_release_\w+|kfree_skbmem|skb_free_head|sk_skb_reason_drop|skb_attempt_defer_free|kfree_skb_list\w*)$/.test(name);
}

/** What a counter of enum nslat_counter (NSLAT_CNT_STALE, or its reported name "stale") means, as
 *  hover Markdown: a loss (what nslat lost, shown as a share of what it applies to) or activity
 *  (work the probes did). A counter nslat does not know yet is activity. */
export function counterHover(word: string): string | undefined {
  const m = /^NSLAT_CNT_([A-Z0-9_]+)$/.exec(word);
  if (!m || m[1]!.startsWith('_')) return undefined;
  const name = m[1]!.toLowerCase();
  if (isLossCounter(name)) {
    const base = LOSS_BASE_LABEL[lossBaseOf(name)];
    return [
      `**${word}** — nslat loss counter \`${name}\``,
      `${LOSS_MEANING[name]}.`,
      `Counted as data nslat lost: the panel's LOST tile and the CLI's Loss section show it as a share of ${base}.`,
    ].join('\n\n');
  }
  return [`**${word}** — nslat activity counter \`${name}\``, 'Work the probes counted, not a loss: listed under Activity in the panel and the CLI.'].join('\n\n');
}

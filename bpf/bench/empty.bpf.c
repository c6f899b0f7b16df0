// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Empty programs on the hooks the nslat probes use: the baseline for the
 * per-hook cost comparison (bench/hookcost.sh). Not a probe object. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EMPTY(hook) SEC("tp_btf/" #hook) int BPF_PROG(empty_##hook) { return 0; }

EMPTY(netif_rx)
EMPTY(netif_receive_skb)
EMPTY(tcp_probe)
EMPTY(sk_data_ready)
EMPTY(skb_copy_datagram_iovec)
EMPTY(sock_recv_length)
EMPTY(consume_skb)
EMPTY(kfree_skb)
EMPTY(tcp_sendmsg_locked)
EMPTY(sock_send_length)
EMPTY(net_dev_queue)
EMPTY(net_dev_start_xmit)
EMPTY(net_dev_xmit)
EMPTY(irq_handler_entry)
EMPTY(irq_handler_exit)
EMPTY(softirq_raise)
EMPTY(softirq_entry)
EMPTY(softirq_exit)
EMPTY(napi_poll)

SEC("tp/syscalls/sys_enter_sendto")
int empty_sys_enter_sendto(void *ctx) { return 0; }

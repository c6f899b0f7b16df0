// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rx.bpf.c - receive path: per-packet time between the boundaries below.
 *
 * Entry boundaries (driver hands the skb to the stack) (re)start a packet;
 * the others only advance a packet already tracked. A packet ends at the
 * application read (TCP frees read skbs without a tracepoint), or at
 * consume_skb / kfree_skb.
 *
 * Filters: ifindex / netns / L4 protocol / ports apply at the entry
 * boundary (ports from the IP/L4 header). pid / cgroup apply at the
 * application read (the reader's task): with either set, boundaries only
 * store timestamps and all of the packet's stages are recorded when a
 * matching task reads it; packets no matching task reads are not counted.
 */
#define NSLAT_RX_DEFER 1
#include "nslat.bpf.h"

enum nslat_boundary {
	NSLAT_RX_NETIF_RX = 0,		/* loopback, veth, tunnels: netif_rx */
	NSLAT_RX_NAPI_GRO_RECEIVE_ENTRY,	/* NAPI drivers with GRO */
	NSLAT_RX_NETIF_RECEIVE_SKB_ENTRY,	/* NAPI drivers without GRO */
	NSLAT_RX_NETIF_RECEIVE_SKB,	/* L2 core, protocol dispatch */
	NSLAT_RX_IP_RCV,		/* ip_rcv / ipv6_rcv (fentry, kprobe) */
	NSLAT_RX_IP_LOCAL_DELIVER,	/* ip_local_deliver / ip6_input (fentry, kprobe) */
	NSLAT_RX_L4_RCV,		/* tcp/udp receive; tcp:tcp_probe for established TCP */
	NSLAT_RX_SOCK_ENQUEUE,		/* queued on the socket (sock:sk_data_ready) */
	NSLAT_RX_APP_READ,		/* copied to the application */
	__NSLAT_BOUNDARY_MAX,
};
NSLAT_BOUNDARY_ENUM_CHECK();

static __always_inline int rx_enter(struct sk_buff *skb, __u32 b)
{
	struct net_device *dev = skb->dev;
	struct nslat_pkt init = {};
	__u64 now;

	if (!nslat_dev_ok(dev)) {
		nslat_cnt(NSLAT_CNT_FILTERED);
		return 0;
	}
	if (nslat_flow_filter()) {
		nslat_skb_flow(skb, &init);
		/* the packet's destination is our local port */
		if (!nslat_ports_ok(init.l4, init.dport, init.sport)) {
			nslat_cnt(NSLAT_CNT_FILTERED);
			return 0;
		}
	}
	init.ifindex = dev ? dev->ifindex : 0;
	init.len = skb->len;
	now = bpf_ktime_get_ns();
	nslat_start((__u64)skb, b, now, now, &init);
	return 0;
}

static __always_inline int rx_pass(const void *skb, __u32 b)
{
	__u64 now;

	nslat_pass((__u64)skb, b, &now);
	return 0;
}

/* ---------------------------------------------------------------- entry */

SEC("tp_btf/netif_rx")
int BPF_PROG(handle_netif_rx, struct sk_buff *skb)
{
	return rx_enter(skb, NSLAT_RX_NETIF_RX);
}

SEC("tp_btf/napi_gro_receive_entry")
int BPF_PROG(handle_napi_gro_receive_entry, const struct sk_buff *skb)
{
	return rx_enter((struct sk_buff *)skb, NSLAT_RX_NAPI_GRO_RECEIVE_ENTRY);
}

SEC("tp_btf/netif_receive_skb_entry")
int BPF_PROG(handle_netif_receive_skb_entry, const struct sk_buff *skb)
{
	return rx_enter((struct sk_buff *)skb, NSLAT_RX_NETIF_RECEIVE_SKB_ENTRY);
}

/* ---------------------------------------------------------------- L2 core */

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(handle_netif_receive_skb, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_NETIF_RECEIVE_SKB);
}

/* ---------------------------------------------------------------- IP (no tracepoint) */

SEC("fentry/ip_rcv")
int BPF_PROG(ip_rcv__fentry, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_RCV);
}

SEC("fentry/ipv6_rcv")
int BPF_PROG(ip_rcv__fentry_v6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_RCV);
}

SEC("kprobe/ip_rcv")
int BPF_KPROBE(ip_rcv__kprobe, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_RCV);
}

SEC("kprobe/ipv6_rcv")
int BPF_KPROBE(ip_rcv__kprobe_v6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_RCV);
}

SEC("fentry/ip_local_deliver")
int BPF_PROG(ip_local_deliver__fentry, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_LOCAL_DELIVER);
}

SEC("fentry/ip6_input")
int BPF_PROG(ip_local_deliver__fentry_v6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_LOCAL_DELIVER);
}

SEC("kprobe/ip_local_deliver")
int BPF_KPROBE(ip_local_deliver__kprobe, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_LOCAL_DELIVER);
}

SEC("kprobe/ip6_input")
int BPF_KPROBE(ip_local_deliver__kprobe_v6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_LOCAL_DELIVER);
}

/* ---------------------------------------------------------------- L4 */

SEC("fentry/tcp_v4_rcv")
int BPF_PROG(l4_rcv__fentry_tcp4, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_L4_RCV);
}

SEC("fentry/tcp_v6_rcv")
int BPF_PROG(l4_rcv__fentry_tcp6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_L4_RCV);
}

SEC("fentry/udp_rcv")
int BPF_PROG(l4_rcv__fentry_udp4, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_L4_RCV);
}

SEC("fentry/udpv6_rcv")
int BPF_PROG(l4_rcv__fentry_udp6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_L4_RCV);
}

SEC("kprobe/tcp_v4_rcv")
int BPF_KPROBE(l4_rcv__kprobe_tcp4, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_L4_RCV);
}

SEC("kprobe/tcp_v6_rcv")
int BPF_KPROBE(l4_rcv__kprobe_tcp6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_L4_RCV);
}

SEC("kprobe/udp_rcv")
int BPF_KPROBE(l4_rcv__kprobe_udp4, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_L4_RCV);
}

SEC("kprobe/udpv6_rcv")
int BPF_KPROBE(l4_rcv__kprobe_udp6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_L4_RCV);
}

/* Established TCP only (tcp_rcv_established; after the socket backlog when
 * the socket was owned by the user). No UDP equivalent tracepoint. */
SEC("tp_btf/tcp_probe")
int BPF_PROG(l4_rcv__tp, struct sock *sk, const struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_L4_RCV);
}

/* ---------------------------------------------------------------- socket */

/* sk_data_ready only has the socket: the skb just queued is the tail of
 * sk_receive_queue. A TCP segment coalesced into the previous skb is not
 * seen here (its data rides in the tail skb). */
SEC("tp_btf/sk_data_ready")
int BPF_PROG(sock_enqueue__tp, const struct sock *sk)
{
	struct sk_buff *skb = sk->sk_receive_queue.prev;

	if ((void *)skb == (void *)&sk->sk_receive_queue)
		return 0;
	return rx_pass(skb, NSLAT_RX_SOCK_ENQUEUE);
}

/* ---------------------------------------------------------------- application */

SEC("tp_btf/skb_copy_datagram_iovec")
int BPF_PROG(handle_app_read, const struct sk_buff *skb, int len)
{
	__u64 key = (__u64)skb;
	struct nslat_pkt *st;
	__u64 now;

	st = nslat_pass(key, NSLAT_RX_APP_READ, &now);
	if (!st)
		return 0;
	if (nslat_defer()) {
		if (!nslat_task_ok()) {
			nslat_cnt(NSLAT_CNT_FILTERED);
			bpf_map_delete_elem(&nslat_pkts, &key);
			return 0;
		}
		nslat_replay(st);
	}
	nslat_sk_flow(skb->sk, st, true);
	nslat_finish(key, st, NSLAT_DIR_RX, NSLAT_END_READ, 0, now);
	return 0;
}

/* ---------------------------------------------------------------- end of life */

SEC("tp_btf/consume_skb")
int BPF_PROG(handle_consume_skb, struct sk_buff *skb)
{
	nslat_free(skb, NSLAT_DIR_RX, false, 0);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(handle_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	nslat_free(skb, NSLAT_DIR_RX, true, reason);
	return 0;
}

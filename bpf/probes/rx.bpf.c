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
	NSLAT_RX_IP_RCV,		/* ip_rcv_core / ip6_rcv_core (fentry, kprobe), netfilter pre_routing */
	NSLAT_RX_IP_LOCAL_DELIVER,	/* ip_local_deliver / ip6_input (fentry, kprobe, netfilter) */
	NSLAT_RX_L4_RCV,		/* tcp/udp receive; tcp:tcp_probe for established TCP */
	NSLAT_RX_SOCK_ENQUEUE,		/* queued on the socket (sock:sk_data_ready) */
	NSLAT_RX_APP_READ,		/* copied to the application */
	__NSLAT_BOUNDARY_MAX,
};
NSLAT_BOUNDARY_ENUM_CHECK();

/* Where the kernel already stamps a packet on receive (software RX
 * timestamping turned on by any socket on the host: netif_rx stamps the
 * skbs of loopback, veth and tunnels just before its tracepoint), the
 * entry boundary takes that stamp instead of reading the clock. The stamp
 * is CLOCK_REALTIME; the helper writes CLOCK_REALTIME - CLOCK_MONOTONIC
 * here at load and at every snapshot (0: stamps are not used). A stamp
 * that means something else is passed over: a delivery time (TCP's
 * departure time and SO_TXTIME survive loopback and veth, marked
 * monotonic or TAI), or any stamp on kernels that cannot tell (before
 * 5.18). The next boundary checks the stamp against its own clock
 * (nslat_advance). */
volatile __s64 nslat_real_offset SEC(".data") = 0;
/* Also read the clock at the entry and add up how far each stamp is from it
 * (stamp_checked, stamp_skew_ns): the kernel matrix checks the stamps so. */
const volatile __u8 check_kernel_stamps = 0;

struct sk_buff___tstamp_type {
	__u8 tstamp_type: 2;
} __attribute__((preserve_access_index));
struct sk_buff___mono_delivery_time {
	__u8 mono_delivery_time: 1;
} __attribute__((preserve_access_index));

#define SKB_CLOCK_REALTIME 0

/* The kernel's receive stamp of skb on the probes' clock, or 0. */
static __always_inline __u64 rx_kernel_stamp(struct sk_buff *skb)
{
	__s64 off = nslat_real_offset;
	__u64 ts;

	if (!off)
		return 0;
	ts = skb->tstamp;
	if (!ts)
		return 0;
	if (bpf_core_field_exists(struct sk_buff___tstamp_type, tstamp_type)) {
		if (BPF_CORE_READ_BITFIELD((struct sk_buff___tstamp_type *)skb, tstamp_type) != SKB_CLOCK_REALTIME)
			return 0;
	} else if (bpf_core_field_exists(struct sk_buff___mono_delivery_time, mono_delivery_time)) {
		if (BPF_CORE_READ_BITFIELD((struct sk_buff___mono_delivery_time *)skb, mono_delivery_time))
			return 0;
	} else {
		return 0;
	}
	return ts - off;
}

static __always_inline int rx_enter(struct sk_buff *skb, __u32 b)
{
	struct net_device *dev = skb->dev;
	struct nslat_pkt init = {};
	__u64 stamp, key = NSLAT_KEY(skb);

	if (!nslat_current())	/* a reload replaced this object: no new packets */
		return 0;
	if (!nslat_dev_ok(dev))
		return nslat_reject(key);
	if (nslat_flow_filter()) {
		nslat_skb_flow(skb, &init);
		/* the packet's destination is our local port */
		if (!nslat_ports_ok(init.l4, init.dport, init.sport))
			return nslat_reject(key);
	}
	if (!nslat_measure())
		return nslat_unmeasured(key);
	init.ifindex = dev ? dev->ifindex : 0;
	init.len = skb->len;
	stamp = b == NSLAT_RX_NETIF_RX ? rx_kernel_stamp(skb) : 0;
	init.stamped = stamp != 0;
	if (stamp) {
		nslat_cnt(NSLAT_CNT_KERNEL_STAMPED);
		if (check_kernel_stamps) {
			__u64 c = bpf_ktime_get_ns();

			nslat_cnt(NSLAT_CNT_STAMP_CHECKED);
			nslat_cnt_add(NSLAT_CNT_STAMP_SKEW_NS, c > stamp ? c - stamp : stamp - c);
		}
	}
	/* the entry time: the stamp, or the clock read once the slot is written */
	nslat_begin(key, b, &init, stamp, !stamp);
	return 0;
}

/* Unix, netlink... sockets use skbs too: one reusing the address of a
 * packet whose end was not seen must not advance that packet. */
static __always_inline bool inet_sock(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	return family == AF_INET || family == AF_INET6;
}

static __always_inline int rx_pass(const void *skb, __u32 b)
{
	__u64 now;

	nslat_pass(NSLAT_KEY(skb), b, &now);
	return 0;
}

/* kprobe arguments are plain numbers to the verifier (see NSLAT_KEY). */
static __always_inline int rx_pass_addr(const void *skb, __u32 b)
{
	__u64 now;

	nslat_pass(nslat_addr_key((__u64)skb), b, &now);
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

/* ip_rcv_core / ip6_rcv_core: the header checks both receive paths start
 * with. NAPI drivers with GRO hand packets over in lists (ip_list_rcv,
 * ipv6_list_rcv), which never call ip_rcv / ipv6_rcv. */
SEC("fentry/ip_rcv_core")
int BPF_PROG(ip_rcv__fentry_v4, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_RCV);
}

SEC("fentry/ip6_rcv_core")
int BPF_PROG(ip_rcv__fentry_v6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_RCV);
}

SEC("kprobe/ip_rcv_core")
int BPF_KPROBE(ip_rcv__kprobe_v4, struct sk_buff *skb)
{
	return rx_pass_addr(skb, NSLAT_RX_IP_RCV);
}

SEC("kprobe/ip6_rcv_core")
int BPF_KPROBE(ip_rcv__kprobe_v6, struct sk_buff *skb)
{
	return rx_pass_addr(skb, NSLAT_RX_IP_RCV);
}

SEC("fentry/ip_local_deliver")
int BPF_PROG(ip_local_deliver__fentry_v4, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_LOCAL_DELIVER);
}

SEC("fentry/ip6_input")
int BPF_PROG(ip_local_deliver__fentry_v6, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_IP_LOCAL_DELIVER);
}

SEC("kprobe/ip_local_deliver")
int BPF_KPROBE(ip_local_deliver__kprobe_v4, struct sk_buff *skb)
{
	return rx_pass_addr(skb, NSLAT_RX_IP_LOCAL_DELIVER);
}

SEC("kprobe/ip6_input")
int BPF_KPROBE(ip_local_deliver__kprobe_v6, struct sk_buff *skb)
{
	return rx_pass_addr(skb, NSLAT_RX_IP_LOCAL_DELIVER);
}

/* BPF netfilter hooks (kernel >= 6.4): PRE_ROUTING runs inside ip_rcv /
 * ipv6_rcv, LOCAL_IN inside ip_local_deliver / ip6_input. A netfilter hook
 * belongs to one network namespace: the helper attaches these in its own
 * and in those the load command names (a netns filter), and only where
 * neither fentry nor kprobe can feed the boundary.
 * SEC("netfilter/<ipv4|ipv6>/<hook>[/<priority>]") is read by the helper. */
#define NF_ACCEPT 1

SEC("netfilter/ipv4/pre_routing")
int ip_rcv__netfilter_v4(struct bpf_nf_ctx *ctx)
{
	rx_pass(ctx->skb, NSLAT_RX_IP_RCV);
	return NF_ACCEPT;
}

SEC("netfilter/ipv6/pre_routing")
int ip_rcv__netfilter_v6(struct bpf_nf_ctx *ctx)
{
	rx_pass(ctx->skb, NSLAT_RX_IP_RCV);
	return NF_ACCEPT;
}

SEC("netfilter/ipv4/local_in")
int ip_local_deliver__netfilter_v4(struct bpf_nf_ctx *ctx)
{
	rx_pass(ctx->skb, NSLAT_RX_IP_LOCAL_DELIVER);
	return NF_ACCEPT;
}

SEC("netfilter/ipv6/local_in")
int ip_local_deliver__netfilter_v6(struct bpf_nf_ctx *ctx)
{
	rx_pass(ctx->skb, NSLAT_RX_IP_LOCAL_DELIVER);
	return NF_ACCEPT;
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
	return rx_pass_addr(skb, NSLAT_RX_L4_RCV);
}

SEC("kprobe/tcp_v6_rcv")
int BPF_KPROBE(l4_rcv__kprobe_tcp6, struct sk_buff *skb)
{
	return rx_pass_addr(skb, NSLAT_RX_L4_RCV);
}

SEC("kprobe/udp_rcv")
int BPF_KPROBE(l4_rcv__kprobe_udp4, struct sk_buff *skb)
{
	return rx_pass_addr(skb, NSLAT_RX_L4_RCV);
}

SEC("kprobe/udpv6_rcv")
int BPF_KPROBE(l4_rcv__kprobe_udp6, struct sk_buff *skb)
{
	return rx_pass_addr(skb, NSLAT_RX_L4_RCV);
}

/* A TCP segment without data, FIN, SYN or RST: TCP frees it without a
 * tracepoint, so its journey ends at L4. skb->data is the TCP header at
 * tcp_probe. */
static __always_inline bool tcp_pure_ack(const struct sk_buff *skb)
{
	__u8 th[2];

	/* doff, then the flags byte */
	if (bpf_probe_read_kernel(th, sizeof(th), skb->data + 12))
		return false;
	return skb->len == (__u32)(th[0] >> 4) * 4 && !(th[1] & 0x07);
}

/* Established TCP only (tcp_rcv_established; after the socket backlog when
 * the socket was owned by the user). No UDP equivalent tracepoint. */
SEC("tp_btf/tcp_probe")
int BPF_PROG(l4_rcv__tp, struct sock *sk, const struct sk_buff *skb)
{
	struct nslat_pkt *st;
	__u64 now;

	st = nslat_pass(NSLAT_KEY(skb), NSLAT_RX_L4_RCV, &now);
	if (st && tcp_pure_ack(skb))
		nslat_free_st((struct sk_buff *)skb, st, NSLAT_DIR_RX, false, 0, now);
	return 0;
}

/* Where fentry or kprobe feed l4_rcv, pure ACKs still end here (their
 * last boundary is l4_rcv; l4_rcv__tp ends them itself). */
SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_ack_end, struct sock *sk, const struct sk_buff *skb)
{
	struct nslat_pkt *st = nslat_lookup(NSLAT_KEY(skb));

	if (st && st->last == NSLAT_RX_L4_RCV && tcp_pure_ack(skb))
		nslat_free_st((struct sk_buff *)skb, st, NSLAT_DIR_RX, false, 0, bpf_ktime_get_ns());
	return 0;
}

/* ---------------------------------------------------------------- socket */

/* Queued on the socket: tcp_queue_rcv (the in-order fast path and
 * tcp_data_queue both use it) and __udp_enqueue_schedule_skb, at entry
 * (after it a UDP reader on another CPU may already have freed the skb; a
 * datagram refused by a full queue ends at kfree_skb right after). */
SEC("fentry/tcp_queue_rcv")
int BPF_PROG(sock_enqueue__fentry_tcp, struct sock *sk, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_SOCK_ENQUEUE);
}

SEC("fentry/__udp_enqueue_schedule_skb")
int BPF_PROG(sock_enqueue__fentry_udp, struct sock *sk, struct sk_buff *skb)
{
	return rx_pass(skb, NSLAT_RX_SOCK_ENQUEUE);
}

SEC("kprobe/tcp_queue_rcv")
int BPF_KPROBE(sock_enqueue__kprobe_tcp, struct sock *sk, struct sk_buff *skb)
{
	return rx_pass_addr(skb, NSLAT_RX_SOCK_ENQUEUE);
}

SEC("kprobe/__udp_enqueue_schedule_skb")
int BPF_KPROBE(sock_enqueue__kprobe_udp, struct sock *sk, struct sk_buff *skb)
{
	return rx_pass_addr(skb, NSLAT_RX_SOCK_ENQUEUE);
}

/* A TCP segment coalesced into the skb before it in the queue (or the
 * backlog) is freed by kfree_skb_partial, without a tracepoint: its data is
 * read with that skb, so its own journey ends here. */
static __always_inline void coalesced(__u64 key)
{
	struct nslat_pkt *st = nslat_lookup(key);

	if (st && st->last != NSLAT_DONE) {
		nslat_cnt(NSLAT_CNT_COALESCED);
		if (!nslat_defer())	/* the stages it passed (no reader to filter by) */
			nslat_replay(st);
		nslat_done(st);
	}
}

SEC("fentry/kfree_skb_partial")
int BPF_PROG(coalesced__fentry, struct sk_buff *skb)
{
	coalesced(NSLAT_KEY(skb));
	return 0;
}

SEC("kprobe/kfree_skb_partial")
int BPF_KPROBE(coalesced__kprobe, struct sk_buff *skb)
{
	coalesced(nslat_addr_key((__u64)skb));
	return 0;
}

/* Kernels without fentry or kprobes: sock:sk_data_ready (6.10 and later),
 * which only has the socket, so the skbs just queued are found at the tail
 * of sk_receive_queue.
 *
 * Since 6.18 UDP producers batch (per-NUMA llist spliced under the queue
 * lock) and then call sk_data_ready once per datagram after the whole batch
 * is queued: one sk_data_ready may see several new datagrams and the next
 * none. The walk therefore goes back from the tail (at most ENQ_WALK) to the
 * newest skb already past sock_enqueue.
 *
 * UDP calls sk_data_ready after dropping the queue lock, so a reader on
 * another CPU may unlink and free any skb of the walk, and its memory may
 * hold another packet by the time it is read. TCP holds the socket lock,
 * which readers need too. What a racing read can do is bounded by checking
 * each step before it counts:
 *   - the list still links back: cand->next is the skb (or the queue head)
 *     the walk came from (an unlinked skb has next == NULL);
 *   - the candidate's own headers say it is a UDP datagram to this socket's
 *     port;
 *   - its per-packet state (keyed by the skb) is live, started before now
 *     and not past sock_enqueue.
 * A step that fails ends the walk and is counted (udp_queue_race): nothing
 * is guessed, the datagrams behind it miss this boundary only. */
#define ENQ_WALK 8

/* The candidate (known by its address) is a UDP datagram for local port
 * `lport` (host order). */
static __always_inline bool udp_for_port(__u64 addr, __u16 lport)
{
	struct nslat_pkt f = {};

	nslat_skb_flow_hdrs_addr(addr, &f);
	return f.l4 == IPPROTO_UDP && f.dport == lport;
}

#define ENQ_STOP 0	/* the walk ends here */
#define ENQ_NO_CLOCK 1	/* go on; no datagram of the walk was measured yet */

/* One step of the walk: the skb of packet key `key`. Returns ENQ_STOP, or
 * the time the walk goes on with: the clock is read once, at the first
 * measured datagram, and every datagram of the walk is timed with it (they
 * were all queued when sk_data_ready ran), so a measured one behind others
 * is not timed after the steps over them. A global function, verified once
 * on its own rather than once per step inside the program; it knows the skb
 * only as a number, so its fields come by probe reads. */
__noinline __u64 sock_enqueue_step(__u64 key, __u32 udp, __u32 lport, __u64 now, __u64 stop)
{
	struct nslat_pkt *st = nslat_lookup(key);
	__u64 addr;

	if (!st)	/* not measured: go on, unless the last walk got here */
		return key == stop ? ENQ_STOP : now;
	if (st->last >= NSLAT_RX_SOCK_ENQUEUE)	/* seen before (or done) */
		return ENQ_STOP;
	if (now == ENQ_NO_CLOCK)
		now = bpf_ktime_get_ns();
	addr = nslat_key_addr(key);
	if (udp && (!udp_for_port(addr, lport) || st->t0 > now)) {
		nslat_cnt(NSLAT_CNT_UDP_QUEUE_RACE);
		return ENQ_STOP;
	}
	if (nslat_advance(st, NSLAT_RX_SOCK_ENQUEUE, now) && udp) {
		nslat_skb_flow_hdrs_addr(addr, st);	/* gone when the read is seen */
		st->l4 = IPPROTO_UDP;	/* consume_skb leaves it to the read */
	}
	return now;
}

/* Per CPU and socket, the queue tail the last UDP walk started from: the
 * later sk_data_ready calls of a batch, on the same CPU, stop there rather
 * than walk over every datagram not measured (which keeps no state that says
 * it was seen). A tail that left the queue and whose skb came back as a new
 * datagram is stopped at too, unless that one is measured. ENQ_SOCKS sockets
 * per CPU, direct-mapped by the socket's address: several sockets fed on one
 * CPU each keep their tail (with one entry for all, two sockets taking turns
 * would walk ENQ_WALK datagrams at every call), and a socket that shares an
 * entry with another only walks further. */
#define ENQ_SOCKS 16

struct enq_last {
	__u64 sk;
	__u64 tail;
};

struct enq_cache {
	struct enq_last e[ENQ_SOCKS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enq_cache);
} rx_enq_last SEC(".maps");

/* The cache entry of socket key sk (a multiplicative hash's top bits). */
static __always_inline struct enq_last *enq_entry(__u64 sk)
{
	struct enq_cache *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&rx_enq_last, &zero);
	if (!c)
		return NULL;
	return &c->e[((sk * 0x9E3779B97F4A7C15ULL) >> 60) & (ENQ_SOCKS - 1)];
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(sock_enqueue__tp, const struct sock *sk)
{
	const void *qhead = &sk->sk_receive_queue;
	struct sk_buff *skb = sk->sk_receive_queue.prev;
	const void *from = qhead;	/* what skb->next must be */
	bool udp = sk->sk_protocol == IPPROTO_UDP;
	__u16 lport = sk->__sk_common.skc_num;
	__u64 now = ENQ_NO_CLOCK, stop = 0, sk_key = NSLAT_KEY(sk);
	struct enq_last *last;
	int i;

	if (!inet_sock(sk))
		return 0;
	if (udp) {
		last = enq_entry(sk_key);
		if (last && last->sk == sk_key)
			stop = last->tail;
		if (last && skb && (void *)skb != qhead) {
			last->sk = sk_key;
			last->tail = NSLAT_KEY(skb);
		}
	}
	for (i = 0; i < ENQ_WALK; i++) {
		if (!skb || (void *)skb == qhead)
			break;
		if (udp && (const void *)skb->next != from) {
			nslat_cnt(NSLAT_CNT_UDP_QUEUE_RACE);
			break;
		}
		now = sock_enqueue_step(NSLAT_KEY(skb), udp, lport, now, stop);
		if (now == ENQ_STOP)
			break;
		/* TCP calls sk_data_ready once per queued segment: the tail only */
		if (!udp)
			break;
		from = skb;
		skb = skb->prev;
	}
	return 0;
}

/* ---------------------------------------------------------------- application */

static __always_inline void rx_read(__u64 key, struct nslat_pkt *st, struct sk_buff *skb, __u64 now)
{
	if (nslat_defer() && !nslat_task_ok()) {
		nslat_cnt(NSLAT_CNT_FILTERED);
		nslat_done(st);
		return;
	}
	nslat_finish(key, st, skb, NSLAT_DIR_RX, NSLAT_END_READ, 0, now);
}

static __always_inline void rx_read_key(__u64 key, struct sk_buff *skb)
{
	struct nslat_pkt *st;
	__u64 now;

	st = nslat_pass(key, NSLAT_RX_APP_READ, &now);
	if (st)
		rx_read(key, st, skb, now);
}

/* TCP, and datagrams not copied by the linear fast path. */
SEC("tp_btf/skb_copy_datagram_iovec")
int BPF_PROG(handle_app_read, const struct sk_buff *skb, int len)
{
	struct sock *owner;

	if (len <= 0)	/* a FIN or an empty skb: nothing for the application */
		return 0;
	owner = skb->sk;
	if (!owner || !inet_sock(owner))	/* UDP (no owner): see app_read__*_udp */
		return 0;
	rx_read_key(NSLAT_KEY(skb), (struct sk_buff *)skb);
	return 0;
}

/* UDP reads copy linear skbs without the skb_copy_datagram_iovec
 * tracepoint. udp_recvmsg / udpv6_recvmsg hand the datagram they read to
 * skb_consume_udp with the bytes read (negative when peeking). */
SEC("fentry/skb_consume_udp")
int BPF_PROG(app_read__fentry_udp, struct sock *sk, struct sk_buff *skb, int len)
{
	if (len > 0)
		rx_read_key(NSLAT_KEY(skb), skb);
	return 0;
}

SEC("kprobe/skb_consume_udp")
int BPF_KPROBE(app_read__kprobe_udp, struct sock *sk, struct sk_buff *skb, int len)
{
	if (len > 0)
		rx_read_key(nslat_addr_key((__u64)skb), NULL);
	return 0;
}

/* Kernels without fentry or kprobes: the read is seen at
 * sock:sock_recv_length (6.3 and later), which only has the socket, and UDP
 * frees a read datagram (skb_attempt_defer_free) before it fires, possibly
 * on another CPU and possibly much later.
 *
 * Pairing a read with its datagram, from the queue itself (no counting):
 * a UDP socket's pending datagrams are reader_queue followed by
 * sk_receive_queue, and one successful non-peek recvmsg consumes exactly the
 * head of that sequence. Between two reads only the tail changes (enqueues),
 * so the head recorded after a read (or, when the queue was empty, at the
 * first sk_data_ready after it) is the datagram the next read consumes: if
 * the head after that read differs, the recorded one was read. When the
 * head is not known (the reader took a datagram before its sk_data_ready was
 * seen, or two threads read at once) the read is counted as udp_unpaired,
 * never guessed. The recorded head's t0 guards against its skb pointer being
 * reused. */
struct udp_q {
	__u64 head;		/* skb at the head of the pending datagrams, 0 = empty */
	__u64 head_t0;		/* its nslat_pkt t0 (0: not tracked) */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct udp_q);
} rx_udp_q SEC(".maps");

/* Head of reader_queue ++ sk_receive_queue (0: both empty). Racy reads are
 * harmless: a wrong value only makes a read unpaired. */
static __always_inline __u64 udp_head(const struct sock *sk)
{
	struct udp_sock *up = (void *)sk;
	struct sk_buff_head rq;

	/* beyond struct sock: one read of the whole list head */
	if (!bpf_core_read(&rq, sizeof(rq), &up->reader_queue) && rq.qlen)
		return nslat_addr_key((__u64)rq.next);
	if (sk->sk_receive_queue.qlen)
		return NSLAT_KEY(sk->sk_receive_queue.next);
	return 0;
}

/* A tracked datagram not read yet (its sock_enqueue may be recorded by
 * another program on the same sk_data_ready, before or after this one). */
static __always_inline struct nslat_pkt *udp_pending(__u64 key)
{
	struct nslat_pkt *st = key ? nslat_lookup(key) : NULL;

	return st && st->last <= NSLAT_RX_SOCK_ENQUEUE ? st : NULL;
}

static __always_inline void udp_set_head(struct udp_q *q, __u64 head)
{
	struct nslat_pkt *st = udp_pending(head);

	q->head = head;
	q->head_t0 = st ? st->t0 : 0;
}

/* The head of a UDP socket's pending datagrams, kept from the enqueue side
 * when the queue was empty after the last read. */
SEC("tp_btf/sk_data_ready")
int BPF_PROG(app_read__tp_udp_queue, const struct sock *sk)
{
	struct udp_q *q;
	__u64 head;

	if (sk->sk_protocol != IPPROTO_UDP || !inet_sock(sk))
		return 0;
	q = bpf_sk_storage_get(&rx_udp_q, (void *)sk, 0, 0);
	if (!q) {
		head = udp_head(sk);
		if (!udp_pending(head))
			return 0;	/* an untracked socket stays untracked */
		q = bpf_sk_storage_get(&rx_udp_q, (void *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!q) {
			nslat_cnt(NSLAT_CNT_MAP_FULL);
			return 0;
		}
		q->head = 0;
	}
	if (!q->head)	/* the queue was empty after the last read */
		udp_set_head(q, udp_head(sk));
	return 0;
}

#define MSG_PEEK 2

/* UDP payload bytes of a datagram from its length at the entry boundary
 * (IP and UDP headers, no IP options); -1 when its family is not known
 * (then the length is not checked). */
static __always_inline int udp_payload(const struct nslat_pkt *st)
{
	if (st->family == NSLAT_FAMILY_IPV4)
		return (int)st->len - 28;
	if (st->family == NSLAT_FAMILY_IPV6)
		return (int)st->len - 48;
	return -1;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(app_read__tp_udp, struct sock *sk, int ret, int flags)
{
	struct nslat_pkt *st;
	struct udp_q *q;
	__u64 prev, prev_t0, cur;

	if (!sk || (flags & MSG_PEEK) || sk->sk_protocol != IPPROTO_UDP)
		return 0;
	q = bpf_sk_storage_get(&rx_udp_q, sk, 0, 0);
	if (!q)
		return 0;
	prev = q->head;
	prev_t0 = q->head_t0;
	cur = udp_head(sk);
	udp_set_head(q, cur);
	if (ret < 0)	/* nothing read (a datagram dropped in recvmsg was seen at kfree_skb) */
		return 0;
	if (!prev || prev == cur) {	/* which datagram was read is not known */
		nslat_cnt(NSLAT_CNT_UDP_UNPAIRED);
		return 0;
	}
	st = nslat_lookup(prev);
	if (!prev_t0) {	/* not tracked (filtered, queued before the probe) or its enqueue missed */
		if (st && st->last < NSLAT_RX_SOCK_ENQUEUE)
			nslat_cnt(NSLAT_CNT_UDP_UNPAIRED);
		return 0;
	}
	if (!st || st->t0 != prev_t0 || st->last != NSLAT_RX_SOCK_ENQUEUE) {
		/* it ended meanwhile (dropped in recvmsg, which then read the next
		 * one), or its pointer was reused: the datagram read is not known */
		nslat_cnt(NSLAT_CNT_UDP_UNPAIRED);
		return 0;
	}
	/* Readers on several threads: another read may have taken the recorded
	 * head while this one took the next. A read returns its datagram's
	 * payload, so a different length is another datagram (or a truncated
	 * read): unpaired. What a race can still do is bounded: pair this read
	 * with a datagram of the same length that was at the head of the queue
	 * with it. */
	if (udp_payload(st) >= 0 && ret != udp_payload(st)) {
		nslat_cnt(NSLAT_CNT_UDP_UNPAIRED);
		return 0;
	}
	rx_read_key(prev, NULL);
	return 0;
}

/* ---------------------------------------------------------------- end of life */

/* Not a read. Where the UDP read is seen at sock_recv_length, UDP frees a
 * read datagram (skb_attempt_defer_free) before that fires: a queued UDP
 * datagram belongs to the read. */
SEC("tp_btf/consume_skb")
int BPF_PROG(end_consume_skb, struct sk_buff *skb)
{
	struct nslat_pkt *st = nslat_lookup(NSLAT_KEY(skb));

	if (!st || st->last == NSLAT_DONE ||
	    (st->l4 == IPPROTO_UDP && st->last >= NSLAT_RX_SOCK_ENQUEUE))
		return 0;
	nslat_free_st(skb, st, NSLAT_DIR_RX, false, 0, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(end_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	nslat_free(skb, NSLAT_DIR_RX, true, reason);
	return 0;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tx.bpf.c - transmit path.
 *
 * The skb is not known at sendmsg time, so sendmsg opens a context for the
 * sending thread (inet_sendmsg / inet6_sendmsg with fentry or kprobes; else
 * tcp:tcp_sendmsg_locked and the sendto/sendmsg/sendmmsg syscalls), closed
 * at the end of the call (their return; else sock:sock_send_length): a
 * per-CPU record of the thread and of sampling's decision, plus, for a
 * measured send, its time kept with the thread (task storage). The first
 * skb reaching IP output or net_dev_queue in that context starts with
 * t0 = sendmsg; others start at their first boundary. Ends: consume_skb (TX completion), kfree_skb, or -
 * on loopback/veth, where the TX skb becomes the peer's RX skb inside
 * start_xmit - net_dev_xmit after that hand-off. net_dev_xmit never
 * dereferences the skb (it may already be freed).
 *
 * IP output has no tracepoint: fentry, else kprobe (which reads the skb
 * through bpf_probe_read_kernel), else packets start at net_dev_queue.
 *
 * Filters: pid applies at sendmsg (only skbs sent from a matching thread's
 * sendmsg context are tracked); cgroup via the sending socket's cgroup;
 * ifindex / netns / L4 / ports at the entry boundary (ports from the socket,
 * from the UDP/TCP header when the socket has no remote port).
 */
#include "nslat.bpf.h"

enum nslat_boundary {
	NSLAT_TX_SENDMSG = 0,		/* sendmsg call started (context, see above) */
	NSLAT_TX_IP_OUTPUT,		/* ip_output / ip6_output (fentry only) */
	NSLAT_TX_NET_DEV_QUEUE,		/* dev_queue_xmit */
	NSLAT_TX_QDISC_ENQUEUE,
	NSLAT_TX_QDISC_DEQUEUE,
	NSLAT_TX_NET_DEV_START_XMIT,	/* handed to the driver */
	NSLAT_TX_NET_DEV_XMIT,		/* driver accepted it */
	NSLAT_TX_COMPLETE,		/* freed after transmission (consume_skb) */
	__NSLAT_BOUNDARY_MAX,
};
NSLAT_BOUNDARY_ENUM_CHECK();

/* The send in progress on each CPU: its task, and sampling's decision for
 * the first packet it sends (made at sendmsg, before any clock is read).
 * A send not measured costs its hooks this per-CPU record and nothing else. */
struct send_cpu {
	__u64 task;	/* the sending task (0: none) */
	__u64 t;	/* a measured send's sendmsg time (0: not measured) */
	__u32 used;	/* an skb took the decision: tcp_sendmsg_locked must not reopen it */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct send_cpu);
} tx_send_cpu SEC(".maps");

/* A measured send's time kept with its task as well (task storage: no hash
 * insert or delete on the send path), for the skb that leaves after the
 * task moved to another CPU or another send took this CPU's record. */
struct sendmsg_ctx {
	__u64 t;
	__u32 used;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sendmsg_ctx);
} tx_sendmsg SEC(".maps");

/* ---------------------------------------------------------------- sendmsg context */

static __always_inline struct send_cpu *send_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tx_send_cpu, &zero);
}

static __always_inline struct sendmsg_ctx *send_task(__u64 flags)
{
	return bpf_task_storage_get(&tx_sendmsg, bpf_get_current_task_btf(), 0, flags);
}

/* keep_first: a send already open on this CPU for this task stays (TCP calls
 * tcp_sendmsg_locked once per loop of one send). */
static __always_inline void sendmsg_open(bool keep_first)
{
	struct send_cpu *sc = send_cpu();
	__u64 task = bpf_get_current_task();
	struct sendmsg_ctx *c;

	if (!sc || !nslat_task_ok() || (keep_first && sc->task == task))
		return;
	nslat_cnt(NSLAT_CNT_SENDMSG);
	sc->task = task;
	sc->used = 0;
	sc->t = 0;
	/* the packet this call sends first is measured or not from here (the
	 * clock is read only for one that is) */
	if (!nslat_pick_packet())
		return;
	sc->t = bpf_ktime_get_ns();
	c = send_task(BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c) {
		nslat_cnt(NSLAT_CNT_MAP_FULL);
		return;
	}
	c->t = sc->t;
	c->used = 0;
}

static __always_inline void sendmsg_close(void)
{
	struct send_cpu *sc = send_cpu();
	struct sendmsg_ctx *c;

	if (sc && sc->task == bpf_get_current_task()) {
		sc->task = 0;
		if (!sc->t)	/* not measured: nothing kept with the task */
			return;
	}
	c = send_task(0);
	if (c)
		c->t = c->used = 0;
}

/* The socket layer's sendmsg of both inet families (send, sendto, sendmsg,
 * sendmmsg, write on a socket). */
SEC("fentry/inet_sendmsg")
int BPF_PROG(sendmsg__fentry_inet)
{
	sendmsg_open(false);
	return 0;
}

SEC("fentry/inet6_sendmsg")
int BPF_PROG(sendmsg__fentry_inet6)
{
	sendmsg_open(false);
	return 0;
}

SEC("fexit/inet_sendmsg")
int BPF_PROG(sendmsg__fexit_inet_end)
{
	sendmsg_close();
	return 0;
}

SEC("fexit/inet6_sendmsg")
int BPF_PROG(sendmsg__fexit_inet6_end)
{
	sendmsg_close();
	return 0;
}

SEC("kprobe/inet_sendmsg")
int BPF_KPROBE(sendmsg__kprobe_inet)
{
	sendmsg_open(false);
	return 0;
}

SEC("kprobe/inet6_sendmsg")
int BPF_KPROBE(sendmsg__kprobe_inet6)
{
	sendmsg_open(false);
	return 0;
}

SEC("kretprobe/inet_sendmsg")
int BPF_KRETPROBE(sendmsg__kretprobe_inet_end)
{
	sendmsg_close();
	return 0;
}

SEC("kretprobe/inet6_sendmsg")
int BPF_KRETPROBE(sendmsg__kretprobe_inet6_end)
{
	sendmsg_close();
	return 0;
}

/* Tracepoints only. tcp_sendmsg_locked (6.18 and later) is called once per
 * loop of the TCP send: keep the first. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(sendmsg__tp_tcp, const struct sock *sk)
{
	sendmsg_open(true);
	return 0;
}

SEC("tp/syscalls/sys_enter_sendto")
int sendmsg__tp_sendto(void *ctx)
{
	sendmsg_open(false);
	return 0;
}

SEC("tp/syscalls/sys_enter_sendmsg")
int sendmsg__tp_sendmsg(void *ctx)
{
	sendmsg_open(false);
	return 0;
}

SEC("tp/syscalls/sys_enter_sendmmsg")
int sendmsg__tp_sendmmsg(void *ctx)
{
	sendmsg_open(false);
	return 0;
}

/* End of every sock_sendmsg (6.3 and later): close the thread's context. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(sendmsg__tp_end, struct sock *sk, int ret, int flags)
{
	sendmsg_close();
	return 0;
}

/* ---------------------------------------------------------------- entry */

/* What the entry boundary's filters need to know about an skb, read
 * directly (BTF-typed contexts) or through bpf_probe_read_kernel (kprobes)
 * before the packet is admitted; the rest (flow, device, length) is read
 * only for a packet that is measured. */
struct tx_skb {
	__u64 key;
	bool dev_ok;		/* the device passes filter_ifindex / filter_netns */
	bool cgroup_ok;		/* the socket passes filter_cgroup */
};

#define TX_SKIP 0	/* nothing more to do for this skb */
#define TX_MEASURE 1	/* a new measured packet: fill in its flow, then nslat_begin */

#define nslat_dev_filter() (filter_ifindex || filter_netns)

/* First TX boundary of an skb: IP output where attachable, else
 * net_dev_queue. A packet already past an earlier boundary is advanced;
 * a new one goes through the filters (`init` holds its flow when a flow
 * filter is on) and sampling. TX_MEASURE leaves in *t_sendp the sendmsg
 * time when the packet is a measured send's first (init->mask then has
 * sendmsg), else 0. */
static __always_inline int tx_admit(struct tx_skb *in, __u32 b, struct nslat_pkt *init, __u64 *t_sendp)
{
	struct nslat_pkt *st = nslat_lookup(in->key);
	struct sendmsg_ctx *c;
	struct send_cpu *sc;
	__u64 now, task, t_send = 0;

	if (st && st->last < b) {
		now = bpf_ktime_get_ns();
		if (now - st->t0 <= NSLAT_MAX_AGE_NS) {
			nslat_record(st, b, now);
			return TX_SKIP;
		}
	}
	if (!nslat_current())	/* a reload replaced this object: no new packets */
		return TX_SKIP;
	if (!in->dev_ok || !in->cgroup_ok ||
	    (nslat_flow_filter() && !nslat_ports_ok(init->l4, init->sport, init->dport)))
		return nslat_reject(in->key);
	sc = send_cpu();
	task = bpf_get_current_task();
	if (sc && sc->task == task && !sc->used) {
		/* The first skb of the send on this CPU: decided at sendmsg. One
		 * decision per call: an skb sent from a softirq that interrupted this
		 * thread between the syscall entry and tcp_sendmsg_locked may take
		 * it, which must not let tcp_sendmsg_locked open a second one. */
		sc->used = 1;
		nslat_cnt(NSLAT_CNT_SEEN);
		if (!sc->t)
			return nslat_unmeasured(in->key);
		t_send = sc->t;
		c = send_task(0);
		if (c)
			c->used = 1;
	} else if (!(sc && sc->task == task) && (c = send_task(0)) && c->t && !c->used) {
		/* a measured send whose task moved, or whose CPU record another send took */
		c->used = 1;
		nslat_cnt(NSLAT_CNT_SEEN);
		t_send = c->t;
	} else if (filter_pid) {
		return nslat_reject(in->key);	/* not sent from a matching thread's sendmsg */
	} else if (!nslat_measure()) {
		return nslat_unmeasured(in->key);
	}
	*t_sendp = t_send;
	if (t_send)
		init->mask = 1U << NSLAT_TX_SENDMSG;	/* ts[SENDMSG] = 0 */
	return TX_MEASURE;
}

/* The flow of a BTF-typed skb: from its socket, else (unconnected UDP
 * sendto, no socket) from its headers. */
static __always_inline void tx_flow(struct sk_buff *skb, struct nslat_pkt *init)
{
	nslat_sk_flow(skb->sk, init);
	if (!init->dport)
		nslat_skb_flow_hdrs(skb, init);
}

/* skb_dst(skb)->dev: _skb_refdst is a number with a flag in bit 0. */
static __always_inline struct net_device *tx_dst_dev(__u64 refdst)
{
	struct dst_entry *dst = (void *)(refdst & ~1UL);

	return dst ? BPF_CORE_READ(dst, dev) : NULL;
}

/* The device an skb leaves by at b: the route's at IP output (known only as
 * an address), else the skb's own. */
static __always_inline struct net_device *tx_dev(struct sk_buff *skb, __u32 b)
{
	return b == NSLAT_TX_IP_OUTPUT ? tx_dst_dev(skb->_skb_refdst) : skb->dev;
}

/* A BTF-typed skb (fentry, tp_btf) entering at b. */
static __always_inline int tx_enter(struct sk_buff *skb, __u32 b)
{
	struct nslat_pkt init = {};
	struct tx_skb in = { .key = NSLAT_KEY(skb), .dev_ok = true, .cgroup_ok = true };
	struct net_device *dev;
	__u64 t_send;

	if (nslat_dev_filter())
		in.dev_ok = nslat_dev_addr_ok(tx_dev(skb, b));
	if (filter_cgroup) {
		struct sock *sk = skb->sk;

		in.cgroup_ok = sk && sk->sk_cgrp_data.cgroup->kn->id == filter_cgroup;
	}
	if (nslat_flow_filter())
		tx_flow(skb, &init);
	if (tx_admit(&in, b, &init, &t_send) != TX_MEASURE)
		return 0;
	if (!nslat_flow_filter())
		tx_flow(skb, &init);
	dev = tx_dev(skb, b);
	init.ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	init.len = skb->len;
	nslat_begin(in.key, b, &init, t_send, true);
	return 0;
}

SEC("fentry/ip_output")
int BPF_PROG(ip_output__fentry_v4, struct net *net, struct sock *sk, struct sk_buff *skb)
{
	return tx_enter(skb, NSLAT_TX_IP_OUTPUT);
}

SEC("fentry/ip6_output")
int BPF_PROG(ip_output__fentry_v6, struct net *net, struct sock *sk, struct sk_buff *skb)
{
	return tx_enter(skb, NSLAT_TX_IP_OUTPUT);
}

/* kprobe: every field through bpf_probe_read_kernel. */
static __always_inline void tx_flow_addr(struct sk_buff *skb, struct nslat_pkt *init)
{
	struct sock *sk = BPF_CORE_READ(skb, sk);

	if (sk) {
		__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

		init->l4 = BPF_CORE_READ(sk, sk_protocol);
		init->family = family == AF_INET ? NSLAT_FAMILY_IPV4 :
			       family == AF_INET6 ? NSLAT_FAMILY_IPV6 : NSLAT_FAMILY_OTHER;
		init->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
		init->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	}
	if (!init->dport) {	/* unconnected (UDP sendto): ports from the UDP/TCP header */
		unsigned char *head = BPF_CORE_READ(skb, head);
		__u16 th = BPF_CORE_READ(skb, transport_header);
		__u16 ports[2] = {};

		if (th != (__u16)~0U && !bpf_probe_read_kernel(ports, sizeof(ports), head + th)) {
			init->sport = bpf_ntohs(ports[0]);
			init->dport = bpf_ntohs(ports[1]);
		}
	}
}

static __always_inline int tx_enter_addr(struct sk_buff *skb, __u32 b)
{
	struct nslat_pkt init = {};
	struct tx_skb in = { .key = nslat_addr_key((__u64)skb), .dev_ok = true, .cgroup_ok = true };
	struct net_device *dev;
	__u64 t_send;

	if (nslat_dev_filter())
		in.dev_ok = nslat_dev_addr_ok(tx_dst_dev(BPF_CORE_READ(skb, _skb_refdst)));
	if (filter_cgroup) {
		struct sock *sk = BPF_CORE_READ(skb, sk);

		in.cgroup_ok = sk && BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id) == filter_cgroup;
	}
	if (nslat_flow_filter())
		tx_flow_addr(skb, &init);
	if (tx_admit(&in, b, &init, &t_send) != TX_MEASURE)
		return 0;
	if (!nslat_flow_filter())
		tx_flow_addr(skb, &init);
	dev = tx_dst_dev(BPF_CORE_READ(skb, _skb_refdst));
	init.ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	init.len = BPF_CORE_READ(skb, len);
	nslat_begin(in.key, b, &init, t_send, true);
	return 0;
}

SEC("kprobe/ip_output")
int BPF_KPROBE(ip_output__kprobe_v4, struct net *net, struct sock *sk, struct sk_buff *skb)
{
	return tx_enter_addr(skb, NSLAT_TX_IP_OUTPUT);
}

SEC("kprobe/ip6_output")
int BPF_KPROBE(ip_output__kprobe_v6, struct net *net, struct sock *sk, struct sk_buff *skb)
{
	return tx_enter_addr(skb, NSLAT_TX_IP_OUTPUT);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(handle_net_dev_queue, struct sk_buff *skb)
{
	return tx_enter(skb, NSLAT_TX_NET_DEV_QUEUE);
}

/* ---------------------------------------------------------------- qdisc, driver */

static __always_inline int tx_pass(const void *skb, __u32 b)
{
	__u64 now;

	nslat_pass(NSLAT_KEY(skb), b, &now);
	return 0;
}

SEC("tp_btf/qdisc_enqueue")
int BPF_PROG(handle_qdisc_enqueue, struct Qdisc *q, const struct netdev_queue *txq,
	     struct sk_buff *skb)
{
	return tx_pass(skb, NSLAT_TX_QDISC_ENQUEUE);
}

/* A bulk dequeue hands the driver a list: skb->next links the `packets`
 * skbs that left the qdisc together, and the tracepoint fires once, for the
 * first. Each of them leaves now. Byte queue limits bound a bulk; past
 * TX_BULK_MAX (small packets on a fast queue) the rest go unstamped and their
 * qdisc stage is not measured (their later stages still are). */
#define TX_BULK_MAX 64

/* One skb of a bulk dequeue, by key. A global function is verified once, on
 * its own, rather than once per loop iteration inside the program: the loop
 * below costs the verifier a few instructions a turn. */
__noinline int tx_dequeue_one(__u64 key)
{
	__u64 now;

	nslat_pass(key, NSLAT_TX_QDISC_DEQUEUE, &now);
	return 0;
}

SEC("tp_btf/qdisc_dequeue")
int BPF_PROG(handle_qdisc_dequeue, struct Qdisc *q, const struct netdev_queue *txq,
	     int packets, struct sk_buff *skb)
{
	struct sk_buff *s = skb;
	int i;

	for (i = 0; i < TX_BULK_MAX && i < packets && s; i++) {
		tx_dequeue_one(NSLAT_KEY(s));
		s = s->next;	/* still BTF-typed: NSLAT_KEY needs that */
	}
	return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(handle_net_dev_start_xmit, const struct sk_buff *skb)
{
	return tx_pass(skb, NSLAT_TX_NET_DEV_START_XMIT);
}

/* Loopback and veth hand the TX skb to the peer's netif_rx inside
 * start_xmit: that packet's TX journey ends at net_dev_xmit. */
SEC("tp_btf/netif_rx")
int BPF_PROG(handoff_netif_rx, struct sk_buff *skb)
{
	struct nslat_pkt *st = nslat_lookup(NSLAT_KEY(skb));

	if (st)
		st->handoff = 1;
	return 0;
}

/* The skb may be gone: use the pointer as a key only. */
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(handle_net_dev_xmit, struct sk_buff *skb, int rc)
{
	__u64 key = NSLAT_KEY(skb);
	struct nslat_pkt *st;
	__u64 now;

	if (rc != 0)	/* NETDEV_TX_OK */
		return 0;
	st = nslat_pass(key, NSLAT_TX_NET_DEV_XMIT, &now);
	if (st && st->handoff)
		nslat_finish(key, st, NULL, NSLAT_DIR_TX, NSLAT_END_XMIT, 0, now);
	return 0;
}

/* ---------------------------------------------------------------- completion */

SEC("tp_btf/consume_skb")
int BPF_PROG(handle_complete, struct sk_buff *skb)
{
	__u64 key = NSLAT_KEY(skb);
	struct nslat_pkt *st;
	__u64 now;

	st = nslat_pass(key, NSLAT_TX_COMPLETE, &now);
	if (st)
		nslat_finish(key, st, skb, NSLAT_DIR_TX, NSLAT_END_CONSUME, 0, now);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(end_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	nslat_free(skb, NSLAT_DIR_TX, true, reason);
	return 0;
}

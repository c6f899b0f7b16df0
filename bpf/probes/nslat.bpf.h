/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * nslat.bpf.h - BPF-side helpers shared by the nslat probe objects:
 * maps the helper reads, filters, log-linear histograms, per-packet boundary
 * recording and journey emission. Read include/nslat.h first.
 *
 * Per hook the hot path is: one inlined array lookup (per-packet table),
 * one or two per-CPU array lookups, a handful of stores. Filters are const volatile, so a filter
 * left at 0 is removed by the verifier's dead-code elimination.
 */
#ifndef __NSLAT_BPF_H
#define __NSLAT_BPF_H

#include "vmlinux.h"
#if defined(NSLAT_CROSS_REGS) && defined(__TARGET_ARCH_arm64)
/* Built against another architecture's vmlinux.h (make ship): arm64's kprobe register layout,
 * a UAPI struct, is not in it. */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
#endif
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "nslat.h"

#ifndef NSLAT_HIST_ENTRIES
#define NSLAT_HIST_ENTRIES	NSLAT_HIST_PKT_MAX
#endif
/* Per-packet table: 2^NSLAT_PKT_BITS direct-mapped slots. */
#ifndef NSLAT_PKT_BITS
#define NSLAT_PKT_BITS		16
#endif
#define NSLAT_PKT_ENTRIES	(1U << NSLAT_PKT_BITS)

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define AF_INET		2
#define AF_INET6	10

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ------------------------------------------------------------ maps */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NSLAT_HIST_ENTRIES);
	__type(key, __u32);
	__type(value, struct nslat_hist);
} nslat_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NSLAT_MAX_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} nslat_counters SEC(".maps");

/* Keep the counter and IRQ layout enums in every object's BTF. */
const volatile enum nslat_counter nslat_counter_max = __NSLAT_CNT_MAX;

/* Limits a group of alternatives (<group>__<alt>...) to kernels with a
 * property (enum nslat_when); the helper reads the value before loading. */
#define NSLAT_WHEN(group, cond) \
	const volatile enum nslat_when nslat_when__##group = (cond)

/* ------------------------------------------------------------ options */

/* Filters: 0 = off. Set by the helper before load ("rodata"). */
const volatile __u32 filter_ifindex = 0;	/* skb->dev->ifindex */
const volatile __u32 filter_netns = 0;		/* netns inode (ls -l /proc/PID/ns/net) */
const volatile __u8 filter_l4 = 0;		/* IPPROTO_TCP (6) / IPPROTO_UDP (17) */
const volatile __u16 filter_lport = 0;		/* local port, host order */
const volatile __u16 filter_rport = 0;		/* remote port, host order */
const volatile __u16 filter_port = 0;		/* either port, host order */
const volatile __u32 filter_pid = 0;		/* tgid */
const volatile __u64 filter_cgroup = 0;		/* cgroup v2 id */

/* Reloads. The objects loaded one after another into a slot share nslat_gen
 * (and, for packets, the per-packet table): each has its own generation
 * (nslat_my_gen, set by the helper before load), and only the object whose
 * generation nslat_gen holds starts anything (a packet, a hard IRQ, a
 * softirq). The helper writes the new generation once the new object is
 * attached: before that write the old object starts everything, after it the
 * new one, and each finishes only what it started. So every packet is counted
 * by exactly one object, the one that saw its entry boundary, with no gap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} nslat_gen SEC(".maps");

const volatile __u32 nslat_my_gen = 1;

static __always_inline bool nslat_current(void)
{
	__u32 zero = 0, *g = bpf_map_lookup_elem(&nslat_gen, &zero);

	return g && *g == nslat_my_gen;
}

/* Journeys: changeable at run time ("data" / set). */
volatile __u32 sample_every SEC(".data") = 1000;
volatile __u64 slow_ns SEC(".data") = 0;
/* Measure 1 in measure_every packets (0 or 1: every packet), chosen at
 * random at the entry boundary before the clock is read; set by the core
 * from the rate of packets seen. A packet not measured costs the later
 * boundaries only the lookup of its slot, whose tag is not its own. */
volatile __u32 measure_every SEC(".data") = 1;

/* ------------------------------------------------------------ counters, hists */

static __always_inline __u64 nslat_cnt_add(__u32 c, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&nslat_counters, &c);

	if (!p)
		return 0;
	*p += v;
	return *p;
}

#define nslat_cnt(c) nslat_cnt_add(c, 1)

/* 1 when v > c, else 0, for v and c below 2^63, without a branch: the
 * verifier then follows one path through the bucket arithmetic instead of
 * one per outcome of every comparison (clang cannot turn it back into a
 * comparison: the subtraction may wrap). */
#define NSLAT_GT(v, c)	(((__u64)(c) - (__u64)(v)) >> 63)

/* floor(log2(v)) for 0 < v < 2^63 (bcc's log2), 0 for v == 0. */
static __always_inline __u32 nslat_log2(__u64 v)
{
	__u64 r, shift;

	r = NSLAT_GT(v, 0xFFFFFFFFULL) << 5; v >>= r;
	shift = NSLAT_GT(v, 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = NSLAT_GT(v, 0xFF) << 3; v >>= shift; r |= shift;
	shift = NSLAT_GT(v, 0xF) << 2; v >>= shift; r |= shift;
	shift = NSLAT_GT(v, 0x3) << 1; v >>= shift; r |= shift;
	return r | (v >> 1);
}

/* The log-linear bucket of v (nslat.h): its power of two, then the
 * NSLAT_HIST_SUB_BITS bits below the top bit; the last bucket holds
 * everything above. One branch. */
static __always_inline __u32 nslat_bucket(__u64 v)
{
	__u64 e, b, over;

	if (v < (1U << NSLAT_HIST_SUB_BITS))
		return v;
	e = nslat_log2(v);
	/* e >= NSLAT_HIST_SUB_BITS here; the mask keeps the shift in range
	 * for the verifier */
	b = ((e - NSLAT_HIST_SUB_BITS + 1) << NSLAT_HIST_SUB_BITS) |
	    ((v >> ((e - NSLAT_HIST_SUB_BITS) & 63)) & ((1U << NSLAT_HIST_SUB_BITS) - 1));
	over = NSLAT_GT(b, NSLAT_HIST_BUCKETS - 1);
	return b ^ ((b ^ (NSLAT_HIST_BUCKETS - 1)) & -over);
}

/* A global function, checked once per program by the verifier however many
 * places call it (it runs only for what is measured). */
__noinline int nslat_hist_add(__u32 idx, __u64 v)
{
	struct nslat_hist *h = bpf_map_lookup_elem(&nslat_hist, &idx);
	__u32 b;

	if (!h)
		return 0;
	b = nslat_bucket(v);
	h->buckets[b & (NSLAT_HIST_BUCKETS - 1)]++;
	h->sum += v;
	return 0;
}

/* Whether this one of a stream of events is picked, 1 in n: a per-CPU
 * countdown through random gaps of mean n (uniform in 1 .. 2n-1, so a
 * periodic pattern cannot lock onto the choice), a random number only at
 * each pick. */
static __always_inline bool nslat_pick(__u32 *gap, __u32 n)
{
	if (n <= 1)
		return true;
	if (*gap > 1) {
		(*gap)--;
		return false;
	}
	*gap = 1 + bpf_get_prandom_u32() % (2 * n - 1);
	return true;
}

#ifndef NSLAT_NO_PACKETS
/* ------------------------------------------------------------ packets */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NSLAT_MAX_DROPS);
	__type(key, __u32);
	__type(value, __u64);
} nslat_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} nslat_journeys SEC(".maps");

/* Per-packet state, in a direct-mapped table indexed by a multiplicative
 * hash of the skb pointer and tagged with it. An ARRAY lookup is inlined by
 * the verifier (no helper call, no bucket walk, no LRU list upkeep). Two
 * packets in flight whose pointers share a slot: the newer one takes it and
 * the older is forgotten (counted as "evicted" when it was still live);
 * stale entries are recognised by age. With 64k slots and a few hundred
 * packets in flight, collisions are rare (measure: the evicted counter). */
struct nslat_pkt {
	__u64 skb;		/* tag: the skb pointer owning the slot (0: free) */
	__u64 t0;		/* entry boundary */
	__u32 last;		/* id of the last boundary passed */
	__u32 mask;		/* boundaries passed */
	__u32 ts[NSLAT_NB];	/* ns since t0 per boundary passed */
	__u32 ifindex;
	__u32 len;
	__u16 sport;
	__u16 dport;
	__u8 l4;
	__u8 family;
	__u8 handoff;		/* tx: the skb went to a peer's RX (loopback, veth) */
	__u8 stamped;		/* rx: t0 is the kernel's receive stamp, not yet checked against the clock */
	__u32 gen;		/* nslat_my_gen of the object that started it */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSLAT_PKT_ENTRIES);
	__type(key, __u32);
	__type(value, struct nslat_pkt);
} nslat_pkts SEC(".maps");

/* Which slots of nslat_pkts hold a live packet: one bit per slot, set while
 * its packet is on its way. Most skbs a boundary sees are not measured
 * (sampling) or not tracked at all (other traffic); this bitmap, 8 KiB and
 * so mostly in cache, tells them apart without touching the per-packet table
 * (7 MiB: a cache miss per packet). A bit is set and cleared without an
 * atomic operation: two CPUs changing bits of one byte at once (slots within
 * eight of each other, both changing state in the same instant) can lose
 * one change, which costs a later check a table lookup (a clear lost) or
 * leaves a packet unfinished (a set lost), the same as two packets taking
 * one slot. Shared like nslat_pkts. */
struct nslat_live_bits {
	__u8 b[NSLAT_PKT_ENTRIES / 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nslat_live_bits);
} nslat_live SEC(".maps");

/* A packet's key: its skb pointer as a number. The verifier allows no
 * arithmetic on a pointer except subtracting another pointer, which (for a
 * privileged loader, as the helper is) yields a plain number: the key is the
 * skb's distance from the table map, a constant offset per loaded object.
 * NSLAT_KEY() takes a BTF-typed pointer (tp_btf, fentry, netfilter);
 * nslat_addr_key() the same address already known as a number (kprobe
 * arguments, bpf_probe_read_kernel / BPF_CORE_READ results): subtracting the
 * map pointer from a number is refused by the verifier. */
#define NSLAT_KEY(p)	((__u64)(const void *)(p) - (__u64)(const void *)&nslat_pkts)

volatile __u64 nslat_pkts_addr SEC(".bss");

/* The address NSLAT_KEY subtracts, as a number the verifier does not track
 * as a map pointer (stored once, reloaded). */
static __always_inline __u64 nslat_pkts_base(void)
{
	if (!nslat_pkts_addr)
		nslat_pkts_addr = (__u64)(const void *)&nslat_pkts;
	return nslat_pkts_addr;
}

/* The key of an skb known by its address as a number (kprobe arguments). */
static __always_inline __u64 nslat_addr_key(__u64 addr)
{
	return addr - nslat_pkts_base();
}

/* The other way: the skb address of a key, as a number. */
static __always_inline __u64 nslat_key_addr(__u64 key)
{
	return key + nslat_pkts_base();
}

/* Fibonacci hashing: the top bits of key * 2^64/phi. */
static __always_inline __u32 nslat_slot_idx(__u64 key)
{
	return (__u32)((key * 0x9E3779B97F4A7C15ULL) >> (64 - NSLAT_PKT_BITS));
}

/* The slot for key, whoever owns it (never NULL in practice). */
static __always_inline struct nslat_pkt *nslat_slot(__u64 key)
{
	__u32 idx = nslat_slot_idx(key);

	return bpf_map_lookup_elem(&nslat_pkts, &idx);
}

/* The byte of nslat_live holding slot idx's bit (never NULL in practice).
 * The barrier keeps the offset's addition after the NULL check: clang may
 * otherwise add it to the lookup's result first and test afterwards, which
 * older verifiers (Debian's 6.1 and 6.12 among them) refuse: arithmetic on a
 * pointer that may be NULL. */
static __always_inline __u8 *nslat_live_byte(__u32 idx)
{
	__u32 zero = 0;
	struct nslat_live_bits *l = bpf_map_lookup_elem(&nslat_live, &zero);

	if (!l)
		return NULL;
	barrier_var(l);
	return &l->b[(idx >> 3) & (NSLAT_PKT_ENTRIES / 8 - 1)];
}

#define nslat_live_bit(idx)	((__u8)(1U << ((idx) & 7)))

/* The state of packet key, or NULL when no live packet holds its slot, or
 * another skb does, or a packet another object of the slot (an earlier load)
 * started. */
static __always_inline struct nslat_pkt *nslat_lookup(__u64 key)
{
	__u32 idx = nslat_slot_idx(key);
	__u8 *live = nslat_live_byte(idx);
	struct nslat_pkt *st;

	if (!live || !(*live & nslat_live_bit(idx)))
		return NULL;
	st = bpf_map_lookup_elem(&nslat_pkts, &idx);
	return st && st->skb == key && st->gen == nslat_my_gen ? st : NULL;
}

/* RX with a pid or cgroup filter: the owning task is only known when the
 * application reads, so only the packets a matching task reads are recorded
 * (their stages at the read, as every packet's are at its end); packets that
 * end otherwise cannot be attributed and are not recorded. */
#ifdef NSLAT_RX_DEFER
#define nslat_defer() (filter_pid || filter_cgroup)
#else
#define nslat_defer() 0
#endif

/* Keeps enum nslat_boundary in BTF and checks its size. Use once per
 * packet object, after the enum. */
#define NSLAT_BOUNDARY_ENUM_CHECK()						\
	_Static_assert(__NSLAT_BOUNDARY_MAX <= NSLAT_NB,			\
		       "at most NSLAT_NB boundaries per object");		\
	const volatile enum nslat_boundary nslat_boundary_max = __NSLAT_BOUNDARY_MAX

static __always_inline bool nslat_task_ok(void)
{
	if (filter_pid && (bpf_get_current_pid_tgid() >> 32) != filter_pid)
		return false;
	if (filter_cgroup && bpf_get_current_cgroup_id() != filter_cgroup)
		return false;
	return true;
}

static __always_inline bool nslat_dev_ok(struct net_device *dev)
{
	if (filter_ifindex && (!dev || dev->ifindex != filter_ifindex))
		return false;
	if (filter_netns && (!dev || dev->nd_net.net->ns.inum != filter_netns))
		return false;
	return true;
}

/* The same for a device known only as an address (kprobe arguments). */
static __always_inline bool nslat_dev_addr_ok(const struct net_device *dev)
{
	if (filter_ifindex && (!dev || BPF_CORE_READ(dev, ifindex) != filter_ifindex))
		return false;
	if (filter_netns && (!dev || BPF_CORE_READ(dev, nd_net.net, ns.inum) != filter_netns))
		return false;
	return true;
}

static __always_inline bool nslat_ports_ok(__u8 l4, __u16 lport, __u16 rport)
{
	if (filter_l4 && l4 != filter_l4)
		return false;
	if (filter_lport && lport != filter_lport)
		return false;
	if (filter_rport && rport != filter_rport)
		return false;
	if (filter_port && lport != filter_port && rport != filter_port)
		return false;
	return true;
}

#define nslat_flow_filter() (filter_l4 || filter_lport || filter_rport || filter_port)

/* Flow of an skb whose data points at the network header (RX after
 * eth_type_trans). Only used when a flow filter is on. */
static __always_inline void nslat_skb_flow(struct sk_buff *skb, struct nslat_pkt *st)
{
	unsigned char *data = skb->data;
	__u16 proto = bpf_ntohs(skb->protocol);
	__u16 ports[2] = {};
	__u8 l4 = 0;
	__u32 off;

	if (proto == ETH_P_IP) {
		__u8 vihl = 0;

		bpf_probe_read_kernel(&vihl, 1, data);
		bpf_probe_read_kernel(&l4, 1, data + offsetof(struct iphdr, protocol));
		off = (vihl & 0xf) * 4;
		st->family = NSLAT_FAMILY_IPV4;
	} else if (proto == ETH_P_IPV6) {
		bpf_probe_read_kernel(&l4, 1, data + offsetof(struct ipv6hdr, nexthdr));
		off = sizeof(struct ipv6hdr);
		st->family = NSLAT_FAMILY_IPV6;
	} else {
		return;
	}
	st->l4 = l4;
	if (l4 == IPPROTO_TCP || l4 == IPPROTO_UDP) {
		bpf_probe_read_kernel(ports, sizeof(ports), data + off);
		st->sport = bpf_ntohs(ports[0]);
		st->dport = bpf_ntohs(ports[1]);
	}
}

/* Flow from the headers the stack has already parsed (network and
 * transport header offsets set: TX from IP output on, RX from IP receive
 * on), given the skb's head, header offsets and protocol. */
static __always_inline void nslat_flow_at(unsigned char *head, __u16 nh, __u16 th, __u16 proto,
					  struct nslat_pkt *st)
{
	__u16 ports[2] = {};
	__u8 l4 = 0;

	if (nh == (__u16)~0U)
		return;
	if (proto == ETH_P_IP) {
		bpf_probe_read_kernel(&l4, 1, head + nh + offsetof(struct iphdr, protocol));
		st->family = NSLAT_FAMILY_IPV4;
	} else if (proto == ETH_P_IPV6) {
		bpf_probe_read_kernel(&l4, 1, head + nh + offsetof(struct ipv6hdr, nexthdr));
		st->family = NSLAT_FAMILY_IPV6;
	} else {
		return;
	}
	st->l4 = l4;
	if ((l4 == IPPROTO_TCP || l4 == IPPROTO_UDP) && th != (__u16)~0U) {
		bpf_probe_read_kernel(ports, sizeof(ports), head + th);
		st->sport = bpf_ntohs(ports[0]);
		st->dport = bpf_ntohs(ports[1]);
	}
}

/* The same from a BTF-typed skb (tp_btf, fentry): direct loads. */
static __always_inline void nslat_skb_flow_hdrs(struct sk_buff *skb, struct nslat_pkt *st)
{
	nslat_flow_at(skb->head, skb->network_header, skb->transport_header, bpf_ntohs(skb->protocol), st);
}

/* The same from an skb known only by its address (a global function's
 * argument, which the verifier sees as a number): CO-RE probe reads. */
static __always_inline void nslat_skb_flow_hdrs_addr(__u64 addr, struct nslat_pkt *st)
{
	struct sk_buff *skb = (struct sk_buff *)addr;

	nslat_flow_at(BPF_CORE_READ(skb, head), BPF_CORE_READ(skb, network_header),
		      BPF_CORE_READ(skb, transport_header), bpf_ntohs(BPF_CORE_READ(skb, protocol)), st);
}

/* Flow of a locally sent packet from its socket: direct loads, no helper
 * calls (an unconnected UDP socket has no remote port: 0). BTF-typed
 * contexts only. */
static __always_inline void nslat_sk_flow(struct sock *sk, struct nslat_pkt *st)
{
	__u16 family;

	if (!sk)
		return;
	family = sk->__sk_common.skc_family;
	st->l4 = sk->sk_protocol;
	st->family = family == AF_INET ? NSLAT_FAMILY_IPV4 :
		     family == AF_INET6 ? NSLAT_FAMILY_IPV6 : NSLAT_FAMILY_OTHER;
	st->sport = sk->__sk_common.skc_num;
	st->dport = bpf_ntohs(sk->__sk_common.skc_dport);
}

/* A finished packet's entry stays, marked done (its slot is free for any
 * other skb; the next packet reusing the pointer restarts it in place). */
#define NSLAT_DONE 0xffffffffU

static __always_inline void nslat_done(struct nslat_pkt *st)
{
	__u32 idx = nslat_slot_idx(st->skb);
	__u8 *live = nslat_live_byte(idx);

	st->last = NSLAT_DONE;	/* no boundary id is larger: nothing advances it */
	st->mask = 0;
	if (live)
		*live &= ~nslat_live_bit(idx);
}

/* Every stage a packet passed, recorded at its end: the boundaries only
 * store their time, so what a measured packet costs a stage is one clock
 * read and a few stores on its own slot, the same whether 1 in 1 or 1 in
 * 1000 packets is measured, and the histograms' cache lines are touched
 * after the packet's last boundary, outside every stage it is timed in. */
/* A global function: the verifier checks it once on its own, not once per
 * caller and path (every program that ends packets calls it). Each stage
 * ends at a boundary passed and starts at the last one passed before it
 * (the highest bit of the mask below it), so no iteration depends on the
 * one before and the verifier's walk of the loop stays short. */
__noinline int nslat_replay(struct nslat_pkt *st)
{
	__u32 mask, below, from, b;

	if (!st)
		return 0;
	mask = st->mask;
	for (b = 1; b < NSLAT_NB; b++) {
		below = mask & ((1U << b) - 1);
		if (!(mask & (1U << b)) || !below)
			continue;
		from = nslat_log2(below) & (NSLAT_NB - 1);
		nslat_hist_add(NSLAT_HIST_STAGE(from, b), st->ts[b] - st->ts[from]);
		nslat_hist_add(NSLAT_HIST_CUM(b), st->ts[b]);
	}
	return 0;
}

/* A packet not started at its entry boundary (the filters refused it, or
 * sampling passed it over): any state under its pointer belongs to an
 * earlier packet whose end was not seen. Drop it, or the later boundaries of
 * this packet would advance it. */
static __always_inline int nslat_unmeasured(__u64 key)
{
	struct nslat_pkt *st = nslat_lookup(key);

	if (st)
		nslat_done(st);
	return 0;
}

/* The filters refused a packet at its entry boundary. */
static __always_inline int nslat_reject(__u64 key)
{
	nslat_cnt(NSLAT_CNT_FILTERED);
	return nslat_unmeasured(key);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} nslat_gap SEC(".maps");

/* 1 in measure_every packets (or sends), on this CPU. */
static __always_inline bool nslat_pick_packet(void)
{
	__u32 zero = 0, *gap, n = measure_every;

	if (n <= 1)
		return true;
	gap = bpf_map_lookup_elem(&nslat_gap, &zero);
	return gap && nslat_pick(gap, n);
}

/* Whether a packet that passed the filters at its entry boundary is
 * measured; every such packet is counted (the exact total). */
static __always_inline bool nslat_measure(void)
{
	nslat_cnt(NSLAT_CNT_SEEN);
	return nslat_pick_packet();
}

/* Key's slot now holds a live packet. */
static __always_inline void nslat_set_live(__u64 key)
{
	__u32 idx = nslat_slot_idx(key);
	__u8 *live = nslat_live_byte(idx);

	if (live)
		*live |= nslat_live_bit(idx);
}

/* Start (or restart: skb pointers are reused) a packet at its entry
 * boundary b, in key's slot; the caller has applied its filters and
 * sampling. The slot is written before the clock is read: a measured
 * packet's slot was last touched long ago (at 1 in N its cache lines are
 * cold), and that miss belongs to no stage. t0 is the given time when not 0
 * (a kernel receive stamp, a send's sendmsg time), else the clock; `clock`
 * false means the given time is the entry time itself (no clock read).
 * `init` holds the flow and the boundaries passed before (tx: sendmsg, at
 * ts 0). A slot still held by another live packet (not done, not stale) is
 * an eviction. */
static __always_inline bool nslat_begin(__u64 key, __u32 b, struct nslat_pkt *init, __u64 t0, bool clock)
{
	struct nslat_pkt *st = nslat_slot(key);
	__u64 old_skb, old_t0, now;
	__u32 old_last;

	if (!st)
		return false;
	old_skb = st->skb;
	old_t0 = st->t0;
	old_last = st->last;
	/* Stores straight into the slot; ts[] entries outside mask are never
	 * read, so they are not cleared. */
	st->skb = key;
	st->last = b;
	st->mask = init->mask | (1U << (b & (NSLAT_NB - 1)));
	st->ts[0] = 0;
	st->ifindex = init->ifindex;
	st->len = init->len;
	st->sport = init->sport;
	st->dport = init->dport;
	st->l4 = init->l4;
	st->family = init->family;
	st->handoff = 0;
	st->stamped = init->stamped;
	st->gen = nslat_my_gen;
	nslat_set_live(key);
	now = clock ? bpf_ktime_get_ns() : t0;
	if (!t0 || now - t0 > NSLAT_MAX_AGE_NS) {	/* none, or a send too long ago */
		t0 = now;
		st->mask = 1U << (b & (NSLAT_NB - 1));
	}
	st->t0 = t0;
	st->ts[b & (NSLAT_NB - 1)] = now - t0;
	if (old_skb != key && old_skb && old_last != NSLAT_DONE && now - old_t0 <= NSLAT_MAX_AGE_NS)
		nslat_cnt(NSLAT_CNT_EVICTED);
	nslat_cnt(NSLAT_CNT_STARTED);
	return true;
}

static __always_inline void nslat_record(struct nslat_pkt *st, __u32 b, __u64 now)
{
	st->ts[b & (NSLAT_NB - 1)] = now - st->t0;
	st->mask |= 1U << (b & (NSLAT_NB - 1));
	st->last = b;
}

/* Packet st passes boundary b at `now` (only forward: the first passage of
 * a boundary counts). False when it was there already or its state is too
 * old (dropped, counted). */
/* A kernel receive stamp later than the clock at the next boundary, or
 * older than this, was not taken where the packet entered (a clock step
 * between the helper's updates of the offset, a stamp from elsewhere). */
#define NSLAT_STAMP_MAX_NS	(1000ULL * 1000 * 1000)

static __always_inline bool nslat_advance(struct nslat_pkt *st, __u32 b, __u64 now)
{
	if (st->stamped) {
		st->stamped = 0;
		if (now < st->t0 || now - st->t0 > NSLAT_STAMP_MAX_NS) {
			/* keep the packet from here on, without its entry stage */
			nslat_cnt(NSLAT_CNT_STAMP_REJECTED);
			st->t0 = now;
			st->mask = 0;
		}
	}
	if (now - st->t0 > NSLAT_MAX_AGE_NS) {
		nslat_cnt(NSLAT_CNT_STALE);
		nslat_done(st);
		return false;
	}
	nslat_record(st, b, now);
	return true;
}

/* A non-entry boundary: only an existing packet, only forward. The clock is
 * read only for a packet that is measured. Returns the state (for callers
 * that end the journey here) or NULL. */
static __always_inline struct nslat_pkt *nslat_pass(__u64 key, __u32 b, __u64 *nowp)
{
	struct nslat_pkt *st = nslat_lookup(key);
	__u64 now;

	if (!st || b <= st->last)
		return NULL;
	now = bpf_ktime_get_ns();
	if (!nslat_advance(st, b, now))
		return NULL;
	*nowp = now;
	return st;
}

/* End of a packet's journey: count it, maybe send it, forget it. */
/* skb: the packet if it may still be dereferenced (flow info for the
 * journey is read from its headers when missing), else NULL. */
static __always_inline void nslat_finish(__u64 key, struct nslat_pkt *st, struct sk_buff *skb,
					 __u8 dir, __u8 end, __u32 drop_reason, __u64 t_end)
{
	struct nslat_journey *j;
	__u64 total = t_end - st->t0;
	__u64 n = nslat_cnt(NSLAT_CNT_FINISHED);
	__u32 every = sample_every;
	__u64 slow = slow_ns;
	__u8 reason;

	nslat_replay(st);
	if (slow && total >= slow) {
		reason = NSLAT_REASON_SLOW;
	} else if (every && n % every == 0) {
		reason = NSLAT_REASON_SAMPLED;
	} else {
		nslat_done(st);
		return;
	}
	j = bpf_ringbuf_reserve(&nslat_journeys, sizeof(*j), 0);
	if (!j) {
		nslat_cnt(NSLAT_CNT_RINGBUF_DROP);
		nslat_done(st);
		return;
	}
	nslat_cnt(reason == NSLAT_REASON_SLOW ? NSLAT_CNT_SLOW : NSLAT_CNT_SAMPLED);
	if (skb && !st->l4)
		nslat_skb_flow_hdrs(skb, st);
	j->t0 = st->t0;
	j->total_ns = total;
	__builtin_memcpy(j->ts, st->ts, sizeof(j->ts));
	j->mask = st->mask;
	j->ifindex = st->ifindex;
	j->len = st->len;
	j->cpu = bpf_get_smp_processor_id();
	j->drop_reason = drop_reason;
	j->sport = st->sport;
	j->dport = st->dport;
	j->dir = dir;
	j->reason = reason;
	j->end = end;
	j->l4 = st->l4;
	j->family = st->family;
	bpf_ringbuf_submit(j, 0);
	nslat_done(st);
}

/* End of life of a tracked packet (st found by the caller). */
static __always_inline void nslat_free_st(struct sk_buff *skb, struct nslat_pkt *st, __u8 dir,
					  bool drop, __u32 reason, __u64 now)
{
	__u64 key = NSLAT_KEY(skb);

	if (drop) {
		__u32 idx = reason < NSLAT_MAX_DROPS ? reason : NSLAT_MAX_DROPS - 1;
		__u64 *d = bpf_map_lookup_elem(&nslat_drops, &idx);

		if (d)
			*d += 1;
		nslat_cnt(NSLAT_CNT_DROPPED);
	}
	if (now - st->t0 > NSLAT_MAX_AGE_NS) {
		nslat_cnt(NSLAT_CNT_STALE);
		nslat_done(st);
		return;
	}
	if (nslat_defer()) {	/* no reader: cannot be attributed to a task */
		nslat_done(st);
		return;
	}
	nslat_finish(key, st, skb, dir, drop ? NSLAT_END_DROP : NSLAT_END_CONSUME, reason, now);
}

/* consume_skb / kfree_skb of a tracked packet. */
static __always_inline void nslat_free(struct sk_buff *skb, __u8 dir, bool drop, __u32 reason)
{
	struct nslat_pkt *st = nslat_lookup(NSLAT_KEY(skb));

	if (!st || st->last == NSLAT_DONE)
		return;
	nslat_free_st(skb, st, dir, drop, reason, bpf_ktime_get_ns());
}
#endif /* NSLAT_NO_PACKETS */

#endif /* __NSLAT_BPF_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * nslat.h - the contract between the BPF probes (bpf/probes/NAME.bpf.c) and the
 * helper (bpf/helper). Both sides include this file; everything the helper
 * must know about a probe object is either here or in the object's own BTF.
 *
 * What a probe object looks like to the helper
 * --------------------------------------------
 * Maps, found by name (all optional except nslat_hist):
 *   nslat_hist      PERCPU_ARRAY of struct nslat_hist, indexed as below
 *   nslat_counters  PERCPU_ARRAY of __u64 indexed by enum nslat_counter
 *   nslat_drops     PERCPU_ARRAY of __u64 indexed by enum skb_drop_reason
 *   nslat_journeys  RINGBUF of struct nslat_journey
 *
 * Boundaries (packet objects): the object declares
 *   enum nslat_boundary { NSLAT_RX_<NAME> = 0, ..., __NSLAT_BOUNDARY_MAX };
 * (or NSLAT_TX_...). The prefix gives the direction, the rest lower-cased is
 * the boundary's name; boundaries are ordered by value (at most NSLAT_NB).
 * NSLAT_BOUNDARY_ENUM_CHECK() (nslat.bpf.h) keeps the enum in the object's
 * BTF, where the helper reads it. Adding a stage = one enum entry + one
 * program in one .bpf.c file.
 *
 * IRQ objects reference enum nslat_irq_index instead; its presence in BTF
 * selects the IRQ histogram layout.
 *
 * Program naming (the helper relies on it to map programs to boundaries and
 * to pick one of several alternatives):
 *   handle_<boundary>             the program feeding <boundary>, attached
 *                                 whenever its attach type works
 *   <group>__<alt>[_<what>]       one alternative feeding <group>: a boundary
 *                                 of the object, or (IRQ objects, end-of-life
 *                                 helpers) a named group of its own. <alt> is
 *                                 fentry (also fexit), kprobe (also
 *                                 kretprobe), netfilter, or tp (tp_btf,
 *                                 raw_tp, tracepoint). Before loading, the
 *                                 helper chooses per group the first of
 *                                 fentry, kprobe, netfilter, tp of which at
 *                                 least one program can attach on this
 *                                 kernel; only the chosen programs go to the
 *                                 verifier, the others are reported skipped
 *                                 ("alternative ip_rcv__fentry chosen").
 *                                 Several programs may share one alternative
 *                                 (l4_rcv__fentry_tcp4, l4_rcv__fentry_udp4).
 *                                 A chosen program the verifier rejects is
 *                                 reported (with its log) and its group falls
 *                                 back to the next alternative; the rest of
 *                                 the object loads.
 *                                 SEC("netfilter/<ipv4|ipv6>/<pre_routing|
 *                                 local_in|forward|local_out|post_routing>
 *                                 [/<priority>]"): a BPF netfilter hook
 *                                 (kernel >= 6.4), attached in the helper's
 *                                 network namespace and in those the load
 *                                 command names.
 *   anything else                 bookkeeping (end of life, sendmsg context,
 *                                 IRQ), attached whenever its attach type works.
 *
 * A group may be limited to kernels with a property, by a load-time
 * constant the helper reads before loading:
 *   NSLAT_WHEN(<group>, NSLAT_WHEN_THREADED_IRQS);   (nslat.bpf.h)
 * loads <group> only where device IRQ handlers are threaded by force
 * (PREEMPT_RT, or the threadirqs boot option).
 *
 * Globals the helper sets by name (load-time "rodata" / runtime "data"):
 *   const volatile: filter_ifindex, filter_netns, filter_l4, filter_lport,
 *                   filter_rport, filter_port (either side), filter_pid,
 *                   filter_cgroup (0 = off)
 *   mutable (.data): sample_every (every Nth finished packet becomes a
 *                   journey, 0 = off), slow_ns (packets slower end to end
 *                   become journeys, 0 = off)
 *   helper-owned: nslat_my_gen (.rodata, this object's generation) and the
 *                   map nslat_gen (ARRAY[1], shared by the objects loaded one
 *                   after another into a slot, with nslat_pkts): only the
 *                   object whose generation nslat_gen holds starts packets
 *                   or IRQ intervals (nslat.bpf.h, reloads)
 */
#ifndef __NSLAT_H
#define __NSLAT_H

#define NSLAT_PROTOCOL		2

/* Boundaries per packet object; stage histograms are NB x NB. */
#define NSLAT_NB		16
/* Log-linear buckets: each power of two split into 2^NSLAT_HIST_SUB_BITS
 * linear sub-buckets (at most 12.5 % of the value wide). v < 8 is bucket v;
 * for v >= 8 with e = floor(log2 v), bucket (e - 2) * 8 plus the three bits
 * of v below its top bit; the last bucket also holds everything larger
 * (from 15 * 2^30, about 16 s in ns). src/core/hist.ts reads them. */
#define NSLAT_HIST_SUB_BITS	3
#define NSLAT_HIST_BUCKETS	256

/* Packet objects (rx/tx): nslat_hist index. */
#define NSLAT_HIST_STAGE(from, to)	((from) * NSLAT_NB + (to))
#define NSLAT_HIST_CUM(to)		(NSLAT_NB * NSLAT_NB + (to))
#define NSLAT_HIST_PKT_MAX		(NSLAT_NB * NSLAT_NB + NSLAT_NB)

/* IRQ objects: nslat_hist index bases (per-CPU map: the helper reports each
 * CPU separately). An enum so the helper can find it in BTF. */
enum nslat_irq_index {
	NSLAT_IRQ_HARDIRQ_BASE = 0,		/* + IRQ line (0..255), ns */
	NSLAT_IRQ_NR_LINES = 256,
	NSLAT_IRQ_SOFTIRQ_DELAY_BASE = 256,	/* + vector, raise -> entry, ns */
	NSLAT_IRQ_SOFTIRQ_TIME_BASE = 272,	/* + vector, entry -> exit, ns */
	NSLAT_IRQ_NR_VECTORS = 16,
	NSLAT_IRQ_NAPI_WORK = 288,		/* packets per NAPI poll */
	NSLAT_IRQ_THREAD_LAT_BASE = 304,	/* + IRQ line: hard IRQ entry -> its thread runs the handler, ns */
	NSLAT_IRQ_THREAD_TIME_BASE = 560,	/* + IRQ line: threaded handler run time, ns */
	NSLAT_IRQ_HIST_MAX = 816,
};

/* Conditions a group of programs can be limited to (NSLAT_WHEN). */
enum nslat_when {
	NSLAT_WHEN_ALWAYS = 0,
	NSLAT_WHEN_THREADED_IRQS = 1,	/* device IRQ handlers threaded by force (PREEMPT_RT, threadirqs) */
};

/* Loss and bookkeeping counters; names (lower-cased, without NSLAT_CNT_) are
 * what snapshots report. Append only before __NSLAT_CNT_MAX. */
enum nslat_counter {
	NSLAT_CNT_RINGBUF_DROP = 0,	/* journey reservation failed */
	NSLAT_CNT_MAP_FULL,		/* per-packet / per-socket state could not be stored */
	NSLAT_CNT_STALE,		/* state older than NSLAT_MAX_AGE_NS discarded */
	NSLAT_CNT_STARTED,		/* packets measured from the entry boundary on */
	NSLAT_CNT_FINISHED,		/* packets whose journey ended (read/consume/drop/xmit) */
	NSLAT_CNT_SAMPLED,		/* journeys sent because of sample_every */
	NSLAT_CNT_SLOW,			/* journeys sent because of slow_ns */
	NSLAT_CNT_DROPPED,		/* tracked packets freed by kfree_skb */
	NSLAT_CNT_FILTERED,		/* packets the filters rejected at their decision point */
	NSLAT_CNT_SENDMSG,		/* sendmsg contexts opened (tx) */
	NSLAT_CNT_NAPI_POLLS,		/* NAPI polls (irq) */
	NSLAT_CNT_NAPI_BUDGET_FULL,	/* NAPI polls that used their whole budget (irq) */
	NSLAT_CNT_IRQ_OUT_OF_RANGE,	/* IRQ line >= NSLAT_IRQ_NR_LINES (irq) */
	NSLAT_CNT_UDP_UNPAIRED,		/* UDP reads whose datagram was not known (rx, not guessed) */
	NSLAT_CNT_EVICTED,		/* live per-packet state overwritten by a packet hashing to its slot */
	NSLAT_CNT_COALESCED,		/* TCP segments merged into an earlier skb (their data is read with it) */
	NSLAT_CNT_UDP_QUEUE_RACE,	/* UDP queue walks given up: the queue changed under them (rx, not guessed) */
	NSLAT_CNT_SEEN,			/* packets past the filters at the entry boundary, measured or not */
	NSLAT_CNT_KERNEL_STAMPED,	/* measured packets whose entry time is the kernel's receive stamp (rx) */
	NSLAT_CNT_STAMP_REJECTED,	/* kernel receive stamps the next boundary's clock refuted (rx; the entry stage is lost) */
	NSLAT_CNT_STAMP_CHECKED,	/* with check_kernel_stamps: stamps compared with the clock at the entry (rx) */
	NSLAT_CNT_STAMP_SKEW_NS,	/* with check_kernel_stamps: their total distance from the clock, ns (rx) */
	__NSLAT_CNT_MAX,
};
#define NSLAT_MAX_COUNTERS	32

/* The counters that mean nslat lost data (a measurement it should have made
 * and did not): everything else above counts activity. The core's protocol
 * module holds the same set (checked by a test); lost snapshots are counted
 * by the core itself. */
#define NSLAT_CNT_LOSS_MASK	((1u << NSLAT_CNT_RINGBUF_DROP) | (1u << NSLAT_CNT_MAP_FULL) | \
				 (1u << NSLAT_CNT_STALE) | (1u << NSLAT_CNT_IRQ_OUT_OF_RANGE) | \
				 (1u << NSLAT_CNT_UDP_UNPAIRED) | (1u << NSLAT_CNT_EVICTED) | \
				 (1u << NSLAT_CNT_UDP_QUEUE_RACE) | (1u << NSLAT_CNT_STAMP_REJECTED))

/* kfree_skb reasons: index = enum skb_drop_reason; subsystem reasons (upper
 * bits set) and anything out of range land in the last slot ("OTHER"). */
#define NSLAT_MAX_DROPS		512

/* Per-packet state older than this is discarded (counted as stale); below
 * 2^32 ns, so a boundary's time since the entry fits its __u32 slot. */
#define NSLAT_MAX_AGE_NS	(4ULL * 1000 * 1000 * 1000)

enum nslat_dir { NSLAT_DIR_RX = 0, NSLAT_DIR_TX = 1 };
enum nslat_reason { NSLAT_REASON_SAMPLED = 0, NSLAT_REASON_SLOW = 1 };
enum nslat_end {
	NSLAT_END_READ = 0,	/* application read (rx) */
	NSLAT_END_CONSUME,	/* consume_skb */
	NSLAT_END_DROP,		/* kfree_skb; drop_reason holds the reason */
	NSLAT_END_XMIT,		/* handed to the peer's RX by a virtual device (tx) */
};
enum nslat_family { NSLAT_FAMILY_OTHER = 0, NSLAT_FAMILY_IPV4 = 1, NSLAT_FAMILY_IPV6 = 2 };

struct nslat_hist {
	__u64 buckets[NSLAT_HIST_BUCKETS];
	__u64 sum;
};

/* One sampled journey (ring buffer record). ts[b] is ns since t0 for each
 * boundary b set in mask. */
struct nslat_journey {
	__u64 t0;		/* CLOCK_MONOTONIC ns at the first boundary */
	__u64 total_ns;		/* first boundary -> end */
	__u32 ts[NSLAT_NB];
	__u32 mask;
	__u32 ifindex;
	__u32 len;
	__u32 cpu;
	__u32 drop_reason;
	__u16 sport;		/* host order, as on the wire: source port */
	__u16 dport;
	__u8 dir;		/* enum nslat_dir */
	__u8 reason;		/* enum nslat_reason */
	__u8 end;		/* enum nslat_end */
	__u8 l4;		/* IPPROTO_TCP, IPPROTO_UDP, 0 */
	__u8 family;		/* enum nslat_family */
	__u8 pad[7];
};

#endif /* __NSLAT_H */

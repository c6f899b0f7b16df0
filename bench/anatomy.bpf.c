// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Anatomy of a per-packet probe (bench/main.ts part "anatomy"; a benchmark object, not a probe):
 * each program does ONE of the operations an nslat boundary does, all on the same hook
 * (tp_btf/netif_rx, every loopback packet), so kernel bpf_stats give the cost of each operation
 * on its own. Programs on one hook run in attach (= source) order.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct pkt {			/* the size of struct nslat_pkt (include/nslat.h: NSLAT_NB = 16) */
	__u64 t0, t_last;
	__u32 last, mask, ts[16], ifindex, len;
	__u16 sport, dport;
	__u8 l4, family, handoff, pad;
};
struct hist { __u64 buckets[32]; __u64 sum; };

struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 32768); __type(key, __u64); __type(value, struct pkt); } lru SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 32768); __type(key, __u64); __type(value, struct pkt); } lru_del SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 32768); __uint(map_flags, BPF_F_NO_COMMON_LRU); __type(key, __u64); __type(value, struct pkt); } lru_pcpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 32768); __type(key, __u64); __type(value, struct pkt); } hash_del SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } cnt SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 272); __type(key, __u32); __type(value, struct hist); } hist SEC(".maps");

volatile __u64 sink;

static __always_inline __u32 log2_32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	return r | (v >> 1);
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op00_empty, struct sk_buff *skb) { return 0; }

SEC("tp_btf/netif_rx")
int BPF_PROG(op01_ktime, struct sk_buff *skb) { sink = bpf_ktime_get_ns(); return 0; }

SEC("tp_btf/netif_rx")
int BPF_PROG(op02_skb_fields, struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;

	sink = (dev ? dev->ifindex : 0) + skb->len;
	return 0;
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op03_pcpu_counter, struct sk_buff *skb)
{
	__u32 k = 3;
	__u64 *p = bpf_map_lookup_elem(&cnt, &k);

	if (p)
		*p += 1;
	return 0;
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op04_hist_add, struct sk_buff *skb)
{
	__u32 k = 17;
	__u64 v = skb->len * 37;
	struct hist *h = bpf_map_lookup_elem(&hist, &k);

	if (h) {
		h->buckets[(log2_32(v) + 1) & 31]++;
		h->sum += v;
	}
	return 0;
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op05_lru_lookup_miss, struct sk_buff *skb)
{
	__u64 key = 1;	/* never present (not a kernel address) */

	sink = (__u64)bpf_map_lookup_elem(&lru, &key);
	return 0;
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op06_lru_update, struct sk_buff *skb)
{
	__u64 key = (__u64)skb;
	struct pkt init = {};

	init.t0 = key;
	bpf_map_update_elem(&lru, &key, &init, BPF_ANY);
	return 0;
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op07_lru_lookup_hit, struct sk_buff *skb)
{
	__u64 key = (__u64)skb;	/* just inserted by op06 (attached before this one) */

	sink = (__u64)bpf_map_lookup_elem(&lru, &key);
	return 0;
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op08_lru_update_delete, struct sk_buff *skb)
{
	__u64 key = (__u64)skb;
	struct pkt init = {};

	init.t0 = key;
	bpf_map_update_elem(&lru_del, &key, &init, BPF_ANY);
	bpf_map_delete_elem(&lru_del, &key);
	return 0;
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op09_lru_nocommon_update_delete, struct sk_buff *skb)
{
	__u64 key = (__u64)skb;
	struct pkt init = {};

	init.t0 = key;
	bpf_map_update_elem(&lru_pcpu, &key, &init, BPF_ANY);
	bpf_map_delete_elem(&lru_pcpu, &key);
	return 0;
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op10_hash_update_delete, struct sk_buff *skb)
{
	__u64 key = (__u64)skb;
	struct pkt init = {};

	init.t0 = key;
	bpf_map_update_elem(&hash_del, &key, &init, BPF_ANY);
	bpf_map_delete_elem(&hash_del, &key);
	return 0;
}

SEC("tp_btf/netif_rx")
int BPF_PROG(op11_ktime_x2_hist_x2, struct sk_buff *skb)
{
	/* what a pass boundary records: two timestamps' worth of work, stage + cum histograms */
	__u32 k1 = 17, k2 = 260;
	__u64 t = bpf_ktime_get_ns();
	struct hist *h = bpf_map_lookup_elem(&hist, &k1);

	if (h) {
		h->buckets[(log2_32(t & 0xffff) + 1) & 31]++;
		h->sum += t & 0xffff;
	}
	h = bpf_map_lookup_elem(&hist, &k2);
	if (h) {
		h->buckets[(log2_32(t & 0xfffff) + 1) & 31]++;
		h->sum += t & 0xfffff;
	}
	return 0;
}

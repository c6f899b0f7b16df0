// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The least a timestamping probe does, on three of the hooks the nslat probes
 * use: the floor for the per-hook cost comparison (bench/hookcost.sh builds it
 * into .cache/bench/; load it with EXTRA=.cache/bench/floor.bpf.o). Not a probe
 * object. An nslat stage program takes
 * at least one timestamp and adds to two histograms per packet. */
#define NSLAT_NO_PACKETS 1
#define NSLAT_HIST_ENTRIES NSLAT_IRQ_HIST_MAX
#include "nslat.bpf.h"

const volatile enum nslat_irq_index nslat_irq_layout = NSLAT_IRQ_HIST_MAX;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_t SEC(".maps");

/* bpf_ktime_get_ns and one per-CPU store */
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(floor_ktime)
{
	__u32 zero = 0;
	__u64 *p = bpf_map_lookup_elem(&floor_t, &zero);

	if (p)
		*p = bpf_ktime_get_ns();
	return 0;
}

/* bpf_ktime_get_ns and one log2 histogram add */
SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(floor_ktime_hist)
{
	nslat_hist_add(NSLAT_IRQ_NAPI_WORK + 1, bpf_ktime_get_ns() & 0xffff);
	return 0;
}

/* bpf_ktime_get_ns and two histogram adds (a stage and a cumulative) */
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(floor_ktime_hist2)
{
	__u64 t = bpf_ktime_get_ns();

	nslat_hist_add(NSLAT_IRQ_NAPI_WORK + 1, t & 0xffff);
	nslat_hist_add(NSLAT_IRQ_NAPI_WORK + 2, t & 0xfff);
	return 0;
}

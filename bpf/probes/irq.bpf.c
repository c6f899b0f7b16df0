// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * irq.bpf.c - interrupt side of networking: hard IRQ handler time per line,
 * softirq raise -> entry delay and entry -> exit time per vector, NAPI poll
 * work against budget. All per CPU (per-CPU maps; the helper reports each
 * CPU), keyed by CPU, never by pid.
 */
#define NSLAT_NO_PACKETS 1
#define NSLAT_HIST_ENTRIES NSLAT_IRQ_HIST_MAX
#include "nslat.bpf.h"

const volatile enum nslat_irq_index nslat_irq_layout = NSLAT_IRQ_HIST_MAX;

struct irq_cpu {
	__u64 hard_t;			/* handler entry (hard IRQs do not nest) */
	__u32 hard_irq;
	__u32 pad;
	__u64 raise_t[NSLAT_IRQ_NR_VECTORS];	/* first raise since the last entry */
	__u64 entry_t[NSLAT_IRQ_NR_VECTORS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct irq_cpu);
} irq_state SEC(".maps");

static __always_inline struct irq_cpu *cpu_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&irq_state, &zero);
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(handle_irq_handler_entry, int irq, struct irqaction *action)
{
	struct irq_cpu *s = cpu_state();

	if (!s)
		return 0;
	s->hard_t = bpf_ktime_get_ns();
	s->hard_irq = irq;
	return 0;
}

SEC("tp_btf/irq_handler_exit")
int BPF_PROG(handle_irq_handler_exit, int irq, struct irqaction *action, int ret)
{
	struct irq_cpu *s = cpu_state();

	if (!s || !s->hard_t || s->hard_irq != (__u32)irq)
		return 0;
	if ((__u32)irq < NSLAT_IRQ_NR_LINES)
		nslat_hist_add(NSLAT_IRQ_HARDIRQ_BASE + irq, bpf_ktime_get_ns() - s->hard_t);
	else
		nslat_cnt(NSLAT_CNT_IRQ_OUT_OF_RANGE);
	s->hard_t = 0;
	return 0;
}

SEC("tp_btf/softirq_raise")
int BPF_PROG(handle_softirq_raise, unsigned int vec)
{
	struct irq_cpu *s = cpu_state();
	__u32 v = vec & (NSLAT_IRQ_NR_VECTORS - 1);

	if (s && !s->raise_t[v])
		s->raise_t[v] = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(handle_softirq_entry, unsigned int vec)
{
	struct irq_cpu *s = cpu_state();
	__u32 v = vec & (NSLAT_IRQ_NR_VECTORS - 1);
	__u64 now;

	if (!s)
		return 0;
	now = bpf_ktime_get_ns();
	if (s->raise_t[v]) {
		nslat_hist_add(NSLAT_IRQ_SOFTIRQ_DELAY_BASE + v, now - s->raise_t[v]);
		s->raise_t[v] = 0;
	}
	s->entry_t[v] = now;
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(handle_softirq_exit, unsigned int vec)
{
	struct irq_cpu *s = cpu_state();
	__u32 v = vec & (NSLAT_IRQ_NR_VECTORS - 1);

	if (!s || !s->entry_t[v])
		return 0;
	nslat_hist_add(NSLAT_IRQ_SOFTIRQ_TIME_BASE + v, bpf_ktime_get_ns() - s->entry_t[v]);
	s->entry_t[v] = 0;
	return 0;
}

SEC("tp_btf/napi_poll")
int BPF_PROG(handle_napi_poll, struct napi_struct *napi, int work, int budget)
{
	nslat_hist_add(NSLAT_IRQ_NAPI_WORK, work);
	nslat_cnt(NSLAT_CNT_NAPI_POLLS);
	if (work >= budget)
		nslat_cnt(NSLAT_CNT_NAPI_BUDGET_FULL);
	return 0;
}

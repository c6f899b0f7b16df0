// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * irq.bpf.c - interrupt side of networking: hard IRQ handler time per line,
 * softirq raise -> entry delay and entry -> exit time per vector, NAPI poll
 * work against budget, and - where IRQ handlers run in threads (PREEMPT_RT,
 * threadirqs) - the time from the hard IRQ to its thread running the
 * handler, and the threaded handler's run time. All per CPU (per-CPU maps;
 * the helper reports each CPU), keyed by CPU, never by pid.
 */
#define NSLAT_NO_PACKETS 1
#define NSLAT_HIST_ENTRIES NSLAT_IRQ_HIST_MAX
#include "nslat.bpf.h"

const volatile enum nslat_irq_index nslat_irq_layout = NSLAT_IRQ_HIST_MAX;

#define IRQ_WAKE_THREAD 2	/* irqreturn_t: the handler woke its thread */
#define NR_LINES NSLAT_IRQ_NR_LINES

/* Per CPU. A hard IRQ handler is timed per line: on PREEMPT_RT the
 * primary handlers of different lines can interleave on one CPU. */
struct irq_cpu {
	__u64 hard_t[NR_LINES];			/* handler entry per line */
	__u64 raise_t[NSLAT_IRQ_NR_VECTORS];	/* first raise since the last entry */
	__u64 entry_t[NSLAT_IRQ_NR_VECTORS];
	__u64 thread_t;				/* threaded handler start (one runs per CPU at a time) */
	__u32 thread_irq;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct irq_cpu);
} irq_state SEC(".maps");

/* Per line, shared by all CPUs: the hard IRQ entry that woke the line's
 * thread (its thread may run on another CPU). The first wake since the
 * thread last ran counts: the thread then handles every pending one. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NR_LINES);
	__type(key, __u32);
	__type(value, __u64);
} irq_woken SEC(".maps");

static __always_inline struct irq_cpu *cpu_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&irq_state, &zero);
}

/* ---------------------------------------------------------------- hard IRQ */

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(handle_irq_handler_entry, int irq, struct irqaction *action)
{
	struct irq_cpu *s = cpu_state();
	__u32 line = irq & (NR_LINES - 1);

	if (!s)
		return 0;
	if ((__u32)irq >= NR_LINES) {
		nslat_cnt(NSLAT_CNT_IRQ_OUT_OF_RANGE);
		return 0;
	}
	if (!nslat_current())	/* a reload replaced this object */
		return 0;
	barrier_var(line);	/* keep the mask: the verifier needs the bound */
	s->hard_t[line & (NR_LINES - 1)] = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/irq_handler_exit")
int BPF_PROG(handle_irq_handler_exit, int irq, struct irqaction *action, int ret)
{
	struct irq_cpu *s = cpu_state();
	__u32 line = irq & (NR_LINES - 1);
	__u64 t, *woken;

	if (!s || (__u32)irq >= NR_LINES)
		return 0;
	t = s->hard_t[line];
	if (!t)
		return 0;
	s->hard_t[line] = 0;
	nslat_hist_add(NSLAT_IRQ_HARDIRQ_BASE + line, bpf_ktime_get_ns() - t);
	if (ret & IRQ_WAKE_THREAD) {
		woken = bpf_map_lookup_elem(&irq_woken, &line);
		if (woken && !*woken)
			*woken = t;
	}
	return 0;
}

/* ---------------------------------------------------------------- threaded handlers */

NSLAT_WHEN(irq_thread, NSLAT_WHEN_THREADED_IRQS);

/* The thread of `irq` starts its handler (irq_thread_fn, or
 * irq_forced_thread_fn for handlers threaded by force, as on PREEMPT_RT):
 * the time since the hard IRQ that woke it. */
static __always_inline void thread_start(__u32 irq)
{
	struct irq_cpu *s = cpu_state();
	__u32 line = irq & (NR_LINES - 1);
	__u64 now, *woken;

	if (!s || irq >= NR_LINES)
		return;
	now = bpf_ktime_get_ns();
	woken = bpf_map_lookup_elem(&irq_woken, &line);
	if (woken && *woken) {
		nslat_hist_add(NSLAT_IRQ_THREAD_LAT_BASE + line, now - *woken);
		*woken = 0;
	}
	if (nslat_current()) {
		s->thread_t = now;
		s->thread_irq = irq;
	}
}

static __always_inline void thread_end(__u32 irq)
{
	struct irq_cpu *s = cpu_state();

	if (!s || !s->thread_t || s->thread_irq != irq || irq >= NR_LINES)
		return;
	nslat_hist_add(NSLAT_IRQ_THREAD_TIME_BASE + (irq & (NR_LINES - 1)),
		       bpf_ktime_get_ns() - s->thread_t);
	s->thread_t = 0;
}

SEC("fentry/irq_thread_fn")
int BPF_PROG(irq_thread__fentry, struct irq_desc *desc, struct irqaction *action)
{
	thread_start(action->irq);
	return 0;
}

SEC("fentry/irq_forced_thread_fn")
int BPF_PROG(irq_thread__fentry_forced, struct irq_desc *desc, struct irqaction *action)
{
	thread_start(action->irq);
	return 0;
}

SEC("fexit/irq_thread_fn")
int BPF_PROG(irq_thread__fexit_end, struct irq_desc *desc, struct irqaction *action)
{
	thread_end(action->irq);
	return 0;
}

SEC("fexit/irq_forced_thread_fn")
int BPF_PROG(irq_thread__fexit_forced_end, struct irq_desc *desc, struct irqaction *action)
{
	thread_end(action->irq);
	return 0;
}

SEC("kprobe/irq_thread_fn")
int BPF_KPROBE(irq_thread__kprobe, struct irq_desc *desc, struct irqaction *action)
{
	thread_start(BPF_CORE_READ(action, irq));
	return 0;
}

SEC("kprobe/irq_forced_thread_fn")
int BPF_KPROBE(irq_thread__kprobe_forced, struct irq_desc *desc, struct irqaction *action)
{
	thread_start(BPF_CORE_READ(action, irq));
	return 0;
}

/* No arguments at return: the line comes from the start on this CPU. */
static __always_inline void thread_end_here(void)
{
	struct irq_cpu *s = cpu_state();

	if (s)
		thread_end(s->thread_irq);
}

SEC("kretprobe/irq_thread_fn")
int BPF_KRETPROBE(irq_thread__kretprobe_end)
{
	thread_end_here();
	return 0;
}

SEC("kretprobe/irq_forced_thread_fn")
int BPF_KRETPROBE(irq_thread__kretprobe_forced_end)
{
	thread_end_here();
	return 0;
}

/* Tracepoints only: the thread is switched in. Its line is in its name,
 * "irq/<line>-<action name>"; its run time is not measured here. */
static __always_inline int irq_thread_line(const char *comm)
{
	int irq = 0, i;

	if (comm[0] != 'i' || comm[1] != 'r' || comm[2] != 'q' || comm[3] != '/')
		return -1;
	for (i = 4; i < 8; i++) {
		char c = comm[i];

		if (c < '0' || c > '9')
			return i > 4 ? irq : -1;
		irq = irq * 10 + (c - '0');
	}
	return -1;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(irq_thread__tp, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	char comm[8];
	__u32 line;
	__u64 *woken;
	int irq;

	if (bpf_probe_read_kernel(comm, sizeof(comm), next->comm))
		return 0;
	irq = irq_thread_line(comm);
	if (irq < 0 || irq >= NR_LINES)
		return 0;
	line = irq;
	woken = bpf_map_lookup_elem(&irq_woken, &line);
	if (woken && *woken) {
		nslat_hist_add(NSLAT_IRQ_THREAD_LAT_BASE + line, bpf_ktime_get_ns() - *woken);
		*woken = 0;
	}
	return 0;
}

/* ---------------------------------------------------------------- softirq */

SEC("tp_btf/softirq_raise")
int BPF_PROG(handle_softirq_raise, unsigned int vec)
{
	struct irq_cpu *s = cpu_state();
	__u32 v = vec & (NSLAT_IRQ_NR_VECTORS - 1);

	if (s && !s->raise_t[v] && nslat_current())
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
	if (nslat_current())
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
	if (!nslat_current())
		return 0;
	nslat_hist_add(NSLAT_IRQ_NAPI_WORK, work);
	nslat_cnt(NSLAT_CNT_NAPI_POLLS);
	if (work >= budget)
		nslat_cnt(NSLAT_CNT_NAPI_BUDGET_FULL);
	return 0;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * irq.bpf.c - interrupt side of networking: hard IRQ handler time per line,
 * softirq raise -> entry delay and entry -> exit time per vector, NAPI poll
 * work against budget, and - where IRQ handlers run in threads (PREEMPT_RT,
 * threadirqs) - the time from the hard IRQ to its thread running the
 * handler, and the threaded handler's run time. All per CPU (per-CPU maps;
 * the helper reports each CPU), keyed by CPU, never by pid.
 *
 * Sampling: 1 in irq_measure_every hard IRQs and softirq runs is timed
 * (chosen per CPU at random gaps, before the clock is read); the others cost
 * a countdown and no clock read. A softirq run is chosen at its first raise,
 * and then both its raise -> entry delay and its entry -> exit time are
 * timed; a threaded handler is timed when the hard IRQ that woke it was.
 * The histograms count what was timed; exact totals are the kernel's own
 * (/proc/interrupts, /proc/softirqs), which the helper reads.
 */
#define NSLAT_NO_PACKETS 1
#define NSLAT_HIST_ENTRIES NSLAT_IRQ_HIST_MAX
#include "nslat.bpf.h"

const volatile enum nslat_irq_index nslat_irq_layout = NSLAT_IRQ_HIST_MAX;

/* Time 1 in irq_measure_every events (0 or 1: every one); set by the core
 * from the rate of events. */
volatile __u32 irq_measure_every SEC(".data") = 1;

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
	__u32 gap_hard;				/* events left before the next one timed */
	__u32 gap_softirq;
	__u32 gap_napi;
};

/* A softirq raise that sampling passed over: the vector is pending, and
 * later raises before its run must not start a measurement either. */
#define RAISE_UNTIMED 1

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

/* Whether this event is timed (nslat_pick: per-CPU random gaps of mean
 * irq_measure_every). */
static __always_inline bool irq_pick(__u32 *gap)
{
	return nslat_pick(gap, irq_measure_every);
}

/* ---------------------------------------------------------------- hard IRQ */

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(handle_irq_handler_entry, int irq, struct irqaction *action)
{
	struct irq_cpu *s = cpu_state();
	__u32 line = irq & (NR_LINES - 1);

	if (!s || !irq_pick(&s->gap_hard))
		return 0;
	if ((__u32)irq >= NR_LINES) {	/* counted among the timed ones: a share of them */
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
	woken = bpf_map_lookup_elem(&irq_woken, &line);
	if (!woken || !*woken)	/* the wake was not timed: neither is this run */
		return;
	now = bpf_ktime_get_ns();
	nslat_hist_add(NSLAT_IRQ_THREAD_LAT_BASE + line, now - *woken);
	*woken = 0;
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

/* The first raise since the vector last ran decides whether its next run
 * is timed. */
SEC("tp_btf/softirq_raise")
int BPF_PROG(handle_softirq_raise, unsigned int vec)
{
	struct irq_cpu *s = cpu_state();
	__u32 v = vec & (NSLAT_IRQ_NR_VECTORS - 1);

	if (!s || s->raise_t[v] || !nslat_current())
		return 0;
	s->raise_t[v] = irq_pick(&s->gap_softirq) ? bpf_ktime_get_ns() : RAISE_UNTIMED;
	return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(handle_softirq_entry, unsigned int vec)
{
	struct irq_cpu *s = cpu_state();
	__u32 v = vec & (NSLAT_IRQ_NR_VECTORS - 1);
	__u64 raised, now;

	if (!s)
		return 0;
	raised = s->raise_t[v];
	s->raise_t[v] = 0;
	if (raised <= RAISE_UNTIMED)
		return 0;
	now = bpf_ktime_get_ns();
	nslat_hist_add(NSLAT_IRQ_SOFTIRQ_DELAY_BASE + v, now - raised);
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

/* Every poll is counted; 1 in irq_measure_every adds its work to the
 * histogram. */
SEC("tp_btf/napi_poll")
int BPF_PROG(handle_napi_poll, struct napi_struct *napi, int work, int budget)
{
	struct irq_cpu *s;

	if (!nslat_current())
		return 0;
	nslat_cnt(NSLAT_CNT_NAPI_POLLS);
	if (work >= budget)
		nslat_cnt(NSLAT_CNT_NAPI_BUDGET_FULL);
	s = cpu_state();
	if (s && irq_pick(&s->gap_napi))
		nslat_hist_add(NSLAT_IRQ_NAPI_WORK, work);
	return 0;
}

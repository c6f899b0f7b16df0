// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reading an object's maps as deltas since the previous read, merging them
 * by name (a reload's old and new object land in one snapshot), and
 * turning ring buffer records into `journey` messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "output.h"
#include "snapshot.h"

static const char *const softirq_names[] = {
	"HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
};

/* ---------------------------------------------------------------- names */

static char *drop_names[NSLAT_MAX_DROPS];

static void load_drop_names(const struct btf *vmlinux_btf)
{
	static bool done;
	const struct btf_type *t;
	const struct btf_enum *e;
	int id;

	if (done)
		return;
	done = true;
	if (!vmlinux_btf)
		return;
	id = btf__find_by_name_kind(vmlinux_btf, "skb_drop_reason", BTF_KIND_ENUM);
	if (id <= 0)
		return;
	t = btf__type_by_id(vmlinux_btf, id);
	e = btf_enum(t);
	for (int i = 0; i < btf_vlen(t); i++, e++) {
		const char *n = btf__name_by_offset(vmlinux_btf, e->name_off);

		if (e->val < 0 || e->val >= NSLAT_MAX_DROPS - 1)
			continue;
		if (!strncmp(n, "SKB_DROP_REASON_", 16))
			n += 16;
		drop_names[e->val] = strdup(n);
	}
}

static const char *drop_reason_name(const struct btf *btf, __u32 r)
{
	static char buf[32];

	load_drop_names(btf);
	if (r >= NSLAT_MAX_DROPS - 1)
		return "OTHER";
	if (drop_names[r])
		return drop_names[r];
	snprintf(buf, sizeof(buf), "REASON_%u", r);
	return buf;
}

/* First line of a small file, without its newline ("" when unreadable). */
static void read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (!f)
		return;
	if (!fgets(buf, size, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
}

static const char *irq_name(int irq)
{
	static char *cache[NSLAT_IRQ_NR_LINES];
	char p[64], buf[160] = "";

	if (irq < 0 || irq >= NSLAT_IRQ_NR_LINES)
		return "";
	if (cache[irq])
		return cache[irq];
	snprintf(p, sizeof(p), "/sys/kernel/irq/%d/actions", irq);
	read_line(p, buf, sizeof(buf));
	if (!buf[0]) {
		snprintf(p, sizeof(p), "/sys/kernel/irq/%d/chip_name", irq);
		read_line(p, buf, sizeof(buf));
	}
	cache[irq] = strdup(buf);
	return cache[irq];
}

/* ---------------------------------------------------------------- accumulator */

#define GROW(arr, n, cap) do {							\
	if ((n) == (cap)) {							\
		int nc = (cap) ? (cap) * 2 : 32;				\
		void *np = realloc((arr), (size_t)nc * sizeof(*(arr)));		\
		if (!np) abort();						\
		(arr) = np; (cap) = nc;						\
	}									\
} while (0)

static void acc_hist(struct acc *a, const struct hd *h)
{
	for (int i = 0; i < a->nh; i++) {
		struct hd *x = &a->h[i];

		if (x->dir == h->dir && x->cpu == h->cpu && !strcmp(x->kind, h->kind) &&
		    !strcmp(x->name, h->name)) {
			for (int b = 0; b < NSLAT_HIST_BUCKETS; b++)
				x->b[b] += h->b[b];
			x->count += h->count;
			x->sum += h->sum;
			return;
		}
	}
	GROW(a->h, a->nh, a->caph);
	a->h[a->nh++] = *h;
}

static void acc_kv(struct kv **arr, int *n, int *cap, const char *name, __u64 v)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp((*arr)[i].name, name)) {
			(*arr)[i].v += v;
			return;
		}
	GROW(*arr, *n, *cap);
	snprintf((*arr)[*n].name, sizeof((*arr)[*n].name), "%s", name);
	(*arr)[*n].v = v;
	(*n)++;
}

void acc_free(struct acc *a)
{
	free(a->h);
	free(a->c);
	free(a->d);
	free(a->p);
	memset(a, 0, sizeof(*a));
}

/* ---------------------------------------------------------------- reading maps */

static size_t pcpu_stride(size_t vs)
{
	return (vs + 7) & ~(size_t)7;
}

static void hist_name(struct loaded_obj *lo, __u32 idx, struct hd *h)
{
	h->irq = h->vec = h->cpu = -1;
	h->from[0] = h->to[0] = 0;
	h->dir = lo->dir;
	if (lo->layout == LAYOUT_PACKET) {
		char fb[16], tb[16];
		const char *from, *to;

		if (idx < NSLAT_NB * NSLAT_NB) {
			__u32 f = idx / NSLAT_NB, t = idx % NSLAT_NB;

			snprintf(fb, sizeof(fb), "b%u", f);
			snprintf(tb, sizeof(tb), "b%u", t);
			from = lo->bnames[f] ?: fb;
			to = lo->bnames[t] ?: tb;
			snprintf(h->kind, sizeof(h->kind), "stage");
			snprintf(h->name, sizeof(h->name), "%s\u2192%s", from, to);
			snprintf(h->from, sizeof(h->from), "%s", from);
			snprintf(h->to, sizeof(h->to), "%s", to);
		} else {
			__u32 t = idx - NSLAT_NB * NSLAT_NB;

			snprintf(tb, sizeof(tb), "b%u", t);
			to = t < NSLAT_NB && lo->bnames[t] ? lo->bnames[t] : tb;
			snprintf(h->kind, sizeof(h->kind), "cum");
			snprintf(h->name, sizeof(h->name), "%s", to);
			snprintf(h->to, sizeof(h->to), "%s", to);
		}
	} else if (lo->layout == LAYOUT_IRQ) {
		if (idx < NSLAT_IRQ_SOFTIRQ_DELAY_BASE) {
			const char *n = irq_name(idx);

			snprintf(h->kind, sizeof(h->kind), "hardirq");
			snprintf(h->name, sizeof(h->name), "hardirq %u%s%s", idx, n[0] ? " " : "", n);
			h->irq = idx;
		} else if (idx < NSLAT_IRQ_NAPI_WORK) {
			bool delay = idx < NSLAT_IRQ_SOFTIRQ_TIME_BASE;
			__u32 v = idx - (delay ? NSLAT_IRQ_SOFTIRQ_DELAY_BASE : NSLAT_IRQ_SOFTIRQ_TIME_BASE);

			snprintf(h->kind, sizeof(h->kind), delay ? "softirq_delay" : "softirq_time");
			if (v < sizeof(softirq_names) / sizeof(softirq_names[0]))
				snprintf(h->name, sizeof(h->name), "%s", softirq_names[v]);
			else
				snprintf(h->name, sizeof(h->name), "vec%u", v);
			h->vec = v;
		} else if (idx < NSLAT_IRQ_THREAD_LAT_BASE) {
			snprintf(h->kind, sizeof(h->kind), "napi_work");
			snprintf(h->name, sizeof(h->name), "napi_work");
		} else {
			bool lat = idx < NSLAT_IRQ_THREAD_TIME_BASE;
			__u32 irq = idx - (lat ? NSLAT_IRQ_THREAD_LAT_BASE : NSLAT_IRQ_THREAD_TIME_BASE);
			const char *n = irq_name(irq);

			snprintf(h->kind, sizeof(h->kind), lat ? "irq_thread_latency" : "irq_thread_time");
			snprintf(h->name, sizeof(h->name), "irq_thread %u%s%s", irq, n[0] ? " " : "", n);
			h->irq = irq;
		}
	} else {
		snprintf(h->kind, sizeof(h->kind), "hist");
		snprintf(h->name, sizeof(h->name), "hist %u", idx);
	}
}

static bool hist_delta(struct hd *h, const struct nslat_hist *cur, struct nslat_hist *prev)
{
	bool any = false;

	h->count = 0;
	for (int b = 0; b < NSLAT_HIST_BUCKETS; b++) {
		__u64 d = cur->buckets[b] >= prev->buckets[b] ? cur->buckets[b] - prev->buckets[b] : cur->buckets[b];

		h->b[b] = d;
		h->count += d;
		any |= d != 0;
	}
	h->sum = cur->sum >= prev->sum ? cur->sum - prev->sum : cur->sum;
	*prev = *cur;
	return any;
}

static void collect_hists(struct loaded_obj *lo, struct acc *a)
{
	size_t stride = pcpu_stride(sizeof(struct nslat_hist));
	char *vals;

	if (lo->hist_fd < 0)
		return;
	int ncpus = lo->k->ncpus;

	/* zeroed: valgrind only knows the kernel fills one CPU's value per lookup */
	vals = calloc(ncpus, stride);
	if (!vals)
		return;
	for (__u32 idx = 0; idx < lo->hist_entries; idx++) {
		struct hd h;

		if (bpf_map_lookup_elem(lo->hist_fd, &idx, vals))
			continue;
		if (lo->pcpu_rows > 1) {
			for (int cpu = 0; cpu < ncpus; cpu++) {
				const struct nslat_hist *c = (void *)(vals + stride * cpu);

				if (!hist_delta(&h, c, &lo->prev_hist[(size_t)idx * lo->pcpu_rows + cpu]))
					continue;
				hist_name(lo, idx, &h);
				h.cpu = cpu;
				acc_hist(a, &h);
			}
		} else {
			struct nslat_hist sum = {};

			for (int cpu = 0; cpu < ncpus; cpu++) {
				const struct nslat_hist *c = (void *)(vals + stride * cpu);

				for (int b = 0; b < NSLAT_HIST_BUCKETS; b++)
					sum.buckets[b] += c->buckets[b];
				sum.sum += c->sum;
			}
			if (!hist_delta(&h, &sum, &lo->prev_hist[idx]))
				continue;
			hist_name(lo, idx, &h);
			acc_hist(a, &h);
		}
	}
	free(vals);
}

static __u64 pcpu_sum(int fd, __u32 key, __u64 *vals, int ncpus)
{
	__u64 s = 0;

	if (bpf_map_lookup_elem(fd, &key, vals))
		return 0;
	for (int cpu = 0; cpu < ncpus; cpu++)
		s += vals[cpu];
	return s;
}

void obj_collect(struct loaded_obj *lo, struct acc *a)
{
	int ncpus = lo->k->ncpus;
	__u64 *vals = calloc(ncpus, sizeof(__u64));

	if (!vals)
		return;
	collect_hists(lo, a);
	for (__u32 c = 0; lo->cnt_fd >= 0 && c < lo->cnt_entries; c++) {
		__u64 v = pcpu_sum(lo->cnt_fd, c, vals, ncpus), d;

		if (!lo->cnames[c])
			continue;
		d = v >= lo->prev_cnt[c] ? v - lo->prev_cnt[c] : v;
		lo->prev_cnt[c] = v;
		acc_kv(&a->c, &a->nc, &a->capc, lo->cnames[c], d);
	}
	for (__u32 r = 0; lo->drops_fd >= 0 && r < lo->drops_entries; r++) {
		__u64 v = pcpu_sum(lo->drops_fd, r, vals, ncpus), d;

		d = v >= lo->prev_drops[r] ? v - lo->prev_drops[r] : v;
		lo->prev_drops[r] = v;
		if (d)
			acc_kv(&a->d, &a->nd, &a->capd, drop_reason_name(lo->k->btf, r), d);
	}
	free(vals);
	for (int i = 0; i < lo->nprogs; i++) {
		struct prog_ent *pe = &lo->progs[i];
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(pe->prog);
		struct pst *p;

		if (fd < 0 || !pe->prog_id || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		GROW(a->p, a->np, a->capp);
		p = &a->p[a->np++];
		snprintf(p->name, sizeof(p->name), "%s", pe->name);
		p->id = pe->prog_id;
		p->cnt = info.run_cnt >= pe->prev_cnt ? info.run_cnt - pe->prev_cnt : 0;
		p->time = info.run_time_ns >= pe->prev_time ? info.run_time_ns - pe->prev_time : 0;
		p->miss = info.recursion_misses >= pe->prev_miss ? info.recursion_misses - pe->prev_miss : 0;
		pe->prev_cnt = info.run_cnt;
		pe->prev_time = info.run_time_ns;
		pe->prev_miss = info.recursion_misses;
	}
}

json_object *acc_to_json(const char *slot, struct acc *a)
{
	json_object *o = json_object_new_object(), *hs = json_object_new_array(),
		    *cs = json_object_new_object(), *ds = json_object_new_object(),
		    *ps = json_object_new_array();

	json_object_object_add(o, "slot", json_object_new_string(slot));
	for (int i = 0; i < a->nh; i++) {
		struct hd *h = &a->h[i];
		json_object *j = json_object_new_object(), *bk = json_object_new_array();

		json_object_object_add(j, "kind", json_object_new_string(h->kind));
		json_object_object_add(j, "dir", json_object_new_string(dir_names[h->dir]));
		json_object_object_add(j, "name", json_object_new_string(h->name));
		if (h->from[0])
			json_object_object_add(j, "from", json_object_new_string(h->from));
		if (h->to[0])
			json_object_object_add(j, "to", json_object_new_string(h->to));
		if (h->irq >= 0)
			json_object_object_add(j, "irq", json_object_new_int(h->irq));
		if (h->vec >= 0)
			json_object_object_add(j, "vec", json_object_new_int(h->vec));
		if (h->cpu >= 0)
			json_object_object_add(j, "cpu", json_object_new_int(h->cpu));
		for (int b = 0; b < NSLAT_HIST_BUCKETS; b++) {
			json_object *pair;

			if (!h->b[b])
				continue;
			pair = json_object_new_array();
			json_object_array_add(pair, json_object_new_int(b));
			json_object_array_add(pair, json_object_new_uint64(h->b[b]));
			json_object_array_add(bk, pair);
		}
		json_object_object_add(j, "buckets", bk);
		json_object_object_add(j, "count", json_object_new_uint64(h->count));
		json_object_object_add(j, "sum", json_object_new_uint64(h->sum));
		json_object_array_add(hs, j);
	}
	for (int i = 0; i < a->nc; i++)
		json_object_object_add(cs, a->c[i].name, json_object_new_uint64(a->c[i].v));
	for (int i = 0; i < a->nd; i++)
		json_object_object_add(ds, a->d[i].name, json_object_new_uint64(a->d[i].v));
	for (int i = 0; i < a->np; i++) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "name", json_object_new_string(a->p[i].name));
		json_object_object_add(p, "prog_id", json_object_new_int64(a->p[i].id));
		json_object_object_add(p, "run_cnt", json_object_new_uint64(a->p[i].cnt));
		json_object_object_add(p, "run_time_ns", json_object_new_uint64(a->p[i].time));
		json_object_object_add(p, "recursion_misses", json_object_new_uint64(a->p[i].miss));
		json_object_array_add(ps, p);
	}
	json_object_object_add(o, "hists", hs);
	json_object_object_add(o, "counters", cs);
	json_object_object_add(o, "drops", ds);
	json_object_object_add(o, "progs", ps);
	return o;
}

/* ---------------------------------------------------------------- journeys */

static int journey_cb(void *ctx, void *data, size_t size)
{
	static const char *const reasons[] = { "sampled", "slow" };
	static const char *const families[] = { "other", "ipv4", "ipv6" };
	struct loaded_obj *lo = ctx;
	const struct nslat_journey *j = data;
	json_object *o, *marks;
	char end[96];

	if (size < sizeof(*j))
		return 0;
	o = json_object_new_object();
	marks = json_object_new_array();
	json_object_object_add(o, "type", json_object_new_string("journey"));
	json_object_object_add(o, "slot", json_object_new_string(lo->slot));
	json_object_object_add(o, "dir", json_object_new_string(dir_names[j->dir == NSLAT_DIR_TX ? 1 : 0]));
	json_object_object_add(o, "reason", json_object_new_string(reasons[j->reason ? 1 : 0]));
	json_object_object_add(o, "mono_ns", json_object_new_uint64(j->t0));
	json_object_object_add(o, "total_ns", json_object_new_uint64(j->total_ns));
	for (int b = 0; b < NSLAT_NB; b++) {
		json_object *m;
		char bn[16];

		if (!(j->mask & (1u << b)))
			continue;
		snprintf(bn, sizeof(bn), "b%d", b);
		m = json_object_new_object();
		json_object_object_add(m, "boundary", json_object_new_string(lo->bnames[b] ?: bn));
		json_object_object_add(m, "t_ns", json_object_new_uint64(j->ts[b]));
		json_object_array_add(marks, m);
	}
	json_object_object_add(o, "marks", marks);
	if (j->ifindex)
		json_object_object_add(o, "ifindex", json_object_new_int64(j->ifindex));
	json_object_object_add(o, "l4", json_object_new_int(j->l4));
	json_object_object_add(o, "family", json_object_new_string(families[j->family <= 2 ? j->family : 0]));
	if (j->sport || j->dport) {
		json_object_object_add(o, "sport", json_object_new_int(j->sport));
		json_object_object_add(o, "dport", json_object_new_int(j->dport));
	}
	json_object_object_add(o, "len", json_object_new_int64(j->len));
	json_object_object_add(o, "cpu", json_object_new_int64(j->cpu));
	switch (j->end) {
	case NSLAT_END_READ: snprintf(end, sizeof(end), "read"); break;
	case NSLAT_END_CONSUME: snprintf(end, sizeof(end), "consume"); break;
	case NSLAT_END_DROP: snprintf(end, sizeof(end), "drop:%s", drop_reason_name(lo->k->btf, j->drop_reason)); break;
	case NSLAT_END_XMIT: snprintf(end, sizeof(end), "xmit"); break;
	default: snprintf(end, sizeof(end), "end%u", j->end); break;
	}
	json_object_object_add(o, "end", json_object_new_string(end));
	emit(o);
	return 0;
}

void obj_open_journeys(struct loaded_obj *lo)
{
	if (lo->rb_fd < 0 || lo->rb)
		return;
	lo->rb = ring_buffer__new(lo->rb_fd, journey_cb, lo, NULL);
	if (!lo->rb)
		emit_log("warn", "slot %s: cannot open ring buffer nslat_journeys: %s",
			 lo->slot, strerror(errno));
}

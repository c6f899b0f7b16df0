// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loading one probe object: open, set globals by BTF name, decide per
 * program whether it can load here, load with a verifier log buffer,
 * attach (alternatives: first of fentry, kprobe, tp that attaches), and
 * describe the result (`loaded`).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include "helper.h"

#define VLOG_SIZE (8u << 20)

static enum atype section_atype(const char *sec)
{
	static const struct { const char *pfx; enum atype at; } m[] = {
		{ "tp_btf/", AT_TP_BTF }, { "raw_tp/", AT_RAW_TP }, { "raw_tracepoint/", AT_RAW_TP },
		{ "tp/", AT_TRACEPOINT }, { "tracepoint/", AT_TRACEPOINT },
		{ "fentry/", AT_FENTRY }, { "fexit/", AT_FEXIT },
		{ "kprobe/", AT_KPROBE }, { "kretprobe/", AT_KRETPROBE },
		{ "netfilter", AT_NETFILTER },
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!strncmp(sec, m[i].pfx, strlen(m[i].pfx)))
			return m[i].at;
	return AT_OTHER;
}

static const char *sec_target(const char *sec)
{
	const char *s = strchr(sec, '/');

	return s ? s + 1 : "";
}

static bool tracefs_event_exists(const char *catname)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "/sys/kernel/tracing/events/%s", catname);
	if (!access(p, F_OK))
		return true;
	snprintf(p, sizeof(p), "/sys/kernel/debug/tracing/events/%s", catname);
	return !access(p, F_OK);
}

/* Can this program load and attach on this kernel? NULL if yes, else why. */
static const char *prog_unavailable(struct prog_ent *pe, char *buf, size_t n)
{
	const char *tgt = sec_target(pe->section);
	char name[256];

	if (pe->at == AT_OTHER)
		return NULL;
	if (pe->at == AT_NETFILTER && !use_netfilter) {
		snprintf(buf, n, "netfilter hooks not enabled (helper option --netfilter; "
			 "a hook sees only the helper's network namespace)");
		return buf;
	}
	if (!feat_ok[pe->at]) {
		if (feat_err[pe->at][0])
			snprintf(buf, n, "%s", feat_err[pe->at]);
		else
			snprintf(buf, n, "%s not available on this kernel", atype_names[pe->at]);
		return buf;
	}
	switch (pe->at) {
	case AT_TP_BTF:
	case AT_RAW_TP:
		snprintf(name, sizeof(name), "btf_trace_%s", tgt);
		if (vmlinux_btf && btf__find_by_name_kind(vmlinux_btf, name, BTF_KIND_TYPEDEF) < 0) {
			snprintf(buf, n, "tracepoint %s not in this kernel", tgt);
			return buf;
		}
		break;
	case AT_TRACEPOINT:
		if (!tracefs_event_exists(tgt)) {
			snprintf(buf, n, "tracepoint %s not in this kernel (or tracefs not mounted)", tgt);
			return buf;
		}
		break;
	case AT_FENTRY:
	case AT_FEXIT:
	case AT_KPROBE:
	case AT_KRETPROBE:
		snprintf(name, sizeof(name), "%s", tgt);
		name[strcspn(name, "+")] = 0;
		if (vmlinux_btf && btf__find_by_name_kind(vmlinux_btf, name, BTF_KIND_FUNC) < 0) {
			snprintf(buf, n, "function %s not found in kernel BTF", name);
			return buf;
		}
		break;
	default:
		break;
	}
	return NULL;
}

static const char *const alt_names[] = { "fentry", "kprobe", "tp", "other" };

/* "netfilter/<ipv4|ipv6>/<hook>[/<priority>]" */
static bool nf_section(const char *sec, int *pf, int *hook, int *prio)
{
	static const char *const hooks[] = { "pre_routing", "local_in", "forward", "local_out", "post_routing" };
	char fam[16] = "", hk[32] = "";
	int n;

	*prio = -1000;
	n = sscanf(sec, "netfilter/%15[^/]/%31[^/]/%d", fam, hk, prio);
	if (n < 2)
		return false;
	if (!strcmp(fam, "ipv4"))
		*pf = 2;	/* NFPROTO_IPV4 */
	else if (!strcmp(fam, "ipv6"))
		*pf = 10;	/* NFPROTO_IPV6 */
	else
		return false;
	for (int i = 0; i < 5; i++)
		if (!strcmp(hk, hooks[i])) {
			*hook = i;
			return true;
		}
	return false;
}

int nf_link_create(int prog_fd, int pf, int hooknum, int prio)
{
	/* union bpf_attr.link_create with its netfilter member (not in the
	 * 6.1 UAPI headers this builds against) */
	union {
		char raw[128];
		struct {
			__u32 prog_fd, target_fd, attach_type, flags;
			__u32 pf, hooknum;
			__s32 priority;
			__u32 nf_flags;
		} lc;
	} a;

	memset(&a, 0, sizeof(a));
	a.lc.prog_fd = prog_fd;
	a.lc.attach_type = NSLAT_ATTACH_NETFILTER;
	a.lc.pf = pf;
	a.lc.hooknum = hooknum;
	a.lc.priority = prio;
	return syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
}

static int alt_rank(const char *alt)
{
	if (!strncmp(alt, "fentry", 6) || !strncmp(alt, "fexit", 5))
		return 0;
	if (!strncmp(alt, "kprobe", 6) || !strncmp(alt, "kretprobe", 9))
		return 1;
	if (!strncmp(alt, "tp", 2) || !strncmp(alt, "raw", 3) || !strncmp(alt, "netfilter", 9))
		return 2;
	return 3;
}

/* handle_<boundary> or <boundary>__<alt>[_what] */
static void map_prog(struct loaded_obj *lo, struct prog_ent *pe)
{
	const char *dunder;

	pe->boundary = -1;
	pe->alt = -1;
	if (!strncmp(pe->name, "handle_", 7)) {
		for (int b = 0; b < NSLAT_NB; b++)
			if (lo->bnames[b] && !strcmp(lo->bnames[b], pe->name + 7))
				pe->boundary = b;
		return;
	}
	dunder = strstr(pe->name, "__");
	if (!dunder)
		return;
	for (int b = 0; b < NSLAT_NB; b++) {
		if (lo->bnames[b] && strlen(lo->bnames[b]) == (size_t)(dunder - pe->name) &&
		    !strncmp(lo->bnames[b], pe->name, dunder - pe->name)) {
			pe->boundary = b;
			pe->alt = alt_rank(dunder + 2);
		}
	}
}

static char *lower_dup(const char *s)
{
	char *d = strdup(s);

	for (char *p = d; *p; p++)
		*p = tolower((unsigned char)*p);
	return d;
}

static void read_enums(struct loaded_obj *lo)
{
	struct btf *btf = bpf_object__btf(lo->obj);
	const struct btf_type *t;
	int id;

	lo->layout = LAYOUT_NONE;
	lo->dir = 2;
	if (!btf)
		return;
	id = btf__find_by_name_kind(btf, "nslat_boundary", BTF_KIND_ENUM);
	if (id > 0) {
		const struct btf_enum *e;

		t = btf__type_by_id(btf, id);
		e = btf_enum(t);
		lo->layout = LAYOUT_PACKET;
		for (int i = 0; i < btf_vlen(t); i++, e++) {
			const char *n = btf__name_by_offset(btf, e->name_off);
			int dir;

			if (!strncmp(n, "NSLAT_RX_", 9))
				dir = 0;
			else if (!strncmp(n, "NSLAT_TX_", 9))
				dir = 1;
			else
				continue;
			if (e->val < 0 || e->val >= NSLAT_NB)
				continue;
			lo->dir = dir;
			free(lo->bnames[e->val]);
			lo->bnames[e->val] = lower_dup(n + 9);
			if (e->val + 1 > lo->nb)
				lo->nb = e->val + 1;
		}
	} else if (btf__find_by_name_kind(btf, "nslat_irq_index", BTF_KIND_ENUM) > 0) {
		lo->layout = LAYOUT_IRQ;
		lo->dir = 2;
	}
	id = btf__find_by_name_kind(btf, "nslat_counter", BTF_KIND_ENUM);
	if (id > 0) {
		const struct btf_enum *e;

		t = btf__type_by_id(btf, id);
		e = btf_enum(t);
		for (int i = 0; i < btf_vlen(t); i++, e++) {
			const char *n = btf__name_by_offset(btf, e->name_off);

			if (strncmp(n, "NSLAT_CNT_", 10) || e->val < 0 || e->val >= NSLAT_MAX_COUNTERS)
				continue;
			free(lo->cnames[e->val]);
			lo->cnames[e->val] = lower_dup(n + 10);
		}
	}
}

/* The internal map holding a datasec (".rodata", ".data", ".bss"). */
static struct bpf_map *datasec_map(struct bpf_object *obj, const char *sec)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);
		size_t ln = strlen(n), ls = strlen(sec);

		if (bpf_map__is_internal(m) && ln >= ls && !strcmp(n + ln - ls, sec))
			return m;
	}
	return NULL;
}

/* Find variable `name` in datasec `sec`: offset and size. */
static bool find_var(struct bpf_object *obj, const char *sec, const char *name, __u32 *off, __u32 *sz)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *v;
	const struct btf_type *t;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, sec, BTF_KIND_DATASEC);
	if (id <= 0)
		return false;
	t = btf__type_by_id(btf, id);
	v = btf_var_secinfos(t);
	for (int i = 0; i < btf_vlen(t); i++, v++) {
		const struct btf_type *vt = btf__type_by_id(btf, v->type);

		if (!strcmp(btf__name_by_offset(btf, vt->name_off), name)) {
			*off = v->offset;
			*sz = v->size;
			return true;
		}
	}
	return false;
}

static void put_int(void *p, __u32 sz, long long v)
{
	switch (sz) {
	case 1: *(__u8 *)p = v; break;
	case 2: *(__u16 *)p = v; break;
	case 4: *(__u32 *)p = v; break;
	case 8: *(__u64 *)p = v; break;
	default: break;
	}
}

/* Before load: write values into the object's .rodata or .data/.bss image. */
static int set_vars(struct bpf_object *obj, json_object *vals, bool ro, char *bad, size_t nbad)
{
	static const char *const ro_secs[] = { ".rodata", NULL };
	static const char *const rw_secs[] = { ".data", ".bss", NULL };
	const char *const *secs = ro ? ro_secs : rw_secs;
	int nunknown = 0;

	bad[0] = 0;
	if (!vals)
		return 0;
	json_object_object_foreach(vals, key, val) {
		bool done = false;

		for (int i = 0; secs[i] && !done; i++) {
			struct bpf_map *m = datasec_map(obj, secs[i]);
			__u32 off, sz;
			size_t msz;
			void *img;

			if (!m || !find_var(obj, secs[i], key, &off, &sz))
				continue;
			img = (void *)bpf_map__initial_value(m, &msz);
			if (!img || off + sz > msz || (sz != 1 && sz != 2 && sz != 4 && sz != 8))
				continue;
			put_int((char *)img + off, sz, json_object_get_int64(val));
			done = true;
		}
		if (!done) {
			size_t l = strlen(bad);

			snprintf(bad + l, nbad - l, "%s%s", nunknown ? ", " : "", key);
			nunknown++;
		}
	}
	return nunknown;
}

int obj_set_data(struct loaded_obj *lo, const char *name, long long v)
{
	static const char *const secs[] = { ".data", ".bss" };

	for (int i = 0; i < 2; i++) {
		struct bpf_map *m = datasec_map(lo->obj, secs[i]);
		__u32 off, sz, zero = 0;
		size_t vs;
		char *buf;
		int err;

		if (!m || !find_var(lo->obj, secs[i], name, &off, &sz))
			continue;
		vs = bpf_map__value_size(m);
		if (off + sz > vs)
			return -EINVAL;
		buf = calloc(1, vs);
		if (!buf)
			return -ENOMEM;
		err = bpf_map_lookup_elem(bpf_map__fd(m), &zero, buf);
		if (!err) {
			put_int(buf + off, sz, v);
			err = bpf_map_update_elem(bpf_map__fd(m), &zero, buf, 0);
		}
		free(buf);
		return err ? -errno : 1;
	}
	return 0;
}

static __u32 prog_id_of(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static void attach_one(struct prog_ent *pe)
{
	struct bpf_link *l;

	if (bpf_program__fd(pe->prog) < 0)
		return;
	if (pe->at == AT_NETFILTER) {
		int pf, hook, prio, fd, e;

		if (!nf_section(pe->section, &pf, &hook, &prio)) {
			pe->status = PS_FAILED;
			snprintf(pe->reason, sizeof(pe->reason),
				 "bad section: use netfilter/<ipv4|ipv6>/<hook>[/<priority>]");
			return;
		}
		fd = nf_link_create(bpf_program__fd(pe->prog), pf, hook, prio);
		if (fd < 0) {
			e = errno;
			pe->status = PS_FAILED;
			snprintf(pe->reason, sizeof(pe->reason), "netfilter attach failed: %s (%s)",
				 strerror(e), strerrorname_np(e) ?: "?");
			return;
		}
		pe->nf_fd = fd;
		pe->status = PS_ATTACHED;
		pe->reason[0] = 0;
		return;
	}
	l = bpf_program__attach(pe->prog);
	if (!l) {
		int e = errno;

		pe->status = PS_FAILED;
		snprintf(pe->reason, sizeof(pe->reason), "attach failed: %s (%s)",
			 strerror(e), strerrorname_np(e) ?: "?");
		return;
	}
	pe->link = l;
	pe->status = PS_ATTACHED;
	pe->reason[0] = 0;
}

static int find_map_fd(struct bpf_object *obj, const char *name, __u32 *entries)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m)
		return -1;
	if (entries)
		*entries = bpf_map__max_entries(m);
	return bpf_map__fd(m);
}

int obj_detach(struct loaded_obj *lo)
{
	for (int i = 0; lo && i < lo->nprogs; i++) {
		struct prog_ent *pe = &lo->progs[i];

		if (pe->link && !bpf_link__destroy(pe->link))
			pe->link = NULL;
		if (pe->nf_fd >= 0 && !close(pe->nf_fd))
			pe->nf_fd = -1;
	}
	return obj_attached(lo);
}

void obj_destroy(struct loaded_obj *lo)
{
	if (!lo)
		return;
	obj_detach(lo);
	if (lo->rb)
		ring_buffer__free(lo->rb);
	bpf_object__close(lo->obj);
	for (int b = 0; b < NSLAT_NB; b++)
		free(lo->bnames[b]);
	for (int c = 0; c < NSLAT_MAX_COUNTERS; c++)
		free(lo->cnames[c]);
	free(lo->progs);
	free(lo->prev_hist);
	free(lo->prev_cnt);
	free(lo->prev_drops);
	free(lo);
}

int obj_attached(const struct loaded_obj *lo)
{
	int n = 0;

	for (int i = 0; lo && i < lo->nprogs; i++)
		n += lo->progs[i].link != NULL || lo->progs[i].nf_fd >= 0;
	return n;
}

struct loaded_obj *obj_load(const char *id, const char *slot, const char *path,
			    json_object *rodata, json_object *data, struct loaded_obj *retiring, bool *ok)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct loaded_obj *lo = calloc(1, sizeof(*lo));
	static char *vlog;
	struct bpf_program *prog;
	char bad[1024], why[320];
	int err, i, nattached = 0;

	*ok = false;
	if (!vlog)
		vlog = malloc(VLOG_SIZE);
	if (!lo || !vlog) {
		emit_error(id, "internal", slot, NULL, NULL, "out of memory");
		free(lo);
		return NULL;
	}
	snprintf(lo->path, sizeof(lo->path), "%s", path);
	snprintf(lo->slot, sizeof(lo->slot), "%s", slot);
	lo->hist_fd = lo->cnt_fd = lo->drops_fd = lo->rb_fd = -1;
	vlog[0] = 0;
	oo.kernel_log_buf = vlog;
	oo.kernel_log_size = VLOG_SIZE;
	oo.kernel_log_level = 0;	/* libbpf retries a failed program at level 1 into vlog */

	libbpf_capture_reset();
	lo->obj = bpf_object__open_file(path, &oo);
	if (!lo->obj) {
		char ebuf[128];

		libbpf_strerror(-errno, ebuf, sizeof(ebuf));
		emit_error(id, "open_failed", slot, NULL, libbpf_captured(),
			   "cannot open %s as a BPF object: %s", path, ebuf);
		free(lo);
		return NULL;
	}
	read_enums(lo);

	if (set_vars(lo->obj, rodata, true, bad, sizeof(bad))) {
		emit_error(id, "bad_command", slot, NULL, NULL,
			   "unknown rodata variable(s) in %s: %s", path, bad);
		goto fail;
	}
	if (set_vars(lo->obj, data, false, bad, sizeof(bad))) {
		emit_error(id, "bad_command", slot, NULL, NULL,
			   "unknown data variable(s) in %s: %s", path, bad);
		goto fail;
	}

	bpf_object__for_each_program(prog, lo->obj)
		lo->nprogs++;
	lo->progs = calloc(lo->nprogs ?: 1, sizeof(*lo->progs));
	i = 0;
	bpf_object__for_each_program(prog, lo->obj) {
		struct prog_ent *pe = &lo->progs[i++];
		const char *why_not;

		pe->prog = prog;
		pe->name = bpf_program__name(prog);
		pe->section = bpf_program__section_name(prog);
		pe->at = section_atype(pe->section);
		pe->status = PS_FAILED;
		pe->nf_fd = -1;
		map_prog(lo, pe);
		why_not = prog_unavailable(pe, why, sizeof(why));
		if (why_not) {
			bpf_program__set_autoload(prog, false);
			pe->status = PS_SKIPPED;
			snprintf(pe->reason, sizeof(pe->reason), "%s", why_not);
		} else if (pe->at == AT_NETFILTER) {
			/* libbpf 1.1 does not know SEC("netfilter") */
			bpf_program__set_type(prog, NSLAT_PROG_TYPE_NETFILTER);
			bpf_program__set_expected_attach_type(prog, NSLAT_ATTACH_NETFILTER);
		}
	}

	err = bpf_object__load(lo->obj);
	if (err) {
		struct prog_ent *bad_pe = NULL;
		const char *cap = libbpf_captured(), *q;
		char ebuf[128];

		/* libbpf names the program that failed: "prog 'NAME': ..." */
		for (q = strstr(cap, "prog '"); q && !bad_pe; q = strstr(q + 1, "prog '")) {
			const char *n = q + 6, *e = strchr(n, '\'');

			for (i = 0; e && i < lo->nprogs; i++)
				if (strlen(lo->progs[i].name) == (size_t)(e - n) &&
				    !strncmp(lo->progs[i].name, n, e - n))
					bad_pe = &lo->progs[i];
		}
		libbpf_strerror(err, ebuf, sizeof(ebuf));
		if (bad_pe && vlog[0])
			emit_error(id, "verifier", slot, bad_pe->name, vlog,
				   "verifier rejected program %s (%s): %s", bad_pe->name,
				   bad_pe->section, ebuf);
		else
			emit_error(id, "load_failed", slot, bad_pe ? bad_pe->name : NULL,
				   vlog[0] ? vlog : cap, "loading %s failed: %s", path, ebuf);
		goto fail;
	}

	for (i = 0; i < lo->nprogs; i++)
		lo->progs[i].prog_id = prog_id_of(bpf_program__fd(lo->progs[i].prog));

	/* Reload: from here on the object being replaced starts no new packets
	 * (its in-flight ones still finish), so the two objects never both count
	 * one packet while both are attached. Undone if nothing attaches. */
	if (retiring)
		obj_set_data(retiring, "nslat_retired", 1);
	/* single programs and bookkeeping */
	for (i = 0; i < lo->nprogs; i++)
		if (lo->progs[i].alt < 0 && lo->progs[i].status != PS_SKIPPED)
			attach_one(&lo->progs[i]);
	/* alternatives, per boundary, first that attaches */
	for (int b = 0; b < NSLAT_NB; b++) {
		int chosen = -1;
		const char *chosen_name = NULL;

		for (int rank = 0; rank <= 3 && chosen < 0; rank++) {
			for (i = 0; i < lo->nprogs; i++) {
				struct prog_ent *pe = &lo->progs[i];

				if (pe->boundary != b || pe->alt != rank || pe->status == PS_SKIPPED)
					continue;
				attach_one(pe);
				if (pe->status == PS_ATTACHED && chosen < 0) {
					chosen = rank;
					chosen_name = pe->name;
				}
			}
		}
		if (chosen < 0)
			continue;
		for (i = 0; i < lo->nprogs; i++) {
			struct prog_ent *pe = &lo->progs[i];
			char old[sizeof(pe->reason)];
			int l;

			if (pe->boundary != b || pe->alt < 0 || pe->alt == chosen)
				continue;
			snprintf(old, sizeof(old), "%s", pe->reason);
			l = (int)(strstr(chosen_name, "__") - chosen_name);
			snprintf(pe->reason, sizeof(pe->reason), "alternative %.*s__%s attached%s%.200s",
				 l, chosen_name, alt_names[chosen], old[0] ? "; " : "", old);
			pe->status = PS_SKIPPED;
		}
	}
	nattached = obj_attached(lo);
	if (!nattached) {
		char log[4096] = "";

		for (i = 0; i < lo->nprogs; i++) {
			size_t l = strlen(log);

			snprintf(log + l, sizeof(log) - l, "%s: %s\n", lo->progs[i].name,
				 lo->progs[i].reason[0] ? lo->progs[i].reason : "not attached");
		}
		emit_error(id, "attach_failed", slot, NULL, log,
			   "no program of %s could attach on this kernel", path);
		if (retiring)
			obj_set_data(retiring, "nslat_retired", 0);
		goto fail;
	}

	lo->hist_fd = find_map_fd(lo->obj, "nslat_hist", &lo->hist_entries);
	lo->cnt_fd = find_map_fd(lo->obj, "nslat_counters", &lo->cnt_entries);
	lo->drops_fd = find_map_fd(lo->obj, "nslat_drops", &lo->drops_entries);
	lo->rb_fd = find_map_fd(lo->obj, "nslat_journeys", NULL);
	if (lo->cnt_entries > NSLAT_MAX_COUNTERS)
		lo->cnt_entries = NSLAT_MAX_COUNTERS;
	if (lo->drops_entries > NSLAT_MAX_DROPS)
		lo->drops_entries = NSLAT_MAX_DROPS;
	lo->pcpu_rows = lo->layout == LAYOUT_IRQ ? ncpus : 1;
	lo->prev_hist = calloc((size_t)(lo->hist_entries ?: 1) * lo->pcpu_rows, sizeof(struct nslat_hist));
	lo->prev_cnt = calloc(NSLAT_MAX_COUNTERS, sizeof(__u64));
	lo->prev_drops = calloc(NSLAT_MAX_DROPS, sizeof(__u64));
	if (lo->rb_fd >= 0) {
		lo->rb = ring_buffer__new(lo->rb_fd, journey_cb, lo, NULL);
		if (!lo->rb)
			emit_log("warn", "slot %s: cannot open ring buffer nslat_journeys: %s",
				 slot, strerror(errno));
	}
	*ok = true;
	return lo;
fail:
	obj_destroy(lo);
	return NULL;
}

json_object *obj_loaded_msg(const struct loaded_obj *lo, const char *id, bool replaced, uint64_t t)
{
	json_object *o = json_object_new_object(), *progs = json_object_new_array(),
		    *bs = json_object_new_array();

	json_object_object_add(o, "type", json_object_new_string("loaded"));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "slot", json_object_new_string(lo->slot));
	json_object_object_add(o, "object", json_object_new_string(lo->path));
	json_object_object_add(o, "replaced", json_object_new_boolean(replaced));
	json_object_object_add(o, "mono_ns", json_object_new_uint64(t));
	for (int i = 0; i < lo->nprogs; i++) {
		const struct prog_ent *pe = &lo->progs[i];
		json_object *p = json_object_new_object();
		static const char *const st[] = { "attached", "skipped", "failed" };

		json_object_object_add(p, "name", json_object_new_string(pe->name));
		json_object_object_add(p, "section", json_object_new_string(pe->section));
		json_object_object_add(p, "status", json_object_new_string(st[pe->status]));
		json_object_object_add(p, "attach", json_object_new_string(atype_names[pe->at]));
		if (pe->status != PS_ATTACHED && pe->reason[0])
			json_object_object_add(p, "reason", json_object_new_string(pe->reason));
		if (pe->prog_id)
			json_object_object_add(p, "prog_id", json_object_new_int64(pe->prog_id));
		json_object_array_add(progs, p);
	}
	for (int b = 0; b < NSLAT_NB; b++) {
		json_object *bo;
		const struct prog_ent *active = NULL;
		char why[2048] = "";

		if (!lo->bnames[b])
			continue;
		for (int i = 0; i < lo->nprogs; i++) {
			const struct prog_ent *pe = &lo->progs[i];
			size_t l = strlen(why);

			if (pe->boundary != b)
				continue;
			if (pe->status == PS_ATTACHED && !active)
				active = pe;
			if (pe->status != PS_ATTACHED)
				snprintf(why + l, sizeof(why) - l, "%s%s: %s", l ? "; " : "", pe->name,
					 pe->reason[0] ? pe->reason : "not attached");
		}
		bo = json_object_new_object();
		json_object_object_add(bo, "id", json_object_new_int(b));
		json_object_object_add(bo, "name", json_object_new_string(lo->bnames[b]));
		json_object_object_add(bo, "dir", json_object_new_string(dir_names[lo->dir]));
		json_object_object_add(bo, "active", json_object_new_boolean(active != NULL));
		if (active) {
			json_object_object_add(bo, "attach", json_object_new_string(atype_names[active->at]));
		} else {
			json_object_object_add(bo, "reason", json_object_new_string(
				why[0] ? why : "no program feeds this boundary"));
		}
		json_object_array_add(bs, bo);
	}
	json_object_object_add(o, "programs", progs);
	json_object_object_add(o, "boundaries", bs);
	return o;
}

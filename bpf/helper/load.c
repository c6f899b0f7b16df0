// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loading one probe object.
 *
 *  1. open it, read its boundaries, counters and groups from its BTF;
 *  2. plan: per group of alternatives (nslat.h), choose the first of fentry,
 *     kprobe, netfilter, tp that can attach here, so only the chosen
 *     programs meet the verifier;
 *  3. load; a program the verifier (or CO-RE) refuses is recorded with its
 *     log, its group falls back to its next alternative (a program of no
 *     group is dropped alone), and the object is opened and loaded again;
 *  4. attach; a chosen alternative that does not attach falls back the same
 *     way;
 *  5. describe the result (`loaded`).
 *
 * A strict load (an edited probe) stops at the first refusal instead: the
 * caller keeps the object it had.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <gelf.h>
#include <libelf.h>
#include <bpf/bpf.h>
#include "output.h"
#include "object.h"

#define VLOG_SIZE (8u << 20)
/* the tail of a verifier log kept in `loaded` for a refused program */
#define KEEP_LOG (48u << 10)

const char *const alt_names[ALT_NUM] = { "fentry", "kprobe", "netfilter", "tp" };
const char *const dir_names[3] = { "rx", "tx", "irq" };

/* ---------------------------------------------------------------- sections and names */

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

/* The alternative a name suffix spells ("fentry_v6", "kretprobe_end", "tp"). */
static int alt_of(const char *s)
{
	static const struct { const char *w; int alt; } m[] = {
		{ "fentry", ALT_FENTRY }, { "fexit", ALT_FENTRY },
		{ "kprobe", ALT_KPROBE }, { "kretprobe", ALT_KPROBE },
		{ "netfilter", ALT_NETFILTER }, { "tp", ALT_TP }, { "raw_tp", ALT_TP },
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		size_t l = strlen(m[i].w);

		if (!strncmp(s, m[i].w, l) && (s[l] == 0 || s[l] == '_'))
			return m[i].alt;
	}
	return ALT_NONE;
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
static const char *why_unavailable(const struct kernel *k, const struct prog_ent *pe, char *buf, size_t n)
{
	const char *tgt = sec_target(pe->section);
	char name[256];

	if (pe->at == AT_OTHER)
		return NULL;
	if (pe->at == AT_NETFILTER && !k->netfilter_on && k->ok[AT_NETFILTER]) {
		snprintf(buf, n, "netfilter hooks turned off (--no-netfilter)");
		return buf;
	}
	if (!k->ok[pe->at]) {
		if (k->why[pe->at][0])
			snprintf(buf, n, "%s", k->why[pe->at]);
		else
			snprintf(buf, n, "%s not available on this kernel", atype_names[pe->at]);
		return buf;
	}
	switch (pe->at) {
	case AT_TP_BTF:
	case AT_RAW_TP:
		snprintf(name, sizeof(name), "btf_trace_%s", tgt);
		if (k->btf && btf__find_by_name_kind(k->btf, name, BTF_KIND_TYPEDEF) < 0) {
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
		if (k->btf && btf__find_by_name_kind(k->btf, name, BTF_KIND_FUNC) < 0) {
			snprintf(buf, n, "function %s not found in kernel BTF", name);
			return buf;
		}
		break;
	default:
		break;
	}
	return NULL;
}

static char *lower_dup(const char *s)
{
	char *d = strdup(s);

	for (char *p = d; d && *p; p++)
		*p = tolower((unsigned char)*p);
	return d;
}

static void read_enums(struct loaded_obj *lo)
{
	struct btf *btf = bpf_object__btf(lo->obj);
	const struct btf_type *t;
	const struct btf_enum *e;
	int id;

	lo->layout = LAYOUT_NONE;
	lo->dir = 2;
	if (!btf)
		return;
	id = btf__find_by_name_kind(btf, "nslat_boundary", BTF_KIND_ENUM);
	if (id > 0) {
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
	}
	id = btf__find_by_name_kind(btf, "nslat_counter", BTF_KIND_ENUM);
	if (id > 0) {
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

/* ---------------------------------------------------------------- globals by BTF name */

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

static bool int_size(__u32 sz)
{
	return sz == 1 || sz == 2 || sz == 4 || sz == 8;
}

/* v is representable in a variable of sz bytes (signed or unsigned). */
bool int_fits(long long v, __u32 sz)
{
	if (sz >= 8)
		return true;
	return v >= -(1LL << (8 * sz - 1)) && v <= (long long)((1ULL << (8 * sz)) - 1);
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

static long long get_int(const void *p, __u32 sz)
{
	switch (sz) {
	case 1: return *(const __u8 *)p;
	case 2: return *(const __u16 *)p;
	case 4: return *(const __u32 *)p;
	case 8: return (long long)*(const __u64 *)p;
	default: return 0;
	}
}

/* The image of variable `name` in the object before load, or NULL. */
static void *var_image(struct bpf_object *obj, const char *const *secs, const char *name, __u32 *sz)
{
	for (int i = 0; secs[i]; i++) {
		struct bpf_map *m = datasec_map(obj, secs[i]);
		__u32 off;
		size_t msz;
		char *img;

		if (!m || !find_var(obj, secs[i], name, &off, sz))
			continue;
		img = (void *)bpf_map__initial_value(m, &msz);
		if (img && off + *sz <= msz && int_size(*sz))
			return img + off;
	}
	return NULL;
}

static const char *const ro_secs[] = { ".rodata", NULL };
static const char *const rw_secs[] = { ".data", ".bss", NULL };

/* Before load: write values into the object's .rodata or .data/.bss image.
 * A name the object does not declare is refused (listed in `bad`), or, with
 * `skipped`, added there and passed over; a value that does not fit is
 * always refused. Returns the number refused. */
static int set_vars(struct bpf_object *obj, json_object *vals, bool ro, json_object *skipped,
		    char *bad, size_t nbad)
{
	int nunknown = 0;

	bad[0] = 0;
	if (!vals)
		return 0;
	json_object_object_foreach(vals, key, val) {
		__u32 sz;
		void *p = var_image(obj, ro ? ro_secs : rw_secs, key, &sz);
		size_t l = strlen(bad);

		if (p && int_fits(json_object_get_int64(val), sz)) {
			put_int(p, sz, json_object_get_int64(val));
		} else if (p) {
			snprintf(bad + l, nbad - l, "%s%s (%lld does not fit in %u bytes)", nunknown ? ", " : "",
				 key, (long long)json_object_get_int64(val), sz);
			nunknown++;
		} else if (skipped) {
			json_object_array_add(skipped, json_object_new_string(key));
		} else {
			snprintf(bad + l, nbad - l, "%s%s", nunknown ? ", " : "", key);
			nunknown++;
		}
	}
	return nunknown;
}

/* Size of data variable `name` (0: the object has none). */
__u32 obj_data_size(struct loaded_obj *lo, const char *name)
{
	__u32 off, sz;

	for (int i = 0; rw_secs[i]; i++)
		if (datasec_map(lo->obj, rw_secs[i]) && find_var(lo->obj, rw_secs[i], name, &off, &sz) &&
		    int_size(sz))
			return sz;
	return 0;
}

/* After load, the memory bpf_map__initial_value() points at becomes the
 * kernel map's own: libbpf (before 1.5) remaps it so only when a skeleton
 * loads the object, and otherwise leaves a private copy whose writes the
 * programs never see. The same mapping over that copy (its size and place
 * are libbpf's, so libbpf unmaps it as usual). */
static bool map_data_sections(struct loaded_obj *lo)
{
	long page = sysconf(_SC_PAGESIZE);

	for (int i = 0; rw_secs[i]; i++) {
		struct bpf_map *m = datasec_map(lo->obj, rw_secs[i]);
		size_t sz, len;
		void *p;

		if (!m || !(bpf_map__map_flags(m) & BPF_F_MMAPABLE) || !(p = (void *)bpf_map__initial_value(m, &sz)))
			continue;
		len = ((size_t)bpf_map__value_size(m) * bpf_map__max_entries(m) + page - 1) / page * page;
		if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, bpf_map__fd(m), 0) == MAP_FAILED) {
			emit_log("warn", "%s: cannot map %s for writing: %s (set cannot change its variables)",
				 lo->path, rw_secs[i], strerror(errno));
			return false;
		}
	}
	return true;
}

/* After load (map_data_sections), .data and .bss are the kernel's memory:
 * one variable is stored in place, atomically, while programs use the rest. */
int obj_set_data(struct loaded_obj *lo, const char *name, long long v)
{
	for (int i = 0; rw_secs[i]; i++) {
		struct bpf_map *m = datasec_map(lo->obj, rw_secs[i]);
		__u32 off, sz;
		size_t msz;
		char *p;

		if (!m || !find_var(lo->obj, rw_secs[i], name, &off, &sz))
			continue;
		p = (char *)bpf_map__initial_value(m, &msz);
		if (!p || off + sz > msz || !int_size(sz))
			return -EINVAL;
		p += off;
		switch (sz) {
		case 1: __atomic_store_n((__u8 *)p, (__u8)v, __ATOMIC_RELEASE); break;
		case 2: __atomic_store_n((__u16 *)p, (__u16)v, __ATOMIC_RELEASE); break;
		case 4: __atomic_store_n((__u32 *)p, (__u32)v, __ATOMIC_RELEASE); break;
		default: __atomic_store_n((__u64 *)p, (__u64)v, __ATOMIC_RELEASE); break;
		}
		return 1;
	}
	return 0;
}

/* The integer globals of datasec `sec` (1, 2, 4 or 8 bytes, of integer or
 * enum type) as {name, kind, size}, appended to arr. nslat_* names are the
 * probes' library and the helper's own (nslat.h), not settable by a load. */
static void datasec_globals(struct btf *btf, const char *sec, const char *kind, json_object *arr)
{
	const struct btf_var_secinfo *v;
	const struct btf_type *t;
	int id = btf__find_by_name_kind(btf, sec, BTF_KIND_DATASEC);

	if (id <= 0)
		return;
	t = btf__type_by_id(btf, id);
	v = btf_var_secinfos(t);
	for (int i = 0; i < btf_vlen(t); i++, v++) {
		const struct btf_type *var = btf__type_by_id(btf, v->type), *vt;
		const char *name;
		int tid;

		if (!var || !btf_is_var(var))
			continue;
		name = btf__name_by_offset(btf, var->name_off);
		tid = btf__resolve_type(btf, var->type);
		vt = tid > 0 ? btf__type_by_id(btf, tid) : NULL;
		if (!name || !name[0] || !strncmp(name, "nslat_", 6) || !vt ||
		    !(btf_is_int(vt) || btf_is_any_enum(vt)) || vt->size != v->size || !int_size(v->size))
			continue;
		{
			json_object *g = json_object_new_object();

			json_object_object_add(g, "name", json_object_new_string(name));
			json_object_object_add(g, "kind", json_object_new_string(kind));
			json_object_object_add(g, "size", json_object_new_int((int)v->size));
			json_object_array_add(arr, g);
		}
	}
}

static json_object *obj_globals(const struct loaded_obj *lo)
{
	struct btf *btf = bpf_object__btf(lo->obj);
	json_object *arr = json_object_new_array();

	if (!btf)
		return arr;
	for (int i = 0; ro_secs[i]; i++)
		datasec_globals(btf, ro_secs[i], "rodata", arr);
	for (int i = 0; rw_secs[i]; i++)
		datasec_globals(btf, rw_secs[i], "data", arr);
	return arr;
}

/* ---------------------------------------------------------------- programs and groups */

static int group_of(struct loaded_obj *lo, const char *name, size_t len)
{
	struct group *g;

	for (int i = 0; i < lo->ngroups; i++)
		if (strlen(lo->groups[i].name) == len && !strncmp(lo->groups[i].name, name, len))
			return i;
	g = &lo->groups[lo->ngroups];
	snprintf(g->name, sizeof(g->name), "%.*s", (int)len, name);
	g->boundary = -1;
	g->chosen = ALT_NONE;
	for (int b = 0; b < NSLAT_NB; b++)
		if (lo->bnames[b] && !strcmp(lo->bnames[b], g->name))
			g->boundary = b;
	return lo->ngroups++;
}

/* A name that is not a boundary can still name a group of its own: one
 * with an NSLAT_WHEN constant, or whose programs span two alternatives. */
static bool group_declared(struct loaded_obj *lo, const char *name, size_t len)
{
	struct bpf_program *prog;
	char when[96];
	unsigned alts = 0;
	__u32 off, sz;

	for (int b = 0; b < NSLAT_NB; b++)
		if (lo->bnames[b] && strlen(lo->bnames[b]) == len && !strncmp(lo->bnames[b], name, len))
			return true;
	snprintf(when, sizeof(when), "nslat_when__%.*s", (int)len, name);
	if (find_var(lo->obj, ".rodata", when, &off, &sz))
		return true;
	bpf_object__for_each_program(prog, lo->obj) {
		const char *n = bpf_program__name(prog);
		int alt;

		if (strncmp(n, name, len) || strncmp(n + len, "__", 2))
			continue;
		alt = alt_of(n + len + 2);
		if (alt != ALT_NONE)
			alts |= 1u << alt;
	}
	return alts & (alts - 1);
}

/* A name shaped like a binding that binds nothing: pe is bookkeeping. */
static void unbound(struct loaded_obj *lo, struct prog_ent *pe, const char *what)
{
	const char *base = strrchr(lo->path, '/');

	snprintf(pe->warning, sizeof(pe->warning), "program %.127s of %.100s names %.200s of this object: it is "
		 "treated as bookkeeping", pe->name, base ? base + 1 : lo->path, what);
	emit_log("warn", "%s", pe->warning);
}

/* handle_<boundary> or <group>__<alt>[_what]; anything else is bookkeeping. */
static void map_prog(struct loaded_obj *lo, struct prog_ent *pe)
{
	const char *dunder = strstr(pe->name, "__");

	pe->boundary = -1;
	pe->alt = ALT_NONE;
	pe->group = -1;
	if (!strncmp(pe->name, "handle_", 7)) {
		for (int b = 0; b < NSLAT_NB; b++)
			if (lo->bnames[b] && !strcmp(lo->bnames[b], pe->name + 7))
				pe->boundary = b;
		if (pe->boundary < 0 && lo->layout == LAYOUT_PACKET)
			unbound(lo, pe, "no boundary (handle_<boundary> feeds one)");
		return;
	}
	if (!dunder || dunder == pe->name || alt_of(dunder + 2) == ALT_NONE)
		return;
	if (!group_declared(lo, pe->name, dunder - pe->name)) {
		unbound(lo, pe, "neither a boundary nor a group (<group>__<alt> feeds a boundary, or a "
			"group with an NSLAT_WHEN or two alternatives)");
		return;
	}
	pe->alt = alt_of(dunder + 2);
	pe->group = group_of(lo, pe->name, dunder - pe->name);
	pe->boundary = lo->groups[pe->group].boundary;
}

/* NSLAT_WHEN(<group>, cond): a .rodata constant nslat_when__<group>. */
static void read_whens(struct loaded_obj *lo)
{
	for (int i = 0; i < lo->ngroups; i++) {
		char name[96];
		__u32 sz;
		void *p;

		snprintf(name, sizeof(name), "nslat_when__%s", lo->groups[i].name);
		p = var_image(lo->obj, ro_secs, name, &sz);
		lo->groups[i].when = p ? (int)get_int(p, sz) : NSLAT_WHEN_ALWAYS;
	}
}

static void build_progs(struct loaded_obj *lo)
{
	struct bpf_program *prog;
	char why[384];
	int i = 0;

	bpf_object__for_each_program(prog, lo->obj)
		lo->nprogs++;
	lo->progs = calloc(lo->nprogs ?: 1, sizeof(*lo->progs));
	lo->groups = calloc(lo->nprogs ?: 1, sizeof(*lo->groups));
	if (!lo->progs || !lo->groups)
		abort();
	bpf_object__for_each_program(prog, lo->obj) {
		struct prog_ent *pe = &lo->progs[i++];
		const char *w;

		pe->prog = prog;
		snprintf(pe->name, sizeof(pe->name), "%s", bpf_program__name(prog));
		snprintf(pe->section, sizeof(pe->section), "%s", bpf_program__section_name(prog));
		pe->at = section_atype(pe->section);
		pe->status = PS_SKIPPED;
		map_prog(lo, pe);
		w = why_unavailable(lo->k, pe, why, sizeof(why));
		if (w) {
			pe->unavailable = true;
			snprintf(pe->reason, sizeof(pe->reason), "%s", w);
		}
	}
	read_whens(lo);
}

/* Does alternative `alt` of group g have a program that can load here? */
static bool alt_possible(const struct loaded_obj *lo, int g, int alt)
{
	for (int i = 0; i < lo->nprogs; i++) {
		const struct prog_ent *pe = &lo->progs[i];

		if (pe->group == g && pe->alt == alt && !pe->unavailable && !pe->rejected)
			return true;
	}
	return false;
}

static void plan(struct loaded_obj *lo)
{
	for (int g = 0; g < lo->ngroups; g++) {
		struct group *gr = &lo->groups[g];

		gr->chosen = ALT_NONE;
		if (!kernel_when(lo->k, gr->when))
			continue;
		for (int a = 0; a < ALT_NUM && gr->chosen == ALT_NONE; a++)
			if (!gr->failed[a] && alt_possible(lo, g, a))
				gr->chosen = a;
	}
}

static bool chosen(const struct loaded_obj *lo, const struct prog_ent *pe)
{
	if (pe->unavailable || pe->rejected)
		return false;
	return pe->group < 0 || lo->groups[pe->group].chosen == pe->alt;
}

/* Autoload exactly the chosen programs of the plan. */
static void apply_plan(struct loaded_obj *lo)
{
	for (int i = 0; i < lo->nprogs; i++) {
		struct prog_ent *pe = &lo->progs[i];
		bool on = chosen(lo, pe);

		bpf_program__set_autoload(pe->prog, on);
		if (on && pe->at == AT_NETFILTER) {
			/* libbpf 1.1 does not know SEC("netfilter") */
			bpf_program__set_type(pe->prog, NSLAT_PROG_TYPE_NETFILTER);
			bpf_program__set_expected_attach_type(pe->prog, NSLAT_ATTACH_NETFILTER);
		}
	}
}

/* Point the program entries at a freshly opened object's programs. */
static void bind_progs(struct loaded_obj *lo)
{
	for (int i = 0; i < lo->nprogs; i++)
		lo->progs[i].prog = bpf_object__find_program_by_name(lo->obj, lo->progs[i].name);
}

/* libbpf names the program that failed: "prog 'NAME': ..." */
static struct prog_ent *failed_prog(struct loaded_obj *lo, const char *cap)
{
	for (const char *q = strstr(cap, "prog '"); q; q = strstr(q + 1, "prog '")) {
		const char *n = q + 6, *e = strchr(n, '\'');

		for (int i = 0; e && i < lo->nprogs; i++)
			if (strlen(lo->progs[i].name) == (size_t)(e - n) && !strncmp(lo->progs[i].name, n, e - n))
				return &lo->progs[i];
	}
	return NULL;
}

/* What the verifier said last: the last line of its log that is not one
 * of its closing statistics. */
static void last_line(const char *log, char *out, size_t n)
{
	const char *end = log + strlen(log), *start;

	for (;;) {
		while (end > log && (end[-1] == '\n' || end[-1] == ' '))
			end--;
		start = end;
		while (start > log && start[-1] != '\n')
			start--;
		if (start == log || (strncmp(start, "processed ", 10) && strncmp(start, "verification time", 17) &&
				     strncmp(start, "stack depth", 11)))
			break;
		end = start;
	}
	snprintf(out, n, "%.*s", (int)(end - start), start);
}

/* Record a refusal of pe: its log, and the fallback of its group. */
static void reject(struct loaded_obj *lo, struct prog_ent *pe, const char *vlog, const char *cap)
{
	const char *log = vlog[0] ? vlog : cap;
	size_t l = strlen(log);
	char said[200];

	pe->rejected = true;
	free(pe->log);
	pe->log = strdup(l > KEEP_LOG ? log + l - KEEP_LOG : log);
	last_line(log, said, sizeof(said));
	snprintf(pe->reason, sizeof(pe->reason), "%s: %s",
		 vlog[0] ? "rejected by the verifier" : "could not be loaded", said);
	if (pe->group >= 0) {
		struct group *g = &lo->groups[pe->group];

		g->failed[pe->alt] = true;
		snprintf(g->failed_why[pe->alt], sizeof(g->failed_why[0]), "%s was %s", pe->name,
			 vlog[0] ? "rejected by the verifier" : "not loadable");
	}
}

/* ---------------------------------------------------------------- attach */

/* priorities tried on either side of a section's own when it is taken */
#define NF_PRIO_TRIES 8

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

static void add_reason(struct prog_ent *pe, const char *fmt, const char *a, const char *b)
{
	size_t l = strlen(pe->reason);

	snprintf(pe->reason + l, sizeof(pe->reason) - l, fmt, l ? "; " : "", a, b);
}

/* One netfilter link in namespace ino (0: the helper's own). */
static int nf_attach_in(const struct kernel *k, int prog_fd, int pf, int hook, int prio, __u64 ino)
{
	int fd, nsfd, e;

	if (!ino)
		return nf_link_create(prog_fd, pf, hook, prio);
	nsfd = netns_open(ino);
	if (nsfd < 0) {
		errno = ENOENT;
		return -1;
	}
	if (k->netns_fd < 0 || setns(nsfd, CLONE_NEWNET)) {
		e = errno;
		close(nsfd);
		errno = e;
		return -1;
	}
	fd = nf_link_create(prog_fd, pf, hook, prio);
	e = errno;
	if (setns(k->netns_fd, CLONE_NEWNET))
		emit_log("error", "cannot return to the helper's network namespace: %s", strerror(errno));
	close(nsfd);
	errno = e;
	return fd;
}

static void attach_netfilter(struct loaded_obj *lo, struct prog_ent *pe)
{
	int pf, hook, prio;

	if (!nf_section(pe->section, &pf, &hook, &prio)) {
		pe->status = PS_FAILED;
		snprintf(pe->reason, sizeof(pe->reason), "bad section: use netfilter/<ipv4|ipv6>/<hook>[/<priority>]");
		return;
	}
	for (int i = -1; i < lo->n_netns; i++) {
		__u64 ino = i < 0 ? 0 : lo->netns[i];
		int fd = -1;
		char ns[32];

		/* Two BPF hooks may not share a priority (EBUSY): during a reload the
		 * object being replaced still holds it, so take the nearest free one. */
		for (int step = 0; step <= 2 * NF_PRIO_TRIES; step++) {
			int p = prio + (step & 1 ? (step + 1) / 2 : -(step / 2));

			fd = nf_attach_in(lo->k, bpf_program__fd(pe->prog), pf, hook, p, ino);
			if (fd >= 0 || errno != EBUSY)
				break;
		}

		if (fd < 0) {
			int e = errno;

			snprintf(ns, sizeof(ns), "%llu", (unsigned long long)ino);
			add_reason(pe, "%snetfilter attach in %s failed: %s", ino ? ns : "the helper's namespace",
				   e == ENOENT && ino ? "no such network namespace" : strerror(e));
			continue;
		}
		pe->nf_ns[pe->n_nf] = ino;
		pe->nf_fds[pe->n_nf++] = fd;
	}
	pe->status = pe->n_nf ? PS_ATTACHED : PS_FAILED;
}

static void attach_one(struct loaded_obj *lo, struct prog_ent *pe)
{
	struct bpf_link *l;

	pe->reason[0] = 0;
	if (pe->at == AT_NETFILTER) {
		attach_netfilter(lo, pe);
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
}

/* Attach every loaded program. False when a chosen alternative did not
 * attach and its group has another to fall back to (then it is marked). */
static bool attach_all(struct loaded_obj *lo)
{
	bool again = false;

	for (int i = 0; i < lo->nprogs; i++) {
		struct prog_ent *pe = &lo->progs[i];

		if (!chosen(lo, pe) || !pe->prog || bpf_program__fd(pe->prog) < 0)
			continue;
		attach_one(lo, pe);
		if (pe->status != PS_FAILED || pe->group < 0)
			continue;
		{
			struct group *g = &lo->groups[pe->group];

			g->failed[pe->alt] = true;
			snprintf(g->failed_why[pe->alt], sizeof(g->failed_why[0]), "%.45s: %.150s", pe->name, pe->reason);
			for (int a = pe->alt + 1; a < ALT_NUM; a++)
				again |= !g->failed[a] && alt_possible(lo, pe->group, a);
		}
	}
	return !again;
}

int obj_detach(struct loaded_obj *lo)
{
	for (int i = 0; lo && i < lo->nprogs; i++) {
		struct prog_ent *pe = &lo->progs[i];

		if (pe->link && !bpf_link__destroy(pe->link))
			pe->link = NULL;
		/* closing a link fd detaches it, even when close reports an error */
		for (int j = 0; j < pe->n_nf; j++) {
			close(pe->nf_fds[j]);
			pe->nf_fds[j] = -1;
		}
		pe->n_nf = 0;
	}
	return obj_attached(lo);
}

int obj_attached(const struct loaded_obj *lo)
{
	int n = 0;

	for (int i = 0; lo && i < lo->nprogs; i++)
		n += lo->progs[i].link != NULL || lo->progs[i].n_nf > 0;
	return n;
}

/* ---------------------------------------------------------------- one load */

static struct bpf_object *open_obj(const char *path, char *vlog)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);

	vlog[0] = 0;
	oo.kernel_log_buf = vlog;
	oo.kernel_log_size = VLOG_SIZE;
	oo.kernel_log_level = 0;	/* libbpf retries a failed program at level 1 into vlog */
	return bpf_object__open_file(path, &oo);
}

static void close_attempt(struct loaded_obj *lo)
{
	obj_detach(lo);
	bpf_object__close(lo->obj);
	lo->obj = NULL;
	for (int i = 0; i < lo->nprogs; i++) {
		lo->progs[i].prog = NULL;
		lo->progs[i].status = PS_SKIPPED;
	}
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
	for (int i = 0; lo->progs && i < lo->nprogs; i++)
		free(lo->progs[i].log);
	free(lo->progs);
	free(lo->groups);
	free(lo->prev_hist);
	free(lo->prev_cnt);
	free(lo->prev_drops);
	json_object_put(lo->unset);
	free(lo);
}

static __u32 prog_id_of(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
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

/* Why each program that is not attached is not, in words. */
static void final_reasons(struct loaded_obj *lo)
{
	for (int i = 0; i < lo->nprogs; i++) {
		struct prog_ent *pe = &lo->progs[i];
		struct group *g = pe->group >= 0 ? &lo->groups[pe->group] : NULL;
		char own[sizeof(pe->reason)];

		if (pe->status == PS_ATTACHED || pe->status == PS_FAILED)
			continue;
		if (pe->rejected) {
			pe->status = PS_FAILED;
			continue;
		}
		if (!g)
			continue;	/* unavailable: its reason says why */
		snprintf(own, sizeof(own), "%s", pe->reason);
		if (!kernel_when(lo->k, g->when))
			snprintf(pe->reason, sizeof(pe->reason), "%s", kernel_when_why(g->when));
		else if (g->chosen != ALT_NONE && g->chosen != pe->alt)
			snprintf(pe->reason, sizeof(pe->reason), "alternative %s__%s chosen%s%s%s%.200s",
				 g->name, alt_names[g->chosen],
				 g->failed[pe->alt] ? "; " : "", g->failed[pe->alt] ? g->failed_why[pe->alt] : "",
				 own[0] ? "; " : "", own);
		else if (g->failed[pe->alt] && !own[0])
			snprintf(pe->reason, sizeof(pe->reason), "%s", g->failed_why[pe->alt]);
	}
}

static bool setup_maps(struct loaded_obj *lo)
{
	lo->hist_fd = find_map_fd(lo->obj, "nslat_hist", &lo->hist_entries);
	lo->cnt_fd = find_map_fd(lo->obj, "nslat_counters", &lo->cnt_entries);
	lo->drops_fd = find_map_fd(lo->obj, "nslat_drops", &lo->drops_entries);
	lo->rb_fd = find_map_fd(lo->obj, "nslat_journeys", NULL);
	lo->gen_fd = find_map_fd(lo->obj, "nslat_gen", NULL);
	if (lo->cnt_entries > NSLAT_MAX_COUNTERS)
		lo->cnt_entries = NSLAT_MAX_COUNTERS;
	if (lo->drops_entries > NSLAT_MAX_DROPS)
		lo->drops_entries = NSLAT_MAX_DROPS;
	lo->pcpu_rows = lo->layout == LAYOUT_IRQ ? lo->k->ncpus : 1;
	lo->prev_hist = calloc((size_t)(lo->hist_entries ?: 1) * lo->pcpu_rows, sizeof(struct nslat_hist));
	lo->prev_cnt = calloc(NSLAT_MAX_COUNTERS, sizeof(__u64));
	lo->prev_drops = calloc(NSLAT_MAX_DROPS, sizeof(__u64));
	return lo->prev_hist && lo->prev_cnt && lo->prev_drops;
}

static struct loaded_obj *obj_new(const struct kernel *k, const char *slot, const char *path)
{
	struct loaded_obj *lo = calloc(1, sizeof(*lo));

	if (!lo)
		return NULL;
	lo->k = k;
	snprintf(lo->path, sizeof(lo->path), "%s", path);
	snprintf(lo->slot, sizeof(lo->slot), "%s", slot ?: "");
	lo->hist_fd = lo->cnt_fd = lo->drops_fd = lo->rb_fd = lo->gen_fd = -1;
	return lo;
}

/* Reloads (nslat.bpf.h): the new object gets its generation, and the maps
 * the slot's objects share are the current object's. A map that cannot be
 * shared (an edited probe changed its layout) stays the object's own:
 * obj_activate() still stops the old object starting packets. */
static void share_maps(struct loaded_obj *lo, const struct load_req *r)
{
	static const char *const shared[] = { "nslat_gen", "nslat_pkts", "nslat_live" };
	__u32 sz;
	void *p = var_image(lo->obj, ro_secs, "nslat_my_gen", &sz);

	lo->gen = r->gen ?: 1;
	if (p)
		put_int(p, sz, lo->gen);
	for (size_t i = 0; r->share && i < sizeof(shared) / sizeof(shared[0]); i++) {
		struct bpf_map *mine = bpf_object__find_map_by_name(lo->obj, shared[i]);
		struct bpf_map *theirs = bpf_object__find_map_by_name(r->share->obj, shared[i]);
		int e;

		if (!mine || !theirs)
			continue;
		if (bpf_map__value_size(mine) != bpf_map__value_size(theirs) ||
		    bpf_map__max_entries(mine) != bpf_map__max_entries(theirs) ||
		    bpf_map__type(mine) != bpf_map__type(theirs)) {
			emit_log("warn", "%s: map %s differs from the loaded object's; packets in flight at the "
				 "reload end unseen", r->path, shared[i]);
			continue;
		}
		e = bpf_map__reuse_fd(mine, bpf_map__fd(theirs));
		if (e)
			emit_log("warn", "%s: cannot share map %s with the loaded object: %s", r->path,
				 shared[i], strerror(-e));
	}
}

static int map_id_of(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return -1;
	return (int)info.id;
}

static void gen_write(int fd, __u32 gen, const char *what)
{
	__u32 zero = 0;

	if (fd >= 0 && bpf_map_update_elem(fd, &zero, &gen, BPF_ANY))
		emit_log("error", "setting the generation of %s: %s", what, strerror(errno));
}

void obj_activate(struct loaded_obj *lo, struct loaded_obj *prev)
{
	gen_write(lo->gen_fd, lo->gen, lo->path);
	/* not shared: stop the old one through its own map */
	if (prev && prev->gen_fd >= 0 && map_id_of(prev->gen_fd) != map_id_of(lo->gen_fd))
		gen_write(prev->gen_fd, lo->gen, prev->path);
}

/* Opens the object (again, for every attempt after the first) with the
 * caller's globals set. */
/* The source line a program starts on, from the object's BTF line info, as
 * the verifier annotates lines ("; <text> @ <file>:<line>"), so a refusal
 * that has no verifier log still points at its line. Empty when unknown. */
static void prog_source_line(const char *path, const struct prog_ent *pe, char *out, size_t n)
{
	struct btf *btf = btf__parse_elf(path, NULL);
	const __u8 *raw = NULL;
	__u32 size = 0;
	Elf *elf = NULL;
	int fd = -1;

	out[0] = 0;
	if (!btf || elf_version(EV_CURRENT) == EV_NONE || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    !(elf = elf_begin(fd, ELF_C_READ, NULL)))
		goto out;
	{
		Elf_Scn *scn = NULL;
		size_t shstrndx;

		if (elf_getshdrstrndx(elf, &shstrndx))
			goto out;
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *nm;
			Elf_Data *d;

			if (!gelf_getshdr(scn, &sh) || !(nm = elf_strptr(elf, shstrndx, sh.sh_name)) ||
			    strcmp(nm, ".BTF.ext"))
				continue;
			d = elf_getdata(scn, NULL);
			if (d && d->d_buf) {
				raw = d->d_buf;
				size = d->d_size;
			}
			break;
		}
	}
	{
		/* struct btf_ext_header: magic, version, flags, hdr_len, then
		 * func_info off/len and line_info off/len (from after the header) */
		__u32 hdr_len, li_off, li_len, rec, pos, end;

		if (!raw || size < 32)
			goto out;
		memcpy(&hdr_len, raw + 4, 4);
		memcpy(&li_off, raw + 16, 4);
		memcpy(&li_len, raw + 20, 4);
		if (hdr_len > size || li_off > size - hdr_len || li_len > size - hdr_len - li_off || li_len < 4)
			goto out;
		pos = hdr_len + li_off;
		end = pos + li_len;
		memcpy(&rec, raw + pos, 4);
		pos += 4;
		if (rec < 16)
			goto out;
		while (pos + 8 <= end) {
			__u32 sec_off, num;
			const char *sec;

			memcpy(&sec_off, raw + pos, 4);
			memcpy(&num, raw + pos + 4, 4);
			pos += 8;
			if (num > (end - pos) / rec)
				goto out;
			sec = btf__name_by_offset(btf, sec_off);
			for (__u32 i = 0; sec && !strcmp(sec, pe->section) && i < num; i++) {
				__u32 file_off, line_off, line_col;
				const char *file, *text;

				memcpy(&file_off, raw + pos + i * rec + 4, 4);
				memcpy(&line_off, raw + pos + i * rec + 8, 4);
				memcpy(&line_col, raw + pos + i * rec + 12, 4);
				file = btf__name_by_offset(btf, file_off);
				text = btf__name_by_offset(btf, line_off);
				if (file && text && strstr(text, pe->name)) {
					const char *base = strrchr(file, '/');

					snprintf(out, n, "; %.300s @ %s:%u", text, base ? base + 1 : file, line_col >> 10);
					goto out;
				}
			}
			pos += num * rec;
		}
	}
out:
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	btf__free(btf);
}

/* An edited probe (strict load) that adds a program whose attach point
 * this kernel lacks is refused: it would never run. Programs the slot's
 * running object has too (built-ins skipped here) and alternatives keep
 * the usual treatment. */
static bool strict_attach_points(struct loaded_obj *lo, const struct load_req *r)
{
	for (int i = 0; i < lo->nprogs; i++) {
		struct prog_ent *pe = &lo->progs[i];
		bool known = false;
		char line[1024];

		if (!pe->unavailable || pe->alt != ALT_NONE)
			continue;
		for (int j = 0; r->share && j < r->share->nprogs && !known; j++)
			known = !strcmp(r->share->progs[j].name, pe->name);
		if (known)
			continue;
		prog_source_line(r->path, pe, line, sizeof(line));
		if (line[0]) {	/* the line, then what is wrong with it, as a verifier log ends */
			size_t l = strlen(line);

			snprintf(line + l, sizeof(line) - l, "\ncannot attach: %s", pe->reason);
		}
		emit_error(r->id, "attach_failed", r->slot, pe->name, line[0] ? line : NULL,
			   "program %s (%s) cannot attach here: %s", pe->name, pe->section, pe->reason);
		return false;
	}
	return true;
}

/* The load's rodata (then the part for this object's direction) and data,
 * written into the object before load. */
static bool set_globals(struct loaded_obj *lo, const struct load_req *r, char *bad, size_t nbad)
{
	json_object *by_dir = NULL;

	json_object_put(lo->unset);
	lo->unset = r->if_declared ? json_object_new_array() : NULL;
	if (r->rodata_by_dir && lo->layout != LAYOUT_NONE)
		json_object_object_get_ex(r->rodata_by_dir, dir_names[lo->dir], &by_dir);
	if (set_vars(lo->obj, r->rodata, true, lo->unset, bad, nbad) ||
	    set_vars(lo->obj, by_dir, true, lo->unset, bad, nbad)) {
		emit_error(r->id, "bad_command", r->slot, NULL, NULL,
			   "unknown or out-of-range rodata variable(s) in %s: %s", r->path, bad);
		return false;
	}
	if (set_vars(lo->obj, r->data, false, lo->unset, bad, nbad)) {
		emit_error(r->id, "bad_command", r->slot, NULL, NULL,
			   "unknown or out-of-range data variable(s) in %s: %s", r->path, bad);
		return false;
	}
	return true;
}

static bool open_attempt(struct loaded_obj *lo, const struct load_req *r, char *vlog)
{
	char bad[1024];

	libbpf_capture_reset();
	lo->obj = open_obj(r->path, vlog);
	if (!lo->obj) {
		char ebuf[128];

		libbpf_strerror(-errno, ebuf, sizeof(ebuf));
		emit_error(r->id, "open_failed", r->slot, NULL, libbpf_captured(),
			   "cannot open %s as a BPF object: %s", r->path, ebuf);
		return false;
	}
	if (!lo->progs) {
		read_enums(lo);
		build_progs(lo);
	} else {
		bind_progs(lo);
	}
	if (!set_globals(lo, r, bad, sizeof(bad)))
		return false;
	share_maps(lo, r);
	return true;
}

/* A new object for the load, with its netfilter namespaces; NULL (error
 * sent) when out of memory. */
static struct loaded_obj *load_begin(const struct kernel *k, const struct load_req *r)
{
	struct loaded_obj *lo = obj_new(k, r->slot, r->path);

	if (!lo) {
		emit_error(r->id, "internal", r->slot, NULL, NULL, "out of memory");
		return NULL;
	}
	lo->n_netns = r->n_netns < MAX_NETNS ? r->n_netns : MAX_NETNS;
	memcpy(lo->netns, r->netns, sizeof(__u64) * lo->n_netns);
	return lo;
}

enum attempt_outcome { ATTEMPT_DONE, ATTEMPT_RETRY, ATTEMPT_FAILED };

/* A failed bpf_object__load: in a strict load, or when no program is to
 * blame or the attempts are used up, the error (sent) ends the load;
 * otherwise the program to blame is refused and its group falls back. */
static enum attempt_outcome load_refused(struct loaded_obj *lo, const struct load_req *r, int err,
					 const char *vlog, bool last)
{
	const char *cap = libbpf_captured();
	struct prog_ent *bad = failed_prog(lo, cap);
	char ebuf[128];

	libbpf_strerror(err, ebuf, sizeof(ebuf));
	if (!bad || last) {
		emit_error(r->id, "load_failed", r->slot, bad ? bad->name : NULL,
			   vlog[0] ? vlog : cap, "loading %s failed: %s", r->path, ebuf);
		return ATTEMPT_FAILED;
	}
	if (r->strict) {
		if (vlog[0])
			emit_error(r->id, "verifier", r->slot, bad->name, vlog,
				   "verifier rejected program %s (%s): %s", bad->name, bad->section, ebuf);
		else
			emit_error(r->id, "load_failed", r->slot, bad->name, cap,
				   "loading %s failed at program %s: %s", r->path, bad->name, ebuf);
		return ATTEMPT_FAILED;
	}
	reject(lo, bad, vlog, cap);
	emit_log("warn", "%s: program %s (%s) %s; %s", r->path, bad->name, bad->section,
		 bad->reason, bad->group >= 0 ? "its group falls back" : "loading the rest");
	return ATTEMPT_RETRY;
}

/* One attempt: open, plan the alternatives, load into the kernel, attach.
 * A program the verifier refuses, or one that cannot attach, makes another
 * attempt without it (its group's next alternative), up to one per program. */
static enum attempt_outcome load_attempt(struct loaded_obj *lo, const struct load_req *r, int attempt,
					 char *vlog)
{
	int max_attempts, err;

	if (!open_attempt(lo, r, vlog))
		return ATTEMPT_FAILED;
	if (r->strict && !attempt && !strict_attach_points(lo, r))
		return ATTEMPT_FAILED;
	max_attempts = lo->nprogs + 2;
	lo->attempts = attempt + 1;
	plan(lo);
	apply_plan(lo);
	err = bpf_object__load(lo->obj);
	if (err)
		return load_refused(lo, r, err, vlog, attempt + 1 >= max_attempts);
	map_data_sections(lo);
	for (int i = 0; i < lo->nprogs; i++)
		lo->progs[i].prog_id = chosen(lo, &lo->progs[i]) ?
			prog_id_of(bpf_program__fd(lo->progs[i].prog)) : 0;
	/* Attached programs start nothing yet: the generation is not theirs
	 * until obj_activate(). */
	if (attach_all(lo) || attempt + 1 >= max_attempts)
		return ATTEMPT_DONE;
	return ATTEMPT_RETRY;
}

/* After the last attempt: at least one program must be attached (else the
 * error, with each program's reason, is sent), and the maps read by
 * snapshots are set up. */
static bool load_finish(struct loaded_obj *lo, const struct load_req *r)
{
	final_reasons(lo);
	if (!obj_attached(lo)) {
		char log[4096] = "";

		for (int i = 0; i < lo->nprogs; i++) {
			size_t l = strlen(log);

			snprintf(log + l, sizeof(log) - l, "%s: %s\n", lo->progs[i].name,
				 lo->progs[i].reason[0] ? lo->progs[i].reason : "not attached");
		}
		emit_error(r->id, "attach_failed", r->slot, NULL, log,
			   "no program of %s could attach on this kernel", r->path);
		return false;
	}
	if (!setup_maps(lo)) {
		emit_error(r->id, "internal", r->slot, NULL, NULL, "out of memory");
		return false;
	}
	return true;
}

struct loaded_obj *obj_load(const struct kernel *k, const struct load_req *r)
{
	static char *vlog;
	struct loaded_obj *lo;
	enum attempt_outcome o = ATTEMPT_RETRY;

	if (!vlog && !(vlog = malloc(VLOG_SIZE))) {
		emit_error(r->id, "internal", r->slot, NULL, NULL, "out of memory");
		return NULL;
	}
	if (!(lo = load_begin(k, r)))
		return NULL;
	for (int attempt = 0; o == ATTEMPT_RETRY; attempt++) {
		o = load_attempt(lo, r, attempt, vlog);
		if (o == ATTEMPT_RETRY)
			close_attempt(lo);
	}
	if (o == ATTEMPT_DONE && load_finish(lo, r))
		return lo;
	obj_destroy(lo);
	return NULL;
}

/* ---------------------------------------------------------------- verify */

json_object *obj_verify(const struct kernel *k, const char *id, const char *path,
			json_object *rodata, int alt)
{
	static char *vlog;
	struct load_req r = { .id = id, .slot = NULL, .path = path, .rodata = rodata };
	struct loaded_obj *lo = obj_new(k, "", path);
	json_object *o, *progs;

	if (!vlog)
		vlog = malloc(VLOG_SIZE);
	if (!lo || !vlog) {
		emit_error(id, "internal", NULL, NULL, NULL, "out of memory");
		free(lo);
		return NULL;
	}
	for (int attempt = 0;; attempt++) {
		if (!open_attempt(lo, &r, vlog)) {
			obj_destroy(lo);
			return NULL;
		}
		if (alt == ALT_NONE) {
			plan(lo);
		} else {
			/* one alternative everywhere, whether or not it attaches here */
			for (int g = 0; g < lo->ngroups; g++)
				lo->groups[g].chosen = alt;
			for (int i = 0; i < lo->nprogs; i++) {
				struct prog_ent *pe = &lo->progs[i];

				if (pe->alt == alt && pe->unavailable && (pe->at == AT_KPROBE || pe->at == AT_KRETPROBE) &&
				    k->btf && !strstr(pe->reason, "not found in kernel BTF"))
					pe->unavailable = false;	/* kprobes load without attaching */
			}
		}
		apply_plan(lo);
		if (!bpf_object__load(lo->obj) || attempt > lo->nprogs)
			break;
		{
			struct prog_ent *bad = failed_prog(lo, libbpf_captured());

			if (!bad) {
				emit_error(id, "load_failed", NULL, NULL, vlog[0] ? vlog : libbpf_captured(),
					   "loading %s failed", path);
				obj_destroy(lo);
				return NULL;
			}
			reject(lo, bad, vlog, libbpf_captured());
			close_attempt(lo);
		}
	}
	o = json_object_new_object();
	progs = json_object_new_array();
	json_object_object_add(o, "type", json_object_new_string("verified"));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "object", json_object_new_string(path));
	json_object_object_add(o, "alternative", json_object_new_string(alt == ALT_NONE ? "plan" : alt_names[alt]));
	for (int i = 0; i < lo->nprogs; i++) {
		struct prog_ent *pe = &lo->progs[i];
		json_object *p = json_object_new_object();
		bool ok = chosen(lo, pe) && pe->prog && bpf_program__fd(pe->prog) >= 0;
		const char *st = pe->rejected ? "failed" : ok ? "verified" : "skipped";

		json_object_object_add(p, "name", json_object_new_string(pe->name));
		json_object_object_add(p, "section", json_object_new_string(pe->section));
		json_object_object_add(p, "status", json_object_new_string(st));
		json_object_object_add(p, "attach", json_object_new_string(atype_names[pe->at]));
		if (!ok && pe->reason[0])
			json_object_object_add(p, "reason", json_object_new_string(pe->reason));
		else if (!ok && pe->group >= 0 && lo->groups[pe->group].chosen != pe->alt)
			json_object_object_add(p, "reason", json_object_new_string("not part of this alternative"));
		if (pe->log)
			json_object_object_add(p, "log", json_object_new_string(pe->log));
		json_object_array_add(progs, p);
	}
	json_object_object_add(o, "programs", progs);
	obj_destroy(lo);
	return o;
}

/* ---------------------------------------------------------------- describe */

static const char *const pstatus_names[] = { "attached", "skipped", "failed" };

static json_object *feeds_of(const struct loaded_obj *lo, int g, int boundary, char *why, size_t nwhy,
			     const struct prog_ent **first)
{
	json_object *feeds = json_object_new_array();

	why[0] = 0;
	*first = NULL;
	for (int i = 0; i < lo->nprogs; i++) {
		const struct prog_ent *pe = &lo->progs[i];
		size_t l = strlen(why);

		if (boundary >= 0 ? pe->boundary != boundary : pe->group != g)
			continue;
		if (pe->status == PS_ATTACHED) {
			json_object *f = json_object_new_object();

			if (!*first)
				*first = pe;
			json_object_object_add(f, "program", json_object_new_string(pe->name));
			json_object_object_add(f, "attach", json_object_new_string(atype_names[pe->at]));
			json_object_object_add(f, "target", json_object_new_string(sec_target(pe->section)));
			if (pe->at == AT_NETFILTER) {
				json_object *ns = json_object_new_array();

				for (int j = 0; j < pe->n_nf; j++)
					json_object_array_add(ns, json_object_new_uint64(pe->nf_ns[j]));
				json_object_object_add(f, "netns", ns);
			}
			json_object_array_add(feeds, f);
		} else {
			snprintf(why + l, nwhy - l, "%s%s: %s", l ? "; " : "", pe->name,
				 pe->reason[0] ? pe->reason : "not attached");
		}
	}
	return feeds;
}

json_object *obj_loaded_msg(const struct loaded_obj *lo, const char *id, bool replaced, uint64_t t)
{
	json_object *o = json_object_new_object(), *progs = json_object_new_array(),
		    *bs = json_object_new_array(), *gs = json_object_new_array();
	static char why[8192];

	json_object_object_add(o, "type", json_object_new_string("loaded"));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "slot", json_object_new_string(lo->slot));
	json_object_object_add(o, "object", json_object_new_string(lo->path));
	json_object_object_add(o, "replaced", json_object_new_boolean(replaced));
	json_object_object_add(o, "mono_ns", json_object_new_uint64(t));
	json_object_object_add(o, "attempts", json_object_new_int(lo->attempts));
	for (int i = 0; i < lo->nprogs; i++) {
		const struct prog_ent *pe = &lo->progs[i];
		json_object *p = json_object_new_object();

		json_object_object_add(p, "name", json_object_new_string(pe->name));
		json_object_object_add(p, "section", json_object_new_string(pe->section));
		json_object_object_add(p, "status", json_object_new_string(pstatus_names[pe->status]));
		json_object_object_add(p, "attach", json_object_new_string(atype_names[pe->at]));
		if (pe->status != PS_ATTACHED && pe->reason[0])
			json_object_object_add(p, "reason", json_object_new_string(pe->reason));
		if (pe->prog_id && pe->status == PS_ATTACHED)
			json_object_object_add(p, "prog_id", json_object_new_int64(pe->prog_id));
		if (pe->log)
			json_object_object_add(p, "log", json_object_new_string(pe->log));
		if (pe->warning[0])
			json_object_object_add(p, "warning", json_object_new_string(pe->warning));
		json_object_array_add(progs, p);
	}
	for (int b = 0; b < NSLAT_NB; b++) {
		const struct prog_ent *first;
		json_object *bo, *feeds;

		if (!lo->bnames[b])
			continue;
		feeds = feeds_of(lo, -1, b, why, sizeof(why), &first);
		bo = json_object_new_object();
		json_object_object_add(bo, "id", json_object_new_int(b));
		json_object_object_add(bo, "name", json_object_new_string(lo->bnames[b]));
		json_object_object_add(bo, "dir", json_object_new_string(dir_names[lo->dir]));
		json_object_object_add(bo, "active", json_object_new_boolean(first != NULL));
		if (first)
			json_object_object_add(bo, "attach", json_object_new_string(atype_names[first->at]));
		else
			json_object_object_add(bo, "reason", json_object_new_string(
				why[0] ? why : "no program feeds this boundary"));
		json_object_object_add(bo, "feeds", feeds);
		json_object_array_add(bs, bo);
	}
	for (int g = 0; g < lo->ngroups; g++) {
		const struct prog_ent *first;
		json_object *go, *feeds;

		if (lo->groups[g].boundary >= 0)
			continue;
		feeds = feeds_of(lo, g, -1, why, sizeof(why), &first);
		go = json_object_new_object();
		json_object_object_add(go, "name", json_object_new_string(lo->groups[g].name));
		json_object_object_add(go, "active", json_object_new_boolean(first != NULL));
		if (first)
			json_object_object_add(go, "attach", json_object_new_string(atype_names[first->at]));
		else
			json_object_object_add(go, "reason", json_object_new_string(why[0] ? why : "no program attached"));
		json_object_object_add(go, "feeds", feeds);
		json_object_array_add(gs, go);
	}
	json_object_object_add(o, "programs", progs);
	json_object_object_add(o, "boundaries", bs);
	json_object_object_add(o, "groups", gs);
	if (lo->layout != LAYOUT_NONE)
		json_object_object_add(o, "dir", json_object_new_string(dir_names[lo->dir]));
	json_object_object_add(o, "globals", obj_globals(lo));
	if (lo->unset)
		json_object_object_add(o, "unset", json_object_get(lo->unset));
	return o;
}

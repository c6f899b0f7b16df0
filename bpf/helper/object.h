/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One probe object (load.c): plan, load, attach, detach, describe, and its
 * globals. Uses output and features.
 */
#ifndef __NSLAT_OBJECT_H
#define __NSLAT_OBJECT_H

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <linux/types.h>
#include <json-c/json.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include "nslat.h"
#include "features.h"


/* network namespaces a load may name for its netfilter hooks */
#define MAX_NETNS 16

enum pstatus { PS_ATTACHED, PS_SKIPPED, PS_FAILED };

/* Alternatives feeding one group, in the order the helper prefers them. */
enum alt { ALT_FENTRY, ALT_KPROBE, ALT_NETFILTER, ALT_TP, ALT_NUM, ALT_NONE = -1 };
extern const char *const alt_names[ALT_NUM];

struct prog_ent {
	struct bpf_program *prog;	/* in the object of the current attempt */
	char name[128];
	char section[192];
	enum atype at;
	int alt;			/* enum alt, ALT_NONE for handle_* and bookkeeping */
	int group;			/* index in loaded_obj.groups, -1 */
	int boundary;			/* -1: bookkeeping */
	bool unavailable;		/* its attach type or target is missing here (reason) */
	bool rejected;			/* the verifier (or CO-RE) refused it (reason, log) */
	enum pstatus status;
	char reason[384];
	char *log;			/* verifier log of a rejection (tail) */
	char warning[512];		/* its name binds nothing (bookkeeping), or empty */
	struct bpf_link *link;
	int nf_fds[MAX_NETNS + 1];	/* netfilter links, one per namespace */
	__u64 nf_ns[MAX_NETNS + 1];	/* their namespaces (0: the helper's own) */
	int n_nf;
	__u32 prog_id;
	__u64 prev_cnt, prev_time, prev_miss;
};

/* A boundary or named group fed by alternatives. */
struct group {
	char name[64];
	int boundary;			/* -1: a named group of its own */
	int when;			/* enum nslat_when */
	int chosen;			/* enum alt, ALT_NONE */
	bool failed[ALT_NUM];		/* tried here and failed (verifier, attach) */
	char failed_why[ALT_NUM][200];
};

enum layout { LAYOUT_NONE, LAYOUT_PACKET, LAYOUT_IRQ };

struct loaded_obj {
	const struct kernel *k;
	struct bpf_object *obj;
	char path[PATH_MAX];
	char slot[40];
	int nprogs;
	struct prog_ent *progs;
	int ngroups;
	struct group *groups;
	__u64 netns[MAX_NETNS];		/* extra namespaces for netfilter hooks */
	int n_netns;
	int attempts;			/* loads it took (1 + fallbacks) */
	enum layout layout;
	int dir;			/* 0 rx, 1 tx, 2 irq */
	json_object *unset;		/* names a load skipped (if_declared), or NULL */
	char *bnames[NSLAT_NB];
	int nb;
	char *cnames[NSLAT_MAX_COUNTERS];
	int hist_fd, cnt_fd, drops_fd, rb_fd;
	int gen_fd;			/* nslat_gen, -1 when the object has none */
	__u32 gen;			/* its nslat_my_gen */
	__u32 hist_entries, cnt_entries, drops_entries;
	struct ring_buffer *rb;
	int pcpu_rows;			/* rows kept per hist index (ncpus for irq, 1 otherwise) */
	struct nslat_hist *prev_hist;
	__u64 *prev_cnt;
	__u64 *prev_drops;
};

extern const char *const dir_names[3];

struct load_req {
	const char *id, *slot, *path;
	json_object *rodata, *data;	/* validated integer maps, or NULL */
	/* rodata by the object's direction (rx, tx or irq: integer maps),
	 * written after `rodata`, or NULL */
	json_object *rodata_by_dir;
	/* names in rodata/data the object does not declare are skipped (and
	 * listed in the loaded message's `unset`) instead of refused */
	bool if_declared;
	const __u64 *netns;		/* extra namespaces for netfilter hooks */
	int n_netns;
	/* the slot's current object, whose nslat_gen and nslat_pkts this one
	 * shares (nslat.bpf.h: reloads), or NULL; and this one's generation */
	struct loaded_obj *share;
	__u32 gen;
	/* stop at the first program the verifier refuses (an edited probe: the
	 * caller keeps the object it had) instead of loading the rest */
	bool strict;
};

/* Loads and attaches; the programs start nothing until obj_activate(). */
struct loaded_obj *obj_load(const struct kernel *k, const struct load_req *r);
/* Makes lo's generation the one that starts packets (and IRQ intervals) in
 * its slot; prev, the object it replaces, then only finishes what it began. */
void obj_activate(struct loaded_obj *lo, struct loaded_obj *prev);
void obj_destroy(struct loaded_obj *lo);
int obj_detach(struct loaded_obj *lo);	/* detach everything; returns what is still attached */
int obj_attached(const struct loaded_obj *lo);
json_object *obj_loaded_msg(const struct loaded_obj *lo, const char *id, bool replaced, uint64_t t);
int obj_set_data(struct loaded_obj *lo, const char *name, long long v); /* 1 set, 0 absent, <0 err */
__u32 obj_data_size(struct loaded_obj *lo, const char *name);	/* 0: no such data variable */
bool int_fits(long long v, __u32 sz);

/* `verify`: put the programs of one alternative (or the plan's choice when
 * alt is ALT_NONE) through the verifier without attaching anything. */
json_object *obj_verify(const struct kernel *k, const char *id, const char *path,
			json_object *rodata, int alt);

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * nslat-helper internals. The modules, each using only those above it:
 *
 *   output.c    emitting protocol messages; libbpf's text, captured for errors
 *   features.c  what this kernel allows (attach types, netfilter, threaded IRQs)
 *   load.c      one probe object: plan, load, attach, detach, describe
 *   snapshot.c  reading an object's maps as deltas; journeys
 *   main.c      slots, commands, the event loop
 *
 * State is passed explicitly: `struct kernel` (what features.c found) is
 * owned by main.c and handed to each object it loads.
 */
#ifndef __NSLAT_HELPER_H
#define __NSLAT_HELPER_H

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <linux/types.h>
#include <json-c/json.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include "nslat.h"

#define HELPER_VERSION "0.2.0"
#define MAX_COMMAND_BYTES (64 * 1024)
/* network namespaces a load may name for its netfilter hooks */
#define MAX_NETNS 16

/* ---------------------------------------------------------------- output.c */

void emit(json_object *o);
void emit_error(const char *id, const char *code, const char *slot, const char *program,
		const char *log, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void emit_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A log message that answers command `id` (the reply to a good `set`). */
void emit_reply_log(const char *id, const char *level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
uint64_t mono_ns(void);
uint64_t wall_ns(void);

/* libbpf's messages: printed to stderr (debug ones only when verbose), and
 * those since the last reset kept for error reports. */
void output_init(bool verbose);
void libbpf_capture_reset(void);
const char *libbpf_captured(void);
void libbpf_set_quiet(bool quiet);

/* ---------------------------------------------------------------- features.c */

/* attach types, in protocol spelling */
enum atype {
	AT_TRACEPOINT, AT_RAW_TP, AT_TP_BTF, AT_FENTRY, AT_FEXIT, AT_KPROBE, AT_KRETPROBE,
	AT_NETFILTER, AT_OTHER, AT_NUM,
};
extern const char *const atype_names[AT_NUM];

/* BPF netfilter programs (kernel >= 6.4), numbers from the kernel UAPI */
#define NSLAT_PROG_TYPE_NETFILTER 32
#define NSLAT_ATTACH_NETFILTER 45

struct kernel {
	struct btf *btf;		/* vmlinux BTF, or NULL */
	int ncpus;
	bool ok[AT_NUM];		/* attach type works here */
	char why[AT_NUM][128];		/* why not */
	bool netfilter_on;		/* netfilter hooks may be used (off: --no-netfilter) */
	bool preempt_rt;
	bool threaded_irqs;		/* device IRQ handlers threaded by force (PREEMPT_RT, threadirqs) */
	int netns_fd;			/* the helper's own network namespace, -1 */
};

void probe_features(struct kernel *k, bool verbose);
bool kernel_when(const struct kernel *k, int when);
const char *kernel_when_why(int when);
/* A BPF netfilter link in the calling thread's network namespace; -1 + errno. */
int nf_link_create(int prog_fd, int pf, int hooknum, int prio);
/* An fd of the network namespace with inode `ino` (from /run/netns or a
 * process), -1 when none is found. */
int netns_open(__u64 ino);

/* ---------------------------------------------------------------- load.c */

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

/* ---------------------------------------------------------------- snapshot.c */

/* accumulated deltas (one snapshot's worth, merged by name) */
struct hd {
	char kind[24];
	char name[200];
	char from[64], to[64];
	int dir;
	int irq, vec, cpu;	/* -1 when absent */
	__u64 b[NSLAT_HIST_BUCKETS];
	__u64 count, sum;
};
struct kv {
	char name[96];
	__u64 v;
};
struct pst {
	char name[128];
	__u32 id;
	__u64 cnt, time, miss;
};
struct acc {
	struct hd *h; int nh, caph;
	struct kv *c; int nc, capc;
	struct kv *d; int nd, capd;
	struct pst *p; int np, capp;
};

void obj_collect(struct loaded_obj *lo, struct acc *a);
json_object *acc_to_json(const char *slot, struct acc *a);
void acc_free(struct acc *a);
int journey_cb(void *ctx, void *data, size_t size);

#endif

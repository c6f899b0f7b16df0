/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* nslat-helper internals shared by its .c files. */
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

#define HELPER_VERSION "0.1.0"
#define MAX_COMMAND_BYTES (64 * 1024)

/* attach types, in protocol spelling */
enum atype {
	AT_TRACEPOINT, AT_RAW_TP, AT_TP_BTF, AT_FENTRY, AT_FEXIT, AT_KPROBE, AT_KRETPROBE,
	AT_NETFILTER, AT_OTHER, AT_NUM,
};
extern const char *const atype_names[AT_NUM];

/* start-up feature probe result */
extern bool feat_ok[AT_NUM];
extern char feat_err[AT_NUM][96];
void probe_features(void);

/* output */
void emit(json_object *o);
void emit_error(const char *id, const char *code, const char *slot, const char *program,
		const char *log, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void emit_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t mono_ns(void);
uint64_t wall_ns(void);

/* libbpf messages captured for error reports */
void libbpf_capture_reset(void);
const char *libbpf_captured(void);
extern bool libbpf_quiet;
extern bool use_netfilter;
extern bool verbose;

/* ---------------------------------------------------------------- slots */

enum pstatus { PS_ATTACHED, PS_SKIPPED, PS_FAILED };

struct prog_ent {
	struct bpf_program *prog;
	const char *name;
	const char *section;
	enum atype at;
	enum pstatus status;
	char reason[320];
	struct bpf_link *link;
	int nf_fd;		/* netfilter link fd (libbpf 1.1 has no netfilter attach), -1 */
	__u32 prog_id;
	int boundary;		/* -1: bookkeeping */
	int alt;		/* 0 fentry, 1 kprobe, 2 tp, 3 other; -1 single program */
	__u64 prev_cnt, prev_time, prev_miss;
};

enum layout { LAYOUT_NONE, LAYOUT_PACKET, LAYOUT_IRQ };

struct loaded_obj {
	struct bpf_object *obj;
	char path[PATH_MAX];
	char slot[40];
	int nprogs;
	struct prog_ent *progs;
	enum layout layout;
	int dir;		/* 0 rx, 1 tx, 2 irq */
	char *bnames[NSLAT_NB];
	int nb;
	char *cnames[NSLAT_MAX_COUNTERS];
	int hist_fd, cnt_fd, drops_fd, rb_fd;
	__u32 hist_entries, cnt_entries, drops_entries;
	struct ring_buffer *rb;
	int rb_epfd;
	int pcpu_rows;		/* rows kept per hist index (ncpus for irq, 1 otherwise) */
	struct nslat_hist *prev_hist;
	__u64 *prev_cnt;
	__u64 *prev_drops;
};

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

struct slot {
	char name[40];
	struct loaded_obj *cur;
	struct acc carry;	/* deltas of objects replaced or unloaded since the last snapshot */
	bool gone;		/* unloaded: report carry once, then free */
};

extern int ncpus;
extern struct btf *vmlinux_btf;
extern const char *dir_names[3];

/* load.c */
/* retiring: the object this one replaces (its nslat_retired is set just before
 * the new programs attach, cleared again if none does), or NULL */
struct loaded_obj *obj_load(const char *id, const char *slot, const char *path,
			    json_object *rodata, json_object *data, struct loaded_obj *retiring, bool *ok);
void obj_destroy(struct loaded_obj *lo);
int obj_detach(struct loaded_obj *lo);	/* detach everything; returns what is still attached */
int nf_link_create(int prog_fd, int pf, int hooknum, int prio);

/* BPF netfilter programs (kernel >= 6.4), numbers from the kernel UAPI */
#define NSLAT_PROG_TYPE_NETFILTER 32
#define NSLAT_ATTACH_NETFILTER 45
int obj_attached(const struct loaded_obj *lo);
json_object *obj_loaded_msg(const struct loaded_obj *lo, const char *id, bool replaced, uint64_t t);
int obj_set_data(struct loaded_obj *lo, const char *name, long long v); /* 1 set, 0 absent, <0 err */

/* snapshot.c */
void obj_collect(struct loaded_obj *lo, struct acc *a);
json_object *acc_to_json(const char *slot, struct acc *a);
void acc_free(struct acc *a);
int journey_cb(void *ctx, void *data, size_t size);
const char *drop_reason_name(__u32 r);

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading an object's maps as deltas, merged by name; journeys from its
 * ring buffer. Uses output and object.
 */
#ifndef __NSLAT_SNAPSHOT_H
#define __NSLAT_SNAPSHOT_H

#include <json-c/json.h>
#include "object.h"


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
/* Opens lo's journey ring buffer (nslat_journeys), whose records become
 * `journey` messages; a warn log when it cannot. No-op without the map. */
void obj_open_journeys(struct loaded_obj *lo);

#endif

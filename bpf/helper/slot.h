/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Slots: one loaded object per slot name, make-before-break reloads, the
 * deltas of replaced and unloaded objects carried to the next snapshot, and
 * each slot's ring buffer watched in the event loop's epoll set. Uses
 * output, object and snapshot.
 */
#ifndef __NSLAT_SLOT_H
#define __NSLAT_SLOT_H

#include <stdbool.h>
#include <json-c/json.h>
#include "object.h"
#include "snapshot.h"

#define MAX_SLOTS 32

/* What an epoll event stands for: the event loop's own fds, or the ring
 * buffer of a slot (each slot holds its own tag). */
enum ev_kind { EV_STDIN = 1, EV_TIMER, EV_SIGNAL, EV_RB };
struct ev {
	enum ev_kind kind;
	struct slot *slot;
};

struct slot {
	char name[40];
	struct loaded_obj *cur;
	/* the object a reload replaced: it starts nothing any more but finishes
	 * the packets it started, until the next snapshot retires it */
	struct loaded_obj *prev;
	struct acc carry;	/* deltas of objects replaced or unloaded since the last snapshot */
	bool gone;		/* unloaded: report carry once, then free */
	bool dead;		/* reported: freed after the current event batch */
	struct ev ev;		/* its ring buffer's epoll event */
	bool watched;
	__u32 gen;		/* generation of cur */
};

struct slots {
	struct slot *s[MAX_SLOTS];
	int epfd;		/* where ring buffers are watched */
};

/* The live slot of that name (not unloaded), or NULL. */
struct slot *slot_find(struct slots *t, const char *name);
/* What a load into slot `name` shares with the object it replaces (see
 * struct load_req): sets r->share and r->gen. */
void slot_prepare(struct slots *t, const char *name, struct load_req *r);
/* Puts the loaded `lo` into slot `name`, make before break: from here on it
 * starts every packet and the object it replaces only finishes its own.
 * Returns false (lo untouched) when every slot is taken. */
bool slot_install(struct slots *t, const char *name, struct loaded_obj *lo, bool *replaced);
/* Detaches and closes the slot's objects; their last deltas go out with the
 * next snapshot. False when nothing is loaded in it. */
bool slot_unload(struct slots *t, const char *name);
/* Consumes the slot's ring buffers (the current object's and a replaced one's). */
void slot_consume(struct slot *s);

/* Snapshot: retires the objects reloads replaced (detaching waits for the
 * kernel, so it is done before the snapshot's moment), ... */
void slots_retire_replaced(struct slots *t);
/* ... then each slot's deltas since the last snapshot, as the snapshot's
 * `slots` array; unloaded slots are reported once and then marked dead. */
json_object *slots_collect(struct slots *t);
/* Frees the dead slots (after an event batch, which may still point at them). */
void slots_free_dead(struct slots *t);

/* `set` of data variable `k` in every slot that has it. slots_data_check:
 * 1 when some slot has it and v fits everywhere, 0 when none has it, -1 when
 * it does not fit (*bad is that slot, *size the variable's). slots_set_data:
 * the number set, their names appended to `where`; -1 after an error (sent). */
int slots_data_check(struct slots *t, const char *k, long long v, const struct slot **bad, __u32 *size);
int slots_set_data(struct slots *t, const char *id, const char *k, long long v, char *where, size_t wsz);

/* Writes CLOCK_REALTIME - CLOCK_MONOTONIC into every current object that
 * declares nslat_real_offset (the probes turn the kernel's realtime receive
 * stamps into their clock with it): after each load and at every snapshot,
 * so a clock step is followed within one interval. */
void slots_set_clock(struct slots *t);

/* Detaches and frees everything; returns how many programs stayed attached. */
int slots_destroy(struct slots *t);

#endif

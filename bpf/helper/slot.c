// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Slots: the lifecycle of the object loaded under each slot name (slot.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include "output.h"
#include "slot.h"

struct slot *slot_find(struct slots *t, const char *name)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (t->s[i] && !t->s[i]->gone && !t->s[i]->dead && !strcmp(t->s[i]->name, name))
			return t->s[i];
	return NULL;
}

static struct slot *slot_new(struct slots *t, const char *name)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (!t->s[i]) {
			struct slot *s = calloc(1, sizeof(*s));

			if (!s)
				return NULL;
			snprintf(s->name, sizeof(s->name), "%s", name);
			t->s[i] = s;
			return s;
		}
	return NULL;
}

static void slot_watch(struct slots *t, struct slot *s, struct loaded_obj *lo, bool add)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = &s->ev };
	int fd;

	if (!lo || !lo->rb)
		return;
	fd = ring_buffer__epoll_fd(lo->rb);
	if (add) {
		s->ev.kind = EV_RB;
		s->ev.slot = s;
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ee))
			emit_log("warn", "slot %s: epoll on ring buffer: %s", s->name, strerror(errno));
		else
			s->watched = true;
	} else if (s->watched) {
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, NULL);
		s->watched = false;
	}
}

/* Detach and close an object, keeping its last deltas in the slot. */
static void slot_retire(struct slots *t, struct slot *s, struct loaded_obj *lo)
{
	if (!lo)
		return;
	if (lo->rb)
		ring_buffer__consume(lo->rb);
	if (obj_detach(lo))
		emit_log("error", "slot %s: %d program(s) of %s did not detach", s->name,
			 obj_attached(lo), lo->path);
	if (lo->rb)
		ring_buffer__consume(lo->rb);
	obj_collect(lo, &s->carry);
	slot_watch(t, s, lo, false);
	obj_destroy(lo);
}

void slot_prepare(struct slots *t, const char *name, struct load_req *r)
{
	struct slot *s = slot_find(t, name);

	r->share = s ? s->cur : NULL;
	r->gen = s ? s->gen + 1 : 1;
}

bool slot_install(struct slots *t, const char *name, struct loaded_obj *lo, bool *replaced)
{
	struct slot *s = slot_find(t, name);
	struct loaded_obj *old;

	*replaced = s && s->cur;
	if (!s && !(s = slot_new(t, name)))
		return false;
	/* make before break: the new object is attached; from this write on it
	 * starts every packet and the old one only finishes its own */
	old = s->cur;
	slot_retire(t, s, s->prev);	/* a second reload within one interval */
	obj_activate(lo, old);
	s->gen = lo->gen;
	s->prev = old;
	s->cur = lo;
	slot_watch(t, s, lo, true);
	return true;
}

bool slot_unload(struct slots *t, const char *name)
{
	struct slot *s = slot_find(t, name);

	if (!s || !s->cur)
		return false;
	slot_retire(t, s, s->prev);
	slot_retire(t, s, s->cur);
	s->prev = s->cur = NULL;
	s->gone = true;		/* its last deltas go out with the next snapshot */
	return true;
}

void slot_consume(struct slot *s)
{
	if (!s || s->dead)
		return;
	if (s->cur && s->cur->rb)
		ring_buffer__consume(s->cur->rb);
	if (s->prev && s->prev->rb)
		ring_buffer__consume(s->prev->rb);
}

void slots_retire_replaced(struct slots *t)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (t->s[i] && !t->s[i]->dead) {
			slot_retire(t, t->s[i], t->s[i]->prev);
			t->s[i]->prev = NULL;
		}
}

json_object *slots_collect(struct slots *t)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = t->s[i];

		if (!s || s->dead)
			continue;
		if (s->cur) {
			if (s->cur->rb)
				ring_buffer__consume(s->cur->rb);
			obj_collect(s->cur, &s->carry);
		}
		json_object_array_add(arr, acc_to_json(s->name, &s->carry));
		acc_free(&s->carry);
		if (s->gone)
			s->dead = true;	/* an event of this batch may still point at it */
	}
	return arr;
}

void slots_free_dead(struct slots *t)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (t->s[i] && t->s[i]->dead) {
			acc_free(&t->s[i]->carry);
			free(t->s[i]);
			t->s[i] = NULL;
		}
}

/* A slot whose current object `set` may write. */
static bool settable(const struct slot *s)
{
	return s && s->cur && !s->dead && !s->gone;
}

int slots_data_check(struct slots *t, const char *k, long long v, const struct slot **bad, __u32 *size)
{
	int any = 0;

	for (int i = 0; i < MAX_SLOTS; i++) {
		__u32 sz;

		if (!settable(t->s[i]) || !(sz = obj_data_size(t->s[i]->cur, k)))
			continue;
		if (!int_fits(v, sz)) {
			*bad = t->s[i];
			*size = sz;
			return -1;
		}
		any = 1;
	}
	return any;
}

int slots_set_data(struct slots *t, const char *id, const char *k, long long v, char *where, size_t wsz)
{
	int found = 0;

	for (int i = 0; i < MAX_SLOTS; i++) {
		size_t l = strlen(where);
		int r;

		if (!settable(t->s[i]))
			continue;
		r = obj_set_data(t->s[i]->cur, k, v);
		if (r < 0) {
			emit_error(id, "internal", t->s[i]->name, NULL, NULL, "set: writing %s: %s", k, strerror(-r));
			return -1;
		}
		if (r > 0) {
			snprintf(where + l, wsz - l, "%s%s", found ? ", " : "", t->s[i]->name);
			found++;
		}
	}
	return found;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC in ns, the monotonic time taken as the
 * midpoint of two reads around the realtime one. */
static long long real_minus_mono(void)
{
	struct timespec m1, r, m2;

	clock_gettime(CLOCK_MONOTONIC, &m1);
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m2);
	return (long long)r.tv_sec * 1000000000LL + r.tv_nsec -
	       ((long long)m1.tv_sec * 1000000000LL + m1.tv_nsec +
		(long long)m2.tv_sec * 1000000000LL + m2.tv_nsec) / 2;
}

void slots_set_clock(struct slots *t)
{
	long long off = real_minus_mono();

	for (int i = 0; i < MAX_SLOTS; i++)
		if (settable(t->s[i]))
			obj_set_data(t->s[i]->cur, "nslat_real_offset", off ?: 1);
}

int slots_destroy(struct slots *t)
{
	int attached = 0;

	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = t->s[i];

		if (!s)
			continue;
		attached += obj_detach(s->prev) + obj_detach(s->cur);
		obj_destroy(s->prev);
		obj_destroy(s->cur);
		acc_free(&s->carry);
		free(s);
		t->s[i] = NULL;
	}
	return attached;
}

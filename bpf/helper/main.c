// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * nslat-helper: the root side of nslat. One JSON command per line on stdin,
 * one JSON message per line on stdout (src/core/protocol.ts is the
 * contract), stderr for libbpf's own text. Single-threaded: epoll over
 * stdin, a snapshot timerfd, a signalfd and each slot's ring buffer.
 *
 *   nslat-helper --workdir DIR [--interval-ms N] [--bpf-stats] [--no-netfilter] [--verbose]
 *
 * --bpf-stats     enable kernel bpf_stats while the helper runs (an fd, so it
 *                 ends with the process whatever happens)
 * --no-netfilter  never use BPF netfilter hooks; by default they feed IP
 *                 receive and IP local deliver where neither fentry nor
 *                 kprobes can (a hook sees one network namespace: the
 *                 helper's own, and those a load names)
 *
 * Nothing is pinned: every program hangs off a link fd of this process, so
 * exit - clean or SIGKILL - detaches everything.
 *
 * The modules, each using only those above it (one header each, which
 * includes only the headers of modules above it):
 *
 *   output.c    emitting protocol messages; libbpf's text, captured for errors
 *   features.c  what this kernel allows (attach types, netfilter, threaded IRQs)
 *   load.c      one probe object: plan, load, attach, detach, describe (object.h)
 *   snapshot.c  reading an object's maps as deltas; journeys
 *   slot.c      one object per slot name: load, reload, unload (slot.h)
 *   host.c      the host's own counters in each snapshot (with nl.c,
 *               hostproc.c, hostnet.c, hostsock.c; host.h)
 *   main.c      commands, the event loop
 *
 * State is passed explicitly: `struct kernel` (what features.c found) and
 * `struct slots` (the slot table) are owned by main.c and handed to the
 * modules that use them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include "output.h"
#include "features.h"
#include "object.h"
#include "snapshot.h"
#include "slot.h"
#include "host.h"

#define HELPER_VERSION "0.2.0"
#define MAX_COMMAND_BYTES (64 * 1024)

static struct kernel kern = { .netfilter_on = true, .netns_fd = -1 };
static bool verbose;

static char workdir[PATH_MAX];
static int epfd = -1, tfd = -1, sfd = -1;
static unsigned interval_ms = 1000;
static __u64 snap_seq, last_snap_ns;
static int stats_fd = -1;

static struct ev ev_stdin = { EV_STDIN, NULL }, ev_timer = { EV_TIMER, NULL }, ev_signal = { EV_SIGNAL, NULL };
static struct slots slots = { .epfd = -1 };
static struct host *host;

/* ---------------------------------------------------------------- commands */

static bool valid_slot(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static bool valid_varname(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 64 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* json-c saturates integers that overflow 64 bits (and keeps those between
 * 2^63 and 2^64 unsigned): neither is a value a variable could take. */
static bool int_in_range(json_object *v)
{
	int64_t x = json_object_get_int64(v);

	return x != INT64_MAX && x != INT64_MIN;
}

/* The fields each command may carry; anything else is refused, so a typo
 * ("intervall_ms") is an error rather than silently ignored. */
static const struct {
	const char *cmd;
	const char *fields[11];
} cmd_fields[] = {
	{ "load", { "cmd", "id", "slot", "object", "rodata", "rodata_by_dir", "data", "netns", "strict",
		    "if_declared" } },
	{ "unload", { "cmd", "id", "slot" } },
	{ "set", { "cmd", "id", "interval_ms", "data", "host" } },
	{ "snapshot", { "cmd", "id" } },
	{ "verify", { "cmd", "id", "object", "alternative", "rodata" } },
	{ "quit", { "cmd", "id" } },
};

/* -1: not a command; 0: an unknown field (reported); 1: good. */
static int check_fields(const char *id, const char *c, json_object *cmd)
{
	for (size_t i = 0; i < sizeof(cmd_fields) / sizeof(cmd_fields[0]); i++) {
		if (strcmp(cmd_fields[i].cmd, c))
			continue;
		json_object_object_foreach(cmd, k, v) {
			bool known = false;

			(void)v;
			for (int f = 0; cmd_fields[i].fields[f] && !known; f++)
				known = !strcmp(k, cmd_fields[i].fields[f]);
			if (!known) {
				emit_error(id, "bad_command", NULL, NULL, NULL, "%s: unknown field '%.64s'", c, k);
				return 0;
			}
		}
		return 1;
	}
	return -1;
}

/* An optional record of integers; returns false (and reports) when bad. */
static bool check_intmap(const char *id, json_object *cmd, const char *field, json_object **out)
{
	json_object *m;

	*out = NULL;
	if (!json_object_object_get_ex(cmd, field, &m) || json_object_is_type(m, json_type_null))
		return true;
	if (!json_object_is_type(m, json_type_object)) {
		emit_error(id, "bad_command", NULL, NULL, NULL, "'%s' must be an object of integers", field);
		return false;
	}
	json_object_object_foreach(m, k, v) {
		if (!valid_varname(k)) {
			emit_error(id, "bad_command", NULL, NULL, NULL, "'%s': bad variable name '%s'", field, k);
			return false;
		}
		if (!json_object_is_type(v, json_type_int)) {
			emit_error(id, "bad_command", NULL, NULL, NULL, "'%s.%s' must be an integer", field, k);
			return false;
		}
		if (!int_in_range(v)) {
			emit_error(id, "bad_command", NULL, NULL, NULL,
				   "'%s.%s' is out of range (a 64-bit signed integer)", field, k);
			return false;
		}
	}
	*out = m;
	return true;
}

static const char *get_str(json_object *cmd, const char *field)
{
	json_object *v;

	if (!json_object_object_get_ex(cmd, field, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void arm_timer(void)
{
	struct itimerspec its = {};

	if (interval_ms) {
		its.it_interval.tv_sec = interval_ms / 1000;
		its.it_interval.tv_nsec = (interval_ms % 1000) * 1000000L;
		its.it_value = its.it_interval;
	}
	timerfd_settime(tfd, 0, &its, NULL);
}

static void do_snapshot(const char *id)
{
	json_object *o = json_object_new_object(), *arr, *hs;
	uint64_t now;

	/* Detaching waits for the kernel (RCU): do it before the snapshot's
	 * moment, so what is read and the interval it is reported for agree. */
	slots_retire_replaced(&slots);
	slots_set_clock(&slots);
	now = mono_ns();
	arr = slots_collect(&slots);
	hs = host_collect(host);
	json_object_object_add(o, "type", json_object_new_string("snapshot"));
	json_object_object_add(o, "seq", json_object_new_uint64(snap_seq++));
	json_object_object_add(o, "mono_ns", json_object_new_uint64(now));
	json_object_object_add(o, "interval_ns", json_object_new_uint64(now - last_snap_ns));
	if (id)
		json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "slots", arr);
	if (hs)
		json_object_object_add(o, "host", hs);
	last_snap_ns = now;
	emit(o);
}

/* An object path inside the work directory (after resolving links). */
static bool object_path(const char *id, const char *slot, const char *object, char *real)
{
	size_t wl = strlen(workdir);

	if (!object || !object[0] || strlen(object) > 4096) {
		emit_error(id, "bad_command", slot, NULL, NULL, "'object' must be a path");
		return false;
	}
	if (!realpath(object, real)) {
		emit_error(id, "bad_path", slot, NULL, NULL, "%s: %s", object, strerror(errno));
		return false;
	}
	if (strncmp(real, workdir, wl) || real[wl] != '/') {
		emit_error(id, "bad_path", slot, NULL, NULL,
			   "%s resolves to %s, outside the work directory %s", object, real, workdir);
		return false;
	}
	return true;
}

/* An array of at most `max` integers in lo..hi; `what` names it in errors. */
static bool int_array(const char *id, const char *what, json_object *a, int max, int64_t lo, int64_t hi,
		      int64_t *out, int *n)
{
	*n = 0;
	if (!json_object_is_type(a, json_type_array) || (int)json_object_array_length(a) > max) {
		emit_error(id, "bad_command", NULL, NULL, NULL, "%s must be an array of at most %d integers in %lld..%lld",
			   what, max, (long long)lo, (long long)hi);
		return false;
	}
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *v = json_object_array_get_idx(a, i);
		int64_t x;

		if (!json_object_is_type(v, json_type_int) || !int_in_range(v) ||
		    (x = json_object_get_int64(v)) < lo || x > hi) {
			emit_error(id, "bad_command", NULL, NULL, NULL, "%s: entries must be integers in %lld..%lld",
				   what, (long long)lo, (long long)hi);
			return false;
		}
		out[(*n)++] = x;
	}
	return true;
}

/* 'netns': network namespace inode numbers for netfilter hooks. */
static bool check_netns(const char *id, json_object *cmd, __u64 *out, int *n)
{
	json_object *a;
	int64_t v[MAX_NETNS];

	*n = 0;
	if (!json_object_object_get_ex(cmd, "netns", &a) || json_object_is_type(a, json_type_null))
		return true;
	if (!int_array(id, "'netns' (namespace inode numbers)", a, MAX_NETNS, 1, UINT32_MAX, v, n))
		return false;
	for (int i = 0; i < *n; i++)
		out[i] = (__u64)v[i];
	return true;
}

/* `rodata_by_dir`: {"rx"|"tx"|"irq": integer map}. */
static bool check_dir_maps(const char *id, json_object *cmd, json_object **out)
{
	json_object *m, *sub;

	*out = NULL;
	if (!json_object_object_get_ex(cmd, "rodata_by_dir", &m) || json_object_is_type(m, json_type_null))
		return true;
	if (!json_object_is_type(m, json_type_object)) {
		emit_error(id, "bad_command", NULL, NULL, NULL, "'rodata_by_dir' must be an object");
		return false;
	}
	json_object_object_foreach(m, k, v) {
		(void)v;
		if (strcmp(k, dir_names[0]) && strcmp(k, dir_names[1]) && strcmp(k, dir_names[2])) {
			emit_error(id, "bad_command", NULL, NULL, NULL,
				   "'rodata_by_dir': '%.64s' is not a direction (rx, tx, irq)", k);
			return false;
		}
		if (!check_intmap(id, m, k, &sub))
			return false;
	}
	*out = m;
	return true;
}

static bool get_bool(const char *id, json_object *cmd, const char *field, bool *out)
{
	json_object *v;

	*out = false;
	if (!json_object_object_get_ex(cmd, field, &v) || json_object_is_type(v, json_type_null))
		return true;
	if (!json_object_is_type(v, json_type_boolean)) {
		emit_error(id, "bad_command", NULL, NULL, NULL, "'%s' must be true or false", field);
		return false;
	}
	*out = json_object_get_boolean(v);
	return true;
}

/* One field of `set`'s host (HostOptions) into o. */
_Static_assert(HOST_MAX_PORTS <= HOST_MAX_NETNS && HOST_MAX_PIDS <= HOST_MAX_NETNS, "host_field's array");
static bool host_field(const char *id, const char *k, json_object *v, struct host_opts *o)
{
	int64_t a[HOST_MAX_NETNS];
	int n;

	if (!strcmp(k, "enabled")) {
		if (!json_object_is_type(v, json_type_boolean)) {
			emit_error(id, "bad_command", NULL, NULL, NULL, "set: 'host.enabled' must be true or false");
			return false;
		}
		o->enabled = json_object_get_boolean(v);
	} else if (!strcmp(k, "top")) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > HOST_TOP_MAX) {
			emit_error(id, "bad_command", NULL, NULL, NULL, "set: 'host.top' must be an integer in 0..%d",
				   HOST_TOP_MAX);
			return false;
		}
		o->top = (int)json_object_get_int64(v);
	} else if (!strcmp(k, "ports")) {
		if (!int_array(id, "set: 'host.ports'", v, HOST_MAX_PORTS, 1, 65535, a, &n))
			return false;
		for (o->nports = 0; o->nports < n; o->nports++)
			o->ports[o->nports] = (__u16)a[o->nports];
	} else if (!strcmp(k, "pids")) {
		if (!int_array(id, "set: 'host.pids'", v, HOST_MAX_PIDS, 1, INT32_MAX, a, &n))
			return false;
		for (o->npids = 0; o->npids < n; o->npids++)
			o->pids[o->npids] = (int)a[o->npids];
	} else if (!strcmp(k, "netns")) {
		if (!int_array(id, "set: 'host.netns' (namespace inode numbers)", v, HOST_MAX_NETNS, 1, UINT32_MAX, a, &n))
			return false;
		for (o->nnetns = 0; o->nnetns < n; o->nnetns++)
			o->netns[o->nnetns] = (__u64)a[o->nnetns];
	} else {
		emit_error(id, "bad_command", NULL, NULL, NULL,
			   "set: 'host': unknown field '%.64s' (enabled, top, ports, pids, netns)", k);
		return false;
	}
	return true;
}

/* `set`'s host: the options as they are, with each field it gives replaced. */
static bool check_host(const char *id, json_object *cmd, struct host_opts *o, bool *given)
{
	json_object *m;

	*given = false;
	*o = *host_opts(host);
	if (!json_object_object_get_ex(cmd, "host", &m) || json_object_is_type(m, json_type_null))
		return true;
	if (!json_object_is_type(m, json_type_object)) {
		emit_error(id, "bad_command", NULL, NULL, NULL,
			   "set: 'host' must be an object (enabled, top, ports, pids, netns)");
		return false;
	}
	json_object_object_foreach(m, k, v) {
		if (!host_field(id, k, v, o))
			return false;
	}
	*given = true;
	return true;
}

static void cmd_load(const char *id, json_object *cmd)
{
	const char *slot = get_str(cmd, "slot");
	struct load_req r = { .id = id, .slot = slot };
	__u64 netns[MAX_NETNS];
	char real[PATH_MAX];
	struct loaded_obj *lo;
	bool replaced;
	uint64_t t;

	if (!slot || !valid_slot(slot)) {
		emit_error(id, "bad_command", slot, NULL, NULL, "load: 'slot' must match [a-z][a-z0-9_]{0,31}");
		return;
	}
	if (!check_intmap(id, cmd, "rodata", &r.rodata) || !check_dir_maps(id, cmd, &r.rodata_by_dir) ||
	    !check_intmap(id, cmd, "data", &r.data) || !check_netns(id, cmd, netns, &r.n_netns) ||
	    !get_bool(id, cmd, "strict", &r.strict) || !get_bool(id, cmd, "if_declared", &r.if_declared) ||
	    !object_path(id, slot, get_str(cmd, "object"), real))
		return;
	r.path = real;
	r.netns = netns;
	slot_prepare(&slots, slot, &r);
	lo = obj_load(&kern, &r);
	if (!lo)
		return;	/* error sent; the old object (if any) keeps running */
	obj_open_journeys(lo);
	t = mono_ns();
	if (!slot_install(&slots, slot, lo, &replaced)) {
		obj_destroy(lo);
		emit_error(id, "internal", slot, NULL, NULL, "too many slots (max %d)", MAX_SLOTS);
		return;
	}
	slots_set_clock(&slots);
	emit(obj_loaded_msg(lo, id, replaced, t));
}

static void cmd_verify(const char *id, json_object *cmd)
{
	const char *alt = get_str(cmd, "alternative");
	json_object *rodata, *o;
	char real[PATH_MAX];
	int a = ALT_NONE;

	if (alt) {
		for (int i = 0; i < ALT_NUM; i++)
			if (!strcmp(alt, alt_names[i]))
				a = i;
		if (a == ALT_NONE) {
			emit_error(id, "bad_command", NULL, NULL, NULL,
				   "verify: 'alternative' must be fentry, kprobe, netfilter or tp");
			return;
		}
	}
	if (!check_intmap(id, cmd, "rodata", &rodata) || !object_path(id, NULL, get_str(cmd, "object"), real))
		return;
	o = obj_verify(&kern, id, real, rodata, a);
	if (o)
		emit(o);
}

static void cmd_unload(const char *id, json_object *cmd)
{
	const char *slot = get_str(cmd, "slot");

	if (!slot || !valid_slot(slot)) {
		emit_error(id, "bad_command", slot, NULL, NULL, "unload: 'slot' must match [a-z][a-z0-9_]{0,31}");
		return;
	}
	if (!slot_unload(&slots, slot)) {
		emit_error(id, "no_such_slot", slot, NULL, NULL, "unload: nothing loaded in slot %s", slot);
		return;
	}
	{
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("unloaded"));
		json_object_object_add(o, "id", json_object_new_string(id));
		json_object_object_add(o, "slot", json_object_new_string(slot));
		emit(o);
	}
}

/* A good `set` is answered by a log message carrying its id
 * ("set sample_every on rx, tx"); a bad one by an error, and then nothing
 * of it is applied. */
static void cmd_set(const char *id, json_object *cmd)
{
	json_object *iv, *data;
	char reply[1024] = "", unknown[1024] = "", err[256];
	struct host_opts ho;
	bool host_given;
	int64_t v = -1;
	size_t l;

	if (json_object_object_get_ex(cmd, "interval_ms", &iv) && !json_object_is_type(iv, json_type_null)) {
		if (!json_object_is_type(iv, json_type_int) ||
		    (v = json_object_get_int64(iv)) < 0 || v > 3600000) {
			emit_error(id, "bad_command", NULL, NULL, NULL,
				   "set: 'interval_ms' must be an integer in 0..3600000");
			return;
		}
	}
	if (!check_intmap(id, cmd, "data", &data))
		return;
	if (data) {
		/* all or nothing: every variable must exist in a loaded slot */
		json_object_object_foreach(data, k, val) {
			const struct slot *bad = NULL;
			__u32 sz = 0;
			int r = slots_data_check(&slots, k, json_object_get_int64(val), &bad, &sz);

			if (r < 0) {
				emit_error(id, "bad_command", bad->name, NULL, NULL,
					   "set: %lld does not fit in %s (%u bytes)",
					   (long long)json_object_get_int64(val), k, sz);
				return;
			}
			if (!r) {
				size_t l = strlen(unknown);

				snprintf(unknown + l, sizeof(unknown) - l, "%s%s", l ? ", " : "", k);
			}
		}
		if (unknown[0]) {
			emit_error(id, "bad_command", NULL, NULL, NULL,
				   "set: no loaded slot has data variable(s): %s", unknown);
			return;
		}
	}
	if (!check_host(id, cmd, &ho, &host_given))
		return;
	/* last of the checks: it opens the namespaces named, or changes nothing */
	if (host_given && !host_apply(host, &ho, err, sizeof(err))) {
		emit_error(id, "bad_command", NULL, NULL, NULL, "%s", err);
		return;
	}
	if (host_given)
		snprintf(reply, sizeof(reply), "set host: %s, top %d, %d port(s), %d pid(s), %d netns",
			 ho.enabled ? "on" : "off", ho.top, ho.nports, ho.npids, ho.nnetns);
	if (v >= 0) {
		interval_ms = (unsigned)v;
		arm_timer();
		l = strlen(reply);
		snprintf(reply + l, sizeof(reply) - l, "%sset interval_ms to %lld", l ? "; " : "", (long long)v);
	}
	if (data) {
		json_object_object_foreach(data, k, val) {
			char where[512] = "";
			size_t l = strlen(reply);

			if (slots_set_data(&slots, id, k, json_object_get_int64(val), where, sizeof(where)) < 0)
				return;
			snprintf(reply + l, sizeof(reply) - l, "%sset %s on %s", l ? "; " : "", k, where);
		}
	}
	emit_reply_log(id, "info", "%s", reply[0] ? reply : "set: nothing to change");
}

static bool quit_requested;
static const char *quit_reason = "quit";

static void handle_line(char *line, size_t n)
{
	json_tokener *tok;
	json_object *cmd;
	const char *c, *id;
	json_object *idv;

	while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = 0;
	if (!n)
		return;
	if (memchr(line, 0, n)) {
		emit_error(NULL, "bad_json", NULL, NULL, NULL, "command line holds a NUL byte");
		return;
	}
	tok = json_tokener_new();
	cmd = json_tokener_parse_ex(tok, line, (int)n);
	if (!cmd && json_tokener_get_error(tok) == json_tokener_success &&
	    (size_t)json_tokener_get_parse_end(tok) == n) {	/* the line is `null` */
		emit_error(NULL, "bad_command", NULL, NULL, NULL, "a command must be a JSON object");
		json_tokener_free(tok);
		return;
	}
	if (!cmd || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != n) {
		const char *why = json_tokener_get_error(tok) != json_tokener_success ?
			json_tokener_error_desc(json_tokener_get_error(tok)) : "trailing characters";

		if (!cmd && json_tokener_get_error(tok) == json_tokener_continue)
			why = "unexpected end of line";
		emit_error(NULL, "bad_json", NULL, NULL, NULL, "command line is not JSON (%s): %.200s",
			   why, line);
		json_object_put(cmd);
		json_tokener_free(tok);
		return;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(cmd, json_type_object)) {
		emit_error(NULL, "bad_command", NULL, NULL, NULL, "a command must be a JSON object");
		goto out;
	}
	id = NULL;
	if (json_object_object_get_ex(cmd, "id", &idv) && json_object_is_type(idv, json_type_string))
		id = json_object_get_string(idv);
	c = get_str(cmd, "cmd");
	if (!c) {
		emit_error(id, "bad_command", NULL, NULL, NULL, "missing string field 'cmd'");
		goto out;
	}
	if (!id || !id[0] || strlen(id) > 64) {
		emit_error(NULL, "bad_command", NULL, NULL, NULL,
			   "%.64s: 'id' must be a string of 1..64 characters", c);
		goto out;
	}
	switch (check_fields(id, c, cmd)) {
	case -1:
		emit_error(id, "unknown_command", NULL, NULL, NULL, "unknown command '%.64s'", c);
		goto out;
	case 0:
		goto out;
	}
	if (!strcmp(c, "load"))
		cmd_load(id, cmd);
	else if (!strcmp(c, "unload"))
		cmd_unload(id, cmd);
	else if (!strcmp(c, "set"))
		cmd_set(id, cmd);
	else if (!strcmp(c, "snapshot"))
		do_snapshot(id);
	else if (!strcmp(c, "verify"))
		cmd_verify(id, cmd);
	else if (!strcmp(c, "quit")) {
		quit_requested = true;
		quit_reason = "quit";
	}
out:
	json_object_put(cmd);
}

/* stdin framing: lines up to MAX_COMMAND_BYTES; longer ones are reported
 * once and discarded up to their newline. */
static char linebuf[MAX_COMMAND_BYTES + 1];
static size_t linelen;
static bool discarding;

static bool read_stdin(void)
{
	char buf[65536];
	ssize_t r = read(0, buf, sizeof(buf));

	if (r < 0)
		return errno == EAGAIN || errno == EINTR;
	if (r == 0)
		return false;
	for (ssize_t i = 0; i < r && !quit_requested; i++) {
		char ch = buf[i];

		if (ch == '\n') {
			if (!discarding) {
				linebuf[linelen] = 0;
				handle_line(linebuf, linelen);
			}
			discarding = false;
			linelen = 0;
			continue;
		}
		if (discarding)
			continue;
		if (linelen == MAX_COMMAND_BYTES) {
			emit_error(NULL, "too_long", NULL, NULL, NULL,
				   "command line exceeds %d bytes; discarded up to its newline",
				   MAX_COMMAND_BYTES);
			discarding = true;
			linelen = 0;
			continue;
		}
		linebuf[linelen++] = ch;
	}
	return true;
}

/* ---------------------------------------------------------------- main */

static void hello(void)
{
	json_object *o = json_object_new_object(), *at = json_object_new_object();
	struct utsname u;
	int stats = 0;
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");

	if (f) {
		if (fscanf(f, "%d", &stats) != 1)
			stats = 0;
		fclose(f);
	}
	uname(&u);
	for (int i = 0; i <= AT_NETFILTER; i++)
		json_object_object_add(at, atype_names[i], json_object_new_boolean(kern.ok[i]));
	json_object_object_add(o, "type", json_object_new_string("hello"));
	json_object_object_add(o, "protocol", json_object_new_int(NSLAT_PROTOCOL));
	json_object_object_add(o, "helper_version", json_object_new_string(HELPER_VERSION));
	json_object_object_add(o, "kernel", json_object_new_string(u.release));
	json_object_object_add(o, "mono_ns", json_object_new_uint64(mono_ns()));
	json_object_object_add(o, "wall_ns", json_object_new_uint64(wall_ns()));
	json_object_object_add(o, "arch", json_object_new_string(u.machine));
	json_object_object_add(o, "ncpus", json_object_new_int(kern.ncpus));
	json_object_object_add(o, "btf", json_object_new_boolean(kern.btf != NULL));
	json_object_object_add(o, "preempt_rt", json_object_new_boolean(kern.preempt_rt));
	json_object_object_add(o, "irq_threads", json_object_new_boolean(kern.threaded_irqs));
	json_object_object_add(o, "netfilter", json_object_new_boolean(kern.ok[AT_NETFILTER] && kern.netfilter_on));
	json_object_object_add(o, "bpf_stats", json_object_new_boolean(stats > 0 || stats_fd >= 0));
	json_object_object_add(o, "host", json_object_new_boolean(true));
	json_object_object_add(o, "attach_types", at);
	json_object_object_add(o, "workdir", json_object_new_string(workdir));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	emit(o);
	for (int i = 0; i <= AT_NETFILTER; i++)
		if (!kern.ok[i])
			emit_log("info", "%s", kern.why[i]);
	if (kern.ok[AT_NETFILTER] && !kern.netfilter_on)
		emit_log("info", "netfilter hooks work here but are turned off (--no-netfilter)");
}

/* Tracepoints (tp/...) need tracefs. The helper is root already: mount it
 * here when /sys/kernel/tracing has no events (the session needs no second
 * privileged spawn). The outcome is reported in a log message after hello. */
static char tracefs_msg[160];
static const char *tracefs_level = "info";

static void ensure_tracefs(void)
{
	if (!access("/sys/kernel/tracing/events", F_OK) || !access("/sys/kernel/debug/tracing/events", F_OK))
		return;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL)) {
		tracefs_level = "warn";
		snprintf(tracefs_msg, sizeof(tracefs_msg),
			 "tracefs not mounted at /sys/kernel/tracing and mounting it failed: %s "
			 "(tracepoint programs may not attach)", strerror(errno));
	} else {
		snprintf(tracefs_msg, sizeof(tracefs_msg), "mounted tracefs at /sys/kernel/tracing");
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: nslat-helper --workdir DIR [--interval-ms N] [--bpf-stats] [--no-netfilter] [--verbose]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workdir", required_argument, NULL, 'w' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "bpf-stats", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-netfilter", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct epoll_event ee;
	sigset_t mask;
	const char *wd = NULL;
	bool want_stats = false;
	int c, attached = 0;

	while ((c = getopt_long(argc, argv, "w:i:svNh", opts, NULL)) != -1) {
		switch (c) {
		case 'w': wd = optarg; break;
		case 'i': interval_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': want_stats = true; break;
		case 'v': verbose = true; break;
		case 'N': kern.netfilter_on = false; break;
		default: usage();
		}
	}
	if (!wd || !realpath(wd, workdir)) {
		fprintf(stderr, "nslat-helper: --workdir must name an existing directory\n");
		usage();
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	output_init(verbose);
	kern.ncpus = libbpf_num_possible_cpus();
	if (kern.ncpus <= 0)
		kern.ncpus = 1;
	kern.btf = btf__load_vmlinux_btf();
	if (!kern.btf)
		kern.btf = NULL;
	ensure_tracefs();
	if (want_stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			fprintf(stderr, "nslat-helper: cannot enable bpf_stats: %s\n", strerror(errno));
	}
	probe_features(&kern, verbose);
	host = host_new(&kern);	/* the first sample counts from here */
	hello();
	if (tracefs_msg[0])
		emit_log(tracefs_level, "%s", tracefs_msg);

	/* stdin stays blocking: epoll says when it is readable and each event
	 * reads once. Where stdin and stdout are one socket (a socket-activated
	 * helper), O_NONBLOCK on it would make a full send buffer look like a
	 * reader gone. */
	epfd = epoll_create1(EPOLL_CLOEXEC);
	slots.epfd = epfd;
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	ee.events = EPOLLIN;
	ee.data.ptr = &ev_stdin;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ee)) {
		/* stdin is a regular file or /dev/null: read it until EOF */
		while (!quit_requested && read_stdin())
			;
		quit_reason = quit_requested ? "quit" : "stdin closed";
		goto out;
	}
	ee.data.ptr = &ev_timer;
	epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ee);
	ee.data.ptr = &ev_signal;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ee);
	last_snap_ns = mono_ns();
	arm_timer();

	while (!quit_requested) {
		struct epoll_event evs[16];
		int n = epoll_wait(epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			quit_reason = "internal error";
			break;
		}
		for (int i = 0; i < n && !quit_requested; i++) {
			struct ev *e = evs[i].data.ptr;

			switch (e->kind) {
			case EV_STDIN:
				if (!read_stdin()) {
					quit_requested = true;
					quit_reason = "stdin closed";
				}
				break;
			case EV_TIMER: {
				__u64 exp;

				if (read(tfd, &exp, sizeof(exp)) == sizeof(exp) && interval_ms) {
					do_snapshot(NULL);
					/* a long load may have delayed this one: the next
					 * comes a full interval later, not at the old phase */
					arm_timer();
				}
				break;
			}
			case EV_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					quit_requested = true;
					quit_reason = si.ssi_signo == SIGTERM ? "SIGTERM" :
						      si.ssi_signo == SIGINT ? "SIGINT" : "SIGHUP";
				}
				break;
			}
			case EV_RB:
				slot_consume(e->slot);
				break;
			}
		}
		slots_free_dead(&slots);
	}
out:
	attached = slots_destroy(&slots);
	{
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("bye"));
		json_object_object_add(o, "reason", json_object_new_string(quit_reason));
		json_object_object_add(o, "attached", json_object_new_int(attached));
		emit(o);
	}
	if (stats_fd >= 0)
		close(stats_fd);
	host_free(host);
	btf__free(kern.btf);
	return 0;
}

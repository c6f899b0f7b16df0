// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * nslat-helper: the root side of nslat. One JSON command per line on stdin,
 * one JSON message per line on stdout (src/core/protocol.ts is the
 * contract), stderr for libbpf's own text. Single-threaded: epoll over
 * stdin, a snapshot timerfd, a signalfd and each slot's ring buffer.
 *
 *   nslat-helper --workdir DIR [--interval-ms N] [--bpf-stats] [--netfilter] [--verbose]
 *
 * --bpf-stats   enable kernel bpf_stats while the helper runs (an fd, so it
 *               ends with the process whatever happens)
 * --netfilter   attach BPF netfilter alternatives (IP receive, IP local
 *               deliver) where fentry/kprobe are unavailable; netfilter hooks
 *               see only the helper's own network namespace
 *
 * Nothing is pinned: every program hangs off a link fd of this process, so
 * exit - clean or SIGKILL - detaches everything.
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
#include "helper.h"

const char *const atype_names[AT_NUM] = {
	"tracepoint", "raw_tp", "tp_btf", "fentry", "fexit", "kprobe", "kretprobe", "netfilter", "other",
};
const char *dir_names[3] = { "rx", "tx", "irq" };
bool feat_ok[AT_NUM];
char feat_err[AT_NUM][96];
int ncpus;
struct btf *vmlinux_btf;
bool libbpf_quiet;
bool use_netfilter;
bool verbose;

#define MAX_SLOTS 32
static struct slot *slots[MAX_SLOTS];
static char workdir[PATH_MAX];
static int epfd = -1, tfd = -1, sfd = -1;
static unsigned interval_ms = 1000;
static __u64 snap_seq, last_snap_ns;
static int stats_fd = -1;

enum { EV_STDIN = 1, EV_TIMER, EV_SIGNAL, EV_RB };
struct ev { int kind; struct slot *slot; };
static struct ev ev_stdin = { EV_STDIN, NULL }, ev_timer = { EV_TIMER, NULL }, ev_signal = { EV_SIGNAL, NULL };

/* ---------------------------------------------------------------- output */

void emit(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE);

	if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
		/* nobody listens any more: clean up through the normal path */
		json_object_put(o);
		raise(SIGTERM);
		return;
	}
	json_object_put(o);
}

void emit_error(const char *id, const char *code, const char *slot, const char *program,
		const char *log, const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "type", json_object_new_string("error"));
	if (id)
		json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(msg));
	if (slot)
		json_object_object_add(o, "slot", json_object_new_string(slot));
	if (program)
		json_object_object_add(o, "program", json_object_new_string(program));
	if (log && log[0])
		json_object_object_add(o, "log", json_object_new_string(log));
	emit(o);
}

void emit_log(const char *level, const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "type", json_object_new_string("log"));
	json_object_object_add(o, "level", json_object_new_string(level));
	json_object_object_add(o, "message", json_object_new_string(msg));
	emit(o);
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

uint64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t wall_ns(void) { return clock_ns(CLOCK_REALTIME); }

/* ---------------------------------------------------------------- libbpf text */

static char capture[64 * 1024];
static size_t capture_len;

void libbpf_capture_reset(void)
{
	capture_len = 0;
	capture[0] = 0;
}

const char *libbpf_captured(void)
{
	return capture;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list aq;

	va_copy(aq, ap);
	if (capture_len < sizeof(capture) - 1 && level != LIBBPF_DEBUG) {
		int n = vsnprintf(capture + capture_len, sizeof(capture) - capture_len, fmt, aq);

		if (n > 0)
			capture_len += n;
		if (capture_len >= sizeof(capture))
			capture_len = sizeof(capture) - 1;
	}
	va_end(aq);
	if (libbpf_quiet || (level == LIBBPF_DEBUG && !verbose))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---------------------------------------------------------------- features */

#include "features.skel.h"

void probe_features(void)
{
	static const struct { const char *prog; enum atype at; } m[] = {
		{ "probe_tracepoint", AT_TRACEPOINT }, { "probe_raw_tp", AT_RAW_TP },
		{ "probe_tp_btf", AT_TP_BTF }, { "probe_fentry", AT_FENTRY },
		{ "probe_fexit", AT_FEXIT }, { "probe_kprobe", AT_KPROBE },
		{ "probe_kretprobe", AT_KRETPROBE },
	};
	size_t sz;
	const void *bytes = features__elf_bytes(&sz);

	libbpf_quiet = !verbose;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		struct bpf_object *obj = bpf_object__open_mem(bytes, sz, NULL);
		struct bpf_program *p, *target = NULL;
		struct bpf_link *l;
		int e;

		if (!obj) {
			snprintf(feat_err[m[i].at], sizeof(feat_err[0]), "feature probe: %s", strerror(errno));
			continue;
		}
		bpf_object__for_each_program(p, obj) {
			bool me = !strcmp(bpf_program__name(p), m[i].prog);

			bpf_program__set_autoload(p, me);
			if (me)
				target = p;
		}
		if (!target || bpf_object__load(obj)) {
			e = errno;
			if (e == EPERM || e == EACCES)
				snprintf(feat_err[m[i].at], sizeof(feat_err[0]),
					 "%s not permitted on this kernel (%s at load)",
					 atype_names[m[i].at], strerrorname_np(e));
			else
				snprintf(feat_err[m[i].at], sizeof(feat_err[0]),
					 "%s programs do not load on this kernel (%s)",
					 atype_names[m[i].at], strerrorname_np(e) ?: strerror(e));
			bpf_object__close(obj);
			continue;
		}
		l = bpf_program__attach(target);
		if (!l) {
			e = errno;
			if ((m[i].at == AT_KPROBE || m[i].at == AT_KRETPROBE) && e == ENOENT)
				snprintf(feat_err[m[i].at], sizeof(feat_err[0]),
					 "%ss absent on this kernel (ENOENT at attach: no kprobe PMU or kprobe_events)",
					 atype_names[m[i].at]);
			else
				snprintf(feat_err[m[i].at], sizeof(feat_err[0]),
					 "%s attach fails on this kernel (%s)",
					 atype_names[m[i].at], strerrorname_np(e) ?: strerror(e));
		} else {
			feat_ok[m[i].at] = true;
			bpf_link__destroy(l);
		}
		bpf_object__close(obj);
	}
	libbpf_quiet = false;

	/* netfilter: a two-instruction program (r0 = NF_ACCEPT; exit) hooked
	 * briefly into IPv4 PRE_ROUTING of the helper's namespace */
	{
		struct bpf_insn insns[] = {
			{ .code = 0xb7, .dst_reg = 0, .imm = 1 },	/* BPF_ALU64|BPF_MOV|BPF_K */
			{ .code = 0x95 },				/* BPF_JMP|BPF_EXIT */
		};
		LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = NSLAT_ATTACH_NETFILTER);
		int pfd = bpf_prog_load(NSLAT_PROG_TYPE_NETFILTER, "nslat_nf_probe", "GPL", insns, 2, &po);
		int e = errno, lfd;

		if (pfd < 0) {
			snprintf(feat_err[AT_NETFILTER], sizeof(feat_err[0]),
				 "netfilter programs do not load on this kernel (%s; kernel >= 6.4 needed)",
				 strerrorname_np(e) ?: strerror(e));
		} else {
			lfd = nf_link_create(pfd, 2, 0, -1000);
			e = errno;
			if (lfd < 0)
				snprintf(feat_err[AT_NETFILTER], sizeof(feat_err[0]),
					 "netfilter attach fails on this kernel (%s; CONFIG_NETFILTER_BPF_LINK?)",
					 strerrorname_np(e) ?: strerror(e));
			else
				feat_ok[AT_NETFILTER] = true;
			if (lfd >= 0)
				close(lfd);
			close(pfd);
		}
	}
}

/* ---------------------------------------------------------------- slots */

static struct slot *find_slot(const char *name)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (slots[i] && !slots[i]->gone && !strcmp(slots[i]->name, name))
			return slots[i];
	return NULL;
}

static void slot_watch(struct slot *s, struct loaded_obj *lo, bool add)
{
	struct epoll_event ee = { .events = EPOLLIN };
	int fd;

	if (!lo || !lo->rb)
		return;
	fd = ring_buffer__epoll_fd(lo->rb);
	if (add) {
		struct ev *e = calloc(1, sizeof(*e));

		e->kind = EV_RB;
		e->slot = s;
		ee.data.ptr = e;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ee))
			emit_log("warn", "slot %s: epoll on ring buffer: %s", s->name, strerror(errno));
		lo->rb_epfd = fd;
	} else {
		epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	}
}

/* Detach and close an object, keeping its last deltas in the slot. */
static void slot_retire(struct slot *s, struct loaded_obj *lo)
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
	slot_watch(s, lo, false);
	obj_destroy(lo);
}

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
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	uint64_t now = mono_ns();

	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = slots[i];

		if (!s)
			continue;
		if (s->cur) {
			if (s->cur->rb)
				ring_buffer__consume(s->cur->rb);
			obj_collect(s->cur, &s->carry);
		}
		json_object_array_add(arr, acc_to_json(s->name, &s->carry));
		acc_free(&s->carry);
		if (s->gone) {
			free(s);
			slots[i] = NULL;
		}
	}
	json_object_object_add(o, "type", json_object_new_string("snapshot"));
	json_object_object_add(o, "seq", json_object_new_uint64(snap_seq++));
	json_object_object_add(o, "mono_ns", json_object_new_uint64(now));
	json_object_object_add(o, "interval_ns", json_object_new_uint64(now - last_snap_ns));
	if (id)
		json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "slots", arr);
	last_snap_ns = now;
	emit(o);
}

static void cmd_load(const char *id, json_object *cmd)
{
	const char *slot = get_str(cmd, "slot"), *object = get_str(cmd, "object");
	json_object *rodata, *data;
	char real[PATH_MAX];
	struct loaded_obj *lo, *old;
	struct slot *s;
	bool ok, replaced;
	size_t wl = strlen(workdir);
	uint64_t t;

	if (!slot || !valid_slot(slot)) {
		emit_error(id, "bad_command", slot, NULL, NULL, "load: 'slot' must match [a-z][a-z0-9_]{0,31}");
		return;
	}
	if (!object || !object[0] || strlen(object) > 4096) {
		emit_error(id, "bad_command", slot, NULL, NULL, "load: 'object' must be a path");
		return;
	}
	if (!check_intmap(id, cmd, "rodata", &rodata) || !check_intmap(id, cmd, "data", &data))
		return;
	if (!realpath(object, real)) {
		emit_error(id, "bad_path", slot, NULL, NULL, "load: %s: %s", object, strerror(errno));
		return;
	}
	if (strncmp(real, workdir, wl) || real[wl] != '/') {
		emit_error(id, "bad_path", slot, NULL, NULL,
			   "load: %s resolves to %s, outside the work directory %s", object, real, workdir);
		return;
	}
	s = find_slot(slot);
	lo = obj_load(id, slot, real, rodata, data, s ? s->cur : NULL, &ok);
	if (!ok)
		return;	/* error sent; the old object (if any) keeps running */
	t = mono_ns();
	replaced = s && s->cur;
	if (!s) {
		for (int i = 0; i < MAX_SLOTS; i++)
			if (!slots[i]) {
				s = slots[i] = calloc(1, sizeof(*s));
				snprintf(s->name, sizeof(s->name), "%s", slot);
				break;
			}
		if (!s) {
			obj_destroy(lo);
			emit_error(id, "internal", slot, NULL, NULL, "too many slots (max %d)", MAX_SLOTS);
			return;
		}
	}
	/* make before break: the new object is attached, now detach the old */
	old = s->cur;
	s->cur = lo;
	slot_retire(s, old);
	slot_watch(s, lo, true);
	emit(obj_loaded_msg(lo, id, replaced, t));
}

static void cmd_unload(const char *id, json_object *cmd)
{
	const char *slot = get_str(cmd, "slot");
	struct slot *s;

	if (!slot || !valid_slot(slot)) {
		emit_error(id, "bad_command", slot, NULL, NULL, "unload: 'slot' must match [a-z][a-z0-9_]{0,31}");
		return;
	}
	s = find_slot(slot);
	if (!s || !s->cur) {
		emit_error(id, "no_such_slot", slot, NULL, NULL, "unload: nothing loaded in slot %s", slot);
		return;
	}
	slot_retire(s, s->cur);
	s->cur = NULL;
	s->gone = true;		/* its last deltas go out with the next snapshot */
	{
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("unloaded"));
		json_object_object_add(o, "id", json_object_new_string(id));
		json_object_object_add(o, "slot", json_object_new_string(slot));
		emit(o);
	}
}

static void cmd_set(const char *id, json_object *cmd)
{
	json_object *iv, *data;

	if (json_object_object_get_ex(cmd, "interval_ms", &iv) && !json_object_is_type(iv, json_type_null)) {
		int64_t v;

		if (!json_object_is_type(iv, json_type_int) ||
		    (v = json_object_get_int64(iv)) < 0 || v > 3600000) {
			emit_error(id, "bad_command", NULL, NULL, NULL,
				   "set: 'interval_ms' must be an integer in 0..3600000");
			return;
		}
		if (!check_intmap(id, cmd, "data", &data))
			return;
		interval_ms = (unsigned)v;
		arm_timer();
	} else if (!check_intmap(id, cmd, "data", &data)) {
		return;
	}
	if (data) {
		char unknown[1024] = "";

		json_object_object_foreach(data, k, v) {
			int found = 0;

			for (int i = 0; i < MAX_SLOTS; i++) {
				int r;

				if (!slots[i] || !slots[i]->cur)
					continue;
				r = obj_set_data(slots[i]->cur, k, json_object_get_int64(v));
				if (r < 0)
					emit_error(id, "internal", slots[i]->name, NULL, NULL,
						   "set: writing %s: %s", k, strerror(-r));
				found += r > 0;
			}
			if (!found) {
				size_t l = strlen(unknown);

				snprintf(unknown + l, sizeof(unknown) - l, "%s%s", l ? ", " : "", k);
			}
		}
		if (unknown[0])
			emit_error(id, "bad_command", NULL, NULL, NULL,
				   "set: no loaded slot has data variable(s): %s", unknown);
	}
}

static bool quit_requested;
static const char *quit_reason = "quit";

static void handle_line(char *line)
{
	json_tokener *tok;
	json_object *cmd;
	const char *c, *id;
	size_t n = strlen(line);
	json_object *idv;

	while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = 0;
	if (!n)
		return;
	tok = json_tokener_new();
	cmd = json_tokener_parse_ex(tok, line, (int)n);
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
	if (strcmp(c, "load") && strcmp(c, "unload") && strcmp(c, "set") && strcmp(c, "snapshot") &&
	    strcmp(c, "quit")) {
		emit_error(id, "unknown_command", NULL, NULL, NULL, "unknown command '%.64s'", c);
		goto out;
	}
	if (!id || !id[0] || strlen(id) > 64) {
		emit_error(id && strlen(id) <= 64 && id[0] ? id : NULL, "bad_command", NULL, NULL, NULL,
			   "%s: 'id' must be a string of 1..64 characters", c);
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
				handle_line(linebuf);
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
		json_object_object_add(at, atype_names[i], json_object_new_boolean(feat_ok[i]));
	json_object_object_add(o, "type", json_object_new_string("hello"));
	json_object_object_add(o, "protocol", json_object_new_int(NSLAT_PROTOCOL));
	json_object_object_add(o, "helper_version", json_object_new_string(HELPER_VERSION));
	json_object_object_add(o, "kernel", json_object_new_string(u.release));
	json_object_object_add(o, "mono_ns", json_object_new_uint64(mono_ns()));
	json_object_object_add(o, "wall_ns", json_object_new_uint64(wall_ns()));
	json_object_object_add(o, "ncpus", json_object_new_int(ncpus));
	json_object_object_add(o, "btf", json_object_new_boolean(vmlinux_btf != NULL));
	json_object_object_add(o, "bpf_stats", json_object_new_boolean(stats > 0 || stats_fd >= 0));
	json_object_object_add(o, "attach_types", at);
	json_object_object_add(o, "workdir", json_object_new_string(workdir));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	emit(o);
	for (int i = 0; i <= AT_NETFILTER; i++)
		if (!feat_ok[i])
			emit_log("info", "%s", feat_err[i]);
	if (feat_ok[AT_NETFILTER] && !use_netfilter)
		emit_log("info", "netfilter hooks work here but are off (--netfilter: they see only "
			 "the helper's network namespace)");
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
	fprintf(stderr, "usage: nslat-helper --workdir DIR [--interval-ms N] [--bpf-stats] [--netfilter] [--verbose]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workdir", required_argument, NULL, 'w' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "bpf-stats", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "netfilter", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct epoll_event ee;
	sigset_t mask;
	const char *wd = NULL;
	bool want_stats = false;
	int c, attached = 0;

	while ((c = getopt_long(argc, argv, "w:i:svnh", opts, NULL)) != -1) {
		switch (c) {
		case 'w': wd = optarg; break;
		case 'i': interval_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': want_stats = true; break;
		case 'v': verbose = true; break;
		case 'n': use_netfilter = true; break;
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

	libbpf_set_print(libbpf_print);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		ncpus = 1;
	vmlinux_btf = btf__load_vmlinux_btf();
	if (!vmlinux_btf)
		vmlinux_btf = NULL;
	ensure_tracefs();
	if (want_stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			fprintf(stderr, "nslat-helper: cannot enable bpf_stats: %s\n", strerror(errno));
	}
	probe_features();
	hello();
	if (tracefs_msg[0])
		emit_log(tracefs_level, "%s", tracefs_msg);

	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
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
				if (e->slot && e->slot->cur && e->slot->cur->rb)
					ring_buffer__consume(e->slot->cur->rb);
				break;
			}
		}
	}
out:
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (!slots[i])
			continue;
		if (slots[i]->cur) {
			attached += obj_detach(slots[i]->cur);
			obj_destroy(slots[i]->cur);
		}
		acc_free(&slots[i]->carry);
		free(slots[i]);
		slots[i] = NULL;
	}
	{
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("bye"));
		json_object_object_add(o, "reason", json_object_new_string(quit_reason));
		json_object_object_add(o, "attached", json_object_new_int(attached));
		emit(o);
	}
	if (stats_fd >= 0)
		close(stats_fd);
	btf__free(vmlinux_btf);
	return 0;
}

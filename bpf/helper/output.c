// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Output of nslat-helper: one JSON message per line on stdout, flushed per
 * line; libbpf's own text on stderr, and captured for error reports.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <bpf/libbpf.h>
#include "output.h"

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

static void vemit_log(const char *id, const char *level, const char *fmt, va_list ap)
{
	json_object *o = json_object_new_object();
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	json_object_object_add(o, "type", json_object_new_string("log"));
	json_object_object_add(o, "level", json_object_new_string(level));
	json_object_object_add(o, "message", json_object_new_string(msg));
	if (id)
		json_object_object_add(o, "id", json_object_new_string(id));
	emit(o);
}

void emit_log(const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit_log(NULL, level, fmt, ap);
	va_end(ap);
}

void emit_reply_log(const char *id, const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit_log(id, level, fmt, ap);
	va_end(ap);
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
static bool quiet, verbose;

void libbpf_capture_reset(void)
{
	capture_len = 0;
	capture[0] = 0;
}

const char *libbpf_captured(void)
{
	return capture;
}

void libbpf_set_quiet(bool q)
{
	quiet = q;
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
	if (quiet || (level == LIBBPF_DEBUG && !verbose))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void output_init(bool v)
{
	verbose = v;
	libbpf_set_print(libbpf_print);
}

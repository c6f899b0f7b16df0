/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Emitting protocol messages (one JSON object per stdout line) and keeping
 * libbpf's text for error reports. The bottom module: it uses no other.
 */
#ifndef __NSLAT_OUTPUT_H
#define __NSLAT_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>


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

#endif

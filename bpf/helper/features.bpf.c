// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Start-up feature probe of nslat-helper: one tiny program per attach type.
 * The helper loads and attaches each alone and reports what worked. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sched_process_free")
int BPF_PROG(probe_tp_btf) { return 0; }

SEC("raw_tp/sched_process_free")
int probe_raw_tp(void *ctx) { return 0; }

SEC("tp/sched/sched_process_free")
int probe_tracepoint(void *ctx) { return 0; }

SEC("fentry/vfs_read")
int BPF_PROG(probe_fentry) { return 0; }

SEC("fexit/vfs_read")
int BPF_PROG(probe_fexit) { return 0; }

SEC("kprobe/vfs_read")
int probe_kprobe(void *ctx) { return 0; }

SEC("kretprobe/vfs_read")
int probe_kretprobe(void *ctx) { return 0; }

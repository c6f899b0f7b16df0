/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What this kernel allows: attach types, netfilter links, threaded IRQs,
 * found once at start into a `struct kernel` its owner passes on.
 */
#ifndef __NSLAT_FEATURES_H
#define __NSLAT_FEATURES_H

#include <stdbool.h>
#include <linux/types.h>
#include <bpf/btf.h>


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

#endif

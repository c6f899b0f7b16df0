// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What this kernel allows, found once at start: which attach types load and
 * attach (one tiny program each, features.bpf.c), whether BPF netfilter
 * links work, whether IRQ handlers run in threads. Also the netfilter link
 * call and network namespace lookup that loading uses.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include "nslat.h"
#include "output.h"
#include "features.h"
#include "features.skel.h"

const char *const atype_names[AT_NUM] = {
	"tracepoint", "raw_tp", "tp_btf", "fentry", "fexit", "kprobe", "kretprobe", "netfilter", "other",
};

int nf_link_create(int prog_fd, int pf, int hooknum, int prio)
{
	/* union bpf_attr.link_create with its netfilter member (not in the
	 * 6.1 UAPI headers this builds against) */
	union {
		char raw[128];
		struct {
			__u32 prog_fd, target_fd, attach_type, flags;
			__u32 pf, hooknum;
			__s32 priority;
			__u32 nf_flags;
		} lc;
	} a;

	memset(&a, 0, sizeof(a));
	a.lc.prog_fd = prog_fd;
	a.lc.attach_type = NSLAT_ATTACH_NETFILTER;
	a.lc.pf = pf;
	a.lc.hooknum = hooknum;
	a.lc.priority = prio;
	return syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
}

static int open_if_ino(const char *path, __u64 ino)
{
	struct stat st;

	if (stat(path, &st) || (__u64)st.st_ino != ino)
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

int netns_open(__u64 ino)
{
	static const char *const dirs[] = { "/run/netns", "/var/run/netns" };
	char p[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int fd = -1;

	/* named namespaces (ip netns add) may have no process in them */
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && fd < 0; i++) {
		d = opendir(dirs[i]);
		while (d && fd < 0 && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dirs[i], e->d_name);
			fd = open_if_ino(p, ino);
		}
		if (d)
			closedir(d);
	}
	d = fd < 0 ? opendir("/proc") : NULL;
	while (d && fd < 0 && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/ns/net", e->d_name);
		fd = open_if_ino(p, ino);
	}
	if (d)
		closedir(d);
	return fd;
}

/* ---------------------------------------------------------------- attach types */

static void probe_attach_types(struct kernel *k)
{
	static const struct { const char *prog; enum atype at; } m[] = {
		{ "probe_tracepoint", AT_TRACEPOINT }, { "probe_raw_tp", AT_RAW_TP },
		{ "probe_tp_btf", AT_TP_BTF }, { "probe_fentry", AT_FENTRY },
		{ "probe_fexit", AT_FEXIT }, { "probe_kprobe", AT_KPROBE },
		{ "probe_kretprobe", AT_KRETPROBE },
	};
	size_t sz;
	const void *bytes = features__elf_bytes(&sz);

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		struct bpf_object *obj = bpf_object__open_mem(bytes, sz, NULL);
		struct bpf_program *p, *target = NULL;
		char *why = k->why[m[i].at];
		size_t n = sizeof(k->why[0]);
		const char *an = atype_names[m[i].at];
		struct bpf_link *l;
		int e;

		if (!obj) {
			snprintf(why, n, "feature probe: %s", strerror(errno));
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
				snprintf(why, n, "%s not permitted on this kernel (%s at load)", an, strerrorname_np(e));
			else
				snprintf(why, n, "%s programs do not load on this kernel (%s)", an,
					 strerrorname_np(e) ?: strerror(e));
			bpf_object__close(obj);
			continue;
		}
		l = bpf_program__attach(target);
		if (!l) {
			e = errno;
			if ((m[i].at == AT_KPROBE || m[i].at == AT_KRETPROBE) && e == ENOENT)
				snprintf(why, n, "%ss absent on this kernel (ENOENT at attach: no kprobe PMU or kprobe_events)", an);
			else
				snprintf(why, n, "%s attach fails on this kernel (%s)", an, strerrorname_np(e) ?: strerror(e));
		} else {
			k->ok[m[i].at] = true;
			bpf_link__destroy(l);
		}
		bpf_object__close(obj);
	}
}

/* A two-instruction program (r0 = NF_ACCEPT; exit) hooked briefly into
 * IPv4 PRE_ROUTING of the helper's namespace. */
static void probe_netfilter(struct kernel *k)
{
	struct bpf_insn insns[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 1 },	/* BPF_ALU64|BPF_MOV|BPF_K */
		{ .code = 0x95 },				/* BPF_JMP|BPF_EXIT */
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = NSLAT_ATTACH_NETFILTER);
	int pfd = bpf_prog_load(NSLAT_PROG_TYPE_NETFILTER, "nslat_nf_probe", "GPL", insns, 2, &po);
	int e = errno, lfd;
	char *why = k->why[AT_NETFILTER];
	size_t n = sizeof(k->why[0]);

	if (pfd < 0) {
		snprintf(why, n, "netfilter programs do not load on this kernel (%s; kernel >= 6.4 needed)",
			 strerrorname_np(e) ?: strerror(e));
		return;
	}
	lfd = nf_link_create(pfd, 2, 0, -1000);
	e = errno;
	/* EBUSY: another BPF netfilter link holds that priority (another nslat
	 * session on this kernel): the links work */
	if (lfd < 0 && e != EBUSY)
		snprintf(why, n, "netfilter attach fails on this kernel (%s; CONFIG_NETFILTER_BPF_LINK?)",
			 strerrorname_np(e) ?: strerror(e));
	else
		k->ok[AT_NETFILTER] = true;
	if (lfd >= 0)
		close(lfd);
	close(pfd);
}

/* ---------------------------------------------------------------- threaded IRQs */

static bool file_starts(const char *path, const char *text)
{
	char buf[4096] = "";
	FILE *f = fopen(path, "r");
	bool r;

	if (!f)
		return false;
	r = fgets(buf, sizeof(buf), f) && !strncmp(buf, text, strlen(text));
	fclose(f);
	return r;
}

static bool cmdline_has(const char *word)
{
	char buf[4096] = "", *tok, *save;
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, word))
			return true;
	return false;
}

bool kernel_when(const struct kernel *k, int when)
{
	return when != NSLAT_WHEN_THREADED_IRQS || k->threaded_irqs;
}

const char *kernel_when_why(int when)
{
	return when == NSLAT_WHEN_THREADED_IRQS ?
		"IRQ handlers are not threaded by force on this kernel (no PREEMPT_RT, no threadirqs)" :
		"not needed on this kernel";
}

void probe_features(struct kernel *k, bool verbose)
{
	libbpf_set_quiet(!verbose);
	probe_attach_types(k);
	libbpf_set_quiet(false);
	probe_netfilter(k);
	k->preempt_rt = file_starts("/sys/kernel/realtime", "1");
	/* Forced threading: every device IRQ handler runs in an irq/N thread,
	 * network ones included. (A few drivers request threaded handlers on
	 * any kernel; those are not what this measures.) */
	k->threaded_irqs = k->preempt_rt || cmdline_has("threadirqs");
	k->netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
}

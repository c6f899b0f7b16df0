/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Inside the host module: its state and the parts that fill a sample.
 *   host.c      state, options, namespaces, errors, the sample
 *   hostproc.c  procfs: CPUs (stat, softirqs, softnet_stat), IRQ lines,
 *               protocol counters (snmp, netstat, snmp6)
 *   hostnet.c   interfaces: rtnetlink links and qdiscs, ethtool, sysfs
 *   hostsock.c  sockets (sock_diag) and the processes holding them
 * Each part updates its state; with `out` NULL (a baseline) it only does
 * that.
 */
#ifndef __NSLAT_HOSTINT_H
#define __NSLAT_HOSTINT_H

#include <dirent.h>
#include <net/if.h>
#include "host.h"
#include "nl.h"

/* Configuration read by ethtool, sysfs and /proc/irq is polled: each
 * interface and IRQ line about every HOST_CFG_PERIOD samples, but at most
 * HOST_CFG_IFACES interfaces and HOST_CFG_IRQS lines a sample (on a large
 * host a change shows within objects / that many samples); what a link
 * dump shows - name, MTU, state, queues - at once. The driver's counters
 * of an interface are read when its statistics moved, at most HOST_DRV_MAX
 * devices a sample in turn, and every device at least every
 * HOST_DRV_PERIOD samples: what moved meanwhile lands in the sample that
 * reads it. */
#define HOST_CFG_PERIOD 10
#define HOST_CFG_IFACES 1
#define HOST_CFG_IRQS 2
#define HOST_DRV_MAX 6
#define HOST_DRV_PERIOD 30
/* CPU time per sample the walk of the kernel's TCP socket table may take
 * on average: it costs what the table's size costs (set at boot from the
 * memory size), however few sockets there are, so on a large table it is
 * walked every few samples and the sockets it listed are read in between. */
#define HOST_TCP_WALK_NS 200000
#define HOST_MAX_FLOWS 64
/* Errors kept to say each once; beyond this many, new ones are dropped. */
#define HOST_MAX_ERRORS 512
/* CPU time a sample may spend looking for the processes of its sockets;
 * an unfinished search goes on in the next sample. */
#define HOST_SCAN_BUDGET_NS 400000

#define IF_NSTATS 24
#define SOFTIRQ_NVEC 10
#define SOFTNET_N 5
#define CPUTIME_N 8

/* A file read whole (procfs files have no size). */
struct buf {
	char *p;
	size_t len, cap;
};

struct ifst {
	int ifindex;
	char name[IFNAMSIZ];
	bool seen;		/* in this sample's dump */
	bool have;		/* st holds a previous reading */
	__u64 st[IF_NSTATS];	/* the previous reading */
	__u64 cur[IF_NSTATS];	/* this sample's */
	/* from the link dump */
	__u32 mtu, nrxq, ntxq;
	__u8 oper;
	char parent[64];	/* the device behind it (IFLA_PARENT_DEV_NAME) */
	/* ethtool */
	bool probed;		/* driver and string set read */
	char driver[32];
	unsigned unsup;		/* ETHTOOL ops this device refused (bits of enum eop) */
	int nstats;
	char *snames;		/* nstats names of ETH_GSTRING_LEN bytes */
	__u64 *sprev;
	bool have_s;
	json_object *cfg;	/* the configuration as last read */
	bool sent;		/* ... and sent */
	bool cfg_due;		/* read the configuration again this sample */
	bool moved;		/* its statistics moved in this sample */
	int drv_age;		/* samples since its driver's counters were read */
};

struct qst {
	int ifindex;
	__u32 handle, parent;
	char kind[16];
	bool seen, have;
	bool sent;		/* listed once: every qdisc is, in the first sample that can */
	__u64 bytes, packets;
	__u32 drops, requeues, overlimits;
};

struct nsctx {
	__u64 ino;		/* its inode; reported as 0 for the helper's own */
	bool own;
	struct nl rt, diag, genl;	/* genl also carries the SIOCETHTOOL ioctls */
	struct nl mon;		/* link changes (RTNLGRP_LINK) */
	bool linked;		/* a link dump has run */
	int ethtool_family;	/* generic netlink id; 0 not looked up, -1 none */
	int sysfs;		/* /sys/class/net shows this namespace: -1 unknown, 0, 1 */
	struct ifst *ifs;
	int nifs, capifs;
	struct qst *qs;
	int nqs, capqs;
	int rot_cfg, rot_drv, cfg_credit;
};

struct cpust {
	bool online;
	bool have_t, have_si, have_sn;
	__u64 t[CPUTIME_N];
	__u32 si[SOFTIRQ_NVEC];
	__u32 sn[SOFTNET_N];
	/* this sample's deltas */
	__u64 dt[CPUTIME_N];
	__u32 dsi[SOFTIRQ_NVEC];
	__u32 dsn[SOFTNET_N];
};

struct irqst {
	int irq;
	bool seen;
	__u32 *prev;		/* per CPU id */
	int nprev;
	char *name, *aff, *eff;	/* as last read */
	bool sent;		/* ... and sent */
	bool cfg_due;
	char qdev[64], qname[64], qif[IFNAMSIZ];
};

struct snmpv {
	char *name;		/* "Group.Name" */
	__u64 v;
};

struct sockproc {
	int pid, fd;
	char comm[20];
};

/* Who holds a socket (by inode), found by looking through /proc. */
struct inoproc {
	__u64 ino;
	bool wanted;		/* listed in this sample */
	bool searched;		/* a whole pass over /proc since it was wanted found nobody */
	unsigned long need;	/* the pass that must end before it counts as searched */
	unsigned long idle;	/* samples since it was last listed */
	int n;
	struct sockproc p[4];
};

struct host {
	const struct kernel *k;
	struct host_opts o;
	struct nsctx ns[1 + HOST_MAX_NETNS];
	int nns;
	long hz;
	struct cpust *cpu;
	int ncpu;		/* entries of cpu */
	struct irqst *irq;
	int nirq, capirq, irq_rot, irq_credit;
	struct snmpv *snmp;
	int nsnmp, capsnmp;
	struct inoproc *ip;
	int nip, capip;
	DIR *scan;		/* /proc, part way through a search */
	unsigned long pass;	/* searches of /proc started */
	unsigned long tcp_next;	/* the sample of the next walk of the TCP table */
	void *kept;		/* TCP sockets listed last, read again between walks */
	int nkept;
	void *sel;		/* the sockets' selection (hostsock.c) */
	__u64 *scratch;		/* the driver's counters as read (hostnet.c) */
	size_t nscratch;
	char **said;
	int nsaid;
	json_object *errors;	/* to send with the next sample */
	struct buf fb;
	unsigned long samples;
};

/* host.c */
void host_err(struct host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads a whole file into h->fb (terminated); its length, or -errno. */
long host_slurp(struct host *h, const char *path);
/* A one-line file into buf, without its newline; false when unreadable. */
bool host_line(const char *path, char *buf, size_t size);
__u64 host_thread_ns(void);
/* How many of `n` configuration objects to read again this sample (about
 * n / HOST_CFG_PERIOD, at most `cap`); *credit carries the remainder. */
int host_pace(int *credit, int n, int cap);
static inline __u64 delta64(__u64 cur, __u64 prev)
{
	return cur >= prev ? cur - prev : cur;	/* backwards: the counter was reset */
}
#define GROW(arr, n, cap) do {							\
	if ((n) == (cap)) {							\
		int nc_ = (cap) ? (cap) * 2 : 16;				\
		void *np_ = realloc((arr), (size_t)nc_ * sizeof(*(arr)));	\
		if (!np_) abort();						\
		memset((char *)np_ + (size_t)(cap) * sizeof(*(arr)), 0,		\
		       (size_t)(nc_ - (cap)) * sizeof(*(arr)));			\
		(arr) = np_; (cap) = nc_;					\
	}									\
} while (0)

/* hostproc.c */
void proc_cpus(struct host *h, json_object *out);
void proc_irqs(struct host *h, json_object *out);
void proc_snmp(struct host *h, json_object *out);
void proc_free(struct host *h);

/* hostnet.c */
void net_ifaces(struct host *h, struct nsctx *ns, json_object *out);
/* The interface (of any namespace read) whose parent device is `dev`. */
const char *net_iface_of_device(struct host *h, const char *dev);
bool net_is_iface(struct host *h, const char *name);
void net_ns_free(struct nsctx *ns);

/* hostsock.c */
void sock_collect(struct host *h, json_object *out);
/* The options changed: the sockets kept between walks may not be wanted
 * any more, and new flows are found by walking at the next sample. */
void sock_forget(struct host *h);
void sock_free(struct host *h);

#endif

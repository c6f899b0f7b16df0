// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Host counters: the state kept between samples, the options a `set`
 * gives, the network namespaces read (the helper's own, and those the
 * options name), the errors (each said once), and one sample put together
 * from the parts in hostproc.c, hostnet.c and hostsock.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include "output.h"
#include "hostint.h"

__u64 host_thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int host_pace(int *credit, int n, int cap)
{
	int k = 0;

	*credit += n;
	for (; *credit >= HOST_CFG_PERIOD && k < cap; k++)
		*credit -= HOST_CFG_PERIOD;
	if (*credit > HOST_CFG_PERIOD)
		*credit = HOST_CFG_PERIOD;
	return k;
}

/* ---------------------------------------------------------------- errors */

void host_err(struct host *h, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (int i = 0; i < h->nsaid; i++)
		if (!strcmp(h->said[i], msg))
			return;
	if (h->nsaid == HOST_MAX_ERRORS)
		return;
	h->said[h->nsaid++] = strdup(msg);
	if (!h->errors)
		h->errors = json_object_new_array();
	json_object_array_add(h->errors, json_object_new_string(msg));
}

/* ---------------------------------------------------------------- files */

long host_slurp(struct host *h, const char *path)
{
	struct buf *b = &h->fb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -errno;
	b->len = 0;
	for (;;) {
		if (b->cap - b->len < 4096) {
			size_t nc = b->cap ? b->cap * 2 : 65536;
			char *np = realloc(b->p, nc);

			if (!np)
				abort();
			b->p = np;
			b->cap = nc;
		}
		r = read(fd, b->p + b->len, b->cap - b->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		b->len += r;
	}
	if (r < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	close(fd);
	b->p[b->len] = 0;
	return (long)b->len;
}

bool host_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	buf[0] = 0;
	if (fd < 0)
		return false;
	r = read(fd, buf, size - 1);
	close(fd);
	if (r < 0)
		return false;
	buf[r] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return true;
}

/* ---------------------------------------------------------------- namespaces */

static void ns_reset(struct nsctx *ns)
{
	memset(ns, 0, sizeof(*ns));
	ns->rt.fd = ns->diag.fd = ns->genl.fd = ns->mon.fd = -1;
	ns->sysfs = -1;
}

static void ns_close(struct nsctx *ns)
{
	nl_close(&ns->rt);
	nl_close(&ns->diag);
	nl_close(&ns->genl);
	nl_close(&ns->mon);
	net_ns_free(ns);
	ns_reset(ns);
}

/* The sockets of one context, opened in the calling thread's namespace. */
static int ns_sockets(struct nsctx *ns)
{
	int e;

	if ((e = nl_open(&ns->rt, NETLINK_ROUTE, 0)) || (e = nl_open(&ns->diag, NETLINK_SOCK_DIAG, 0)) ||
	    (e = nl_open(&ns->genl, NETLINK_GENERIC, 0)) || (e = nl_open(&ns->mon, NETLINK_ROUTE, RTMGRP_LINK)))
		return e;
	return 0;
}

/* Opens a context for namespace `ino`: its sockets are created inside it
 * (they stay bound to it) and the thread returns to its own. While named,
 * the namespace is kept alive by those sockets. */
static int ns_open(struct host *h, struct nsctx *ns, __u64 ino)
{
	int fd, e;

	ns_close(ns);
	ns->ino = ino;
	fd = netns_open(ino);
	if (fd < 0)
		return -ENOENT;
	if (h->k->netns_fd < 0 || setns(fd, CLONE_NEWNET)) {
		e = -errno;
		close(fd);
		return e;
	}
	e = ns_sockets(ns);
	if (setns(h->k->netns_fd, CLONE_NEWNET))
		emit_log("error", "cannot return to the helper's network namespace: %s", strerror(errno));
	close(fd);
	if (e)
		ns_close(ns);
	return e;
}

static __u64 own_ino(const struct kernel *k)
{
	struct stat st;

	if (k->netns_fd >= 0 && !fstat(k->netns_fd, &st))
		return st.st_ino;
	if (!stat("/proc/self/ns/net", &st))
		return st.st_ino;
	return 0;
}

static struct nsctx *ns_find(struct host *h, __u64 ino)
{
	for (int i = 0; i < h->nns; i++)
		if (h->ns[i].ino == ino)
			return &h->ns[i];
	return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

static void baseline(struct host *h)
{
	for (int i = 0; i < h->nns; i++)
		net_ifaces(h, &h->ns[i], NULL);
	proc_cpus(h, NULL);
	proc_irqs(h, NULL);
	proc_snmp(h, NULL);
}

struct host *host_new(const struct kernel *k)
{
	struct host *h = calloc(1, sizeof(*h));
	int e;

	if (!h)
		abort();
	h->k = k;
	h->said = calloc(HOST_MAX_ERRORS, sizeof(*h->said));
	h->hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
	h->o.enabled = true;
	h->o.top = HOST_TOP_DEFAULT;
	for (int i = 0; i <= HOST_MAX_NETNS; i++)
		ns_reset(&h->ns[i]);
	h->nns = 1;
	h->ns[0].own = true;
	h->ns[0].ino = own_ino(k);
	e = ns_sockets(&h->ns[0]);
	if (e)
		host_err(h, "netlink: %s", strerror(-e));
	baseline(h);
	return h;
}

void host_free(struct host *h)
{
	if (!h)
		return;
	for (int i = 0; i <= HOST_MAX_NETNS; i++)
		ns_close(&h->ns[i]);
	proc_free(h);
	sock_free(h);
	for (int i = 0; i < h->nsaid; i++)
		free(h->said[i]);
	free(h->said);
	json_object_put(h->errors);
	free(h->fb.p);
	free(h->scratch);
	free(h);
}

const struct host_opts *host_opts(const struct host *h)
{
	return &h->o;
}

/* The contexts for the namespaces `o` names (opening the new ones, closing
 * those no longer named); on failure, nothing changes. */
static bool apply_netns(struct host *h, const struct host_opts *o, char *err, size_t errsz)
{
	struct nsctx next[1 + HOST_MAX_NETNS];
	bool fresh[1 + HOST_MAX_NETNS] = { false };
	bool kept[1 + HOST_MAX_NETNS] = { false };
	int n = 1;

	next[0] = h->ns[0];
	kept[0] = true;
	for (int i = 0; i < o->nnetns; i++) {
		__u64 ino = o->netns[i];
		struct nsctx *cur = ns_find(h, ino);
		bool dup = false;
		int e;

		for (int j = 0; j < n; j++)
			dup |= next[j].ino == ino;
		if (dup)
			continue;	/* the helper's own, or named twice */
		if (cur) {
			next[n] = *cur;
			kept[cur - h->ns] = true;
			n++;
			continue;
		}
		ns_reset(&next[n]);
		e = ns_open(h, &next[n], ino);
		if (e) {
			snprintf(err, errsz, "set: host.netns: %llu: %s", (unsigned long long)ino,
				 e == -ENOENT ? "no network namespace with this inode (none in /run/netns or of a process)" :
				 strerror(-e));
			for (int j = 1; j < n; j++)
				if (fresh[j])
					ns_close(&next[j]);
			return false;
		}
		fresh[n++] = true;
	}
	for (int i = 1; i < h->nns; i++)
		if (!kept[i])
			ns_close(&h->ns[i]);
	for (int i = 0; i < n; i++)
		h->ns[i] = next[i];
	for (int i = n; i <= HOST_MAX_NETNS; i++)
		ns_reset(&h->ns[i]);
	h->nns = n;
	for (int i = 1; i < n; i++)
		if (fresh[i])
			net_ifaces(h, &h->ns[i], NULL);
	return true;
}

bool host_apply(struct host *h, const struct host_opts *o, char *err, size_t errsz)
{
	bool was = h->o.enabled;

	if (!apply_netns(h, o, err, errsz))
		return false;
	h->o = *o;
	sock_forget(h);
	/* collection turned on again: the next sample counts from now */
	if (o->enabled && !was)
		baseline(h);
	return true;
}

/* ---------------------------------------------------------------- the sample */

json_object *host_collect(struct host *h)
{
	json_object *o, *ifaces;
	__u64 t0;

	if (!h->o.enabled)
		return NULL;
	t0 = host_thread_ns();
	o = json_object_new_object();
	ifaces = json_object_new_array();
	json_object_object_add(o, "ifaces", ifaces);
	for (int i = 0; i < h->nns; i++)
		net_ifaces(h, &h->ns[i], ifaces);
	proc_cpus(h, o);
	proc_irqs(h, o);
	proc_snmp(h, o);
	sock_collect(h, o);
	h->samples++;
	json_object_object_add(o, "cost_ns", json_object_new_uint64(host_thread_ns() - t0));
	if (h->errors) {
		json_object_object_add(o, "errors", h->errors);
		h->errors = NULL;
	}
	return o;
}

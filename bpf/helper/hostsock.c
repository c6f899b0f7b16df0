// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sockets as `ss -tuanpi` shows them: a sock_diag dump of TCP and UDP,
 * IPv4 and IPv6, in every namespace read (Recv-Q, Send-Q and SK_MEMINFO of
 * each), of which the top ones by Recv-Q then Send-Q and those the options
 * name (ports, pids) are listed, with TCP info asked for those alone.
 * Listing TCP sockets walks the kernel's whole established table (one walk
 * for both families, by the compat TCPDIAG request), which costs what the
 * table's size costs: the walk runs every few samples so that it takes
 * HOST_TCP_WALK_NS per sample on average, listeners are dumped every
 * sample (their table is small), and the TCP sockets listed are read again
 * by exact lookups in between. The
 * processes holding a listed socket come from /proc/<pid>/fd: a cache by
 * inode, checked with one readlink per holder each sample, and a search of
 * /proc for the rest that takes at most HOST_SCAN_BUDGET_NS of CPU per
 * sample and goes on in the next.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include "hostint.h"

/* ss's state names, by TCP state number. */
static const char *const sstate[] = {
	"UNKNOWN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
	"UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV",
};
#define TCP_LISTEN_STATE 10
/* Every state but TIME-WAIT and NEW-SYN-RECV (mini sockets: no queues). */
#define DIAG_STATES (0xffffffffu & ~((1u << 6) | (1u << 12)))

struct cand {
	int ns;
	__u8 proto, family, state;
	struct inet_diag_sockid id;
	__u32 rq, wq, uid;
	__u64 ino;
	__u32 mem[SK_MEMINFO_VARS];
	bool have_mem, flow;
	struct tcp_info ti;
	bool have_ti;
};

/* A pid's sockets, from its /proc/<pid>/fd (the pids option). */
struct pidsock {
	__u64 ino;
	int pid, fd;
};

struct selection {
	struct host *h;
	int ns;
	__u8 proto, family;
	struct cand top[HOST_TOP_MAX], flows[HOST_MAX_FLOWS];
	int ntop, nflows;
	const struct pidsock *ps;
	int nps;
};

/* ---------------------------------------------------------------- selection */

static bool queued(const struct cand *c)
{
	/* a listener's Send-Q is its backlog limit, not a queue */
	return c->rq || (c->wq && c->state != TCP_LISTEN_STATE);
}

/* Recv-Q, then Send-Q, descending. */
static bool before(const struct cand *a, const struct cand *b)
{
	return a->rq != b->rq ? a->rq > b->rq : a->wq > b->wq;
}

static bool named(const struct selection *s, const struct cand *c)
{
	const struct host_opts *o = &s->h->o;

	for (int i = 0; i < o->nports; i++)
		if (ntohs(c->id.idiag_sport) == o->ports[i] || ntohs(c->id.idiag_dport) == o->ports[i])
			return true;
	for (int i = 0; i < s->nps; i++)
		if (s->ps[i].ino == c->ino)
			return true;
	return false;
}

/* Into the top list; true when a candidate was left out (c itself, or
 * the one it pushed out), copied to *out. */
static bool keep_top(struct selection *s, const struct cand *c, struct cand *out)
{
	int top = s->h->o.top, i;
	bool evicted = false;

	if (top <= 0 || (s->ntop == top && !before(c, &s->top[top - 1]))) {
		*out = *c;
		return true;
	}
	if (s->ntop == top) {
		*out = s->top[top - 1];
		evicted = true;
		i = top - 1;
	} else {
		i = s->ntop++;
	}
	for (; i > 0 && before(c, &s->top[i - 1]); i--)
		s->top[i] = s->top[i - 1];
	s->top[i] = *c;
	return evicted;
}

static void keep_flow(struct selection *s, const struct cand *c)
{
	int i;

	if (s->nflows == HOST_MAX_FLOWS && !before(c, &s->flows[HOST_MAX_FLOWS - 1]))
		return;
	i = s->nflows < HOST_MAX_FLOWS ? s->nflows++ : HOST_MAX_FLOWS - 1;
	for (; i > 0 && before(c, &s->flows[i - 1]); i--)
		s->flows[i] = s->flows[i - 1];
	s->flows[i] = *c;
}

/* A reply's socket into c (its namespace and protocol kept); false when
 * it is not one. */
static bool diag_msg(const struct nlmsghdr *nh, struct cand *c)
{
	const struct inet_diag_msg *m = NLMSG_DATA(nh);
	const struct nlattr *tb[INET_DIAG_MAX + 1];

	if ((nh->nlmsg_type != SOCK_DIAG_BY_FAMILY && nh->nlmsg_type != TCPDIAG_GETSOCK) ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return false;
	c->family = m->idiag_family;
	c->state = m->idiag_state;
	c->id = m->id;
	c->rq = m->idiag_rqueue;
	c->wq = m->idiag_wqueue;
	c->uid = m->idiag_uid;
	c->ino = m->idiag_inode;
	nl_msg_attrs(nh, sizeof(*m), tb, INET_DIAG_MAX);
	if (tb[INET_DIAG_SKMEMINFO]) {
		size_t n = nla_len(tb[INET_DIAG_SKMEMINFO]);

		memcpy(c->mem, nla_data(tb[INET_DIAG_SKMEMINFO]), n < sizeof(c->mem) ? n : sizeof(c->mem));
		c->have_mem = n > SK_MEMINFO_DROPS * sizeof(__u32);
	}
	/* every tcp_info field read here is in the struct since 2.6 */
	if (tb[INET_DIAG_INFO] &&
	    nla_len(tb[INET_DIAG_INFO]) >= offsetof(struct tcp_info, tcpi_total_retrans) + sizeof(__u32)) {
		size_t n = nla_len(tb[INET_DIAG_INFO]);

		memcpy(&c->ti, nla_data(tb[INET_DIAG_INFO]), n < sizeof(c->ti) ? n : sizeof(c->ti));
		c->have_ti = true;
	}
	return true;
}

/* A candidate into the top list or the flows. */
static void consider(struct selection *s, struct cand *c)
{
	c->flow = named(s, c);
	if (queued(c)) {
		struct cand left;

		/* what the top list leaves out may still be a named flow */
		if (keep_top(s, c, &left) && left.flow)
			keep_flow(s, &left);
	} else if (c->flow) {
		keep_flow(s, c);
	}
}

static int diag_cb(const struct nlmsghdr *nh, void *ctx)
{
	struct selection *s = ctx;
	struct cand c;

	memset(&c, 0, sizeof(c));
	c.ns = s->ns;
	c.proto = s->proto;
	if (diag_msg(nh, &c))
		consider(s, &c);
	return 0;
}

static void udp_dump(struct host *h, struct nsctx *ns, struct selection *s, __u8 family)
{
	struct nl_req r;
	struct inet_diag_req_v2 *q = nl_req_init(&r, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, sizeof(*q));
	int e;

	q->sdiag_family = family;
	q->sdiag_protocol = IPPROTO_UDP;
	q->idiag_ext = 1 << (INET_DIAG_SKMEMINFO - 1);
	q->idiag_states = DIAG_STATES;
	s->proto = IPPROTO_UDP;
	e = nl_talk(&ns->diag, &r, diag_cb, s);
	/* a kernel without IPv6, or without UDP diag */
	if (e)
		host_err(h, "sock_diag udp%s: %s (the udp_diag module)", family == AF_INET ? "" : "6", strerror(-e));
}

/* TCP sockets of both families in `states`: one pass over the table. */
static void tcp_dump(struct host *h, struct nsctx *ns, struct selection *s, __u32 states)
{
	struct nl_req r;
	struct inet_diag_req *q = nl_req_init(&r, TCPDIAG_GETSOCK, NLM_F_DUMP, sizeof(*q));
	int e;

	q->idiag_family = AF_UNSPEC;
	q->idiag_ext = 1 << (INET_DIAG_SKMEMINFO - 1);
	q->idiag_states = states;
	s->proto = IPPROTO_TCP;
	e = nl_talk(&ns->diag, &r, diag_cb, s);
	if (e)
		host_err(h, "sock_diag tcp: %s (the tcp_diag module)", strerror(-e));
}

/* ---------------------------------------------------------------- exact lookups */

static int exact_cb(const struct nlmsghdr *nh, void *ctx)
{
	return diag_msg(nh, ctx) ? 1 : 0;
}

/* A TCP socket read again by its id (which carries its cookie), with its
 * TCP info; false when it is gone. */
static bool tcp_exact(struct host *h, struct cand *c)
{
	struct nl_req r;
	struct inet_diag_req_v2 *q = nl_req_init(&r, SOCK_DIAG_BY_FAMILY, 0, sizeof(*q));

	q->sdiag_family = c->family;
	q->sdiag_protocol = IPPROTO_TCP;
	q->idiag_ext = (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_SKMEMINFO - 1));
	q->idiag_states = 0xffffffffu;
	q->id = c->id;
	c->have_ti = false;
	return nl_talk(&h->ns[c->ns].diag, &r, exact_cb, c) == 1;
}

/* Between walks: the TCP sockets listed last time (listeners come from
 * their own dump), read again. */
static void tcp_refresh(struct host *h, struct selection *s)
{
	struct cand *k = h->kept;

	for (int i = 0; i < h->nkept; i++) {
		struct cand c = k[i];

		if (c.ns < h->nns && tcp_exact(h, &c) && c.state != TCP_LISTEN_STATE)
			consider(s, &c);
	}
}

/* The listed TCP sockets to read again until the next walk. */
static void tcp_keep(struct host *h, struct cand **list, int n)
{
	struct cand *k = realloc(h->kept, (n ? n : 1) * sizeof(*k));

	if (!k)
		abort();
	h->kept = k;
	h->nkept = 0;
	for (int i = 0; i < n; i++)
		if (list[i]->proto == IPPROTO_TCP && list[i]->state != TCP_LISTEN_STATE)
			k[h->nkept++] = *list[i];
}

/* Every namespace's sockets into the selection; the TCP table is walked
 * when it is due (then the next walk is set from what this one cost). */
static void dump_all(struct host *h, struct selection *s)
{
	bool walk = h->samples >= h->tcp_next;
	__u64 cost = 0;

	for (int i = 0; i < h->nns; i++) {
		struct nsctx *ns = &h->ns[i];
		__u64 t;

		if (ns->diag.fd < 0)
			continue;
		s->ns = i;
		udp_dump(h, ns, s, AF_INET);
		udp_dump(h, ns, s, AF_INET6);
		t = host_thread_ns();
		tcp_dump(h, ns, s, walk ? DIAG_STATES : 1u << TCP_LISTEN_STATE);
		cost += host_thread_ns() - t;
	}
	if (walk) {
		__u64 every = (cost + HOST_TCP_WALK_NS - 1) / HOST_TCP_WALK_NS;

		h->tcp_next = h->samples + (every < 1 ? 1 : every > 16 ? 16 : every);
	} else {
		tcp_refresh(h, s);
	}
}

/* ---------------------------------------------------------------- processes */

static struct inoproc *ip_find(struct host *h, __u64 ino)
{
	for (int i = 0; i < h->nip; i++)
		if (h->ip[i].ino == ino)
			return &h->ip[i];
	return NULL;
}

static void ip_add_proc(struct inoproc *e, int pid, int fd)
{
	char p[64];

	for (int i = 0; i < e->n; i++)
		if (e->p[i].pid == pid)
			return;
	if (e->n == (int)(sizeof(e->p) / sizeof(e->p[0])))
		return;
	e->p[e->n].pid = pid;
	e->p[e->n].fd = fd;
	snprintf(p, sizeof(p), "/proc/%d/comm", pid);
	host_line(p, e->p[e->n].comm, sizeof(e->p[0].comm));
	e->n++;
}

/* "socket:[N]" -> N, else 0. */
static __u64 sock_ino(const char *link)
{
	if (strncmp(link, "socket:[", 8))
		return 0;
	return strtoull(link + 8, NULL, 10);
}

/* Is fd `fd` of `pid` still socket `ino`? One readlink. */
static bool holds(int pid, int fd, __u64 ino)
{
	char p[64], link[64];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/%d/fd/%d", pid, fd);
	n = readlink(p, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	return sock_ino(link) == ino;
}

static void ip_check(struct inoproc *e)
{
	for (int i = 0; i < e->n;) {
		if (holds(e->p[i].pid, e->p[i].fd, e->ino)) {
			i++;
			continue;
		}
		e->p[i] = e->p[--e->n];
	}
}

/* The sockets of one process: each fd of /proc/<pid>/fd that is one. */
static int pid_sockets(int pid, struct pidsock *out, int max, int n)
{
	char p[64];
	struct dirent *e;
	DIR *d;

	snprintf(p, sizeof(p), "/proc/%d/fd", pid);
	if (!(d = opendir(p)))
		return n;
	while (n < max && (e = readdir(d))) {
		char link[64];
		ssize_t l = e->d_name[0] == '.' ? -1 : readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		__u64 ino;

		if (l <= 0)
			continue;
		link[l] = 0;
		if ((ino = sock_ino(link)))
			out[n++] = (struct pidsock){ ino, pid, atoi(e->d_name) };
	}
	closedir(d);
	return n;
}

/* One process of the search: its sockets matched against the wanted ones. */
static void scan_pid(struct host *h, int pid)
{
	struct pidsock ps[256];
	int n = pid_sockets(pid, ps, 256, 0);

	for (int i = 0; i < n; i++) {
		struct inoproc *e = ip_find(h, ps[i].ino);

		if (e && e->wanted)
			ip_add_proc(e, pid, ps[i].fd);
	}
}

/* Searches /proc for the holders of wanted sockets nobody is known to
 * hold, within the sample's budget; a pass that reaches the end settles
 * those it covered whole. */
static void search(struct host *h, __u64 t0)
{
	bool need = false;
	struct dirent *d;

	for (int i = 0; i < h->nip; i++)
		if (h->ip[i].wanted && !h->ip[i].n && !h->ip[i].searched)
			need = true;
	if (!need) {
		if (h->scan)
			closedir(h->scan);
		h->scan = NULL;
		return;
	}
	if (!h->scan) {
		if (!(h->scan = opendir("/proc")))
			return;
		h->pass++;
	}
	while (host_thread_ns() - t0 < HOST_SCAN_BUDGET_NS) {
		if (!(d = readdir(h->scan))) {
			closedir(h->scan);
			h->scan = NULL;
			for (int i = 0; i < h->nip; i++)
				if (h->ip[i].wanted && !h->ip[i].n && h->ip[i].need <= h->pass)
					h->ip[i].searched = true;
			return;
		}
		if (d->d_name[0] >= '1' && d->d_name[0] <= '9')
			scan_pid(h, atoi(d->d_name));
	}
}

/* The holders of each listed socket: checked where known, searched for
 * where not. */
static void find_procs(struct host *h, struct cand **list, int n, const struct pidsock *ps, int nps)
{
	__u64 t0 = host_thread_ns();

	for (int i = 0; i < h->nip; i++) {
		h->ip[i].wanted = false;
		h->ip[i].idle++;
	}
	for (int i = 0; i < n; i++) {
		struct inoproc *e = ip_find(h, list[i]->ino);

		if (!list[i]->ino)
			continue;
		if (!e) {
			GROW(h->ip, h->nip, h->capip);
			e = &h->ip[h->nip++];
			memset(e, 0, sizeof(*e));
			e->ino = list[i]->ino;
			e->need = h->pass + 1;
		}
		e->wanted = true;
		e->idle = 0;
		if (e->n) {
			ip_check(e);
			/* its holders are gone: look again, from the next whole pass */
			if (!e->n)
				e->need = h->pass + 1;
		}
		for (int j = 0; j < nps; j++)
			if (ps[j].ino == e->ino)
				ip_add_proc(e, ps[j].pid, ps[j].fd);
	}
	/* sockets not listed for a while are forgotten */
	for (int i = 0; i < h->nip;) {
		if (h->ip[i].idle < 30) {
			i++;
			continue;
		}
		h->ip[i] = h->ip[--h->nip];
	}
	search(h, t0);
}

/* ---------------------------------------------------------------- output */

static void addr(int family, const __be32 *a, __be16 port, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "*", pt[8] = "*";
	bool any = family == AF_INET ? !a[0] : !(a[0] | a[1] | a[2] | a[3]);

	if (!any)
		inet_ntop(family, a, ip, sizeof(ip));
	if (port)
		snprintf(pt, sizeof(pt), "%u", ntohs(port));
	if (family == AF_INET6 && !any)
		snprintf(buf, n, "[%s]:%s", ip, pt);
	else
		snprintf(buf, n, "%s:%s", ip, pt);
}

static json_object *tcp_json(const struct tcp_info *t)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "rtt_us", json_object_new_int64(t->tcpi_rtt));
	json_object_object_add(o, "rttvar_us", json_object_new_int64(t->tcpi_rttvar));
	json_object_object_add(o, "retrans", json_object_new_int64(t->tcpi_total_retrans));
	json_object_object_add(o, "cwnd", json_object_new_int64(t->tcpi_snd_cwnd));
	json_object_object_add(o, "unacked", json_object_new_int64(t->tcpi_unacked));
	json_object_object_add(o, "lost", json_object_new_int64(t->tcpi_lost));
	return o;
}

static json_object *sock_json(struct host *h, const struct cand *c)
{
	json_object *o = json_object_new_object(), *procs = json_object_new_array();
	const struct inoproc *e = c->ino ? ip_find(h, c->ino) : NULL;
	char a[INET6_ADDRSTRLEN + 16];

	json_object_object_add(o, "proto", json_object_new_string(c->proto == IPPROTO_TCP ? "tcp" : "udp"));
	json_object_object_add(o, "family", json_object_new_string(c->family == AF_INET ? "ipv4" : "ipv6"));
	json_object_object_add(o, "state", json_object_new_string(
		c->state < sizeof(sstate) / sizeof(sstate[0]) ? sstate[c->state] : "UNKNOWN"));
	addr(c->family, c->id.idiag_src, c->id.idiag_sport, a, sizeof(a));
	json_object_object_add(o, "local", json_object_new_string(a));
	addr(c->family, c->id.idiag_dst, c->id.idiag_dport, a, sizeof(a));
	json_object_object_add(o, "remote", json_object_new_string(a));
	json_object_object_add(o, "recv_q", json_object_new_int64(c->rq));
	json_object_object_add(o, "send_q", json_object_new_int64(c->wq));
	if (c->have_mem) {
		json_object_object_add(o, "rcvbuf", json_object_new_int64(c->mem[SK_MEMINFO_RCVBUF]));
		json_object_object_add(o, "sndbuf", json_object_new_int64(c->mem[SK_MEMINFO_SNDBUF]));
		json_object_object_add(o, "drops", json_object_new_int64(c->mem[SK_MEMINFO_DROPS]));
	}
	json_object_object_add(o, "inode", json_object_new_uint64(c->ino));
	json_object_object_add(o, "uid", json_object_new_int64(c->uid));
	json_object_object_add(o, "netns", json_object_new_uint64(h->ns[c->ns].own ? 0 : h->ns[c->ns].ino));
	for (int i = 0; e && i < e->n; i++) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "pid", json_object_new_int(e->p[i].pid));
		json_object_object_add(p, "comm", json_object_new_string(e->p[i].comm));
		json_object_array_add(procs, p);
	}
	json_object_object_add(o, "procs", procs);
	if (c->have_ti)
		json_object_object_add(o, "tcp", tcp_json(&c->ti));
	if (c->flow)
		json_object_object_add(o, "flow", json_object_new_boolean(true));
	return o;
}

/* The sockets of the pids option (at most this many fds looked at). */
#define PID_FDS_MAX 4096

void sock_collect(struct host *h, json_object *out)
{
	struct selection *s;
	struct pidsock *ps = NULL;
	struct cand *list[HOST_TOP_MAX + HOST_MAX_FLOWS];
	json_object *arr = json_object_new_array();
	int n = 0, nps = 0;

	json_object_object_add(out, "sockets", arr);
	/* kept between samples: a large block freed each time would go back
	 * to the kernel and fault in again */
	if (!h->sel && !(h->sel = malloc(sizeof(*s))))
		abort();
	s = h->sel;
	s->ntop = s->nflows = 0;
	if (h->o.npids) {
		ps = malloc(PID_FDS_MAX * sizeof(*ps));
		for (int i = 0; i < h->o.npids; i++)
			nps = pid_sockets(h->o.pids[i], ps, PID_FDS_MAX, nps);
	}
	s->h = h;
	s->ps = ps;
	s->nps = nps;
	dump_all(h, s);
	for (int i = 0; i < s->ntop; i++)
		list[n++] = &s->top[i];
	for (int i = 0; i < s->nflows; i++)
		list[n++] = &s->flows[i];
	find_procs(h, list, n, ps, nps);
	for (int i = 0; i < n; i++) {
		if (list[i]->proto == IPPROTO_TCP && !list[i]->have_ti)
			tcp_exact(h, list[i]);	/* gone meanwhile: listed without TCP info */
		json_object_array_add(arr, sock_json(h, list[i]));
	}
	tcp_keep(h, list, n);
	free(ps);
}

void sock_forget(struct host *h)
{
	h->nkept = 0;
	h->tcp_next = h->samples;
}

void sock_free(struct host *h)
{
	if (h->scan)
		closedir(h->scan);
	h->scan = NULL;
	free(h->ip);
	h->ip = NULL;
	h->nip = h->capip = 0;
	free(h->kept);
	h->kept = NULL;
	h->nkept = 0;
	free(h->sel);
	h->sel = NULL;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Host counters from procfs: per CPU (/proc/stat, /proc/softirqs,
 * /proc/net/softnet_stat), per IRQ line (/proc/interrupts, /proc/irq/N and
 * /sys/kernel/irq/N), and the protocol counters (/proc/net/snmp, netstat,
 * snmp6). Counters the kernel keeps as 32-bit values (softirqs, softnet,
 * interrupts) wrap: their deltas are taken modulo 2^32.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "hostint.h"

static const char *const softirq_vec[SOFTIRQ_NVEC] = {
	"HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
};
/* /proc/stat's columns in its order (user nice system idle iowait irq
 * softirq steal), and where each goes in the protocol's time_ns. */
static const char *const cputime_names[CPUTIME_N] = {
	"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
};
static const char *const softnet_names[SOFTNET_N] = {
	"processed", "dropped", "time_squeeze", "received_rps", "flow_limit",
};

static bool read_or_say(struct host *h, const char *path)
{
	long r = host_slurp(h, path);

	if (r < 0)
		host_err(h, "%s: %s", path, strerror((int)-r));
	return r >= 0;
}

static char *next_line(char **p)
{
	char *s = *p, *nl;

	if (!s || !*s)
		return NULL;
	nl = strchr(s, '\n');
	if (nl) {
		*nl = 0;
		*p = nl + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

/* ---------------------------------------------------------------- CPUs */

static struct cpust *cpu_at(struct host *h, int id)
{
	if (id < 0 || id > 65535)
		return NULL;
	if (id >= h->ncpu) {
		int n = id + 1;
		struct cpust *c = realloc(h->cpu, n * sizeof(*c));

		if (!c)
			abort();
		memset(c + h->ncpu, 0, (n - h->ncpu) * sizeof(*c));
		h->cpu = c;
		h->ncpu = n;
	}
	return &h->cpu[id];
}

/* "cpuN user nice system idle iowait irq softirq steal ..." lines. */
static void read_stat(struct host *h)
{
	char *p = h->fb.p, *l;

	while ((l = next_line(&p))) {
		unsigned long long v[CPUTIME_N] = { 0 };
		struct cpust *c;
		int id, n;

		if (strncmp(l, "cpu", 3) || !isdigit((unsigned char)l[3]))
			continue;
		n = sscanf(l + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &id, &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7]);
		if (n < 5 || !(c = cpu_at(h, id)))
			continue;
		c->online = true;
		for (int i = 0; i < CPUTIME_N; i++) {
			/* idle and iowait may step back (NO_HZ accounting): no time */
			c->dt[i] = c->have_t && v[i] > c->t[i] ? v[i] - c->t[i] : 0;
			c->t[i] = v[i];
		}
		c->have_t = true;
	}
}

/* A header of "CPU<n>" columns: the CPU id of each (at most `max`). */
static int cpu_columns(const char *l, int *ids, int max)
{
	int n = 0;

	while (n < max && (l = strstr(l, "CPU"))) {
		ids[n++] = atoi(l + 3);
		l += 3;
	}
	return n;
}

/* /proc/softirqs: a row per vector, a column per possible CPU. */
static void read_softirqs(struct host *h)
{
	char *p = h->fb.p, *l = next_line(&p);
	int ids[4096], ncol;

	if (!l)
		return;
	ncol = cpu_columns(l, ids, 4096);
	while ((l = next_line(&p))) {
		char *colon = strchr(l, ':'), *s;
		int vec = -1;

		if (!colon)
			continue;
		*colon = 0;
		while (*l == ' ')
			l++;
		for (int i = 0; i < SOFTIRQ_NVEC; i++)
			if (!strcmp(l, softirq_vec[i]))
				vec = i;
		if (vec < 0)
			continue;
		s = colon + 1;
		for (int c = 0; c < ncol; c++) {
			struct cpust *cs = cpu_at(h, ids[c]);
			__u32 v = (__u32)strtoul(s, &s, 10);

			if (!cs)
				continue;
			cs->dsi[vec] = cs->have_si ? v - cs->si[vec] : 0;
			cs->si[vec] = v;
		}
	}
	for (int i = 0; i < h->ncpu; i++)
		h->cpu[i].have_si = true;
}

/* /proc/net/softnet_stat: a row per online CPU, hex columns. The first
 * eleven are the same since 2.6 (processed, dropped, time_squeeze, five
 * unused, cpu_collision, received_rps, flow_limit); 5.10 added the backlog
 * length and the CPU id (column 13), 6.10 the two queue lengths. Without
 * the id, rows are the online CPUs in order. */
static void read_softnet(struct host *h)
{
	static const int col[SOFTNET_N] = { 0, 1, 2, 9, 10 };
	char *p = h->fb.p, *l;
	int row = 0;

	while ((l = next_line(&p))) {
		__u32 v[16] = { 0 };
		int n = 0, id = -1;
		struct cpust *c;
		char *s = l, *e;

		while (n < 16) {
			unsigned long x = strtoul(s, &e, 16);

			if (e == s)
				break;
			v[n++] = (__u32)x;
			s = e;
		}
		if (n < 3)
			continue;
		if (n >= 13) {
			id = (int)v[12];
		} else {
			for (int i = 0, k = 0; i < h->ncpu && id < 0; i++)
				if (h->cpu[i].online && k++ == row)
					id = i;
		}
		row++;
		if (!(c = cpu_at(h, id)))
			continue;
		for (int i = 0; i < SOFTNET_N; i++) {
			__u32 x = col[i] < n ? v[col[i]] : 0;

			c->dsn[i] = c->have_sn ? x - c->sn[i] : 0;
			c->sn[i] = x;
		}
		c->have_sn = true;
	}
}

static json_object *cpu_json(struct host *h, int id, const struct cpust *c)
{
	json_object *o = json_object_new_object(), *sn = json_object_new_object(),
		    *t = json_object_new_object(), *si = json_object_new_array_ext(SOFTIRQ_NVEC);
	/* the protocol's order: user nice system irq softirq iowait idle steal */
	static const int order[CPUTIME_N] = { 0, 1, 2, 5, 6, 4, 3, 7 };

	json_object_object_add(o, "cpu", json_object_new_int(id));
	for (int i = 0; i < SOFTNET_N; i++)
		json_object_object_add(sn, softnet_names[i], json_object_new_int64(c->dsn[i]));
	for (int i = 0; i < CPUTIME_N; i++)
		json_object_object_add(t, cputime_names[order[i]],
				       json_object_new_uint64(c->dt[order[i]] * (1000000000ull / h->hz)));
	for (int i = 0; i < SOFTIRQ_NVEC; i++)
		json_object_array_add(si, json_object_new_int64(c->dsi[i]));
	json_object_object_add(o, "softnet", sn);
	json_object_object_add(o, "time_ns", t);
	json_object_object_add(o, "softirqs", si);
	return o;
}

void proc_cpus(struct host *h, json_object *out)
{
	json_object *arr;

	for (int i = 0; i < h->ncpu; i++) {
		struct cpust *c = &h->cpu[i];

		c->online = false;
		memset(c->dt, 0, sizeof(c->dt));
		memset(c->dsi, 0, sizeof(c->dsi));
		memset(c->dsn, 0, sizeof(c->dsn));
	}
	if (read_or_say(h, "/proc/stat"))
		read_stat(h);
	if (read_or_say(h, "/proc/softirqs"))
		read_softirqs(h);
	if (read_or_say(h, "/proc/net/softnet_stat"))
		read_softnet(h);
	if (!out)
		return;
	arr = json_object_new_array();
	for (int i = 0; i < h->ncpu; i++)
		if (h->cpu[i].online)
			json_object_array_add(arr, cpu_json(h, i, &h->cpu[i]));
	json_object_object_add(out, "cpus", arr);
}

/* ---------------------------------------------------------------- IRQ lines */

/* The interface of bus device `dev`: found in a link dump (its parent
 * device), else under /sys/bus/<bus>/devices/<dev>/net. False when the
 * device has neither (not a NIC: a disk, a balloon, vsock...). */
static bool nic_of(struct host *h, const char *bus, const char *dev, char *ifname)
{
	const char *ifn = net_iface_of_device(h, dev);
	char path[160];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/bus/%s/devices/%s/net", bus, dev);
	d = opendir(path);
	if (!ifn && !d)
		return false;
	snprintf(ifname, IFNAMSIZ, "%s", ifn ? ifn : "");
	while (d && !ifname[0] && (e = readdir(d)))
		if (e->d_name[0] != '.')
			snprintf(ifname, IFNAMSIZ, "%.15s", e->d_name);
	if (d)
		closedir(d);
	return true;
}

/* The NIC queue behind an action name: "virtio0-input.0" (a virtio NIC),
 * "mlx5_comp3@pci:0000:08:00.0" (a PCI device with a net interface),
 * "eth0-TxRx-3" or "i40e-eth0-TxRx-0" (an interface's name in it). */
static bool queue_virtio(struct host *h, struct irqst *q, const char *a)
{
	const char *dash = strchr(a, '-');
	char dev[64];

	/* virtioN-config signals configuration changes: not a queue */
	if (strncmp(a, "virtio", 6) || !dash || dash == a + 6 || (size_t)(dash - a) >= sizeof(dev) ||
	    !strcmp(dash + 1, "config"))
		return false;
	snprintf(dev, sizeof(dev), "%.*s", (int)(dash - a), a);
	if (!nic_of(h, "virtio", dev, q->qif))
		return false;
	snprintf(q->qdev, sizeof(q->qdev), "%s", dev);
	snprintf(q->qname, sizeof(q->qname), "%s", dash + 1);
	return true;
}

static bool queue_pci(struct host *h, struct irqst *q, const char *a)
{
	const char *at = strstr(a, "@pci:");

	if (!at || at == a || !nic_of(h, "pci", at + 5, q->qif))
		return false;
	snprintf(q->qdev, sizeof(q->qdev), "%s", at + 5);
	snprintf(q->qname, sizeof(q->qname), "%.*s", (int)(at - a), a);
	return true;
}

static bool queue_ifname(struct host *h, struct irqst *q, const char *a)
{
	size_t n = strlen(a);

	for (size_t s = 0; s < n; s = s + strcspn(a + s, "-") + 1) {
		for (size_t e = s + 1; e < n; e++) {
			char name[IFNAMSIZ];

			if (a[e] != '-' || e - s >= IFNAMSIZ || !a[e + 1])
				continue;
			snprintf(name, sizeof(name), "%.*s", (int)(e - s), a + s);
			if (!net_is_iface(h, name))
				continue;
			snprintf(q->qdev, sizeof(q->qdev), "%s", name);
			snprintf(q->qif, sizeof(q->qif), "%s", name);
			snprintf(q->qname, sizeof(q->qname), "%s", a + e + 1);
			return true;
		}
	}
	return false;
}

static void irq_queue(struct host *h, struct irqst *q)
{
	char first[128];

	q->qdev[0] = q->qname[0] = q->qif[0] = 0;
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(q->name, ","), q->name);
	if (!queue_virtio(h, q, first) && !queue_pci(h, q, first) && !queue_ifname(h, q, first))
		q->qdev[0] = q->qname[0] = q->qif[0] = 0;
}

/* true when it changed */
static bool set_str(char **dst, const char *s)
{
	if (*dst && !strcmp(*dst, s))
		return false;
	free(*dst);
	*dst = strdup(s);
	return true;
}

/* The line's actions (", " between them, as /proc/interrupts shows them)
 * and affinities; a change is to be sent. */
static void irq_config(struct host *h, struct irqst *q, const char *tail)
{
	char p[64], buf[512];
	bool changed;
	size_t n = 0;

	snprintf(p, sizeof(p), "/sys/kernel/irq/%d/actions", q->irq);
	if (host_line(p, buf, sizeof(buf))) {
		char joined[600];

		for (char *c = buf; *c && n < sizeof(joined) - 3; c++) {
			if (*c == ',') {
				joined[n++] = ',';
				joined[n++] = ' ';
			} else {
				joined[n++] = *c;
			}
		}
		joined[n] = 0;
		changed = set_str(&q->name, joined);
	} else {
		changed = set_str(&q->name, tail);
	}
	if (changed)
		irq_queue(h, q);
	snprintf(p, sizeof(p), "/proc/irq/%d/smp_affinity_list", q->irq);
	host_line(p, buf, sizeof(buf));
	changed |= set_str(&q->aff, buf);
	snprintf(p, sizeof(p), "/proc/irq/%d/effective_affinity_list", q->irq);
	host_line(p, buf, sizeof(buf));
	changed |= set_str(&q->eff, buf);
	if (changed)
		q->sent = false;
}

static json_object *irq_json(const struct irqst *q, const __u32 *d, int ncpu, bool cfg)
{
	json_object *o = json_object_new_object(), *c = json_object_new_array_ext(ncpu);

	json_object_object_add(o, "irq", json_object_new_int(q->irq));
	json_object_object_add(o, "name", json_object_new_string(q->name ? q->name : ""));
	if (q->qdev[0]) {
		json_object *x = json_object_new_object();

		if (q->qif[0])
			json_object_object_add(x, "iface", json_object_new_string(q->qif));
		json_object_object_add(x, "device", json_object_new_string(q->qdev));
		json_object_object_add(x, "queue", json_object_new_string(q->qname));
		json_object_object_add(o, "queue", x);
	}
	for (int i = 0; i < ncpu; i++)
		json_object_array_add(c, json_object_new_int64(d[i]));
	json_object_object_add(o, "counts", c);
	if (cfg) {
		if (q->aff && q->aff[0])
			json_object_object_add(o, "affinity", json_object_new_string(q->aff));
		if (q->eff && q->eff[0])
			json_object_object_add(o, "effective_affinity", json_object_new_string(q->eff));
	}
	return o;
}

static struct irqst *irq_slot(struct host *h, int *j, int irq)
{
	while (*j < h->nirq && h->irq[*j].irq < irq)
		(*j)++;
	if (*j < h->nirq && h->irq[*j].irq == irq)
		return &h->irq[*j];
	GROW(h->irq, h->nirq, h->capirq);
	memmove(&h->irq[*j + 1], &h->irq[*j], (h->nirq - *j) * sizeof(*h->irq));
	memset(&h->irq[*j], 0, sizeof(*h->irq));
	h->irq[*j].irq = irq;
	h->irq[*j].cfg_due = true;
	h->nirq++;
	return &h->irq[*j];
}

static void irq_free(struct irqst *q)
{
	free(q->prev);
	free(q->name);
	free(q->aff);
	free(q->eff);
}

/* One numbered line: its counts into q (deltas into d, per CPU id). */
static bool irq_counts(struct irqst *q, char *s, const int *ids, int ncol, __u32 *d, int ncpu)
{
	bool fired = false;

	if (q->nprev < ncpu) {
		q->prev = realloc(q->prev, ncpu * sizeof(*q->prev));
		if (!q->prev)
			abort();
		memset(q->prev + q->nprev, 0, (ncpu - q->nprev) * sizeof(*q->prev));
		q->nprev = ncpu;
	}
	memset(d, 0, ncpu * sizeof(*d));
	for (int c = 0; c < ncol; c++) {
		char *e;
		__u32 v = (__u32)strtoul(s, &e, 10);

		if (e == s)
			break;
		s = e;
		if (ids[c] < 0 || ids[c] >= ncpu)
			continue;
		/* a line requested since the last sample starts from 0 */
		d[ids[c]] = v - q->prev[ids[c]];
		q->prev[ids[c]] = v;
		fired |= d[ids[c]] != 0;
	}
	return fired;
}

/* What /proc/interrupts shows after the counts: chip, hardware IRQ, then
 * the actions after two spaces. Only used where /sys/kernel/irq is absent. */
static const char *irq_tail(const char *s)
{
	const char *t = strstr(s, "  "), *last = NULL;

	while (t) {
		while (*t == ' ')
			t++;
		if (*t)
			last = t;
		t = strstr(t, "  ");
	}
	return last ? last : "";
}

static void irq_rotate(struct host *h)
{
	int k = host_pace(&h->irq_credit, h->nirq, HOST_CFG_IRQS);

	for (int i = 0; i < k && i < h->nirq; i++) {
		h->irq_rot %= h->nirq;
		h->irq[h->irq_rot++].cfg_due = true;
	}
}

void proc_irqs(struct host *h, json_object *out)
{
	char *p, *l;
	int ids[4096], ncol, ncpu = 0, j = 0;
	json_object *arr = out ? json_object_new_array() : NULL;
	__u32 *d;

	if (out)
		json_object_object_add(out, "irqs", arr);
	if (!read_or_say(h, "/proc/interrupts"))
		return;
	p = h->fb.p;
	if (!(l = next_line(&p)))
		return;
	ncol = cpu_columns(l, ids, 4096);
	for (int c = 0; c < ncol; c++)
		if (ids[c] + 1 > ncpu)
			ncpu = ids[c] + 1;
	d = calloc(ncpu ? ncpu : 1, sizeof(*d));
	irq_rotate(h);
	for (int i = 0; i < h->nirq; i++)
		h->irq[i].seen = false;
	while ((l = next_line(&p))) {
		char *s = l, *e;
		long irq;
		struct irqst *q;
		bool fired;

		while (*s == ' ')
			s++;
		irq = strtol(s, &e, 10);
		if (e == s || *e != ':' || irq < 0 || irq > 0x7fffffff)
			continue;	/* NMI:, LOC:, ...: not numbered lines */
		q = irq_slot(h, &j, (int)irq);
		q->seen = true;
		fired = irq_counts(q, e + 1, ids, ncol, d, ncpu);
		if (q->cfg_due) {
			char *t = e + 1;

			for (int c = 0; c < ncol; c++)
				strtoul(t, &t, 10);
			irq_config(h, q, irq_tail(t));
			q->cfg_due = false;
		}
		if (arr && (fired || !q->sent)) {
			json_object_array_add(arr, irq_json(q, d, ncpu, !q->sent));
			q->sent = true;
		}
	}
	free(d);
	for (int i = 0; i < h->nirq;) {
		if (h->irq[i].seen) {
			i++;
			continue;
		}
		irq_free(&h->irq[i]);
		memmove(&h->irq[i], &h->irq[i + 1], (h->nirq - i - 1) * sizeof(*h->irq));
		h->nirq--;
	}
}

/* ---------------------------------------------------------------- protocol counters */

/* Values that are not counters: left out. */
static bool snmp_gauge(const char *name)
{
	static const char *const g[] = {
		"Ip.Forwarding", "Ip.DefaultTTL", "Tcp.RtoAlgorithm", "Tcp.RtoMin", "Tcp.RtoMax",
		"Tcp.MaxConn", "Tcp.CurrEstab",
	};

	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
		if (!strcmp(name, g[i]))
			return true;
	return false;
}

/* The counter `name` at position *k of the files' order (found there in
 * the common case, else looked up, else added with 0: a counter that
 * appears, e.g. with a module, counted from 0). */
static struct snmpv *snmp_slot(struct host *h, int *k, const char *name)
{
	int i = *k;

	if (i >= h->nsnmp || strcmp(h->snmp[i].name, name)) {
		for (i = 0; i < h->nsnmp && strcmp(h->snmp[i].name, name); i++)
			;
		if (i == h->nsnmp) {
			GROW(h->snmp, h->nsnmp, h->capsnmp);
			h->snmp[i].name = strdup(name);
			h->nsnmp++;
		}
	}
	*k = i + 1;
	return &h->snmp[i];
}

static void snmp_value(struct host *h, int *k, const char *name, __u64 v, json_object *o)
{
	struct snmpv *s = snmp_slot(h, k, name);
	__u64 d = delta64(v, s->v);

	s->v = v;
	if (o && d && !snmp_gauge(name))
		json_object_object_add(o, name, json_object_new_uint64(d));
}

/* /proc/net/snmp and /proc/net/netstat: "Group: names" then "Group: values". */
static void snmp_pairs(struct host *h, int *k, json_object *o)
{
	char *p = h->fb.p, *names, *vals;

	while ((names = next_line(&p)) && (vals = next_line(&p))) {
		char *gn = strchr(names, ':'), *gv = strchr(vals, ':'), *sn, *sv, *tn, *tv;
		char name[128];
		size_t g;

		if (!gn || !gv || gn - names != gv - vals || gn - names > 64 || strncmp(names, vals, gn - names))
			continue;
		g = gn - names;
		memcpy(name, names, g);
		name[g++] = '.';
		tn = strtok_r(gn + 1, " ", &sn);
		tv = strtok_r(gv + 1, " ", &sv);
		for (; tn && tv; tn = strtok_r(NULL, " ", &sn), tv = strtok_r(NULL, " ", &sv)) {
			size_t l = strlen(tn);

			if (g + l >= sizeof(name))
				continue;
			memcpy(name + g, tn, l + 1);
			snmp_value(h, k, name, (__u64)strtoll(tv, NULL, 10), o);
		}
	}
}

/* /proc/net/snmp6: "Ip6InReceives  123" lines. */
static void snmp6_lines(struct host *h, int *k, json_object *o)
{
	static const char *const groups[] = { "UdpLite6", "Icmp6", "Udp6", "Ip6" };
	char *p = h->fb.p, *l;

	while ((l = next_line(&p))) {
		char key[96], name[128];
		unsigned long long v;

		if (sscanf(l, "%95s %llu", key, &v) != 2)
			continue;
		for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
			size_t n = strlen(groups[i]);

			if (!strncmp(key, groups[i], n) && key[n]) {
				snprintf(name, sizeof(name), "%s.%s", groups[i], key + n);
				snmp_value(h, k, name, v, o);
				break;
			}
		}
	}
}

void proc_snmp(struct host *h, json_object *out)
{
	json_object *o = out ? json_object_new_object() : NULL;
	int k = 0;

	if (read_or_say(h, "/proc/net/snmp"))
		snmp_pairs(h, &k, o);
	if (read_or_say(h, "/proc/net/netstat"))
		snmp_pairs(h, &k, o);
	if (read_or_say(h, "/proc/net/snmp6"))
		snmp6_lines(h, &k, o);
	if (out)
		json_object_object_add(out, "snmp", o);
}

void proc_free(struct host *h)
{
	for (int i = 0; i < h->nirq; i++)
		irq_free(&h->irq[i]);
	free(h->irq);
	for (int i = 0; i < h->nsnmp; i++)
		free(h->snmp[i].name);
	free(h->snmp);
	free(h->cpu);
}

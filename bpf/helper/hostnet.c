// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Interfaces of one network namespace: their statistics from an rtnetlink
 * stats dump (IFLA_STATS_LINK_64, what /sys/class/net/<dev>/statistics
 * shows), names and link configuration from a link dump when a link
 * notification says something changed, their qdiscs from a qdisc dump
 * (TCA_STATS2, as `tc -s qdisc`), the driver's counters, rings and speed by
 * SIOCETHTOOL (`ethtool -S`, `-g`, `-i`), interrupt coalescing by ethtool
 * generic netlink (`ethtool -c`: it says which parameters the driver
 * supports), and RPS/XPS masks from sysfs where /sys shows the namespace.
 * Every socket used here was opened inside the namespace it reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/gen_stats.h>
#include <linux/sockios.h>
#include "hostint.h"

/* /sys/class/net/<dev>/statistics names, in struct rtnl_link_stats64 order. */
static const char *const if_stat_names[IF_NSTATS] = {
	"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors", "rx_dropped",
	"tx_dropped", "multicast", "collisions", "rx_length_errors", "rx_over_errors", "rx_crc_errors",
	"rx_frame_errors", "rx_fifo_errors", "rx_missed_errors", "tx_aborted_errors",
	"tx_carrier_errors", "tx_fifo_errors", "tx_heartbeat_errors", "tx_window_errors",
	"rx_compressed", "tx_compressed", "rx_nohandler",
};

/* IF_OPER_* as /sys/class/net/<dev>/operstate spells them. */
static const char *const operstates[] = {
	"unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up",
};

/* ethtool operations, by what the ethtool command calls them. */
enum eop { EOP_DRVINFO, EOP_STATS, EOP_SPEED, EOP_RINGS, EOP_COALESCE };
static const char *const eop_names[] = { "ethtool -i", "ethtool -S", "ethtool (speed)", "ethtool -g", "ethtool -c" };

/* ethtool -c names of ETHTOOL_A_COALESCE_* (26-28: tx-aggr, kernel 6.3+). */
static const char *const coalesce_names[] = {
	[ETHTOOL_A_COALESCE_RX_USECS] = "rx-usecs",
	[ETHTOOL_A_COALESCE_RX_MAX_FRAMES] = "rx-frames",
	[ETHTOOL_A_COALESCE_RX_USECS_IRQ] = "rx-usecs-irq",
	[ETHTOOL_A_COALESCE_RX_MAX_FRAMES_IRQ] = "rx-frames-irq",
	[ETHTOOL_A_COALESCE_TX_USECS] = "tx-usecs",
	[ETHTOOL_A_COALESCE_TX_MAX_FRAMES] = "tx-frames",
	[ETHTOOL_A_COALESCE_TX_USECS_IRQ] = "tx-usecs-irq",
	[ETHTOOL_A_COALESCE_TX_MAX_FRAMES_IRQ] = "tx-frames-irq",
	[ETHTOOL_A_COALESCE_STATS_BLOCK_USECS] = "stats-block-usecs",
	[ETHTOOL_A_COALESCE_USE_ADAPTIVE_RX] = "adaptive-rx",
	[ETHTOOL_A_COALESCE_USE_ADAPTIVE_TX] = "adaptive-tx",
	[ETHTOOL_A_COALESCE_PKT_RATE_LOW] = "pkt-rate-low",
	[ETHTOOL_A_COALESCE_RX_USECS_LOW] = "rx-usecs-low",
	[ETHTOOL_A_COALESCE_RX_MAX_FRAMES_LOW] = "rx-frames-low",
	[ETHTOOL_A_COALESCE_TX_USECS_LOW] = "tx-usecs-low",
	[ETHTOOL_A_COALESCE_TX_MAX_FRAMES_LOW] = "tx-frames-low",
	[ETHTOOL_A_COALESCE_PKT_RATE_HIGH] = "pkt-rate-high",
	[ETHTOOL_A_COALESCE_RX_USECS_HIGH] = "rx-usecs-high",
	[ETHTOOL_A_COALESCE_RX_MAX_FRAMES_HIGH] = "rx-frames-high",
	[ETHTOOL_A_COALESCE_TX_USECS_HIGH] = "tx-usecs-high",
	[ETHTOOL_A_COALESCE_TX_MAX_FRAMES_HIGH] = "tx-frames-high",
	[ETHTOOL_A_COALESCE_RATE_SAMPLE_INTERVAL] = "sample-interval",
	[ETHTOOL_A_COALESCE_USE_CQE_MODE_TX] = "cqe-mode-tx",
	[ETHTOOL_A_COALESCE_USE_CQE_MODE_RX] = "cqe-mode-rx",
	[26] = "tx-aggr-max-bytes",
	[27] = "tx-aggr-max-frames",
	[28] = "tx-aggr-time-usecs",
};
#define COALESCE_MAX ((int)(sizeof(coalesce_names) / sizeof(coalesce_names[0])) - 1)

/* This sample's interface objects, by ifindex, for the qdiscs to join. */
struct ifout {
	int ifindex;
	json_object *o;
};

struct dumpctx {
	struct nsctx *ns;
	bool out;		/* false: a baseline */
	struct ifout *io;
	int nio;
};

/* ---------------------------------------------------------------- ethtool */

static void eop_failed(struct host *h, struct ifst *s, enum eop op, int e)
{
	/* a device that lacks the operation lacks it for good: stop asking */
	if (e == EOPNOTSUPP || e == EINVAL || e == ENODEV)
		s->unsup |= 1u << op;
	if (s->driver[0])
		host_err(h, "%s: %s (driver %s)", eop_names[op], strerror(e), s->driver);
	else
		host_err(h, "%s %s: %s", eop_names[op], s->name, strerror(e));
}

static int ethtool(struct nsctx *ns, const char *name, void *cmd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = cmd;
	return ioctl(ns->genl.fd, SIOCETHTOOL, &ifr) ? errno : 0;
}

/* How many counters the driver has now (-1: it does not say). */
static int eth_count(struct nsctx *ns, const char *name)
{
	struct {
		struct ethtool_sset_info hdr;
		__u32 count;
	} ss = { .hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ull << ETH_SS_STATS } };

	if (ethtool(ns, name, &ss) || !(ss.hdr.sset_mask & (1ull << ETH_SS_STATS)))
		return -1;
	return (int)ss.count;
}

/* Driver name and its counters' names (once per device, and again when
 * their number changes). */
static void eth_probe(struct host *h, struct nsctx *ns, struct ifst *s)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ethtool_gstrings *gs;
	char *old = s->snames;
	__u64 *oldv = s->sprev;
	int oldn = s->nstats, e, n;

	s->probed = true;
	s->snames = NULL;
	s->sprev = NULL;
	s->nstats = 0;
	if ((e = ethtool(ns, s->name, &di))) {
		eop_failed(h, s, EOP_DRVINFO, e);
		goto out;
	}
	snprintf(s->driver, sizeof(s->driver), "%s", di.driver);
	n = eth_count(ns, s->name);
	if (n < 0)
		n = di.n_stats;
	if (n <= 0 || n > 65536)
		goto out;
	gs = calloc(1, sizeof(*gs) + (size_t)n * ETH_GSTRING_LEN);
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_STATS;
	gs->len = n;
	if ((e = ethtool(ns, s->name, gs)) || gs->len != (__u32)n) {
		eop_failed(h, s, EOP_STATS, e ? e : EAGAIN);
		free(gs);
		goto out;
	}
	s->snames = malloc((size_t)n * ETH_GSTRING_LEN);
	memcpy(s->snames, gs->data, (size_t)n * ETH_GSTRING_LEN);
	for (int i = 0; i < n; i++)
		s->snames[(size_t)i * ETH_GSTRING_LEN + ETH_GSTRING_LEN - 1] = 0;
	s->sprev = calloc(n, sizeof(*s->sprev));
	s->nstats = n;
	free(gs);
	/* counters the driver had before go on from their last values */
	for (int i = 0; i < n && old; i++)
		for (int j = 0; j < oldn; j++)
			if (!strcmp(s->snames + (size_t)i * ETH_GSTRING_LEN, old + (size_t)j * ETH_GSTRING_LEN))
				s->sprev[i] = oldv[j];
out:
	if (!s->nstats)
		s->have_s = false;
	free(old);
	free(oldv);
}

/* `ethtool -S` as deltas (those that moved) into o. The kernel writes as
 * many values as the driver has when it answers (a queue count changed
 * meanwhile changes that): the count is asked first, new names read when
 * it changed, and the buffer has room besides. */
static void eth_stats(struct host *h, struct nsctx *ns, struct ifst *s, json_object *o)
{
	size_t room;
	struct ethtool_stats *st;
	json_object *d = NULL;
	int e;

	if (!s->nstats || (s->unsup & (1u << EOP_STATS)))
		return;
	if ((e = eth_count(ns, s->name)) >= 0 && e != s->nstats) {
		eth_probe(h, ns, s);
		if (!s->nstats)
			return;
	}
	room = (size_t)s->nstats * 2 + 256;
	if (h->nscratch < sizeof(*st) / sizeof(__u64) + room) {
		h->nscratch = sizeof(*st) / sizeof(__u64) + room;
		free(h->scratch);
		if (!(h->scratch = malloc(h->nscratch * sizeof(__u64))))
			abort();
	}
	st = (struct ethtool_stats *)h->scratch;
	/* zeroed, data too: what the kernel writes there is not seen as written by every checker */
	memset(st, 0, sizeof(*st) + (size_t)s->nstats * sizeof(__u64));
	st->cmd = ETHTOOL_GSTATS;
	st->n_stats = s->nstats;
	if ((e = ethtool(ns, s->name, st))) {
		eop_failed(h, s, EOP_STATS, e);
		return;
	}
	if (st->n_stats != (__u32)s->nstats) {
		s->probed = false;
		return;
	}
	for (int i = 0; i < s->nstats; i++) {
		__u64 v = st->data[i], dv = s->have_s ? delta64(v, s->sprev[i]) : v;

		s->sprev[i] = v;
		if (!o || !dv)
			continue;
		if (!d)
			d = json_object_new_object();
		json_object_object_add(d, s->snames + (size_t)i * ETH_GSTRING_LEN, json_object_new_uint64(dv));
	}
	s->have_s = true;
	if (d)
		json_object_object_add(o, "driver", d);
}

static void eth_speed(struct host *h, struct nsctx *ns, struct ifst *s, json_object *c)
{
	struct ethtool_cmd ec = { .cmd = ETHTOOL_GSET };
	__u32 speed;
	int e;

	if (s->unsup & (1u << EOP_SPEED))
		return;
	if ((e = ethtool(ns, s->name, &ec))) {
		eop_failed(h, s, EOP_SPEED, e);
		return;
	}
	/* ethtool_cmd_speed() shifts an int: not for speed_hi 0xffff (SPEED_UNKNOWN) */
	speed = (__u32)ec.speed_hi << 16 | ec.speed;
	if (speed && speed != (__u32)SPEED_UNKNOWN)
		json_object_object_add(c, "speed_mbps", json_object_new_int64(speed));
}

static void eth_rings(struct host *h, struct nsctx *ns, struct ifst *s, json_object *c)
{
	struct ethtool_ringparam r = { .cmd = ETHTOOL_GRINGPARAM };
	json_object *o;
	int e;

	if (s->unsup & (1u << EOP_RINGS))
		return;
	if ((e = ethtool(ns, s->name, &r))) {
		eop_failed(h, s, EOP_RINGS, e);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "rx", json_object_new_int64(r.rx_pending));
	json_object_object_add(o, "tx", json_object_new_int64(r.tx_pending));
	json_object_object_add(o, "rx_max", json_object_new_int64(r.rx_max_pending));
	json_object_object_add(o, "tx_max", json_object_new_int64(r.tx_max_pending));
	json_object_object_add(c, "rings", o);
}

static int genl_family_cb(const struct nlmsghdr *h, void *ctx)
{
	const struct nlattr *tb[CTRL_ATTR_FAMILY_ID + 1];

	nl_msg_attrs(h, GENL_HDRLEN, tb, CTRL_ATTR_FAMILY_ID);
	if (tb[CTRL_ATTR_FAMILY_ID])
		*(int *)ctx = (__u16)nla_u32(tb[CTRL_ATTR_FAMILY_ID]);
	return 0;
}

/* The ethtool generic netlink family's id in this namespace's socket. */
static int ethtool_family(struct host *h, struct nsctx *ns)
{
	struct nl_req r;
	struct genlmsghdr *g;
	int id = -1, e;

	if (ns->ethtool_family)
		return ns->ethtool_family;
	g = nl_req_init(&r, GENL_ID_CTRL, 0, GENL_HDRLEN);
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	nl_put(&r, CTRL_ATTR_FAMILY_NAME, ETHTOOL_GENL_NAME, sizeof(ETHTOOL_GENL_NAME));
	e = nl_talk(&ns->genl, &r, genl_family_cb, &id);
	if (e || id < 0) {
		host_err(h, "ethtool -c: no ethtool netlink family (%s; kernel 5.6+)", e ? strerror(-e) : "not found");
		id = -1;
	}
	ns->ethtool_family = id;
	return id;
}

static int coalesce_cb(const struct nlmsghdr *h, void *ctx)
{
	const struct nlattr *tb[COALESCE_MAX + 1];
	json_object *o = ctx;

	nl_msg_attrs(h, GENL_HDRLEN, tb, COALESCE_MAX);
	for (int i = 0; i <= COALESCE_MAX; i++) {
		if (!tb[i] || !coalesce_names[i] || (tb[i]->nla_type & NLA_F_NESTED))
			continue;
		json_object_object_add(o, coalesce_names[i], json_object_new_int64(
			nla_len(tb[i]) == 1 ? *(const __u8 *)nla_data(tb[i]) : nla_u32(tb[i])));
	}
	return 0;
}

static void eth_coalesce(struct host *h, struct nsctx *ns, struct ifst *s, json_object *c)
{
	struct nl_req r;
	struct genlmsghdr *g;
	struct nlattr *hdr;
	json_object *o;
	int fam, e;

	if ((s->unsup & (1u << EOP_COALESCE)) || (fam = ethtool_family(h, ns)) < 0)
		return;
	g = nl_req_init(&r, fam, 0, GENL_HDRLEN);
	g->cmd = ETHTOOL_MSG_COALESCE_GET;
	g->version = ETHTOOL_GENL_VERSION;
	hdr = nl_nest_start(&r, ETHTOOL_A_COALESCE_HEADER);
	nl_put_u32(&r, ETHTOOL_A_HEADER_DEV_INDEX, s->ifindex);
	nl_nest_end(&r, hdr);
	o = json_object_new_object();
	e = nl_talk(&ns->genl, &r, coalesce_cb, o);
	if (e) {
		eop_failed(h, s, EOP_COALESCE, -e);
		json_object_put(o);
		return;
	}
	json_object_object_add(c, "coalesce", o);
}

/* ---------------------------------------------------------------- sysfs */

/* Whether /sys/class/net shows this namespace: sysfs shows the namespace
 * of whoever mounted it, which need not be the helper's own. Yes when
 * every interface of the dump is there with its ifindex. */
static int sysfs_shows(struct nsctx *ns)
{
	int n = 0;

	for (int i = 0; i < ns->nifs; i++) {
		char p[64], buf[32];

		snprintf(p, sizeof(p), "/sys/class/net/%s/ifindex", ns->ifs[i].name);
		if (!host_line(p, buf, sizeof(buf)) || atoi(buf) != ns->ifs[i].ifindex)
			return 0;
		n++;
	}
	return n > 0;
}

/* queues/rx-N/rps_cpus or queues/tx-N/xps_cpus of every queue (at most
 * the `n` the device allocated; sysfs has those in use). */
static void queue_masks(struct ifst *s, const char *dir, const char *file, const char *key, __u32 n,
			json_object *c)
{
	json_object *a = NULL;

	for (__u32 q = 0; q < n && q < 4096; q++) {
		char p[128], buf[512];

		snprintf(p, sizeof(p), "/sys/class/net/%s/queues/%s-%d/%s", s->name, dir, q, file);
		if (!host_line(p, buf, sizeof(buf)))
			break;
		if (!a)
			a = json_object_new_array();
		json_object_array_add(a, json_object_new_string(buf));
	}
	if (a)
		json_object_object_add(c, key, a);
}

/* ---------------------------------------------------------------- configuration */

static json_object *if_config(struct host *h, struct nsctx *ns, struct ifst *s)
{
	json_object *c = json_object_new_object();

	if (s->driver[0])
		json_object_object_add(c, "driver", json_object_new_string(s->driver));
	json_object_object_add(c, "operstate", json_object_new_string(
		s->oper < sizeof(operstates) / sizeof(operstates[0]) ? operstates[s->oper] : "unknown"));
	json_object_object_add(c, "mtu", json_object_new_int64(s->mtu));
	eth_speed(h, ns, s, c);
	json_object_object_add(c, "rx_queues", json_object_new_int64(s->nrxq));
	json_object_object_add(c, "tx_queues", json_object_new_int64(s->ntxq));
	eth_rings(h, ns, s, c);
	eth_coalesce(h, ns, s, c);
	if (ns->sysfs < 0)
		ns->sysfs = sysfs_shows(ns);
	if (ns->sysfs) {
		queue_masks(s, "rx", "rps_cpus", "rps", s->nrxq, c);
		queue_masks(s, "tx", "xps_cpus", "xps", s->ntxq, c);
	} else {
		host_err(h, "rps/xps masks: /sys/class/net does not show network namespace %llu",
			 (unsigned long long)ns->ino);
	}
	return c;
}

/* Reads the configuration again when it is due; a change is to be sent. */
static void if_config_read(struct host *h, struct nsctx *ns, struct ifst *s)
{
	json_object *c;

	if (!s->cfg_due)
		return;
	s->cfg_due = false;
	c = if_config(h, ns, s);
	if (s->cfg && !strcmp(json_object_to_json_string_ext(s->cfg, JSON_C_TO_STRING_PLAIN),
			      json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN))) {
		json_object_put(c);
		return;
	}
	json_object_put(s->cfg);
	s->cfg = c;
	s->sent = false;
}

/* ---------------------------------------------------------------- links */

static struct ifst *if_slot(struct nsctx *ns, int ifindex)
{
	for (int i = 0; i < ns->nifs; i++)
		if (ns->ifs[i].ifindex == ifindex)
			return &ns->ifs[i];
	GROW(ns->ifs, ns->nifs, ns->capifs);
	memset(&ns->ifs[ns->nifs], 0, sizeof(ns->ifs[0]));
	ns->ifs[ns->nifs].ifindex = ifindex;
	ns->ifs[ns->nifs].cfg_due = true;
	ns->sysfs = -1;		/* the set of interfaces changed */
	return &ns->ifs[ns->nifs++];
}

static void if_free(struct ifst *s)
{
	free(s->snames);
	free(s->sprev);
	json_object_put(s->cfg);
}

/* What the link dump says about the configuration; a change makes it due. */
static void link_attrs(struct ifst *s, const struct nlattr **tb)
{
	char name[IFNAMSIZ] = "", parent[64] = "";
	__u32 mtu = tb[IFLA_MTU] ? nla_u32(tb[IFLA_MTU]) : 0;
	__u32 rxq = tb[IFLA_NUM_RX_QUEUES] ? nla_u32(tb[IFLA_NUM_RX_QUEUES]) : 0;
	__u32 txq = tb[IFLA_NUM_TX_QUEUES] ? nla_u32(tb[IFLA_NUM_TX_QUEUES]) : 0;
	__u8 oper = tb[IFLA_OPERSTATE] ? *(const __u8 *)nla_data(tb[IFLA_OPERSTATE]) : 0;

	if (tb[IFLA_IFNAME])
		nla_str(tb[IFLA_IFNAME], name, sizeof(name));
	if (tb[IFLA_PARENT_DEV_NAME])
		nla_str(tb[IFLA_PARENT_DEV_NAME], parent, sizeof(parent));
	if (strcmp(name, s->name)) {
		s->probed = false;	/* ioctls go by name */
		s->cfg_due = true;
	}
	if (mtu != s->mtu || rxq != s->nrxq || txq != s->ntxq || oper != s->oper)
		s->cfg_due = true;
	memcpy(s->name, name, sizeof(name));
	memcpy(s->parent, parent, sizeof(parent));
	s->mtu = mtu;
	s->nrxq = rxq;
	s->ntxq = txq;
	s->oper = oper;
}

static void stats_copy(struct ifst *s, const struct nlattr *a)
{
	memset(s->cur, 0, sizeof(s->cur));
	if (a)
		memcpy(s->cur, nla_data(a), nla_len(a) < sizeof(s->cur) ? nla_len(a) : sizeof(s->cur));
	s->seen = true;
}

static int link_cb(const struct nlmsghdr *nh, void *ctx)
{
	struct nsctx *ns = ctx;
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	const struct nlattr *tb[IFLA_MAX + 1];
	struct ifst *s;

	if (nh->nlmsg_type != RTM_NEWLINK || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	nl_msg_attrs(nh, sizeof(*ifi), tb, IFLA_MAX);
	s = if_slot(ns, ifi->ifi_index);
	link_attrs(s, tb);
	stats_copy(s, tb[IFLA_STATS64]);
	return 0;
}

/* A stats dump: 1 when it saw exactly the devices known, else 0 (a link
 * dump must say what they are). */
struct statsctx {
	struct nsctx *ns;
	bool unknown;
};

static int stats_cb(const struct nlmsghdr *nh, void *ctx)
{
	struct statsctx *c = ctx;
	const struct if_stats_msg *m = NLMSG_DATA(nh);
	const struct nlattr *tb[IFLA_STATS_MAX + 1];

	if (nh->nlmsg_type != RTM_NEWSTATS || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return 0;
	nl_msg_attrs(nh, sizeof(*m), tb, IFLA_STATS_MAX);
	for (int i = 0; i < c->ns->nifs; i++) {
		if (c->ns->ifs[i].ifindex == (int)m->ifindex) {
			stats_copy(&c->ns->ifs[i], tb[IFLA_STATS_LINK_64]);
			return 0;
		}
	}
	c->unknown = true;
	return 0;
}

static bool stats_dump(struct host *h, struct nsctx *ns)
{
	struct statsctx c = { .ns = ns };
	struct nl_req r;
	struct if_stats_msg *m = nl_req_init(&r, RTM_GETSTATS, NLM_F_DUMP, sizeof(*m));
	int e;

	m->filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64);
	e = nl_talk(&ns->rt, &r, stats_cb, &c);
	if (e)
		host_err(h, "rtnetlink stats dump: %s", strerror(-e));
	if (e || c.unknown)
		return false;
	for (int i = 0; i < ns->nifs; i++)
		if (!ns->ifs[i].seen)
			return false;
	return true;
}

static void link_dump(struct host *h, struct nsctx *ns)
{
	struct nl_req r;
	struct ifinfomsg *ifi = nl_req_init(&r, RTM_GETLINK, NLM_F_DUMP, sizeof(*ifi));
	int e;

	for (int i = 0; i < ns->nifs; i++)
		ns->ifs[i].seen = false;
	ifi->ifi_family = AF_UNSPEC;
	e = nl_talk(&ns->rt, &r, link_cb, ns);
	if (e) {
		host_err(h, "rtnetlink link dump: %s", strerror(-e));
		/* nothing is known to have gone or moved */
		for (int i = 0; i < ns->nifs; i++) {
			if (!ns->ifs[i].seen) {
				ns->ifs[i].seen = true;
				memcpy(ns->ifs[i].cur, ns->ifs[i].st, sizeof(ns->ifs[i].cur));
			}
		}
		return;
	}
	ns->linked = true;
}

/* Statistics deltas (those that moved); a device without a previous
 * reading appeared in the interval: all it counted is new. */
static json_object *if_stats(struct ifst *s, bool out)
{
	json_object *o = out ? json_object_new_object() : NULL;

	s->moved = false;
	for (int i = 0; i < IF_NSTATS; i++) {
		__u64 d = s->have ? delta64(s->cur[i], s->st[i]) : s->cur[i];

		s->st[i] = s->cur[i];
		s->moved |= d != 0;
		if (o && d)
			json_object_object_add(o, if_stat_names[i], json_object_new_uint64(d));
	}
	s->have = true;
	return o;
}

/* One device's part of the sample (NULL for a baseline); its driver's
 * counters come after (if_drivers). */
static json_object *if_sample(struct host *h, struct nsctx *ns, struct ifst *s, bool out)
{
	json_object *o = NULL, *st;

	st = if_stats(s, out);
	if (out) {
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(s->name));
		json_object_object_add(o, "ifindex", json_object_new_int(s->ifindex));
		json_object_object_add(o, "netns", json_object_new_uint64(ns->own ? 0 : ns->ino));
		json_object_object_add(o, "stats", st);
	}
	if (!s->probed)
		eth_probe(h, ns, s);
	if_config_read(h, ns, s);
	if (o && s->cfg && !s->sent) {
		json_object_object_add(o, "config", json_object_get(s->cfg));
		s->sent = true;
	}
	return o;
}

static json_object *obj_of(const struct dumpctx *c, int ifindex)
{
	for (int i = 0; i < c->nio; i++)
		if (c->io[i].ifindex == ifindex)
			return c->io[i].o;
	return NULL;
}

/* The driver's counters of the devices whose statistics moved (and of
 * those not read for long), at most HOST_DRV_MAX a sample, in turn; a
 * baseline reads every device's. */
static void if_drivers(struct host *h, struct nsctx *ns, const struct dumpctx *c)
{
	int start = ns->rot_drv, reads = 0, max = c->out ? HOST_DRV_MAX : ns->nifs;

	for (int k = 0; k < ns->nifs; k++) {
		int i = (start + k) % ns->nifs;
		struct ifst *s = &ns->ifs[i];
		bool due = s->moved || !s->have_s || s->drv_age >= HOST_DRV_PERIOD;

		if (!due || reads == max || !s->nstats) {
			s->drv_age++;
			continue;
		}
		eth_stats(h, ns, s, obj_of(c, s->ifindex));
		s->drv_age = 0;
		reads++;
		ns->rot_drv = (i + 1) % ns->nifs;
	}
}

static void if_rotate(struct nsctx *ns)
{
	int k = host_pace(&ns->cfg_credit, ns->nifs, HOST_CFG_IFACES);

	for (int i = 0; i < k && i < ns->nifs; i++) {
		ns->rot_cfg %= ns->nifs;
		ns->ifs[ns->rot_cfg++].cfg_due = true;
	}
}

static void if_forget_unseen(struct nsctx *ns)
{
	for (int i = 0; i < ns->nifs;) {
		if (ns->ifs[i].seen) {
			i++;
			continue;
		}
		if_free(&ns->ifs[i]);
		ns->ifs[i] = ns->ifs[--ns->nifs];
		ns->sysfs = -1;
	}
}

/* ---------------------------------------------------------------- qdiscs */

/* tc's spelling of a handle or parent ("1:", "1:1", ":1", "root"). */
static void tc_id(__u32 h, char *buf, size_t n)
{
	if (h == TC_H_ROOT)
		snprintf(buf, n, "root");
	else if (h == TC_H_INGRESS)
		snprintf(buf, n, "ingress");
	else if (h == TC_H_UNSPEC)
		snprintf(buf, n, "none");
	else if (!TC_H_MAJ(h))
		snprintf(buf, n, ":%x", TC_H_MIN(h));
	else if (!TC_H_MIN(h))
		snprintf(buf, n, "%x:", TC_H_MAJ(h) >> 16);
	else
		snprintf(buf, n, "%x:%x", TC_H_MAJ(h) >> 16, TC_H_MIN(h));
}

struct qread {
	__u64 bytes, packets;
	__u32 drops, requeues, overlimits, qlen, backlog;
};

static void qdisc_stats(const struct nlattr **tb, struct qread *q)
{
	memset(q, 0, sizeof(*q));
	if (tb[TCA_STATS2]) {
		const struct nlattr *s[TCA_STATS_MAX + 1];

		nl_nested(tb[TCA_STATS2], s, TCA_STATS_MAX);
		if (s[TCA_STATS_BASIC] && nla_len(s[TCA_STATS_BASIC]) >= 12) {
			struct gnet_stats_basic b;

			memcpy(&b, nla_data(s[TCA_STATS_BASIC]), 12);
			q->bytes = b.bytes;
			q->packets = b.packets;
		}
		/* the packet count when it outgrew 32 bits */
		if (s[TCA_STATS_PKT64])
			q->packets = nla_u64(s[TCA_STATS_PKT64]);
		if (s[TCA_STATS_QUEUE] && nla_len(s[TCA_STATS_QUEUE]) >= sizeof(struct gnet_stats_queue)) {
			struct gnet_stats_queue g;

			memcpy(&g, nla_data(s[TCA_STATS_QUEUE]), sizeof(g));
			q->qlen = g.qlen;
			q->backlog = g.backlog;
			q->drops = g.drops;
			q->requeues = g.requeues;
			q->overlimits = g.overlimits;
		}
	} else if (tb[TCA_STATS] && nla_len(tb[TCA_STATS]) >= sizeof(struct tc_stats)) {
		struct tc_stats t;

		memcpy(&t, nla_data(tb[TCA_STATS]), sizeof(t));
		*q = (struct qread){ t.bytes, t.packets, t.drops, 0, t.overlimits, t.qlen, t.backlog };
	}
}

static struct qst *q_slot(struct nsctx *ns, const struct tcmsg *t, const char *kind)
{
	for (int i = 0; i < ns->nqs; i++) {
		struct qst *q = &ns->qs[i];

		if (q->ifindex == t->tcm_ifindex && q->handle == t->tcm_handle && q->parent == t->tcm_parent &&
		    !strcmp(q->kind, kind))
			return q;
	}
	GROW(ns->qs, ns->nqs, ns->capqs);
	memset(&ns->qs[ns->nqs], 0, sizeof(ns->qs[0]));
	ns->qs[ns->nqs].ifindex = t->tcm_ifindex;
	ns->qs[ns->nqs].handle = t->tcm_handle;
	ns->qs[ns->nqs].parent = t->tcm_parent;
	snprintf(ns->qs[ns->nqs].kind, sizeof(ns->qs[0].kind), "%s", kind);
	return &ns->qs[ns->nqs++];
}

static json_object *qdisc_json(const struct qst *q, const struct qread *r, bool fresh)
{
	json_object *o = json_object_new_object();
	char id[32];

	json_object_object_add(o, "kind", json_object_new_string(q->kind));
	tc_id(q->handle, id, sizeof(id));
	json_object_object_add(o, "handle", json_object_new_string(id));
	tc_id(q->parent, id, sizeof(id));
	json_object_object_add(o, "parent", json_object_new_string(id));
	json_object_object_add(o, "sent_packets", json_object_new_uint64(fresh ? r->packets : delta64(r->packets, q->packets)));
	json_object_object_add(o, "sent_bytes", json_object_new_uint64(fresh ? r->bytes : delta64(r->bytes, q->bytes)));
	json_object_object_add(o, "drops", json_object_new_uint64(fresh ? r->drops : (__u32)(r->drops - q->drops)));
	json_object_object_add(o, "overlimits", json_object_new_uint64(fresh ? r->overlimits : (__u32)(r->overlimits - q->overlimits)));
	json_object_object_add(o, "requeues", json_object_new_uint64(fresh ? r->requeues : (__u32)(r->requeues - q->requeues)));
	json_object_object_add(o, "backlog_bytes", json_object_new_uint64(r->backlog));
	json_object_object_add(o, "backlog_packets", json_object_new_uint64(r->qlen));
	return o;
}

static void qdisc_attach(struct dumpctx *c, int ifindex, json_object *q)
{
	json_object *o = obj_of(c, ifindex), *a;

	if (!o) {
		json_object_put(q);	/* its device came after the link dump */
		return;
	}
	if (!json_object_object_get_ex(o, "qdiscs", &a)) {
		a = json_object_new_array();
		json_object_object_add(o, "qdiscs", a);
	}
	json_object_array_add(a, q);
}

static int qdisc_cb(const struct nlmsghdr *nh, void *ctx)
{
	struct dumpctx *c = ctx;
	const struct tcmsg *t = NLMSG_DATA(nh);
	const struct nlattr *tb[TCA_MAX + 1];
	char kind[16] = "";
	struct qread r;
	struct qst *q;
	bool fresh, moved;

	if (nh->nlmsg_type != RTM_NEWQDISC || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*t)))
		return 0;
	nl_msg_attrs(nh, sizeof(*t), tb, TCA_MAX);
	if (tb[TCA_KIND])
		nla_str(tb[TCA_KIND], kind, sizeof(kind));
	qdisc_stats(tb, &r);
	q = q_slot(c->ns, t, kind);
	fresh = !q->have;
	moved = fresh || r.packets != q->packets || r.bytes != q->bytes || r.drops != q->drops ||
		r.overlimits != q->overlimits || r.requeues != q->requeues || r.qlen || r.backlog;
	if (c->out && (moved || !q->sent)) {
		qdisc_attach(c, t->tcm_ifindex, qdisc_json(q, &r, fresh));
		q->sent = true;
	}
	q->seen = q->have = true;
	q->bytes = r.bytes;
	q->packets = r.packets;
	q->drops = r.drops;
	q->requeues = r.requeues;
	q->overlimits = r.overlimits;
	return 0;
}

static void q_forget_unseen(struct nsctx *ns)
{
	for (int i = 0; i < ns->nqs;) {
		if (ns->qs[i].seen) {
			ns->qs[i++].seen = false;
			continue;
		}
		ns->qs[i] = ns->qs[--ns->nqs];
	}
}

/* ---------------------------------------------------------------- one namespace */

void net_ifaces(struct host *h, struct nsctx *ns, json_object *out)
{
	struct dumpctx c = { .ns = ns, .out = out != NULL };
	struct nl_req r;
	struct tcmsg *t;
	int e, changes;

	if (ns->rt.fd < 0)
		return;
	for (int i = 0; i < ns->nifs; i++)
		ns->ifs[i].seen = false;
	/* names, states and the set of devices change rarely: a link dump
	 * (large: every attribute of every device) only when told they did */
	changes = nl_drain(&ns->mon);
	if (!ns->linked || changes || !stats_dump(h, ns))
		link_dump(h, ns);
	if (!ns->linked)
		return;
	if_forget_unseen(ns);
	if_rotate(ns);
	c.io = calloc(ns->nifs ? ns->nifs : 1, sizeof(*c.io));
	for (int i = 0; i < ns->nifs; i++) {
		json_object *o = if_sample(h, ns, &ns->ifs[i], c.out);

		if (!o)
			continue;
		json_object_array_add(out, o);
		c.io[c.nio].ifindex = ns->ifs[i].ifindex;
		c.io[c.nio++].o = o;
	}
	if_drivers(h, ns, &c);
	t = nl_req_init(&r, RTM_GETQDISC, NLM_F_DUMP, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	e = nl_talk(&ns->rt, &r, qdisc_cb, &c);
	if (e)
		host_err(h, "rtnetlink qdisc dump: %s", strerror(-e));
	else
		q_forget_unseen(ns);
	free(c.io);
}

const char *net_iface_of_device(struct host *h, const char *dev)
{
	for (int n = 0; n < h->nns; n++)
		for (int i = 0; i < h->ns[n].nifs; i++)
			if (h->ns[n].ifs[i].parent[0] && !strcmp(h->ns[n].ifs[i].parent, dev))
				return h->ns[n].ifs[i].name;
	return NULL;
}

bool net_is_iface(struct host *h, const char *name)
{
	char p[64];

	for (int n = 0; n < h->nns; n++)
		for (int i = 0; i < h->ns[n].nifs; i++)
			if (!strcmp(h->ns[n].ifs[i].name, name))
				return true;
	snprintf(p, sizeof(p), "/sys/class/net/%s", name);
	return !access(p, F_OK);
}

void net_ns_free(struct nsctx *ns)
{
	for (int i = 0; i < ns->nifs; i++)
		if_free(&ns->ifs[i]);
	free(ns->ifs);
	free(ns->qs);
	ns->ifs = NULL;
	ns->qs = NULL;
	ns->nifs = ns->capifs = ns->nqs = ns->capqs = 0;
}

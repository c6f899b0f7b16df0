/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Plain netlink for the host counters: a socket bound to the network
 * namespace it was opened in, requests built in a small buffer, replies
 * (single or dumped) handed to a callback message by message, attributes
 * indexed by type. rtnetlink, sock_diag and generic netlink all use it.
 * Uses no other module.
 */
#ifndef __NSLAT_NL_H
#define __NSLAT_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/netlink.h>

struct nl {
	int fd;			/* -1: closed */
	__u32 seq;
};

/* Opens a netlink socket of `proto` in the calling thread's network
 * namespace (it stays bound to it), member of multicast `groups` (a
 * bitmask, 0 for none). 0, or -errno. */
int nl_open(struct nl *n, int proto, __u32 groups);
void nl_close(struct nl *n);
/* Reads what the socket's groups sent without waiting: how many messages,
 * or -errno (-ENOBUFS: some were lost). */
int nl_drain(struct nl *n);

/* A request under construction: header, family header, attributes. */
struct nl_req {
	union {
		struct nlmsghdr h;
		char buf[512];
	};
};

/* Starts a request of `type` with a zeroed family header of `hdrlen`
 * bytes (returned). NLM_F_REQUEST is added to `flags`. */
void *nl_req_init(struct nl_req *r, __u16 type, __u16 flags, size_t hdrlen);
void nl_put(struct nl_req *r, __u16 type, const void *data, size_t len);
void nl_put_u32(struct nl_req *r, __u16 type, __u32 v);
struct nlattr *nl_nest_start(struct nl_req *r, __u16 type);
void nl_nest_end(struct nl_req *r, struct nlattr *a);

/* Each reply message of a request; nonzero stops the exchange with that
 * value (the rest of the reply is still drained). */
typedef int (*nl_cb)(const struct nlmsghdr *h, void *ctx);

/* Sends `r` and hands every reply message to `cb` until the dump is done,
 * the single reply has come, or the kernel answers with an error. 0, the
 * callback's nonzero value, or -errno. */
int nl_talk(struct nl *n, struct nl_req *r, nl_cb cb, void *ctx);

/* Attributes of [start, start+len) by type (types above max are passed
 * over; tb has max + 1 entries, NULL where absent). */
void nl_attrs(const void *start, size_t len, const struct nlattr **tb, int max);
/* The attributes after a message's family header of `hdrlen` bytes. */
void nl_msg_attrs(const struct nlmsghdr *h, size_t hdrlen, const struct nlattr **tb, int max);
/* A nested attribute's members. */
void nl_nested(const struct nlattr *a, const struct nlattr **tb, int max);

static inline const void *nla_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static inline size_t nla_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

__u32 nla_u32(const struct nlattr *a);
__u64 nla_u64(const struct nlattr *a);
/* A string attribute into buf (always terminated). */
void nla_str(const struct nlattr *a, char *buf, size_t size);

#endif

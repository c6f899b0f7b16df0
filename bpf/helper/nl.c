// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Plain netlink (no library): requests, replies and attributes, enough for
 * rtnetlink dumps, sock_diag and generic netlink.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "nl.h"

/* A dump's messages come in batches of at most 32 KiB (the kernel's
 * largest netlink skb for a receiver that offers that much). */
static char rxbuf[64 * 1024] __attribute__((aligned(NLMSG_ALIGNTO)));

int nl_open(struct nl *n, int proto, __u32 groups)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	int one = 1;

	n->seq = 0;
	n->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (n->fd < 0)
		return -errno;
	/* the kernel need not copy our request into an error reply */
	setsockopt(n->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (bind(n->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(n->fd);
		n->fd = -1;
		return -e;
	}
	return 0;
}

void nl_close(struct nl *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

void *nl_req_init(struct nl_req *r, __u16 type, __u16 flags, size_t hdrlen)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(hdrlen);
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = NLM_F_REQUEST | flags;
	return NLMSG_DATA(&r->h);
}

void nl_put(struct nl_req *r, __u16 type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(r->h.nlmsg_len);
	struct nlattr *a = (struct nlattr *)(r->buf + off);

	if (off + NLA_ALIGN(NLA_HDRLEN + len) > sizeof(r->buf))
		return;	/* requests here are a few attributes: never reached */
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	r->h.nlmsg_len = off + NLA_ALIGN(a->nla_len);
}

void nl_put_u32(struct nl_req *r, __u16 type, __u32 v)
{
	nl_put(r, type, &v, sizeof(v));
}

struct nlattr *nl_nest_start(struct nl_req *r, __u16 type)
{
	struct nlattr *a = (struct nlattr *)(r->buf + NLMSG_ALIGN(r->h.nlmsg_len));

	nl_put(r, type | NLA_F_NESTED, NULL, 0);
	return a;
}

void nl_nest_end(struct nl_req *r, struct nlattr *a)
{
	a->nla_len = (char *)&r->h + r->h.nlmsg_len - (char *)a;
}

int nl_drain(struct nl *n)
{
	int count = 0;

	if (n->fd < 0)
		return -EBADF;
	for (;;) {
		ssize_t len = recv(n->fd, rxbuf, sizeof(rxbuf), MSG_DONTWAIT);

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? count : -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)rxbuf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
			count++;
	}
}

/* One batch of the reply: 1 when the exchange is over, 0 for more. */
static int nl_batch(struct nl *n, ssize_t len, nl_cb cb, void *ctx, int *ret)
{
	for (struct nlmsghdr *h = (struct nlmsghdr *)rxbuf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_seq != n->seq)
			continue;	/* a late reply to an earlier request */
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error && !*ret)
				*ret = e->error;
			return 1;
		}
		if (!*ret)
			*ret = cb(h, ctx);
		if (!(h->nlmsg_flags & NLM_F_MULTI))
			return 1;
	}
	return 0;
}

int nl_talk(struct nl *n, struct nl_req *r, nl_cb cb, void *ctx)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	int ret = 0;

	if (n->fd < 0)
		return -EBADF;
	r->h.nlmsg_seq = ++n->seq;
	if (sendto(n->fd, &r->h, r->h.nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -errno;
	for (;;) {
		struct iovec iov = { rxbuf, sizeof(rxbuf) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t len = recvmsg(n->fd, &m, 0);

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (m.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (len == 0 || nl_batch(n, len, cb, ctx, &ret))
			return ret;
	}
}

void nl_attrs(const void *start, size_t len, const struct nlattr **tb, int max)
{
	const struct nlattr *a = start;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len) {
		int type = a->nla_type & NLA_TYPE_MASK;

		if (type <= max)
			tb[type] = a;
		if ((size_t)NLA_ALIGN(a->nla_len) >= len)
			break;
		len -= NLA_ALIGN(a->nla_len);
		a = (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
}

void nl_msg_attrs(const struct nlmsghdr *h, size_t hdrlen, const struct nlattr **tb, int max)
{
	size_t off = NLMSG_LENGTH(NLMSG_ALIGN(hdrlen));

	if (h->nlmsg_len < off) {
		memset(tb, 0, sizeof(*tb) * (max + 1));
		return;
	}
	nl_attrs((const char *)h + off, h->nlmsg_len - off, tb, max);
}

void nl_nested(const struct nlattr *a, const struct nlattr **tb, int max)
{
	nl_attrs(nla_data(a), nla_len(a), tb, max);
}

__u32 nla_u32(const struct nlattr *a)
{
	__u32 v = 0;

	memcpy(&v, nla_data(a), nla_len(a) < sizeof(v) ? nla_len(a) : sizeof(v));
	return v;
}

__u64 nla_u64(const struct nlattr *a)
{
	__u64 v = 0;

	memcpy(&v, nla_data(a), nla_len(a) < sizeof(v) ? nla_len(a) : sizeof(v));
	return v;
}

void nla_str(const struct nlattr *a, char *buf, size_t size)
{
	size_t n = nla_len(a) < size - 1 ? nla_len(a) : size - 1;

	memcpy(buf, nla_data(a), n);
	buf[n] = 0;
	buf[strnlen(buf, n)] = 0;
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The host's own network counters (HostSample in src/core/protocol.ts),
 * read from procfs, sysfs and netlink at each snapshot and sent as deltas
 * since the previous one: interfaces (statistics, driver counters, qdiscs,
 * configuration), CPUs (softnet, time, softirqs), IRQ lines, protocol
 * counters, and the sockets with the longest queues. Uses output, features
 * and nl.
 */
#ifndef __NSLAT_HOST_H
#define __NSLAT_HOST_H

#include <stdbool.h>
#include <linux/types.h>
#include <json-c/json.h>
#include "features.h"

#define HOST_MAX_NETNS 16
#define HOST_MAX_PORTS 16
#define HOST_MAX_PIDS 16
#define HOST_TOP_MAX 64
#define HOST_TOP_DEFAULT 8

/* HostOptions of the protocol (the `host` field of `set`). */
struct host_opts {
	bool enabled;
	int top;
	int nports, npids, nnetns;
	__u16 ports[HOST_MAX_PORTS];
	int pids[HOST_MAX_PIDS];
	__u64 netns[HOST_MAX_NETNS];
};

struct host;

/* Collection state with its baseline taken now (the first sample's deltas
 * are since this call). Never NULL. */
struct host *host_new(const struct kernel *k);
void host_free(struct host *h);
const struct host_opts *host_opts(const struct host *h);
/* Applies options (already validated). Namespaces newly named are opened
 * and their baseline taken; false when one cannot be opened (`err` says
 * which) and then nothing is applied. */
bool host_apply(struct host *h, const struct host_opts *o, char *err, size_t errsz);
/* One sample (HostSample), or NULL when collection is off. */
json_object *host_collect(struct host *h);

#endif

// SPDX-License-Identifier: MIT
/*
 * nslat-guest - the kernel matrix scenario's own tool, for guests without python or node (and the
 * same binary on the host, so both runs are the same scenario). Built statically.
 *
 *   nslat-guest flow --name N --proto tcp|udp --family 4|6 --addr A --port P --count C --size S
 *                    [--interval-ms I] [--client-netns PATH] [--delay-ms D] [--idle-ms M]
 *                    [--rx-timestamps 1] [--timeout-s T]
 *       A bounded server (bound to A:P in the current network namespace) and one client (in the
 *       namespace PATH when given, e.g. /run/netns/peer) with the semantics of
 *       test/kernel/lib/traffic.py: the client sends up to C messages of S bytes, one every I ms
 *       (TCP_NODELAY: one segment each); the server reads them (TCP: C*S bytes or EOF; UDP: C
 *       datagrams, or M ms without one once one has arrived), waiting D ms between "readable" and
 *       each read. --rx-timestamps 1: the server's socket asks for software receive timestamps
 *       (SO_TIMESTAMPNS), which turns on the kernel's stamping of every received skb while it is
 *       open. TCP: the server closes first, the client then aborts (no TIME_WAIT). Prints
 *       one JSON line {"event":"flow",...} with both sides' counts. Exit 0 when both sides
 *       finished, 2 on timeout, 1 on an error (the line says which).
 *
 *   nslat-guest progs
 *       {"event":"progs","ids":[...]}: the ids of every loaded BPF program (BPF_PROG_GET_NEXT_ID).
 *
 *   nslat-guest progs-gone --name N --ids-from FILE [--timeout-ms T]
 *       Reads every "prog_id": N in FILE (the helper's output), waits (at most T ms, polling) until
 *       none of them is loaded any more (release is asynchronous), and prints
 *       {"event":"leak","name":N,"ids":[...],"still_loaded":[...],"waited_ms":W}.
 *
 *   nslat-guest now
 *       CLOCK_MONOTONIC in ms.
 *
 * Everything is bounded: counts at most 100000 messages of at most 64 KiB, every run by its
 * timeout (alarm() as a hard stop on each side).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_COUNT 100000
#define MAX_SIZE (64 * 1024)
#define MAX_TIMEOUT_S 120
#define MAX_IDS 4096

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1e3);
	ts.tv_nsec = (long)((ms - ts.tv_sec * 1e3) * 1e6);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A JSON string value: the tool only ever prints short ASCII names and error texts. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* ---------------------------------------------------------------- options */

struct opts {
	const char *name;
	const char *proto;
	int family;
	const char *addr;
	int port;
	long count;
	long size;
	double interval_ms;
	double delay_ms;
	double idle_ms;
	double timeout_s;
	int rx_timestamps;
	const char *client_netns;
	const char *ids_from;
	double wait_ms;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: nslat-guest flow --name N --proto tcp|udp --family 4|6 --addr A --port P --count C --size S\n"
		"                        [--interval-ms I] [--client-netns PATH] [--delay-ms D] [--idle-ms M]\n"
		"                        [--rx-timestamps 1] [--timeout-s T]\n"
		"       nslat-guest progs\n"
		"       nslat-guest progs-gone --name N --ids-from FILE [--timeout-ms T]\n"
		"       nslat-guest now\n");
	exit(64);
}

static void parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .name = "", .proto = "tcp", .family = 4, .addr = "", .count = 100,
			    .size = 100, .idle_ms = 1000, .timeout_s = 20, .wait_ms = 5000 };
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(k, "--name"))
			o->name = v;
		else if (!strcmp(k, "--proto"))
			o->proto = v;
		else if (!strcmp(k, "--family"))
			o->family = atoi(v);
		else if (!strcmp(k, "--addr"))
			o->addr = v;
		else if (!strcmp(k, "--port"))
			o->port = atoi(v);
		else if (!strcmp(k, "--count"))
			o->count = atol(v);
		else if (!strcmp(k, "--size"))
			o->size = atol(v);
		else if (!strcmp(k, "--interval-ms"))
			o->interval_ms = atof(v);
		else if (!strcmp(k, "--delay-ms"))
			o->delay_ms = atof(v);
		else if (!strcmp(k, "--idle-ms"))
			o->idle_ms = atof(v);
		else if (!strcmp(k, "--timeout-s"))
			o->timeout_s = atof(v);
		else if (!strcmp(k, "--rx-timestamps"))
			o->rx_timestamps = atoi(v);
		else if (!strcmp(k, "--client-netns"))
			o->client_netns = v;
		else if (!strcmp(k, "--ids-from"))
			o->ids_from = v;
		else if (!strcmp(k, "--timeout-ms"))
			o->wait_ms = atof(v);
		else
			usage();
	}
}

/* ---------------------------------------------------------------- traffic */

struct side {
	long sent, received, bytes, reads;
	double elapsed_ms;
	int timeout;
	char error[160];
};

static void fail(struct side *s, const char *what)
{
	if (!s->error[0])
		snprintf(s->error, sizeof(s->error), "%s: %s", what, strerror(errno));
}

static int make_addr(const struct opts *o, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (o->family == 6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(o->port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, o->addr, &a->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(o->port);
	*len = sizeof(*a);
	return inet_pton(AF_INET, o->addr, &a->sin_addr) == 1 ? 0 : -1;
}

/* Waits until fd is readable or the deadline passes: 1 readable, 0 timed out. */
static int wait_readable(int fd, double deadline, double max_wait_ms)
{
	for (;;) {
		double left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r;

		if (left <= 0)
			return 0;
		if (max_wait_ms >= 0 && left > max_wait_ms)
			left = max_wait_ms;
		r = poll(&p, 1, (int)left + 1);
		if (r > 0)
			return 1;
		if (r == 0 && max_wait_ms >= 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return 0;
	}
}

static void run_server(const struct opts *o, int s, struct side *r, double deadline)
{
	static char buf[MAX_SIZE];
	int tcp = !strcmp(o->proto, "tcp");

	if (tcp) {
		long want = o->count * o->size;
		int c, one = 1;

		if (!wait_readable(s, deadline, -1)) {
			r->timeout = 1;
			return;
		}
		c = accept(s, NULL, NULL);
		if (c < 0) {
			fail(r, "accept");
			return;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (r->bytes < want) {
			ssize_t n;

			if (!wait_readable(c, deadline, -1)) {
				r->timeout = 1;
				break;
			}
			sleep_ms(o->delay_ms);
			n = recv(c, buf, sizeof(buf), 0);
			if (n == 0)
				break;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				fail(r, "recv");
				break;
			}
			r->reads++;
			r->bytes += n;
		}
		r->received = r->bytes / (o->size > 0 ? o->size : 1);
		close(c);
		return;
	}
	int first = 0;

	while (r->received < o->count) {
		ssize_t n;

		if (!wait_readable(s, deadline, first ? o->idle_ms : -1)) {
			if (now_ms() >= deadline)
				r->timeout = 1;
			break; /* idle: the client is done (UDP may drop; the counts say how many came) */
		}
		sleep_ms(o->delay_ms);
		n = recv(s, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(r, "recv");
			break;
		}
		first = 1;
		r->reads++;
		r->received++;
		r->bytes += n;
	}
}

static void run_client(const struct opts *o, struct side *r, double deadline)
{
	static char payload[MAX_SIZE];
	static const char pattern[] = "nslat-test-";
	struct sockaddr_storage dst;
	socklen_t dlen;
	int tcp = !strcmp(o->proto, "tcp");
	int s, one = 1;
	double start = now_ms(), next;

	for (long i = 0; i < o->size; i++)
		payload[i] = pattern[i % (sizeof(pattern) - 1)];
	if (o->client_netns) {
		int ns = open(o->client_netns, O_RDONLY | O_CLOEXEC);

		if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
			fail(r, "setns");
			return;
		}
		close(ns);
	}
	if (make_addr(o, &dst, &dlen) < 0) {
		snprintf(r->error, sizeof(r->error), "bad address %s", o->addr);
		return;
	}
	s = socket(o->family == 6 ? AF_INET6 : AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (s < 0) {
		fail(r, "socket");
		return;
	}
	if (tcp) {
		struct timeval tv = { .tv_sec = 2 };

		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(s, (struct sockaddr *)&dst, dlen) < 0) {
			fail(r, "connect");
			close(s);
			return;
		}
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	next = now_ms();
	for (long i = 0; i < o->count && now_ms() < deadline; i++) {
		if (tcp) {
			long off = 0;

			while (off < o->size) {
				ssize_t n = send(s, payload + off, o->size - off, MSG_NOSIGNAL);

				if (n < 0) {
					if (errno == EINTR)
						continue;
					fail(r, "send");
					goto out;
				}
				off += n;
			}
		} else if (sendto(s, payload, o->size, 0, (struct sockaddr *)&dst, dlen) < 0) {
			if (errno == EINTR)
				continue;
			fail(r, "sendto");
			break;
		}
		r->sent++;
		r->bytes += o->size;
		if (o->interval_ms > 0) {
			next += o->interval_ms;
			sleep_ms(next - now_ms());
		}
	}
	if (tcp) {
		/* The server closes first once it has read everything; a client stopped early half-closes
		 * so the server sees EOF. Wait (bounded) for the server's close, then abort: no TIME_WAIT. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		char sink[4096];

		if (r->sent < o->count)
			shutdown(s, SHUT_WR);
		while (wait_readable(s, deadline, -1) && recv(s, sink, sizeof(sink), 0) > 0)
			;
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
out:
	close(s);
	r->elapsed_ms = now_ms() - start;
	if (now_ms() >= deadline && r->sent < o->count)
		r->timeout = 1;
}

static void print_side(FILE *f, const char *key, const struct side *s)
{
	fprintf(f, "\"%s\":{\"sent\":%ld,\"received\":%ld,\"bytes\":%ld,\"reads\":%ld,\"elapsed_ms\":%.1f,\"timeout\":%s",
		key, s->sent, s->received, s->bytes, s->reads, s->elapsed_ms, s->timeout ? "true" : "false");
	if (s->error[0]) {
		fputs(",\"error\":", f);
		json_str(f, s->error);
	}
	fputc('}', f);
}

static void on_alarm(int sig)
{
	static const char msg[] = "{\"event\":\"flow\",\"ok\":false,\"error\":\"hard timeout\"}\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(2);
}

static int cmd_flow(const struct opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct side srv = { 0 }, cli = { 0 };
	int tcp = !strcmp(o->proto, "tcp");
	int s, one = 1, pfd[2];
	double start = now_ms(), deadline = start + o->timeout_s * 1e3;
	pid_t pid;
	int ok;

	if ((strcmp(o->proto, "tcp") && strcmp(o->proto, "udp")) || (o->family != 4 && o->family != 6) ||
	    o->count < 1 || o->count > MAX_COUNT || o->size < 1 || o->size > MAX_SIZE || o->port < 1 ||
	    o->port > 65535 || o->timeout_s <= 0 || o->timeout_s > MAX_TIMEOUT_S || !o->addr[0])
		usage();
	signal(SIGALRM, on_alarm);
	alarm((unsigned)o->timeout_s + 3);
	if (make_addr(o, &ss, &len) < 0) {
		snprintf(srv.error, sizeof(srv.error), "bad address %s", o->addr);
		goto report;
	}
	s = socket(o->family == 6 ? AF_INET6 : AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (s < 0) {
		fail(&srv, "socket");
		goto report;
	}
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (o->rx_timestamps) {
		/* the kernel turns its stamping on from a work item: give it a moment */
		setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
		usleep(50000);
	}
	if (bind(s, (struct sockaddr *)&ss, len) < 0 || (tcp && listen(s, 4) < 0)) {
		fail(&srv, "bind/listen");
		close(s);
		goto report;
	}
	/* The client runs in a child (its own network namespace when asked) and reports its counts
	 * through a pipe; the server is bound before the fork, so the client never races it. */
	if (pipe(pfd) < 0) {
		fail(&srv, "pipe");
		close(s);
		goto report;
	}
	pid = fork();
	if (pid < 0) {
		fail(&srv, "fork");
		close(s);
		goto report;
	}
	if (pid == 0) {
		close(pfd[0]);
		close(s);
		signal(SIGALRM, SIG_DFL);
		alarm((unsigned)o->timeout_s + 2);
		run_client(o, &cli, deadline);
		if (write(pfd[1], &cli, sizeof(cli)) != sizeof(cli))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	run_server(o, s, &srv, deadline);
	close(s);
	{
		/* Bounded wait for the client's counts (it ends by its own deadline). */
		ssize_t n = 0;

		if (wait_readable(pfd[0], deadline + 2000, -1))
			n = read(pfd[0], &cli, sizeof(cli));
		if (n != sizeof(cli)) {
			memset(&cli, 0, sizeof(cli));
			snprintf(cli.error, sizeof(cli.error), "client reported nothing");
			kill(pid, SIGKILL);
		}
		close(pfd[0]);
		waitpid(pid, NULL, 0);
	}
report:
	alarm(0);
	ok = !srv.error[0] && !cli.error[0] && !srv.timeout && !cli.timeout;
	printf("{\"event\":\"flow\",\"name\":");
	json_str(stdout, o->name);
	printf(",\"proto\":\"%s\",\"family\":%d,\"addr\":", o->proto, o->family);
	json_str(stdout, o->addr);
	printf(",\"port\":%d,\"count\":%ld,\"size\":%ld,\"interval_ms\":%g,\"client_netns\":%s,", o->port, o->count,
	       o->size, o->interval_ms, o->client_netns ? "true" : "false");
	print_side(stdout, "server", &srv);
	putchar(',');
	print_side(stdout, "client", &cli);
	printf(",\"elapsed_ms\":%.1f,\"ok\":%s}\n", now_ms() - start, ok ? "true" : "false");
	fflush(stdout);
	if (srv.timeout || cli.timeout)
		return 2;
	return ok ? 0 : 1;
}

/* ---------------------------------------------------------------- BPF program ids */

static int prog_ids(uint32_t *ids, int max)
{
	union bpf_attr attr;
	uint32_t id = 0;
	int n = 0;

	for (;;) {
		memset(&attr, 0, sizeof(attr));
		attr.start_id = id;
		if (syscall(__NR_bpf, BPF_PROG_GET_NEXT_ID, &attr, sizeof(attr)) < 0)
			return errno == ENOENT ? n : -errno;
		id = attr.next_id;
		if (n < max)
			ids[n++] = id;
	}
}

static int cmd_progs(void)
{
	static uint32_t ids[MAX_IDS];
	int n = prog_ids(ids, MAX_IDS);

	if (n < 0) {
		printf("{\"event\":\"progs\",\"error\":\"BPF_PROG_GET_NEXT_ID: %s\"}\n", strerror(-n));
		return 1;
	}
	printf("{\"event\":\"progs\",\"ids\":[");
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", ids[i]);
	printf("]}\n");
	return 0;
}

/* Every distinct number after "prog_id": in the file. */
static int ids_in_file(const char *path, uint32_t *ids, int max)
{
	static const char key[] = "\"prog_id\":";
	FILE *f = fopen(path, "r");
	int n = 0, c;
	size_t m = 0;

	if (!f)
		return -errno;
	while ((c = fgetc(f)) != EOF) {
		if (m < sizeof(key) - 1) {
			m = c == key[m] ? m + 1 : (c == key[0] ? 1 : 0);
			continue;
		}
		/* matched the key: skip blanks, read digits */
		uint32_t v = 0;
		int digits = 0;

		while (c == ' ')
			c = fgetc(f);
		while (c >= '0' && c <= '9') {
			v = v * 10 + (uint32_t)(c - '0');
			digits++;
			c = fgetc(f);
		}
		m = c == key[0] ? 1 : 0;
		if (!digits)
			continue;
		int seen = 0;

		for (int i = 0; i < n; i++)
			seen |= ids[i] == v;
		if (!seen && n < max)
			ids[n++] = v;
	}
	fclose(f);
	return n;
}

static int cmd_progs_gone(const struct opts *o)
{
	static uint32_t want[MAX_IDS], live[MAX_IDS];
	int nw, nl = 0, still = 0;
	double start = now_ms();

	if (!o->ids_from)
		usage();
	nw = ids_in_file(o->ids_from, want, MAX_IDS);
	if (nw < 0) {
		printf("{\"event\":\"leak\",\"name\":");
		json_str(stdout, o->name);
		printf(",\"error\":\"cannot read %s: %s\"}\n", o->ids_from, strerror(-nw));
		return 1;
	}
	for (;;) {
		nl = prog_ids(live, MAX_IDS);
		still = 0;
		for (int i = 0; i < nw && nl >= 0; i++)
			for (int j = 0; j < nl; j++)
				still += want[i] == live[j];
		if (!still || nl < 0 || now_ms() - start >= o->wait_ms)
			break;
		sleep_ms(100);
	}
	printf("{\"event\":\"leak\",\"name\":");
	json_str(stdout, o->name);
	printf(",\"ids\":[");
	for (int i = 0; i < nw; i++)
		printf("%s%u", i ? "," : "", want[i]);
	printf("],\"still_loaded\":[");
	for (int i = 0, k = 0; i < nw && nl >= 0; i++)
		for (int j = 0; j < nl; j++)
			if (want[i] == live[j])
				printf("%s%u", k++ ? "," : "", want[i]);
	printf("],\"waited_ms\":%.0f", now_ms() - start);
	if (nl < 0)
		printf(",\"error\":\"BPF_PROG_GET_NEXT_ID: %s\"", strerror(-nl));
	printf("}\n");
	return still || nl < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o;

	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	parse(argc, argv, &o);
	if (!strcmp(argv[1], "flow"))
		return cmd_flow(&o);
	if (!strcmp(argv[1], "progs"))
		return cmd_progs();
	if (!strcmp(argv[1], "progs-gone"))
		return cmd_progs_gone(&o);
	if (!strcmp(argv[1], "now")) {
		printf("%.3f\n", now_ms());
		return 0;
	}
	usage();
	return 64;
}

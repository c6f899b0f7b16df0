#!/usr/bin/env python3
"""Ground truth for nslat's accuracy tests (python3 stdlib only): UDP datagrams that carry their
send time, and a reader that measures each one's send -> receive time with its own clock.

  truth.py server --family 4|6 --bind ADDR --port P --count N [--delay-min-ms A --delay-max-ms B]
                  [--seed S] --timeout T
      Prints {"ready": true, "port": P}, then reads up to N datagrams. With a delay range, before
      each read it waits until the socket is readable, then sleeps a delay drawn uniformly from
      [A, B] ms (seeded, so runs repeat): a datagram that arrived alone waits that long in the
      receive queue. Ends with one JSON line: the count and the send -> receive times in ns.

  truth.py client --family 4|6 --addr ADDR --port P --count N [--interval-ms I] [--burst]
                  [--sport P] --size S --timeout T
      Sends N datagrams of S bytes (at least 8), each starting with its CLOCK_MONOTONIC send time
      in ns, one every I ms, or all at once with --burst. Ends with one JSON line of counts.

Both ends read CLOCK_MONOTONIC, which every network namespace of one machine shares (and which
the probes' bpf_ktime_get_ns reads too). Every run is bounded: at most N datagrams and at most
--timeout seconds (SIGALRM: exit 2). Meant for loopback and test namespaces only.
"""
import argparse
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

MAX_COUNT = 1_000_000
MAX_TIMEOUT = 600


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fam(args):
    return socket.AF_INET6 if args.family == 6 else socket.AF_INET


def server(args):
    s = socket.socket(fam(args), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((args.bind, args.port))
    emit({"ready": True, "port": s.getsockname()[1]})
    rng = random.Random(args.seed)
    lat = []
    delayed = args.delay_max_ms > 0
    while len(lat) < args.count:
        r, _, _ = select.select([s], [], [], args.idle_s if lat else args.timeout)
        if not r:
            break
        if delayed:
            time.sleep(rng.uniform(args.delay_min_ms, args.delay_max_ms) / 1000.0)
        data = s.recv(65536)
        now = time.monotonic_ns()
        if len(data) >= 8:
            lat.append(now - struct.unpack("<Q", data[:8])[0])
    emit({"role": "server", "received": len(lat), "lat_ns": lat})


def client(args):
    s = socket.socket(fam(args), socket.SOCK_DGRAM)
    if args.sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if args.family == 6 else "0.0.0.0", args.sport))
    pad = b"\0" * (max(8, args.size) - 8)
    sent = 0
    t_next = time.monotonic()
    for _ in range(args.count):
        if not args.burst and args.interval_ms > 0:
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t_next += args.interval_ms / 1000.0
        s.sendto(struct.pack("<Q", time.monotonic_ns()) + pad, (args.addr, args.port))
        sent += 1
    emit({"role": "client", "sent": sent})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--family", type=int, choices=[4, 6], default=4)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--sport", type=int, default=0)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--interval-ms", type=float, default=0)
    p.add_argument("--burst", action="store_true")
    p.add_argument("--delay-min-ms", type=float, default=0)
    p.add_argument("--delay-max-ms", type=float, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--idle-s", type=float, default=2.0)
    p.add_argument("--timeout", type=float, required=True)
    args = p.parse_args()
    if not (0 < args.count <= MAX_COUNT) or not (0 < args.timeout <= MAX_TIMEOUT):
        sys.exit("count and timeout must be bounded")
    signal.signal(signal.SIGALRM, lambda *_: os._exit(2))
    signal.alarm(int(args.timeout) + 1)
    server(args) if args.role == "server" else client(args)


if __name__ == "__main__":
    main()

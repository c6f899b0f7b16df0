#!/usr/bin/env python3
"""Bounded test traffic for nslat's kernel tests (python3 stdlib only).

  traffic.py server --proto tcp|udp --family 4|6 --bind ADDR [--port 0] --count N --size S
                    [--delay-ms D] [--idle-s 1.0] [--rx-timestamps] --timeout T
      Listens, prints one JSON line {"ready": true, "port": P} (stdout, flushed), then receives up
      to N messages of S bytes (TCP: N*S bytes or EOF). With --delay-ms D it blocks in select()
      until the socket is readable, then sleeps D ms, then reads: every byte waits >= D ms in the
      socket's receive queue between its arrival and the application's read. Ends with one JSON
      line of counts. A UDP server also stops after --idle-s seconds without a datagram (once one
      has arrived). --rx-timestamps turns on software receive timestamps on its socket (and so,
      for the whole host, the kernel's stamping of received skbs).

  traffic.py client --proto tcp|udp --family 4|6 --addr ADDR --port P --count N --size S
                    [--interval-ms I] [--duration-s S] [--sport P] --timeout T
      Sends up to N messages of S bytes, one every I ms (TCP_NODELAY, so each is its own segment),
      stopping early after --duration-s seconds, from source port --sport if given (TCP: the
      server closes first and the client aborts, so no TIME_WAIT blocks reusing it). Ends with one JSON line of counts.

Every run is bounded: at most N messages and at most --timeout seconds (SIGALRM hard stop; exit
code 2 on timeout, after printing what was done). Meant for loopback and test namespaces only.
"""
import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import time

MAX_COUNT = 1_000_000
SO_TIMESTAMPNS = 35  # asm-generic and x86 (not in Python's socket module)
MAX_SIZE = 1 << 20
MAX_TIMEOUT = 600

state = {"role": "?", "sent": 0, "received": 0, "bytes": 0, "reads": 0}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def on_alarm(_sig, _frm):
    emit(dict(state, timeout=True))
    os._exit(2)


def family_of(args):
    return socket.AF_INET6 if args.family == 6 else socket.AF_INET


def server(args):
    fam = family_of(args)
    kind = socket.SOCK_STREAM if args.proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(fam, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.bind, args.port))
    if args.rx_timestamps:
        # SO_TIMESTAMPNS: the kernel then stamps every received skb (netif_rx, netif_receive_skb);
        # it turns the stamping on from a work item, so give it a moment.
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        time.sleep(0.05)
    if args.proto == "tcp":
        s.listen(1)
    emit({"ready": True, "port": s.getsockname()[1]})
    deadline = time.monotonic() + args.timeout
    delay = args.delay_ms / 1000.0
    want_bytes = args.count * args.size

    if args.proto == "tcp":
        r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            emit(dict(state, timeout=True))
            return 2
        conn, _ = s.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while state["bytes"] < want_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                emit(dict(state, timeout=True))
                return 2
            r, _, _ = select.select([conn], [], [], left)
            if not r:
                continue
            if delay:
                time.sleep(delay)
            data = conn.recv(65536)
            if not data:
                break
            state["reads"] += 1
            state["bytes"] += len(data)
        state["received"] = state["bytes"] // max(1, args.size)
        conn.close()
    else:
        first = None
        while state["received"] < args.count:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                emit(dict(state, timeout=True))
                return 2
            wait = left if first is None else min(left, args.idle_s)
            r, _, _ = select.select([s], [], [], wait)
            if not r:
                if first is not None:
                    break  # idle: the client is done (UDP may drop; the counts say how many came)
                continue
            if delay:
                time.sleep(delay)
            data = s.recv(65536)
            first = first or time.monotonic()
            state["reads"] += 1
            state["received"] += 1
            state["bytes"] += len(data)
    s.close()
    emit(dict(state, done=True))
    return 0


def client(args):
    fam = family_of(args)
    kind = socket.SOCK_STREAM if args.proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(fam, kind)
    if args.sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", args.sport))
    dest = (args.addr, args.port)
    payload = (b"nslat-test-" * (args.size // 11 + 1))[: args.size]
    start = time.monotonic()
    stop_at = start + (args.duration_s if args.duration_s > 0 else args.timeout)
    interval = args.interval_ms / 1000.0
    if args.proto == "tcp":
        s.settimeout(max(1.0, args.timeout))
        s.connect(dest)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    next_t = time.monotonic()
    for _ in range(args.count):
        if time.monotonic() >= stop_at:
            break
        if args.proto == "tcp":
            s.sendall(payload)
        else:
            s.sendto(payload, dest)
        state["sent"] += 1
        state["bytes"] += len(payload)
        if interval:
            next_t += interval
            pause = next_t - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    if args.proto == "tcp":
        # The server closes first once it has read count*size bytes; a client stopped early by
        # --duration-s half-closes so the server sees EOF. Wait (bounded) for the server's close,
        # then abort (SO_LINGER 0): no TIME_WAIT, so the next run can reuse --sport at once.
        if state["sent"] < args.count:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(max(0.5, args.timeout - (time.monotonic() - start)))
        try:
            while s.recv(65536):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    emit(dict(state, done=True, elapsed_s=round(time.monotonic() - start, 3)))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    p.add_argument("--family", type=int, choices=[4, 6], default=4)
    p.add_argument("--bind", default="")
    p.add_argument("--addr", default="")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--sport", type=int, default=0)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--interval-ms", type=float, default=0.0)
    p.add_argument("--duration-s", type=float, default=0.0)
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--idle-s", type=float, default=1.0)
    p.add_argument("--rx-timestamps", action="store_true")
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    if not (0 < args.count <= MAX_COUNT and 0 < args.size <= MAX_SIZE and 0 < args.timeout <= MAX_TIMEOUT):
        p.error(f"count must be 1..{MAX_COUNT}, size 1..{MAX_SIZE}, timeout 1..{MAX_TIMEOUT}s")
    state["role"] = args.role
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, args.timeout + 0.5)
    if args.role == "server":
        if not args.bind:
            args.bind = "::1" if args.family == 6 else "127.0.0.1"
        return server(args)
    if not args.addr or not args.port:
        p.error("client needs --addr and --port")
    return client(args)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Holds a realistic set of sockets for bench/hostcost.ts (python3 stdlib only).

  host-sockets.py --tcp N --udp M --queued K --hold-s T

In the current network namespace, on 127.0.0.1: one TCP listener and N connected pairs (2N+1
sockets; the first K server ends hold 1000 unread bytes), and M bound UDP sockets (the first K
hold a few unread datagrams). Prints {"ready": true, "pid": P, "sockets": S} (flushed), then
sleeps until T seconds have passed or stdin closes. Bounded: N, M <= 2000, T <= 600.
"""
import argparse
import json
import os
import select
import signal
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tcp", type=int, default=100)
    p.add_argument("--udp", type=int, default=100)
    p.add_argument("--queued", type=int, default=10)
    p.add_argument("--hold-s", type=float, default=120)
    a = p.parse_args()
    if not (0 <= a.tcp <= 2000 and 0 <= a.udp <= 2000 and 0 < a.hold_s <= 600):
        p.error("tcp, udp 0..2000, hold-s 1..600")
    signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
    signal.setitimer(signal.ITIMER_REAL, a.hold_s + 1)
    keep = []
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(a.tcp + 16)
    keep.append(ls)
    for i in range(a.tcp):
        c = socket.create_connection(ls.getsockname())
        s, _ = ls.accept()
        if i < a.queued:
            c.sendall(b"q" * 1000)
        keep += [c, s]
    for i in range(a.udp):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        if i < a.queued:
            for _ in range(3):
                u.sendto(b"d" * 500, u.getsockname())
        keep.append(u)
    sys.stdout.write(json.dumps({"ready": True, "pid": os.getpid(), "sockets": len(keep)}) + "\n")
    sys.stdout.flush()
    end = time.monotonic() + a.hold_s
    while time.monotonic() < end:
        r, _, _ = select.select([sys.stdin], [], [], max(0.0, end - time.monotonic()))
        if r and not sys.stdin.read(1):
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())

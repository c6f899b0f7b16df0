#!/usr/bin/env python3
"""A UDP reader that stops reading, and a sender, for nslat's tests (python3 stdlib only).

  udp_stopped.py reader --bind ADDR [--port 0] --read N --hold-s S [--rcvbuf B] --timeout T
      Binds a UDP socket, prints {"ready": true, "port": P, "pid": PID} (flushed), reads N datagrams,
      prints {"stopped": true, "read": N}, then keeps the socket open for S seconds without reading:
      its receive queue fills and the kernel drops what does not fit (Udp.RcvbufErrors). Then
      reads what is left without waiting and ends with {"read": N, "queued": Q}, Q the datagrams
      that were still in the queue (so sent - N - Q were dropped).

  udp_stopped.py send --addr ADDR --port P --count C --size B [--interval-ms I] --timeout T
      Sends up to C datagrams of B bytes, one every I ms. Ends with {"sent": C}.

Bounded: at most C datagrams, at most --timeout seconds (SIGALRM hard stop, exit code 2). Meant
for loopback and test namespaces only.
"""
import argparse
import json
import os
import signal
import socket
import sys
import time

MAX_COUNT = 200_000
MAX_TIMEOUT = 300


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="role", required=True)
    r = sub.add_parser("reader")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, default=0)
    r.add_argument("--read", type=int, required=True)
    r.add_argument("--hold-s", type=float, required=True)
    r.add_argument("--rcvbuf", type=int, default=0)
    r.add_argument("--timeout", type=float, required=True)
    s = sub.add_parser("send")
    s.add_argument("--addr", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("--interval-ms", type=float, default=0)
    s.add_argument("--timeout", type=float, required=True)
    a = ap.parse_args()
    timeout = min(max(a.timeout, 1), MAX_TIMEOUT)
    signal.signal(signal.SIGALRM, lambda *_: os._exit(2))
    signal.alarm(int(timeout) + 1)
    fam = socket.AF_INET6 if ":" in (a.bind if a.role == "reader" else a.addr) else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    if a.role == "reader":
        if a.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
        sock.bind((a.bind, a.port))
        emit({"ready": True, "port": sock.getsockname()[1], "pid": os.getpid()})
        n = 0
        while n < min(a.read, MAX_COUNT):
            sock.recv(65536)
            n += 1
        emit({"stopped": True, "read": n})
        time.sleep(min(a.hold_s, timeout))
        sock.setblocking(False)
        queued = 0
        while queued < MAX_COUNT:
            try:
                sock.recv(65536)
            except BlockingIOError:
                break
            queued += 1
        emit({"read": n, "queued": queued})
    else:
        payload = b"x" * max(1, min(a.size, 65000))
        deadline = time.monotonic() + timeout
        sent = 0
        for _ in range(min(a.count, MAX_COUNT)):
            if time.monotonic() > deadline:
                break
            sock.sendto(payload, (a.addr, a.port))
            sent += 1
            if a.interval_ms > 0:
                time.sleep(a.interval_ms / 1000)
        emit({"sent": sent})


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Many UDP senders and several readers on one socket, on loopback, for nslat's kernel tests.

  udp_stress.py --senders N --readers R --count C --duration S --timeout T --out FILE

Binds one UDP socket on 127.0.0.1 (ephemeral port), prints {"port": P} (flushed), forks R reader
processes sharing that socket and N sender processes (each its own socket, so its own source
port). Sender i sends up to C datagrams; datagram k carries (k, CLOCK_MONOTONIC send ns) and has
64 + k % 512 payload bytes, so (source port, length, send time) identify it. Each reader
takes one datagram at a time: select() until readable, then the monotonic time, a non-blocking
recvfrom(), the monotonic time again, so the moment the kernel handed the datagram over lies
between the two. Records go to FILE as JSON lines {"sport","len","k","sent","t0","t1"}; one summary
line on stdout. Bounded: at most N*C datagrams, --duration s of sending, --timeout s in all.
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

HDR = struct.Struct("<IQ")


def mono():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def reader(sock, out_path, idle_s, deadline):
    recs = []
    first = None
    last = time.monotonic()
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.1)
        if not r:
            if first is not None and time.monotonic() - last > idle_s:
                break
            continue
        t0 = mono()
        try:
            data, addr = sock.recvfrom(2048)
        except BlockingIOError:
            continue  # another reader took it
        t1 = mono()
        last = time.monotonic()
        first = first or t0
        if len(data) >= HDR.size:
            k, sent = HDR.unpack_from(data)
            recs.append((addr[1], len(data), k, sent, t0, t1))
    with open(out_path, "a") as f:
        for sport, ln, k, sent, t0, t1 in recs:
            f.write(json.dumps({"sport": sport, "len": ln, "k": k, "sent": sent, "t0": t0, "t1": t1}) + "\n")
    os._exit(0)


def sender(port, count, duration_s):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.monotonic() + duration_s
    pad = b"u" * 600
    sent = 0
    for k in range(count):
        if time.monotonic() > end:
            break
        size = 64 + k % 512
        msg = HDR.pack(k, mono()) + pad[: size - HDR.size]
        try:
            s.sendto(msg, ("127.0.0.1", port))
            sent += 1
        except OSError:
            time.sleep(0.001)
        if k % 64 == 63:
            time.sleep(0.0005)  # let the readers keep up now and then: queues grow and drain
    os._exit(0 if sent else 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not (1 <= a.senders <= 64 and 1 <= a.readers <= 16 and 1 <= a.count <= 100000 and a.timeout <= 120):
        sys.exit("out of bounds")
    signal.signal(signal.SIGALRM, lambda *_: os._exit(2))
    signal.alarm(int(a.timeout) + 1)
    deadline = time.monotonic() + a.timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    port = s.getsockname()[1]
    open(a.out, "w").close()
    print(json.dumps({"port": port}), flush=True)
    readers = []
    for _ in range(a.readers):
        pid = os.fork()
        if pid == 0:
            reader(s, a.out, 1.0, deadline)
        readers.append(pid)
    time.sleep(0.2)
    senders = []
    for _ in range(a.senders):
        pid = os.fork()
        if pid == 0:
            sender(port, a.count, a.duration)
        senders.append(pid)
    ok = 0
    for pid in senders:
        _, st = os.waitpid(pid, 0)
        ok += os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
    for pid in readers:
        os.waitpid(pid, 0)
    with open(a.out) as f:
        received = sum(1 for _ in f)
    print(json.dumps({"port": port, "senders_ok": ok, "received": received}), flush=True)


if __name__ == "__main__":
    main()

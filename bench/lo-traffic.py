# Bounded loopback TCP + UDP (v4, v6) traffic for nslat checks: python3 lo-traffic.py SECONDS [read_delay_ms]
import socket, sys, threading, time
dur = float(sys.argv[1]); delay = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0
end = time.time() + dur
def tcp():
    srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
    port = srv.getsockname()[1]
    c = socket.create_connection(('127.0.0.1', port)); s, _ = srv.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n = 0
    while time.time() < end:
        c.send(b'x' * 100); 
        if delay: time.sleep(delay)
        s.recv(65536); n += 1
        time.sleep(0.0005)
    c.close(); s.close(); srv.close(); print('tcp msgs', n, 'port', port)
def udp():
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))
    w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 0
    while time.time() < end:
        w.sendto(b'y' * 200, r.getsockname()); r.recv(65536); n += 1
        time.sleep(0.0005)
    print('udp msgs', n, 'port', r.getsockname()[1])
def udp6():
    r = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); r.bind(('::1', 0))
    w = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    n = 0
    while time.time() < end:
        w.sendto(b'z' * 300, r.getsockname()[:2]); r.recv(65536); n += 1
        time.sleep(0.002)
    print('udp6 msgs', n)
ts = [threading.Thread(target=f) for f in (tcp, udp, udp6)]
[t.start() for t in ts]; [t.join() for t in ts]

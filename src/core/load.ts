/**
 * The built-in demo load (`--load loopback`): TCP and UDP ping-pong on 127.0.0.1 and ::1, so every
 * RX and TX stage sees packets. Hard-bounded: it stops at `durationMs` (at most 10 minutes) or after
 * `maxMessages` round trips, whichever comes first, and never leaves loopback.
 *
 * Local targets run it in this process. Remote targets run the same load with python3 on the target
 * (through the transport's argument-array run, with the same bounds passed as arguments).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { Transport } from './transport/types.ts';

export interface LoadOptions {
  durationMs: number;
  /** Round trips over all flows (default 200 000). */
  maxMessages?: number;
  /** Payload bytes per message (default 256). */
  payload?: number;
}

export interface LoadStats {
  tcp: number;
  udp: number;
  flows: string[];
  errors: string[];
  elapsedMs: number;
}

export interface RunningLoad {
  /** Resolves when the load has ended by itself or by stop(). */
  done: Promise<LoadStats>;
  stop(): Promise<LoadStats>;
}

export const LOAD_MAX_MS = 10 * 60_000;
export const LOAD_MAX_MESSAGES = 2_000_000;

function bounds(o: LoadOptions) {
  const durationMs = Math.max(0, Math.min(Number.isFinite(o.durationMs) ? o.durationMs : 0, LOAD_MAX_MS));
  const maxMessages = Math.max(1, Math.min(o.maxMessages ?? 200_000, LOAD_MAX_MESSAGES));
  const payload = Math.max(1, Math.min(o.payload ?? 256, 8192));
  return { durationMs, maxMessages, payload };
}

/** Starts the in-process loopback load. */
export function startLoopbackLoad(opts: LoadOptions): RunningLoad {
  const { durationMs, maxMessages, payload } = bounds(opts);
  const stats: LoadStats = { tcp: 0, udp: 0, flows: [], errors: [], elapsedMs: 0 };
  const t0 = Date.now();
  let stopped = false;
  const closers: Array<() => void> = [];
  const msg = Buffer.alloc(payload, 0x6e);
  let resolveDone!: (s: LoadStats) => void;
  const done = new Promise<LoadStats>((r) => { resolveDone = r; });
  const budgetLeft = () => !stopped && stats.tcp + stats.udp < maxMessages && Date.now() - t0 < durationMs;

  const finish = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    for (const c of closers.splice(0)) { try { c(); } catch { /* closing anyway */ } }
    stats.elapsedMs = Date.now() - t0;
    resolveDone(stats);
  };
  const timer = setTimeout(finish, durationMs);
  timer.unref?.();
  const fail = (what: string, e: unknown) => {
    if (stats.errors.length < 10) stats.errors.push(`${what}: ${(e as Error)?.message ?? String(e)}`);
  };

  const tcpFlow = (host: string) => {
    const server: Server = createServer((s) => {
      s.setNoDelay(true);
      s.on('data', (d) => { if (!stopped) s.write(d); });
      s.on('error', () => {});
      closers.push(() => s.destroy());
    });
    server.on('error', (e) => fail(`tcp ${host}`, e));
    closers.push(() => server.close());
    server.listen(0, host, () => {
      const port = (server.address() as AddressInfo).port;
      const c: Socket = connect({ host, port });
      closers.push(() => c.destroy());
      c.setNoDelay(true);
      let got = 0;
      c.on('connect', () => { stats.flows.push(`tcp ${host}:${port}`); c.write(msg); });
      c.on('data', (d) => {
        got += d.length;
        while (got >= payload) {
          got -= payload;
          stats.tcp++;
          if (!budgetLeft()) { finish(); return; }
          c.write(msg);
        }
      });
      c.on('error', (e) => fail(`tcp ${host}`, e));
    });
  };

  const udpFlow = (host: string, type: 'udp4' | 'udp6') => {
    const server: UdpSocket = createSocket(type);
    const client: UdpSocket = createSocket(type);
    closers.push(() => server.close(), () => client.close());
    server.on('error', (e) => fail(`udp ${host}`, e));
    client.on('error', (e) => fail(`udp ${host}`, e));
    server.on('message', (m, rinfo) => { if (!stopped) server.send(m, rinfo.port, rinfo.address); });
    let retry: NodeJS.Timeout | undefined;
    closers.push(() => clearTimeout(retry));
    server.bind(0, host, () => {
      const port = server.address().port;
      const send = () => {
        if (stopped) return;
        client.send(msg, port, host);
        clearTimeout(retry);
        retry = setTimeout(send, 200); // a lost datagram must not stall the flow
        retry.unref?.();
      };
      client.on('message', () => {
        stats.udp++;
        if (!budgetLeft()) { finish(); return; }
        send();
      });
      client.bind(0, host, () => { stats.flows.push(`udp ${host}:${port}`); send(); });
    });
  };

  try {
    tcpFlow('127.0.0.1');
    tcpFlow('::1');
    udpFlow('127.0.0.1', 'udp4');
    udpFlow('::1', 'udp6');
  } catch (e) {
    fail('start', e);
  }
  if (durationMs === 0) finish();
  return { done, stop: async () => { finish(); return done; } };
}

/** The same load for a remote target, in python3 (argv: duration_s max_messages payload). */
export const PY_LOAD = String.raw`
import socket, sys, threading, time
dur, maxm, size = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
dur = max(0.0, min(dur, 600.0)); maxm = max(1, min(maxm, 2000000)); size = max(1, min(size, 8192))
end = time.time() + dur
count = {'tcp': 0, 'udp': 0}
lock = threading.Lock()
msg = b'n' * size
def left():
    return time.time() < end and count['tcp'] + count['udp'] < maxm
def tcp(fam, host):
    try:
        srv = socket.socket(fam, socket.SOCK_STREAM); srv.bind((host, 0)); srv.listen(1)
        port = srv.getsockname()[1]
        def echo():
            c, _ = srv.accept(); c.settimeout(1.0)
            try:
                while True:
                    d = c.recv(65536)
                    if not d: break
                    c.sendall(d)
            except OSError: pass
        threading.Thread(target=echo, daemon=True).start()
        c = socket.socket(fam, socket.SOCK_STREAM); c.settimeout(1.0); c.connect((host, port))
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while left():
            c.sendall(msg); got = 0
            while got < size: got += len(c.recv(size - got))
            with lock: count['tcp'] += 1
        c.close()
    except OSError: pass
def udp(fam, host):
    try:
        srv = socket.socket(fam, socket.SOCK_DGRAM); srv.bind((host, 0)); srv.settimeout(0.5)
        port = srv.getsockname()[1]
        def echo():
            while left():
                try:
                    d, a = srv.recvfrom(65536); srv.sendto(d, a)
                except OSError: pass
        threading.Thread(target=echo, daemon=True).start()
        c = socket.socket(fam, socket.SOCK_DGRAM); c.settimeout(0.2)
        while left():
            c.sendto(msg, (host, port))
            try:
                c.recvfrom(65536)
                with lock: count['udp'] += 1
            except OSError: pass
    except OSError: pass
ts = [threading.Thread(target=f, args=a) for f, a in ((tcp, (socket.AF_INET, '127.0.0.1')), (tcp, (socket.AF_INET6, '::1')), (udp, (socket.AF_INET, '127.0.0.1')), (udp, (socket.AF_INET6, '::1')))]
for t in ts: t.start()
for t in ts: t.join(dur + 5)
print('{"tcp": %d, "udp": %d}' % (count['tcp'], count['udp']))
`;

/** Runs the load on a remote target with python3; bounded there and by the run's timeout here. */
export function startRemoteLoopbackLoad(transport: Transport, opts: LoadOptions): RunningLoad {
  const { durationMs, maxMessages, payload } = bounds(opts);
  const ac = new AbortController();
  const t0 = Date.now();
  const done = transport
    .run(['python3', '-c', PY_LOAD, String(durationMs / 1000), String(maxMessages), String(payload)], { timeoutMs: durationMs + 15_000, signal: ac.signal })
    .then((r): LoadStats => {
      const m = /\{"tcp": (\d+), "udp": (\d+)\}/.exec(r.stdout);
      return {
        tcp: m ? Number(m[1]) : 0, udp: m ? Number(m[2]) : 0, flows: ['tcp 127.0.0.1', 'tcp ::1', 'udp 127.0.0.1', 'udp ::1'],
        errors: r.exitCode === 0 ? [] : [`python3 load exited with ${r.exitCode}: ${r.stderr.trim().slice(0, 300)}`], elapsedMs: Date.now() - t0,
      };
    })
    .catch((e: Error): LoadStats => ({ tcp: 0, udp: 0, flows: [], errors: [ac.signal.aborted ? 'stopped' : e.message], elapsedMs: Date.now() - t0 }));
  return { done, stop: async () => { ac.abort(); return done; } };
}

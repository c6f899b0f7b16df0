/**
 * Runs test/kernel/lib/traffic.py (bounded TCP/UDP client and server), optionally inside a
 * network namespace. Every run is bounded in count and time (the script's own hard timeout, plus
 * execa's timeout one second later).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { nsPrefix } from './netns.ts';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'traffic.py');

export interface FlowOptions {
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  /** Server address (also the client's destination). Defaults to 127.0.0.1 / ::1. */
  addr?: string;
  /** Namespaces for server and client (default: the current one). */
  serverNs?: string;
  clientNs?: string;
  count: number;
  size: number;
  intervalMs?: number;
  /** Client stops sending after this many seconds even if `count` is not reached. */
  durationS?: number;
  /** Server waits this long between "readable" and recv(). */
  delayMs?: number;
  /** The server's socket asks for software receive timestamps (SO_TIMESTAMPNS), which turns on
   *  the kernel's stamping of every received skb while it is open. */
  rxTimestamps?: boolean;
  /** Fixed server port (default: an ephemeral one). */
  port?: number;
  /** Fixed client source port (default: an ephemeral one). */
  sport?: number;
  timeoutS?: number;
}

export interface FlowResult {
  port: number;
  server: { received: number; bytes: number; reads: number; timeout?: boolean };
  client: { sent: number; bytes: number; elapsed_s?: number; timeout?: boolean };
}

function argv(ns: string | undefined, args: string[]): [string, string[]] {
  const full = [...(ns ? nsPrefix(ns) : []), 'python3', SCRIPT, ...args];
  return [full[0]!, full.slice(1)];
}

function lastJson(out: string): Record<string, unknown> {
  const lines = out.trim().split('\n').filter(Boolean);
  return JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>;
}

export interface ServerOptions {
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  /** Address to bind (default 127.0.0.1 / ::1). */
  addr?: string;
  /** Namespace to run in (default: the current one). */
  ns?: string;
  count: number;
  size: number;
  /** Waits this long between "readable" and each recv() (a slow or stalled reader). */
  delayMs?: number;
  /** Asks for software receive timestamps (SO_TIMESTAMPNS): see FlowOptions. */
  rxTimestamps?: boolean;
  port?: number;
  timeoutS?: number;
}

export interface Server {
  port: number;
  /** The server process's pid (ip netns exec runs it in place). */
  pid: number;
  /** Its counts, once it has ended. */
  result(): Promise<FlowResult['server']>;
  stop(): void;
}

/** The arguments server and client share. */
function common(o: { proto: string; family: number; count: number; size: number }): string[] {
  return ['--proto', o.proto, '--family', String(o.family), '--count', String(o.count), '--size', String(o.size)];
}

/** Starts a traffic.py server and resolves once it listens. */
export async function startServer(o: ServerOptions): Promise<Server> {
  const timeoutS = o.timeoutS ?? 20;
  const addr = o.addr ?? (o.family === 6 ? '::1' : '127.0.0.1');
  const [sf, sa] = argv(o.ns, [
    'server',
    ...common(o),
    '--bind',
    addr,
    '--port',
    String(o.port ?? 0),
    '--delay-ms',
    String(o.delayMs ?? 0),
    ...(o.rxTimestamps ? ['--rx-timestamps'] : []),
    '--timeout',
    String(timeoutS),
  ]);
  const proc = execa(sf, sa, { timeout: (timeoutS + 2) * 1000, reject: false, buffer: true, stdout: 'pipe' });
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      let acc = '';
      const t = setTimeout(() => reject(new Error('traffic server did not become ready within 10 s')), 10_000);
      proc.stdout.on('data', (chunk: Buffer) => {
        acc += chunk.toString('utf8');
        const nl = acc.indexOf('\n');
        if (nl !== -1) {
          clearTimeout(t);
          const first = JSON.parse(acc.slice(0, nl)) as { port: number };
          resolvePort(first.port);
        }
      });
      void proc.then((r) => {
        clearTimeout(t);
        reject(new Error(`traffic server exited early: ${r.stderr || r.stdout}`));
      });
    });
    return {
      port,
      pid: proc.pid ?? -1,
      result: async () => {
        const r = await proc;
        if (r.exitCode !== 0 && o.proto === 'tcp') throw new Error(`traffic server failed (${r.exitCode}): ${r.stderr || r.stdout}`);
        return lastJson(String(r.stdout)) as FlowResult['server'];
      },
      stop: () => proc.kill('SIGKILL'),
    };
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
}

export interface ClientOptions {
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  addr: string;
  port: number;
  ns?: string;
  count: number;
  size: number;
  intervalMs?: number;
  durationS?: number;
  sport?: number;
  timeoutS?: number;
}

/** Runs one traffic.py client to its end and returns its counts. */
export async function runClient(o: ClientOptions): Promise<FlowResult['client']> {
  const timeoutS = o.timeoutS ?? 20;
  const [cf, ca] = argv(o.ns, [
    'client',
    ...common(o),
    '--addr',
    o.addr,
    '--port',
    String(o.port),
    '--interval-ms',
    String(o.intervalMs ?? 0),
    '--duration-s',
    String(o.durationS ?? 0),
    '--sport',
    String(o.sport ?? 0),
    '--timeout',
    String(timeoutS),
  ]);
  const client = await execa(cf, ca, { timeout: (timeoutS + 2) * 1000, reject: false });
  if (client.exitCode !== 0) throw new Error(`traffic client failed (${client.exitCode}): ${client.stderr || client.stdout}`);
  return lastJson(client.stdout) as FlowResult['client'];
}

/** Starts a server, runs one client against it, and returns both sides' counts. */
export async function runFlow(o: FlowOptions): Promise<FlowResult> {
  const timeoutS = o.timeoutS ?? 20;
  const addr = o.addr ?? (o.family === 6 ? '::1' : '127.0.0.1');
  const server = await startServer({ proto: o.proto, family: o.family, addr, ns: o.serverNs, count: o.count, size: o.size, delayMs: o.delayMs, rxTimestamps: o.rxTimestamps, port: o.port, timeoutS });
  try {
    const client = await runClient({
      proto: o.proto,
      family: o.family,
      addr,
      port: server.port,
      ns: o.clientNs,
      count: o.count,
      size: o.size,
      intervalMs: o.intervalMs,
      durationS: o.durationS,
      sport: o.sport,
      timeoutS,
    });
    return { port: server.port, server: await server.result(), client };
  } finally {
    server.stop();
  }
}

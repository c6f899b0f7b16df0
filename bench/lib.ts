/**
 * Shared pieces of the benchmarks (bench/main.ts): a raw NDJSON helper driver, sockperf/iperf3
 * runners, kernel bpf_stats readers, statistics. Benchmark code, not a test. Every child process is
 * started here, tracked by PID, bounded in time and ended by PID only.
 */
import { execa, type ResultPromise } from 'execa';
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ADAPTIVE, SessionSampling, type SamplingMode } from '../src/core/sampling.ts';
import { parseHelperMessage, type HelperMessage, type LoadedMessage } from '../src/core/protocol.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

// ------------------------------------------------------------------ child process bookkeeping

type Child = ResultPromise;
const children = new Set<Child>();

/** Starts a long-running child; it is killed (by its own PID) on cleanup if still running. */
export function spawnTracked(file: string, args: string[], opts: Record<string, unknown> = {}): Child {
  const c = execa(file, args, { reject: false, buffer: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', ...opts }) as Child;
  children.add(c);
  c.finally(() => children.delete(c)).catch(() => undefined);
  return c;
}

/** Ends a child by its PID: `sig` first, SIGKILL after `graceMs`. */
export async function stopChild(c: Child, sig: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
  if (c.exitCode !== null && c.exitCode !== undefined) return;
  try { if (c.pid) process.kill(c.pid, sig); } catch { /* gone */ }
  const done = await Promise.race([c.then(() => true, () => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    try { if (c.pid) process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
    await Promise.race([c.catch(() => undefined), sleep(2000)]);
  }
}

export function killAllChildrenSync(): void {
  for (const c of children) {
    try { if (c.pid) process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

// ------------------------------------------------------------------ statistics

export function quantile(xs: number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const i = (s.length - 1) * p;
  const lo = Math.floor(i), hi = Math.ceil(i);
  return s[lo]! + (s[hi]! - s[lo]!) * (i - lo);
}
export const median = (xs: number[]) => quantile(xs, 0.5);
export const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

// ------------------------------------------------------------------ kernel counters

export type ProgRun = { run_time_ns: number; run_cnt: number; name: string; type: string };

/** run_time_ns / run_cnt of every program in the kernel (bpftool), by id. */
export async function progStats(): Promise<Map<number, ProgRun>> {
  const r = await execa('bpftool', ['prog', 'show', '--json'], { reject: false, timeout: 20_000 });
  if (r.exitCode !== 0) throw new Error(`bpftool prog show failed: ${r.stderr}`);
  const out = new Map<number, ProgRun>();
  for (const p of JSON.parse(String(r.stdout) || '[]') as Array<Record<string, unknown>>) {
    out.set(p.id as number, { run_time_ns: Number(p.run_time_ns ?? 0), run_cnt: Number(p.run_cnt ?? 0), name: String(p.name ?? ''), type: String(p.type ?? '') });
  }
  return out;
}

export function loRxPackets(): number {
  return Number(readFileSync('/sys/class/net/lo/statistics/rx_packets', 'utf8').trim());
}

/** BPF program ids a process holds (prog fds, and perf-event fds with a program: "prog_id:" in fdinfo). */
export function progIdsOfPid(pid: number): number[] {
  const ids = new Set<number>();
  let fds: string[] = [];
  try { fds = readdirSync(`/proc/${pid}/fdinfo`); } catch { return []; }
  for (const fd of fds) {
    try {
      const m = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').match(/^prog_id:\s+(\d+)/m);
      if (m) ids.add(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  return [...ids];
}

const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';
export const bpfStatsValue = () => readFileSync(BPF_STATS, 'utf8').trim();
export async function setBpfStats(v: string): Promise<void> {
  const r = await execa('sysctl', ['-q', '-w', `kernel.bpf_stats_enabled=${v}`], { reject: false, timeout: 10_000 });
  if (r.exitCode !== 0) throw new Error(`sysctl kernel.bpf_stats_enabled=${v} failed: ${r.stderr}`);
}

// ------------------------------------------------------------------ the helper, raw NDJSON

export class RawHelper {
  private pending = new Map<string, { resolve: (m: HelperMessage) => void; reject: (e: Error) => void }>();
  private seq = 0;
  readonly messages: HelperMessage[] = [];
  onMessage?: (m: HelperMessage, tMs: number) => void;
  stderr = '';
  private constructor(readonly child: Child) {}

  static async start(helperPath: string, workdir: string, opts: { intervalMs: number; bpfStats?: boolean }): Promise<RawHelper> {
    const args = ['--workdir', workdir, '--interval-ms', String(opts.intervalMs)];
    if (opts.bpfStats) args.push('--bpf-stats');
    const c = spawnTracked(helperPath, args, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
    const h = new RawHelper(c);
    c.stderr!.on('data', (d: Buffer) => { h.stderr = (h.stderr + d.toString()).slice(-4000); });
    const rl = createInterface({ input: c.stdout! });
    let hello: (m: HelperMessage) => void = () => undefined;
    const gotHello = new Promise<HelperMessage>((r) => (hello = r));
    rl.on('line', (line) => {
      const t = now();
      const r = parseHelperMessage(line);
      if (!r.ok) return;
      const m = r.value;
      if (m.type !== 'snapshot' && m.type !== 'journey') h.messages.push(m);
      if (m.type === 'hello') hello(m);
      h.onMessage?.(m, t);
      const id = (m as { id?: string }).id;
      if (id && h.pending.has(id) && m.type !== 'log') {
        const p = h.pending.get(id)!;
        h.pending.delete(id);
        if (m.type === 'error') p.reject(new Error(`helper ${m.code}: ${m.message}${m.log ? `\n${m.log.slice(-1500)}` : ''}`));
        else p.resolve(m);
      }
    });
    const exited = c.then(() => { throw new Error(`helper exited before hello: ${h.stderr}`); });
    await Promise.race([gotHello, exited, sleep(20_000).then(() => { throw new Error('no hello from the helper in 20 s'); })]);
    return h;
  }

  request(body: Record<string, unknown>, timeoutMs = 60_000): Promise<HelperMessage> {
    const id = `b${++this.seq}`;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.pending.delete(id); reject(new Error(`helper: no answer to ${String(body.cmd)} in ${timeoutMs} ms`)); }, timeoutMs);
      this.pending.set(id, { resolve: (m) => (clearTimeout(t), resolve(m)), reject: (e) => (clearTimeout(t), reject(e)) });
      this.child.stdin!.write(`${JSON.stringify({ ...body, id })}\n`);
    });
  }

  /** A command without a reply (set). */
  send(body: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify({ ...body, id: `b${++this.seq}` })}\n`);
  }

  async load(slot: string, object: string): Promise<LoadedMessage> {
    return (await this.request({ cmd: 'load', slot, object })) as LoadedMessage;
  }

  /** Sets the sampling rates after each snapshot as a session does by default
   *  (src/core/sampling.ts): the bench's "default settings". Slot `irq` is the IRQ object. Returns
   *  the packet rates chosen, in order. */
  adaptSampling(mode: SamplingMode = ADAPTIVE): number[] {
    const rates = new SessionSampling(mode);
    const chosen: number[] = [];
    const prev = this.onMessage;
    this.onMessage = (m, t) => {
      prev?.(m, t);
      if (m.type !== 'snapshot') return;
      const r = rates.observe(m, (slot) => slot === 'irq');
      if (!r) return;
      for (const c of r.changes) if (c.of === 'packets') chosen.push(c.every);
      this.send({ cmd: 'set', data: r.data });
    };
    return chosen;
  }

  /** quit, then close stdin (the helper detaches everything), then SIGKILL if it lingers. */
  async quit(): Promise<void> {
    try { this.child.stdin!.write('{"cmd":"quit","id":"q"}\n'); this.child.stdin!.end(); } catch { /* closed */ }
    const done = await Promise.race([this.child.then(() => true, () => true), sleep(8000).then(() => false)]);
    if (!done) await stopChild(this.child, 'SIGTERM');
  }
}

// ------------------------------------------------------------------ load generators

/** `cpu`: pin with taskset (client and server on one CPU: this VM's cross-CPU wake-up of an idle
 *  vCPU costs ~60 µs and makes unpinned ping-pong RTTs bimodal, 5 µs or 65 µs run by run). */
const pinned = (cpu: number | undefined, file: string, a: string[]): [string, string[]] => (cpu === undefined ? [file, a] : ['taskset', ['-c', String(cpu), file, ...a]]);

export function sockperfServer(proto: 'tcp' | 'udp', port: number, cpu?: number): Child {
  return spawnTracked(...pinned(cpu, 'sockperf', ['sr', ...(proto === 'tcp' ? ['--tcp'] : []), '-i', '127.0.0.1', '-p', String(port)]));
}

export type PingPong = { p50: number; p99: number; avg: number; msgs: number; runtime: number };
const pct = (out: string, p: string) => Number(out.match(new RegExp(`percentile ${p.replace('.', '\\.')} =\\s*([\\d.]+)`))?.[1] ?? NaN);

/** sockperf ping-pong (RTT in µs, --full-rtt). */
export async function sockperfPP(proto: 'tcp' | 'udp', port: number, seconds: number, cpu?: number): Promise<PingPong> {
  const r = await execa(...pinned(cpu, 'sockperf', ['pp', ...(proto === 'tcp' ? ['--tcp'] : []), '-i', '127.0.0.1', '-p', String(port), '-t', String(seconds), '--full-rtt']), { reject: false, all: true, timeout: (seconds + 20) * 1000 });
  const out = String(r.all ?? '');
  const v = out.match(/\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)/);
  const res = { p50: pct(out, '50.000'), p99: pct(out, '99.000'), avg: Number(out.match(/avg-rtt=([\d.]+)/)?.[1] ?? NaN), msgs: v ? Number(v[2]) + Number(v[3]) : NaN, runtime: v ? Number(v[1]) : NaN };
  if (!Number.isFinite(res.p50)) throw new Error(`sockperf pp ${proto} gave no percentiles:\n${out.slice(-800)}`);
  return res;
}

/** sockperf throughput: messages sent. */
export async function sockperfTP(proto: 'tcp' | 'udp', port: number, seconds: number, msgSize = 64): Promise<{ msgs: number }> {
  const r = await execa('sockperf', ['tp', ...(proto === 'tcp' ? ['--tcp'] : []), '-i', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-m', String(msgSize)], { reject: false, all: true, timeout: (seconds + 20) * 1000 });
  const out = String(r.all ?? '');
  const m = out.match(/Total of (\d+) messages sent/);
  if (!m) throw new Error(`sockperf tp ${proto} failed:\n${out.slice(-800)}`);
  return { msgs: Number(m[1]) };
}

export async function iperf3(port: number, seconds: number): Promise<number> {
  const r = await execa('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-J'], { reject: false, timeout: (seconds + 20) * 1000 });
  const j = JSON.parse(String(r.stdout || '{}')) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  const bps = j.end?.sum_received?.bits_per_second;
  if (!bps) throw new Error(`iperf3 failed: ${j.error ?? r.stderr}`);
  return bps;
}

// ------------------------------------------------------------------ start-up timing

export type TimedStart = {
  session: import('../src/core/session.ts').Session;
  /** Session.start() resolved, ms after the call. */
  start_ms: number;
  /** The first snapshot message, ms after the call (NaN: none within 15 s). */
  first_snapshot_ms: number;
  /** When each progress phase was first reported, ms after the call. */
  phases: Record<string, number>;
};

/** Session.start with every stage and a 100 ms interval, timed to its first snapshot (the
 *  start-up method of the benches); the caller stops the session. */
export async function timedStart(opts: { host?: string; sshConfig?: string }): Promise<TimedStart> {
  const { Session } = await import('../src/core/session.ts');
  const phases: Record<string, number> = {};
  const t0 = now();
  const session = await Session.start({
    ...opts, stages: ['rx', 'tx', 'irq'], intervalMs: 100,
    onProgress: (p) => { if (!(p.phase in phases)) phases[p.phase] = now() - t0; },
  });
  const start_ms = now() - t0;
  let first_snapshot_ms = start_ms;
  if (!session.startupMessages.some((m) => m.type === 'snapshot')) {
    first_snapshot_ms = await new Promise<number>((resolve) => {
      const to = setTimeout(() => resolve(NaN), 15_000);
      session.on('message', (m) => { if (m.type === 'snapshot') { clearTimeout(to); resolve(now() - t0); } });
    });
  }
  return { session, start_ms, first_snapshot_ms, phases };
}

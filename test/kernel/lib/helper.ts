/**
 * Drives the real root helper (bpf/build/nslat-helper) for the kernel tests.
 *
 * - Every stdout line is validated with parseHelperMessage (src/core/protocol.ts): an invalid line is
 *   recorded and fails the test (`assertProtocolClean`, and every wait rejects as soon as one
 *   arrives). This is how the helper's side is checked against the protocol.
 * - Waits are bounded; a timeout error names what was awaited and shows the helper's recent output.
 * - Snapshot deltas are merged into totals per histogram (`Totals`), percentiles come from the log2
 *   buckets, and `leakedProgIds` checks with bpftool that none of the programs a helper reported
 *   outlive it.
 */
import { accessSync, constants, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import {
  HIST_BUCKETS,
  MAX_MESSAGE_BYTES,
  encodeCommand,
  parseHelperMessage,
  type HelloMessage,
  type HelperCommand,
  type HelperMessage,
  type HistDelta,
  type LoadedMessage,
  type SnapshotMessage,
  type VerifiedMessage,
} from '../../../src/core/protocol.ts';
import { countOf, quantile } from '../../../src/core/hist.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BPF_DIR = join(REPO, 'bpf');
/** The machine type nslat names architectures by (uname -m). */
export const ARCH = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[process.arch] ?? process.arch;
/** The shipped helper and objects for this machine (make -C bpf ship): what targets run, so what
 *  the suite tests. NSLAT_KERNEL_BUILD points the suite at another directory of the same files. */
export const BUILD_DIR = process.env.NSLAT_KERNEL_BUILD ? resolve(process.env.NSLAT_KERNEL_BUILD) : join(BPF_DIR, 'build', 'ship', ARCH);
export const HELPER_BIN = join(BUILD_DIR, 'nslat-helper');
export const OBJECTS = ['rx', 'tx', 'irq'] as const;

type ErrorMsg = Extract<HelperMessage, { type: 'error' }>;
type ByeMsg = Extract<HelperMessage, { type: 'bye' }>;

// ---------------------------------------------------------------- prerequisites

let buildTried: string | false | undefined;

/**
 * Why the kernel suite cannot run here, or undefined when it can. Builds bpf/ once (make -C bpf)
 * when the helper or an object is missing.
 */
export async function kernelSkipReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'kernel tests need Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'kernel tests need root (they load BPF programs and create network namespaces); run them as root';
  }
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'kernel tests need BTF (/sys/kernel/btf/vmlinux is missing)';
  for (const tool of ['bpftool', 'ip', 'tc', 'python3']) {
    const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', tool], { reject: false });
    if (r.exitCode !== 0) return `kernel tests need ${tool} (see scripts/apt-packages.txt)`;
  }
  const missing = () => [HELPER_BIN, ...OBJECTS.map((o) => join(BUILD_DIR, `${o}.bpf.o`))].filter((f) => !existsSync(f));
  if (missing().length && buildTried === undefined) {
    const r = await execa('make', ['-C', BPF_DIR], { reject: false, all: true, timeout: 300_000 });
    buildTried = r.exitCode === 0 ? false : (r.all ?? '').split('\n').slice(-15).join('\n');
  }
  const still = missing();
  if (still.length) {
    return `bpf build missing ${still.map((f) => basename(f)).join(', ')} (make -C bpf${buildTried ? ` failed:\n${buildTried}` : ''})`;
  }
  try {
    accessSync(HELPER_BIN, constants.X_OK);
  } catch {
    return `${HELPER_BIN} is not executable`;
  }
  return undefined;
}

// ---------------------------------------------------------------- the helper process

export interface LoadOptions {
  rodata?: Record<string, number>;
  /** rodata by the object's own direction (the helper picks it from the object's BTF). */
  rodata_by_dir?: Partial<Record<'rx' | 'tx' | 'irq', Record<string, number>>>;
  data?: Record<string, number>;
  /** Names the object does not declare are passed over and listed in `unset`. */
  if_declared?: boolean;
  /** Network namespaces (inodes) where netfilter programs attach besides the helper's own. */
  netns?: number[];
  /** An edited probe: the first verifier refusal fails the load and the slot keeps its object. */
  strict?: boolean;
  timeoutMs?: number;
}

export interface StartOptions {
  /** Objects to copy into the work dir (default rx, tx, irq from bpf/build). */
  objects?: string[];
  /** Extra helper arguments. */
  args?: string[];
  helloTimeoutMs?: number;
  /** Another helper binary (a sanitizer or dynamic build). */
  bin?: string;
  /** Run the helper under this command (e.g. valgrind and its options). */
  prefix?: string[];
  /** Extra environment (ASAN_OPTIONS...). */
  env?: Record<string, string>;
}

let seq = 0;
const running = new Set<Helper>();

export class Helper {
  readonly messages: HelperMessage[] = [];
  /** Lines that failed validation against the protocol (each one fails the test). */
  readonly invalid: Array<{ line: string; error: string }> = [];
  /** log and error lines as the helper wrote them (every field, whatever the schema keeps). */
  readonly rawLines: Array<Record<string, unknown>> = [];
  stderr = '';
  hello!: HelloMessage;
  exit: { code: number | undefined; signal: string | undefined } | undefined;
  private waiters = new Set<() => void>();
  private buf = '';
  private exited: Promise<void>;

  private constructor(
    readonly workdir: string,
    readonly proc: ResultPromise<{ stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; buffer: false; reject: false }>,
  ) {
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => this.onData(chunk));
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => {
      this.stderr += chunk;
      if (this.stderr.length > 1_000_000) this.stderr = this.stderr.slice(-500_000);
    });
    // Writing to a helper that has exited must not crash the test process.
    proc.stdin.on('error', () => undefined);
    this.exited = proc.then(
      (r) => {
        this.exit = { code: r.exitCode, signal: r.signal };
      },
      (e: unknown) => {
        this.exit = { code: undefined, signal: String(e) };
      },
    ).finally(() => {
      if (this.buf) this.onLine(this.buf);
      this.buf = '';
      running.delete(this);
      this.wake();
    });
  }

  /** Starts the helper in a fresh temp work dir holding copies of the built objects; waits for hello. */
  static async start(opts: StartOptions = {}): Promise<Helper> {
    const workdir = mkdtempSync(join(tmpdir(), 'nslat-kernel-'));
    try {
      for (const o of opts.objects ?? OBJECTS.map((n) => join(BUILD_DIR, `${n}.bpf.o`))) {
        // Copies, not symlinks: the helper (rightly) resolves links and refuses targets outside its dir.
        copyFileSync(o, join(workdir, basename(o)));
      }
    } catch (e) {
      rmSync(workdir, { recursive: true, force: true });
      throw e;
    }
    const argv = [...(opts.prefix ?? []), opts.bin ?? HELPER_BIN, '--workdir', workdir, ...(opts.args ?? [])];
    const proc = execa(argv[0]!, argv.slice(1), {
      ...(opts.env ? { env: opts.env } : {}),
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cleanup: true,
    });
    const h = new Helper(workdir, proc);
    running.add(h);
    try {
      h.hello = await h.waitFor((m): m is HelloMessage => m.type === 'hello', opts.helloTimeoutMs ?? 15_000, 'hello');
    } catch (e) {
      await h.dispose();
      throw e;
    }
    return h;
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Path of a file in the work dir. */
  path(name: string): string {
    return join(this.workdir, name);
  }

  /** Copies a file into the work dir (under `name`) and returns its path there. */
  addObject(src: string, name = basename(src)): string {
    const dst = this.path(name);
    copyFileSync(src, dst);
    return dst;
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) !== -1) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.onLine(line);
    }
    if (this.buf.length > MAX_MESSAGE_BYTES) {
      this.invalid.push({ line: `${this.buf.slice(0, 200)}…`, error: `unterminated line over ${MAX_MESSAGE_BYTES} bytes` });
      this.buf = '';
    }
    this.wake();
  }

  private onLine(line: string): void {
    if (line === '') {
      this.invalid.push({ line, error: 'empty line' });
      return;
    }
    const r = parseHelperMessage(line);
    if (!r.ok) {
      this.invalid.push({ line: line.slice(0, 500), error: r.error.message });
      return;
    }
    if (r.value.type === 'log' || r.value.type === 'error') {
      const raw = JSON.parse(line) as Record<string, unknown>;
      this.rawLines.push(raw);
    }
    this.messages.push(r.value);
    const bad = this.semantics(r.value);
    if (bad) this.invalid.push({ line: line.slice(0, 500), error: bad });
  }

  private lastSeq: number | undefined;

  /** What the schema cannot say but protocol.ts's comments do; a violation counts as an invalid line. */
  private semantics(m: HelperMessage): string | undefined {
    if (m.type === 'snapshot') {
      if (this.lastSeq !== undefined && m.seq !== this.lastSeq + 1) return `snapshot seq ${m.seq} after ${this.lastSeq} (must increase by one)`;
      this.lastSeq = m.seq;
      for (const slot of m.slots) {
        for (const h of slot.hists) {
          const n = h.buckets.reduce((a, [, c]) => a + c, 0);
          if (n !== h.count) return `slot ${slot.slot} hist ${h.name}: count ${h.count} but buckets hold ${n}`;
          if (h.count === 0 && h.sum !== 0) return `slot ${slot.slot} hist ${h.name}: sum ${h.sum} with count 0`;
          if (new Set(h.buckets.map(([b]) => b)).size !== h.buckets.length) return `slot ${slot.slot} hist ${h.name}: a bucket listed twice`;
        }
      }
    }
    if (m.type === 'loaded') {
      for (const p of m.programs) {
        if (p.status === 'attached' && (p.prog_id === undefined || p.attach === undefined)) return `program ${p.name} attached without prog_id/attach`;
        if (p.status !== 'attached' && !p.reason) return `program ${p.name} ${p.status} without a reason`;
      }
      const names = m.boundaries.map((b) => b.name);
      if (new Set(names).size !== names.length) return `boundary names repeat: ${names.join(', ')}`;
    }
    return undefined;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Fails (throws) when any line so far did not match the protocol. */
  assertProtocolClean(): void {
    if (this.invalid.length) {
      const first = this.invalid.slice(0, 3).map((i) => `  ${i.error}\n    line: ${i.line}`).join('\n');
      throw new Error(`helper wrote ${this.invalid.length} line(s) that do not match src/core/protocol.ts:\n${first}`);
    }
  }

  /** Index to pass as `from` to only look at messages that arrive after now. */
  mark(): number {
    return this.messages.length;
  }

  /**
   * Resolves with the first message at index >= from that satisfies `pred`. Rejects after
   * `timeoutMs`, when the helper exits without one, or as soon as a line violates the protocol.
   */
  waitFor<T extends HelperMessage>(pred: (m: HelperMessage) => m is T, timeoutMs: number, what: string, from?: number): Promise<T>;
  waitFor(pred: (m: HelperMessage) => boolean, timeoutMs: number, what: string, from?: number): Promise<HelperMessage>;
  waitFor(pred: (m: HelperMessage) => boolean, timeoutMs: number, what: string, from = 0): Promise<HelperMessage> {
    return new Promise((resolvePromise, reject) => {
      let i = from;
      const check = () => {
        try {
          this.assertProtocolClean();
        } catch (e) {
          done();
          reject(e);
          return;
        }
        for (; i < this.messages.length; i++) {
          const m = this.messages[i]!;
          if (pred(m)) {
            done();
            resolvePromise(m);
            return;
          }
        }
        if (this.exit) {
          done();
          reject(new Error(`helper exited (${JSON.stringify(this.exit)}) while waiting for ${what}${this.tail()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${this.tail()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Recent output, for error messages. */
  tail(): string {
    const msgs = this.messages
      .slice(-5)
      .map((m) => JSON.stringify(m).slice(0, 300))
      .join('\n    ');
    return `\n  last messages:\n    ${msgs}\n  stderr tail:\n    ${this.stderr.slice(-1500).replace(/\n/g, '\n    ')}`;
  }

  send(cmd: HelperCommand): void {
    this.proc.stdin.write(encodeCommand(cmd));
  }

  /** Writes raw bytes (for bad-input tests); a newline is appended unless `newline` is false. */
  sendRaw(text: string, newline = true): void {
    this.proc.stdin.write(newline ? `${text}\n` : text);
  }

  nextId(prefix: string): string {
    return `${prefix}-${++seq}`;
  }

  /** Sends `load` and waits for `loaded` or `error` with the same id. */
  async load(slot: string, object: string, opts: LoadOptions = {}): Promise<LoadedMessage | ErrorMsg> {
    const id = this.nextId('load');
    const from = this.mark();
    const path = object.startsWith('/') ? object : this.path(object.endsWith('.o') ? object : `${object}.bpf.o`);
    this.send({
      cmd: 'load',
      id,
      slot,
      object: path,
      ...(opts.rodata ? { rodata: opts.rodata } : {}),
      ...(opts.rodata_by_dir ? { rodata_by_dir: opts.rodata_by_dir } : {}),
      ...(opts.data ? { data: opts.data } : {}),
      ...(opts.if_declared !== undefined ? { if_declared: opts.if_declared } : {}),
      ...(opts.netns ? { netns: opts.netns } : {}),
      ...(opts.strict !== undefined ? { strict: opts.strict } : {}),
    });
    return (await this.waitFor(
      (m) => (m.type === 'loaded' || m.type === 'error') && m.id === id,
      opts.timeoutMs ?? 60_000,
      `reply to load ${slot} ${basename(path)}`,
      from,
    )) as LoadedMessage | ErrorMsg;
  }

  /** `load` that must succeed. */
  async loadOk(slot: string, object: string, opts: LoadOptions = {}): Promise<LoadedMessage> {
    const r = await this.load(slot, object, opts);
    if (r.type !== 'loaded') {
      throw new Error(`load ${slot} ${object} failed: ${r.code}: ${r.message}${r.log ? `\n${r.log.slice(-3000)}` : ''}`);
    }
    return r;
  }

  /** Sends `unload` and waits for `unloaded` or `error` with the same id. */
  async unload(slot: string, timeoutMs = 20_000): Promise<HelperMessage> {
    const id = this.nextId('unload');
    const from = this.mark();
    this.send({ cmd: 'unload', id, slot });
    return this.waitFor((m) => (m.type === 'unloaded' || m.type === 'error') && 'id' in m && m.id === id, timeoutMs, `reply to unload ${slot}`, from);
  }

  /** Sends `verify` and waits for `verified` or `error` with the same id. */
  async verify(object: string, alternative?: 'fentry' | 'kprobe' | 'netfilter' | 'tp', timeoutMs = 60_000): Promise<VerifiedMessage | ErrorMsg> {
    const id = this.nextId('verify');
    const from = this.mark();
    const path = object.startsWith('/') ? object : this.path(object.endsWith('.o') ? object : `${object}.bpf.o`);
    this.send({ cmd: 'verify', id, object: path, ...(alternative ? { alternative } : {}) });
    return (await this.waitFor(
      (m) => (m.type === 'verified' || m.type === 'error') && m.id === id,
      timeoutMs,
      `reply to verify ${basename(path)}`,
      from,
    )) as VerifiedMessage | ErrorMsg;
  }

  /** Sends `snapshot` and waits for the snapshot that answers it. */
  async snapshot(timeoutMs = 10_000): Promise<SnapshotMessage> {
    const id = this.nextId('snap');
    const from = this.mark();
    this.send({ cmd: 'snapshot', id });
    return this.waitFor((m): m is SnapshotMessage => m.type === 'snapshot' && m.id === id, timeoutMs, `snapshot ${id}`, from);
  }

  /** Sends `set` and waits for its reply: the info log carrying its id, or an error. Returns the
   *  reply's raw line fields (the log schema may drop the id; the raw line keeps it). */
  async set(body: Omit<Extract<HelperCommand, { cmd: 'set' }>, 'cmd' | 'id'>, timeoutMs = 10_000): Promise<{ type: 'log' | 'error'; message: string; code?: string }> {
    const id = this.nextId('set');
    const from = this.rawLines.length;
    this.send({ cmd: 'set', id, ...body });
    return this.replyTo(id, from, timeoutMs);
  }

  /** `set` with a body as written, bad values included (not checked against the protocol). */
  async setRaw(body: Record<string, unknown>, timeoutMs = 10_000): Promise<{ type: 'log' | 'error'; message: string; code?: string }> {
    const id = this.nextId('set');
    const from = this.rawLines.length;
    this.sendRaw(JSON.stringify({ cmd: 'set', id, ...body }));
    return this.replyTo(id, from, timeoutMs);
  }

  private async replyTo(id: string, from: number, timeoutMs: number): Promise<{ type: 'log' | 'error'; message: string; code?: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.rawLines.length; i++) {
        const o = this.rawLines[i]!;
        if (o.id === id && (o.type === 'log' || o.type === 'error')) return o as { type: 'log' | 'error'; message: string; code?: string };
      }
      if (this.exit) throw new Error(`helper exited while waiting for the reply to set${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`no reply to set ${id} within ${timeoutMs} ms${this.tail()}`);
      await sleep(20);
    }
  }

  setInterval(ms: number): void {
    this.send({ cmd: 'set', id: this.nextId('set'), interval_ms: ms });
  }

  /** All snapshot messages at index >= from. */
  snapshotsSince(from: number): SnapshotMessage[] {
    return this.messages.slice(from).filter((m): m is SnapshotMessage => m.type === 'snapshot');
  }

  /** Every prog_id any `loaded` message reported. */
  progIds(): number[] {
    const ids = new Set<number>();
    for (const m of this.messages) {
      if (m.type !== 'loaded') continue;
      for (const p of m.programs) if (p.prog_id !== undefined) ids.add(p.prog_id);
    }
    return [...ids];
  }

  bye(): ByeMsg | undefined {
    return this.messages.find((m): m is ByeMsg => m.type === 'bye');
  }

  /** Resolves when the process has exited (rejects after the timeout). */
  async waitExit(timeoutMs = 10_000): Promise<{ code: number | undefined; signal: string | undefined }> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`helper pid ${this.pid} did not exit within ${timeoutMs} ms${this.tail()}`)), timeoutMs);
    });
    try {
      await Promise.race([this.exited, t]);
    } finally {
      clearTimeout(timer);
    }
    return this.exit!;
  }

  async quit(timeoutMs = 10_000): Promise<void> {
    if (this.exit) return;
    this.send({ cmd: 'quit', id: this.nextId('quit') });
    await this.waitExit(timeoutMs);
  }

  closeStdin(): void {
    this.proc.stdin.end();
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.exit && this.proc.pid) process.kill(this.proc.pid, sig);
  }

  /** Stops the helper whatever its state (quit, then SIGTERM, then SIGKILL) and removes its work dir. */
  async dispose(): Promise<void> {
    try {
      if (!this.exit) {
        await this.quit(5_000).catch(() => undefined);
        if (!this.exit) this.signal('SIGTERM');
        await this.waitExit(3_000).catch(() => undefined);
        if (!this.exit) this.signal('SIGKILL');
        await this.waitExit(3_000).catch(() => undefined);
      }
    } finally {
      rmSync(this.workdir, { recursive: true, force: true });
    }
  }
}

/** Disposes every helper still running (for `after` hooks). */
export async function disposeAll(): Promise<void> {
  await Promise.all([...running].map((h) => h.dispose()));
}

process.once('exit', () => {
  for (const h of running) {
    try {
      if (h.proc.pid) process.kill(h.proc.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

// ---------------------------------------------------------------- leak check

/** Program ids bpftool currently lists. */
export async function bpftoolProgIds(): Promise<Set<number>> {
  const r = await execa('bpftool', ['prog', 'show', '--json'], { timeout: 20_000 });
  const list = JSON.parse(r.stdout || '[]') as Array<{ id: number }>;
  return new Set(list.map((p) => p.id));
}

/** Which of `ids` are still loaded. Programs are freed asynchronously (RCU), so poll briefly. */
export async function leakedProgIds(ids: number[], settleMs = 3_000): Promise<number[]> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const live = await bpftoolProgIds();
    const leaked = ids.filter((id) => live.has(id));
    if (!leaked.length || Date.now() >= deadline) return leaked;
    await sleep(200);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------- histograms

export interface Hist {
  slot: string;
  kind: string;
  dir: string;
  name: string;
  from?: string;
  to?: string;
  irq?: number;
  vec?: number;
  cpu?: number;
  buckets: number[];
  count: number;
  sum: number;
}

function histKey(slot: string, h: HistDelta, perCpu: boolean): string {
  return [slot, h.dir, h.kind, h.name, h.from ?? '', h.to ?? '', h.irq ?? '', h.vec ?? '', perCpu ? (h.cpu ?? '') : ''].join('|');
}

/**
 * Snapshot deltas merged into totals per histogram. With perCpu false (default) the per-CPU series
 * of one histogram are summed.
 */
export class Totals {
  readonly hists = new Map<string, Hist>();
  readonly counters = new Map<string, number>();
  readonly drops = new Map<string, number>();
  snapshots = 0;
  intervalNs = 0;

  constructor(readonly perCpu = false) {}

  static of(snaps: SnapshotMessage[], perCpu = false): Totals {
    const t = new Totals(perCpu);
    for (const s of snaps) t.add(s);
    return t;
  }

  add(s: SnapshotMessage): void {
    this.snapshots++;
    this.intervalNs += s.interval_ns;
    for (const slot of s.slots) {
      for (const h of slot.hists) {
        const key = histKey(slot.slot, h, this.perCpu);
        let t = this.hists.get(key);
        if (!t) {
          t = {
            slot: slot.slot,
            kind: h.kind,
            dir: h.dir,
            name: h.name,
            from: h.from,
            to: h.to,
            irq: h.irq,
            vec: h.vec,
            cpu: this.perCpu ? h.cpu : undefined,
            buckets: new Array<number>(HIST_BUCKETS).fill(0),
            count: 0,
            sum: 0,
          };
          this.hists.set(key, t);
        }
        for (const [b, c] of h.buckets) t.buckets[b] = (t.buckets[b] ?? 0) + c;
        t.count += h.count;
        t.sum += h.sum;
      }
      for (const [k, v] of Object.entries(slot.counters)) this.counters.set(`${slot.slot}.${k}`, (this.counters.get(`${slot.slot}.${k}`) ?? 0) + v);
      for (const [k, v] of Object.entries(slot.drops)) this.drops.set(k, (this.drops.get(k) ?? 0) + v);
    }
  }

  list(filter: Partial<Pick<Hist, 'slot' | 'kind' | 'dir' | 'from' | 'to' | 'name'>> = {}): Hist[] {
    return [...this.hists.values()].filter((h) =>
      (Object.keys(filter) as Array<keyof typeof filter>).every((k) => filter[k] === undefined || h[k] === filter[k]),
    );
  }

  stage(slot: string, from: string, to: string): Hist | undefined {
    return this.list({ slot, kind: 'stage', from, to })[0];
  }

  cum(slot: string, to: string): Hist | undefined {
    return this.list({ slot, kind: 'cum', to })[0];
  }
}

/** Sum of bucket counts (equals `count` when the helper is consistent). */
export function bucketTotal(buckets: number[]): number {
  return countOf(buckets);
}

/**
 * The q-quantile of a merged histogram, from src/core/hist.ts (log2 buckets, linear interpolation
 * inside the bucket, clamped by the sum): always in the same log2 bucket as the exact quantile, so
 * within a factor of 2 of it whatever the distribution.
 */
export function p(h: Pick<Hist, 'buckets' | 'sum'> | undefined, q: number): number {
  return h ? quantile(h.buckets, q, h.sum) : 0;
}
export { quantile };

/** Mean from the exact count and sum (no bucket error). */
export function mean(h: Pick<Hist, 'count' | 'sum'> | undefined): number {
  return h && h.count > 0 ? h.sum / h.count : 0;
}

export const ms = (ns: number): string => `${(ns / 1e6).toFixed(3)} ms`;
export const us = (ns: number): string => `${(ns / 1e3).toFixed(1)} µs`;

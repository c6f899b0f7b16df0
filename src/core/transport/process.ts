/**
 * A long-running child (the helper, locally or through ssh) as a TargetProcess: stdout split into
 * lines by LineSplitter (a line over MAX_MESSAGE_BYTES is skipped and reported through
 * onOversize), stderr as text, one exit report with a one-sentence reason. Output that arrives
 * before a listener is registered is queued, so nothing is lost between `await spawnPrivileged()`
 * and `onLine`.
 */
import { StringDecoder } from 'node:string_decoder';
import type { ChildProcess } from 'node:child_process';
import { LineSplitter } from '../helper-client.ts';
import type { ExitInfo, TargetProcess } from './types.ts';

/** Builds the `why` sentence from how the local child ended and the tail of its stderr. */
export type DescribeExit = (code: number | null, signal: string | null, stderrTail: string, spawnError?: NodeJS.ErrnoException) => string;

/** After the child exits, how long to wait for its pipes to drain before reporting the exit. */
const DRAIN_MS = 250;

export class ChildTargetProcess implements TargetProcess {
  readonly exited: Promise<ExitInfo>;
  private lineCbs: Array<(line: string) => void> = [];
  private errCbs: Array<(text: string) => void> = [];
  private exitCbs: Array<(info: ExitInfo) => void> = [];
  private pendingLines: string[] = [];
  private oversizeCbs: Array<(bytes: number, head: string) => void> = [];
  private pendingOversize: Array<[number, string]> = [];
  private pendingErr: string[] = [];
  private exitInfo: ExitInfo | undefined;
  private readonly splitter = new LineSplitter(
    (line) => this.emitLine(line),
    (bytes, head) => this.emitOversize(bytes, head),
  );
  private stderrTail = '';
  private resolveExit!: (info: ExitInfo) => void;
  /** Sees stderr first; returns what listeners get (used while sudo asks for its password). */
  interceptStderr: ((text: string) => string) | undefined;
  /** Applied to every stderr text (and the stderr quoted in `why`) before it leaves this object. */
  scrub: (text: string) => string = (t) => t;

  constructor(
    readonly child: ChildProcess,
    private readonly describe: DescribeExit,
  ) {
    this.exited = new Promise((r) => (this.resolveExit = r));
    const errDec = new StringDecoder('utf8');
    child.stdout?.on('data', (b: Buffer) => this.splitter.push(b));
    child.stdout?.on('end', () => this.splitter.end());
    child.stderr?.on('data', (b: Buffer) => this.onErr(errDec.write(b)));
    child.stdin?.on('error', () => {
      /* EPIPE after the child died: the exit report says why */
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      // Spawn failures (ENOENT) never produce 'exit'.
      if (child.pid === undefined) this.finish(null, null, e);
    });
    child.once('exit', (code, signal) => {
      // Report at once, but give the pipes a moment to deliver what the child wrote last.
      let done = false;
      const go = () => {
        if (done) return;
        done = true;
        this.onErr(errDec.end());
        this.splitter.end();
        this.finish(code, signal, undefined);
      };
      const t = setTimeout(go, DRAIN_MS);
      child.once('close', () => {
        clearTimeout(t);
        go();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  write(line: string): void {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded || this.exitInfo) return;
    stdin.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  /** Writes raw bytes (the sudo password); never logged. */
  writeRaw(data: string): void {
    const stdin = this.child.stdin;
    if (stdin && !stdin.destroyed && !stdin.writableEnded) stdin.write(data);
  }

  end(): void {
    const stdin = this.child.stdin;
    if (stdin && !stdin.destroyed && !stdin.writableEnded) stdin.end();
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitInfo || this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      this.child.kill(signal);
    } catch {
      /* already gone */
    }
  }

  onLine(cb: (line: string) => void): void {
    this.lineCbs.push(cb);
    const q = this.pendingLines;
    this.pendingLines = [];
    for (const l of q) this.emitLine(l);
  }

  /** A stdout line longer than MAX_MESSAGE_BYTES: its size and first 200 bytes (the line itself is skipped). */
  onOversize(cb: (bytes: number, head: string) => void): void {
    this.oversizeCbs.push(cb);
    const q = this.pendingOversize;
    this.pendingOversize = [];
    for (const [n, h] of q) cb(n, h);
  }

  onStderr(cb: (text: string) => void): void {
    this.errCbs.push(cb);
    const q = this.pendingErr;
    this.pendingErr = [];
    for (const t of q) this.emitErr(t);
  }

  onExit(cb: (info: ExitInfo) => void): void {
    if (this.exitInfo) {
      const info = this.exitInfo;
      queueMicrotask(() => cb(info));
    } else this.exitCbs.push(cb);
  }

  /** The last stderr text (scrubbed), for error messages. */
  get recentStderr(): string {
    return this.scrub(this.stderrTail);
  }

  private emitLine(line: string): void {
    if (this.lineCbs.length === 0) {
      this.pendingLines.push(line);
      return;
    }
    for (const cb of this.lineCbs) cb(line);
  }

  private emitOversize(bytes: number, head: string): void {
    if (this.oversizeCbs.length === 0) {
      this.pendingOversize.push([bytes, head]);
      return;
    }
    for (const cb of this.oversizeCbs) cb(bytes, head);
  }

  private onErr(text: string): void {
    if (!text) return;
    const passed = this.interceptStderr ? this.interceptStderr(text) : text;
    if (!passed) return;
    const clean = this.scrub(passed);
    this.stderrTail = (this.stderrTail + passed).slice(-4096);
    this.emitErr(clean);
  }

  private emitErr(text: string): void {
    if (this.errCbs.length === 0) {
      this.pendingErr.push(text);
      if (this.pendingErr.length > 1000) this.pendingErr.splice(0, this.pendingErr.length - 1000);
      return;
    }
    for (const cb of this.errCbs) cb(text);
  }

  private finish(code: number | null, signal: string | null, spawnError: NodeJS.ErrnoException | undefined): void {
    if (this.exitInfo) return;
    const why = this.describe(code, signal, this.scrub(this.stderrTail), spawnError);
    const info: ExitInfo = { code, signal, why };
    this.exitInfo = info;
    this.resolveExit(info);
    const cbs = this.exitCbs;
    this.exitCbs = [];
    for (const cb of cbs) cb(info);
  }
}

/** The last non-empty line of some text, trimmed, for one-sentence messages. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

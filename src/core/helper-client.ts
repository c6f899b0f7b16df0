/**
 * The core's side of the helper's NDJSON protocol.
 *
 * Lines come from a TargetProcess (local or SSH); every one is validated with parseHelperMessage.
 * A bad line (not JSON, not a valid message, over MAX_MESSAGE_BYTES) becomes a `protocolError`
 * event and the client carries on: nothing the helper prints can throw out of here.
 * Commands carry an id; `request` resolves with the reply that carries the same id (or rejects
 * with a HelperRequestError for an `error` reply, or a timeout).
 */
import { EventEmitter } from 'node:events';
import {
  MAX_MESSAGE_BYTES,
  ProtocolError,
  checkHello,
  encodeCommand,
  parseHelperMessage,
  type ErrorMessage,
  type HelloMessage,
  type HelperCommand,
  type HelperMessage,
  type JourneyMessage,
  type LoadedMessage,
  type SnapshotMessage,
  type VerifiedMessage,
} from './protocol.ts';
import type { TargetProcess } from './transport/types.ts';

/**
 * Splits a byte stream into lines. Handles chunks that end mid-line and mid-UTF-8 character; a line
 * that grows past `maxBytes` is reported once through `onOversize` and then skipped up to its
 * newline, so a runaway writer costs bounded memory.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOversize: (bytes: number, head: string) => void,
    private readonly maxBytes = MAX_MESSAGE_BYTES,
  ) {}

  push(chunk: Buffer | string): void {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    while (buf.length > 0) {
      const nl = buf.indexOf(0x0a);
      const piece = nl === -1 ? buf : buf.subarray(0, nl);
      if (this.skipping) {
        this.size += piece.length;
      } else if (this.size + piece.length > this.maxBytes) {
        const head = Buffer.concat([...this.parts, piece]).subarray(0, 200).toString('utf8');
        this.parts = [];
        this.skipping = true;
        this.size += piece.length;
        this.onOversize(this.size, head);
      } else {
        this.parts.push(piece);
        this.size += piece.length;
      }
      if (nl === -1) return;
      if (!this.skipping) {
        let line = Buffer.concat(this.parts).toString('utf8');
        if (line.endsWith('\r')) line = line.slice(0, -1);
        this.onLine(line);
      }
      this.parts = [];
      this.size = 0;
      this.skipping = false;
      buf = buf.subarray(nl + 1);
    }
  }

  /** End of stream: a final line without newline is still a line (a truncated message then fails validation). */
  end(): void {
    if (!this.skipping && this.size > 0) {
      const line = Buffer.concat(this.parts).toString('utf8');
      this.parts = [];
      this.size = 0;
      this.onLine(line);
    }
    this.parts = [];
    this.size = 0;
    this.skipping = false;
  }
}

/** The helper refused a command: `reply` is its error message (code, message, verifier log...). */
export class HelperRequestError extends Error {
  constructor(readonly reply: ErrorMessage) {
    super(reply.message);
    this.name = 'HelperRequestError';
  }
}

/** No reply in time, or the helper went away before replying. */
export class HelperGoneError extends Error {
  constructor(message: string, readonly reason: 'timeout' | 'exit' | 'closed') {
    super(message);
    this.name = 'HelperGoneError';
  }
}

export interface HelperExit {
  code: number | null;
  signal: string | null;
  why: string;
  /** The helper's `bye`, when it said goodbye before exiting. */
  bye?: { reason: string; attached: number };
}

export interface HelperClientEvents {
  message: [HelperMessage];
  hello: [HelloMessage];
  snapshot: [SnapshotMessage];
  journey: [JourneyMessage];
  log: [{ level: string; message: string }];
  /** An error message from the helper that answers no pending command. */
  helperError: [ErrorMessage];
  /** A line the client could not accept. */
  protocolError: [ProtocolError];
  stderr: [string];
  exit: [HelperExit];
}

type Pending = {
  expect: HelperMessage['type'];
  resolve: (m: HelperMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
};

/** Distributes Omit over a union, so each command keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
export type CommandBody = WithoutId<HelperCommand>;

const REPLY: Record<HelperCommand['cmd'], HelperMessage['type']> = {
  load: 'loaded',
  unload: 'unloaded',
  set: 'log', // a good `set` is answered by an info log carrying its id ("set sample_every on rx")
  snapshot: 'snapshot',
  verify: 'verified',
  quit: 'bye',
};

export class HelperClient extends EventEmitter<HelperClientEvents> {
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private exited: HelperExit | undefined;
  private bye: { reason: string; attached: number } | undefined;
  private helloMsg: HelloMessage | undefined;
  private readonly helloWaiters: Array<{ resolve: (h: HelloMessage) => void; reject: (e: Error) => void }> = [];
  /** Last stderr text, for error reports (bounded). */
  stderrTail = '';

  constructor(
    private readonly proc: TargetProcess,
    private readonly opts: { timeoutMs?: number } = {},
  ) {
    super();
    proc.onLine((line) => this.handleLine(line));
    // Transports that split lines with LineSplitter skip an oversized line and say so here.
    const withOversize = proc as TargetProcess & { onOversize?: (cb: (bytes: number, head: string) => void) => void };
    withOversize.onOversize?.((bytes, head) =>
      this.emit('protocolError', new ProtocolError('too_long', `helper message of ${bytes}+ bytes (over ${MAX_MESSAGE_BYTES}) skipped: ${head.slice(0, 120)}`)),
    );
    proc.onStderr((text) => {
      this.stderrTail = (this.stderrTail + text).slice(-4000);
      this.emit('stderr', text);
    });
    proc.onExit((info) => this.handleExit(info));
  }

  get hello(): HelloMessage | undefined {
    return this.helloMsg;
  }

  get exitInfo(): HelperExit | undefined {
    return this.exited;
  }

  /** Feeds one line (exported for transports that hand over raw lines, and for tests). */
  handleLine(line: string): void {
    if (line.trim() === '') return;
    const r = parseHelperMessage(line);
    if (!r.ok) {
      this.emit('protocolError', r.error);
      return;
    }
    const msg = r.value;
    try {
      this.dispatch(msg, msg.type === 'log' ? replyIdOf(line) : undefined);
    } catch (e) {
      // A listener threw: report it as a protocol-level problem rather than crash the reader.
      this.emit('protocolError', new ProtocolError('invalid', `while handling a ${msg.type} message: ${(e as Error).message}`));
    }
  }

  private dispatch(msg: HelperMessage, logId?: string): void {
    switch (msg.type) {
      case 'hello': {
        const bad = checkHello(msg);
        this.helloMsg = msg;
        const waiters = this.helloWaiters.splice(0);
        for (const w of waiters) (bad ? w.reject(bad) : w.resolve(msg));
        break;
      }
      case 'bye':
        this.bye = { reason: msg.reason, attached: msg.attached };
        break;
      default:
        break;
    }
    this.emit('message', msg);
    const id = 'id' in msg && typeof msg.id === 'string' ? msg.id : logId;
    const waiter = id !== undefined ? this.pending.get(id) : undefined;
    if (waiter && (msg.type === waiter.expect || msg.type === 'error')) {
      this.pending.delete(id!);
      clearTimeout(waiter.timer);
      if (msg.type === 'error') waiter.reject(new HelperRequestError(msg));
      else waiter.resolve(msg);
    } else if (msg.type === 'bye') {
      for (const [pid, p] of this.pending) {
        if (p.expect === 'bye') {
          this.pending.delete(pid);
          clearTimeout(p.timer);
          p.resolve(msg);
        }
      }
    } else if (msg.type === 'error') {
      this.emit('helperError', msg);
    }
    if (msg.type === 'hello') this.emit('hello', msg);
    else if (msg.type === 'snapshot') this.emit('snapshot', msg);
    else if (msg.type === 'journey') this.emit('journey', msg);
    else if (msg.type === 'log') this.emit('log', { level: msg.level, message: msg.message });
  }

  private handleExit(info: { code: number | null; signal: string | null; why: string }): void {
    if (this.exited) return;
    this.exited = { ...info, bye: this.bye };
    const err = new HelperGoneError(`the helper exited before replying: ${info.why}`, 'exit');
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      if (p.expect === 'bye' && this.bye) p.resolve({ type: 'bye', ...this.bye });
      else p.reject(err);
    }
    this.pending.clear();
    for (const w of this.helloWaiters.splice(0)) w.reject(new HelperGoneError(`the helper exited before saying hello: ${info.why}${this.stderrTail ? ` (${lastLine(this.stderrTail)})` : ''}`, 'exit'));
    this.emit('exit', this.exited);
  }

  /** Resolves with the helper's hello (checked against our protocol version). */
  waitHello(timeoutMs = this.opts.timeoutMs ?? 15_000): Promise<HelloMessage> {
    if (this.helloMsg) {
      const bad = checkHello(this.helloMsg);
      return bad ? Promise.reject(bad) : Promise.resolve(this.helloMsg);
    }
    if (this.exited) return Promise.reject(new HelperGoneError(`the helper exited before saying hello: ${this.exited.why}`, 'exit'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.helloWaiters.indexOf(w);
        if (i >= 0) this.helloWaiters.splice(i, 1);
        reject(new HelperGoneError(`the helper said nothing for ${timeoutMs} ms after starting${this.stderrTail ? ` (stderr: ${lastLine(this.stderrTail)})` : ''}`, 'timeout'));
      }, timeoutMs);
      const w = {
        resolve: (h: HelloMessage) => { clearTimeout(timer); resolve(h); },
        reject: (e: Error) => { clearTimeout(timer); reject(e); },
      };
      this.helloWaiters.push(w);
    });
  }

  /** Sends a command without waiting for a reply; returns its id. */
  send(body: CommandBody): string {
    const id = `c${this.nextId++}`;
    this.writeCommand({ ...body, id } as HelperCommand);
    return id;
  }

  /**
   * Sends a command and resolves with its reply (`loaded`, `unloaded`, `snapshot`, `verified`, `bye`,
   * and for `set` the info `log` that says what was set).
   * Rejects with HelperRequestError on an `error` reply, HelperGoneError on timeout or exit.
   */
  request(body: Extract<CommandBody, { cmd: 'load' }>, timeoutMs?: number): Promise<LoadedMessage>;
  request(body: Extract<CommandBody, { cmd: 'snapshot' }>, timeoutMs?: number): Promise<SnapshotMessage>;
  request(body: Extract<CommandBody, { cmd: 'verify' }>, timeoutMs?: number): Promise<VerifiedMessage>;
  request(body: CommandBody, timeoutMs?: number): Promise<HelperMessage>;
  request(body: CommandBody, timeoutMs = this.opts.timeoutMs ?? 30_000): Promise<HelperMessage> {
    if (this.exited) return Promise.reject(new HelperGoneError(`the helper is not running (${this.exited.why})`, 'exit'));
    const id = `c${this.nextId++}`;
    const cmd = { ...body, id } as HelperCommand;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HelperGoneError(`the helper did not answer "${cmd.cmd}" within ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      this.pending.set(id, { expect: REPLY[cmd.cmd], resolve, reject, timer });
      try {
        this.writeCommand(cmd);
      } catch (e) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(e as Error);
      }
    });
  }

  private writeCommand(cmd: HelperCommand): void {
    if (this.exited) throw new HelperGoneError(`the helper is not running (${this.exited.why})`, 'exit');
    this.proc.write(encodeCommand(cmd));
  }

  /** Asks the helper to quit and waits for its exit; falls back to closing stdin, then SIGKILL. */
  async quit(timeoutMs = 5_000): Promise<HelperExit> {
    if (this.exited) return this.exited;
    const exited = new Promise<HelperExit>((resolve) => this.once('exit', resolve));
    try {
      this.send({ cmd: 'quit' });
    } catch {
      /* already gone */
    }
    if (await within(exited, timeoutMs)) return this.exited!;
    try { this.proc.end(); } catch { /* ignore */ }
    if (await within(exited, 2_000)) return this.exited!;
    try { this.proc.kill('SIGKILL'); } catch { /* ignore */ }
    if (await within(exited, 2_000)) return this.exited!;
    return { code: null, signal: 'SIGKILL', why: 'the helper did not exit after quit, stdin close and SIGKILL' };
  }
}

/**
 * The id a `log` line carries when it answers a command (the reply to `set`). Read from the line
 * itself, so the reply is matched whether or not the log schema keeps the field.
 */
function replyIdOf(line: string): string | undefined {
  try {
    const v = (JSON.parse(line) as { id?: unknown }).id;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

async function within<T>(p: Promise<T>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<false>((r) => { timer = setTimeout(() => r(false), ms); });
  const won = await Promise.race([p.then(() => true as const), t]);
  clearTimeout(timer);
  return won;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}

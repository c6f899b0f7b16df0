/**
 * JSON Lines trace: the raw material of a session, readable back by `nslat replay`.
 *
 *   line 1:  {"type":"nslat-trace","version":1,"protocol":1,"host":"…","kernel":"…","started":"<ISO 8601>"}
 *   then:    {"recv_ms":<wall-clock ms when the core received it>,"msg":<HelperMessage as received>}
 *
 * The reader also accepts a bare helper stream (one HelperMessage per line, no header — what the
 * helper prints on stdout, e.g. test/fixtures/helper-stream.jsonl). Every line is validated
 * against protocol.ts; a bad line is reported with its line number and skipped, and reading goes on.
 * A trace of another protocol version (the header's `protocol`, else the `hello` message's) is
 * refused as a whole: its messages may validate and still mean something else (protocol 1 sent
 * 32 log2 bucket indices, protocol 2 sends 256 log-linear ones), so it is never replayed.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { HelperMessage, MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from '../protocol.ts';
import { Aggregator, type AggregatorOptions } from '../aggregate.ts';

export const TRACE_VERSION = 1;

/** What each protocol version's histograms are, to say why a trace of another one is refused. */
const BUCKETS_OF_PROTOCOL: Record<number, string> = {
  1: '32 log2 buckets per histogram',
  2: '256 log-linear buckets per histogram',
};

/** A trace recorded with a protocol version this nslat does not read. */
export class TraceProtocolError extends Error {
  constructor(
    readonly protocol: number,
    readonly line: number,
  ) {
    const what = (v: number): string => (BUCKETS_OF_PROTOCOL[v] ? ` (${BUCKETS_OF_PROTOCOL[v]})` : '');
    super(
      `it was recorded with protocol version ${protocol}${what(protocol)} and this nslat reads protocol version ${PROTOCOL_VERSION}${what(PROTOCOL_VERSION)} (line ${line}); replay it with the nslat version that recorded it`,
    );
    this.name = 'TraceProtocolError';
  }
}

export const TraceHeader = z.object({
  type: z.literal('nslat-trace'),
  version: z.number().int().min(1),
  protocol: z.number().int().optional(),
  host: z.string(),
  kernel: z.string(),
  /** ISO 8601 wall-clock time the trace was started. */
  started: z.string(),
});
export type TraceHeader = z.infer<typeof TraceHeader>;

/** recv_ms is absent for messages read from a bare helper stream. */
export const TraceRecord = z.object({ recv_ms: z.number().optional(), msg: HelperMessage });
export type TraceRecord = z.infer<typeof TraceRecord>;

export interface TraceWriterInfo {
  host: string;
  /** Kernel release if known when the trace starts ("" otherwise; the `hello` line carries it). */
  kernel?: string;
  /** Start time (default now). */
  started?: Date;
}

/** Appends every message as it arrives. Writes are synchronous, so a crash loses at most the
 *  message being written; close() flushes to disk. */
export class TraceWriter {
  private fd: number | undefined;
  private lines = 0;

  constructor(
    readonly path: string,
    info: TraceWriterInfo,
  ) {
    this.fd = openSync(path, 'w', 0o644);
    const header: TraceHeader = {
      type: 'nslat-trace',
      version: TRACE_VERSION,
      protocol: PROTOCOL_VERSION,
      host: info.host,
      kernel: info.kernel ?? '',
      started: (info.started ?? new Date()).toISOString(),
    };
    this.put(JSON.stringify(header));
  }

  /** Records one helper message with its receive time (wall-clock ms, default now). */
  write(msg: HelperMessage, recvMs: number = Date.now()): void {
    this.put(JSON.stringify({ recv_ms: recvMs, msg }));
  }

  /** Lines written so far, header included. */
  get lineCount(): number {
    return this.lines;
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      fsyncSync(this.fd);
    } catch {
      // not all files can be fsynced (pipes, /dev/stdout); the data is written anyway
    }
    closeSync(this.fd);
    this.fd = undefined;
  }

  private put(line: string): void {
    if (this.fd === undefined) throw new Error(`trace ${this.path} is already closed`);
    writeSync(this.fd, `${line}\n`);
    this.lines++;
  }
}

export interface TraceLineError {
  /** 1-based line number. */
  line: number;
  message: string;
}

export interface ReadTraceOptions {
  /** Aggregator to replay into (a new one by default). */
  aggregator?: Aggregator;
  aggregatorOptions?: AggregatorOptions;
  /** Also return every record (default false: replay only, constant memory). */
  keepRecords?: boolean;
  /** Errors kept in the result (the rest are only counted). Default 100. */
  maxErrors?: number;
  /** Called for each valid record, in order. */
  onRecord?: (rec: TraceRecord, line: number) => void;
}

export interface TraceReadResult {
  /** The header, or undefined for a bare helper stream. */
  header?: TraceHeader;
  aggregator: Aggregator;
  /** Valid messages replayed. */
  messages: number;
  /** Lines read (including the header and bad lines, excluding empty ones). */
  lines: number;
  errors: TraceLineError[];
  /** Bad lines in total (errors.length is capped by maxErrors). */
  errorCount: number;
  /** True when the last line had no newline and did not parse (a trace cut short). */
  truncated: boolean;
  records?: TraceRecord[];
}

/** Reads a trace (or a bare helper stream), validating each line and replaying it into an
 *  Aggregator. Bad lines are reported, not thrown; throws if the file cannot be opened, and
 *  TraceProtocolError (nothing replayed) when the trace is of another protocol version. */
export async function readTrace(path: string, opts: ReadTraceOptions = {}): Promise<TraceReadResult> {
  const aggregator = opts.aggregator ?? new Aggregator(opts.aggregatorOptions);
  const maxErrors = opts.maxErrors ?? 100;
  const result: TraceReadResult = { aggregator, messages: 0, lines: 0, errors: [], errorCount: 0, truncated: false };
  if (opts.keepRecords) result.records = [];
  const fail = (line: number, message: string): void => {
    result.errorCount++;
    if (result.errors.length < maxErrors) result.errors.push({ line, message });
  };

  const fh = await open(path, 'r'); // throws (ENOENT, EACCES …) before anything is read
  const stream = fh.createReadStream();
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  // readline cannot tell whether the last line ended with "\n": track the final byte ourselves
  let lastByte = -1;
  stream.on('data', (chunk) => {
    const b = chunk as Buffer;
    if (b.length) lastByte = b[b.length - 1]!;
  });
  let n = 0;
  let lastBad: { line: number; message: string } | undefined;
  for await (const raw of rl) {
    n++;
    const text = raw.trim();
    if (text === '') continue;
    result.lines++;
    lastBad = undefined;
    if (Buffer.byteLength(text, 'utf8') > MAX_MESSAGE_BYTES + 1024) {
      fail(n, `line ${n}: longer than ${MAX_MESSAGE_BYTES} bytes; skipped`);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      lastBad = { line: n, message: `line ${n}: not JSON (${(e as Error).message})` };
      fail(n, lastBad.message);
      continue;
    }
    const obj = json as { type?: unknown; msg?: unknown; recv_ms?: unknown };
    if (obj && typeof obj === 'object' && obj.type === 'nslat-trace') {
      const h = TraceHeader.safeParse(json);
      if (!h.success) fail(n, `line ${n}: invalid trace header: ${h.error.issues[0]?.message ?? 'schema mismatch'}`);
      else if (result.header) fail(n, `line ${n}: a second trace header; ignored`);
      else {
        if (h.data.protocol !== undefined && h.data.protocol !== PROTOCOL_VERSION) {
          await fh.close().catch(() => undefined);
          throw new TraceProtocolError(h.data.protocol, n);
        }
        if (h.data.version > TRACE_VERSION) fail(n, `line ${n}: trace format version ${h.data.version} is newer than this nslat reads (${TRACE_VERSION}); update nslat — reading on as version ${TRACE_VERSION}`);
        result.header = h.data;
      }
      continue;
    }
    // a trace record wraps the message; a bare helper stream has the message itself
    const wrapped = obj && typeof obj === 'object' && 'msg' in obj;
    const recv_ms = wrapped && typeof obj.recv_ms === 'number' && Number.isFinite(obj.recv_ms) ? obj.recv_ms : undefined;
    const parsed = HelperMessage.safeParse(wrapped ? obj.msg : json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length ? ` at ${issue.path.join('.')}` : '';
      fail(n, `line ${n}: invalid helper message${where}: ${issue?.message ?? 'schema mismatch'}`);
      continue;
    }
    if (wrapped && recv_ms === undefined) {
      fail(n, `line ${n}: trace record without a numeric recv_ms; replayed anyway`);
    }
    if (parsed.data.type === 'hello' && parsed.data.protocol !== PROTOCOL_VERSION) {
      await fh.close().catch(() => undefined);
      throw new TraceProtocolError(parsed.data.protocol, n);
    }
    const rec: TraceRecord = recv_ms === undefined ? { msg: parsed.data } : { recv_ms, msg: parsed.data };
    aggregator.ingest(parsed.data, recv_ms);
    result.messages++;
    result.records?.push(rec);
    opts.onRecord?.(rec, n);
  }
  await fh.close().catch(() => undefined);
  if (lastBad && lastBad.line === n && lastByte !== 0x0a) {
    result.truncated = true;
    const e = result.errors.find((x) => x.line === n);
    if (e) e.message = `line ${n}: truncated (the trace ends mid-line; was the session cut short?)`;
  }
  return result;
}

/** A trace that cannot be shown: the file is missing or unreadable, of another protocol version,
 *  or holds no nslat message. `reason` says which in words that follow the file's name. */
export class TraceOpenError extends Error {
  constructor(
    readonly path: string,
    readonly kind: 'missing' | 'unreadable' | 'protocol' | 'empty',
    readonly reason: string,
    /** What to do about it. */
    readonly hint: string,
    /** The trace's protocol version, when that is why. */
    readonly protocol?: number,
  ) {
    super(kind === 'protocol' ? `${path}: ${reason}` : `${path} ${reason}`);
    this.name = 'TraceOpenError';
  }
}

const TRACE_HINT = 'Give a trace written by `nslat trace --out FILE.jsonl` or by the extension\'s Export Trace.';

/** Reads a whole trace for a view of it — `nslat replay`, `nslat diff`, the panel's trace editor —
 *  with readTrace, the one reader. Throws TraceOpenError when there is nothing to show; bad lines
 *  that were skipped are in the result (traceProblems says them). */
export async function openTrace(path: string, opts: ReadTraceOptions = {}): Promise<TraceReadResult> {
  const info = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'ENOENT' ? new TraceOpenError(path, 'missing', 'does not exist', TRACE_HINT) : new TraceOpenError(path, 'unreadable', `cannot be read (${e.message})`, 'Check that the file is readable.');
  });
  if (info.isDirectory()) throw new TraceOpenError(path, 'unreadable', 'is a directory', 'Give a trace file (.jsonl).');
  let r: TraceReadResult;
  try {
    r = await readTrace(path, opts);
  } catch (e) {
    if (e instanceof TraceProtocolError) {
      throw new TraceOpenError(path, 'protocol', e.message, 'Traces of another protocol version are not converted: their histogram buckets mean other values.', e.protocol);
    }
    throw new TraceOpenError(path, 'unreadable', `cannot be read (${(e as Error).message})`, 'Check that the file is readable.');
  }
  // The host the trace was recorded on, unless the caller named one.
  if (r.header && !opts.aggregator && opts.aggregatorOptions?.host === undefined) r.aggregator.setSession({ host: r.header.host });
  if (r.messages === 0) {
    const first = r.errors[0] ? `; ${r.errors[0].message}` : '';
    throw new TraceOpenError(path, 'empty', `holds no nslat trace messages${r.errorCount ? ` (${r.errorCount} bad line${r.errorCount === 1 ? '' : 's'}${first})` : ''}`, TRACE_HINT);
  }
  return r;
}

/** What was skipped while reading a trace, in at most `max` lines plus a count of the rest. */
export function traceProblems(r: Pick<TraceReadResult, 'errors' | 'errorCount'>, max = 5): string[] {
  const out = r.errors.slice(0, max).map((e) => e.message);
  if (r.errorCount > out.length) out.push(`${r.errorCount - out.length} more bad line${r.errorCount - out.length === 1 ? '' : 's'} skipped`);
  return out;
}

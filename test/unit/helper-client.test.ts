import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HelperClient, HelperGoneError, HelperRequestError, LineSplitter } from '../../src/core/helper-client.ts';
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ProtocolError, type HelperMessage } from '../../src/core/protocol.ts';
import type { ExitInfo, TargetProcess } from '../../src/core/transport/types.ts';

/** A TargetProcess fed from raw chunks through LineSplitter, recording what the client writes. */
class FakeProc implements TargetProcess {
  readonly pid = 4242;
  written: string[] = [];
  private lineCbs: Array<(l: string) => void> = [];
  private errCbs: Array<(t: string) => void> = [];
  private exitCbs: Array<(i: ExitInfo) => void> = [];
  private resolveExit!: (i: ExitInfo) => void;
  readonly exited = new Promise<ExitInfo>((r) => { this.resolveExit = r; });
  oversize: Array<[number, string]> = [];
  readonly splitter = new LineSplitter((l) => this.lineCbs.forEach((cb) => cb(l)), (n, h) => this.oversize.push([n, h]), 1024);
  onWrite?: (line: string) => void;
  write(line: string) { this.written.push(line); this.onWrite?.(line); }
  end() { this.exit({ code: 0, signal: null, why: 'stdin closed' }); }
  onLine(cb: (l: string) => void) { this.lineCbs.push(cb); }
  onStderr(cb: (t: string) => void) { this.errCbs.push(cb); }
  onExit(cb: (i: ExitInfo) => void) { this.exitCbs.push(cb); }
  kill() { this.exit({ code: null, signal: 'SIGKILL', why: 'killed' }); }
  feed(chunk: string | Buffer) { this.splitter.push(chunk); }
  stderr(t: string) { this.errCbs.forEach((cb) => cb(t)); }
  exit(i: ExitInfo) { this.splitter.end(); this.exitCbs.forEach((cb) => cb(i)); this.resolveExit(i); }
}

const hello = (protocol = PROTOCOL_VERSION) => JSON.stringify({
  type: 'hello', protocol, helper_version: '0.1', kernel: '6.18', mono_ns: 1, wall_ns: 2, ncpus: 2, btf: true,
  bpf_stats: false, attach_types: { tracepoint: true, fentry: false }, workdir: '/w', pid: 7,
});

test('LineSplitter joins partial chunks, splits several lines per chunk, handles CRLF and split UTF-8', () => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l), () => assert.fail('no oversize'));
  s.push('{"a":');
  s.push('1}\n{"b":2}\r\n{"c"');
  const euro = Buffer.from('"€"}\n', 'utf8');
  s.push(Buffer.concat([Buffer.from(':'), euro.subarray(0, 2)]));
  s.push(euro.subarray(2));
  assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":"€"}']);
  s.push('tail-without-newline');
  s.end();
  assert.equal(lines[3], 'tail-without-newline');
});

test('LineSplitter reports an oversized line once, skips it, and recovers at the next newline', () => {
  const lines: string[] = [];
  const over: number[] = [];
  const s = new LineSplitter((l) => lines.push(l), (n) => over.push(n), 10);
  s.push('0123456789ABC');
  s.push('DEF'.repeat(1000));
  s.push('\nok\n');
  assert.deepEqual(lines, ['ok']);
  assert.equal(over.length, 1);
});

test('hello is checked against the protocol version; a mismatch says which side to update', async () => {
  const p = new FakeProc();
  const c = new HelperClient(p);
  const h = c.waitHello(1000);
  p.feed(`${hello(PROTOCOL_VERSION + 1)}\n`);
  await assert.rejects(h, (e: unknown) => e instanceof ProtocolError && e.kind === 'version' && /update nslat/.test(e.message));
  const p2 = new FakeProc();
  const c2 = new HelperClient(p2);
  p2.feed(`${hello()}\n`);
  assert.equal((await c2.waitHello(1000)).kernel, '6.18');
});

test('malformed, truncated, invalid and oversized lines become protocolError events, never throws', async () => {
  const p = new FakeProc();
  const c = new HelperClient(p);
  const errors: ProtocolError[] = [];
  const msgs: HelperMessage[] = [];
  c.on('protocolError', (e) => errors.push(e));
  c.on('message', (m) => msgs.push(m));
  p.feed('not json\n');
  p.feed('{"type":"snapshot","seq":1}\n'); // invalid: missing fields
  p.feed('{"type":"nope"}\n');
  p.feed('[1,2,3]\n');
  p.feed('null\n');
  p.feed('{"type":"log","level":"info","message":"ok"}\n');
  p.feed('{"type":"log","level":"info","mess'); // truncated at exit
  c.handleLine('x'.repeat(MAX_MESSAGE_BYTES + 1));
  p.exit({ code: 0, signal: null, why: 'done' });
  assert.equal(msgs.length, 1);
  assert.deepEqual(errors.map((e) => e.kind), ['bad_json', 'invalid', 'invalid', 'invalid', 'invalid', 'too_long', 'bad_json']);
});

test('a listener that throws does not break the reader', () => {
  const p = new FakeProc();
  const c = new HelperClient(p);
  const errors: ProtocolError[] = [];
  c.on('protocolError', (e) => errors.push(e));
  c.on('log', () => { throw new Error('boom'); });
  p.feed('{"type":"log","level":"info","message":"a"}\n');
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /boom/);
});

test('request resolves with the reply carrying its id; error replies reject with the helper message', async () => {
  const p = new FakeProc();
  const c = new HelperClient(p);
  p.onWrite = (line) => {
    const cmd = JSON.parse(line);
    if (cmd.cmd === 'load' && cmd.slot === 'rx') {
      // an unrelated message first, then the reply
      p.feed('{"type":"log","level":"debug","message":"loading"}\n');
      setImmediate(() => p.feed(`${JSON.stringify({ type: 'loaded', id: cmd.id, slot: 'rx', object: cmd.object, replaced: false, mono_ns: 5, programs: [], boundaries: [] })}\n`));
    } else if (cmd.cmd === 'load') {
      setImmediate(() => p.feed(`${JSON.stringify({ type: 'error', id: cmd.id, code: 'verifier', message: 'refused', log: '; x @ a.c:3\nR0 invalid' })}\n`));
    }
  };
  const loaded = await c.request({ cmd: 'load', slot: 'rx', object: '/w/rx.o' }, 1000);
  assert.equal(loaded.type, 'loaded');
  assert.equal(loaded.slot, 'rx');
  await assert.rejects(c.request({ cmd: 'load', slot: 'tx', object: '/w/tx.o' }, 1000), (e: unknown) => e instanceof HelperRequestError && e.reply.code === 'verifier');
  assert.equal(p.written.length, 2);
  assert.ok(p.written.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
});

test('requests time out, and fail at once when the helper exits', async () => {
  const p = new FakeProc();
  const c = new HelperClient(p);
  await assert.rejects(c.request({ cmd: 'snapshot' }, 30), (e: unknown) => e instanceof HelperGoneError && e.reason === 'timeout');
  const pending = c.request({ cmd: 'snapshot' }, 10_000);
  const exits: unknown[] = [];
  c.on('exit', (i) => exits.push(i));
  p.stderr('libbpf: something bad\n');
  p.exit({ code: 1, signal: null, why: 'the helper exited with status 1' });
  await assert.rejects(pending, (e: unknown) => e instanceof HelperGoneError && e.reason === 'exit');
  assert.equal(exits.length, 1);
  await assert.rejects(c.request({ cmd: 'snapshot' }, 100), HelperGoneError);
  assert.match(c.stderrTail, /libbpf/);
});

test('quit waits for bye and exit; falls back to closing stdin when the helper ignores quit', async () => {
  const p = new FakeProc();
  const c = new HelperClient(p);
  p.onWrite = (line) => {
    if (JSON.parse(line).cmd === 'quit') {
      p.feed('{"type":"bye","reason":"quit","attached":0}\n');
      setImmediate(() => p.exit({ code: 0, signal: null, why: 'exited normally' }));
    }
  };
  const info = await c.quit(1000);
  assert.equal(info.code, 0);
  assert.deepEqual(info.bye, { reason: 'quit', attached: 0 });

  const p2 = new FakeProc();
  const c2 = new HelperClient(p2);
  const t0 = Date.now();
  const info2 = await c2.quit(50);
  assert.equal(info2.why, 'stdin closed');
  assert.ok(Date.now() - t0 < 1000);
});

test('a hello that never comes times out with the helper stderr in the message', async () => {
  const p = new FakeProc();
  const c = new HelperClient(p);
  p.stderr('nslat-helper: cannot open /sys/kernel/btf/vmlinux\n');
  await assert.rejects(c.waitHello(30), /said nothing for 30 ms.*btf/);
});

test('set resolves with the log that carries its id; other logs do not answer it; a refused set rejects', async () => {
  const p = new FakeProc();
  const c = new HelperClient(p);
  p.onWrite = (line) => {
    const cmd = JSON.parse(line);
    if (cmd.cmd !== 'set') return;
    // log lines that answer nothing, or another command, come first
    p.feed('{"type":"log","level":"info","message":"unrelated"}\n');
    p.feed(`${JSON.stringify({ type: 'log', level: 'info', message: 'other', id: `${cmd.id}x` })}\n`);
    if (cmd.data?.nope !== undefined) {
      setImmediate(() => p.feed(`${JSON.stringify({ type: 'error', id: cmd.id, code: 'bad_command', message: 'set: no loaded slot has data variable(s): nope' })}\n`));
    } else {
      setImmediate(() => p.feed(`${JSON.stringify({ type: 'log', level: 'info', message: 'set sample_every on rx', id: cmd.id })}\n`));
    }
  };
  const r = await c.request({ cmd: 'set', data: { sample_every: 5 } }, 1000);
  assert.equal(r.type, 'log');
  assert.equal(r.type === 'log' ? r.message : '', 'set sample_every on rx');
  await assert.rejects(c.request({ cmd: 'set', data: { nope: 1 } }, 1000), (e: unknown) => e instanceof HelperRequestError && e.reply.code === 'bad_command');
});

test('the child transport splits stdout with LineSplitter: chunks, CRLF, split UTF-8, an oversized line skipped and reported', async () => {
  const { spawn } = await import('node:child_process');
  const { ChildTargetProcess } = await import('../../src/core/transport/process.ts');
  // A child that writes its lines in awkward pieces, one of them over MAX_MESSAGE_BYTES.
  const script = `
    const w = (s) => new Promise((r) => process.stdout.write(s, r));
    const euro = Buffer.from('€');
    (async () => {
      await w('{"type":"log","level":"info",');
      await w('"message":"a"}\\r\\n{"type":"log","level":"info","message":"');
      await w(euro.subarray(0, 1)); await w(euro.subarray(1));
      await w('"}\\n');
      await w('x'.repeat(${MAX_MESSAGE_BYTES} + 10) + '\\n');
      await w('{"type":"log","level":"info","message":"after"}\\n{"type":"log","level":"info","message":"no newline"}');
    })();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  const proc = new ChildTargetProcess(child, (code) => `exited ${code}`);
  const c = new HelperClient(proc);
  const logs: string[] = [];
  const errors: ProtocolError[] = [];
  c.on('log', (l) => logs.push(l.message));
  c.on('protocolError', (e) => errors.push(e));
  await proc.exited;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(logs, ['a', '€', 'after', 'no newline']);
  assert.deepEqual(errors.map((e) => e.kind), ['too_long']);
});

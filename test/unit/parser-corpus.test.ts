/**
 * The core's parser against hostile helper output: a fake helper process (plain Node,
 * fixtures/fake-helper.mjs) prints malformed JSON, truncated lines, an over-long line, unknown
 * message types, unknown fields, wrong types, huge numbers and bytes that are not UTF-8, through a
 * real pipe into the production path (ChildTargetProcess → LineSplitter → HelperClient →
 * Aggregator). Each bad line gives one clear protocol error; every good line around it arrives,
 * in order; the client keeps answering requests afterwards; a rejected snapshot shows as a lost
 * one rather than vanishing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Aggregator } from '../../src/core/aggregate.ts';
import { HelperClient, type HelperExit } from '../../src/core/helper-client.ts';
import { MAX_MESSAGE_BYTES, type HelperMessage, type ProtocolError } from '../../src/core/protocol.ts';
import { ChildTargetProcess } from '../../src/core/transport/process.ts';

const FAKE = fileURLToPath(new URL('./fixtures/fake-helper.mjs', import.meta.url));

interface Case {
  what: string;
  line: string | Buffer;
  /** The protocol error it must give (kind and what the message says), or null: accepted. */
  error: { kind: ProtocolError['kind']; says: RegExp } | null;
  /** Written a few bytes at a time. */
  pieces?: boolean;
}

const goodSnapshot = JSON.stringify({ type: 'snapshot', seq: 0, mono_ns: 2e9, interval_ns: 1e9, slots: [] });
const log = (message: string, extra: Record<string, unknown> = {}) => JSON.stringify({ type: 'log', level: 'info', message, ...extra });

const CASES: Case[] = [
  { what: 'malformed JSON', line: '{"type":"log","level":"info",', error: { kind: 'bad_json', says: /helper message line is not JSON/ } },
  { what: 'not JSON at all', line: 'Segmentation fault (core dumped)', error: { kind: 'bad_json', says: /not JSON .*Segmentation fault/ } },
  { what: 'a truncated line', line: goodSnapshot.slice(0, 40), error: { kind: 'bad_json', says: /not JSON/ } },
  { what: 'an over-long line', line: log('x'.repeat(MAX_MESSAGE_BYTES + 10)), error: { kind: 'too_long', says: /helper message of \d+\+ bytes \(over 16777216\) skipped: \{"type":"log"/ } },
  { what: 'an unknown message type', line: JSON.stringify({ type: 'telemetry', cpu: 3 }), error: { kind: 'invalid', says: /invalid helper message at type: Invalid discriminator value/ } },
  { what: 'a JSON array', line: '[1,2,3]', error: { kind: 'invalid', says: /expected object, received array/ } },
  { what: 'JSON null', line: 'null', error: { kind: 'invalid', says: /expected object, received null/ } },
  { what: 'a missing field', line: JSON.stringify({ type: 'bye', reason: 'quit' }), error: { kind: 'invalid', says: /at attached/ } },
  { what: 'a wrong type (seq as a string)', line: goodSnapshot.replace('"seq":0', '"seq":"7"'), error: { kind: 'invalid', says: /at seq: .*expected number, received string/ } },
  { what: 'a wrong type (counter as a string)', line: JSON.stringify({ type: 'snapshot', seq: 0, mono_ns: 1, interval_ns: 1, slots: [{ slot: 'rx', hists: [], counters: { started: 'many' }, drops: {}, progs: [] }] }), error: { kind: 'invalid', says: /at slots\.0\.counters\.started/ } },
  { what: 'a wrong enum value', line: log('x').replace('"info"', '"loud"'), error: { kind: 'invalid', says: /at level/ } },
  { what: 'a negative count', line: JSON.stringify({ type: 'snapshot', seq: 0, mono_ns: 1, interval_ns: 1, slots: [{ slot: 'rx', hists: [{ kind: 'stage', dir: 'rx', name: 'a', buckets: [], count: -4, sum: 0 }], counters: {}, drops: {}, progs: [] }] }), error: { kind: 'invalid', says: /at slots\.0\.hists\.0\.count/ } },
  { what: 'a huge number (u64 max counter)', line: JSON.stringify({ type: 'snapshot', seq: 0, mono_ns: 1, interval_ns: 1, slots: [] }).replace('"seq":0', '"seq":18446744073709551615'), error: { kind: 'invalid', says: /at seq: Too big/ } },
  { what: 'a number past double range', line: goodSnapshot.replace('"mono_ns":2000000000', '"mono_ns":1e400'), error: { kind: 'invalid', says: /at mono_ns: .*Infinity/ } },
  { what: 'a bucket index out of range', line: JSON.stringify({ type: 'snapshot', seq: 0, mono_ns: 1, interval_ns: 1, slots: [{ slot: 'rx', hists: [{ kind: 'stage', dir: 'rx', name: 'a', buckets: [[256, 1]], count: 1, sum: 1 }], counters: {}, drops: {}, progs: [] }] }), error: { kind: 'invalid', says: /buckets\.0\.0/ } },
  { what: 'bytes that are not UTF-8', line: Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]), error: { kind: 'bad_json', says: /not JSON/ } },
  { what: 'a NUL inside a string', line: '{"type":"log","level":"info","message":"a\u0000b"}', error: { kind: 'bad_json', says: /not JSON/ } },
  // Accepted: a newer helper's extra field is ignored, a line may end in CRLF, and a message may
  // arrive in pieces split inside UTF-8 characters.
  { what: 'an unknown field', line: log('with extra', { colour: 'red', nested: { a: [1] } }), error: null },
  { what: 'a CRLF line end', line: `${log('crlf')}\r`, error: null },
  { what: 'a line in pieces split inside UTF-8', line: log('µs → «ok» ✓'), error: null, pieces: true },
];

test('parser corpus: each bad helper line gives one clear error, every good line arrives, the client keeps working', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, [FAKE], { stdio: ['pipe', 'pipe', 'pipe'] });
  const proc = new ChildTargetProcess(child, (code, signal) => `the fake helper exited (${signal ?? code})`);
  const client = new HelperClient(proc, { timeoutMs: 10_000 });
  const agg = new Aggregator();
  const msgs: HelperMessage[] = [];
  let marks = 0;
  const errors: Array<{ at: number; e: ProtocolError }> = [];
  client.on('message', (m) => {
    msgs.push(m);
    agg.ingest(m);
    if (m.type === 'log' && /^mark \d+$/.test(m.message)) marks++;
  });
  client.on('protocolError', (e) => errors.push({ at: marks, e }));
  const exited = new Promise<HelperExit>((r) => client.once('exit', r));
  try {
    await client.waitHello();
    const done = new Promise<void>((resolve) => client.on('log', (l) => l.message === 'corpus done k1' && resolve()));
    const cases = CASES.map((c) => ({ b64: Buffer.concat([Buffer.isBuffer(c.line) ? c.line : Buffer.from(c.line, 'utf8'), Buffer.from('\n')]).toString('base64'), pieces: c.pieces === true }));
    proc.write(JSON.stringify({ cmd: 'corpus', id: 'k1', cases }));
    await done;

    // one error per bad case, right where it was printed; none for the accepted ones
    CASES.forEach((c, i) => {
      const mine = errors.filter((x) => x.at === i).map((x) => x.e);
      if (c.error === null) {
        assert.deepEqual(mine.map((e) => e.message), [], `${c.what}: accepted`);
        return;
      }
      assert.equal(mine.length, 1, `${c.what}: one error, got ${mine.map((e) => e.message).join(' | ')}`);
      assert.equal(mine[0]!.kind, c.error.kind, `${c.what}: ${mine[0]!.message}`);
      assert.match(mine[0]!.message, c.error.says, c.what);
      assert.ok(mine[0]!.message.length < 1000, `${c.what}: the error quotes a bounded part of the line`);
    });
    assert.equal(errors.length, CASES.filter((c) => c.error).length);

    // nothing good was lost: every mark, in order, and the accepted lines as they were meant
    const logs = msgs.filter((m): m is Extract<HelperMessage, { type: 'log' }> => m.type === 'log').map((m) => m.message);
    assert.deepEqual(logs.filter((m) => m.startsWith('mark ')), CASES.map((_, i) => `mark ${i}`));
    assert.ok(logs.includes('with extra') && logs.includes('crlf') && logs.includes('µs → «ok» ✓'));
    assert.ok(!msgs.some((m) => 'colour' in m), 'unknown fields are dropped, not passed on');

    // the client still answers, and a snapshot the parser had to refuse counts as lost
    const s1 = await client.request({ cmd: 'snapshot' });
    assert.equal(s1.slots[0]!.counters.started, 5);
    proc.write(JSON.stringify({ cmd: 'skip_seq' }));
    const s2 = await client.request({ cmd: 'snapshot' });
    assert.equal(s2.seq, s1.seq + 2);
    const rep = agg.report();
    assert.equal(rep.snapshots, 2);
    assert.equal(rep.lost_snapshots, 1);
    assert.deepEqual(rep.loss.find((l) => l.name === 'lost_snapshots'), { name: 'lost_snapshots', total: 1, of: 3, base: 'snapshots', share: 1 / 3, label: '33.3 % of 3 snapshots', per_s: 0.5, slots: {} });
    assert.equal(rep.stages[0]!.count, 10);

    // a truncated last line before the helper dies is reported too, and so is the exit
    proc.write(JSON.stringify({ cmd: 'truncate_and_exit' }));
    const exit = await exited;
    assert.equal(exit.code, 3);
    const last = errors.at(-1)!.e;
    assert.equal(last.kind, 'bad_json');
    assert.match(last.message, /not JSON.*"mess/);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

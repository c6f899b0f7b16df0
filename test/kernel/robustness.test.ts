/**
 * A corpus of bad input on the real helper's stdin: malformed and truncated JSON, over-long lines,
 * unknown commands and fields, wrong types, huge numbers, paths outside the work directory and
 * symlinks out of it. Every entry must get an `error` (with the command's id where it had a usable
 * one), and the helper must keep running: a good command right after each one is answered, and
 * the probe loaded before the corpus still counts traffic after it.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MAX_COMMAND_BYTES } from '../../src/core/protocol.ts';
import { BUILD_DIR, Helper, Totals, kernelSkipReason } from './lib/helper.ts';
import { runFlow } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

interface Entry {
  what: string;
  line: string | Buffer;
  code: RegExp;
  /** The id the error must carry (when the command had a usable one). */
  id?: string;
}

describe('robustness corpus on the helper stdin', { skip, timeout: 120_000 }, () => {
  const outside = mkdtempSync(join(tmpdir(), 'nslat-robust-outside-'));
  let h: Helper | undefined;
  after(async () => {
    await h?.dispose();
    rmSync(outside, { recursive: true, force: true });
  });

  test('every bad line gets an error and the helper keeps answering and counting', async () => {
    h = await Helper.start();
    const helper = h;
    await helper.loadOk('rx', 'rx');
    const rx = helper.path('rx.bpf.o');
    // Objects outside the work dir, reached directly and through links inside it.
    copyFileSync(join(BUILD_DIR, 'rx.bpf.o'), join(outside, 'rx.bpf.o'));
    symlinkSync(join(outside, 'rx.bpf.o'), helper.path('out-link.bpf.o'));
    symlinkSync(helper.path('out-link.bpf.o'), helper.path('chain.bpf.o'));
    symlinkSync(outside, helper.path('outdir'));
    symlinkSync('/proc/self/root/etc/passwd', helper.path('proc.bpf.o'));
    mkdirSync(helper.path('sub'));
    symlinkSync('../../', helper.path('sub/up'));

    const load = (id: string, extra: Record<string, unknown>) => JSON.stringify({ cmd: 'load', id, slot: 'rx', object: rx, ...extra });
    const corpus: Entry[] = [
      // malformed and truncated
      { what: 'not JSON', line: 'this is not json', code: /^bad_json$/ },
      { what: 'truncated object', line: '{"cmd":"snapshot","id":"t1"', code: /^bad_json$/ },
      { what: 'truncated string', line: '{"cmd":"load","id":"t2","slot":"rx","object":"/tm', code: /^bad_json$/ },
      { what: 'trailing garbage', line: '{"cmd":"snapshot","id":"t3"} x', code: /^bad_json$/ },
      { what: 'two objects on one line', line: '{"cmd":"snapshot","id":"t4"}{"cmd":"quit","id":"t5"}', code: /^bad_json$/ },
      { what: 'a NUL byte inside', line: Buffer.from('{"cmd":"snap\u0000shot","id":"t6"}'), code: /^(bad_json|unknown_command|bad_command)$/ },
      { what: 'invalid UTF-8', line: Buffer.concat([Buffer.from('{"cmd":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","id":"t7"}')]), code: /^(bad_json|unknown_command)$/ },
      { what: 'deeply nested', line: `${'['.repeat(5000)}${']'.repeat(5000)}`, code: /^(bad_json|bad_command)$/ },
      { what: 'a JSON array', line: '[1,2,3]', code: /^bad_command$/ },
      { what: 'a JSON string', line: '"load"', code: /^bad_command$/ },
      { what: 'JSON null', line: 'null', code: /^(bad_command|bad_json)$/ },
      { what: 'an empty object', line: '{}', code: /^bad_command$/ },
      // unknown commands and fields
      { what: 'unknown command', line: '{"cmd":"frobnicate","id":"u1"}', code: /^unknown_command$/, id: 'u1' },
      { what: 'command in capitals', line: '{"cmd":"LOAD","id":"u2"}', code: /^unknown_command$/, id: 'u2' },
      { what: 'unknown field on snapshot', line: '{"cmd":"snapshot","id":"f1","pad":1}', code: /^bad_command$/, id: 'f1' },
      { what: 'misspelt field on set', line: '{"cmd":"set","id":"f2","intervall_ms":5}', code: /^bad_command$/, id: 'f2' },
      { what: 'unknown field on load', line: load('f3', { force: true }), code: /^bad_command$/, id: 'f3' },
      // wrong types
      { what: 'cmd a number', line: '{"cmd":1,"id":"w1"}', code: /^bad_command$/, id: 'w1' },
      { what: 'id a number', line: '{"cmd":"snapshot","id":5}', code: /^bad_command$/ },
      { what: 'id empty', line: '{"cmd":"snapshot","id":""}', code: /^bad_command$/ },
      { what: 'id too long', line: JSON.stringify({ cmd: 'snapshot', id: 'i'.repeat(65) }), code: /^bad_command$/ },
      { what: 'slot a number', line: JSON.stringify({ cmd: 'load', id: 'w2', slot: 7, object: rx }), code: /^bad_command$/, id: 'w2' },
      { what: 'slot with a slash', line: JSON.stringify({ cmd: 'load', id: 'w3', slot: 'rx/../x', object: rx }), code: /^bad_command$/, id: 'w3' },
      { what: 'object an array', line: load('w4', { object: [rx] }), code: /^bad_command$/, id: 'w4' },
      { what: 'rodata a string', line: load('w5', { rodata: 'filter_port=1' }), code: /^bad_command$/, id: 'w5' },
      { what: 'data value a string', line: load('w6', { data: { sample_every: '1' } }), code: /^bad_command$/, id: 'w6' },
      { what: 'data value a float', line: load('w7', { data: { sample_every: 1.5 } }), code: /^bad_command$/, id: 'w7' },
      { what: 'data value a boolean', line: JSON.stringify({ cmd: 'set', id: 'w8', data: { sample_every: true } }), code: /^bad_command$/, id: 'w8' },
      { what: 'data variable name with a dot', line: JSON.stringify({ cmd: 'set', id: 'w9', data: { 'a.b': 1 } }), code: /^bad_command$/, id: 'w9' },
      { what: 'strict a string', line: load('w10', { strict: 'yes' }), code: /^bad_command$/, id: 'w10' },
      { what: 'netns of strings', line: load('w11', { netns: ['4026531840'] }), code: /^bad_command$/, id: 'w11' },
      { what: 'netns too many', line: load('w12', { netns: Array.from({ length: 17 }, (_, i) => i + 1) }), code: /^bad_command$/, id: 'w12' },
      { what: 'verify with a bad alternative', line: JSON.stringify({ cmd: 'verify', id: 'w13', object: rx, alternative: 'uprobe' }), code: /^bad_command$/, id: 'w13' },
      { what: 'interval_ms a string', line: '{"cmd":"set","id":"w14","interval_ms":"500"}', code: /^bad_command$/, id: 'w14' },
      { what: 'interval_ms negative', line: '{"cmd":"set","id":"w15","interval_ms":-1}', code: /^bad_command$/, id: 'w15' },
      { what: 'unload of a slot never loaded', line: '{"cmd":"unload","id":"w16","slot":"nosuch"}', code: /^no_such_slot$/, id: 'w16' },
      // huge numbers
      { what: 'interval_ms huge', line: '{"cmd":"set","id":"n1","interval_ms":1000000000000}', code: /^bad_command$/, id: 'n1' },
      { what: 'interval_ms 1e400', line: '{"cmd":"set","id":"n2","interval_ms":1e400}', code: /^(bad_command|bad_json)$/ },
      { what: 'data beyond 64 bits', line: '{"cmd":"set","id":"n3","data":{"sample_every":99999999999999999999999}}', code: /^bad_command$/, id: 'n3' },
      { what: 'data beyond the variable (u32)', line: '{"cmd":"set","id":"n4","data":{"sample_every":5000000000}}', code: /^bad_command$/, id: 'n4' },
      { what: 'rodata beyond the variable (u16)', line: load('n5', { rodata: { filter_port: 70000 } }), code: /^bad_command$/, id: 'n5' },
      { what: 'netns beyond 32 bits', line: load('n6', { netns: [2 ** 40] }), code: /^bad_command$/, id: 'n6' },
      { what: 'a 400-digit number', line: `{"cmd":"set","id":"n7","data":{"slow_ns":${'9'.repeat(400)}}}`, code: /^bad_command$/, id: 'n7' },
      // paths outside the work directory, symlinks out of it
      { what: 'absolute path outside', line: load('p1', { object: '/etc/passwd' }), code: /^bad_path$/, id: 'p1' },
      { what: 'an object outside', line: load('p2', { object: join(outside, 'rx.bpf.o') }), code: /^bad_path$/, id: 'p2' },
      { what: '.. out of the work dir', line: load('p3', { object: `${helper.workdir}/../${outside.split('/').pop()}/rx.bpf.o` }), code: /^bad_path$/, id: 'p3' },
      { what: 'relative path', line: load('p4', { object: 'rx.bpf.o' }), code: /^bad_path$/, id: 'p4' },
      { what: 'symlink to an object outside', line: load('p5', { object: helper.path('out-link.bpf.o') }), code: /^bad_path$/, id: 'p5' },
      { what: 'symlink chain out', line: load('p6', { object: helper.path('chain.bpf.o') }), code: /^bad_path$/, id: 'p6' },
      { what: 'directory symlink out', line: load('p7', { object: helper.path('outdir/rx.bpf.o') }), code: /^bad_path$/, id: 'p7' },
      { what: 'symlink through /proc', line: load('p8', { object: helper.path('proc.bpf.o') }), code: /^bad_path$/, id: 'p8' },
      { what: 'relative symlink climbing out', line: load('p9', { object: helper.path('sub/up/etc/passwd') }), code: /^bad_path$/, id: 'p9' },
      { what: 'the work dir itself', line: load('p10', { object: helper.workdir }), code: /^(bad_path|load|bad_object|internal)$/, id: 'p10' },
      { what: 'a missing object', line: load('p11', { object: helper.path('missing.bpf.o') }), code: /^bad_path$/, id: 'p11' },
      { what: 'verify outside', line: JSON.stringify({ cmd: 'verify', id: 'p12', object: '/etc/passwd' }), code: /^bad_path$/, id: 'p12' },
      { what: 'a path of 5000 bytes', line: load('p13', { object: `/${'a'.repeat(5000)}` }), code: /^bad_command$/, id: 'p13' },
    ];

    let good = 0;
    const alive = async (what: string) => {
      const snap = await helper.snapshot(10_000).catch((e: Error) => {
        throw new Error(`no answer to a good snapshot after ${what}: ${e.message}`);
      });
      assert.equal(snap.type, 'snapshot');
      good++;
    };
    for (const e of corpus) {
      const from = helper.mark();
      if (typeof e.line === 'string') helper.sendRaw(e.line);
      else helper.proc.stdin.write(Buffer.concat([e.line, Buffer.from('\n')]));
      // A periodic snapshot (no id) is nobody's reply: only a snapshot that answers a command counts.
      const m = await helper.waitFor((x) => x.type === 'error' || x.type === 'loaded' || x.type === 'verified' || (x.type === 'snapshot' && x.id !== undefined) || x.type === 'bye', 15_000, `reply to ${e.what}`, from);
      assert.equal(m.type, 'error', `${e.what}: expected an error, got ${JSON.stringify(m).slice(0, 300)}`);
      if (m.type !== 'error') continue;
      assert.match(m.code, e.code, `${e.what}: code ${m.code} (${m.message})`);
      assert.ok(m.message.length > 0, `${e.what}: the error says what is wrong`);
      if (e.id) assert.equal(m.id, e.id, `${e.what}: the error carries the command's id`);
      await alive(e.what);
    }

    // Over-long lines: one in a single write, one in pieces followed by a good command on the same write.
    {
      const from = helper.mark();
      helper.sendRaw(JSON.stringify({ cmd: 'snapshot', id: 'long1', pad: 'x'.repeat(MAX_COMMAND_BYTES + 10) }));
      await helper.waitFor((m) => m.type === 'error' && m.code === 'too_long', 10_000, 'too_long', from);
      await alive('an over-long line');
      const from2 = helper.mark();
      for (let i = 0; i < 5; i++) helper.sendRaw('y'.repeat(MAX_COMMAND_BYTES / 2), false);
      helper.sendRaw('\n{"cmd":"snapshot","id":"after-long"}');
      await helper.waitFor((m) => m.type === 'error' && m.code === 'too_long', 10_000, 'too_long in pieces', from2);
      await helper.waitFor((m) => m.type === 'snapshot' && m.id === 'after-long', 10_000, 'the command right after the long line', from2);
      // A line truncated by a write that stops mid-command, completed later: one command.
      helper.sendRaw('{"cmd":"snap', false);
      await new Promise((r) => setTimeout(r, 200));
      helper.sendRaw('shot","id":"joined"}');
      await helper.waitFor((m) => m.type === 'snapshot' && m.id === 'joined', 10_000, 'a command written in two pieces', from2);
    }

    assert.equal(helper.exit, undefined, 'the helper is still running');
    assert.equal(good, corpus.length + 1);
    assert.equal(helper.messages.filter((m) => m.type === 'loaded').length, 1, 'no bad command loaded anything');
    // The probe loaded before the corpus is untouched and still counts.
    const set = await helper.set({ data: { sample_every: 3 } });
    assert.equal(set.type, 'log', `a good set after the corpus: ${JSON.stringify(set)}`);
    const from = helper.mark();
    await runFlow({ proto: 'udp', family: 4, count: 500, size: 100, durationS: 5, timeoutS: 15 });
    await helper.snapshot();
    const started = Totals.of(helper.snapshotsSince(from)).counters.get('rx.started') ?? 0;
    assert.ok(started >= 500, `rx still counts after the corpus (started ${started})`);
    await helper.quit();
    assert.equal(helper.bye()?.attached, 0);
    helper.assertProtocolClean();
  });
});

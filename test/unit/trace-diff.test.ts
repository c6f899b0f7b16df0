/**
 * The one trace reader as `nslat replay`, `nslat diff` and the panel's trace editor use it
 * (openTrace in src/core/export/jsonl.ts) on new, old and bad files; and `nslat diff` end to end on
 * recorded-shape traces: a stage made twice as slow in B is flagged with its shift, two traces of
 * the same load are not, one trace splits at its reload, and wrong arguments are usage errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseCli, UsageError } from '../../src/cli/args.ts';
import { openTrace, traceProblems, TraceOpenError, TraceWriter } from '../../src/core/export/jsonl.ts';
import type { Comparison, HelperMessage } from '../../src/core/protocol.ts';
import { makeStream } from '../fixtures/stream.ts';

const dir = mkdtempSync(join(tmpdir(), 'nslat-trace-diff-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
function nslat(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function writeTrace(name: string, msgs: HelperMessage[], host = 'lab1'): string {
  const path = join(dir, name);
  const w = new TraceWriter(path, { host, kernel: '6.18.0', started: new Date(Date.UTC(2026, 11, 1, 12)) });
  msgs.forEach((m, i) => w.write(m, 1_000 + i));
  w.close();
  return path;
}

/** The stream with every value of the rx stage `name` doubled: each log-linear bucket index from 8
 *  up moves one power of two (8 sub-buckets) up, which doubles its edges exactly. */
function slower(msgs: HelperMessage[], name: string): HelperMessage[] {
  return msgs.map((m) => {
    if (m.type !== 'snapshot') return m;
    return {
      ...m,
      slots: m.slots.map((s) => ({
        ...s,
        hists: s.hists.map((h) => (h.dir === 'rx' && h.kind === 'stage' && h.name === name ? { ...h, sum: 2 * h.sum, buckets: h.buckets.map(([i, n]) => [i >= 8 ? i + 8 : i, n] as [number, number]) } : h)),
      })),
    };
  });
}

test('openTrace: a new trace opens; an old protocol, a missing file, a directory and a file of junk are refused with the reason; bad lines are said', async () => {
  const msgs = makeStream({ snapshots: 4 });
  const good = await openTrace(writeTrace('good.jsonl', msgs));
  assert.equal(good.header?.host, 'lab1');
  assert.equal(good.messages, msgs.length);
  assert.deepEqual(traceProblems(good), []);

  const v1 = join(dir, 'v1.jsonl');
  writeFileSync(v1, [JSON.stringify({ type: 'nslat-trace', version: 1, protocol: 1, host: 'old', kernel: '6.1', started: '2026-01-01T00:00:00Z' }), ...msgs.map((m) => JSON.stringify({ recv_ms: 1, msg: m.type === 'hello' ? { ...m, protocol: 1 } : m }))].join('\n') + '\n');
  await assert.rejects(openTrace(v1), (e: unknown) => {
    assert.ok(e instanceof TraceOpenError);
    assert.equal(e.kind, 'protocol');
    assert.equal(e.protocol, 1);
    assert.match(e.reason, /recorded with protocol version 1 \(32 log2 buckets per histogram\) and this nslat reads protocol version 2/);
    assert.match(e.hint, /not converted/);
    return true;
  });
  await assert.rejects(openTrace(join(dir, 'nope.jsonl')), (e: unknown) => e instanceof TraceOpenError && e.kind === 'missing' && /nope\.jsonl does not exist$/.test(e.message));
  mkdirSync(join(dir, 'adir.jsonl'));
  await assert.rejects(openTrace(join(dir, 'adir.jsonl')), (e: unknown) => e instanceof TraceOpenError && e.kind === 'unreadable' && /is a directory/.test(e.message));
  const junk = join(dir, 'junk.jsonl');
  writeFileSync(junk, 'hello world\n{"type":"nope"}\n');
  await assert.rejects(openTrace(junk), (e: unknown) => e instanceof TraceOpenError && e.kind === 'empty' && /holds no nslat trace messages \(2 bad lines; line 1: not JSON/.test(e.message));

  // a good trace with a bad line in the middle and cut short at the end: opens, and says so
  const lines = [JSON.stringify({ type: 'nslat-trace', version: 1, protocol: 2, host: 'h', kernel: 'k', started: '2026-01-01T00:00:00Z' }), ...msgs.map((m) => JSON.stringify({ recv_ms: 1, msg: m }))];
  lines.splice(3, 0, '{"recv_ms":1,"msg":{"type":"snapshot"}}');
  const cut = join(dir, 'cut.jsonl');
  writeFileSync(cut, `${lines.join('\n')}\n{"recv_ms":1,"msg":{"type":"snaps`);
  const r = await openTrace(cut);
  assert.equal(r.messages, msgs.length);
  assert.equal(r.truncated, true);
  const problems = traceProblems(r);
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /^line 4: invalid helper message/);
  assert.match(problems[1]!, /truncated \(the trace ends mid-line/);
  assert.deepEqual(traceProblems({ errors: r.errors, errorCount: 9 }, 1).at(-1), '8 more bad lines skipped');
});

test('nslat diff: a stage twice as slow in B is flagged with its shift; another recording of the same load is not', () => {
  const a = makeStream({ snapshots: 30, seed: 1 });
  const name = a.flatMap((m) => (m.type === 'snapshot' ? m.slots.flatMap((s) => s.hists) : [])).find((h) => h.dir === 'rx' && h.kind === 'stage' && h.count > 50)!.name;
  const fa = writeTrace('a.jsonl', a);
  const fb = writeTrace('b.jsonl', slower(makeStream({ snapshots: 30, seed: 2 }), name));
  const fc = writeTrace('c.jsonl', makeStream({ snapshots: 30, seed: 3 }));

  const json = nslat('diff', fa, fb, '--format', 'json');
  assert.equal(json.code, 0, json.err);
  const c = JSON.parse(json.out) as Comparison & { differences: string[] };
  const key = `rx:stage:${name}`;
  assert.deepEqual(c.differences, [key], 'only the slowed stage');
  const row = c.stages.find((s) => s.key === key)!;
  assert.equal(row.verdict, 'higher');
  const rel = row.p50!.shift / row.p50!.a;
  assert.ok(rel > 0.8 && rel < 1.2, `p50 shift ${(100 * rel).toFixed(0)} % of A's p50 (doubled: 100 %)`);
  assert.equal(c.a.intervals, 30);
  assert.match(c.a.label, /^a\.jsonl \(lab1\)$/);

  const same = nslat('diff', fa, fc, '--format', 'json');
  assert.equal(same.code, 0, same.err);
  const s = JSON.parse(same.out) as Comparison & { differences: string[] };
  assert.deepEqual(s.differences, []);
  assert.ok(s.stages.filter((x) => x.verdict === 'same').length >= 10, 'the stages were tested');

  const table = nslat('diff', fa, fb);
  assert.equal(table.code, 0, table.err);
  assert.match(table.out, /^nslat diff — A: a\.jsonl \(lab1\), 30 intervals; B: b\.jsonl \(lab1\), 30 intervals$/m);
  assert.match(table.out, /Mann–Whitney U test, Holm-adjusted over \d+ tests at α = 0\.01/);
  assert.match(table.out, new RegExp(`^1 stage differs beyond the interval-to-interval noise`, 'm'));
  assert.match(table.out, new RegExp(`^  RX ${name.replace('→', ' → ')}: slower beyond noise: p50 \\+[\\d.]+ [nµm]?s \\(p < 0\\.0001 adjusted\\)`, 'm'));
  assert.match(nslat('diff', fa, fc).out, /^No stage differs beyond the interval-to-interval noise\.$/m);
});

test('nslat diff on one trace: two ranges, or before and after its reload; clear errors', () => {
  const f = writeTrace('one.jsonl', makeStream({ snapshots: 30, seed: 5 }));
  const ranges = nslat('diff', f, '--range-a', '0:10', '--range-b', '15:30', '--format', 'json');
  assert.equal(ranges.code, 0, ranges.err);
  const r = JSON.parse(ranges.out) as Comparison;
  assert.equal(r.a.intervals, 10);
  assert.equal(r.b.intervals, 15);
  assert.match(r.a.label, /^one\.jsonl \(lab1\), 0–10 s$/);
  const reload = nslat('diff', f, '--at-reload', '--format', 'json');
  assert.equal(reload.code, 0, reload.err);
  const rl = JSON.parse(reload.out) as Comparison & { differences: string[] };
  assert.match(rl.a.label, /before the rx reload/);
  assert.equal(rl.a.intervals + rl.b.intervals, 29, 'the interval holding the reload is in neither');
  assert.deepEqual(rl.differences, []);

  const noReload = writeTrace('noreload.jsonl', makeStream({ snapshots: 8 }).filter((m) => !(m.type === 'loaded' && m.replaced)));
  const e1 = nslat('diff', noReload, '--at-reload');
  assert.equal(e1.code, 1);
  assert.match(e1.err, /^nslat: cannot compare: .*noreload\.jsonl records no successful probe reload to split at\.$/m);
  const old = join(dir, 'old.jsonl');
  writeFileSync(old, makeStream({ snapshots: 2 }).map((m) => JSON.stringify(m.type === 'hello' ? { ...m, protocol: 1 } : m)).join('\n') + '\n');
  const e2 = nslat('diff', old, f);
  assert.equal(e2.code, 1);
  assert.match(e2.err, /^nslat: cannot compare .*old\.jsonl: it was recorded with protocol version 1/);
  const e3 = nslat('diff', join(dir, 'missing.jsonl'), f);
  assert.equal(e3.code, 1);
  assert.match(e3.err, /missing\.jsonl does not exist\./);
  const e4 = nslat('diff', f, '--range-a', '100:200', '--range-b', '0:5');
  assert.equal(e4.code, 1);
  assert.match(e4.err, /window A, one\.jsonl \(lab1\), 100–200 s, holds no interval in that range/);
});

test('nslat diff arguments', () => {
  assert.deepEqual(parseCli(['diff', 'a.jsonl', 'b.jsonl']), { kind: 'diff', a: 'a.jsonl', b: 'b.jsonl', atReload: false, format: 'table' });
  assert.deepEqual(parseCli(['diff', 't.jsonl', '--range-a', '0:30', '--range-b', '40.5:70', '--alpha', '0.05', '--min-packets', '20', '--format', 'json']), {
    kind: 'diff', a: 't.jsonl', rangeA: [0, 30], rangeB: [40.5, 70], atReload: false, format: 'json', alpha: 0.05, minPackets: 20,
  });
  assert.deepEqual(parseCli(['diff', 't.jsonl', '--at-reload']), { kind: 'diff', a: 't.jsonl', atReload: true, format: 'table' });
  assert.deepEqual(parseCli(['diff', '--help']), { kind: 'help', topic: 'diff' });
  const bad: Array<[string[], RegExp]> = [
    [['diff'], /needs the traces to compare/],
    [['diff', 'a', 'b', 'c'], /compares two traces, got 3/],
    [['diff', 'a'], /with one trace needs --range-a and --range-b, or --at-reload/],
    [['diff', 'a', '--range-a', '0:30'], /with one trace needs/],
    [['diff', 'a', '--range-a', '30:10', '--range-b', '0:5'], /ends before it starts/],
    [['diff', 'a', '--range-a', 'soon', '--range-b', '0:5'], /--range-a needs START:END in seconds/],
    [['diff', 'a', 'b', '--at-reload'], /--at-reload compares one trace/],
    [['diff', 'a', 'b', '--alpha', '0'], /--alpha must be above 0/],
    [['diff', 'a', 'b', '--alpha', '0.9'], /--alpha must be between 0 and 0.5/],
    [['diff', 'a', 'b', '--duration', '3'], /--duration does not apply to `nslat diff`/],
  ];
  for (const [args, re] of bad) assert.throws(() => parseCli(args), (e: unknown) => e instanceof UsageError && re.test(e.message), args.join(' '));
});

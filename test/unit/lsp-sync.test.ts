/** The extension ⇄ probe language server bridge's vscode-free parts (src/extension/lspSync.ts). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Aggregator } from '../../src/core/aggregate.ts';
import { parseHelperMessage, type HelperMessage } from '../../src/core/protocol.ts';
import {
  attachReasonsFrom,
  checkTargetRun,
  normalizeClangMessage,
  serverCompileDirs,
  stageStatsFrom,
  stoppedStats,
  targetParams,
  TARGET_RUN_MAX_TIMEOUT_MS,
  withoutServerDuplicates,
} from '../../src/extension/lspSync.ts';
import { StageStatsParams, TargetParams } from '../../src/server/protocol.ts';
import type { CompilePlace } from '../../src/core/build.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const log = (message: string): HelperMessage => ({ type: 'log', level: 'info', message });

test('withoutServerDuplicates: drops the reload\'s clang copies of the server\'s diagnostics, keeps the rest', () => {
  const reload = [
    { line: 0, message: 'expected expression', source: 'nslat clang', id: 'dup' },
    { line: 0, message: "unused variable 'x' [-Wunused-variable]", source: 'nslat clang', id: 'dup-flag' },
    { line: 4, message: 'expected expression', source: 'nslat clang', id: 'other-line' },
    { line: 0, message: 'use of undeclared identifier', source: 'nslat clang', id: 'server-lacks' },
    { line: 0, message: 'expected expression', source: 'nslat verifier', id: 'verifier' },
    { line: 0, message: 'expected expression', source: 'nslat helper', id: 'helper' },
  ];
  const server = [
    { line: 0, message: 'expected expression', source: 'clang' },
    { line: 0, message: "unused variable 'x'", source: 'clang' },
    // nslat's own checks and other extensions' sources do not count.
    { line: 0, message: 'use of undeclared identifier', source: 'nslat' },
    { line: 0, message: 'expected expression', source: 'nslat clang' },
  ];
  assert.deepEqual(withoutServerDuplicates(reload, server).map((d) => d.id), ['other-line', 'server-lacks', 'verifier', 'helper']);
  // Without the server's diagnostics nothing is dropped (also: a new array, the input untouched).
  const all = withoutServerDuplicates(reload, []);
  assert.deepEqual(all.map((d) => d.id), reload.map((d) => d.id));
  assert.notEqual(all, reload);
  // Only its own clang source counts on our side: the server's duplicates of a verifier line stay.
  assert.deepEqual(withoutServerDuplicates([{ line: 2, message: 'R1 invalid mem access', source: 'nslat verifier' }], [{ line: 2, message: 'R1 invalid mem access', source: 'clang' }]).length, 1);
});

test('normalizeClangMessage: flag suffix and spacing only', () => {
  assert.equal(normalizeClangMessage("unused variable 'x' [-Wunused-variable]"), "unused variable 'x'");
  assert.equal(normalizeClangMessage('  expected  expression \n'), 'expected expression');
  assert.equal(normalizeClangMessage("array index 3 is past the end [-Warray-bounds] x"), 'array index 3 is past the end [-Warray-bounds] x');
});

test('attachReasonsFrom: the helper\'s start-up lines by attach type, for failed types only', () => {
  const types = { tracepoint: true, raw_tp: true, tp_btf: true, fentry: false, fexit: false, kprobe: false, kretprobe: false, netfilter: true };
  const reasons = attachReasonsFrom(types, [
    { type: 'hello' } as unknown as HelperMessage,
    log('fentry not permitted on this kernel (EPERM at load)'),
    log('fexit not permitted on this kernel (EPERM at load)'),
    log('kretprobes absent on this kernel (ENOENT at attach: no kprobe PMU or kprobe_events)'),
    log('kprobes absent on this kernel (ENOENT at attach: no kprobe PMU or kprobe_events)'),
    log('kprobes again (a second line is not taken)'),
    log('netfilter hooks work here but are off (--netfilter: they see only the helper\'s network namespace)'),
    log('feature probe: Permission denied'),
  ]);
  assert.deepEqual(reasons, {
    fentry: 'fentry not permitted on this kernel (EPERM at load)',
    fexit: 'fexit not permitted on this kernel (EPERM at load)',
    kretprobe: 'kretprobes absent on this kernel (ENOENT at attach: no kprobe PMU or kprobe_events)',
    kprobe: 'kprobes absent on this kernel (ENOENT at attach: no kprobe PMU or kprobe_events)',
  });
});

test('targetParams: local and remote sessions, valid against the server\'s schema', () => {
  const hello = { attach_types: { tracepoint: true, tp_btf: true, fentry: false } };
  const local = targetParams({ host: 'local', kind: 'local', hello, messages: [log('fentry not permitted on this kernel (EPERM at load)')], targetIncludeDirs: ['/root/.cache/nslat/x/src/include'] });
  assert.deepEqual(local, { host: 'local', remote: false, attachTypes: hello.attach_types, attachReasons: { fentry: 'fentry not permitted on this kernel (EPERM at load)' } });
  assert.ok(TargetParams.safeParse(local).success);
  const dirs = ['/home/me/.cache/nslat/abc/src/include', '/home/me/.cache/nslat/abc/src/probes', '/home/me/.cache/nslat/abc/src/build'];
  const remote = targetParams({ host: 'me@box', kind: 'ssh', hello, targetIncludeDirs: dirs });
  assert.deepEqual(remote, {
    host: 'me@box',
    remote: true,
    attachTypes: hello.attach_types,
    compileOnTarget: { includeDirs: dirs },
  });
  assert.ok(TargetParams.safeParse(remote).success);
  assert.equal(targetParams({ host: 'me@box', kind: 'ssh', hello }).compileOnTarget, undefined);
});

test('stageStatsFrom: stages and programs from a recorded session, valid against the server\'s schema', () => {
  const agg = new Aggregator({ host: 'local' });
  for (const l of readFileSync(join(ROOT, 'test', 'fixtures', 'helper-stream.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const r = parseHelperMessage(l);
    assert.ok(r.ok);
    agg.ingest(r.value, 1000);
  }
  const hadChanges = agg.hasChanges();
  const stats = stageStatsFrom(agg.report(), 'local');
  // report() does not touch what the panel has been sent.
  assert.equal(agg.hasChanges(), hadChanges);
  assert.ok(StageStatsParams.safeParse(stats).success);
  assert.equal(stats.running, true);
  assert.equal(stats.host, 'local');
  assert.ok(stats.stages.length > 0, 'stages');
  for (const s of stats.stages) {
    assert.ok(!('buckets' in s), 'no buckets in the message');
    assert.ok(s.p99 >= s.p50 && s.count >= 0, JSON.stringify(s));
  }
  assert.ok(stats.stages.some((s) => s.from !== undefined && s.to !== undefined), 'stage boundaries');
  for (const p of stats.progs) assert.ok(p.runs! > 0 && p.ns_per_run >= 0, JSON.stringify(p));
  const state = agg.panelState();
  assert.equal(stats.stages.length, state.stages.length);
  assert.deepEqual(stats.progs.map((p) => p.name).sort(), state.health.progs.filter((p) => p.runs > 0).map((p) => p.name).sort());
  assert.deepEqual(stoppedStats('local'), { running: false, host: 'local', stages: [], progs: [] });
  assert.ok(StageStatsParams.safeParse(stoppedStats()).success);
});

test('checkTargetRun: argument arrays for the listed programs, bounded input and timeout', () => {
  assert.deepEqual(checkTargetRun({ argv: ['uname', '-r', '-m'] }), { argv: ['uname', '-r', '-m'], timeoutMs: 60_000 });
  assert.deepEqual(checkTargetRun({ argv: ['/usr/sbin/bpftool', 'btf', 'dump'], timeoutMs: 10 ** 9 }), { argv: ['/usr/sbin/bpftool', 'btf', 'dump'], timeoutMs: TARGET_RUN_MAX_TIMEOUT_MS });
  assert.deepEqual(checkTargetRun({ argv: ['clang-18', '-x', 'c', '-'], input: 'int x;', timeoutMs: 5000 }), { argv: ['clang-18', '-x', 'c', '-'], input: 'int x;', timeoutMs: 5000 });
  for (const bad of [
    undefined,
    {},
    { argv: [] },
    { argv: 'uname -r' },
    { argv: ['uname', 3] },
    { argv: ['sh', '-c', 'uname'] },
    { argv: ['rm', '-rf', '/'] },
    { argv: ['cat /etc/shadow'] },
    { argv: ['cat', 'a\0b'] },
    { argv: ['cat', 'x'], input: 42 },
  ]) {
    assert.ok('error' in checkTargetRun(bad), JSON.stringify(bad));
  }
});

test('serverCompileDirs: the server compiles on the target exactly when the session\'s edited probes do', async () => {
  const dirs = ['/home/me/.cache/nslat/abc/src/include', '/home/me/.cache/nslat/abc/src/probes', '/home/me/.cache/nslat/abc/src/build'];
  let asked = 0;
  const site = (kind: 'local' | 'ssh', place: CompilePlace) => ({ kind, compilePlace: async () => place, targetIncludeDirs: async () => (asked++, dirs) });
  const here: CompilePlace = { where: 'local', clang: 'clang', version: 'clang 19' };
  const there: CompilePlace = { where: 'target', clang: 'clang', version: 'clang 16' };
  const none: CompilePlace = { where: 'none', message: 'edited probes need clang, and neither this machine nor box has it' };
  assert.equal(await serverCompileDirs(site('ssh', here)), undefined, 'clang here: both compile here');
  assert.equal(await serverCompileDirs(site('ssh', none)), undefined);
  assert.equal(await serverCompileDirs(site('local', there)), undefined, 'this machine is the target');
  assert.equal(asked, 0, 'nothing is put on the target unless it compiles there');
  const got = await serverCompileDirs(site('ssh', there));
  assert.deepEqual(got, dirs);
  // ... and the notification then tells the server to compile there, with those directories.
  const p = targetParams({ host: 'me@box', kind: 'ssh', hello: { attach_types: { tp_btf: true } }, targetIncludeDirs: got });
  assert.deepEqual(p.compileOnTarget, { includeDirs: dirs });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compileProbe, parseClangOutput } from '../../src/core/build.ts';
import type { RunOptions, RunResult, Transport } from '../../src/core/transport/types.ts';

// Real clang output on this machine for a probe with two errors (fixtures/clang-errors.txt).
test('parses clang errors and maps the target path back to the local file', () => {
  const text = readFileSync(new URL('./fixtures/clang-errors.txt', import.meta.url), 'utf8');
  const d = parseClangOutput(text, (f) => (f === '/tmp/nslat-core/syn.bpf.c' ? '/home/me/rx.bpf.c' : undefined));
  assert.equal(d.length, 2);
  assert.deepEqual(d.map((x) => [x.file, x.line, x.column, x.severity]), [
    ['/home/me/rx.bpf.c', 15, 20, 'error'],
    ['/home/me/rx.bpf.c', 16, 13, 'error'],
  ]);
  assert.equal(d[0]!.message, "expected ';' at end of declaration");
  assert.equal(d[1]!.message, "use of undeclared identifier 'undefined_thing'");
});

test('warnings, notes, fatal errors, include chains and colour codes', () => {
  const text = [
    'In file included from /w/edit/r1/rx.bpf.c:3:',
    '/w/bpf/probes/nslat.bpf.h:50:3: \x1b[0;1;31mfatal error: \x1b[0m\'missing.h\' file not found',
    '/w/edit/r1/rx.bpf.c:9:1: warning: unused variable \'x\' [-Wunused-variable]',
    '/w/edit/r1/rx.bpf.c:8:2: note: previous definition is here',
    'garbage:line: not a diagnostic',
    'make: *** [Makefile:77: probe] Error 1',
  ].join('\n');
  const map = (f: string) => (f.startsWith('/w/bpf/') ? `/repo/bpf/${f.slice(7)}` : f === '/w/edit/r1/rx.bpf.c' ? '/me/rx.bpf.c' : undefined);
  const d = parseClangOutput(text, map);
  assert.deepEqual(d.map((x) => [x.file, x.line, x.column, x.severity]), [
    ['/repo/bpf/probes/nslat.bpf.h', 50, 3, 'error'],
    ['/me/rx.bpf.c', 9, 1, 'warning'],
    ['/me/rx.bpf.c', 8, 2, 'note'],
  ]);
});

test('hostile output never throws', () => {
  for (const t of ['', ':::', 'a:1:2: error:', 'x'.repeat(1_000_000), '\0\0\n\r\n', undefined as unknown as string]) {
    assert.ok(Array.isArray(parseClangOutput(t)));
  }
});

function fakeTransport(result: RunResult, seen: string[][] = []): Transport {
  return {
    host: 'local', kind: 'local',
    run: async (argv: string[], _o?: RunOptions) => { seen.push(argv); return result; },
    putDir: async () => {}, putFile: async () => {}, home: async () => '/root', close: async () => {},
    spawn: async () => { throw new Error('no'); },
    spawnPrivileged: async () => { throw new Error('no'); },
  };
}

test('compileProbe runs make probe as an argument array and turns a failure into diagnostics', async () => {
  const seen: string[][] = [];
  const t = fakeTransport({ exitCode: 2, stdout: '', stderr: '/w/e/rx.bpf.c:15:20: error: expected \';\'\nmake: *** Error 1' }, seen);
  const r = await compileProbe({ transport: t, remoteBpfDir: '/w/bpf', remoteSrc: '/w/e/rx.bpf.c', remoteObj: '/w/e/rx.bpf.o', mapFile: (f) => (f === '/w/e/rx.bpf.c' ? '/me/rx.bpf.c' : undefined) });
  assert.deepEqual(seen[0], ['make', '-s', '-C', '/w/bpf', 'probe', 'SRC=/w/e/rx.bpf.c', 'OUT=/w/e/rx.bpf.o']);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.diagnostics[0]!.line, 15);
    assert.match(r.error, /\/me\/rx.bpf.c does not compile: 15:20: expected ';'/);
  }
  const t2 = fakeTransport({ exitCode: 2, stdout: '', stderr: "nslat: 'clang' not found: install the Debian package 'clang'" });
  const r2 = await compileProbe({ transport: t2, remoteBpfDir: '/w/bpf', remoteSrc: '/w/e/rx.bpf.c', remoteObj: '/w/e/rx.bpf.o' });
  assert.equal(r2.ok, false);
  if (!r2.ok) assert.match(r2.diagnostics[0]!.message, /clang' not found/);
  const r3 = await compileProbe({ transport: fakeTransport({ exitCode: 0, stdout: '', stderr: '' }), remoteBpfDir: '/w/bpf', remoteSrc: '/a.c', remoteObj: '/a.o' });
  assert.deepEqual(r3.ok && r3.object, '/a.o');
});

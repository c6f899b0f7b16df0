import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIdFromNotes, chooseCompiler, compileProbe, EditCompiler, parseClangOutput } from '../../src/core/build.ts';
import { localBpfDir, type Deployment } from '../../src/core/deploy.ts';
import { LocalTransport } from '../../src/core/transport/local.ts';
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

test('compileProbe runs clang as an argument array with bpf/Makefile\'s flags and turns a failure into diagnostics', async () => {
  const seen: string[][] = [];
  const run = (result: RunResult) => async (argv: string[], _o: RunOptions) => { seen.push(argv); return result; };
  const r = await compileProbe({
    run: run({ exitCode: 1, stdout: '', stderr: "/w/e/rx.bpf.c:15:20: error: expected ';'\n1 error generated." }),
    machine: 'aarch64', src: '/w/e/rx.bpf.c', obj: '/w/e/rx.bpf.o', includeDirs: ['/w/src/include', '/w/src/probes', '/w/src/build'],
    mapFile: (f) => (f === '/w/e/rx.bpf.c' ? '/me/rx.bpf.c' : undefined),
  });
  assert.deepEqual(seen[0], ['clang', '-g', '-O2', '-target', 'bpf', '-mcpu=v3', '-D__TARGET_ARCH_arm64', '-Wall', '-Wno-unused-function', '-fno-color-diagnostics',
    '-I/w/src/include', '-I/w/src/probes', '-I/w/src/build', '-I/w/e', '-c', '/w/e/rx.bpf.c', '-o', '/w/e/rx.bpf.o']);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.diagnostics[0]!.line, 15);
    assert.equal(r.diagnostics[0]!.file, '/me/rx.bpf.c');
    assert.match(r.error, /\/me\/rx.bpf.c does not compile: 15:20: expected ';'/);
  }
  const r2 = await compileProbe({ run: run({ exitCode: 127, stdout: '', stderr: 'clang: not found' }), machine: 'x86_64', src: '/a.c', obj: '/a.o', includeDirs: [] });
  assert.equal(r2.ok, false);
  if (!r2.ok) assert.match(r2.diagnostics[0]!.message, /clang: not found/);
  const r3 = await compileProbe({ run: run({ exitCode: 0, stdout: '', stderr: '' }), machine: 'x86_64', src: '/a.c', obj: '/a.o', includeDirs: [] });
  assert.deepEqual(r3.ok && r3.object, '/a.o');
});

test('buildIdFromNotes reads the GNU build id note', () => {
  const note = (name: string, type: number, desc: Buffer) => {
    const n = Buffer.from(`${name}\0`);
    const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
    const h = Buffer.alloc(12);
    h.writeUInt32LE(n.length, 0); h.writeUInt32LE(desc.length, 4); h.writeUInt32LE(type, 8);
    return Buffer.concat([h, pad(n), pad(desc)]);
  };
  const id = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
  assert.equal(buildIdFromNotes(Buffer.concat([note('Xen', 1, Buffer.alloc(4)), note('GNU', 3, id)])), id.toString('hex'));
  assert.equal(buildIdFromNotes(Buffer.alloc(5)), undefined);
  if (existsSync('/sys/kernel/notes')) assert.match(buildIdFromNotes(readFileSync('/sys/kernel/notes')) ?? '', /^[0-9a-f]{40}$/);
});

const haveClang = spawnSync('clang', ['--version']).status === 0 && existsSync('/sys/kernel/btf/vmlinux');

test('an edited probe compiles on this machine against the target\'s BTF; its object lands in the work dir; errors land on the line', { skip: haveClang ? false : 'needs clang and kernel BTF' }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'nslat-edit-'));
  const cache = mkdtempSync(join(tmpdir(), 'nslat-kcache-'));
  try {
    const t = new LocalTransport();
    const bpf = localBpfDir();
    const dep = { dir: work, localBpfDir: bpf } as Deployment;
    const c = new EditCompiler(t, dep, { cacheDir: cache });
    assert.equal((await c.place()).where, 'local');
    const src = join(work, 'rx.bpf.c');
    copyFileSync(join(bpf, 'probes', 'irq.bpf.c'), src);
    const ok = await c.compile(src, 's1/r1');
    assert.ok(ok.ok, ok.ok ? '' : ok.error);
    assert.equal(ok.ok && ok.object, join(work, 'edit', 's1', 'r1', 'rx.bpf.o'));
    assert.equal(readFileSync(join(work, 'edit', 's1', 'r1', 'rx.bpf.o')).subarray(0, 4).toString('latin1'), '\x7fELF');
    // vmlinux.h made from the kernel's BTF, cached by its build id.
    const kernels = readdirSync(join(cache, 'kernels'));
    assert.equal(kernels.length, 1);
    assert.ok(existsSync(join(cache, 'kernels', kernels[0]!, 'include', 'vmlinux.h')));
    const lines = readFileSync(src, 'utf8').split('\n');
    const at = lines.findIndex((l) => /^\s*return 0;/.test(l));
    lines[at] = '\treturn undeclared_thing;';
    writeFileSync(src, lines.join('\n'));
    const bad = await c.compile(src, 's1/r2');
    assert.equal(bad.ok, false);
    if (!bad.ok) {
      const e = bad.diagnostics.find((d) => d.severity === 'error')!;
      assert.deepEqual([e.file, e.line], [src, at + 1]);
      assert.match(e.message, /undeclared_thing/);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
});

/** An SSH-like target whose only program is `has` (when given); records what it was asked to run. */
function remote(has?: string): { t: Transport; runs: string[][] } {
  const runs: string[][] = [];
  const t = {
    kind: 'ssh', host: 'box',
    run: async (argv: string[]) => {
      runs.push(argv);
      return argv[0] === has ? { exitCode: 0, stdout: 'Debian clang version 19.1.7\n', stderr: '' } : { exitCode: 127, stdout: '', stderr: `sh: 1: ${argv[0]}: not found` };
    },
  } as unknown as Transport;
  return { t, runs };
}

test('edited probes compile on this machine first, else on the target; with clang on neither, one message names the package', async () => {
  // This machine has a working "clang" (node answers --version): the target is not even asked.
  const here = remote('clang');
  const local = await chooseCompiler(here.t, process.execPath);
  assert.equal(local.where, 'local');
  assert.deepEqual(here.runs, []);
  // Not here, but on the target.
  const there = remote('/nonexistent/nslat-clang');
  const p = await chooseCompiler(there.t, '/nonexistent/nslat-clang');
  assert.deepEqual(p, { where: 'target', clang: '/nonexistent/nslat-clang', version: 'Debian clang version 19.1.7' });
  // Neither: one sentence that says so once and names the package to install.
  const none = await chooseCompiler(remote().t, '/nonexistent/nslat-clang');
  assert.equal(none.where, 'none');
  const msg = (none as { message: string }).message;
  assert.match(msg, /^edited probes need clang, and neither this machine nor box has it: install clang \(Debian\/Ubuntu: apt-get install clang\) on this machine or on box$/);
  assert.equal(msg.split('apt-get install').length - 1, 1);
  // On this machine alone, only this machine is named.
  const alone = await chooseCompiler(new LocalTransport(), '/nonexistent/nslat-clang');
  assert.match((alone as { message: string }).message, /^edited probes need clang, and this machine does not have it: install clang \(Debian\/Ubuntu: apt-get install clang\) on this machine$/);
});

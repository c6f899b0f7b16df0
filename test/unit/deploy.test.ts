import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deploy, fileHashes, hashShipped, normalizeArch, NSLAT_VERSION, prunable, pruneWorkDirs, type WorkDirEntry } from '../../src/core/deploy.ts';
import { LocalTransport } from '../../src/core/transport/local.ts';
import type { RunOptions, RunResult, Transport } from '../../src/core/transport/types.ts';

/** A bpf/ tree with shipped files for x86_64 and aarch64 (and a source that must never be copied). */
function bpfTree(archs = ['x86_64', 'aarch64']): string {
  const d = mkdtempSync(join(tmpdir(), 'nslat-deploy-'));
  mkdirSync(join(d, 'probes'));
  writeFileSync(join(d, 'probes', 'rx.bpf.c'), 'int x;\n');
  for (const a of archs) {
    const s = join(d, 'build', 'ship', a);
    mkdirSync(s, { recursive: true });
    writeFileSync(join(s, 'nslat-helper'), `#!/bin/sh\necho ${a}\n`);
    chmodSync(join(s, 'nslat-helper'), 0o755);
    for (const o of ['rx', 'tx', 'irq']) writeFileSync(join(s, `${o}.bpf.o`), `${a} ${o} object\0\x7fELF`);
  }
  return d;
}

/** A fake target that records commands and answers uname -m and sha256sum from `files`. */
function target(machine: string, files = new Map<string, string>()) {
  const calls: string[][] = [];
  const put: string[] = [];
  const t: Transport = {
    host: 'box', kind: 'ssh',
    run: async (argv: string[], _o?: RunOptions): Promise<RunResult> => {
      calls.push(argv);
      const ok = { exitCode: 0, stdout: '', stderr: '' };
      if (argv[0] === 'uname') return { ...ok, stdout: `${machine}\n` };
      if (argv[0] === 'sha256sum') {
        const have = argv.slice(2).filter((f) => files.has(f));
        if (have.length < argv.length - 2) return { exitCode: 1, stdout: '', stderr: 'No such file' };
        return { ...ok, stdout: have.map((f) => `${files.get(f)}  ${f}`).join('\n') };
      }
      return ok;
    },
    putDir: async (_l: string, remote: string) => { put.push(remote); },
    putFile: async () => {}, getFile: async () => Buffer.alloc(0),
    home: async () => '/home/u/',
    spawn: async () => { throw new Error('no'); }, spawnPrivileged: async () => { throw new Error('no'); }, close: async () => {},
  };
  return { t, calls, put, files };
}

const BUILD_TOOLS = /^(?:.*\/)?(?:make|clang(?:-\d+)?|cc|gcc|bpftool|pkg-config|llvm-strip)$/;

test('uname -m names map to the shipped directories', () => {
  assert.deepEqual(['aarch64', 'arm64', 'x86_64', 'amd64', 'riscv64'].map(normalizeArch), ['aarch64', 'aarch64', 'x86_64', 'x86_64', 'riscv64']);
});

test('a matching work directory on the target is reused: no copy, no build tool', async () => {
  const d = bpfTree();
  try {
    const ship = join(d, 'build', 'ship', 'aarch64');
    const dir = `/home/u/.cache/nslat/${NSLAT_VERSION}-${hashShipped(ship)}`;
    const files = new Map(Object.entries(fileHashes(ship)).map(([f, h]) => [`${dir}/${f}`, h]));
    const { t, put, calls } = target('arm64', files);
    const dep = await deploy({ transport: t, bpfDir: d });
    assert.equal(dep.reused, true);
    assert.equal(dep.arch, 'aarch64');
    assert.equal(dep.dir, dir);
    assert.equal(dep.helper, `${dir}/nslat-helper`);
    assert.deepEqual(dep.objects, { rx: `${dir}/rx.bpf.o`, tx: `${dir}/tx.bpf.o`, irq: `${dir}/irq.bpf.o` });
    assert.equal(put.length, 0);
    assert.ok(!calls.some((c) => BUILD_TOOLS.test(c[0]!)), JSON.stringify(calls));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a changed file on the target means a fresh copy into a private dir, renamed into place', async () => {
  const d = bpfTree();
  try {
    const ship = join(d, 'build', 'ship', 'x86_64');
    const dir = `/home/u/.cache/nslat/${NSLAT_VERSION}-${hashShipped(ship)}`;
    const sums = fileHashes(ship);
    const files = new Map(Object.entries(sums).map(([f, h]) => [`${dir}/${f}`, f === 'rx.bpf.o' ? '0'.repeat(64) : h]));
    const { t, put, calls } = target('x86_64', files);
    // The copy lands: the fake now has the right files in the part dir.
    t.putDir = async (_l, remote) => { put.push(remote); for (const [f, h] of Object.entries(sums)) files.set(`${remote}/${f}`, h); };
    const phases: string[] = [];
    const dep = await deploy({ transport: t, bpfDir: d, onProgress: (p) => phases.push(p.phase) });
    assert.equal(dep.reused, false);
    assert.deepEqual(phases, ['hash', 'copy', 'done']);
    assert.equal(put.length, 1);
    assert.match(put[0]!, new RegExp(`^${dep.dir}\\.part-\\d+-\\w+$`));
    const mv = calls.find((c) => c[0] === 'mv')!;
    assert.deepEqual([mv[0], mv[1], mv[2], mv[3], mv[4]], ['mv', '-T', '--', put[0], dep.dir]);
    assert.ok(!calls.some((c) => BUILD_TOOLS.test(c[0]!)), JSON.stringify(calls));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a foreign architecture is refused, naming the shipped ones', async () => {
  const d = bpfTree();
  try {
    const { t, put } = target('riscv64');
    await assert.rejects(deploy({ transport: t, bpfDir: d }), /box is riscv64, and nslat ships its helper and probes for aarch64 and x86_64 only/);
    assert.equal(put.length, 0);
    const only = bpfTree(['x86_64']);
    try {
      await assert.rejects(deploy({ transport: target('aarch64').t, bpfDir: only }), /box is aarch64, and nslat ships its helper and probes for x86_64 only/);
    } finally {
      rmSync(only, { recursive: true, force: true });
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('deploy on this machine for real: copies the shipped files only, reuses them, recopies a damaged one', async () => {
  const d = bpfTree();
  const home = mkdtempSync(join(tmpdir(), 'nslat-home-'));
  const oldHome = process.env.HOME;
  process.env.HOME = home;
  try {
    const t = new LocalTransport();
    const machine = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
    const first = await deploy({ transport: t, bpfDir: d, machine });
    assert.equal(first.reused, false);
    assert.deepEqual(readdirSync(first.dir).sort(), ['irq.bpf.o', 'nslat-helper', 'rx.bpf.o', 'tx.bpf.o']);
    assert.ok(statSync(first.helper).mode & 0o100, 'the helper stays executable');
    assert.deepEqual(readdirSync(join(home, '.cache', 'nslat')), [first.dir.split('/').pop()], 'no .part- dir left');
    const again = await deploy({ transport: t, bpfDir: d, machine });
    assert.equal(again.reused, true);
    writeFileSync(first.objects.tx!, 'damaged');
    const fixed = await deploy({ transport: t, bpfDir: d, machine });
    assert.equal(fixed.reused, false);
    assert.equal(readFileSync(fixed.objects.tx!, 'latin1'), readFileSync(join(d, 'build', 'ship', machine, 'tx.bpf.o'), 'latin1'));
  } finally {
    process.env.HOME = oldHome;
    rmSync(d, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
});

test('prunable: keeps the current build, the newest three and recent ones; abandoned .part dirs go after a day', () => {
  const now = 1_800_000_000;
  const day = 24 * 3600;
  const h = (n: number) => n.toString(16).padStart(16, '0');
  const entries: WorkDirEntry[] = [
    { name: `0.1.0-${h(1)}`, mtime: now - 30 * day }, // current, however old
    { name: `0.1.0-${h(2)}`, mtime: now - 20 * day }, // 4th newest and old: goes
    { name: `0.1.0-${h(3)}`, mtime: now - 19 * day },
    { name: `0.1.0-${h(4)}`, mtime: now - 18 * day },
    { name: `0.0.9-${h(5)}`, mtime: now - 40 * day }, // goes
    { name: `0.0.9-${h(6)}`, mtime: now - 41 * day }, // goes
    { name: `0.0.8-${h(7)}`, mtime: now - 1 * day }, // newest: stays (with h4 and h3)
    { name: `0.1.0-${h(8)}.part-123-ab12cd`, mtime: now - 2 * day }, // abandoned: goes
    { name: `0.1.0-${h(9)}.part-124-ab12cd`, mtime: now - 3600 }, // may be copying now: stays
    { name: 'kernels', mtime: now - 400 * day }, // the BTF cache: not a work dir, stays
    { name: 'notes', mtime: now - 400 * day }, // not ours: stays
    { name: '../../etc', mtime: 0 }, // not ours: stays
  ];
  assert.deepEqual(prunable(entries, `0.1.0-${h(1)}`, now).sort(), [`0.0.9-${h(5)}`, `0.0.9-${h(6)}`, `0.1.0-${h(2)}`, `0.1.0-${h(8)}.part-123-ab12cd`].sort());
  assert.deepEqual(prunable(entries.slice(0, 5), `0.1.0-${h(1)}`, now), [`0.0.9-${h(5)}`]);
  assert.deepEqual(prunable([], 'x', now), []);
});

test('pruneWorkDirs removes stale directories on a real file system and nothing else', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nslat-prune-'));
  try {
    const old = new Date(Date.now() - 30 * 24 * 3600 * 1000);
    const names = ['0.1.0-00000000000000a1', '0.1.0-00000000000000a2', '0.1.0-00000000000000a3', '0.1.0-00000000000000a4', '0.1.0-00000000000000a5', 'mine'];
    for (const [i, n] of names.entries()) {
      mkdirSync(join(root, n), { recursive: true });
      const t = new Date(old.getTime() - i * 1000);
      utimesSync(join(root, n), t, t);
    }
    writeFileSync(join(root, 'a-file'), 'x');
    const gone = await pruneWorkDirs(new LocalTransport(), root, `${root}/0.1.0-00000000000000a5`);
    assert.deepEqual(gone, ['0.1.0-00000000000000a4']);
    assert.deepEqual(readdirSync(root).sort(), ['0.1.0-00000000000000a1', '0.1.0-00000000000000a2', '0.1.0-00000000000000a3', '0.1.0-00000000000000a5', 'a-file', 'mine']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  assert.equal(existsSync(root), false);
});

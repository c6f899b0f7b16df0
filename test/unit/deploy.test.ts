import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, readdirSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deploy, hashBpfSources, NSLAT_VERSION, prunable, pruneWorkDirs, type WorkDirEntry } from '../../src/core/deploy.ts';
import { LocalTransport } from '../../src/core/transport/local.ts';
import type { RunOptions, RunResult, Transport } from '../../src/core/transport/types.ts';

/** A fake target: a set of files that exist, with scripted results for make and mv. */
function target(opts: { built?: string; make?: RunResult; mvFails?: boolean; noBpftoolInPath?: boolean }) {
  const calls: string[][] = [];
  const put: Array<[string, string[]]> = [];
  const files = new Map<string, string>();
  if (opts.built) {
    files.set(`/home/u/.cache/nslat/${NSLAT_VERSION}-${opts.built}/.nslat-built`, `${opts.built}\n`);
    files.set(`/home/u/.cache/nslat/${NSLAT_VERSION}-${opts.built}/bpf/build/nslat-helper`, 'x');
  }
  const t: Transport = {
    host: 'box', kind: 'ssh',
    run: async (argv: string[], _o?: RunOptions): Promise<RunResult> => {
      calls.push(argv);
      const ok = { exitCode: 0, stdout: '', stderr: '' };
      const [p, ...a] = argv;
      if (p === 'cat') return files.has(a[0]!) ? { ...ok, stdout: files.get(a[0]!)! } : { exitCode: 1, stdout: '', stderr: 'No such file' };
      if (p === 'test') return files.has(a[1]!) ? ok : { exitCode: 1, stdout: '', stderr: '' };
      if (p === 'bpftool') return opts.noBpftoolInPath ? { exitCode: 127, stdout: '', stderr: 'not found' } : ok;
      if (p === '/usr/sbin/bpftool') return ok;
      if (p === 'make') {
        const r = opts.make ?? ok;
        if (r.exitCode === 0) files.set(`${a[2]}/build/nslat-helper`, 'x');
        return r;
      }
      if (p === 'mv') return opts.mvFails ? { exitCode: 1, stdout: '', stderr: 'Directory not empty' } : ok;
      return ok;
    },
    putDir: async (local: string, remote: string) => { put.push([remote, readdirSync(local, { recursive: true }) as string[]]); },
    putFile: async (p: string, c: string | Buffer) => { files.set(p, String(c)); },
    home: async () => '/home/u/',
    spawn: async () => { throw new Error('no'); }, spawnPrivileged: async () => { throw new Error('no'); }, close: async () => {},
  };
  return { t, calls, put };
}

function bpfTree(): string {
  const d = mkdtempSync(join(tmpdir(), 'nslat-deploy-'));
  mkdirSync(join(d, 'probes'));
  mkdirSync(join(d, 'build'));
  writeFileSync(join(d, 'Makefile'), 'all:\n');
  writeFileSync(join(d, 'probes', 'rx.bpf.c'), 'int x;\n');
  writeFileSync(join(d, 'build', 'vmlinux.h'), 'local build output');
  return d;
}

test('an existing build with a matching stamp is reused without copying', async () => {
  const d = bpfTree();
  try {
    const hash = hashBpfSources(d);
    const { t, put, calls } = target({ built: hash });
    const dep = await deploy({ transport: t, bpfDir: d });
    assert.equal(dep.reused, true);
    assert.equal(dep.dir, `/home/u/.cache/nslat/${NSLAT_VERSION}-${hash}`);
    assert.equal(dep.helper, `${dep.dir}/bpf/build/nslat-helper`);
    assert.equal(put.length, 0);
    assert.ok(!calls.some((c) => c[0] === 'make'));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a fresh deploy copies sources only, builds in a private dir as the user, and renames it into place', async () => {
  const d = bpfTree();
  try {
    const phases: string[] = [];
    const { t, put, calls } = target({ noBpftoolInPath: true });
    const dep = await deploy({ transport: t, bpfDir: d, onProgress: (p) => phases.push(p.phase) });
    assert.equal(dep.reused, false);
    assert.deepEqual(phases, ['hash', 'copy', 'build', 'done']);
    assert.equal(put.length, 1);
    assert.match(put[0]![0], new RegExp(`^${dep.dir}\\.part-\\d+-\\w+/bpf$`));
    assert.deepEqual(put[0]![1].sort(), ['Makefile', 'probes', 'probes/rx.bpf.c']);
    const make = calls.find((c) => c[0] === 'make')!;
    assert.deepEqual(make.slice(0, 3), ['make', '-s', '-C']);
    assert.ok(make.includes('BPFTOOL=/usr/sbin/bpftool'), 'bpftool outside PATH is passed to make');
    const mv = calls.find((c) => c[0] === 'mv')!;
    assert.deepEqual(mv.slice(0, 3), ['mv', '-T', '--']);
    assert.equal(mv[4], dep.dir);
    assert.deepEqual(dep.makeVars, ['BPFTOOL=/usr/sbin/bpftool']);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a failed build says why, and removes its private dir', async () => {
  const d = bpfTree();
  try {
    const { t, calls } = target({ make: { exitCode: 2, stdout: '', stderr: "nslat: 'clang' not found: install the Debian package 'clang'" } });
    await assert.rejects(deploy({ transport: t, bpfDir: d }), /building the probes and helper on box failed[\s\S]*clang' not found/);
    assert.ok(calls.some((c) => c[0] === 'rm' && c[1] === '-rf' && /\.part-/.test(c[3] ?? '')));
    await assert.rejects(deploy({ transport: t, bpfDir: join(d, 'probes') }), /is not nslat's bpf\/ directory/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
  assert.equal(existsSync(d), false);
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
    { name: `0.1.0-${h(9)}.part-124-ab12cd`, mtime: now - 3600 }, // may be building now: stays
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
      mkdirSync(join(root, n, 'bpf'), { recursive: true });
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
});

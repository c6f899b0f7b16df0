/**
 * End to end over SSH through the session layer: Session.start({host: 'nslat-test', sshConfig})
 * copies the shipped helper and probes into the SSH user's home (nothing is built there), starts
 * the helper with sudo -n, streams snapshots; then the local ssh carrying the helper is killed: the
 * session must end at once with a clear reason, and none of the helper's programs may remain.
 * A user whose PATH has no compiler or build tool traces too, and no such tool is ever run for it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_TOOLS, buildToolsIn, isRoot, loadedProgIds, startSshd, waitFor, type SshFixture } from './lib/sshd.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = !isRoot()
  ? 'needs root'
  : !existsSync(path.join(root, 'src/core/session.ts'))
    ? 'src/core/session.ts does not exist yet'
    : !existsSync(path.join(root, `bpf/build/ship/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}/nslat-helper`))
      ? 'nothing shipped for this machine yet (make -C bpf ship)'
      : false;

let fx: SshFixture;
before(async () => {
  if (!skip) fx = await startSshd();
});
after(async () => {
  await fx?.stop();
});

/** Our own child `ssh` processes whose command line carries the helper. */
function helperSshPids(): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (cmd[0] === 'ssh' || cmd[0]?.endsWith('/ssh')) if (cmd.some((a) => a.includes('nslat-helper'))) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

test('Session over SSH: deploy (a copy), helper via sudo, snapshots; ssh killed → clear end, no programs left', { skip, timeout: 240_000 }, async (tc) => {
  const { Session } = await import('../../src/core/session.ts');
  const progress: string[] = [];
  const log: string[] = [];
  const s = await Session.start({
    host: fx.hosts.nopw,
    sshConfig: fx.sshConfig,
    stages: ['rx'],
    intervalMs: 200,
    onProgress: (p) => progress.push(`${p.phase}: ${p.message}`),
    log: (l) => log.push(l),
  });
  let ended: { reason: string; error?: string } | undefined;
  const endedAt = new Promise<number>((r) => s.once('ended', (e) => ((ended = e), r(Date.now()))));
  try {
    assert.ok(progress.some((p) => p.startsWith('copy:')), `a fresh user's home means a fresh copy:\n${progress.join('\n')}`);
    assert.deepEqual(readdirSync(s.deployment.dir).sort(), ['irq.bpf.o', 'nslat-helper', 'rx.bpf.o', 'tx.bpf.o'], 'the work directory holds the shipped files only');
    tc.diagnostic(`start-up: ${progress.map((p) => p.split(':')[0]).join(' → ')} (${s.deployment.dir}, reused: ${s.deployment.reused})`);
    assert.match(s.deployment.dir, new RegExp(`^/home/${fx.users.nopw}/`), 'deployed into the SSH user\'s home');
    const snaps = await new Promise<number>((resolve, reject) => {
      let n = 0;
      const to = setTimeout(() => reject(new Error('fewer than 2 snapshots in 15 s')), 15_000);
      s.on('message', (m) => {
        if (m.type === 'snapshot' && ++n === 2) (clearTimeout(to), resolve(n));
      });
    });
    assert.equal(snaps, 2);
    const ids = [...s.loaded.values()].flatMap((l) => l.programs.flatMap((p) => (p.prog_id ? [p.prog_id] : [])));
    assert.ok(ids.length > 0, 'the helper reported program ids');
    const loaded = await loadedProgIds();
    assert.ok(ids.every((id) => loaded.has(id)));

    const pids = helperSshPids();
    assert.equal(pids.length, 1, 'one local ssh carries the helper');
    const t0 = Date.now();
    process.kill(pids[0]!, 'SIGKILL');
    const t1 = await endedAt;
    tc.diagnostic(`session ended ${t1 - t0} ms after SIGKILL of the helper's ssh: ${ended?.error}`);
    assert.ok(t1 - t0 < 1000, `the session noticed after ${t1 - t0} ms`);
    assert.equal(ended?.reason, 'connection-lost');
    assert.match(ended?.error ?? '', /SIGKILL/);
    const gone = await waitFor(async () => {
      const now = await loadedProgIds();
      return ids.every((id) => !now.has(id));
    }, 15_000, 200);
    assert.ok(gone, `programs ${ids.join(',')} are gone from bpftool prog show`);
    tc.diagnostic(`${ids.length} programs gone ${Date.now() - t0} ms after the kill`);
  } finally {
    await s.stop().catch(() => {});
  }
});

test('Session over SSH as a user whose sudo needs a password: askPass once, snapshots, clean stop, no programs left', { skip, timeout: 240_000 }, async (tc) => {
  const { Session } = await import('../../src/core/session.ts');
  const log: string[] = [];
  const progress: string[] = [];
  const prompts: string[] = [];
  const s = await Session.start({
    host: fx.hosts.pw,
    sshConfig: fx.sshConfig,
    stages: ['rx'],
    intervalMs: 200,
    askPass: async (q) => (prompts.push(q), fx.password),
    onProgress: (p) => progress.push(`${p.phase}: ${p.message}`),
    log: (l) => log.push(l),
  });
  let ids: number[] = [];
  try {
    assert.ok(prompts.length >= 1 && prompts.every((q) => q.includes(fx.users.pw)), prompts.join('; '));
    tc.diagnostic(`sudo password asked ${prompts.length} time(s)`);
    await new Promise<void>((resolve, reject) => {
      const to = setTimeout(() => reject(new Error('no snapshot in 15 s')), 15_000);
      s.on('message', (m) => m.type === 'snapshot' && (clearTimeout(to), resolve()));
    });
    ids = [...s.loaded.values()].flatMap((l) => l.programs.flatMap((p) => (p.prog_id ? [p.prog_id] : [])));
    assert.ok(ids.length > 0);
  } finally {
    const end = await s.stop();
    assert.equal(end.reason, 'stopped', JSON.stringify(end));
    assert.equal(end.error, undefined);
  }
  const gone = await waitFor(async () => {
    const now = await loadedProgIds();
    return ids.every((id) => !now.has(id));
  }, 10_000, 200);
  assert.ok(gone, `programs ${ids.join(',')} are gone after stop()`);
  assert.ok(![...log, ...progress].join('\n').includes(fx.password), 'the password is in no log or progress line');
});

test('a target user with no compiler, make, pkg-config or bpftool on PATH traces; no build tool runs there', { skip, timeout: 240_000 }, async (tc) => {
  const { Session } = await import('../../src/core/session.ts');
  const { runPreflight } = await import('../../src/core/preflight.ts');
  const { createTransport } = await import('../../src/core/transport/index.ts');
  const { readdirSync: ls } = await import('node:fs');
  // The PATH really lacks them.
  const onPath = ls(fx.cleanPath);
  assert.deepEqual(onPath.filter((t) => BUILD_TOOLS.includes(t) || /^(clang|llvm)/.test(t)), []);
  const t = createTransport({ host: fx.hosts.clean, sshConfig: fx.sshConfig });
  const pre = await runPreflight({ transport: t });
  assert.equal(pre.ok, true, JSON.stringify(pre.rows.filter((r) => !r.ok)));
  const progress: string[] = [];
  const s = await Session.start({ transport: t, preflight: pre, stages: ['rx', 'tx', 'irq'], intervalMs: 200, onProgress: (p) => progress.push(`${p.phase}: ${p.message}`) });
  let ids: number[] = [];
  try {
    assert.match(s.deployment.dir, new RegExp(`^/home/${fx.users.clean}/\\.cache/nslat/`));
    await new Promise<void>((resolve, reject) => {
      const to = setTimeout(() => reject(new Error('no snapshot in 15 s')), 15_000);
      s.on('message', (m) => m.type === 'snapshot' && (clearTimeout(to), resolve()));
    });
    ids = [...s.loaded.values()].flatMap((l) => l.programs.flatMap((p) => (p.prog_id ? [p.prog_id] : [])));
    assert.ok(ids.length > 0);
    assert.deepEqual([...s.loaded.keys()].sort(), ['irq', 'rx', 'tx']);
  } finally {
    const end = await s.stop();
    assert.equal(end.reason, 'stopped', JSON.stringify(end));
  }
  const commands = fx.cleanCommands();
  tc.diagnostic(`${commands.length} command lines recorded on the target; programs: ${[...new Set(commands.map((c) => c.split(' ')[0]!.replace(/'/g, '')))].join(', ')}`);
  assert.ok(commands.some((c) => c.includes('nslat-helper')), 'the recorder saw the helper start');
  assert.ok(commands.some((c) => /(?:^|[\s'])sha256sum\b/.test(c)), 'the recorder saw the hash check');
  // The check itself finds a tool however it is quoted, so an empty answer means something.
  const planted = ["'clang' '-O2'", "env 'LC_ALL=C' '/usr/sbin/bpftool' 'version'", `sh -c 'x; e=$( { '\\''make'\\'' '\\''-C'\\''; } 2>&1 )'`, "'sha256sum' '--' 'cc.o'"];
  assert.deepEqual(buildToolsIn(planted), planted.slice(0, 3));
  assert.deepEqual(buildToolsIn(commands), [], 'no compiler or build tool ran on the target');
  const gone = await waitFor(async () => {
    const now = await loadedProgIds();
    return ids.every((id) => !now.has(id));
  }, 10_000, 200);
  assert.ok(gone, 'no programs left after stop()');

  // A warm start (the work directory is there), as a new session would: one command line each to
  // connect (it also tells HOME), preflight, check and reuse the work directory, start the helper,
  // and one at stop to clean up.
  const n0 = fx.cleanCommands().length;
  const w = await Session.start({ host: fx.hosts.clean, sshConfig: fx.sshConfig, stages: ['rx'], intervalMs: 200 });
  assert.equal(w.deployment.reused, true);
  assert.ok(w.startupMessages.some((m) => m.type === 'snapshot'), 'the first snapshot came with the start');
  assert.equal((await w.stop()).reason, 'stopped');
  const warm = fx.cleanCommands().slice(n0);
  tc.diagnostic(`warm start: ${warm.length} command lines on the target`);
  assert.ok(warm.length <= 5, `a warm start ran ${warm.length} command lines:\n${warm.join('\n')}`);
  assert.deepEqual(buildToolsIn(warm), []);
});

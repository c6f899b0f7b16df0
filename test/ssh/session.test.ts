/**
 * End to end over SSH through the session layer: Session.start({host: 'nslat-test', sshConfig})
 * deploys bpf/ into the SSH user's home, builds it there as that (unprivileged) user, starts the
 * helper with sudo -n, streams snapshots; then the local ssh carrying the helper is killed: the
 * session must end at once with a clear reason, and none of the helper's programs may remain.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, loadedProgIds, startSshd, waitFor, type SshFixture } from './lib/sshd.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = !isRoot()
  ? 'needs root'
  : !existsSync(path.join(root, 'src/core/session.ts'))
    ? 'src/core/session.ts does not exist yet'
    : !existsSync(path.join(root, 'bpf/build/nslat-helper'))
      ? 'the helper does not build here yet (no bpf/build/nslat-helper)'
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

test('Session over SSH: deploy, build as the user, helper via sudo, snapshots; ssh killed → clear end, no programs left', { skip, timeout: 240_000 }, async (tc) => {
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
    assert.ok(progress.some((p) => p.startsWith('build:')), `a fresh user's home means a fresh build:\n${progress.join('\n')}`);
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

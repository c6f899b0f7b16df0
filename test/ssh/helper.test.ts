/**
 * The real helper (bpf/build/nslat-helper, when built) started as root over SSH through the
 * askpass path, then the local ssh killed: the helper must lose its stdin, detach and exit, leaving
 * none of its programs loaded. Skipped until the helper and rx.bpf.o are built.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTransport, SshTransport, type TargetProcess } from '../../src/core/transport/index.ts';
import { parseHelperMessage, type HelperMessage } from '../../src/core/protocol.ts';
import { alive, isRoot, loadedProgIds, startSshd, waitFor, type SshFixture } from './lib/sshd.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const helperBin = path.join(root, 'bpf/build/nslat-helper');
const rxObj = path.join(root, 'bpf/build/rx.bpf.o');
const skip = !isRoot()
  ? 'needs root'
  : !existsSync(helperBin) || !existsSync(rxObj)
    ? `the helper is not built (${path.relative(root, helperBin)}, ${path.relative(root, rxObj)}): run make -C bpf`
    : false;

let fx: SshFixture;
let t: SshTransport | undefined;

before(async () => {
  if (skip) return;
  fx = await startSshd();
});
after(async () => {
  await t?.close().catch(() => {});
  await fx?.stop();
});

function messages(p: TargetProcess): { next(pred: (m: HelperMessage) => boolean, ms: number): Promise<HelperMessage> } {
  const seen: HelperMessage[] = [];
  const waiters: Array<{ pred: (m: HelperMessage) => boolean; resolve: (m: HelperMessage) => void }> = [];
  p.onLine((line) => {
    const r = parseHelperMessage(line);
    if (!r.ok) return;
    seen.push(r.value);
    for (const w of [...waiters]) if (w.pred(r.value)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(r.value));
  });
  return {
    next(pred, ms) {
      const found = seen.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching helper message within ${ms} ms`)), ms);
        const w = { pred, resolve: (m: HelperMessage) => (clearTimeout(timer), resolve(m)) };
        waiters.push(w);
        p.onExit((i) => reject(new Error(`the helper exited: ${i.why}`)));
      });
    },
  };
}

test('real helper via sudo with a password over SSH; killing ssh leaves none of its programs', { skip, timeout: 90_000 }, async (tc) => {
  // A private copy, so a rebuild in bpf/build by someone else cannot race this test.
  const work = path.join(fx.dir, 'helper-work');
  await mkdir(path.join(work, 'build'), { recursive: true });
  await chmod(fx.dir, 0o755);
  await copyFile(helperBin, path.join(work, 'build/nslat-helper'));
  await chmod(path.join(work, 'build/nslat-helper'), 0o755);
  await copyFile(rxObj, path.join(work, 'build/rx.bpf.o'));

  t = createTransport({ host: fx.hosts.pw, sshConfig: fx.sshConfig }) as SshTransport;
  let asked = 0;
  const p = await t.spawnPrivileged([path.join(work, 'build/nslat-helper'), '--workdir', work, '--interval-ms', '200'], {
    askPass: async () => (asked++, fx.password),
  });
  assert.equal(asked, 1);
  let stderr = '';
  p.onStderr((s) => (stderr += s));
  const m = messages(p);
  const hello = await m.next((x) => x.type === 'hello', 20_000);
  assert.equal(hello.type, 'hello');
  const helperPid = hello.type === 'hello' ? hello.pid : 0;
  p.write(JSON.stringify({ cmd: 'load', id: 'l1', slot: 'rx', object: path.join(work, 'build/rx.bpf.o') }));
  const loaded = await m.next((x) => (x.type === 'loaded' || x.type === 'error') && 'id' in x && x.id === 'l1', 60_000);
  assert.equal(loaded.type, 'loaded', `load failed: ${JSON.stringify(loaded).slice(0, 500)}\n${stderr}`);
  const ids = loaded.type === 'loaded' ? loaded.programs.flatMap((x) => (x.prog_id ? [x.prog_id] : [])) : [];
  assert.ok(ids.length > 0, 'the helper reported program ids');
  const now = await loadedProgIds();
  assert.ok(ids.every((id) => now.has(id)), 'its programs are loaded');
  await m.next((x) => x.type === 'snapshot', 10_000);

  const t0 = Date.now();
  const exited = new Promise<{ why: string; ms: number }>((r) => p.onExit((i) => r({ why: i.why, ms: Date.now() - t0 })));
  process.kill(p.pid!, 'SIGKILL');
  const { why, ms } = await exited;
  tc.diagnostic(`exit reported ${ms} ms after SIGKILL of the local ssh`);
  assert.ok(ms < 1000, `noticed after ${ms} ms`);
  assert.match(why, /the local ssh process carrying nslat-helper to nslat-test-pw was killed by SIGKILL/);
  assert.ok(await waitFor(() => !alive(helperPid), 10_000), 'the helper exited');
  const left = await waitFor(async () => {
    const after = await loadedProgIds();
    return ids.every((id) => !after.has(id));
  }, 10_000, 200);
  assert.ok(left, `program ids ${ids.join(',')} are gone from bpftool prog show`);
  tc.diagnostic(`${ids.length} programs (ids ${ids.join(',')}) gone ${Date.now() - t0} ms after the kill`);
  assert.ok(!stderr.includes(fx.password));
});

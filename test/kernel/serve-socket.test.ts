/**
 * The fleet set-up of packaging/systemd without a running systemd: the helper as root behind a
 * Unix socket, one helper per connection with the connection as its stdin and stdout (systemd's
 * own systemd-socket-activate --inetd --accept, as nslat-helper.socket does with Accept=yes and
 * StandardInput=socket), and `nslat serve --helper-socket` as an unprivileged user created for the
 * test, whose home is the helper's work directory (as StateDirectory= makes it in the unit).
 * Checked: serve runs as that user and traces through a root helper; SIGKILL of serve closes the
 * connection, the helper exits and no program stays attached. Run under flock /tmp/nslat-bpf.lock.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { execa } from 'execa';
import { HELPER_BIN, kernelSkipReason, leakedProgIds, sleep } from './lib/helper.ts';
import { Serve } from './lib/serve.ts';
import { runFlow } from './lib/traffic.ts';

const activate = await execa('sh', ['-c', 'command -v systemd-socket-activate'], { reject: false });
const skip = (await kernelSkipReason()) ?? (activate.exitCode === 0 ? undefined : 'systemd-socket-activate (package systemd) is missing');
if (skip) console.log(`# serve-socket suite skipped: ${skip}`);

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function uidOfPid(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

describe('nslat serve as an unprivileged user, the helper root behind a socket', { skip, timeout: 240_000 }, () => {
  test('serve needs no privilege, traces, and a SIGKILL of serve leaves no program', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nslat-socket-'));
    chmodSync(root, 0o755);
    cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
    const user = `nslatt${process.pid % 100000}`;
    const home = join(root, 'state');
    await execa('useradd', ['--system', '--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', user]);
    cleanups.push(() => execa('userdel', ['-f', user], { reject: false }));
    const uid = Number((await execa('id', ['-u', user])).stdout.trim());
    const gid = Number((await execa('id', ['-g', user])).stdout.trim());
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, uid, gid);
    const runDir = join(root, 'run');
    mkdirSync(runDir, { mode: 0o755 });
    const sock = join(runDir, 'helper.sock');

    // Root's side: what nslat-helper.socket + nslat-helper@.service do.
    const act = execa('systemd-socket-activate', ['--inetd', '--accept', '--listen', sock, HELPER_BIN, '--workdir', home], { reject: false, stdout: 'ignore', stderr: 'pipe', buffer: true });
    cleanups.push(async () => {
      act.kill('SIGTERM');
      await act;
    });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(100);
    assert.ok(existsSync(sock), 'systemd-socket-activate listens');
    chownSync(sock, 0, gid);
    chmodSync(sock, 0o660);

    const serve = await Serve.start(['--helper-socket', sock, '--stages', 'rx,irq', '--interval', '500'], { uid, gid, env: { HOME: home, NSLAT_DEBUG: '' } });
    cleanups.push(() => serve.stop('SIGKILL'));
    const h = await serve.waitHealth((x) => x.up && x.helper_pid !== undefined, 'up through the socket', 120_000);
    assert.equal(uidOfPid(serve.pid), uid, 'nslat serve runs as the unprivileged user');
    assert.equal(uidOfPid(h.helper_pid!), 0, 'the helper runs as root');
    assert.ok(h.prog_ids.length > 0);
    await runFlow({ proto: 'tcp', family: 4, count: 600, size: 200, intervalMs: 2, durationS: 3, timeoutS: 15 });
    await sleep(1200);
    const m = await serve.metrics();
    const seen = m.find((s) => s.name === 'nslat_activity_total' && s.labels.counter === 'seen')?.value ?? 0;
    assert.ok(seen > 0, `packets seen through the socket helper: ${serve.stderr.slice(-1000)}`);
    assert.equal(m.find((s) => s.name === 'nslat_up')?.value, 1);

    await serve.stop('SIGKILL');
    assert.deepEqual(await leakedProgIds(h.prog_ids, 10_000), [], 'the helper unloaded everything when the connection closed');
    for (let i = 0; i < 50 && uidOfPid(h.helper_pid!) !== undefined; i++) await sleep(100);
    assert.equal(uidOfPid(h.helper_pid!), undefined, 'the helper exited');
  });
});

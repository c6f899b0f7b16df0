/**
 * `nslat serve --host` over a real sshd on 127.0.0.1 whose SSH connection is cut under it: every
 * ssh process nslat serve started is killed, the helper on the far side reads end of file on its
 * stdin and unloads everything, nslat serve reports nslat_up 0, reconnects, and no counter goes
 * down. Run under flock /tmp/nslat-bpf.lock (it loads BPF through the helper).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { kernelSkipReason, leakedProgIds, sleep } from '../kernel/lib/helper.ts';
import { Serve, sampleKey, type MetricSample } from '../kernel/lib/serve.ts';
import { runFlow } from '../kernel/lib/traffic.ts';
import { isRoot, startSshd, type SshFixture } from './lib/sshd.ts';

const skip = isRoot() ? await kernelSkipReason() : 'the SSH tests need root';
let fx: SshFixture | undefined;
before(async () => {
  if (!skip) fx = await startSshd();
});
after(async () => {
  await fx?.stop();
});

/** The ssh processes `pid` started (its children named ssh). */
function sshChildren(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
      if (m && m[1] === 'ssh' && Number(m[2]) === pid) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

function value(samples: MetricSample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('nslat serve over SSH', { skip, timeout: 300_000 }, () => {
  test('a dropped SSH connection: nslat_up 0, reconnect, counters monotonic, nothing left attached', async () => {
    const serve = await Serve.start(['--host', fx!.hosts.nopw, '--ssh-config', fx!.sshConfig, '--stages', 'rx', '--interval', '500']);
    try {
      const first = await serve.waitHealth((h) => h.up, 'up over SSH', 180_000);
      assert.equal((await serve.metrics()).find((s) => s.name === 'nslat_up')?.labels.host, fx!.hosts.nopw, 'the host label is the destination');
      await runFlow({ proto: 'tcp', family: 4, count: 600, size: 200, intervalMs: 2, durationS: 3, timeoutS: 15 });
      await sleep(1200);
      const m1 = await serve.metrics();
      assert.ok((value(m1, 'nslat_activity_total', { counter: 'seen' }) ?? 0) > 0);

      const ssh = sshChildren(serve.pid);
      assert.ok(ssh.length > 0, 'nslat serve runs ssh');
      for (const pid of ssh) process.kill(pid, 'SIGKILL');
      const down = await serve.waitHealth((h) => !h.up, 'down after the SSH connection dropped', 30_000);
      assert.equal(Object.values(down.helper_losses).reduce((a, b) => a + b, 0), 1, JSON.stringify(down.helper_losses));
      assert.deepEqual(await leakedProgIds(first.prog_ids, 10_000), [], 'the far side\'s helper unloaded everything when its stdin closed');

      const back = await serve.waitHealth((h) => h.up && h.helper_starts === 2, 'reconnected over SSH', 180_000);
      await runFlow({ proto: 'tcp', family: 4, count: 600, size: 200, intervalMs: 2, durationS: 3, timeoutS: 15 });
      await sleep(1200);
      const m2 = await serve.metrics();
      assert.equal(value(m2, 'nslat_up'), 1);
      const now = new Map(m2.map((s) => [sampleKey(s), s.value]));
      for (const s of m1) if (/(_total|_bucket|_count|_sum)$/.test(s.name)) assert.ok((now.get(sampleKey(s)) ?? -1) >= s.value, `${sampleKey(s)} did not go down`);
      assert.ok((value(m2, 'nslat_activity_total', { counter: 'seen' }) ?? 0) > (value(m1, 'nslat_activity_total', { counter: 'seen' }) ?? 0));

      assert.equal(await serve.stop('SIGTERM'), 0, serve.stderr.slice(-1000));
      assert.deepEqual(await leakedProgIds(back.prog_ids), [], 'SIGTERM leaves nothing attached');
    } finally {
      await serve.stop('SIGKILL');
    }
  });
});

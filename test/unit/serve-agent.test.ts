/**
 * The serve agent's own logic with stand-in sessions (the real helper and Prometheus are in
 * test/kernel/serve.test.ts): running totals across sessions, nslat_up while a session is lost,
 * the backoff, start failures, reload counts, stopping while waiting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServeAgent } from '../../src/core/serve.ts';
import type { Session, SessionOptions } from '../../src/core/session.ts';
import { FakeSession } from '../fixtures/fake-session.ts';
import { parseSamples } from '../kernel/lib/serve.ts';

async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`not reached: ${what}`);
}

test('totals continue across sessions, nslat_up follows them, failures back off and count', async () => {
  const sessions: FakeSession[] = [];
  const starts: number[] = [];
  let failNext = 0;
  const agent = new ServeAgent({
    session: {},
    hostLabel: 'h',
    version: '0',
    backoff: { firstMs: 20, maxMs: 80, resetAfterMs: 10_000 },
    startSession: async (_o: SessionOptions) => {
      starts.push(Date.now());
      if (failNext > 0) {
        failNext--;
        throw new Error('ssh: connect to host h port 22: Connection refused');
      }
      const s = new FakeSession();
      sessions.push(s);
      return s as unknown as Session;
    },
  });
  const value = (name: string, labels: Record<string, string> = {}) => parseSamples(agent.metrics()).find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
  agent.start();
  await until(() => agent.status === 'up', 'up');
  sessions[0]!.snapshot(0, 10);
  sessions[0]!.snapshot(1, 5);
  assert.equal(value('nslat_up'), 1);
  assert.equal(value('nslat_stage_latency_seconds_count', { stage: 'a→b' }), 15);
  assert.equal(value('nslat_measure_every'), 2);
  assert.equal(value('nslat_irq_measure_every'), 2);
  assert.equal(agent.health().helper_pid, 4242);
  assert.deepEqual(agent.health().prog_ids, [7]);

  const r = await agent.reloadAll();
  assert.equal(r[0]!.ok, false);
  assert.equal(value('nslat_reloads_total', { slot: 'rx', result: 'failed' }), 1);

  failNext = 2;
  sessions[0]!.die('connection-lost');
  await until(() => agent.status === 'down', 'down');
  assert.equal(value('nslat_up'), 0);
  assert.equal(value('nslat_measure_every'), undefined, 'no sampling rate while down');
  assert.equal(value('nslat_stage_latency_seconds_count', { stage: 'a→b' }), 15, 'totals kept while down');
  await until(() => sessions.length === 2 && agent.status === 'up', 'reconnected after two failed starts');
  sessions[1]!.snapshot(0, 7); // a new helper counts from its own start: seq 0 again
  assert.equal(value('nslat_stage_latency_seconds_count', { stage: 'a→b' }), 22, 'the same series goes on');
  assert.equal(value('nslat_activity_total', { counter: 'seen' }), 22);
  assert.equal(value('nslat_helper_starts_total'), 2);
  assert.equal(value('nslat_helper_losses_total', { reason: 'connection-lost' }), 1);
  assert.equal(value('nslat_helper_losses_total', { reason: 'start-failed' }), 2);
  assert.equal(value('nslat_lost_total', { loss: 'lost_snapshots' }), 0, 'a new helper\'s sequence is not a gap');
  // 20 ms, then 40, then 80 between the four starts
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
  assert.ok(gaps[0]! >= 18 && gaps[1]! >= 38 && gaps[2]! >= 78, `backoff doubles: ${gaps.join(', ')} ms`);

  await agent.stop();
  assert.equal(sessions[1]!.stops, 1, 'stop() stops the running session');
  assert.equal(agent.status, 'stopped');
});

test('stop() while waiting to reconnect ends at once and starts nothing more', async () => {
  let n = 0;
  const agent = new ServeAgent({
    session: {},
    hostLabel: 'h',
    version: '0',
    backoff: { firstMs: 60_000, maxMs: 60_000, resetAfterMs: 60_000 },
    startSession: async () => {
      n++;
      throw new Error('no route to host');
    },
  });
  agent.start();
  await until(() => agent.status === 'down', 'down');
  const t0 = Date.now();
  await agent.stop();
  assert.ok(Date.now() - t0 < 1_000, 'no wait for the backoff');
  assert.equal(n, 1);
  assert.match(agent.health().last_error ?? '', /no route to host/);
});

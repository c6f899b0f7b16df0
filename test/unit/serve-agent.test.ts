/**
 * The serve agent's own logic with stand-in sessions (the real helper and Prometheus are in
 * test/kernel/serve.test.ts): running totals across sessions, nslat_up while a session is lost,
 * the backoff, start failures, reload counts, stopping while waiting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ServeAgent } from '../../src/core/serve.ts';
import type { EndInfo, ReloadResult, Session, SessionOptions } from '../../src/core/session.ts';
import type { HelperMessage } from '../../src/core/protocol.ts';
import { MeasureRate } from '../../src/core/sampling.ts';
import { parseSamples } from '../kernel/lib/serve.ts';

class FakeSession extends EventEmitter {
  ended: EndInfo | undefined;
  readonly loaded = new Map([['rx', { programs: [{ name: 'p', section: 's', status: 'attached', prog_id: 7 }] }]]);
  readonly stages = ['rx'];
  readonly host = 'fake';
  readonly sampling = new MeasureRate({ kind: 'fixed', every: 2 });
  readonly hello = { pid: 4242, kernel: '6.18', helper_version: 'x' };
  private subscribers: Array<(m: HelperMessage) => void> = [];
  stops = 0;
  subscribe(l: (m: HelperMessage) => void): () => void {
    this.subscribers.push(l);
    return () => undefined;
  }
  send(m: HelperMessage): void {
    for (const l of this.subscribers) l(m);
  }
  snapshot(seq: number, count: number): void {
    this.send({ type: 'snapshot', seq, mono_ns: seq * 1e9, interval_ns: 1e9, slots: [{ slot: 'rx', hists: [{ kind: 'stage', dir: 'rx', name: 'a→b', buckets: [[80, count]], count, sum: count * 5000 }], counters: { seen: count, started: count }, drops: {}, progs: [] }] });
  }
  die(reason: EndInfo['reason']): void {
    this.ended = { reason, error: `lost (${reason})` };
    this.emit('ended', this.ended);
  }
  async stop(): Promise<EndInfo> {
    this.stops++;
    if (!this.ended) this.die('stopped');
    return this.ended!;
  }
  async reload(slot: string): Promise<ReloadResult> {
    const r = { ok: false, slot, diagnostics: [], error: 'clang: not found' } as ReloadResult;
    this.emit('reload', r);
    return r;
  }
}

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

/**
 * The serve agent's own logic with stand-in sessions (the real helper and Prometheus are in
 * test/kernel/serve.test.ts): running totals across sessions (the host's counters too), nslat_up
 * and the sockets' queues while a session is lost, the backoff, start failures, reload counts,
 * stopping while waiting, the host tables' bounds over a long run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServeAgent } from '../../src/core/serve.ts';
import type { Session, SessionOptions } from '../../src/core/session.ts';
import { FakeSession } from '../fixtures/fake-session.ts';
import { hostSample } from '../fixtures/host-sample.ts';
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
  sessions[0]!.snapshot(0, 10, hostSample());
  sessions[0]!.snapshot(1, 5, hostSample());
  assert.equal(value('nslat_up'), 1);
  assert.equal(value('nslat_host_qdisc_drops_total', { iface: 'veth0', qdisc: 'tbf' }), 6);
  assert.equal(value('nslat_host_socket_recv_queue_bytes', { local: '127.0.0.1:5300' }), 212_992, 'the last sample\'s socket queue');
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
  assert.equal(value('nslat_host_qdisc_drops_total', { iface: 'veth0', qdisc: 'tbf' }), 6, 'host totals kept while down');
  assert.equal(value('nslat_host_socket_recv_queue_bytes', { local: '127.0.0.1:5300' }), undefined, 'no socket queue while no helper runs');
  await until(() => sessions.length === 2 && agent.status === 'up', 'reconnected after two failed starts');
  sessions[1]!.snapshot(0, 7, hostSample()); // a new helper counts from its own start: seq 0 again
  assert.equal(value('nslat_stage_latency_seconds_count', { stage: 'a→b' }), 22, 'the same series goes on');
  assert.equal(value('nslat_host_qdisc_drops_total', { iface: 'veth0', qdisc: 'tbf' }), 9, 'so do the host\'s counters');
  assert.equal(value('nslat_host_samples_total'), 3);
  assert.equal(value('nslat_host_socket_recv_queue_bytes', { local: '127.0.0.1:5300' }), 212_992, 'the new helper\'s socket queue');
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

test('the host tables stay bounded over a long run: interfaces and IRQ lines not named for a while are forgotten, full tables count what they refuse', async () => {
  const fake = new FakeSession();
  const agent = new ServeAgent({ session: {}, hostLabel: 'h', version: '0', hostLimits: { staleSamples: 50, ifaces: 16 }, startSession: async () => fake as unknown as Session });
  agent.start();
  await until(() => agent.status === 'up', 'up');
  // containers come and go: a new veth every sample, an IRQ line of its own every tenth, and
  // 20 interfaces at once every hundredth (more than the table holds)
  for (let i = 0; i < 3000; i++) {
    const burst = i % 100 === 99 ? Array.from({ length: 20 }, (_, k) => ({ name: `burst${k}`, ifindex: 90_000 + k, netns: 0, stats: { rx_packets: 1 } })) : [];
    fake.snapshot(i, 1, hostSample({ ifaces: [...hostSample().ifaces, { name: `veth${i}`, ifindex: 100 + i, netns: 0, stats: { rx_packets: 1 } }, ...burst], irqs: [{ irq: 1000 + Math.floor(i / 10), name: 'x', counts: [1] }] }));
  }
  const held = agent.health().held;
  assert.ok(held.ifaces <= 16 && held.intervals <= 8, `held: ${JSON.stringify(held)}`);
  const samples = parseSamples(agent.metrics());
  const ifaces = new Set(samples.filter((x) => x.name === 'nslat_host_iface_stat_total').map((x) => x.labels.iface));
  assert.ok(ifaces.has('lo') && ifaces.has('veth0') && ifaces.has('veth2999'), 'the interfaces still named are there');
  assert.ok(!ifaces.has('veth2998'), 'the table holds 16: each new one made room by evicting the one named longest ago');
  assert.ok((samples.find((x) => x.name === 'nslat_series_overflow_total')?.value ?? 0) > 2900, 'and each eviction is counted');
  assert.deepEqual([...new Set(samples.filter((x) => x.name === 'nslat_host_irqs_total').map((x) => x.labels.irq))].sort(), ['1294', '1295', '1296', '1297', '1298', '1299'], 'IRQ lines (far below their cap) are forgotten once 50 samples passed without them (1294 was last named 50 samples ago)');
  assert.equal(samples.find((x) => x.name === 'nslat_host_iface_stat_total' && x.labels.iface === 'lo' && x.labels.stat === 'rx_packets')?.value, 30_000, 'a counter named all along counts all along');
  await agent.stop();
});

/**
 * The dashboard's host-counter panels against a real Prometheus: nslat serve's HTTP server and
 * agent (src/cli/serve.ts, src/core/serve.ts) fed by a stand-in session that replays the stream
 * recorded from the real helper (test/fixtures/stream.ts) with host counters in every snapshot
 * (test/fixtures/host-sample.ts); Prometheus (Debian's package, on 127.0.0.1, its own data
 * directory, killed by PID) scrapes it every second, and every query of dashboards/nslat.json, the
 * host-counter ones included, must return series. No root, no BPF. (test/kernel/serve.test.ts
 * runs the same check against the real helper.)
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { metricsServer } from '../../src/cli/serve.ts';
import { ServeAgent } from '../../src/core/serve.ts';
import type { Session } from '../../src/core/session.ts';
import { FakeSession } from '../fixtures/fake-session.ts';
import { hostSample } from '../fixtures/host-sample.ts';
import { makeStream } from '../fixtures/stream.ts';
import { checkDashboard } from '../kernel/lib/dashboard.ts';
import { Prometheus, prometheusSkipReason } from '../kernel/lib/prometheus.ts';
import { sleep } from '../kernel/lib/helper.ts';

const skip = await prometheusSkipReason();
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

test('every dashboard query, host counters included, returns series from a Prometheus scraping nslat serve', { skip, timeout: 120_000 }, async () => {
  const fake = new FakeSession();
  const agent = new ServeAgent({ session: {}, hostLabel: 'fleet-1', version: '0', startSession: async () => fake as unknown as Session });
  agent.start();
  cleanups.push(() => agent.stop());
  const server = metricsServer(agent);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const port = (server.address() as AddressInfo).port;

  const stream = makeStream({ snapshots: 40 });
  for (const m of stream) if (m.type === 'hello' || m.type === 'loaded') fake.send(m);
  const snaps = stream.filter((m) => m.type === 'snapshot');
  let i = 0;
  const feed = setInterval(() => {
    const s = snaps[i % snaps.length]!;
    // The recording predates the `seen` counter (packets counted at the entry boundary, measured
    // or not): with every packet measured, as there, it equals `started`.
    if (s.type === 'snapshot') fake.send({ ...s, seq: i, host: hostSample(), slots: s.slots.map((x) => ({ ...x, counters: { seen: x.counters.started ?? 0, ...x.counters } })) });
    i++;
  }, 250);
  cleanups.push(async () => clearInterval(feed));

  const prom = await Prometheus.start(`127.0.0.1:${port}`, { scrapeS: 1, maxS: 90 });
  cleanups.push(() => prom.stop());
  await sleep(14_000);
  const t = Math.floor(Date.now() / 1000);
  const targets = await prom.targets();
  assert.equal(targets[0]?.health, 'up', JSON.stringify(targets));
  const { asked, skipped } = await checkDashboard(prom, { host: 'fleet-1', time: t, hostCounters: true, sockets: true });
  assert.deepEqual(skipped, []);
  console.log(`# ${asked} dashboard queries returned series`);
});

/**
 * `nslat serve` on the real kernel, scraped by a real Prometheus:
 *  - PromQL's histogram_quantile(0.5) over a stage equals nslat's own p50 of the same window within
 *    one bucket. The window is the difference between two scrapes, ten seconds apart (the
 *    expression `x - x offset 10s` at one evaluation time: no extrapolation); nslat_snapshots_total
 *    at those two scrapes says exactly which helper snapshots fall between them, and nslat's own
 *    p50 is hist.ts's quantile over those snapshots, read back from the JSON Lines trace serve
 *    recorded as it went;
 *  - every query of dashboards/nslat.json, its variables substituted, parses and returns series;
 *  - counters never go down across a probe reload (a file change in --probes DIR, and SIGHUP) and a
 *    helper killed under it (serve reconnects, nslat_up goes 0 then 1);
 *  - no BPF program outlives SIGTERM, nor a SIGKILL of serve (the helper sees its stdin close).
 * Bounded loopback traffic only. Run under flock /tmp/nslat-bpf.lock.
 */
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readTrace } from '../../src/core/export/jsonl.ts';
import { bucketEnd, bucketLower, bucketOf, emptyBuckets, addSparse, quantile } from '../../src/core/hist.ts';
import type { SnapshotMessage } from '../../src/core/protocol.ts';
import { BPF_DIR, kernelSkipReason, leakedProgIds, sleep } from './lib/helper.ts';
import { checkDashboard } from './lib/dashboard.ts';
import { Prometheus, prometheusSkipReason } from './lib/prometheus.ts';
import { Serve, sampleKey, type MetricSample } from './lib/serve.ts';
import { runFlow } from './lib/traffic.ts';

const skip = (await kernelSkipReason()) ?? (await prometheusSkipReason());
if (skip) console.log(`# serve suite skipped: ${skip}`);

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Loopback TCP for `s` seconds, bounded in count. */
function traffic(s: number): Promise<unknown> {
  return runFlow({ proto: 'tcp', family: 4, count: 400 * s, size: 200, intervalMs: 2, durationS: s, timeoutS: s + 15 });
}

/** Every counter-like sample (counters, histogram buckets, counts and sums) of `before` is in
 *  `later` and not smaller. */
function assertMonotonic(before: MetricSample[], later: MetricSample[], what: string): void {
  const now = new Map(later.map((s) => [sampleKey(s), s.value]));
  const grew = /(_total|_bucket|_count|_sum)$/;
  let checked = 0;
  for (const s of before) {
    if (!grew.test(s.name) || s.name.startsWith('nslat_host_socket')) continue;
    const v = now.get(sampleKey(s));
    assert.ok(v !== undefined, `${what}: ${sampleKey(s)} disappeared`);
    assert.ok(v >= s.value, `${what}: ${sampleKey(s)} went from ${s.value} down to ${v}`);
    checked++;
  }
  assert.ok(checked > 50, `${what}: ${checked} counters compared`);
}

function value(samples: MetricSample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('nslat serve scraped by Prometheus', { skip, timeout: 300_000 }, () => {
  test('histogram_quantile(0.5) over a stage matches nslat\'s own p50 of the same window within one bucket; every dashboard query returns series', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nslat-serve-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const trace = join(dir, 'serve.jsonl');
    const serve = await Serve.start(['--host-label', 'serve-test', '--interval', '1000', '--out', trace]);
    cleanups.push(() => serve.stop('SIGKILL'));
    await serve.waitHealth((h) => h.up, 'up');
    const prom = await Prometheus.start(`127.0.0.1:${serve.port}`, { scrapeS: 1, maxS: 240 });
    cleanups.push(() => prom.stop());

    await traffic(25);
    // The evaluation time: a moment after the traffic, so both ends of the window hold traffic.
    const t = Math.floor(Date.now() / 1000) - 2;
    const targets = await prom.targets();
    assert.equal(targets[0]?.health, 'up', `Prometheus scrapes nslat serve: ${JSON.stringify(targets)}`);

    // The stage with the most measured packets in the window.
    const sel = (extra: string) => `{host="serve-test",dir="rx",kind="stage"${extra}}`;
    const counts = await prom.query(`nslat_stage_latency_seconds_count${sel('')} - nslat_stage_latency_seconds_count${sel('')} offset 10s`, t);
    counts.sort((a, b) => Number(b.value![1]) - Number(a.value![1]));
    const stage = counts[0]?.metric.stage;
    assert.ok(stage && Number(counts[0]!.value![1]) > 100, `an RX stage measured packets in the window: ${JSON.stringify(counts.slice(0, 3))}`);
    const s = sel(`,stage="${stage}"`);
    const promP50 = Number((await prom.query(`histogram_quantile(0.5, sum by (le) (nslat_stage_latency_seconds_bucket${s} - nslat_stage_latency_seconds_bucket${s} offset 10s))`, t))[0]!.value![1]) * 1e9;
    const promRateP50 = Number((await prom.query(`histogram_quantile(0.5, sum by (le) (increase(nslat_stage_latency_seconds_bucket${s}[10s])))`, t))[0]!.value![1]) * 1e9;
    const n2 = Number((await prom.query('nslat_snapshots_total{host="serve-test"}', t))[0]!.value![1]);
    const n1 = Number((await prom.query('nslat_snapshots_total{host="serve-test"} offset 10s', t))[0]!.value![1]);
    const promCount = Number((await prom.query(`nslat_stage_latency_seconds_count${s} - nslat_stage_latency_seconds_count${s} offset 10s`, t))[0]!.value![1]);

    // nslat's own: the snapshots n1+1 … n2 of the trace serve recorded.
    const snaps: SnapshotMessage[] = [];
    await readTrace(trace, { onRecord: (r) => { if (r.msg.type === 'snapshot') snaps.push(r.msg); } });
    assert.ok(snaps.length >= n2, `the trace holds the ${n2} snapshots Prometheus saw counted (${snaps.length})`);
    const window = emptyBuckets();
    let count = 0;
    for (const snap of snaps.slice(n1, n2)) {
      for (const slot of snap.slots) {
        for (const h of slot.hists) {
          if (h.dir !== 'rx' || h.kind !== 'stage' || h.name !== stage || h.cpu !== undefined) continue;
          addSparse(window, h.buckets);
          count += h.count;
        }
      }
    }
    assert.equal(promCount, count, `the window's measured packets: Prometheus ${promCount}, nslat ${count}`);
    const ownP50 = quantile(window, 0.5);
    const b = bucketOf(ownP50);
    const width = bucketEnd(b) - bucketLower(b);
    console.log(`# stage ${stage}, snapshots ${n1 + 1}..${n2} (${n2 - n1}), ${count} packets: PromQL p50 ${promP50.toFixed(0)} ns, increase()-based ${promRateP50.toFixed(0)} ns, nslat p50 ${ownP50.toFixed(0)} ns, bucket [${bucketLower(b)}, ${bucketEnd(b)}) ns`);
    assert.ok(Math.abs(promP50 - ownP50) <= width, `PromQL p50 ${promP50} ns within one bucket (${width} ns) of nslat's ${ownP50} ns`);

    // The dashboard: every panel query and variable query, with the variables substituted. The
    // host-counter panels need a helper that sends host counters (test/integration/serve-dashboard
    // checks them against recorded ones).
    const hostCounters = (value(await serve.metrics(), 'nslat_host_samples_total') ?? 0) > 0;
    const { asked, skipped } = await checkDashboard(prom, { host: 'serve-test', time: t, hostCounters });
    console.log(`# dashboard: ${asked} queries returned series${skipped.length ? `; host-counter panels not checked (this helper sends no host counters): ${[...new Set(skipped)].join(', ')}` : ''}`);

    const ids = (await serve.health()).body.prog_ids;
    assert.ok(ids.length > 0);
    assert.equal(await serve.stop('SIGTERM'), 0, `serve exits 0 on SIGTERM: ${serve.stderr.slice(-1000)}`);
    assert.deepEqual(await leakedProgIds(ids), [], 'no program outlives serve after SIGTERM');
  });
});

describe('nslat serve survives', { skip, timeout: 400_000 }, () => {
  test('a probe reload (file change and SIGHUP) and a killed helper without a counter going down; SIGKILL of serve leaves no program', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nslat-serve-probes-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    copyFileSync(join(BPF_DIR, 'probes', 'rx.bpf.c'), join(dir, 'rx.bpf.c'));
    const serve = await Serve.start(['--stages', 'rx', '--probes', dir, '--interval', '500']);
    cleanups.push(() => serve.stop('SIGKILL'));
    const first = await serve.waitHealth((h) => h.up, 'up', 180_000);
    await traffic(3);
    await sleep(1200);
    const m0 = await serve.metrics();
    const seen0 = value(m0, 'nslat_activity_total', { counter: 'seen' }) ?? 0;
    assert.ok(seen0 > 0, 'packets seen before the reload');

    // An edit of the probe file: serve reloads rx from it (make-before-break in the helper).
    appendFileSync(join(dir, 'rx.bpf.c'), '\n/* edited while serving */\n');
    const reloaded = async (n: number) => {
      const deadline = Date.now() + 180_000;
      for (;;) {
        const m = await serve.metrics();
        if ((value(m, 'nslat_reloads_total', { slot: 'rx', result: 'ok' }) ?? 0) >= n) return m;
        assert.equal(value(m, 'nslat_reloads_total', { slot: 'rx', result: 'failed' }), undefined, `reload failed: ${serve.stderr.slice(-1500)}`);
        assert.ok(Date.now() < deadline, `reload ${n} not seen: ${serve.stderr.slice(-1500)}`);
        await sleep(500);
      }
    };
    await reloaded(1);
    await traffic(3);
    await sleep(1200);
    const m1 = await serve.metrics();
    assertMonotonic(m0, m1, 'across the file-change reload');
    assert.ok((value(m1, 'nslat_activity_total', { counter: 'seen' }) ?? 0) > seen0, 'counting goes on after the reload');

    serve.proc.kill('SIGHUP');
    await reloaded(2);
    const m2 = await serve.metrics();
    assertMonotonic(m1, m2, 'across the SIGHUP reload');

    // The helper dies under serve: serve notices, reports nslat_up 0, and starts a new one.
    const h = await serve.waitHealth((x) => x.up && x.helper_pid !== undefined, 'a running helper');
    const oldIds = h.prog_ids;
    process.kill(h.helper_pid!, 'SIGKILL');
    const down = await serve.waitHealth((x) => !x.up, 'down after the helper was killed', 30_000);
    assert.ok((down.helper_losses['helper-exited'] ?? 0) >= 1, JSON.stringify(down));
    const mDown = await serve.metrics();
    assert.equal(value(mDown, 'nslat_up'), 0, 'nslat_up is 0 while reconnecting');
    assert.deepEqual(await leakedProgIds(oldIds), [], 'the killed helper left no program');
    const back = await serve.waitHealth((x) => x.up && x.helper_starts === first.helper_starts + 1, 'reconnected', 180_000);
    await traffic(3);
    await sleep(1200);
    const m3 = await serve.metrics();
    assert.equal(value(m3, 'nslat_up'), 1);
    assertMonotonic(m2, m3, 'across the helper restart');
    assert.ok((value(m3, 'nslat_activity_total', { counter: 'seen' }) ?? 0) > (value(m2, 'nslat_activity_total', { counter: 'seen' }) ?? 0), 'counting goes on after reconnecting');

    // SIGKILL: serve cannot clean up; the helper sees its stdin close and detaches everything.
    const ids = back.prog_ids.length ? back.prog_ids : (await serve.health()).body.prog_ids;
    assert.ok(ids.length > 0);
    await serve.stop('SIGKILL');
    assert.deepEqual(await leakedProgIds(ids, 10_000), [], 'no program outlives a SIGKILLed serve');
  });
});

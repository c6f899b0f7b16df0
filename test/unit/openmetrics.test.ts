/**
 * The OpenMetrics writer beyond the `.prom` file (export.test.ts): coarser buckets and what they
 * cost in accuracy (PromQL's own histogram_quantile, reimplemented, against hist.ts on the same
 * data), bounds that stay put as data grows, the host counters as running totals with bounded
 * names, serve's own families, content negotiation, and validity checked by tools that are not
 * ours: promtool (Prometheus text format) and python3-prometheus-client's strict OpenMetrics parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { Aggregator } from '../../src/core/aggregate.ts';
import { boundsFor, formatFor, isBound, nsToSecondsText, toOpenMetrics, type LiveStatus, type PerOctave } from '../../src/core/export/openmetrics.ts';
import { bucketOf, bucketUpper, fromValues, quantile } from '../../src/core/hist.ts';
import type { HostLimits } from '../../src/core/host.ts';
import type { HelperMessage, HostSample } from '../../src/core/protocol.ts';
import { hostSample } from '../fixtures/host-sample.ts';
import { histOf, lognormal, makeStream, rng } from '../fixtures/stream.ts';
import { parseSamples, type MetricSample } from '../kernel/lib/serve.ts';

/** PromQL histogram_quantile over cumulative (le, count) pairs, as Prometheus 2.x computes it. */
function promQuantile(q: number, buckets: Array<[number, number]>): number {
  const total = buckets[buckets.length - 1]![1];
  const rank = q * total;
  let b = buckets.findIndex(([, c]) => c >= rank);
  if (b === buckets.length - 1) return buckets[b - 1]![0];
  if (b === 0 && buckets[0]![0] <= 0) return buckets[0]![0];
  const start = b === 0 ? 0 : buckets[b - 1]![0];
  const below = b === 0 ? 0 : buckets[b - 1]![1];
  const end = buckets[b]![0];
  return start + (end - start) * ((rank - below) / (buckets[b]![1] - below));
}

function report(values: number[], name = 'a→b'): ReturnType<Aggregator['report']> {
  const agg = new Aggregator({ host: 'h', now: () => 0 });
  const snap: HelperMessage = { type: 'snapshot', seq: 0, mono_ns: 1e9, interval_ns: 1e9, slots: [{ slot: 'rx', hists: [histOf({ kind: 'stage', dir: 'rx', name, from: 'a', to: 'b' }, values)], counters: { seen: values.length, started: values.length }, drops: {}, progs: [] }] };
  agg.ingest(snap, 0);
  return agg.report();
}

function bucketsOf(samples: MetricSample[], stage: string): Array<[number, number]> {
  return samples
    .filter((s) => s.name === 'nslat_stage_latency_seconds_bucket' && s.labels.stage === stage)
    .map((s) => [s.labels.le === '+Inf' ? Infinity : Math.round(Number(s.labels.le) * 1e9), s.value] as [number, number]);
}

test('coarser buckets: PromQL quantiles stay within one exported bucket of nslat\'s own, whose width is 1/perOctave of its lower bound', () => {
  const r = rng(7);
  const worst: Record<number, number> = {};
  for (const median of [900, 4_000, 37_000, 1_200_000]) {
    for (const sigma of [0.2, 0.6, 1.2]) {
      const values = Array.from({ length: 20_000 }, () => Math.max(1, lognormal(r, median, sigma)));
      const rep = report(values);
      const dense = fromValues(values);
      for (const per of [8, 4, 2, 1] as PerOctave[]) {
        const b = bucketsOf(parseSamples(toOpenMetrics(rep, { perOctave: per })), 'a→b');
        for (let k = 1; k < b.length; k++) assert.ok(b[k]![0] > b[k - 1]![0] && b[k]![1] >= b[k - 1]![1], 'increasing bounds, cumulative counts');
        for (const [le, c] of b.slice(0, -1)) assert.equal(c, values.filter((v) => v <= le).length, `le=${le}: every value up to it`);
        for (const q of [0.5, 0.9, 0.99]) {
          const own = quantile(dense, q);
          const prom = promQuantile(q, b);
          // the exported bucket holding the exact rank: PromQL's answer is inside it, and nslat's too
          const k = b.findIndex(([, c]) => c >= q * values.length);
          const lo = k > 0 ? b[k - 1]![0] : 0;
          const hi = b[k]![0];
          assert.ok(prom >= lo && prom <= hi && own >= lo - 1 && own <= hi + 1, `per=${per} q=${q}: PromQL ${prom}, nslat ${own}, bucket (${lo}, ${hi}]`);
          assert.ok((hi - lo) <= (lo + 1) / per + 1, `per=${per}: the bucket (${lo}, ${hi}] is at most 1/${per} of its lower bound wide`);
          worst[per] = Math.max(worst[per] ?? 0, Math.abs(prom - own) / own);
        }
      }
    }
  }
  console.log(`# largest |PromQL − nslat| / nslat over 12 lognormal shapes × p50/p90/p99: ${Object.entries(worst).map(([p, w]) => `${p}/octave ${(100 * w).toFixed(1)} %`).join(', ')}`);
  assert.ok(worst[8]! < 0.125 && worst[1]! < 1);
});

test('bounds: whole powers of two, contiguous, only growing as a running total grows', () => {
  assert.deepEqual(boundsFor(bucketOf(1000), bucketOf(1000), 8).map(bucketUpper), [511, 575, 639, 703, 767, 831, 895, 959, 1023]);
  assert.deepEqual(boundsFor(bucketOf(1000), bucketOf(1000), 1).map(bucketUpper), [511, 1023]);
  assert.deepEqual(boundsFor(bucketOf(1000), bucketOf(3000), 2).map(bucketUpper), [511, 767, 1023, 1535, 2047, 3071, 4095]);
  assert.deepEqual(boundsFor(0, 3, 8), [0, 1, 2, 3, 4, 5, 6, 7], 'values below 8 keep their exact buckets');
  assert.equal(isBound(255, 8), false, 'the open-ended last bucket only in +Inf');
  const agg = new Aggregator({ host: 'h', now: () => 0 });
  let prev = new Set<string>();
  const r = rng(3);
  for (let i = 0; i < 6; i++) {
    // a latency that drifts upwards, then back down: the bounds only ever grow
    const median = [2_000, 2_100, 9_000, 40_000, 3_000, 2_000][i]!;
    agg.ingest({ type: 'snapshot', seq: i, mono_ns: i * 1e9, interval_ns: 1e9, slots: [{ slot: 'rx', hists: [histOf({ kind: 'stage', dir: 'rx', name: 's' }, Array.from({ length: 500 }, () => lognormal(r, median, 0.3)))], counters: {}, drops: {}, progs: [] }] }, i);
    const les = new Set(parseSamples(toOpenMetrics(agg.report())).filter((s) => s.name === 'nslat_stage_latency_seconds_bucket').map((s) => s.labels.le!));
    for (const le of prev) assert.ok(les.has(le), `snapshot ${i}: le=${le} is still written`);
    prev = les;
  }
});

/** An Aggregator as nslat serve keeps one (a handful of intervals), fed host samples alone. */
function hostAggregator(hostLimits: Partial<HostLimits> = {}): { agg: Aggregator; feed: (h: HostSample) => void } {
  const agg = new Aggregator({ host: 'h', now: () => 0, maxIntervals: 8, fullResolutionMs: 0, hostLimits });
  let seq = 0;
  const feed = (host: HostSample) => {
    agg.ingest({ type: 'snapshot', seq, mono_ns: (seq + 1) * 1e9, interval_ns: 1e9, slots: [], host }, 0);
    seq++;
  };
  return { agg, feed };
}

const exposition = (agg: Aggregator, opts: Parameters<typeof toOpenMetrics>[1] = {}): string => toOpenMetrics(agg.report(), { hostTotals: agg.hostTotals(), ...opts });

test('host counters: running totals across samples, gauges from the last one, bounded names', () => {
  const { agg, feed } = hostAggregator({ staleSamples: 2, ifaces: 2, counters: 3 });
  feed(hostSample());
  feed(hostSample({ sockets: [] }));
  const s = parseSamples(exposition(agg));
  const v = (name: string, labels: Record<string, string>) => s.find((x) => x.name === name && Object.entries(labels).every(([k, val]) => x.labels[k] === val))?.value;
  assert.equal(v('nslat_host_iface_stat_total', { iface: 'lo', stat: 'rx_packets' }), 20);
  assert.equal(v('nslat_host_iface_stat_total', { iface: 'veth0', netns: '4026532000', stat: 'rx_dropped' }), 4);
  assert.equal(v('nslat_host_qdisc_drops_total', { iface: 'veth0', qdisc: 'tbf' }), 6);
  assert.equal(v('nslat_host_qdisc_backlog_packets', { iface: 'veth0' }), 1, 'a backlog is a gauge');
  assert.equal(v('nslat_host_softnet_total', { cpu: '1', counter: 'time_squeeze' }), 2);
  assert.equal(v('nslat_host_cpu_seconds_total', { cpu: '0', mode: 'softirq' }), 0.006);
  assert.equal(v('nslat_host_softirqs_total', { cpu: '0', vector: 'NET_RX' }), 14);
  assert.equal(v('nslat_host_irqs_total', { irq: '41', cpu: '0' }), 8);
  assert.equal(v('nslat_host_irqs_total', { irq: '41', cpu: '1' }), undefined, 'a CPU the line never fired on has no series');
  assert.equal(v('nslat_host_irq_info', { irq: '41', iface: 'eth0', effective_affinity: '0' }), 1);
  assert.equal(v('nslat_host_snmp_total', { counter: 'Udp.RcvbufErrors' }), 8);
  assert.equal(v('nslat_host_snmp_total', { counter: 'TcpExt.ListenOverflows' }), 0, 'a standard counter that never moved reads 0');
  assert.equal(v('nslat_host_iface_stat_total', { iface: 'lo', stat: 'rx_dropped' }), 0, 'so does a standard interface counter');
  assert.equal(v('nslat_host_iface_info', { iface: 'veth0', driver: 'veth' }), 1);
  assert.equal(v('nslat_host_socket_recv_queue_bytes', { local: '127.0.0.1:5300' }), undefined, 'sockets are the last sample\'s');
  assert.equal(v('nslat_host_samples_total', {}), 2);
  assert.equal(v('nslat_host_sample_cost_seconds_total', {}), 0.0008);

  // a third interface evicts the one seen longest ago (counted); interfaces gone for 2 samples are
  // forgotten, and their series end
  feed(hostSample({ ifaces: [{ name: 'eth9', ifindex: 9, netns: 0, stats: { rx_packets: 1 } }] }));
  const h = () => agg.hostTotals();
  assert.deepEqual([...h().ifaces.keys()].sort(), ['eth9', 'veth0@4026532000']);
  assert.equal(h().overflow, 1);
  const live: LiveStatus = { up: true, version: '0', helperStarts: 1, helperLosses: {}, snapshots: 3, reloads: [] };
  assert.equal(parseSamples(exposition(agg, { live })).find((x) => x.name === 'nslat_series_overflow_total')?.value, 1, 'nslat_series_overflow counts it');
  feed(hostSample({ ifaces: [{ name: 'eth9', ifindex: 9, netns: 0, stats: {} }] }));
  feed(hostSample({ ifaces: [{ name: 'eth9', ifindex: 9, netns: 0, stats: {} }] }));
  assert.deepEqual([...h().ifaces.keys()], ['eth9'], 'veth0, unnamed for 3 samples, is forgotten');
  assert.ok(!parseSamples(exposition(agg)).some((x) => x.labels.iface === 'veth0'), 'its series end');
  feed(hostSample({ ifaces: [{ name: 'eth9', ifindex: 9, netns: 0, stats: {} }], snmp: { 'Icmp.InMsgs': 1, 'Icmp.OutMsgs': 1 } }));
  assert.deepEqual([...h().snmp.keys()].sort(), ['Icmp.InMsgs', 'Tcp.RetransSegs', 'Udp.RcvbufErrors'], 'protocol counters past the cap are not kept');
  assert.equal(h().overflow, 2);
  for (let i = 0; i < 2000; i++) feed(hostSample({ ifaces: [{ name: `veth${i}`, ifindex: 10 + i, netns: 0, stats: { rx_packets: 1 } }], irqs: [{ irq: 100 + (i % 700), name: 'x', counts: [1] }] }));
  assert.ok(h().ifaces.size <= 2 && h().irqs.size <= 3, `bounded: ${h().ifaces.size} interfaces, ${h().irqs.size} IRQ lines`);
  assert.ok(agg.intervalCount() <= 8);
});

test('host counters: a standard counter reads 0 from the first sample, and nothing before it', () => {
  const { agg, feed } = hostAggregator();
  const none = parseSamples(exposition(agg));
  assert.ok(!none.some((x) => x.name.startsWith('nslat_host_') && x.name !== 'nslat_host_samples_total' && x.name !== 'nslat_host_sample_cost_seconds_total'), 'no host series before a sample');
  feed(hostSample({ snmp: {} }));
  const s = parseSamples(exposition(agg));
  for (const c of ['Tcp.RetransSegs', 'TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPBacklogDrop', 'Udp.InErrors', 'Udp.RcvbufErrors', 'Udp.SndbufErrors', 'Ip.InDiscards']) {
    assert.equal(s.find((x) => x.name === 'nslat_host_snmp_total' && x.labels.counter === c)?.value, 0, c);
  }
  assert.equal(s.find((x) => x.name === 'nslat_host_iface_stat_total' && x.labels.iface === 'veth0' && x.labels.stat === 'tx_dropped')?.value, 0);
});

const live: LiveStatus = { up: true, version: '0.1.0', kernel: '6.18', arch: 'x86_64', helperVersion: '0.2.0', helperStarts: 2, helperLosses: { 'helper-exited': 1 }, snapshots: 30, reloads: [{ slot: 'rx', ok: true, count: 1 }, { slot: 'rx', ok: false, count: 2 }], measureEvery: 4, lastSnapshotS: 1_800_000_000.5 };

function fullText(format: 'openmetrics' | 'prometheus'): string {
  const agg = new Aggregator({ host: 'lab "1"\\', now: () => 0 });
  makeStream({ snapshots: 4 }).forEach((m, i) => agg.ingest(m.type === 'snapshot' && m.seq === 0 ? { ...m, host: hostSample() } : m, 1_000 + i));
  return toOpenMetrics(agg.report(), { hostTotals: agg.hostTotals(), live, format });
}

test('serve\'s own families, and the Prometheus text format for scrapers that do not ask for OpenMetrics', () => {
  const s = parseSamples(fullText('openmetrics'));
  const v = (name: string, labels: Record<string, string> = {}) => s.find((x) => x.name === name && Object.entries(labels).every(([k, val]) => x.labels[k] === val))?.value;
  assert.equal(v('nslat_up'), 1);
  assert.equal(v('nslat_info', { version: '0.1.0', kernel: '6.18' }), 1);
  assert.equal(v('nslat_helper_losses_total', { reason: 'helper-exited' }), 1);
  assert.equal(v('nslat_reloads_total', { slot: 'rx', result: 'failed' }), 2);
  assert.equal(v('nslat_measure_every'), 4);
  assert.equal(v('nslat_snapshots_total'), 30);
  assert.ok(s.every((x) => x.labels.host === 'lab "1"\\'), 'every sample carries the host label, escaped and read back');
  const prom = fullText('prometheus');
  assert.ok(!prom.includes('# EOF') && !prom.includes('# UNIT'));
  assert.match(prom, /^# TYPE nslat_lost_total counter$/m);
  assert.equal(formatFor('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'), 'openmetrics');
  assert.equal(formatFor('*/*'), 'prometheus');
  assert.equal(formatFor(undefined), 'prometheus');
  assert.equal(nsToSecondsText(bucketUpper(bucketOf(2_000))), '0.000002047');
});

const promtool = (await execa('sh', ['-c', 'command -v promtool'], { reject: false })).exitCode === 0;
test('promtool check metrics passes the Prometheus text format without a lint message', { skip: promtool ? false : 'promtool (package prometheus) is missing' }, async () => {
  const r = await execa('promtool', ['check', 'metrics'], { input: fullText('prometheus'), reject: false, all: true });
  assert.equal(r.exitCode, 0, r.all);
  assert.equal((r.all ?? '').trim(), '');
  const bad = await execa('promtool', ['check', 'metrics'], { input: '# TYPE x counter\nx{a="1"} one\n', reject: false, all: true });
  assert.notEqual(bad.exitCode, 0, 'promtool does reject a bad exposition');
});

const OM_CHECK = `
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
n = sum(len(f.samples) for f in text_string_to_metric_families(sys.stdin.read()))
print(n)
`;
const omParser = (await execa('/usr/bin/python3', ['-c', 'import prometheus_client.openmetrics.parser'], { reject: false })).exitCode === 0;
test('python3-prometheus-client\'s strict OpenMetrics parser reads the OpenMetrics exposition', { skip: omParser ? false : 'python3-prometheus-client is missing' }, async () => {
  const text = fullText('openmetrics');
  const r = await execa('/usr/bin/python3', ['-c', OM_CHECK], { input: text, reject: false, all: true });
  assert.equal(r.exitCode, 0, r.all);
  assert.equal(Number(r.stdout.trim()), parseSamples(text).length, 'it reads every sample');
  const bad = await execa('/usr/bin/python3', ['-c', OM_CHECK], { input: text.replace('# EOF\n', ''), reject: false });
  assert.notEqual(bad.exitCode, 0, 'the parser does reject an exposition without # EOF');
});

test('host counters recorded from the real helper: every exported total is the sum of its deltas, and both validators accept the exposition', async () => {
  const { readTrace } = await import('../../src/core/export/jsonl.ts');
  const path = new URL('../fixtures/helper-host.jsonl', import.meta.url).pathname;
  const snaps: Array<Extract<HelperMessage, { type: 'snapshot' }>> = [];
  const r = await readTrace(path, { aggregatorOptions: { host: 'rec' }, onRecord: (x) => { if (x.msg.type === 'snapshot') snaps.push(x.msg); } });
  const h = r.aggregator.hostTotals();
  assert.ok(h.samples >= 3, `${h.samples} host samples`);
  const text = toOpenMetrics(r.aggregator.report(), { hostTotals: h });
  const samples = parseSamples(text);
  const get = (name: string, labels: Record<string, string | undefined>) => samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  let checked = 0;
  const want = new Map<string, number>();
  for (const s of snaps) {
    for (const i of s.host?.ifaces ?? []) for (const [k, v] of Object.entries(i.stats)) want.set(`${i.netns}/${i.name}/${k}`, (want.get(`${i.netns}/${i.name}/${k}`) ?? 0) + v);
  }
  for (const [key, v] of want) {
    const [netns, iface, stat] = key.split('/');
    const got = get('nslat_host_iface_stat_total', { iface, stat, netns: netns === '0' ? undefined : netns });
    assert.equal(got.length, 1, key);
    assert.equal(got[0]!.value, v, key);
    checked++;
  }
  const qdrops = new Map<string, number>();
  const snmp = new Map<string, number>();
  for (const s of snaps) {
    for (const i of s.host?.ifaces ?? []) for (const q of i.qdiscs ?? []) qdrops.set(`${i.netns}/${i.name}/${q.handle}`, (qdrops.get(`${i.netns}/${i.name}/${q.handle}`) ?? 0) + q.drops);
    for (const [k, v] of Object.entries(s.host?.snmp ?? {})) snmp.set(k, (snmp.get(k) ?? 0) + v);
  }
  assert.ok([...qdrops.values()].some((d) => d > 0), 'the recording has qdisc drops');
  for (const [key, v] of qdrops) {
    const [netns, iface, handle] = key.split('/');
    assert.equal(get('nslat_host_qdisc_drops_total', { iface, handle, netns: netns === '0' ? undefined : netns })[0]?.value, v, key);
    checked++;
  }
  for (const [k, v] of snmp) {
    assert.equal(get('nslat_host_snmp_total', { counter: k })[0]?.value, v, k);
    checked++;
  }
  const last = snaps[snaps.length - 1]!.host!;
  for (const s of last.sockets) assert.equal(get('nslat_host_socket_recv_queue_bytes', { local: s.local, inode: String(s.inode) })[0]?.value, s.recv_q);
  assert.ok(checked > 20, `${checked} totals compared`);
  if (omParser) {
    const ok = await execa('/usr/bin/python3', ['-c', OM_CHECK], { input: text, reject: false, all: true });
    assert.equal(ok.exitCode, 0, ok.all);
  }
  if (promtool) {
    const ok = await execa('promtool', ['check', 'metrics'], { input: toOpenMetrics(r.aggregator.report(), { hostTotals: h, format: 'prometheus' }), reject: false, all: true });
    assert.equal(`${ok.exitCode} ${ok.all}`.trim(), '0');
  }
});

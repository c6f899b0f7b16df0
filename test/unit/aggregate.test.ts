import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Aggregator } from '../../src/core/aggregate.ts';
import { HIST_BUCKETS, countOf, fromValues, quantile, toSparse } from '../../src/core/hist.ts';
import { HelperMessage, LOSS_COUNTERS, MAX_INTERVAL_BUCKETS, PanelState, ToPanel, parseHelperMessage, type HistDelta, type LoadedMessage, type SnapshotMessage } from '../../src/core/protocol.ts';
import { RX_BOUNDARIES, SLOTS, T0_MONO, T0_WALL, histOf, loadedMessage, lognormal, makeStream, rng } from '../fixtures/stream.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/helper-stream.jsonl', import.meta.url));

function feed(agg: Aggregator, msgs: HelperMessage[]): void {
  for (const m of msgs) agg.ingest(m);
}

function snapshot(seq: number, hists: HistDelta[], extra: Partial<SnapshotMessage['slots'][number]> = {}, intervalNs = 1e9): SnapshotMessage {
  return {
    type: 'snapshot',
    seq,
    mono_ns: T0_MONO + (seq + 1) * intervalNs,
    interval_ns: intervalNs,
    slots: [{ slot: 'rx', hists, counters: {}, drops: {}, progs: [], ...extra }],
  };
}

const hello: HelperMessage = {
  type: 'hello',
  protocol: 2,
  helper_version: '0.1.0',
  kernel: '6.12.0-test',
  mono_ns: T0_MONO,
  wall_ns: T0_WALL,
  ncpus: 2,
  btf: true,
  bpf_stats: true,
  attach_types: {},
  workdir: '/tmp/w',
  pid: 1,
};

test('the recorded fixture is valid protocol and matches makeStream()', () => {
  const lines = readFileSync(FIXTURE, 'utf8').trim().split('\n');
  const msgs = lines.map((l, i) => {
    const r = parseHelperMessage(l);
    assert.ok(r.ok, `fixture line ${i + 1}: ${r.ok ? '' : r.error.message}`);
    return r.value;
  });
  assert.deepEqual(msgs, makeStream());
});

test('replaying the fixture: totals, stage order, attach types, skipped boundaries, loss, reloads', () => {
  const msgs = makeStream();
  const agg = new Aggregator();
  feed(agg, msgs);
  const rep = agg.report();

  // totals equal the sum of all deltas, per key
  const expected = new Map<string, number>();
  for (const m of msgs) {
    if (m.type !== 'snapshot') continue;
    for (const s of m.slots)
      for (const h of s.hists) {
        const base = `${h.dir}:${h.kind}:${h.name}`;
        expected.set(base, (expected.get(base) ?? 0) + h.count);
        if (h.cpu !== undefined) expected.set(`${base}:cpu${h.cpu}`, (expected.get(`${base}:cpu${h.cpu}`) ?? 0) + h.count);
      }
  }
  assert.equal(rep.stages.length, expected.size);
  for (const s of rep.stages) {
    assert.equal(s.count, expected.get(s.key), s.key);
    assert.equal(countOf(s.buckets), s.count, `${s.key}: buckets agree with count`);
  }

  // order: RX stage rows in boundary order, RX cum, TX, then IRQ (total before per-CPU)
  const keys = rep.stages.map((s) => s.key);
  // (the recorded loopback paths: TCP passes l4_rcv, UDP goes from ip_local_deliver to the socket)
  assert.deepEqual(keys.slice(0, 7), [
    'rx:stage:netif_rx→netif_receive_skb',
    'rx:stage:netif_receive_skb→ip_rcv',
    'rx:stage:ip_rcv→ip_local_deliver',
    'rx:stage:ip_local_deliver→l4_rcv',
    'rx:stage:ip_local_deliver→sock_enqueue',
    'rx:stage:l4_rcv→sock_enqueue',
    'rx:stage:sock_enqueue→app_read',
  ]);
  assert.deepEqual(keys.slice(7, 13), ['rx:cum:netif_receive_skb', 'rx:cum:ip_rcv', 'rx:cum:ip_local_deliver', 'rx:cum:l4_rcv', 'rx:cum:sock_enqueue', 'rx:cum:app_read']);
  assert.equal(keys[13], 'tx:stage:sendmsg→net_dev_queue');
  const dirs = rep.stages.map((s) => s.dir);
  assert.deepEqual(dirs, [...dirs].sort((a, b) => ['rx', 'tx', 'irq'].indexOf(a) - ['rx', 'tx', 'irq'].indexOf(b)));
  const timer = rep.stages.filter((s) => s.kind === 'softirq_delay' && s.name === 'TIMER');
  assert.deepEqual(timer.map((s) => [s.total_over_cpus, s.cpu]), [[true, undefined], [false, 0], [false, 1]]);
  assert.equal(timer[0]!.count, timer[1]!.count + timer[2]!.count);
  assert.ok(rep.stages.some((s) => s.kind === 'hardirq' && s.total_over_cpus && s.count > 0), 'hard IRQs recorded');
  const irqKinds = [...new Set(rep.stages.filter((s) => s.dir === 'irq').map((s) => s.kind))];
  assert.deepEqual(irqKinds, ['hardirq', 'softirq_delay', 'softirq_time', 'napi_work']);
  assert.equal(rep.stages.find((s) => s.kind === 'napi_work')!.unit, 'packets');
  assert.equal(rep.stages[0]!.from_id, RX_BOUNDARIES.indexOf('netif_rx'));
  assert.equal(rep.stages[0]!.to_id, RX_BOUNDARIES.indexOf('netif_receive_skb'));

  // attach types from loaded; IRQ ones from the slot's programs
  // (recorded where fentry is refused and kprobes are absent: ip_rcv and ip_local_deliver are fed
  // by netfilter hooks, everything else by tp_btf; ip_output has only fentry/kprobe alternatives)
  const byKey = new Map(rep.stages.map((s) => [s.key, s]));
  assert.equal(byKey.get('rx:stage:netif_receive_skb→ip_rcv')!.mechanism, 'netfilter');
  assert.equal(byKey.get('rx:stage:netif_rx→netif_receive_skb')!.attach, 'tp_btf');
  assert.ok(rep.stages.every((s) => s.attach === 'tp_btf' || s.attach === 'netfilter'), 'every stage is fed by tp_btf or netfilter programs');
  const unfed = msgs.filter((m): m is LoadedMessage => m.type === 'loaded' && !m.replaced).flatMap((m) => m.boundaries.filter((b) => !b.active).map((b) => `${b.dir}:${b.name}`));
  assert.ok(unfed.includes('tx:ip_output'));
  assert.deepEqual(rep.skipped.map((b) => `${b.dir}:${b.name}`), unfed);
  assert.match(rep.skipped.find((b) => b.name === 'ip_output')!.reason!, /EPERM/);

  // loss and bookkeeping
  assert.equal(rep.snapshots, 30);
  assert.equal(rep.lost_snapshots, 1);
  assert.equal(rep.duration_s, 30);
  const loss = new Map(rep.loss.map((l) => [l.name, l]));
  assert.deepEqual([...loss.keys()], [...LOSS_COUNTERS, 'lost_snapshots']);
  const started = (slot: string) => msgs.reduce((a, m) => a + (m.type === 'snapshot' ? (m.slots.find((x) => x.slot === slot)?.counters.started ?? 0) : 0), 0);
  assert.deepEqual([loss.get('ringbuf_drop')!.total, loss.get('ringbuf_drop')!.per_s], [6, 0.2]);
  assert.deepEqual([loss.get('ringbuf_drop')!.of, loss.get('ringbuf_drop')!.base], [started('rx') + started('tx'), 'started_packets']);
  assert.deepEqual(loss.get('ringbuf_drop')!.slots.rx, { total: 3, of: started('rx') });
  const hardIrqs = rep.stages.filter((s) => s.kind === 'hardirq' && s.total_over_cpus).reduce((a, s) => a + s.count, 0);
  assert.deepEqual([loss.get('irq_out_of_range')!.of, loss.get('irq_out_of_range')!.base], [hardIrqs, 'hard_irqs']);
  assert.deepEqual([loss.get('lost_snapshots')!.total, loss.get('lost_snapshots')!.of], [1, 31]);
  for (const name of ['map_full', 'stale', 'udp_unpaired', 'evicted']) assert.equal(loss.get(name)!.total, 0, `${name}: nothing lost on the recorded loopback`);
  // activity is every other counter, apart from the losses
  assert.equal(rep.activity.started!.total, started('rx') + started('tx'));
  for (const k of Object.keys(rep.activity)) assert.ok(!loss.has(k), `${k} is activity, not loss`);
  assert.ok(['finished', 'sampled', 'filtered', 'sendmsg', 'napi_polls'].every((k) => k in rep.activity));
  const noSocket = msgs.reduce((a, m) => a + (m.type === 'snapshot' ? (m.slots[0]!.drops.NO_SOCKET ?? 0) : 0), 0);
  assert.equal(rep.drops.NO_SOCKET!.total, noSocket);
  assert.equal(rep.kernel, (msgs[0] as Extract<HelperMessage, { type: 'hello' }>).kernel);
  assert.equal(rep.ncpus, 2);
  assert.equal(rep.journeys, 60);
  assert.deepEqual(rep.reloads, [{ t_ms: (T0_WALL + 12.2e9) / 1e6, slot: 'rx', ok: true }]);

  // per-program ns/run over the session, across the reload (ids change, slot+name stays)
  const p = rep.programs.find((x) => x.name === 'handle_netif_rx')!;
  assert.equal(p.prog_id, 1100);
  assert.ok(p.runs > 0 && p.ns_per_run >= 60 && p.ns_per_run <= 100, `ns/run ${p.ns_per_run}`);
  assert.equal(rep.programs.find((x) => x.name === 'ip_rcv__fentry_v4')!.status, 'skipped');
});

test('merged deltas give the same histogram and quantiles as all the samples at once', () => {
  const r = rng(3);
  const all: number[] = [];
  const agg = new Aggregator();
  agg.ingest(hello);
  for (let i = 0; i < 20; i++) {
    const vals = Array.from({ length: 500 }, () => lognormal(r, 5000 * (1 + (i % 3)), 0.7));
    all.push(...vals);
    agg.ingest(snapshot(i, [histOf({ kind: 'stage', dir: 'rx', name: 'a→b', from: 'a', to: 'b' }, vals)]));
  }
  const s = agg.report().stages[0]!;
  const b = fromValues(all);
  const sum = all.reduce((a, c) => a + c, 0);
  assert.deepEqual(s.buckets, b);
  assert.equal(s.sum, sum);
  assert.equal(s.p50, quantile(b, 0.5, sum));
  assert.equal(s.p999, quantile(b, 0.999, sum));
  assert.ok(s.max >= Math.max(...all));
});

test('boundary ids from loaded decide RX order, not arrival or name order', () => {
  const agg = new Aggregator();
  agg.ingest({
    type: 'loaded', id: 'x', slot: 'rx', object: '/w/rx.o', replaced: false, mono_ns: T0_MONO, programs: [],
    boundaries: [
      { id: 0, name: 'zeta', dir: 'rx', active: true, attach: 'raw_tp' },
      { id: 1, name: 'alpha', dir: 'rx', active: true, attach: 'tracepoint' },
      { id: 2, name: 'mid', dir: 'rx', active: true, attach: 'tp_btf' },
    ],
  });
  const h = (from: string, to: string): HistDelta => ({ kind: 'stage', dir: 'rx', name: `${from}→${to}`, from, to, buckets: [[10, 1]], count: 1, sum: 600 });
  agg.ingest(snapshot(0, [
    { kind: 'my_kind', dir: 'rx', name: 'custom', buckets: [[3, 1]], count: 1, sum: 5 },
    h('alpha', 'mid'),
    { kind: 'cum', dir: 'rx', name: '→mid', to: 'mid', buckets: [[11, 1]], count: 1, sum: 1200 },
    h('zeta', 'alpha'),
    { kind: 'stage', dir: 'tx', name: 'send→xmit', from: 'send', to: 'xmit', buckets: [[10, 1]], count: 1, sum: 600 },
    { kind: 'hardirq', dir: 'irq', name: 'hardirq 5', irq: 5, cpu: 1, buckets: [[12, 1]], count: 1, sum: 3000 },
  ]));
  const rep = agg.report();
  assert.deepEqual(rep.stages.map((s) => s.key), [
    'rx:stage:zeta→alpha',
    'rx:stage:alpha→mid',
    'rx:cum:→mid',
    'rx:my_kind:custom', // unknown kinds are passed through, after the known ones
    'tx:stage:send→xmit',
    'irq:hardirq:hardirq 5',
    'irq:hardirq:hardirq 5:cpu1',
  ]);
  assert.equal(rep.stages[0]!.attach, 'tracepoint'); // the `to` boundary's attach type
  assert.equal(rep.stages[1]!.attach, 'tp_btf');
  assert.equal(rep.stages[3]!.kind, 'my_kind');
  assert.equal(rep.stages[3]!.unit, 'ns');
});

test('an inactive boundary gives its skip reason to the stage that ends there', () => {
  const agg = new Aggregator();
  agg.ingest({
    type: 'loaded', id: 'x', slot: 'rx', object: '/w/rx.o', replaced: false, mono_ns: T0_MONO, programs: [],
    boundaries: [
      { id: 0, name: 'a', dir: 'rx', active: true, attach: 'tp_btf' },
      { id: 1, name: 'b', dir: 'rx', active: false, reason: 'fentry not permitted (EPERM)' },
    ],
  });
  agg.ingest(snapshot(0, [{ kind: 'stage', dir: 'rx', name: 'a→b', from: 'a', to: 'b', buckets: [], count: 0, sum: 0 }]));
  const s = agg.report().stages[0]!;
  assert.equal(s.skip_reason, 'fentry not permitted (EPERM)');
  assert.equal(s.attach, undefined);
  assert.equal(s.count, 0);
  assert.equal(s.p50, 0);
});

test('intervals carry count, p50, p99 and the interval\'s own buckets; wall time comes from hello', () => {
  const agg = new Aggregator();
  agg.ingest(hello);
  const v1 = [1000, 1100, 1200, 1300];
  const v2 = [50_000, 60_000];
  agg.ingest(snapshot(0, [histOf({ kind: 'stage', dir: 'rx', name: 'a→b' }, v1)]));
  agg.ingest(snapshot(1, [histOf({ kind: 'stage', dir: 'rx', name: 'a→b' }, v2)]));
  const st = agg.panelState();
  assert.ok(PanelState.safeParse(st).success);
  assert.equal(st.series.length, 2);
  const [p1, p2] = st.series;
  assert.equal(p1!.t_ms, (T0_WALL + 1e9) / 1e6);
  assert.equal(p2!.t_ms - p1!.t_ms, 1000);
  const [c1, m1, t1, b1] = p1!.stages['rx:stage:a→b']!;
  assert.equal(c1, 4);
  // 1000, 1100, 1200, 1300 fall in buckets 63 … 66; the nearest-rank median 1100 in 64 (1024 … 1151)
  assert.ok(m1 >= 1024 && m1 <= 1152, `p50 ${m1} in the bucket of the true median (its upper edge included)`);
  assert.ok(t1 >= 1280 && t1 <= 1407, `p99 ${t1} in the bucket of 1300`);
  // the interval's own buckets, sparse: flat [bucket, count] pairs in bucket order, one bucket each
  assert.deepEqual(b1, [63, 1, 64, 1, 65, 1, 66, 1]);
  assert.deepEqual(b1, toSparse(fromValues(v1)).flat());
  assert.deepEqual(p2!.stages['rx:stage:a→b']!.slice(3), [toSparse(fromValues(v2)).flat(), 1]);
  assert.equal(p1!.events_per_s, 4);
  assert.equal(st.stages[0]!.count, 6);
  assert.equal(st.session.kernel, '6.12.0-test');
});

test('history stays bounded: old intervals merge pairwise, recent ones keep full resolution, totals are kept', () => {
  const agg = new Aggregator({ maxIntervals: 100, fullResolutionMs: 30_000 });
  agg.ingest(hello);
  const N = 1000;
  agg.panelState();
  for (let i = 0; i < N; i++) agg.ingest(snapshot(i, [histOf({ kind: 'stage', dir: 'rx', name: 'a→b' }, [1000 + i])]));
  assert.ok(agg.intervalCount() <= 100, `${agg.intervalCount()} intervals`);
  assert.ok(agg.needsResync(), 'compaction asks for a full snapshot');
  const msg = agg.panelMessage();
  assert.equal(msg.type, 'snapshot');
  assert.equal(agg.needsResync(), false);
  const st = (msg as Extract<ToPanel, { type: 'snapshot' }>).state;
  let total = 0;
  for (const p of st.series) total += p.stages['rx:stage:a→b']![0];
  assert.equal(total, N, 'every value is still in some interval');
  // time order is kept and the last 30 s are at full (1 s) resolution
  const ts = st.series.map((p) => p.t_ms);
  assert.deepEqual(ts, [...ts].sort((a, b) => a - b));
  const last = ts[ts.length - 1]!;
  const recent = ts.filter((t) => t > last - 30_000);
  assert.equal(recent.length, 30);
  for (let i = 1; i < recent.length; i++) assert.equal(recent[i]! - recent[i - 1]!, 1000);
  // older ones are coarser
  assert.ok(ts[1]! - ts[0]! > 1000);
  assert.equal(agg.report().stages[0]!.count, N);
  const few = agg.panelState({ maxPoints: 10 }).series;
  assert.deepEqual(few.map((p) => p.t_ms), ts.slice(-10));
});

test('history stays bounded even when every interval is recent (fast snapshots)', () => {
  const agg = new Aggregator({ maxIntervals: 50 });
  agg.ingest(hello);
  for (let i = 0; i < 2000; i++) agg.ingest(snapshot(i, [histOf({ kind: 'stage', dir: 'rx', name: 'a→b' }, [500])], {}, 10e6));
  assert.ok(agg.intervalCount() <= 50);
  const st = agg.panelState();
  assert.equal(st.series.reduce((a, p) => a + p.stages['rx:stage:a→b']![0], 0), 2000);
});

test('journeys are a bounded ring; panelDelta sends only new ones', () => {
  const agg = new Aggregator({ maxJourneys: 5 });
  const msgs = makeStream({ snapshots: 6, journeysPerSnapshot: 2 });
  const journeys = msgs.filter((m) => m.type === 'journey');
  feed(agg, msgs);
  assert.equal(agg.journeys().length, 5);
  assert.deepEqual(agg.journeys(), journeys.slice(-5));
  agg.panelDelta();
  const j = { ...journeys[0]!, total_ns: 123 };
  agg.ingest(j);
  const d = agg.panelDelta();
  assert.deepEqual(d.journeys, [j]);
  assert.equal(agg.report().journeys, 13);
});

test('series are capped; values beyond the cap are counted as overflow', () => {
  const agg = new Aggregator({ maxSeries: 3 });
  const hs: HistDelta[] = Array.from({ length: 5 }, (_, i) => ({ kind: 'stage', dir: 'rx', name: `s${i}`, buckets: [[5, 2]], count: 2, sum: 40 }));
  agg.ingest(snapshot(0, hs));
  assert.equal(agg.seriesCount(), 3);
  assert.equal(agg.report().series_overflow, 4);
});

test('panelDelta: only what changed, and it validates against the protocol', () => {
  const agg = new Aggregator({ now: () => 1_000_000 });
  const msgs = makeStream({ snapshots: 3 });
  feed(agg, msgs);
  const full = agg.panelState();
  assert.ok(PanelState.safeParse(full).success, JSON.stringify(PanelState.safeParse(full).error?.issues[0]));
  assert.equal(full.series.length, 3);

  const empty = agg.panelDelta();
  assert.deepEqual(empty, { type: 'delta', stages: [], points: [], journeys: [], reloads: [] });
  assert.equal(agg.hasChanges(), false);

  agg.ingest(snapshot(10, [{ kind: 'stage', dir: 'rx', name: 'netif_rx→netif_receive_skb', from: 'netif_rx', to: 'netif_receive_skb', buckets: [[12, 3]], count: 3, sum: 9000 }]));
  agg.markReload('rx', false, 'rx.bpf.c:88: R1 invalid mem access');
  assert.ok(agg.hasChanges());
  const d = agg.panelDelta();
  assert.ok(ToPanel.safeParse(d).success);
  assert.deepEqual(d.stages.map((s) => s.key), ['rx:stage:netif_rx→netif_receive_skb']);
  assert.equal(d.points.length, 1);
  assert.deepEqual(Object.keys(d.points[0]!.stages), ['rx:stage:netif_rx→netif_receive_skb']);
  assert.deepEqual(d.reloads, [{ t_ms: 1_000_000, slot: 'rx', ok: false, message: 'rx.bpf.c:88: R1 invalid mem access' }]);
  assert.ok(d.health, 'health changed with the snapshot');
  assert.equal(d.health!.loss.find((l) => l.name === 'ringbuf_drop')!.total, 0);
  assert.equal(d.session, undefined);

  agg.setSession({ state: 'stopped', message: 'helper exited' });
  const d2 = agg.panelDelta();
  assert.equal(d2.session?.state, 'stopped');
  assert.equal(d2.health, undefined);
});

test('health lists programs and boundaries of loaded slots with ns/run', () => {
  const agg = new Aggregator();
  feed(agg, makeStream({ snapshots: 2 }));
  const h = agg.panelState().health;
  assert.equal(h.programs.filter((p) => p.slot === 'rx').length, loadedMessage('rx', 'x', false, 0).programs.length);
  const unfed = [...SLOTS].flatMap((slot) => loadedMessage(slot, 'x', false, 0).boundaries.filter((b) => !b.active).map((b) => b.name));
  assert.ok(unfed.includes('ip_output'));
  assert.deepEqual(h.boundaries.filter((b) => !b.active).map((b) => b.name), unfed);
  assert.ok(h.progs.every((p) => p.runs > 0 && p.ns_per_run > 0));
  assert.ok(h.events_per_s > 0);
  agg.ingest({ type: 'unloaded', id: 'u', slot: 'tx' });
  assert.equal(agg.panelState().health.programs.filter((p) => p.slot === 'tx').length, 0);
});

test('messages before hello are placed at their receive time; onChange fires', () => {
  let changes = 0;
  const agg = new Aggregator({ onChange: () => changes++ });
  agg.ingest(snapshot(0, [{ kind: 'stage', dir: 'rx', name: 'a→b', buckets: [[4, 1]], count: 1, sum: 10 }]), 42_000);
  assert.equal(agg.panelState().series[0]!.t_ms, 42_000);
  agg.ingest(loadedMessage('rx', 'l', true, T0_MONO, 1), 43_000);
  assert.equal(agg.report().reloads[0]!.t_ms, 43_000);
  agg.ingest({ type: 'log', level: 'info', message: 'x' });
  assert.equal(changes, 2, 'log lines change nothing');
});

test('hostile input: the schema rejects negative/NaN counts; hand-built bad values are ignored', () => {
  const bad = [
    '{"type":"snapshot","seq":0,"mono_ns":1,"interval_ns":1,"slots":[{"slot":"rx","hists":[{"kind":"stage","dir":"rx","name":"a","buckets":[[3,-1]],"count":1,"sum":1}],"counters":{},"drops":{},"progs":[]}]}',
    '{"type":"snapshot","seq":0,"mono_ns":1,"interval_ns":1,"slots":[{"slot":"rx","hists":[{"kind":"stage","dir":"rx","name":"a","buckets":[[256,1]],"count":1,"sum":1}],"counters":{},"drops":{},"progs":[]}]}',
    '{"type":"snapshot","seq":0,"mono_ns":1,"interval_ns":1,"slots":[{"slot":"rx","hists":[{"kind":"stage","dir":"rx","name":"a","buckets":[],"count":-4,"sum":1}],"counters":{},"drops":{},"progs":[]}]}',
    '{"type":"snapshot","seq":0,"mono_ns":1,"interval_ns":1,"slots":[{"slot":"rx","hists":[{"kind":"stage","dir":"rx","name":"a","buckets":[],"count":1,"sum":NaN}],"counters":{},"drops":{},"progs":[]}]}',
    '{"type":"snapshot","seq":0,"mono_ns":1,"interval_ns":1,"slots":[{"slot":"rx","hists":[{"kind":"stage","dir":"sideways","name":"a","buckets":[],"count":1,"sum":1}],"counters":{},"drops":{},"progs":[]}]}',
    '{"type":"snapshot","seq":0,"mono_ns":1,"interval_ns":1,"slots":[{"slot":"rx","hists":[],"counters":{"x":-1},"drops":{},"progs":[]}]}',
  ];
  for (const l of bad) assert.equal(parseHelperMessage(l).ok, false, l);

  // values that bypass the schema (a caller's own objects) must not poison totals
  const agg = new Aggregator();
  agg.ingest(snapshot(0, [
    { kind: 'stage', dir: 'rx', name: 'a→b', buckets: [[3, -5], [HIST_BUCKETS, 2], [4, 2]], count: Number.NaN, sum: -100 },
  ], { counters: { ringbuf_drop: -3, ok: 2 } }));
  const s = agg.report().stages[0]!;
  assert.deepEqual(s.buckets.filter((n) => n !== 0), [2]);
  assert.equal(s.count, 0);
  assert.equal(s.sum, 0);
  for (const v of [s.p50, s.p90, s.p99, s.max, s.mean]) assert.ok(Number.isFinite(v));
  assert.deepEqual(agg.report().activity, { ok: { total: 2, per_s: 2 } });
  assert.equal(agg.report().loss.find((l) => l.name === 'ringbuf_drop')!.total, 0);

  // huge counts
  const big = new Aggregator();
  // 600 000 ns is in bucket 137 (589 824 … 655 359)
  big.ingest(snapshot(0, [{ kind: 'stage', dir: 'rx', name: 'a→b', buckets: [[137, 2 ** 50]], count: 2 ** 50, sum: 2 ** 50 * 600_000 }]));
  big.ingest(snapshot(1, [{ kind: 'stage', dir: 'rx', name: 'a→b', buckets: [[137, 2 ** 50]], count: 2 ** 50, sum: 2 ** 50 * 600_000 }]));
  const bs = big.report().stages[0]!;
  assert.equal(bs.count, 2 ** 51);
  assert.ok(bs.p50 >= 589_824 && bs.p50 < 655_360, `p50 ${bs.p50}`);
});

test('one stage record: the report\'s stages are StageRecords, the panel and the hover show views of them in the same order', async () => {
  const { StageRecord, StageSummary } = await import('../../src/core/protocol.ts');
  const { ReportStage, toJsonDocument } = await import('../../src/core/report.ts');
  const { StageStat } = await import('../../src/server/protocol.ts');
  const { stageStatsFrom } = await import('../../src/extension/lspSync.ts');
  const agg = new Aggregator({ now: () => T0_WALL / 1e6 });
  for (const m of makeStream()) agg.ingest(m);
  const report = agg.report();
  const panel = agg.panelState();
  assert.ok(report.stages.length > 0);
  assert.deepEqual(panel.stages.map((s) => s.key), report.stages.map((s) => s.key));
  for (const [i, s] of report.stages.entries()) {
    assert.deepEqual(StageRecord.strict().parse(s), s);
    const summary = panel.stages[i]!;
    assert.deepEqual(StageSummary.parse(summary), summary);
    for (const [k, v] of Object.entries(summary)) assert.deepEqual(v, (s as Record<string, unknown>)[k], `${s.key}.${k}`);
  }
  for (const d of toJsonDocument(report).stages) ReportStage.parse(d);
  for (const st of stageStatsFrom(report, 'h').stages) StageStat.parse(st);
  const picked = (o: { shape: object }) => Object.keys(o.shape);
  for (const k of [...picked(StageSummary), ...picked(StageStat)]) assert.ok(k in StageRecord.shape, k);
});

test('panel intervals stay bounded: at most MAX_INTERVAL_BUCKETS pairs, aligned groups, every count kept', () => {
  const agg = new Aggregator();
  agg.ingest(hello);
  // a wide interval: values from 100 ns to 50 ms fill about 150 log-linear buckets
  const r = rng(3);
  const wide = Array.from({ length: 20_000 }, () => Math.round(100 * Math.exp(r() * Math.log(500_000))));
  const narrow = [1000, 1100, 1200, 1300];
  agg.ingest(snapshot(0, [histOf({ kind: 'stage', dir: 'rx', name: 'a→b' }, wide), histOf({ kind: 'stage', dir: 'rx', name: 'c→d' }, narrow)]));
  const [p] = agg.panelState().series;
  const [count, p50, , pairs, group] = p!.stages['rx:stage:a→b']!;
  assert.ok(toSparse(fromValues(wide)).length > 3 * MAX_INTERVAL_BUCKETS, 'the interval fills many buckets');
  assert.ok(pairs.length <= 2 * MAX_INTERVAL_BUCKETS && pairs.length > MAX_INTERVAL_BUCKETS, `${pairs.length / 2} pairs`);
  assert.ok(group > 1 && (group & (group - 1)) === 0, `group ${group} is a power of two`);
  assert.equal(count, wide.length);
  assert.equal(pairs.reduce((a, n, k) => (k % 2 ? a + n : a), 0), wide.length, 'every value is in a pair');
  // each pair is the sum of the buckets of its aligned group
  const dense = fromValues(wide);
  for (let k = 0; k < pairs.length; k += 2) {
    const [first, n] = [pairs[k]!, pairs[k + 1]!];
    assert.equal(first % group, 0);
    if (k > 0) assert.ok(first > pairs[k - 2]!, 'in bucket order');
    assert.equal(n, dense.slice(first, first + group).reduce((a, c) => a + c, 0), `group at ${first}`);
  }
  // p50 still comes from the full-resolution buckets
  assert.equal(p50, quantile(dense, 0.5, wide.reduce((a, v) => a + v, 0)));
  // a narrow interval keeps every bucket
  assert.deepEqual(p!.stages['rx:stage:c→d']!.slice(3), [toSparse(fromValues(narrow)).flat(), 1]);
  assert.ok(PanelState.safeParse(agg.panelState()).success);
});

test('the IRQ object\'s timed share: what it timed of the hard IRQs and softirq runs the kernel counted in the same snapshots', async () => {
  const { recordedWithHost } = await import('../fixtures/host-recorded.ts');
  const { IRQ_LINES } = await import('../../src/core/contract.ts');
  const msgs = recordedWithHost();
  const agg = new Aggregator();
  feed(agg, msgs);
  let kernel = 0;
  let timed = 0;
  for (const m of msgs) {
    if (m.type !== 'snapshot' || !m.host) continue;
    const irqSlot = m.slots.find((s) => s.hists.some((h) => h.dir === 'irq'));
    if (!irqSlot) continue;
    for (const q of m.host.irqs) if (q.irq < IRQ_LINES) kernel += q.counts.reduce((a, b) => a + b, 0);
    for (const c of m.host.cpus) kernel += c.softirqs.reduce((a, b) => a + b, 0);
    for (const h of irqSlot.hists) if (h.kind === 'hardirq' || h.kind === 'softirq_delay') timed += h.count;
  }
  assert.ok(kernel > 0 && timed > 0, 'the recording has IRQ histograms beside host counters');
  const irq = agg.report().measured.find((m) => m.of === 'irq');
  assert.ok(irq, `an IRQ share in the report: ${JSON.stringify(agg.report().measured)}`);
  assert.equal(irq.seen, kernel, 'seen: the kernel\'s own counts of those snapshots');
  assert.equal(irq.measured, Math.min(timed, kernel), 'measured: the hardirq and softirq_delay counts');
  const { formatMeasured } = await import('../../src/core/format.ts');
  assert.match(formatMeasured(irq.measured, irq.seen, 'irq'), /^(timed 1 in [\d.]+ of|every hard IRQ and softirq run timed)/);
});

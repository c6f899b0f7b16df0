/**
 * Host counters in the core, on the stream recorded from the real helper with its host counters
 * (test/fixtures/helper-host.jsonl): every sample kept with the interval of its snapshot, totals
 * and rates equal to the sums of the deltas, the latest configuration, events exactly where event
 * counters moved, compaction that loses nothing, bounded tables, and the filter's host options.
 * Every expectation is computed here again from the raw messages, not from the code under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../src/core/aggregate.ts';
import { HOST_LIMITS, HostAccumulator, eventKindOf, ifaceId, socketId } from '../../src/core/host.ts';
import { HOST_TOTAL_KEYS, dropsKey, recvQKey, rxPacketsKey, softirqShareKey } from '../../src/core/host-keys.ts';
import { hostOptionsOf, parseFilter } from '../../src/core/filter.ts';
import { PanelState, ToPanel, type HelperMessage, type HostSample, type SnapshotMessage } from '../../src/core/protocol.ts';
import { hostRecorded } from '../fixtures/host-recorded.ts';

function stream(): HelperMessage[] {
  return hostRecorded();
}

function snapshots(msgs: HelperMessage[]): Array<SnapshotMessage & { host: HostSample }> {
  return msgs.filter((m): m is SnapshotMessage & { host: HostSample } => m.type === 'snapshot' && m.host !== undefined);
}

function replay(msgs: HelperMessage[], opts: ConstructorParameters<typeof Aggregator>[0] = {}): Aggregator {
  const agg = new Aggregator({ now: () => 1.8e12, ...opts });
  for (const m of msgs) agg.ingest(m);
  return agg;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

test('the recorded fixture: real host samples in every snapshot, valid protocol', () => {
  const msgs = stream();
  const hello = msgs.find((m) => m.type === 'hello');
  assert.ok(hello && hello.type === 'hello');
  const snaps = msgs.filter((m) => m.type === 'snapshot');
  assert.ok(snaps.length >= 3, `${snaps.length} snapshots`);
  assert.equal(snapshots(msgs).length, snaps.length, 'every snapshot carries host counters');
  const s = snapshots(msgs);
  assert.ok(s.some((x) => x.host.ifaces.some((i) => i.name === 'lo')), 'the loopback interface is read');
  assert.equal(s[0]!.host.cpus.length, hello.ncpus, 'every CPU is read');
  assert.ok(s.some((x) => x.host.irqs.length > 0), 'IRQ lines are read');
  assert.ok(s.every((x) => x.host.cost_ns > 0), 'each sample says its cost');
});

test('every sample is kept with the interval of its snapshot: same t_ms as the stages, the same figures', () => {
  const msgs = stream();
  const agg = replay(msgs);
  const state = PanelState.parse(agg.panelState());
  const snaps = snapshots(msgs);
  assert.equal(state.series.length, snaps.length);
  state.series.forEach((p, k) => {
    const snap = snaps[k]!;
    assert.equal(p.t_ms, agg.wallMs(snap.mono_ns), 'the interval ends at the snapshot');
    const hc = p.host_counters;
    assert.ok(hc, `interval ${k} has its host figures`);
    assert.equal(hc.dur_ms, snap.interval_ns / 1e6);
    for (const i of snap.host.ifaces) {
      assert.equal(hc.v[rxPacketsKey(ifaceId(i))] ?? 0, i.stats.rx_packets ?? 0, `${i.name} rx_packets at interval ${k}`);
      const drops = (i.stats.rx_dropped ?? 0) + (i.stats.tx_dropped ?? 0) + (i.stats.rx_missed_errors ?? 0) + sum((i.qdiscs ?? []).map((q) => q.drops));
      assert.equal(hc.v[dropsKey(ifaceId(i))] ?? 0, drops, `${i.name} drops at interval ${k}`);
    }
    assert.equal(hc.v[HOST_TOTAL_KEYS.time_squeeze] ?? 0, sum(snap.host.cpus.map((c) => c.softnet.time_squeeze)));
    assert.equal(hc.v[HOST_TOTAL_KEYS.retrans] ?? 0, snap.host.snmp['Tcp.RetransSegs'] ?? 0);
    for (const c of snap.host.cpus) {
      const t = c.time_ns;
      const total = t.user + t.nice + t.system + t.irq + t.softirq + t.iowait + t.idle + t.steal;
      if (total > 0) assert.ok(Math.abs(hc.v[softirqShareKey(c.cpu)]! - t.softirq / total) < 1e-12, `CPU ${c.cpu} softirq share`);
    }
    for (const s of snap.host.sockets) assert.ok((hc.v[recvQKey(socketId(s))] ?? -1) >= s.recv_q, `Recv-Q of ${socketId(s)}`);
  });
});

test('session totals and mean rates are the sums of the deltas; the configuration is the latest sent', () => {
  const msgs = stream();
  const snaps = snapshots(msgs);
  const rep = replay(msgs).report();
  const h = rep.host_counters;
  assert.ok(h);
  const dur = sum(snaps.map((s) => s.interval_ns)) / 1e9;
  assert.equal(h.samples, snaps.length);
  assert.ok(Math.abs(h.duration_s - dur) < 1e-9);
  assert.equal(h.cost_ns.max, Math.max(...snaps.map((s) => s.host.cost_ns)));
  // interfaces: every statistic, driver counter and qdisc counter
  const ifaceNames = new Set(snaps.flatMap((s) => s.host.ifaces.map(ifaceId)));
  assert.deepEqual(new Set(h.ifaces.map((i) => i.id)), ifaceNames);
  for (const row of h.ifaces) {
    const samples = snaps.map((s) => s.host.ifaces.find((i) => ifaceId(i) === row.id)).filter((i) => i !== undefined);
    const names = new Set(samples.flatMap((i) => Object.keys(i.stats)));
    for (const k of names) {
      const want = sum(samples.map((i) => i.stats[k] ?? 0));
      assert.equal(row.stats[k] ?? 0, want, `${row.id} ${k}`);
    }
    for (const k of new Set(samples.flatMap((i) => Object.keys(i.driver ?? {})))) assert.equal(row.driver[k] ?? 0, sum(samples.map((i) => i.driver?.[k] ?? 0)), `${row.id} driver ${k}`);
    const order = Object.entries(row.driver).map(([k, v]) => [eventKindOf('driver', k) ? 1 : 0, v] as const);
    order.forEach((x, j) => j === 0 || assert.ok(order[j - 1]![0] > x[0] || (order[j - 1]![0] === x[0] && order[j - 1]![1] >= x[1]), `${row.id}: driver counters, drop counters first, then the largest`));
    for (const q of row.qdiscs) {
      const qs = samples.flatMap((i) => (i.qdiscs ?? []).filter((x) => x.kind === q.kind && x.handle === q.handle && x.parent === q.parent));
      assert.equal(q.drops, sum(qs.map((x) => x.drops)), `${row.id} qdisc ${q.kind} drops`);
      assert.equal(q.sent_packets, sum(qs.map((x) => x.sent_packets)));
      assert.equal(q.backlog_max_packets, Math.max(...qs.map((x) => x.backlog_packets)));
      assert.equal(q.backlog_packets, qs.at(-1)!.backlog_packets, 'the backlog as last seen');
    }
    assert.ok(Math.abs(row.rx_pps - (row.stats.rx_packets ?? 0) / dur) < 1e-9, 'the rate is the total over the time covered');
    const lastConfig = samples.map((i) => i.config).filter((c) => c !== undefined).at(-1);
    assert.deepEqual(row.config, lastConfig, `${row.id}: the latest configuration`);
  }
  // CPUs: softnet and softirq runs
  for (const c of h.cpus) {
    const cs = snaps.map((s) => s.host.cpus.find((x) => x.cpu === c.cpu)!);
    for (const f of ['processed', 'dropped', 'time_squeeze', 'received_rps', 'flow_limit'] as const) assert.equal(c.softnet[f], sum(cs.map((x) => x.softnet[f])), `CPU ${c.cpu} ${f}`);
    assert.equal(c.softirqs.NET_RX, sum(cs.map((x) => x.softirqs[3] ?? 0)), `CPU ${c.cpu} NET_RX runs`);
    const total = sum(cs.map((x) => sum(Object.values(x.time_ns))));
    assert.ok(Math.abs(c.time.idle - sum(cs.map((x) => x.time_ns.idle)) / total) < 1e-12, `CPU ${c.cpu} idle share`);
    assert.ok(Math.abs(sum(Object.values(c.time)) - 1) < 1e-9, 'the shares add up to the whole');
  }
  // IRQ lines: per-CPU counts; affinity as last sent
  for (const q of h.irqs) {
    const qs = snaps.flatMap((s) => s.host.irqs.filter((x) => x.irq === q.irq));
    q.counts.forEach((n, cpu) => assert.equal(n, sum(qs.map((x) => x.counts[cpu] ?? 0)), `IRQ ${q.irq} CPU ${cpu}`));
    assert.equal(q.total, sum(qs.flatMap((x) => x.counts)));
    const aff = qs.map((x) => x.affinity).filter((a) => a !== undefined).at(-1);
    assert.equal(q.affinity, aff, `IRQ ${q.irq} affinity`);
  }
  // protocol counters: the key ones always, every other one that moved
  for (const name of ['Tcp.RetransSegs', 'Udp.RcvbufErrors', 'TcpExt.ListenOverflows', 'Ip.InDiscards']) assert.ok(h.snmp.some((r) => r.name === name), `${name} is listed`);
  for (const r of h.snmp) assert.equal(r.total, sum(snaps.map((s) => s.host.snmp[r.name] ?? 0)), r.name);
  // sockets: the largest queues seen
  for (const s of h.sockets) {
    const seen = snaps.flatMap((x) => x.host.sockets.filter((y) => socketId(y) === s.id));
    assert.equal(s.recv_q_max, Math.max(...seen.map((y) => y.recv_q)));
    assert.equal(s.samples, seen.length);
  }
});

test('events: exactly the intervals in which a drop, time_squeeze, retransmit or overflow counter moved, with how much', () => {
  const msgs = stream();
  const snaps = snapshots(msgs);
  const agg = replay(msgs);
  const rep = agg.report();
  // The expected events, from the raw samples and the rule each counter falls under.
  const want = snaps.map((s) => {
    const moved = new Map<string, number>();
    const add = (name: string, d: number) => d > 0 && moved.set(name, (moved.get(name) ?? 0) + d);
    for (const i of s.host.ifaces) {
      for (const [k, v] of Object.entries(i.stats)) if (['rx_dropped', 'tx_dropped', 'rx_missed_errors', 'rx_fifo_errors', 'rx_over_errors', 'tx_fifo_errors'].includes(k)) add(`${ifaceId(i)} ${k}`, v);
      for (const [k, v] of Object.entries(i.driver ?? {})) if (/drop|discard|miss|no_?buf|fifo|overrun|alloc_fail|_full/i.test(k)) add(`${ifaceId(i)} driver ${k}`, v);
      for (const q of i.qdiscs ?? []) add(`${ifaceId(i)} qdisc ${q.kind} ${q.handle} drops`, q.drops);
    }
    for (const c of s.host.cpus) for (const f of ['dropped', 'time_squeeze', 'flow_limit'] as const) add(`CPU ${c.cpu} softnet ${f}`, c.softnet[f]);
    for (const [k, v] of Object.entries(s.host.snmp)) if (eventKindOf('snmp', k)) add(k, v);
    return { t_ms: agg.wallMs(s.mono_ns), moved };
  });
  const got = new Map(rep.host_counters!.events.map((e) => [e.t_ms, e]));
  for (const w of want) {
    const e = got.get(w.t_ms);
    // (socket drops are events too: the same socket's drop counter between consecutive samples)
    const counters = new Map((e?.counters ?? []).filter((c) => !c.counter.endsWith(' socket drops')).map((c) => [c.counter, c.delta]));
    assert.deepEqual(counters, w.moved, `interval ending ${w.t_ms}`);
  }
  // the panel's points carry the same events, so the markers sit on exactly these intervals
  const state = agg.panelState();
  const marked = state.series.filter((p) => p.host_counters!.events.length).map((p) => p.t_ms);
  assert.deepEqual(marked, rep.host_counters!.events.map((e) => e.t_ms));
});

test('the classification: which counters are drops, squeezes, retransmits and overflows', () => {
  const cases: Array<[Parameters<typeof eventKindOf>[0], string, string | undefined]> = [
    ['stats', 'rx_dropped', 'drop'],
    ['stats', 'rx_missed_errors', 'drop'],
    ['stats', 'rx_packets', undefined],
    ['stats', 'rx_errors', undefined],
    ['driver', 'rx_queue_0_drops', 'drop'],
    ['driver', 'rx_queue_0_xdp_drops', 'drop'],
    ['driver', 'rx_queue_0_packets', undefined],
    ['driver', 'tx_queue_0_kicks', undefined],
    ['qdisc', 'drops', 'drop'],
    ['softnet', 'time_squeeze', 'squeeze'],
    ['softnet', 'dropped', 'drop'],
    ['softnet', 'processed', undefined],
    ['snmp', 'Tcp.RetransSegs', 'retransmit'],
    ['snmp', 'TcpExt.TCPLostRetransmit', 'retransmit'],
    ['snmp', 'TcpExt.ListenOverflows', 'overflow'],
    ['snmp', 'TcpExt.ListenDrops', 'overflow'],
    ['snmp', 'TcpExt.TCPBacklogDrop', 'overflow'],
    ['snmp', 'TcpExt.TCPOFODrop', 'drop'],
    ['snmp', 'Udp.RcvbufErrors', 'overflow'],
    ['snmp', 'Udp6.RcvbufErrors', 'overflow'],
    ['snmp', 'Udp.InCsumErrors', 'drop'],
    ['snmp', 'Udp.NoPorts', undefined],
    ['snmp', 'Ip.InDiscards', 'drop'],
    ['snmp', 'Tcp.OutSegs', undefined],
    ['snmp', 'Tcp.CurrEstab', undefined],
  ];
  for (const [src, name, kind] of cases) assert.equal(eventKindOf(src, name), kind, `${src} ${name}`);
});

test('compaction merges the host figures with the stages: totals, events and shares survive', () => {
  const msgs = stream();
  const full = replay(msgs);
  const small = replay(msgs, { maxIntervals: 4, fullResolutionMs: 0 });
  assert.ok(small.intervalCount() <= 4);
  const fs = full.panelState().series;
  const ss = small.panelState().series;
  const total = (series: typeof fs, key: string) => sum(series.map((p) => p.host_counters?.v[key] ?? 0));
  for (const key of new Set(fs.flatMap((p) => Object.keys(p.host_counters!.v)))) {
    if (key.startsWith('softirq:') || key.startsWith('recv_q:')) continue;
    assert.equal(total(ss, key), total(fs, key), `${key} sums the same after compaction`);
  }
  const events = (series: typeof fs) => {
    const m = new Map<string, number>();
    for (const p of series) for (const e of p.host_counters!.events) m.set(e.counter, (m.get(e.counter) ?? 0) + e.delta);
    return m;
  };
  assert.deepEqual(events(ss), events(fs));
  // a merged interval's queue is the largest of its parts; its share is over its whole time
  for (const key of new Set(fs.flatMap((p) => Object.keys(p.host_counters!.v).filter((k) => k.startsWith('recv_q:'))))) {
    assert.equal(Math.max(...ss.map((p) => p.host_counters!.v[key] ?? 0)), Math.max(...fs.map((p) => p.host_counters!.v[key] ?? 0)));
  }
  for (const p of ss) assert.ok(p.t_ms === fs.find((q) => q.t_ms === p.t_ms)?.t_ms, 'a merged interval ends where its last part ends');
  // and the session tables do not change at all
  assert.deepEqual(small.report().host_counters?.ifaces, full.report().host_counters?.ifaces);
});

test('the tables are bounded: interfaces, IRQ lines and sockets beyond the limits are counted, not kept', () => {
  const msgs = stream();
  const base = snapshots(msgs)[0]!.host;
  const acc = new HostAccumulator();
  const lo = base.ifaces[0]!;
  const sock = base.sockets[0] ?? { proto: 'udp' as const, family: 'ipv4' as const, state: 'UNCONN', local: '127.0.0.1:1', remote: '*:*', recv_q: 1, send_q: 0, inode: 1, uid: 0, netns: 0, procs: [] };
  const n = HOST_LIMITS.ifaces + 10;
  const many: HostSample = {
    ...base,
    ifaces: Array.from({ length: n }, (_, k) => ({ ...lo, name: `veth${k}`, ifindex: 100 + k })),
    sockets: Array.from({ length: HOST_LIMITS.sockets + 5 }, (_, k) => ({ ...sock, local: `127.0.0.1:${10000 + k}`, recv_q: 1 })),
  };
  acc.ingest(many, 1e9);
  let t = acc.tables();
  assert.equal(t.ifaces.length, HOST_LIMITS.ifaces);
  assert.equal(t.sockets.length, HOST_LIMITS.sockets);
  assert.equal(t.overflow, 10 + 5);
  // later samples with other interfaces: the ones not seen for longest make room
  acc.ingest({ ...base, ifaces: [{ ...lo, name: 'new0', ifindex: 9999 }], sockets: [] }, 1e9);
  t = acc.tables();
  assert.equal(t.ifaces.length, HOST_LIMITS.ifaces);
  assert.ok(t.ifaces.some((i) => i.name === 'new0'));
});

test('a delta after compaction resyncs; host tables ride in deltas only when host counters arrived', () => {
  const msgs = stream();
  const agg = new Aggregator({ now: () => 1.8e12 });
  const snaps = msgs.filter((m) => m.type === 'snapshot');
  const before = msgs.slice(0, msgs.indexOf(snaps[1]!));
  for (const m of before) agg.ingest(m);
  agg.panelState();
  agg.ingest(snaps[1]!);
  const d = ToPanel.parse(agg.panelDelta());
  assert.ok(d.type === 'delta' && d.host_counters && d.points[0]!.host_counters, 'a snapshot with host counters: its point and the tables');
  agg.ingest({ type: 'log', level: 'info', message: 'x' });
  const d2 = agg.panelDelta();
  assert.equal(d2.host_counters, undefined, 'nothing new: no tables');
});

test('the filter names the sockets and the namespace the host counters list', () => {
  assert.deepEqual(hostOptionsOf(parseFilter('udp and lport 5000 and pid 4321')), { ports: [5000], pids: [4321] });
  assert.deepEqual(hostOptionsOf(parseFilter('tcp and sport 80 and dport 4000')), { ports: [80, 4000] });
  assert.deepEqual(hostOptionsOf(parseFilter('port 5201')), { ports: [5201] });
  assert.deepEqual(hostOptionsOf(parseFilter('netns 4026532890')), { netns: [4026532890] });
  assert.equal(hostOptionsOf(parseFilter('netns 4026531840'), 4026531840), undefined, 'the helper\'s own namespace is read anyway');
  assert.equal(hostOptionsOf(parseFilter('tcp and dev lo')), undefined);
  assert.equal(hostOptionsOf({}), undefined);
});

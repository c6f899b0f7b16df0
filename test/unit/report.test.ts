import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../src/core/aggregate.ts';
import { fromValues } from '../../src/core/hist.ts';
import { REPORT_SCHEMA, ReportDocument, formatLog2Hist, formatTable, toJsonDocument } from '../../src/core/report.ts';
import { LOSS_COUNTERS, formatPercent, type HelperMessage } from '../../src/core/protocol.ts';
import { captured, threadedIrqStream } from '../fixtures/captured.ts';
import { makeStream } from '../fixtures/stream.ts';
import { recorded } from '../fixtures/recorded.ts';

function fixtureReport() {
  const agg = new Aggregator({ host: 'lab1' });
  for (const m of makeStream()) agg.ingest(m);
  return agg.report();
}

test('formatLog2Hist prints bcc-style rows with a 40-star bar for the peak', () => {
  const b = fromValues([0, 1, 2, 3, 3, 3, 3, 100, 100]);
  const lines = formatLog2Hist(b);
  assert.deepEqual(lines, [
    '     nsecs               : count    distribution',
    '         0 -> 0          : 1        |********                                |',
    '         1 -> 1          : 1        |********                                |',
    '         2 -> 3          : 5        |****************************************|',
    '         4 -> 7          : 0        |                                        |',
    '         8 -> 15         : 0        |                                        |',
    '        16 -> 31         : 0        |                                        |',
    '        32 -> 63         : 0        |                                        |',
    '        64 -> 127        : 2        |****************                        |',
  ]);
  // rows start at the lowest nonempty power of two; the sub-buckets of each are summed exactly
  const top = formatLog2Hist(fromValues([5000, 3e9]), 'ns', { stars: 20 });
  assert.match(top[1]!, /^ {6}4096 -> 8191 {7}: 1 {8}\|\*{20}\|$/);
  assert.match(top[top.length - 1]!, /^2147483648 -> 4294967295 : 1 +\|\*{20}\|$/);
  const fine = fromValues([4096, 4600, 5000, 6000, 7000, 8191, 8192]);
  assert.deepEqual(formatLog2Hist(fine, 'ns', { stars: 10 }).slice(1), [
    '      4096 -> 8191       : 6        |**********|',
    '      8192 -> 16383      : 1        |*         |',
  ]);
  // the highest row holds the open-ended last bucket (≥ 15·2^30 ns)
  const open = formatLog2Hist(fromValues([2e10, 1e12]), 'ns', { stars: 10 });
  assert.deepEqual(open.slice(1), ['8589934592 -> inf        : 2        |**********|']);
  assert.deepEqual(formatLog2Hist(fromValues([])), ['     nsecs               : count    distribution']);
  assert.equal(formatLog2Hist(fromValues([3]), 'packets')[0], '     packets             : count    distribution');
});

test('formatTable: per-layer percentile table RX then TX, skipped boundaries, IRQ tables, loss', () => {
  const rep = fixtureReport();
  const text = formatTable(rep, { width: 120, histograms: true });
  assert.ok(!formatTable(rep, { width: 120 }).includes('Histograms (log2)'), 'log2 histograms only on request');
  const at = (s: string): number => {
    const i = text.indexOf(s);
    assert.ok(i >= 0, `missing ${JSON.stringify(s)}`);
    return i;
  };
  assert.ok(at(`nslat on lab1 — kernel ${rep.kernel} — 30.0 s — 30 snapshots (1 lost)`) === 0);
  const rx = at('\nRX per stage\n');
  const rxCum = at('\nRX cumulative');
  const tx = at('\nTX per stage\n');
  const hard = at('\nHard IRQ handler time (per line and CPU)\n');
  const soft = at('\nSoftirq: raise → run delay and run time (per vector and CPU)\n');
  const napi = at('\nNAPI poll work vs budget (64 packets per poll)\n');
  const hist = at('\nHistograms (log2)\n');
  const loss = at(`\nLoss  (measurements nslat lost: ${rep.loss.reduce((a, l) => a + l.total, 0)})\n`);
  const activity = at('\nActivity  (work the probes counted; not losses)\n');
  const drops = at('\nKernel drops');
  assert.ok(rx < rxCum && rxCum < tx && tx < hard && hard < soft && soft < napi && napi < hist && hist < loss && loss < activity && activity < drops);

  const rxTable = text.slice(rx, rxCum).split('\n').filter(Boolean);
  assert.match(rxTable[1]!, /^ {2}stage +packets +p50 +p90 +p99 +max +fed by$/);
  const names = rxTable.slice(2).map((l) => l.trim().split(/\s{2,}/)[0]);
  assert.deepEqual(names, [
    'netif_rx → netif_receive_skb',
    'netif_receive_skb → ip_rcv',
    'ip_rcv → ip_local_deliver',
    'ip_local_deliver → l4_rcv',
    'ip_local_deliver → sock_enqueue',
    'l4_rcv → sock_enqueue',
    'sock_enqueue → app_read',
  ]);
  const first = rep.stages[0]!;
  assert.match(rxTable[2]!, new RegExp(`netif_rx → netif_receive_skb +${first.count} +\\d.* tp_btf$`));
  assert.match(rxTable[3]!, /netif_receive_skb → ip_rcv .* netfilter$/);
  // a boundary nothing feeds sits in boundary order with its reason, shortened (errno details and
  // "on this kernel" dropped); JSON keeps it whole
  const txTable = text.slice(tx).split('\n').filter(Boolean);
  assert.match(txTable[2]!, /^ {2}\(ip_output\) +skipped: fentry not permitted; kprobes absent$/);
  assert.match(txTable[3]!, /^ {2}sendmsg → net_dev_queue /);

  // IRQ: totals and per CPU
  const line = rep.stages.find((s) => s.kind === 'hardirq' && !s.total_over_cpus)!; // as recorded
  assert.match(text, new RegExp(`\\n {2}${line.name} +all +${rep.stages.find((s) => s.key === line.key.replace(/:cpu\d+$/, ''))!.count} `));
  assert.match(text, new RegExp(`\\n {2}${line.name} +${line.cpu} +${line.count} `));
  assert.match(text, /NET_RX \(3\) +0 +\d+ +[\d.]+ [nu]s/);
  assert.match(text, /napi_work +all +\d+ .* \d+\.\d%/);

  // histograms are bcc-style and per stage (not per CPU)
  assert.match(text, /rx netif_rx → netif_receive_skb: \d+ packets, p50 .* p99 /);
  assert.match(text, / +nsecs +: count +distribution\n +\d+ -> \d+ +: \d+ +\|[* ]{40}\|/);
  assert.doesNotMatch(text, /hardirq 24 virtio0-input\.0 \[hardirq\]: /, 'per-CPU series get no separate histogram');

  // loss: every loss counter and lost snapshots, each as a share of what it applies to; activity
  // and kernel drops apart
  const lossText = text.slice(loss, activity);
  const started = rep.activity.started!.total;
  const hardIrqs = rep.loss.find((l) => l.name === 'irq_out_of_range')!.of;
  assert.equal(hardIrqs, rep.stages.filter((s) => s.kind === 'hardirq' && s.total_over_cpus).reduce((a, s) => a + s.count, 0));
  assert.ok(started > 10_000 && started < 100_000, `started ${started}`);
  const k = `${(started / 1000).toFixed(1).replace(/\.0$/, '')} k`;
  assert.match(lossText, new RegExp(`\\n {2}ringbuf drop +6 +${formatPercent(6 / started).replace('.', '\\.')} of ${k.replace('.', '\\.')} started packets +journeys not sent`));
  assert.match(lossText, new RegExp(`\\n {2}irq out of range +0 +0 % of ${hardIrqs} hard IRQs`));
  assert.match(lossText, /\n {2}lost snapshots +1 +3\.23 % of 31 snapshots/);
  for (const name of ['map full', 'stale', 'udp unpaired', 'evicted']) assert.match(lossText, new RegExp(`\\n {2}${name} +0 +0 % of ${k.replace('.', '\\.')} started packets`));
  assert.doesNotMatch(lossText, /\n {2}(?:started|finished|sampled|filtered|sendmsg|napi_polls|NO_SOCKET) /, 'activity rows are not in the Loss table');
  const activityText = text.slice(activity, drops);
  assert.match(activityText, new RegExp(`\\n {2}started +${started} +${(started / 30).toFixed(2).replace('.', '\\.')}\\n`));
  for (const k of ['finished', 'sampled', 'filtered', 'sendmsg', 'napi_polls', 'coalesced']) assert.match(activityText, new RegExp(`\\n {2}${k} +\\d+`));
  assert.doesNotMatch(activityText, /ringbuf_drop|map_full|stale|evicted|udp_unpaired/);
  assert.match(text.slice(drops), /\n {2}NO_SOCKET +\d+/);
  assert.ok(text.includes(`\nReloads\n  ${new Date(rep.started_ms! + 12_200).toISOString()}  rx  ok`), 'the reload 12.2 s in');
  assert.match(text, /handle_netif_rx +rx +tp_btf +\d+ +\d+ +attached/);
  assert.doesNotMatch(text, /--bpf-stats/);

  // without bpf_stats: no column of zero runs, and a hint instead
  const noStats = { ...rep, programs: rep.programs.map((p) => ({ ...p, runs: 0, ns_per_run: 0 })) };
  const t2 = formatTable(noStats, { width: 120 });
  assert.match(t2, /\nPrograms {2}\(runs and ns\/run: trace with --bpf-stats\)\n/);
  assert.match(t2, /handle_netif_rx +rx +tp_btf +- +- +attached/);
});

test('a clean loopback session from the real helper: Loss reads none and every loss 0 %, activity apart', () => {
  const agg = new Aggregator({ host: 'lab1' });
  for (const m of recorded()) agg.ingest(m);
  const rep = agg.report();
  const text = formatTable(rep, { width: 140 });
  const loss = text.indexOf('\nLoss  (measurements nslat lost: none)\n');
  const activity = text.indexOf('\nActivity  (work the probes counted; not losses)\n');
  assert.ok(loss > 0 && activity > loss, 'a Loss section reading none, then Activity');
  const lossRows = text.slice(loss, activity).split('\n').filter((l) => /^ {2}[a-z]/.test(l) && !l.startsWith('  loss ') && !l.startsWith('  shares of'));
  assert.deepEqual(lossRows.map((l) => l.trim().split(/\s{2,}/)[0]), [...LOSS_COUNTERS, 'lost_snapshots'].map((n) => n.replace(/_/g, ' ')));
  for (const l of lossRows) assert.match(l, /^ {2}[a-z ]+? +0 +0 % of [\d.]+(?: [kM])? (started packets|hard IRQs|snapshots) /, l);
  const started = rep.activity.started!.total;
  assert.ok(started > 0);
  assert.match(text.slice(activity), new RegExp(`\\n {2}started +${started} `));
  const doc = toJsonDocument(rep);
  assert.deepEqual(Object.values(doc.loss.counters).map((l) => l.total), LOSS_COUNTERS.map(() => 0));
  assert.equal(doc.loss.counters.ringbuf_drop!.of, started);
  assert.deepEqual(doc.loss.lost_snapshots, { total: 0, of: rep.snapshots, base: 'snapshots', share: 0 });
  assert.equal(doc.activity.started, started);
});

test('formatTable respects the width and colours only on request', () => {
  const rep = fixtureReport();
  for (const width of [80, 100, 160]) {
    const lines = formatTable(rep, { width }).split('\n');
    const long = lines.slice(1).filter((l) => [...l].length > width);
    assert.deepEqual(long, [], `width ${width}`);
  }
  assert.doesNotMatch(formatTable(rep), /\u001b\[/);
  assert.match(formatTable(rep, { color: true }), /\u001b\[1mRX per stage\u001b\[0m/);
  assert.doesNotMatch(formatTable(rep, { histograms: false }), /nsecs/);
});

test('toJsonDocument: one document that validates against the exported schema', () => {
  const rep = fixtureReport();
  const doc = toJsonDocument(rep);
  const round = JSON.parse(JSON.stringify(doc));
  const r = ReportDocument.safeParse(round);
  assert.ok(r.success, JSON.stringify(r.error?.issues.slice(0, 3)));
  assert.equal(doc.schema, REPORT_SCHEMA);
  assert.equal(doc.host, 'lab1');
  assert.equal(doc.started, new Date(rep.started_ms!).toISOString());

  const rx = doc.stages.filter((s) => s.dir === 'rx' && (s.kind === 'stage' || s.kind === 'boundary'));
  assert.deepEqual(rx.map((s) => s.name).slice(0, 3), ['netif_rx→netif_receive_skb', 'netif_receive_skb→ip_rcv', 'ip_rcv→ip_local_deliver']);
  const tx = doc.stages.filter((s) => s.dir === 'tx' && (s.kind === 'stage' || s.kind === 'boundary'));
  assert.deepEqual(tx.slice(0, 2).map((s) => s.name), ['ip_output', 'sendmsg→net_dev_queue'], 'a boundary nothing feeds, in boundary order');
  assert.ok(tx.slice(1).every((s) => s.kind === 'boundary' || s.name.includes('→')));
  const skipped = tx[0]!;
  assert.equal(skipped.attach, null);
  assert.match(skipped.skip_reason!, /EPERM/);
  assert.equal(skipped.count, 0);
  assert.equal(skipped.p50, null);
  const s0 = rx[0]!;
  const r0 = rep.stages[0]!;
  assert.deepEqual([s0.count, s0.p50, s0.p90, s0.p99, s0.max, s0.attach], [r0.count, r0.p50, r0.p90, r0.p99, r0.max, 'tp_btf']);
  assert.equal(s0.unit, 'ns');
  // directions in order: rx…, tx…, irq…
  const dirs = doc.stages.map((s) => s.dir);
  assert.deepEqual(dirs, [...dirs].sort((a, b) => ['rx', 'tx', 'irq'].indexOf(a) - ['rx', 'tx', 'irq'].indexOf(b)));
  assert.ok(doc.stages.some((s) => s.dir === 'irq' && s.cpu === 1 && s.kind === 'softirq_delay'));
  assert.equal(doc.stages.find((s) => s.kind === 'napi_work')!.unit, 'packets');
  // loss: the loss counters only, each with what it is a share of; activity and drops apart
  assert.deepEqual(Object.keys(doc.loss.counters), [...LOSS_COUNTERS]);
  const started = doc.activity.started!;
  assert.deepEqual(doc.loss.counters.ringbuf_drop, { total: 6, of: started, base: 'started_packets', share: 6 / started });
  assert.equal(doc.loss.counters.irq_out_of_range!.base, 'hard_irqs');
  assert.deepEqual(doc.loss.lost_snapshots, { total: 1, of: 31, base: 'snapshots', share: 1 / 31 });
  assert.ok(!('started' in doc.loss.counters) && !('ringbuf_drop' in doc.activity));
  assert.ok(doc.activity.finished! > 0 && doc.activity.sampled! > 0);
  assert.ok(doc.drops.NO_SOCKET! > 0);

  // the schema is strict: it catches drift
  assert.equal(ReportDocument.safeParse({ ...round, extra: 1 }).success, false);
  assert.equal(ReportDocument.safeParse({ ...round, stages: [{ ...round.stages[0], p50: 'fast' }] }).success, false);
  assert.equal(ReportDocument.safeParse({ ...round, stages: [{ ...round.stages[0], dir: 'up' }] }).success, false);
});

test('an empty session still renders and validates', () => {
  const rep = new Aggregator().report();
  const text = formatTable(rep);
  assert.match(text, /^nslat on local — 0\.0 s — 0 snapshots/);
  assert.match(text, /lost snapshots +0/);
  const doc = toJsonDocument(rep);
  assert.ok(ReportDocument.safeParse(doc).success);
  assert.deepEqual(doc.stages, []);
  assert.equal(doc.kernel, null);
});

// ---------------------------------------------------------------- what fed each boundary (real helper output)

function reportOf(messages: HelperMessage[]) {
  const agg = new Aggregator({ host: 'lab6' });
  for (const m of messages) agg.ingest(m);
  return agg.report();
}

test('table and JSON: which mechanism fed each stage (netfilter for ip_rcv and ip_local_deliver here)', () => {
  const rep = reportOf(captured('helper-6.18-netfilter'));
  const text = formatTable(rep, { width: 120, histograms: false });
  const rx = text.slice(text.indexOf('\nRX per stage\n'), text.indexOf('\nRX cumulative'));
  assert.match(rx, /\n {2}stage +packets +p50 +p90 +p99 +max +fed by\n/);
  assert.match(rx, /\n {2}netif_rx → netif_receive_skb +\d+ .* tp_btf\n/);
  assert.match(rx, /\n {2}netif_receive_skb → ip_rcv +\d+ .* netfilter\n/);
  assert.match(rx, /\n {2}ip_rcv → ip_local_deliver +\d+ .* netfilter\n/);
  assert.doesNotMatch(rx, /skipped/);
  const tx = text.slice(text.indexOf('\nTX per stage\n'), text.indexOf('\nTX cumulative'));
  // a stage says what fed the boundary it ends at
  assert.match(tx, /\n {2}sendmsg → net_dev_queue +\d+ .* tp_btf\n/);
  assert.match(tx, /\n {2}\(ip_output\) +skipped: fentry not permitted; kprobes absent\n/);

  const doc = toJsonDocument(rep);
  assert.ok(ReportDocument.safeParse(JSON.parse(JSON.stringify(doc))).success);
  const st = doc.stages.find((s) => s.kind === 'stage' && s.to === 'ip_rcv')!;
  assert.equal(st.mechanism, 'netfilter');
  assert.deepEqual(st.feeds.map((f) => [f.program, f.attach, f.target, f.netns]), [
    ['ip_rcv__netfilter_v4', 'netfilter', 'ipv4/pre_routing', [0]],
    ['ip_rcv__netfilter_v6', 'netfilter', 'ipv6/pre_routing', [0]],
  ]);
  const ipLocal = doc.boundaries.find((b) => b.name === 'ip_local_deliver')!;
  assert.deepEqual([ipLocal.slot, ipLocal.dir, ipLocal.active, ipLocal.mechanism, ipLocal.reason], ['rx', 'rx', true, 'netfilter', null]);
  const out = doc.boundaries.find((b) => b.name === 'ip_output')!;
  assert.equal(out.active, false);
  assert.equal(out.mechanism, null);
  assert.match(out.reason!, /^ip_output__fentry_v4: fentry not permitted on this kernel \(EPERM at load\); /);
  assert.deepEqual(doc.groups.map((g) => [g.slot, g.name, g.active]), [['rx', 'coalesced', false], ['irq', 'irq_thread', false]]);
  assert.deepEqual(doc.features, { arch: 'x86_64', preempt_rt: false, irq_threads: false, netfilter: true });
});

test('a boundary nothing feeds: the table says why in short, the JSON document completely', () => {
  const rep = reportOf(captured('helper-6.18-no-netfilter'));
  const text = formatTable(rep, { width: 160, histograms: false });
  assert.match(text, /\n {2}\(ip_rcv\) +skipped: fentry not permitted; kprobes absent; netfilter hooks turned off \(--no-netfilter\)\n/);
  assert.match(text, /\n {2}\(ip_local_deliver\) +skipped: fentry not permitted; kprobes absent; netfilter hooks turned off \(--no-netfilter\)\n/);
  // the packets go from netif_receive_skb straight to L4
  assert.match(text, /\n {2}netif_receive_skb → l4_rcv +\d+ .* tp_btf\n/);
  // narrow: the reason wraps under itself instead of being cut
  const narrow = formatTable(rep, { width: 80, histograms: false }).split('\n');
  const at = narrow.findIndex((l) => l.startsWith('  (ip_rcv)'));
  assert.ok(at > 0);
  assert.match(`${narrow[at]} ${narrow[at + 1]!.trim()}`, /skipped: fentry not permitted; kprobes absent; netfilter hooks turned off \(--no-netfilter\)$/);
  assert.deepEqual(narrow.filter((l) => [...l].length > 80).slice(1), []);

  const doc = toJsonDocument(rep);
  const ip = doc.stages.find((s) => s.kind === 'boundary' && s.name === 'ip_rcv')!;
  assert.equal(ip.mechanism, null);
  assert.deepEqual(ip.feeds, []);
  assert.match(ip.skip_reason!, /ip_rcv__kprobe_v6: kprobes absent on this kernel \(ENOENT at attach: no kprobe PMU or kprobe_events\); ip_rcv__netfilter_v4: netfilter hooks turned off \(--no-netfilter\)/);
  assert.equal(doc.features.netfilter, false);
});

test('IRQ thread wake-up section: per line and CPU, wake-up and run time, between hard IRQ and softirq', () => {
  const rep = reportOf(threadedIrqStream(true));
  const text = formatTable(rep, { width: 120, histograms: false });
  const title = '\nIRQ thread wake-up (threaded IRQs): hard IRQ → handler thread runs, per line and CPU\n';
  const hard = text.indexOf('\nHard IRQ handler time (per line and CPU)\n');
  const thr = text.indexOf(title);
  const soft = text.indexOf('\nSoftirq: raise → run delay');
  assert.ok(hard >= 0 && hard < thr && thr < soft, text);
  const lines = text.slice(thr + title.length, soft).split('\n').filter(Boolean);
  assert.match(lines[0]!, /^ {2}line +cpu +wakeups +wake p50 +p99 +max +runs +run p50 +p99 +max$/);
  // total over CPUs first: 3 snapshots × (4 + 2) wake-ups and runs
  assert.match(lines[1]!, /^ {2}irq_thread 24 virtio0-input\.0 +all +18 +[\d.]+ [nuµ]s +[\d.]+ [nuµ]s +[\d.]+ [nuµ]s +18 +[\d.]+ [nuµ]s/);
  assert.match(lines[2]!, /^ {2}irq_thread 24 virtio0-input\.0 +0 +12 +/);
  assert.match(lines[3]!, /^ {2}irq_thread 24 virtio0-input\.0 +1 +6 +/);
  assert.equal(lines[4], '  fed by fentry+fexit');
  assert.doesNotMatch(text, /Other IRQ series/, 'the new kinds are not "other"');
  // p50 of CPU 1's wake-ups (20-21 µs) is above CPU 0's (about 11 µs)
  const p50 = (cpu: number) => rep.stages.find((s) => s.kind === 'irq_thread_latency' && s.cpu === cpu)!.p50;
  assert.ok(p50(1) > p50(0) && p50(0) > 8_000 && p50(1) < 33_000, `${p50(0)} ${p50(1)}`);
  // too narrow for one table: wake-up, then run time
  const narrow = formatTable(rep, { width: 80, histograms: false });
  assert.match(narrow, /\n {2}line +cpu +wakeups +wake p50 +p99 +max\n/);
  assert.match(narrow, /\n {2}line +cpu +runs +run p50 +p99 +max\n/);
  assert.deepEqual(narrow.split('\n').slice(1).filter((l) => [...l].length > 80), []);

  const doc = toJsonDocument(rep);
  const kinds = doc.stages.filter((s) => s.dir === 'irq').map((s) => s.kind);
  assert.ok(kinds.indexOf('hardirq') < kinds.indexOf('irq_thread_latency') && kinds.indexOf('irq_thread_time') < kinds.indexOf('softirq_delay'), kinds.join());
  const lat = doc.stages.find((s) => s.kind === 'irq_thread_latency' && s.total_over_cpus)!;
  assert.deepEqual([lat.irq, lat.count, lat.unit, lat.mechanism], [24, 18, 'ns', 'fentry+fexit']);
  assert.deepEqual(doc.features, { arch: 'x86_64', preempt_rt: true, irq_threads: true, netfilter: true });
});

test('IRQ thread section without data: nothing threaded here, or why it is not measured', () => {
  const plain = formatTable(reportOf(captured('helper-6.18-netfilter')), { width: 100, histograms: false });
  assert.match(plain, /\nIRQ thread wake-up \(threaded IRQs\): hard IRQ → handler thread runs, per line and CPU\n {2}nothing is threaded here \(no PREEMPT_RT, no threadirqs\): handlers run in hard IRQ context\n/);
  const unfed = formatTable(reportOf(threadedIrqStream(false)), { width: 100, histograms: false });
  assert.match(unfed, /handler thread runs, per line and CPU\n {2}not measured: fentry not permitted; tracepoint sched_switch not found\n/);
  // no IRQ probes traced: no section at all
  const rxOnly = captured('helper-6.18-netfilter').filter((m) => !(m.type === 'loaded' && m.slot === 'irq') && m.type !== 'snapshot');
  assert.doesNotMatch(formatTable(reportOf(rxOnly)), /IRQ thread wake-up/);
});

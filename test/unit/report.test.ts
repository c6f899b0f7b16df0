import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../src/core/aggregate.ts';
import { fromValues } from '../../src/core/hist.ts';
import { REPORT_SCHEMA, ReportDocument, formatLog2Hist, formatTable, toJsonDocument } from '../../src/core/report.ts';
import { makeStream } from '../fixtures/stream.ts';

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
  // rows start at the lowest nonempty bucket; the last bucket is open-ended
  const top = formatLog2Hist(fromValues([5000, 3e9]), 'ns', { stars: 20 });
  assert.match(top[1]!, /^ {6}4096 -> 8191 {7}: 1 {8}\|\*{20}\|$/);
  assert.match(top[top.length - 1]!, /1073741824 -> inf +: 1 +\|\*{20}\|/);
  assert.deepEqual(formatLog2Hist(fromValues([])), ['     nsecs               : count    distribution']);
  assert.equal(formatLog2Hist(fromValues([3]), 'packets')[0], '     packets             : count    distribution');
});

test('formatTable: per-layer percentile table RX then TX, skipped boundaries, IRQ tables, loss', () => {
  const rep = fixtureReport();
  const text = formatTable(rep, { width: 120 });
  const at = (s: string): number => {
    const i = text.indexOf(s);
    assert.ok(i >= 0, `missing ${JSON.stringify(s)}`);
    return i;
  };
  assert.ok(at('nslat on lab1 — kernel 6.12.48+deb13-amd64 — 30.0 s — 30 snapshots (1 lost)') === 0);
  const rx = at('\nRX per stage\n');
  const rxCum = at('\nRX cumulative');
  const tx = at('\nTX per stage\n');
  const hard = at('\nHard IRQ handler time (per line and CPU)\n');
  const soft = at('\nSoftirq: raise → run delay and run time (per vector and CPU)\n');
  const napi = at('\nNAPI poll work vs budget (64 packets per poll)\n');
  const hist = at('\nHistograms (log2)\n');
  const loss = at('\nLoss\n');
  assert.ok(rx < rxCum && rxCum < tx && tx < hard && hard < soft && soft < napi && napi < hist && hist < loss);

  const rxTable = text.slice(rx, rxCum).split('\n').filter(Boolean);
  assert.match(rxTable[1]!, /^ {2}stage +packets +p50 +p90 +p99 +max +attach$/);
  const names = rxTable.slice(2).map((l) => l.trim().split(/\s{2,}/)[0]);
  assert.deepEqual(names, ['netif_rx → netif_receive_skb', '(ip_rcv)', '(ip_local_deliver)', 'netif_receive_skb → tcp_probe', 'tcp_probe → skb_copy_datagram_iovec']);
  const first = rep.stages[0]!;
  assert.match(rxTable[2]!, new RegExp(`netif_rx → netif_receive_skb +${first.count} +\\d`));
  assert.match(rxTable[3]!, /skipped: kprobe not available and f/);
  assert.match(formatTable(rep, { width: 200 }), /\(ip_rcv\) .* skipped: kprobe not available and fentry not permitted on this kernel \(EPERM\)\n/);
  assert.match(text, /\(qdisc_dequeue\) .* skipped: no qdisc on this path/);

  // IRQ: totals and per CPU
  assert.match(text, /hardirq 24 virtio0-input\.0 +all +\d+/);
  assert.match(text, /hardirq 24 virtio0-input\.0 +1 +\d+/);
  assert.match(text, /NET_RX \(3\) +0 +\d+ +[\d.]+ [nu]s/);
  assert.match(text, /napi virtio0 +all +\d+ .* \d+\.\d%/);

  // histograms are bcc-style and per stage (not per CPU)
  assert.match(text, /rx netif_rx → netif_receive_skb: \d+ packets, p50 .* p99 /);
  assert.match(text, / +nsecs +: count +distribution\n +\d+ -> \d+ +: \d+ +\|[* ]{40}\|/);
  assert.doesNotMatch(text, /hardirq 24 virtio0-input\.0 \[hardirq\]: /, 'per-CPU series get no separate histogram');

  // loss counters
  assert.match(text.slice(loss), /ringbuf_drop +6 +0\.20\/s/);
  assert.match(text.slice(loss), /NO_SOCKET +\d+/);
  assert.match(text.slice(loss), /lost snapshots +1/);
  assert.match(text, /\nReloads\n {2}2026-11-25T18:00:12\.200Z {2}rx {2}ok/);
  assert.match(text, /handle_netif_rx +rx +tp_btf +\d+ +\d+ +attached/);
  assert.doesNotMatch(text, /--bpf-stats/);

  // without bpf_stats: no column of zero runs, and a hint instead
  const noStats = { ...rep, programs: rep.programs.map((p) => ({ ...p, runs: 0, ns_per_run: 0 })) };
  const t2 = formatTable(noStats, { width: 120 });
  assert.match(t2, /\nPrograms {2}\(runs and ns\/run: trace with --bpf-stats\)\n/);
  assert.match(t2, /handle_netif_rx +rx +tp_btf +- +- +attached/);
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
  assert.equal(doc.started, '2026-11-25T18:00:00.000Z');

  const rx = doc.stages.filter((s) => s.dir === 'rx' && (s.kind === 'stage' || s.kind === 'boundary'));
  assert.deepEqual(rx.map((s) => s.name), ['netif_rx→netif_receive_skb', 'ip_rcv', 'ip_local_deliver', 'netif_receive_skb→tcp_probe', 'tcp_probe→skb_copy_datagram_iovec']);
  const skipped = rx[1]!;
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
  assert.equal(doc.loss.counters.ringbuf_drop, 6);
  assert.equal(doc.loss.lost_snapshots, 1);
  assert.ok(doc.loss.drops.NO_SOCKET! > 0);

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

/**
 * The Host section of the report on the stream recorded from the real helper
 * (test/fixtures/helper-host.jsonl): the text table as the standard tools show the counters, the
 * JSON document, and `nslat replay` of a JSON Lines trace showing the same section as the live
 * session did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aggregator } from '../../src/core/aggregate.ts';
import { TraceWriter, readTrace } from '../../src/core/export/jsonl.ts';
import { formatBytes, formatClock, formatCount, formatNs, formatRate } from '../../src/core/format.ts';
import { ReportDocument, formatTable, toJsonDocument } from '../../src/core/report.ts';
import type { HelperMessage } from '../../src/core/protocol.ts';
import { hostRecorded } from '../fixtures/host-recorded.ts';

const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;

function live(msgs: HelperMessage[]): Aggregator {
  const agg = new Aggregator({ host: 'recorded', now: () => 1.8e12 });
  for (const m of msgs) agg.ingest(m);
  return agg;
}

/** The Host section of a text report: from its title to the next section outside it. */
function hostSection(table: string): string {
  const start = table.indexOf('\nHost  (');
  assert.ok(start >= 0, 'the report has a Host section');
  const end = table.indexOf('\nPrograms', start);
  return table.slice(start, end < 0 ? undefined : end);
}

test('the text report: hints, events and the tables, every figure written by format.ts', () => {
  const rep = live(hostRecorded()).report();
  const h = rep.host_counters!;
  const text = formatTable(rep, { width: 160 });
  const sec = hostSection(text);
  assert.ok(sec.includes(`(${h.samples} samples over ${h.duration_s.toFixed(1)} s; each cost the helper ${formatNs(h.cost_ns.mean)} of CPU, at most ${formatNs(h.cost_ns.max)})`), sec.slice(0, 200));
  for (const title of ['Hints', 'Events', 'Interfaces', 'CPUs', 'Softnet', 'Protocol counters']) assert.match(sec, new RegExp(`\\n${title}  \\(`), title);
  // one row per interface: packets, rate, bytes, drops as format.ts writes them
  for (const i of h.ifaces) {
    const row = sec.split('\n').find((l) => l.startsWith(`  ${i.id} `));
    assert.ok(row, `a row for ${i.id}`);
    for (const cell of [formatCount(i.stats.rx_packets ?? 0), formatRate(i.rx_pps), formatBytes(i.stats.rx_bytes ?? 0), formatCount(i.drops)]) assert.ok(row.includes(cell), `${i.id}: ${cell} in ${row}`);
  }
  for (const c of h.cpus) assert.ok(sec.split('\n').some((l) => new RegExp(`^  ${c.cpu} +\\d`).test(l)), `CPU ${c.cpu}`);
  for (const r of h.snmp) assert.ok(sec.includes(`  ${r.name} `), r.name);
  for (const q of h.irqs.filter((x) => x.total > 0)) assert.ok(sec.split('\n').some((l) => l.startsWith(`  ${q.irq} `) && l.includes(formatCount(q.total))), `IRQ ${q.irq}`);
  for (const x of h.hints) assert.ok(sec.includes(`[${x.rule}]`), x.rule);
  for (const e of h.events.slice(-20)) assert.ok(sec.includes(`  ${formatClock(e.t_ms)}  `), `event at ${formatClock(e.t_ms)}`);
  if (!h.hints.length) assert.match(sec, /Hints  \(no rule found a pattern\)/);
  // the default width holds too
  for (const l of formatTable(rep).split('\n')) assert.ok(l.length <= 100, `line within 100 columns: ${l}`);
});

test('the JSON document carries the host section and validates', () => {
  const rep = live(hostRecorded()).report();
  const doc = toJsonDocument(rep);
  const parsed = ReportDocument.parse(JSON.parse(JSON.stringify(doc)));
  assert.deepEqual(parsed.host_counters, JSON.parse(JSON.stringify(rep.host_counters)));
  assert.equal(parsed.host_counters!.events.length, rep.host_counters!.events.length);
  // a session without host counters says so with null
  const bare = live(hostRecorded().map((m) => (m.type === 'snapshot' ? { ...m, host: undefined } : m)));
  assert.equal(toJsonDocument(bare.report()).host_counters, null);
  assert.ok(!formatTable(bare.report()).includes('\nHost  ('), 'no Host section without host counters');
});

test('nslat replay of a trace shows the same Host section as the live session', async () => {
  const msgs = hostRecorded();
  const agg = live(msgs);
  const d = mkdtempSync(join(tmpdir(), 'nslat-host-'));
  try {
    const file = join(d, 'trace.jsonl');
    const w = new TraceWriter(file, { host: 'recorded', started: new Date(1.8e12) });
    msgs.forEach((m, i) => w.write(m, 1.8e12 + i));
    w.close();
    const back = await readTrace(file);
    assert.equal(back.errorCount, 0);
    const replayed = back.aggregator.report();
    assert.deepEqual(replayed.host_counters, agg.report().host_counters);
    assert.equal(hostSection(formatTable(replayed)), hostSection(formatTable(agg.report())));
    // and through the command itself
    const r = spawnSync(process.execPath, ['--import', 'tsx', main, 'replay', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(hostSection(r.stdout), hostSection(formatTable(agg.report())));
    const j = spawnSync(process.execPath, ['--import', 'tsx', main, 'replay', file, '--format', 'json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(j.status, 0, j.stderr);
    assert.deepEqual(ReportDocument.parse(JSON.parse(j.stdout)).host_counters, JSON.parse(JSON.stringify(agg.report().host_counters)));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

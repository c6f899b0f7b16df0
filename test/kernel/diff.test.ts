/**
 * `nslat diff` on real traces. Two `nslat trace` sessions of the real helper (the CLI, each with
 * its own helper, --out FILE.jsonl) record at the same time, each filtered to a UDP flow of its
 * own (2000 datagrams, one every 4 ms): a plain flow, and one like it whose receiver
 * sleeps 2 ms between "readable" and the read (a known delay in the socket → application stage).
 * Senders and receivers run on one CPU (the test process pins itself while it starts them, and
 * they inherit it). Then, compared as `nslat diff A B` does (its arguments parsed, diffOf):
 *  - the delayed trace against the plain one: the socket → application stage is flagged as
 *    slower, its p50 shifted by about the injected 2 ms;
 *  - two traces of the same load: the plain recording's intervals dealt alternately into two
 *    files (every other snapshot each, as a helper would write a trace with every other snapshot
 *    lost): no stage is flagged, and the stages were tested.
 * Why the same load is one recording dealt in two:
 *  - recordings made one after another differ for real on this shared machine (every stage
 *    twice as slow while another job runs, even a few seconds apart);
 *  - sessions that trace at once run their programs inside each other's stages, in the order they
 *    were attached (netfilter hooks by priority), so two sessions' recordings of flows of the
 *    same load differ by what the other session's programs cost those packets (about 0.3 µs on
 *    ip_local_deliver → sock_enqueue here, where sk_data_ready carries two programs);
 * and nslat diff rightly flags both. Alternate intervals of one recording share the machine's
 * state and the observer, and differ only by the packets in them.
 * The delayed reader's 2 ms sleep is shorter than the 4 ms between datagrams, so its datagrams
 * do not queue behind each other: the shift is the sleep plus the reader's wake-up.
 * Every program the CLIs loaded is gone afterwards. Needs root; run under flock
 * /tmp/nslat-bpf.lock.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { parseCli, type DiffCommand } from '../../src/cli/args.ts';
import { diffOf, formatComparison } from '../../src/cli/diff.ts';
import { differences } from '../../src/core/compare.ts';
import { openTrace } from '../../src/core/export/jsonl.ts';
import { formatNs } from '../../src/core/format.ts';
import type { Comparison } from '../../src/core/protocol.ts';
import { kernelSkipReason, leakedProgIds, REPO, sleep } from './lib/helper.ts';
import { runFlow } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const BASE = 40_000 + (process.pid % 10_000) * 2;
const DELAY_MS = 2;
const dir = mkdtempSync(join(tmpdir(), 'nslat-diff-kernel-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `nslat trace` until SIGINT; resolves once it traces (with the process in a box: a
 *  subprocess is a promise itself, which an async function would wait for). */
async function startTrace(port: number, out: string): Promise<{ proc: ResultPromise }> {
  const p = execa('node', ['--import', 'tsx', 'src/cli/main.ts', 'trace', '--stages', 'rx', '--filter', `udp and port ${port}`, '--interval', '500', '--duration', '0', '--out', out, '--format', 'json'], { cwd: REPO, reject: false, timeout: 300_000, env: { NSLAT_DEBUG: '' } });
  await new Promise<void>((ok, fail) => {
    let err = '';
    const t = setTimeout(() => {
      p.kill('SIGINT');
      fail(new Error(`nslat trace did not start within 120 s:\n${err}`));
    }, 120_000);
    p.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (/tracing rx on /.test(err)) {
        clearTimeout(t);
        ok();
      }
    });
    void p.then((r) => {
      clearTimeout(t);
      fail(new Error(`nslat trace exited (${r.exitCode}) before tracing:\n${r.stderr}`));
    });
  });
  return { proc: p };
}

/** `nslat diff A B` as the CLI runs it (its arguments parsed, both traces read, compared). */
async function diff(a: string, b: string): Promise<Comparison & { differences: string[] }> {
  const c = await diffOf(parseCli(['diff', a, b]) as DiffCommand);
  return { ...c, differences: differences(c).map((s) => s.key) };
}

const APP = 'rx:stage:sock_enqueue→app_read';

test('nslat diff flags a known delay in the socket → application stage, and nothing between two traces of the same load', { skip, timeout: 600_000 }, async (t) => {
  const names = ['plain', 'delayed'] as const;
  const files = names.map((n) => join(dir, `${n}.jsonl`));
  const ports = names.map((_, i) => BASE + i);
  const t0 = Date.now();
  const mark = (what: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const mask = /affinity mask: ([0-9a-f]+)/.exec((await execa('taskset', ['-p', String(process.pid)])).stdout)?.[1];
  assert.ok(mask, 'the test process\'s CPU mask');
  const traces: ResultPromise[] = [];
  try {
    // Started one at a time: helpers loading their probes at the same moment can miss a
    // netfilter hook (the stages that hook feeds are then absent from one of the traces).
    for (const [i, port] of ports.entries()) traces.push((await startTrace(port, files[i]!)).proc);
    mark('two nslat trace sessions running');
    await sleep(1000);
    // 2000 datagrams on each flow, one every 4 ms, senders and receivers on CPU 0.
    await execa('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
    let flows;
    try {
      flows = await Promise.all(ports.map((port, i) => runFlow({ proto: 'udp', family: 4, port, count: 2000, size: 200, intervalMs: 4, delayMs: names[i] === 'delayed' ? DELAY_MS : 0, timeoutS: 60 })));
    } finally {
      await execa('taskset', ['-a', '-p', mask, String(process.pid)]);
    }
    flows.forEach((f, i) => mark(`${names[i]} flow: ${f.client.sent} sent, ${f.server.received} received`));
    for (const f of flows) assert.ok(f.server.received >= 1800, `the receiver got most datagrams (${f.server.received})`);
    await sleep(1500);
  } finally {
    for (const p of traces) p.kill('SIGINT');
  }
  const ends = await Promise.all(traces);
  ends.forEach((e, i) => assert.equal(e.exitCode, 0, `${names[i]}: ${e.stderr}`));
  mark('the sessions ended on SIGINT and wrote their traces');

  // Nothing left loaded: every program the three sessions loaded is gone.
  const ids: number[] = [];
  for (const f of files) {
    const r = await openTrace(f, { keepRecords: true });
    for (const rec of r.records!) if (rec.msg.type === 'loaded') for (const p of rec.msg.programs) if (p.prog_id) ids.push(p.prog_id);
  }
  assert.ok(ids.length > 10, 'the traces name the loaded programs');
  assert.deepEqual(await leakedProgIds(ids), [], 'no program left attached');

  const show = (c: Comparison) => formatComparison(c).trimEnd().split('\n').forEach((l) => t.diagnostic(l));
  const delayed = await diff(files[0]!, files[1]!);
  mark(`nslat diff ${names[0]} ${names[1]}:`);
  show(delayed);
  const row = delayed.stages.find((s) => s.key === APP);
  assert.ok(row, `the delayed trace has ${APP}: ${delayed.stages.map((s) => s.key).join(', ')}`);
  t.diagnostic(`plain vs delayed, ${APP}: p50 ${formatNs(row.p50!.a)} → ${formatNs(row.p50!.b)}, shift ${formatNs(row.p50!.shift)} (adjusted p ${row.p50!.adjusted}); p99 ${formatNs(row.p99!.a)} → ${formatNs(row.p99!.b)}; blocks ${row.a!.block_p50.length}/${row.b!.block_p50.length}; flagged: ${delayed.differences.join(', ')}`);
  assert.equal(row.verdict, 'higher', `verdict ${row.verdict}`);
  assert.ok(delayed.differences.includes(APP));
  assert.ok(row.p50!.significant && row.p50!.adjusted! < 1e-4, `adjusted p ${row.p50!.adjusted}`);
  // the receiver sleeps 2 ms after the datagram is readable: the stage's p50 moves by that much
  // (plus the scheduler's wake-up of the sleeping reader, a fraction of a millisecond)
  const shift = row.p50!.shift / 1e6;
  assert.ok(shift > 0.9 * DELAY_MS && shift < 1.5 * DELAY_MS, `p50 shift ${shift.toFixed(3)} ms for a ${DELAY_MS} ms delay`);

  // The plain recording dealt into two traces: its header lines (hello, loaded, logs) in both,
  // its snapshots alternately.
  const halves = [join(dir, 'same-a.jsonl'), join(dir, 'same-b.jsonl')] as const;
  const out: [string[], string[]] = [[], []];
  let n = 0;
  for (const line of readFileSync(files[0]!, 'utf8').split('\n')) {
    if (!line) continue;
    if ((JSON.parse(line) as { msg?: { type?: string } }).msg?.type === 'snapshot') out[n++ % 2]!.push(line);
    else for (const o of out) o.push(line);
  }
  assert.ok(n >= 20, `the plain recording holds its snapshots (${n})`);
  halves.forEach((f, i) => writeFileSync(f, out[i]!.join('\n') + '\n'));
  const same = await diff(halves[0], halves[1]);
  mark(`nslat diff on the plain recording's even and odd intervals (${n} snapshots):`);
  show(same);
  const app = same.stages.find((s) => s.key === APP);
  // Each half holds about half of the flow's packets (every packet is measured at this rate).
  assert.ok(app?.a && app.b && Math.min(app.a.count, app.b.count) >= 0.4 * 2000 && Math.max(app.a.count, app.b.count) <= 0.6 * 2000, `both halves measured the flow's packets: ${app?.a?.count} and ${app?.b?.count}`);
  assert.ok(app && app.verdict === 'same' && app.p50!.p_value !== null, `${APP} was tested: ${app?.verdict}`);
  assert.ok(same.stages.filter((s) => s.p50?.p_value !== null && s.p50 !== undefined).length >= 5, 'several stages were tested');
  assert.deepEqual(same.differences, [], 'two traces of the same load: no difference beyond the noise');
});

/**
 * Accuracy against ground truth, at default settings (the session's adaptive sampling): a known
 * delay is put in one layer, the application measures each datagram's send → receive time with
 * its own clock (CLOCK_MONOTONIC, which the probes read too), and the stage that holds the delay
 * must report the same p50 and p99 within 5 %:
 *   - a reader that sleeps before each read (1–10 ms, uniform): the socket → application stage,
 *     on loopback and on a veth path between two namespaces;
 *   - a tbf qdisc on the veth (2 mbit/s): a burst of datagrams queues behind the rate, and the
 *     qdisc enqueue → dequeue stage holds the wait.
 * The ground truth includes the rest of the path (tens of µs against waits of milliseconds).
 *
 * And sampling against every packet: at ≥ 100 k packets/s the default rate measures 1 in N
 * packets; windows at that rate and at every packet alternate over the same traffic, and each RX
 * stage up to the socket gives the same p50 within 5 % or 120 ns, and the same p99 within 5 % or
 * 300 ns, each the median over the windows of one mode (see FLOOR_NS: in stages of 100–600 ns the
 * two modes differ by more than 5 %, by what a measured packet's cold path costs).
 */
import assert from 'node:assert/strict';
import { execa, type ResultPromise } from 'execa';
import { after, before, describe, test } from 'node:test';
import { formatNs } from '../../src/core/format.ts';
import type { HelperMessage, LoadedMessage, SnapshotMessage } from '../../src/core/protocol.ts';
import { ADAPTIVE, MeasureRate } from '../../src/core/sampling.ts';
import { Session } from '../../src/core/session.ts';
import { Helper, Totals, kernelSkipReason, p, sleep } from './lib/helper.ts';
import { addTbf, createVethPair, nsPrefix, type VethPair } from './lib/netns.ts';
import { APP_READ, QDISC, SOCK_ENQUEUE, expectedPath } from './lib/stages.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const PORT = 30_000 + (process.pid % 20_000);
const SCRIPT = new URL('./lib/truth.py', import.meta.url).pathname;
const TOLERANCE = 0.05;
/** Sampling against every packet: 5 %, or this much in ns, at p50 and at p99. A percentile is read
 *  from log-linear buckets 12.5 % wide, and in stages of 100–300 ns a bucket is 12–40 ns: two
 *  windows of the same traffic differ by a bucket or two at p99 there. At 1 in N, a measured
 *  packet also finds the measured path's code and data cold where every-packet mode keeps them
 *  warm (see the sampling test). */
const FLOOR_NS = { 0.5: 120, 0.99: 300 } as const;

/** Nearest-rank quantile of exact values. */
function exact(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function relErr(got: number, want: number): number {
  return Math.abs(got - want) / want;
}

function py(ns: string | undefined, args: string[]): ResultPromise {
  const argv = [...(ns ? nsPrefix(ns) : []), 'python3', SCRIPT, ...args];
  return execa(argv[0]!, argv.slice(1), { reject: false, timeout: 120_000 });
}

interface Truth {
  lat: number[];
  sent: number;
}

/** One bounded run of truth.py: the server (waits for its ready line), then the client. */
async function truthRun(o: { serverNs?: string; clientNs?: string; bind: string; addr: string; count: number; clientArgs: string[]; serverArgs: string[] }): Promise<Truth> {
  const srv = py(o.serverNs, ['server', '--bind', o.bind, '--port', String(PORT), '--count', String(o.count), '--timeout', '60', ...o.serverArgs]);
  await new Promise<void>((ok, fail) => {
    let buf = '';
    const t = setTimeout(() => fail(new Error('truth server not ready')), 10_000);
    srv.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('"ready"')) {
        clearTimeout(t);
        ok();
      }
    });
  });
  const cli = await py(o.clientNs, ['client', '--addr', o.addr, '--port', String(PORT), '--count', String(o.count), '--timeout', '60', ...o.clientArgs]);
  const s = await srv;
  const last = String(s.stdout).trim().split('\n').at(-1) ?? '{}';
  const sent = (JSON.parse(String(cli.stdout).trim().split('\n').at(-1) ?? '{}') as { sent?: number }).sent ?? 0;
  return { lat: (JSON.parse(last) as { lat_ns?: number[] }).lat_ns ?? [], sent };
}

describe('accuracy against ground truth, at default settings', { skip, timeout: 300_000 }, () => {
  let session: Session;
  let veth: VethPair | undefined;
  const snaps: SnapshotMessage[] = [];
  const loaded = new Map<string, LoadedMessage>();
  const report: string[] = [];

  before(async () => {
    session = await Session.start({ stages: ['rx', 'tx'], filter: `port ${PORT}`, intervalMs: 500 });
    session.subscribe((m: HelperMessage) => {
      if (m.type === 'snapshot') snaps.push(m);
      if (m.type === 'loaded') loaded.set(m.slot, m);
    });
    veth = await createVethPair('accuracy');
  });
  after(async () => {
    await session?.stop().catch(() => undefined);
    await veth?.destroy();
    console.log(`# accuracy\n# ${report.join('\n# ')}`);
  });

  /** The snapshots of what `run` sends (a fresh snapshot before and after, so the window is exact). */
  async function window(run: () => Promise<Truth>): Promise<{ t: Totals; truth: Truth }> {
    await session.snapshot();
    const from = snaps.length;
    const truth = await run();
    await sleep(200);
    await session.snapshot();
    return { t: Totals.of(snaps.slice(from)), truth };
  }

  function checkStage(label: string, t: Totals, dir: 'rx' | 'tx', from: string, to: string, truth: number[]): void {
    const s = t.stage(dir, from, to);
    assert.ok(s && s.count > 0, `${label}: ${from}→${to} has packets`);
    assert.ok(truth.length >= 100, `${label}: ${truth.length} datagrams measured by the application`);
    const rows: string[] = [];
    const bad: string[] = [];
    for (const q of [0.5, 0.99]) {
      const got = p(s, q);
      const want = exact(truth, q);
      const e = relErr(got, want);
      rows.push(`p${q * 100} ${formatNs(got)} vs ${formatNs(want)} (${(e * 100).toFixed(1)} %)`);
      if (e > TOLERANCE) bad.push(`p${q * 100}: nslat ${formatNs(got)}, application ${formatNs(want)}: ${(e * 100).toFixed(1)} % off`);
    }
    report.push(`${label}: ${from}→${to} n=${s.count} (application: ${truth.length}): ${rows.join(', ')}`);
    assert.deepEqual(bad, [], `${label}: ${from}→${to} within ${TOLERANCE * 100} % of the application's own clock`);
  }

  function sockStage(): [string, string] {
    const path = expectedPath(loaded.get('rx')!, 'rx', 'udp');
    const readIdx = path.findIndex((b) => APP_READ.test(b));
    const enqIdx = path.findIndex((b, i) => i < readIdx && SOCK_ENQUEUE.test(b));
    assert.ok(readIdx > 0 && enqIdx >= 0, `socket enqueue and application read on the RX path ${path.join(' → ')}`);
    return [path[enqIdx]!, path[readIdx]!];
  }

  const sleeper = ['--delay-min-ms', '1', '--delay-max-ms', '10', '--seed', '7'];
  // One datagram every 11 ms (> the longest sleep): each one waits alone for its reader. 1000 of
  // them put ten values above the p99.
  const paced = ['--interval-ms', '11', '--size', '100'];

  test('a reader that sleeps 1–10 ms before each read, loopback: socket → application', async () => {
    const { t, truth } = await window(() => truthRun({ bind: '127.0.0.1', addr: '127.0.0.1', count: 1000, serverArgs: sleeper, clientArgs: paced }));
    const [from, to] = sockStage();
    checkStage('loopback sleeping reader', t, 'rx', from, to, truth.lat);
  });

  test('a reader that sleeps 1–10 ms before each read, veth between namespaces: socket → application', async () => {
    const v = veth!;
    const { t, truth } = await window(() => truthRun({ serverNs: v.nsB, clientNs: v.nsA, bind: v.addrB, addr: v.addrB, count: 1000, serverArgs: sleeper, clientArgs: paced }));
    const [from, to] = sockStage();
    checkStage('veth sleeping reader', t, 'rx', from, to, truth.lat);
  });

  test('a tbf qdisc at 2 mbit/s on the veth: the burst queues in qdisc enqueue → dequeue', async () => {
    const v = veth!;
    // 120 datagrams of 1000 bytes at once: about 0.5 s to drain at 2 mbit/s; the limit holds them all.
    await addTbf(v.nsA, v.devA, '2mbit', '3000', '400000');
    try {
      const { t, truth } = await window(() => truthRun({ serverNs: v.nsB, clientNs: v.nsA, bind: v.addrB, addr: v.addrB, count: 120, serverArgs: [], clientArgs: ['--burst', '--size', '1000'] }));
      assert.equal(truth.lat.length, truth.sent, 'tbf dropped nothing');
      const q = expectedPath(loaded.get('tx')!, 'tx', 'udp', true).filter((b) => QDISC.test(b));
      assert.equal(q.length, 2, `qdisc enqueue and dequeue on the TX path: ${q.join(', ')}`);
      checkStage('tbf 2mbit burst', t, 'tx', q[0]!, q[1]!, truth.lat);
    } finally {
      await execa('tc', ['-n', v.nsA, 'qdisc', 'del', 'dev', v.devA, 'root'], { reject: false, timeout: 5_000 });
    }
  });
});

describe('sampling against every packet, in the same run', { skip, timeout: 300_000 }, () => {
  test('≥ 100 k packets/s: each RX stage p50 and p99 at default sampling within 5 % of every-packet mode', async () => {
    // One helper, the two modes interleaved window by window over the same traffic: two objects
    // on the same hooks would each time the other's programs into its stages.
    const h = await Helper.start();
    const port = PORT + 1;
    let srv: ResultPromise | undefined;
    let clis: ResultPromise[] = [];
    try {
      await h.loadOk('rx', 'rx', { rodata: { filter_port: port }, data: { measure_every: 1 } });
      await h.set({ interval_ms: 0 }); // windows end with the snapshots this test asks for
      // sockperf's server reads until it is stopped (by this test, by its pid; at most 60 s).
      srv = execa('sockperf', ['sr', '-i', '127.0.0.1', '-p', String(port)], { reject: false, timeout: 60_000 });
      await sleep(500);
      // 64-byte datagrams as fast as two senders go, for up to 30 s (stopped when done).
      clis = [0, 1].map(() => execa('sockperf', ['tp', '-i', '127.0.0.1', '-p', String(port), '-m', '64', '--mps', 'max', '-t', '30'], { reject: false, timeout: 40_000 }));
      // The default mode's N, as the session picks it: from the packets seen in one interval once
      // the traffic runs (sockperf warms up for a moment before it sends at full rate).
      const rate = new MeasureRate(ADAPTIVE);
      let n = 1;
      for (let i = 0; i < 8 && n === 1; i++) {
        await h.snapshot();
        await sleep(1000);
        const warm = await h.snapshot();
        n = rate.observe(warm.slots.map((x) => x.counters.seen ?? 0), warm.interval_ns) ?? rate.every;
      }
      const byMode = { sampled: [] as SnapshotMessage[], every: [] as SnapshotMessage[] };
      for (let i = 0; i < 24; i++) {
        const mode = i % 2 ? 'every' : 'sampled';
        await h.set({ data: { measure_every: mode === 'every' ? 1 : n } });
        await sleep(50); // packets measured under the other mode finish
        await h.snapshot();
        await sleep(500);
        byMode[mode].push(await h.snapshot());
      }
      const sampled = Totals.of(byMode.sampled);
      const full = Totals.of(byMode.every);
      // Per window, then the median over the windows of each mode: a burst of interruptions (this is
      // a shared VM) that lands in one window moves that window's tail, not the comparison.
      const perWindow = (snaps: SnapshotMessage[]) => snaps.map((x) => Totals.of([x]));
      const windows = { sampled: perWindow(byMode.sampled), every: perWindow(byMode.every) };
      const median = (v: number[]) => {
        const a = v.filter(Number.isFinite).sort((x, y) => x - y);
        return a.length ? (a[(a.length - 1) >> 1]! + a[a.length >> 1]!) / 2 : NaN;
      };
      const medianQ = (ws: Totals[], from: string, to: string, q: number) => median(ws.map((w) => w.stage('rx', from, to)).filter((h) => h && h.count >= 100).map((h) => p(h, q)));
      const seen = (x: Totals) => x.counters.get('rx.seen') ?? 0;
      const rows = [
        `default N = ${n}; sampled windows: seen ${seen(sampled)} in ${(sampled.intervalNs / 1e9).toFixed(1)} s (${Math.round(seen(sampled) / (sampled.intervalNs / 1e9))}/s), measured ${sampled.counters.get('rx.started') ?? 0}; every-packet windows: seen ${seen(full)}, measured ${full.counters.get('rx.started') ?? 0}`,
      ];
      assert.ok(seen(sampled) / (sampled.intervalNs / 1e9) >= 100_000, `the load reached ≥ 100 k packets/s: ${rows[0]}`);
      assert.ok(n >= 2 && (sampled.counters.get('rx.started') ?? 0) < seen(sampled) / 2, `the default mode sampled: ${rows[0]}`);
      const stages = [...full.hists.values()].filter((x) => x.kind === 'stage' && x.count >= 10_000);
      assert.ok(stages.length >= 3, `at least three RX stages with ≥ 10 000 packets: ${[...full.hists.values()].filter((x) => x.kind === 'stage').map((x) => `${x.from}→${x.to} ${x.count}`).join(', ')}`);
      const bad: string[] = [];
      for (const f of stages) {
        const s = sampled.stage('rx', f.from!, f.to!);
        assert.ok(s && s.count > 0, `${f.from}→${f.to}: sampled too`);
        // The socket queue's wait is not the same in the two modes: measuring every packet slows
        // the senders' softirq path and with it how full the reader's queue runs. Reported only.
        const queue = APP_READ.test(f.to ?? '');
        for (const q of [0.5, 0.99]) {
          const got = medianQ(windows.sampled, f.from!, f.to!, q);
          const want = medianQ(windows.every, f.from!, f.to!, q);
          const e = relErr(got, want);
          // A measured packet does the same work in both modes: a boundary reads the clock and
          // stores it in the packet's slot, the slot is written before the entry's clock read, and
          // the histograms are written at the packet's end (nslat.bpf.h). But at 1 in N the
          // measured path's code and data are cold (every-packet mode runs it on every packet):
          // in five clean-clone CI runs on this machine (medians of 12 windows) the modes differed
          // by up to 71 ns at p50 in ip_local_deliver→sock_enqueue (the sk_data_ready walk; 5–13 %
          // of a 400–600 ns stage) and by up to 100 ns at p99 in stages of 100 ns–2 µs, on top of
          // the histograms' resolution. The floors leave room above that; a bias larger than both
          // 5 % and the floor still fails.
          const ok = e <= TOLERANCE || Math.abs(got - want) <= FLOOR_NS[q as 0.5 | 0.99];
          rows.push(`${f.from}→${f.to} p${q * 100} (median of ${windows.sampled.length} windows each): sampled ${formatNs(got)} (n=${s.count}) vs every packet ${formatNs(want)} (n=${f.count}): ${(e * 100).toFixed(1)} %${queue ? ' (reported only)' : ok ? '' : ' ✗'}`);
          if (!queue && !ok) bad.push(rows.at(-1)!);
        }
      }
      console.log(`# sampling\n# ${rows.join('\n# ')}`);
      assert.deepEqual(bad, [], 'sampled percentiles within 5 % of every-packet ones');
    } finally {
      for (const c of clis) c.kill();
      srv?.kill();
      await Promise.all([...clis, srv]);
      await h.dispose();
    }
  });
});

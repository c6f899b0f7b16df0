/**
 * Per-layer latency on the real kernel: loopback (IPv4, IPv6) and a veth pair between two network
 * namespaces, TCP and UDP; an application delay that must land in the socket→application stage;
 * a tbf qdisc whose queueing must land in the qdisc stage.
 *
 * One helper serves the whole file with rx and tx loaded, filtered to one server port, so
 * other people's traffic on this shared machine does not enter the histograms. Each scenario is a
 * window between two `snapshot` replies; its totals are the merged deltas of that window.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { formatNs } from '../../src/core/hist.ts';
import type { LoadedMessage } from '../../src/core/protocol.ts';
import { Helper, Totals, kernelSkipReason, mean, p, sleep } from './lib/helper.ts';
import { addQdisc, addTbf, createVethPair, qdiscKinds, removeRootQdisc, type VethPair } from './lib/netns.ts';
import { APP_READ, QDISC, SOCK_ENQUEUE, chain, describe as describeTotals, expectedPath, seenAt, type Proto } from './lib/stages.ts';
import { runFlow, type FlowOptions, type FlowResult } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

/** Every flow of this file uses this server port; the probes are loaded with filter_lport (rx) / filter_rport (tx) = PORT. */
const PORT = 20_000 + (process.pid % 20_000);

/*
 * Tolerance for "the per-stage medians add up to the end-to-end median".
 *
 * What is sound to compare: the stages along one path (consecutive boundaries a packet passes)
 * against the cumulative histogram at the path's last boundary, over the same packets.
 * Two errors separate them:
 *  1. Bucket resolution: every quantile read from a log2 histogram lies in the same power-of-two
 *     bucket as the exact one (src/core/hist.ts), i.e. within a factor of 2 either way.
 *  2. Medians are not additive: median(X+Y) ≠ median(X)+median(Y) in general. For right-skewed
 *     stage distributions (a few slow packets) the sum of the medians is usually a little below the
 *     median of the sum; when one stage dominates (the app delay) the two agree closely.
 * So the ratio Σ p50(stage) / p50(end-to-end) is asserted to lie in [1/2, 2]: one bucket either way.
 * Missing a stage (a boundary a packet passed but no stage recorded), a stage measured from the
 * wrong start, or a cumulative histogram that is not "since the packet entered the stack" pushes
 * the ratio outside that (those errors are whole stages, typically ≥ the rest together).
 * The means are exact (sum/count, no buckets) and additive for packets that pass every boundary of
 * the path, so Σ mean(stage) / mean(end-to-end) is held to a tighter [0.8, 1.25]; the slack covers
 * packets that end early (TCP segments coalesced in the receive queue, drops), which count in the
 * earlier stages but not at the last boundary.
 */
const MEDIAN_RATIO: [number, number] = [0.5, 2];
const MEAN_RATIO: [number, number] = [0.8, 1.25];

describe('per-stage latency on the real kernel', { skip, timeout: 180_000 }, () => {
  let h: Helper;
  let rx: LoadedMessage;
  let tx: LoadedMessage;
  let veth: VethPair | undefined;
  const report: string[] = [];

  before(async () => {
    h = await Helper.start();
    rx = await h.loadOk('rx', 'rx', { rodata: { filter_lport: PORT } });
    tx = await h.loadOk('tx', 'tx', { rodata: { filter_rport: PORT } });
    veth = await createVethPair();
  });

  after(async () => {
    try {
      if (report.length) console.log(`# measured (port ${PORT}):\n${report.join('\n')}`);
      h?.assertProtocolClean();
    } finally {
      await h?.dispose();
      await veth?.destroy();
    }
  });

  /** Runs `flow` between two snapshot replies and returns the merged deltas of that window. */
  async function measure(flow: FlowOptions): Promise<{ t: Totals; r: FlowResult }> {
    await h.snapshot();
    const from = h.mark();
    const r = await runFlow({ port: PORT, timeoutS: 20, ...flow });
    await sleep(250); // the last segments, ACKs and FINs
    await h.snapshot();
    return { t: Totals.of(h.snapshotsSince(from)), r };
  }

  /** The common checks of one flow; returns the RX path it checked. */
  function checkFlow(label: string, t: Totals, r: FlowResult, proto: Proto): string[] {
    const delivered = Math.min(r.server.received, r.client.sent);
    assert.ok(delivered > 0, `${label}: the traffic itself worked (${JSON.stringify(r)})`);
    report.push(`${label}: sent ${r.client.sent}, received ${r.server.received}\n${describeTotals(t, 'rx')}\n${describeTotals(t, 'tx')}`);

    for (const [slot, loaded] of [
      ['rx', rx],
      ['tx', tx],
    ] as const) {
      const path = expectedPath(loaded, slot, proto);
      assert.ok(path.length >= 2, `${label} ${slot}: at least two active boundaries (${JSON.stringify(loaded.boundaries)})`);
      // Each boundary this kernel offers (and this protocol passes) saw packets.
      const silent = path.filter((b) => seenAt(t, slot, b) === 0);
      assert.deepEqual(silent, [], `${label} ${slot}: boundaries with no packets (path ${path.join(' → ')})\n${describeTotals(t, slot)}`);
      // Every histogram with packets has positive latencies (bpf_ktime_get_ns has ns resolution).
      for (const hist of t.list({ slot })) {
        if (hist.count === 0 || (hist.kind !== 'stage' && hist.kind !== 'cum')) continue;
        assert.ok(hist.sum > 0 && p(hist, 0.5) > 0, `${label} ${slot} ${hist.kind} ${hist.name}: latencies positive (sum ${hist.sum}, p50 ${p(hist, 0.5)})`);
        assert.equal(hist.buckets.reduce((a, b) => a + b, 0), hist.count, `${label} ${slot} ${hist.name}: bucket counts add up to count`);
      }
      // The chain of consecutive stages along the path, and the end-to-end histogram at its end.
      const stages = chain(t, slot, path);
      const missing = stages.filter((s) => !s.h || s.h.count === 0).map((s) => `${s.from}→${s.to}`);
      assert.deepEqual(missing, [], `${label} ${slot}: stages along ${path.join(' → ')} with no packets\n${describeTotals(t, slot)}`);
      const last = path[path.length - 1]!;
      const e2e = t.cum(slot, last);
      assert.ok(e2e && e2e.count > 0, `${label} ${slot}: cumulative histogram at ${last}`);
      const sumP50 = stages.reduce((a, s) => a + p(s.h, 0.5), 0);
      const e2eP50 = p(e2e, 0.5);
      const sumMean = stages.reduce((a, s) => a + mean(s.h), 0);
      const e2eMean = mean(e2e);
      report.push(
        `  ${slot}: Σ stage p50 ${formatNs(sumP50)} vs end-to-end p50 ${formatNs(e2eP50)} (ratio ${(sumP50 / e2eP50).toFixed(2)}); ` +
          `Σ stage mean ${formatNs(sumMean)} vs end-to-end mean ${formatNs(e2eMean)} (ratio ${(sumMean / e2eMean).toFixed(2)})`,
      );
      const ratio = sumP50 / e2eP50;
      assert.ok(
        ratio >= MEDIAN_RATIO[0] && ratio <= MEDIAN_RATIO[1],
        `${label} ${slot}: Σ stage medians ${formatNs(sumP50)} vs end-to-end median ${formatNs(e2eP50)} at ${last}: ratio ${ratio.toFixed(2)} outside [${MEDIAN_RATIO.join(', ')}]\n${describeTotals(t, slot)}`,
      );
      const mratio = sumMean / e2eMean;
      assert.ok(
        mratio >= MEAN_RATIO[0] && mratio <= MEAN_RATIO[1],
        `${label} ${slot}: Σ stage means ${formatNs(sumMean)} vs end-to-end mean ${formatNs(e2eMean)}: ratio ${mratio.toFixed(2)} outside [${MEAN_RATIO.join(', ')}]\n${describeTotals(t, slot)}`,
      );
    }
    // Reads: the application-read boundary saw about as many packets as the server read.
    const rxPath = expectedPath(rx, 'rx', proto);
    const read = t.cum('rx', rxPath[rxPath.length - 1]!)?.count ?? 0;
    assert.ok(read >= delivered * 0.5, `${label}: ${read} packets reached ${rxPath[rxPath.length - 1]} for ${delivered} messages read`);
    return rxPath;
  }

  const base = { count: 200, size: 200, intervalMs: 2 } as const;
  for (const [proto, family] of [
    ['tcp', 4],
    ['udp', 4],
    ['tcp', 6],
    ['udp', 6],
  ] as const) {
    test(`loopback ${proto.toUpperCase()} IPv${family}: every stage reports, medians add up`, async () => {
      const { t, r } = await measure({ ...base, proto, family });
      checkFlow(`loopback ${proto} v${family}`, t, r, proto);
    });
  }

  for (const proto of ['tcp', 'udp'] as const) {
    test(`veth between namespaces ${proto.toUpperCase()}: every stage reports, medians add up`, async () => {
      const v = veth!;
      assert.deepEqual(await qdiscKinds(v.nsA, v.devA), ['noqueue'], 'veth starts without a qdisc');
      const { t, r } = await measure({ ...base, proto, family: 4, addr: v.addrB, serverNs: v.nsB, clientNs: v.nsA });
      checkFlow(`veth ${proto}`, t, r, proto);
    });
  }

  for (const proto of ['udp', 'tcp'] as const) {
    test(`application delay of 20 ms lands in socket→application only (${proto.toUpperCase()})`, async () => {
      const D = 20e6; // ns
      // One message every 60 ms (> D): each waits the full D in the receive queue before its read.
      const { t, r } = await measure({ proto, family: 4, count: 20, size: 100, intervalMs: 60, delayMs: D / 1e6 });
      const path = checkFlow(`app delay ${proto}`, t, r, proto);
      const readIdx = path.findIndex((b) => APP_READ.test(b));
      assert.ok(readIdx > 0, `an application-read boundary on the RX path ${path.join(' → ')}`);
      const enqIdx = path.findIndex((b, i) => i < readIdx && SOCK_ENQUEUE.test(b));
      const from = path[enqIdx >= 0 ? enqIdx : readIdx - 1]!;
      const to = path[readIdx]!;
      const sockStage = t.stage('rx', from, to);
      assert.ok(sockStage && sockStage.count > 0, `${from}→${to} has packets`);
      report.push(`  app delay ${proto}: D = 20 ms → ${from}→${to} p50 ${formatNs(p(sockStage, 0.5))}, mean ${formatNs(mean(sockStage))}, n=${sockStage.count}`);
      assert.ok(mean(sockStage) >= D, `${from}→${to} mean ${formatNs(mean(sockStage))} ≥ 20 ms (exact, from sum/count)`);
      assert.ok(p(sockStage, 0.5) >= D, `${from}→${to} median ${formatNs(p(sockStage, 0.5))} ≥ 20 ms`);
      // No stage before the socket queue carries the delay.
      const fromIdx = path.indexOf(from);
      for (let i = 0; i + 1 <= fromIdx; i++) {
        const s = t.stage('rx', path[i]!, path[i + 1]!);
        assert.ok(s && s.count > 0, `${path[i]}→${path[i + 1]} has packets`);
        assert.ok(p(s, 0.5) < D / 2, `${s.from}→${s.to} median ${formatNs(p(s, 0.5))} should not carry the 20 ms delay`);
      }
      // And the end-to-end time at the read includes it.
      assert.ok(p(t.cum('rx', to), 0.5) >= D, `end-to-end at ${to} ≥ 20 ms`);
    });
  }

  test('tbf with a low rate on the veth: queueing shows in the qdisc stage (and not with pfifo)', async () => {
    const v = veth!;
    const qstage = async (label: string): Promise<{ p50: number; n: number; from: string; to: string }> => {
      // 60 datagrams of 1000 bytes at once: 60 kB through 1 mbit/s takes ~0.5 s to drain.
      const { t, r } = await measure({ proto: 'udp', family: 4, addr: v.addrB, serverNs: v.nsB, clientNs: v.nsA, count: 60, size: 1000, intervalMs: 0 });
      report.push(`${label}: sent ${r.client.sent}, received ${r.server.received}\n${describeTotals(t, 'tx')}`);
      const path = expectedPath(tx, 'tx', 'udp', true);
      const q = path.filter((b) => QDISC.test(b));
      assert.equal(q.length, 2, `two qdisc boundaries (enqueue, dequeue) among ${path.join(', ')}`);
      const s = t.stage('tx', q[0]!, q[1]!);
      assert.ok(s && s.count > 0, `${label}: ${q[0]}→${q[1]} has packets\n${describeTotals(t, 'tx')}`);
      return { p50: p(s, 0.5), n: s.count, from: q[0]!, to: q[1]! };
    };
    try {
      await addQdisc(v.nsA, v.devA, ['pfifo', 'limit', '1000']);
      const fifo = await qstage('pfifo');
      await removeRootQdisc(v.nsA, v.devA);
      await addTbf(v.nsA, v.devA, '1mbit', '1600', '100000');
      const tbf = await qstage('tbf 1mbit');
      report.push(`  qdisc ${fifo.from}→${fifo.to}: pfifo p50 ${formatNs(fifo.p50)} (n=${fifo.n}); tbf 1mbit p50 ${formatNs(tbf.p50)} (n=${tbf.n})`);
      assert.ok(fifo.p50 < 1e6, `without tbf the qdisc stage is tiny: p50 ${formatNs(fifo.p50)} < 1 ms`);
      assert.ok(tbf.p50 >= 5e6, `tbf 1mbit: qdisc stage p50 ${formatNs(tbf.p50)} ≥ 5 ms`);
      assert.ok(tbf.p50 >= 10 * fifo.p50, 'tbf queueing at least 10× the pfifo stage');
    } finally {
      await removeRootQdisc(v.nsA, v.devA);
    }
  });
});

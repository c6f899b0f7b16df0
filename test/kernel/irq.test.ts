/**
 * IRQ histograms on the real kernel: hard-IRQ handler time per line and CPU, softirq raise→entry
 * delay and entry→exit time per vector, NAPI work per poll. Load comes from direct (uncached) disk
 * writes (this VM's virtio block device interrupts) and loopback traffic (NET_RX softirqs, backlog
 * NAPI polls). Hard-IRQ counts are cross-checked with /proc/interrupts over the same window.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { execa } from 'execa';
import { formatNs } from '../../src/core/format.ts';
import { Helper, Totals, kernelSkipReason, mean, p, sleep } from './lib/helper.ts';
import { runFlow } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const NET_RX = 3;
const TIMER = 1;

/** Per softirq vector (0 = HI … 9 = RCU): runs over all CPUs, from /proc/softirqs. */
function procSoftirqs(): number[] {
  const out: number[] = [];
  for (const line of readFileSync('/proc/softirqs', 'utf8').split('\n').slice(1)) {
    const m = /^\s*([A-Z_]+):\s+(.*)$/.exec(line);
    if (m) out.push(m[2]!.trim().split(/\s+/).reduce((a, f) => a + Number(f), 0));
  }
  return out;
}

/** Per IRQ line: total count over all CPUs and its name, from /proc/interrupts. */
function procInterrupts(): Map<number, { count: number; name: string }> {
  const out = new Map<number, { count: number; name: string }>();
  const lines = readFileSync('/proc/interrupts', 'utf8').split('\n');
  const ncpu = (lines[0] ?? '').trim().split(/\s+/).length;
  for (const line of lines.slice(1)) {
    const m = /^\s*(\d+):\s+(.*)$/.exec(line);
    if (!m) continue;
    const fields = m[2]!.trim().split(/\s+/);
    const count = fields.slice(0, ncpu).reduce((a, f) => a + Number(f), 0);
    out.set(Number(m[1]), { count, name: fields[fields.length - 1] ?? '' });
  }
  return out;
}

describe('IRQ histograms fill', { skip, timeout: 60_000 }, () => {
  let h: Helper | undefined;
  const dir = mkdtempSync('/var/tmp/nslat-kernel-io-');
  after(async () => {
    await h?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('hard IRQ, softirq delay/time and NAPI work histograms fill under disk and loopback load', async () => {
    h = await Helper.start();
    const l = await h.loadOk('irq', 'irq');
    assert.ok(l.programs.some((pr) => pr.status === 'attached'), 'irq programs attached');
    await h.snapshot();
    const from = h.mark();
    const before = procInterrupts();
    // Disk: 4 × 4 MiB of O_DIRECT writes with fsync (bounded: 16 MiB, 20 s).
    for (let i = 0; i < 4; i++) {
      await execa('dd', ['if=/dev/zero', `of=${join(dir, 'io')}`, 'bs=64k', 'count=64', 'oflag=direct', 'conv=fsync'], { timeout: 20_000 });
    }
    // Network: loopback UDP (raises NET_RX per packet through netif_rx → backlog NAPI).
    await runFlow({ proto: 'udp', family: 4, count: 300, size: 200, intervalMs: 1, timeoutS: 10 });
    await sleep(100);
    const afterIrq = procInterrupts();
    await h.snapshot();
    const t = Totals.of(h.snapshotsSince(from));
    const lines: string[] = [];

    // Hard IRQs: some line fired, with positive handler times, and each line's count agrees with
    // /proc/interrupts over the same window (the probe sees every handler run, and only real ones).
    const hard = t.list({ kind: 'hardirq' }).filter((x) => x.count > 0);
    assert.ok(hard.length > 0, `hardirq histograms with counts (kinds seen: ${[...new Set(t.list().map((x) => x.kind))].join(', ')})`);
    for (const x of hard) {
      assert.ok(x.sum > 0, `hardirq ${x.name}: positive handler time`);
      assert.ok(typeof x.irq === 'number', `hardirq ${x.name} carries its irq number`);
      lines.push(`  hardirq ${x.name} (irq ${x.irq}): n=${x.count} p50=${formatNs(p(x, 0.5))} mean=${formatNs(mean(x))}`);
    }
    let checked = 0;
    for (const [irq, a] of afterIrq) {
      const delta = a.count - (before.get(irq)?.count ?? 0);
      if (delta < 20) continue;
      const seen = t.list({ kind: 'hardirq' }).filter((x) => x.irq === irq).reduce((s, x) => s + x.count, 0);
      lines.push(`  irq ${irq} ${a.name}: /proc/interrupts +${delta}, hardirq histogram n=${seen}`);
      // The snapshot window is a little wider than the /proc/interrupts window (it starts earlier
      // and ends later), so the histogram may count more; it must not count much less.
      assert.ok(seen >= delta * 0.8, `irq ${irq} (${a.name}): /proc/interrupts says +${delta}, histogram has ${seen}`);
      assert.ok(seen <= delta * 2 + 50, `irq ${irq} (${a.name}): histogram has ${seen}, far more than /proc/interrupts' +${delta}`);
      checked++;
    }
    assert.ok(checked > 0, 'the disk writes raised at least one IRQ line by ≥ 20 (else the cross-check proves nothing)');

    // Softirqs: NET_RX (loopback traffic) and TIMER (always) have raise→entry delays and run times.
    for (const kind of ['softirq_delay', 'softirq_time']) {
      const all = t.list({ kind }).filter((x) => x.count > 0);
      assert.ok(all.length > 0, `${kind} histograms with counts`);
      for (const vec of [NET_RX, TIMER]) {
        const xs = all.filter((x) => x.vec === vec);
        const n = xs.reduce((s, x) => s + x.count, 0);
        const sum = xs.reduce((s, x) => s + x.sum, 0);
        assert.ok(n > 0, `${kind} vec ${vec}: packets/raises counted (have vecs ${[...new Set(all.map((x) => x.vec))].join(',')})`);
        assert.ok(sum > 0, `${kind} vec ${vec}: positive times`);
        lines.push(`  ${kind} vec ${vec} (${xs[0]?.name}): n=${n} mean=${formatNs(sum / n)}`);
      }
      // Per CPU, not per PID: each series names its CPU, within range.
      for (const x of all) assert.ok(x.cpu === undefined || (x.cpu >= 0 && x.cpu < h.hello.ncpus), `${kind} cpu ${x.cpu} in range`);
    }

    // NAPI work: loopback packets go through the backlog NAPI; packets per poll ≤ the budget (64
    // by default: bucket 7 holds 64..127, so nothing above bucket 7).
    const napi = t.list({ kind: 'napi_work' }).filter((x) => x.count > 0);
    assert.ok(napi.length > 0, 'napi_work histograms with counts');
    for (const x of napi) {
      const over = x.buckets.slice(8).reduce((a, b) => a + b, 0);
      assert.equal(over, 0, `napi_work ${x.name}: no poll did more than 127 packets (budget 64): ${JSON.stringify(x.buckets)}`);
      lines.push(`  napi_work ${x.name}: polls=${x.count} packets=${x.sum} p50=${p(x, 0.5).toFixed(1)}`);
    }
    console.log(`# irq window:\n${lines.join('\n')}`);
    await h.quit();
    h.assertProtocolClean();
  });
});

describe('IRQ sampling: 1 in N events timed, chosen before the clock is read', { skip, timeout: 60_000 }, () => {
  let h: Helper | undefined;
  after(async () => {
    await h?.dispose();
  });

  test('at irq_measure_every = 8 about an eighth of the softirq runs and NAPI polls are timed, and every poll is still counted', async () => {
    const N = 8;
    h = await Helper.start();
    await h.loadOk('irq', 'irq', { data: { irq_measure_every: N } });
    await h.snapshot();
    const from = h.mark();
    const before = procSoftirqs();
    await runFlow({ proto: 'udp', family: 4, count: 3000, size: 200, intervalMs: 0, timeoutS: 15 });
    await sleep(100);
    const afterRuns = procSoftirqs();
    await h.snapshot();
    const t = Totals.of(h.snapshotsSince(from));
    const runs = (afterRuns[NET_RX] ?? 0) - (before[NET_RX] ?? 0);
    const timed = t.list({ kind: 'softirq_delay' }).filter((x) => x.vec === NET_RX).reduce((a, x) => a + x.count, 0);
    const timedRun = t.list({ kind: 'softirq_time' }).filter((x) => x.vec === NET_RX).reduce((a, x) => a + x.count, 0);
    console.log(`# NET_RX: /proc/softirqs +${runs} runs; timed ${timed} raise→entry delays and ${timedRun} run times at 1 in ${N}`);
    assert.ok(runs >= 400, `the flow ran NET_RX often enough to judge the share (${runs} runs)`);
    // Picked at random gaps of mean N: the share is 1/N up to sampling noise (a few per cent of the
    // count at this size); the window of the snapshots is a little wider than /proc's.
    assert.ok(timed >= runs / N / 2 && timed <= (runs / N) * 2 + 20, `timed ${timed} of ${runs} NET_RX runs, expected about ${Math.round(runs / N)}`);
    // A timed run is timed from its raise to its end: run times come from the same runs.
    assert.ok(Math.abs(timedRun - timed) <= Math.max(3, timed * 0.05), `run times (${timedRun}) and delays (${timed}) of the same timed runs`);
    const polls = t.counters.get('irq.napi_polls') ?? 0;
    const pollsTimed = t.list({ kind: 'napi_work' }).reduce((a, x) => a + x.count, 0);
    assert.ok(polls >= 400, `NAPI polls counted, every one (${polls})`);
    assert.ok(pollsTimed >= polls / N / 2 && pollsTimed <= (polls / N) * 2 + 20, `${pollsTimed} of ${polls} NAPI polls in the work histogram, expected about ${Math.round(polls / N)}`);
    await h.quit();
    h.assertProtocolClean();
  });
});

/**
 * Soak: a local Session (rx, tx, irq) with every message into an Aggregator and a panel delta at
 * 10/s, as the extension host runs it, under sockperf UDP throughput on loopback (--mps, default
 * 120 000 messages/s), with a reload of the rx probe every --reload-s seconds. Samples the helper's
 * RSS (/proc) and this process's heap (after a forced GC) every --sample-s seconds and reports:
 * flatness after --warmup-min minutes (max deviation from the median, and the trend), lost
 * snapshots (gaps in seq), failed reloads, and per packet slot whether every packet that started
 * either finished or is covered by a loss counter.
 *
 * The Aggregator keeps one interval per snapshot up to its cap (--max-intervals, default the
 * Aggregator's own, 1800: 30 min at 1 s) and merges older ones pairwise past it, so its history
 * grows until the cap is reached. The heap can only be flat once it has: for a run shorter than the
 * cap, pass a smaller cap (and --full-res-s) so that it is reached during the warm-up.
 *
 *   node --expose-gc --import tsx bench/soak.ts [--minutes 30] [--mps 120000] [--reload-s 60]
 *        [--sample-s 10] [--warmup-min 3] [--max-intervals N] [--full-res-s S]
 *        [--out bench/results/DATE-soak.md]
 *
 * Root (loads BPF); loopback only; bounded by --minutes. Not part of npm test.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Aggregator } from '../src/core/aggregate.ts';
import { Session } from '../src/core/session.ts';
import { sleep, sockperfServer, spawnTracked, stopChild, killAllChildrenSync } from './lib.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    mps: { type: 'string', default: '120000' },
    'reload-s': { type: 'string', default: '60' },
    'sample-s': { type: 'string', default: '10' },
    'warmup-min': { type: 'string', default: '3' },
    'max-intervals': { type: 'string' },
    'full-res-s': { type: 'string' },
    out: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const mps = Number(values.mps);
const reloadS = Number(values['reload-s']);
const sampleS = Number(values['sample-s']);
const warmupMin = Math.min(Number(values['warmup-min']), minutes / 2);
const maxIntervals = values['max-intervals'] === undefined ? undefined : Number(values['max-intervals']);
const fullResS = values['full-res-s'] === undefined ? undefined : Number(values['full-res-s']);
if (maxIntervals !== undefined && !(maxIntervals >= 4 && maxIntervals <= 100_000)) throw new Error('soak: --max-intervals out of bounds');
if (fullResS !== undefined && !(fullResS >= 0 && fullResS <= 86_400)) throw new Error('soak: --full-res-s out of bounds');
if (!(minutes > 0 && minutes <= 240 && mps > 0 && mps <= 2_000_000 && reloadS >= 5 && sampleS >= 1)) throw new Error('soak: arguments out of bounds');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

/** The counters nslat.h marks as loss (NSLAT_CNT_LOSS_MASK), as snapshots name them. */
const LOSS = ['ringbuf_drop', 'map_full', 'stale', 'irq_out_of_range', 'udp_unpaired', 'evicted', 'udp_queue_race'];
/** Loss counters that each stand for one started packet whose end was never counted: its state was
 *  discarded (stale) or overwritten (evicted). */
const PACKET_LOSS = ['stale', 'evicted'];
/** Loss counters that count reads, not packets. A UDP read nslat could not pair (udp_unpaired)
 *  leaves the datagram it read unfinished (its state lingers until its slot is reused, which may
 *  count it as evicted too), so at most one unfinished packet per unpaired read; a queue walk given
 *  up (udp_queue_race) leaves datagrams without their enqueue stamp, whose reads are then counted
 *  unpaired: not a packet count at all. */
const ATTRIBUTION_LOSS = ['udp_unpaired', 'udp_queue_race'];
/** The rest lose no started packet: ringbuf_drop loses the journey of a finished one,
 *  irq_out_of_range an IRQ, map_full a packet that could not be tracked and so never started, or a
 *  socket whose reads cannot be paired: its datagrams then stay unfinished uncounted, so the check
 *  below holds only with map_full 0. */

const rssKb = (pid: number): number => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? NaN);
const loPackets = (): number => Number(readFileSync('/sys/class/net/lo/statistics/rx_packets', 'utf8'));

const port = 20_000 + (process.pid % 20_000);
const server = sockperfServer('udp', port);
await sleep(500);
const session = await Session.start({ stages: ['rx', 'tx', 'irq'], intervalMs: 1000, sampleEvery: 1000 });
const helperPid = session.hello.pid;
const agg = new Aggregator({ ...(maxIntervals !== undefined ? { maxIntervals } : {}), ...(fullResS !== undefined ? { fullResolutionMs: fullResS * 1000 } : {}) });
let lastSeq: number | undefined;
let snapshots = 0;
let lostSnapshots = 0;
let journeys = 0;
const totals = new Map<string, number>();
session.subscribe((m) => {
  agg.ingest(m);
  if (m.type === 'journey') journeys++;
  if (m.type !== 'snapshot') return;
  snapshots++;
  if (lastSeq !== undefined && m.seq !== lastSeq + 1) lostSnapshots += Math.max(0, m.seq - lastSeq - 1);
  lastSeq = m.seq;
  for (const s of m.slots) for (const [k, v] of Object.entries(s.counters)) totals.set(`${s.slot}.${k}`, (totals.get(`${s.slot}.${k}`) ?? 0) + v);
});
const panel = setInterval(() => JSON.stringify(agg.panelDelta()), 100);

interface Sample { t_s: number; helper_rss_kb: number; heap_kb: number; lo_pps: number; intervals: number }
const samples: Sample[] = [];
const reloads: Array<{ t_s: number; ok: boolean; ms: number; error?: string }> = [];
const t0 = Date.now();
const end = t0 + minutes * 60_000;
const elapsed = () => (Date.now() - t0) / 1000;

// sockperf tp at a fixed rate for the whole soak (bounded by its own -t).
const load = spawnTracked('sockperf', ['tp', '-i', '127.0.0.1', '-p', String(port), '-t', String(Math.ceil(minutes * 60) + 5), '-m', '64', `--mps=${mps}`]);

let nextReload = t0 + reloadS * 1000;
let nextSample = t0;
let lo0 = loPackets();
let loT = Date.now();
try {
  while (Date.now() < end) {
    if (Date.now() >= nextSample) {
      gc();
      const lo = loPackets();
      const now = Date.now();
      samples.push({ t_s: elapsed(), helper_rss_kb: rssKb(helperPid), heap_kb: Math.round(process.memoryUsage().heapUsed / 1024), lo_pps: Math.round(((lo - lo0) * 1000) / Math.max(1, now - loT)), intervals: agg.intervalCount() });
      lo0 = lo;
      loT = now;
      nextSample += sampleS * 1000;
    }
    if (Date.now() >= nextReload) {
      const r0 = performance.now();
      const r = await session.reload('rx');
      reloads.push({ t_s: elapsed(), ok: r.ok, ms: Math.round(performance.now() - r0), ...(r.ok ? {} : { error: r.error }) });
      nextReload += reloadS * 1000;
    }
    if (session.ended) throw new Error(`the session ended: ${session.ended.error ?? session.ended.reason}`);
    await sleep(200);
  }
} finally {
  clearInterval(panel);
  await stopChild(load);
  // The reader drains its queue, and a reloaded slot's previous object, which finishes the packets
  // it started, is retired at the next snapshot: wait past two so that nothing is in flight.
  await sleep(2500);
  await session.snapshot().catch(() => undefined);
  await session.stop().catch(() => undefined);
  await stopChild(server);
  killAllChildrenSync();
}

// ------------------------------------------------------------------ figures
const steady = samples.filter((s) => s.t_s >= warmupMin * 60);
const spread = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const med = sorted[Math.floor(sorted.length / 2)] ?? NaN;
  return { median: med, min: sorted[0] ?? NaN, max: sorted[sorted.length - 1] ?? NaN, dev_pct: med ? (Math.max(med - (sorted[0] ?? med), (sorted[sorted.length - 1] ?? med) - med) / med) * 100 : NaN };
};
/** Least-squares slope of ys over xs, per minute (xs in seconds). */
const slopePerMin = (xs: number[], ys: number[]) => {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  return sxx ? (xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / sxx) * 60 : NaN;
};
const rss = spread(steady.map((s) => s.helper_rss_kb));
const heap = spread(steady.map((s) => s.heap_kb));
const heapSlope = slopePerMin(steady.map((s) => s.t_s), steady.map((s) => s.heap_kb));
const rssSlope = slopePerMin(steady.map((s) => s.t_s), steady.map((s) => s.helper_rss_kb));
const ivs = spread(steady.map((s) => s.intervals));
const pps = spread(steady.map((s) => s.lo_pps));
const c = (k: string) => totals.get(k) ?? 0;
const sum = (slot: string, names: string[]) => names.reduce((a, n) => a + c(`${slot}.${n}`), 0);
// Every started packet either finished (a kernel drop is a finish too: its journey ends at
// kfree_skb) or is covered by a counter: its state was discarded (stale, evicted) or the read that
// ended it could not be paired (at most one per udp_unpaired). Nothing is in flight at the end (the
// load stops, the queue drains, the last reload's old object is retired). So, with map_full 0,
//   0 <= started - finished - packet-losing counters <= udp_unpaired
// is "no loss beyond what the loss counters report": above, packets vanished without a counter;
// below zero, a packet was counted twice.
const slotRows = ['rx', 'tx'].map((slot) => {
  const started = c(`${slot}.started`);
  const finished = c(`${slot}.finished`);
  const packetLoss = sum(slot, PACKET_LOSS);
  const gap = started - finished - packetLoss;
  const unpaired = c(`${slot}.udp_unpaired`);
  return { slot, started, finished, dropped: c(`${slot}.dropped`), packetLoss, gap, unpaired, race: c(`${slot}.udp_queue_race`), ok: gap >= 0 && gap <= unpaired && c(`${slot}.map_full`) === 0 };
});
const pct = (n: number, of: number) => (of ? ((n / of) * 100).toFixed(4) : '0');
const okReloads = reloads.filter((r) => r.ok).length;
const verdict = (b: boolean) => (b ? 'yes' : '**no**');
const md = `# Soak, ${new Date(t0).toISOString().slice(0, 10)}

\`node --expose-gc --import tsx bench/soak.ts --minutes ${minutes} --mps ${mps} --reload-s ${reloadS} --sample-s ${sampleS} --warmup-min ${warmupMin}${maxIntervals !== undefined ? ` --max-intervals ${maxIntervals}` : ''}${fullResS !== undefined ? ` --full-res-s ${fullResS}` : ''}\`
(a local Session with rx, tx and irq, every message into an Aggregator, a panel delta at 10/s;
sockperf UDP throughput on loopback; the rx probe reloaded every ${reloadS} s).

| figure | value | goal |
|---|---|---|
| duration | ${(elapsed() / 60).toFixed(1)} min | ${minutes} min |
| loopback packets/s after warm-up (median, min) | ${pps.median} (${pps.min}) | ≥ 100 000 |
| helper RSS after warm-up: median, min–max, max deviation | ${rss.median} kB, ${rss.min}–${rss.max} kB, ${rss.dev_pct.toFixed(2)} % | ±5 %: ${verdict(rss.dev_pct <= 5)} |
| helper RSS trend after warm-up | ${rssSlope.toFixed(1)} kB/min | |
| core heap (after GC) after warm-up: median, min–max, max deviation | ${heap.median} kB, ${heap.min}–${heap.max} kB, ${heap.dev_pct.toFixed(2)} % | ±5 %: ${verdict(heap.dev_pct <= 5)} |
| core heap trend after warm-up | ${heapSlope.toFixed(1)} kB/min | |
| Aggregator intervals held after warm-up: median, min–max (cap) | ${ivs.median}, ${ivs.min}–${ivs.max} (${maxIntervals ?? 'default 1800'}) | |
| snapshots received, lost (seq gaps) | ${snapshots}, ${lostSnapshots} | 0 lost: ${verdict(lostSnapshots === 0)} |
| reloads ok / tried (median ms) | ${okReloads} / ${reloads.length} (${[...reloads.map((r) => r.ms)].sort((a, b) => a - b)[Math.floor(reloads.length / 2)] ?? '-'}) | all |
| journeys received | ${journeys} | |

Packets per slot. A started packet either finished (kernel drops are finishes: the journey ends at
kfree_skb) or its state was discarded (stale) or overwritten (evicted); what remains, the gap, is
datagrams whose read could not be paired, at most one per unpaired read (udp_unpaired counts reads,
and a lingering datagram's state may later be evicted too). Nothing is in flight at the end. No loss
beyond the loss counters means 0 ≤ gap ≤ udp_unpaired, with map_full 0 (a socket nslat could not
track leaves its datagrams unfinished without a count per read).

| slot | started | finished (of which dropped) | stale + evicted | gap | udp_unpaired (reads) | 0 ≤ gap ≤ unpaired, map_full 0 |
|---|---|---|---|---|---|---|
${slotRows.map((r) => `| ${r.slot} | ${r.started} | ${r.finished} (${r.dropped}) | ${r.packetLoss} (${pct(r.packetLoss, r.started)} %) | ${r.gap} (${pct(r.gap, r.started)} %) | ${r.unpaired} (${pct(r.unpaired, r.started)} %) | ${verdict(r.ok)} |`).join('\n')}

Attribution losses (reads, not packets), reported apart: ${slotRows.map((r) => `${r.slot} udp_unpaired ${r.unpaired}, udp_queue_race ${r.race}`).join('; ')}.
Other loss counters (no started packet lost): ${LOSS.filter((n) => !PACKET_LOSS.includes(n) && !ATTRIBUTION_LOSS.includes(n)).map((n) => `${n} ${c(`rx.${n}`) + c(`tx.${n}`) + c(`irq.${n}`)}`).join(', ')}.
All loss counters: ${LOSS.map((n) => `${n} ${c(`rx.${n}`) + c(`tx.${n}`) + c(`irq.${n}`)}`).join(', ')}.
${reloads.filter((r) => !r.ok).map((r) => `\nFailed reload at ${r.t_s.toFixed(0)} s: ${r.error}`).join('')}

Samples (every ${sampleS} s): t s, helper RSS kB, heap kB, lo packets/s, Aggregator intervals

\`\`\`
${samples.map((s) => `${s.t_s.toFixed(0)} ${s.helper_rss_kb} ${s.heap_kb} ${s.lo_pps} ${s.intervals}`).join('\n')}
\`\`\`
`;
const out = values.out ?? `bench/results/${new Date(t0).toISOString().slice(0, 10)}-soak.md`;
writeFileSync(out, md);
process.stdout.write(md);
process.exit(0);

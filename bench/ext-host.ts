/**
 * Extension-host cost proxy (run by bench/main.ts in its own node process, so its CPU time is its
 * own): a local Session with rx, tx and irq at the given snapshot interval, every message into an
 * Aggregator, panelDelta() (serialised like postMessage would) at 10/s. Prints "READY" once the
 * probes are attached (the caller then starts the load), then one JSON line with CPU and memory.
 *
 *   node --import tsx bench/ext-host.ts [--interval-ms 100] [--seconds 15] [--warmup 2]
 */
import { parseArgs } from 'node:util';
import { Aggregator } from '../src/core/aggregate.ts';
import { Session } from '../src/core/session.ts';

const { values } = parseArgs({ options: { 'interval-ms': { type: 'string', default: '100' }, seconds: { type: 'string', default: '15' }, warmup: { type: 'string', default: '2' } } });
const intervalMs = Number(values['interval-ms']);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const session = await Session.start({ stages: ['rx', 'tx', 'irq'], intervalMs, sampleEvery: 1000 });
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await session.stop().catch(() => undefined);
};
process.on('SIGTERM', () => void stop().then(() => process.exit(1)));
try {
  const agg = new Aggregator();
  let snaps = 0, journeys = 0, deltas = 0, deltaBytes = 0, deltaMsMax = 0;
  session.subscribe((m) => {
    if (m.type === 'snapshot') snaps++;
    else if (m.type === 'journey') journeys++;
    agg.ingest(m);
  });
  const tick = setInterval(() => {
    const t0 = performance.now();
    const d = agg.panelDelta();
    deltaBytes += JSON.stringify(d).length;
    deltaMsMax = Math.max(deltaMsMax, performance.now() - t0);
    deltas++;
  }, 100);
  process.stdout.write('READY\n');
  await sleep(warmup * 1000);
  const cpu0 = process.cpuUsage();
  const s0 = snaps, j0 = journeys, d0 = deltas, b0 = deltaBytes;
  const w0 = performance.now();
  const heap0 = process.memoryUsage().heapUsed;
  await sleep(seconds * 1000);
  const wall = (performance.now() - w0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const mem = process.memoryUsage();
  clearInterval(tick);
  const out = {
    interval_ms: intervalMs,
    seconds: wall,
    cpu_ms_per_s: (cpu.user + cpu.system) / 1000 / wall,
    cpu_user_ms_per_s: cpu.user / 1000 / wall,
    snapshots_per_s: (snaps - s0) / wall,
    journeys_per_s: (journeys - j0) / wall,
    deltas_per_s: (deltas - d0) / wall,
    delta_kb_mean: (deltaBytes - b0) / Math.max(1, deltas - d0) / 1000,
    delta_ms_max: deltaMsMax,
    heap_used_mb: mem.heapUsed / 1e6,
    heap_growth_mb: (mem.heapUsed - heap0) / 1e6,
    rss_mb: mem.rss / 1e6,
    series: agg.seriesCount(),
    intervals: agg.intervalCount(),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  await stop();
}
process.exit(0);

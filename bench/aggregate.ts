/**
 * Aggregation cost and memory over a long session (a benchmark, not a test):
 *   node --expose-gc --import tsx bench/aggregate.ts [hours=4]
 * Feeds 1 s snapshots shaped like test/fixtures/helper-stream.jsonl (42 series: RX/TX stages and
 * cum, per-CPU IRQ on 2 CPUs) plus 2 journeys per snapshot, then prints ingest time per snapshot,
 * heap growth, intervals/journeys held, and the cost of report()/panelState()/panelDelta().
 */
import { Aggregator } from '../src/core/aggregate.ts';
import type { HelperMessage, SnapshotMessage } from '../src/core/protocol.ts';
import { makeStream } from '../test/fixtures/stream.ts';

const hours = Number(process.argv[2] ?? 4);
const base = makeStream({ snapshots: 60 });
const snaps = base.filter((m): m is SnapshotMessage => m.type === 'snapshot');
const others = base.filter((m) => m.type === 'journey');
const head = base.filter((m) => m.type === 'hello' || m.type === 'loaded').slice(0, 4);
const gc = (globalThis as { gc?: () => void }).gc;

const agg = new Aggregator();
for (const m of head) agg.ingest(m);
gc?.();
const heap0 = process.memoryUsage().heapUsed;
const n = Math.round(hours * 3600);
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  const s = snaps[i % snaps.length]!;
  agg.ingest({ ...s, seq: i, mono_ns: 5e12 + (i + 1) * 1e9 });
  for (let k = 0; k < 2; k++) agg.ingest(others[(2 * i + k) % others.length] as HelperMessage);
}
const t1 = performance.now();
gc?.();
const heap1 = process.memoryUsage().heapUsed;
const time = (f: () => unknown): [number, number] => {
  const a = performance.now();
  const r = f();
  return [performance.now() - a, JSON.stringify(r).length];
};
const [tr] = time(() => agg.report());
const [tp, sp] = time(() => agg.panelState());
agg.ingest({ ...snaps[0]!, seq: n, mono_ns: 5e12 + (n + 1) * 1e9 });
const [td, sd] = time(() => agg.panelDelta());
console.log(`${n} snapshots (${hours} h at 1 Hz), ${agg.seriesCount()} series`);
console.log(`ingest: ${((t1 - t0) / n).toFixed(3)} ms per snapshot (+2 journeys)`);
console.log(`heap growth: ${((heap1 - heap0) / 1e6).toFixed(1)} MB${gc ? '' : ' (run with --expose-gc for a settled figure)'}; intervals held ${agg.intervalCount()}, journeys ${agg.journeys().length}`);
console.log(`report(): ${tr.toFixed(1)} ms; panelState(): ${tp.toFixed(1)} ms, ${(sp / 1e6).toFixed(2)} MB JSON; panelDelta() after one snapshot: ${td.toFixed(2)} ms, ${(sd / 1e3).toFixed(1)} kB JSON`);

/**
 * Aggregation cost and memory over a long session (a benchmark, not a test):
 *   node --expose-gc --import tsx bench/aggregate.ts [hours=4]
 * Feeds 1 s snapshots shaped like test/fixtures/helper-stream.jsonl (42 series: RX/TX stages and
 * cum, per-CPU IRQ on 2 CPUs) plus 2 journeys per snapshot, then prints ingest time per snapshot,
 * heap growth, intervals/journeys held, and the cost of report()/panelState()/panelDelta().
 *
 * Two aggregators are fed the same snapshots side by side, interleaved snapshot by snapshot: one
 * without host counters, one with the host samples recorded from the real helper
 * (test/fixtures/helper-host.jsonl: 8 interfaces in 3 namespaces, 2 CPUs, IRQ lines, protocol
 * counters, a socket) in every snapshot, so the host counters' share of each figure is a ratio
 * taken within one run.
 */
import { Aggregator } from '../src/core/aggregate.ts';
import type { HelperMessage, HostSample, SnapshotMessage } from '../src/core/protocol.ts';
import { hostRecorded } from '../test/fixtures/host-recorded.ts';
import { makeStream } from '../test/fixtures/stream.ts';

const hours = Number(process.argv[2] ?? 4);
const base = makeStream({ snapshots: 60 });
const snaps = base.filter((m): m is SnapshotMessage => m.type === 'snapshot');
const others = base.filter((m) => m.type === 'journey');
const head = base.filter((m) => m.type === 'hello' || m.type === 'loaded').slice(0, 4);
const samples = hostRecorded().flatMap((m) => (m.type === 'snapshot' && m.host ? [m.host] : []));
const gc = (globalThis as { gc?: () => void }).gc;

const settled = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed;
};

let plain = new Aggregator();
let withHost = new Aggregator();
for (const m of head) {
  plain.ingest(m);
  withHost.ingest(m);
}
const n = Math.round(hours * 3600);
let tPlain = 0;
let tHost = 0;
const snapshot = (i: number, host?: HostSample): SnapshotMessage => ({ ...snaps[i % snaps.length]!, seq: i, mono_ns: 5e12 + (i + 1) * 1e9, ...(host ? { host } : {}) });
for (let i = 0; i < n; i++) {
  const s = snapshot(i);
  const h = snapshot(i, samples[i % samples.length]);
  // alternate which one goes first, so neither always runs on a warmer cache
  const order: Array<[Aggregator, SnapshotMessage, boolean]> = i % 2 ? [[withHost, h, true], [plain, s, false]] : [[plain, s, false], [withHost, h, true]];
  for (const [agg, msg, isHost] of order) {
    const a = performance.now();
    agg.ingest(msg);
    for (let k = 0; k < 2; k++) agg.ingest(others[(2 * i + k) % others.length] as HelperMessage);
    const d = performance.now() - a;
    if (isHost) tHost += d;
    else tPlain += d;
  }
}

/** report(), panelState() and panelDelta() after one more snapshot of both aggregators, taken
 *  alternately five times: median ms and the JSON size of each. */
type Figures = { tr: number; tp: number; sp: number; td: number; sd: number };
const figures = (): [Figures, Figures] => {
  const runs: Array<[Record<string, number>, Record<string, number>]> = [];
  for (let r = 0; r < 5; r++) {
    const pair: [Record<string, number>, Record<string, number>] = [{}, {}];
    for (const [j, agg] of (r % 2 ? [[1, withHost], [0, plain]] : [[0, plain], [1, withHost]]) as Array<[0 | 1, Aggregator]>) {
      const f = pair[j];
      let a = performance.now();
      agg.report();
      f.tr = performance.now() - a;
      a = performance.now();
      const st = agg.panelState();
      f.tp = performance.now() - a;
      f.sp = JSON.stringify(st).length;
      agg.ingest(snapshot(n + r, j ? samples[(n + r) % samples.length] : undefined));
      a = performance.now();
      const d = agg.panelDelta();
      f.td = performance.now() - a;
      f.sd = JSON.stringify(d).length;
    }
    runs.push(pair);
  }
  const med = (j: 0 | 1, k: string) => runs.map((p) => p[j][k]!).sort((x, y) => x - y)[2]!;
  const of = (j: 0 | 1): Figures => ({ tr: med(j, 'tr'), tp: med(j, 'tp'), sp: med(j, 'sp'), td: med(j, 'td'), sd: med(j, 'sd') });
  return [of(0), of(1)];
};
const [fPlain, fHost] = figures();
const intervals = plain.intervalCount();
const series = plain.seriesCount();
const journeys = plain.journeys().length;

// Memory: each fed again on its own, the heap settled before and after.
const build = (host: boolean): Aggregator => {
  const agg = new Aggregator();
  for (const m of head) agg.ingest(m);
  for (let i = 0; i < n; i++) {
    agg.ingest(snapshot(i, host ? samples[i % samples.length] : undefined));
    for (let k = 0; k < 2; k++) agg.ingest(others[(2 * i + k) % others.length] as HelperMessage);
  }
  return agg;
};
plain = withHost = new Aggregator();
const heap0 = settled();
const keepPlain = build(false);
const heap1 = settled();
const keepHost = build(true);
const heap2 = settled();
void keepPlain.intervalCount();
void keepHost.intervalCount();

const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');
console.log(`${n} snapshots (${hours} h at 1 Hz), ${series} series; intervals held ${intervals}, journeys ${journeys}`);
console.log(`ingest per snapshot (+2 journeys): ${(tPlain / n).toFixed(3)} ms without host counters, ${(tHost / n).toFixed(3)} ms with (${ratio(tHost, tPlain)})`);
if (gc) console.log(`heap held: ${((heap1 - heap0) / 1e6).toFixed(1)} MB without host counters, ${((heap2 - heap1) / 1e6).toFixed(1)} MB with (${ratio(heap2 - heap1, heap1 - heap0)})`);
else console.log('heap: run with --expose-gc for settled figures');
for (const [name, f] of [['without host counters', fPlain], ['with host counters', fHost]] as const) {
  console.log(`${name}: report() ${f.tr.toFixed(1)} ms; panelState() ${f.tp.toFixed(1)} ms, ${(f.sp / 1e6).toFixed(2)} MB JSON; panelDelta() after one snapshot ${f.td.toFixed(2)} ms, ${(f.sd / 1e3).toFixed(1)} kB JSON`);
}
console.log(`with/without: report() ${ratio(fHost.tr, fPlain.tr)}, panelState() ${ratio(fHost.tp, fPlain.tp)} (JSON ${ratio(fHost.sp, fPlain.sp)}), panelDelta() ${ratio(fHost.td, fPlain.td)} (JSON ${ratio(fHost.sd, fPlain.sd)})`);

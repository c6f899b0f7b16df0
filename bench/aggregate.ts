/**
 * Aggregation cost and memory over a long session (a benchmark, not a test):
 *   node --expose-gc --import tsx bench/aggregate.ts [hours=4] [--baseline GIT_REF]
 * Feeds 1 s snapshots shaped like test/fixtures/helper-stream.jsonl (42 series: RX/TX stages and
 * cum, per-CPU IRQ on 2 CPUs) plus 2 journeys per snapshot, then prints ingest time per snapshot,
 * heap growth, intervals/journeys held, and the cost of report()/panelState()/panelDelta().
 *
 * Two aggregators are fed the same snapshots side by side, interleaved snapshot by snapshot: one
 * without host counters, one with the host samples recorded from the real helper
 * (test/fixtures/helper-host.jsonl: 8 interfaces in 3 namespaces, 2 CPUs, IRQ lines, protocol
 * counters, a socket) in every snapshot, so the host counters' share of each figure is a ratio
 * taken within one run.
 *
 * --baseline GIT_REF adds the same two aggregators as src/core is at that commit (copied into
 * .cache/bench/, beside node_modules), fed the same snapshots interleaved with the others, and
 * prints each figure of this tree against the baseline's, taken in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Aggregator } from '../src/core/aggregate.ts';
import type { HelperMessage, HostSample, SnapshotMessage } from '../src/core/protocol.ts';
import { hostRecorded } from '../test/fixtures/host-recorded.ts';
import { makeStream } from '../test/fixtures/stream.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { baseline: { type: 'string' } } });
const hours = Number(positionals[0] ?? 4);

/** What the benchmark calls of an Aggregator (this tree's or a baseline's). */
interface Agg {
  ingest(m: HelperMessage, recvMs?: number): void;
  report(): unknown;
  panelState(): unknown;
  panelDelta(): unknown;
  intervalCount(): number;
  seriesCount(): number;
  journeys(): unknown[];
}
type AggClass = new () => Agg;

/** src/core as it is at `ref`, copied into .cache/bench/ (so its imports find node_modules). */
async function baselineAggregator(ref: string): Promise<{ sha: string; Aggregator: AggClass }> {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const sha = git('rev-parse', '--short', `${ref}^{commit}`).trim();
  const dir = join(ROOT, '.cache', 'bench', `aggregate-baseline-${sha}`);
  const files = git('ls-tree', '-r', '--name-only', sha, '--', 'src/core').split('\n').filter(Boolean);
  if (!files.includes('src/core/aggregate.ts')) throw new Error(`--baseline ${ref}: no src/core/aggregate.ts in that commit`);
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), git('show', `${sha}:${f}`));
  }
  const mod = (await import(pathToFileURL(join(dir, 'src/core/aggregate.ts')).href)) as { Aggregator: AggClass };
  return { sha, Aggregator: mod.Aggregator };
}

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

/** One aggregator under test: which code, with or without host counters. */
interface Arm {
  code: string;
  host: boolean;
  Class: AggClass;
  agg: Agg;
  ingestMs: number;
}

const codes: Array<[string, AggClass]> = [['this tree', Aggregator as unknown as AggClass]];
if (values.baseline) {
  const b = await baselineAggregator(values.baseline);
  codes.push([`baseline ${b.sha}`, b.Aggregator]);
}
const arms: Arm[] = codes.flatMap(([code, Class]) => [false, true].map((host) => ({ code, host, Class, agg: new Class(), ingestMs: 0 })));
for (const a of arms) for (const m of head) a.agg.ingest(m);

const n = Math.round(hours * 3600);
const snapshot = (i: number, host?: HostSample): SnapshotMessage => ({ ...snaps[i % snaps.length]!, seq: i, mono_ns: 5e12 + (i + 1) * 1e9, ...(host ? { host } : {}) });
/** The arms in a different order each round, so none always runs on a warmer cache. */
const rotated = (r: number): Arm[] => arms.map((_, k) => arms[(k + r) % arms.length]!);
for (let i = 0; i < n; i++) {
  for (const a of rotated(i)) {
    const msg = snapshot(i, a.host ? samples[i % samples.length] : undefined);
    const t0 = performance.now();
    a.agg.ingest(msg);
    for (let k = 0; k < 2; k++) a.agg.ingest(others[(2 * i + k) % others.length] as HelperMessage);
    a.ingestMs += performance.now() - t0;
  }
}

/** report() and panelState(), then five times one more snapshot and panelDelta(), of every
 *  aggregator in turn, five rounds: the median ms and JSON size of each (of 5 report() and
 *  panelState(), of 25 panelDelta()). */
type Figures = { tr: number; tp: number; sp: number; td: number; sd: number };
const taken = new Map<Arm, Record<keyof Figures, number[]>>(arms.map((a) => [a, { tr: [], tp: [], sp: [], td: [], sd: [] }]));
let extra = 0;
for (let r = 0; r < 5; r++) {
  for (const a of rotated(r)) {
    const f = taken.get(a)!;
    let t0 = performance.now();
    a.agg.report();
    f.tr.push(performance.now() - t0);
    t0 = performance.now();
    const st = a.agg.panelState();
    f.tp.push(performance.now() - t0);
    f.sp.push(JSON.stringify(st).length);
    for (let d = 0; d < 5; d++) {
      const i = n + 5 * r + d;
      a.agg.ingest(snapshot(i, a.host ? samples[i % samples.length] : undefined));
      t0 = performance.now();
      const delta = a.agg.panelDelta();
      f.td.push(performance.now() - t0);
      f.sd.push(JSON.stringify(delta).length);
    }
  }
  extra += 5;
}
const figures = (a: Arm): Figures => {
  const med = (k: keyof Figures) => {
    const v = taken.get(a)![k].slice().sort((x, y) => x - y);
    return v[v.length >> 1]!;
  };
  return { tr: med('tr'), tp: med('tp'), sp: med('sp'), td: med('td'), sd: med('sd') };
};
const intervals = arms[0]!.agg.intervalCount();
const series = arms[0]!.agg.seriesCount();
const journeys = arms[0]!.agg.journeys().length;

// Memory: each fed again on its own, the heap settled before and after; every one is kept until
// the end, so each figure is what that one holds.
const build = (a: Arm): Agg => {
  const agg = new a.Class();
  for (const m of head) agg.ingest(m);
  for (let i = 0; i < n; i++) {
    agg.ingest(snapshot(i, a.host ? samples[i % samples.length] : undefined));
    for (let k = 0; k < 2; k++) agg.ingest(others[(2 * i + k) % others.length] as HelperMessage);
  }
  return agg;
};
// Then what it holds beyond that once the host summary was built (report()): the hint rules'
// states and the stage percentiles they read, which a panel session keeps.
for (const a of arms) a.agg = undefined as unknown as Agg;
const heap = new Map<Arm, number>();
const summaryHeap = new Map<Arm, number>();
const kept: Agg[] = [];
for (const a of arms) {
  const before = settled();
  const agg = build(a);
  kept.push(agg);
  const held = settled();
  heap.set(a, held - before);
  agg.report();
  summaryHeap.set(a, settled() - held);
}
void kept.length;

const ratio = (x: number, y: number): string => (y > 0 ? `${(x / y).toFixed(2)}×` : '–');
const arm = (code: string, host: boolean): Arm => arms.find((a) => a.code === code && a.host === host)!;
console.log(`${n} snapshots (${hours} h at 1 Hz), then ${extra} more between the figures; ${series} series; intervals held ${intervals}, journeys ${journeys}`);
for (const [code] of codes) {
  const [plain, host] = [arm(code, false), arm(code, true)];
  const [fp, fh] = [figures(plain), figures(host)];
  const tag = codes.length > 1 ? `[${code}] ` : '';
  console.log(`${tag}ingest per snapshot (+2 journeys): ${(plain.ingestMs / n).toFixed(3)} ms without host counters, ${(host.ingestMs / n).toFixed(3)} ms with (${ratio(host.ingestMs, plain.ingestMs)})`);
  if (gc) {
    console.log(`${tag}heap held: ${(heap.get(plain)! / 1e6).toFixed(1)} MB without host counters, ${(heap.get(host)! / 1e6).toFixed(1)} MB with (${ratio(heap.get(host)!, heap.get(plain)!)})`);
    console.log(`${tag}heap held beyond that after a report() (hint states): ${(summaryHeap.get(plain)! / 1e6).toFixed(2)} MB without host counters, ${(summaryHeap.get(host)! / 1e6).toFixed(2)} MB with`);
  }
  else console.log(`${tag}heap: run with --expose-gc for settled figures`);
  for (const [name, f] of [['without host counters', fp], ['with host counters', fh]] as const) {
    console.log(`${tag}${name}: report() ${f.tr.toFixed(1)} ms; panelState() ${f.tp.toFixed(1)} ms, ${(f.sp / 1e6).toFixed(2)} MB JSON; panelDelta() after a snapshot ${f.td.toFixed(2)} ms, ${(f.sd / 1e3).toFixed(1)} kB JSON`);
  }
  console.log(`${tag}with/without: report() ${ratio(fh.tr, fp.tr)}, panelState() ${ratio(fh.tp, fp.tp)} (JSON ${ratio(fh.sp, fp.sp)}), panelDelta() ${ratio(fh.td, fp.td)} (JSON ${ratio(fh.sd, fp.sd)})`);
}
if (codes.length > 1) {
  const [cur, old] = [codes[0]![0], codes[1]![0]];
  for (const host of [false, true]) {
    const [a, b] = [arm(cur, host), arm(old, host)];
    const [fa, fb] = [figures(a), figures(b)];
    console.log(
      `${cur} / ${old}, ${host ? 'with' : 'without'} host counters: ingest ${ratio(a.ingestMs, b.ingestMs)}, report() ${ratio(fa.tr, fb.tr)}, panelState() ${ratio(fa.tp, fb.tp)}, panelDelta() ${ratio(fa.td, fb.td)} (JSON ${ratio(fa.sd, fb.sd)})${gc ? `, heap ${ratio(heap.get(a)!, heap.get(b)!)}` : ''}`,
    );
  }
}

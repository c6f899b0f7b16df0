/**
 * nslat benchmarks, run on purpose: `npm run bench` (bench/run.sh builds, then runs this as
 * root). Not part of the test suite. Bounded in time (about 10 minutes on 2 cores); every load is on
 * 127.0.0.1 and time-limited; every program loaded here is unloaded; kernel.bpf_stats_enabled is
 * restored.
 *
 *   node --import tsx bench/main.ts [--only probe,anatomy,e2e,ablation,reload,panel] [--quick] [--rounds N] [--pairs N]
 *   node --import tsx bench/main.ts --help
 *
 * 1. probe cost: (a) nslat rx+tx+irq, (b) empty programs on the same hooks (bench/empty-gen.ts
 *    generates them from the helper's `loaded` sections into .cache/bench/empty.bpf.c), (c) bpftrace bench/rx-stages.bt,
 *    (d) nslat at default sampling, (e) nslat timing 1 in 1024 (the floor sampling tends to); interleaved
 *    a,d,e,b,c per round under the same sockperf load; kernel bpf_stats per program id.
 *    anatomy: bench/anatomy.bpf.c, one operation of a boundary per program (timestamp, LRU update…).
 * 2. end to end: sockperf TCP ping-pong RTT p50/p99 off / empty programs / nslat, interleaved rounds
 *    (order rotated), iperf3 TCP throughput; ablation: RTT with only rx, tx, irq, or no journeys.
 * 3. start-up and reload latency through Session, locally and over SSH to 127.0.0.1 (test sshd).
 * 4. panel: bench/panel-render.ts; extension-host proxy (bench/ext-host.ts) at 100 ms snapshots.
 * Writes bench/results/<date>-<host>.md and .json.
 */
import { execa } from 'execa';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { LoadedMessage } from '../src/core/protocol.ts';
import { BENCH_BUILD, hookOf, writeEmpty } from './empty-gen.ts';
import {
  bpfStatsValue, iperf3, killAllChildrenSync, loRxPackets, mean, median, now, progIdsOfPid, progStats, quantile, RawHelper,
  setBpfStats, sleep, sockperfPP, sockperfServer, sockperfTP, spawnTracked, stopChild, timedStart, type ProgRun,
} from './lib.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BPF = path.join(ROOT, 'bpf');
const HELPER = path.join(BPF, 'build/nslat-helper');
const BT = path.join(ROOT, 'bench/rx-stages.bt');

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'probe,anatomy,e2e,ablation,reload,panel' },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    pairs: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write([
    'usage: npm run bench [-- --quick] [-- --only PARTS] [-- --rounds N] [-- --pairs N]',
    '  --only     comma-separated parts: probe,anatomy,e2e,ablation,reload,panel (default: all)',
    '  --quick    one round, two ping-pong pairs, shorter loads (a smoke run, not for results)',
    '  --rounds   rounds of part 1 (default 3)   --pairs   ping-pong pairs of part 2 (default 10)',
    'Needs root; writes bench/results/<date>-<host>.{md,json}. See bench/README.md.',
    '',
  ].join('\n'));
  process.exit(0);
}
const only = new Set(String(args.only).split(','));
const quick = args.quick;
const ROUNDS = Number(args.rounds ?? (quick ? 1 : 3));
/** Part 1 (e): nslat with 1 in this many packets and IRQ events timed, the floor sampling tends to. */
const FLOOR_EVERY = 1024;
const PAIRS = Number(args.pairs ?? (quick ? 2 : 10));
const LOAD_S = quick ? 1 : 2; // seconds per sockperf workload in part 1
const PP_S = quick ? 2 : 3; // seconds per ping-pong run in part 2
const IPERF_PAIRS = quick ? 1 : 3;
const IPERF_S = 3;
const RELOAD_REPS_LOCAL = quick ? 2 : 4;
const RELOAD_REPS_SSH = quick ? 2 : 3;
const RELOADS_PER_START = quick ? 2 : 3;
const MIN_RUNS = 1000; // per window, for a program to enter the mean
const PP_CPU = 1; // parts 2 and 2b: sockperf client and server pinned together (see lib.ts)
const HARD_LIMIT_MS = 16 * 60_000; // watchdog: everything is unloaded and restored if we get here

const log = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–');

// ------------------------------------------------------------------ cleanup and safety

const statsOrig = bpfStatsValue();
const workdir = mkdtempSync('/tmp/nslat-bench-');
const cleanups: Array<() => Promise<void> | void> = [];
const ourProgIds = new Set<number>();
let cleanedUp = false;
async function cleanup(): Promise<void> {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const f of cleanups.reverse()) await Promise.resolve().then(f).catch((e) => log(`cleanup: ${(e as Error).message}`));
  killAllChildrenSync();
  await setBpfStats(statsOrig).catch(() => undefined);
  rmSync(workdir, { recursive: true, force: true });
}
process.on('exit', () => {
  killAllChildrenSync();
  try { if (bpfStatsValue() !== statsOrig) execa('sysctl', ['-q', '-w', `kernel.bpf_stats_enabled=${statsOrig}`]); } catch { /* best effort */ }
  rmSync(workdir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { log(`${sig}: cleaning up`); void cleanup().finally(() => process.exit(130)); });
const watchdog = setTimeout(() => { log('hard time limit reached: cleaning up'); void cleanup().finally(() => process.exit(3)); }, HARD_LIMIT_MS);
watchdog.unref();

async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a ? a.port : 0)); });
    });
    if (port > 0) return port;
  }
}

// ------------------------------------------------------------------ environment

async function sh(file: string, a: string[]): Promise<string> {
  const r = await execa(file, a, { reject: false, all: true, timeout: 20_000 });
  return String(r.all ?? '').trim();
}
async function environment() {
  const cpu = (readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? '?').trim();
  const commit = await sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = (await sh('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'])) !== '';
  return {
    host: os.hostname(),
    date: new Date().toISOString(),
    kernel: os.release(),
    cpu,
    nproc: os.cpus().length,
    loadavg_at_start: os.loadavg().map((x) => Number(x.toFixed(2))),
    clang: (await sh('clang', ['--version'])).split('\n')[0],
    libbpf: await sh('pkg-config', ['--modversion', 'libbpf']),
    bpftool: (await sh('bpftool', ['version'])).split('\n')[0],
    bpftrace: await sh('bpftrace', ['--version']),
    sockperf: (await sh('sockperf', ['--version'])).split('\n')[0],
    iperf3: (await sh('iperf3', ['--version'])).split('\n')[0],
    node: process.version,
    commit: `${commit}${dirty ? ' (+ uncommitted changes)' : ''}`,
  };
}

// ------------------------------------------------------------------ part 1: probe cost

type Prog = { id: number; slot: string; name: string; section: string; hook: string };

function attachedProgs(loaded: LoadedMessage[]): Prog[] {
  return loaded.flatMap((l) => l.programs.filter((p) => p.status === 'attached' && p.prog_id).map((p) => ({ id: p.prog_id!, slot: l.slot, name: p.name, section: p.section, hook: hookOf(p.section) })));
}

type RunStat = { id: number; runs: number; ns: number; time: number };
type ConfigRun = { cfg: 'a' | 'b' | 'c' | 'd' | 'e'; round: number; progs: Array<Prog & RunStat>; loPkts: number; msgs: number; seconds: number };

function deltaStats(ids: Prog[], s0: Map<number, ProgRun>, s1: Map<number, ProgRun>): Array<Prog & RunStat> {
  return ids.map((p) => {
    const a = s0.get(p.id), b = s1.get(p.id);
    const runs = (b?.run_cnt ?? 0) - (a?.run_cnt ?? 0);
    const time = (b?.run_time_ns ?? 0) - (a?.run_time_ns ?? 0);
    return { ...p, runs, time, ns: runs > 0 ? time / runs : NaN };
  });
}

let emptyBuilt: Promise<{ sectionsA: string[]; emptyO: string }> | undefined;
/** Discovers the hooks nslat attaches here, generates .cache/bench/empty.bpf.c and builds it (once). */
function ensureEmpty() {
  emptyBuilt ??= (async () => {
    // Discover the hooks nslat attaches here, generate and build the empty object.
    log('part 1: discovering the hooks nslat attaches');
    const disc = await RawHelper.start(HELPER, workdir, { intervalMs: 0 });
    let loadedA: LoadedMessage[];
    try {
      loadedA = [];
      for (const s of ['rx', 'tx', 'irq']) loadedA.push(await disc.load(s, path.join(workdir, `${s}.bpf.o`)));
    } finally {
      await disc.quit();
    }
    const sectionsA = attachedProgs(loadedA).map((p) => p.section);
    const emptyC = writeEmpty(sectionsA, "the sections nslat's helper attached");
    const emptyO = path.join(BENCH_BUILD, 'empty.bpf.o');
    const mk = await execa('make', ['-s', '-C', BPF, 'probe', `SRC=${emptyC}`, `OUT=${emptyO}`], { reject: false, all: true, timeout: 120_000 });
    if (mk.exitCode !== 0) throw new Error(`building ${path.relative(ROOT, emptyC)} failed:\n${mk.all}`);
    // The helper loads only objects inside its work directory.
    const inWork = path.join(workdir, 'empty.bpf.o');
    copyFileSync(emptyO, inWork);
    return { sectionsA, emptyO: inWork };
  })();
  return emptyBuilt;
}

async function probeCost(env: Record<string, unknown>) {
  const { sectionsA, emptyO } = await ensureEmpty();
  const btEvents = [...readFileSync(BT, 'utf8').matchAll(/^tracepoint:(\w+):(\w+)/gm)].map((m) => m[2]!);
  const tcpPort = await freePort(), udpPort = await freePort();
  const servers = [sockperfServer('tcp', tcpPort), sockperfServer('udp', udpPort)];
  cleanups.push(async () => { for (const s of servers) await stopChild(s, 'SIGINT'); });
  await sleep(500);

  const workload = async () => {
    const r = [await sockperfPP('tcp', tcpPort, LOAD_S), await sockperfPP('udp', udpPort, LOAD_S), await sockperfTP('tcp', tcpPort, LOAD_S), await sockperfTP('udp', udpPort, LOAD_S)];
    return r.reduce((a, x) => a + x.msgs, 0);
  };
  await setBpfStats('1');
  log(`part 1: kernel.bpf_stats_enabled=1 (was ${statsOrig}); warm-up`);
  await workload();

  const runs: ConfigRun[] = [];
  const measure = async (cfg: ConfigRun['cfg'], round: number, progs: Prog[]) => {
    await sleep(300);
    const s0 = await progStats();
    const lo0 = loRxPackets();
    const t0 = now();
    const msgs = await workload();
    const seconds = (now() - t0) / 1000;
    const lo1 = loRxPackets();
    const s1 = await progStats();
    runs.push({ cfg, round, progs: deltaStats(progs, s0, s1), loPkts: lo1 - lo0, msgs, seconds });
  };
  let emptySections: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // (a) nslat rx + tx + irq
    {
      log(`part 1: round ${round}/${ROUNDS}: (a) nslat probes`);
      const h = await RawHelper.start(HELPER, workdir, { intervalMs: 1000 });
      try {
        const loaded: LoadedMessage[] = [];
        for (const s of ['rx', 'tx', 'irq']) loaded.push(await h.load(s, path.join(workdir, `${s}.bpf.o`)));
        const progs = attachedProgs(loaded);
        progs.forEach((p) => ourProgIds.add(p.id));
        const missing = progs.filter((p) => !sectionsA.includes(p.section));
        if (missing.length) throw new Error(`nslat attached hooks the empty object lacks: ${missing.map((p) => p.section).join(', ')}`);
        await measure('a', round, progs);
      } finally {
        await h.quit();
      }
    }
    // (d) nslat rx + tx + irq at default settings: 1 in N packets measured, N set after each
    // snapshot as a session sets it (snapshots every 250 ms so the rate settles within the warm-up)
    {
      log(`part 1: round ${round}/${ROUNDS}: (d) nslat probes, default sampling`);
      const h = await RawHelper.start(HELPER, workdir, { intervalMs: 250 });
      try {
        const chosen = h.adaptSampling();
        const loaded: LoadedMessage[] = [];
        for (const s of ['rx', 'tx', 'irq']) loaded.push(await h.load(s, path.join(workdir, `${s}.bpf.o`)));
        const progs = attachedProgs(loaded);
        progs.forEach((p) => ourProgIds.add(p.id));
        await workload(); // the rate settles
        await measure('d', round, progs);
        sampledEvery.push(...chosen);
      } finally {
        await h.quit();
      }
    }
    // (e) nslat rx + tx + irq timing 1 in FLOOR_EVERY packets and IRQ events: what every packet
    // still costs when (almost) none is measured (the sampling's floor; every packet is counted)
    {
      log(`part 1: round ${round}/${ROUNDS}: (e) nslat probes, 1 in ${FLOOR_EVERY}`);
      const h = await RawHelper.start(HELPER, workdir, { intervalMs: 1000 });
      try {
        const loaded: LoadedMessage[] = [];
        for (const s of ['rx', 'tx', 'irq']) loaded.push(await h.load(s, path.join(workdir, `${s}.bpf.o`)));
        h.send({ cmd: 'set', data: { measure_every: FLOOR_EVERY, irq_measure_every: FLOOR_EVERY } });
        const progs = attachedProgs(loaded);
        progs.forEach((p) => ourProgIds.add(p.id));
        await measure('e', round, progs);
      } finally {
        await h.quit();
      }
    }
    // (b) empty programs on the same hooks
    {
      log(`part 1: round ${round}/${ROUNDS}: (b) empty programs`);
      const h = await RawHelper.start(HELPER, workdir, { intervalMs: 1000 });
      try {
        const loaded = await h.load('empty', emptyO);
        const progs = attachedProgs([loaded]);
        progs.forEach((p) => ourProgIds.add(p.id));
        emptySections = progs.map((p) => p.section);
        const lacking = [...new Set(sectionsA)].filter((s) => !emptySections.includes(s));
        if (lacking.length) throw new Error(`the empty object did not attach on ${lacking.join(', ')}: the comparison would be unfair`);
        await measure('b', round, progs);
      } finally {
        await h.quit();
      }
    }
    // (c) bpftrace on the same RX stages
    {
      log(`part 1: round ${round}/${ROUNDS}: (c) bpftrace ${path.relative(ROOT, BT)}`);
      const bt = spawnTracked('bpftrace', [BT], { stdout: 'pipe', stderr: 'pipe' });
      try {
        let out = '';
        bt.stdout!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-2000); });
        bt.stderr!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-2000); });
        const t0 = now();
        let ids: number[] = [];
        while (now() - t0 < 60_000) {
          if (bt.exitCode !== null && bt.exitCode !== undefined) throw new Error(`bpftrace exited: ${out}`);
          ids = bt.pid ? progIdsOfPid(bt.pid) : [];
          if (/Attaching \d+ probes/.test(out) && ids.length >= btEvents.length) break;
          await sleep(200);
        }
        if (ids.length < btEvents.length) throw new Error(`bpftrace attached ${ids.length}/${btEvents.length} programs in 60 s: ${out}`);
        const st = await progStats();
        const progs: Prog[] = ids.map((id) => {
          const name = st.get(id)?.name ?? '?';
          const ev = btEvents.find((e) => e === name || e.startsWith(name)) ?? name;
          return { id, slot: 'bpftrace', name, section: `tracepoint/${ev}`, hook: ev };
        });
        progs.forEach((p) => ourProgIds.add(p.id));
        await measure('c', round, progs);
      } finally {
        await stopChild(bt, 'SIGINT', 15_000);
      }
    }
  }
  for (const s of servers) await stopChild(s, 'SIGINT');
  await setBpfStats(statsOrig);
  log(`part 1: kernel.bpf_stats_enabled restored to ${statsOrig}`);

  // ---- analysis
  const byRound = (cfg: string, r: number) => runs.find((x) => x.cfg === cfg && x.round === r)!;
  const rounds = [...Array(ROUNDS).keys()].map((i) => i + 1);
  const emptyNs = (r: number, hook: string) => byRound('b', r).progs.find((p) => p.hook === hook)?.ns ?? NaN;
  const btNs = (r: number, hook: string) => byRound('c', r).progs.find((p) => p.hook === hook)?.ns ?? NaN;
  const keys = byRound('a', 1).progs.map((p) => `${p.slot}:${p.name}`);
  const perProg = keys.map((k) => {
    const rows = rounds.map((r) => byRound('a', r).progs.find((p) => `${p.slot}:${p.name}` === k)!);
    const hook = rows[0]!.hook;
    const slot = rows[0]!.slot;
    const a = rows.map((x) => x.ns);
    const b = rounds.map((r) => emptyNs(r, hook));
    const c = slot === 'rx' ? rounds.map((r) => btNs(r, hook)) : rounds.map(() => NaN);
    const e = rounds.map((r) => byRound('e', r).progs.find((p) => `${p.slot}:${p.name}` === k)?.ns ?? NaN);
    return {
      key: k, slot, hook, section: rows[0]!.section,
      runs_per_s: median(rows.map((x, i) => x.runs / byRound('a', rounds[i]!).seconds)),
      a_ns: median(a), b_ns: median(b), c_ns: median(c), e_ns: median(e),
      e_over_b: median(e.map((x, i) => x / b[i]!)),
      a_over_b: median(a.map((x, i) => x / b[i]!)),
      c_over_a: median(c.map((x, i) => x / a[i]!)),
    };
  });
  const sumTime = (run: ConfigRun, pred: (p: Prog) => boolean = () => true) => run.progs.filter(pred).reduce((s, p) => s + p.time, 0);
  const perRound = rounds.map((r) => {
    const A = byRound('a', r), B = byRound('b', r), C = byRound('c', r);
    // programs that ran often enough in both (a) and (b) for a stable ns/run (rare hooks are listed, not averaged)
    const ran = A.progs.filter((p) => p.runs >= MIN_RUNS && (B.progs.find((q) => q.hook === p.hook)?.runs ?? 0) >= MIN_RUNS);
    const meanA = mean(ran.map((p) => p.ns));
    const meanB = mean(ran.map((p) => emptyNs(r, p.hook)));
    const rxHooks = new Set(C.progs.map((p) => p.hook));
    const aRxPkt = sumTime(A, (p) => p.slot === 'rx') / A.loPkts;
    const aRxSameHooksPkt = sumTime(A, (p) => p.slot === 'rx' && rxHooks.has(p.hook)) / A.loPkts;
    const cPkt = sumTime(C) / C.loPkts;
    // (d): the same programs, by name, at default sampling
    const D = byRound('d', r);
    const ranD = ran.map((p) => D.progs.find((q) => q.slot === p.slot && q.name === p.name)).filter((p): p is Prog & RunStat => !!p && p.runs >= MIN_RUNS);
    const meanD = mean(ranD.map((p) => p.ns));
    const meanBD = mean(ranD.map((p) => emptyNs(r, p.hook)));
    const dRxPkt = sumTime(D, (p) => p.slot === 'rx') / D.loPkts;
    // (e): the same programs at 1 in FLOOR_EVERY
    const E = byRound('e', r);
    const ranE = ran.map((p) => E.progs.find((q) => q.slot === p.slot && q.name === p.name)).filter((p): p is Prog & RunStat => !!p && p.runs >= MIN_RUNS);
    const meanE = mean(ranE.map((p) => p.ns));
    const meanBE = mean(ranE.map((p) => emptyNs(r, p.hook)));
    return {
      mean_e_ns: meanE, mean_e_ratio: meanE / meanBE,
      e_ns_per_pkt: sumTime(E) / E.loPkts, e_rx_ns_per_pkt: sumTime(E, (p) => p.slot === 'rx') / E.loPkts,
      mean_d_ns: meanD, mean_d_ratio: meanD / meanBD,
      d_ns_per_pkt: sumTime(D) / D.loPkts, d_rx_ns_per_pkt: dRxPkt, c_over_d_rx: cPkt / dRxPkt,
      round: r, n_mean: ran.length,
      mean_a_ns: meanA, mean_b_ns: meanB, mean_ratio: meanA / meanB,
      geomean_hook_ratio: Math.exp(mean(ran.map((p) => Math.log(p.ns / emptyNs(r, p.hook))).filter(Number.isFinite))),
      a_ns_per_pkt: sumTime(A) / A.loPkts, b_ns_per_pkt: sumTime(B) / B.loPkts, c_ns_per_pkt: cPkt,
      a_rx_ns_per_pkt: aRxPkt, a_rx_same_hooks_ns_per_pkt: aRxSameHooksPkt,
      c_over_a_rx: cPkt / aRxPkt, c_over_a_rx_same_hooks: cPkt / aRxSameHooksPkt,
      lo_pkts: { a: A.loPkts, b: B.loPkts, c: C.loPkts }, sockperf_msgs: { a: A.msgs, b: B.msgs, c: C.msgs },
      a_pkts_per_msg: A.loPkts / A.msgs,
    };
  });
  const btPerHook = [...new Set(runs.filter((x) => x.cfg === 'c').flatMap((x) => x.progs.map((p) => p.hook)))].map((hook) => {
    const c = rounds.map((r) => btNs(r, hook));
    const aRx = rounds.map((r) => byRound('a', r).progs.find((p) => p.slot === 'rx' && p.hook === hook)?.ns ?? NaN);
    return { hook, c_ns: median(c), a_rx_ns: median(aRx), c_over_a: median(c.map((x, i) => x / aRx[i]!)) };
  });
  const summary = {
    mean_ratio: median(perRound.map((x) => x.mean_ratio)),
    mean_a_ns: median(perRound.map((x) => x.mean_a_ns)), mean_b_ns: median(perRound.map((x) => x.mean_b_ns)),
    geomean_hook_ratio: median(perRound.map((x) => x.geomean_hook_ratio)),
    a_ns_per_pkt: median(perRound.map((x) => x.a_ns_per_pkt)), b_ns_per_pkt: median(perRound.map((x) => x.b_ns_per_pkt)),
    c_ns_per_pkt: median(perRound.map((x) => x.c_ns_per_pkt)), a_rx_ns_per_pkt: median(perRound.map((x) => x.a_rx_ns_per_pkt)),
    a_rx_same_hooks_ns_per_pkt: median(perRound.map((x) => x.a_rx_same_hooks_ns_per_pkt)),
    c_over_a_rx: median(perRound.map((x) => x.c_over_a_rx)), c_over_a_rx_same_hooks: median(perRound.map((x) => x.c_over_a_rx_same_hooks)),
    a_over_b_per_pkt: median(perRound.map((x) => x.a_ns_per_pkt / x.b_ns_per_pkt)),
    mean_d_ns: median(perRound.map((x) => x.mean_d_ns)), mean_d_ratio: median(perRound.map((x) => x.mean_d_ratio)),
    d_ns_per_pkt: median(perRound.map((x) => x.d_ns_per_pkt)), d_rx_ns_per_pkt: median(perRound.map((x) => x.d_rx_ns_per_pkt)),
    c_over_d_rx: median(perRound.map((x) => x.c_over_d_rx)),
    mean_e_ns: median(perRound.map((x) => x.mean_e_ns)), mean_e_ratio: median(perRound.map((x) => x.mean_e_ratio)),
    e_ns_per_pkt: median(perRound.map((x) => x.e_ns_per_pkt)), e_rx_ns_per_pkt: median(perRound.map((x) => x.e_rx_ns_per_pkt)),
    c_over_e_rx: median(perRound.map((x) => x.c_ns_per_pkt / x.e_rx_ns_per_pkt)),
    sampled_every: [...new Set(sampledEvery)].sort((a, b) => a - b),
  };
  env.empty_sections = emptySections;
  return { perProg, perRound, btPerHook, summary, raw: runs };
}

// ------------------------------------------------------------------ part 1b: anatomy of a probe

/** bench/anatomy.bpf.c: each operation an nslat boundary does, alone, on tp_btf/netif_rx. */
async function anatomy() {
  const src = path.join(ROOT, 'bench/anatomy.bpf.c');
  const obj = path.join(workdir, 'anatomy.bpf.o');
  const mk = await execa('make', ['-s', '-C', BPF, 'probe', `SRC=${src}`, `OUT=${obj}`], { reject: false, all: true, timeout: 120_000 });
  if (mk.exitCode !== 0) throw new Error(`building bench/anatomy.bpf.c failed:\n${mk.all}`);
  const tcpPort = await freePort(), udpPort = await freePort();
  const servers = [sockperfServer('tcp', tcpPort), sockperfServer('udp', udpPort)];
  cleanups.push(async () => { for (const s of servers) await stopChild(s, 'SIGINT'); });
  await sleep(400);
  await setBpfStats('1');
  const rows = new Map<string, number[]>();
  try {
    for (let round = 1; round <= (quick ? 1 : 2); round++) {
      log(`part 1b: anatomy round ${round}`);
      const h = await RawHelper.start(HELPER, workdir, { intervalMs: 1000 });
      try {
        const progs = attachedProgs([await h.load('anatomy', obj)]);
        progs.forEach((p) => ourProgIds.add(p.id));
        await sleep(300);
        const s0 = await progStats();
        await sockperfPP('tcp', tcpPort, LOAD_S); await sockperfPP('udp', udpPort, LOAD_S); await sockperfTP('tcp', tcpPort, LOAD_S);
        const s1 = await progStats();
        for (const p of deltaStats(progs, s0, s1)) rows.set(p.name, [...(rows.get(p.name) ?? []), p.ns]);
      } finally {
        await h.quit();
      }
    }
  } finally {
    for (const s of servers) await stopChild(s, 'SIGINT');
    await setBpfStats(statsOrig);
  }
  const empty = median(rows.get('op00_empty') ?? []);
  return [...rows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, ns]) => ({ name, ns: median(ns), over_empty: median(ns) - empty }));
}

// ------------------------------------------------------------------ part 2: end to end

type Arm = { name: string; slots: Array<[string, string]>; data?: Record<string, number>; adaptive?: boolean };
/** The rates the default-sampling runs chose (part 1 and part 2), for the report. */
const sampledEvery: number[] = [];
const objOf = (s: string) => path.join(workdir, `${s}.bpf.o`);
const ARM_OFF: Arm = { name: 'off', slots: [] };
/** Every packet measured: the method of the results before sampling. */
const ARM_ALL: Arm = { name: 'nslat', slots: [['rx', objOf('rx')], ['tx', objOf('tx')], ['irq', objOf('irq')]] };
/** Default settings: 1 in N packets measured, N adapting (snapshots every 250 ms). */
const ARM_DEFAULT: Arm = { name: 'nslat default', slots: ARM_ALL.slots, adaptive: true };

/** Runs f with the arm's objects loaded by one helper (1 s snapshots, no bpf_stats), then unloads. */
async function withArm<T>(arm: Arm, f: () => Promise<T>): Promise<T> {
  if (!arm.slots.length) return f();
  const h = await RawHelper.start(HELPER, workdir, { intervalMs: arm.adaptive ? 250 : 1000 });
  const chosen = arm.adaptive ? h.adaptSampling() : [];
  try {
    for (const [slot, obj] of arm.slots) attachedProgs([await h.load(slot, obj)]).forEach((p) => ourProgIds.add(p.id));
    if (arm.data) h.send({ cmd: 'set', data: arm.data });
    await sleep(300);
    return await f();
  } finally {
    sampledEvery.push(...chosen);
    await h.quit();
  }
}

/** Rounds of ping-pong, each arm once per round, the order rotated every round. */
async function ppRounds(arms: Arm[], rounds: number, seconds: number, port: number, label: string) {
  const res: Array<Record<string, { p50: number; p99: number; avg: number }>> = [];
  for (let i = 0; i < rounds; i++) {
    log(`${label}: round ${i + 1}/${rounds}`);
    const order = arms.map((_, k) => arms[(k + i) % arms.length]!);
    if (i % 2 === 1) order.reverse();
    const row: Record<string, { p50: number; p99: number; avg: number }> = {};
    for (const arm of order) {
      const r = await withArm(arm, () => sockperfPP('tcp', port, seconds, PP_CPU));
      row[arm.name] = { p50: r.p50, p99: r.p99, avg: r.avg };
    }
    res.push(row);
  }
  const ratio = (arm: string, k: 'p50' | 'p99' | 'avg') => median(res.map((r) => r[arm]![k] / r.off![k]));
  const summary = Object.fromEntries(arms.map((a) => [a.name, {
    p50: median(res.map((r) => r[a.name]!.p50)), p99: median(res.map((r) => r[a.name]!.p99)),
    p50_ratio: ratio(a.name, 'p50'), p99_ratio: ratio(a.name, 'p99'), avg_ratio: ratio(a.name, 'avg'),
  }]));
  return { rounds: res, summary };
}

async function endToEnd() {
  const port = await freePort(), iport = await freePort();
  const srv = sockperfServer('tcp', port, PP_CPU);
  const isrv = spawnTracked('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(iport)]);
  cleanups.push(() => stopChild(srv, 'SIGINT'));
  cleanups.push(() => stopChild(isrv, 'SIGTERM'));
  await sleep(500);
  const stats = bpfStatsValue();
  await sockperfPP('tcp', port, 1, PP_CPU); // warm-up
  // off / empty programs on the same hooks (the floor of attaching anything there) / nslat
  const emptyO = await ensureEmpty().then((x) => x.emptyO, () => undefined);
  const arms = emptyO ? [ARM_OFF, { name: 'empty', slots: [['empty', emptyO]] } as Arm, ARM_ALL, ARM_DEFAULT] : [ARM_OFF, ARM_ALL, ARM_DEFAULT];
  const pp = await ppRounds(arms, PAIRS, PP_S, port, 'part 2: ping-pong');
  const ip: Array<{ off: number; on: number; def: number }> = [];
  for (let i = 0; i < IPERF_PAIRS; i++) {
    log(`part 2: iperf3 pair ${i + 1}/${IPERF_PAIRS}`);
    const run = () => iperf3(iport, IPERF_S);
    let off, on, def;
    if (i % 2 === 0) { off = await run(); on = await withArm(ARM_ALL, run); def = await withArm(ARM_DEFAULT, run); } else { def = await withArm(ARM_DEFAULT, run); on = await withArm(ARM_ALL, run); off = await run(); }
    ip.push({ off, on, def });
  }
  await stopChild(srv, 'SIGINT');
  await stopChild(isrv, 'SIGTERM');
  const n = pp.summary.nslat!, o = pp.summary.off!, e = pp.summary.empty, d = pp.summary['nslat default']!;
  // What nslat adds to the round trip against what empty programs on the same hooks add: per
  // round, (with − off) / (empty − off).
  const addedOverFloor = (k: 'p50' | 'p99') => median(pp.rounds.map((r) => (r['nslat default']![k] - r.off![k]) / (r.empty ? r.empty[k] - r.off![k] : NaN)));
  return {
    bpf_stats_during: stats,
    pp,
    pairs: pp.rounds.length,
    p50_ratio: n.p50_ratio, p99_ratio: n.p99_ratio, avg_ratio: n.avg_ratio,
    p50_off: o.p50, p50_on: n.p50, p99_off: o.p99, p99_on: n.p99,
    empty: e,
    iperf: ip,
    iperf_ratio: median(ip.map((p) => p.on / p.off)),
    default: { p50: d.p50, p99: d.p99, p50_ratio: d.p50_ratio, p99_ratio: d.p99_ratio, p50_added_over_floor: addedOverFloor('p50'), p99_added_over_floor: addedOverFloor('p99'), iperf_ratio: median(ip.map((p) => p.def / p.off)) },
    iperf_off_gbps: median(ip.map((p) => p.off / 1e9)), iperf_on_gbps: median(ip.map((p) => p.on / 1e9)),
  };
}

/** Which slot costs what end to end: off, rx, tx, irq, all without journeys, all. */
async function ablation() {
  const port = await freePort();
  const srv = sockperfServer('tcp', port, PP_CPU);
  cleanups.push(() => stopChild(srv, 'SIGINT'));
  await sleep(500);
  const arms: Arm[] = [
    ARM_OFF,
    { name: 'rx', slots: [['rx', objOf('rx')]] },
    { name: 'tx', slots: [['tx', objOf('tx')]] },
    { name: 'irq', slots: [['irq', objOf('irq')]] },
    { name: 'all, sample_every=0', slots: ARM_ALL.slots, data: { sample_every: 0 } },
    { name: 'all', slots: ARM_ALL.slots },
  ];
  try {
    return await ppRounds(arms, quick ? 1 : 4, 2, port, 'part 2b: ablation');
  } finally {
    await stopChild(srv, 'SIGINT');
  }
}

// ------------------------------------------------------------------ part 3: start-up and reload

type StartRun = { start_ms: number; first_snapshot_ms: number; phases: Record<string, number>; reload_ms: number[]; load_to_loaded_ms: number[]; reload_errors: string[] };

async function startAndReload(reps: number, opts: { host?: string; sshConfig?: string }, label: string): Promise<StartRun[]> {
  const out: StartRun[] = [];
  for (let i = 0; i < reps; i++) {
    log(`part 3: ${label} start ${i + 1}/${reps}`);
    const { session: s, start_ms: tStart, first_snapshot_ms: firstSnap, phases } = await timedStart(opts);
    try {
      [...s.loaded.values()].forEach((l) => attachedProgs([l]).forEach((p) => ourProgIds.add(p.id)));
      // time load→loaded inside each reload
      const loadTimes: number[] = [];
      const client = s.client as unknown as { request: (b: { cmd: string }, t?: number) => Promise<unknown> };
      const orig = client.request.bind(client);
      client.request = async (b, t) => {
        const a = now();
        const r = await orig(b, t);
        if (b.cmd === 'load') loadTimes.push(now() - a);
        return r;
      };
      const reloadMs: number[] = [];
      const errors: string[] = [];
      for (let k = 0; k < RELOADS_PER_START; k++) {
        const a = now();
        const r = await s.reload('rx');
        reloadMs.push(now() - a);
        if (!r.ok) errors.push(r.error.slice(0, 300));
        else attachedProgs([r.loaded]).forEach((p) => ourProgIds.add(p.id));
      }
      out.push({ start_ms: tStart, first_snapshot_ms: firstSnap, phases, reload_ms: reloadMs, load_to_loaded_ms: loadTimes, reload_errors: errors });
    } finally {
      const e = await s.stop();
      if (e.error) log(`part 3: stop: ${e.error}`);
    }
  }
  return out;
}

async function reloadPart() {
  const local = await startAndReload(RELOAD_REPS_LOCAL, {}, 'local');
  let ssh: StartRun[] = [];
  let sshError: string | undefined;
  try {
    const { startSshd } = await import('../test/ssh/lib/sshd.ts');
    const fx = await startSshd();
    cleanups.push(() => fx.stop());
    try {
      ssh = await startAndReload(RELOAD_REPS_SSH, { host: fx.hosts.nopw, sshConfig: fx.sshConfig }, 'ssh 127.0.0.1');
    } finally {
      await fx.stop();
    }
  } catch (e) {
    sshError = (e as Error).message.slice(0, 500);
    log(`part 3: SSH failed: ${sshError}`);
  }
  // A start that copied the shipped files (a fresh work directory) is "cold"; the others reuse it.
  const sum = (rs: StartRun[]) => {
    const w = rs.filter((r) => !('copy' in r.phases));
    return {
      start_ms: median(w.map((r) => r.start_ms)), first_snapshot_ms: median(w.map((r) => r.first_snapshot_ms)),
      reload_ms: median(rs.flatMap((r) => r.reload_ms)), reload_p95_ms: quantile(rs.flatMap((r) => r.reload_ms), 0.95),
      load_to_loaded_ms: median(rs.flatMap((r) => r.load_to_loaded_ms)),
      reloads: rs.flatMap((r) => r.reload_ms).length, errors: rs.flatMap((r) => r.reload_errors),
    };
  };
  return {
    local, ssh, ssh_error: sshError,
    local_summary: sum(local),
    local_cold: local.find((r) => 'copy' in r.phases),
    // the first SSH start copies the shipped files into a fresh user's home: reported apart
    ssh_cold_start_ms: ssh[0]?.start_ms, ssh_cold_first_snapshot_ms: ssh[0]?.first_snapshot_ms,
    ssh_summary: ssh.length ? sum(ssh) : undefined,
  };
}

// ------------------------------------------------------------------ part 4: panel and host cost

type HostCost = {
  interval_ms: number; seconds: number; cpu_ms_per_s: number; cpu_user_ms_per_s: number; snapshots_per_s: number; journeys_per_s: number;
  deltas_per_s: number; delta_kb_mean: number; delta_ms_max: number; heap_used_mb: number; heap_growth_mb: number; rss_mb: number; series: number; intervals: number;
};

async function panelPart() {
  log('part 4: panel render (headless Chromium)');
  const r = await execa('node', ['--import', 'tsx', 'bench/panel-render.ts', '--updates', quick ? '30' : '100'], { cwd: ROOT, reject: false, all: true, timeout: 240_000 });
  const out = String(r.all ?? '');
  const num = (re: RegExp) => Number(out.match(re)?.[1] ?? NaN);
  const render = {
    exit: r.exitCode, output: out.split('\n').filter((l) => l.trim()).slice(-8).join('\n'),
    total_median_ms: num(/apply \+ render\s+median ([\d.]+) ms/), total_p95_ms: num(/apply \+ render\s+median [\d.]+ ms\s+p95 ([\d.]+) ms/),
    render_median_ms: num(/render \(1 frame\) median ([\d.]+) ms/), render_p95_ms: num(/render \(1 frame\) median [\d.]+ ms\s+p95 ([\d.]+) ms/),
    series: num(/time chart (\d+) series/), intervals: num(/(\d+) intervals of history/),
  };

  log('part 4: extension-host proxy (Session + Aggregator + panelDelta at 10/s, 100 ms snapshots, full load)');
  const seconds = quick ? 6 : 15;
  const port = await freePort(), uport = await freePort();
  const servers = [sockperfServer('tcp', port), sockperfServer('udp', uport)];
  cleanups.push(async () => { for (const s of servers) await stopChild(s, 'SIGINT'); });
  await sleep(400);
  const child = spawnTracked('node', ['--import', 'tsx', 'bench/ext-host.ts', '--interval-ms', '100', '--seconds', String(seconds), '--warmup', '2'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' });
  let text = '', err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-3000); });
  const ready = new Promise<void>((resolve, reject) => {
    const to = setTimeout(() => reject(new Error(`ext-host not ready in 90 s: ${err}`)), 90_000);
    child.stdout!.on('data', (d: Buffer) => { text += d.toString(); if (text.includes('READY')) { clearTimeout(to); resolve(); } });
    void child.then(() => { clearTimeout(to); reject(new Error(`ext-host exited: ${err}`)); });
  });
  let host: HostCost | undefined;
  let hostError: string | undefined;
  try {
    await ready;
    const loadS = seconds + 4;
    await Promise.all([sockperfTP('tcp', port, loadS), sockperfPP('udp', uport, loadS)]);
    await Promise.race([child, sleep(30_000)]);
    const line = text.split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`no result from ext-host: ${err}`);
    host = JSON.parse(line);
  } catch (e) {
    hostError = (e as Error).message.slice(0, 500);
    log(`part 4: ${hostError}`);
  } finally {
    await stopChild(child, 'SIGTERM', 10_000);
    for (const s of servers) await stopChild(s, 'SIGINT');
  }
  return { render, host, host_error: hostError };
}

// ------------------------------------------------------------------ report

type Results = {
  env: Awaited<ReturnType<typeof environment>> & Record<string, unknown>;
  probe?: Awaited<ReturnType<typeof probeCost>>; anatomy?: Awaited<ReturnType<typeof anatomy>>; ablation?: Awaited<ReturnType<typeof ablation>>; e2e?: Awaited<ReturnType<typeof endToEnd>>;
  reload?: Awaited<ReturnType<typeof reloadPart>>; panel?: Awaited<ReturnType<typeof panelPart>>;
  leaked?: number[]; errors: string[]; duration_s?: number;
};

function verdict(ok: boolean | undefined): string {
  return ok === undefined ? 'n/a' : ok ? 'met' : '**missed**';
}

function markdown(R: Results): string {
  const e = R.env;
  const L: string[] = [];
  L.push(`# nslat benchmarks — ${e.date.slice(0, 10)} on ${e.host}`, '');
  L.push(`Kernel ${e.kernel}; CPU ${e.cpu} × ${e.nproc}; load average at start ${e.loadavg_at_start.join(' ')} (shared machine); ` +
    `${e.clang}; libbpf ${e.libbpf}; ${e.bpftool}; ${e.bpftrace}; ${e.sockperf}; ${e.iperf3}; node ${e.node}; nslat ${e.commit}. ` +
    `Command: \`npm run bench\`${quick ? ' (--quick)' : ''}; ${R.duration_s ? `${Math.round(R.duration_s)} s` : ''}.`, '');
  L.push('| # | measure | result | goal | status |', '|---|---|---|---|---|');
  const P = R.probe?.summary;
  if (P) {
    L.push(`| 1 | mean ns per hook run, nslat at default sampling (d, 1 in ${P.sampled_every.join('/') || '?'}) vs empty (b) on the same hooks (the same programs as the next row) | ${fmt(P.mean_d_ns)} vs ${fmt(P.mean_b_ns)} ns = **${fmt(P.mean_d_ratio, 2)}×** | ≤ 1.3× | ${verdict(P.mean_d_ratio <= 1.3)} |`);
    L.push(`| 1 | mean ns per hook run, nslat measuring every packet (a) vs empty (b) on the same hooks (mean over the ${R.probe!.perRound[0]?.n_mean} nslat programs with ≥ ${MIN_RUNS} runs per window in both; median of ${ROUNDS} rounds) | ${fmt(P.mean_a_ns)} vs ${fmt(P.mean_b_ns)} ns = **${fmt(P.mean_ratio, 2)}×** (geo-mean of per-hook ratios ${fmt(P.geomean_hook_ratio, 2)}×) | ≤ 2.2× | ${verdict(P.mean_ratio <= 2.2)} |`);
    L.push(`| 1 | BPF ns per packet, all nslat programs (a) / empty (b) | ${fmt(P.a_ns_per_pkt)} / ${fmt(P.b_ns_per_pkt)} ns per lo RX packet (${fmt(P.a_over_b_per_pkt, 2)}×) | – | – |`);
    L.push(`| 1 | BPF ns per packet, RX stages: bpftrace (c) vs nslat rx slot at default sampling (d, all rx programs) | ${fmt(P.c_ns_per_pkt)} vs ${fmt(P.d_rx_ns_per_pkt)} ns = **c/d ${fmt(P.c_over_d_rx, 2)}×** | ≥ 3× | ${verdict(P.c_over_d_rx >= 3)} |`);
    L.push(`| 1 | … the same, nslat measuring every packet (a) | ${fmt(P.c_ns_per_pkt)} vs ${fmt(P.a_rx_ns_per_pkt)} ns = c/a ${fmt(P.c_over_a_rx, 2)}× (same 7 hooks only: ${fmt(P.c_over_a_rx_same_hooks, 2)}×) | – | – |`);
    if (P.mean_e_ns !== undefined) {
      L.push(`| 1 | floor of sampling: nslat timing 1 in ${FLOOR_EVERY} packets and IRQ events (e) vs empty (b), mean ns per hook run (same programs) | ${fmt(P.mean_e_ns)} vs ${fmt(P.mean_b_ns)} ns = **${fmt(P.mean_e_ratio, 2)}×** | – | – |`);
      L.push(`| 1 | … BPF ns per packet: all nslat programs (e) / empty (b); bpftrace RX (c) / nslat rx (e) | ${fmt(P.e_ns_per_pkt)} / ${fmt(P.b_ns_per_pkt)} ns (${fmt(P.e_ns_per_pkt / P.b_ns_per_pkt, 2)}×); c/e ${fmt(P.c_over_e_rx, 2)}× | – | – |`);
    }
  }
  const E = R.e2e;
  if (E) {
    L.push(`| 2 | sockperf TCP ping-pong RTT p50 (client + server pinned to CPU ${PP_CPU}), without → with nslat measuring every packet (median of ${E.pairs} interleaved rounds' ratios) | ${fmt(E.p50_off, 2)} → ${fmt(E.p50_on, 2)} µs: **${fmt((E.p50_ratio - 1) * 100, 1)} %** | ≤ 3 % | ${verdict(E.p50_ratio <= 1.03)} |`);
    L.push(`| 2 | … RTT p99 | ${fmt(E.p99_off, 1)} → ${fmt(E.p99_on, 1)} µs: **${fmt((E.p99_ratio - 1) * 100, 1)} %** | ≤ 5 % | ${verdict(E.p99_ratio <= 1.05)} |`);
    if (E.empty) L.push(`| 2 | … floor: empty programs on the same hooks (no nslat), p50 / p99 | ${fmt(E.empty.p50, 2)} µs **+${fmt((E.empty.p50_ratio - 1) * 100, 1)} %** / ${fmt(E.empty.p99, 1)} µs **+${fmt((E.empty.p99_ratio - 1) * 100, 1)} %** | – | – |`);
    const D = E.default;
    L.push(`| 2 | … at default sampling (1 in ${[...new Set(sampledEvery)].sort((a, b) => a - b).join('/') || '?'}): added latency over the empty-program floor's, p50 | ${fmt(D.p50, 2)} µs (+${fmt((D.p50_ratio - 1) * 100, 1)} %): **${fmt(D.p50_added_over_floor, 2)}×** the floor's | ≤ 1.25× | ${verdict(D.p50_added_over_floor <= 1.25)} |`);
    L.push(`| 2 | … p99 | ${fmt(D.p99, 1)} µs (+${fmt((D.p99_ratio - 1) * 100, 1)} %): **${fmt(D.p99_added_over_floor, 2)}×** the floor's | ≤ 1.25× | ${verdict(D.p99_added_over_floor <= 1.25)} |`);
    L.push(`| 2 | iperf3 TCP loopback throughput with/without (${E.iperf.length} pairs × ${IPERF_S} s), every packet | ${fmt(E.iperf_off_gbps, 2)} → ${fmt(E.iperf_on_gbps, 2)} Gbit/s: ratio ${fmt(E.iperf_ratio, 3)} | – | – |`);
    L.push(`| 2 | … at default sampling | ratio **${fmt(D.iperf_ratio, 3)}** | ≥ 0.97 | ${verdict(D.iperf_ratio >= 0.97)} |`);
  }
  const RL = R.reload;
  if (RL) {
    const l = RL.local_summary;
    L.push(`| 3 | reload rx, local: Session.reload() call → resolved (compile + load + attach; median of ${l.reloads}, p95) | **${fmt(l.reload_ms, 0)} ms** (p95 ${fmt(l.reload_p95_ms, 0)}) | ≤ 1.5 s | ${verdict(l.reload_ms <= 1500)} |`);
    L.push(`| 3 | … of which \`load\` command → \`loaded\` (make-before-break in the helper) | ${fmt(l.load_to_loaded_ms, 0)} ms | – | – |`);
    const lw = RL.local.filter((r) => !('copy' in r.phases)).length;
    L.push(`| 3 | start-up local, warm (deploy reused; median of ${lw}): Session.start → resolved / → first snapshot (100 ms interval) | ${fmt(l.start_ms, 0)} / ${fmt(l.first_snapshot_ms, 0)} ms${RL.local_cold ? `; cold (fresh work directory: copy): ${fmt(RL.local_cold.start_ms, 0)} / ${fmt(RL.local_cold.first_snapshot_ms, 0)} ms` : ''} | – | – |`);
    if (RL.ssh_summary) {
      const s = RL.ssh_summary;
      L.push(`| 3 | reload rx over SSH to 127.0.0.1 (median of ${s.reloads}, p95) | **${fmt(s.reload_ms, 0)} ms** (p95 ${fmt(s.reload_p95_ms, 0)}); load→loaded ${fmt(s.load_to_loaded_ms, 0)} ms | ≤ 1.5 s | ${verdict(s.reload_ms <= 1500)} |`);
      L.push(`| 3 | start-up over SSH: cold (copy into a fresh home) / warm (median of ${RL.ssh.filter((r) => !('copy' in r.phases)).length}) → first snapshot | ${fmt(RL.ssh_cold_first_snapshot_ms ?? NaN, 0)} / ${fmt(s.first_snapshot_ms, 0)} ms (Session.start resolved: ${fmt(RL.ssh_cold_start_ms ?? NaN, 0)} / ${fmt(s.start_ms, 0)} ms) | – | – |`);
    } else L.push(`| 3 | over SSH | failed: ${RL.ssh_error ?? '?'} | – | n/a |`);
  }
  const PN = R.panel;
  if (PN) {
    const r = PN.render;
    L.push(`| 4 | panel: apply + render one update, ${r.series} series, ${r.intervals} intervals of heatmap history (headless Chromium) | **median ${fmt(r.total_median_ms, 1)} ms**, p95 ${fmt(r.total_p95_ms, 1)} ms | ≤ 8 ms | ${verdict(r.total_median_ms <= 8)} |`);
    if (PN.host) {
      const h = PN.host;
      L.push(`| 4 | extension-host proxy: Session + Aggregator at ${h.interval_ms} ms snapshots (${fmt(h.snapshots_per_s, 1)}/s, ${fmt(h.journeys_per_s, 0)} journeys/s) + panelDelta() ${fmt(h.deltas_per_s, 1)}/s, full loopback load | CPU ${fmt(h.cpu_ms_per_s, 0)} ms/s (${fmt(h.cpu_ms_per_s / 10, 1)} % of a core); heap ${fmt(h.heap_used_mb, 1)} MB (+${fmt(h.heap_growth_mb, 1)} MB over ${fmt(h.seconds, 0)} s), RSS ${fmt(h.rss_mb, 0)} MB; delta ${fmt(h.delta_kb_mean, 1)} kB, ${h.series} series | – | – |`);
    } else L.push(`| 4 | extension-host proxy | failed: ${PN.host_error} | – | n/a |`);
  }
  L.push('');
  if (R.probe) {
    L.push(`### Per program: ns per run (median of rounds), nslat (a) / empty (b) / bpftrace (c) / nslat at 1 in ${FLOOR_EVERY} (e)`, '');
    L.push('| hook | nslat program | runs/s (a) | a ns/run | b ns/run | a/b | c ns/run | c/a | e ns/run | e/b |', '|---|---|---|---|---|---|---|---|---|---|');
    for (const p of [...R.probe.perProg].sort((x, y) => (y.a_ns || 0) - (x.a_ns || 0))) {
      L.push(`| ${p.section} | ${p.key} | ${fmt(p.runs_per_s, 0)} | ${fmt(p.a_ns)} | ${fmt(p.b_ns)} | ${fmt(p.a_over_b, 2)} | ${fmt(p.c_ns)} | ${fmt(p.c_over_a, 2)} | ${fmt(p.e_ns)} | ${fmt(p.e_over_b, 2)} |`);
    }
    L.push('', 'Packets: loopback RX packets counted by the kernel (/sys/class/net/lo/statistics/rx_packets) during each window — ' +
      'every lo packet fires the probes, including other users\' traffic on this shared machine. Per round: ' +
      R.probe.perRound.map((x) => `r${x.round}: ${x.lo_pkts.a}/${x.lo_pkts.b}/${x.lo_pkts.c} pkts, ${x.sockperf_msgs.a}/${x.sockperf_msgs.b}/${x.sockperf_msgs.c} sockperf msgs (a/b/c), mean ratio ${fmt(x.mean_ratio, 2)}, c/a(rx) ${fmt(x.c_over_a_rx, 2)}`).join('; ') + '.', '');
  }
  if (R.ablation) {
    L.push(`### End-to-end ablation: sockperf TCP ping-pong RTT (pinned to CPU ${PP_CPU}) by loaded slot (median of ${R.ablation.rounds.length} rotated rounds, 2 s each; "vs off" = median of per-round ratios)`, '');
    L.push('| loaded | p50 µs | p50 vs off | p99 µs | p99 vs off |', '|---|---|---|---|---|');
    for (const [k, v] of Object.entries(R.ablation.summary)) L.push(`| ${k} | ${fmt(v.p50, 2)} | ${k === 'off' ? '' : `+${fmt((v.p50_ratio - 1) * 100, 1)} %`} | ${fmt(v.p99, 1)} | ${k === 'off' ? '' : `+${fmt((v.p99_ratio - 1) * 100, 1)} %`} |`);
    L.push('');
  }
  if (R.anatomy) {
    L.push('### Anatomy: one operation per program, all on tp_btf/netif_rx (bench/anatomy.bpf.c; median of rounds)', '');
    L.push('| program | ns/run | over empty |', '|---|---|---|');
    for (const a of R.anatomy) L.push(`| ${a.name} | ${fmt(a.ns)} | ${fmt(a.over_empty)} |`);
    L.push('');
  }
  if (R.leaked) L.push(R.leaked.length ? `**Programs still loaded after the run: ${R.leaked.join(', ')}**` : `Leak check: none of the ${ourProgIds.size} program ids loaded by this run remains loaded; kernel.bpf_stats_enabled restored to ${statsOrig}.`, '');
  if (R.errors.length) L.push('Errors:', '', ...R.errors.map((x) => `- ${x}`), '');
  return L.join('\n');
}

// ------------------------------------------------------------------ main

const tBegin = now();
const env = await environment();
const R: Results = { env, errors: [] };
const part = async <T>(name: string, f: () => Promise<T>): Promise<T | undefined> => {
  if (!only.has(name)) return undefined;
  try {
    return await f();
  } catch (e) {
    R.errors.push(`${name}: ${(e as Error).message.slice(0, 1200)}`);
    log(`${name} failed: ${(e as Error).message}`);
    return undefined;
  }
};
try {
  for (const s of ['rx', 'tx', 'irq']) copyFileSync(path.join(BPF, `build/${s}.bpf.o`), path.join(workdir, `${s}.bpf.o`));
  if (process.getuid?.() !== 0) throw new Error('the benchmarks need root (BPF, bpf_stats, the test sshd)');
  R.probe = await part('probe', () => probeCost(env));
  R.anatomy = await part('anatomy', anatomy);
  R.e2e = await part('e2e', endToEnd);
  R.ablation = await part('ablation', ablation);
  R.reload = await part('reload', reloadPart);
  R.panel = await part('panel', panelPart);
} finally {
  await cleanup();
}
await sleep(500);
const left = await progStats().catch(() => new Map<number, ProgRun>());
R.leaked = [...ourProgIds].filter((id) => left.has(id));
R.duration_s = (now() - tBegin) / 1000;
const md = markdown(R);
process.stdout.write(`${md}\n`);
const outDir = path.join(ROOT, 'bench/results');
mkdirSync(outDir, { recursive: true });
const partial = String(args.only) !== 'probe,anatomy,e2e,ablation,reload,panel' ? `-only-${[...only].join('+')}` : '';
const base = path.join(outDir, `${env.date.slice(0, 10)}-${env.host}${quick ? '-quick' : ''}${partial}`);
writeFileSync(`${base}.md`, `${md}\n`);
writeFileSync(`${base}.json`, `${JSON.stringify(R, null, 1)}\n`);
log(`wrote ${path.relative(ROOT, base)}.md and .json`);
process.exit(R.errors.length || R.leaked.length ? 1 : 0);

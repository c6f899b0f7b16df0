/**
 * What collecting the host counters costs the helper, on a host of realistic size: a network
 * namespace of this run's own with 50 veth pairs (their peers in a second one, so 102 interfaces
 * with both), a few hundred sockets (bench/host-sockets.py: a listener, 100 TCP connections, 100
 * UDP sockets, some with unread data) and light UDP traffic across ten of the pairs, so that
 * counters move. The helper runs inside the first namespace. Three parts:
 *
 * 1. At the default interval (1000 ms, timer-driven snapshots): the `cost_ns` the helper reports
 *    in each sample (its thread CPU time collecting it) and its process CPU time per interval
 *    (/proc/<pid>/schedstat), with the helper's own namespace (51 interfaces) and with the second
 *    one named in host.netns (102).
 * 2. The same helper with collection on and off, interleaved block by block (snapshots on
 *    request): process CPU per snapshot, whose difference is all host collection costs, building
 *    and writing its JSON included.
 * 3. The first sample after start (configuration of every interface and IRQ line).
 *
 *   flock /tmp/nslat-bpf.lock node --import tsx bench/hostcost.ts [--samples 30] [--rounds 8]
 *        [--out bench/results/DATE-hostcost.md]
 *
 * Root (namespaces); traffic only inside the run's namespaces; bounded in time (about 3 min with
 * the defaults) and count; every namespace and process it made is removed at the end. Not part of
 * npm test.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import type { SnapshotMessage } from '../src/core/protocol.ts';
import { Helper, disposeAll, kernelSkipReason } from '../test/kernel/lib/helper.ts';
import { nsPrefix } from '../test/kernel/lib/netns.ts';
import { killAllChildrenSync, mean, quantile, sleep, spawnTracked, stopChild } from './lib.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const TRAFFIC = join(HERE, '..', 'test', 'kernel', 'lib', 'traffic.py');

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '8' },
    out: { type: 'string' },
  },
});
const SAMPLES = Number(values.samples);
const ROUNDS = Number(values.rounds);
if (!(SAMPLES >= 5 && SAMPLES <= 300 && ROUNDS >= 2 && ROUNDS <= 50)) throw new Error('hostcost: --samples 5..300, --rounds 2..50');
const PAIRS = 50;
const BLOCK = 10;

const tag = `nslat-hostcost-${process.pid}`;
const nsA = `${tag}-a`;
const nsB = `${tag}-b`;

async function ip(args: string[], input?: string): Promise<void> {
  await execa('ip', args, { timeout: 60_000, ...(input ? { input } : {}) });
}

/** nsA holds veth0..veth49, each paired with peer0..peer49 in nsB, 10.(100+i/250).(i%250).x/30. */
async function setup(): Promise<number> {
  await ip(['netns', 'add', nsA]);
  await ip(['netns', 'add', nsB]);
  const a: string[] = ['link set lo up'];
  const b: string[] = ['link set lo up'];
  for (let i = 0; i < PAIRS; i++) {
    a.push(`link add veth${i} type veth peer name peer${i} netns ${nsB}`);
    a.push(`addr add 10.201.${i}.1/30 dev veth${i}`);
    a.push(`link set veth${i} up`);
    b.push(`addr add 10.201.${i}.2/30 dev peer${i}`);
    b.push(`link set peer${i} up`);
  }
  await ip(['-n', nsA, '-batch', '-'], `${a.join('\n')}\n`);
  await ip(['-n', nsB, '-batch', '-'], `${b.join('\n')}\n`);
  const st = await execa('stat', ['-L', '-c', '%i', `/run/netns/${nsB}`]);
  return Number(st.stdout.trim());
}

async function teardown(): Promise<void> {
  for (const ns of [nsA, nsB]) await execa('ip', ['netns', 'del', ns], { reject: false, timeout: 30_000 });
}

function cpuNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

const fmtUs = (ns: number) => `${(ns / 1000).toFixed(0)} µs`;

interface Dist {
  n: number;
  mean: number;
  p50: number;
  p95: number;
  max: number;
}
function dist(xs: number[]): Dist {
  return { n: xs.length, mean: mean(xs), p50: quantile(xs, 0.5), p95: quantile(xs, 0.95), max: Math.max(...xs) };
}
const distRow = (label: string, d: Dist) => `| ${label} | ${d.n} | ${fmtUs(d.mean)} | ${fmtUs(d.p50)} | ${fmtUs(d.p95)} | ${fmtUs(d.max)} |`;

/** `n` timer-driven snapshots at 1000 ms: cost_ns of each and process CPU per interval. */
async function periodic(h: Helper, n: number): Promise<{ cost: number[]; cpuPerInterval: number; ifaces: number; sockets: number }> {
  const from = h.mark();
  await h.waitFor((m) => m.type === 'snapshot' && m.id === undefined, 5_000, 'a periodic snapshot', from);
  const c0 = cpuNs(h.pid);
  const start = h.mark();
  await h.waitFor(() => h.snapshotsSince(start).filter((s) => s.id === undefined).length >= n, (n + 10) * 1500, `${n} periodic snapshots`, start);
  const c1 = cpuNs(h.pid);
  const snaps = h.snapshotsSince(start).filter((s) => s.id === undefined).slice(0, n);
  const last = snaps[snaps.length - 1]!.host!;
  return { cost: snaps.map((s) => s.host!.cost_ns), cpuPerInterval: (c1 - c0) / n, ifaces: last.ifaces.length, sockets: last.sockets.length };
}

/** Process CPU per snapshot over one block of `BLOCK` requested snapshots, 100 ms apart. */
async function block(h: Helper): Promise<number> {
  const c0 = cpuNs(h.pid);
  for (let i = 0; i < BLOCK; i++) {
    await h.snapshot();
    await sleep(100);
  }
  return (cpuNs(h.pid) - c0) / BLOCK;
}

async function main(): Promise<void> {
  const why = await kernelSkipReason();
  if (why) throw new Error(`hostcost: ${why}`);
  const stamp = new Date().toISOString().slice(0, 10);
  const lines: string[] = [];
  const out = (l = '') => {
    lines.push(l);
    console.log(l);
  };
  let holder: ReturnType<typeof spawnTracked> | undefined;
  const senders: Array<ReturnType<typeof spawnTracked>> = [];
  try {
    const inoB = await setup();
    holder = spawnTracked(nsPrefix(nsA)[0]!, [...nsPrefix(nsA).slice(1), 'python3', join(HERE, 'host-sockets.py'), '--tcp', '100', '--udp', '100', '--queued', '10', '--hold-s', '400'], { stdin: 'pipe', stdout: 'pipe' });
    const ready = await new Promise<{ sockets: number }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('host-sockets.py not ready within 30 s')), 30_000);
      holder!.stdout!.once('data', (d: Buffer) => {
        clearTimeout(t);
        resolve(JSON.parse(d.toString('utf8').split('\n')[0]!) as { sockets: number });
      });
    });
    // about 100 datagrams a second across each of ten pairs, for the whole run (bounded)
    for (let i = 0; i < 10; i++) {
      senders.push(spawnTracked(nsPrefix(nsA)[0]!, [...nsPrefix(nsA).slice(1), 'python3', TRAFFIC, 'client', '--proto', 'udp', '--addr', `10.201.${i}.2`, '--port', '9', '--count', '40000', '--size', '200', '--interval-ms', '10', '--timeout', '400']));
    }
    const kernel = (await execa('uname', ['-r'])).stdout.trim();
    const cpus = (await execa('nproc')).stdout.trim();
    const mem = /MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
    const irqLines = readFileSync('/proc/interrupts', 'utf8').split('\n').filter((l) => /^\s*\d+:/.test(l)).length;
    // a shared machine: what else ran says how far the CPU times are from a quiet one's
    const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const loadBefore = load();

    const h = await Helper.start({ prefix: nsPrefix(nsA), objects: [] });
    const first = await h.waitFor((m): m is SnapshotMessage => m.type === 'snapshot', 5_000, 'the first snapshot');
    const own = await periodic(h, SAMPLES);
    if ((await h.set({ host: { netns: [inoB] } })).type !== 'log') throw new Error('hostcost: set host.netns failed');
    const both = await periodic(h, SAMPLES);
    if ((await h.set({ interval_ms: 0, host: { netns: [] } })).type !== 'log') throw new Error('hostcost: set failed');
    const on: number[] = [];
    const off: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const enabled of r % 2 ? [false, true] : [true, false]) {
        if ((await h.set({ host: { enabled } })).type !== 'log') throw new Error('hostcost: set host.enabled failed');
        await h.snapshot();
        (enabled ? on : off).push(await block(h));
      }
    }
    h.assertProtocolClean();
    await h.quit();
    const loadAfter = load();

    out(`# Host counters: collection cost (${stamp})`);
    out();
    out(`\`flock /tmp/nslat-bpf.lock node --import tsx bench/hostcost.ts --samples ${SAMPLES} --rounds ${ROUNDS}\``);
    out();
    out(`Machine: kernel ${kernel}, ${cpus} CPUs, ${Math.round(Number(mem) / 1024 / 1024)} GB, ${irqLines} IRQ lines. The helper in a namespace of this run with ${PAIRS} veth pairs (peers in a second namespace) and ${ready.sockets} sockets of host-sockets.py, ten pairs carrying about 100 UDP datagrams a second each. Load average (1, 5, 15 min) ${loadBefore} before, ${loadAfter} after (other work on the machine meanwhile makes CPU times longer).`);
    out();
    out('## 1. At the default interval (1000 ms)');
    out();
    out('`cost_ns` of each sample (the helper\'s thread CPU time collecting it), and the helper process\'s CPU time per interval (/proc/<pid>/schedstat; everything it did, writing the snapshot included).');
    out();
    out('| namespaces read | samples | mean | p50 | p95 | max |');
    out('|---|---|---|---|---|---|');
    out(distRow(`own (${own.ifaces} interfaces, ${own.sockets} sockets listed)`, dist(own.cost)));
    out(distRow(`own + host.netns (${both.ifaces} interfaces)`, dist(both.cost)));
    out();
    out(`Process CPU per interval: ${fmtUs(own.cpuPerInterval)} (own namespace), ${fmtUs(both.cpuPerInterval)} (both).`);
    out();
    out('## 2. Collection on and off, interleaved');
    out();
    out(`Process CPU per snapshot, ${ROUNDS} rounds of a block of ${BLOCK} snapshots with collection on and one with it off (order alternating), own namespace, snapshots on request 100 ms apart.`);
    out();
    out('| collection | blocks | mean | p50 | max |');
    out('|---|---|---|---|---|');
    out(`| on | ${on.length} | ${fmtUs(mean(on))} | ${fmtUs(quantile(on, 0.5))} | ${fmtUs(Math.max(...on))} |`);
    out(`| off | ${off.length} | ${fmtUs(mean(off))} | ${fmtUs(quantile(off, 0.5))} | ${fmtUs(Math.max(...off))} |`);
    out();
    out(`Host collection per snapshot (on − off, means of the same run): ${fmtUs(mean(on) - mean(off))}.`);
    out();
    out('## 3. The first sample');
    out();
    out(`The first sample after start reads the configuration of every interface and IRQ line: ${fmtUs(first.host?.cost_ns ?? 0)}; said once in its errors: ${(first.host?.errors ?? []).length} lines.`);
    if (values.out) {
      writeFileSync(values.out, `${lines.join('\n')}\n`);
      console.log(`\nwritten to ${values.out}`);
    }
  } finally {
    holder?.stdin?.end();
    for (const s of senders) await stopChild(s);
    if (holder) await stopChild(holder);
    await disposeAll();
    await teardown();
  }
}

process.once('exit', killAllChildrenSync);
main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

/**
 * The kernel's own view of the host counters, read the way the standard tools read them, for
 * checking the helper's host samples: /proc/net/{snmp,netstat,snmp6} (netstat -s),
 * /sys/class/net/<dev>/statistics, `tc -s qdisc`, `ss -uanm`, and the global /proc/stat,
 * /proc/softirqs, /proc/net/softnet_stat and /proc/interrupts. Every reading is a flat map of
 * counter name to value, so a check can bracket the helper's delta between two readings.
 *
 * `bracket` is the check: read right before and right after each of two snapshots; the helper
 * read its files at some moment inside each pair of readings, so its delta for the second
 * snapshot lies between (after first → before second) and (before first → after second).
 */
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { nsExec } from './netns.ts';

export type Reading = Map<string, number>;

async function run(ns: string | undefined, cmd: string[]): Promise<string> {
  if (ns) return nsExec(ns, cmd);
  return (await execa(cmd[0]!, cmd.slice(1), { timeout: 10_000 })).stdout;
}

/** netstat -s's sources as "Group.Name" (the namespace's own, read from inside it). */
export async function readSnmp(ns?: string): Promise<Reading> {
  const out: Reading = new Map();
  for (const file of ['/proc/net/snmp', '/proc/net/netstat']) {
    const lines = (await run(ns, ['cat', file])).split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const [g, ...names] = lines[i]!.trim().split(/\s+/);
      const [g2, ...vals] = lines[i + 1]!.trim().split(/\s+/);
      if (!g || g !== g2) continue;
      names.forEach((n, k) => out.set(`${g.slice(0, -1)}.${n}`, Number(vals[k])));
    }
  }
  const v6 = await run(ns, ['cat', '/proc/net/snmp6']).catch(() => '');
  for (const l of v6.split('\n')) {
    const m = /^(UdpLite6|Icmp6|Udp6|Ip6)(\S+)\s+(\d+)/.exec(l);
    if (m) out.set(`${m[1]}.${m[2]}`, Number(m[3]));
  }
  return out;
}

/** /sys/class/net/<dev>/statistics/* (inside `ns`, whose /sys `ip netns exec` mounts). */
export async function readSysfsStats(ns: string | undefined, dev: string): Promise<Reading> {
  const out: Reading = new Map();
  const text = await run(ns, ['grep', '-r', '.', `/sys/class/net/${dev}/statistics`]);
  for (const l of text.split('\n')) {
    const m = /\/statistics\/(\w+):(\d+)$/.exec(l);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** `tc -s qdisc show dev` of the root qdisc: sent bytes/packets, drops, overlimits, requeues,
 *  backlog bytes and packets. */
export async function readRootQdisc(ns: string, dev: string): Promise<Reading & { kind?: string }> {
  const r = await execa('tc', ['-n', ns, '-s', '-j', 'qdisc', 'show', 'dev', dev], { timeout: 10_000 });
  const list = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  const q = list.find((x) => x.root === true) ?? list[0] ?? {};
  const out = new Map<string, number>() as Reading & { kind?: string };
  for (const k of ['bytes', 'packets', 'drops', 'overlimits', 'requeues', 'backlog', 'qlen']) out.set(k, Number(q[k] ?? 0));
  out.kind = String(q.kind ?? '');
  return out;
}

/** `ss -uanm` of one UDP socket by local port: Recv-Q, Send-Q and SK_MEMINFO (rb, d). */
export async function readUdpSocket(ns: string | undefined, port: number): Promise<Reading> {
  const text = await run(ns, ['ss', '-H', '-u', '-a', '-n', '-m', 'sport', '=', `:${port}`]);
  const out: Reading = new Map();
  const m = /^\S+\s+(\d+)\s+(\d+)/m.exec(text);
  if (m) {
    out.set('recv_q', Number(m[1]));
    out.set('send_q', Number(m[2]));
  }
  const mem = /skmem:\(([^)]*)\)/.exec(text)?.[1] ?? '';
  for (const [, k, v] of mem.matchAll(/([a-z_]+)(\d+)/g)) out.set(k!, Number(v));
  return out;
}

/** /proc/stat per CPU in USER_HZ ticks: "cpu<N>.<field>"; and which CPUs are online. */
export function readStat(): Reading {
  const out: Reading = new Map();
  const fields = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];
  for (const l of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(l);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    fields.forEach((f, i) => out.set(`cpu${m[1]}.${f}`, v[i] ?? 0));
  }
  return out;
}

export function onlineCpus(r: Reading): number[] {
  return [...new Set([...r.keys()].map((k) => Number(/^cpu(\d+)\./.exec(k)?.[1] ?? -1)))].filter((c) => c >= 0).sort((a, b) => a - b);
}

/** A table of a "CPU0 CPU1 ..." header and rows of per-CPU values ("NAME: v v ..."): the rows
 *  `row` matches (its first group the name), each value under key(name, cpu). */
function cpuTable(path: string, row: RegExp, key: (name: string, cpu: number) => string): Reading {
  const out: Reading = new Map();
  const [head, ...rows] = readFileSync(path, 'utf8').split('\n');
  const cpus = [...(head ?? '').matchAll(/CPU(\d+)/g)].map((m) => Number(m[1]));
  for (const r of rows) {
    const m = row.exec(r);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/);
    cpus.forEach((c, i) => out.set(key(m[1]!, c), Number(v[i])));
  }
  return out;
}

/** /proc/softirqs: "cpu<N>.<VECTOR>". */
export function readSoftirqs(): Reading {
  return cpuTable('/proc/softirqs', /^\s*(\w+):\s*(.*)$/, (v, c) => `cpu${c}.${v}`);
}

/** /proc/net/softnet_stat: "cpu<N>.<column>" (the CPU from column 13, where the kernel has it). */
export function readSoftnet(): Reading {
  const out: Reading = new Map();
  const names: Array<[string, number]> = [
    ['processed', 0],
    ['dropped', 1],
    ['time_squeeze', 2],
    ['received_rps', 9],
    ['flow_limit', 10],
  ];
  readFileSync('/proc/net/softnet_stat', 'utf8')
    .split('\n')
    .filter(Boolean)
    .forEach((l, row) => {
      const v = l.trim().split(/\s+/).map((x) => parseInt(x, 16));
      const cpu = v.length >= 13 ? v[12] : row;
      for (const [n, i] of names) out.set(`cpu${cpu}.${n}`, v[i] ?? 0);
    });
  return out;
}

/** /proc/interrupts' numbered lines: "<irq>.cpu<N>". */
export function readInterrupts(): Reading {
  return cpuTable('/proc/interrupts', /^\s*(\d+):\s*(.*)$/, (irq, c) => `${irq}.cpu${c}`);
}

/** Several readings as one, each key under its prefix. */
export function merge(parts: Record<string, Reading>): Reading {
  const out: Reading = new Map();
  for (const [p, r] of Object.entries(parts)) for (const [k, v] of r) out.set(`${p}${k}`, v);
  return out;
}

export interface Bracketed {
  /** The four readings: before and after the first snapshot, before and after the second. */
  r: [Reading, Reading, Reading, Reading];
}

/** The range the helper's delta for the second snapshot must lie in (32-bit counters wrap). */
export function range(b: Bracketed, key: string, wrap32 = false): [number, number] {
  const [r0, r1, r2, r3] = b.r;
  const d = (a: number | undefined, z: number | undefined) => {
    const x = (z ?? 0) - (a ?? 0);
    return wrap32 ? x >>> 0 : x;
  };
  return [d(r1.get(key), r2.get(key)), d(r0.get(key), r3.get(key))];
}

/** Problems with the helper's values (`got(key)`, 0 when absent) against the readings. */
export function bracketProblems(b: Bracketed, keys: Iterable<string>, got: (key: string) => number, what: string, wrap32 = false): string[] {
  const bad: string[] = [];
  for (const k of keys) {
    const [lo, hi] = range(b, k, wrap32);
    const v = got(k);
    if (v < lo || v > hi) bad.push(`${what} ${k}: the helper says ${v}, the kernel's own files ${lo}..${hi}`);
  }
  return bad;
}

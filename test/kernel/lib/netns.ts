/**
 * Network namespaces for the kernel tests: two namespaces joined by a veth pair, addresses from
 * 10.200.x.0/30 that exist only inside those namespaces (no default route, nothing routed
 * anywhere else), an optional tbf qdisc, and a way to run a command inside a namespace.
 *
 * Namespaces are named `nslat-kernel-<pid>-<n>-{a,b}` (nslat, the suite, this process, a counter). Everything created here is removed by
 * `destroy()` (idempotent, never throws); tests call it from `finally` / `after` hooks, and a
 * process-exit hook removes anything a crashed test left behind.
 */
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';

export interface VethPair {
  /** Namespace of the sending side ("a") and the receiving side ("b"). */
  nsA: string;
  nsB: string;
  /** veth device names inside nsA / nsB. */
  devA: string;
  devB: string;
  /** IPv4 addresses (no prefix) of devA / devB. */
  addrA: string;
  addrB: string;
  /** IPv6 ULA addresses of devA / devB (fd00:200:x::1/2, /126), also namespace-local. */
  addr6A: string;
  addr6B: string;
  /** ifindex of devB inside nsB (the receiving device). */
  ifindexB: number;
  /** Network-namespace inode numbers (as in /proc/<pid>/ns/net), for probe netns filters. */
  netnsInoA: number;
  netnsInoB: number;
  destroy(): Promise<void>;
}

const live = new Set<string>();
let counter = 0;

async function ip(args: string[]): Promise<string> {
  const r = await execa('ip', args, { timeout: 10_000 });
  return r.stdout;
}

/** Runs a command inside a namespace (ip netns exec), bounded by `timeoutMs`. */
export async function nsExec(ns: string, cmd: string[], timeoutMs = 10_000): Promise<string> {
  const [file, ...rest] = cmd;
  if (!file) throw new Error('nsExec: empty command');
  const r = await execa('ip', ['netns', 'exec', ns, file, ...rest], { timeout: timeoutMs });
  return r.stdout;
}

/** The argv prefix that runs a command inside `ns` (for long-running children the caller spawns). */
export function nsPrefix(ns: string): string[] {
  return ['ip', 'netns', 'exec', ns];
}

async function deleteNs(ns: string): Promise<void> {
  try {
    await execa('ip', ['netns', 'del', ns], { timeout: 10_000, reject: false });
  } finally {
    live.delete(ns);
  }
}

async function netnsIno(ns: string): Promise<number> {
  // `stat -L -c %i /run/netns/<ns>` is the namespace's inode number (what bpf sees as net->ns.inum).
  const r = await execa('stat', ['-L', '-c', '%i', `/run/netns/${ns}`], { timeout: 5_000 });
  return Number(r.stdout.trim());
}

/**
 * Creates nsA ⇄ nsB joined by a veth pair. The /30 is 10.200.x.0 with x from the pid and a counter,
 * so parallel test processes do not collide (and even if they did, each pair lives in its own
 * namespaces, so the addresses never meet).
 */
export async function createVethPair(tag = 'kernel'): Promise<VethPair> {
  const n = counter++;
  const base = `nslat-${tag}-${process.pid}-${n}`;
  const nsA = `${base}-a`;
  const nsB = `${base}-b`;
  // Interface names are limited to 15 characters; they live inside the namespaces only.
  const devA = `nsk${(process.pid % 100000).toString(36)}${n}a`.slice(0, 15);
  const devB = `nsk${(process.pid % 100000).toString(36)}${n}b`.slice(0, 15);
  const x = (process.pid + n * 7) % 250;
  const addrA = `10.200.${x}.1`;
  const addrB = `10.200.${x}.2`;
  const addr6A = `fd00:200:${x.toString(16)}::1`;
  const addr6B = `fd00:200:${x.toString(16)}::2`;

  const destroy = async () => {
    // Deleting a namespace destroys the veth end inside it, and with it the peer.
    await deleteNs(nsA);
    await deleteNs(nsB);
  };
  try {
    live.add(nsA);
    await ip(['netns', 'add', nsA]);
    live.add(nsB);
    await ip(['netns', 'add', nsB]);
    // Create the pair directly inside the namespaces: the host namespace never sees it.
    await ip(['link', 'add', devA, 'netns', nsA, 'type', 'veth', 'peer', 'name', devB, 'netns', nsB]);
    for (const [ns, dev, a4, a6] of [
      [nsA, devA, addrA, addr6A],
      [nsB, devB, addrB, addr6B],
    ] as const) {
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', ns, 'addr', 'add', `${a4}/30`, 'dev', dev]);
      await ip(['-n', ns, '-6', 'addr', 'add', `${a6}/126`, 'dev', dev, 'nodad']);
      await ip(['-n', ns, 'link', 'set', dev, 'up']);
    }
    const link = JSON.parse(await ip(['-n', nsB, '-j', 'link', 'show', 'dev', devB])) as Array<{ ifindex: number }>;
    const ifindexB = link[0]?.ifindex ?? 0;
    // Wait (bounded) until the link is up and the peer answers ARP: one ping.
    await nsExec(nsA, ['ping', '-c', '1', '-W', '2', addrB], 5_000).catch(() => undefined);
    return {
      nsA,
      nsB,
      devA,
      devB,
      addrA,
      addrB,
      addr6A,
      addr6B,
      ifindexB,
      netnsInoA: await netnsIno(nsA),
      netnsInoB: await netnsIno(nsB),
      destroy,
    };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/** Adds a root tbf qdisc on `dev` inside `ns` (a low rate makes packets queue in the qdisc). */
export async function addTbf(ns: string, dev: string, rate = '1mbit', burst = '1600', limit = '100000'): Promise<void> {
  await execa('tc', ['-n', ns, 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', burst, 'limit', limit], { timeout: 5_000 });
}

/** Adds any root qdisc, e.g. addQdisc(ns, dev, ['pfifo', 'limit', '1000']). */
export async function addQdisc(ns: string, dev: string, spec: string[]): Promise<void> {
  await execa('tc', ['-n', ns, 'qdisc', 'add', 'dev', dev, 'root', ...spec], { timeout: 5_000 });
}

/** Removes the root qdisc on `dev` (back to the default); never throws. */
export async function removeRootQdisc(ns: string, dev: string): Promise<void> {
  await execa('tc', ['-n', ns, 'qdisc', 'del', 'dev', dev, 'root'], { reject: false, timeout: 5_000 });
}

/** Lists the root qdisc kinds on `dev` (e.g. ["tbf"] or ["noqueue"]). */
export async function qdiscKinds(ns: string, dev: string): Promise<string[]> {
  const r = await execa('tc', ['-n', ns, '-j', 'qdisc', 'show', 'dev', dev], { timeout: 5_000 });
  return (JSON.parse(r.stdout) as Array<{ kind: string }>).map((q) => q.kind);
}

/** Removes every namespace this process created and has not deleted yet. */
export async function destroyAll(): Promise<void> {
  for (const ns of [...live]) await deleteNs(ns);
}

// Last resort: a test that crashed without reaching its `finally` still removes its namespaces.
process.once('exit', () => {
  for (const ns of live) {
    try {
      // Synchronous on purpose: async work does not run in an exit handler.
      execFileSync('ip', ['netns', 'del', ns], { timeout: 5_000, stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
});

/**
 * Puts what nslat ships for the target's architecture on the target: the static helper and the
 * built-in CO-RE objects (bpf/build/ship/<arch>/, made once at package time). Nothing is built there.
 *
 * The work directory is `~/.cache/nslat/<version>-<hash of the shipped files>/`. An existing one is
 * reused when the sha256 of each file on the target matches what would be copied; otherwise the
 * files go to a private `.part-` directory that is renamed into place, so two sessions starting at
 * once never load from a half-written one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBatch, type Transport } from './transport/types.ts';
import pkg from '../../package.json' with { type: 'json' };

export const NSLAT_VERSION: string = pkg.version;

export const HELPER_NAME = 'nslat-helper';

export interface Deployment {
  /** Work directory on the target (absolute); the helper's --workdir. */
  dir: string;
  helper: string;
  /** Built-in objects by slot name (rx, tx, irq). */
  objects: Record<string, string>;
  hash: string;
  /** The target's architecture, as the shipped directory names it (x86_64, aarch64). */
  arch: string;
  /** True when an existing work directory was reused. */
  reused: boolean;
  /** The local bpf/ directory: probe sources and headers (edited probes compile against them). */
  localBpfDir: string;
  /** The local directory the shipped files came from (bpf/build/ship/<arch>). */
  shipDir: string;
}

export type DeployPhase = 'hash' | 'copy' | 'reuse' | 'done';
export interface DeployProgress { phase: DeployPhase; message: string }

/** `uname -m` as the shipped directories name it: aarch64 and arm64 are one, x86_64 and amd64 too. */
export function normalizeArch(machine: string): string {
  const m = machine.trim().toLowerCase();
  if (m === 'arm64' || m === 'aarch64') return 'aarch64';
  if (m === 'amd64' || m === 'x86_64' || m === 'x64') return 'x86_64';
  return m;
}

/** The repository (or installed package) root: the nearest directory up with package.json and bpf/. */
export function findPackageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bpf'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find nslat's bpf/ directory above ${from}; set NSLAT_BPF_DIR to it`);
    dir = up;
  }
}

export function localBpfDir(): string {
  const env = process.env.NSLAT_BPF_DIR;
  if (env) return resolve(env);
  return join(findPackageRoot(), 'bpf');
}

/** Architectures with a shipped helper under `shipRoot` (bpf/build/ship), sorted. */
export function shippedArchs(shipRoot: string): string[] {
  try {
    return readdirSync(shipRoot, { withFileTypes: true })
      .filter((e) => e.isDirectory() && existsSync(join(shipRoot, e.name, HELPER_NAME)))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** The files of one shipped architecture directory, sorted: the helper and the `.bpf.o` objects. */
export function shippedFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f === HELPER_NAME || f.endsWith('.bpf.o')).filter((f) => statSync(join(dir, f)).isFile()).sort();
}

/** sha256 of each shipped file, by name. */
export function fileHashes(dir: string): Record<string, string> {
  return Object.fromEntries(shippedFiles(dir).map((f) => [f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')]));
}

/** One hash over the names and contents of the shipped files (first 16 hex digits). */
export function hashShipped(dir: string, sums: Record<string, string> = fileHashes(dir)): string {
  const h = createHash('sha256');
  for (const [f, sum] of Object.entries(sums)) h.update(f).update('\0').update(sum).update('\0');
  return h.digest('hex').slice(0, 16);
}

export interface DeployOptions {
  transport: Transport;
  /** Local bpf/ directory (default: this package's); the shipped files are in its build/ship/. */
  bpfDir?: string;
  /** The target's `uname -m`, when the caller knows it already (preflight). */
  machine?: string;
  slots?: string[];
  onProgress?: (p: DeployProgress) => void;
  /** Copy even when the files on the target match. */
  force?: boolean;
  signal?: AbortSignal;
}

export class DeployError extends Error {
  constructor(message: string, readonly output?: string) {
    super(message);
    this.name = 'DeployError';
  }
}

/** Refusal for a target whose architecture nslat ships no helper for. */
export function foreignArchMessage(host: string, machine: string, shipped: string[]): string {
  return `${host} is ${machine}, and nslat ships its helper and probes for ${shipped.length ? shipped.join(' and ') : 'no architecture (bpf/build/ship is empty: run make -C bpf ship)'} only: it cannot trace this machine`;
}

/** Where the shipped files for `machine` are, or the refusal that names what is shipped. */
export function shipDirFor(bpfDir: string, machine: string, host: string): string {
  const root = join(bpfDir, 'build', 'ship');
  const arch = normalizeArch(machine);
  const dir = join(root, arch);
  if (!existsSync(join(dir, HELPER_NAME))) throw new DeployError(foreignArchMessage(host, machine.trim() || 'of an unknown architecture', shippedArchs(root)));
  return dir;
}

export async function deploy(opts: DeployOptions): Promise<Deployment> {
  const t = opts.transport;
  const progress = opts.onProgress ?? (() => {});
  const local = opts.bpfDir ? resolve(opts.bpfDir) : localBpfDir();
  const run = (argv: string[], timeoutMs = 20_000) => t.run(argv, { timeoutMs, signal: opts.signal });

  let machine = opts.machine;
  if (!machine) {
    const u = await run(['uname', '-m']);
    if (u.exitCode !== 0) throw new DeployError(`cannot tell the architecture of ${t.host} (uname -m: ${u.stderr.trim() || `exit ${u.exitCode}`})`);
    machine = u.stdout.trim();
  }
  const ship = shipDirFor(local, machine, t.host);
  const arch = normalizeArch(machine);
  progress({ phase: 'hash', message: `hashing the shipped ${arch} files` });
  const sums = fileHashes(ship);
  const names = Object.keys(sums);
  const hash = hashShipped(ship, sums);
  const home = (await t.home()).replace(/\/+$/, '');
  const root = `${home}/.cache/nslat`;
  const dir = `${root}/${NSLAT_VERSION}-${hash}`;
  const slots = opts.slots ?? ['rx', 'tx', 'irq'];
  for (const s of slots) if (!sums[`${s}.bpf.o`]) throw new DeployError(`nslat ships no ${s}.bpf.o for ${arch} (${ship})`);
  const base = { dir, helper: `${dir}/${HELPER_NAME}`, objects: Object.fromEntries(slots.map((s) => [s, `${dir}/${s}.bpf.o`])), hash, arch, localBpfDir: local, shipDir: ship };

  /** Every shipped file is in d with the right content (sha256sum, from coreutils or busybox). */
  const matches = (r: { exitCode: number; stdout: string } | undefined) => {
    if (!r || r.exitCode !== 0) return false;
    const got = new Map(r.stdout.trim().split('\n').map((l) => {
      const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(l.trim());
      return m ? [m[2]!.slice(m[2]!.lastIndexOf('/') + 1), m[1]!] as const : ['', ''] as const;
    }));
    return names.every((n) => got.get(n) === sums[n]);
  };
  const sha = (d: string) => ['sha256sum', '--', ...names.map((n) => `${d}/${n}`)];
  const intact = async (d: string) => matches(await run(sha(d)).catch(() => undefined));
  // The reuse check and its mark as recently used (pruning keeps it) in one round trip; touching
  // a directory that fails the check does no harm, it is replaced.
  if (!opts.force) {
    const [, sumsThere] = await runBatch(t, [['touch', '-c', '--', dir], sha(dir)], { timeoutMs: 20_000, signal: opts.signal }).catch(() => []);
    if (matches(sumsThere)) {
      progress({ phase: 'reuse', message: `reusing ${dir}` });
      return { ...base, reused: true };
    }
  }

  // Copy into a private directory next to the final one and rename it into place.
  const part = `${dir}.part-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const cleanup = () => run(['rm', '-rf', '--', part]).catch(() => undefined);
  try {
    progress({ phase: 'copy', message: `copying the ${arch} helper and probes to ${t.host === 'local' ? '' : `${t.host}:`}${dir}` });
    await t.putDir(ship, part);
    // A package format may drop the mode bits (a .vsix is a zip): the helper must be executable.
    const [x, sumsPart] = await runBatch(t, [['chmod', '0755', '--', `${part}/${HELPER_NAME}`], sha(part)], { timeoutMs: 20_000, signal: opts.signal });
    if (x!.exitCode !== 0) throw new DeployError(`cannot make ${part}/${HELPER_NAME} executable on ${t.host}: ${x!.stderr.trim()}`);
    if (!matches(sumsPart)) throw new DeployError(`the files copied to ${part} on ${t.host} do not match what nslat ships`);
    // mv -T fails when `dir` exists and is not empty: someone else finished first (reuse theirs),
    // or a damaged earlier copy is in the way (replace it; nothing loads from a copy that fails the check).
    for (let attempt = 0; attempt < 2; attempt++) {
      const mv = await run(['mv', '-T', '--', part, dir]);
      if (mv.exitCode === 0) break;
      if (await intact(dir)) {
        await cleanup();
        progress({ phase: 'reuse', message: `reusing ${dir} (copied by another session)` });
        return { ...base, reused: true };
      }
      if (attempt === 1) throw new DeployError(`cannot move the files into ${dir} on ${t.host}: ${mv.stderr.trim()}`);
      await run(['rm', '-rf', '--', dir]);
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  progress({ phase: 'done', message: `copied to ${dir}` });
  await pruneWorkDirs(t, root, dir, opts.signal).catch(() => undefined);
  return { ...base, reused: false };
}

/** An entry of ~/.cache/nslat: its name and modification time (seconds since the epoch). */
export interface WorkDirEntry {
  name: string;
  mtime: number;
}

export const PRUNE_KEEP = 3;
export const PRUNE_AGE_S = 7 * 24 * 3600;
export const PRUNE_PART_AGE_S = 24 * 3600;

/**
 * Which work directories a fresh deploy may remove: besides the current one, the PRUNE_KEEP most
 * recently used always stay (a session of another nslat version may be running from one), older
 * ones stay until unused for PRUNE_AGE_S; an abandoned `.part-` directory goes after
 * PRUNE_PART_AGE_S. Anything not named like nslat's own directories is left alone.
 */
export function prunable(entries: WorkDirEntry[], current: string, now: number): string[] {
  const own = /^\d+\.\d+\.\d+[\w.-]*-[0-9a-f]{8,64}$/;
  const part = /^\d+\.\d+\.\d+[\w.-]*-[0-9a-f]{8,64}\.part-\d+-\w+$/;
  const out: string[] = [];
  const builds = entries.filter((e) => e.name !== current && own.test(e.name)).sort((a, b) => b.mtime - a.mtime);
  for (const e of builds.slice(PRUNE_KEEP)) if (now - e.mtime > PRUNE_AGE_S) out.push(e.name);
  for (const e of entries) if (part.test(e.name) && now - e.mtime > PRUNE_PART_AGE_S) out.push(e.name);
  return out;
}

/** Best effort: removes stale work directories under root (see prunable()). */
export async function pruneWorkDirs(t: Transport, root: string, current: string, signal?: AbortSignal): Promise<string[]> {
  const ls = await t.run(['find', root, '-mindepth', '1', '-maxdepth', '1', '-type', 'd', '-printf', '%T@ %f\\n'], { timeoutMs: 10_000, signal });
  if (ls.exitCode !== 0) return [];
  const entries = ls.stdout.split('\n').flatMap((line) => {
    const m = /^(\d+)(?:\.\d+)? (.+)$/.exec(line);
    return m ? [{ mtime: Number(m[1]), name: m[2]! }] : [];
  });
  const base = current.slice(current.lastIndexOf('/') + 1);
  const gone = prunable(entries, base, Math.floor(Date.now() / 1000));
  for (const name of gone) await t.run(['rm', '-rf', '--', `${root}/${name}`], { timeoutMs: 60_000, signal });
  return gone;
}

/**
 * Puts nslat's bpf/ tree on the target and builds it there as the unprivileged user.
 *
 * The work directory is `~/.cache/nslat/<version>-<hash of the bpf sources>/`: a new nslat or an
 * edited built-in probe gets a fresh directory, and an unchanged one is reused without copying
 * (when its build stamp matches and the helper is there). Only sources are copied, never local
 * build output (vmlinux.h is the target's own, made there from its BTF).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Transport } from './transport/types.ts';
import pkg from '../../package.json' with { type: 'json' };

export const NSLAT_VERSION: string = pkg.version;

export interface Deployment {
  /** Work directory on the target (absolute); the helper's --workdir. */
  dir: string;
  /** The bpf/ tree inside it. */
  bpfDir: string;
  helper: string;
  /** Built-in objects by slot name (rx, tx, irq). */
  objects: Record<string, string>;
  hash: string;
  /** True when an existing build was reused. */
  reused: boolean;
  /** The local bpf/ directory the sources came from. */
  localBpfDir: string;
  /** Extra `make` variables for builds on this target (e.g. BPFTOOL=/usr/sbin/bpftool). */
  makeVars: string[];
}

export type DeployPhase = 'hash' | 'copy' | 'build' | 'reuse' | 'done';
export interface DeployProgress { phase: DeployPhase; message: string }

/** Files under bpf/ that are build output, never copied or hashed. */
function isBuildOutput(rel: string): boolean {
  const parts = rel.split('/');
  const base = parts[parts.length - 1]!;
  return parts[0] === 'build' || parts[0] === '.output' || parts.includes('node_modules')
    || base.endsWith('.o') || base === 'nslat-helper' || base === 'vmlinux.h' || base.startsWith('.');
}

function listSources(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      const rel = relative(root, abs);
      if (isBuildOutput(rel)) continue;
      if (e.isDirectory()) walk(abs);
      else if (e.isFile()) out.push(rel);
    }
  };
  walk(root);
  return out.sort();
}

/** sha256 over the sorted relative paths and contents of the bpf sources (first 16 hex digits). */
export function hashBpfSources(root: string): string {
  const h = createHash('sha256');
  for (const rel of listSources(root)) {
    h.update(rel).update('\0').update(readFileSync(join(root, rel))).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

/** The repository (or installed package) root: the nearest directory up with bpf/Makefile or bpf/. */
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

/** A clean copy of the sources in a temporary directory (caller removes it). */
function stageSources(root: string): string {
  const tmp = mkdtempSync(join(tmpdir(), 'nslat-bpf-'));
  for (const rel of listSources(root)) {
    const dst = join(tmp, rel);
    mkdirSync(dirname(dst), { recursive: true });
    copyFileSync(join(root, rel), dst);
  }
  return tmp;
}

export interface DeployOptions {
  transport: Transport;
  /** Local bpf/ directory (default: this package's). */
  bpfDir?: string;
  slots?: string[];
  onProgress?: (p: DeployProgress) => void;
  /** Rebuild even when the stamp matches. */
  force?: boolean;
  signal?: AbortSignal;
}

export class DeployError extends Error {
  constructor(message: string, readonly output?: string) {
    super(message);
    this.name = 'DeployError';
  }
}

const STAMP = '.nslat-built';

/**
 * Tools outside the unprivileged user's PATH: Debian puts bpftool in /usr/sbin, which a normal
 * user's PATH (e.g. over SSH) lacks; point make at it instead of failing.
 */
async function findMakeVars(t: Transport, signal?: AbortSignal): Promise<string[]> {
  const works = async (argv: string[]) => {
    try {
      return (await t.run(argv, { timeoutMs: 20_000, signal })).exitCode === 0;
    } catch {
      return false;
    }
  };
  if (await works(['bpftool', 'version'])) return [];
  for (const p of ['/usr/sbin/bpftool', '/sbin/bpftool', '/usr/local/sbin/bpftool']) {
    if (await works([p, 'version'])) return [`BPFTOOL=${p}`];
  }
  return [];
}

export async function deploy(opts: DeployOptions): Promise<Deployment> {
  const t = opts.transport;
  const progress = opts.onProgress ?? (() => {});
  const local = opts.bpfDir ? resolve(opts.bpfDir) : localBpfDir();
  if (!existsSync(join(local, 'Makefile')) || !statSync(local).isDirectory()) {
    throw new DeployError(`${local} is not nslat's bpf/ directory (no Makefile there)`);
  }
  progress({ phase: 'hash', message: 'hashing probe sources' });
  const hash = hashBpfSources(local);
  const home = (await t.home()).replace(/\/+$/, '');
  const dir = `${home}/.cache/nslat/${NSLAT_VERSION}-${hash}`;
  const bpfDir = `${dir}/bpf`;
  const helper = `${bpfDir}/build/nslat-helper`;
  const slots = opts.slots ?? ['rx', 'tx', 'irq'];
  const objects = Object.fromEntries(slots.map((s) => [s, `${bpfDir}/build/${s}.bpf.o`]));
  const makeVars = await findMakeVars(t, opts.signal);
  const base = { dir, bpfDir, helper, objects, hash, localBpfDir: local, makeVars };

  const run = (argv: string[], timeoutMs = 20_000) => t.run(argv, { timeoutMs, signal: opts.signal });
  const isBuilt = async (d: string) => {
    const stamp = await run(['cat', `${d}/${STAMP}`]);
    const have = await run(['test', '-x', `${d}/bpf/build/nslat-helper`]);
    return stamp.exitCode === 0 && stamp.stdout.trim() === hash && have.exitCode === 0;
  };
  if (!opts.force && (await isBuilt(dir))) {
    progress({ phase: 'reuse', message: `reusing the build in ${dir}` });
    await run(['touch', '-c', '--', dir]).catch(() => undefined); // recently used: pruning keeps it
    return { ...base, reused: true };
  }

  // Build in a private directory next to the final one and rename it into place, so two sessions
  // starting at once never build in, or load from, a half-written tree.
  const part = `${dir}.part-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const cleanup = () => run(['rm', '-rf', '--', part]).catch(() => undefined);
  try {
    progress({ phase: 'copy', message: `copying bpf/ to ${t.host === 'local' ? '' : `${t.host}:`}${dir}` });
    const staged = stageSources(local);
    try {
      const mk = await run(['mkdir', '-p', part]);
      if (mk.exitCode !== 0) throw new DeployError(`cannot create ${part} on ${t.host}: ${mk.stderr.trim()}`);
      await t.putDir(staged, `${part}/bpf`);
    } finally {
      rmSync(staged, { recursive: true, force: true });
    }

    progress({ phase: 'build', message: `building probes and helper on ${t.host} (make -C ${bpfDir})` });
    const r = await t.run(['make', '-s', '-C', `${part}/bpf`, ...makeVars], { timeoutMs: 600_000, signal: opts.signal, env: { LC_ALL: 'C' } });
    if (r.exitCode !== 0) {
      const out = `${r.stderr}\n${r.stdout}`.trim().split(part).join(dir);
      const tail = out.split('\n').slice(-8).join('\n');
      throw new DeployError(`building the probes and helper on ${t.host} failed (make -C ${bpfDir}):\n${tail}`, out);
    }
    if ((await run(['test', '-x', `${part}/bpf/build/nslat-helper`])).exitCode !== 0) throw new DeployError(`make finished but ${helper} is missing`);
    await t.putFile(`${part}/${STAMP}`, `${hash}\n`);

    // mv -T fails when `dir` exists and is not empty: someone else finished first (reuse theirs),
    // or a broken earlier attempt is in the way (replace it; it has no valid stamp, so nothing runs from it).
    for (let attempt = 0; attempt < 2; attempt++) {
      const mv = await run(['mv', '-T', '--', part, dir]);
      if (mv.exitCode === 0) break;
      if (await isBuilt(dir)) {
        await cleanup();
        progress({ phase: 'reuse', message: `reusing the build in ${dir} (finished by another session)` });
        return { ...base, reused: true };
      }
      if (attempt === 1) throw new DeployError(`cannot move the build into ${dir} on ${t.host}: ${mv.stderr.trim()}`);
      await run(['rm', '-rf', '--', dir]);
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  progress({ phase: 'done', message: `built in ${dir}` });
  await pruneWorkDirs(t, `${home}/.cache/nslat`, dir, opts.signal).catch(() => undefined);
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
 * Which work directories a fresh build may remove: besides the current one, the PRUNE_KEEP most
 * recently used builds always stay (a session of another nslat version may be running from one),
 * older ones stay until unused for PRUNE_AGE_S; an abandoned `.part-` build dir goes after
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

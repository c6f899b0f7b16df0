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
  const base = { dir, bpfDir, helper, objects, hash, localBpfDir: local };

  if (!opts.force) {
    const stamp = await t.run(['cat', `${dir}/${STAMP}`], { timeoutMs: 20_000, signal: opts.signal });
    const have = await t.run(['test', '-x', helper], { timeoutMs: 20_000, signal: opts.signal });
    if (stamp.exitCode === 0 && stamp.stdout.trim() === hash && have.exitCode === 0) {
      progress({ phase: 'reuse', message: `reusing the build in ${dir}` });
      return { ...base, reused: true };
    }
  }

  progress({ phase: 'copy', message: `copying bpf/ to ${t.host === 'local' ? '' : `${t.host}:`}${bpfDir}` });
  const staged = stageSources(local);
  try {
    const mk = await t.run(['mkdir', '-p', dir], { timeoutMs: 20_000, signal: opts.signal });
    if (mk.exitCode !== 0) throw new DeployError(`cannot create ${dir} on ${t.host}: ${mk.stderr.trim()}`);
    await t.run(['rm', '-f', `${dir}/${STAMP}`], { timeoutMs: 20_000, signal: opts.signal });
    await t.putDir(staged, bpfDir);
  } finally {
    rmSync(staged, { recursive: true, force: true });
  }

  progress({ phase: 'build', message: `building probes and helper on ${t.host} (make -C ${bpfDir})` });
  const r = await t.run(['make', '-s', '-C', bpfDir], { timeoutMs: 600_000, signal: opts.signal, env: { LC_ALL: 'C' } });
  if (r.exitCode !== 0) {
    const out = `${r.stderr}\n${r.stdout}`.trim();
    const tail = out.split('\n').slice(-8).join('\n');
    throw new DeployError(`building the probes and helper on ${t.host} failed (make -C ${bpfDir}):\n${tail}`, out);
  }
  const have = await t.run(['test', '-x', helper], { timeoutMs: 20_000 });
  if (have.exitCode !== 0) throw new DeployError(`make finished but ${helper} is missing`);
  await t.putFile(`${dir}/${STAMP}`, `${hash}\n`);
  progress({ phase: 'done', message: `built in ${dir}` });
  return { ...base, reused: false };
}

/**
 * Which kernels the matrix runs: the Debian kernels scripts/kernels.sh put in .cache/kernels (its
 * manifest.json), plus "host" (this machine's own kernel, natively). NSLAT_MATRIX_KERNELS selects a
 * subset by label, e.g. "6.1,host".
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { REPO } from '../../kernel/lib/helper.ts';

export const KERNELS_DIR = process.env.NSLAT_KERNELS_DIR ?? join(REPO, '.cache', 'kernels');
export const MANIFEST = join(KERNELS_DIR, 'manifest.json');
/** Build products of this suite (nslat-guest), ignored by git like the rest of .cache/. */
export const CACHE_DIR = join(REPO, '.cache', 'matrix');
/** Per-kernel logs (console, serial output, helper output) for a failed run's post-mortem. */
export const RESULTS_DIR = join(REPO, 'test-results', 'matrix');

export interface GuestKernel {
  kind: 'guest';
  label: string;
  release: string;
  package: string;
  version: string;
  vmlinuz: string;
  config: string;
  preemptRt: boolean;
  /** Module files, load order. */
  modules: string[];
}
export interface HostKernel {
  kind: 'host';
  label: 'host';
}
export type Kernel = GuestKernel | HostKernel;

interface ManifestEntry {
  label: string;
  release: string;
  package: string;
  version: string;
  dir: string;
  vmlinuz: string;
  config: string;
  preempt_rt: boolean;
  modules: string[];
}

export function readManifest(): GuestKernel[] {
  const m = JSON.parse(readFileSync(MANIFEST, 'utf8')) as { kernels: ManifestEntry[] };
  return m.kernels.map((k) => {
    const dir = join(KERNELS_DIR, k.dir);
    return {
      kind: 'guest',
      label: k.label,
      release: k.release,
      package: k.package,
      version: k.version,
      vmlinuz: join(dir, k.vmlinuz),
      config: join(dir, k.config),
      preemptRt: k.preempt_rt,
      modules: k.modules.map((f) => join(dir, 'modules', f)),
    };
  });
}

/** Every kernel the matrix knows, in run order: the guests, then the host. */
export function allKernels(): Kernel[] {
  const guests = existsSync(MANIFEST) ? readManifest() : [];
  return [...guests, { kind: 'host', label: 'host' }];
}

/** The labels NSLAT_MATRIX_KERNELS asks for (all when unset). */
export function selectedLabels(all: Kernel[]): string[] {
  const env = process.env.NSLAT_MATRIX_KERNELS?.trim();
  if (!env) return all.map((k) => k.label);
  return env.split(/[\s,]+/).filter(Boolean);
}

/** Why the matrix cannot run here at all, or undefined. */
export async function matrixSkipReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'the kernel matrix needs Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the kernel matrix needs root (BPF, network namespaces)';
  for (const tool of ['ip', 'tc', 'gcc', 'ldd']) {
    const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', tool], { reject: false });
    if (r.exitCode !== 0) return `the kernel matrix needs ${tool} (see scripts/apt-packages.txt)`;
  }
  return undefined;
}

/** Why guests cannot run (qemu, busybox or the kernel cache missing), or undefined. */
export async function guestSkipReason(): Promise<string | undefined> {
  for (const tool of ['qemu-system-x86_64', 'busybox']) {
    const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', tool], { reject: false });
    if (r.exitCode !== 0) return `guests need ${tool} (bash scripts/kernels.sh installs it)`;
  }
  if (!existsSync(MANIFEST)) return `no ${MANIFEST}: run bash scripts/kernels.sh`;
  return undefined;
}

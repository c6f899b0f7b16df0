/**
 * The guest's initramfs: busybox (static) for the shell and coreutils, iproute2's ip and tc (busybox's
 * have no netns and no netem) with the shared libraries and loader ldd names, the kernel's NIC and
 * qdisc modules (decompressed by scripts/kernels.sh), the helper, the probe objects, nslat-guest,
 * the scenario and /init. Written uncompressed: the kernel then only copies it at boot (inflating
 * gzip under TCG costs more than the larger -initrd load).
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { execa } from 'execa';
import { newc, type Entry } from './cpio.ts';

/** Tools copied from the host (with their libraries): iproute2's, for netns and netem. */
const HOST_TOOLS = ['ip', 'tc'];

export interface GuestFiles {
  helper: string;
  tool: string;
  /** rx/tx/irq object paths. */
  objects: string[];
  scenario: string;
  init: string;
  /** Module files in load order. */
  modules: string[];
  /** KEY=value lines for /nslat/env. */
  env: Record<string, string>;
}

async function which(cmd: string): Promise<string> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', cmd], { reject: false, timeout: 5_000 });
  if (r.exitCode !== 0 || !r.stdout.trim()) throw new Error(`${cmd} not found (see scripts/kernels.sh and scripts/apt-packages.txt)`);
  return r.stdout.trim();
}

/** Shared libraries and the loader a dynamic executable needs (none for a static one). */
async function libsOf(bin: string): Promise<string[]> {
  const r = await execa('ldd', [bin], { reject: false, timeout: 10_000 });
  if (r.exitCode !== 0) return []; // "not a dynamic executable"
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

function file(path: string, src: string, mode?: number): Entry {
  const real = realpathSync(src);
  return { kind: 'file', path, data: readFileSync(real), mode: mode ?? (statSync(real).mode & 0o777) };
}

let common: Promise<Entry[]> | undefined;

/** The part every guest shares: busybox with its applet links, ip and tc with their libraries. */
function commonEntries(): Promise<Entry[]> {
  common ??= (async () => {
    const entries: Entry[] = [];
    const busybox = await which('busybox');
    entries.push(file('bin/busybox', busybox, 0o755));
    const applets = (await execa(busybox, ['--list'], { timeout: 5_000 })).stdout.split('\n').filter(Boolean);
    for (const a of applets) {
      if (a === 'busybox' || HOST_TOOLS.includes(a)) continue;
      entries.push({ kind: 'symlink', path: `bin/${a}`, target: 'busybox' });
    }
    const libs = new Set<string>();
    for (const t of HOST_TOOLS) {
      const p = await which(t);
      entries.push(file(`usr/sbin/${t}`, p, 0o755));
      for (const l of await libsOf(p)) libs.add(l);
    }
    for (const l of libs) entries.push(file(l.slice(1), l, 0o755));
    for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'etc', 'usr/bin', 'sbin']) entries.push({ kind: 'dir', path: d });
    entries.push({ kind: 'symlink', path: 'var/run', target: '../run' });
    entries.push({ kind: 'chardev', path: 'dev/console', major: 5, minor: 1 });
    entries.push({ kind: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/:/bin/sh\n') });
    return entries;
  })();
  return common;
}

/** The archive for one guest. */
export async function buildInitramfs(g: GuestFiles): Promise<Buffer> {
  const entries = [...(await commonEntries())];
  entries.push(file('init', g.init, 0o755));
  entries.push(file('nslat/scenario.sh', g.scenario, 0o755));
  entries.push(file('nslat/nslat-helper', g.helper, 0o755));
  for (const l of await libsOf(g.helper)) entries.push(file(l.slice(1), l, 0o755));
  entries.push(file('nslat/nslat-guest', g.tool, 0o755));
  for (const o of g.objects) entries.push(file(`nslat/objects/${basename(o)}`, o, 0o644));
  for (const m of g.modules) entries.push(file(`lib/modules/${basename(m)}`, m, 0o644));
  entries.push({ kind: 'file', path: 'lib/modules/modules.load', data: Buffer.from(g.modules.map((m) => `${basename(m)}\n`).join('')) });
  const env = Object.entries(g.env)
    .map(([k, v]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k) || !/^[A-Za-z0-9_./:,+-]*$/.test(v)) throw new Error(`guest env ${k}=${v}: unexpected characters`);
      return `export ${k}=${v}\n`;
    })
    .join('');
  entries.push({ kind: 'file', path: 'nslat/env', data: Buffer.from(env) });
  return newc(entries);
}


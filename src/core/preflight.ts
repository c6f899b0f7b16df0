/**
 * Can nslat trace this target? A target needs no compiler, headers or libraries (nslat ships a
 * static helper and CO-RE probes), so this checks only what still matters there: the kernel and its
 * architecture (is a helper shipped for it), BTF, tracefs, privilege and free space in the work
 * directory. Compilers are checked only for edited probes, where they compile (`compilerRows`).
 * Which attach types work is only known once the helper runs (its hello), and which mechanism feeds
 * each boundary once the probes are loaded: `attachRows` and `feedRows` turn those into rows of the
 * same table.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { EditCompiler } from './build.ts';
import { localBpfDir, normalizeArch, shippedArchs, shippedFiles } from './deploy.ts';
import { describeFeeds, explainReason, refusalsOf } from './feeds.ts';
import type { HelloMessage, LoadedMessage } from './protocol.ts';
import { runBatch, type AskPass, type Transport } from './transport/types.ts';

export interface PreflightRow {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** false: informative only, tracing can work without it. */
  required?: boolean;
}

export interface PreflightResult {
  rows: PreflightRow[];
  ok: boolean;
  distro: Distro;
  kernel?: string;
  /** `uname -m` of the target. */
  machine?: string;
  /** tracefs is not mounted: the helper (root) mounts it at start. */
  needsTracefsMount: boolean;
  privilege: 'root' | 'sudo-n' | 'sudo-password' | 'none';
}

export interface Distro {
  id: string;
  name: string;
  family: 'debian' | 'ubuntu' | 'fedora' | 'rhel' | 'suse' | 'arch' | 'alpine' | 'unknown';
}

/** What compiling an edited probe needs, on the machine that compiles it. */
type Pkg = 'clang' | 'llvm' | 'bpftool' | 'libbpf';

const PACKAGES: Record<Exclude<Distro['family'], 'unknown'>, { cmd: string[]; names: Record<Pkg, string> }> = {
  debian: { cmd: ['sudo', 'apt-get', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-dev' } },
  ubuntu: { cmd: ['sudo', 'apt-get', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'linux-tools-common linux-tools-$KREL', libbpf: 'libbpf-dev' } },
  fedora: { cmd: ['sudo', 'dnf', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-devel' } },
  rhel: { cmd: ['sudo', 'dnf', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-devel' } },
  suse: { cmd: ['sudo', 'zypper', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-devel' } },
  arch: { cmd: ['sudo', 'pacman', '-S', '--needed'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpf', libbpf: 'libbpf' } },
  alpine: { cmd: ['sudo', 'apk', 'add'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-dev' } },
};

/** Parses /etc/os-release text into a distribution family. */
export function parseOsRelease(text: string): Distro {
  const kv: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) kv[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
  }
  const id = (kv.ID ?? 'unknown').toLowerCase();
  const like = `${id} ${(kv.ID_LIKE ?? '').toLowerCase()}`.split(/\s+/);
  const name = kv.PRETTY_NAME ?? kv.NAME ?? id;
  let family: Distro['family'] = 'unknown';
  if (id === 'ubuntu' || like.includes('ubuntu')) family = 'ubuntu';
  else if (like.includes('debian')) family = 'debian';
  else if (id === 'fedora') family = 'fedora';
  else if (like.some((x) => ['rhel', 'centos', 'fedora'].includes(x)) || ['rhel', 'centos', 'rocky', 'almalinux', 'ol', 'amzn'].includes(id)) family = 'rhel';
  else if (like.some((x) => x.includes('suse'))) family = 'suse';
  else if (like.includes('arch')) family = 'arch';
  else if (id === 'alpine') family = 'alpine';
  return { id, name, family };
}

/** The exact install command for these packages on this distribution. */
export function installCommand(distro: Distro, pkgs: Pkg[], kernel?: string): string {
  if (distro.family === 'unknown') return `install ${pkgs.join(', ')} with your distribution's package manager`;
  const p = PACKAGES[distro.family];
  const names = [...new Set(pkgs.flatMap((k) => p.names[k].replace('$KREL', kernel ?? '$(uname -r)').split(' ')))];
  return [...p.cmd, ...names].join(' ');
}

export interface PreflightOptions {
  transport: Transport;
  /** Whether a password prompt is available (then "sudo needs a password" is not fatal). */
  askPass?: AskPass;
  /** Local bpf/ directory whose build/ship/ holds the shipped architectures (default: this package's). */
  bpfDir?: string;
  timeoutMs?: number;
}

type Ran = { ok: boolean; out: string; err: string };
const firstLine = (s: string) => (s.split('\n')[0] ?? '').trim();

/** Free space the work directory needs: the shipped files twice (a copy is renamed into place), plus room. */
export const MIN_FREE_KB = 16 * 1024;

/** Parses `df -Pk` output: available KiB and the mount point of the last line. */
export function parseDfPk(text: string): { availKb: number; mount: string } | undefined {
  const line = text.trim().split('\n').filter(Boolean).pop() ?? '';
  const f = line.trim().split(/\s+/);
  if (f.length < 6 || !/^\d+$/.test(f[3]!)) return undefined;
  return { availKb: Number(f[3]), mount: f.slice(5).join(' ') };
}

function shippedSizeKb(dir: string): number {
  try {
    return Math.ceil(shippedFiles(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0) / 1024);
  } catch {
    return 0;
  }
}

export async function runPreflight(opts: PreflightOptions): Promise<PreflightResult> {
  const t = opts.transport;
  const to = opts.timeoutMs ?? 20_000;
  const home = await t.home().catch(() => undefined);
  // One round trip over SSH (runBatch): these are all quick, and a start-up waits for them.
  // The work directory (~/.cache/nslat/...) may not exist yet: df the home it goes into.
  const commands = [
    ['uname', '-r', '-m'],
    ['cat', '/etc/os-release'],
    ['test', '-r', '/sys/kernel/btf/vmlinux'],
    ['cat', '/proc/mounts'],
    ['id', '-u'],
    ['sudo', '-n', 'true'],
    ...(home ? [['df', '-Pk', '--', home]] : []),
  ];
  const ran: Ran[] = (await runBatch(t, commands, { timeoutMs: to, env: { LC_ALL: 'C' } }).catch((e: Error) => commands.map(() => ({ exitCode: 127, stdout: '', stderr: e.message }))))
    .map((r) => ({ ok: r.exitCode === 0, out: r.stdout.trim(), err: r.stderr.trim() }));
  const [uname, osr, btf, mounts, uid, sudo] = ran as [Ran, Ran, Ran, Ran, Ran, Ran];
  const df: Ran = ran[6] ?? { ok: false, out: '', err: 'the home directory is unknown' };
  const distro = osr.ok ? parseOsRelease(osr.out) : { id: 'unknown', name: 'unknown distribution', family: 'unknown' as const };
  const [kernel, machine] = uname.ok ? uname.out.split(/\s+/) : [];
  const rows: PreflightRow[] = [];

  rows.push({ check: 'kernel', ok: uname.ok, detail: uname.ok ? `${kernel} (${distro.name})` : `uname failed: ${uname.err}` });
  const shipRoot = join(opts.bpfDir ?? safeBpfDir(), 'build', 'ship');
  const shipped = shippedArchs(shipRoot);
  const arch = machine ? normalizeArch(machine) : undefined;
  const archOk = !!arch && shipped.includes(arch);
  rows.push({
    check: 'architecture', ok: archOk,
    detail: !machine ? 'unknown (uname -m failed)'
      : archOk ? `${machine}: nslat ships its helper and probes for it`
        : `${machine}: nslat ships its helper and probes for ${shipped.length ? shipped.join(' and ') : 'no architecture'} only`,
    fix: archOk || !machine ? undefined : shipped.length ? `trace an ${shipped.join(' or ')} machine` : 'build what nslat ships: make -C bpf ship',
  });
  rows.push({
    check: 'BTF', ok: btf.ok,
    detail: btf.ok ? '/sys/kernel/btf/vmlinux' : '/sys/kernel/btf/vmlinux is missing: CO-RE probes need a kernel built with CONFIG_DEBUG_INFO_BTF=y',
    fix: btf.ok ? undefined : 'boot a kernel with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4 have it)',
  });
  const tracefs = mounts.ok && /\stracefs\s/.test(mounts.out);
  const tracefsAt = mounts.ok ? (mounts.out.split('\n').find((l) => / tracefs /.test(l))?.split(' ')[1] ?? '') : '';
  rows.push({
    check: 'tracefs', ok: true, required: false,
    detail: tracefs ? `mounted at ${tracefsAt}` : 'not mounted: nslat mounts it at /sys/kernel/tracing as root when the helper starts (tracepoint attach needs it)',
    fix: tracefs ? undefined : 'sudo mount -t tracefs nodev /sys/kernel/tracing',
  });

  let privilege: PreflightResult['privilege'];
  if (t.privilegeVia) privilege = 'root';
  else if (uid.ok && uid.out === '0') privilege = 'root';
  else if (sudo.ok) privilege = 'sudo-n';
  else if (/password|terminal|askpass/i.test(sudo.err)) privilege = 'sudo-password';
  else privilege = 'none';
  const privOk = privilege === 'root' || privilege === 'sudo-n' || (privilege === 'sudo-password' && !!opts.askPass);
  rows.push({
    check: 'privilege',
    ok: privOk,
    detail: {
      root: t.privilegeVia ?? 'running as root',
      'sudo-n': 'sudo works without a password',
      'sudo-password': opts.askPass ? 'sudo needs a password: nslat will ask for it' : 'sudo needs a password and none can be asked for here',
      none: `not root and sudo is not usable${sudo.err ? ` (${firstLine(sudo.err)})` : ''}`,
    }[privilege],
    fix: privOk ? undefined : privilege === 'sudo-password'
      ? 'run from a terminal so nslat can ask for the sudo password, or allow the helper with NOPASSWD in sudoers'
      : 'run as root, or give this user sudo rights (the helper is the only part that runs as root)',
  });

  const space = df.ok ? parseDfPk(df.out) : undefined;
  const needKb = Math.max(MIN_FREE_KB, 2 * shippedSizeKb(join(shipRoot, arch ?? '')));
  const workDir = home ? `${home.replace(/\/+$/, '')}/.cache/nslat` : '~/.cache/nslat';
  rows.push(space
    ? {
        check: 'free space', ok: space.availKb >= needKb,
        detail: `${formatKb(space.availKb)} free on ${space.mount} for ${workDir} (needs ${formatKb(needKb)})`,
        fix: space.availKb >= needKb ? undefined : `free some space on ${space.mount}`,
      }
    : { check: 'free space', ok: true, required: false, detail: `unknown: df -Pk failed (${firstLine(df.err) || 'no output'})` });

  const ok = rows.every((r) => r.ok || r.required === false);
  return { rows, ok, distro, kernel, machine, needsTracefsMount: mounts.ok && !tracefs, privilege };
}

function safeBpfDir(): string {
  try {
    return localBpfDir();
  } catch {
    return '/nonexistent';
  }
}

function formatKb(kb: number): string {
  return kb >= 1024 * 1024 ? `${(kb / 1024 / 1024).toFixed(1)} GiB` : kb >= 1024 ? `${Math.round(kb / 1024)} MiB` : `${kb} KiB`;
}

/**
 * Rows for compiling edited probes, checked where the compile happens: clang (this machine first,
 * else the target), and vmlinux.h from the target's BTF (made with bpftool on this machine, cached
 * by the kernel's build id). Only asked for when a probe was edited or --probes given.
 */
export async function compilerRows(c: Pick<EditCompiler, 'place' | 'vmlinux'>, host?: string): Promise<PreflightRow[]> {
  const place = await c.place();
  const rows: PreflightRow[] = [];
  if (place.where === 'none') {
    rows.push({ check: 'clang', ok: false, detail: place.message, fix: 'Debian/Ubuntu: sudo apt-get install -y clang llvm libbpf-dev' });
    return rows;
  }
  rows.push({ check: 'clang', ok: true, detail: `${place.version} (${place.where === 'local' ? 'on this machine' : `on ${host ?? 'the target'}`}: edited probes compile there)` });
  const vm = await c.vmlinux();
  rows.push('error' in vm
    ? { check: 'vmlinux.h', ok: false, detail: vm.error, fix: 'Debian: sudo apt-get install -y bpftool (Ubuntu: linux-tools-common)' }
    : { check: 'vmlinux.h', ok: true, detail: `for kernel ${vm.identity.release} (build id ${vm.identity.buildId.slice(0, 12)}), from its BTF` });
  return rows;
}

/** Rows for what the helper's hello says: which attach types work here (only those: what each
 *  boundary then got is `feedRows`), netfilter hooks, and the kernel build (arch, PREEMPT_RT,
 *  threaded IRQs). */
export function attachRows(hello: HelloMessage): PreflightRow[] {
  const entries = Object.entries(hello.attach_types);
  const works = entries.filter(([, v]) => v).map(([k]) => k);
  const not = entries.filter(([, v]) => !v).map(([k]) => k);
  const tpOk = works.some((k) => ['tracepoint', 'raw_tp', 'tp_btf'].includes(k));
  const rows: PreflightRow[] = [
    {
      check: 'attach types', ok: tpOk,
      detail: `${works.join(', ') || 'none'} work${not.length ? `; ${not.join(', ')} do not` : ''}`,
      fix: tpOk ? undefined : 'no tracepoint attach works: check that the kernel has CONFIG_BPF_EVENTS and that the helper runs as root',
    },
  ];
  const nfWorks = hello.attach_types.netfilter === true;
  if (hello.netfilter !== undefined || nfWorks) {
    rows.push({
      check: 'netfilter', ok: hello.netfilter === true, required: false,
      detail: hello.netfilter
        ? 'BPF netfilter hooks on: they feed ip_rcv and ip_local_deliver where fentry and kprobes cannot (one network namespace per hook)'
        : nfWorks
          ? 'BPF netfilter hooks work here but are turned off (--no-netfilter)'
          : 'BPF netfilter hooks do not work on this kernel (they need Linux 6.4 or later)',
    });
  }
  const build: string[] = [];
  if (hello.arch) build.push(hello.arch);
  if (hello.preempt_rt !== undefined) build.push(hello.preempt_rt ? 'PREEMPT_RT' : 'not PREEMPT_RT');
  if (hello.irq_threads !== undefined) {
    build.push(hello.irq_threads
      ? `device IRQ handlers threaded by force (${hello.preempt_rt ? 'PREEMPT_RT' : 'threadirqs'}): IRQ thread wake-up latency is measured`
      : 'device IRQ handlers not threaded (no PREEMPT_RT, no threadirqs): no IRQ thread wake-up latency to measure');
  }
  if (build.length) rows.push({ check: 'kernel build', ok: true, detail: build.join('; ') });
  rows.push({ check: 'helper', ok: true, detail: `nslat-helper ${hello.helper_version}${hello.arch ? ` (${hello.arch})` : ''}, protocol ${hello.protocol}, ${hello.ncpus} CPUs, kernel ${hello.kernel}` });
  return rows;
}

/** The outcome of loading one stage in `nslat check`: its `loaded` message or why it failed. */
export type StageLoad = { slot: string; loaded: LoadedMessage } | { slot: string; error: string };

/**
 * One row per boundary and named group of the loaded stages: which mechanism feeds it and where
 * ("netfilter (ipv4/pre_routing, ipv6/pre_routing)"), or why nothing does; one per program the
 * verifier refused (its group fell back); one per stage that did not load. Informative: a boundary
 * nothing feeds is measured by nobody, but tracing works.
 */
export function feedRows(loads: StageLoad[]): PreflightRow[] {
  const rows: PreflightRow[] = [];
  const any = loads.some((l) => 'loaded' in l);
  for (const l of loads) {
    if (!('loaded' in l)) {
      rows.push({ check: `${l.slot} probes`, ok: false, required: !any, detail: `did not load: ${l.error}` });
      continue;
    }
    const m = l.loaded;
    for (const b of m.boundaries) {
      const fed = describeFeeds(b);
      rows.push({ check: `${l.slot} ${b.name}`, ok: b.active, required: false, detail: fed ? `fed by ${fed}` : `nothing feeds it: ${explainReason(b.reason)}` });
    }
    for (const g of m.groups ?? []) {
      const fed = describeFeeds(g);
      rows.push({ check: `${l.slot} ${g.name} (group)`, ok: g.active, required: false, detail: fed ? `fed by ${fed}` : `nothing feeds it: ${explainReason(g.reason)}` });
    }
    for (const r of refusalsOf(m)) {
      rows.push({ check: `${l.slot} ${r.program}`, ok: false, required: false, detail: `${r.reason ?? 'refused by the verifier'}; ${r.outcome}` });
    }
  }
  return rows;
}

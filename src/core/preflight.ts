/**
 * Can nslat trace this target? Checks the kernel, BTF, tracefs, the build tools and libraries, and
 * privilege, and says for each missing piece the exact command that installs it on the target's
 * distribution. Which attach types work is only known once the helper runs (its hello), and which
 * mechanism feeds each boundary once the probes are loaded: `attachRows` and `feedRows` turn those
 * into rows of the same table.
 */
import { describeFeeds, explainReason, refusalsOf } from './feeds.ts';
import type { HelloMessage, LoadedMessage } from './protocol.ts';
import type { AskPass, Transport } from './transport/types.ts';

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
  /** tracefs is not mounted: the helper (root) mounts it at start. */
  needsTracefsMount: boolean;
  privilege: 'root' | 'sudo-n' | 'sudo-password' | 'none';
}

export interface Distro {
  id: string;
  name: string;
  family: 'debian' | 'ubuntu' | 'fedora' | 'rhel' | 'suse' | 'arch' | 'alpine' | 'unknown';
}

type Pkg = 'clang' | 'llvm' | 'bpftool' | 'libbpf' | 'libelf' | 'zlib' | 'jsonc' | 'make' | 'pkgconfig' | 'cc';

const PACKAGES: Record<Exclude<Distro['family'], 'unknown'>, { cmd: string[]; names: Record<Pkg, string> }> = {
  debian: { cmd: ['sudo', 'apt-get', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-dev', libelf: 'libelf-dev', zlib: 'zlib1g-dev', jsonc: 'libjson-c-dev', make: 'make', pkgconfig: 'pkg-config', cc: 'gcc' } },
  ubuntu: { cmd: ['sudo', 'apt-get', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'linux-tools-common linux-tools-$KREL', libbpf: 'libbpf-dev', libelf: 'libelf-dev', zlib: 'zlib1g-dev', jsonc: 'libjson-c-dev', make: 'make', pkgconfig: 'pkg-config', cc: 'gcc' } },
  fedora: { cmd: ['sudo', 'dnf', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-devel', libelf: 'elfutils-libelf-devel', zlib: 'zlib-devel', jsonc: 'json-c-devel', make: 'make', pkgconfig: 'pkgconf-pkg-config', cc: 'gcc' } },
  rhel: { cmd: ['sudo', 'dnf', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-devel', libelf: 'elfutils-libelf-devel', zlib: 'zlib-devel', jsonc: 'json-c-devel', make: 'make', pkgconfig: 'pkgconf-pkg-config', cc: 'gcc' } },
  suse: { cmd: ['sudo', 'zypper', 'install', '-y'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-devel', libelf: 'libelf-devel', zlib: 'zlib-devel', jsonc: 'libjson-c-devel', make: 'make', pkgconfig: 'pkg-config', cc: 'gcc' } },
  arch: { cmd: ['sudo', 'pacman', '-S', '--needed'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpf', libbpf: 'libbpf', libelf: 'libelf', zlib: 'zlib', jsonc: 'json-c', make: 'make', pkgconfig: 'pkgconf', cc: 'gcc' } },
  alpine: { cmd: ['sudo', 'apk', 'add'], names: { clang: 'clang', llvm: 'llvm', bpftool: 'bpftool', libbpf: 'libbpf-dev', libelf: 'elfutils-dev', zlib: 'zlib-dev', jsonc: 'json-c-dev', make: 'make', pkgconfig: 'pkgconf', cc: 'gcc musl-dev' } },
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
  timeoutMs?: number;
}

async function tryRun(t: Transport, argv: string[], timeoutMs: number): Promise<{ ok: boolean; out: string; err: string }> {
  try {
    const r = await t.run(argv, { timeoutMs, env: { LC_ALL: 'C' } });
    return { ok: r.exitCode === 0, out: r.stdout.trim(), err: r.stderr.trim() };
  } catch (e) {
    return { ok: false, out: '', err: (e as Error).message };
  }
}

const firstLine = (s: string) => (s.split('\n')[0] ?? '').trim();

export async function runPreflight(opts: PreflightOptions): Promise<PreflightResult> {
  const t = opts.transport;
  const to = opts.timeoutMs ?? 20_000;
  const [uname, osr, btf, mounts, clang, llc, bpftoolA, bpftoolB, libbpf, jsonc, libelf, make, pkgconf, cc, uid, sudo] = await Promise.all([
    tryRun(t, ['uname', '-r'], to),
    tryRun(t, ['cat', '/etc/os-release'], to),
    tryRun(t, ['test', '-r', '/sys/kernel/btf/vmlinux'], to),
    tryRun(t, ['cat', '/proc/mounts'], to),
    tryRun(t, ['clang', '--version'], to),
    tryRun(t, ['llvm-strip', '--version'], to),
    tryRun(t, ['bpftool', 'version'], to),
    tryRun(t, ['/usr/sbin/bpftool', 'version'], to),
    tryRun(t, ['pkg-config', '--modversion', 'libbpf'], to),
    tryRun(t, ['pkg-config', '--modversion', 'json-c'], to),
    tryRun(t, ['pkg-config', '--modversion', 'libelf'], to),
    tryRun(t, ['make', '--version'], to),
    tryRun(t, ['pkg-config', '--version'], to),
    tryRun(t, ['cc', '--version'], to),
    tryRun(t, ['id', '-u'], to),
    tryRun(t, ['sudo', '-n', 'true'], to),
  ]);
  const distro = osr.ok ? parseOsRelease(osr.out) : { id: 'unknown', name: 'unknown distribution', family: 'unknown' as const };
  const kernel = uname.ok ? uname.out : undefined;
  const fix = (...p: Pkg[]) => installCommand(distro, p, kernel);
  const rows: PreflightRow[] = [];

  rows.push({ check: 'kernel', ok: uname.ok, detail: uname.ok ? `${kernel} (${distro.name})` : `uname failed: ${uname.err}` });
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
  rows.push({ check: 'clang', ok: clang.ok, detail: clang.ok ? firstLine(clang.out) : 'clang not found (compiles the probes)', fix: clang.ok ? undefined : fix('clang', 'llvm') });
  rows.push({ check: 'llvm', ok: llc.ok, required: false, detail: llc.ok ? firstLine(llc.out.replace(/^.*\n/, '')) || 'llvm-strip present' : 'llvm-strip not found (optional)', fix: llc.ok ? undefined : fix('llvm') });
  const bpftool = bpftoolA.ok ? bpftoolA : bpftoolB;
  rows.push({ check: 'bpftool', ok: bpftool.ok, detail: bpftool.ok ? firstLine(bpftool.out) : 'bpftool not found (generates vmlinux.h and skeletons)', fix: bpftool.ok ? undefined : fix('bpftool') });
  rows.push({ check: 'libbpf', ok: libbpf.ok, detail: libbpf.ok ? `libbpf ${libbpf.out}` : 'libbpf development files not found (pkg-config libbpf)', fix: libbpf.ok ? undefined : fix('libbpf', 'libelf', 'zlib', 'pkgconfig') });
  rows.push({ check: 'libelf', ok: libelf.ok, detail: libelf.ok ? `libelf ${libelf.out}` : 'libelf development files not found (pkg-config libelf)', fix: libelf.ok ? undefined : fix('libelf', 'zlib') });
  rows.push({ check: 'json-c', ok: jsonc.ok, detail: jsonc.ok ? `json-c ${jsonc.out}` : 'json-c development files not found (pkg-config json-c)', fix: jsonc.ok ? undefined : fix('jsonc') });
  rows.push({ check: 'make', ok: make.ok, detail: make.ok ? firstLine(make.out) : 'make not found', fix: make.ok ? undefined : fix('make') });
  rows.push({ check: 'pkg-config', ok: pkgconf.ok, detail: pkgconf.ok ? `pkg-config ${pkgconf.out}` : 'pkg-config not found', fix: pkgconf.ok ? undefined : fix('pkgconfig') });
  rows.push({ check: 'C compiler', ok: cc.ok, detail: cc.ok ? firstLine(cc.out) : 'cc not found (builds the helper)', fix: cc.ok ? undefined : fix('cc') });

  let privilege: PreflightResult['privilege'];
  if (uid.ok && uid.out === '0') privilege = 'root';
  else if (sudo.ok) privilege = 'sudo-n';
  else if (/password|terminal|askpass/i.test(sudo.err)) privilege = 'sudo-password';
  else privilege = 'none';
  const privOk = privilege === 'root' || privilege === 'sudo-n' || (privilege === 'sudo-password' && !!opts.askPass);
  rows.push({
    check: 'privilege',
    ok: privOk,
    detail: {
      root: 'running as root',
      'sudo-n': 'sudo works without a password',
      'sudo-password': opts.askPass ? 'sudo needs a password: nslat will ask for it' : 'sudo needs a password and none can be asked for here',
      none: `not root and sudo is not usable${sudo.err ? ` (${firstLine(sudo.err)})` : ''}`,
    }[privilege],
    fix: privOk ? undefined : privilege === 'sudo-password'
      ? 'run from a terminal so nslat can ask for the sudo password, or allow the helper with NOPASSWD in sudoers'
      : 'run as root, or give this user sudo rights (the helper is the only part that runs as root)',
  });

  const ok = rows.every((r) => r.ok || r.required === false);
  return { rows, ok, distro, kernel, needsTracefsMount: mounts.ok && !tracefs, privilege };
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

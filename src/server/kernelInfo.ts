/**
 * What the language server knows about the target kernel: its tracepoints (tracefs), its BTF
 * (functions and btf_trace_* prototypes), which attach types it accepts, and a vmlinux.h for
 * compiling probes against it.
 *
 * Everything is read through a TargetAccess (run argv on the target, read a file on the target), so
 * the same code serves this machine and a remote one (through the session's transport, see
 * protocol.ts `nslat/targetRun`). Parsed BTF and vmlinux.h are cached on disk by kernel build id.
 */
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildIdFromNotes, kernelIdentity, localCacheDir, targetBtfFile, targetVmlinux, writeAtomic, type KernelIdentity, type MachineAccess } from '../core/build.ts';
import { parseKernelBtf, type KernelBtf } from './btf.ts';

/** Bump when the cached KernelBtf layout changes. */
const CACHE_FORMAT = 1;

/** How the server reaches the target (the same shape the session's compiles use). */
export type TargetAccess = MachineAccess;

/** This machine. */
export function localAccess(): TargetAccess {
  return {
    name: 'local',
    local: true,
    async run(argv, opts) {
      const [cmd, ...args] = argv;
      if (!cmd) throw new Error('empty argv');
      const r = await execa(cmd, args, {
        input: opts?.input,
        timeout: opts?.timeoutMs ?? 60_000,
        reject: false,
        stripFinalNewline: false,
        maxBuffer: 256 * 1024 * 1024,
        env: { LC_ALL: 'C' },
      });
      const code = typeof r.exitCode === 'number' ? r.exitCode : 127;
      const stderr = String(r.stderr ?? '') || (r.failed && r.exitCode === undefined ? String(r.message ?? '') : '');
      return { exitCode: code, stdout: String(r.stdout ?? ''), stderr };
    },
    readFile: (file) => readFile(file),
  };
}

/** A target reached only through `run` (the session's transport): binary files travel as base64. */
export function runnerAccess(name: string, run: TargetAccess['run']): TargetAccess {
  return {
    name,
    local: false,
    run,
    async readFile(file) {
      const r = await run(['base64', '-w0', file], { timeoutMs: 120_000 });
      if (r.exitCode !== 0) throw new Error(`cannot read ${file} on ${name}: ${r.stderr.trim() || `base64 exited with ${r.exitCode}`}`);
      return Buffer.from(r.stdout.trim(), 'base64');
    },
  };
}

export type AttachKind = 'tracepoint' | 'raw_tp' | 'tp_btf' | 'fentry' | 'fexit' | 'kprobe' | 'kretprobe';
export const ATTACH_KINDS: AttachKind[] = ['tracepoint', 'raw_tp', 'tp_btf', 'fentry', 'fexit', 'kprobe', 'kretprobe'];

export interface Capability {
  /** true: this kernel attaches it; false: it does not; undefined: not known. */
  ok: boolean | undefined;
  /** Why not (or how it was decided). */
  reason?: string;
}
export type Capabilities = Record<AttachKind, Capability>;

export type { KernelIdentity };

/** The target-kernel knowledge the server uses. A remote target implements the same interface. */
export interface KernelInfo {
  readonly target: string;
  identity(): Promise<KernelIdentity>;
  /** Tracepoints as "category:name"; empty with `error` when tracefs cannot be read. */
  tracepoints(): Promise<{ events: Set<string>; error?: string }>;
  btf(): Promise<KernelBtf>;
  capabilities(): Promise<Capabilities>;
  /** A local path to a directory holding this kernel's vmlinux.h, or an error saying why not. */
  vmlinuxDir(): Promise<{ dir?: string; error?: string }>;
  /** The tracefs format description of one tracepoint (its ctx fields for tp/ programs). */
  tracepointFormat(category: string, name: string): Promise<string | undefined>;
  /** An authoritative answer (the helper's hello attach_types) replaces the local feature probe. */
  setAttachTypes(table: Record<string, boolean>, source: string, reasons?: Record<string, string>): void;
}

export interface KernelInfoOptions {
  cacheDir?: string;
  /** A table to trust instead of probing (initializationOptions.attachTypes). */
  attachTypes?: Record<string, boolean>;
  bpftool?: string;
}

/** The local cache sessions use too (kernels/<release>-<build id>/), so a kernel's BTF is fetched once. */
export function defaultCacheDir(): string {
  return process.env.NSLAT_LSP_CACHE_DIR || localCacheDir();
}

const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

export { buildIdFromNotes };

/** Reads the kernel config (/proc/config.gz, else /boot/config-<release>) as a map of CONFIG_ values. */
async function kernelConfig(access: TargetAccess, release: string): Promise<Map<string, string> | undefined> {
  let text: string | undefined;
  try {
    text = gunzipSync(await access.readFile('/proc/config.gz')).toString('utf8');
  } catch {
    try {
      text = (await access.readFile(`/boot/config-${release}`)).toString('utf8');
    } catch {
      return undefined;
    }
  }
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (m) map.set(m[1]!, m[2]!);
    const n = /^# (CONFIG_\w+) is not set/.exec(line);
    if (n) map.set(n[1]!, 'n');
  }
  return map;
}

export class TargetKernelInfo implements KernelInfo {
  readonly target: string;
  private idP?: Promise<KernelIdentity>;
  private tpP?: Promise<{ events: Set<string>; error?: string }>;
  private btfP?: Promise<KernelBtf>;
  private capP?: Promise<Capabilities>;
  private vmP?: Promise<{ dir?: string; error?: string }>;
  private override?: { table: Record<string, boolean>; source: string; reasons?: Record<string, string> };
  private readonly cacheDir: string;
  private readonly bpftool: string;
  private tracefsRoot?: string;

  constructor(
    private readonly access: TargetAccess,
    private readonly opts: KernelInfoOptions = {},
  ) {
    this.target = access.name;
    this.cacheDir = opts.cacheDir ?? defaultCacheDir();
    this.bpftool = opts.bpftool ?? 'bpftool';
    if (opts.attachTypes) this.override = { table: opts.attachTypes, source: 'the attach-type table passed to the language server' };
  }

  identity(): Promise<KernelIdentity> {
    this.idP ??= kernelIdentity(this.access);
    return this.idP;
  }

  private async kernelDir(): Promise<string> {
    return path.join(this.cacheDir, 'kernels', (await this.identity()).key);
  }

  tracepoints(): Promise<{ events: Set<string>; error?: string }> {
    this.tpP ??= (async () => {
      let lastErr = '';
      for (const root of TRACEFS) {
        const r = await this.access.run(['cat', `${root}/available_events`]);
        if (r.exitCode === 0 && r.stdout.trim()) {
          this.tracefsRoot = root;
          return { events: new Set(r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.includes(':'))) };
        }
        lastErr ||= r.stderr.trim();
      }
      const error = /permission denied/i.test(lastErr)
        ? `cannot read the tracepoint list on ${this.target}: tracefs is readable by root only there, so tp/ names are not offered (tp_btf/ and raw_tp/ names come from BTF and are)`
        : `cannot read the tracepoint list on ${this.target} (${lastErr || 'tracefs not mounted'}); mount tracefs: mount -t tracefs nodev /sys/kernel/tracing`;
      return { events: new Set<string>(), error };
    })();
    return this.tpP;
  }

  async tracepointFormat(category: string, name: string): Promise<string | undefined> {
    if (!/^\w+$/.test(category) || !/^\w+$/.test(name)) return undefined;
    await this.tracepoints();
    if (!this.tracefsRoot) return undefined;
    const r = await this.access.run(['cat', `${this.tracefsRoot}/events/${category}/${name}/format`]);
    return r.exitCode === 0 ? r.stdout : undefined;
  }

  btf(): Promise<KernelBtf> {
    this.btfP ??= (async () => {
      const dir = await this.kernelDir();
      const cached = path.join(dir, 'btf.json');
      try {
        const j = JSON.parse(await readFile(cached, 'utf8')) as { format: number; btf: KernelBtf };
        if (j.format === CACHE_FORMAT) return j.btf;
      } catch {
        /* not cached yet */
      }
      const blob = await readFile(await targetBtfFile(this.access, dir));
      const btf = parseKernelBtf(blob);
      await writeAtomic(cached, JSON.stringify({ format: CACHE_FORMAT, btf })).catch(() => undefined);
      return btf;
    })();
    this.btfP.catch(() => (this.btfP = undefined));
    return this.btfP;
  }

  setAttachTypes(table: Record<string, boolean>, source: string, reasons?: Record<string, string>): void {
    this.override = { table, source, reasons };
    this.capP = undefined;
  }

  capabilities(): Promise<Capabilities> {
    this.capP ??= this.computeCapabilities();
    return this.capP;
  }

  private async computeCapabilities(): Promise<Capabilities> {
    const caps = Object.fromEntries(ATTACH_KINDS.map((k) => [k, { ok: undefined } as Capability])) as Capabilities;
    if (this.override) {
      const { table, source, reasons } = this.override;
      const alias: Record<string, AttachKind> = { tp: 'tracepoint', raw_tracepoint: 'raw_tp' };
      for (const [k, v] of Object.entries(table)) {
        const kind = (alias[k] ?? k) as AttachKind;
        if (!(kind in caps)) continue;
        const why = reasons?.[k] ?? reasons?.[kind];
        caps[kind] = v ? { ok: true, reason: `reported by ${source}` } : { ok: false, reason: `${why ?? notAttachableReason(kind)} (reported by ${source})` };
      }
      // fexit follows fentry, kretprobe follows kprobe, when the table names only one of them.
      if (caps.fexit.ok === undefined) caps.fexit = caps.fentry;
      if (caps.kretprobe.ok === undefined) caps.kretprobe = caps.kprobe;
      return caps;
    }
    const { release } = await this.identity();
    const config = await kernelConfig(this.access, release);
    const cfg = (k: string) => config?.get(k);
    if (config) {
      const kp = cfg('CONFIG_KPROBES') === 'y';
      const reason = kp ? 'CONFIG_KPROBES=y' : 'kprobes are not enabled in this kernel (CONFIG_KPROBES is not set)';
      caps.kprobe = { ok: kp, reason };
      caps.kretprobe = { ok: kp, reason };
      const events = cfg('CONFIG_BPF_EVENTS') === 'y';
      caps.tracepoint = { ok: events, reason: events ? 'CONFIG_BPF_EVENTS=y' : 'BPF programs cannot attach to tracepoints (CONFIG_BPF_EVENTS is not set)' };
      caps.raw_tp = { ...caps.tracepoint };
      const btf = cfg('CONFIG_DEBUG_INFO_BTF') === 'y';
      caps.tp_btf = btf && events ? { ok: true, reason: 'CONFIG_DEBUG_INFO_BTF=y' } : { ok: false, reason: 'this kernel has no BTF (CONFIG_DEBUG_INFO_BTF is not set)' };
      const direct = cfg('CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS') === 'y' && btf;
      caps.fentry = direct ? { ok: undefined, reason: 'CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y' } : { ok: false, reason: 'fentry/fexit need BTF and ftrace direct calls (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS), which this kernel lacks' };
      caps.fexit = { ...caps.fentry };
    } else if ((await this.access.run(['test', '-e', '/sys/kernel/btf/vmlinux'])).exitCode === 0) {
      caps.tp_btf = { ok: true, reason: 'BTF present' };
    }
    // The kernel's own answer: can a BPF tracing program (fentry/fexit) or a raw tracepoint load?
    const f = await this.access.run([this.bpftool, '-j', 'feature', 'probe', 'kernel'], { timeoutMs: 20_000 }).catch(() => undefined);
    if (f && f.exitCode === 0) {
      try {
        const j = JSON.parse(f.stdout) as { program_types?: Record<string, boolean> };
        const pt = j.program_types ?? {};
        if (pt.have_tracing_prog_type === false && caps.fentry.ok !== false) {
          caps.fentry = { ok: false, reason: 'fentry/fexit programs are refused by this kernel (the BPF tracing program type does not load: bpftool feature probe)' };
          caps.fexit = { ...caps.fentry };
        } else if (pt.have_tracing_prog_type === true && caps.fentry.ok === undefined) {
          caps.fentry = { ok: true, reason: 'bpftool feature probe: tracing programs load' };
          caps.fexit = { ...caps.fentry };
        }
        if (pt.have_raw_tracepoint_prog_type === false) caps.raw_tp = { ok: false, reason: 'raw tracepoint programs are refused by this kernel' };
        if (pt.have_tracepoint_prog_type === false) caps.tracepoint = { ok: false, reason: 'tracepoint programs are refused by this kernel' };
        if (pt.have_kprobe_prog_type === false && caps.kprobe.ok !== false) {
          caps.kprobe = { ok: false, reason: 'kprobe programs are refused by this kernel' };
          caps.kretprobe = { ...caps.kprobe };
        }
      } catch {
        /* not JSON: keep what the config said */
      }
    }
    return caps;
  }

  vmlinuxDir(): Promise<{ dir?: string; error?: string }> {
    // The same header, made the same way, as a session's edited probes compile against.
    this.vmP ??= (async () => {
      const r = await targetVmlinux(this.access, { cacheDir: this.cacheDir, bpftool: this.bpftool, identity: await this.identity() });
      return 'error' in r ? { error: r.error } : { dir: r.dir };
    })();
    this.vmP.then((r) => {
      if (r.error) this.vmP = undefined;
    });
    return this.vmP;
  }
}

export function notAttachableReason(kind: AttachKind): string {
  switch (kind) {
    case 'kprobe':
    case 'kretprobe':
      return 'kprobes are not enabled in this kernel';
    case 'fentry':
    case 'fexit':
      return 'fentry/fexit programs are refused by this kernel';
    case 'tp_btf':
      return 'BTF tracepoints are not available in this kernel';
    default:
      return `${kind} programs cannot attach in this kernel`;
  }
}

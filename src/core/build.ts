/**
 * Compiles edited probes (a reload with a changed source, `--probes DIR`) where clang is: on this
 * machine when it has clang, else on the target; either way against the target's own BTF. The
 * kernel's BTF (/sys/kernel/btf/vmlinux, world-readable) is fetched over the transport, cached on
 * this machine by the kernel's build id, and turned into vmlinux.h with bpftool. clang's
 * `file:line:col: error: message` lines become Diagnostics on the caller's own files.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import type { Deployment } from './deploy.ts';
import type { Diagnostic } from './diagnostic.ts';
import { lintProbeSource } from './probe-lint.ts';
import { LocalTransport } from './transport/local.ts';
import type { RunOptions, RunResult, Transport } from './transport/types.ts';

const CLANG_LINE = /^(.+?):(\d+):(\d+): (fatal error|error|warning|note): (.*)$/;

/**
 * Parses clang output. `mapFile` maps a path as clang printed it (the target's) to the caller's
 * path; unmapped paths are kept as printed.
 */
export function parseClangOutput(text: string, mapFile: (file: string) => string | undefined = () => undefined): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const raw of String(text ?? '').replace(/\r/g, '').split('\n')) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, ''); // strip colours if any
    const m = CLANG_LINE.exec(line);
    if (!m) continue;
    const sev = m[4] === 'fatal error' || m[4] === 'error' ? 'error' : (m[4] as 'warning' | 'note');
    out.push({
      file: mapFile(m[1]!) ?? m[1]!,
      line: Number(m[2]),
      column: Number(m[3]),
      severity: sev,
      message: m[5]!.slice(0, 2000),
      source: 'clang',
    });
  }
  return out;
}

const ARCH: Record<string, string> = { x86_64: 'x86', amd64: 'x86', aarch64: 'arm64', arm64: 'arm64', s390x: 's390', ppc64le: 'powerpc', riscv64: 'riscv', armv7l: 'arm', loongarch64: 'loongarch' };

/** `-D__TARGET_ARCH_*` for a `uname -m` (the register layout kprobe arguments are read with). */
export function targetArchDefine(machine: string): string {
  return `-D__TARGET_ARCH_${ARCH[machine.trim()] ?? 'x86'}`;
}

/** The flags bpf/Makefile compiles probes with (before the -I directories). */
export function bpfCflags(machine: string): string[] {
  return ['-g', '-O2', '-target', 'bpf', '-mcpu=v3', targetArchDefine(machine), '-Wall', '-Wno-unused-function'];
}

/** How a probe compile reaches a machine: run argv there, read a (binary) file there. */
export interface MachineAccess {
  /** "local" or the host name, for messages. */
  readonly name: string;
  readonly local: boolean;
  run(argv: string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  readFile(file: string): Promise<Buffer>;
}

/** A transport as a MachineAccess (commands that cannot start resolve with exit 127). */
export function transportAccess(t: Transport): MachineAccess {
  return {
    name: t.host,
    local: t.kind === 'local',
    run: (argv, o) => t.run(argv, { input: o?.input, timeoutMs: o?.timeoutMs ?? 60_000, env: { LC_ALL: 'C' } }).catch((e: Error) => ({ exitCode: 127, stdout: '', stderr: e.message })),
    readFile: (f) => t.getFile(f),
  };
}

let localT: LocalTransport | undefined;
/** Runs argv on this machine; a missing program resolves with exit 127. */
export function runLocal(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  localT ??= new LocalTransport();
  return localT.run(argv, { timeoutMs: 60_000, ...opts, env: { LC_ALL: 'C', ...opts.env } }).catch((e: Error) => ({ exitCode: 127, stdout: '', stderr: e.message }));
}

/** Where bpftool lives when it is not on PATH (Debian installs it in /usr/sbin). */
const BPFTOOL_PLACES = ['bpftool', '/usr/sbin/bpftool', '/sbin/bpftool', '/usr/local/sbin/bpftool'];

/** The first of `candidates` that runs with `probeArgs` on `run`'s machine. */
export async function findTool(run: (argv: string[]) => Promise<RunResult>, candidates: string[], probeArgs: string[]): Promise<{ path: string; version: string } | undefined> {
  for (const c of candidates) {
    const r = await run([c, ...probeArgs]);
    if (r.exitCode === 0) return { path: c, version: (r.stdout.split('\n')[0] ?? '').trim() };
  }
  return undefined;
}

export const findLocalBpftool = (first?: string) => findTool((a) => runLocal(a, { timeoutMs: 20_000 }), [...new Set([first ?? 'bpftool', ...BPFTOOL_PLACES])], ['version']);

// ------------------------------------------------------------ the target's kernel and its vmlinux.h

/** Parses ELF notes (as in /sys/kernel/notes) for the NT_GNU_BUILD_ID descriptor. */
export function buildIdFromNotes(buf: Buffer): string | undefined {
  let p = 0;
  const align = (n: number) => (n + 3) & ~3;
  while (p + 12 <= buf.length) {
    const namesz = buf.readUInt32LE(p);
    const descsz = buf.readUInt32LE(p + 4);
    const type = buf.readUInt32LE(p + 8);
    const name = buf.toString('latin1', p + 12, p + 12 + Math.max(0, namesz - 1));
    const desc = p + 12 + align(namesz);
    if (desc + descsz > buf.length) return undefined;
    if (type === 3 && name === 'GNU' && descsz > 0) return buf.subarray(desc, desc + descsz).toString('hex');
    p = desc + align(descsz);
  }
  return undefined;
}

export interface KernelIdentity {
  release: string;
  /** uname -m of the target (x86_64, aarch64, ...), for -D__TARGET_ARCH_*. */
  machine: string;
  /** GNU build id of the kernel (from /sys/kernel/notes), else a hash of its BTF. */
  buildId: string;
  /** Cache key: release + build id, safe as a directory name. */
  key: string;
}

export async function kernelIdentity(m: MachineAccess): Promise<KernelIdentity> {
  const u = await m.run(['uname', '-r', '-m']);
  const [release = 'unknown', machine = 'x86_64'] = u.exitCode === 0 ? u.stdout.trim().split(/\s+/) : [];
  let buildId: string | undefined;
  try {
    buildId = buildIdFromNotes(await m.readFile('/sys/kernel/notes'));
  } catch {
    /* no notes: hash the BTF instead */
  }
  if (!buildId) {
    const r = await m.run(['sha256sum', '/sys/kernel/btf/vmlinux']);
    buildId = r.exitCode === 0 ? `btf-${r.stdout.slice(0, 40)}` : `release-${createHash('sha256').update(release).digest('hex').slice(0, 16)}`;
  }
  const key = `${release}-${buildId.slice(0, 24)}`.replace(/[^A-Za-z0-9._-]/g, '_');
  return { release, machine, buildId, key };
}

/** ${XDG_CACHE_HOME:-~/.cache}/nslat on this machine: kernels/<key>/{vmlinux.btf,include/vmlinux.h}. */
export function localCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'nslat');
}

export async function writeAtomic(file: string, data: string | Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

const exists = (f: string) => stat(f).then(() => true, () => false);

/** The target's BTF as a local file (itself for this machine; else fetched once, cached by build id). */
export async function targetBtfFile(m: MachineAccess, kernelDir: string): Promise<string> {
  if (m.local) return '/sys/kernel/btf/vmlinux';
  const file = path.join(kernelDir, 'vmlinux.btf');
  if (!(await exists(file))) await writeAtomic(file, await m.readFile('/sys/kernel/btf/vmlinux'));
  return file;
}

export interface VmlinuxOptions {
  /** Cache root (default localCacheDir()); the header goes to <root>/kernels/<key>/include/. */
  cacheDir?: string;
  bpftool?: string;
  /** Already known identity of the target kernel. */
  identity?: KernelIdentity;
}

/**
 * A local directory holding vmlinux.h for the target's kernel, made with this machine's bpftool from
 * the target's BTF (or, when this machine has none, with the target's bpftool), cached by build id.
 */
export async function targetVmlinux(m: MachineAccess, o: VmlinuxOptions = {}): Promise<{ dir: string; identity: KernelIdentity } | { error: string }> {
  const identity = o.identity ?? (await kernelIdentity(m));
  const kdir = path.join(o.cacheDir ?? localCacheDir(), 'kernels', identity.key);
  const dir = path.join(kdir, 'include');
  const header = path.join(dir, 'vmlinux.h');
  if (await exists(header)) return { dir, identity };
  let text: string | undefined;
  let why = '';
  const bpftool = await findLocalBpftool(o.bpftool);
  if (bpftool) {
    let btf: string;
    try {
      btf = await targetBtfFile(m, kdir);
    } catch (e) {
      return { error: `cannot read /sys/kernel/btf/vmlinux on ${m.name}: ${(e as Error).message} (the kernel needs CONFIG_DEBUG_INFO_BTF=y)` };
    }
    const r = await runLocal([bpftool.path, 'btf', 'dump', 'file', btf, 'format', 'c'], { timeoutMs: 120_000 });
    if (r.exitCode === 0) text = r.stdout;
    else why = r.stderr.trim();
  } else {
    why = 'bpftool not found on this machine';
  }
  if (!text && !m.local) {
    const there = await findTool((a) => m.run(a, { timeoutMs: 20_000 }), BPFTOOL_PLACES, ['version']);
    if (there) {
      const r = await m.run([there.path, 'btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { timeoutMs: 120_000 });
      if (r.exitCode === 0) text = r.stdout;
      else why = r.stderr.trim();
    }
  }
  if (!text) return { error: `cannot make vmlinux.h for ${m.name}: ${why || 'bpftool failed'} (install bpftool on this machine; Debian/Ubuntu: apt-get install bpftool)` };
  await writeAtomic(header, text);
  return { dir, identity };
}

// ------------------------------------------------------------ where edited probes compile

export type CompilePlace =
  | { where: 'local'; clang: string; version: string }
  | { where: 'target'; clang: string; version: string }
  | { where: 'none'; message: string };

export const NO_CLANG_FIX = 'install clang (Debian/Ubuntu: apt-get install clang)';

/** This machine when it has clang, else the target when it has, else why neither. */
export async function chooseCompiler(t: Transport, clang = 'clang'): Promise<CompilePlace> {
  const here = await findTool((a) => runLocal(a, { timeoutMs: 20_000 }), [clang], ['--version']);
  if (here) return { where: 'local', clang: here.path, version: here.version };
  if (t.kind !== 'local') {
    const there = await findTool((a) => t.run(a, { timeoutMs: 20_000 }).catch(() => ({ exitCode: 127, stdout: '', stderr: '' })), [clang], ['--version']);
    if (there) return { where: 'target', clang: there.path, version: there.version };
  }
  const lack = t.kind === 'local' ? 'this machine does not have it' : `neither this machine nor ${t.host} has it`;
  return { where: 'none', message: `edited probes need clang, and ${lack}: ${NO_CLANG_FIX} on this machine${t.kind === 'local' ? '' : ` or on ${t.host}`}` };
}

export type CompileResult =
  | { ok: true; object: string; warnings: Diagnostic[]; output: string }
  | { ok: false; diagnostics: Diagnostic[]; output: string; error: string; noCompiler?: true };

/** Turns clang's exit and output into a CompileResult for `localSrc` (the caller's file). */
function result(r: RunResult, object: string, localSrc: string, mapFile?: (f: string) => string | undefined): CompileResult {
  const output = `${r.stderr}${r.stdout ? `\n${r.stdout}` : ''}`.trim();
  const diags = parseClangOutput(output, mapFile);
  if (r.exitCode === 0) return { ok: true, object, warnings: diags.filter((d) => d.severity !== 'error'), output };
  if (!diags.some((d) => d.severity === 'error')) {
    // No clang diagnostic: a tool failure. Put the tail of its output on line 1.
    const tail = output.split('\n').slice(-6).join('\n') || `clang exited with status ${r.exitCode}`;
    diags.push({ file: localSrc, line: 0, column: 0, severity: 'error', message: `build failed: ${tail}`, source: 'clang' });
  }
  const first = diags.find((d) => d.severity === 'error')!;
  return {
    ok: false,
    diagnostics: diags,
    output,
    error: `${localSrc} does not compile: ${first.file === localSrc ? '' : `${first.file}:`}${first.line}:${first.column}: ${first.message}`,
  };
}

export interface CompileRequest {
  /** The machine clang runs on. */
  run: (argv: string[], opts: RunOptions) => Promise<RunResult>;
  clang?: string;
  /** uname -m of the target. */
  machine: string;
  /** Source and object paths on the compiling machine. */
  src: string;
  obj: string;
  /** -I directories on the compiling machine, in order (include/, probes/, vmlinux.h's directory). */
  includeDirs: string[];
  /** Maps paths in clang's output (the compiling machine's) back to the caller's. */
  mapFile?: (file: string) => string | undefined;
  /** The caller's path of the source, for messages (default: src). */
  localSrc?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** One probe source to a BPF object, with the flags and include order of bpf/Makefile's `probe`. */
export async function compileProbe(req: CompileRequest): Promise<CompileResult> {
  const argv = [
    req.clang ?? 'clang', ...bpfCflags(req.machine), '-fno-color-diagnostics',
    ...req.includeDirs.flatMap((d) => [`-I${d}`]), `-I${path.posix.dirname(req.src)}`,
    '-c', req.src, '-o', req.obj,
  ];
  let r: RunResult;
  try {
    r = await req.run(argv, { timeoutMs: req.timeoutMs ?? 120_000, signal: req.signal, env: { LC_ALL: 'C' } });
  } catch (e) {
    r = { exitCode: 127, stdout: '', stderr: (e as Error).message };
  }
  return result(r, req.obj, req.localSrc ?? req.mapFile?.(req.src) ?? req.src, req.mapFile);
}

/** A compiled probe the probe lint refuses (mistakes the verifier lets through: a boundary never
 *  passed, a stage that would run backwards) as a failed compile: nothing is loaded and the old
 *  probes keep running. */
function linted(r: CompileResult, text: string, localSrc: string): CompileResult {
  if (!r.ok) return r;
  const lint = lintProbeSource(text, localSrc);
  const first = lint.find((d) => d.severity === 'error');
  if (!first) return r;
  return { ok: false, diagnostics: [...lint, ...r.warnings], output: r.output, error: `${localSrc} is refused before load: ${first.line}:${first.column}: ${first.message}` };
}

/** A private local temporary directory for one compile (the caller removes it). */
export async function localTempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nslat-cc-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}


// ------------------------------------------------------------ a session's edited probes

const fail = (error: string): Extract<CompileResult, { ok: false }> => ({ ok: false, diagnostics: [], output: '', error });

/**
 * Compiles a session's edited probes: chooses the machine once, makes the target's vmlinux.h once,
 * and puts each object into the target's work directory (`<dir>/edit/<tag>/`) for the helper.
 */
export class EditCompiler {
  private placeP?: Promise<CompilePlace>;
  private vmP?: Promise<{ dir: string; identity: KernelIdentity } | { error: string }>;
  private remoteIncP?: Promise<string[]>;

  constructor(private readonly t: Transport, private readonly dep: Deployment, private readonly o: { cacheDir?: string; clang?: string } = {}) {}

  /** Where edited probes compile on this session (decided once). */
  place(): Promise<CompilePlace> {
    this.placeP ??= chooseCompiler(this.t, this.o.clang);
    // No clang anywhere: ask again next time (it may have been installed meanwhile).
    void this.placeP.then((p) => { if (p.where === 'none') this.placeP = undefined; });
    return this.placeP;
  }

  /** The target's vmlinux.h, in a local directory. */
  vmlinux(): Promise<{ dir: string; identity: KernelIdentity } | { error: string }> {
    this.vmP ??= targetVmlinux(transportAccess(this.t), { cacheDir: this.o.cacheDir });
    void this.vmP.then((r) => { if ('error' in r) this.vmP = undefined; });
    return this.vmP;
  }

  /**
   * nslat's headers and the target's vmlinux.h in `<dir>/src/` on the target, for a compile there
   * (by a reload, or by the language server): the -I directories, in bpf/Makefile's order.
   */
  targetIncludeDirs(): Promise<string[]> {
    this.remoteIncP ??= (async () => {
      const vm = await this.vmlinux();
      if ('error' in vm) throw new Error(vm.error);
      const tmp = await localTempDir();
      try {
        const bpf = this.dep.localBpfDir;
        for (const d of ['include', 'probes']) {
          await mkdir(path.join(tmp.dir, d));
          for (const f of await listHeaders(path.join(bpf, d))) await writeFile(path.join(tmp.dir, d, f), await readFile(path.join(bpf, d, f)));
        }
        await mkdir(path.join(tmp.dir, 'build'));
        await writeFile(path.join(tmp.dir, 'build', 'vmlinux.h'), await readFile(path.join(vm.dir, 'vmlinux.h')));
        await this.t.putDir(tmp.dir, `${this.dep.dir}/src`);
      } finally {
        await tmp.remove();
      }
      return ['include', 'probes', 'build'].map((d) => `${this.dep.dir}/src/${d}`);
    })();
    this.remoteIncP.catch(() => (this.remoteIncP = undefined));
    return this.remoteIncP;
  }

  /** Compiles `localPath` and puts its object into the target's work directory under `tag`. */
  async compile(localPath: string, tag: string): Promise<CompileResult> {
    let text: string;
    try {
      text = await readFile(localPath, 'utf8');
    } catch {
      return fail(`cannot read ${localPath}`);
    }
    const name = path.basename(localPath);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*\.c$/.test(name)) return fail(`${name}: probe file names must be letters, digits, "_.-" and end in .c`);
    const place = await this.place();
    if (place.where === 'none') return { ...fail(place.message), noCompiler: true };
    const vm = await this.vmlinux();
    if ('error' in vm) return fail(vm.error);
    const machine = vm.identity.machine;
    const editDir = `${this.dep.dir}/edit/${tag}`;
    const object = `${editDir}/${name.replace(/\.c$/, '')}.o`;
    const bpf = this.dep.localBpfDir;
    if (place.where === 'local') {
      const tmp = await localTempDir();
      try {
        const obj = path.join(tmp.dir, path.basename(object));
        const r = linted(await compileProbe({
          run: runLocal, clang: place.clang, machine, src: localPath, obj,
          includeDirs: [path.join(bpf, 'include'), path.join(bpf, 'probes'), vm.dir],
        }), text, localPath);
        if (!r.ok) return r;
        await this.t.putFile(object, await readFile(obj));
        return { ...r, object };
      } finally {
        await tmp.remove();
      }
    }
    // On the target: the source (and headers beside it) in the edit directory, nslat's in src/.
    let inc: string[];
    try {
      inc = await this.targetIncludeDirs();
    } catch (e) {
      return fail(`cannot prepare a compile on ${this.t.host}: ${(e as Error).message}`);
    }
    const remoteSrc = `${editDir}/${name}`;
    await this.t.putFile(remoteSrc, text);
    const besides = path.dirname(localPath);
    for (const h of await listHeaders(besides)) await this.t.putFile(`${editDir}/${h}`, await readFile(path.join(besides, h)));
    const srcRoot = `${this.dep.dir}/src/`;
    return linted(await compileProbe({
      run: (a, o) => this.t.run(a, o), clang: place.clang, machine, src: remoteSrc, obj: object, includeDirs: inc,
      localSrc: localPath,
      mapFile: (f) => {
        if (f === remoteSrc || f === name) return localPath;
        if (f.startsWith(`${editDir}/`)) return path.join(besides, f.slice(editDir.length + 1));
        if (f.startsWith(srcRoot) && !f.endsWith('/vmlinux.h')) return path.join(bpf, f.slice(srcRoot.length));
        return undefined;
      },
    }), text, localPath);
  }
}

async function listHeaders(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith('.h')).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

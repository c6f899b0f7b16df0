/**
 * A tracing session on one target: preflight, deploy the shipped helper and probes (a copy, checked
 * by hash), start the helper as root, load one slot per stage, stream its messages, reload edited
 * probes (compiled where clang is, against the target's BTF), stop.
 *
 * Events:
 *  - 'message'  every valid helper message (feed them to the Aggregator);
 *  - 'reload'   the result of each reload (ok with the `loaded` message, or diagnostics);
 *  - 'progress' start-up steps (also given to opts.onProgress);
 *  - 'warning'  problems that do not end the session (bad helper lines, a stage that did not load,
 *               a program the verifier refused while the rest of its object loaded: those are also
 *               in `refusals`, with a diagnostic on the source line);
 *  - 'ended'    once: {reason: 'stopped'} after stop(), or {reason: 'helper-exited' | 'connection-lost', error}.
 * Nothing a helper or a user sends can throw out of an event handler here.
 */
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Diagnostic } from './diagnostic.ts';
import { EditCompiler, type CompilePlace } from './build.ts';
import { deploy, DeployError, type Deployment } from './deploy.ts';
import { refusalsOf, type Refusal } from './feeds.ts';
import { filterToRodata, hostOptionsOf, netfilterNamespaces, parseFilter, type FilterResolver } from './filter.ts';
import { HelperClient, HelperGoneError, HelperRequestError, type HelperExit } from './helper-client.ts';
import { compilerRows, runPreflight, type PreflightResult } from './preflight.ts';
import type { Direction, HelloMessage, HelperMessage, HostOptions, LoadCommand, LoadedMessage, SnapshotMessage } from './protocol.ts';
import { ADAPTIVE, SessionSampling, type SamplingMode } from './sampling.ts';
import type { AskPass, PrivilegeMode, Transport } from './transport/types.ts';
import { mapVerifierLog } from './verifier.ts';

export type Stage = Direction;
export const ALL_STAGES: Stage[] = ['rx', 'tx', 'irq'];

export interface SessionProgress {
  /** deploy: the shipped files are checked on the target; then copy (a fresh copy) or reuse. */
  phase: 'connect' | 'preflight' | 'tracefs' | 'deploy' | 'copy' | 'reuse' | 'compile' | 'helper' | 'load' | 'running' | 'stop';
  message: string;
}

export interface SessionOptions {
  /** undefined or "local": this machine; else an SSH destination. */
  host?: string;
  sshConfig?: string;
  privilege?: PrivilegeMode;
  /** Asks for the sudo password (never stored). */
  askPass?: AskPass;
  stages?: Stage[];
  /** `--filter` expression (see filter.ts). */
  filter?: string;
  /** Trace with `<stage>.bpf.c` from this local directory instead of the built-in probes. */
  probesDir?: string;
  intervalMs?: number;
  /** Which packets are measured (sampling.ts): adaptive by default, every packet, or 1 in N. */
  sampling?: SamplingMode;
  sampleEvery?: number;
  slowNs?: number;
  /** Turn on kernel bpf_stats for per-program cost (has a small cost itself). */
  bpfStats?: boolean;
  /** BPF netfilter hooks (default on): they feed ip_rcv and ip_local_deliver where neither fentry
   *  nor kprobes can. false starts the helper with --no-netfilter. */
  netfilter?: boolean;
  /** The target's preflight, when the caller already ran it (nslat check): not run again. */
  preflight?: PreflightResult;
  onProgress?: (p: SessionProgress) => void;
  log?: (line: string) => void;
  /** An already open transport (tests, the extension); otherwise one is created from host/sshConfig. */
  transport?: Transport;
  /** Local bpf/ directory (default: this package's): probe sources, headers, build/ship/<arch>/. */
  bpfDir?: string;
  /** Local cache of target kernels' BTF and vmlinux.h (default ~/.cache/nslat). */
  cacheDir?: string;
  /** The clang edited probes compile with, on this machine or the target (default: clang). */
  clang?: string;
  signal?: AbortSignal;
}

export interface EndInfo {
  reason: 'stopped' | 'helper-exited' | 'connection-lost';
  error?: string;
  exit?: HelperExit;
}

export type ReloadResult =
  | { ok: true; slot: string; loaded: LoadedMessage; warnings: Diagnostic[] }
  | {
      ok: false; slot: string; diagnostics: Diagnostic[]; error: string;
      /** No machine has clang, and an earlier reload of this session said so already: show this
       *  one quietly (its diagnostic), not as another notice. */
      alreadySaid?: true;
    };

/** A program refused at load while the rest of its object loaded, placed on its source line. */
export interface LoadRefusal extends Refusal {
  /** A warning on the line the verifier stopped at (file: the slot's local source). */
  diagnostic: Diagnostic;
}

export interface ProbeSource {
  slot: string;
  /** The local file the slot's object was built from. */
  path: string;
  builtin: boolean;
}

export interface SessionEvents {
  message: [HelperMessage];
  reload: [ReloadResult];
  progress: [SessionProgress];
  warning: [string];
  /** A sampling rate changed: from the next interval on, 1 in `every` packets (`packets`) or hard
   *  IRQs and softirq runs (`irq`) is timed. */
  sampling: [number, 'packets' | 'irq'];
  ended: [EndInfo];
}

/** Start-up failed: `message` says what and what to do; `preflight` is set when checks failed. */
export class SessionError extends Error {
  constructor(message: string, readonly preflight?: PreflightResult, readonly diagnostics?: Diagnostic[]) {
    super(message);
    this.name = 'SessionError';
  }
}

function validStages(stages: Stage[] | undefined): Stage[] {
  const s = stages && stages.length ? stages : ALL_STAGES;
  for (const x of s) if (!ALL_STAGES.includes(x)) throw new SessionError(`unknown stage "${x}"; use rx, tx and/or irq`);
  return [...new Set(s)];
}

export class Session extends EventEmitter<SessionEvents> {
  readonly loaded = new Map<string, LoadedMessage>();
  /** Stages that did not load at start, with why (the session traces the others). */
  readonly failedStages = new Map<string, string>();
  /** Programs the verifier refused at start while the rest of their object loaded. */
  readonly refusals: LoadRefusal[] = [];
  private readonly sources = new Map<string, ProbeSource>();
  private stopping = false;
  private endedInfo: EndInfo | undefined;
  private reloadSeq = 0;
  private noCompilerSaid = false;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private readonly rodata: Record<Stage, Record<string, number>>;
  private readonly data: Record<string, number>;
  private readonly netns: Record<Stage, number[] | undefined>;

  private constructor(
    readonly transport: Transport,
    readonly deployment: Deployment,
    readonly client: HelperClient,
    readonly hello: HelloMessage,
    readonly preflight: PreflightResult,
    readonly stages: Stage[],
    rodata: Record<Stage, Record<string, number>>,
    data: Record<string, number>,
    netns: Record<Stage, number[] | undefined>,
    private readonly editTag: string,
    private readonly opts: SessionOptions,
    private readonly compiler: EditCompiler,
    /** The sampling rates in force (1 in N packets; 1 in N hard IRQs and softirq runs). */
    readonly sampling: SessionSampling,
  ) {
    super();
    this.rodata = rodata;
    this.data = data;
    this.netns = netns;
  }

  get host(): string {
    return this.transport.host;
  }

  /** After each snapshot: the packets each probe object saw decide the next sampling rate; a new
   *  one is set in every loaded slot and kept for reloads. */
  private adaptSampling(m: SnapshotMessage): void {
    const r = this.sampling.observe(m, (slot) => this.loaded.get(slot)?.dir === 'irq');
    if (!r) return;
    Object.assign(this.data, r.data);
    this.set({ data: r.data });
    for (const c of r.changes) this.emit('sampling', c.every, c.of);
  }
  get ended(): EndInfo | undefined {
    return this.endedInfo;
  }

  static async start(opts: SessionOptions = {}): Promise<Session> {
    const stages = validStages(opts.stages);
    const progress = (p: SessionProgress) => {
      try { opts.onProgress?.(p); } catch { /* a progress printer must not break start-up */ }
    };
    // Fail fast on a bad filter, before touching the target.
    const spec = opts.filter !== undefined && opts.filter.trim() !== '' ? parseFilter(opts.filter) : {};
    const probesDir = opts.probesDir ? resolve(opts.probesDir) : undefined;
    if (probesDir) {
      for (const s of stages) {
        if (!existsSync(`${probesDir}/${s}.bpf.c`)) throw new SessionError(`${probesDir}/${s}.bpf.c does not exist; --probes needs one <stage>.bpf.c per traced stage (${stages.join(', ')})`);
      }
    }

    let transport = opts.transport;
    let ownTransport = false;
    if (!transport) {
      progress({ phase: 'connect', message: opts.host && opts.host !== 'local' ? `connecting to ${opts.host}` : 'preparing this machine' });
      const { createTransport } = await import('./transport/index.ts');
      transport = await createTransport({ host: opts.host, sshConfig: opts.sshConfig, log: opts.log });
      ownTransport = true;
    }
    let proc: Awaited<ReturnType<Transport['spawnPrivileged']>> | undefined;
    let editDir: string | undefined;
    try {
      progress({ phase: 'preflight', message: `checking ${transport.host}` });
      const pre = opts.preflight ?? (await runPreflight({ transport, askPass: opts.askPass }));
      if (!pre.ok) {
        const bad = pre.rows.filter((r) => !r.ok && r.required !== false);
        throw new SessionError(`${transport.host} cannot trace yet: ${bad.map((r) => `${r.check}: ${r.detail}${r.fix ? ` (fix: ${r.fix})` : ''}`).join('; ')}`, pre);
      }
      const dep = await deploy({
        transport,
        bpfDir: opts.bpfDir,
        machine: pre.machine,
        slots: stages,
        signal: opts.signal,
        onProgress: (p) => progress({ phase: p.phase === 'hash' ? 'deploy' : p.phase === 'done' ? 'copy' : p.phase, message: p.message }),
      });
      const compiler = new EditCompiler(transport, dep, { cacheDir: opts.cacheDir, clang: opts.clang });

      const resolver: FilterResolver = {
        ifindexOf: async (dev) => {
          const r = await transport!.run(['cat', `/sys/class/net/${dev}/ifindex`], { timeoutMs: 10_000 });
          return r.exitCode === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : undefined;
        },
        cgroupIdOf: async (path) => {
          const r = await transport!.run(['stat', '-c', '%i', '--', path], { timeoutMs: 10_000 });
          return r.exitCode === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : undefined;
        },
      };
      const rodataByDir: Record<Stage, Record<string, number>> = {
        rx: await filterToRodata(spec, resolver, 'rx'),
        tx: await filterToRodata(spec, resolver, 'tx'),
        irq: await filterToRodata(spec, resolver, 'irq'),
      };
      // A netfilter hook sees one network namespace: with a netns filter the rx/tx hooks are also
      // attached in that one (unless it is the helper's own).
      let ownNetns: number | undefined;
      if (spec.netns !== undefined) {
        const r = await transport.run(['stat', '-L', '-c', '%i', '/proc/self/ns/net'], { timeoutMs: 10_000 }).catch(() => undefined);
        if (r && r.exitCode === 0 && /^\d+$/.test(r.stdout.trim())) ownNetns = Number(r.stdout.trim());
      }
      const netnsByDir: Record<Stage, number[] | undefined> = {
        rx: netfilterNamespaces(spec, 'rx', ownNetns),
        tx: netfilterNamespaces(spec, 'tx', ownNetns),
        irq: netfilterNamespaces(spec, 'irq', ownNetns),
      };
      const data: Record<string, number> = {};
      if (opts.sampleEvery !== undefined) data.sample_every = Math.max(0, Math.floor(opts.sampleEvery));
      if (opts.slowNs !== undefined) data.slow_ns = Math.max(0, Math.floor(opts.slowNs));
      const sampling = new SessionSampling(opts.sampling ?? ADAPTIVE);
      Object.assign(data, sampling.data);
      // Objects per slot: built-in, or compiled from --probes (in this session's own edit dir).
      const editTag = `s${process.pid}-${Date.now().toString(36)}`;
      editDir = `${dep.dir}/edit/${editTag}`;
      const objects: Record<string, string> = {};
      const sources: ProbeSource[] = [];
      if (probesDir) {
        // Only edited probes need a compiler: checked here, where the compile happens.
        const rows = await compilerRows(compiler, transport.host);
        const bad = rows.filter((r) => !r.ok);
        if (bad.length) throw new SessionError(`--probes ${probesDir} cannot be compiled: ${bad.map((r) => `${r.check}: ${r.detail}${r.fix ? ` (fix: ${r.fix})` : ''}`).join('; ')}`, { ...pre, rows: [...pre.rows, ...rows], ok: false });
      }
      for (const s of stages) {
        if (probesDir) {
          const where = await compiler.place();
          progress({ phase: 'compile', message: `compiling ${probesDir}/${s}.bpf.c ${where.where === 'target' ? `on ${transport.host}` : 'on this machine'} against the kernel of ${transport.host}` });
          const r = await compiler.compile(`${probesDir}/${s}.bpf.c`, `${editTag}/start`);
          if (!r.ok) throw new SessionError(r.error, undefined, r.diagnostics);
          objects[s] = r.object;
          sources.push({ slot: s, path: `${probesDir}/${s}.bpf.c`, builtin: false });
        } else {
          objects[s] = dep.objects[s]!;
          sources.push({ slot: s, path: `${dep.localBpfDir}/probes/${s}.bpf.c`, builtin: true });
        }
      }

      if (pre.needsTracefsMount) {
        // The helper (root already) mounts tracefs itself at start and reports it in a `log`
        // message: no second privileged spawn (a password user is asked once).
        progress({ phase: 'tracefs', message: 'tracefs is not mounted: the helper mounts it at /sys/kernel/tracing' });
      }

      progress({ phase: 'helper', message: `starting the helper as root on ${transport.host}` });
      const argv = [dep.helper, '--workdir', dep.dir, '--interval-ms', String(clampInt(opts.intervalMs ?? 1000, 0, 3_600_000))];
      if (opts.bpfStats) argv.push('--bpf-stats');
      if (opts.netfilter === false) argv.push('--no-netfilter');
      // Preflight has just found root or a working sudo -n: start at once, without asking again.
      const known = pre.privilege === 'root' || pre.privilege === 'sudo-n' ? pre.privilege : undefined;
      proc = await transport.spawnPrivileged(argv, { askPass: opts.askPass, mode: opts.privilege, known });
      const client = new HelperClient(proc);
      const early: HelperMessage[] = [];
      const keep = (m: HelperMessage) => early.push(m);
      client.on('message', keep);
      const hello = await client.waitHello(30_000);

      const session = new Session(transport, dep, client, hello, pre, stages, rodataByDir, data, netnsByDir, editTag, opts, compiler, sampling);
      for (const s of sources) session.sources.set(s.slot, s);
      let badLines = 0;
      client.on('protocolError', (e) => {
        // A helper gone haywire must not flood the user: report the first few, then count.
        if (++badLines <= 10) session.emit('warning', `bad line from the helper: ${e.message}`);
        else if (badLines === 11) session.emit('warning', 'more bad lines from the helper; not reporting them one by one');
      });
      client.on('helperError', (m) => session.emit('warning', `helper: ${m.code}: ${m.message}`));
      client.on('log', (m) => {
        if (m.level === 'warn' || m.level === 'error') session.emit('warning', `helper ${m.level}: ${m.message}`);
        else opts.log?.(`helper ${m.level}: ${m.message}`);
      });
      client.on('stderr', (t) => opts.log?.(`helper stderr: ${t.trimEnd()}`));
      client.on('exit', (info) => session.onHelperExit(info));
      // The host counters list the filter's sockets (its ports, its process) and read its network
      // namespace, from the first snapshot on.
      const host = hello.host ? hostOptionsOf(spec, ownNetns) : undefined;
      if (host) session.set({ host });

      let loadedAny = false;
      const failures: string[] = [];
      const failDiags: Diagnostic[] = [];
      for (const s of stages) {
        progress({ phase: 'load', message: `loading ${s} probes` });
        const src = session.sources.get(s)!;
        const text = readText(src.path);
        try {
          // Edited probes (--probes) load strictly: a refusal is an error on the author's line.
          // The built-ins go on without a refused program (its group falls back).
          const fields = session.loadFields(s, !src.builtin);
          const loaded = await client.request({ cmd: 'load', slot: s, object: objects[s]!, ...fields }, 60_000);
          session.loaded.set(s, loaded);
          session.noteRefusals(loaded, src.path, text);
          loadedAny = true;
        } catch (e) {
          const diags = session.diagnosticsFor(e, src.path, text);
          failDiags.push(...diags);
          const why = `${(e as Error).message}${diags[0] && diags[0].line ? ` (${diags[0].file}:${diags[0].line})` : ''}`;
          session.failedStages.set(s, why);
          failures.push(`${s}: ${why}`);
        }
      }
      const undeclared = loadedAny ? session.undeclaredFilter() : undefined;
      if (undeclared) {
        await client.quit().catch(() => undefined);
        throw new SessionError(undeclared, pre);
      }
      // The first figures now, not one snapshot interval later (unless periodic snapshots are off).
      if (loadedAny && (opts.intervalMs ?? 1000) > 0 && !early.some((m) => m.type === 'snapshot')) {
        await client.request({ cmd: 'snapshot' }, 2_000).catch(() => undefined);
      }
      client.off('message', keep);
      if (!loadedAny) {
        await client.quit().catch(() => undefined);
        throw new SessionError(`no probes could be loaded on ${transport.host}: ${failures.join('; ')}`, pre, failDiags);
      }
      session.early = early;
      client.on('message', (m) => {
        session.emit('message', m);
        if (m.type === 'snapshot') session.adaptSampling(m);
      });
      for (const f of failures) setImmediate(() => session.emit('warning', `stage ${f} did not load; tracing the others`));
      for (const r of session.refusals) setImmediate(() => session.emit('warning', r.message));
      progress({ phase: 'running', message: `tracing ${stages.filter((s) => session.loaded.has(s)).join(', ')} on ${transport.host}` });
      return session;
    } catch (e) {
      if (proc) {
        try { proc.end(); } catch { /* ignore */ }
        setTimeout(() => { try { proc!.kill('SIGKILL'); } catch { /* ignore */ } }, 3000).unref();
      }
      if (editDir) await transport.run(['rm', '-rf', '--', editDir], { timeoutMs: 20_000 }).catch(() => undefined);
      if (ownTransport) await transport.close().catch(() => undefined);
      if (e instanceof DeployError) throw new SessionError(e.message);
      throw e;
    }
  }

  /** Messages received while starting (hello, loaded, often a first snapshot). */
  private early: HelperMessage[] = [];

  /** What arrived while starting, to read (a first snapshot there, which stages loaded); to act
   *  on every message, use subscribe(). */
  get startupMessages(): readonly HelperMessage[] {
    return this.early;
  }

  /** Every message of the session, in order, each once: first those received while starting,
   *  then each later one as it arrives. Returns the function that stops the delivery. */
  subscribe(listener: (m: HelperMessage) => void): () => void {
    for (const m of this.early) listener(m);
    this.on('message', listener);
    return () => { this.off('message', listener); };
  }

  /** Where this session's edited probes compile: this machine, the target, or nowhere (why). */
  compilePlace(): Promise<CompilePlace> {
    return this.compiler.place();
  }

  /** -I directories on the target for a compile there (nslat's headers, the target's vmlinux.h),
   *  put in place on first use. */
  targetIncludeDirs(): Promise<string[]> {
    return this.compiler.targetIncludeDirs();
  }

  /** The local source file of each loaded slot. */
  probeSources(): ProbeSource[] {
    return [...this.sources.values()];
  }

  /** The parts of a slot's load command besides the object: the filter constants of every
   *  direction and the mutable globals, each written where the object declares it (the helper
   *  knows the object's direction and globals from its BTF), the netfilter namespaces, strictness. */
  private loadFields(slot: string, strict: boolean): LoadFields {
    const out: LoadFields = { rodata_by_dir: this.rodata, data: this.data, if_declared: true };
    // Netfilter programs are RX and TX ones, hooked in the same namespaces. The direction of a
    // slot is the one its object reported (or the stage of that name, before its first load).
    const dir = this.loaded.get(slot)?.dir ?? (ALL_STAGES as readonly string[]).find((s) => s === slot);
    const ns = dir === 'irq' ? undefined : this.netns.rx ?? this.netns.tx;
    if (ns?.length) out.netns = ns;
    if (strict) out.strict = true;
    return out;
  }

  /** Every filter term must be understood by at least one loaded stage's probes (a constant no
   *  object declares would silently filter nothing): why not, or undefined when it is. */
  private undeclaredFilter(): string | undefined {
    const loaded = [...this.loaded.entries()];
    const declared = new Set(loaded.flatMap(([, l]) => (l.globals ?? []).map((g) => g.name)));
    const asked = new Set(loaded.flatMap(([s]) => Object.keys(this.rodata[s as Stage] ?? {})));
    for (const k of asked) {
      if (declared.has(k)) continue;
      const hint = k === 'filter_port' ? '; use "lport N" or "rport N" (or "sport"/"dport") instead of "port N"' : '';
      return `the probes for ${loaded.map(([s]) => s).join(', ')} have no ${k} filter, so --filter "${this.opts.filter}" cannot be applied${hint}`;
    }
    return undefined;
  }

  /** Records the programs a non-strict load went on without, each with a warning on its line. */
  private noteRefusals(loaded: LoadedMessage, path: string, text: string | undefined): void {
    for (const r of refusalsOf(loaded)) {
      const d = this.verifierDiagnostic(r.log, r.program, path, text);
      d.severity = 'warning';
      d.message = `${d.message}; ${r.outcome}; the rest loaded`;
      this.refusals.push({ ...r, diagnostic: d });
    }
  }

  /**
   * Rebuilds a slot from `sourcePath` (default: the slot's current source) and loads it
   * make-before-break. On any failure the old probes keep running and diagnostics say why.
   * Reloads run one at a time.
   */
  reload(slot: string, sourcePath?: string): Promise<ReloadResult> {
    const run = this.reloadChain.then(() => this.doReload(slot, sourcePath));
    this.reloadChain = run.catch(() => undefined);
    return run;
  }

  private async doReload(slot: string, sourcePath?: string): Promise<ReloadResult> {
    const fail = (error: string, diagnostics: Diagnostic[] = [], alreadySaid = false): ReloadResult => {
      const r: ReloadResult = { ok: false, slot, diagnostics, error, ...(alreadySaid ? { alreadySaid: true as const } : {}) };
      this.emit('reload', r);
      return r;
    };
    if (this.endedInfo || this.stopping) return fail('the session has ended');
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(slot)) return fail(`"${String(slot).slice(0, 40)}" is not a slot name`);
    const prev = this.sources.get(slot);
    const path = resolve(sourcePath ?? prev?.path ?? '');
    if (!sourcePath && !prev) return fail(`slot "${slot}" has no source; give the probe file to load`);
    const text = readText(path);
    if (text === undefined) return fail(`cannot read ${path}`, [{ file: path, line: 0, column: 0, severity: 'error', message: `cannot read ${path}`, source: 'helper' }]);
    const tag = `${this.editTag}/r${++this.reloadSeq}`;
    const built = await this.compiler.compile(path, tag).catch((e: Error) => ({ ok: false as const, error: e.message, diagnostics: [] as Diagnostic[] }));
    if (!built.ok) {
      const noCompiler = 'noCompiler' in built && built.noCompiler === true;
      const said = noCompiler && this.noCompilerSaid;
      if (noCompiler) this.noCompilerSaid = true;
      return fail(built.error, built.diagnostics, said);
    }
    try {
      // An edited probe loads strictly: the first refusal is an error, and the old object stays.
      const loaded = await this.client.request({ cmd: 'load', slot, object: built.object, ...this.loadFields(slot, true) }, 60_000);
      this.loaded.set(slot, loaded);
      this.sources.set(slot, { slot, path, builtin: false });
      const r: ReloadResult = { ok: true, slot, loaded, warnings: built.warnings };
      this.emit('reload', r);
      return r;
    } catch (e) {
      const diags = this.diagnosticsFor(e, path, text);
      return fail(`${basename(path)} was not loaded (the previous probes keep running): ${(e as Error).message}`, diags);
    }
  }

  private diagnosticsFor(e: unknown, path: string, text: string | undefined): Diagnostic[] {
    if (e instanceof HelperRequestError) {
      const m = e.reply;
      if (m.log && (m.code === 'verifier' || /^;/m.test(m.log))) return [this.verifierDiagnostic(m.log, m.program, path, text)];
      return [{ file: path, line: 0, column: 0, severity: 'error', message: `${m.code}: ${m.message}`, source: 'helper' }];
    }
    return [{ file: path, line: 0, column: 0, severity: 'error', message: (e as Error)?.message ?? String(e), source: 'helper' }];
  }

  /** A verifier log as a diagnostic on the probe's (or a shared header's) local source line. */
  private verifierDiagnostic(log: string, program: string | undefined, path: string, text: string | undefined): Diagnostic {
    return mapVerifierLog(log, {
      program,
      source: text !== undefined ? { path, text } : undefined,
      fallbackFile: path,
      mapFile: (f) => {
        if (basename(f) === basename(path)) return path;
        // A rejection inside a shared header: point at the local copy of that header.
        for (const d of ['probes', 'include']) {
          const local = `${this.deployment.localBpfDir}/${d}/${basename(f)}`;
          if (existsSync(local)) return local;
        }
        return undefined;
      },
    });
  }

  /** Changes mutable globals in every loaded slot (sample_every, slow_ns), the snapshot period, or
   *  what the host counters list (HostOptions). */
  set(opts: { intervalMs?: number; data?: Record<string, number>; host?: HostOptions }): void {
    if (this.endedInfo) return;
    try {
      this.client.send({ cmd: 'set', interval_ms: opts.intervalMs, data: opts.data, host: opts.host });
    } catch (e) {
      this.emit('warning', `set failed: ${(e as Error).message}`);
    }
  }

  /** Asks for a snapshot now (e.g. the last one before stopping). */
  async snapshot(timeoutMs = 5_000): Promise<void> {
    if (this.endedInfo) return;
    await this.client.request({ cmd: 'snapshot' }, timeoutMs).catch(() => undefined);
  }

  private onHelperExit(info: HelperExit): void {
    if (this.endedInfo) return;
    if (this.stopping) return; // stop() reports
    const ssh = this.transport.kind === 'ssh' && (info.code === 255 || /ssh|connection/i.test(info.why));
    const reason: EndInfo['reason'] = ssh ? 'connection-lost' : 'helper-exited';
    const tail = this.client.stderrTail.trim().split('\n').slice(-3).join(' | ');
    const error = ssh
      ? `lost the connection to ${this.transport.host}: ${info.why.replace(/[.\s]+$/, '')}; the data collected so far is kept`
      : `the helper on ${this.transport.host} stopped unexpectedly: ${info.why.replace(/[.\s]+$/, '')}${tail ? ` (${tail})` : ''}; the data collected so far is kept`;
    this.end({ reason, error, exit: info });
    this.transport.close().catch(() => undefined);
  }

  private end(info: EndInfo): void {
    if (this.endedInfo) return;
    this.endedInfo = info;
    this.emit('ended', info);
  }

  /** Quits the helper (it detaches everything), waits for its bye, closes the transport. Idempotent. */
  async stop(): Promise<EndInfo> {
    if (this.endedInfo) return this.endedInfo;
    if (this.stopping) return new Promise((r) => this.once('ended', r));
    this.stopping = true;
    this.opts.onProgress?.({ phase: 'stop', message: 'stopping: unloading probes' });
    let exit: HelperExit | undefined;
    try {
      exit = await this.client.quit(5_000);
    } catch (e) {
      exit = { code: null, signal: null, why: (e as Error).message };
    }
    // Edited probe copies of this session are not needed any more.
    await this.transport.run(['rm', '-rf', '--', `${this.deployment.dir}/edit/${this.editTag}`], { timeoutMs: 20_000 }).catch(() => undefined);
    await this.transport.close().catch(() => undefined);
    const attached = exit.bye?.attached ?? 0;
    const info: EndInfo = { reason: 'stopped', exit };
    if (attached > 0) info.error = `the helper reported ${attached} program(s) still attached at exit`;
    this.end(info);
    return info;
  }
}

type LoadFields = Pick<LoadCommand, 'rodata_by_dir' | 'data' | 'if_declared' | 'netns' | 'strict'>;

function clampInt(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.floor(Number.isFinite(n) ? n : lo)));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export { HelperGoneError };

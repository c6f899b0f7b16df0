/**
 * Sessions on several hosts at once: one run per host, each with its own helper (a Session), its
 * own Aggregator and its own trace file. Starting, stopping, losing or failing one host touches no
 * other. One host is selected: the panel, the status bar, probe editing and the language server
 * follow it. Everything the UI lists (the panel's host selector, the sidebar, the status bar) reads
 * `runs()` and listens to `onDidChange`.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { Aggregator } from '../core/aggregate.ts';
import { TraceWriter } from '../core/export/jsonl.ts';
import type { HelperMessage, HostEntry, SessionInfo } from '../core/protocol.ts';
import { ALL_STAGES, Session, SessionError, type EndInfo, type Stage } from '../core/session.ts';
import { rememberHost } from './hostPicker.ts';
import { hostLabel, installCommands } from './labels.ts';
import { progIds, toVscodeDiagnostic } from './probes.ts';
import { readSettings } from './settings.ts';

/** One host: its data (kept after the session ends, for the panel and Export Trace) and, while
 *  it runs, its session. */
export interface HostRun {
  host: string;
  label: string;
  aggregator: Aggregator;
  state: SessionInfo['state'];
  message?: string;
  session?: Session;
  /** The JSON Lines trace of its session. */
  trace?: TraceWriter;
  /** Cancels a start in progress. */
  startAbort?: AbortController;
  eventsPerS: number;
}

/** What a run's start needs from the rest of the extension. */
export interface HostRunsDeps {
  context: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
  /** The aggregator of `run` changed (throttled by the panel and the language server). */
  onData(run: HostRun): void;
  /** A session came up on `run` (it is selected by then). */
  onStarted(run: HostRun): void;
  /** `run`'s session ended (stopped, failed, connection lost). */
  onEnded(run: HostRun, session: Session): void;
  /** A new session is about to start with no other running (probe copies of the last one go). */
  onFirstStart(): void;
  /** Diagnostics of probes that did not build or load at start. */
  showStartDiagnostics(diags: vscode.Diagnostic[], file: string): void;
  /** Programs refused at start while the rest of their object loaded. */
  showRefusals(run: HostRun, session: Session): void;
}

/** At most this many traces of past sessions are kept in the extension's storage. */
const KEEP_TRACES = 8;

export class HostRuns implements vscode.Disposable {
  private readonly byHost = new Map<string, HostRun>();
  private selectedHost: string | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a host is added, starts, stops, fails, or the selection changes. */
  readonly onDidChange = this.changed.event;
  /** Fires with the newly selected run. */
  private readonly selectedChanged = new vscode.EventEmitter<HostRun | undefined>();
  readonly onDidChangeSelection = this.selectedChanged.event;

  constructor(private readonly deps: HostRunsDeps) {}

  runs(): HostRun[] {
    return [...this.byHost.values()];
  }

  get(host: string): HostRun | undefined {
    return this.byHost.get(host);
  }

  get selected(): HostRun | undefined {
    return this.selectedHost === undefined ? undefined : this.byHost.get(this.selectedHost);
  }

  /** Runs whose helper is up or coming up. */
  live(): HostRun[] {
    return this.runs().filter((r) => r.state === 'starting' || r.state === 'running' || r.state === 'reloading');
  }

  select(host: string): void {
    if (!this.byHost.has(host) || this.selectedHost === host) return;
    this.selectedHost = host;
    this.selectedChanged.fire(this.selected);
    this.changed.fire();
  }

  /** The host selector's entries. */
  entries(): HostEntry[] {
    return this.runs().map((r) => {
      const e: HostEntry = { host: r.host, label: r.label, state: r.state };
      if (r.message) e.message = r.message;
      if (r.state === 'running') e.events_per_s = r.eventsPerS;
      return e;
    });
  }

  private setState(run: HostRun, state: SessionInfo['state'], message?: string): void {
    run.state = state;
    run.message = message;
    run.aggregator.setSession({ state, message });
    this.changed.fire();
  }

  /** Starts a session on `host` ("local" or an SSH destination). A host already running is
   *  offered to the user to show or restart; the other hosts are not touched. */
  async start(host: string): Promise<void> {
    const existing = this.byHost.get(host);
    const label = hostLabel(host);
    if (existing?.state === 'starting') {
      void vscode.window.showInformationMessage(`nslat: ${label} is already starting.`);
      return;
    }
    if (existing?.session && !existing.session.ended) {
      const pick = await vscode.window.showInformationMessage(`nslat is already tracing ${label}.`, 'Show Panel', 'Stop and Start Again');
      if (pick === 'Show Panel') {
        this.select(host);
        void vscode.commands.executeCommand('nslat.showPanel', host);
      }
      if (pick !== 'Stop and Start Again') return;
      await this.stop(host);
    }
    const settings = readSettings();
    const stages = settings.stages.filter((s): s is Stage => (ALL_STAGES as string[]).includes(s));
    const { log } = this.deps;
    if (this.live().length === 0) this.deps.onFirstStart();
    const aggregator: Aggregator = new Aggregator({ host, onChange: () => this.deps.onData(run) });
    const run: HostRun = { host, label, aggregator, state: 'starting', message: `starting on ${label}`, eventsPerS: 0 };
    existing?.trace?.close();
    this.byHost.set(host, run);
    aggregator.setSession({ host, state: 'starting', message: run.message });
    this.selectedHost = host;
    this.selectedChanged.fire(run);
    this.changed.fire();
    void vscode.commands.executeCommand('nslat.showPanel', host);
    log.info(`starting on ${label}: stages ${stages.join(', ')}, filter ${settings.filter ?? '(none)'}, interval ${settings.snapshotIntervalMs} ms, privilege ${settings.privilege}`);

    const abort = new AbortController();
    run.startAbort = abort;
    let session: Session;
    try {
      session = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `nslat: starting on ${label}`, cancellable: true },
        (progress, token) => {
          token.onCancellationRequested(() => abort.abort());
          return Session.start({
            host,
            sshConfig: settings.sshConfigFile,
            privilege: settings.privilege,
            askPass: (prompt) => askPass(prompt, label),
            stages,
            filter: settings.filter,
            intervalMs: settings.snapshotIntervalMs,
            sampling: settings.sampling,
            sampleEvery: settings.sampleEvery,
            slowNs: Math.round(settings.slowThresholdMs * 1e6),
            netfilter: settings.netfilter,
            bpfDir: vscode.Uri.joinPath(this.deps.context.extensionUri, 'bpf').fsPath,
            signal: abort.signal,
            onProgress: (p) => {
              progress.report({ message: p.message });
              log.info(`[${label}] [${p.phase}] ${p.message}`);
              aggregator.setSession({ message: p.message });
            },
            log: (line) => log.info(`[${label}] ${line}`),
          });
        },
      );
    } catch (e) {
      run.startAbort = undefined;
      const message = (e as Error).message ?? String(e);
      this.setState(run, 'failed', message);
      log.error(`start on ${label} failed: ${message}`);
      this.showStartError(e, label);
      return;
    }
    run.startAbort = undefined;
    if (abort.signal.aborted) {
      // Cancelled after the helper was already up: take it down again.
      await session.stop().catch(() => undefined);
      this.setState(run, 'stopped', `start on ${label} cancelled`);
      log.info(`start on ${label} cancelled; the helper was stopped`);
      return;
    }
    void rememberHost(this.deps.context.globalState, host);
    run.session = session;
    run.trace = this.openTrace(host, session.hello.kernel);
    const trace = run.trace;
    session.subscribe((m: HelperMessage) => {
      const now = Date.now();
      try {
        trace?.write(m, now);
      } catch { /* closed: the session ended */ }
      this.onMessage(run, m, now);
    });
    session.on('warning', (w) => log.warn(`[${label}] ${w}`));
    session.on('ended', (info) => {
      trace?.close();
      this.onEnded(run, session, info);
    });
    this.setState(run, 'running', undefined);
    if (session.refusals.length) this.deps.showRefusals(run, session);
    this.deps.onStarted(run);
    log.info(`tracing ${[...session.loaded.keys()].join(', ')} on ${label} (helper pid ${session.hello.pid}, kernel ${session.hello.kernel}, workdir ${session.hello.workdir})`);
  }

  private onMessage(run: HostRun, m: HelperMessage, now: number): void {
    run.aggregator.ingest(m, now);
    const { log } = this.deps;
    switch (m.type) {
      case 'snapshot': {
        let events = 0;
        for (const s of m.slots) for (const h of s.hists) events += h.count;
        run.eventsPerS = m.interval_ns > 0 ? events / (m.interval_ns / 1e9) : 0;
        this.changed.fire();
        break;
      }
      case 'loaded': {
        const attached = m.programs.filter((p) => p.status === 'attached');
        log.info(`[${run.label}] loaded ${m.slot}${m.replaced ? ' (reload)' : ''}: ${attached.length}/${m.programs.length} programs attached, prog ids ${progIds(attached)}`);
        for (const p of m.programs) if (p.status !== 'attached') log.info(`  ${p.name} (${p.section}) ${p.status}${p.reason ? `: ${p.reason}` : ''}`);
        break;
      }
      case 'error':
        log.warn(`[${run.label}] helper error ${m.code}${m.slot ? ` in ${m.slot}` : ''}: ${m.message}`);
        break;
      case 'bye':
        log.info(`[${run.label}] helper exited (${m.reason}); programs still attached: ${m.attached}`);
        break;
      default:
        break;
    }
  }

  /** A session ended: its host is marked (stopped, or failed with the reason); the others go on. */
  private onEnded(run: HostRun, session: Session, info: EndInfo): void {
    const { log } = this.deps;
    if (run.session === session) run.session = undefined;
    run.eventsPerS = 0;
    const failed = info.reason !== 'stopped' || !!info.error;
    const message = info.error ?? `stopped on ${run.label}`;
    // A newer run of the same host keeps its own state.
    if (this.byHost.get(run.host) === run) this.setState(run, failed ? 'failed' : 'stopped', message);
    this.deps.onEnded(run, session);
    if (failed) {
      log.error(`session on ${run.label} ended: ${message}`);
      const others = this.live().length;
      void vscode.window
        .showErrorMessage(`nslat: ${message}${others ? ` (${others} other host${others === 1 ? '' : 's'} still tracing)` : ''}`, 'Show Log')
        .then((p) => p && log.show());
    } else {
      log.info(`session on ${run.label} stopped`);
    }
  }

  /** Stops one host (its start, if it is still starting). */
  async stop(host: string): Promise<void> {
    const run = this.byHost.get(host);
    const { log } = this.deps;
    if (!run) return;
    if (run.startAbort) {
      log.info(`stop requested while ${run.label} is starting: cancelling the start`);
      run.startAbort.abort();
      return;
    }
    const s = run.session;
    if (!s || s.ended) return;
    log.info(`stopping on ${run.label}`);
    await s.snapshot(2000).catch(() => undefined);
    const info = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `nslat: stopping on ${run.label}` }, () => s.stop());
    const bye = info.exit?.bye;
    log.info(`stopped on ${run.label}: ${info.exit?.why ?? 'helper gone'}${bye ? `; programs still attached at exit: ${bye.attached}` : ''}`);
  }

  /** Stops every host (window closing, extension deactivating). */
  async stopAll(): Promise<void> {
    await Promise.allSettled(this.runs().map(async (r) => {
      r.startAbort?.abort();
      await r.session?.stop();
    }));
  }

  /** A trace file in the extension's storage; only the last few sessions' traces are kept. */
  private openTrace(host: string, kernel: string): TraceWriter | undefined {
    const { context, log } = this.deps;
    const dir = join((context.storageUri ?? context.globalStorageUri).fsPath, 'traces');
    try {
      mkdirSync(dir, { recursive: true });
      const keep = new Set(this.runs().map((r) => r.trace?.path).filter((p): p is string => !!p));
      const old = readdirSync(dir)
        .filter((f) => f.endsWith('.jsonl') && !keep.has(join(dir, f)))
        .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
        .sort((a, b) => b.t - a.t);
      for (const { f } of old.slice(KEEP_TRACES)) rmSync(join(dir, f), { force: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      const path = join(dir, `nslat-${host.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}.jsonl`);
      const w = new TraceWriter(path, { host, kernel });
      log.info(`recording the session's messages on ${hostLabel(host)} to ${path}`);
      return w;
    } catch (e) {
      log.warn(`cannot record a trace file: ${(e as Error).message}; JSON Lines export is off for this session`);
      return undefined;
    }
  }

  private showStartError(e: unknown, label: string): void {
    const { log } = this.deps;
    if (e instanceof SessionError && e.preflight && !e.preflight.ok) {
      const missing = e.preflight.rows.filter((r) => !r.ok && r.required !== false);
      const commands = installCommands(e.preflight);
      const what = missing.map((r) => `${r.check} (${r.detail})`).join(', ');
      const text = `nslat cannot trace ${label} yet: ${what}.${commands.length ? ` Install with: ${commands.join(' && ')}` : ''}`;
      const actions = commands.length ? ['Copy Install Command', 'Show Log'] : ['Show Log'];
      void vscode.window.showErrorMessage(text, ...actions).then(async (pick) => {
        if (pick === 'Copy Install Command') {
          await vscode.env.clipboard.writeText(commands.join(' && '));
          void vscode.window.showInformationMessage('nslat: install command copied; run it on the target, then start again.');
        } else if (pick === 'Show Log') log.show();
      });
      return;
    }
    if (e instanceof SessionError && e.diagnostics?.length) {
      // Custom probes that did not build or load: show where.
      const byFile = new Map<string, vscode.Diagnostic[]>();
      for (const d of e.diagnostics) byFile.set(d.file, [...(byFile.get(d.file) ?? []), toVscodeDiagnostic(d)]);
      for (const [f, list] of byFile) if (f) this.deps.showStartDiagnostics(list, f);
    }
    const message = (e as Error).message ?? String(e);
    if ((e as Error).name === 'AbortError' || /aborted|cancel/i.test(message)) {
      void vscode.window.showInformationMessage(`nslat: start on ${label} cancelled.`);
      return;
    }
    void vscode.window.showErrorMessage(`nslat: could not start on ${label}: ${message}`, 'Show Log').then((p) => p && log.show());
  }

  dispose(): void {
    for (const r of this.runs()) r.trace?.close();
    this.changed.dispose();
    this.selectedChanged.dispose();
  }
}

async function askPass(prompt: string, label: string): Promise<string | undefined> {
  // Never stored or logged: the value goes straight to sudo's askpass.
  return vscode.window.showInputBox({
    title: `nslat: sudo on ${label}`,
    prompt: prompt || `Password for sudo on ${label} (the helper needs root to load BPF programs)`,
    password: true,
    ignoreFocusOut: true,
  });
}

/**
 * nslat's VS Code shell: commands, the status bar, the latency panel, probe editing. All the work is
 * done by src/core (no vscode import there); this module turns it into UI.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { Aggregator } from '../core/aggregate.ts';
import { TraceWriter } from '../core/export/jsonl.ts';
import type { HelperMessage } from '../core/protocol.ts';
import { ALL_STAGES, Session, SessionError, type EndInfo, type Stage } from '../core/session.ts';
import { exportTrace } from './exportTrace.ts';
import { pickHost, rememberHost } from './hostPicker.ts';
import { hostLabel, installCommands } from './labels.ts';
import { ProbeLanguageClient } from './languageClient.ts';
import { PANEL_VIEW_TYPE, PanelController } from './panel.ts';
import { ProbeEditor, progIds, toVscodeDiagnostic, type ActiveSession } from './probes.ts';
import { readSettings } from './settings.ts';
import { StatusBar } from './statusBar.ts';

type Disposable = { dispose(): unknown };

class Nslat implements vscode.Disposable {
  private active: ActiveSession | undefined;
  /** The last session's data stays for the panel and Export Trace after it ends. */
  private aggregator: Aggregator | undefined;
  private host = '';
  /** The JSON Lines trace of the current (or last) session, for Export Trace. */
  private trace: TraceWriter | undefined;
  private starting = false;
  /** Cancels a start in progress (the progress notification's Cancel, Stop, or deactivation). */
  private startAbort: AbortController | undefined;
  private eventsPerS = 0;
  private readonly disposables: Disposable[] = [];
  readonly panel: PanelController;
  readonly probes: ProbeEditor;
  readonly status: StatusBar;
  readonly lsp: ProbeLanguageClient;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.lsp = new ProbeLanguageClient(context, log);
    this.status = new StatusBar('nslat.showPanel');
    this.panel = new PanelController(
      context.extensionUri,
      {
        onCommand: (c) => {
          const command = { stop: 'nslat.stop', reload: 'nslat.reload', export: 'nslat.export', openProbes: 'nslat.openProbes' }[c];
          void vscode.commands.executeCommand(command);
        },
        onOpenProbe: (b) => void this.probes.revealBoundary(b),
      },
      log,
    );
    this.probes = new ProbeEditor(context, log, () => this.active, () => this.panel.show(), () => this.lsp.running);
    this.disposables.push(this.status, this.panel, this.probes, this.lsp);
  }

  async start(): Promise<void> {
    if (this.starting) {
      void vscode.window.showInformationMessage('nslat: a session is already starting.');
      return;
    }
    if (this.active) {
      const pick = await vscode.window.showInformationMessage(`nslat is already tracing ${this.active.hostLabel}.`, 'Show Panel', 'Stop and Start Again');
      if (pick === 'Show Panel') this.panel.show();
      if (pick !== 'Stop and Start Again') return;
      await this.stop();
    }
    const settings = readSettings();
    const host = await pickHost(this.context.globalState, settings.host);
    if (!host) return;
    const label = hostLabel(host);
    const stages = settings.stages.filter((s): s is Stage => (ALL_STAGES as string[]).includes(s));

    this.starting = true;
    this.host = host;
    // Stop is offered while starting too: it cancels the start.
    void vscode.commands.executeCommand('setContext', 'nslat.sessionActive', true);
    const aggregator = new Aggregator({
      host,
      onChange: (agg) => {
        this.panel.notify();
        this.lsp.statsChanged(agg);
      },
    });
    this.trace?.close();
    this.trace = undefined;
    aggregator.setSession({ host, state: 'starting', message: `starting on ${label}` });
    this.aggregator = aggregator;
    this.probes.forgetSession();
    this.eventsPerS = 0;
    this.status.update(host, 'starting', 0);
    this.panel.setSource(aggregator);
    this.panel.show(true);
    this.log.info(`starting on ${label}: stages ${stages.join(', ')}, filter ${settings.filter ?? '(none)'}, interval ${settings.snapshotIntervalMs} ms, privilege ${settings.privilege}`);

    const abort = new AbortController();
    this.startAbort = abort;
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
            askPass: (prompt) => this.askPass(prompt, label),
            stages,
            filter: settings.filter,
            intervalMs: settings.snapshotIntervalMs,
            sampling: settings.sampling,
            sampleEvery: settings.sampleEvery,
            slowNs: Math.round(settings.slowThresholdMs * 1e6),
            netfilter: settings.netfilter,
            bpfDir: vscode.Uri.joinPath(this.context.extensionUri, 'bpf').fsPath,
            signal: abort.signal,
            onProgress: (p) => {
              progress.report({ message: p.message });
              this.log.info(`[${p.phase}] ${p.message}`);
              aggregator.setSession({ message: p.message });
            },
            log: (line) => this.log.info(line),
          });
        },
      );
    } catch (e) {
      this.starting = false;
      this.startAbort = undefined;
      void vscode.commands.executeCommand('setContext', 'nslat.sessionActive', false);
      const message = (e as Error).message ?? String(e);
      aggregator.setSession({ state: 'failed', message });
      this.status.update(host, 'failed', 0, message);
      this.log.error(`start on ${label} failed: ${message}`);
      this.showStartError(e, label);
      return;
    }
    this.starting = false;
    this.startAbort = undefined;
    if (abort.signal.aborted) {
      // Cancelled after the helper was already up: take it down again.
      await session.stop().catch(() => undefined);
      void vscode.commands.executeCommand('setContext', 'nslat.sessionActive', false);
      aggregator.setSession({ state: 'stopped', message: `start on ${label} cancelled` });
      this.status.update(host, 'stopped', 0);
      this.log.info(`start on ${label} cancelled; the helper was stopped`);
      return;
    }
    void rememberHost(this.context.globalState, host);
    this.active = { session, aggregator, hostLabel: label };
    void vscode.commands.executeCommand('setContext', 'nslat.sessionActive', true);

    this.trace = this.openTrace(host, session.hello.kernel);
    const trace = this.trace;
    const onMessage = (m: HelperMessage) => {
      const now = Date.now();
      try {
        trace?.write(m, now);
      } catch { /* closed: the session ended */ }
      this.onMessage(aggregator, m, now);
    };
    session.subscribe(onMessage);
    session.on('warning', (w) => this.log.warn(w));
    session.on('ended', (info) => {
      trace?.close();
      this.onEnded(session, aggregator, info);
    });
    aggregator.setSession({ state: 'running', message: undefined });
    this.status.update(host, 'running', 0);
    if (session.refusals.length) this.showRefusals(session, label);
    this.lsp.sessionStarted(session, aggregator);
    this.log.info(`tracing ${[...session.loaded.keys()].join(', ')} on ${label} (helper pid ${session.hello.pid}, kernel ${session.hello.kernel}, workdir ${session.hello.workdir})`);
  }

  /** A trace file in the extension's storage; only the last few sessions' traces are kept. */
  private openTrace(host: string, kernel: string): TraceWriter | undefined {
    const dir = join((this.context.storageUri ?? this.context.globalStorageUri).fsPath, 'traces');
    try {
      mkdirSync(dir, { recursive: true });
      const old = readdirSync(dir)
        .filter((f) => f.endsWith('.jsonl'))
        .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
        .sort((a, b) => b.t - a.t);
      for (const { f } of old.slice(4)) rmSync(join(dir, f), { force: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      const path = join(dir, `nslat-${host.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}.jsonl`);
      const w = new TraceWriter(path, { host, kernel });
      this.log.info(`recording the session's messages to ${path}`);
      return w;
    } catch (e) {
      this.log.warn(`cannot record a trace file: ${(e as Error).message}; JSON Lines export is off for this session`);
      return undefined;
    }
  }

  private onMessage(aggregator: Aggregator, m: HelperMessage, now: number): void {
    aggregator.ingest(m, now);
    switch (m.type) {
      case 'snapshot': {
        let events = 0;
        for (const s of m.slots) for (const h of s.hists) events += h.count;
        this.eventsPerS = m.interval_ns > 0 ? events / (m.interval_ns / 1e9) : 0;
        if (this.active?.aggregator === aggregator && !this.active.session.ended) {
          this.status.update(this.host, this.active.session.ended ? 'stopped' : 'running', this.eventsPerS);
        }
        break;
      }
      case 'loaded': {
        const attached = m.programs.filter((p) => p.status === 'attached');
        this.log.info(`loaded ${m.slot}${m.replaced ? ' (reload)' : ''}: ${attached.length}/${m.programs.length} programs attached, prog ids ${progIds(attached)}`);
        for (const p of m.programs) if (p.status !== 'attached') this.log.info(`  ${p.name} (${p.section}) ${p.status}${p.reason ? `: ${p.reason}` : ''}`);
        break;
      }
      case 'error':
        this.log.warn(`helper error ${m.code}${m.slot ? ` in ${m.slot}` : ''}: ${m.message}`);
        break;
      case 'bye':
        this.log.info(`helper exited (${m.reason}); programs still attached: ${m.attached}`);
        break;
      default:
        break;
    }
  }

  private onEnded(session: Session, aggregator: Aggregator, info: EndInfo): void {
    const label = hostLabel(this.host);
    this.lsp.sessionEnded(session);
    if (this.active?.session === session) {
      this.active = undefined;
      void vscode.commands.executeCommand('setContext', 'nslat.sessionActive', false);
    }
    const failed = info.reason !== 'stopped' || !!info.error;
    const message = info.error ?? `stopped on ${label}`;
    aggregator.setSession({ state: failed ? 'failed' : 'stopped', message });
    if (this.aggregator === aggregator) this.status.update(this.host, failed ? 'failed' : 'stopped', 0, message);
    if (failed) {
      this.log.error(`session on ${label} ended: ${message}`);
      void vscode.window.showErrorMessage(`nslat: ${message}`, 'Show Log').then((p) => p && this.log.show());
    } else {
      this.log.info(`session on ${label} stopped`);
    }
  }

  /** Programs the verifier refused while the rest of their object loaded: a warning on the source
   *  line of each and one message (the session traces without them). */
  private showRefusals(session: Session, label: string): void {
    for (const r of session.refusals) this.log.warn(r.message);
    this.probes.showLoadWarnings(session.refusals.map((r) => ({ slot: r.slot, diagnostic: r.diagnostic })));
    const first = session.refusals[0]!;
    const more = session.refusals.length > 1 ? ` (and ${session.refusals.length - 1} more)` : '';
    void vscode.window
      .showWarningMessage(`nslat on ${label}: ${first.message}${more}.`, 'Show Problems', 'Show Log')
      .then((pick) => {
        if (pick === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
        else if (pick === 'Show Log') this.log.show();
      });
  }

  private async askPass(prompt: string, label: string): Promise<string | undefined> {
    // Never stored or logged: the value goes straight to sudo's askpass.
    return vscode.window.showInputBox({
      title: `nslat: sudo on ${label}`,
      prompt: prompt || `Password for sudo on ${label} (the helper needs root to load BPF programs)`,
      password: true,
      ignoreFocusOut: true,
    });
  }

  private showStartError(e: unknown, label: string): void {
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
        } else if (pick === 'Show Log') this.log.show();
      });
      return;
    }
    if (e instanceof SessionError && e.diagnostics?.length) {
      // Custom probes that did not build or load: show where.
      const byFile = new Map<string, vscode.Diagnostic[]>();
      for (const d of e.diagnostics) byFile.set(d.file, [...(byFile.get(d.file) ?? []), toVscodeDiagnostic(d)]);
      for (const [f, list] of byFile) if (f) this.probes.diagnostics.set(vscode.Uri.file(f), list);
    }
    const message = (e as Error).message ?? String(e);
    if ((e as Error).name === 'AbortError' || /aborted|cancel/i.test(message)) {
      void vscode.window.showInformationMessage(`nslat: start on ${label} cancelled.`);
      return;
    }
    void vscode.window.showErrorMessage(`nslat: could not start on ${label}: ${message}`, 'Show Log').then((p) => p && this.log.show());
  }

  async stop(): Promise<void> {
    const a = this.active;
    if (!a) {
      if (this.startAbort) {
        this.log.info('stop requested while starting: cancelling the start');
        this.startAbort.abort();
        return;
      }
      void vscode.window.showInformationMessage('nslat: no session is running.');
      return;
    }
    this.log.info(`stopping on ${a.hostLabel}`);
    await a.session.snapshot(2000).catch(() => undefined);
    const info = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `nslat: stopping on ${a.hostLabel}` },
      () => a.session.stop(),
    );
    const bye = info.exit?.bye;
    this.log.info(`stopped on ${a.hostLabel}: ${info.exit?.why ?? 'helper gone'}${bye ? `; programs still attached at exit: ${bye.attached}` : ''}`);
  }

  async exportTrace(): Promise<void> {
    if (!this.aggregator) {
      void vscode.window.showInformationMessage('nslat: nothing to export yet: start a session first.');
      return;
    }
    await exportTrace({ aggregator: this.aggregator, tracePath: this.trace?.path }, this.host, this.log);
  }

  /** Stops a running session (window closing, extension deactivating). */
  async shutdown(): Promise<void> {
    this.startAbort?.abort();
    const a = this.active;
    if (a) await a.session.stop().catch(() => undefined);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

let app: Nslat | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel('nslat', { log: true });
  const nslat = new Nslat(context, log);
  app = nslat;
  context.subscriptions.push(
    log,
    nslat,
    vscode.commands.registerCommand('nslat.start', () => nslat.start()),
    vscode.commands.registerCommand('nslat.stop', () => nslat.stop()),
    vscode.commands.registerCommand('nslat.reload', () => nslat.probes.reloadCommand()),
    vscode.commands.registerCommand('nslat.openProbes', () => nslat.probes.open()),
    vscode.commands.registerCommand('nslat.export', () => nslat.exportTrace()),
    vscode.commands.registerCommand('nslat.showPanel', () => nslat.panel.show()),
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      // After a window reload the extension host (and any session) is new: the panel comes back and
      // shows this window's data, or that no session is running.
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel) => nslat.panel.restore(panel),
    }),
  );
  void vscode.commands.executeCommand('setContext', 'nslat.sessionActive', false);
  // Not awaited: activation must not wait for the server.
  void nslat.lsp.start();
}

export async function deactivate(): Promise<void> {
  const a = app;
  app = undefined;
  await Promise.allSettled([a?.shutdown(), a?.lsp.stop()]);
}

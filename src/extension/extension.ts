/**
 * nslat's VS Code shell: commands, the sidebar, the status bar, the latency panel, saved traces,
 * probe editing. All the work is done by src/core (no vscode import there); this module turns it
 * into UI. Sessions run on several hosts at once (hosts.ts); the panel shows the selected one.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { compare, compareRanges, windowOf } from '../core/compare.ts';
import { openTrace } from '../core/export/jsonl.ts';
import { hostStageOf } from '../core/hostStage.ts';
import type { ToPanel } from '../core/protocol.ts';
import type { Session } from '../core/session.ts';
import { exportTrace } from './exportTrace.ts';
import { pickHost } from './hostPicker.ts';
import { HostRuns, type HostRun } from './hosts.ts';
import { hostArgument, HostsView } from './hostsView.ts';
import { ProbeLanguageClient } from './languageClient.ts';
import { PANEL_VIEW_TYPE, PanelController, type PanelRequest } from './panel.ts';
import { ProbeEditor, type ActiveSession } from './probes.ts';
import { readSettings } from './settings.ts';
import { StatusBar } from './statusBar.ts';
import { TRACE_ANY_VIEW_TYPE, TRACE_VIEW_TYPE, TraceEditorProvider } from './traceEditor.ts';

type Disposable = { dispose(): unknown };

/** How often the host comparison is refreshed while the panel asks for it. */
const HOST_COMPARE_MS = 1000;

class Nslat implements vscode.Disposable {
  private readonly disposables: Disposable[] = [];
  readonly runs: HostRuns;
  readonly panel: PanelController;
  readonly probes: ProbeEditor;
  readonly status: StatusBar;
  readonly lsp: ProbeLanguageClient;
  readonly hostsView: HostsView;
  /** The panel's host comparison: which stage on which hosts, refreshed while it looks. */
  private hostCompare: { key: string; hosts: string[]; timer: ReturnType<typeof setInterval> } | undefined;
  /** The last comparison shown, sent again to a reloaded panel. */
  private lastComparison: ToPanel | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.lsp = new ProbeLanguageClient(context, log);
    this.status = new StatusBar('nslat.showPanel');
    this.runs = new HostRuns({
      context,
      log,
      onData: (run) => {
        if (this.runs.selected !== run) return;
        this.panel.notify();
        this.lsp.statsChanged(run.aggregator);
      },
      onStarted: (run) => this.follow(run),
      onEnded: (_run, session) => this.lsp.sessionEnded(session),
      onFirstStart: () => this.probes.forgetSession(),
      showStartDiagnostics: (diags, file) => this.probes.diagnostics.set(vscode.Uri.file(file), diags),
      showRefusals: (run, session) => this.showRefusals(run, session),
    });
    this.panel = new PanelController(
      context.extensionUri,
      {
        onCommand: (c) => {
          // The panel's buttons act on the host it shows.
          const host = this.runs.selected?.host;
          if (c === 'stop') void vscode.commands.executeCommand('nslat.stop', host);
          else void vscode.commands.executeCommand({ reload: 'nslat.reload', export: 'nslat.export', openProbes: 'nslat.openProbes' }[c]);
        },
        onOpenProbe: (b) => void this.probes.revealBoundary(b),
        onRequest: (r) => this.onPanelRequest(r),
        onReady: () => {
          this.postHosts();
          if (this.lastComparison) this.panel.post(this.lastComparison);
        },
      },
      log,
    );
    this.probes = new ProbeEditor(context, log, () => this.active(), () => this.panel.show(), () => this.lsp.running);
    this.hostsView = new HostsView(this.runs, context.globalState);
    this.disposables.push(
      this.runs,
      this.status,
      this.panel,
      this.probes,
      this.lsp,
      this.hostsView,
      this.runs.onDidChange(() => this.onRunsChanged()),
      this.runs.onDidChangeSelection((run) => this.follow(run)),
    );
  }

  /** The selected host's live session (probe editing and reloads act on it). */
  private active(): ActiveSession | undefined {
    const r = this.runs.selected;
    return r?.session && !r.session.ended ? { session: r.session, aggregator: r.aggregator, hostLabel: r.label } : undefined;
  }

  /** The panel, the language server and the status bar follow the selected host. */
  private follow(run: HostRun | undefined): void {
    this.panel.setSource(run?.aggregator);
    if (run?.session && !run.session.ended) this.lsp.sessionStarted(run.session, run.aggregator);
    this.onRunsChanged();
  }

  private onRunsChanged(): void {
    const sel = this.runs.selected;
    const live = this.runs.live();
    void vscode.commands.executeCommand('setContext', 'nslat.sessionActive', live.length > 0);
    if (sel) this.status.update(sel.host, sel.state, sel.eventsPerS, sel.message, live.filter((r) => r !== sel).length);
    this.postHosts();
  }

  private postHosts(): void {
    const sel = this.runs.selected;
    if (sel) this.panel.post({ type: 'hosts', hosts: this.runs.entries(), selected: sel.host });
  }

  private onPanelRequest(r: PanelRequest): void {
    switch (r.type) {
      case 'selectHost':
        this.runs.select(r.host);
        break;
      case 'compareHosts':
        this.setHostCompare(r.key, r.hosts);
        break;
      case 'compareRanges': {
        const sel = this.runs.selected;
        if (!sel) return;
        this.showComparison({ type: 'comparison', ...compareRanges(sel.aggregator, sel.label, r.a, r.b) });
        break;
      }
    }
  }

  private showComparison(m: ToPanel): void {
    this.lastComparison = m;
    this.panel.post(m);
  }

  /** Sends stage `key` on `hosts` now and every second while the panel asks (an empty list stops). */
  private setHostCompare(key: string, hosts: string[]): void {
    if (this.hostCompare) clearInterval(this.hostCompare.timer);
    this.hostCompare = undefined;
    if (hosts.length === 0 || key === '') return;
    const send = () => {
      if (!this.panel.visible) return;
      const list = hosts.map((h) => this.runs.get(h)).filter((r): r is HostRun => !!r).map((r) => hostStageOf(r.aggregator, r, key));
      this.panel.post({ type: 'hostCompare', key, hosts: list });
    };
    this.hostCompare = { key, hosts, timer: setInterval(send, HOST_COMPARE_MS) };
    send();
  }

  async start(arg?: unknown): Promise<void> {
    const given = hostArgument(arg);
    const host = given ?? (await pickHost(this.context.globalState, readSettings().host));
    if (!host) return;
    await this.runs.start(host);
  }

  /** Stops a host: the one given, else the only one running, else one picked (or all). */
  async stop(arg?: unknown): Promise<void> {
    let host = hostArgument(arg);
    const live = this.runs.live();
    if (host === undefined) {
      if (live.length === 0) {
        void vscode.window.showInformationMessage('nslat: no session is running.');
        return;
      }
      if (live.length === 1) host = live[0]!.host;
      else {
        const ALL = '\0all';
        const pick = await vscode.window.showQuickPick(
          [...live.map((r) => ({ label: r.label, description: r.state, host: r.host })), { label: 'All hosts', description: `${live.length} sessions`, host: ALL }],
          { title: 'nslat: Stop Stack Trace on…' },
        );
        if (!pick) return;
        if (pick.host === ALL) {
          await Promise.all(live.map((r) => this.runs.stop(r.host)));
          return;
        }
        host = pick.host;
      }
    }
    await this.runs.stop(host);
  }

  showPanel(arg?: unknown): void {
    const host = hostArgument(arg);
    if (host) this.runs.select(host);
    this.panel.show();
  }

  async exportTrace(): Promise<void> {
    const r = this.runs.selected;
    if (!r) {
      void vscode.window.showInformationMessage('nslat: nothing to export yet: start a session first.');
      return;
    }
    await exportTrace({ aggregator: r.aggregator, tracePath: r.trace?.path }, r.host, this.log);
  }

  /** "Compare Traces…": two saved traces, side by side in the panel's Compare view. */
  async compareTraces(uris?: vscode.Uri[]): Promise<void> {
    let files = uris?.filter((u) => u.scheme === 'file').map((u) => u.fsPath) ?? [];
    if (files.length !== 2) {
      const picked = await vscode.window.showOpenDialog({ canSelectMany: true, openLabel: 'Compare', title: 'nslat: pick two traces (A, then B)', filters: { 'nslat traces': ['jsonl'], 'All files': ['*'] } });
      files = picked?.map((u) => u.fsPath) ?? [];
      if (files.length === 0) return;
      if (files.length !== 2) {
        void vscode.window.showWarningMessage(`nslat: pick two traces to compare, not ${files.length}.`);
        return;
      }
    }
    try {
      const [a, b] = await Promise.all(files.map((f) => openTrace(f)));
      const c = compare(windowOf(a!.aggregator, `${basename(files[0]!)} (${a!.aggregator.report().host})`), windowOf(b!.aggregator, `${basename(files[1]!)} (${b!.aggregator.report().host})`));
      this.panel.show();
      this.showComparison({ type: 'comparison', comparison: c });
    } catch (e) {
      void vscode.window.showErrorMessage(`nslat: cannot compare: ${(e as Error).message}.`);
    }
  }

  /** "Open Trace in Panel": a saved trace in the trace editor. */
  async openTrace(uri?: vscode.Uri): Promise<void> {
    let target = uri;
    if (!target) {
      const picked = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Open', title: 'nslat: open a saved trace', filters: { 'nslat traces': ['jsonl'], 'All files': ['*'] } });
      target = picked?.[0];
    }
    if (target) await vscode.commands.executeCommand('vscode.openWith', target, TRACE_ANY_VIEW_TYPE);
  }

  /** Programs the verifier refused while the rest of their object loaded: a warning on the source
   *  line of each and one message (the session traces without them). */
  private showRefusals(run: HostRun, session: Session): void {
    for (const r of session.refusals) this.log.warn(r.message);
    this.probes.showLoadWarnings(session.refusals.map((r) => ({ slot: r.slot, diagnostic: r.diagnostic })));
    const first = session.refusals[0]!;
    const more = session.refusals.length > 1 ? ` (and ${session.refusals.length - 1} more)` : '';
    void vscode.window
      .showWarningMessage(`nslat on ${run.label}: ${first.message}${more}.`, 'Show Problems', 'Show Log')
      .then((pick) => {
        if (pick === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
        else if (pick === 'Show Log') this.log.show();
      });
  }

  /** Stops every running session (window closing, extension deactivating). */
  async shutdown(): Promise<void> {
    if (this.hostCompare) clearInterval(this.hostCompare.timer);
    await this.runs.stopAll();
  }

  dispose(): void {
    if (this.hostCompare) clearInterval(this.hostCompare.timer);
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
    vscode.commands.registerCommand('nslat.start', (arg?: unknown) => nslat.start(arg)),
    vscode.commands.registerCommand('nslat.stop', (arg?: unknown) => nslat.stop(arg)),
    vscode.commands.registerCommand('nslat.reload', () => nslat.probes.reloadCommand()),
    vscode.commands.registerCommand('nslat.openProbes', () => nslat.probes.open()),
    vscode.commands.registerCommand('nslat.export', () => nslat.exportTrace()),
    vscode.commands.registerCommand('nslat.showPanel', (arg?: unknown) => nslat.showPanel(arg)),
    vscode.commands.registerCommand('nslat.openTrace', (uri?: vscode.Uri) => nslat.openTrace(uri instanceof vscode.Uri ? uri : undefined)),
    vscode.commands.registerCommand('nslat.compareTraces', (uri?: vscode.Uri, uris?: vscode.Uri[]) => nslat.compareTraces(uris ?? (uri instanceof vscode.Uri ? [uri] : undefined))),
    vscode.commands.registerCommand('nslat.refreshHosts', () => nslat.hostsView.refresh()),
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      // After a window reload the extension host (and any session) is new: the panel comes back and
      // shows this window's data, or that no session is running.
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel) => nslat.panel.restore(panel),
    }),
    ...[TRACE_VIEW_TYPE, TRACE_ANY_VIEW_TYPE].map((viewType) =>
      vscode.window.registerCustomEditorProvider(viewType, new TraceEditorProvider(context.extensionUri, log), {
        supportsMultipleEditorsPerDocument: true,
        webviewOptions: { retainContextWhenHidden: false },
      }),
    ),
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


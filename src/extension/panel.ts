/**
 * The latency panel's host side. The extension host owns the data (an Aggregator); the webview only
 * draws. Protocol (src/core/protocol.ts): the webview says `ready`; the host answers with a full
 * `snapshot`, then sends `delta`s at most 10 times a second while the panel is visible (PanelPump).
 * A hidden panel costs nothing: no delta is computed or posted, and it gets a fresh snapshot when it
 * shows again. A WebviewPanelSerializer brings the panel back after a window reload.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { FromPanel, type PanelState, type ToPanel } from '../core/protocol.ts';
import { panelHtml } from './panelHtml.ts';
import { PanelPump, type PanelSource } from './panelPump.ts';

export const PANEL_VIEW_TYPE = 'nslat.panel';
export type { PanelSource };

export type PanelCommand = Extract<FromPanel, { type: 'command' }>['command'];

/** What the panel asks of several hosts and comparisons. */
export type PanelRequest = Extract<FromPanel, { type: 'selectHost' | 'compareHosts' | 'compareRanges' }>;

export interface PanelHandlers {
  onCommand(command: PanelCommand): void;
  onOpenProbe(boundary: string): void;
  onRequest?(request: PanelRequest): void;
  /** A new webview document is listening (after a snapshot, it gets what is not in the snapshot:
   *  the host list). */
  onReady?(): void;
}

export function emptyPanelState(message = 'No session: run "nslat: Start Stack Trace".'): PanelState {
  return {
    session: { host: '', state: 'stopped', message },
    stages: [],
    series: [],
    journeys: [],
    reloads: [],
    health: { events_per_s: 0, loss: [], activity: {}, drops: {}, progs: [], programs: [], boundaries: [] },
  };
}

export class PanelController implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private panelDisposables: vscode.Disposable[] = [];
  private readonly pump: PanelPump;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly handlers: PanelHandlers,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.pump = new PanelPump((m) => this.post(m), { empty: () => emptyPanelState() });
  }

  get visible(): boolean {
    return this.panel?.visible ?? false;
  }

  /** Opens the panel, or reveals it (keeping the focus where it is when `preserveFocus`). */
  show(preserveFocus = false): void {
    if (this.panel) {
      this.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      PANEL_VIEW_TYPE,
      'nslat: stack latency',
      { viewColumn: vscode.ViewColumn.Active, preserveFocus },
      // Not retained when hidden: a hidden panel costs nothing and gets a snapshot when shown.
      { ...webviewOptions(this.extensionUri), retainContextWhenHidden: false },
    );
    this.adopt(panel);
  }

  /** For the WebviewPanelSerializer: a panel restored after a window reload. */
  restore(panel: vscode.WebviewPanel): void {
    if (this.panel && this.panel !== panel) this.panel.dispose();
    panel.webview.options = webviewOptions(this.extensionUri);
    this.adopt(panel);
  }

  /** The data behind the panel; a new source (new session) gets a full snapshot. */
  setSource(source: PanelSource | undefined): void {
    this.pump.setSource(source);
  }

  /** Something changed in the source: a delta soon (at most 10/s), only while visible. */
  notify(): void {
    this.pump.notify();
  }

  /** Posts a message besides the pump's snapshots and deltas (hosts, comparisons); a hidden or
   *  closed panel drops it and gets what it needs again on its next `ready`. */
  post(msg: ToPanel): void {
    this.panel?.webview.postMessage(msg).then(undefined, (e: unknown) => this.log.warn(`panel: postMessage failed: ${String(e)}`));
  }

  private adopt(panel: vscode.WebviewPanel): void {
    for (const d of this.panelDisposables) d.dispose();
    this.panelDisposables = [];
    this.panel = panel;
    this.pump.attach(panel.visible);
    panel.webview.html = buildHtml(panel.webview, this.extensionUri);
    this.panelDisposables.push(
      panel.webview.onDidReceiveMessage((raw: unknown) => this.onMessage(raw)),
      panel.onDidChangeViewState(() => this.pump.setVisible(panel.visible)),
      panel.onDidDispose(() => {
        if (this.panel !== panel) return;
        this.panel = undefined;
        this.pump.detach();
        for (const d of this.panelDisposables) d.dispose();
        this.panelDisposables = [];
      }),
    );
  }

  private onMessage(raw: unknown): void {
    const r = FromPanel.safeParse(raw);
    if (!r.success) {
      this.log.warn(`panel: ignored an invalid message: ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    const msg = r.data;
    switch (msg.type) {
      case 'ready':
        this.pump.setVisible(this.panel?.visible ?? false);
        this.pump.setReady();
        this.handlers.onReady?.();
        break;
      case 'command':
        this.handlers.onCommand(msg.command);
        break;
      case 'openProbe':
        this.handlers.onOpenProbe(msg.boundary);
        break;
      default:
        this.handlers.onRequest?.(msg);
        break;
    }
  }

  dispose(): void {
    this.pump.detach();
    this.panel?.dispose();
    for (const d of this.panelDisposables) d.dispose();
  }
}

/** Scripts on, and nothing loadable but the bundles and media. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  return {
    enableScripts: true,
    enableCommandUris: false,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

export function buildHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  // A fresh crypto nonce per document (panelHtml puts it in the CSP and on the one script tag).
  const nonce = randomBytes(18).toString('base64');
  return panelHtml({
    nonce,
    cspSource: webview.cspSource,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js')).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'panel.css')).toString(),
  });
}

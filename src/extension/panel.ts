/**
 * The latency panel's host side. The extension host owns the data (an Aggregator); the webview only
 * draws. Protocol (src/core/protocol.ts): the webview says `ready`; the host answers with a full
 * `snapshot`, then sends `delta`s at most 10 times a second while the panel is visible. A hidden panel
 * costs nothing: no delta is computed or posted, and it gets a fresh snapshot when it shows again.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { FromPanel, type PanelState, type ToPanel } from '../core/protocol.ts';
import { panelHtml } from './panelHtml.ts';

export const PANEL_VIEW_TYPE = 'nslat.panel';
/** At most 10 updates per second. */
export const MIN_DELTA_INTERVAL_MS = 100;

/** Where the panel's data comes from (the session's Aggregator). */
export interface PanelSource {
  /** Full state; resets what counts as already sent. */
  panelState(): PanelState;
  /** What changed since the last panelState()/panelMessage() (a full snapshot when history was compacted). */
  panelMessage(): ToPanel;
  hasChanges(): boolean;
}

export type PanelCommand = Extract<FromPanel, { type: 'command' }>['command'];

export interface PanelHandlers {
  onCommand(command: PanelCommand): void;
  onOpenProbe(boundary: string): void;
}

export function emptyPanelState(message = 'No session: run "nslat: Start Stack Trace".'): PanelState {
  return {
    session: { host: '', state: 'stopped', message },
    stages: [],
    series: [],
    journeys: [],
    reloads: [],
    health: { events_per_s: 0, counters: {}, drops: {}, progs: [], programs: [], boundaries: [] },
  };
}

export class PanelController implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private panelDisposables: vscode.Disposable[] = [];
  private source: PanelSource | undefined;
  private ready = false;
  private timer: NodeJS.Timeout | undefined;
  private lastPost = 0;
  /** Counters for tests and the log: what was posted. */
  readonly stats = { snapshots: 0, deltas: 0 };

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly handlers: PanelHandlers,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  get visible(): boolean {
    return this.panel?.visible ?? false;
  }

  /** Opens the panel, or reveals it (without taking focus from an editor when `preserveFocus`). */
  show(preserveFocus = false): void {
    if (this.panel) {
      this.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      PANEL_VIEW_TYPE,
      'nslat: stack latency',
      { viewColumn: vscode.ViewColumn.Active, preserveFocus },
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
    this.source = source;
    this.sendSnapshot();
  }

  /** Something changed in the source: send a delta soon (at most 10/s), only while visible. */
  notify(): void {
    if (!this.panel || !this.ready || !this.panel.visible || this.timer) return;
    const wait = Math.max(0, this.lastPost + MIN_DELTA_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    if (!this.panel || !this.ready || !this.panel.visible || !this.source) return;
    if (!this.source.hasChanges()) return;
    const msg = this.source.panelMessage();
    this.post(msg);
    if (msg.type === 'delta') this.stats.deltas++;
    else this.stats.snapshots++;
  }

  private sendSnapshot(): void {
    if (!this.panel || !this.ready || !this.panel.visible) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // panelState() also marks everything as sent: later deltas start from here.
    const state = this.source ? this.source.panelState() : emptyPanelState();
    this.post({ type: 'snapshot', state });
    this.stats.snapshots++;
  }

  private post(msg: ToPanel): void {
    this.lastPost = Date.now();
    this.panel?.webview.postMessage(msg).then(undefined, (e: unknown) => this.log.warn(`panel: postMessage failed: ${String(e)}`));
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    this.ready = false;
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.svg');
    panel.webview.html = buildHtml(panel.webview, this.extensionUri);
    this.panelDisposables.push(
      panel.webview.onDidReceiveMessage((raw: unknown) => this.onMessage(raw)),
      panel.onDidChangeViewState(() => {
        if (panel.visible) this.sendSnapshot();
        else if (this.timer) {
          clearTimeout(this.timer);
          this.timer = undefined;
        }
      }),
      panel.onDidDispose(() => {
        if (this.panel === panel) {
          this.panel = undefined;
          this.ready = false;
          if (this.timer) clearTimeout(this.timer);
          this.timer = undefined;
          for (const d of this.panelDisposables) d.dispose();
          this.panelDisposables = [];
        }
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
        this.ready = true;
        this.sendSnapshot();
        break;
      case 'command':
        this.handlers.onCommand(msg.command);
        break;
      case 'openProbe':
        this.handlers.onOpenProbe(msg.boundary);
        break;
    }
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
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

function buildHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(18).toString('base64');
  return panelHtml({
    nonce,
    cspSource: webview.cspSource,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js')).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'panel.css')).toString(),
  });
}

/**
 * The sidebar's host list (activity bar → nslat → Hosts): the sessions of this window with their
 * state, then the hosts one can start on — this machine, recent SSH destinations, and the Host
 * aliases of the SSH config (nslat.sshConfigFile, else ~/.ssh/config). Inline buttons start, stop
 * and show the panel (the commands take the host as their argument).
 */
import * as vscode from 'vscode';
import { sshConfigHosts } from '../core/sshConfig.ts';
import { escapeMarkdown, LOCAL_HOST } from './labels.ts';
import { recentHosts } from './hostPicker.ts';
import type { HostRun, HostRuns } from './hosts.ts';
import { readSettings } from './settings.ts';

export const HOSTS_VIEW = 'nslat.hosts';

type Node =
  | { kind: 'group'; id: 'sessions' | 'hosts'; label: string }
  | { kind: 'session'; run: HostRun }
  | { kind: 'host'; host: string; source: 'this machine' | 'recent' | 'ssh config'; detail?: string | undefined };

const STATE_ICON: Record<HostRun['state'], [string, string | undefined]> = {
  starting: ['loading~spin', undefined],
  running: ['pulse', 'charts.green'],
  reloading: ['sync~spin', undefined],
  stopped: ['debug-stop', undefined],
  failed: ['error', 'errorForeground'],
};

/** The host a command was given: a tree node, a host string, or nothing. */
export function hostArgument(arg: unknown): string | undefined {
  if (typeof arg === 'string' && arg !== '') return arg;
  if (arg && typeof arg === 'object') {
    const n = arg as Partial<Extract<Node, { kind: 'session' }>> & Partial<Extract<Node, { kind: 'host' }>>;
    if (n.run?.host) return n.run.host;
    if (typeof n.host === 'string') return n.host;
  }
  return undefined;
}

export class HostsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly groups: Record<'sessions' | 'hosts', Node> = {
    sessions: { kind: 'group', id: 'sessions', label: 'Sessions' },
    hosts: { kind: 'group', id: 'hosts', label: 'Hosts' },
  };
  private readonly disposables: vscode.Disposable[] = [];
  /** Nodes by id, kept across refreshes (an inline button's command gets the node it was on). */
  private readonly nodes = new Map<string, Node>();
  /** Hosts, states and selection of the runs as last shown. */
  private runsSig = '';
  readonly view: vscode.TreeView<Node>;

  constructor(
    private readonly runs: HostRuns,
    private readonly state: vscode.Memento,
  ) {
    this.view = vscode.window.createTreeView(HOSTS_VIEW, { treeDataProvider: this, showCollapseAll: false });
    this.disposables.push(
      this.view,
      this.changed,
      runs.onDidChange(() => this.runsChanged()),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('nslat.sshConfigFile') && this.refresh()),
    );
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  /** Redrawn when a run comes, goes or changes state, or the selection moves; not on every
   *  snapshot (the rates are in the status bar and the panel): while a list refreshes, VS Code can
   *  hand an inline button's command no node at all. */
  private runsChanged(): void {
    const sig = `${this.runs.selected?.host ?? ''}\n${this.runs.runs().map((r) => `${r.host}\t${r.state}`).join('\n')}`;
    if (sig === this.runsSig) return;
    this.runsSig = sig;
    this.refresh();
  }

  /** The node of `id`, made once (see `nodes`). */
  private node<N extends Node>(id: string, make: () => N, update?: (n: N) => void): N {
    let n = this.nodes.get(id) as N | undefined;
    if (!n) {
      n = make();
      this.nodes.set(id, n);
    } else update?.(n);
    return n;
  }

  getChildren(node?: Node): Node[] {
    if (!node) return [this.groups.sessions, this.groups.hosts];
    if (node.kind !== 'group') return [];
    if (node.id === 'sessions') {
      return this.runs.runs().map((run) => this.node(`session:${run.host}`, () => ({ kind: 'session' as const, run }), (n) => (n.run = run)));
    }
    const out: Node[] = [this.node(`host:${LOCAL_HOST}`, () => ({ kind: 'host' as const, host: LOCAL_HOST, source: 'this machine' as const }))];
    const seen = new Set<string>([LOCAL_HOST]);
    type HostNode = Extract<Node, { kind: 'host' }>;
    const host = (h: string, source: 'recent' | 'ssh config', detail?: string) =>
      this.node<HostNode>(`host:${h}`, () => ({ kind: 'host', host: h, source, detail }), (n) => {
        n.source = source;
        n.detail = detail;
      });
    for (const h of recentHosts(this.state)) {
      if (!seen.has(h)) out.push(host(h, 'recent'));
      seen.add(h);
    }
    const settings = readSettings();
    for (const h of sshConfigHosts(settings.sshConfigFile)) {
      if (seen.has(h.alias)) continue;
      seen.add(h.alias);
      const detail = [h.user ? `${h.user}@` : '', h.hostName ?? '', h.port ? `:${h.port}` : ''].join('');
      const n = host(h.alias, 'ssh config', detail || undefined);
      out.push(n);
    }
    return out;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'group') {
      const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.Expanded);
      item.id = `group:${node.id}`;
      item.contextValue = `group-${node.id}`;
      if (node.id === 'sessions' && this.runs.runs().length === 0) item.description = 'none yet';
      return item;
    }
    if (node.kind === 'session') {
      const r = node.run;
      const item = new vscode.TreeItem(r.label, vscode.TreeItemCollapsibleState.None);
      item.id = `session:${r.host}`;
      const [icon, color] = STATE_ICON[r.state];
      item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
      const selected = this.runs.selected === r;
      item.description = `${r.state}${selected ? ' · in the panel' : ''}`;
      item.tooltip = new vscode.MarkdownString(`**${escapeMarkdown(r.label)}**: ${r.state}${r.message ? `\n\n${escapeMarkdown(r.message)}` : ''}`);
      item.contextValue = r.state === 'running' || r.state === 'starting' || r.state === 'reloading' ? 'session-live' : 'session-ended';
      item.command = { command: 'nslat.showPanel', title: 'Show in the Latency Panel', arguments: [r.host] };
      return item;
    }
    // "This machine" as the start picker says it (its session is "this machine", like every message).
    const item = new vscode.TreeItem(node.host === LOCAL_HOST ? 'This machine' : node.host, vscode.TreeItemCollapsibleState.None);
    item.id = `host:${node.host}`;
    item.iconPath = new vscode.ThemeIcon(node.host === LOCAL_HOST ? 'vm' : 'remote');
    item.description = node.detail ? `${node.source} · ${node.detail}` : node.source === 'this machine' ? '' : node.source;
    item.tooltip = node.host === LOCAL_HOST ? 'Trace the kernel this VS Code window runs on' : `Trace ${node.host} over SSH (${node.source})`;
    item.contextValue = 'host';
    return item;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

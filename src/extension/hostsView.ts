/**
 * The sidebar's host list (activity bar → nslat → Hosts): the sessions of this window with their
 * state, then the hosts one can start on — this machine, recent SSH destinations, and the Host
 * aliases of the SSH config (nslat.sshConfigFile, else ~/.ssh/config). Inline buttons start, stop
 * and show the panel (the commands take the host as their argument).
 */
import * as vscode from 'vscode';
import { sshConfigHosts } from '../core/sshConfig.ts';
import { escapeMarkdown, formatRate, LOCAL_HOST } from './labels.ts';
import { recentHosts } from './hostPicker.ts';
import type { HostRun, HostRuns } from './hosts.ts';
import { readSettings } from './settings.ts';

export const HOSTS_VIEW = 'nslat.hosts';

type Node =
  | { kind: 'group'; id: 'sessions' | 'hosts'; label: string }
  | { kind: 'session'; run: HostRun }
  | { kind: 'host'; host: string; source: 'this machine' | 'recent' | 'ssh config'; detail?: string };

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
  readonly view: vscode.TreeView<Node>;

  constructor(
    private readonly runs: HostRuns,
    private readonly state: vscode.Memento,
  ) {
    this.view = vscode.window.createTreeView(HOSTS_VIEW, { treeDataProvider: this, showCollapseAll: false });
    this.disposables.push(
      this.view,
      this.changed,
      runs.onDidChange(() => this.refresh()),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('nslat.sshConfigFile') && this.refresh()),
    );
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  getChildren(node?: Node): Node[] {
    if (!node) return [this.groups.sessions, this.groups.hosts];
    if (node.kind !== 'group') return [];
    if (node.id === 'sessions') return this.runs.runs().map((run) => ({ kind: 'session', run }));
    const out: Node[] = [{ kind: 'host', host: LOCAL_HOST, source: 'this machine' }];
    const seen = new Set<string>([LOCAL_HOST]);
    for (const h of recentHosts(this.state)) {
      if (!seen.has(h)) out.push({ kind: 'host', host: h, source: 'recent' });
      seen.add(h);
    }
    const settings = readSettings();
    for (const h of sshConfigHosts(settings.sshConfigFile)) {
      if (seen.has(h.alias)) continue;
      seen.add(h.alias);
      const detail = [h.user ? `${h.user}@` : '', h.hostName ?? '', h.port ? `:${h.port}` : ''].join('');
      out.push({ kind: 'host', host: h.alias, source: 'ssh config', ...(detail ? { detail } : {}) });
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
      item.description = `${r.state}${r.state === 'running' ? ` · ${formatRate(r.eventsPerS)} ev/s` : ''}${selected ? ' · in the panel' : ''}`;
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

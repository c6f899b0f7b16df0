/** The status bar item: host · state · events/s; a click shows the panel. */
import * as vscode from 'vscode';
import type { SessionInfo } from '../core/protocol.ts';

const ICON: Record<SessionInfo['state'], string> = {
  starting: '$(loading~spin)',
  running: '$(pulse)',
  reloading: '$(sync~spin)',
  stopped: '$(debug-stop)',
  failed: '$(error)',
};

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '0';
  if (perSecond < 1000) return perSecond < 10 ? perSecond.toFixed(1) : String(Math.round(perSecond));
  if (perSecond < 1e6) return `${(perSecond / 1e3).toFixed(perSecond < 1e4 ? 1 : 0)}k`;
  return `${(perSecond / 1e6).toFixed(1)}M`;
}

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor(showPanelCommand: string) {
    this.item = vscode.window.createStatusBarItem('nslat.session', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'nslat session';
    this.item.command = showPanelCommand;
  }

  update(host: string, state: SessionInfo['state'], eventsPerSecond: number, message?: string): void {
    const shown = host === 'local' ? 'this machine' : host;
    const rate = state === 'running' || state === 'reloading' ? ` · ${formatRate(eventsPerSecond)} ev/s` : '';
    this.item.text = `${ICON[state]} nslat: ${shown} · ${state}${rate}`;
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown(`**nslat** on \`${shown}\`: ${state}`);
    if (message) tip.appendMarkdown(`\n\n${message.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&')}`);
    tip.appendMarkdown('\n\nClick to show the latency panel.');
    this.item.tooltip = tip;
    this.item.backgroundColor = state === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.show();
  }

  hide(): void {
    this.item.hide();
  }

  dispose(): void {
    this.item.dispose();
  }
}

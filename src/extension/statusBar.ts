/** The status bar item: host · state · events/s; a click shows the panel. */
import * as vscode from 'vscode';
import type { SessionInfo } from '../core/protocol.ts';
import { escapeMarkdown, formatRate, hostLabel } from './labels.ts';

const ICON: Record<SessionInfo['state'], string> = {
  starting: '$(loading~spin)',
  running: '$(pulse)',
  reloading: '$(sync~spin)',
  stopped: '$(debug-stop)',
  failed: '$(error)',
};

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor(showPanelCommand: string) {
    this.item = vscode.window.createStatusBarItem('nslat.session', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'nslat session';
    this.item.command = showPanelCommand;
  }

  /** The host the panel shows; `others`: how many other hosts are tracing. */
  update(host: string, state: SessionInfo['state'], eventsPerSecond: number, message?: string, others = 0): void {
    const shown = hostLabel(host);
    const rate = state === 'running' || state === 'reloading' ? ` · ${formatRate(eventsPerSecond)} ev/s` : '';
    const more = others > 0 ? ` (+${others} host${others === 1 ? '' : 's'})` : '';
    this.item.text = `${ICON[state]} nslat: ${shown} · ${state}${rate}${more}`;
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown(`**nslat** on \`${shown}\`: ${state}`);
    if (message) tip.appendMarkdown(`\n\n${escapeMarkdown(message)}`);
    if (others > 0) tip.appendMarkdown(`\n\n${others} other host${others === 1 ? ' is' : 's are'} tracing: see the nslat sidebar.`);
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

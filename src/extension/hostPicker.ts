/** "Which machine?" for Start Stack Trace: this machine, recent hosts, or a new user@host. */
import * as vscode from 'vscode';
import { LOCAL_HOST, validateDestination } from './labels.ts';

export { LOCAL_HOST };

const RECENT_KEY = 'nslat.recentHosts';
const MAX_RECENT = 8;

export function recentHosts(state: vscode.Memento): string[] {
  const v = state.get<unknown>(RECENT_KEY, []);
  return Array.isArray(v) ? v.filter((h): h is string => typeof h === 'string' && validateDestination(h) === undefined) : [];
}

export async function rememberHost(state: vscode.Memento, host: string): Promise<void> {
  if (host === LOCAL_HOST) return;
  const list = [host, ...recentHosts(state).filter((h) => h !== host)].slice(0, MAX_RECENT);
  await state.update(RECENT_KEY, list);
}

interface HostItem extends vscode.QuickPickItem {
  host?: string;
  enter?: boolean;
}

/** Resolves 'local', an SSH destination, or undefined when the user cancels. */
export async function pickHost(state: vscode.Memento, configured: string): Promise<string | undefined> {
  const items: HostItem[] = [
    { label: '$(vm) This machine', description: 'trace the kernel this VS Code window runs on', host: LOCAL_HOST },
  ];
  const recent = recentHosts(state);
  const extra = configured && configured !== LOCAL_HOST && !recent.includes(configured) ? [configured] : [];
  const remote = [...extra, ...recent];
  if (remote.length > 0) {
    items.push({ label: 'Recent', kind: vscode.QuickPickItemKind.Separator });
    for (const h of remote) items.push({ label: `$(remote) ${h}`, description: h === configured ? 'nslat.host' : 'over SSH', host: h });
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
  items.push({ label: '$(add) Enter user@host…', description: 'any SSH destination or Host alias', enter: true });

  const picked = await vscode.window.showQuickPick(items, {
    title: 'nslat: Start Stack Trace on…',
    placeHolder: 'Pick the machine whose network stack to trace',
    ignoreFocusOut: true,
  });
  if (!picked) return undefined;
  if (picked.host) return picked.host;
  const typed = await vscode.window.showInputBox({
    title: 'nslat: SSH destination',
    prompt: 'user@host, host:port or a Host alias from your SSH config (key-based login; the helper needs root or sudo there)',
    placeHolder: 'user@host',
    ignoreFocusOut: true,
    validateInput: validateDestination,
  });
  return typed?.trim() || undefined;
}

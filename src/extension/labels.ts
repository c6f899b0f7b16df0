/** Pure helpers of the extension shell (no vscode import, so plain Node tests cover them). */
import type { PreflightResult } from '../core/preflight.ts';

export const LOCAL_HOST = 'local';

/** user@host, host, host:port, user@host:port, [v6]:port, or an ssh config alias; no options, no spaces. */
const DESTINATION = /^(?:[A-Za-z0-9._][A-Za-z0-9._-]{0,31}@)?(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,252}|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/** An error message for the "Enter user@host…" box, or undefined when the destination is acceptable. */
export function validateDestination(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return 'Enter an SSH destination: user@host, host:port or a Host alias from your SSH config';
  if (v.startsWith('-')) return 'A destination cannot start with "-"';
  if (/\s/.test(v)) return 'A destination has no spaces';
  if (!DESTINATION.test(v)) return 'Not a destination: use user@host, host, host:port or an SSH config alias';
  const port = /:(\d+)$/.exec(v);
  if (port && (Number(port[1]) < 1 || Number(port[1]) > 65535)) return 'The port must be 1-65535';
  return undefined;
}

/** Text for a MarkdownString, with Markdown's special characters escaped. */
export function escapeMarkdown(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

export function hostLabel(host: string): string {
  return host === LOCAL_HOST || host === '' ? 'this machine' : host;
}

/** 0, 7.5, 950, 1.2k, 12k, 3.4M */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '0';
  if (perSecond < 1000) return perSecond < 10 ? perSecond.toFixed(1) : String(Math.round(perSecond));
  if (perSecond < 1e6) return `${(perSecond / 1e3).toFixed(perSecond < 1e4 ? 1 : 0)}k`;
  return `${(perSecond / 1e6).toFixed(1)}M`;
}

/** The distinct install commands a failed preflight asks for (required checks only). */
export function installCommands(pre: Pick<PreflightResult, 'rows'>): string[] {
  const fixes = pre.rows.filter((r) => !r.ok && r.required !== false && r.fix).map((r) => r.fix!);
  return [...new Set(fixes)];
}

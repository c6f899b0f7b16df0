// The panel's copy of what concerns several hosts and comparisons: the host list, the stage on the
// hosts set side by side, and the last before/after comparison. Pure (no DOM), like store.ts.
import type { Comparison, HostEntry, HostStage, ToPanel } from '../src/core/protocol.ts';

export type MultiMessage = Extract<ToPanel, { type: 'hosts' | 'hostCompare' | 'comparison' }>;

export function isMultiMessage(m: unknown): m is MultiMessage {
  if (typeof m !== 'object' || m === null) return false;
  const t = (m as { type?: unknown }).type;
  if (t === 'hosts') return Array.isArray((m as { hosts?: unknown }).hosts);
  if (t === 'hostCompare') return Array.isArray((m as { hosts?: unknown }).hosts) && typeof (m as { key?: unknown }).key === 'string';
  return t === 'comparison';
}

export class MultiStore {
  hosts: HostEntry[] = [];
  /** The host the panel shows. */
  selected = '';
  hostCompare: { key: string; hosts: HostStage[] } | undefined;
  comparison: Comparison | undefined;
  comparisonError: string | undefined;
  /** Bumped by every comparison that arrives (a view shows a new one from the top). */
  comparisonSeq = 0;

  apply(m: MultiMessage): void {
    switch (m.type) {
      case 'hosts':
        this.hosts = m.hosts;
        this.selected = m.selected;
        break;
      case 'hostCompare':
        this.hostCompare = { key: m.key, hosts: m.hosts };
        break;
      case 'comparison':
        this.comparison = m.comparison;
        this.comparisonError = m.comparison ? undefined : (m.error ?? 'no comparison');
        this.comparisonSeq++;
        break;
    }
  }

  /** The host entry the panel shows. */
  selectedEntry(): HostEntry | undefined {
    return this.hosts.find((h) => h.host === this.selected);
  }
}

// The host selector: which host's session the panel shows, among every host traced in this window,
// each with its state. Choosing one asks the extension for that host's data (a new snapshot).
import type { FromPanel } from '../../src/core/protocol.ts';
import { formatCount } from '../../src/core/format.ts';
import { clear, h, setText } from '../dom.ts';
import type { MultiStore } from '../multi.ts';
import type { View } from '../view.ts';

export class HostBar implements View {
  readonly el: HTMLElement;
  private readonly select = h('select', { id: 'host-select' });
  private readonly summary = h('span', { class: 'muted', id: 'host-summary' });

  constructor(
    private readonly multi: MultiStore,
    post: (m: FromPanel) => void,
  ) {
    this.el = h('div', { class: 'toolbar hostbar', id: 'hostbar', hidden: true }, h('label', { for: 'host-select' }, 'Host '), this.select, this.summary);
    this.select.addEventListener('change', () => post({ type: 'selectHost', host: this.select.value }));
  }

  render(): void {
    const hosts = this.multi.hosts;
    this.el.hidden = hosts.length === 0;
    const sig = hosts.map((x) => `${x.host}\t${x.label}\t${x.state}\t${x.message ?? ''}`).join('\n');
    if (this.select.dataset.sig !== sig) {
      clear(this.select);
      for (const x of hosts) {
        const o = h('option', { value: x.host, title: x.message ?? '' }, `${x.label} — ${x.state}`);
        o.dataset.state = x.state;
        this.select.append(o);
      }
      this.select.dataset.sig = sig;
    }
    if (this.select.value !== this.multi.selected) this.select.value = this.multi.selected;
    const running = hosts.filter((x) => x.state === 'running' || x.state === 'reloading');
    const failed = hosts.filter((x) => x.state === 'failed');
    const rate = running.reduce((a, x) => a + (x.events_per_s ?? 0), 0);
    setText(this.summary, hosts.length > 1 ? ` ${hosts.length} hosts: ${running.length} tracing (${formatCount(Math.round(rate))} events/s)${failed.length ? `, ${failed.length} failed` : ''}` : '');
  }
}

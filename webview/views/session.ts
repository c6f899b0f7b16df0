// The header (host, session state, kernel, session commands), the session's message and the banner
// that says why there is nothing to show yet.
import type { FromPanel } from '../../src/core/protocol.ts';
import { h, setText } from '../dom.ts';
import type { Dirty, Store } from '../store.ts';
import type { View } from '../view.ts';

type Command = Extract<FromPanel, { type: 'command' }>['command'];
const COMMANDS: readonly Command[] = ['reload', 'openProbes', 'export', 'stop'];

export class SessionView implements View {
  private readonly host = h('span', { class: 'host' });
  private readonly state = h('span', { class: 'state', role: 'status' });
  private readonly kernel = h('span', { class: 'kernel' });
  readonly message = h('p', { class: 'session-message', hidden: true });
  readonly banner = h('p', { class: 'banner empty', id: 'banner', role: 'status' });
  readonly header: HTMLElement;
  readonly actions;

  /** `app` gets the class `no-data` until the first snapshot. */
  constructor(private readonly app: HTMLElement, post: (m: FromPanel) => void) {
    const button = (command: Command, label: string, title: string) =>
      h('button', { type: 'button', class: command === 'stop' ? 'secondary' : '', 'data-action': 'command', 'data-value': command, title }, label);
    this.header = h(
      'header',
      { class: 'top' },
      h('h1', {}, 'nslat ', this.host),
      this.state,
      this.kernel,
      h(
        'div',
        { class: 'actions', role: 'toolbar', 'aria-label': 'Session' },
        button('reload', 'Reload probes', 'Rebuild and reload the probes (make-before-break)'),
        button('openProbes', 'Open probes', 'Open the probe sources of this session'),
        button('export', 'Export', 'Export the trace'),
        button('stop', 'Stop', 'Stop the session'),
      ),
    );
    this.actions = {
      command: (v: string) => {
        if ((COMMANDS as readonly string[]).includes(v)) post({ type: 'command', command: v as Command });
      },
    };
  }

  render(store: Store, dirty: Dirty): void {
    if (dirty.session || dirty.health || dirty.stages) this.renderHeader(store);
    this.renderBanner(store);
  }

  private renderHeader(store: Store): void {
    const s = store.session;
    setText(this.host, s ? `— ${s.host}` : '');
    setText(this.state, s ? (s.trace ? 'saved trace' : s.state) : store.loaded ? '' : 'waiting');
    this.state.className = `state state-${s?.state ?? 'waiting'}`;
    setText(this.kernel, s?.kernel ? `kernel ${s.kernel}` : '');
    this.message.hidden = !s?.message;
    setText(this.message, s?.message ?? '');
    this.message.className = `session-message ${s?.state === 'failed' ? 'error' : ''}`;
    const running = s?.state === 'running' || s?.state === 'reloading' || s?.state === 'starting';
    for (const b of this.header.querySelectorAll<HTMLButtonElement>('button[data-action="command"]')) {
      b.disabled = b.dataset.value === 'export' ? !store.loaded : !running;
    }
  }

  /** Rendered every frame: whether the store is loaded changes with any message. */
  private renderBanner(store: Store): void {
    let text = '';
    const state = store.session?.state;
    if (!store.loaded) text = 'Waiting for the first snapshot from the session…';
    else if (store.stages.size === 0) {
      text =
        state === 'starting' ? 'Starting the session: no data yet.'
        : state === 'failed' ? 'The session failed before any packet was measured.'
        : state === 'stopped' ? 'The session stopped before any packet was measured.'
        : 'The session is running but no packet has crossed an attached boundary yet. Send some traffic.';
    }
    this.banner.hidden = !text;
    setText(this.banner, text);
    // Before the first snapshot the views have nothing to show: only the banner does.
    this.app.classList.toggle('no-data', !store.loaded);
  }
}

/**
 * When the panel gets what (no vscode here, so plain Node tests cover it):
 *  - a full `snapshot` when the webview says `ready` (also after it was hidden: VS Code reloads a
 *    hidden webview's document when it shows again), and when the data source changes (new session);
 *  - then `delta`s, at most one per `minIntervalMs` (100 ms: 10 updates a second), coalescing every
 *    change in between;
 *  - nothing at all while the panel is hidden or not ready: no delta is computed or posted.
 */
import type { PanelState, ToPanel } from '../core/protocol.ts';

/** Where the panel's data comes from (the session's Aggregator). */
export interface PanelSource {
  /** Full state; resets what counts as already sent. */
  panelState(): PanelState;
  /** What changed since the last panelState()/panelMessage() (a full snapshot when history was compacted). */
  panelMessage(): ToPanel;
  hasChanges(): boolean;
}

export interface PumpOptions {
  minIntervalMs?: number;
  now?: () => number;
  /** The state shown without a source (no session). */
  empty: () => PanelState;
  /** false (the default, as PanelController creates it): VS Code drops a hidden webview's document
   *  and loads it anew when shown, so the snapshot waits for the new document's `ready`. */
  retainedWhenHidden?: boolean;
}

export class PanelPump {
  private source: PanelSource | undefined;
  private ready = false;
  private visible = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastPost = -Infinity;
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  readonly stats = { snapshots: 0, deltas: 0 };

  constructor(
    private readonly post: (msg: ToPanel) => void,
    private readonly opts: PumpOptions,
  ) {
    this.minIntervalMs = opts.minIntervalMs ?? 100;
    this.now = opts.now ?? Date.now;
  }

  /** A new webview document (panel created or restored): wait for its `ready`. */
  attach(visible: boolean): void {
    this.cancel();
    this.ready = false;
    this.visible = visible;
  }

  detach(): void {
    this.cancel();
    this.ready = false;
    this.visible = false;
  }

  setReady(): void {
    this.ready = true;
    this.snapshot();
  }

  setVisible(visible: boolean): void {
    const was = this.visible;
    this.visible = visible;
    if (!visible) {
      this.cancel();
      if (!this.opts.retainedWhenHidden) this.ready = false;
    } else if (!was) this.snapshot();
  }

  setSource(source: PanelSource | undefined): void {
    this.source = source;
    this.snapshot();
  }

  /** The source changed: schedule a delta (coalesced, rate-limited), only while someone looks. */
  notify(): void {
    if (!this.ready || !this.visible || this.timer !== undefined) return;
    const wait = Math.max(0, this.lastPost + this.minIntervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    if (!this.ready || !this.visible || !this.source || !this.source.hasChanges()) return;
    const msg = this.source.panelMessage();
    this.send(msg);
  }

  private snapshot(): void {
    if (!this.ready || !this.visible) return;
    this.cancel();
    this.send({ type: 'snapshot', state: this.source ? this.source.panelState() : this.opts.empty() });
  }

  private send(msg: ToPanel): void {
    this.lastPost = this.now();
    if (msg.type === 'delta') this.stats.deltas++;
    else if (msg.type === 'snapshot') this.stats.snapshots++;
    this.post(msg);
  }

  private cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

// Range selection on the time chart's axis starts a before/after comparison. Dragging across the
// plot selects a range:
//  - a range across a reload mark compares the intervals before the mark with those after it
//    (A | B, split at the mark nearest the range's middle);
//  - otherwise the range becomes A, and the next one B.
// The ranges stay shaded on the chart (TimeOverlay); Escape drops a pending A.
import type { Chart } from 'chart.js';
import type { FromPanel, TimeRange } from '../src/core/protocol.ts';
import { formatClock } from '../src/core/format.ts';
import { h, setText } from './dom.ts';
import type { Store } from './store.ts';
import type { TimeOverlay } from './timeOverlay.ts';

/** A drag shorter than this (px) is a click, not a range. */
const MIN_DRAG_PX = 5;

function label(r: TimeRange): string {
  return `${formatClock(r.from_ms)}–${formatClock(r.to_ms)}`;
}

export class RangeSelect {
  readonly hint = h('p', { class: 'readout range-hint', id: 'range-hint', 'aria-live': 'polite' }, 'Drag across the chart to compare two time ranges (across a reload mark: before with after).');
  private pendingA: TimeRange | undefined;
  private drag: { x0: number; id: number } | undefined;

  constructor(
    private readonly chart: Chart<'line'>,
    private readonly overlay: TimeOverlay,
    private readonly store: Store,
    private readonly post: (m: FromPanel) => void,
    /** A comparison was asked for: show where it will appear. */
    private readonly onCompare: () => void,
  ) {
    const canvas = chart.canvas;
    (canvas.parentElement ?? canvas).after(this.hint);
    canvas.style.cursor = 'crosshair';
    canvas.addEventListener('pointerdown', (ev) => this.down(ev));
    canvas.addEventListener('pointermove', (ev) => this.move(ev));
    canvas.addEventListener('pointerup', (ev) => this.up(ev));
    canvas.addEventListener('pointercancel', () => this.cancel());
    window.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && (this.pendingA || this.drag)) this.clear();
    });
  }

  private timeAt(px: number): number {
    const x = this.chart.scales.x!;
    const t = x.getValueForPixel(px) ?? x.min;
    return Math.max(x.min, Math.min(x.max, t));
  }

  private inPlot(ev: PointerEvent): boolean {
    const a = this.chart.chartArea;
    return !!a && ev.offsetX >= a.left && ev.offsetX <= a.right && ev.offsetY >= a.top && ev.offsetY <= a.bottom;
  }

  private down(ev: PointerEvent): void {
    if (ev.button !== 0 || this.store.series.length < 2 || !this.inPlot(ev)) return;
    this.drag = { x0: ev.offsetX, id: ev.pointerId };
    this.chart.canvas.setPointerCapture(ev.pointerId);
  }

  private move(ev: PointerEvent): void {
    if (!this.drag) return;
    const r = this.rangeOf(this.drag.x0, ev.offsetX);
    this.overlay.setRanges([...(this.pendingA ? [{ ...this.pendingA, label: 'A', color: 0 }] : []), { ...r, label: this.pendingA ? 'B' : '', color: this.pendingA ? 1 : 0 }]);
  }

  private up(ev: PointerEvent): void {
    const d = this.drag;
    if (!d) return;
    this.drag = undefined;
    if (this.chart.canvas.hasPointerCapture(d.id)) this.chart.canvas.releasePointerCapture(d.id);
    if (Math.abs(ev.offsetX - d.x0) < MIN_DRAG_PX) {
      this.show();
      return;
    }
    this.select(this.rangeOf(d.x0, ev.offsetX));
  }

  private rangeOf(x0: number, x1: number): TimeRange {
    const a = this.timeAt(x0);
    const b = this.timeAt(x1);
    return { from_ms: Math.min(a, b), to_ms: Math.max(a, b) };
  }

  /** A range was selected (by a drag, or by a test through the same path). */
  select(r: TimeRange): void {
    const marks = this.store.reloads.filter((m) => m.t_ms > r.from_ms && m.t_ms < r.to_ms);
    if (!this.pendingA && marks.length) {
      const mid = (r.from_ms + r.to_ms) / 2;
      const mark = marks.reduce((best, m) => (Math.abs(m.t_ms - mid) < Math.abs(best.t_ms - mid) ? m : best));
      const a = { from_ms: r.from_ms, to_ms: mark.t_ms };
      const b = { from_ms: mark.t_ms, to_ms: r.to_ms };
      this.overlay.setRanges([{ ...a, label: 'A', color: 0 }, { ...b, label: 'B', color: 1 }]);
      setText(this.hint, `Comparing A ${label(a)} (before the ${mark.ok ? '' : 'failed '}${mark.slot} reload) with B ${label(b)} (after it): see the Compare tab.`);
      this.post({ type: 'compareRanges', a, b });
      this.onCompare();
      return;
    }
    if (!this.pendingA) {
      this.pendingA = r;
      this.overlay.setRanges([{ ...r, label: 'A', color: 0 }]);
      setText(this.hint, `A: ${label(r)}. Drag another range to compare with it (B); Escape clears.`);
      return;
    }
    const a = this.pendingA;
    this.pendingA = undefined;
    this.overlay.setRanges([{ ...a, label: 'A', color: 0 }, { ...r, label: 'B', color: 1 }]);
    setText(this.hint, `Comparing A ${label(a)} with B ${label(r)}: see the Compare tab.`);
    this.post({ type: 'compareRanges', a, b: r });
    this.onCompare();
  }

  private cancel(): void {
    this.drag = undefined;
    this.show();
  }

  /** Back to what is selected (a drag that ended as a click). */
  private show(): void {
    this.overlay.setRanges(this.pendingA ? [{ ...this.pendingA, label: 'A', color: 0 }] : this.overlay.ranges.filter((x) => x.label !== ''));
  }

  clear(): void {
    this.pendingA = undefined;
    this.drag = undefined;
    this.overlay.setRanges([]);
    setText(this.hint, 'Drag across the chart to compare two time ranges (across a reload mark: before with after).');
  }
}

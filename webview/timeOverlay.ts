// What is drawn over the time chart besides its lines: the ranges of a range selection (A, B, the
// one being dragged) and the trace scrubber's cursor. Views write it; the chart's plugin draws it.
import type { Plugin } from 'chart.js';
import type { Theme } from './theme.ts';
import { withAlpha } from './theme.ts';

export interface OverlayRange {
  from_ms: number;
  to_ms: number;
  label: string;
  /** Index into the theme's palette. */
  color: number;
}

export class TimeOverlay {
  ranges: OverlayRange[] = [];
  /** Wall-clock ms of the scrubber's interval. */
  cursor: number | undefined;
  private chart: { draw(): void } | undefined;

  /** The chart to redraw when the overlay changes (no new layout: only a draw). */
  attach(chart: { draw(): void }): void {
    this.chart = chart;
  }

  setRanges(ranges: OverlayRange[]): void {
    this.ranges = ranges;
    this.chart?.draw();
  }

  setCursor(t_ms: number | undefined): void {
    if (this.cursor === t_ms) return;
    this.cursor = t_ms;
    this.chart?.draw();
  }
}

/** Draws an overlay's ranges (shaded, labelled) and cursor (a solid line) over a chart with a
 *  linear time axis `x`. */
export function overlayPlugin(get: () => { overlay: TimeOverlay | undefined; theme: Theme | undefined }): Plugin<'line'> {
  return {
    id: 'nslatOverlay',
    afterDatasetsDraw(chart) {
      const { overlay, theme } = get();
      const x = chart.scales.x;
      if (!overlay || !theme || !x) return;
      const area = chart.chartArea;
      const ctx = chart.ctx;
      ctx.save();
      ctx.font = `${Math.max(10, theme.fontSize - 2)}px ${theme.fontFamily}`;
      ctx.textBaseline = 'bottom';
      for (const r of overlay.ranges) {
        const x0 = Math.max(area.left, x.getPixelForValue(Math.min(r.from_ms, r.to_ms)));
        const x1 = Math.min(area.right, x.getPixelForValue(Math.max(r.from_ms, r.to_ms)));
        if (!(x1 > x0)) continue;
        const color = theme.palette[r.color % theme.palette.length]!;
        ctx.fillStyle = withAlpha(color, 0.18);
        ctx.fillRect(x0, area.top, x1 - x0, area.bottom - area.top);
        ctx.strokeStyle = color;
        ctx.lineWidth = 1;
        ctx.strokeRect(Math.round(x0) + 0.5, area.top + 0.5, Math.max(0, Math.round(x1 - x0) - 1), area.bottom - area.top - 1);
        if (r.label) {
          ctx.fillStyle = color;
          ctx.fillText(r.label, x0 + 3, area.bottom - 2);
        }
      }
      if (overlay.cursor !== undefined && overlay.cursor >= x.min && overlay.cursor <= x.max) {
        const px = Math.round(x.getPixelForValue(overlay.cursor)) + 0.5;
        ctx.strokeStyle = theme.accent;
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
      }
      ctx.restore();
    },
  };
}

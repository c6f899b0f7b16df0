// Latency heatmap: time (one column per interval) × log2 bucket, drawn on a plain canvas.
// Cells go into an ImageData of intervals × buckets that is scaled up once with smoothing off,
// so ten minutes of history at one interval per second (600 × 32 cells) costs well under a millisecond.
import type { IntervalPoint, ReloadMark } from '../src/core/protocol.ts';
import { type Unit, bucketLowLabel, formatClock } from '../src/core/format.ts';
import type { Theme } from './theme.ts';

export interface HeatmapHit {
  t_ms: number;
  bucket: number;
  count: number;
}

interface Layout {
  x: number;
  y: number;
  w: number;
  h: number;
  lo: number;
  hi: number;
  first: number;
  n: number;
}

/** Cells of the last draw, kept so the next draw only computes the intervals that arrived since. */
interface Cells {
  key: string;
  lo: number;
  hi: number;
  max: number;
  lut: Uint8ClampedArray;
  /** The intervals the columns show, oldest first (identity: the store keeps its point objects). */
  cols: IntervalPoint[];
  img: ImageData;
}

const LUT_STEPS = 1024;

export class Heatmap {
  private readonly cells = document.createElement('canvas');
  private layout: Layout | undefined;
  private series: IntervalPoint[] = [];
  private key = '';
  private kept: Cells | undefined;
  private lutFor: Theme | undefined;
  private lut = new Uint8ClampedArray(0);
  private labelWidth = { font: '', w: 0 };
  /** Per interval of the stage `statsKey`: [lowest non-empty bucket, highest, highest count]. */
  private stats = new WeakMap<IntervalPoint, number[]>();
  private statsKey = '';
  /** CSS size of the canvas, from a ResizeObserver (reading clientWidth in draw would force a layout). */
  private size: { w: number; h: number } | undefined;

  constructor(readonly canvas: HTMLCanvasElement) {
    new ResizeObserver((entries) => {
      const r = entries.at(-1)?.contentRect;
      if (r) this.size = r.width > 0 && r.height > 0 ? { w: r.width, h: r.height } : undefined;
    }).observe(canvas);
  }

  /** Colour ramp low → mid → high, indexed by the cell's log-scaled intensity (0..LUT_STEPS-1). */
  private ramp(theme: Theme): Uint8ClampedArray {
    if (this.lutFor === theme) return this.lut;
    const lut = new Uint8ClampedArray(LUT_STEPS * 3);
    const [l0, l1, l2] = [theme.heatLow, theme.heatMid, theme.heatHigh];
    for (let k = 0; k < LUT_STEPS; k++) {
      const t = k / (LUT_STEPS - 1);
      const [a, z, u] = t < 0.5 ? [l0, l1, t * 2] : [l1, l2, (t - 0.5) * 2];
      for (let c = 0; c < 3; c++) lut[k * 3 + c] = a[c]! + (z[c]! - a[c]!) * u;
    }
    this.lutFor = theme;
    this.lut = lut;
    this.kept = undefined;
    return lut;
  }

  /** Draws the heatmap of `key`; returns false when there is nothing to draw. */
  draw(series: IntervalPoint[], key: string, reloads: ReloadMark[], theme: Theme, unit: Unit, maxColumns = 600): boolean {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return false;
    const dpr = window.devicePixelRatio || 1;
    // Before the observer first reports (or while the card was hidden) the size is read once.
    this.size ??= this.canvas.clientWidth > 0 ? { w: this.canvas.clientWidth, h: this.canvas.clientHeight } : undefined;
    const cssW = Math.max(1, this.size?.w ?? 1);
    const cssH = Math.max(1, this.size?.h ?? 1);
    if (this.canvas.width !== Math.round(cssW * dpr) || this.canvas.height !== Math.round(cssH * dpr)) {
      this.canvas.width = Math.round(cssW * dpr);
      this.canvas.height = Math.round(cssH * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    this.layout = undefined;
    this.series = series;
    this.key = key;

    const first = Math.max(0, series.length - maxColumns);
    const n = series.length - first;
    let lo = Infinity;
    let hi = -Infinity;
    let max = 0;
    // Lowest and highest non-empty bucket and the highest count of each interval, computed once per
    // interval and stage (the store never changes a point it keeps).
    if (this.statsKey !== key) {
      this.stats = new WeakMap();
      this.statsKey = key;
    }
    for (let i = first; i < series.length; i++) {
      const p = series[i]!;
      let st = this.stats.get(p);
      if (!st) {
        st = [Infinity, -Infinity, 0];
        const b = p.stages[key]?.[3];
        if (b) {
          for (let j = 0; j < b.length; j++) {
            const c = b[j]!;
            if (c > 0) {
              if (j < st[0]!) st[0] = j;
              if (j > st[1]!) st[1] = j;
              if (c > st[2]!) st[2] = c;
            }
          }
        }
        this.stats.set(p, st);
      }
      if (st[0]! < lo) lo = st[0]!;
      if (st[1]! > hi) hi = st[1]!;
      if (st[2]! > max) max = st[2]!;
    }
    if (n === 0 || max === 0) {
      this.kept = undefined;
      return false;
    }
    // One empty bucket of headroom each side, and at least six rows so a narrow band still reads.
    lo = Math.max(0, lo - 1);
    hi = Math.min(31, hi + 1);
    while (hi - lo + 1 < 6) {
      if (lo > 0) lo--;
      if (hi - lo + 1 < 6 && hi < 31) hi++;
      if (lo === 0 && hi === 31) break;
    }
    const rows = hi - lo + 1;

    // Cells: column i = interval, row 0 = highest bucket. When only new intervals arrived (and the
    // rows and the colour scale are the same), the kept columns are shifted left and only the new
    // ones are computed; otherwise every column is.
    const lut = this.ramp(theme);
    const old = this.kept;
    let reuse = 0; // columns taken over from the last draw
    let from = 0; // their first index in the old image
    if (old && old.key === key && old.lo === lo && old.hi === hi && old.max === max && old.lut === lut) {
      const k = old.cols.indexOf(series[first]!);
      if (k >= 0) {
        const m = Math.min(old.cols.length - k, n);
        if (old.cols[k + m - 1] === series[first + m - 1]) {
          reuse = m;
          from = k;
        }
      }
    }
    let img: ImageData;
    if (old && reuse > 0 && old.img.width === n) {
      img = old.img;
      if (from > 0) {
        const px = img.data;
        for (let r = 0; r < rows; r++) px.copyWithin(r * n * 4, (r * n + from) * 4, (r * n + from + reuse) * 4);
      }
    } else {
      img = new ImageData(n, rows);
      if (old && reuse > 0) {
        const src = old.img.data;
        const ow = old.img.width;
        for (let r = 0; r < rows; r++) img.data.set(src.subarray((r * ow + from) * 4, (r * ow + from + reuse) * 4), r * n * 4);
      }
    }
    const px = img.data;
    const lmax = Math.log1p(max);
    const scale = (LUT_STEPS - 1) / lmax;
    for (let i = reuse; i < n; i++) {
      const b = series[first + i]!.stages[key]?.[3];
      for (let r = 0; r < rows; r++) {
        const o = (r * n + i) * 4;
        const c = b?.[hi - r] ?? 0;
        if (c <= 0) {
          px[o + 3] = 0;
          continue;
        }
        const q = Math.round(Math.log1p(c) * scale) * 3;
        px[o] = lut[q]!;
        px[o + 1] = lut[q + 1]!;
        px[o + 2] = lut[q + 2]!;
        px[o + 3] = 255;
      }
    }
    this.kept = { key, lo, hi, max, lut, cols: series.slice(first), img };
    if (this.cells.width !== n || this.cells.height !== rows) {
      this.cells.width = n;
      this.cells.height = rows;
    }
    const cctx = this.cells.getContext('2d');
    if (!cctx) return false;
    cctx.putImageData(img, 0, 0);

    const font = `${Math.max(10, theme.fontSize - 2)}px ${theme.fontFamily}`;
    ctx.font = font;
    if (this.labelWidth.font !== font) this.labelWidth = { font, w: ctx.measureText('≥512ms ').width };
    const left = Math.ceil(this.labelWidth.w) + 8;
    const L: Layout = { x: left, y: 6, w: Math.max(10, cssW - left - 10), h: Math.max(10, cssH - 6 - 22), lo, hi, first, n };
    this.layout = L;

    ctx.fillStyle = theme.plot;
    ctx.fillRect(L.x, L.y, L.w, L.h);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.cells, L.x, L.y, L.w, L.h);

    // Bucket axis: lower edge of every row (or every other one when rows are thin).
    ctx.fillStyle = theme.muted;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const rowH = L.h / rows;
    const step = rowH >= 14 ? 1 : rowH >= 7 ? 2 : 4;
    for (let r = 0; r < rows; r += step) {
      const bucket = hi - r;
      const label = bucketLowLabel(bucket, unit);
      ctx.fillText(label, L.x - 6, L.y + (r + 1) * rowH, left - 8);
    }

    // Time axis: a handful of clock labels.
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const colW = L.w / n;
    const labels = Math.max(2, Math.min(8, Math.floor(L.w / 90)));
    for (let k = 0; k < labels; k++) {
      const i = Math.round((k * (n - 1)) / (labels - 1));
      const x = L.x + (i + 0.5) * colW;
      ctx.textAlign = k === 0 ? 'left' : k === labels - 1 ? 'right' : 'center';
      ctx.fillText(formatClock(series[first + i]!.t_ms), k === 0 ? L.x : k === labels - 1 ? L.x + L.w : x, L.y + L.h + 5);
    }

    // Reload marks: a vertical line at the interval the reload fell into (red when it failed).
    const t0 = series[first]!.t_ms;
    const tN = series[series.length - 1]!.t_ms;
    for (const m of reloads) {
      if (m.t_ms < t0 || m.t_ms > tN) continue;
      const i = lowerBound(series, m.t_ms, first) - first;
      const x = Math.round(L.x + i * colW) + 0.5;
      ctx.strokeStyle = m.ok ? theme.foreground : theme.error;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, L.y);
      ctx.lineTo(x, L.y + L.h);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    return true;
  }

  /** The cell under a point in CSS pixels of the canvas. */
  hit(x: number, y: number): HeatmapHit | undefined {
    const L = this.layout;
    if (!L || x < L.x || x >= L.x + L.w || y < L.y || y >= L.y + L.h) return undefined;
    const i = Math.floor(((x - L.x) / L.w) * L.n);
    const r = Math.floor(((y - L.y) / L.h) * (L.hi - L.lo + 1));
    const p = this.series[L.first + i];
    if (!p) return undefined;
    const bucket = L.hi - r;
    return { t_ms: p.t_ms, bucket, count: p.stages[this.key]?.[3][bucket] ?? 0 };
  }
}

/** First index >= from whose t_ms >= t. */
function lowerBound(series: IntervalPoint[], t: number, from: number): number {
  let a = from;
  let b = series.length;
  while (a < b) {
    const m = (a + b) >> 1;
    if (series[m]!.t_ms < t) a = m + 1;
    else b = m;
  }
  return a;
}

// Latency heatmap: time (one column per interval) × log-linear bucket, drawn on a plain canvas.
// Rows cover the buckets the shown intervals use (plus one each side), one row per bucket while a
// row stays at least MIN_ROW_PX high; otherwise each row sums an aligned group of 2, 4, 8 (one
// power of two), … buckets, so every row still starts at a real bucket edge and the labels say it.
// Cells go into an ImageData of intervals × rows that is scaled up once with smoothing off; each
// column is written from its interval's sparse [bucket, count] pairs (at most 24, protocol.ts), so ten minutes of history at
// one interval per second costs O(600 × rows) however many buckets the histogram has.
import type { IntervalPoint, ReloadMark } from '../src/core/protocol.ts';
import { HIST_BUCKETS } from '../src/core/contract.ts';
import { type Unit, bucketLowLabel, formatClock } from '../src/core/format.ts';
import type { Theme } from './theme.ts';

export interface HeatmapHit {
  t_ms: number;
  /** The first and last bucket of the row under the point (the same one when rows are buckets). */
  bucket: number;
  last: number;
  count: number;
}

const LAST = HIST_BUCKETS - 1;
/** Rows thinner than this (CSS px) are merged in aligned groups of buckets. */
const MIN_ROW_PX = 2;
/** Largest group: four powers of two per row (a 30-octave range still fits 60 px). */
const MAX_GROUP = 32;
/** At least this many rows, so a narrow band still reads. */
const MIN_ROWS = 6;

interface Layout {
  x: number;
  y: number;
  w: number;
  h: number;
  /** Rows: row 0 is the group of the highest buckets; group = buckets per row. */
  lo: number;
  hi: number;
  group: number;
  first: number;
  n: number;
}

/** Cells of the last draw, kept so the next draw only computes the intervals that arrived since. */
interface Cells {
  key: string;
  lo: number;
  hi: number;
  group: number;
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
  /** Per interval of the stage `statsKey`: [lowest non-empty bucket, highest, buckets per pair]. */
  private stats = new WeakMap<IntervalPoint, number[]>();
  private statsKey = '';
  /** Per interval of the stage and row grouping `peakKey`: the highest count of one row. */
  private peaks = new WeakMap<IntervalPoint, number>();
  private peakKey = '';
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
    let coarsest = 1; // the largest group of buckets an interval's pairs cover
    // Lowest and highest non-empty bucket of each interval, computed once per interval and stage
    // (the store never changes a point it keeps; pairs come in bucket order).
    if (this.statsKey !== key) {
      this.stats = new WeakMap();
      this.statsKey = key;
    }
    for (let i = first; i < series.length; i++) {
      const p = series[i]!;
      let st = this.stats.get(p);
      if (!st) {
        const v = p.stages[key];
        const g = v?.[4] ?? 1;
        st = [Infinity, -Infinity, g];
        const b = v?.[3] ?? [];
        for (let k = 0; k + 1 < b.length; k += 2) {
          const j = b[k]!;
          if (!(b[k + 1]! > 0)) continue;
          if (j < st[0]!) st[0] = j;
          if (j + g - 1 > st[1]!) st[1] = j + g - 1;
        }
        this.stats.set(p, st);
      }
      if (st[0]! < lo) lo = st[0]!;
      if (st[1]! > hi) hi = st[1]!;
      if (st[0]! <= st[1]! && st[2]! > coarsest) coarsest = st[2]!;
    }
    if (n === 0 || !(hi >= lo)) {
      this.kept = undefined;
      return false;
    }
    // One empty bucket of headroom each side; buckets per row a power of two that keeps rows at
    // least MIN_ROW_PX high (or the coarsest interval's); row boundaries aligned to multiples of the group (octaves start at
    // multiples of HIST_SUB, so a group of up to HIST_SUB buckets never spans two powers of two).
    lo = Math.max(0, lo - 1);
    hi = Math.min(LAST, hi + 1);
    const plotH = Math.max(10, cssH - 6 - 22);
    // A row is never finer than the coarsest interval's pairs (the host merges buckets of a busy
    // interval, protocol.ts IntervalPoint), so each pair lies inside one row.
    let group = Math.min(HIST_BUCKETS, coarsest);
    while (group < MAX_GROUP && (Math.floor(hi / group) - Math.floor(lo / group) + 1) * MIN_ROW_PX > plotH) group *= 2;
    lo = Math.floor(lo / group) * group;
    hi = Math.min(LAST, Math.floor(hi / group) * group + group - 1);
    const span = () => Math.floor(hi / group) - Math.floor(lo / group) + 1;
    while (span() < MIN_ROWS) {
      if (lo > 0) lo -= group;
      if (span() < MIN_ROWS && hi < LAST) hi = Math.min(LAST, hi + group);
      if (lo === 0 && hi === LAST) break;
    }
    const rows = span();
    const rowOf = (bucket: number): number => Math.floor(hi / group) - Math.floor(bucket / group);

    // The colour scale: the highest count of one cell (row) over the shown intervals.
    const pk = `${key}|${group}`;
    if (this.peakKey !== pk) {
      this.peaks = new WeakMap();
      this.peakKey = pk;
    }
    let max = 0;
    for (let i = first; i < series.length; i++) {
      const p = series[i]!;
      let m = this.peaks.get(p);
      if (m === undefined) {
        m = 0;
        let cur = -1;
        let acc = 0;
        const b = p.stages[key]?.[3] ?? [];
        for (let k = 0; k + 1 < b.length; k += 2) {
          const j = b[k]!;
          const c = b[k + 1]!;
          if (!(c > 0)) continue;
          const g = Math.floor(j / group);
          if (g !== cur) {
            cur = g;
            acc = 0;
          }
          acc += c;
          if (acc > m) m = acc;
        }
        this.peaks.set(p, m);
      }
      if (m > max) max = m;
    }
    if (max === 0) {
      this.kept = undefined;
      return false;
    }

    // Cells: column i = interval, row 0 = highest bucket. When only new intervals arrived (and the
    // rows and the colour scale are the same), the kept columns are shifted left and only the new
    // ones are computed; otherwise every column is.
    const lut = this.ramp(theme);
    const old = this.kept;
    let reuse = 0; // columns taken over from the last draw
    let from = 0; // their first index in the old image
    if (old && old.key === key && old.lo === lo && old.hi === hi && old.group === group && old.max === max && old.lut === lut) {
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
    const sums = new Float64Array(rows);
    for (let i = reuse; i < n; i++) {
      sums.fill(0);
      const b = series[first + i]!.stages[key]?.[3] ?? [];
      for (let k = 0; k + 1 < b.length; k += 2) {
        const j = b[k]!;
        const c = b[k + 1]!;
        if (c > 0 && j >= lo && j <= hi) sums[rowOf(j)]! += c;
      }
      for (let r = 0; r < rows; r++) {
        const o = (r * n + i) * 4;
        const c = sums[r]!;
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
    this.kept = { key, lo, hi, group, max, lut, cols: series.slice(first), img };
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
    const L: Layout = { x: left, y: 6, w: Math.max(10, cssW - left - 10), h: plotH, lo, hi, group, first, n };
    this.layout = L;

    ctx.fillStyle = theme.plot;
    ctx.fillRect(L.x, L.y, L.w, L.h);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.cells, L.x, L.y, L.w, L.h);

    // Bucket axis: the lower edge of a row, at its bottom, every `step` rows so labels keep about
    // 14 px apart; step a power of two so with rows of single buckets the labels fall on the same
    // sub-bucket of each power of two.
    ctx.fillStyle = theme.muted;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const rowH = L.h / rows;
    let step = 1;
    while (step * rowH < 14 && step < rows) step *= 2;
    for (let r = 0; r < rows; r++) {
      const bucket = (Math.floor(hi / group) - r) * group;
      if (Math.floor(bucket / group) % step !== 0) continue;
      ctx.fillText(bucketLowLabel(bucket, unit), L.x - 6, L.y + (r + 1) * rowH, left - 8);
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

  /** Where the interval ending at `t_ms` is drawn: its column's centre and the plot's bottom, in
   *  CSS pixels of the canvas; undefined when it is not among the columns drawn last. */
  columnOf(t_ms: number): { x: number; bottom: number } | undefined {
    const L = this.layout;
    if (!L) return undefined;
    const i = lowerBound(this.series, t_ms, L.first);
    if (i >= this.series.length || this.series[i]!.t_ms !== t_ms) return undefined;
    return { x: L.x + ((i - L.first + 0.5) * L.w) / L.n, bottom: L.y + L.h };
  }

  /** The cell under a point in CSS pixels of the canvas. */
  hit(x: number, y: number): HeatmapHit | undefined {
    const L = this.layout;
    if (!L || x < L.x || x >= L.x + L.w || y < L.y || y >= L.y + L.h) return undefined;
    const i = Math.floor(((x - L.x) / L.w) * L.n);
    const rows = Math.floor(L.hi / L.group) - Math.floor(L.lo / L.group) + 1;
    const r = Math.floor(((y - L.y) / L.h) * rows);
    const p = this.series[L.first + i];
    if (!p) return undefined;
    const bucket = (Math.floor(L.hi / L.group) - r) * L.group;
    const last = Math.min(LAST, bucket + L.group - 1);
    let count = 0;
    const b = p.stages[this.key]?.[3] ?? [];
    for (let k = 0; k + 1 < b.length; k += 2) if (b[k]! >= bucket && b[k]! <= last && b[k + 1]! > 0) count += b[k + 1]!;
    return { t_ms: p.t_ms, bucket, last, count };
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

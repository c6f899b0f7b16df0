// chart.js charts of the panel. Animation is off and every update is `update('none')`; the caller
// batches updates to at most one render per animation frame.
import {
  BarController,
  Decimation,
  BarElement,
  CategoryScale,
  Chart,
  type ChartDataset,
  type ChartOptions,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  type Plugin,
  PointElement,
  Tooltip,
} from 'chart.js';
import type { IntervalPoint, ReloadMark, StageSummary } from '../src/core/protocol.ts';
import { type Unit, formatClock, formatCount, formatNs, formatNsShort, formatValue, unitOfKind } from '../src/core/format.ts';
import { HIST_SUB } from '../src/core/hist.ts';
import { histogramBars } from './bins.ts';
import { stageSeries } from './store.ts';
import { type Theme, withAlpha } from './theme.ts';
import { type TimeOverlay, overlayPlugin } from './timeOverlay.ts';

/** chart.js drops every dataset's resolved element options at the start of each update (in the
 *  controller's configure()) and resolves them again through its option scopes, some 30 µs per
 *  dataset. The charts here never change a dataset's options in place (new colours come with new
 *  dataset objects, which chart.js gives new controllers; updates only replace values), so this
 *  subclass of chart.js's controller `Base`, registered as `id`, keeps what it resolved for the
 *  dataset's lifetime. */
function keptOptions<C extends typeof LineController | typeof BarController>(Base: C, id: string): C {
  const Kept = class extends (Base as typeof LineController) {
    static override id = id;
    static override defaults = Base.defaults;
    static overrides = (Base as unknown as { overrides: unknown }).overrides;

    override configure(): void {
      const self = this as unknown as { _cachedDataOpts?: Record<string, unknown> };
      const kept = self._cachedDataOpts;
      super.configure();
      if (kept && self._cachedDataOpts && Object.keys(self._cachedDataOpts).length === 0) self._cachedDataOpts = kept;
    }
  };
  return Kept as unknown as C;
}

const KeptOptionsLineController = keptOptions(LineController, 'nslatLine');
const KeptOptionsBarController = keptOptions(BarController, 'nslatBar');

Chart.register(KeptOptionsLineController, KeptOptionsBarController, Decimation, BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, LineController, LineElement, PointElement, Tooltip, Legend, Filler);
Chart.defaults.animation = false;
Chart.defaults.responsive = true;
Chart.defaults.maintainAspectRatio = false;
// Webviews can be resized often; a short delay keeps resizing cheap.
Chart.defaults.resizeDelay = 50;

/** Log-axis tick label: only 1·10ⁿ and 3·10ⁿ are labelled, so labels never crowd. */
export function logTick(v: number | string, unit: Unit = 'ns'): string {
  const n = Number(v);
  if (!(n > 0)) return '';
  const m = n / 10 ** Math.floor(Math.log10(n) + 1e-9);
  if (!(Math.abs(m - 1) < 0.01 || Math.abs(m - 3) < 0.01)) return '';
  return unit === 'ns' ? formatNsShort(n) : formatCount(n);
}

/** A chart whose new values would move nothing by half a pixel or more is not redrawn (a live
 *  histogram of the whole session grows by a fraction of a pixel per interval); it is redrawn at the
 *  latest after this many skipped updates, and always when a value nears the end of the axis
 *  (where chart.js would pick new ticks). */
export const MAX_SKIPPED = 10;

/** Whether positions `next` (in data units of a linear `scale`) differ visibly from the drawn `prev`.
 *  `headroom`: the share of the axis a value may reach before a redraw is forced (chart.js may pick
 *  new ticks near the end of the axis). */
export function movesVisibly(scale: { getPixelForValue(v: number): number; max: number; min: number } | undefined, prev: number[], next: number[], headroom = 0.97): boolean {
  if (!scale || prev.length !== next.length || next.length === 0) return true;
  const perUnit = Math.abs(scale.getPixelForValue(1) - scale.getPixelForValue(0));
  if (!Number.isFinite(perUnit)) return true;
  const room = headroom * scale.max;
  for (let i = 0; i < next.length; i++) {
    const v = next[i]!;
    if (!Number.isFinite(v) || v > room || v < scale.min || Math.abs(v - prev[i]!) * perUnit >= 0.5) return true;
  }
  return false;
}

export function applyChartTheme(t: Theme): void {
  Chart.defaults.color = t.muted;
  Chart.defaults.borderColor = t.grid;
  Chart.defaults.font.family = t.fontFamily;
  Chart.defaults.font.size = Math.max(10, t.fontSize - 1);
  Chart.defaults.plugins.tooltip.backgroundColor = withAlpha(t.background, 0.95);
  Chart.defaults.plugins.tooltip.titleColor = t.foreground;
  Chart.defaults.plugins.tooltip.bodyColor = t.foreground;
  Chart.defaults.plugins.tooltip.borderColor = t.border;
  Chart.defaults.plugins.tooltip.borderWidth = 1;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;
}

/** Redraws every chart with the current defaults (after a theme change). */
export function restyleAll(charts: { chart: Chart }[], t: Theme): void {
  for (const c of charts) {
    const o = c.chart.options as ChartOptions & { scales?: Record<string, { ticks?: { color?: unknown }; grid?: { color?: unknown } }> };
    for (const s of Object.values(o.scales ?? {})) {
      if (s.ticks) s.ticks.color = t.muted;
      if (s.grid) s.grid.color = t.grid;
    }
    if (o.plugins?.legend?.labels) o.plugins.legend.labels.color = t.muted;
    c.chart.update('none');
  }
}

// ---------------------------------------------------------------- legend in HTML

/** A chart's legend as HTML under its canvas, in place of chart.js's canvas legend: chart.js lays
 *  out, measures and draws every legend item on every update (about a millisecond for the two dozen
 *  lines of the time chart), while this one is rebuilt only when the datasets change. Like chart.js's
 *  legend, clicking an item hides or shows its dataset. */
export class HtmlLegend {
  readonly el: HTMLDivElement;
  private shown: unknown[] = [];
  private hidden: boolean[] = [];

  constructor(private readonly chart: Chart, canvas: HTMLCanvasElement, label: string) {
    this.el = document.createElement('div');
    this.el.className = 'legend-row muted chart-legend';
    this.el.setAttribute('role', 'group');
    this.el.setAttribute('aria-label', label);
    (canvas.parentElement ?? canvas).after(this.el);
    this.el.addEventListener('click', (ev) => {
      const b = (ev.target as Element | null)?.closest<HTMLButtonElement>('button[data-legend]');
      if (!b) return;
      const i = Number(b.dataset.legend);
      if (!(i >= 0 && i < this.chart.data.datasets.length)) return;
      this.chart.setDatasetVisibility(i, !this.chart.isDatasetVisible(i));
      this.chart.update('none');
      this.sync();
    });
  }

  /** Brings the items in line with the chart's datasets (cheap when nothing changed). */
  sync(): void {
    const ds = this.chart.data.datasets;
    const hidden = ds.map((_, i) => !this.chart.isDatasetVisible(i));
    const same = ds.length === this.shown.length && ds.every((d, i) => d === this.shown[i]);
    if (same && hidden.every((h, i) => h === this.hidden[i])) return;
    if (!same) {
      while (this.el.firstChild) this.el.firstChild.remove();
      ds.forEach((d, i) => {
        const o = d as { label?: string; borderColor?: unknown; backgroundColor?: unknown; borderWidth?: unknown; borderDash?: unknown };
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'link';
        b.dataset.legend = String(i);
        b.setAttribute('role', 'checkbox');
        b.title = 'Show or hide this series';
        b.style.color = 'inherit';
        b.style.whiteSpace = 'nowrap';
        const box = document.createElement('span');
        box.setAttribute('aria-hidden', 'true');
        const st = box.style;
        st.display = 'inline-block';
        st.width = '12px';
        st.height = '9px';
        st.marginRight = '4px';
        st.verticalAlign = 'baseline';
        st.boxSizing = 'border-box';
        if (typeof o.backgroundColor === 'string') st.background = o.backgroundColor;
        const stroke = typeof o.borderColor === 'string' ? o.borderColor : typeof o.backgroundColor === 'string' ? o.backgroundColor : '';
        const bw = typeof o.borderWidth === 'number' ? o.borderWidth : 1.5;
        if (stroke && bw > 0) st.border = `${Math.max(1, Math.round(bw))}px ${Array.isArray(o.borderDash) && o.borderDash.length ? 'dashed' : 'solid'} ${stroke}`;
        b.append(box, o.label ?? '');
        this.el.append(b);
      });
      this.shown = ds.slice();
    }
    const buttons = this.el.children;
    hidden.forEach((h, i) => {
      const b = buttons[i] as HTMLButtonElement | undefined;
      if (!b) return;
      b.setAttribute('aria-checked', String(!h));
      b.style.textDecoration = h ? 'line-through' : '';
      b.style.opacity = h ? '0.6' : '';
    });
    this.hidden = hidden;
  }
}

// ---------------------------------------------------------------- histogram of one stage

export class HistogramChart {
  readonly chart: Chart<'bar'>;

  constructor(canvas: HTMLCanvasElement) {
    this.chart = new Chart(canvas, {
      type: KeptOptionsBarController.id as 'bar',
      data: { labels: [], datasets: [{ label: 'packets', data: [], borderWidth: 0, barPercentage: 0.95, categoryPercentage: 1 }] },
      options: {
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (item) => {
                const total = (item.dataset.data as number[]).reduce((a, b) => a + (b ?? 0), 0);
                const v = Number(item.raw ?? 0);
                return ` ${formatCount(v)} (${total ? ((100 * v) / total).toFixed(1) : '0'}%)`;
              },
            },
          },
        },
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 50, autoSkip: true } },
          y: { beginAtZero: true, ticks: { callback: (v) => formatCount(Number(v)) }, title: { display: true, text: 'packets' } },
        },
      },
    });
  }

  private theme: Theme | undefined;
  private sig = '';
  private shape = '';
  private drawn: number[] = [];
  private skipped = 0;

  /** Skipped when the stage's buckets, unit and the theme are what the chart already shows, or when
   *  no bar would move by half a pixel (see MAX_SKIPPED); the dataset object is kept (chart.js caches
   *  resolved options per dataset) unless the theme changed. */
  update(stage: StageSummary, theme: Theme): void {
    const b = stage.buckets;
    const unit = unitOfKind(stage.kind);
    const sig = `${unit}|${stage.name}|${b.join(',')}`;
    if (sig === this.sig && theme === this.theme) return;
    this.sig = sig;
    const { labels, data, group } = histogramBars(b, unit);
    const old = this.chart.data.labels as string[] | undefined;
    const sameLabels = !!old && old.length === labels.length && labels.every((l, i) => old[i] === l);
    const shape = `${unit}|${stage.key}`;
    // Counts that only grew keep chart.js's axis as long as they stay within it: its linear scale
    // (from zero) takes the step niceNum(max / spaces) and ends on the next multiple of it; for a
    // larger max that still fits, the step is no smaller (niceNum grows with its argument) and no
    // larger (the axis end over the spaces is at most the step), so axis and ticks stay the same.
    const grew = this.drawn.length === data.length && data.every((v, i) => v >= this.drawn[i]!);
    if (sameLabels && shape === this.shape && theme === this.theme && this.skipped < MAX_SKIPPED && !movesVisibly(this.chart.scales.y, this.drawn, data, grew ? 1 : 0.97)) {
      this.skipped++;
      return;
    }
    this.skipped = 0;
    this.shape = shape;
    this.drawn = data;
    if (!sameLabels) this.chart.data.labels = labels;
    if (theme !== this.theme || this.chart.data.datasets.length !== 1) {
      // A fresh dataset object for new colours: chart.js caches resolved options per dataset, so a
      // changed colour on the old object would not show.
      this.theme = theme;
      this.chart.data.datasets = [{ label: 'packets', data, backgroundColor: theme.palette[0], hoverBackgroundColor: theme.palette[1], borderWidth: 0, barPercentage: 0.95, categoryPercentage: 1 }];
    } else this.chart.data.datasets[0]!.data = data;
    const x = this.chart.options.scales?.x as { title?: { display: boolean; text: string } };
    const per = group <= HIST_SUB ? `${HIST_SUB / group} per power of two` : `one per ${group / HIST_SUB} powers of two`;
    const text = unit === 'ns' ? `latency (buckets, ${per})` : `${stage.name} (buckets, ${per})`;
    if (x.title?.text !== text) x.title = { display: true, text };
    this.chart.update('none');
  }
}

// ---------------------------------------------------------------- p50/p99 over time

/** Reload marks as vertical lines across the chart area, red for a failed reload. */
function reloadPlugin(get: () => { marks: ReloadMark[]; theme: Theme | undefined }): Plugin<'line'> {
  return {
    id: 'nslatReloads',
    afterDatasetsDraw(chart) {
      const { marks, theme } = get();
      if (!theme || marks.length === 0) return;
      const x = chart.scales.x;
      const area = chart.chartArea;
      if (!x) return;
      const ctx = chart.ctx;
      ctx.save();
      ctx.font = `${Math.max(10, theme.fontSize - 2)}px ${theme.fontFamily}`;
      ctx.textBaseline = 'top';
      for (const m of marks) {
        if (m.t_ms < x.min || m.t_ms > x.max) continue;
        const px = Math.round(x.getPixelForValue(m.t_ms)) + 0.5;
        const color = m.ok ? theme.foreground : theme.error;
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = color;
        const label = `${m.ok ? '↻' : '✕'} ${m.slot}`;
        const w = ctx.measureText(label).width;
        ctx.fillText(label, px + 3 + w > area.right ? px - 3 - w : px + 3, area.top + 2);
      }
      ctx.restore();
    },
  };
}

/** The log axis's unlabelled ticks (2…9·10ⁿ) as grid lines with tick marks, all in one path. chart.js
 *  resolves options, lays out a label and draws a line with its own canvas state for every tick;
 *  the y axis labels only 1·10ⁿ and 3·10ⁿ, so chart.js keeps those ticks (afterBuildTicks) and the
 *  lines of the others are drawn here, where chart.js draws its own grid: under the datasets. */
function minorGridPlugin(get: () => number[]): Plugin<'line'> {
  return {
    id: 'nslatMinorGrid',
    beforeDatasetsDraw(chart) {
      const values = get();
      const s = chart.scales.y;
      // chart.js's grid colour: the axis's own, else the default border colour (the theme's grid).
      const own = (s?.options as { grid?: { color?: unknown } } | undefined)?.grid?.color;
      const color = typeof own === 'string' ? own : typeof Chart.defaults.borderColor === 'string' ? Chart.defaults.borderColor : undefined;
      if (!s || !color || values.length === 0) return;
      const area = chart.chartArea;
      const dpr = chart.currentDevicePixelRatio || 1;
      const tick = (s.options as { grid?: { tickLength?: number; drawTicks?: boolean } }).grid;
      const x1 = tick?.drawTicks === false ? area.left : s.right - (tick?.tickLength ?? 8);
      // The axis border (1 px at the plot's left edge) is drawn before this: the lines skip it.
      const bx = Math.round((area.left - 0.5) * dpr) / dpr + 0.5;
      const ctx = chart.ctx;
      ctx.save();
      ctx.beginPath();
      for (const v of values) {
        const p = s.getPixelForValue(v);
        if (!(p >= area.top - 0.5 && p <= area.bottom + 0.5)) continue;
        // Aligned to the device pixel grid the way chart.js aligns its grid lines (width 1).
        const y = Math.round((p - 0.5) * dpr) / dpr + 0.5;
        if (x1 < bx - 0.5) {
          ctx.moveTo(x1, y);
          ctx.lineTo(bx - 0.5, y);
        }
        ctx.moveTo(bx + 0.5, y);
        ctx.lineTo(area.right, y);
      }
      ctx.lineWidth = 1;
      ctx.strokeStyle = color;
      ctx.stroke();
      ctx.restore();
    },
  };
}

/** What every line chart over a linear x axis shares: points as {x, y} (no parsing), a gap where a
 *  value is missing, the nearest point along x under the pointer, thin lines without dots. */
export function lineChartBase(): Pick<ChartOptions<'line'>, 'parsing' | 'normalized' | 'spanGaps' | 'interaction' | 'elements'> {
  return {
    parsing: false,
    normalized: true,
    spanGaps: false,
    interaction: { mode: 'nearest', axis: 'x', intersect: false },
    elements: { point: { radius: 0, hitRadius: 4, hoverRadius: 3 }, line: { borderWidth: 1.5, tension: 0 } },
  };
}

/** The plugins of nslat's line charts: no canvas legend (the legend is HTML under the canvas,
 *  HtmlLegend, rebuilt only when the lines change), a tooltip titled by the x value's `title` with
 *  each line's y as `value`, and with `decimate`, histories longer than the plot is wide (in CSS
 *  pixels) thinned to one point per pixel column (LTTB keeps the spikes). */
export function linePlugins(title: (x: number) => string, value: (y: number) => string, decimate: boolean): ChartOptions<'line'>['plugins'] {
  return {
    ...(decimate ? { decimation: { enabled: true, algorithm: 'lttb' as const, samples: 600, threshold: 1200 } } : {}),
    legend: { display: false },
    tooltip: {
      callbacks: {
        title: (items) => (items[0] ? title(Number(items[0].parsed.x)) : ''),
        label: (item) => ` ${item.dataset.label}: ${value(Number(item.parsed.y))}`,
      },
    },
  };
}

type XY = { x: number; y: number | null };
type LineDS = ChartDataset<'line', XY[]>;

/** A line's own points: while the decimation plugin thins a dataset, `data` reads the thinned copy
 *  and the points are kept in `_data`. */
function source(ds: LineDS): XY[] {
  return (ds as unknown as { _data?: XY[] })._data ?? ds.data;
}

/** Widens `r` to the positive y values of `pts`; returns `r`. */
function widen(r: { lo: number; hi: number }, pts: XY[]): { lo: number; hi: number } {
  for (let i = 0; i < pts.length; i++) {
    const v = pts[i]!.y;
    if (v !== null && v > 0) {
      if (v < r.lo) r.lo = v;
      if (v > r.hi) r.hi = v;
    }
  }
  return r;
}

export class TimeChart {
  readonly chart: Chart<'line'>;
  /** Ranges and a cursor drawn over the lines (range selection, trace scrubber). */
  overlay: TimeOverlay | undefined;
  private marks: ReloadMark[] = [];
  private theme: Theme | undefined;
  private unit: Unit = 'ns';
  /** Datasets by line id; each one's `data` array lines up with `shown`, point for point. */
  private byId = new Map<string, LineDS>();
  /** The intervals the datasets show, oldest first (the store keeps its point objects, so identity
   *  tells which intervals are new since the last update and which left the window). */
  private shown: IntervalPoint[] = [];
  private yTitle = '';
  /** Values of the y axis's unlabelled ticks (drawn by minorGridPlugin). */
  private minor: number[] = [];
  /** Lowest and highest positive y of each line's points (kept up to date as the history slides). */
  private ranges = new WeakMap<LineDS, { lo: number; hi: number }>();

  /** How the history moved since the last update: `drop` intervals left at the front, the ones from
   *  `addFrom` on are new. Undefined when it is not a plain slide (a snapshot, a clear): rebuild. */
  private slide(series: IntervalPoint[]): { drop: number; addFrom: number } | undefined {
    const m = this.shown;
    const last = m.at(-1);
    if (!last) return undefined;
    const k = series.lastIndexOf(last);
    if (k < 0) return undefined;
    const drop = m.length - 1 - k;
    if (drop < 0 || series[0] !== m[drop]) return undefined;
    return { drop, addFrom: k + 1 };
  }

  /** `plugins`: more to draw on the chart (the host counters' event markers). */
  constructor(canvas: HTMLCanvasElement, plugins: Plugin<'line'>[] = []) {
    this.chart = new Chart(canvas, {
      // chart.js's line chart with KeptOptionsLineController.
      type: KeptOptionsLineController.id as 'line',
      data: { datasets: [] },
      options: {
        ...lineChartBase(),
        // samples and threshold of the decimation follow the width in update()
        plugins: linePlugins(formatClock, (y) => formatValue(y, this.unit), true),
        scales: {
          x: { type: 'linear', ticks: { callback: (v) => formatClock(Number(v)), maxTicksLimit: 8, maxRotation: 0 } },
          y: {
            type: 'logarithmic',
            ticks: { callback: (v) => logTick(v, this.unit), autoSkip: false },
            title: { display: true, text: 'latency' },
            // Only the labelled ticks stay chart.js's; minorGridPlugin draws the others' lines.
            afterBuildTicks: (scale) => {
              const major = scale.ticks.filter((t) => logTick(t.value) !== '');
              if (major.length < 2) {
                this.minor = [];
                return;
              }
              this.minor = scale.ticks.filter((t) => logTick(t.value) === '').map((t) => t.value);
              scale.ticks = major;
            },
          },
        },
      },
      plugins: [
        reloadPlugin(() => ({ marks: this.marks, theme: this.theme })),
        minorGridPlugin(() => this.minor),
        ...plugins,
        overlayPlugin(() => ({ overlay: this.overlay, theme: this.theme })),
      ],
    });
    this.legend = new HtmlLegend(this.chart as unknown as Chart, canvas, 'Lines of the time chart');
  }

  readonly legend: HtmlLegend;

  /** The selected stage (p99 filled down to p50), then `others` thinner for comparison. Dataset
   *  objects and their data arrays are kept across updates: a new interval is pushed onto each line
   *  and the oldest shifted off (chart.js follows push/splice on data arrays and only adds or drops
   *  those elements); point objects are made once per interval and line. */
  update(series: IntervalPoint[], selected: StageSummary, others: StageSummary[], reloads: ReloadMark[], theme: Theme): void {
    this.marks = reloads;
    this.unit = unitOfKind(selected.kind);
    if (this.theme !== theme) {
      this.theme = theme;
      this.byId.clear();
    }
    const c0 = theme.palette[0]!;
    const want: { id: string; key: string; field: 1 | 2; make: () => LineDS }[] = [
      { id: `sel:${selected.key}:2`, key: selected.key, field: 2, make: () => ({ label: `${selected.name} p99`, data: [], borderColor: theme.palette[1], backgroundColor: withAlpha(c0, 0.15), fill: '+1', order: 0 }) },
      { id: `sel:${selected.key}:1`, key: selected.key, field: 1, make: () => ({ label: `${selected.name} p50`, data: [], borderColor: c0, backgroundColor: c0, order: 1 }) },
    ];
    others.forEach((s, i) => {
      const color = theme.palette[(i + 2) % theme.palette.length]!;
      want.push({ id: `cmp:${i}:${s.key}:2`, key: s.key, field: 2, make: () => ({ label: `${s.name} p99`, data: [], borderColor: withAlpha(color, 0.8), backgroundColor: color, borderWidth: 1, order: 2 }) });
      want.push({ id: `cmp:${i}:${s.key}:1`, key: s.key, field: 1, make: () => ({ label: `${s.name} p50`, data: [], borderColor: withAlpha(color, 0.8), backgroundColor: color, borderWidth: 1, borderDash: [3, 3], order: 2 }) });
    });
    const move = this.slide(series);
    const added = move ? series.slice(move.addFrom) : [];
    const datasets: LineDS[] = [];
    const next = new Map<string, LineDS>();
    for (const w of want) {
      let ds = this.byId.get(w.id);
      const r = ds && this.ranges.get(ds);
      if (ds && r && move) {
        const d = source(ds);
        // The line's y range follows the slide: widened by the new points, and scanned again only
        // when a point that left the window was its lowest or highest one.
        let rescan = false;
        for (let j = 0; j < move.drop && j < d.length; j++) {
          const v = d[j]!.y;
          if (v !== null && v > 0 && (v <= r.lo || v >= r.hi)) rescan = true;
        }
        if (move.drop === 1) d.shift();
        else if (move.drop > 0) d.splice(0, move.drop);
        if (added.length) {
          const pts = stageSeries(added, w.key, w.field);
          d.push(...pts);
          if (!rescan) widen(r, pts);
        }
        if (rescan) this.ranges.set(ds, widen({ lo: Infinity, hi: -Infinity }, d));
      } else {
        ds ??= w.make();
        ds.data = stageSeries(series, w.key, w.field);
        this.ranges.set(ds, widen({ lo: Infinity, hi: -Infinity }, ds.data));
      }
      next.set(w.id, ds);
      datasets.push(ds);
    }
    this.byId = next;
    this.shown = series.slice();
    const cur = this.chart.data.datasets;
    if (cur.length !== datasets.length || datasets.some((d, i) => cur[i] !== d)) this.chart.data.datasets = datasets;
    const x = this.chart.options.scales!.x! as { min?: number; max?: number; ticks?: { maxTicksLimit?: number } };
    x.min = series[0]?.t_ms;
    x.max = series.at(-1)?.t_ms;
    // Clock labels are ~60 px wide: no more of them than fit side by side (fewer ticks to lay out).
    if (x.ticks) x.ticks.maxTicksLimit = Math.max(2, Math.min(8, Math.floor((this.chart.chartArea?.width || 480) / 65)));
    // The y range is computed here, where the values pass by anyway, and handed to chart.js as
    // bounds rounded the way its log scale rounds them: chart.js would otherwise scan every point of
    // every line again on each update.
    let lo = Infinity;
    let hi = -Infinity;
    for (const ds of datasets) {
      const r = this.ranges.get(ds)!;
      if (r.lo < lo) lo = r.lo;
      if (r.hi > hi) hi = r.hi;
    }
    const y = this.chart.options.scales!.y! as { min?: number; max?: number; title?: { display: boolean; text: string } };
    if (Number.isFinite(lo) && hi > lo) {
      const e0 = 10 ** Math.floor(Math.log10(lo));
      const e1 = 10 ** Math.floor(Math.log10(hi));
      y.min = Math.floor(lo / e0) * e0;
      y.max = Math.ceil(hi / e1) * e1;
    } else {
      y.min = undefined;
      y.max = undefined;
    }
    const dec = this.chart.options.plugins?.decimation as { samples?: number; threshold?: number } | undefined;
    if (dec) {
      const px = Math.max(100, Math.round(this.chart.chartArea?.width || this.chart.width || 600));
      dec.samples = px;
      dec.threshold = px;
    }
    const title = unitOfKind(selected.kind) === 'ns' ? 'latency' : selected.name;
    if (title !== this.yTitle) {
      this.yTitle = title;
      y.title = { display: true, text: title };
    }
    this.chart.update('none');
    this.legend.sync();
  }
}

// ---------------------------------------------------------------- stage waterfall

export class WaterfallChart {
  readonly chart: Chart<'bar'>;

  constructor(canvas: HTMLCanvasElement) {
    this.chart = new Chart(canvas, {
      type: KeptOptionsBarController.id as 'bar',
      data: { labels: ['RX', 'TX'], datasets: [] },
      options: {
        indexAxis: 'y',
        plugins: {
          // The legend is HTML under the canvas (HtmlLegend): rebuilt only when the layers change.
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => ` ${item.dataset.label}: ${formatNs(Number(item.raw ?? 0))} (median)` } },
        },
        scales: {
          x: { stacked: true, beginAtZero: true, ticks: { callback: (v) => formatNsShort(Number(v)) }, title: { display: true, text: 'median time per layer, stacked in boundary order' } },
          y: { stacked: true, grid: { display: false } },
        },
      },
    });
    this.legend = new HtmlLegend(this.chart as unknown as Chart, canvas, 'Layers of the waterfall');
  }

  readonly legend: HtmlLegend;
  private theme: Theme | undefined;
  private layers = '';
  /** The medians drawn. */
  private values: (number | null)[] = [];
  private skipped = 0;

  /** `rx` and `tx` are the stage (kind "stage") summaries in boundary order. The datasets are kept
   *  while the layers are the same (only their medians are written), and nothing is redrawn while no
   *  segment would move by half a pixel (see MAX_SKIPPED). */
  update(rx: StageSummary[], tx: StageSummary[], theme: Theme): void {
    const all = [...rx, ...tx];
    const layers = `${rx.map((s) => s.name).join('\n')}\n--\n${tx.map((s) => s.name).join('\n')}`;
    if (layers === this.layers && theme === this.theme && this.chart.data.datasets.length === all.length) {
      if (all.every((s, i) => s.p50 === this.values[i])) return;
      // Where each stacked segment ends, drawn and new: skipped while none moves by half a pixel.
      const ends = (v: (number | null)[]) => {
        const out: number[] = [];
        let acc = 0;
        v.forEach((x, i) => {
          if (i === rx.length) acc = 0;
          acc += x ?? 0;
          out.push(acc);
        });
        return out;
      };
      if (this.skipped < MAX_SKIPPED && !movesVisibly(this.chart.scales.x, ends(this.values), ends(all.map((s) => s.p50)))) {
        this.skipped++;
        return;
      }
      this.skipped = 0;
      all.forEach((s, i) => {
        const data = this.chart.data.datasets[i]!.data as (number | null)[];
        data[i < rx.length || !rx.length ? 0 : 1] = s.p50;
      });
      this.values = all.map((s) => s.p50);
      this.chart.update('none');
      return;
    }
    this.layers = layers;
    this.theme = theme;
    this.values = all.map((s) => s.p50);
    const datasets: ChartDataset<'bar', (number | null)[]>[] = [];
    const labels: string[] = [];
    if (rx.length) labels.push('RX');
    if (tx.length) labels.push('TX');
    const add = (s: StageSummary, row: number, i: number) => {
      const data: (number | null)[] = labels.map(() => null);
      data[row] = s.p50;
      // More layers than theme colours: the second round is a lighter shade of the same colours.
      const color = theme.palette[i % theme.palette.length]!;
      const alpha = i < theme.palette.length ? 0.9 : 0.5;
      datasets.push({ label: s.name, data, backgroundColor: withAlpha(color, alpha), borderColor: theme.background, borderWidth: 1, barPercentage: 0.7 });
    };
    rx.forEach((s, i) => add(s, 0, i));
    tx.forEach((s, i) => add(s, rx.length ? 1 : 0, rx.length + i));
    this.chart.data.labels = labels;
    this.chart.data.datasets = datasets;
    this.chart.update('none');
    this.legend.sync();
  }
}

// ---------------------------------------------------------------- IRQ / softirq per CPU

export class PerCpuChart {
  readonly chart: Chart<'bar'>;

  constructor(canvas: HTMLCanvasElement, private readonly what: string) {
    this.chart = new Chart(canvas, {
      type: KeptOptionsBarController.id as 'bar',
      data: { labels: [], datasets: [] },
      options: {
        indexAxis: 'y',
        plugins: {
          legend: { position: 'bottom' },
          tooltip: { callbacks: { label: (item) => ` ${item.dataset.label}: ${formatNs(Number(item.raw ?? 0))}` } },
        },
        scales: {
          x: { type: 'logarithmic', ticks: { callback: (v) => logTick(v), autoSkip: false, maxRotation: 0 }, title: { display: true, text: what } },
          y: { grid: { display: false }, ticks: { autoSkip: false } },
        },
      },
    });
  }

  private theme: Theme | undefined;

  /** The two dataset objects are kept while the rows and the theme stay (chart.js caches resolved
   *  options per dataset); only their values are replaced. */
  update(rows: StageSummary[], theme: Theme): void {
    const labels = rows.map((s) => (s.cpu !== undefined ? `${s.name} · CPU ${s.cpu}` : s.name));
    const old = this.chart.data.labels as string[] | undefined;
    const ds = this.chart.data.datasets;
    if (theme === this.theme && ds.length === 2 && old?.length === labels.length && labels.every((l, i) => old[i] === l)) {
      ds[0]!.data = rows.map((s) => s.p50 || null);
      ds[1]!.data = rows.map((s) => s.p99 || null);
      this.chart.update('none');
      return;
    }
    this.theme = theme;
    this.chart.data.labels = labels;
    this.chart.data.datasets = [
      { label: 'p50', data: rows.map((s) => s.p50 || null), backgroundColor: withAlpha(theme.palette[0]!, 0.85), barPercentage: 0.9 },
      { label: 'p99', data: rows.map((s) => s.p99 || null), backgroundColor: withAlpha(theme.palette[1]!, 0.85), barPercentage: 0.9 },
    ];
    this.chart.update('none');
  }
}


// chart.js charts of the panel. Animation is off and every update is `update('none')`; the caller
// batches updates to at most one render per animation frame.
import {
  BarController,
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
import { bucketLabel, formatClock, formatCount, formatNs, formatNsShort, kindUnit } from './format.ts';
import { stageSeries } from './store.ts';
import { type Theme, withAlpha } from './theme.ts';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, LineController, LineElement, PointElement, Tooltip, Legend, Filler);
Chart.defaults.animation = false;
Chart.defaults.responsive = true;
Chart.defaults.maintainAspectRatio = false;
// Webviews can be resized often; a short delay keeps resizing cheap.
Chart.defaults.resizeDelay = 50;

/** Log-axis tick label: only 1·10ⁿ and 3·10ⁿ are labelled, so labels never crowd. */
function logTick(v: number | string, unit: 'ns' | 'count' = 'ns'): string {
  const n = Number(v);
  if (!(n > 0)) return '';
  const m = n / 10 ** Math.floor(Math.log10(n) + 1e-9);
  if (!(Math.abs(m - 1) < 0.01 || Math.abs(m - 3) < 0.01)) return '';
  return unit === 'ns' ? formatNsShort(n) : formatCount(n);
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

// ---------------------------------------------------------------- histogram of one stage

export class HistogramChart {
  readonly chart: Chart<'bar'>;

  constructor(canvas: HTMLCanvasElement) {
    this.chart = new Chart(canvas, {
      type: 'bar',
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

  update(stage: StageSummary, theme: Theme): void {
    const b = stage.buckets;
    let lo = b.findIndex((c) => c > 0);
    let hi = b.length - 1;
    while (hi > 0 && !(b[hi]! > 0)) hi--;
    if (lo < 0) lo = hi = 0;
    lo = Math.max(0, lo - 1);
    hi = Math.min(b.length - 1, hi + 1);
    const unit = kindUnit(stage.kind);
    const labels: string[] = [];
    const data: number[] = [];
    for (let i = lo; i <= hi; i++) {
      labels.push(bucketLabel(i, b.length - 1, unit));
      data.push(b[i] ?? 0);
    }
    this.chart.data.labels = labels;
    // A fresh dataset object: chart.js caches resolved options per dataset, so a changed colour on
    // the old object would not show.
    this.chart.data.datasets = [{ label: 'packets', data, backgroundColor: theme.palette[0], hoverBackgroundColor: theme.palette[1], borderWidth: 0, barPercentage: 0.95, categoryPercentage: 1 }];
    const x = this.chart.options.scales?.x as { title?: { display: boolean; text: string } };
    x.title = { display: true, text: unit === 'ns' ? 'latency (log2 buckets)' : `${stage.name} (log2 buckets)` };
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

export class TimeChart {
  readonly chart: Chart<'line'>;
  private marks: ReloadMark[] = [];
  private theme: Theme | undefined;
  private unit: 'ns' | 'count' = 'ns';
  private byId = new Map<string, ChartDataset<'line', { x: number; y: number | null }[]>>();
  private cache = new Map<string, { first: IntervalPoint; n: number; pts: { x: number; y: number | null }[] }>();

  /** Points of one line; appends to the cached ones while the history only grows. */
  private points(series: IntervalPoint[], key: string, field: 1 | 2): { x: number; y: number | null }[] {
    const id = `${key}:${field}`;
    const c = this.cache.get(id);
    if (c && series[0] === c.first && series.length >= c.n) {
      if (series.length > c.n) {
        c.pts = c.pts.concat(stageSeries(series.slice(c.n), key, field));
        c.n = series.length;
      }
      return c.pts;
    }
    const pts = stageSeries(series, key, field);
    if (series[0]) this.cache.set(id, { first: series[0], n: series.length, pts });
    if (this.cache.size > 256) this.cache.clear();
    return pts;
  }

  constructor(canvas: HTMLCanvasElement) {
    this.chart = new Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        parsing: false,
        normalized: true,
        spanGaps: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        elements: { point: { radius: 0, hitRadius: 4, hoverRadius: 3 }, line: { borderWidth: 1.5, tension: 0 } },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: {
            callbacks: {
              title: (items) => (items[0] ? formatClock(Number(items[0].parsed.x)) : ''),
              label: (item) => ` ${item.dataset.label}: ${this.unit === 'ns' ? formatNs(Number(item.parsed.y)) : formatCount(Number(item.parsed.y))}`,
            },
          },
        },
        scales: {
          x: { type: 'linear', ticks: { callback: (v) => formatClock(Number(v)), maxTicksLimit: 8, maxRotation: 0 } },
          y: { type: 'logarithmic', ticks: { callback: (v) => logTick(v, this.unit), autoSkip: false }, title: { display: true, text: 'latency' } },
        },
      },
      plugins: [reloadPlugin(() => ({ marks: this.marks, theme: this.theme }))],
    });
  }

  /** The selected stage (p99 filled down to p50), then `others` thinner for comparison. Dataset
   *  objects are kept across updates (chart.js then only re-reads their data), and each line's
   *  points are extended incrementally as intervals arrive. */
  update(series: IntervalPoint[], selected: StageSummary, others: StageSummary[], reloads: ReloadMark[], theme: Theme): void {
    this.marks = reloads;
    this.unit = kindUnit(selected.kind);
    if (this.theme !== theme) {
      this.theme = theme;
      this.byId.clear();
    }
    const c0 = theme.palette[0]!;
    type DS = ChartDataset<'line', { x: number; y: number | null }[]>;
    const want: { id: string; key: string; field: 1 | 2; make: () => DS }[] = [
      { id: `sel:${selected.key}:2`, key: selected.key, field: 2, make: () => ({ label: `${selected.name} p99`, data: [], borderColor: theme.palette[1], backgroundColor: withAlpha(c0, 0.15), fill: '+1', order: 0 }) },
      { id: `sel:${selected.key}:1`, key: selected.key, field: 1, make: () => ({ label: `${selected.name} p50`, data: [], borderColor: c0, backgroundColor: c0, order: 1 }) },
    ];
    others.forEach((s, i) => {
      const color = theme.palette[(i + 2) % theme.palette.length]!;
      want.push({ id: `cmp:${i}:${s.key}:2`, key: s.key, field: 2, make: () => ({ label: `${s.name} p99`, data: [], borderColor: withAlpha(color, 0.8), backgroundColor: color, borderWidth: 1, order: 2 }) });
      want.push({ id: `cmp:${i}:${s.key}:1`, key: s.key, field: 1, make: () => ({ label: `${s.name} p50`, data: [], borderColor: withAlpha(color, 0.8), backgroundColor: color, borderWidth: 1, borderDash: [3, 3], order: 2 }) });
    });
    const datasets: DS[] = [];
    const next = new Map<string, DS>();
    for (const w of want) {
      const ds = this.byId.get(w.id) ?? w.make();
      ds.data = this.points(series, w.key, w.field);
      next.set(w.id, ds);
      datasets.push(ds);
    }
    this.byId = next;
    const cur = this.chart.data.datasets;
    if (cur.length !== datasets.length || datasets.some((d, i) => cur[i] !== d)) this.chart.data.datasets = datasets;
    const x = this.chart.options.scales!.x!;
    x.min = series[0]?.t_ms;
    x.max = series.at(-1)?.t_ms;
    const y = this.chart.options.scales!.y! as { title?: { display: boolean; text: string } };
    y.title = { display: true, text: kindUnit(selected.kind) === 'ns' ? 'latency' : selected.name };
    this.chart.update('none');
  }
}

// ---------------------------------------------------------------- stage waterfall

export class WaterfallChart {
  readonly chart: Chart<'bar'>;

  constructor(canvas: HTMLCanvasElement) {
    this.chart = new Chart(canvas, {
      type: 'bar',
      data: { labels: ['RX', 'TX'], datasets: [] },
      options: {
        indexAxis: 'y',
        plugins: {
          legend: { position: 'bottom' },
          tooltip: { callbacks: { label: (item) => ` ${item.dataset.label}: ${formatNs(Number(item.raw ?? 0))} (median)` } },
        },
        scales: {
          x: { stacked: true, beginAtZero: true, ticks: { callback: (v) => formatNsShort(Number(v)) }, title: { display: true, text: 'median time per layer, stacked in boundary order' } },
          y: { stacked: true, grid: { display: false } },
        },
      },
    });
  }

  /** `rx` and `tx` are the stage (kind "stage") summaries in boundary order. */
  update(rx: StageSummary[], tx: StageSummary[], theme: Theme): void {
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
  }
}

// ---------------------------------------------------------------- IRQ / softirq per CPU

export class PerCpuChart {
  readonly chart: Chart<'bar'>;

  constructor(canvas: HTMLCanvasElement, private readonly what: string) {
    this.chart = new Chart(canvas, {
      type: 'bar',
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

  update(rows: StageSummary[], theme: Theme): void {
    this.chart.data.labels = rows.map((s) => (s.cpu !== undefined ? `${s.name} · CPU ${s.cpu}` : s.name));
    this.chart.data.datasets = [
      { label: 'p50', data: rows.map((s) => s.p50 || null), backgroundColor: withAlpha(theme.palette[0]!, 0.85), barPercentage: 0.9 },
      { label: 'p99', data: rows.map((s) => s.p99 || null), backgroundColor: withAlpha(theme.palette[1]!, 0.85), barPercentage: 0.9 },
    ];
    this.chart.update('none');
  }
}


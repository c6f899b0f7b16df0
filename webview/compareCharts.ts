// The compare view's charts: histograms overlaid (hosts, or windows A and B), p50/p99 over time per
// host, and the per-block percentiles of two windows (their interval-to-interval noise). chart.js
// as in charts.ts: animation off, `update('none')`, legends in HTML.
import { Chart, type ChartDataset } from 'chart.js';
import { type Unit, formatClock, formatValue } from '../src/core/format.ts';
import { HIST_SUB } from '../src/core/hist.ts';
import { overlayBars } from './bins.ts';
import { HtmlLegend, lineChartBase, linePlugins, logTick } from './charts.ts';
import { type Theme, withAlpha } from './theme.ts';

/** One histogram to overlay: dense buckets and a name. */
export interface Overlaid {
  label: string;
  buckets: readonly number[];
}

export class OverlayHistogram {
  readonly chart: Chart<'bar'>;
  readonly legend: HtmlLegend;
  private sig = '';

  constructor(canvas: HTMLCanvasElement, label: string) {
    this.chart = new Chart(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [] },
      options: {
        datasets: { bar: { grouped: false, barPercentage: 1, categoryPercentage: 0.95, borderWidth: 1.5 } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => ` ${item.dataset.label}: ${(100 * Number(item.raw ?? 0)).toFixed(1)} % of its packets` } },
        },
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 50, autoSkip: true } },
          y: { beginAtZero: true, ticks: { callback: (v) => `${Math.round(100 * Number(v))} %` }, title: { display: true, text: 'share of packets' } },
        },
      },
    });
    this.legend = new HtmlLegend(this.chart as unknown as Chart, canvas, label);
  }

  /** Redrawn only when the histograms, their names or the theme change. `minGroup`: bars at least
   *  this many buckets wide. */
  update(list: Overlaid[], unit: Unit, theme: Theme, minGroup = 1): void {
    const sig = `${unit}|${minGroup}|${theme.palette.join()}|${list.map((o) => `${o.label}:${o.buckets.join(',')}`).join('|')}`;
    if (sig === this.sig) return;
    this.sig = sig;
    const { labels, shares, group } = overlayBars(list.map((o) => o.buckets), unit, minGroup);
    this.chart.data.labels = labels;
    this.chart.data.datasets = list.map((o, i): ChartDataset<'bar', number[]> => {
      const c = theme.palette[i % theme.palette.length]!;
      return { label: o.label, data: shares[i]!, backgroundColor: withAlpha(c, 0.35), borderColor: c, hoverBackgroundColor: withAlpha(c, 0.6), order: i };
    });
    const x = this.chart.options.scales!.x as { title?: { display: boolean; text: string } };
    const per = group <= HIST_SUB ? `${HIST_SUB / group} per power of two` : `one per ${group / HIST_SUB} powers of two`;
    x.title = { display: true, text: `${unit === 'ns' ? 'latency' : 'packets'} (buckets, ${per})` };
    this.chart.update('none');
    this.legend.sync();
  }
}

/** A line of `Lines`: points (x, y) with gaps as null. */
export interface Line {
  label: string;
  points: { x: number; y: number | null }[];
  /** Palette index. */
  color: number;
  dashed?: boolean;
  /** Points only, no line (per-block values). */
  dots?: boolean;
}

/** Lines on a log y axis over a linear x axis: p50/p99 over time per host (x: wall-clock ms), or
 *  the per-block percentiles of two windows (x: block number). */
export class Lines {
  readonly chart: Chart<'line'>;
  readonly legend: HtmlLegend;
  private unit: Unit = 'ns';
  private sig = '';

  constructor(canvas: HTMLCanvasElement, label: string, private readonly xIsTime: boolean) {
    this.chart = new Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        ...lineChartBase(),
        plugins: linePlugins((x) => (xIsTime ? formatClock(x) : `block ${x + 1}`), (y) => formatValue(y, this.unit), false),
        scales: {
          x: { type: 'linear', ticks: { callback: (v) => (xIsTime ? formatClock(Number(v)) : String(Number(v) + 1)), maxTicksLimit: 8, maxRotation: 0 }, title: { display: !xIsTime, text: 'block (consecutive intervals)' } },
          y: { type: 'logarithmic', ticks: { callback: (v) => logTick(v, this.unit), autoSkip: false }, title: { display: true, text: 'latency' } },
        },
      },
    });
    this.legend = new HtmlLegend(this.chart as unknown as Chart, canvas, label);
  }

  update(lines: Line[], unit: Unit, theme: Theme): void {
    const sig = `${unit}|${theme.palette.join()}|${lines.map((l) => `${l.label}:${l.points.length}:${l.points.at(-1)?.x}:${l.points.at(-1)?.y}`).join('|')}`;
    if (sig === this.sig) return;
    this.sig = sig;
    this.unit = unit;
    this.chart.data.datasets = lines.map((l): ChartDataset<'line', { x: number; y: number | null }[]> => {
      const c = theme.palette[l.color % theme.palette.length]!;
      return {
        label: l.label,
        data: l.points,
        borderColor: c,
        backgroundColor: c,
        borderDash: l.dashed ? [5, 3] : [],
        showLine: !l.dots,
        pointRadius: l.dots ? 2.5 : 0,
        pointStyle: l.dashed ? 'triangle' : 'circle',
      };
    });
    const y = this.chart.options.scales!.y as { title?: { display: boolean; text: string } };
    y.title = { display: true, text: unit === 'ns' ? 'latency' : 'packets' };
    this.chart.update('none');
    this.legend.sync();
  }
}

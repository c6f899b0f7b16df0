// Time charts of the host's counters (the Host tab): one line per series key of the intervals'
// host figures (IntervalPoint.host_counters), on the same time axis and window as the stage charts:
// x is each interval's t_ms, from the first interval the store holds to the last.
import { Chart, type Plugin } from 'chart.js';
import type { IntervalPoint } from '../src/core/protocol.ts';
import { formatClock } from '../src/core/format.ts';
import { HtmlLegend, lineChartBase, linePlugins } from './charts.ts';
import { type Theme, withAlpha } from './theme.ts';

/** One line: how to read its value from an interval's host figures (null: a gap). */
export interface HostLine {
  id: string;
  label: string;
  value: (p: IntervalPoint) => number | null;
  dashed?: boolean;
}

type XY = { x: number; y: number | null };

/** A counter of an interval per second (absent from the figures: it did not move, so 0; no host
 *  figures at all: a gap). */
export function perSecond(key: string): (p: IntervalPoint) => number | null {
  return (p) => {
    const hc = p.host_counters;
    if (!hc || !(hc.dur_ms > 0)) return null;
    return ((hc.v[key] ?? 0) * 1000) / hc.dur_ms;
  };
}

/** The sum of several counters per second. */
export function sumPerSecond(keys: readonly string[]): (p: IntervalPoint) => number | null {
  return (p) => {
    const hc = p.host_counters;
    if (!hc || !(hc.dur_ms > 0)) return null;
    let s = 0;
    for (const k of keys) s += hc.v[k] ?? 0;
    return (s * 1000) / hc.dur_ms;
  };
}

/** A value as it is (shares, queue lengths); a gap where it is absent. */
export function gauge(key: string, scale = 1): (p: IntervalPoint) => number | null {
  return (p) => {
    const v = p.host_counters?.v[key];
    return v === undefined ? null : v * scale;
  };
}

export class HostSeriesChart {
  readonly chart: Chart<'line'>;
  readonly legend: HtmlLegend;
  private theme: Theme | undefined;
  private ids = '';

  constructor(canvas: HTMLCanvasElement, private readonly yTitle: string, private readonly format: (v: number) => string, plugins: Plugin<'line'>[] = []) {
    this.chart = new Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        ...lineChartBase(),
        plugins: linePlugins(formatClock, (y) => this.format(y), true),
        scales: {
          x: { type: 'linear', ticks: { callback: (v) => formatClock(Number(v)), maxTicksLimit: 8, maxRotation: 0 } },
          y: { type: 'linear', beginAtZero: true, ticks: { callback: (v) => this.format(Number(v)) }, title: { display: true, text: yTitle } },
        },
      },
      plugins,
    });
    this.legend = new HtmlLegend(this.chart as unknown as Chart, canvas, `Lines of the chart ${yTitle}`);
  }

  /** Redraws `lines` over `series`; the datasets are made anew when the lines or the theme change,
   *  otherwise only their values are replaced. */
  update(series: readonly IntervalPoint[], lines: readonly HostLine[], theme: Theme): void {
    const ids = lines.map((l) => l.id).join('\n');
    const data = lines.map((l) => {
      const out = new Array<XY>(series.length);
      for (let i = 0; i < series.length; i++) out[i] = { x: series[i]!.t_ms, y: l.value(series[i]!) };
      return out;
    });
    if (ids !== this.ids || theme !== this.theme || this.chart.data.datasets.length !== lines.length) {
      this.ids = ids;
      this.theme = theme;
      this.chart.data.datasets = lines.map((l, i) => {
        const color = theme.palette[i % theme.palette.length]!;
        return { label: l.label, data: data[i]!, borderColor: i < theme.palette.length ? color : withAlpha(color, 0.6), backgroundColor: color, borderDash: l.dashed ? [4, 3] : [], borderWidth: 1.5 };
      });
    } else {
      this.chart.data.datasets.forEach((d, i) => {
        d.data = data[i]!;
      });
    }
    const x = this.chart.options.scales!.x! as { min?: number; max?: number; ticks?: { maxTicksLimit?: number } };
    // The stage charts' window: from the first interval held to the last.
    x.min = series[0]?.t_ms;
    x.max = series.at(-1)?.t_ms;
    if (x.ticks) x.ticks.maxTicksLimit = Math.max(2, Math.min(8, Math.floor((this.chart.chartArea?.width || 480) / 65)));
    const dec = this.chart.options.plugins?.decimation as { samples?: number; threshold?: number } | undefined;
    if (dec) {
      const px = Math.max(100, Math.round(this.chart.chartArea?.width || this.chart.width || 600));
      dec.samples = px;
      dec.threshold = px;
    }
    this.chart.update('none');
    this.legend.sync();
  }
}

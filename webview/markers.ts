// Event markers on the time axes: a small triangle at the bottom of a time chart (or the heatmap) at
// every interval in which a drop, time_squeeze, retransmit or queue-overflow counter of the host
// moved (IntervalPoint.host_counters.events); clicking one shows which counters moved and by how much.
// The marks come from the store's series, so they sit on exactly the intervals the charts draw.
import type { Chart, Plugin } from 'chart.js';
import type { HostEventCounter, HostEventKind, IntervalPoint } from '../src/core/protocol.ts';
import { formatClock, formatCount, formatNs } from '../src/core/format.ts';
import { clear, h, setText } from './dom.ts';
import type { Theme } from './theme.ts';

export interface EventMark {
  t_ms: number;
  dur_ms: number;
  /** Largest first within a kind, drops first (core host.ts sortedEvents). */
  events: HostEventCounter[];
}

/** Where a mark is drawn on one canvas, in CSS px. */
export interface MarkPosition {
  t_ms: number;
  x: number;
  y: number;
}

/** Half the width of a marker, and its height (CSS px); a click this close counts. */
const HALF = 5;
const HEIGHT = 8;
const SLACK = 3;

export const KIND_LABEL: Record<HostEventKind, string> = { drop: 'drop', overflow: 'queue overflow', squeeze: 'time_squeeze', retransmit: 'retransmit' };

export function kindColor(kind: HostEventKind, theme: Theme): string {
  // palette: blue, orange, green, purple, yellow, red (theme.ts)
  if (kind === 'drop') return theme.error;
  if (kind === 'overflow') return theme.palette[1] ?? theme.error;
  if (kind === 'squeeze') return theme.palette[4] ?? theme.foreground;
  return theme.palette[3] ?? theme.foreground;
}

/** The intervals of `series` whose host counters moved, oldest first. */
export function eventMarks(series: readonly IntervalPoint[]): EventMark[] {
  const out: EventMark[] = [];
  for (const p of series) {
    const hc = p.host_counters;
    if (hc && hc.events.length) out.push({ t_ms: p.t_ms, dur_ms: hc.dur_ms, events: hc.events });
  }
  return out;
}

function drawMark(ctx: CanvasRenderingContext2D, x: number, bottom: number, fill: string, edge: string): void {
  ctx.beginPath();
  ctx.moveTo(x, bottom - HEIGHT);
  ctx.lineTo(x + HALF, bottom);
  ctx.lineTo(x - HALF, bottom);
  ctx.closePath();
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.lineWidth = 1;
  ctx.strokeStyle = edge;
  ctx.stroke();
}

/** A canvas that shows marks: where it drew each one, for clicks. */
interface Target {
  canvas: HTMLCanvasElement;
  positions: MarkPosition[];
}

/**
 * The marks of the panel's series, drawn on the time axes of any number of charts and the heatmap.
 * `onSelect` gets the mark under a click (and the canvas's name); a click elsewhere on a marked
 * canvas is left to the chart.
 */
export class EventMarkers {
  private marks: EventMark[] = [];
  private byT = new Map<number, EventMark>();
  private from: readonly IntervalPoint[] | undefined;
  private fromLast: IntervalPoint | undefined;
  private fromLength = 0;
  private theme: Theme | undefined;
  private readonly targets = new Map<string, Target>();

  constructor(private readonly onSelect: (mark: EventMark, target: string) => void) {}

  /** Takes the marks of `series` (recomputed only when it changed). */
  update(series: readonly IntervalPoint[], theme: Theme): void {
    this.theme = theme;
    if (series === this.from && series.length === this.fromLength && series.at(-1) === this.fromLast) return;
    this.from = series;
    this.fromLength = series.length;
    this.fromLast = series.at(-1);
    this.marks = eventMarks(series);
    this.byT = new Map(this.marks.map((m) => [m.t_ms, m]));
  }

  get all(): readonly EventMark[] {
    return this.marks;
  }

  at(t_ms: number): EventMark | undefined {
    return this.byT.get(t_ms);
  }

  /** Positions drawn on a canvas (tests click them). */
  positions(target: string): MarkPosition[] {
    return this.targets.get(target)?.positions.slice() ?? [];
  }

  /** Registers a canvas: clicks on its marks select them, the pointer shows they can be clicked. */
  private target(name: string, canvas: HTMLCanvasElement): Target {
    let t = this.targets.get(name);
    if (t) return t;
    const target: Target = { canvas, positions: [] };
    t = target;
    this.targets.set(name, target);
    const find = (ev: MouseEvent): MarkPosition | undefined => {
      const r = canvas.getBoundingClientRect();
      const x = ev.clientX - r.left;
      const y = ev.clientY - r.top;
      let best: MarkPosition | undefined;
      for (const p of target.positions) {
        if (Math.abs(p.x - x) > HALF + SLACK || y < p.y - HEIGHT - SLACK || y > p.y + SLACK) continue;
        if (!best || Math.abs(p.x - x) < Math.abs(best.x - x)) best = p;
      }
      return best;
    };
    canvas.addEventListener('click', (ev) => {
      const p = find(ev);
      const m = p && this.byT.get(p.t_ms);
      if (m) this.onSelect(m, name);
    });
    canvas.addEventListener('mousemove', (ev) => {
      canvas.style.cursor = find(ev) ? 'pointer' : '';
    });
    return t;
  }

  /** A chart.js plugin that draws the marks on a time chart's x axis (its values are t_ms). */
  chartPlugin(name: string): Plugin<'line'> {
    return {
      id: `nslatEvents-${name}`,
      afterDatasetsDraw: (chart: Chart<'line'>) => {
        const t = this.target(name, chart.canvas);
        t.positions = [];
        const theme = this.theme;
        const x = chart.scales.x;
        if (!theme || !x || this.marks.length === 0) return;
        const bottom = chart.chartArea.bottom;
        const ctx = chart.ctx;
        ctx.save();
        for (const m of this.marks) {
          if (m.t_ms < x.min || m.t_ms > x.max) continue;
          const px = x.getPixelForValue(m.t_ms);
          drawMark(ctx, px, bottom, kindColor(m.events[0]!.kind, theme), theme.background);
          t.positions.push({ t_ms: m.t_ms, x: px, y: bottom });
        }
        ctx.restore();
      },
    };
  }

  /** Draws the marks on a canvas drawn by hand (the heatmap) where `columnOf` says each interval is. */
  drawOn(name: string, canvas: HTMLCanvasElement, columnOf: (t_ms: number) => { x: number; bottom: number } | undefined): void {
    const t = this.target(name, canvas);
    t.positions = [];
    const theme = this.theme;
    const ctx = canvas.getContext('2d');
    if (!theme || !ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.save();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    for (const m of this.marks) {
      const c = columnOf(m.t_ms);
      if (!c) continue;
      drawMark(ctx, c.x, c.bottom, kindColor(m.events[0]!.kind, theme), theme.background);
      t.positions.push({ t_ms: m.t_ms, x: c.x, y: c.bottom });
    }
    ctx.restore();
  }
}

/** The box under a chart that says what moved at the selected mark. */
export class EventDetail {
  readonly el: HTMLDivElement;
  private readonly title = h('p', { class: 'event-detail-title' });
  private readonly list = h('ul', { class: 'event-detail-list' });
  /** The interval shown (wall ms), if any. */
  shown: number | undefined;

  constructor(id: string) {
    const close = h('button', { type: 'button', class: 'link', title: 'Close', 'aria-label': 'Close the event details' }, '×');
    close.addEventListener('click', () => this.hide());
    this.el = h('div', { class: 'event-detail', id, role: 'status', hidden: true }, h('div', { class: 'event-detail-head' }, this.title, close), this.list);
  }

  show(m: EventMark): void {
    this.shown = m.t_ms;
    setText(this.title, `Interval ending ${formatClock(m.t_ms)} (${formatNs(m.dur_ms * 1e6)}): host counters that moved`);
    clear(this.list);
    for (const e of m.events) this.list.append(h('li', { 'data-kind': e.kind }, h('span', { class: `event-kind kind-${e.kind}` }, KIND_LABEL[e.kind]), ` ${e.counter} `, h('strong', {}, `+${formatCount(e.delta)}`)));
    this.el.hidden = false;
  }

  hide(): void {
    this.shown = undefined;
    this.el.hidden = true;
  }
}

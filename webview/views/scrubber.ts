// The time scrubber of a saved trace: a slider over the trace's intervals. At the interval it
// points at, every stage's packets, p50 and p99 (as the host computed them from the full buckets),
// and the selected stage's histogram in that interval overlaid on the whole trace's; a cursor marks
// the interval on the Stages tab's time chart. Shown only for a saved trace (session.trace).
import type { IntervalPoint } from '../../src/core/protocol.ts';
import { formatClock, formatCount, formatKindValue, unitOfKind } from '../../src/core/format.ts';
import { HIST_BUCKETS } from '../../src/core/hist.ts';
import { restyleAll } from '../charts.ts';
import { OverlayHistogram } from '../compareCharts.ts';
import { type Row, h, setText, syncRows } from '../dom.ts';
import type { Dirty, Store } from '../store.ts';
import type { TimeOverlay } from '../timeOverlay.ts';
import { type PanelContext, type View, card, chartBox, dirName, numbersTable, showEmpty, stageName } from '../view.ts';

/** An interval's [bucket, count] pairs (each covering `group` buckets) as dense buckets, each
 *  pair's count in the first bucket of its group (the chart draws whole groups). */
function denseOf(pairs: readonly number[]): number[] {
  const b = new Array<number>(HIST_BUCKETS).fill(0);
  for (let j = 0; j + 1 < pairs.length; j += 2) b[pairs[j]!]! += pairs[j + 1]!;
  return b;
}

export class ScrubberView implements View {
  readonly el: HTMLElement;
  readonly actions;
  /** Index into the store's series; the last interval until the user moves it. */
  private index: number | undefined;
  private readonly range = h('input', { type: 'range', id: 'scrubber-range', min: 0, max: 0, step: 1, value: 0, 'aria-label': 'Interval of the trace' });
  private readonly readout = h('output', { id: 'scrubber-readout', for: 'scrubber-range' });
  private readonly body = h('tbody');
  private readonly hist = chartBox('scrub-hist', 'Histogram of the selected stage in this interval and over the whole trace');
  private readonly cTable = card('scrub-table', 'At this interval', numbersTable('scrub-table', 'Packets, p50 and p99 of every stage in the interval', ['stage', 'dir', 'packets', 'p50', 'p99'], this.body));
  private readonly cHist = card('scrub-hist', 'This interval against the whole trace', this.hist.box);
  chart!: OverlayHistogram;

  constructor(
    private readonly ctx: PanelContext,
    private readonly overlay: () => TimeOverlay | undefined,
  ) {
    this.el = h(
      'section',
      { class: 'scrubber', id: 'scrubber', 'aria-label': 'Trace scrubber', hidden: true },
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', class: 'secondary', 'data-action': 'scrub', 'data-value': '-1', title: 'Previous interval', 'aria-label': 'Previous interval' }, '◀'),
        this.range,
        h('button', { type: 'button', class: 'secondary', 'data-action': 'scrub', 'data-value': '1', title: 'Next interval', 'aria-label': 'Next interval' }, '▶'),
        this.readout,
      ),
      h('div', { class: 'grid' }, this.cTable.el, this.cHist.el),
    );
    this.range.addEventListener('input', () => this.moveTo(Number(this.range.value)));
    this.actions = { scrub: (v: string) => this.moveTo((this.index ?? Number(this.range.value)) + Number(v)) };
  }

  mount(): void {
    this.chart = new OverlayHistogram(this.hist.canvas, 'Histograms of the scrubber');
  }

  restyle(): void {
    restyleAll([this.chart], this.ctx.theme);
  }

  private moveTo(i: number): void {
    this.index = Math.max(0, Math.min(Number(this.range.max), Math.round(i)));
    this.ctx.invalidate(this);
  }

  render(store: Store, _dirty: Dirty): void {
    const on = !!store.session?.trace && store.series.length > 0;
    this.el.hidden = !on;
    if (!on) {
      this.overlay()?.setCursor(undefined);
      return;
    }
    const n = store.series.length;
    const i = Math.min(this.index ?? n - 1, n - 1);
    this.range.max = String(n - 1);
    if (this.range.value !== String(i)) this.range.value = String(i);
    const p: IntervalPoint = store.series[i]!;
    const dur = i > 0 ? p.t_ms - store.series[i - 1]!.t_ms : i + 1 < n ? store.series[i + 1]!.t_ms - p.t_ms : 0;
    setText(this.readout, `interval ${i + 1} of ${n} · ${formatClock(p.t_ms)}${dur > 0 ? ` · ${(dur / 1000).toFixed(dur < 10_000 ? 1 : 0)} s` : ''} · ${formatCount(p.events_per_s)} events/s`);
    this.range.setAttribute('aria-valuetext', `interval ${i + 1} of ${n}, ${formatClock(p.t_ms)}`);
    setText(this.cTable.title, `At ${formatClock(p.t_ms)} (interval ${i + 1})`);
    this.overlay()?.setCursor(p.t_ms);

    const rows: Row[] = [];
    for (const s of store.orderedStages()) {
      const v = p.stages[s.key];
      if (!v || s.cpu !== undefined) continue;
      rows.push({ key: s.key, class: s.key === this.ctx.ui.stage ? 'selected' : '', cells: [stageName(s), dirName(s.dir), formatCount(v[0]), v[0] > 0 ? formatKindValue(v[1], s.kind) : '–', v[0] > 0 ? formatKindValue(v[2], s.kind) : '–'] });
    }
    syncRows(this.body, rows);
    showEmpty(this.cTable, rows.length ? undefined : 'No stage saw packets in this interval.');

    const sel = (this.ctx.ui.stage ? store.stages.get(this.ctx.ui.stage) : undefined) ?? store.orderedStages().find((s) => s.kind === 'stage' && s.count > 0);
    const v = sel ? p.stages[sel.key] : undefined;
    setText(this.cHist.title, sel ? `${dirName(sel.dir)} ${stageName(sel)}: this interval against the whole trace` : 'This interval against the whole trace');
    if (!sel || !v || v[0] <= 0) {
      showEmpty(this.cHist, sel ? `${stageName(sel)} has no packets in this interval.` : 'No stage yet.');
      return;
    }
    showEmpty(this.cHist, undefined);
    this.ctx.timed('scrub-hist', () =>
      this.chart.update([{ label: `interval ${i + 1}`, buckets: denseOf(v[3]) }, { label: 'whole trace', buckets: sel.buckets }], unitOfKind(sel.kind), this.ctx.theme, v[4]),
    );
  }
}

// The Stages tab: stage selector, histogram, p50/p99 over time, heatmap, waterfall and the table of
// every stage (with the boundaries that are not attached and why).
import type { StageSummary } from '../../src/core/protocol.ts';
import { explainReason, shortReason } from '../../src/core/feeds.ts';
import { bucketRangeLabel, formatClock, formatCount, formatKindValue, kindLabel, unitOfKind } from '../../src/core/format.ts';
import { HistogramChart, TimeChart, WaterfallChart, restyleAll } from '../charts.ts';
import { type Row, clear, h, setText, syncRows } from '../dom.ts';
import { Heatmap } from '../heatmap.ts';
import { EventDetail, EventMarkers } from '../markers.ts';
import type { Dirty, Store } from '../store.ts';
import { type PanelContext, type View, card, chartBox, dirName, noDataYet, numbersTable, showEmpty, stageName, statCells, tabPanel } from '../view.ts';

export class StagesView implements View {
  readonly el: HTMLElement;
  /** Made in mount(), once the canvases are in the document (chart.js sizes a canvas when it is
   *  made; one made detached is sized later, by a resize that clears what was drawn). */
  charts!: { histogram: HistogramChart; time: TimeChart; waterfall: WaterfallChart };
  heatmap!: Heatmap;
  /** The host counters' events on the time chart's and the heatmap's time axes; a click on one
   *  says under its chart what moved. */
  readonly markers: EventMarkers;
  private readonly timeDetail = new EventDetail('timeseries-event-detail');
  private readonly heatDetail = new EventDetail('heatmap-event-detail');
  readonly actions;

  private readonly select = h('select', { id: 'stage-select' });
  private readonly compare = h('input', { type: 'checkbox', id: 'compare' });
  private readonly histogram = chartBox('histogram', 'Histogram of the selected stage');
  private readonly timeline = chartBox('timeseries', 'p50 and p99 of the selected stage over time');
  private readonly waterfall = chartBox('waterfall', 'Median time per layer, RX and TX, stacked in boundary order', 'chart-short');
  private readonly heatCanvas = h('canvas', { id: 'heatmap-canvas', role: 'img', 'aria-label': 'Latency heatmap of the selected stage: time by latency bucket' });
  private readonly heatReadout = h('p', { class: 'readout', id: 'heatmap-readout', 'aria-live': 'off' }, '\u00a0');
  private readonly body = h('tbody');
  private readonly cHist = card('histogram', 'Histogram', this.histogram.box);
  private readonly cTime = card('timeseries', 'p50 / p99 over time', this.timeline.box);
  private readonly cHeat;
  private readonly cWater = card('waterfall', 'Stage waterfall', this.waterfall.box);
  private readonly cTable = card(
    'stage-table',
    'Percentiles per stage',
    numbersTable('stage-table', 'Count and latency percentiles of every stage over the whole session', ['stage', 'dir', 'kind', 'count', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean'], this.body),
  );
  /** The heatmap is drawn by hand, after the rest (so its card is shown and the canvas has its size). */
  private heatDirty = true;
  /** The reason cells of skipped boundaries' rows, kept while the reason stays the same. */
  private readonly skipReasons = new Map<string, HTMLSpanElement>();
  /** The store of the last render (for the heatmap readout). */
  private store: Store | undefined;

  constructor(private readonly ctx: PanelContext) {
    this.markers = new EventMarkers((m, where) => (where === 'heatmap' ? this.heatDetail : this.timeDetail).show(m));
    this.cTime.el.append(this.timeDetail.el);
    const heatBox = h('div', { class: 'chart chart-heatmap' }, this.heatCanvas);
    this.cHeat = card(
      'heatmap',
      'Latency heatmap',
      heatBox,
      h('div', { class: 'legend-row' }, h('span', { class: 'ramp', 'aria-hidden': 'true' }), h('span', { class: 'muted' }, 'packets per interval, log scale; dashed lines: probe reloads (red: failed); ▲ host counters moved (click)'), this.heatReadout),
      this.heatDetail.el,
    );
    this.el = tabPanel(
      'stages',
      'Stages',
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'stage-select' }, 'Stage '),
        this.select,
        h('label', { class: 'check' }, this.compare, ' compare with the other stages of this direction'),
      ),
      h('div', { class: 'grid' }, this.cHist.el, this.cTime.el, this.cHeat.el, this.cWater.el, this.cTable.el),
    );

    this.select.addEventListener('change', () => this.selectStage(this.select.value));
    this.compare.checked = ctx.ui.compare;
    this.compare.addEventListener('change', () => {
      ctx.ui.compare = this.compare.checked;
      ctx.saveUi();
      ctx.invalidate(this);
    });
    this.heatCanvas.addEventListener('mousemove', (ev) => {
      const r = this.heatCanvas.getBoundingClientRect();
      const hit = this.heatmap.hit(ev.clientX - r.left, ev.clientY - r.top);
      const s = ctx.ui.stage ? this.store?.stages.get(ctx.ui.stage) : undefined;
      setText(this.heatReadout, hit ? `${formatClock(hit.t_ms)} · ${bucketRangeLabel(hit.bucket, hit.last, unitOfKind(s?.kind ?? 'stage'))} · ${formatCount(hit.count)} packets` : '\u00a0');
    });
    new ResizeObserver(() => {
      this.heatDirty = true;
      ctx.requestRender();
    }).observe(heatBox);
    this.actions = { 'select-stage': (v: string) => this.selectStage(v) };
  }

  mount(): void {
    this.charts = {
      histogram: new HistogramChart(this.histogram.canvas),
      time: new TimeChart(this.timeline.canvas, [this.markers.chartPlugin('timeseries')]),
      waterfall: new WaterfallChart(this.waterfall.canvas),
    };
    this.heatmap = new Heatmap(this.heatCanvas);
  }

  private selectStage(key: string): void {
    this.ctx.ui.stage = key;
    this.ctx.saveUi();
    this.ctx.invalidate(this);
  }

  restyle(): void {
    restyleAll(Object.values(this.charts), this.ctx.theme);
  }

  render(store: Store, dirty: Dirty): void {
    this.store = store;
    this.markers.update(store.series, this.ctx.theme);
    if (dirty.stages || dirty.series || dirty.reloads || dirty.health) {
      this.renderStages(store);
      this.heatDirty = true;
    }
    if (this.heatDirty) this.renderHeatmap(store);
  }

  private selected(store: Store): StageSummary | undefined {
    const s = this.ctx.ui.stage ? store.stages.get(this.ctx.ui.stage) : undefined;
    if (s) return s;
    const all = store.orderedStages();
    return all.find((x) => x.kind === 'stage' && x.count > 0) ?? all.find((x) => x.count > 0) ?? all[0];
  }

  private renderStages(store: Store): void {
    const ctx = this.ctx;
    const theme = ctx.theme;
    const ordered = store.orderedStages();
    const sel = this.selected(store);
    this.renderSelect(ordered, sel);

    const noData = noDataYet(store) ?? (ordered.length === 0 ? 'No stage has seen a packet yet.' : undefined);
    const label = sel ? `${dirName(sel.dir)} ${stageName(sel)}` : '';
    setText(this.cHist.title, sel ? `Histogram — ${label}` : 'Histogram');
    setText(this.cTime.title, sel ? `p50 / p99 over time — ${label}` : 'p50 / p99 over time');
    setText(this.cHeat.title, sel ? `Latency heatmap — ${label}` : 'Latency heatmap');
    if (sel) {
      const f = (v: number) => formatKindValue(v, sel.kind);
      this.histogram.canvas.setAttribute('aria-label', `Histogram of ${label}: ${formatCount(sel.count)} packets, p50 ${f(sel.p50)}, p99 ${f(sel.p99)}, max ${f(sel.max)}. The numbers are in the table below.`);
      this.timeline.canvas.setAttribute('aria-label', `p50 and p99 of ${label} over the last ${store.series.length} intervals${store.reloads.length ? `, ${store.reloads.length} probe reloads marked` : ''}`);
      this.heatCanvas.setAttribute('aria-label', `Latency heatmap of ${label}: time by latency bucket over ${store.series.length} intervals`);
    }

    if (sel && sel.count > 0) {
      showEmpty(this.cHist, undefined);
      ctx.timed('histogram', () => this.charts.histogram.update(sel, theme));
    } else showEmpty(this.cHist, noData ?? `${sel?.name ?? 'This stage'} has no packets yet.`);

    const others = ctx.ui.compare && sel ? ordered.filter((s) => s.dir === sel.dir && s.kind === sel.kind && s.key !== sel.key && s.cpu === sel.cpu) : [];
    if (sel && store.series.length > 1) {
      showEmpty(this.cTime, undefined);
      ctx.timed('timeseries', () => this.charts.time.update(store.series, sel, others, store.reloads, theme));
    } else showEmpty(this.cTime, noData ?? 'Waiting for a second interval…');

    // Waterfall: median of each layer (kind "stage"), RX and TX, in boundary order.
    const rx = ordered.filter((s) => s.kind === 'stage' && s.dir === 'rx' && s.count > 0);
    const tx = ordered.filter((s) => s.kind === 'stage' && s.dir === 'tx' && s.count > 0);
    if (rx.length || tx.length) {
      showEmpty(this.cWater, undefined);
      ctx.timed('waterfall', () => this.charts.waterfall.update(rx, tx, theme));
    } else showEmpty(this.cWater, noData ?? 'No RX or TX stage has packets yet.');

    this.renderTable(store, ordered, sel, noData);
  }

  /** The stage selector, grouped by direction and kind; rebuilt only when the stages change. */
  private renderSelect(ordered: StageSummary[], sel: StageSummary | undefined): void {
    const select = this.select;
    const wantKeys = ordered.map((s) => s.key).join('\n');
    if (select.dataset.keys !== wantKeys) {
      clear(select);
      const groups = new Map<string, HTMLOptGroupElement>();
      for (const s of ordered) {
        const g = `${dirName(s.dir)} · ${kindLabel(s.kind)}`;
        let og = groups.get(g);
        if (!og) {
          og = h('optgroup', { label: g });
          groups.set(g, og);
          select.append(og);
        }
        og.append(h('option', { value: s.key }, stageName(s)));
      }
      select.dataset.keys = wantKeys;
    }
    if (ordered.length === 0 && select.options.length === 0) select.append(h('option', { value: '' }, 'no stages yet'));
    select.disabled = ordered.length === 0;
    if (sel && select.value !== sel.key) select.value = sel.key;
  }

  /** Every RX and TX stage, then the boundaries that are not attached and why. */
  private renderTable(store: Store, ordered: StageSummary[], sel: StageSummary | undefined, noData: string | undefined): void {
    const rows: Row[] = ordered
      .filter((s) => s.dir !== 'irq')
      .map((s) => ({
        key: s.key,
        class: s.key === sel?.key ? 'selected' : s.count === 0 ? 'idle' : '',
        cells: [
          { button: stageName(s), action: 'select-stage', value: s.key, pressed: s.key === sel?.key, title: 'Show this stage in the charts' },
          dirName(s.dir),
          kindLabel(s.kind),
          formatCount(s.count),
          ...statCells(s, ['p50', 'p90', 'p99', 'p999', 'max', 'mean']),
        ],
      }));
    for (const b of store.inactiveBoundaries()) {
      // Four cells, the reason spanning the last seven columns (set below): the row is kept across
      // updates like the others instead of being rebuilt.
      const key = `skip:${b.slot}:${b.dir}:${b.name}`;
      rows.push({ key, class: 'skipped', cells: [b.name, dirName(b.dir), 'not attached', this.skipReason(key, b.reason)] });
    }
    this.ctx.timed('table', () => syncRows(this.body, rows));
    for (const tr of Array.from(this.body.rows)) {
      if (tr.classList.contains('skipped')) {
        const c = tr.cells[3];
        if (c && c.colSpan !== 7) c.colSpan = 7;
        while (tr.cells.length > 4) tr.cells[4]!.remove();
      }
    }
    showEmpty(this.cTable, rows.length ? undefined : noData ?? 'No stages yet.');
  }

  /** The reason cell of a skipped boundary's row (short, the whole reason as its tooltip). */
  private skipReason(row: string, reason: string | undefined): HTMLSpanElement {
    const text = shortReason(reason);
    let el = this.skipReasons.get(row);
    if (!el || el.textContent !== text) {
      el = h('span', { class: 'reason', title: explainReason(reason) }, text);
      this.skipReasons.set(row, el);
    }
    return el;
  }

  /** Shown first (so the canvas has its size), then drawn. */
  private renderHeatmap(store: Store): void {
    this.heatDirty = false;
    const sel = this.selected(store);
    showEmpty(this.cHeat, undefined);
    let drawn = false;
    this.ctx.timed('heatmap', () => {
      drawn = sel ? this.heatmap.draw(store.series, sel.key, store.reloads, this.ctx.theme, unitOfKind(sel.kind)) : false;
      if (drawn) this.markers.drawOn('heatmap', this.heatCanvas, (t) => this.heatmap.columnOf(t));
    });
    if (!drawn) showEmpty(this.cHeat, noDataYet(store) ?? 'No packets in the history of this stage yet.');
  }
}

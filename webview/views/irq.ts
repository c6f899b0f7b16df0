// The IRQ & softirq tab: per line (or vector) and CPU charts of hard IRQ time, IRQ thread wake-up
// and run time, softirq delay and run time, and the table of their numbers.
import type { StageSummary } from '../../src/core/protocol.ts';
import { describeFeeds, explainReason, shortReason } from '../../src/core/feeds.ts';
import { formatCount, kindLabel } from '../../src/core/format.ts';
import { PerCpuChart, restyleAll } from '../charts.ts';
import { h, syncRows } from '../dom.ts';
import type { Dirty, Store } from '../store.ts';
import { type Card, type PanelContext, type View, card, chartBox, noDataYet, numbersTable, showEmpty, statCells, tabPanel } from '../view.ts';

/** One chart card per histogram kind. */
interface KindChart {
  kind: string;
  card: Card;
  canvas: HTMLCanvasElement;
  series: string;
  chart?: PerCpuChart;
  empty: string;
}

export class IrqView implements View {
  readonly el: HTMLElement;
  /** Made in mount(), once the canvases are in the document (see StagesView.charts). */
  charts!: { hardirq: PerCpuChart; thrLat: PerCpuChart; thrTime: PerCpuChart; sdelay: PerCpuChart; stime: PerCpuChart };
  private readonly kinds: { hardirq: KindChart; thrLat: KindChart; thrTime: KindChart; sdelay: KindChart; stime: KindChart };
  private readonly body = h('tbody');
  private readonly cTable = card('irq-table', 'IRQ and softirq numbers', numbersTable('irq-table', 'Per CPU and vector: count and percentiles', ['series', 'kind', 'CPU', 'count', 'p50', 'p90', 'p99', 'max'], this.body));

  constructor(private readonly ctx: PanelContext) {
    const kindChart = (kind: string, id: string, title: string, label: string, series: string, empty: string): KindChart => {
      const box = chartBox(id, label, 'chart-tall');
      return { kind, card: card(id, title, box.box), canvas: box.canvas, series, empty };
    };
    this.kinds = {
      hardirq: kindChart('hardirq', 'hardirq', 'Hard IRQ time per line and CPU', 'Hard IRQ handler time per IRQ line and CPU', 'hard IRQ handler time', 'No hard IRQ on the traced lines yet (or the irq probes are not loaded).'),
      thrLat: kindChart('irq_thread_latency', 'irq-thread-latency', 'IRQ thread wake-up: hard IRQ → handler thread runs, per line and CPU', 'IRQ thread wake-up: hard IRQ to handler thread running, per IRQ line and CPU', 'hard IRQ → thread runs the handler', 'No threaded IRQ handler ran yet.'),
      thrTime: kindChart('irq_thread_time', 'irq-thread-time', 'Threaded IRQ handler run time per line and CPU', 'Threaded IRQ handler run time per IRQ line and CPU', 'threaded handler run time', 'No threaded IRQ handler ran yet.'),
      sdelay: kindChart('softirq_delay', 'softirq-delay', 'Softirq raise → run delay per vector and CPU', 'Softirq raise to run delay per vector and CPU', 'softirq raise → run', 'No softirq raised yet.'),
      stime: kindChart('softirq_time', 'softirq-time', 'Softirq run time per vector and CPU', 'Softirq run time per vector and CPU', 'softirq run time', 'No softirq ran yet.'),
    };
    this.el = tabPanel('irq', 'IRQ and softirq', h('div', { class: 'grid' }, ...Object.values(this.kinds).map((c) => c.card.el), this.cTable.el));
  }

  mount(): void {
    const make = (c: KindChart) => (c.chart = new PerCpuChart(c.canvas, c.series));
    const k = this.kinds;
    this.charts = { hardirq: make(k.hardirq), thrLat: make(k.thrLat), thrTime: make(k.thrTime), sdelay: make(k.sdelay), stime: make(k.stime) };
  }

  restyle(): void {
    restyleAll(Object.values(this.charts), this.ctx.theme);
  }

  render(store: Store, dirty: Dirty): void {
    if (!(dirty.stages || dirty.session || dirty.health)) return;
    const ordered = store.orderedStages();
    const noData = noDataYet(store);
    const rowsOf = (c: KindChart) => ordered.filter((s) => s.kind === c.kind && s.count > 0);
    const { thrLat, thrTime } = this.kinds;
    // IRQ threads: only where device IRQ handlers are threaded by force (PREEMPT_RT, threadirqs).
    const threaded = store.session?.irq_threads;
    const thrGroup = store.health?.groups?.find((g) => g.name === 'irq_thread');
    const thrEmpty =
      threaded === false ? 'Nothing is threaded here: device IRQ handlers run in hard IRQ context (no PREEMPT_RT, no threadirqs boot option), so there is no IRQ thread wake-up to measure.'
      : thrGroup && !thrGroup.active ? `Not measured: ${shortReason(thrGroup.reason)}.`
      : undefined;
    thrLat.card.el.title = thrGroup ? (thrGroup.active ? `fed by ${describeFeeds(thrGroup) ?? ''}` : explainReason(thrGroup.reason)) : '';
    const rows = new Map(Object.values(this.kinds).map((c) => [c, rowsOf(c)] as const));
    // One card says why there is nothing; the run-time card only shows with data.
    thrTime.card.el.hidden = rows.get(thrTime)!.length === 0 && rows.get(thrLat)!.length === 0;
    for (const [c, list] of rows) {
      if (list.length) {
        showEmpty(c.card, undefined);
        // Height grows with the number of bars so labels stay readable.
        (c.canvas.parentElement as HTMLElement).style.height = `${Math.max(180, 96 + list.length * 30)}px`;
        c.chart?.update(list, this.ctx.theme);
      } else showEmpty(c.card, noData ?? (c === thrLat ? thrEmpty : undefined) ?? c.empty);
    }
    const irqRows: StageSummary[] = ordered.filter((s) => s.dir === 'irq');
    syncRows(
      this.body,
      irqRows.map((s) => ({ key: s.key, cells: [s.name, kindLabel(s.kind), s.cpu ?? '', formatCount(s.count), ...statCells(s, ['p50', 'p90', 'p99', 'max'])] })),
    );
    showEmpty(this.cTable, irqRows.length ? undefined : noData ?? 'No IRQ or softirq series yet.');
  }
}

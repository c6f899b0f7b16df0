// The Host tab: the traced machine's own counters beside the stages. Hints first (what the counters
// explain), then time charts on the stage charts' time axis and window (packets per interface,
// drops and the other event counters, softirq share per CPU, socket Recv-Q) with the event markers,
// the intervals in which event counters moved, and tables of interfaces, CPUs, IRQ lines, sockets
// and protocol counters as ip, ethtool, tc, sar, /proc/interrupts, ss and netstat show them.
import type { HostSummary, IntervalPoint } from '../../src/core/protocol.ts';
import { HOST_TOTAL_KEYS, dropsKey, recvQKey, rxPacketsKey, softirqShareKey, txPacketsKey } from '../../src/core/host-keys.ts';
import { formatBytes, formatClock, formatCount, formatNs, formatPercent, formatRate } from '../../src/core/format.ts';
import { restyleAll } from '../charts.ts';
import { clear, h, setText, syncRows, type Row } from '../dom.ts';
import { type HostLine, HostSeriesChart, gauge, perSecond, sumPerSecond } from '../host-charts.ts';
import { EventDetail, EventMarkers, KIND_LABEL } from '../markers.ts';
import type { Dirty, Store } from '../store.ts';
import { type Card, type PanelContext, type View, card, chartBox, noDataYet, numbersTable, showEmpty, tabPanel } from '../view.ts';

/** Lines per chart at most (the busiest ones). */
const MAX_LINES = 8;
/** Rows of the events table (newest first). */
const EVENT_ROWS = 200;

const pct = (v: number): string => formatPercent(v).replace(' %', '%');

interface ChartCard {
  card: Card;
  canvas: HTMLCanvasElement;
  chart?: HostSeriesChart;
}

export class HostView implements View {
  readonly el: HTMLElement;
  readonly markers: EventMarkers;
  readonly detail = new EventDetail('host-event-detail');
  charts!: { packets: HostSeriesChart; events: HostSeriesChart; cpu: HostSeriesChart; recvq: HostSeriesChart };
  private readonly note = h('p', { class: 'muted host-note', id: 'host-note' });
  private readonly hints = h('ol', { class: 'hint-list', id: 'host-hints' });
  private readonly cHints = card('host-hints-card', 'Hints', this.hints);
  private readonly chartCards: { packets: ChartCard; events: ChartCard; cpu: ChartCard; recvq: ChartCard };
  private readonly bodies = { events: h('tbody'), ifaces: h('tbody'), cpus: h('tbody'), irqs: h('tbody'), sockets: h('tbody'), snmp: h('tbody') };
  private readonly cEvents = card('host-events', 'Intervals in which event counters moved', numbersTable('host-events-table', 'Intervals in which a drop, time_squeeze, retransmit or queue-overflow counter moved, newest first', ['interval end', 'counters that moved'], this.bodies.events));
  private readonly cIfaces = card('host-ifaces', 'Interfaces', numbersTable('host-iface-table', 'Interfaces: packets, drops and configuration', ['interface', 'driver', 'state', 'rx/s', 'tx/s', 'dropped', 'errors', 'rings rx/tx', 'qdiscs', 'driver counters', 'configuration'], this.bodies.ifaces));
  private readonly cCpus = card('host-cpus', 'CPUs', numbersTable('host-cpu-table', 'CPUs: time as sar -u splits it, softnet_stat, NET_RX runs', ['CPU', '%usr', '%sys', '%irq', '%soft', 'soft max', '%idle', 'processed', 'dropped', 'squeezed', 'NET_RX'], this.bodies.cpus));
  private readonly cIrqs = card('host-irqs', 'IRQ lines', numbersTable('host-irq-table', 'IRQ lines: interrupts per CPU and affinity', ['IRQ', 'name', 'NIC queue', 'total', 'per CPU', 'affinity', 'effective'], this.bodies.irqs));
  private readonly cSockets = card('host-sockets', 'Sockets', numbersTable('host-socket-table', 'Sockets with the longest queues and those of the filter', ['socket', 'state', 'Recv-Q', 'max', 'Send-Q', 'drops', 'process', 'TCP'], this.bodies.sockets));
  private readonly cSnmp = card('host-snmp', 'Protocol counters', numbersTable('host-snmp-table', 'Protocol counters as netstat -s shows them', ['counter', 'total', 'per s', 'event'], this.bodies.snmp));
  private hintsSig = '';

  constructor(private readonly ctx: PanelContext) {
    this.markers = new EventMarkers((m) => this.detail.show(m));
    const chart = (id: string, title: string, label: string): ChartCard => {
      const box = chartBox(id, label);
      return { card: card(id, title, box.box), canvas: box.canvas };
    };
    this.chartCards = {
      packets: chart('host-packets', 'Packets per second by interface', 'Packets received and sent per second by interface, over time'),
      events: chart('host-event-rates', 'Drops, squeezes, retransmits and overflows per second', 'Event counters per second over time'),
      cpu: chart('host-cpu-chart', 'Softirq share of CPU time', 'Share of each CPU in softirq per interval, over time'),
      recvq: chart('host-recvq', 'Socket Recv-Q (the largest in each interval)', 'Receive queue of the listed sockets over time'),
    };
    this.chartCards.events.card.el.append(this.detail.el);
    this.el = tabPanel(
      'host',
      'Host counters',
      this.note,
      h(
        'div',
        { class: 'grid' },
        this.cHints.el,
        ...Object.values(this.chartCards).map((c) => c.card.el),
        this.cEvents.el,
        this.cIfaces.el,
        this.cCpus.el,
        this.cIrqs.el,
        this.cSockets.el,
        this.cSnmp.el,
      ),
    );
  }

  mount(): void {
    const c = this.chartCards;
    const make = (x: ChartCard, name: string, yTitle: string, format: (v: number) => string) => (x.chart = new HostSeriesChart(x.canvas, yTitle, format, [this.markers.chartPlugin(name)]));
    this.charts = {
      packets: make(c.packets, 'host-packets', 'packets/s', (v) => formatCount(v)),
      events: make(c.events, 'host-events', 'per second', (v) => formatRate(v)),
      cpu: make(c.cpu, 'host-cpu', 'softirq share', (v) => pct(v / 100)),
      recvq: make(c.recvq, 'host-recvq', 'Recv-Q', (v) => formatBytes(v)),
    };
  }

  restyle(): void {
    restyleAll(Object.values(this.charts), this.ctx.theme);
  }

  render(store: Store, dirty: Dirty): void {
    const h0 = store.hostCounters;
    const none = noDataYet(store) ?? (h0 ? undefined : 'No host counters: the helper sends none (collection is off, or a helper without them).');
    if (dirty.hostCounters || dirty.session) this.renderNote(h0);
    if (dirty.series || dirty.hostCounters || dirty.reloads) {
      this.markers.update(store.series, this.ctx.theme);
      this.renderCharts(store.series, h0, none);
      this.renderEvents(store.series, none);
    }
    if (dirty.hostCounters || dirty.session) this.renderTables(h0, none);
  }

  private renderNote(s: HostSummary | undefined): void {
    setText(this.note, s ? `Counters the helper read from procfs, sysfs and netlink at every snapshot: ${formatCount(s.samples)} samples over ${s.duration_s.toFixed(1)} s; collecting one took it ${formatNs(s.cost_ns.mean)} of CPU (at most ${formatNs(s.cost_ns.max)}).${s.errors.length ? ` Not read: ${s.errors.join('; ')}.` : ''}` : '');
  }

  private renderCharts(series: readonly IntervalPoint[], s: HostSummary | undefined, none: string | undefined): void {
    const theme = this.ctx.theme;
    const c = this.chartCards;
    const show = (x: ChartCard, lines: HostLine[], empty: string) => {
      const why = none ?? (series.length < 2 ? 'Waiting for a second interval…' : lines.length ? undefined : empty);
      showEmpty(x.card, why);
      if (!why) this.ctx.timed(x.card.el.id, () => x.chart?.update(series, lines, theme));
    };
    const ifaces = [...(s?.ifaces ?? [])].sort((a, b) => b.rx_pps + b.tx_pps - (a.rx_pps + a.tx_pps)).filter((i) => i.rx_pps + i.tx_pps > 0).slice(0, MAX_LINES / 2);
    show(
      c.packets,
      ifaces.flatMap((i) => [
        { id: `rx:${i.id}`, label: `${i.id} rx`, value: perSecond(rxPacketsKey(i.id)) },
        { id: `tx:${i.id}`, label: `${i.id} tx`, value: perSecond(txPacketsKey(i.id)), dashed: true },
      ]),
      'No interface moved packets yet.',
    );
    const ids = (s?.ifaces ?? []).map((i) => dropsKey(i.id));
    show(
      c.events,
      s
        ? [
            { id: 'drops', label: 'interface and qdisc drops', value: sumPerSecond(ids) },
            { id: 'softnet', label: 'softnet dropped', value: perSecond(HOST_TOTAL_KEYS.softnet_dropped) },
            { id: 'squeeze', label: 'time_squeeze', value: perSecond(HOST_TOTAL_KEYS.time_squeeze) },
            { id: 'retrans', label: 'TCP retransmits', value: perSecond(HOST_TOTAL_KEYS.retrans) },
            { id: 'listen', label: 'listen drops', value: perSecond(HOST_TOTAL_KEYS.listen_drops) },
            { id: 'rcvbuf', label: 'UDP RcvbufErrors', value: perSecond(HOST_TOTAL_KEYS.rcvbuf_errors) },
          ]
        : [],
      'No counters yet.',
    );
    const cpus = [...(s?.cpus ?? [])].sort((a, b) => b.softirq_max - a.softirq_max || a.cpu - b.cpu).slice(0, MAX_LINES).sort((a, b) => a.cpu - b.cpu);
    show(c.cpu, cpus.map((x) => ({ id: `cpu:${x.cpu}`, label: `CPU ${x.cpu}`, value: gauge(softirqShareKey(x.cpu), 100) })), 'No CPU time yet.');
    const socks = (s?.sockets ?? []).filter((x) => x.recv_q_max > 0).slice(0, MAX_LINES);
    show(c.recvq, socks.map((x) => ({ id: x.id, label: x.id, value: gauge(recvQKey(x.id)) })), 'No listed socket had data waiting.');
  }

  private renderEvents(series: readonly IntervalPoint[], none: string | undefined): void {
    const marks = this.markers.all;
    const rows: Row[] = [];
    for (let i = marks.length - 1; i >= 0 && rows.length < EVENT_ROWS; i--) {
      const m = marks[i]!;
      rows.push({ key: String(m.t_ms), cells: [formatClock(m.t_ms), m.events.map((e) => `${e.counter} +${formatCount(e.delta)} (${KIND_LABEL[e.kind]})`).join('; ')] });
    }
    syncRows(this.bodies.events, rows);
    showEmpty(this.cEvents, none ?? (rows.length ? undefined : `No drop, time_squeeze, retransmit or queue-overflow counter moved in the ${series.length} intervals held.`));
  }

  private renderTables(s: HostSummary | undefined, none: string | undefined): void {
    this.renderHints(s, none);
    const empty = (c: Card, n: number, text: string) => showEmpty(c, none ?? (n ? undefined : text));
    const ifaces = s?.ifaces ?? [];
    syncRows(
      this.bodies.ifaces,
      ifaces.map((i) => {
        const c = i.config;
        const r = c?.rings;
        const cfg = [c?.mtu !== undefined ? `mtu ${c.mtu}` : '', c?.rx_queues !== undefined ? `queues ${c.rx_queues}/${c.tx_queues ?? '?'}` : '', ...Object.entries(c?.coalesce ?? {}).map(([k, v]) => `${k} ${v}`), c?.rps?.length ? `rps ${c.rps.join(',')}` : '', c?.xps?.length ? `xps ${c.xps.join(',')}` : ''].filter(Boolean).join(', ');
        const qd = i.qdiscs.filter((q) => q.kind !== 'noqueue').map((q) => `${q.kind} ${q.handle} dropped ${formatCount(q.drops)}, backlog ≤${formatCount(q.backlog_max_packets)}`).join('; ');
        // The driver's counters that moved (ethtool -S), in the core's order: drop counters first.
        const drv = Object.entries(i.driver);
        const drvText = drv.slice(0, 4).map(([k, v]) => `${k} ${formatCount(v)}`).join(', ') + (drv.length > 4 ? `, +${drv.length - 4} more` : '');
        return {
          key: i.id,
          class: i.drops > 0 ? 'warn' : '',
          cells: [i.id, c?.driver ?? '–', [c?.operstate, c?.speed_mbps ? `${c.speed_mbps} Mb/s` : ''].filter(Boolean).join(' ') || '–', formatRate(i.rx_pps), formatRate(i.tx_pps), formatCount(i.drops), formatCount(i.errors), r && (r.rx !== undefined || r.tx !== undefined) ? `${r.rx ?? '?'}/${r.rx_max ?? '?'} · ${r.tx ?? '?'}/${r.tx_max ?? '?'}` : '–', qd || '–', drvText || '–', cfg || '–'],
        };
      }),
    );
    empty(this.cIfaces, ifaces.length, 'No interface reported.');
    const cpus = s?.cpus ?? [];
    syncRows(
      this.bodies.cpus,
      cpus.map((c) => ({
        key: String(c.cpu),
        class: c.softnet.time_squeeze > 0 || c.softnet.dropped > 0 ? 'warn' : '',
        cells: [String(c.cpu), pct(c.time.user), pct(c.time.system), pct(c.time.irq), pct(c.time.softirq), pct(c.softirq_max), pct(c.time.idle), formatCount(c.softnet.processed), formatCount(c.softnet.dropped), formatCount(c.softnet.time_squeeze), formatCount(c.softirqs.NET_RX ?? 0)],
      })),
    );
    empty(this.cCpus, cpus.length, 'No CPU reported.');
    const irqs = (s?.irqs ?? []).filter((q) => q.total > 0 || q.queue);
    syncRows(
      this.bodies.irqs,
      irqs.map((q) => ({
        key: String(q.irq),
        cells: [String(q.irq), q.name, q.queue ? `${q.queue.iface ?? q.queue.device} ${q.queue.queue}` : '–', formatCount(q.total), q.counts.map((n, c) => (n > 0 ? `${c}:${formatCount(n)}` : '')).filter(Boolean).join(' ') || '–', q.affinity ?? '–', q.effective_affinity ?? '–'],
      })),
    );
    empty(this.cIrqs, irqs.length, 'No IRQ line fired.');
    const socks = s?.sockets ?? [];
    syncRows(
      this.bodies.sockets,
      socks.map((x) => ({
        key: x.id,
        class: x.current ? '' : 'idle',
        cells: [
          `${x.flow ? '★ ' : ''}${x.proto} ${x.local} ${x.remote}${x.netns ? ` @${x.netns}` : ''}`,
          x.current ? x.state : `${x.state} (gone)`,
          formatBytes(x.recv_q),
          formatBytes(x.recv_q_max),
          formatBytes(x.send_q),
          formatCount(x.drops_seen),
          x.procs.map((p) => `${p.comm} ${p.pid}`).join(', ') || '–',
          x.tcp ? `rtt ${formatNs(x.tcp.rtt_us * 1000)}, cwnd ${x.tcp.cwnd}, retrans ${x.tcp.retrans}` : '–',
        ],
      })),
    );
    empty(this.cSockets, socks.length, 'No socket had a queue, and the filter names no port or process.');
    const snmp = s?.snmp ?? [];
    syncRows(
      this.bodies.snmp,
      snmp.map((r) => ({ key: r.name, class: r.kind && r.total > 0 ? 'warn' : '', cells: [r.name, formatCount(r.total), formatRate(r.per_s), r.kind ? KIND_LABEL[r.kind] : ''] })),
    );
    empty(this.cSnmp, snmp.length, 'No protocol counter moved.');
  }

  private renderHints(s: HostSummary | undefined, none: string | undefined): void {
    const hints = s?.hints ?? [];
    const sig = JSON.stringify(hints);
    if (sig !== this.hintsSig) {
      this.hintsSig = sig;
      clear(this.hints);
      for (const x of hints) {
        const when = x.interval_count ? `${x.interval_count === 1 ? 'interval' : `${formatCount(x.interval_count)} intervals`}: ${x.interval_count > 6 ? '…, ' : ''}${x.intervals.slice(-6).map(formatClock).join(', ')}` : '';
        this.hints.append(h('li', { class: 'hint', 'data-rule': x.rule }, h('p', { class: 'hint-title' }, h('code', {}, x.rule), ' ', x.title), h('p', { class: 'hint-detail' }, x.detail), when ? h('p', { class: 'muted hint-when' }, when) : null));
      }
    }
    showEmpty(this.cHints, none ?? (hints.length ? undefined : 'No rule found a pattern in the counters: no drops, squeezes, overflows or retransmits that explain the latency.'));
  }
}

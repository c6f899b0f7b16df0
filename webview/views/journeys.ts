// The Packet journeys tab: the sampled packets, newest first, and the selected one's boundaries on a
// timeline and in a table.
import type { JourneyMessage } from '../../src/core/protocol.ts';
import { formatNs, l4Name } from '../../src/core/format.ts';
import { clear, h, setText, syncRows } from '../dom.ts';
import type { Dirty, Store } from '../store.ts';
import type { Theme } from '../theme.ts';
import { type PanelContext, type View, card, dirName, noDataYet, numbersTable, showEmpty, tabPanel } from '../view.ts';

/** Rows of the packet list (the store keeps more). */
const JOURNEY_ROWS = 200;

function journeyId(j: JourneyMessage): string {
  return `${j.slot}:${j.dir}:${j.mono_ns}`;
}

function flow(j: JourneyMessage): string {
  const proto = l4Name(j.l4);
  const ports = j.sport !== undefined || j.dport !== undefined ? `${j.sport ?? '?'}→${j.dport ?? '?'}` : '';
  return [j.family && j.family !== 'other' ? j.family : '', proto, ports].filter(Boolean).join(' ');
}

export class JourneysView implements View {
  readonly el: HTMLElement;
  readonly actions;
  private readonly body = h('tbody');
  private readonly scroll: HTMLDivElement;
  private readonly timeline = h('div', { class: 'journey-timeline', id: 'journey-timeline' });
  private readonly markBody = h('tbody');
  private readonly markTable: HTMLTableElement;
  private readonly title = h('h3', { id: 'journey-detail-title' }, 'Packet timeline');
  private readonly empty = h('p', { class: 'empty' }, 'Select a packet to see the boundaries it passed on a timeline.');
  private readonly cList;

  constructor(private readonly ctx: PanelContext) {
    this.scroll = numbersTable('journey-table', 'Sampled packet journeys, newest first', ['packet', 'dir', 'why', 'total', 'flow', 'len', 'CPU', 'end', 'at (s)'], this.body, 'journey-list');
    this.scroll.addEventListener('scroll', () => {
      if (!ctx.scrollRestored) return;
      ctx.ui.journeyScroll = this.scroll.scrollTop;
      ctx.saveUiSoon();
    });
    this.markTable = h(
      'table',
      { class: 'numbers', id: 'journey-marks' },
      h('caption', { class: 'visually-hidden' }, 'Boundaries of the selected packet'),
      h('thead', {}, h('tr', {}, ...['boundary', 'since first', 'step'].map((c) => h('th', { scope: 'col' }, c)))),
      this.markBody,
    );
    this.cList = card('journeys', 'Sampled packets', this.scroll);
    const detail = h('section', { class: 'card card-journey-detail', id: 'journey-detail', 'aria-labelledby': 'journey-detail-title' }, this.title, this.empty, this.timeline, this.markTable);
    this.el = tabPanel('journeys', 'Packet journeys', h('div', { class: 'grid' }, this.cList.el, detail));
    this.actions = {
      'select-journey': (v: string) => {
        ctx.ui.journey = v;
        ctx.saveUi();
        ctx.invalidate(this);
      },
    };
  }

  restoreScroll(): void {
    this.scroll.scrollTop = this.ctx.ui.journeyScroll;
  }

  render(store: Store, dirty: Dirty): void {
    if (!(dirty.journeys || dirty.health)) return;
    const selected = this.ctx.ui.journey;
    const list = store.journeys.slice(-JOURNEY_ROWS).reverse();
    const n = store.journeys.length;
    syncRows(
      this.body,
      list.map((j, i) => {
        const id = journeyId(j);
        return {
          key: id,
          class: `${id === selected ? 'selected' : ''} ${j.reason === 'slow' ? 'slow' : ''}`.trim(),
          cells: [
            { button: `#${n - i}`, action: 'select-journey', value: id, pressed: id === selected, title: 'Show this packet on a timeline' },
            dirName(j.dir),
            j.reason,
            formatNs(j.total_ns),
            flow(j),
            j.len ?? '',
            j.cpu ?? '',
            j.end ?? '',
            (j.mono_ns / 1e9).toFixed(3),
          ],
        };
      }),
    );
    showEmpty(this.cList, list.length ? undefined : noDataYet(store) ?? 'No packet sampled yet. Journeys are recorded for every Nth packet and for packets slower than the slow threshold.');
    this.renderDetail(selected ? store.journeys.find((x) => journeyId(x) === selected) : undefined);
  }

  private renderDetail(j: JourneyMessage | undefined): void {
    this.empty.hidden = !!j;
    this.markTable.hidden = !j;
    clear(this.timeline);
    if (!j) {
      setText(this.title, 'Packet timeline');
      syncRows(this.markBody, []);
      return;
    }
    setText(this.title, `Packet timeline — ${dirName(j.dir)} ${flow(j)} ${formatNs(j.total_ns)}${j.end ? `, ended: ${j.end}` : ''}`);
    const marks = [...j.marks].sort((a, b) => a.t_ns - b.t_ns);
    syncRows(
      this.markBody,
      marks.map((m, i) => ({ key: `${i}:${m.boundary}`, cells: [m.boundary, formatNs(m.t_ns), i === 0 ? '' : `+${formatNs(m.t_ns - marks[i - 1]!.t_ns)}`] })),
    );
    this.timeline.append(timelineSvg(marks, Math.max(j.total_ns, marks.at(-1)?.t_ns ?? 0), Math.max(320, this.timeline.clientWidth || 600), this.ctx.theme));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A horizontal timeline `W` pixels wide: one coloured segment per step between boundaries,
 *  labelled ticks. */
function timelineSvg(marks: { boundary: string; t_ns: number }[], total: number, W: number, theme: Theme): SVGSVGElement {
  const font = Math.max(10, theme.fontSize - 1);
  const charW = font * 0.6;
  const left = 12;
  const right = 12;
  const span = Math.max(1, total);
  const x = (t: number) => left + ((W - left - right) * t) / span;
  // Labels go on the first row (above the bar, then below) where they do not overlap a neighbour.
  const rowsEnd: number[] = [];
  const placed = marks.map((m) => {
    const text = `${m.boundary} ${formatNs(m.t_ns)}`;
    const w = text.length * charW;
    const cx = x(m.t_ns);
    const start = Math.min(Math.max(0, cx - w / 2), W - w);
    let row = rowsEnd.findIndex((end) => start > end + 6);
    if (row < 0) {
      row = rowsEnd.length;
      rowsEnd.push(-Infinity);
    }
    rowsEnd[row] = start + w;
    return { m, text, start, cx, row };
  });
  const nRows = Math.max(1, rowsEnd.length);
  const above = Math.ceil(nRows / 2);
  const below = nRows - above;
  const lineH = font + 6;
  const barY = 8 + above * lineH + 6;
  const barH = 16;
  const H = barY + barH + 6 + below * lineH + 8;
  const root = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Timeline of ${marks.length} boundaries over ${formatNs(total)}`, class: 'timeline' });
  root.append(svg('rect', { x: left, y: barY, width: W - left - right, height: barH, class: 'track', rx: 2 }));
  for (let i = 1; i < marks.length; i++) {
    const a = marks[i - 1]!;
    const b = marks[i]!;
    const seg = svg('rect', { x: x(a.t_ns), y: barY, width: Math.max(1, x(b.t_ns) - x(a.t_ns)), height: barH, fill: theme.palette[(i - 1) % theme.palette.length]!, class: 'segment' });
    seg.append(svg('title', {}, `${a.boundary} → ${b.boundary}: ${formatNs(b.t_ns - a.t_ns)}`));
    root.append(seg);
  }
  for (const p of placed) {
    const up = p.row < above;
    const r = up ? above - 1 - p.row : p.row - above;
    const ty = up ? barY - 6 - r * lineH : barY + barH + 6 + font + r * lineH;
    root.append(svg('line', { x1: p.cx, x2: p.cx, y1: up ? ty + 3 : barY + barH, y2: up ? barY : ty - font, class: 'tick' }));
    root.append(svg('text', { x: p.start, y: ty, class: 'mark-label', 'font-size': font }, p.text));
  }
  return root;
}

// What every view of the panel shares: the View interface, the context main.ts hands each view,
// and the small DOM pieces (cards, chart boxes, empty states, number cells) the views build with.
import type { StageSummary } from '../src/core/protocol.ts';
import { formatKindValue } from '../src/core/format.ts';
import { h, setText } from './dom.ts';
import type { Dirty, Store } from './store.ts';
import type { Theme } from './theme.ts';

export type { Dirty };

export type Tab = 'stages' | 'irq' | 'journeys' | 'host' | 'compare';

/** What the panel keeps across reloads with `setState`: UI state only, never data. */
export interface UiState {
  tab: Tab;
  stage?: string;
  compare: boolean;
  journey?: string;
  scroll: number;
  journeyScroll: number;
  /** The Compare tab: hosts side by side or two windows, its stage, hosts and selected row. */
  cmp?: { mode: 'hosts' | 'windows'; stage?: string; hosts?: string[]; row?: string };
}

/** One part of the panel. main.ts calls render once per animation frame while the view is visible,
 *  with what changed in the store since the view's last render (everything, after invalidate()). */
export interface View {
  render(store: Store, dirty: Dirty): void;
  /** Handlers of clicks on elements with `data-action` (the element's `data-value` as argument). */
  readonly actions?: Readonly<Record<string, (value: string) => void>>;
  /** The view's elements are in the document: make what needs its size (charts). */
  mount?(): void;
  /** The theme changed (ctx.theme is the new one); the next render is a full one. */
  restyle?(theme: Theme): void;
  /** The data is back after a reload: scroll positions saved in the UI state can be restored. */
  restoreScroll?(): void;
}

/** What main.ts gives the views. */
export interface PanelContext {
  readonly ui: UiState;
  readonly theme: Theme;
  /** Whether saved scroll positions were restored (before that, scroll events are the browser
   *  clamping a page that is still too short, not the user). */
  readonly scrollRestored: boolean;
  saveUi(): void;
  /** saveUi() within a moment (for scroll positions). */
  saveUiSoon(): void;
  /** Renders `view` in full on the next frame (a UI state change: selection, option). */
  invalidate(view: View): void;
  /** Asks for a frame without marking anything dirty (a view redraws what it tracks itself). */
  requestRender(): void;
  /** Runs `f` and records its time under `name` in the render statistics. */
  timed(name: string, f: () => void): void;
}

export interface Card {
  el: HTMLElement;
  title: HTMLHeadingElement;
  empty: HTMLParagraphElement;
}

export function card(id: string, title: string, ...body: (Node | null)[]): Card {
  const t = h('h3', { id: `${id}-title` }, title);
  const empty = h('p', { class: 'empty', hidden: true });
  const el = h('section', { class: `card card-${id}`, id, 'aria-labelledby': `${id}-title` }, t, empty, ...body);
  return { el, title: t, empty };
}

export function chartBox(id: string, label: string, cls = ''): { box: HTMLDivElement; canvas: HTMLCanvasElement } {
  const canvas = h('canvas', { id: `${id}-canvas`, role: 'img', 'aria-label': label });
  return { box: h('div', { class: `chart ${cls}`.trim() }, canvas), canvas };
}

/** The tab panel of tab `id`: a visually hidden heading, then `body`. */
export function tabPanel(id: Tab, title: string, ...body: Node[]): HTMLElement {
  return h('section', { class: 'tabpanel', role: 'tabpanel', id: `panel-${id}`, 'aria-labelledby': `tab-${id}`, tabindex: 0 }, h('h2', { class: 'visually-hidden' }, title), ...body);
}

/** A table with a visually hidden caption and a header row, inside a scrolling box. */
export function numbersTable(id: string, caption: string, columns: string[], body: HTMLTableSectionElement, boxClass = ''): HTMLDivElement {
  return h(
    'div',
    { class: `table-scroll ${boxClass}`.trim() },
    h('table', { class: 'numbers', id }, h('caption', { class: 'visually-hidden' }, caption), h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c)))), body),
  );
}

/** Shows `text` as the card's empty state, or the card's content when undefined. */
export function showEmpty(c: { empty: HTMLParagraphElement; el: HTMLElement }, text: string | undefined): void {
  c.empty.hidden = !text;
  setText(c.empty, text ?? '');
  c.el.classList.toggle('is-empty', !!text);
}

export function dirName(d: string): string {
  return d === 'rx' ? 'RX' : d === 'tx' ? 'TX' : d === 'irq' ? 'IRQ' : d;
}

/** A stage by the name it came with, and its CPU for per-CPU series. */
export function stageName(s: StageSummary): string {
  return s.cpu !== undefined ? `${s.name} · CPU ${s.cpu}` : s.name;
}

export type StatField = 'p50' | 'p90' | 'p99' | 'p999' | 'max' | 'mean';

/** Table cells of a stage's figures in its unit; dashes when it has no packets. */
export function statCells(s: StageSummary, fields: readonly StatField[]): string[] {
  if (s.count <= 0) return fields.map(() => '–');
  return fields.map((f) => formatKindValue(f === 'mean' ? s.sum / s.count : s[f], s.kind));
}

/** The empty-state text before any data arrived. */
export function noDataYet(store: Store): string | undefined {
  return store.loaded ? undefined : 'No data yet.';
}

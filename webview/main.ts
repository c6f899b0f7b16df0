// nslat's live latency panel (runs inside the VS Code webview).
//
// The extension host owns the data: it sends a snapshot when the panel is shown (and after a window
// reload), then deltas, or clear. The panel posts `ready` once it listens. Messages only update the
// store; rendering happens at most once per animation frame and only for the visible views (the
// header, the health row and the selected tab), so a hidden panel costs nothing. Each view is handed
// what changed in the store since it last rendered. `setState` keeps UI state only (tab, stage,
// scroll); the data comes back with the host's next snapshot.
//
// This module holds the message handling, tab switching and the wiring; the views are in views/.
import type { FromPanel, ToPanel } from '../src/core/protocol.ts';
import { applyChartTheme } from './charts.ts';
import { clear, h } from './dom.ts';
import { MultiStore, isMultiMessage } from './multi.ts';
import { RangeSelect } from './rangeSelect.ts';
import { type Dirty, Store, allDirty } from './store.ts';
import { type Theme, readTheme, watchTheme } from './theme.ts';
import { TimeOverlay } from './timeOverlay.ts';
import type { PanelContext, Tab, UiState, View } from './view.ts';
import { CompareView } from './views/compare.ts';
import { HealthView } from './views/health.ts';
import { HostView } from './views/host.ts';
import { HostBar } from './views/hostbar.ts';
import { IrqView } from './views/irq.ts';
import { JourneysView } from './views/journeys.ts';
import { ScrubberView } from './views/scrubber.ts';
import { SessionView } from './views/session.ts';
import { StagesView } from './views/stages.ts';

interface VsCodeApi {
  postMessage(msg: FromPanel): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const TABS: { id: Tab; label: string }[] = [
  { id: 'stages', label: 'Stages' },
  { id: 'irq', label: 'IRQ & softirq' },
  { id: 'journeys', label: 'Packet journeys' },
  { id: 'host', label: 'Host' },
  { id: 'compare', label: 'Compare' },
];

const vscode = acquireVsCodeApi();
const saved = (vscode.getState() ?? {}) as Partial<UiState>;
const ui: UiState = {
  tab: TABS.some((t) => t.id === saved.tab) ? (saved.tab as Tab) : 'stages',
  stage: typeof saved.stage === 'string' ? saved.stage : undefined,
  compare: saved.compare === true,
  journey: typeof saved.journey === 'string' ? saved.journey : undefined,
  scroll: typeof saved.scroll === 'number' ? saved.scroll : 0,
  journeyScroll: typeof saved.journeyScroll === 'number' ? saved.journeyScroll : 0,
  ...(typeof saved.cmp === 'object' && saved.cmp !== null ? { cmp: saved.cmp } : {}),
};
const post = (m: FromPanel) => vscode.postMessage(m);
const store = new Store();
/** Hosts, the host comparison and the last before/after comparison (not part of a snapshot). */
const multi = new MultiStore();

/** Render statistics, read by the panel tests and bench/panel-render.ts. */
const stats = { renders: 0, messages: 0, lastApplyMs: 0, lastRenderMs: 0, parts: {} as Record<string, number> };
let saveTimer = 0;

/** The views' context, which main.ts also writes. */
interface MainContext extends PanelContext {
  theme: Theme;
  scrollRestored: boolean;
}
const ctx: MainContext = {
  ui,
  theme: readTheme(),
  scrollRestored: false,
  saveUi: () => vscode.setState(ui),
  saveUiSoon: () => {
    if (saveTimer) return;
    saveTimer = window.setTimeout(() => {
      saveTimer = 0;
      vscode.setState(ui);
    }, 200);
  },
  invalidate: (view: View) => {
    pending.set(view, allDirty());
    schedule();
  },
  requestRender: () => schedule(),
  /** Runs `f` and records its time under `name` in stats.parts (for the benchmark's breakdown). */
  timed: (name: string, f: () => void) => {
    const t0 = performance.now();
    f();
    stats.parts[name] = performance.now() - t0;
  },
};
// chart.js's defaults follow the theme before any chart exists.
applyChartTheme(ctx.theme);

// ---------------------------------------------------------------- views

const app = document.getElementById('app') ?? document.body.appendChild(h('main', { id: 'app' }));
clear(app);

const session = new SessionView(app, post);
const health = new HealthView(post);
const stages = new StagesView(ctx);
const irq = new IrqView(ctx);
const journeys = new JourneysView(ctx);
const host = new HostView(ctx);
const compare = new CompareView(ctx, multi, post, store);
const overlay = new TimeOverlay();
const hostbar = new HostBar(multi, post);
const scrubber = new ScrubberView(ctx, () => overlay);
const tabViews: Record<Tab, View & { el: HTMLElement }> = { stages, irq, journeys, host, compare };
/** The views always on screen, rendered before the selected tab; by their name in stats.parts. */
const fixedViews: [string, View][] = [
  ['session', session],
  ['hostbar', hostbar],
  ['health', health],
  ['scrubber', scrubber],
];
const allViews: View[] = [session, hostbar, health, scrubber, ...Object.values(tabViews)];
/** What changed in the store since each view last rendered. */
const pending = new Map<View, Dirty>(allViews.map((v) => [v, allDirty()]));

// Tabs.
const tabButtons = new Map<Tab, HTMLButtonElement>();
const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Views' });
for (const t of TABS) {
  const b = h('button', { type: 'button', role: 'tab', id: `tab-${t.id}`, 'aria-controls': `panel-${t.id}`, 'data-action': 'tab', 'data-value': t.id }, t.label);
  tabButtons.set(t.id, b);
  tablist.append(b);
}
tablist.addEventListener('keydown', (ev) => {
  const i = TABS.findIndex((t) => t.id === ui.tab);
  let j = -1;
  if (ev.key === 'ArrowRight') j = (i + 1) % TABS.length;
  else if (ev.key === 'ArrowLeft') j = (i + TABS.length - 1) % TABS.length;
  else if (ev.key === 'Home') j = 0;
  else if (ev.key === 'End') j = TABS.length - 1;
  if (j < 0) return;
  ev.preventDefault();
  selectTab(TABS[j]!.id);
  tabButtons.get(TABS[j]!.id)?.focus();
});

app.append(session.header, hostbar.el, session.message, health.el, session.banner, scrubber.el, tablist, ...Object.values(tabViews).map((v) => v.el));
for (const v of allViews) v.mount?.();
stages.charts.time.overlay = overlay;
overlay.attach(stages.charts.time.chart);
const ranges = new RangeSelect(stages.charts.time.chart, overlay, store, post, () => {
  compare.setMode('windows');
  selectTab('compare');
});

(window as unknown as { nslatPanel: unknown }).nslatPanel = { stats, store, multi, ranges, charts: { ...stages.charts, ...irq.charts, ...compare.charts, scrubber: scrubber.chart }, heatmap: stages.heatmap, markers: { stages: stages.markers, host: host.markers } };

watchTheme(() => {
  ctx.theme = readTheme();
  applyChartTheme(ctx.theme);
  for (const v of allViews) {
    v.restyle?.(ctx.theme);
    pending.set(v, allDirty());
  }
  schedule();
});

// ---------------------------------------------------------------- rendering

let frame = 0;

function schedule(): void {
  if (frame || document.hidden) return;
  frame = requestAnimationFrame(render);
}

function renderView(name: string, v: View): void {
  const d = pending.get(v) ?? allDirty(false);
  pending.set(v, allDirty(false));
  ctx.timed(name, () => v.render(store, d));
}

function render(): void {
  frame = 0;
  const t0 = performance.now();
  stats.parts = {};
  for (const [name, v] of fixedViews) renderView(name, v);
  renderView(ui.tab, tabViews[ui.tab]);
  if (!ctx.scrollRestored && store.loaded) {
    ctx.scrollRestored = true;
    window.scrollTo(0, ui.scroll);
    for (const v of allViews) v.restoreScroll?.();
  }
  stats.renders++;
  stats.lastRenderMs = performance.now() - t0;
}

// ---------------------------------------------------------------- interaction

function selectTab(tab: Tab): void {
  ui.tab = tab;
  ctx.saveUi();
  for (const [id, b] of tabButtons) {
    b.setAttribute('aria-selected', String(id === tab));
    b.tabIndex = id === tab ? 0 : -1;
  }
  for (const [id, v] of Object.entries(tabViews)) v.el.hidden = id !== tab;
  compare.setActive(tab === 'compare');
  ctx.invalidate(tabViews[tab]);
}

/** Click handlers by `data-action`: the tabs', then each view's. */
const actions = new Map<string, (value: string) => void>([['tab', (v) => selectTab(v as Tab)]]);
for (const v of allViews) for (const [name, f] of Object.entries(v.actions ?? {})) actions.set(name, f);

document.addEventListener('click', (ev) => {
  const el = (ev.target as Element | null)?.closest<HTMLElement>('[data-action]');
  if (!el) return;
  actions.get(el.dataset.action ?? '')?.(el.dataset.value ?? '');
});

window.addEventListener('scroll', () => {
  // Until the data is back and the saved position restored, the page is too short to scroll:
  // a scroll event then is the browser clamping, not the user.
  if (!ctx.scrollRestored) return;
  ui.scroll = window.scrollY;
  ctx.saveUiSoon();
});
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) schedule();
});

function isToPanel(m: unknown): m is ToPanel {
  if (typeof m !== 'object' || m === null) return false;
  const t = (m as { type?: unknown }).type;
  if (t === 'clear') return true;
  if (t === 'snapshot') return typeof (m as { state?: unknown }).state === 'object';
  if (t === 'delta') return Array.isArray((m as { stages?: unknown }).stages);
  return false;
}

window.addEventListener('message', (ev: MessageEvent) => {
  if (isMultiMessage(ev.data)) {
    multi.apply(ev.data);
    stats.messages++;
    ctx.invalidate(hostbar);
    if (ev.data.type === 'comparison') compare.comparisonArrived();
    else if (ui.tab === 'compare') ctx.invalidate(compare);
    return;
  }
  if (!isToPanel(ev.data)) return;
  const t0 = performance.now();
  const d = store.apply(ev.data);
  for (const v of allViews) {
    const p = pending.get(v)!;
    for (const k of Object.keys(d) as (keyof Dirty)[]) p[k] ||= d[k];
  }
  stats.messages++;
  stats.lastApplyMs = performance.now() - t0;
  schedule();
});

selectTab(ui.tab);
for (const [name, v] of fixedViews) renderView(name, v);
post({ type: 'ready' });

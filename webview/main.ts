// nslat's live latency panel (runs inside the VS Code webview).
//
// The extension host owns the data: it sends a snapshot when the panel is shown (and after a window
// reload), then deltas, or clear. The panel posts `ready` once it listens. Messages only update the
// store; rendering happens at most once per animation frame and only for the visible tab, so a
// hidden panel costs nothing. `setState` keeps UI state only (tab, stage, scroll); the data comes back
// with the host's next snapshot.
import type { FromPanel, JourneyMessage, StageSummary, ToPanel } from '../src/core/protocol.ts';
import { describeFeeds, explainReason, mechanismOf, shortReason } from '../src/core/feeds.ts';
import { HistogramChart, PerCpuChart, TimeChart, WaterfallChart, applyChartTheme, restyleAll } from './charts.ts';
import { type Row, clear, h, setText, syncRows } from './dom.ts';
import { bucketLabel, formatClock, formatCount, formatNs, formatValue, kindLabel, kindUnit, l4Name } from './format.ts';
import { Heatmap } from './heatmap.ts';
import { type Dirty, Store, allDirty } from './store.ts';
import { type Theme, readTheme, watchTheme } from './theme.ts';

interface VsCodeApi {
  postMessage(msg: FromPanel): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type Tab = 'stages' | 'irq' | 'journeys';
const TABS: { id: Tab; label: string }[] = [
  { id: 'stages', label: 'Stages' },
  { id: 'irq', label: 'IRQ & softirq' },
  { id: 'journeys', label: 'Packet journeys' },
];

interface UiState {
  tab: Tab;
  stage?: string;
  compare: boolean;
  journey?: string;
  scroll: number;
  journeyScroll: number;
}

const vscode = acquireVsCodeApi();
const saved = (vscode.getState() ?? {}) as Partial<UiState>;
const ui: UiState = {
  tab: TABS.some((t) => t.id === saved.tab) ? (saved.tab as Tab) : 'stages',
  stage: typeof saved.stage === 'string' ? saved.stage : undefined,
  compare: saved.compare === true,
  journey: typeof saved.journey === 'string' ? saved.journey : undefined,
  scroll: typeof saved.scroll === 'number' ? saved.scroll : 0,
  journeyScroll: typeof saved.journeyScroll === 'number' ? saved.journeyScroll : 0,
};
let scrollRestored = false;
function saveUi(): void {
  vscode.setState(ui);
}
const post = (m: FromPanel) => vscode.postMessage(m);

const store = new Store();
let theme: Theme;

// ---------------------------------------------------------------- skeleton

const app = document.getElementById('app') ?? document.body.appendChild(h('main', { id: 'app' }));
clear(app);

function card(id: string, title: string, ...body: (Node | null)[]): { el: HTMLElement; title: HTMLHeadingElement; empty: HTMLParagraphElement } {
  const t = h('h3', { id: `${id}-title` }, title);
  const empty = h('p', { class: 'empty', hidden: true });
  const el = h('section', { class: `card card-${id}`, id, 'aria-labelledby': `${id}-title` }, t, empty, ...body);
  return { el, title: t, empty };
}

function chartBox(id: string, label: string, cls = ''): { box: HTMLDivElement; canvas: HTMLCanvasElement } {
  const canvas = h('canvas', { id: `${id}-canvas`, role: 'img', 'aria-label': label });
  return { box: h('div', { class: `chart ${cls}`.trim() }, canvas), canvas };
}

// Header: session and commands.
const hostEl = h('span', { class: 'host' });
const stateEl = h('span', { class: 'state', role: 'status' });
const kernelEl = h('span', { class: 'kernel' });
const messageEl = h('p', { class: 'session-message', hidden: true });
const commandButton = (command: 'reload' | 'openProbes' | 'export' | 'stop', label: string, title: string) =>
  h('button', { type: 'button', class: command === 'stop' ? 'secondary' : '', 'data-action': 'command', 'data-value': command, title }, label);
const header = h(
  'header',
  { class: 'top' },
  h('h1', {}, 'nslat ', hostEl),
  stateEl,
  kernelEl,
  h(
    'div',
    { class: 'actions', role: 'toolbar', 'aria-label': 'Session' },
    commandButton('reload', 'Reload probes', 'Rebuild and reload the probes (make-before-break)'),
    commandButton('openProbes', 'Open probes', 'Open the probe sources of this session'),
    commandButton('export', 'Export', 'Export the trace'),
    commandButton('stop', 'Stop', 'Stop the session'),
  ),
);

// Health row.
const tiles = {
  events: h('dd', { id: 'health-events' }),
  drops: h('dd', { id: 'health-drops' }),
  lost: h('dd', { id: 'health-lost' }),
  probe: h('dd', { id: 'health-probe' }),
  attached: h('dd', { id: 'health-attached' }),
};
const tile = (label: string, dd: HTMLElement, hint: string) => h('div', { class: 'tile', title: hint }, h('dt', {}, label), dd);
const chips = h('ul', { class: 'chips', id: 'attach-chips', 'aria-label': 'What feeds each boundary' });
const progBody = h('tbody');
const lossBody = h('tbody');
const activityBody = h('tbody');
const dropBody = h('tbody');
const healthSection = h(
  'section',
  { class: 'health', id: 'health', 'aria-labelledby': 'health-title' },
  h('h2', { id: 'health-title', class: 'visually-hidden' }, 'Health'),
  h(
    'dl',
    { class: 'tiles' },
    tile('events/s', tiles.events, 'Events the probes handled per second'),
    tile('drops', tiles.drops, 'Packets freed by kfree_skb (by drop reason)'),
    tile('lost', tiles.lost, 'Measurements nslat itself lost (ring buffer full, map full, stale or evicted entries, unattributed UDP reads, IRQ lines out of range, missing snapshots), as a share of what they apply to'),
    tile('ns per probe run', tiles.probe, 'Mean BPF program run time (kernel bpf_stats)'),
    tile('boundaries fed', tiles.attached, 'Boundaries fed by an attached program (the chips below say by which mechanism, or why not)'),
  ),
  chips,
  h(
    'details',
    { class: 'health-details' },
    h('summary', {}, 'Programs, loss, activity and drop reasons'),
    h('div', { class: 'detail-grid' },
      h('table', {}, h('caption', {}, 'Probe programs'), h('thead', {}, h('tr', {}, ...['program', 'slot', 'status', 'attach', 'ns/run', 'runs'].map((c) => h('th', { scope: 'col' }, c)))), progBody),
      h('table', { id: 'loss-table' }, h('caption', {}, 'Loss (what nslat failed to measure)'), h('thead', {}, h('tr', {}, ...['loss', 'total', 'share'].map((c) => h('th', { scope: 'col' }, c)))), lossBody),
      h('table', { id: 'activity-table' }, h('caption', {}, 'Activity (work the probes counted)'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'counter'), h('th', { scope: 'col' }, 'total'))), activityBody),
      h('table', {}, h('caption', {}, 'Drop reasons'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'reason'), h('th', { scope: 'col' }, 'packets'))), dropBody),
    ),
  ),
);

const banner = h('p', { class: 'banner empty', id: 'banner', role: 'status' });

// Tabs.
const tabButtons = new Map<Tab, HTMLButtonElement>();
const tabPanels = new Map<Tab, HTMLElement>();
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

// Stages tab.
const stageSelect = h('select', { id: 'stage-select' });
const compareBox = h('input', { type: 'checkbox', id: 'compare' });
const histogram = chartBox('histogram', 'Histogram of the selected stage');
const timeline = chartBox('timeseries', 'p50 and p99 of the selected stage over time');
const heatCanvas = h('canvas', { id: 'heatmap-canvas', role: 'img', 'aria-label': 'Latency heatmap of the selected stage: time by log2 bucket' });
const heatReadout = h('p', { class: 'readout', id: 'heatmap-readout', 'aria-live': 'off' }, '\u00a0');
const heatBox = h('div', { class: 'chart chart-heatmap' }, heatCanvas);
const waterfall = chartBox('waterfall', 'Median time per layer, RX and TX, stacked in boundary order', 'chart-short');
const stageBody = h('tbody');
const cHist = card('histogram', 'Histogram', histogram.box);
const cTime = card('timeseries', 'p50 / p99 over time', timeline.box);
const cHeat = card('heatmap', 'Latency heatmap', heatBox, h('div', { class: 'legend-row' }, h('span', { class: 'ramp', 'aria-hidden': 'true' }), h('span', { class: 'muted' }, 'packets per interval, log scale; dashed lines: probe reloads (red: failed)'), heatReadout));
const cWater = card('waterfall', 'Stage waterfall', waterfall.box);
const cTable = card(
  'stage-table',
  'Percentiles per stage',
  h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'numbers', id: 'stage-table' },
      h('caption', { class: 'visually-hidden' }, 'Count and latency percentiles of every stage over the whole session'),
      h('thead', {}, h('tr', {}, ...['stage', 'dir', 'kind', 'count', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean'].map((c) => h('th', { scope: 'col' }, c)))),
      stageBody,
    ),
  ),
);
tabPanels.set(
  'stages',
  h(
    'section',
    { class: 'tabpanel', role: 'tabpanel', id: 'panel-stages', 'aria-labelledby': 'tab-stages', tabindex: 0 },
    h('h2', { class: 'visually-hidden' }, 'Stages'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'stage-select' }, 'Stage '),
      stageSelect,
      h('label', { class: 'check' }, compareBox, ' compare with the other stages of this direction'),
    ),
    h('div', { class: 'grid' }, cHist.el, cTime.el, cHeat.el, cWater.el, cTable.el),
  ),
);
stageSelect.addEventListener('change', () => selectStage(stageSelect.value));
compareBox.checked = ui.compare;
compareBox.addEventListener('change', () => {
  ui.compare = compareBox.checked;
  saveUi();
  stale.stages = true;
  schedule();
});

// IRQ tab.
const hardirq = chartBox('hardirq', 'Hard IRQ handler time per IRQ line and CPU', 'chart-tall');
const thrLat = chartBox('irq-thread-latency', 'IRQ thread wake-up: hard IRQ to handler thread running, per IRQ line and CPU', 'chart-tall');
const thrTime = chartBox('irq-thread-time', 'Threaded IRQ handler run time per IRQ line and CPU', 'chart-tall');
const sdelay = chartBox('softirq-delay', 'Softirq raise to run delay per vector and CPU', 'chart-tall');
const stime = chartBox('softirq-time', 'Softirq run time per vector and CPU', 'chart-tall');
const irqBody = h('tbody');
const cHard = card('hardirq', 'Hard IRQ time per line and CPU', hardirq.box);
const cThrLat = card('irq-thread-latency', 'IRQ thread wake-up: hard IRQ → handler thread runs, per line and CPU', thrLat.box);
const cThrTime = card('irq-thread-time', 'Threaded IRQ handler run time per line and CPU', thrTime.box);
const cDelay = card('softirq-delay', 'Softirq raise → run delay per vector and CPU', sdelay.box);
const cSTime = card('softirq-time', 'Softirq run time per vector and CPU', stime.box);
const cIrqTable = card(
  'irq-table',
  'IRQ and softirq numbers',
  h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'numbers', id: 'irq-table' },
      h('caption', { class: 'visually-hidden' }, 'Per CPU and vector: count and percentiles'),
      h('thead', {}, h('tr', {}, ...['series', 'kind', 'CPU', 'count', 'p50', 'p90', 'p99', 'max'].map((c) => h('th', { scope: 'col' }, c)))),
      irqBody,
    ),
  ),
);
tabPanels.set(
  'irq',
  h('section', { class: 'tabpanel', role: 'tabpanel', id: 'panel-irq', 'aria-labelledby': 'tab-irq', tabindex: 0 }, h('h2', { class: 'visually-hidden' }, 'IRQ and softirq'), h('div', { class: 'grid' }, cHard.el, cThrLat.el, cThrTime.el, cDelay.el, cSTime.el, cIrqTable.el)),
);

// Journeys tab.
const journeyBody = h('tbody');
const journeyScroll = h(
  'div',
  { class: 'table-scroll journey-list' },
  h(
    'table',
    { class: 'numbers', id: 'journey-table' },
    h('caption', { class: 'visually-hidden' }, 'Sampled packet journeys, newest first'),
    h('thead', {}, h('tr', {}, ...['packet', 'dir', 'why', 'total', 'flow', 'len', 'CPU', 'end', 'at (s)'].map((c) => h('th', { scope: 'col' }, c)))),
    journeyBody,
  ),
);
journeyScroll.addEventListener('scroll', () => {
  if (!scrollRestored) return;
  ui.journeyScroll = journeyScroll.scrollTop;
  saveUiSoon();
});
const jTimeline = h('div', { class: 'journey-timeline', id: 'journey-timeline' });
const jMarkBody = h('tbody');
const jMarkTable = h(
  'table',
  { class: 'numbers', id: 'journey-marks' },
  h('caption', { class: 'visually-hidden' }, 'Boundaries of the selected packet'),
  h('thead', {}, h('tr', {}, ...['boundary', 'since first', 'step'].map((c) => h('th', { scope: 'col' }, c)))),
  jMarkBody,
);
const jTitle = h('h3', { id: 'journey-detail-title' }, 'Packet timeline');
const jEmpty = h('p', { class: 'empty' }, 'Select a packet to see the boundaries it passed on a timeline.');
const cJList = card('journeys', 'Sampled packets', journeyScroll);
const cJDetail = h('section', { class: 'card card-journey-detail', id: 'journey-detail', 'aria-labelledby': 'journey-detail-title' }, jTitle, jEmpty, jTimeline, jMarkTable);
tabPanels.set(
  'journeys',
  h('section', { class: 'tabpanel', role: 'tabpanel', id: 'panel-journeys', 'aria-labelledby': 'tab-journeys', tabindex: 0 }, h('h2', { class: 'visually-hidden' }, 'Packet journeys'), h('div', { class: 'grid' }, cJList.el, cJDetail)),
);

app.append(header, messageEl, healthSection, banner, tablist, ...tabPanels.values());

// ---------------------------------------------------------------- charts

theme = readTheme();
applyChartTheme(theme);
const charts = {
  histogram: new HistogramChart(histogram.canvas),
  time: new TimeChart(timeline.canvas),
  waterfall: new WaterfallChart(waterfall.canvas),
  hardirq: new PerCpuChart(hardirq.canvas, 'hard IRQ handler time'),
  thrLat: new PerCpuChart(thrLat.canvas, 'hard IRQ → thread runs the handler'),
  thrTime: new PerCpuChart(thrTime.canvas, 'threaded handler run time'),
  sdelay: new PerCpuChart(sdelay.canvas, 'softirq raise → run'),
  stime: new PerCpuChart(stime.canvas, 'softirq run time'),
};
const heatmap = new Heatmap(heatCanvas);
heatCanvas.addEventListener('mousemove', (ev) => {
  const r = heatCanvas.getBoundingClientRect();
  const hit = heatmap.hit(ev.clientX - r.left, ev.clientY - r.top);
  const s = ui.stage ? store.stages.get(ui.stage) : undefined;
  setText(heatReadout, hit ? `${formatClock(hit.t_ms)} · ${bucketLabel(hit.bucket, 31, kindUnit(s?.kind ?? 'stage'))} · ${formatCount(hit.count)} packets` : '\u00a0');
});
new ResizeObserver(() => {
  if (ui.tab === 'stages') {
    dirtyHeat = true;
    schedule();
  }
}).observe(heatBox);

watchTheme(() => {
  theme = readTheme();
  applyChartTheme(theme);
  restyleAll(Object.values(charts), theme);
  stale.stages = stale.irq = stale.journeys = true;
  dirtyHeat = true;
  schedule();
});

// ---------------------------------------------------------------- rendering

const pending: Dirty = allDirty(false);
const stale: Record<Tab, boolean> = { stages: true, irq: true, journeys: true };
let dirtyHeat = true;
let frame = 0;
/** Render statistics, read by the panel tests and bench/panel-render.ts. */
const stats = { renders: 0, messages: 0, lastApplyMs: 0, lastRenderMs: 0, parts: {} as Record<string, number> };
/** Runs `f` and records its time under `name` in stats.parts (for the benchmark's breakdown). */
function timed(name: string, f: () => void): void {
  const t0 = performance.now();
  f();
  stats.parts[name] = performance.now() - t0;
}
(window as unknown as { nslatPanel: unknown }).nslatPanel = { stats, store, charts, heatmap };

function schedule(): void {
  if (frame || document.hidden) return;
  frame = requestAnimationFrame(render);
}

function render(): void {
  frame = 0;
  const t0 = performance.now();
  stats.parts = {};
  const d = { ...pending };
  Object.assign(pending, allDirty(false));
  if (d.stages || d.series || d.reloads || d.health) {
    stale.stages = true;
    dirtyHeat ||= d.series || d.reloads || d.stages;
  }
  if (d.stages) stale.irq = true;
  if (d.journeys || d.health) stale.journeys = true;

  if (d.session || d.health || d.stages) renderHeader();
  if (d.health || d.stages) timed('health', renderHealth);
  renderBanner();
  if (stale[ui.tab]) {
    stale[ui.tab] = false;
    if (ui.tab === 'stages') renderStages();
    else if (ui.tab === 'irq') renderIrq();
    else renderJourneys();
  }
  if (dirtyHeat && ui.tab === 'stages') renderHeatmap();
  if (!scrollRestored && store.loaded) {
    scrollRestored = true;
    window.scrollTo(0, ui.scroll);
    journeyScroll.scrollTop = ui.journeyScroll;
  }
  stats.renders++;
  stats.lastRenderMs = performance.now() - t0;
}

function renderHeader(): void {
  const s = store.session;
  setText(hostEl, s ? `— ${s.host}` : '');
  setText(stateEl, s ? s.state : store.loaded ? '' : 'waiting');
  stateEl.className = `state state-${s?.state ?? 'waiting'}`;
  setText(kernelEl, s?.kernel ? `kernel ${s.kernel}` : '');
  messageEl.hidden = !s?.message;
  setText(messageEl, s?.message ?? '');
  messageEl.className = `session-message ${s?.state === 'failed' ? 'error' : ''}`;
  const running = s?.state === 'running' || s?.state === 'reloading' || s?.state === 'starting';
  for (const b of header.querySelectorAll<HTMLButtonElement>('button[data-action="command"]')) {
    b.disabled = b.dataset.value === 'export' ? !store.loaded : !running;
  }
}

function renderBanner(): void {
  let text = '';
  const state = store.session?.state;
  if (!store.loaded) text = 'Waiting for the first snapshot from the session…';
  else if (store.stages.size === 0) {
    text =
      state === 'starting' ? 'Starting the session: no data yet.'
      : state === 'failed' ? 'The session failed before any packet was measured.'
      : state === 'stopped' ? 'The session stopped before any packet was measured.'
      : 'The session is running but no packet has crossed an attached boundary yet. Send some traffic.';
  }
  banner.hidden = !text;
  setText(banner, text);
  // Before the first snapshot the views have nothing to show: only the banner does.
  app.classList.toggle('no-data', !store.loaded);
}

function sum(o: Record<string, number> | undefined): number {
  let n = 0;
  for (const v of Object.values(o ?? {})) n += v;
  return n;
}

type Healthy = NonNullable<typeof store.health>;

/** One chip per boundary (and per named group of a probe object): the mechanism that feeds it
 *  ("netfilter", "fentry+tp_btf"), or why nothing does (short; the tooltip has it all). */
function renderChips(boundaries: Healthy['boundaries'], groups: NonNullable<Healthy['groups']>): void {
  clear(chips);
  const items = [
    ...boundaries.map((b) => ({ ...b, what: `${b.dir.toUpperCase()} boundary`, group: false })),
    ...groups.map((g) => ({ ...g, what: 'probe group', group: true })),
  ];
  for (const b of items) {
    const mech = mechanismOf(b);
    const fed = describeFeeds(b);
    const why = b.active ? '' : shortReason(b.reason);
    const title = b.active
      ? `${b.what} ${b.name} (${b.slot}): fed by ${fed ?? 'an attached program'}.`
      : `${b.what} ${b.name} (${b.slot}): nothing feeds it — ${explainReason(b.reason)}.`;
    chips.append(
      h(
        'li',
        { class: `chip ${b.active ? 'on' : 'off'}${b.group ? ' group' : ''}`, 'data-boundary': b.name, 'data-slot': b.slot },
        h(
          'button',
          { type: 'button', 'data-action': 'open-probe', 'data-value': b.name, title: `${title} Open its probe source.` },
          h('span', { class: 'dot', 'aria-hidden': 'true' }),
          h('span', { class: 'visually-hidden' }, b.active ? 'fed: ' : 'not fed: '),
          b.group ? `${b.name} (group)` : b.name,
          b.active && mech ? h('span', { class: 'mech muted' }, ` ${mech}`) : null,
          b.active ? null : h('span', { class: 'why' }, `: ${why}`),
        ),
      ),
    );
  }
}

function renderHealth(): void {
  const hl = store.health;
  healthSection.classList.toggle('is-empty', !hl);
  if (!hl) {
    for (const dd of Object.values(tiles)) setText(dd, '–');
    clear(chips);
    delete chips.dataset.sig;
    for (const b of [progBody, lossBody, activityBody, dropBody]) clear(b);
    return;
  }
  setText(tiles.events, formatCount(Math.round(hl.events_per_s)));
  const drops = sum(hl.drops);
  const topDrop = Object.entries(hl.drops).sort((a, b) => b[1] - a[1])[0];
  setText(tiles.drops, drops ? `${formatCount(drops)}${topDrop ? ` (${topDrop[0]})` : ''}` : '0');
  // The loss figures and their shares come from the host (protocol.ts lossFigures): the tile shows
  // the total and the worst share; the tooltip every loss.
  const lost = hl.loss.reduce((a, l) => a + l.total, 0);
  const worstLoss = hl.loss.filter((l) => l.total > 0).sort((a, b) => (b.share ?? Infinity) - (a.share ?? Infinity))[0];
  setText(tiles.lost, worstLoss ? `${formatCount(lost)} (${worstLoss.label})` : '0');
  tiles.lost.className = lost > 0 ? 'warn' : '';
  tiles.lost.title = hl.loss.map((l) => `${l.name}: ${formatCount(l.total)}, ${l.label}`).join('\n');
  let runs = 0;
  let ns = 0;
  let worst: { name: string; ns_per_run: number } | undefined;
  for (const p of hl.progs) {
    runs += p.runs;
    ns += p.ns_per_run * p.runs;
    if (p.runs > 0 && (!worst || p.ns_per_run > worst.ns_per_run)) worst = p;
  }
  setText(tiles.probe, runs ? `${formatNs(ns / runs)}${worst ? ` (max ${formatNs(worst.ns_per_run)} ${worst.name})` : ''}` : 'n/a');
  const active = hl.boundaries.filter((b) => b.active).length;
  setText(tiles.attached, `${active} / ${hl.boundaries.length}`);
  tiles.attached.className = active < hl.boundaries.length ? 'warn' : '';

  // Rebuilt only when the attach status changes (a reload), so a focused chip keeps its focus.
  const sig = JSON.stringify([hl.boundaries, hl.groups ?? []]);
  if (chips.dataset.sig !== sig) {
    chips.dataset.sig = sig;
    renderChips(hl.boundaries, hl.groups ?? []);
  }
  const progRuns = new Map(hl.progs.map((p) => [`${p.slot}:${p.name}`, p]));
  syncRows(
    progBody,
    hl.programs.map((p) => {
      const r = progRuns.get(`${p.slot}:${p.name}`);
      return {
        key: `${p.slot}:${p.name}`,
        class: p.status === 'attached' ? '' : p.status === 'failed' ? 'failed' : 'skipped',
        cells: [p.name, p.slot, p.status === 'attached' ? 'attached' : `${p.status}: ${p.reason ?? ''}`, p.attach ?? '', r ? formatNs(r.ns_per_run) : '', r ? formatCount(r.runs) : ''],
      };
    }),
  );
  syncRows(lossBody, hl.loss.map((l) => ({ key: l.name, class: l.total > 0 ? 'failed' : '', cells: [l.name, formatCount(l.total), l.label] })));
  syncRows(activityBody, Object.entries(hl.activity).map(([k, v]) => ({ key: k, cells: [k, formatCount(v)] })));
  const dropRows = Object.entries(hl.drops).sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ key: k, cells: [k, formatCount(v)] }));
  syncRows(dropBody, dropRows.length ? dropRows : [{ key: '-', cells: ['none', '0'] }]);
}

function selectedStage(): StageSummary | undefined {
  if (ui.stage) {
    const s = store.stages.get(ui.stage);
    if (s) return s;
  }
  const all = store.orderedStages();
  return all.find((s) => s.kind === 'stage' && s.count > 0) ?? all.find((s) => s.count > 0) ?? all[0];
}

function showEmpty(c: { empty: HTMLParagraphElement; el: HTMLElement }, text: string | undefined): void {
  c.empty.hidden = !text;
  setText(c.empty, text ?? '');
  c.el.classList.toggle('is-empty', !!text);
}

function dirName(d: string): string {
  return d === 'rx' ? 'RX' : d === 'tx' ? 'TX' : d === 'irq' ? 'IRQ' : d;
}

/** The reason cell of a skipped boundary's row (short, the whole reason as its tooltip): the same
 *  element while the reason stays the same. */
const skipReasons = new Map<string, HTMLSpanElement>();
function skipReason(row: string, reason: string | undefined): HTMLSpanElement {
  const text = shortReason(reason);
  let el = skipReasons.get(row);
  if (!el || el.textContent !== text) {
    el = h('span', { class: 'reason', title: explainReason(reason) }, text);
    skipReasons.set(row, el);
  }
  return el;
}

function renderStages(): void {
  const ordered = store.orderedStages();
  // Stage selector, grouped by direction; stages show up by the names they come with.
  const sel = selectedStage();
  const wantKeys = ordered.map((s) => s.key).join('\n');
  if (stageSelect.dataset.keys !== wantKeys) {
    clear(stageSelect);
    const groups = new Map<string, HTMLOptGroupElement>();
    for (const s of ordered) {
      const g = `${dirName(s.dir)} · ${kindLabel(s.kind)}`;
      let og = groups.get(g);
      if (!og) {
        og = h('optgroup', { label: g });
        groups.set(g, og);
        stageSelect.append(og);
      }
      og.append(h('option', { value: s.key }, s.cpu !== undefined ? `${s.name} · CPU ${s.cpu}` : s.name));
    }
    stageSelect.dataset.keys = wantKeys;
  }
  if (ordered.length === 0 && stageSelect.options.length === 0) stageSelect.append(h('option', { value: '' }, 'no stages yet'));
  stageSelect.disabled = ordered.length === 0;
  if (sel && stageSelect.value !== sel.key) stageSelect.value = sel.key;

  const noData = !store.loaded ? 'No data yet.' : ordered.length === 0 ? 'No stage has seen a packet yet.' : undefined;
  const label = sel ? `${dirName(sel.dir)} ${sel.name}${sel.cpu !== undefined ? ` · CPU ${sel.cpu}` : ''}` : '';
  setText(cHist.title, sel ? `Histogram — ${label}` : 'Histogram');
  setText(cTime.title, sel ? `p50 / p99 over time — ${label}` : 'p50 / p99 over time');
  setText(cHeat.title, sel ? `Latency heatmap — ${label}` : 'Latency heatmap');
  if (sel) {
    const f = (v: number) => formatValue(v, sel.kind);
    histogram.canvas.setAttribute('aria-label', `Histogram of ${label}: ${formatCount(sel.count)} packets, p50 ${f(sel.p50)}, p99 ${f(sel.p99)}, max ${f(sel.max)}. The numbers are in the table below.`);
    timeline.canvas.setAttribute('aria-label', `p50 and p99 of ${label} over the last ${store.series.length} intervals${store.reloads.length ? `, ${store.reloads.length} probe reloads marked` : ''}`);
    heatCanvas.setAttribute('aria-label', `Latency heatmap of ${label}: time by log2 bucket over ${store.series.length} intervals`);
  }

  // Histogram.
  if (sel && sel.count > 0) {
    showEmpty(cHist, undefined);
    timed('histogram', () => charts.histogram.update(sel, theme));
  } else showEmpty(cHist, noData ?? `${sel?.name ?? 'This stage'} has no packets yet.`);

  // Time series.
  const others = ui.compare && sel ? ordered.filter((s) => s.dir === sel.dir && s.kind === sel.kind && s.key !== sel.key && s.cpu === sel.cpu) : [];
  if (sel && store.series.length > 1) {
    showEmpty(cTime, undefined);
    timed('timeseries', () => charts.time.update(store.series, sel, others, store.reloads, theme));
  } else showEmpty(cTime, noData ?? 'Waiting for a second interval…');

  dirtyHeat = true;

  // Waterfall: median of each layer (kind "stage"), RX and TX, in boundary order.
  const rx = ordered.filter((s) => s.kind === 'stage' && s.dir === 'rx' && s.count > 0);
  const tx = ordered.filter((s) => s.kind === 'stage' && s.dir === 'tx' && s.count > 0);
  if (rx.length || tx.length) {
    showEmpty(cWater, undefined);
    timed('waterfall', () => charts.waterfall.update(rx, tx, theme));
  } else showEmpty(cWater, noData ?? 'No RX or TX stage has packets yet.');

  // Table fallback with every stage, plus the boundaries that are not attached and why.
  const rows: Row[] = ordered
    .filter((s) => s.dir !== 'irq')
    .map((s) => ({
      key: s.key,
      class: s.key === sel?.key ? 'selected' : s.count === 0 ? 'idle' : '',
      cells: [
        { button: s.cpu !== undefined ? `${s.name} · CPU ${s.cpu}` : s.name, action: 'select-stage', value: s.key, pressed: s.key === sel?.key, title: 'Show this stage in the charts' },
        dirName(s.dir),
        kindLabel(s.kind),
        formatCount(s.count),
        ...(s.count > 0 ? [s.p50, s.p90, s.p99, s.p999, s.max, s.sum / s.count].map((v) => formatValue(v, s.kind)) : ['–', '–', '–', '–', '–', '–']),
      ],
    }));
  for (const b of store.inactiveBoundaries()) {
    // Four cells, the reason spanning the last seven columns (set below): the row is kept across
    // updates like the others instead of being rebuilt.
    const key = `skip:${b.slot}:${b.dir}:${b.name}`;
    rows.push({ key, class: 'skipped', cells: [b.name, dirName(b.dir), 'not attached', skipReason(key, b.reason)] });
  }
  timed('table', () => syncRows(stageBody, rows));
  for (const tr of Array.from(stageBody.rows)) {
    if (tr.classList.contains('skipped')) {
      const c = tr.cells[3];
      if (c && c.colSpan !== 7) c.colSpan = 7;
      while (tr.cells.length > 4) tr.cells[4]!.remove();
    }
  }
  showEmpty(cTable, rows.length ? undefined : noData ?? 'No stages yet.');
}

/** The heatmap is drawn by hand: shown first (so the canvas has its size), then drawn. */
function renderHeatmap(): void {
  dirtyHeat = false;
  const sel = selectedStage();
  showEmpty(cHeat, undefined);
  let drawn = false;
  timed('heatmap', () => {
    drawn = sel ? heatmap.draw(store.series, sel.key, store.reloads, theme, kindUnit(sel.kind)) : false;
  });
  if (!drawn) showEmpty(cHeat, !store.loaded ? 'No data yet.' : 'No packets in the history of this stage yet.');
}

function renderIrq(): void {
  const ordered = store.orderedStages();
  const noData = !store.loaded ? 'No data yet.' : undefined;
  const byKind = (k: string) => ordered.filter((s) => s.kind === k && s.count > 0);
  // IRQ threads: only where device IRQ handlers are threaded by force (PREEMPT_RT, threadirqs).
  const threaded = store.session?.irq_threads;
  const thrGroup = store.health?.groups?.find((g) => g.name === 'irq_thread');
  const thrLatRows = byKind('irq_thread_latency');
  const thrTimeRows = byKind('irq_thread_time');
  const thrEmpty =
    threaded === false ? 'Nothing is threaded here: device IRQ handlers run in hard IRQ context (no PREEMPT_RT, no threadirqs boot option), so there is no IRQ thread wake-up to measure.'
    : thrGroup && !thrGroup.active ? `Not measured: ${shortReason(thrGroup.reason)}.`
    : 'No threaded IRQ handler ran yet.';
  cThrLat.el.title = thrGroup ? (thrGroup.active ? `fed by ${describeFeeds(thrGroup) ?? ''}` : explainReason(thrGroup.reason)) : '';
  // One card says why there is nothing; the run-time card only shows with data.
  cThrTime.el.hidden = thrTimeRows.length === 0 && thrLatRows.length === 0;
  const sets: [ReturnType<typeof card>, PerCpuChart, StageSummary[], string][] = [
    [cHard, charts.hardirq, byKind('hardirq'), 'No hard IRQ on the traced lines yet (or the irq probes are not loaded).'],
    [cThrLat, charts.thrLat, thrLatRows, thrEmpty],
    [cThrTime, charts.thrTime, thrTimeRows, 'No threaded IRQ handler ran yet.'],
    [cDelay, charts.sdelay, byKind('softirq_delay'), 'No softirq raised yet.'],
    [cSTime, charts.stime, byKind('softirq_time'), 'No softirq ran yet.'],
  ];
  for (const [c, chart, rows, empty] of sets) {
    if (rows.length) {
      showEmpty(c, undefined);
      // Height grows with the number of bars so labels stay readable.
      (chart.chart.canvas.parentElement as HTMLElement).style.height = `${Math.max(180, 96 + rows.length * 30)}px`;
      chart.update(rows, theme);
    } else showEmpty(c, noData ?? empty);
  }
  const irqRows = ordered.filter((s) => s.dir === 'irq');
  syncRows(
    irqBody,
    irqRows.map((s) => ({
      key: s.key,
      cells: [s.name, kindLabel(s.kind), s.cpu ?? '', formatCount(s.count), ...(s.count > 0 ? [s.p50, s.p90, s.p99, s.max].map((v) => formatValue(v, s.kind)) : ['–', '–', '–', '–'])],
    })),
  );
  showEmpty(cIrqTable, irqRows.length ? undefined : noData ?? 'No IRQ or softirq series yet.');
}

function journeyId(j: JourneyMessage): string {
  return `${j.slot}:${j.dir}:${j.mono_ns}`;
}

function flow(j: JourneyMessage): string {
  const proto = l4Name(j.l4);
  const ports = j.sport !== undefined || j.dport !== undefined ? `${j.sport ?? '?'}→${j.dport ?? '?'}` : '';
  return [j.family && j.family !== 'other' ? j.family : '', proto, ports].filter(Boolean).join(' ');
}

const JOURNEY_ROWS = 200;

function renderJourneys(): void {
  const list = store.journeys.slice(-JOURNEY_ROWS).reverse();
  const n = store.journeys.length;
  syncRows(
    journeyBody,
    list.map((j, i) => {
      const id = journeyId(j);
      return {
        key: id,
        class: `${id === ui.journey ? 'selected' : ''} ${j.reason === 'slow' ? 'slow' : ''}`.trim(),
        cells: [
          { button: `#${n - i}`, action: 'select-journey', value: id, pressed: id === ui.journey, title: 'Show this packet on a timeline' },
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
  showEmpty(cJList, list.length ? undefined : !store.loaded ? 'No data yet.' : 'No packet sampled yet. Journeys are recorded for every Nth packet and for packets slower than the slow threshold.');
  renderJourneyDetail();
}

function renderJourneyDetail(): void {
  const j = ui.journey ? store.journeys.find((x) => journeyId(x) === ui.journey) : undefined;
  jEmpty.hidden = !!j;
  jMarkTable.hidden = !j;
  clear(jTimeline);
  if (!j) {
    setText(jTitle, 'Packet timeline');
    syncRows(jMarkBody, []);
    return;
  }
  setText(jTitle, `Packet timeline — ${dirName(j.dir)} ${flow(j)} ${formatNs(j.total_ns)}${j.end ? `, ended: ${j.end}` : ''}`);
  const marks = [...j.marks].sort((a, b) => a.t_ns - b.t_ns);
  syncRows(
    jMarkBody,
    marks.map((m, i) => ({ key: `${i}:${m.boundary}`, cells: [m.boundary, formatNs(m.t_ns), i === 0 ? '' : `+${formatNs(m.t_ns - marks[i - 1]!.t_ns)}`] })),
  );
  jTimeline.append(timelineSvg(marks, Math.max(j.total_ns, marks.at(-1)?.t_ns ?? 0)));
}

const SVG = 'http://www.w3.org/2000/svg';
function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A horizontal timeline: one coloured segment per step between boundaries, labelled ticks. */
function timelineSvg(marks: { boundary: string; t_ns: number }[], total: number): SVGSVGElement {
  const W = Math.max(320, jTimeline.clientWidth || 600);
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

// ---------------------------------------------------------------- interaction

function selectTab(tab: Tab): void {
  ui.tab = tab;
  saveUi();
  for (const [id, b] of tabButtons) {
    b.setAttribute('aria-selected', String(id === tab));
    b.tabIndex = id === tab ? 0 : -1;
  }
  for (const [id, p] of tabPanels) p.hidden = id !== tab;
  if (tab === 'stages') dirtyHeat = true;
  stale[tab] = true;
  schedule();
}

function selectStage(key: string): void {
  ui.stage = key;
  saveUi();
  stale.stages = true;
  dirtyHeat = true;
  schedule();
}

document.addEventListener('click', (ev) => {
  const el = (ev.target as Element | null)?.closest<HTMLElement>('[data-action]');
  if (!el) return;
  const v = el.dataset.value ?? '';
  switch (el.dataset.action) {
    case 'tab':
      selectTab(v as Tab);
      break;
    case 'select-stage':
      selectStage(v);
      break;
    case 'select-journey':
      ui.journey = v;
      saveUi();
      stale.journeys = true;
      schedule();
      break;
    case 'open-probe':
      post({ type: 'openProbe', boundary: v });
      break;
    case 'command':
      if (v === 'stop' || v === 'reload' || v === 'export' || v === 'openProbes') post({ type: 'command', command: v });
      break;
  }
});

let saveTimer = 0;
function saveUiSoon(): void {
  if (saveTimer) return;
  saveTimer = window.setTimeout(() => {
    saveTimer = 0;
    saveUi();
  }, 200);
}
window.addEventListener('scroll', () => {
  // Until the data is back and the saved position restored, the page is too short to scroll:
  // a scroll event then is the browser clamping, not the user.
  if (!scrollRestored) return;
  ui.scroll = window.scrollY;
  saveUiSoon();
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
  if (!isToPanel(ev.data)) return;
  const t0 = performance.now();
  const d = store.apply(ev.data);
  for (const k of Object.keys(d) as (keyof Dirty)[]) pending[k] ||= d[k];
  if (ev.data.type !== 'delta') dirtyHeat = true;
  stats.messages++;
  stats.lastApplyMs = performance.now() - t0;
  schedule();
});

selectTab(ui.tab);
renderHeader();
renderHealth();
renderBanner();
post({ type: 'ready' });

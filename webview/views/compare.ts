// The Compare tab, two ways:
//  - Hosts: one stage on chosen hosts side by side — their histograms overlaid (as shares of each
//    host's packets) and their p50/p99 over time. The host sends the data (hostCompare) every
//    second while this view asks for it (compareHosts), and stops when the tab is left.
//  - Before / after: a comparison of two windows (two time ranges selected on the Stages tab's time
//    axis, before and after a reload, or two traces): per stage the p50/p99 of each, the shift and
//    whether it is beyond the interval-to-interval noise; for the selected stage its histograms
//    overlaid, its per-block percentiles (the noise), and the test in words.
import type { Comparison, FromPanel, StageComparison } from '../../src/core/protocol.ts';
import { formatCount, formatKindValue, formatP, formatRelative, formatSigned, kindLabel, unitOfKind, verdictShort, verdictText } from '../../src/core/format.ts';
import { HIST_BUCKETS } from '../../src/core/hist.ts';
import { restyleAll } from '../charts.ts';
import { Lines, OverlayHistogram, type Line } from '../compareCharts.ts';
import { type Row, clear, h, setText, syncRows } from '../dom.ts';
import type { MultiStore } from '../multi.ts';
import type { Dirty, Store } from '../store.ts';
import { type PanelContext, type View, card, chartBox, dirName, numbersTable, showEmpty, stageName, tabPanel } from '../view.ts';

type Mode = 'hosts' | 'windows';

function dense(flat: readonly number[]): number[] {
  const b = new Array<number>(HIST_BUCKETS).fill(0);
  for (let j = 0; j + 1 < flat.length; j += 2) if (flat[j]! >= 0 && flat[j]! < HIST_BUCKETS) b[flat[j]!]! += flat[j + 1]!;
  return b;
}

function span(values: readonly number[], kind: string): string {
  if (!values.length) return '–';
  return `${formatKindValue(Math.min(...values), kind)}–${formatKindValue(Math.max(...values), kind)}`;
}

/** The verdict of one stage in a sentence or two. */
export function comparisonStatement(c: Comparison, s: StageComparison): string {
  const v = (x: number) => formatKindValue(x, s.kind);
  const unit = unitOfKind(s.kind);
  if (s.verdict === 'only_a' || s.verdict === 'only_b') return `${s.name} has packets in ${s.verdict === 'only_a' ? 'A' : 'B'} only.`;
  const p50 = s.p50!;
  const p99 = s.p99!;
  const moved = `B's p50 is ${v(p50.b)} against ${v(p50.a)} in A (${formatSigned(p50.b - p50.a, unit)}, ${formatRelative(p50.b - p50.a, p50.a) || '–'}), its p99 ${v(p99.b)} against ${v(p99.a)}.`;
  if (s.verdict === 'too_few') {
    return `${moved} Too few intervals to tell: A has ${s.a!.block_p50.length} and B ${s.b!.block_p50.length} blocks of at least ${c.min_packets} packets; a test needs ${c.min_blocks} on each side.`;
  }
  const noise = `Per-block p50: A ${span(s.a!.block_p50, s.kind)}, B ${span(s.b!.block_p50, s.kind)}.`;
  const q = (name: string, d: typeof p50) =>
    `${name} shift ${formatSigned(d.shift, unit)}: ${d.significant ? 'larger than the interval-to-interval noise' : (d.adjusted ?? 1) <= c.alpha ? `beyond the noise but under one histogram bucket (${v(d.resolution)}), so not flagged` : 'within the interval-to-interval noise'} (Mann–Whitney, Holm-adjusted ${formatP(d.adjusted)})`;
  return `${moved} ${noise} ${q('p50', p50)}; ${q('p99', p99)}. Verdict: ${verdictText(s.verdict, s.kind)}.`;
}

export class CompareView implements View {
  readonly el: HTMLElement;
  readonly actions;
  private active = false;
  /** What was last asked of the host (so an unchanged choice is not sent again); at first,
   *  nothing (the signature of an empty request). */
  private asked = '\n';
  private shownSeq = -1;

  private readonly modeButtons = new Map<Mode, HTMLButtonElement>();
  private readonly hostsPane = h('div', { id: 'cmp-hosts' });
  private readonly windowsPane = h('div', { id: 'cmp-windows' });
  private readonly stageSelect = h('select', { id: 'cmp-stage' });
  private readonly hostList = h('span', { class: 'cmp-host-list', id: 'cmp-host-list', role: 'group', 'aria-label': 'Hosts to compare' });
  private readonly hostNote = h('p', { class: 'muted', id: 'cmp-host-note' });
  private readonly hHist = chartBox('cmp-hist', 'Histograms of the stage on the chosen hosts, overlaid');
  private readonly hTime = chartBox('cmp-time', 'p50 and p99 of the stage on the chosen hosts over time');
  private readonly hBody = h('tbody');
  private readonly cHHist = card('cmp-hist', 'Histograms', this.hHist.box);
  private readonly cHTime = card('cmp-time', 'p50 / p99 over time', this.hTime.box);
  private readonly cHTable = card('cmp-host-table', 'Per host', numbersTable('cmp-host-table', 'The stage on each host', ['host', 'state', 'packets', 'p50', 'p90', 'p99', 'max'], this.hBody));

  private readonly summary = h('p', { class: 'cmp-summary', id: 'cmp-summary' });
  private readonly reloadButton = h('button', { type: 'button', 'data-action': 'cmp-reload', id: 'cmp-reload', title: 'Compare the intervals before the last probe reload with those after it' }, 'Before / after the last reload');
  private readonly wBody = h('tbody');
  private readonly cWTable = card('cmp-table', 'Per stage', numbersTable('cmp-table', 'Per stage: p50 and p99 of A and B, their shift, and the verdict', ['stage', 'dir', 'A p50', 'B p50', 'Δ p50', 'A p99', 'B p99', 'Δ p99', 'verdict'], this.wBody));
  private readonly wHist = chartBox('cmp-win-hist', 'Histograms of windows A and B, overlaid');
  private readonly wNoise = chartBox('cmp-noise', 'Per-block p50 and p99 of windows A and B');
  private readonly statement = h('p', { class: 'cmp-statement', id: 'cmp-statement' });
  private readonly cWDetail = card('cmp-detail', 'Stage', this.statement, this.wHist.box, this.wNoise.box);

  charts!: { hostHist: OverlayHistogram; hostTime: Lines; winHist: OverlayHistogram; noise: Lines };

  constructor(
    private readonly ctx: PanelContext,
    private readonly multi: MultiStore,
    private readonly post: (m: FromPanel) => void,
    /** The series, for "before / after the last reload". */
    private readonly store: Store,
  ) {
    const modes = h('div', { class: 'toolbar', role: 'group', 'aria-label': 'What to compare' });
    for (const [m, label] of [['hosts', 'Hosts side by side'], ['windows', 'Before / after']] as const) {
      const b = h('button', { type: 'button', class: 'secondary', 'data-action': 'cmp-mode', 'data-value': m, id: `cmp-mode-${m}` }, label);
      this.modeButtons.set(m, b);
      modes.append(b);
    }
    this.hostsPane.append(
      h('div', { class: 'toolbar' }, h('label', { for: 'cmp-stage' }, 'Stage '), this.stageSelect, h('span', { class: 'muted' }, ' on '), this.hostList),
      this.hostNote,
      h('div', { class: 'grid' }, this.cHHist.el, this.cHTime.el, this.cHTable.el),
    );
    this.windowsPane.append(
      h('div', { class: 'toolbar' }, this.summary, this.reloadButton),
      h('div', { class: 'grid' }, this.cWTable.el, this.cWDetail.el),
    );
    this.el = tabPanel('compare', 'Compare', modes, this.hostsPane, this.windowsPane);
    this.stageSelect.addEventListener('change', () => {
      this.cmp().stage = this.stageSelect.value;
      ctx.saveUi();
      ctx.invalidate(this);
    });
    this.hostList.addEventListener('change', () => {
      this.cmp().hosts = Array.from(this.hostList.querySelectorAll<HTMLInputElement>('input:checked'), (i) => i.value);
      ctx.saveUi();
      ctx.invalidate(this);
    });
    this.actions = {
      'cmp-mode': (v: string) => this.setMode(v === 'windows' ? 'windows' : 'hosts'),
      'cmp-row': (v: string) => {
        this.cmp().row = v;
        ctx.saveUi();
        ctx.invalidate(this);
      },
      'cmp-reload': () => this.compareAtReload(),
    };
  }

  mount(): void {
    this.charts = {
      hostHist: new OverlayHistogram(this.hHist.canvas, 'Hosts in the histogram'),
      hostTime: new Lines(this.hTime.canvas, 'Lines of the host time chart', true),
      winHist: new OverlayHistogram(this.wHist.canvas, 'Windows in the histogram'),
      noise: new Lines(this.wNoise.canvas, 'Lines of the per-block chart', false),
    };
  }

  restyle(): void {
    restyleAll([this.charts.hostHist, this.charts.hostTime, this.charts.winHist, this.charts.noise], this.ctx.theme);
  }

  private cmp(): NonNullable<PanelContext['ui']['cmp']> {
    return (this.ctx.ui.cmp ??= { mode: 'hosts' });
  }

  setMode(mode: Mode): void {
    this.cmp().mode = mode;
    this.ctx.saveUi();
    this.ctx.invalidate(this);
  }

  /** The tab is shown or left: the host comparison is asked for only while it is on screen. */
  setActive(on: boolean): void {
    this.active = on;
    if (!on) this.ask('', []);
  }

  /** A comparison arrived: show it (a new one switches to the before/after view). */
  comparisonArrived(): void {
    if (this.multi.comparisonSeq !== this.shownSeq) {
      this.cmp().mode = 'windows';
      this.cmp().row = undefined;
      this.ctx.saveUi();
    }
    this.ctx.invalidate(this);
  }

  private ask(key: string, hosts: string[]): void {
    const sig = `${key}\n${hosts.join('\n')}`;
    if (sig === this.asked) return;
    this.asked = sig;
    this.post({ type: 'compareHosts', key, hosts });
  }

  render(store: Store, _dirty: Dirty): void {
    // A saved trace has no other hosts: only its windows compare.
    const traceOnly = !!store.session?.trace && this.multi.hosts.length === 0;
    const mode = traceOnly ? 'windows' : this.cmp().mode;
    for (const [m, b] of this.modeButtons) {
      b.setAttribute('aria-pressed', String(m === mode));
      b.hidden = traceOnly;
    }
    this.hostsPane.hidden = mode !== 'hosts';
    this.windowsPane.hidden = mode !== 'windows';
    if (mode === 'hosts') this.renderHosts(store);
    else {
      if (this.active) this.ask('', []);
      this.renderWindows(store);
    }
  }

  // ---------------------------------------------------------------- hosts

  private renderHosts(store: Store): void {
    const cmp = this.cmp();
    const stages = store.orderedStages().filter((s) => s.cpu === undefined);
    const keys = stages.map((s) => s.key).join('\n');
    if (this.stageSelect.dataset.keys !== keys) {
      clear(this.stageSelect);
      for (const s of stages) this.stageSelect.append(h('option', { value: s.key }, `${dirName(s.dir)} · ${kindLabel(s.kind)} · ${stageName(s)}`));
      this.stageSelect.dataset.keys = keys;
    }
    const key = cmp.stage && stages.some((s) => s.key === cmp.stage) ? cmp.stage : this.ctx.ui.stage && stages.some((s) => s.key === this.ctx.ui.stage) ? this.ctx.ui.stage : (stages.find((s) => s.kind === 'stage' && s.count > 0) ?? stages[0])?.key;
    if (key && this.stageSelect.value !== key) this.stageSelect.value = key;

    const hosts = this.multi.hosts;
    const want = hosts.map((x) => x.host).join('\n');
    if (this.hostList.dataset.hosts !== want) {
      clear(this.hostList);
      for (const x of hosts) {
        const id = `cmp-host-${hosts.indexOf(x)}`;
        this.hostList.append(h('label', { class: 'check', for: id }, h('input', { type: 'checkbox', id, value: x.host }), ` ${x.label}`));
      }
      this.hostList.dataset.hosts = want;
    }
    const chosen = (cmp.hosts ?? hosts.map((x) => x.host)).filter((x) => hosts.some((e) => e.host === x));
    for (const i of this.hostList.querySelectorAll<HTMLInputElement>('input')) i.checked = chosen.includes(i.value);
    if (this.active && key) this.ask(key, chosen);

    const note = hosts.length < 2 ? 'One host so far: start a session on another host (the nslat sidebar, or Start Stack Trace) to set them side by side.' : chosen.length === 0 ? 'Choose the hosts to compare.' : '';
    this.hostNote.hidden = !note;
    setText(this.hostNote, note);

    const data = this.multi.hostCompare && this.multi.hostCompare.key === key ? this.multi.hostCompare.hosts.filter((x) => chosen.includes(x.host)) : [];
    const sel = stages.find((s) => s.key === key);
    const label = sel ? `${dirName(sel.dir)} ${stageName(sel)}` : '';
    setText(this.cHHist.title, label ? `Histograms — ${label}` : 'Histograms');
    setText(this.cHTime.title, label ? `p50 / p99 over time — ${label}` : 'p50 / p99 over time');
    const withData = data.filter((x) => x.stage && x.stage.count > 0);
    const empty = !key ? 'No stage yet.' : data.length === 0 ? 'Waiting for the hosts\u2019 data…' : withData.length === 0 ? 'No chosen host has packets in this stage yet.' : undefined;
    const unit = unitOfKind(sel?.kind ?? 'stage');
    const theme = this.ctx.theme;
    showEmpty(this.cHHist, empty);
    if (!empty) {
      this.ctx.timed('cmp-hist', () => this.charts.hostHist.update(withData.map((x) => ({ label: x.label, buckets: x.stage!.buckets })), unit, theme));
      this.hHist.canvas.setAttribute('aria-label', `Histograms of ${label} on ${withData.map((x) => x.label).join(', ')}, overlaid as shares of each host's packets`);
    }
    showEmpty(this.cHTime, empty);
    if (!empty) {
      const lines: Line[] = [];
      data.forEach((x, i) => {
        lines.push({ label: `${x.label} p50`, color: i, points: x.points.map((p) => ({ x: p[0], y: p[2] > 0 ? p[2] : null })) });
        lines.push({ label: `${x.label} p99`, color: i, dashed: true, points: x.points.map((p) => ({ x: p[0], y: p[3] > 0 ? p[3] : null })) });
      });
      this.ctx.timed('cmp-time', () => this.charts.hostTime.update(lines, unit, theme));
    }
    const rows: Row[] = data.map((x) => {
      const s = x.stage;
      const f = (v: number | undefined) => (s && s.count > 0 && v !== undefined ? formatKindValue(v, s.kind) : '–');
      return { key: x.host, cells: [x.label, x.state, formatCount(s?.count ?? 0), f(s?.p50), f(s?.p90), f(s?.p99), f(s?.max)] };
    });
    syncRows(this.hBody, rows);
    showEmpty(this.cHTable, rows.length ? undefined : empty);
  }

  // ---------------------------------------------------------------- before / after

  private compareAtReload(): void {
    const marks = this.store.reloads.filter((r) => r.ok);
    const s = this.store.series;
    const mark = marks.at(-1);
    if (!mark || s.length < 2) return;
    const step = s[1]!.t_ms - s[0]!.t_ms;
    this.post({ type: 'compareRanges', a: { from_ms: s[0]!.t_ms - step, to_ms: mark.t_ms }, b: { from_ms: mark.t_ms, to_ms: s.at(-1)!.t_ms } });
  }

  private renderWindows(store: Store): void {
    this.shownSeq = this.multi.comparisonSeq;
    const c = this.multi.comparison;
    const canReload = store.reloads.some((r) => r.ok) && store.series.length > 1;
    this.reloadButton.disabled = !canReload;
    this.reloadButton.title = canReload ? 'Compare the intervals before the last probe reload with those after it' : 'No probe reload in this history yet';
    if (!c) {
      setText(this.summary, this.multi.comparisonError ?? 'Drag across the time axis of the p50 / p99 chart (Stages tab) to select a range: a range across a reload mark compares before with after it; otherwise a second range is compared with the first. Or compare two saved traces (nslat: Compare Traces…).');
      this.summary.classList.toggle('error', !!this.multi.comparisonError);
      showEmpty(this.cWTable, 'No comparison yet.');
      this.cWDetail.el.hidden = true;
      syncRows(this.wBody, []);
      return;
    }
    this.summary.classList.remove('error');
    const tests = c.stages.reduce((n, s) => n + (s.p50?.p_value != null ? 1 : 0) + (s.p99?.p_value != null ? 1 : 0), 0);
    setText(this.summary, `A: ${c.a.label} (${c.a.intervals} intervals) — B: ${c.b.label} (${c.b.intervals} intervals). Per stage, the per-block p50 and p99 of A against B (Mann–Whitney), Holm-adjusted over ${tests} tests at α = ${c.alpha}; blocks of at least ${c.min_packets} packets; shifts under one histogram bucket are not flagged.`);
    const cmp = this.cmp();
    const flagged = c.stages.find((s) => s.verdict === 'higher' || s.verdict === 'lower' || s.verdict === 'mixed');
    const row = c.stages.find((s) => s.key === cmp.row) ?? flagged ?? c.stages[0];
    const rows: Row[] = c.stages.map((s) => {
      const unit = unitOfKind(s.kind);
      const v = (x: number | undefined) => (x === undefined ? '–' : formatKindValue(x, s.kind));
      const d = (q: 'p50' | 'p99') => (s[q] ? `${formatSigned(s[q]!.shift, unit)}${s[q]!.significant ? ' *' : ''}` : '–');
      return {
        key: s.key,
        class: `verdict-${s.verdict}${s.key === row?.key ? ' selected' : ''}`,
        cells: [
          { button: s.name, action: 'cmp-row', value: s.key, pressed: s.key === row?.key, title: 'Show this stage below' },
          dirName(s.dir),
          v(s.p50?.a), v(s.p50?.b), d('p50'), v(s.p99?.a), v(s.p99?.b), d('p99'),
          verdictShort(s.verdict, s.kind),
        ],
      };
    });
    this.ctx.timed('cmp-table', () => syncRows(this.wBody, rows));
    showEmpty(this.cWTable, rows.length ? undefined : 'No stage has packets in either window.');
    this.cWDetail.el.hidden = !row;
    if (!row) return;
    setText(this.cWDetail.title, `${dirName(row.dir)} ${row.name} — ${verdictText(row.verdict, row.kind)}`);
    setText(this.statement, comparisonStatement(c, row));
    const unit = unitOfKind(row.kind);
    const theme = this.ctx.theme;
    const sides = [['A', row.a], ['B', row.b]] as const;
    this.charts.winHist.update(sides.filter(([, x]) => x).map(([n, x]) => ({ label: n === 'A' ? `A: ${c.a.label}` : `B: ${c.b.label}`, buckets: dense(x!.buckets) })), unit, theme);
    const lines: Line[] = [];
    sides.forEach(([n, x], i) => {
      if (!x) return;
      lines.push({ label: `${n} p50 per block`, color: i, dots: true, points: x.block_p50.map((y, j) => ({ x: j, y: y > 0 ? y : null })) });
      lines.push({ label: `${n} p99 per block`, color: i, dots: true, dashed: true, points: x.block_p99.map((y, j) => ({ x: j, y: y > 0 ? y : null })) });
    });
    this.charts.noise.update(lines, unit, theme);
  }
}

// The health row: tiles (events/s, drops, loss, probe cost, boundaries fed), one chip per boundary
// and probe group saying what feeds it, and the tables of programs, loss, activity and drop reasons.
import type { FromPanel, Health } from '../../src/core/protocol.ts';
import { describeFeeds, explainReason, mechanismOf, shortReason } from '../../src/core/feeds.ts';
import { formatCount, formatMeasured, formatMeasuredShort, formatNs } from '../../src/core/format.ts';
import { clear, h, setText, syncRows } from '../dom.ts';
import type { Dirty, Store } from '../store.ts';
import { type View, dirName } from '../view.ts';

function sum(o: Record<string, number> | undefined): number {
  let n = 0;
  for (const v of Object.values(o ?? {})) n += v;
  return n;
}

function detailTable(caption: string, columns: string[], body: HTMLTableSectionElement, id?: string): HTMLTableElement {
  return h('table', id ? { id } : {}, h('caption', {}, caption), h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c)))), body);
}

export class HealthView implements View {
  private readonly tiles = {
    events: h('dd', { id: 'health-events' }),
    drops: h('dd', { id: 'health-drops' }),
    lost: h('dd', { id: 'health-lost' }),
    measured: h('dd', { id: 'health-measured' }),
    probe: h('dd', { id: 'health-probe' }),
    attached: h('dd', { id: 'health-attached' }),
  };
  private readonly chips = h('ul', { class: 'chips', id: 'attach-chips', 'aria-label': 'What feeds each boundary' });
  private readonly progBody = h('tbody');
  private readonly lossBody = h('tbody');
  private readonly activityBody = h('tbody');
  private readonly dropBody = h('tbody');
  readonly el: HTMLElement;
  readonly actions;

  constructor(post: (m: FromPanel) => void) {
    const tile = (label: string, dd: HTMLElement, hint: string) => h('div', { class: 'tile', title: hint }, h('dt', {}, label), dd);
    const t = this.tiles;
    this.el = h(
      'section',
      { class: 'health', id: 'health', 'aria-labelledby': 'health-title' },
      h('h2', { id: 'health-title', class: 'visually-hidden' }, 'Health'),
      h(
        'dl',
        { class: 'tiles' },
        tile('events/s', t.events, 'Events the probes handled per second'),
        tile('drops', t.drops, 'Packets freed by kfree_skb (by drop reason)'),
        tile('lost', t.lost, 'Measurements nslat itself lost (ring buffer full, map full, stale or evicted entries, unattributed UDP reads, IRQ lines out of range, missing snapshots), as a share of what they apply to'),
        tile('measured', t.measured, 'Of the packets that passed the filters, those timed through every boundary; of the hard IRQs and softirq runs the kernel counted, those the IRQ probes timed. By default 1 in N, N adapting to the rate; every one with nslat.measure = 1 (--measure 1)'),
        tile('ns per probe run', t.probe, 'Mean BPF program run time (kernel bpf_stats)'),
        tile('boundaries fed', t.attached, 'Boundaries fed by an attached program (the chips below say by which mechanism, or why not)'),
      ),
      this.chips,
      h(
        'details',
        { class: 'health-details' },
        h('summary', {}, 'Programs, loss, activity and drop reasons'),
        h(
          'div',
          { class: 'detail-grid' },
          detailTable('Probe programs', ['program', 'slot', 'status', 'attach', 'ns/run', 'runs'], this.progBody),
          detailTable('Loss (what nslat failed to measure)', ['loss', 'total', 'share'], this.lossBody, 'loss-table'),
          detailTable('Activity (work the probes counted)', ['counter', 'total'], this.activityBody, 'activity-table'),
          detailTable('Drop reasons', ['reason', 'packets'], this.dropBody),
        ),
      ),
    );
    this.actions = { 'open-probe': (v: string) => post({ type: 'openProbe', boundary: v }) };
  }

  render(store: Store, dirty: Dirty): void {
    if (dirty.health || dirty.stages) this.renderHealth(store.health);
  }

  private renderHealth(hl: Health | undefined): void {
    const tiles = this.tiles;
    this.el.classList.toggle('is-empty', !hl);
    if (!hl) {
      for (const dd of Object.values(tiles)) setText(dd, '–');
      clear(this.chips);
      delete this.chips.dataset.sig;
      for (const b of [this.progBody, this.lossBody, this.activityBody, this.dropBody]) clear(b);
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
    const measured = hl.measured ?? [];
    setText(tiles.measured, measured.length ? measured.map((m) => `${dirName(m.dir)} ${formatMeasuredShort(m.measured, m.seen)}`).join(' · ') : '–');
    tiles.measured.title = measured.map((m) => `${m.slot}: ${formatMeasured(m.measured, m.seen, m.of)}`).join('\n');
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
    if (this.chips.dataset.sig !== sig) {
      this.chips.dataset.sig = sig;
      this.renderChips(hl.boundaries, hl.groups ?? []);
    }
    const progRuns = new Map(hl.progs.map((p) => [`${p.slot}:${p.name}`, p]));
    syncRows(
      this.progBody,
      hl.programs.map((p) => {
        const r = progRuns.get(`${p.slot}:${p.name}`);
        return {
          key: `${p.slot}:${p.name}`,
          class: p.status === 'attached' ? '' : p.status === 'failed' ? 'failed' : 'skipped',
          cells: [p.name, p.slot, p.status === 'attached' ? 'attached' : `${p.status}: ${p.reason ?? ''}`, p.attach ?? '', r ? formatNs(r.ns_per_run) : '', r ? formatCount(r.runs) : ''],
        };
      }),
    );
    syncRows(this.lossBody, hl.loss.map((l) => ({ key: l.name, class: l.total > 0 ? 'failed' : '', cells: [l.name, formatCount(l.total), l.label] })));
    syncRows(this.activityBody, Object.entries(hl.activity).map(([k, v]) => ({ key: k, cells: [k, formatCount(v)] })));
    const dropRows = Object.entries(hl.drops).sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ key: k, cells: [k, formatCount(v)] }));
    syncRows(this.dropBody, dropRows.length ? dropRows : [{ key: '-', cells: ['none', '0'] }]);
  }

  /** One chip per boundary (and per named group of a probe object): the mechanism that feeds it
   *  ("netfilter", "fentry+tp_btf"), or why nothing does (short; the tooltip has it all). */
  private renderChips(boundaries: Health['boundaries'], groups: NonNullable<Health['groups']>): void {
    clear(this.chips);
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
      this.chips.append(
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
}

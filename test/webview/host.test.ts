// The Host tab and the event markers in real headless Chromium, fed through the real Aggregator the
// probe stream recorded from the real helper with the host samples recorded from it put into its
// snapshots (test/fixtures/host-recorded.ts recordedWithHost: stages and host counters in the same
// intervals). For the markers, one known event is added to one snapshot (a qdisc dropping 7
// packets, a retransmit), so the test knows where the marker must be and what it must say.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { formatBytes, formatClock, formatCount } from '../../src/core/format.ts';
import type { HelperMessage, PanelState, SnapshotMessage } from '../../src/core/protocol.ts';
import { recordedWithHost } from '../fixtures/host-recorded.ts';
import { canvasInk, panelOf, panelSuite, pixelsNear, ROOT, rendered, send, TEST_THEME } from './harness.ts';

const RESULTS = join(ROOT, 'test-results');

const suite = panelSuite({ width: 1280, height: 1000 });
const { open, clean } = suite;

before(() => mkdirSync(RESULTS, { recursive: true }));

/** The recorded streams with their event counters as recorded, and one known event added in the
 *  middle snapshot: lo's qdisc drops 7 packets and TCP retransmits 3 segments. */
function withEvent(): { msgs: HelperMessage[]; snap: SnapshotMessage } {
  const msgs = recordedWithHost();
  const snaps = msgs.filter((m): m is SnapshotMessage => m.type === 'snapshot');
  const snap = snaps[Math.floor(snaps.length / 2)]!;
  const lo = snap.host!.ifaces.find((i) => i.name === 'lo') ?? snap.host!.ifaces[0]!;
  lo.qdiscs = [...(lo.qdiscs ?? []), { kind: 'tbf', handle: '8001:', parent: 'root', sent_packets: 10, sent_bytes: 1000, drops: 7, overlimits: 9, requeues: 0, backlog_bytes: 0, backlog_packets: 0 }];
  snap.host!.snmp['Tcp.RetransSegs'] = (snap.host!.snmp['Tcp.RetransSegs'] ?? 0) + 3;
  return { msgs, snap };
}

const panel = (page: Page, expr: string) => page.evaluate(`(() => { const p = window.nslatPanel; return ${expr}; })()`);

describe('Host tab and event markers', () => {
  test('the Host tab renders its tables and charts from the recorded host counters', async () => {
    const { page, problems } = await open();
    const state: PanelState = panelOf(recordedWithHost());
    const h = state.host_counters!;
    await send(page, { type: 'snapshot', state });
    await page.click('#tab-host');
    await rendered(page);
    assert.equal(await page.locator('#panel-host').isVisible(), true);
    assert.match((await page.locator('#host-note').textContent()) ?? '', new RegExp(`${formatCount(h.samples)} samples over`));
    // tables: a row per interface, CPU, IRQ line that fired, socket and protocol counter
    assert.equal(await page.locator('#host-iface-table tbody tr').count(), h.ifaces.length);
    for (const i of h.ifaces) {
      const cells = await page.locator(`#host-iface-table tbody tr[data-key="${i.id}"] :is(th, td)`).allTextContents();
      assert.equal(cells[0], i.id);
      assert.equal(cells[5], formatCount(i.drops), `${i.id} dropped`);
    }
    assert.equal(await page.locator('#host-cpu-table tbody tr').count(), h.cpus.length);
    assert.equal(await page.locator('#host-irq-table tbody tr').count(), h.irqs.filter((q) => q.total > 0 || q.queue).length);
    assert.equal(await page.locator('#host-snmp-table tbody tr').count(), h.snmp.length);
    assert.equal(await page.locator('#host-socket-table tbody tr').count(), h.sockets.length);
    for (const s of h.sockets.slice(0, 3)) assert.equal(await page.locator(`#host-socket-table tbody tr[data-key="${s.id}"] td`).nth(2).textContent(), formatBytes(s.recv_q_max));
    assert.equal(await page.locator('#host-hints li.hint').count(), h.hints.length);
    // charts on the stage charts' time axis: ink on the canvases, the x range the same window
    for (const id of ['host-packets-canvas', 'host-event-rates-canvas', 'host-cpu-chart-canvas']) {
      const ink = await canvasInk(page, id);
      assert.ok(ink.w > 100 && ink.ink > 1000, `${id} drawn: ${JSON.stringify(ink)}`);
    }
    await page.click('#tab-stages');
    await rendered(page);
    const stageX = await panel(page, '[p.charts.time.chart.scales.x.min, p.charts.time.chart.scales.x.max]');
    assert.deepEqual(stageX, [state.series[0]!.t_ms, state.series.at(-1)!.t_ms], 'the stage chart spans the intervals held');
    await page.click('#tab-host');
    await rendered(page);
    await page.screenshot({ path: join(RESULTS, 'webview-host-tab.png'), fullPage: true });
    await clean(page, problems);
  });

  test('a marker on the stage chart\'s and the heatmap\'s time axes at the interval where counters moved; a click says which and by how much', async () => {
    const { page, problems } = await open();
    const { msgs, snap } = withEvent();
    const state = panelOf(msgs);
    const point = state.series.find((p) => p.host_counters?.events.some((e) => e.counter.endsWith('qdisc tbf 8001: drops')))!;
    assert.ok(point, 'the injected event is in the panel state');
    const agg = { t: point.t_ms };
    await send(page, { type: 'snapshot', state });
    await rendered(page);
    const marked = state.series.filter((p) => p.host_counters?.events.length).map((p) => p.t_ms);
    for (const target of ['timeseries', 'heatmap']) {
      const pos = (await panel(page, `p.markers.stages.positions(${JSON.stringify(target)})`)) as Array<{ t_ms: number; x: number; y: number }>;
      assert.deepEqual(pos.map((p) => p.t_ms), marked, `${target}: a marker at every interval where an event counter moved, and nowhere else`);
    }
    // at the right place on each axis
    const tPos = ((await panel(page, 'p.markers.stages.positions("timeseries")')) as Array<{ t_ms: number; x: number; y: number }>).find((p) => p.t_ms === agg.t)!;
    const want = (await panel(page, `p.charts.time.chart.scales.x.getPixelForValue(${agg.t})`)) as number;
    assert.ok(Math.abs(tPos.x - want) < 0.5, `time chart marker at x ${tPos.x}, the interval is at ${want}`);
    const hPos = ((await panel(page, 'p.markers.stages.positions("heatmap")')) as Array<{ t_ms: number; x: number; y: number }>).find((p) => p.t_ms === agg.t)!;
    const col = (await panel(page, `p.heatmap.columnOf(${agg.t})`)) as { x: number; bottom: number };
    assert.ok(Math.abs(hPos.x - col.x) < 0.5, `heatmap marker at x ${hPos.x}, the column at ${col.x}`);
    // drawn in the drop colour
    assert.ok((await pixelsNear(page, 'timeseries-canvas', TEST_THEME['--vscode-errorForeground']!, 8)) > 5, 'a red marker on the time chart');
    assert.ok((await pixelsNear(page, 'heatmap-canvas', TEST_THEME['--vscode-errorForeground']!, 8)) > 5, 'a red marker on the heatmap');

    // a click next to the marker shows nothing; on it, what moved
    const box = (await page.locator('#timeseries-canvas').boundingBox())!;
    await page.mouse.click(box.x + tPos.x, box.y + tPos.y - 40);
    await rendered(page);
    assert.equal(await page.locator('#timeseries-event-detail').isHidden(), true, "a click off the marker shows nothing");
    await page.mouse.click(box.x + tPos.x, box.y + tPos.y - 3);
    await rendered(page);
    const detail = page.locator('#timeseries-event-detail');
    assert.equal(await detail.isVisible(), true, "a click on the time chart marker shows what moved");
    assert.match((await detail.locator('.event-detail-title').textContent()) ?? '', new RegExp(`Interval ending ${formatClock(agg.t)}`));
    const items = await detail.locator('li').allTextContents();
    const lo = snap.host!.ifaces.find((i) => i.name === 'lo') ?? snap.host!.ifaces[0]!;
    assert.ok(items.some((t) => t === `drop ${lo.name} qdisc tbf 8001: drops +7`), items.join(' | '));
    assert.ok(items.some((t) => t === `retransmit Tcp.RetransSegs +${formatCount(snap.host!.snmp['Tcp.RetransSegs']!)}`), items.join(' | '));
    assert.equal(items.length, point.host_counters!.events.length, 'every counter that moved, and only those');

    await page.locator('#heatmap-canvas').scrollIntoViewIfNeeded();
    const hbox = (await page.locator('#heatmap-canvas').boundingBox())!;
    await page.mouse.click(hbox.x + hPos.x, hbox.y + hPos.y - 3);
    await rendered(page);
    const hd = page.locator('#heatmap-event-detail');
    assert.equal(await hd.isVisible(), true, "a click on the heatmap marker shows what moved");
    assert.deepEqual(await hd.locator('li').allTextContents(), items, 'the heatmap marker says the same');
    await hd.locator('button').click();
    assert.equal(await hd.isHidden(), true, 'and it closes');
    await page.screenshot({ path: join(RESULTS, 'webview-event-markers.png'), fullPage: true });
    await clean(page, problems);
  });
});

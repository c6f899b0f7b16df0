/** PanelPump: snapshot on ready/visible/new source, deltas at most 10/s, nothing while hidden. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mock, test } from 'node:test';
import { Aggregator } from '../../src/core/aggregate.ts';
import { parseHelperMessage, ToPanel, type HelperMessage, type PanelState } from '../../src/core/protocol.ts';
import { PanelPump } from '../../src/extension/panelPump.ts';

const stream: HelperMessage[] = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'helper-stream.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => {
    const r = parseHelperMessage(l);
    if (!r.ok) throw r.error;
    return r.value;
  });

function emptyPanelStateForTest(): PanelState {
  return {
    session: { host: '', state: 'stopped', message: 'No session' },
    stages: [],
    series: [],
    journeys: [],
    reloads: [],
    health: { events_per_s: 0, loss: [], activity: {}, drops: {}, progs: [], programs: [], boundaries: [] },
  };
}

function setup() {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const sent: ToPanel[] = [];
  const pump = new PanelPump((m) => {
    assert.ok(ToPanel.safeParse(m).success, 'every message matches the protocol');
    sent.push(m);
  }, { empty: emptyPanelStateForTest, now: () => Date.now() });
  const agg = new Aggregator({ host: 'local', onChange: () => pump.notify(), now: () => Date.now() });
  return { sent, pump, agg };
}

test('nothing before ready; a snapshot on ready; deltas coalesced to at most one per 100 ms', (t) => {
  t.after(() => mock.timers.reset());
  const { sent, pump, agg } = setup();
  pump.attach(true);
  pump.setSource(agg);
  for (const m of stream.slice(0, 3)) agg.ingest(m);
  assert.equal(sent.length, 0, 'not ready yet');
  pump.setReady();
  assert.deepEqual(sent.map((m) => m.type), ['snapshot']);

  // A burst of messages within one 100 ms window gives one delta.
  for (const m of stream.slice(3)) agg.ingest(m);
  mock.timers.tick(99);
  assert.equal(sent.length, 1);
  mock.timers.tick(1);
  assert.deepEqual(sent.map((m) => m.type), ['snapshot', 'delta']);

  // 2 s of changes every 5 ms: at most 10 deltas a second.
  const before = sent.length;
  for (let i = 0; i < 400; i++) {
    agg.markReload('rx', i % 2 === 0, `r${i}`);
    mock.timers.tick(5);
  }
  mock.timers.tick(200);
  const deltas = sent.length - before;
  assert.ok(deltas >= 15 && deltas <= 21, `${deltas} deltas in ~2.2 s`);
  const marks = sent.slice(before).flatMap((m) => (m.type === 'delta' ? m.reloads : []));
  assert.equal(marks.length, 400, 'coalescing loses no reload mark');
});

test('a hidden panel gets nothing and costs nothing; shown again, its new document gets a snapshot', (t) => {
  t.after(() => mock.timers.reset());
  const { sent, pump, agg } = setup();
  pump.attach(true);
  pump.setSource(agg);
  pump.setReady();
  pump.setVisible(false);
  const panelMessage = mock.method(agg, 'panelMessage');
  const panelState = mock.method(agg, 'panelState');
  for (const m of stream) agg.ingest(m);
  mock.timers.tick(5000);
  assert.equal(sent.length, 1, 'only the first snapshot');
  assert.equal(panelMessage.mock.callCount(), 0, 'no delta computed while hidden');
  assert.equal(panelState.mock.callCount(), 0);
  pump.setVisible(true);
  assert.equal(sent.length, 1, 'the reloaded document is not listening before its ready');
  pump.setReady();
  assert.deepEqual(sent.map((m) => m.type), ['snapshot', 'snapshot']);
  const last = sent[1]!;
  assert.ok(last.type === 'snapshot' && last.state.stages.length > 0, 'the new snapshot carries the data');
});

test('without a source the panel shows the empty state; a new source sends a snapshot at once', (t) => {
  t.after(() => mock.timers.reset());
  const { sent, pump, agg } = setup();
  pump.attach(true);
  pump.setReady();
  assert.equal(sent.length, 1);
  const first = sent[0]!;
  assert.ok(first.type === 'snapshot' && first.state.session.state === 'stopped');
  pump.setSource(agg);
  assert.equal(sent.length, 2);
  pump.detach();
  agg.markReload('rx', true);
  mock.timers.tick(1000);
  assert.equal(sent.length, 2, 'nothing after the panel is gone');
});

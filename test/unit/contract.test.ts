/**
 * The two halves of the contract agree: the protocol module's loss counters and the C header's
 * NSLAT_CNT_LOSS_MASK (bpf/include/nslat.h), and the fixtures and the boundaries the probe sources
 * declare (enum nslat_boundary in bpf/probes/*.bpf.c). The fixtures carry no machine paths.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Aggregator } from '../../src/core/aggregate.ts';
import { LOSS_COUNTERS, LOST_SNAPSHOTS, activityCounters, formatLossShare, isLossCounter, lossFigures, type LoadedMessage, type PanelState, type SlotCounters } from '../../src/core/protocol.ts';
import { REPO_DIR, WORKDIR, probeBoundaries, readStream, recorded } from '../fixtures/recorded.ts';

const HEADER = fileURLToPath(new URL('../../bpf/include/nslat.h', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** enum nslat_counter (name → value, lower-case without NSLAT_CNT_) and the names whose bits
 *  NSLAT_CNT_LOSS_MASK sets, from the C header. */
export function headerCounters(text: string): { counters: Map<string, number>; loss: string[] } {
  const src = text.replace(/\/\*[\s\S]*?\*\//g, '');
  const body = /enum\s+nslat_counter\s*\{([^}]*)\}/.exec(src)?.[1];
  assert.ok(body, 'nslat.h declares enum nslat_counter');
  const counters = new Map<string, number>();
  let next = 0;
  for (const entry of body.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^NSLAT_CNT_([A-Z0-9_]+)\s*(?:=\s*(\d+))?$/.exec(entry);
    if (!m) continue; // __NSLAT_CNT_MAX
    const v = m[2] !== undefined ? Number(m[2]) : next;
    counters.set(m[1]!.toLowerCase(), v);
    next = v + 1;
  }
  const mask = /#define\s+NSLAT_CNT_LOSS_MASK\s+((?:[^\n\\]|\\\n)*)/.exec(src)?.[1];
  assert.ok(mask, 'nslat.h defines NSLAT_CNT_LOSS_MASK');
  const loss = [...mask.matchAll(/1u?\s*<<\s*NSLAT_CNT_([A-Z0-9_]+)/g)].map((m) => m[1]!.toLowerCase());
  for (const l of loss) assert.ok(counters.has(l), `NSLAT_CNT_LOSS_MASK names ${l}, which enum nslat_counter does not have`);
  return { counters, loss };
}

test('the loss counters are the same set in protocol.ts and nslat.h (NSLAT_CNT_LOSS_MASK)', () => {
  const { counters, loss } = headerCounters(readFileSync(HEADER, 'utf8'));
  assert.ok(counters.size >= 10, 'enum nslat_counter parsed');
  assert.deepEqual([...LOSS_COUNTERS].sort(), [...loss].sort(), 'LOSS_COUNTERS (src/core/protocol.ts) and NSLAT_CNT_LOSS_MASK (bpf/include/nslat.h) differ');
  // every other counter of the header is activity
  for (const name of counters.keys()) assert.equal(isLossCounter(name), loss.includes(name), name);
  assert.ok(!counters.has(LOST_SNAPSHOTS), 'lost snapshots are counted by the core, not by a probe');
});

test('the header parser sees a change of the mask (the check above can fail)', () => {
  const text = readFileSync(HEADER, 'utf8');
  const fewer = text.replace(/\(1u << NSLAT_CNT_EVICTED\)/, '0');
  assert.notEqual(fewer, text, 'the mask names NSLAT_CNT_EVICTED');
  assert.ok(!headerCounters(fewer).loss.includes('evicted'));
  const more = text.replace('NSLAT_CNT_COALESCED,', 'NSLAT_CNT_COALESCED,\n\tNSLAT_CNT_NEW_LOSS,').replace('(1u << NSLAT_CNT_EVICTED)', '(1u << NSLAT_CNT_EVICTED) | (1u << NSLAT_CNT_NEW_LOSS)');
  const h = headerCounters(more);
  assert.equal(h.counters.get('new_loss'), h.counters.get('coalesced')! + 1);
  assert.notDeepEqual([...LOSS_COUNTERS].sort(), [...h.loss].sort());
});

test('an unknown counter is activity; each loss is a share of what it applies to', () => {
  const slots: SlotCounters[] = [
    { kind: 'packets' as const, counters: { started: 1_200_000, ringbuf_drop: 240, map_full: 0, some_future_counter: 7 } },
    { kind: 'packets' as const, counters: { started: 800_000, ringbuf_drop: 0, udp_unpaired: 2 } },
    { kind: 'irq' as const, counters: { irq_out_of_range: 1, napi_polls: 50, started: 0 }, hard_irqs: 999 },
  ];
  const f = new Map(lossFigures(slots, 98, 2).map((x) => [x.name, x]));
  assert.deepEqual([...f.keys()], [...LOSS_COUNTERS, LOST_SNAPSHOTS]);
  assert.deepEqual(f.get('ringbuf_drop'), { name: 'ringbuf_drop', total: 240, of: 2_000_000, base: 'started_packets', share: 240 / 2_000_000, label: '0.01 % of 2 M started packets' });
  assert.deepEqual(f.get('irq_out_of_range'), { name: 'irq_out_of_range', total: 1, of: 1000, base: 'hard_irqs', share: 0.001, label: '0.1 % of 1 k hard IRQs' });
  assert.deepEqual(f.get(LOST_SNAPSHOTS), { name: LOST_SNAPSHOTS, total: 2, of: 100, base: 'snapshots', share: 0.02, label: '2 % of 100 snapshots' });
  assert.deepEqual(activityCounters(slots), { napi_polls: 50, some_future_counter: 7, started: 2_000_000 });
  assert.equal(formatLossShare(f.get('ringbuf_drop')!), '0.01 % of 2 M started packets');
  assert.equal(formatLossShare({ total: 240, of: 1_200_000, base: 'started_packets' }), '0.02 % of 1.2 M started packets');
  assert.equal(formatLossShare({ total: 1, of: 1_200_000, base: 'started_packets' }), '<0.01 % of 1.2 M started packets');
  assert.equal(formatLossShare({ total: 0, of: 0, base: 'hard_irqs' }), 'of 0 hard IRQs');
  assert.equal(formatLossShare({ total: 5, of: 40, base: 'snapshots' }), '12.5 % of 40 snapshots');
});

test('the recorded stream, the derived stream and the panel fixture name the probes\' boundaries', () => {
  const declared = probeBoundaries();
  assert.deepEqual(Object.keys(declared).sort(), ['rx', 'tx'], 'rx.bpf.c and tx.bpf.c declare boundaries');
  const check = (what: string, loaded: Array<Pick<LoadedMessage, 'slot' | 'boundaries'>>): void => {
    for (const slot of Object.keys(declared)) {
      const l = loaded.filter((x) => x.slot === slot);
      assert.ok(l.length > 0, `${what}: a loaded ${slot}`);
      for (const x of l) assert.deepEqual(x.boundaries.map((b) => b.name), declared[slot], `${what}: ${slot} boundaries differ from bpf/probes/${slot}.bpf.c (re-record: scripts/record-fixtures.sh)`);
    }
  };
  const rec = recorded();
  const stream = readStream(`${FIXTURES}helper-stream.jsonl`);
  check('helper-recorded.jsonl', rec.filter((m): m is LoadedMessage => m.type === 'loaded'));
  check('helper-stream.jsonl', stream.filter((m): m is LoadedMessage => m.type === 'loaded'));
  const panel = JSON.parse(readFileSync(`${FIXTURES}panel-state.json`, 'utf8')) as PanelState;
  check('panel-state.json', Object.keys(declared).map((slot) => ({ slot, boundaries: panel.health.boundaries.filter((b) => b.slot === slot) })));

  // every boundary a stage, a journey or a program's group names is one the probes declare
  const known = (dir: string) => new Set(declared[dir] ?? []);
  for (const [what, msgs] of [['helper-recorded.jsonl', rec], ['helper-stream.jsonl', stream]] as const) {
    const agg = new Aggregator();
    for (const m of msgs) agg.ingest(m);
    for (const s of agg.report().stages.filter((x) => x.dir !== 'irq')) {
      for (const b of [s.from, s.to].filter((x): x is string => x !== undefined)) assert.ok(known(s.dir).has(b), `${what}: stage ${s.key} names ${b}, which bpf/probes/${s.dir}.bpf.c does not declare`);
    }
    for (const j of msgs) if (j.type === 'journey') for (const m of j.marks) assert.ok(known(j.dir).has(m.boundary), `${what}: a journey passes ${m.boundary}`);
  }
  for (const s of panel.stages.filter((x) => x.dir !== 'irq' && !x.name.startsWith('my_hook_'))) {
    for (const b of [s.from, s.to].filter((x): x is string => x !== undefined)) assert.ok(known(s.dir).has(b), `panel-state.json: stage ${s.key} names ${b}`);
  }
  for (const j of panel.journeys) for (const m of j.marks) assert.ok(known(j.dir).has(m.boundary), `panel-state.json: a journey passes ${m.boundary}`);
});

test('the fixtures carry no paths of the machine they were recorded on', () => {
  for (const f of ['helper-recorded.jsonl', 'helper-stream.jsonl', 'panel-state.json', 'helper-6.18-netfilter.jsonl', 'helper-6.18-no-netfilter.jsonl', 'helper-6.18-refused.jsonl']) {
    const text = readFileSync(`${FIXTURES}${f}`, 'utf8');
    const paths = [...text.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]!).filter((p) => !p.startsWith(WORKDIR) && !p.startsWith(REPO_DIR));
    assert.deepEqual(paths, [], `${f}: machine paths`);
    assert.doesNotMatch(text, /\/(?:tmp|var\/tmp|home|root|work)\//, `${f}: a machine path`);
  }
});

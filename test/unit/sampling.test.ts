import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADAPTIVE, EVERY_PACKET, MAX_MEASURE_EVERY, MeasureRate } from '../../src/core/sampling.ts';

const S = 1e9;
/** The arithmetic below is written for a bound of 20 000 a second. */
const AT_20K = { kind: 'adaptive', maxMeasuredPerSec: 20_000 } as const;

test('the default bound: 5 000 measured a second per probe object', async () => {
  const { DEFAULT_MAX_MEASURED_PER_SEC } = await import('../../src/core/sampling.ts');
  assert.deepEqual(ADAPTIVE, { kind: 'adaptive', maxMeasuredPerSec: 5_000 });
  assert.equal(DEFAULT_MAX_MEASURED_PER_SEC, 5_000);
  const r = new MeasureRate(ADAPTIVE);
  assert.equal(r.observe([150_000], S), 32, '150 k/s → 1 in 32 (4.7 k/s measured)');
});

test('adaptive: N is the smallest power of two that keeps the busiest object at or under the bound', () => {
  const r = new MeasureRate(AT_20K);
  assert.equal(r.every, 1);
  assert.equal(r.observe([10_000, 5_000], S), undefined, 'under the bound: every packet');
  assert.equal(r.observe([100_000, 20_000], S), 8, '100 k/s → 1 in 8 (12.5 k/s measured)');
  assert.equal(r.every, 8);
  assert.equal(r.observe([200_000], 2 * S), undefined, 'the same rate over a 2 s interval');
  assert.equal(r.observe([170_000], S), 16, 'up as soon as the bound would be passed');
});

test('adaptive: N comes down only when half the bound is kept, so a steady rate does not flip it', () => {
  const r = new MeasureRate(AT_20K);
  r.observe([150_000], S); // 8
  assert.equal(r.every, 8);
  for (const rate of [150_000, 130_000, 160_000, 90_000, 150_000]) assert.equal(r.observe([rate], S), undefined, `${rate}/s keeps 1 in 8`);
  assert.equal(r.observe([35_000], S), 4, '35 k/s: 1 in 4 keeps 8.75 k/s, under half the bound');
  assert.equal(r.observe([35_000], S), undefined);
  assert.equal(r.observe([0], S), 1, 'idle: back to every packet');
});

test('fixed and every-packet modes never change; the adaptive N is bounded; bad intervals are ignored', () => {
  const e = new MeasureRate(EVERY_PACKET);
  assert.equal(e.observe([10_000_000], S), undefined);
  assert.equal(e.every, 1);
  const f = new MeasureRate({ kind: 'fixed', every: 64 });
  assert.equal(f.observe([1], S), undefined);
  assert.equal(f.every, 64);
  const a = new MeasureRate(ADAPTIVE);
  assert.equal(a.observe([1e12], S), MAX_MEASURE_EVERY);
  assert.equal(a.observe([1e9], 0), undefined);
  assert.equal(a.observe([Number.NaN], S), 1, 'a count that is no number is no traffic');
});

test('--measure and nslat.measure: auto, 1 in N, every packet; anything else is refused', async () => {
  const { parseSampling } = await import('../../src/core/sampling.ts');
  assert.deepEqual(parseSampling(undefined), ADAPTIVE);
  assert.deepEqual(parseSampling('auto'), ADAPTIVE);
  assert.deepEqual(parseSampling('1'), EVERY_PACKET);
  assert.deepEqual(parseSampling(16), { kind: 'fixed', every: 16 });
  for (const bad of ['0', '-1', '1.5', 'all', '4097', 0]) assert.equal(parseSampling(bad), undefined, String(bad));
  const { parseCli: parseArgs } = await import('../../src/cli/args.ts');
  const t = parseArgs(['trace', '--measure', '8']);
  assert.ok(t.kind === 'trace' && t.sampling.kind === 'fixed' && t.sampling.every === 8);
  const d = parseArgs(['trace']);
  assert.ok(d.kind === 'trace' && d.sampling.kind === 'adaptive');
  assert.throws(() => parseArgs(['trace', '--measure', 'many']), /--measure must be auto or a whole number from 1 to 4096, not "many"/);
});

test('the measured share reads as the counters show it', async () => {
  const { formatMeasured, formatMeasuredShort } = await import('../../src/core/format.ts');
  assert.equal(formatMeasured(75_300, 1_204_800), 'measured 1 in 16 of 1.20M packets (75.3k)');
  assert.equal(formatMeasured(500, 1_000), 'measured 1 in 2 of 1.00k packets (500)');
  assert.equal(formatMeasured(1_000, 1_000), 'every packet measured (1.00k)');
  assert.equal(formatMeasured(0, 10), 'none of 10 packets measured');
  assert.equal(formatMeasured(0, 0), 'no packets seen');
  assert.equal(formatMeasuredShort(75_300, 1_204_800), '1 in 16 of 1.20M');
  assert.equal(formatMeasuredShort(10, 10), 'all of 10');
});

test('a session\'s two rates: packets follow the packet objects\' seen counts, IRQ events the IRQ object\'s timed events scaled by N', async () => {
  const { SessionSampling, timedIrqEvents } = await import('../../src/core/sampling.ts');
  const snap = (seen: number, irqTimed: number): import('../../src/core/sampling.ts').SamplingSnapshot => ({
    interval_ns: S,
    slots: [
      { slot: 'rx', counters: { seen }, hists: [] },
      { slot: 'irq', counters: { napi_polls: 5 }, hists: [
        { kind: 'hardirq', count: irqTimed / 2 },
        { kind: 'softirq_delay', count: irqTimed / 2 },
        { kind: 'softirq_time', count: irqTimed / 2 }, // the same runs as softirq_delay: not counted twice
      ] },
    ],
  });
  assert.equal(timedIrqEvents(snap(0, 1000).slots[1]!.hists), 1000);
  const s = new SessionSampling(AT_20K);
  assert.deepEqual(s.data, { measure_every: 1, irq_measure_every: 1 });
  const isIrq = (slot: string) => slot === 'irq';
  assert.equal(s.observe(snap(10_000, 10_000), isIrq), undefined, 'both under the bound');
  const r = s.observe(snap(100_000, 50_000), isIrq);
  assert.deepEqual(r, { data: { measure_every: 8, irq_measure_every: 4 }, changes: [{ every: 8, of: 'packets' }, { every: 4, of: 'irq' }] });
  // At 1 in 4 the IRQ object times a quarter of the events: the estimate is scaled back up.
  assert.equal(s.observe(snap(100_000, 12_500), isIrq), undefined, '50 k IRQ events/s estimated from 12.5 k timed at 1 in 4');
  assert.deepEqual(s.observe(snap(100_000, 2_000), isIrq), { data: { irq_measure_every: 1 }, changes: [{ every: 1, of: 'irq' }] }, '8 k/s: every event again');
  const fixed = new SessionSampling({ kind: 'fixed', every: 1 });
  assert.equal(fixed.observe(snap(1e7, 1e7), isIrq), undefined, 'every-packet mode times every IRQ event too');
  assert.deepEqual(fixed.data, { measure_every: 1, irq_measure_every: 1 });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketLabel, bucketLowLabel, formatCount, formatKindValue, formatNs, formatNsShort, formatValue, kindLabel, l4Name, unitOfKind } from '../../src/core/format.ts';
import { HIST_BUCKETS, bucketLower, bucketUpper } from '../../src/core/hist.ts';

test('bucket labels name the real edges of each bucket', () => {
  assert.equal(bucketLowLabel(0), '0');
  assert.equal(bucketLowLabel(1), '1ns');
  assert.equal(bucketLowLabel(10), '512ns');
  assert.equal(bucketLowLabel(11), '1.02µs');
  assert.equal(bucketLowLabel(12), '2.05µs');
  assert.equal(bucketLowLabel(21), '1.05ms');
  assert.equal(bucketLowLabel(31), '1.07s');
  assert.equal(bucketLowLabel(8, 'packets'), '128');
  assert.equal(bucketLabel(0), '0');
  assert.equal(bucketLabel(11), '1.02µs–2.05µs');
  assert.equal(bucketLabel(HIST_BUCKETS - 1), '≥1.07s');
  assert.equal(bucketLabel(3, 'packets'), '4–8');
  // every closed bucket's label ends where the next one begins
  for (let i = 1; i < HIST_BUCKETS - 2; i++) {
    assert.equal(bucketLabel(i).split('–')[1], bucketLowLabel(i + 1), `bucket ${i}`);
    assert.equal(bucketUpper(i) + 1, bucketLower(i + 1));
  }
});

test('durations: three significant digits in ns, µs, ms, s', () => {
  assert.equal(formatNs(0), '0 ns');
  assert.equal(formatNs(850), '850 ns');
  assert.equal(formatNs(999), '999 ns');
  assert.equal(formatNs(1536.4), '1.54 µs');
  assert.equal(formatNs(12_345), '12.3 µs');
  assert.equal(formatNs(123_456), '123 µs');
  assert.equal(formatNs(999_700), '1.00 ms');
  assert.equal(formatNs(2_000_000_000), '2.00 s');
  assert.equal(formatNs(3_600e9), '3600 s');
  assert.equal(formatNs(12.5), '12.5 ns');
  assert.equal(formatNs(-2500), '-2.50 µs');
  assert.equal(formatNs(Number.NaN), '—');
  assert.equal(formatNsShort(4100), '4.10µs');
});

test('counts and values in the unit of their kind', () => {
  assert.equal(formatValue(8.46, 'packets'), '8.5');
  assert.equal(formatValue(64, 'packets'), '64');
  assert.equal(formatCount(950), '950');
  assert.equal(formatCount(12_345), '12.3k');
  assert.equal(formatCount(4_500_000), '4.50M');
  assert.equal(unitOfKind('napi_work'), 'packets');
  assert.equal(unitOfKind('softirq_delay'), 'ns');
  assert.equal(formatKindValue(64, 'napi_work'), '64');
  assert.equal(formatKindValue(1536.4, 'stage'), '1.54 µs');
  assert.equal(kindLabel('softirq_delay'), 'softirq raise→run');
  assert.equal(l4Name(17), 'UDP');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketLabel, bucketLowLabel, bucketRangeLabel, formatCount, formatKindValue, formatNs, formatNsShort, formatValue, kindLabel, l4Name, unitOfKind } from '../../src/core/format.ts';
import { HIST_BUCKETS, bucketEnd, bucketLower, bucketUpper } from '../../src/core/hist.ts';

test('bucket labels name the real edges of each log-linear bucket', () => {
  assert.equal(bucketLowLabel(0), '0');
  assert.equal(bucketLowLabel(1), '1ns');
  assert.equal(bucketLowLabel(15), '15ns'); // buckets below 16 are one value each
  assert.equal(bucketLowLabel(16), '16ns');
  assert.equal(bucketLowLabel(56), '512ns');
  assert.equal(bucketLowLabel(64), '1.02µs'); // 1024 ns
  assert.equal(bucketLowLabel(65), '1.15µs'); // 1152 ns: a sub-bucket edge, not a power of two
  assert.equal(bucketLowLabel(71), '1.92µs'); // 1920 ns
  assert.equal(bucketLowLabel(72), '2.05µs');
  assert.equal(bucketLowLabel(144), '1.05ms');
  assert.equal(bucketLowLabel(224), '1.07s');
  assert.equal(bucketLowLabel(HIST_BUCKETS - 1), '16.1s'); // 15·2^30 ns
  assert.equal(bucketLowLabel(32, 'packets'), '64');
  assert.equal(bucketLowLabel(33, 'packets'), '72');
  assert.equal(bucketLabel(0), '0');
  assert.equal(bucketLabel(5), '5ns');
  assert.equal(bucketLabel(16), '16ns–18ns');
  assert.equal(bucketLabel(64), '1.02µs–1.15µs');
  assert.equal(bucketLabel(71), '1.92µs–2.05µs');
  assert.equal(bucketLabel(HIST_BUCKETS - 1), '≥16.1s');
  assert.equal(bucketLabel(3, 'packets'), '3');
  assert.equal(bucketLabel(32, 'packets'), '64–72');
  assert.equal(bucketRangeLabel(64, 71), '1.02µs–2.05µs'); // one power of two
  assert.equal(bucketRangeLabel(248, HIST_BUCKETS - 1), '≥8.59s');
  // every closed bucket's label ends where the next one begins, and neighbouring edges differ
  for (let i = 16; i < HIST_BUCKETS - 2; i++) {
    assert.equal(bucketLabel(i).split('–')[1], bucketLowLabel(i + 1), `bucket ${i}`);
    assert.notEqual(bucketLowLabel(i), bucketLowLabel(i + 1), `bucket ${i}`);
    assert.equal(bucketUpper(i) + 1, bucketLower(i + 1));
    assert.equal(bucketEnd(i), bucketLower(i + 1));
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

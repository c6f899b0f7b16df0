import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOSS_COUNTERS } from '../../src/core/protocol.ts';
import { counterHover } from '../../src/server/catalogue.ts';

test('counter hovers say loss or activity from the protocol\'s one definition, with the loss base', () => {
  for (const name of LOSS_COUNTERS) assert.match(counterHover(`NSLAT_CNT_${name.toUpperCase()}`)!, new RegExp(`loss counter \`${name}\``));
  assert.match(counterHover('NSLAT_CNT_STALE')!, /older than 4 s.*\n\n.*share of started packets/s);
  assert.match(counterHover('NSLAT_CNT_IRQ_OUT_OF_RANGE')!, /share of hard IRQs/);
  for (const name of ['STARTED', 'FINISHED', 'SAMPLED', 'FILTERED', 'COALESCED', 'SOME_FUTURE_COUNTER']) {
    const h = counterHover(`NSLAT_CNT_${name}`)!;
    assert.match(h, /activity counter/, name);
    assert.doesNotMatch(h, /loss counter/, name);
  }
  assert.equal(counterHover('__NSLAT_CNT_MAX'), undefined);
  assert.equal(counterHover('NSLAT_RX_IP_RCV'), undefined);
});

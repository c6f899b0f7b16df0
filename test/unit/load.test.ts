import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startLoopbackLoad } from '../../src/core/load.ts';

test('the loopback load runs TCP and UDP round trips and stops at its count bound', async () => {
  const t0 = Date.now();
  const l = startLoopbackLoad({ durationMs: 5000, maxMessages: 400 });
  const s = await l.done;
  assert.ok(s.tcp > 0 && s.udp > 0, JSON.stringify(s));
  assert.ok(s.tcp + s.udp <= 404, `bounded by count: ${s.tcp + s.udp}`);
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(s.flows.some((f) => f.startsWith('tcp 127.0.0.1')));
});

test('the loopback load stops at its time bound and on stop()', async () => {
  const t0 = Date.now();
  const s = await startLoopbackLoad({ durationMs: 300 }).done;
  const el = Date.now() - t0;
  assert.ok(el >= 250 && el < 2000, `took ${el} ms`);
  assert.ok(s.tcp > 0);
  const l = startLoopbackLoad({ durationMs: 60_000 });
  await new Promise((r) => setTimeout(r, 100));
  const t1 = Date.now();
  await l.stop();
  assert.ok(Date.now() - t1 < 500);
  // absurd bounds are clamped, not trusted
  const s3 = await startLoopbackLoad({ durationMs: Number.NaN }).done;
  assert.equal(s3.tcp + s3.udp, 0);
});

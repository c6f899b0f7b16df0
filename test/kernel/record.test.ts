/**
 * Records a real helper stream for the fixtures: the shipped helper and rx/tx/irq objects on this
 * kernel, bounded loopback TCP and UDP traffic (IPv4 and IPv6) between two fixed ports, snapshots
 * on request, sampled journeys. The recording must be complete (hello, three `loaded`, snapshots
 * with data in every direction, journeys, bye), lose nothing (every loss counter 0), and its
 * boundaries must be the ones the probe sources declare (enum nslat_boundary in
 * bpf/probes/*.bpf.c).
 *
 * With NSLAT_RECORD_OUT=<file> the stream is written there, one helper message per line, with the
 * helper's work directory and the repository path replaced by neutral placeholders
 * (scripts/record-fixtures.sh does this and regenerates test/fixtures from it).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { Aggregator } from '../../src/core/aggregate.ts';
import type { HelperMessage, LoadedMessage } from '../../src/core/protocol.ts';
import { probeBoundaries, scrubPaths } from '../fixtures/recorded.ts';
import { BUILD_DIR, Helper, REPO, disposeAll, kernelSkipReason } from './lib/helper.ts';
import { runFlow } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const PORT = 20_000 + ((process.pid + 7_919) % 20_000);
const SPORT = PORT + 1;

after(() => disposeAll());

test('record: a real helper stream of loopback traffic, with the probes\' boundaries', { skip, timeout: 120_000 }, async () => {
  const h = await Helper.start();
  h.setInterval(0);
  const loaded: LoadedMessage[] = [];
  // Filtered to the two ports, so other traffic on a shared machine does not enter the recording.
  loaded.push(await h.loadOk('rx', h.path('rx.bpf.o'), { rodata: { filter_lport: PORT }, data: { sample_every: 64 } }));
  loaded.push(await h.loadOk('tx', h.path('tx.bpf.o'), { rodata: { filter_lport: SPORT }, data: { sample_every: 64 } }));
  loaded.push(await h.loadOk('irq', h.path('irq.bpf.o')));
  await h.snapshot();
  for (const proto of ['tcp', 'udp'] as const) {
    for (const family of [4, 6] as const) {
      const r = await runFlow({ proto, family, count: 400, size: 512, intervalMs: 1, port: PORT, sport: SPORT, timeoutS: 15 });
      assert.ok(r.server.received > 0, `${proto}/${family}: the server received data`);
    }
    await h.snapshot();
  }
  await h.quit();
  h.assertProtocolClean();

  const msgs: HelperMessage[] = h.messages.slice();
  const types = new Set(msgs.map((m) => m.type));
  for (const t of ['hello', 'loaded', 'snapshot', 'journey', 'bye']) assert.ok(types.has(t as HelperMessage['type']), `the recording has a ${t} message`);
  const snaps = msgs.filter((m) => m.type === 'snapshot');
  for (const dir of ['rx', 'tx', 'irq'] as const) {
    const n = snaps.flatMap((s) => s.slots).flatMap((s) => s.hists).filter((x) => x.dir === dir).reduce((a, x) => a + x.count, 0);
    assert.ok(n > 0, `${dir} histograms filled`);
  }
  for (const dir of ['rx', 'tx'] as const) assert.ok(msgs.some((m) => m.type === 'journey' && m.dir === dir), `an ${dir} journey`);

  // a clean loopback session loses nothing: every loss counter stays 0, no snapshot is missing
  const agg = new Aggregator();
  for (const m of msgs) agg.ingest(m);
  const lost = agg.report().loss.filter((l) => l.total > 0);
  assert.deepEqual(lost.map((l) => `${l.name} ${l.total} of ${l.of}`), [], 'nothing lost on loopback');

  // the recording's boundaries are the probe sources' ones, in their order
  const declared = probeBoundaries();
  for (const l of loaded.filter((x) => x.boundaries.length)) {
    assert.deepEqual(l.boundaries.map((b) => b.name), declared[l.slot], `${l.slot}: boundaries as declared in bpf/probes/${l.slot}.bpf.c`);
  }

  const out = process.env.NSLAT_RECORD_OUT;
  if (out) {
    const text = msgs.map((m) => scrubPaths(JSON.stringify(m), [h.workdir, BUILD_DIR, REPO])).join('\n') + '\n';
    assert.doesNotMatch(text, new RegExp(h.workdir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    writeFileSync(out, text);
    console.log(`# wrote ${msgs.length} messages to ${out}`);
  }
});

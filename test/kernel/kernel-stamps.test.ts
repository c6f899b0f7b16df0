/**
 * The entry boundary from the kernel's own receive stamp. With software receive timestamping on
 * (a socket with SO_TIMESTAMPNS), netif_rx stamps every skb of loopback and veth just before its
 * tracepoint, and the rx probes take that stamp (CLOCK_REALTIME, turned into CLOCK_MONOTONIC with
 * the offset the helper writes) instead of reading the clock. With check_kernel_stamps the entry
 * reads the clock too and adds up how far each stamp is from it: here that distance must be a few
 * microseconds, no stamp may be refuted by the next boundary, and the first stage must read as it
 * does without stamps. TCP's skbs carry a departure time (monotonic) through loopback instead: the
 * probes must not take it for a receive stamp.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { formatNs } from '../../src/core/format.ts';
import { Helper, Totals, kernelSkipReason, p } from './lib/helper.ts';
import { runFlow } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const PORT = 30_000 + (process.pid % 20_000);

describe('kernel receive stamps as the entry time', { skip, timeout: 90_000 }, () => {
  let h: Helper | undefined;
  after(async () => {
    await h?.dispose();
  });

  test('UDP on loopback: stamps taken, a few µs from the clock, none refuted, the first stage unchanged; TCP departure times passed over', async () => {
    h = await Helper.start();
    await h.loadOk('rx', 'rx', { rodata: { filter_port: PORT, check_kernel_stamps: 1 } });
    await h.snapshot();
    const window = async (o: { proto: 'tcp' | 'udp'; rxTimestamps: boolean }) => {
      const from = h!.mark();
      await runFlow({ proto: o.proto, family: 4, port: PORT, count: 600, size: 200, intervalMs: 1, timeoutS: 20, rxTimestamps: o.rxTimestamps });
      await h!.snapshot();
      return Totals.of(h!.snapshotsSince(from));
    };
    const plain = await window({ proto: 'udp', rxTimestamps: false });
    const stamped = await window({ proto: 'udp', rxTimestamps: true });
    const tcp = await window({ proto: 'tcp', rxTimestamps: true });
    const c = (t: Totals, k: string) => t.counters.get(`rx.${k}`) ?? 0;
    const first = (t: Totals) => t.stage('rx', 'netif_rx', 'netif_receive_skb');
    const lines = [
      `udp without timestamping: started ${c(plain, 'started')}, kernel_stamped ${c(plain, 'kernel_stamped')}, netif_rx→netif_receive_skb p50 ${formatNs(p(first(plain), 0.5))}`,
      `udp with timestamping:    started ${c(stamped, 'started')}, kernel_stamped ${c(stamped, 'kernel_stamped')}, mean distance from the clock ${formatNs(c(stamped, 'stamp_skew_ns') / Math.max(1, c(stamped, 'stamp_checked')))}, rejected ${c(stamped, 'stamp_rejected')}, netif_rx→netif_receive_skb p50 ${formatNs(p(first(stamped), 0.5))}`,
      `tcp with timestamping:    started ${c(tcp, 'started')}, kernel_stamped ${c(tcp, 'kernel_stamped')}`,
    ];
    console.log(`# ${lines.join('\n# ')}`);

    assert.ok(c(stamped, 'started') >= 600, `every datagram measured (${c(stamped, 'started')})`);
    assert.ok(c(stamped, 'kernel_stamped') >= 0.95 * c(stamped, 'started'), `with timestamping on, the datagrams' entry times are the kernel's stamps (${c(stamped, 'kernel_stamped')} of ${c(stamped, 'started')})`);
    assert.equal(c(stamped, 'stamp_checked'), c(stamped, 'kernel_stamped'), 'every stamp was checked against the clock');
    const skew = c(stamped, 'stamp_skew_ns') / c(stamped, 'stamp_checked');
    assert.ok(skew < 20_000, `a stamp is taken where the packet enters: mean distance from the clock ${formatNs(skew)}`);
    assert.equal(c(stamped, 'stamp_rejected'), 0, 'no stamp refuted by the next boundary');
    // The first stage from the stamp reads as it does from the clock (loopback's backlog wait).
    const a = p(first(plain), 0.5);
    const b = p(first(stamped), 0.5);
    assert.ok((first(stamped)?.count ?? 0) >= 600, 'the first stage has every datagram');
    assert.ok(Math.abs(b - a) <= Math.max(0.5 * a, 2_000), `netif_rx→netif_receive_skb p50 ${formatNs(b)} from stamps against ${formatNs(a)} from the clock`);
    // TCP on loopback keeps its departure time (a monotonic delivery time) in skb->tstamp.
    assert.ok(c(tcp, 'started') >= 600, `TCP segments measured (${c(tcp, 'started')})`);
    assert.equal(c(tcp, 'kernel_stamped'), 0, 'a departure time is not a receive stamp');
    assert.equal(c(tcp, 'stamp_rejected'), 0);
    await h.quit();
    h.assertProtocolClean();
  });
});

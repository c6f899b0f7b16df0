/**
 * Load-time filters on the real kernel (nslat.h: filter_l4, filter_lport, filter_rport,
 * filter_netns): a flow the filter selects is counted, one it rejects is not. Several copies of one
 * object run side by side in different slots, each with its own filter, over the same traffic.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Helper, Totals, kernelSkipReason, sleep } from './lib/helper.ts';
import { createVethPair, type VethPair } from './lib/netns.ts';
import { describe as describeTotals } from './lib/stages.ts';
import { runFlow, type FlowOptions } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const PORT = 20_000 + ((process.pid + 3_571) % 20_000);
const SPORT = PORT + 1;

/** Stage packets a slot counted (sum over its stage histograms). */
function stagePackets(t: Totals, slot: string): number {
  return t.list({ slot, kind: 'stage' }).reduce((a, h) => a + h.count, 0);
}

describe('load-time filters', { skip, timeout: 90_000 }, () => {
  let h: Helper;
  let veth: VethPair | undefined;
  before(async () => {
    h = await Helper.start();
    veth = await createVethPair();
  });
  after(async () => {
    try {
      h?.assertProtocolClean();
    } finally {
      await h?.dispose();
      await veth?.destroy();
    }
  });

  async function measure(flow: Pick<FlowOptions, 'proto' | 'family'> & Partial<FlowOptions>): Promise<Totals> {
    await h.snapshot();
    const from = h.mark();
    const r = await runFlow({ port: PORT, sport: SPORT, count: 50, size: 100, intervalMs: 2, timeoutS: 15, ...flow });
    assert.ok(r.server.received > 0, 'traffic flowed');
    await sleep(200);
    await h.snapshot();
    return Totals.of(h.snapshotsSince(from));
  }

  test('filter_rport on tx selects an unconnected UDP sender (sendto) by its destination port', async () => {
    await h.loadOk('tx_rport', 'tx', { rodata: { filter_rport: PORT } });
    await h.loadOk('tx_lport', 'tx', { rodata: { filter_lport: SPORT } });
    try {
      const t = await measure({ proto: 'udp', family: 4 });
      const byL = stagePackets(t, 'tx_lport');
      const byR = stagePackets(t, 'tx_rport');
      assert.ok(byL > 0, `control: filter_lport=${SPORT} counts the flow (${byL})\n${describeTotals(t, 'tx_lport')}`);
      assert.ok(
        byR >= byL * 0.9,
        `filter_rport=${PORT} counts the same UDP flow as filter_lport=${SPORT}: ${byR} vs ${byL} stage packets ` +
          '(TX ports come from the socket, and an unconnected UDP socket has no remote port: they should come from the UDP header)',
      );
    } finally {
      h.send({ cmd: 'unload', id: h.nextId('u'), slot: 'tx_rport' });
      h.send({ cmd: 'unload', id: h.nextId('u'), slot: 'tx_lport' });
    }
  });

  test('filter_l4 on rx: a UDP flow counts in the udp copy and not in the tcp copy', async () => {
    await h.loadOk('rx_tcp', 'rx', { rodata: { filter_l4: 6, filter_lport: PORT } });
    await h.loadOk('rx_udp', 'rx', { rodata: { filter_l4: 17, filter_lport: PORT } });
    try {
      const t = await measure({ proto: 'udp', family: 4 });
      assert.ok(stagePackets(t, 'rx_udp') > 0, `rx_udp counts the UDP flow\n${describeTotals(t, 'rx_udp')}`);
      assert.equal(stagePackets(t, 'rx_tcp'), 0, `rx_tcp counts nothing of a UDP flow\n${describeTotals(t, 'rx_tcp')}`);
      const t2 = await measure({ proto: 'tcp', family: 4 });
      assert.ok(stagePackets(t2, 'rx_tcp') > 0, `rx_tcp counts the TCP flow\n${describeTotals(t2, 'rx_tcp')}`);
      assert.equal(stagePackets(t2, 'rx_udp'), 0, `rx_udp counts nothing of a TCP flow\n${describeTotals(t2, 'rx_udp')}`);
    } finally {
      h.send({ cmd: 'unload', id: h.nextId('u'), slot: 'rx_tcp' });
      h.send({ cmd: 'unload', id: h.nextId('u'), slot: 'rx_udp' });
    }
  });

  test('filter_netns on rx: the receiving namespace counts, loopback in the host namespace does not', async () => {
    const v = veth!;
    await h.loadOk('rx_ns', 'rx', { rodata: { filter_netns: v.netnsInoB, filter_lport: PORT } });
    try {
      const onVeth = await measure({ proto: 'udp', family: 4, addr: v.addrB, serverNs: v.nsB, clientNs: v.nsA });
      assert.ok(stagePackets(onVeth, 'rx_ns') > 0, `veth flow into ${v.nsB} counted\n${describeTotals(onVeth, 'rx_ns')}`);
      const onLo = await measure({ proto: 'udp', family: 4 });
      assert.equal(stagePackets(onLo, 'rx_ns'), 0, `host-namespace loopback flow not counted\n${describeTotals(onLo, 'rx_ns')}`);
    } finally {
      h.send({ cmd: 'unload', id: h.nextId('u'), slot: 'rx_ns' });
    }
  });
});

/**
 * Diagnostic (not a test): loads rx with every packet sampled (sample_every = 1) and filtered to one
 * server port, runs one loopback flow, and prints the window's rx stages and every journey. Stale
 * or foreign packets stand out: ports other than the flow's, `len` 52 (pure ACKs) reaching
 * sock_enqueue/app_read, or marks tens of ms apart for a reader that reads at once.
 *
 *   node --import tsx test/kernel/lib/journeys-tool.ts [tcp|udp] [interval_ms] [delay_ms] [count] [lo|veth|tbf]
 *
 * lo: loopback (default); veth: between two test namespaces; tbf: the same with tbf 1mbit on the
 * sender's veth.
 */
import { formatNs } from '../../../src/core/format.ts';
import { Helper, Totals, sleep } from './helper.ts';
import { addTbf, createVethPair } from './netns.ts';
import { describe } from './stages.ts';
import { runFlow } from './traffic.ts';

const PORT = 20_000 + (process.pid % 20_000);
const proto = process.argv[2] === 'udp' ? 'udp' : 'tcp';
const intervalMs = Number(process.argv[3] ?? 20);
const delayMs = Number(process.argv[4] ?? 0);
const count = Math.min(1000, Number(process.argv[5] ?? 30));
const where = process.argv[6] ?? 'lo';

const veth = where === 'lo' ? undefined : await createVethPair('journeys');
if (veth && where === 'tbf') await addTbf(veth.nsA, veth.devA);
const h = await Helper.start();
try {
  await h.loadOk('rx', 'rx', { rodata: { filter_lport: PORT }, data: { sample_every: 1 } });
  await h.snapshot();
  const from = h.mark();
  const path = veth ? { addr: veth.addrB, serverNs: veth.nsB, clientNs: veth.nsA } : {};
  const r = await runFlow({ proto, family: 4, port: PORT, count, size: where === 'tbf' ? 1000 : 100, intervalMs, delayMs, timeoutS: 30, ...path });
  await sleep(300);
  await h.snapshot();
  const t = Totals.of(h.snapshotsSince(from));
  console.log(`${proto} to port ${PORT}: sent ${r.client.sent}, read ${r.server.received} (${r.server.reads} reads)`);
  console.log(describe(t, 'rx'));
  console.log([...t.counters.entries()].filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(' '));
  for (const m of h.messages.slice(from)) {
    if (m.type !== 'journey') continue;
    const marks = m.marks.map((x) => `${x.boundary}@${formatNs(x.t_ns)}`).join(' ');
    console.log(`${m.end ?? '?'} ${m.sport ?? '-'}→${m.dport ?? '-'} len=${m.len ?? '-'} total=${formatNs(m.total_ns)} ${marks}`);
  }
  h.assertProtocolClean();
} finally {
  await h.dispose();
  await veth?.destroy();
}

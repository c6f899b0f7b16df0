import { Helper, sleep, Totals } from './helper.ts';
import { runFlow } from './traffic.ts';
import { describe } from './stages.ts';
const PORT = 31999;
const h = await Helper.start();
try {
  await h.loadOk('rx', 'rx', { rodata: { filter_lport: PORT }, data: { sample_every: 1 } });
  await h.snapshot();
  const from = h.mark();
  const proto = (process.argv[2] ?? 'udp') as 'udp' | 'tcp';
  console.log(await runFlow({ proto, family: 4, port: PORT, count: 30, size: 100, intervalMs: Number(process.argv[3] ?? 20), delayMs: Number(process.argv[4] ?? 0) }));
  await sleep(300);
  await h.snapshot();
  const t = Totals.of(h.snapshotsSince(from));
  console.log(describe(t, 'rx')); for (const x of t.list({kind:'stage', to:'app_read'})) console.log(x.name, JSON.stringify(x.buckets), x.count, x.sum);
  console.log([...t.counters.entries()].filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(' '));
  for (const m of h.messages.slice(from)) if (m.type === 'journey') console.log(m.end, m.sport, m.dport, m.len, m.total_ns, m.marks.map((x) => `${x.boundary}@${x.t_ns}`).join(' '));
  h.assertProtocolClean();
} finally { await h.dispose(); }

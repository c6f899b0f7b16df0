/**
 * nslat serve over many intervals: the real `nslat serve` (real helper, real BPF) with a fast
 * snapshot interval (100 ms by default: ten times the default rate, so 10 minutes are 6 000
 * intervals), bursts of bounded loopback TCP and UDP traffic, a scrape of /metrics every second
 * (as Prometheus does), an rx reload (SIGHUP) every minute and a killed helper every third minute
 * (serve reconnects). Prints, at each checkpoint, serve's resident memory and JavaScript heap (from
 * /healthz), what it holds (stage series, intervals), the size of a scrape, and the snapshots
 * taken: memory is bounded when these stop growing after warm-up.
 *
 *   flock /tmp/nslat-bpf.lock node --import tsx bench/serve-soak.ts [--minutes 10] [--interval 100] [--out FILE.md]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Serve } from '../test/kernel/lib/serve.ts';
import { runFlow } from '../test/kernel/lib/traffic.ts';
import { sleep } from '../test/kernel/lib/helper.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string' }, interval: { type: 'string' }, out: { type: 'string' } } });
const minutes = Number(values.minutes ?? 10);
const interval = Number(values.interval ?? 100);

const serve = await Serve.start(['--interval', String(interval), '--host-label', 'soak']);
const rows: string[] = ['| elapsed | snapshots | helper starts | reloads | RSS MiB | heap MiB | stage series | intervals held | scrape KiB |', '|---|---|---|---|---|---|---|---|---|'];
try {
  await serve.waitHealth((h) => h.up, 'up', 120_000);
  const t0 = Date.now();
  const end = t0 + minutes * 60_000;
  let nextCheckpoint = t0 + 30_000;
  let nextReload = t0 + 60_000;
  let nextKill = t0 + 180_000;
  let reloads = 0;
  let scrapeBytes = 0;
  const traffic = (async () => {
    while (Date.now() < end - 5_000) {
      await runFlow({ proto: 'tcp', family: 4, count: 2_000, size: 200, intervalMs: 1, durationS: 4, timeoutS: 15 }).catch(() => undefined);
      await runFlow({ proto: 'udp', family: 6, count: 2_000, size: 100, intervalMs: 1, durationS: 4, timeoutS: 15 }).catch(() => undefined);
      await sleep(2_000);
    }
  })();
  while (Date.now() < end) {
    scrapeBytes = (await serve.metricsText()).text.length;
    const now = Date.now();
    if (now >= nextReload) {
      serve.proc.kill('SIGHUP');
      reloads++;
      nextReload += 60_000;
    }
    if (now >= nextKill) {
      const h = (await serve.health()).body;
      if (h.helper_pid) process.kill(h.helper_pid, 'SIGKILL');
      nextKill += 180_000;
    }
    if (now >= nextCheckpoint || now + 1_000 >= end) {
      const h = (await serve.health()).body;
      const row = `| ${((now - t0) / 60_000).toFixed(1)} min | ${h.snapshots} | ${h.helper_starts} | ${reloads} | ${(h.memory.rss / 2 ** 20).toFixed(1)} | ${(h.memory.heap_used / 2 ** 20).toFixed(1)} | ${h.held.series} | ${h.held.intervals} | ${(scrapeBytes / 1024).toFixed(0)} |`;
      rows.push(row);
      console.log(row);
      nextCheckpoint += 30_000;
    }
    await sleep(1_000);
  }
  await traffic;
} finally {
  await serve.stop('SIGTERM');
}
const md = [`# nslat serve soak: ${minutes} min at --interval ${interval} ms (${new Date().toISOString().slice(0, 10)})`, '', `\`flock /tmp/nslat-bpf.lock node --import tsx bench/serve-soak.ts --minutes ${minutes} --interval ${interval}\``, '', ...rows, ''].join('\n');
console.log(md);
if (values.out) writeFileSync(values.out, md);

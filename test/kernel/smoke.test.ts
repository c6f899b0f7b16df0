/**
 * Smoke test of the tracing engine (bpf/): the real helper, the real rx/tx objects, real loopback
 * TCP and UDP traffic. Every helper line must validate against src/core/protocol.ts; the rx and tx
 * stage histograms must fill, journeys must arrive, and after `quit` none of the helper's programs
 * may still exist. The formal suite lives next to it (stages, reload, lifecycle, irq).
 *
 *   node --import tsx --test test/kernel/smoke.test.ts        (root; builds bpf/ if needed)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { PROTOCOL_VERSION, parseHelperMessage, type HelperMessage, type LoadedMessage, type SnapshotMessage } from '../../src/core/protocol.ts';

const BPF = resolve(dirname(fileURLToPath(import.meta.url)), '../../bpf');
const BUILD = join(BPF, 'build');

async function skipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'needs kernel BTF';
  if (!['nslat-helper', 'rx.bpf.o', 'tx.bpf.o'].every((f) => existsSync(join(BUILD, f)))) {
    const r = await execa('make', ['-s', '-C', BPF], { reject: false, all: true, timeout: 300_000 });
    if (r.exitCode !== 0) return `make -C bpf failed:\n${r.all}`;
  }
  return undefined;
}

/** Bounded loopback traffic: TCP request/response and UDP datagrams for `ms`. */
async function loopbackTraffic(ms: number): Promise<void> {
  const end = Date.now() + ms;
  const srv = createServer((s) => s.on('data', (d) => s.write(d)));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const c: Socket = connect(port, '127.0.0.1');
  c.setNoDelay(true);
  await new Promise<void>((r) => c.once('connect', () => r()));
  const rx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
  const tx = createSocket('udp4');
  const uport = rx.address().port;
  rx.on('message', () => undefined);
  while (Date.now() < end) {
    await new Promise<void>((r) => { c.once('data', () => r()); c.write('x'.repeat(100)); });
    await new Promise<void>((r) => tx.send(Buffer.alloc(200), uport, '127.0.0.1', () => r()));
  }
  c.destroy();
  rx.close();
  tx.close();
  await new Promise<void>((r) => srv.close(() => r()));
}

test('helper: rx/tx stages fill from loopback traffic, journeys arrive, nothing leaks', { timeout: 60_000 }, async (t) => {
  const why = await skipReason();
  if (why) return t.skip(why);
  const wd = mkdtempSync(join(tmpdir(), 'nslat-smoke-'));
  for (const o of ['rx', 'tx']) copyFileSync(join(BUILD, `${o}.bpf.o`), join(wd, `${o}.bpf.o`));
  const helper = spawn(join(BUILD, 'nslat-helper'), ['--workdir', wd], { stdio: ['pipe', 'pipe', 'pipe'] });
  const msgs: HelperMessage[] = [];
  const bad: string[] = [];
  let buf = '';
  const waiters: Array<() => void> = [];
  helper.stdout.setEncoding('utf8');
  helper.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const r = parseHelperMessage(line);
      if (r.ok) msgs.push(r.value);
      else bad.push(`${r.error.message}`);
    }
    waiters.splice(0).forEach((w) => w());
  });
  const send = (o: object) => helper.stdin.write(`${JSON.stringify(o)}\n`);
  const waitFor = async <T extends HelperMessage>(pred: (m: HelperMessage) => boolean, what: string): Promise<T> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const m = msgs.find(pred);
      if (m) return m as T;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${msgs.map((x) => x.type).join(',')}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
    }
  };
  try {
    const hello = await waitFor((m) => m.type === 'hello', 'hello');
    assert.equal(hello.type === 'hello' && hello.protocol, PROTOCOL_VERSION);
    send({ cmd: 'set', id: 'i', interval_ms: 0 });
    const ids: number[] = [];
    for (const slot of ['rx', 'tx']) {
      send({ cmd: 'load', id: `l-${slot}`, slot, object: join(wd, `${slot}.bpf.o`), data: { sample_every: 1 } });
      const l = await waitFor<LoadedMessage>((m) => (m.type === 'loaded' || m.type === 'error') && 'id' in m && m.id === `l-${slot}`, `load ${slot}`);
      assert.equal(l.type, 'loaded', JSON.stringify(l));
      for (const p of l.programs) if (p.status === 'attached' && p.prog_id) ids.push(p.prog_id);
      assert.ok(l.boundaries.some((b) => b.active), `${slot}: an active boundary`);
    }
    send({ cmd: 'snapshot', id: 's0' });
    await waitFor((m) => m.type === 'snapshot' && m.id === 's0', 'snapshot s0');
    await loopbackTraffic(1000);
    send({ cmd: 'snapshot', id: 's1' });
    const s1 = await waitFor<SnapshotMessage>((m) => m.type === 'snapshot' && m.id === 's1', 'snapshot s1');
    const count = (slot: string, kind: string, name: string) =>
      s1.slots.find((s) => s.slot === slot)?.hists.filter((h) => h.kind === kind && h.name === name).reduce((a, h) => a + h.count, 0) ?? 0;
    assert.ok(count('rx', 'stage', 'netif_rx→netif_receive_skb') > 100, 'rx: netif_rx→netif_receive_skb fills');
    assert.ok(count('rx', 'cum', 'app_read') > 100, 'rx: packets reach the application read');
    assert.ok(count('tx', 'stage', 'net_dev_queue→net_dev_start_xmit') > 100, 'tx: net_dev_queue→net_dev_start_xmit fills');
    assert.ok(count('tx', 'stage', 'sendmsg→net_dev_queue') > 50, 'tx: sendmsg→net_dev_queue fills');
    for (const s of s1.slots) for (const h of s.hists) assert.equal(h.buckets.reduce((a, [, n]) => a + n, 0), h.count, `${h.name}: buckets sum to count`);
    const journeys = msgs.filter((m) => m.type === 'journey');
    assert.ok(journeys.some((j) => j.type === 'journey' && j.dir === 'rx' && j.end === 'read' && j.l4 === 17), 'a UDP rx journey ending at the read');
    assert.ok(journeys.some((j) => j.type === 'journey' && j.dir === 'rx' && j.end === 'read' && j.l4 === 6), 'a TCP rx journey ending at the read');
    assert.ok(journeys.some((j) => j.type === 'journey' && j.dir === 'tx' && j.marks.length >= 3), 'a tx journey');
    send({ cmd: 'quit', id: 'q' });
    const bye = await waitFor((m) => m.type === 'bye', 'bye');
    assert.deepEqual(bye, { type: 'bye', reason: 'quit', attached: 0 });
    await new Promise<void>((r) => (helper.exitCode !== null ? r() : helper.once('exit', () => r())));
    await new Promise((r) => setTimeout(r, 300));
    const alive = [];
    for (const id of ids) if ((await execa('bpftool', ['prog', 'show', 'id', String(id)], { reject: false })).exitCode === 0) alive.push(id);
    assert.deepEqual(alive, [], 'no program of the helper outlives it');
    assert.deepEqual(bad, [], 'every helper line validates against protocol.ts');
  } finally {
    if (helper.exitCode === null) helper.kill('SIGKILL');
    rmSync(wd, { recursive: true, force: true });
  }
});

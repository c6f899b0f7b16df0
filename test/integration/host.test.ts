/**
 * The host counters from the real helper on this kernel, through the TS Session and Aggregator, each
 * checked against what the kernel's own files say:
 *
 *  1. a veth pair in two namespaces, a tbf qdisc on the sending side small enough to drop, and a UDP
 *     flood through it: the report's Host section shows the qdisc's drops (equal to `tc -s qdisc`'s),
 *     the interface's packets (equal to its sysfs statistics), an event at the intervals in which
 *     the qdisc dropped (their deltas adding up to the drops), and the qdisc-drops hint;
 *  2. a UDP reader on loopback that stops reading while a sender goes on: Udp.RcvbufErrors (at least
 *     the datagrams this test lost, at most what /proc/net/snmp counted meanwhile), the socket of
 *     the filter's port with the reader's pid, its Recv-Q and drops, and the udp-rcvbuf-errors hint.
 *
 * Needs root and what `make -C bpf` ships. Run under `flock /tmp/nslat-bpf.lock` (it loads BPF and
 * creates namespaces).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { Aggregator } from '../../src/core/aggregate.ts';
import { formatCount } from '../../src/core/format.ts';
import { dropsKey } from '../../src/core/host-keys.ts';
import { formatTable } from '../../src/core/report.ts';
import { Session } from '../../src/core/session.ts';
import { HELPER_BIN, REPO } from '../kernel/lib/helper.ts';
import { addTbf, createVethPair, destroyAll, nsExec } from '../kernel/lib/netns.ts';
import { runFlow } from '../kernel/lib/traffic.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root (the helper loads BPF programs)' : false;
const STOPPED = join(REPO, 'test/kernel/lib/udp_stopped.py');

after(() => destroyAll());

function progIds(): Set<number> {
  return new Set((JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' })) as Array<{ id: number }>).map((p) => p.id));
}

/** Starts a session that feeds an Aggregator; checks the helper sends host counters. */
async function traced(filter: string, stages: Array<'rx' | 'tx' | 'irq'>): Promise<{ session: Session; agg: Aggregator; before: Set<number> }> {
  assert.ok(readFileSync(HELPER_BIN).length > 0, `no helper at ${HELPER_BIN}: run make -C bpf`);
  const before = progIds();
  const session = await Session.start({ stages, filter, intervalMs: 500 });
  assert.equal(session.hello.host, true, 'the helper sends host counters');
  const agg = new Aggregator({ host: 'local' });
  session.subscribe((m) => agg.ingest(m));
  return { session, agg, before };
}

async function finish(session: Session, before: Set<number>): Promise<void> {
  await session.snapshot(5_000);
  const end = await session.stop();
  assert.equal(end.error, undefined, end.error);
  await new Promise((r) => setTimeout(r, 1000));
  const left = [...progIds()].filter((id) => !before.has(id));
  assert.deepEqual(left, [], 'no BPF program of the session is left loaded');
}

async function qdiscDrops(ns: string, dev: string): Promise<{ drops: number; sent: number; handle: string }> {
  const out = JSON.parse(await nsExec(ns, ['tc', '-s', '-j', 'qdisc', 'show', 'dev', dev])) as Array<{ kind: string; handle: string; drops: number; packets: number }>;
  const q = out.find((x) => x.kind === 'tbf');
  assert.ok(q, `a tbf qdisc on ${dev}: ${JSON.stringify(out)}`);
  return { drops: q.drops, sent: q.packets, handle: q.handle };
}

async function sysfsStat(ns: string, dev: string, name: string): Promise<number> {
  return Number((await nsExec(ns, ['cat', `/sys/class/net/${dev}/statistics/${name}`])).trim());
}

test('a tbf qdisc that drops on a veth pair: the Host section shows its drops, an event where they happened, and tc agrees', { skip, timeout: 120_000 }, async () => {
  const pair = await createVethPair('host');
  try {
    // A small queue at 1 Mbit/s: a burst of UDP datagrams overflows it.
    await addTbf(pair.nsA, pair.devA, '1mbit', '1600', '6000');
    await new Promise((r) => setTimeout(r, 1500)); // let IPv6 address set-up traffic pass
    const txBefore = await sysfsStat(pair.nsA, pair.devA, 'tx_packets');
    const { session, agg, before } = await traced(`netns ${pair.netnsInoA}`, ['tx']);
    try {
      const flow = await runFlow({ proto: 'udp', family: 4, addr: pair.addrB, serverNs: pair.nsB, clientNs: pair.nsA, count: 2000, size: 1000, intervalMs: 0.2, durationS: 3, timeoutS: 20 });
      assert.ok(flow.client.sent > 0 && flow.server.received < flow.client.sent, `the qdisc dropped some: sent ${flow.client.sent}, received ${flow.server.received}`);
      await new Promise((r) => setTimeout(r, 1200));
    } finally {
      await finish(session, before);
    }
    const kernel = await qdiscDrops(pair.nsA, pair.devA);
    const txAfter = await sysfsStat(pair.nsA, pair.devA, 'tx_packets');
    assert.ok(kernel.drops > 0, 'tc counted drops');

    const rep = agg.report();
    const h = rep.host_counters;
    assert.ok(h, 'the report has host counters');
    const id = `${pair.devA}@${pair.netnsInoA}`;
    const iface = h.ifaces.find((i) => i.id === id);
    assert.ok(iface, `the interface of the filter's namespace is read: ${h.ifaces.map((i) => i.id).join(', ')}`);
    const tbf = iface.qdiscs.find((q) => q.kind === 'tbf');
    assert.ok(tbf, `its tbf qdisc: ${JSON.stringify(iface.qdiscs)}`);
    assert.equal(tbf.drops, kernel.drops, 'qdisc drops: nslat = tc -s qdisc');
    assert.equal(tbf.handle, kernel.handle);
    // sysfs: the session saw every packet the interface sent while it ran, and nothing else
    const txDiff = txAfter - txBefore;
    assert.ok((iface.stats.tx_packets ?? 0) <= txDiff && txDiff - (iface.stats.tx_packets ?? 0) <= 10, `tx_packets: nslat ${iface.stats.tx_packets}, sysfs ${txDiff}`);
    assert.ok((iface.stats.tx_packets ?? 0) >= tbf.sent_packets, 'the interface sent what the qdisc let through');

    // events: at the intervals in which the qdisc dropped, adding up to its drops
    const name = `${id} qdisc tbf ${tbf.handle} drops`;
    const events = h.events.filter((e) => e.counters.some((c) => c.counter === name));
    assert.ok(events.length > 0, `an event for ${name}`);
    assert.equal(events.reduce((a, e) => a + e.counters.find((c) => c.counter === name)!.delta, 0), kernel.drops, 'the events add up to the drops');
    const series = agg.panelState().series;
    for (const e of events) {
      const p = series.find((x) => x.t_ms === e.t_ms);
      assert.ok(p, 'the event is an interval of the stage series');
      assert.equal(p.host_counters!.v[dropsKey(id)], e.counters.find((c) => c.counter === name)!.delta, 'that interval\'s drops series says the same');
    }
    assert.ok(h.hints.some((x) => x.rule === 'qdisc-drops' && x.title.startsWith(`${id} qdisc tbf ${tbf.handle}`)), `the qdisc-drops hint: ${h.hints.map((x) => x.title).join(' | ')}`);

    const text = formatTable(rep, { width: 160 });
    assert.match(text, new RegExp(`qdisc tbf ${tbf.handle} root: sent [^,]+, dropped ${formatCount(kernel.drops)},`), 'the Host section shows the qdisc drops');
    assert.ok(text.includes(`${name} +`), 'and the events');
  } finally {
    await pair.destroy();
  }
});

test('a UDP reader that stops: Udp.RcvbufErrors, its socket with the reader\'s pid, and the hint', { skip, timeout: 120_000 }, async () => {
  let reader: ResultPromise | undefined;
  try {
    reader = execa('python3', [STOPPED, 'reader', '--bind', '127.0.0.1', '--read', '20', '--hold-s', '5', '--timeout', '60'], { timeout: 70_000, reject: false, buffer: true, stdout: 'pipe' });
    const lines: Array<Record<string, unknown>> = [];
    const waitLine = (pred: (o: Record<string, unknown>) => boolean, ms: number) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const t0 = Date.now();
        const tick = () => {
          const hit = lines.find(pred);
          if (hit) return resolve(hit);
          if (Date.now() - t0 > ms) return reject(new Error(`reader did not say it within ${ms} ms: ${JSON.stringify(lines)}`));
          setTimeout(tick, 50);
        };
        tick();
      });
    let acc = '';
    reader.stdout!.on('data', (b: Buffer) => {
      acc += b.toString('utf8');
      let nl;
      while ((nl = acc.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(acc.slice(0, nl)) as Record<string, unknown>);
        acc = acc.slice(nl + 1);
      }
    });
    const ready = await waitLine((o) => o.ready === true, 15_000);
    const port = ready.port as number;
    const pid = ready.pid as number;
    const kernelBefore = udpRcvbufErrors();
    const { session, agg, before } = await traced(`udp and lport ${port}`, ['rx']);
    let sent = 0;
    let end: Record<string, unknown>;
    try {
      const send = await execa('python3', [STOPPED, 'send', '--addr', '127.0.0.1', '--port', String(port), '--count', '4000', '--size', '1000', '--interval-ms', '0.3', '--timeout', '30'], { timeout: 35_000 });
      sent = (JSON.parse(send.stdout.trim().split('\n').at(-1)!) as { sent: number }).sent;
      end = await waitLine((o) => o.queued !== undefined, 30_000);
    } finally {
      await finish(session, before);
    }
    const kernelDiff = udpRcvbufErrors() - kernelBefore;
    const ours = sent - (end.read as number) - (end.queued as number);
    assert.ok(ours > 0, `the stopped reader lost datagrams: sent ${sent}, read ${end.read}, left ${end.queued}`);

    const h = agg.report().host_counters;
    assert.ok(h);
    const rcvbuf = h.snmp.find((r) => r.name === 'Udp.RcvbufErrors')!.total;
    assert.ok(rcvbuf >= ours && rcvbuf <= kernelDiff, `Udp.RcvbufErrors: nslat ${rcvbuf}, this test lost ${ours}, /proc/net/snmp counted ${kernelDiff} meanwhile`);
    assert.ok(h.events.some((e) => e.counters.some((c) => c.counter === 'Udp.RcvbufErrors')), 'an event where the buffer overflowed');
    const sock = h.sockets.find((s) => s.proto === 'udp' && s.local === `127.0.0.1:${port}`);
    assert.ok(sock, `the filter's socket is listed: ${h.sockets.map((s) => s.id).join(', ')}`);
    assert.equal(sock.flow, true, 'listed for the filter');
    assert.ok(sock.procs.some((p) => p.pid === pid), `with the reader's pid ${pid}: ${JSON.stringify(sock.procs)}`);
    assert.ok(sock.recv_q_max > 0, 'its Recv-Q filled');
    assert.equal(sock.drops_seen, ours, 'its drop counter moved by the datagrams it lost');
    const hint = h.hints.find((x) => x.rule === 'udp-rcvbuf-errors');
    assert.ok(hint, `the udp-rcvbuf-errors hint: ${h.hints.map((x) => x.rule).join(', ')}`);
    assert.match(hint.detail, new RegExp(`udp 127\\.0\\.0\\.1:${port} \\(python3 ${pid}\\)`), hint.detail);
    const text = formatTable(agg.report(), { width: 160 });
    assert.match(text, new RegExp(`\\* udp 127\\.0\\.0\\.1:${port} .*python3\\(${pid}\\)`), 'the Sockets table shows it with its process');
  } finally {
    if (reader && reader.exitCode === null) reader.kill('SIGKILL');
    await reader?.catch(() => undefined);
  }
});

function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')]);
}

/**
 * The helper's host counters (HostSample) on real counters of this kernel, each checked against
 * what the kernel's own files and tools say for the same interval: read right before and right
 * after each of two snapshots, the helper's delta must lie between the two readings' deltas
 * (test/kernel/lib/hostfiles.ts), so the checks are exact and not timing-fragile.
 *
 * - A veth pair between two namespaces, a tbf qdisc small enough to drop, a bounded UDP burst
 *   across it: the qdisc's drops and the interfaces' statistics (both ends, the far one read
 *   through the `netns` option) as `tc -s qdisc` and sysfs count them; netstat -s likewise.
 * - A UDP reader that stops reading, a bounded sender: Udp.RcvbufErrors moves, and the socket is
 *   listed with its Recv-Q, drops and buffer (as `ss -uanm`), the reader's pid and comm.
 * - Per CPU (/proc/stat, /proc/softirqs, softnet_stat) and per IRQ line (/proc/interrupts),
 *   against the global files; NIC queue naming and affinity of the IRQ lines of this machine's
 *   virtio NICs.
 * - `set` with host.top, ports, pids, netns, enabled; bad values get a clear error and change
 *   nothing; errors are said once.
 * - With NSLAT_HOST_RECORD_OUT=<file>, a short stream with every part of a sample is written
 *   there for test/fixtures/helper-host.jsonl (scripts/record-fixtures.sh).
 *
 * The helper runs inside the test's namespace (its own namespace's protocol counters are then
 * only the test's traffic), except where this machine's NICs are the point.
 *
 *   flock /tmp/nslat-bpf.lock node --import tsx --test test/kernel/host-counters.test.ts   (root)
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { SOFTIRQ_VECTORS, type HostSample, type HostSocket, type SnapshotMessage } from '../../src/core/protocol.ts';
import { scrubPaths } from '../fixtures/recorded.ts';
import { BUILD_DIR, Helper, REPO, disposeAll, kernelSkipReason, sleep } from './lib/helper.ts';
import {
  bracketProblems,
  merge,
  onlineCpus,
  range,
  readInterrupts,
  readRootQdisc,
  readSnmp,
  readSoftirqs,
  readSoftnet,
  readStat,
  readSysfsStats,
  readUdpSocket,
  type Bracketed,
  type Reading,
} from './lib/hostfiles.ts';
import { addTbf, createVethPair, destroyAll, nsPrefix, type VethPair } from './lib/netns.ts';
import { runClient, startServer, type Server } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

/** What protocol.ts calls gauges: not in `snmp`. */
const SNMP_GAUGES = new Set(['Ip.Forwarding', 'Ip.DefaultTTL', 'Tcp.RtoAlgorithm', 'Tcp.RtoMin', 'Tcp.RtoMax', 'Tcp.MaxConn', 'Tcp.CurrEstab']);
const STAT_FIELDS = ['user', 'nice', 'system', 'irq', 'softirq', 'iowait', 'idle', 'steal'] as const;
const SOFTNET_FIELDS = ['processed', 'dropped', 'time_squeeze', 'received_rps', 'flow_limit'] as const;

function host(s: SnapshotMessage): HostSample {
  assert.ok(s.host, `snapshot ${s.seq} has a host sample`);
  return s.host;
}

/** r0, snapshot, r1, action, r2, snapshot, r3: the second snapshot with the four readings. */
async function around(h: Helper, read: () => Promise<Reading>, action: () => Promise<void>): Promise<Bracketed & { s: SnapshotMessage }> {
  const r0 = await read();
  await h.snapshot();
  const r1 = await read();
  await action();
  const r2 = await read();
  const s = await h.snapshot();
  const r3 = await read();
  return { s, r: [r0, r1, r2, r3] };
}

function noProblems(list: string[], what: string): void {
  assert.deepEqual(list, [], `${what}:\n- ${list.join('\n- ')}`);
}

describe('host counters', { skip, timeout: 300_000 }, () => {
  let pair: VethPair;
  let h: Helper;
  let reader: Server | undefined;
  const servers: Server[] = [];

  before(async () => {
    pair = await createVethPair('host');
    // 1 Mbit/s with room for about two packets: a burst of 300 datagrams mostly drops here
    await addTbf(pair.nsA, pair.devA, '1mbit', '1600', '3000');
    h = await Helper.start({ prefix: nsPrefix(pair.nsA), objects: [] });
    // snapshots on request only: each check brackets the two it asks for
    const r = await h.set({ interval_ms: 0, host: { netns: [pair.netnsInoB] } });
    assert.equal(r.type, 'log', `set host.netns: ${r.message}`);
  });
  after(async () => {
    for (const s of servers) s.stop();
    await disposeAll();
    await destroyAll();
  });

  test('hello says host counters are collected', () => {
    assert.equal(h.hello.host, true);
  });

  test('a tbf qdisc that drops: its drops, both interfaces and netstat -s as the kernel counts them', async () => {
    const read = async () =>
      merge({
        'A.': await readSysfsStats(pair.nsA, pair.devA),
        'B.': await readSysfsStats(pair.nsB, pair.devB),
        'Q.': await readRootQdisc(pair.nsA, pair.devA),
        'S.': await readSnmp(pair.nsA),
      });
    const b = await around(h, read, async () => {
      // to the discard port of the far end: nothing listens, the datagrams only cross the link
      await runClient({ proto: 'udp', family: 4, addr: pair.addrB, port: 9, ns: pair.nsA, count: 300, size: 1000, timeoutS: 20 });
    });
    const hs = host(b.s);
    const a = hs.ifaces.find((i) => i.name === pair.devA && i.netns === 0);
    const far = hs.ifaces.find((i) => i.name === pair.devB && i.netns === pair.netnsInoB);
    assert.ok(a, `${pair.devA} is listed in the helper's own namespace: ${JSON.stringify(hs.ifaces.map((i) => [i.name, i.netns]))}`);
    assert.ok(far, `${pair.devB} is listed under the namespace the options named (${pair.netnsInoB})`);
    const sysfsKeys = (p: string) => [...b.r[0].keys()].filter((k) => k.startsWith(p)).map((k) => k.slice(p.length));
    const sub = (p: string): Bracketed => ({ r: b.r.map((r) => new Map([...r].filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]))) as Bracketed['r'] });
    assert.ok(sysfsKeys('A.').length >= 20, 'sysfs statistics were read');
    noProblems(bracketProblems(sub('A.'), sysfsKeys('A.'), (k) => a.stats[k] ?? 0, pair.devA), 'near end');
    noProblems(bracketProblems(sub('B.'), sysfsKeys('B.'), (k) => far.stats[k] ?? 0, pair.devB), 'far end');

    const tbf = a.qdiscs?.find((q) => q.kind === 'tbf');
    assert.ok(tbf, `the tbf qdisc is listed: ${JSON.stringify(a.qdiscs)}`);
    assert.equal(tbf.parent, 'root');
    assert.match(tbf.handle, /^[0-9a-f]+:$/);
    const q = sub('Q.');
    noProblems(
      bracketProblems(q, ['drops', 'packets', 'bytes', 'overlimits', 'requeues'], (k) =>
        ({ drops: tbf.drops, packets: tbf.sent_packets, bytes: tbf.sent_bytes, overlimits: tbf.overlimits, requeues: tbf.requeues })[k]!,
      'tbf'),
      'qdisc',
    );
    assert.ok(tbf.drops >= 200, `the burst of 300 overflowed the tbf qdisc (drops ${tbf.drops})`);
    assert.ok(far.stats.rx_packets! > 0 && far.stats.rx_packets! < 100, `what tbf let through arrived: ${far.stats.rx_packets}`);

    const snmpKeys = [...new Set([...b.r[0].keys(), ...b.r[3].keys()])].filter((k) => k.startsWith('S.')).map((k) => k.slice(2)).filter((k) => !SNMP_GAUGES.has(k));
    assert.ok(snmpKeys.length > 100, 'netstat -s counters were read');
    noProblems(bracketProblems(sub('S.'), snmpKeys, (k) => hs.snmp[k] ?? 0, 'snmp'), 'protocol counters');
    for (const g of SNMP_GAUGES) assert.equal(hs.snmp[g], undefined, `${g} is a gauge: left out`);
    assert.ok((hs.snmp['Ip.OutRequests'] ?? 0) >= 300, 'the burst went out');
    assert.ok(Object.values(hs.snmp).every((v) => v > 0), 'only counters that moved are sent');
  });

  test('a UDP reader that stops reading: RcvbufErrors moves, its socket is listed with its queue and process', async () => {
    // reads nothing for 60 s after the first datagram arrives (bounded by its timeout)
    reader = await startServer({ proto: 'udp', family: 4, ns: pair.nsA, count: 1000, size: 1000, delayMs: 60_000, timeoutS: 90 });
    servers.push(reader);
    const port = reader.port;
    const read = async () => merge({ 'S.': await readSnmp(pair.nsA), 'U.': await readUdpSocket(pair.nsA, port) });
    const b = await around(h, read, async () => {
      await runClient({ proto: 'udp', family: 4, addr: '127.0.0.1', port, ns: pair.nsA, count: 400, size: 1000, timeoutS: 20 });
    });
    const hs = host(b.s);
    const [lo, hi] = range(b, 'S.Udp.RcvbufErrors');
    const got = hs.snmp['Udp.RcvbufErrors'] ?? 0;
    assert.ok(got >= lo && got <= hi, `Udp.RcvbufErrors: helper ${got}, /proc/net/snmp ${lo}..${hi}`);
    assert.ok(got > 100, `the stopped reader's buffer overflowed (${got} datagrams dropped)`);

    const mine = (s: SnapshotMessage) => host(s).sockets.find((x) => x.proto === 'udp' && x.local === `127.0.0.1:${port}`);
    let sock: HostSocket | undefined = mine(b.s);
    assert.ok(sock, `the reader's socket is listed: ${JSON.stringify(hs.sockets.map((x) => `${x.proto} ${x.local} ${x.recv_q}`))}`);
    // Recv-Q is a gauge and the reader is stopped: the same before and after the snapshot
    assert.equal(b.r[2].get('U.recv_q'), b.r[3].get('U.recv_q'), 'ss sees a still queue');
    assert.equal(sock.recv_q, b.r[3].get('U.recv_q'), 'Recv-Q as ss shows it');
    assert.ok(sock.recv_q > 100_000, `the queue is full (${sock.recv_q} bytes)`);
    assert.equal(sock.rcvbuf, b.r[3].get('U.rb'), 'rcvbuf as ss -m shows it (rb)');
    assert.equal(sock.drops, b.r[3].get('U.d'), 'drops as ss -m shows them (d)');
    assert.equal(sock.drops, got, 'every RcvbufError of the interval was this socket\'s');
    assert.equal(sock.state, 'UNCONN');
    assert.equal(sock.remote, '*:*');
    assert.equal(sock.netns, 0);
    // the search for its process is bounded per sample: it may take a few
    for (let i = 0; i < 20 && !sock?.procs.length; i++) {
      await sleep(100);
      sock = mine(await h.snapshot());
    }
    assert.deepEqual(sock?.procs, [{ pid: reader.pid, comm: 'python3' }], 'the reader\'s pid and comm');
    const next = mine(await h.snapshot());
    assert.deepEqual(next?.procs, [{ pid: reader.pid, comm: 'python3' }], 'and again from the cache');
  });

  test('per CPU and per IRQ line: /proc/stat, /proc/softirqs, softnet_stat and /proc/interrupts agree', async () => {
    const hz = Number((await execa('getconf', ['CLK_TCK'])).stdout.trim());
    const tick = 1e9 / hz;
    const read = async () => merge({ 'T.': readStat(), 'X.': readSoftirqs(), 'N.': readSoftnet(), 'I.': readInterrupts() });
    const b = await around(h, read, async () => {
      await runClient({ proto: 'udp', family: 4, addr: pair.addrB, port: 9, ns: pair.nsA, count: 200, size: 200, intervalMs: 1, timeoutS: 20 });
    });
    const hs = host(b.s);
    const sub = (p: string): Bracketed => ({ r: b.r.map((r) => new Map([...r].filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]))) as Bracketed['r'] });
    assert.deepEqual(hs.cpus.map((c) => c.cpu), onlineCpus(sub('T.').r[3]), 'every online CPU, as /proc/stat lists them');
    const problems: string[] = [];
    for (const c of hs.cpus) {
      assert.equal(c.softirqs.length, SOFTIRQ_VECTORS.length);
      problems.push(...bracketProblems(sub('X.'), SOFTIRQ_VECTORS.map((v) => `cpu${c.cpu}.${v}`), (k) => c.softirqs[SOFTIRQ_VECTORS.indexOf(k.split('.')[1] as (typeof SOFTIRQ_VECTORS)[number])]!, 'softirqs', true));
      problems.push(...bracketProblems(sub('N.'), SOFTNET_FIELDS.map((f) => `cpu${c.cpu}.${f}`), (k) => c.softnet[k.split('.')[1] as (typeof SOFTNET_FIELDS)[number]], 'softnet', true));
      // idle and iowait may step back (NO_HZ): the helper then says 0; the others are exact
      for (const f of STAT_FIELDS) {
        const [lo, hi] = range(sub('T.'), `cpu${c.cpu}.${f}`);
        const v = c.time_ns[f] / tick;
        const ok = f === 'idle' || f === 'iowait' ? v >= 0 && v <= Math.max(0, hi) : v >= lo && v <= hi;
        if (!ok) problems.push(`/proc/stat cpu${c.cpu}.${f}: the helper says ${v} ticks, the kernel ${lo}..${hi}`);
      }
    }
    const net = hs.cpus.reduce((a, c) => a + c.softirqs[SOFTIRQ_VECTORS.indexOf('NET_RX')]!, 0);
    assert.ok(net > 0, 'NET_RX ran for the traffic');
    const irqs = sub('I.');
    for (const line of hs.irqs) {
      assert.ok(line.name.length > 0, `IRQ ${line.irq} has its action's name`);
      problems.push(...bracketProblems(irqs, line.counts.map((_, cpu) => `${line.irq}.cpu${cpu}`).filter((k) => irqs.r[0].has(k)), (k) => line.counts[Number(k.split('cpu')[1])]!, `IRQ`, true));
    }
    // a line that surely fired inside the interval is listed
    for (const k of irqs.r[1].keys()) {
      const [lo] = range(irqs, k, true);
      const irq = Number(k.split('.')[0]);
      if (lo > 0 && !hs.irqs.some((l) => l.irq === irq)) problems.push(`IRQ ${irq} fired ${lo} times in the interval but is not listed`);
    }
    noProblems(problems, 'per CPU and IRQ');
  });

  test('set: host.top, ports, pids, enabled and netns work; bad values get a clear error and change nothing', async () => {
    assert.ok(reader, 'the stopped reader of the test before still holds its queue');
    // an idle TCP connection in the helper's namespace: the server reads nothing for 60 s, the
    // client's socket has empty queues
    const tcp = await startServer({ proto: 'tcp', family: 4, ns: pair.nsA, count: 1, size: 100, delayMs: 60_000, timeoutS: 90 });
    servers.push(tcp);
    const client = execa(nsPrefix(pair.nsA)[0]!, [...nsPrefix(pair.nsA).slice(1), 'python3', '-c', `
import socket, time
s = socket.create_connection(("127.0.0.1", ${tcp.port}))
s.sendall(b"x" * 100)
print("sent", flush=True)
time.sleep(60)
`], { timeout: 70_000, reject: false, stdout: 'pipe' });
    await new Promise<void>((resolve) => client.stdout!.once('data', () => resolve()));
    try {
      const sockets = async () => host(await h.snapshot()).sockets;
      assert.equal((await h.set({ host: { top: 1 } })).type, 'log');
      let list = await sockets();
      assert.equal(list.length, 1, `top 1 lists one socket: ${JSON.stringify(list)}`);
      assert.equal(list[0]!.local, `127.0.0.1:${reader!.port}`, 'the longest Recv-Q first');

      assert.equal((await h.set({ host: { top: 0, ports: [tcp.port] } })).type, 'log');
      list = await sockets();
      const byState = (st: string) => list.filter((s) => s.proto === 'tcp' && s.state === st);
      assert.ok(list.every((s) => s.flow === true), 'top 0: only the named flows');
      assert.ok(byState('LISTEN').some((s) => s.local === `127.0.0.1:${tcp.port}`), 'the listener of the port');
      const est = byState('ESTAB');
      const cl = est.find((s) => s.remote === `127.0.0.1:${tcp.port}`);
      const sv = est.find((s) => s.local === `127.0.0.1:${tcp.port}`);
      assert.ok(cl && sv, `both ends of the connection: ${JSON.stringify(list)}`);
      assert.equal(sv.recv_q, 100, 'the server end holds the unread 100 bytes');
      assert.equal(cl.recv_q + cl.send_q, 0, 'the client end is empty');
      assert.ok(cl.tcp && cl.tcp.rtt_us > 0 && cl.tcp.cwnd > 0, `TCP info of the flow: ${JSON.stringify(cl.tcp)}`);
      // between walks of the TCP table the listed sockets are read again: still there
      for (let i = 0; i < 3; i++) {
        const again = await sockets();
        assert.ok(again.some((s) => s.state === 'ESTAB' && s.remote === `127.0.0.1:${tcp.port}` && s.tcp), `the flow stays listed (sample ${i})`);
      }

      assert.equal((await h.set({ host: { ports: [], pids: [reader!.pid] } })).type, 'log');
      list = await sockets();
      assert.deepEqual(list.map((s) => [s.proto, s.local, s.flow]), [['udp', `127.0.0.1:${reader!.port}`, true]], 'pids: the process\'s socket');

      const bad: Array<[unknown, RegExp]> = [
        [{ top: 65 }, /host\.top.*0\.\.64/],
        [{ top: -1 }, /host\.top/],
        [{ top: 'x' }, /host\.top/],
        [{ ports: [0] }, /host\.ports.*1\.\.65535/],
        [{ ports: [70000] }, /host\.ports/],
        [{ ports: 80 }, /host\.ports.*array/],
        [{ ports: Array.from({ length: 17 }, (_, i) => i + 1) }, /host\.ports.*at most 16/],
        [{ pids: [0] }, /host\.pids/],
        [{ netns: [0] }, /host\.netns/],
        [{ netns: [4294967295] }, /host\.netns: 4294967295: no network namespace/],
        [{ enabled: 1 }, /host\.enabled.*true or false/],
        [{ bogus: 1 }, /host.*unknown field 'bogus'/],
      ];
      // each with a good field beside it and a good interval: none of it may be applied
      for (const [value, re] of [...bad.map(([v, re]) => [{ top: 5, ...(v as object) }, re] as const), ['on', /'host' must be an object/] as const]) {
        const r = await h.setRaw({ interval_ms: 200, host: value });
        assert.equal(r.type, 'error', `host ${JSON.stringify(value)} is refused`);
        assert.equal(r.code, 'bad_command');
        assert.match(r.message, re);
      }
      const mark = h.mark();
      await sleep(600);
      assert.equal(h.snapshotsSince(mark).length, 0, 'the interval of the refused sets was not applied');
      list = await sockets();
      assert.deepEqual(list.map((s) => s.local), [`127.0.0.1:${reader!.port}`], 'nor their host options');

      assert.equal((await h.set({ host: { enabled: false } })).type, 'log');
      assert.equal((await h.snapshot()).host, undefined, 'collection off: no host sample');
      assert.equal((await h.set({ host: { enabled: true, pids: [], top: 8 } })).type, 'log');
      assert.ok((await h.snapshot()).host, 'and on again');
    } finally {
      client.kill('SIGKILL');
      tcp.stop();
    }
  });

  test('what cannot be read is said once, and never breaks a sample', async () => {
    const all = h.snapshotsSince(0);
    const said = all.flatMap((s) => s.host?.errors ?? []);
    assert.ok(said.some((e) => /^ethtool -i lo: /.test(e)), `lo has no driver: said (${JSON.stringify(said)})`);
    assert.equal(new Set(said).size, said.length, 'each error once');
    // all but the one taken while collection was off
    assert.ok(all.length >= 10 && all.filter((s) => !s.host).length === 1, 'every snapshot had its host sample');
    assert.ok(all.every((s) => !s.host || s.host.cost_ns > 0), 'each sample says what it cost');
    h.assertProtocolClean();
  });
});

describe('host counters of this machine\'s NICs', { skip, timeout: 120_000 }, () => {
  after(() => disposeAll());

  test('IRQ lines of virtio NICs: queue naming and affinity, the first sample lists every line', async (t) => {
    const lines = readFileSync('/proc/interrupts', 'utf8').split('\n');
    const nic = lines
      .map((l) => /^\s*(\d+):.*\s(virtio\d+)-((?:input|output)\.\d+)\s*$/.exec(l))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => ({ irq: Number(m[1]), device: m[2]!, queue: m[3]!, iface: (() => { try { return readdirSync(`/sys/bus/virtio/devices/${m[2]}/net`)[0]; } catch { return undefined; } })() }))
      .filter((x) => x.iface);
    const h = await Helper.start({ objects: [] });
    const first = host(await h.snapshot());
    const numbered = lines.filter((l) => /^\s*\d+:/.test(l)).length;
    assert.equal(first.irqs.length, numbered, 'the first sample names every numbered line (its configuration is new)');
    assert.ok(first.irqs.every((l) => typeof l.affinity === 'string'), 'with its affinity');
    const second = host(await h.snapshot());
    assert.ok(second.irqs.every((l) => l.affinity === undefined), 'configuration is not sent again unchanged');
    if (!nic.length) return t.skip('this machine has no virtio NIC IRQ lines');
    for (const n of nic) {
      const l = first.irqs.find((x) => x.irq === n.irq);
      assert.ok(l, `IRQ ${n.irq} listed`);
      assert.deepEqual(l.queue, { iface: n.iface, device: n.device, queue: n.queue }, `IRQ ${n.irq} is ${n.iface}'s ${n.queue}`);
      assert.equal(l.affinity, readFileSync(`/proc/irq/${n.irq}/smp_affinity_list`, 'utf8').trim());
      assert.equal(l.effective_affinity, readFileSync(`/proc/irq/${n.irq}/effective_affinity_list`, 'utf8').trim());
      const dev = first.ifaces.find((i) => i.name === n.iface);
      assert.equal(dev?.config?.driver, 'virtio_net', `${n.iface}'s driver`);
    }
    h.assertProtocolClean();
  });
});

describe('host counters: the recorded fixture', { skip, timeout: 120_000 }, () => {
  after(async () => {
    await disposeAll();
    await destroyAll();
  });

  test('record: a short stream with interfaces, a dropping qdisc, a full UDP socket, CPUs and IRQ lines', async () => {
    const pair = await createVethPair('hostrec');
    await addTbf(pair.nsA, pair.devA, '1mbit', '1600', '3000');
    // the helper in this machine's namespace (its NICs and IRQ lines), the pair's two besides
    const h = await Helper.start({ objects: [] });
    const reader = await startServer({ proto: 'udp', family: 4, count: 1000, size: 1000, delayMs: 60_000, timeoutS: 90 });
    try {
      assert.equal((await h.set({ interval_ms: 0, host: { netns: [pair.netnsInoA, pair.netnsInoB], pids: [reader.pid] } })).type, 'log');
      await h.snapshot();
      await runClient({ proto: 'udp', family: 4, addr: pair.addrB, port: 9, ns: pair.nsA, count: 300, size: 1000, timeoutS: 20 });
      await runClient({ proto: 'udp', family: 4, addr: '127.0.0.1', port: reader.port, count: 400, size: 1000, timeoutS: 20 });
      let last = await h.snapshot();
      for (let i = 0; i < 20 && !host(last).sockets.some((s) => s.procs.length); i++) last = await h.snapshot();
      // a quiet interval: only what moved
      await sleep(300);
      await h.snapshot();
      await h.quit();
      h.assertProtocolClean();
      const snaps = h.snapshotsSince(0);
      const all = snaps.map(host);
      assert.ok(all.some((x) => x.ifaces.some((i) => i.qdiscs?.some((q) => q.kind === 'tbf' && q.drops > 0))), 'a tbf qdisc with drops');
      assert.ok(all.some((x) => x.sockets.some((s) => s.proto === 'udp' && s.recv_q > 0 && s.procs.some((p) => p.pid === reader.pid))), 'a UDP socket with a Recv-Q and its pid');
      assert.ok(all.some((x) => (x.snmp['Udp.RcvbufErrors'] ?? 0) > 0), 'Udp.RcvbufErrors moving');
      assert.ok(all.some((x) => x.cpus.some((c) => c.softirqs.some((n) => n > 0))), 'per-CPU softirq counts');
      assert.ok(all[0]!.irqs.length > 0, 'IRQ lines');
      const out = process.env.NSLAT_HOST_RECORD_OUT;
      if (out) {
        const text = h.messages.map((m) => scrubPaths(JSON.stringify(m), [h.workdir, BUILD_DIR, REPO])).join('\n') + '\n';
        writeFileSync(out, text);
        console.log(`# wrote ${h.messages.length} messages to ${out}`);
      }
    } finally {
      reader.stop();
      await h.dispose();
      await pair.destroy();
    }
  });
});

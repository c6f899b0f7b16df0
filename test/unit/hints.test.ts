/**
 * The hint rules (src/core/hints.ts), each made to fire and kept quiet, on the host samples recorded
 * from the real helper (test/fixtures/helper-host.jsonl). The recording is made quiet first (its
 * event counters cleared), then each test injects one known effect, named in the test: squeezes with
 * a slower NET_RX softirq, a NIC whose IRQs all land on one CPU, a socket whose queue fills while
 * the read waits longer, drops at the NIC or the qdisc, a CPU busy in softirq, retransmits, listen
 * overflows, a full UDP receive buffer. Stage percentiles are given per interval as the Accumulator
 * would compute them. The rules read the intervals one at a time into running states: the last
 * tests check a CPU first sampled late, and that the hints an Aggregator gives after each snapshot,
 * its states kept in step through compaction, are those built at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HINT_LIMITS, HINT_RULES, HintIndex, NET_RX_DELAY, SOCK_TO_APP, netRxDelayOnCpu, type HintInterval } from '../../src/core/hints.ts';
import { HostAccumulator, eventKindOf, type HostTables } from '../../src/core/host.ts';
import { Aggregator } from '../../src/core/aggregate.ts';
import { PROTOCOL_VERSION } from '../../src/core/contract.ts';
import { formatCount } from '../../src/core/format.ts';
import { HINT_MAX_INTERVALS, HelperMessage, type Hint, type HostSample, type HostSocket } from '../../src/core/protocol.ts';
import { hostRecorded } from '../fixtures/host-recorded.ts';
import { histOf, lognormal, rng } from '../fixtures/stream.ts';

const T0 = Date.UTC(2026, 11, 4, 12, 0, 0);

/** The recorded samples, oldest first. */
function recordedSamples(): HostSample[] {
  return hostRecorded().flatMap((m) => (m.type === 'snapshot' && m.host ? [m.host] : []));
}

/** A sample with every event counter cleared and no socket queue: nothing for a rule to find. */
function quiet(s: HostSample): HostSample {
  const c: HostSample = structuredClone(s);
  for (const i of c.ifaces) {
    for (const k of Object.keys(i.stats)) if (eventKindOf('stats', k)) delete i.stats[k];
    for (const k of Object.keys(i.driver ?? {})) if (eventKindOf('driver', k)) delete i.driver![k];
    for (const q of i.qdiscs ?? []) q.drops = 0;
  }
  for (const cpu of c.cpus) {
    cpu.softnet.dropped = 0;
    cpu.softnet.time_squeeze = 0;
    cpu.softnet.flow_limit = 0;
    // at most a fifth of the time in softirq
    const t = cpu.time_ns;
    if (t.softirq > 0.2 * (t.user + t.nice + t.system + t.irq + t.softirq + t.iowait + t.idle + t.steal)) {
      t.idle += t.softirq;
      t.softirq = 0;
    }
  }
  for (const k of Object.keys(c.snmp)) if (eventKindOf('snmp', k)) delete c.snmp[k];
  c.sockets = c.sockets.map((x) => ({ ...x, recv_q: 0, drops: 0, ...(x.tcp ? { tcp: { ...x.tcp, retrans: 0, lost: 0 } } : {}) }));
  // IRQ lines of NIC queues stay, spread as recorded; the tests that need a NIC set their own.
  c.irqs = c.irqs.filter((q) => !q.queue);
  return c;
}

/** At least `n` quiet samples (the recording repeated if it is shorter). */
function base(n = 12): HostSample[] {
  const rec = recordedSamples().map(quiet);
  return Array.from({ length: Math.max(n, rec.length) }, (_, k) => structuredClone(rec[k % rec.length]!));
}

type P99 = (k: number, key: string) => number | undefined;

/** What the rules read: the intervals, oldest first, and the session's tables. */
interface HintInput {
  intervals: HintInterval[];
  tables: HostTables;
}

function input(samples: HostSample[], p99: P99 = () => undefined): HintInput {
  const acc = new HostAccumulator();
  const intervals = samples.map((s, k) => {
    const host = acc.ingest(s, 1e9);
    return { t_ms: T0 + (k + 1) * 1000, dur_ms: 1000, host, p99: (key: string) => p99(k, key) };
  });
  return { intervals, tables: acc.tables() };
}

function rule(name: string) {
  const r = HINT_RULES.find((x) => x.name === name);
  assert.ok(r, name);
  return r;
}

const at = (ks: number[]): number[] => ks.map((k) => T0 + (k + 1) * 1000);

/** Every rule's hints, the rules' states built from the intervals one at a time. */
const hostHints = (inp: HintInput): Hint[] => HintIndex.of(inp.intervals).hints(inp.tables);
const check = (name: string, inp: HintInput) => HintIndex.of(inp.intervals).check(rule(name), inp.tables);

function fires(name: string, inp: HintInput): Array<Omit<Hint, 'interval_count'>> {
  const out = check(name, inp);
  assert.ok(out.length > 0, `${name} fires`);
  for (const h of out) assert.equal(h.rule, name);
  return out;
}

function quietRule(name: string, inp: HintInput, why: string): void {
  assert.deepEqual(check(name, inp), [], `${name} stays quiet: ${why}`);
}

test('the quiet recording: no rule finds anything', () => {
  assert.deepEqual(hostHints(input(base())), []);
  assert.equal(new Set(HINT_RULES.map((r) => r.name)).size, HINT_RULES.length, 'rule names are unique');
});

test('netrx-delay-squeeze: NET_RX softirq delay p99 higher where time_squeeze moved', () => {
  const squeezed = [3, 4, 9];
  const samples = base();
  for (const k of squeezed) samples[k]!.cpus[0]!.softnet.time_squeeze = 7;
  const slow: P99 = (k, key) => (key === NET_RX_DELAY ? (squeezed.includes(k) ? 80_000 : 6_000) : undefined);
  const [h] = fires('netrx-delay-squeeze', input(samples, slow));
  assert.deepEqual(h!.intervals, at(squeezed));
  assert.match(h!.title, /80\.0 µs in the 3 intervals where time_squeeze moved, against 6\.00 µs/);
  assert.match(h!.detail, /21 squeezes \(CPU 0 21\)/);
  quietRule('netrx-delay-squeeze', input(samples, (_k, key) => (key === NET_RX_DELAY ? 6_000 : undefined)), 'squeezes, but the delay is the same');
  quietRule('netrx-delay-squeeze', input(base(), slow), 'a slower NET_RX, but no squeeze');
  quietRule('netrx-delay-squeeze', input(samples), 'squeezes, but NET_RX delay not traced');
});

test('nic-irqs-one-cpu: every interrupt of a NIC\'s lines on one CPU, with their affinity', () => {
  const samples = base();
  const ncpus = samples[0]!.cpus.length;
  assert.ok(ncpus >= 2, 'the recording has several CPUs');
  const lines = (split: (cpu: number) => number) =>
    ['input.0', 'output.0'].map((queue, i) => ({ irq: 90 + i, name: `virtio9-${queue}`, queue: { iface: 'eth9', device: 'virtio9', queue }, counts: Array.from({ length: ncpus }, (_, c) => split(c)), affinity: `0-${ncpus - 1}`, effective_affinity: '1' }));
  const pinned = samples.map((s) => ({ ...s, irqs: [...s.irqs, ...lines((c) => (c === 1 ? 40 : 0))] }));
  const [h] = fires('nic-irqs-one-cpu', input(pinned));
  assert.equal(h!.title, `All 2 IRQ lines of eth9 land on CPU 1: 100 % of ${formatCount(pinned.length * 80)} interrupts`);
  assert.match(h!.detail, /90 input\.0: affinity 0-\d+, effective 1; 91 output\.0/);
  assert.match(h!.detail, /effective affinity pins them there/);
  quietRule('nic-irqs-one-cpu', input(samples.map((s) => ({ ...s, irqs: [...s.irqs, ...lines(() => 40)] }))), 'spread over the CPUs');
  const few = samples.slice(0, 1).map((s) => ({ ...s, irqs: [...s.irqs, ...lines((c) => (c === 1 ? 10 : 0))] }));
  quietRule('nic-irqs-one-cpu', input(few), `fewer than ${HINT_LIMITS.minNicIrqs} interrupts`);
  quietRule('nic-irqs-one-cpu', input(samples.map((s) => ({ ...s, irqs: [...s.irqs, lines((c) => (c === 1 ? 40 : 0))[0]!] }))), 'a NIC with one IRQ line');
});

test('socket-recvq-high: a queue that stays non-empty while sock_enqueue→app_read grows', () => {
  const reader: HostSocket = { proto: 'tcp', family: 'ipv4', state: 'ESTAB', local: '127.0.0.1:5201', remote: '127.0.0.1:40000', recv_q: 0, send_q: 0, rcvbuf: 131072, inode: 777, uid: 0, netns: 0, procs: [{ pid: 4321, comm: 'reader' }] };
  const full = [5, 6, 7, 8, 9];
  const samples = base().map((s, k) => ({ ...s, sockets: [...s.sockets, { ...reader, recv_q: full.includes(k) ? 60_000 + k : 0 }] }));
  const slower: P99 = (k, key) => (key === SOCK_TO_APP ? (full.includes(k) ? 2_000_000 : 20_000) : undefined);
  const [h] = fires('socket-recvq-high', input(samples, slower));
  assert.deepEqual(h!.intervals, at(full));
  assert.match(h!.title, /^tcp 127\.0\.0\.1:5201 → 127\.0\.0\.1:40000 \(reader 4321\) keeps up to 58\.6 KiB in its Recv-Q for 5 intervals while sock_enqueue→app_read p99 grows to 2\.00 ms \(from 20\.0 µs\)/);
  quietRule('socket-recvq-high', input(samples, (_k, key) => (key === SOCK_TO_APP ? 20_000 : undefined)), 'the read waits no longer');
  const brief = base().map((s, k) => ({ ...s, sockets: [...s.sockets, { ...reader, recv_q: k === 5 || k === 6 ? 60_000 : 0 }] }));
  quietRule('socket-recvq-high', input(brief, slower), `non-empty in fewer than ${HINT_LIMITS.recvQRun} intervals in a row`);
  const listening = base().map((s, k) => ({ ...s, sockets: [...s.sockets, { ...reader, state: 'LISTEN', remote: '0.0.0.0:*', recv_q: full.includes(k) ? 5 : 0 }] }));
  quietRule('socket-recvq-high', input(listening, slower), 'a listener\'s Recv-Q is its accept queue');
});

test('nic-drops: drop statistics or driver drop counters of an interface', () => {
  const samples = base();
  const eth = samples[0]!.ifaces.find((i) => i.name !== 'lo' && i.netns === 0) ?? samples[0]!.ifaces[0]!;
  const hit = samples.map((s, k) => {
    const c = structuredClone(s);
    const i = c.ifaces.find((x) => x.name === eth.name && x.netns === eth.netns)!;
    // its configuration as the driver reports it (the latest one sent counts)
    i.config = { ...i.config, rings: { rx: 256, tx: 256, rx_max: 4096, tx_max: 4096 } };
    if (k === 4) {
      i.stats.rx_missed_errors = 12;
      i.driver = { ...i.driver, rx_queue_0_drops: 12 };
    }
    return c;
  });
  const [h] = fires('nic-drops', input(hit));
  assert.match(h!.title, new RegExp(`^${eth.name}( \\([a-z_]+\\))? drops packets at the interface: rx_missed_errors 12, driver rx_queue_0_drops 12$`));
  assert.match(h!.detail, new RegExp(`holds 256 of at most 4096 descriptors: a larger one \\(ethtool -G ${eth.name} rx 4096\\)`));
  assert.deepEqual(h!.intervals, at([4]));
  quietRule('nic-drops', input(samples), 'no drop counter moved');
});

test('qdisc-drops: a qdisc over its limit', () => {
  const samples = base();
  const iface = samples[0]!.ifaces[0]!.name;
  const tbf = (drops: number) => ({ kind: 'tbf', handle: '1:', parent: 'root', sent_packets: 100, sent_bytes: 150_000, drops, overlimits: drops * 2, requeues: 0, backlog_bytes: 3000, backlog_packets: 2 });
  const withTbf = (d: (k: number) => number) => samples.map((s, k) => ({ ...s, ifaces: s.ifaces.map((i) => (i.name === iface ? { ...i, qdiscs: [tbf(d(k))] } : i)) }));
  const [h] = fires('qdisc-drops', input(withTbf((k) => (k === 2 || k === 7 ? 30 : 0))));
  assert.match(h!.title, new RegExp(`^${iface} qdisc tbf 1: \\(root\\) dropped 60 packets`));
  assert.deepEqual(h!.intervals, at([2, 7]));
  quietRule('qdisc-drops', input(withTbf(() => 0)), 'a qdisc that dropped nothing');
});

test('softirq-saturated-cpu: a CPU mostly in softirq while NET_RX waits longer there', () => {
  const busy = [2, 3, 8];
  const samples = base().map((s, k) => {
    if (!busy.includes(k)) return s;
    const c = structuredClone(s);
    const t = c.cpus[1]!.time_ns;
    const total = t.user + t.nice + t.system + t.irq + t.softirq + t.iowait + t.idle + t.steal;
    Object.assign(t, { user: 0.1 * total, nice: 0, system: 0.1 * total, irq: 0, softirq: 0.7 * total, iowait: 0, idle: 0.1 * total, steal: 0 });
    return c;
  });
  const delay: P99 = (k, key) => (key === netRxDelayOnCpu(1) ? (busy.includes(k) ? 300_000 : 8_000) : undefined);
  const [h] = fires('softirq-saturated-cpu', input(samples, delay));
  assert.match(h!.title, /^CPU 1 spends up to 70 % of its time in softirq, and its NET_RX raise→run delay p99 is 300 µs then, against 8\.00 µs otherwise/);
  assert.deepEqual(h!.intervals, at(busy));
  const [u] = fires('softirq-saturated-cpu', input(samples));
  assert.match(u!.title, /the NET_RX delay was not traced/);
  quietRule('softirq-saturated-cpu', input(samples, (_k, key) => (key === netRxDelayOnCpu(1) ? 8_000 : undefined)), 'busy, but NET_RX waits no longer');
  quietRule('softirq-saturated-cpu', input(base(), delay), 'no CPU at half its time in softirq');
});

test('tcp-retransmits: Tcp.RetransSegs moved', () => {
  const samples = base().map((s, k) => (k === 5 ? { ...s, snmp: { ...s.snmp, 'Tcp.RetransSegs': 9, 'Tcp.OutSegs': 900 } } : s));
  const [h] = fires('tcp-retransmits', input(samples));
  assert.match(h!.title, /^TCP retransmitted 9 segments \(.+ of .+ sent\) in 1 interval$/);
  assert.deepEqual(h!.intervals, at([5]));
  quietRule('tcp-retransmits', input(base()), 'no retransmit');
});

test('listen-overflows: a listener\'s accept queue overflowed', () => {
  const listener: HostSocket = { proto: 'tcp', family: 'ipv4', state: 'LISTEN', local: '0.0.0.0:8080', remote: '0.0.0.0:*', recv_q: 129, send_q: 128, inode: 55, uid: 0, netns: 0, procs: [{ pid: 99, comm: 'server' }] };
  const samples = base().map((s, k) => (k === 6 ? { ...s, snmp: { ...s.snmp, 'TcpExt.ListenOverflows': 4, 'TcpExt.ListenDrops': 4 }, sockets: [...s.sockets, listener] } : s));
  const [h] = fires('listen-overflows', input(samples));
  assert.match(h!.title, /dropped 4 connection attempts \(ListenOverflows 4, ListenDrops 4\)/);
  assert.match(h!.detail, /tcp 0\.0\.0\.0:8080 \(server 99\) up to 129 of 128 waiting/);
  quietRule('listen-overflows', input(base()), 'no overflow');
});

test('udp-rcvbuf-errors: a full UDP receive buffer, and the socket behind it with its process', () => {
  const udp: HostSocket = { proto: 'udp', family: 'ipv4', state: 'UNCONN', local: '127.0.0.1:5353', remote: '*:*', recv_q: 212_992, send_q: 0, rcvbuf: 212_992, drops: 0, inode: 31, uid: 0, netns: 0, procs: [{ pid: 4242, comm: 'stopped' }], flow: true };
  const samples = base().map((s, k) => (k >= 4 ? { ...s, snmp: { ...s.snmp, 'Udp.RcvbufErrors': 25 }, sockets: [...s.sockets, { ...udp, drops: (k - 3) * 25 }] } : s));
  const [h] = fires('udp-rcvbuf-errors', input(samples));
  assert.ok(h!.title.startsWith(`${formatCount((samples.length - 4) * 25)} UDP datagrams dropped`), h!.title);
  assert.match(h!.detail, /udp 127\.0\.0\.1:5353 \(stopped 4242\): Recv-Q up to 208 KiB of 208 KiB, \d+ drops/);
  assert.deepEqual(h!.intervals, at(samples.map((_, k) => k).filter((k) => k >= 4)));
  quietRule('udp-rcvbuf-errors', input(base()), 'no receive buffer error');
});

test('a hint lists the newest of its intervals and says how many there were', () => {
  const samples = Array.from({ length: HINT_MAX_INTERVALS + 10 }, (_, k) => base()[k % base().length]!);
  const busy = samples.map((s) => ({ ...s, snmp: { ...s.snmp, 'Tcp.RetransSegs': 1 } }));
  const [h] = hostHints(input(busy)).filter((x) => x.rule === 'tcp-retransmits');
  assert.equal(h!.interval_count, busy.length);
  assert.deepEqual(h!.intervals, at(busy.map((_, k) => k)).slice(-HINT_MAX_INTERVALS));
});

test('softirq-saturated-cpu: a CPU first sampled late is compared with the intervals before it too', () => {
  const busy = [8, 9, 10];
  const samples = base().map((s, k) => {
    const c = structuredClone(s);
    if (k < 6) c.cpus = c.cpus.filter((x) => x.cpu !== 1);
    else if (busy.includes(k)) {
      const t = c.cpus.find((x) => x.cpu === 1)!.time_ns;
      const total = t.user + t.nice + t.system + t.irq + t.softirq + t.iowait + t.idle + t.steal;
      Object.assign(t, { user: 0.1 * total, nice: 0, system: 0.1 * total, irq: 0, softirq: 0.7 * total, iowait: 0, idle: 0.1 * total, steal: 0 });
    }
    return c;
  });
  const [h] = fires('softirq-saturated-cpu', input(samples, (k, key) => (key === netRxDelayOnCpu(1) ? (busy.includes(k) ? 300_000 : 8_000) : undefined)));
  assert.match(h!.title, /^CPU 1 spends up to 70 % of its time in softirq, and its NET_RX raise→run delay p99 is 300 µs then, against 8\.00 µs otherwise/);
  assert.deepEqual(h!.intervals, at(busy));
  // the delay as long before CPU 1 was sampled as while it is busy: no rise against the others
  quietRule('softirq-saturated-cpu', input(samples, (k, key) => (key === netRxDelayOnCpu(1) ? (busy.includes(k) || k < 6 ? 300_000 : 8_000) : undefined)), 'the delay was as long in the intervals before CPU 1 was sampled');
});

/** A stream of `n` snapshots with stages and host counters, every rule's effect injected in some of
 *  its intervals: squeezes with a slower NET_RX softirq (CPU 0), CPU 1 busy in softirq with NET_RX
 *  waiting longer there, a reader's Recv-Q filling while its reads wait, NIC and qdisc drops,
 *  retransmits, listen overflows, UDP receive buffer errors, a NIC's IRQ lines all on CPU 1. */
function effects(n: number): HelperMessage[] {
  const squeezed = [5, 6, 7, 20, 21, 33];
  const busy = [12, 25, 26];
  const queued = [10, 11, 12, 13, 14, 15, 16, 33, 34, 35, 36, 37, 38, 39];
  const r = rng(11);
  const values = (count: number, median: number) => Array.from({ length: count }, () => Math.max(1, lognormal(r, median, 0.2)));
  const reader: HostSocket = { proto: 'tcp', family: 'ipv4', state: 'ESTAB', local: '127.0.0.1:5201', remote: '127.0.0.1:40000', recv_q: 0, send_q: 0, rcvbuf: 131072, inode: 777, uid: 0, netns: 0, procs: [{ pid: 4321, comm: 'reader' }] };
  const samples = base(n).map((s, k) => {
    const c = structuredClone(s);
    const ncpus = c.cpus.length;
    if (squeezed.includes(k)) c.cpus[0]!.softnet.time_squeeze = 4;
    if (busy.includes(k)) {
      const t = c.cpus[1]!.time_ns;
      const total = t.user + t.nice + t.system + t.irq + t.softirq + t.iowait + t.idle + t.steal;
      Object.assign(t, { user: 0.1 * total, nice: 0, system: 0.1 * total, irq: 0, softirq: 0.7 * total, iowait: 0, idle: 0.1 * total, steal: 0 });
    }
    c.sockets.push({ ...reader, recv_q: queued.includes(k) ? 50_000 + k : 0 });
    if (k === 9 || k === 31) c.ifaces[0]!.stats.rx_missed_errors = 3;
    if (k === 8 || k === 30) c.ifaces[0]!.qdiscs = [{ kind: 'tbf', handle: '1:', parent: 'root', sent_packets: 100, sent_bytes: 150_000, drops: 10, overlimits: 20, requeues: 0, backlog_bytes: 3000, backlog_packets: 2 }];
    if (k === 18) c.snmp['Tcp.RetransSegs'] = 3;
    if (k === 22) c.snmp['TcpExt.ListenOverflows'] = 2;
    if (k === 27 || k === 28) c.snmp['Udp.RcvbufErrors'] = 40;
    c.irqs.push(...['input.0', 'output.0'].map((queue, i) => ({ irq: 90 + i, name: `virtio9-${queue}`, queue: { iface: 'eth9', device: 'virtio9', queue }, counts: Array.from({ length: ncpus }, (_, cpu) => (cpu === 1 ? 30 : 0)) })));
    return c;
  });
  const t0 = 1_000_000_000_000;
  const msgs: HelperMessage[] = [{ type: 'hello', protocol: PROTOCOL_VERSION, helper_version: 'x', kernel: '6.18', mono_ns: t0, wall_ns: T0 * 1e6, ncpus: samples[0]!.cpus.length, btf: true, bpf_stats: true, attach_types: {}, host: true, workdir: '/w', pid: 1 }];
  samples.forEach((host, k) => {
    const hists = [0, 1].map((cpu) => histOf({ kind: 'softirq_delay', dir: 'irq', name: 'NET_RX', cpu, vec: 3 }, values(200, (cpu === 0 && squeezed.includes(k)) || (cpu === 1 && busy.includes(k)) ? 250_000 : 6_000)));
    const app = histOf({ kind: 'stage', dir: 'rx', name: 'sock_enqueue→app_read', from: 'sock_enqueue', to: 'app_read' }, values(300, queued.slice(2).includes(k) ? 2_000_000 : 20_000));
    msgs.push({ type: 'snapshot', seq: k, mono_ns: t0 + (k + 1) * 1e9, interval_ns: 1e9, slots: [{ slot: 'irq', hists, counters: {}, drops: {}, progs: [] }, { slot: 'rx', hists: [app], counters: {}, drops: {}, progs: [] }], host });
  });
  return msgs.map((m) => HelperMessage.parse(m));
}

test('the hints an Aggregator gives as snapshots come, its rules\' states kept in step through compaction, are those built at once from the intervals it holds', () => {
  const n = 40;
  const msgs = effects(n);
  const opts = { now: () => T0, maxIntervals: 12, fullResolutionMs: 5_000 };
  const live = new Aggregator(opts);
  for (const m of msgs.slice(0, 1)) live.ingest(m);
  const fired = new Map<string, number>();
  let resyncs = 0;
  for (let k = 1; k <= n; k++) {
    live.ingest(msgs[k]!);
    // after most snapshots, and at times after several (compaction may then have merged old
    // intervals while as many new ones came)
    if (k > 12 && k % 4 !== 0 && k !== n) continue;
    const m = live.panelMessage();
    if (m.type === 'snapshot') resyncs++;
    const got = (m.type === 'snapshot' ? m.state.host_counters : m.type === 'delta' ? m.host_counters : undefined)?.hints;
    assert.ok(got, `snapshot ${k}: hints`);
    const once = new Aggregator(opts);
    for (const x of msgs.slice(0, k + 1)) once.ingest(x);
    assert.deepEqual(got, once.report().host_counters!.hints, `after snapshot ${k - 1}`);
    for (const h of got) fired.set(h.rule, (fired.get(h.rule) ?? 0) + 1);
  }
  assert.ok(resyncs >= 5, `${resyncs} compactions`);
  assert.deepEqual([...fired.keys()].sort(), HINT_RULES.map((x) => x.name).sort(), 'every rule fired at some point');
  // and the same stream held whole, never compacted: every effect where it was injected
  const whole = new Aggregator({ now: () => T0 });
  for (const m of msgs) whole.ingest(m);
  const hints = new Map(whole.report().host_counters!.hints.map((h) => [h.rule, h]));
  const when = (ks: number[]) => ks.map((k) => whole.wallMs(1_000_000_000_000 + (k + 1) * 1e9));
  assert.deepEqual(hints.get('netrx-delay-squeeze')?.intervals, when([5, 6, 7, 20, 21, 33]));
  assert.deepEqual(hints.get('softirq-saturated-cpu')?.intervals, when([12, 25, 26]));
  assert.deepEqual(hints.get('socket-recvq-high')?.intervals, when([10, 11, 12, 13, 14, 15, 16]), 'the longest run, the first of equals');
  assert.deepEqual(hints.get('nic-drops')?.intervals, when([9, 31]));
  assert.deepEqual(hints.get('qdisc-drops')?.intervals, when([8, 30]));
  assert.deepEqual(hints.get('tcp-retransmits')?.intervals, when([18]));
  assert.deepEqual(hints.get('listen-overflows')?.intervals, when([22]));
  assert.deepEqual(hints.get('udp-rcvbuf-errors')?.intervals, when([27, 28]));
  assert.equal(hints.get('nic-irqs-one-cpu')?.interval_count, n);
});

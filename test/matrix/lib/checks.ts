/**
 * What the matrix asserts about one kernel's run, grouped the way matrix.test.ts reports it. Every
 * expectation is derived from the helper's own `loaded` messages (which boundaries are active, which
 * programs feed them), never from a fixed list; the kernel facts used are about device types (which
 * entry a loopback, veth or virtio packet takes) and are named where they are used.
 *
 * Each group collects all its problems (one run shows every one of them), plus report lines that are
 * printed whether or not the group passes.
 */
import { bucketLower } from '../../../src/core/hist.ts';
import { formatNs } from '../../../src/core/format.ts';
import type { Boundary, Feed, LoadedMessage } from '../../../src/core/protocol.ts';
import { Totals, mean, p, type Hist } from '../../kernel/lib/helper.ts';
import { NOT_ON_VIRTUAL_DEVICES, QDISC, boundaryL4, describe as describeTotals, seenAt, type Proto } from '../../kernel/lib/stages.ts';
import { loadedProgIds, parseEvents, parseHelperOutput, phaseDurations, windows, type ErrorMsg, type Events, type HelperOutput, type Window } from './parse.ts';
import type { RunResult } from './run.ts';

export const GROUPS = ['run', 'load', 'attach', 'verify', 'traffic', 'consistency', 'delay', 'irq', 'stamps', 'host', 'leaks'] as const;
export type Group = (typeof GROUPS)[number];

/** Σ stage p50 / end-to-end p50: one log2 bucket either way (see MEDIAN_RATIO in test/kernel/stages.test.ts). */
export const MEDIAN_RATIO: [number, number] = [0.5, 2];
/** Σ stage mean / end-to-end mean. Means add up exactly over one population of packets, however
 *  skewed the stages are; medians do not (under TCG a vCPU that loses the host CPU puts a long tail
 *  on whichever stage it hits, and Σ p50 then falls below the p50 of the sum). Where the stages
 *  carry the same packets this is the sharper check; where populations mix (TCP data and ACKs) the
 *  medians are. A stage that loses, double-counts or misplaces time fails both. */
export const MEAN_RATIO: [number, number] = [0.9, 1.1];
/** netem `delay D`: mean qdisc wait within [D, 1.5 D] (timer slack only adds). The qdisc_enqueue
 *  tracepoint fires a few µs after netem stamped the packet, hence the 1% below D. */
export const NETEM_MEAN: [number, number] = [0.99, 1.5];
/** tbf: mean wait within these factors of the token-bucket model's (see tbfModelNs). */
export const TBF_MEAN: [number, number] = [0.8, 1.5];
/** A qdisc-stage packet that waited ≥ 8 D is a stall of the machine (under TCG a vCPU can lose the
 *  host CPU for a while), not the qdisc's delay; at most this share may be such outliers, and the
 *  upper bound on the mean is taken over the others. */
export const OUTLIER_FACTOR = 8;
export const OUTLIER_SHARE = 0.05;
/** A NET_RX raise → run delay this long is a raise whose run was missed, not a delay (even under
 *  TCG the slowest real ones here are a few ms). */
export const STALE_SOFTIRQ_NS = 100e6;

/** Receive-side boundaries that must see packets in every scenario where they are active. */
const IP_LAYER = /^ip_rcv$|^ip_local_deliver$/;
/** The entry a GRO-capable NAPI driver (virtio-net) never takes: netif_rx is for loopback, veth and
 *  non-NAPI drivers; netif_receive_skb_entry for NAPI drivers that do not use GRO. */
const NOT_ON_GRO_NIC = { rx: /^netif_rx$|netif_receive_skb_entry/i } as const;

export type PathKind = 'loopback' | 'veth' | 'virtio';
type Applies = 'yes' | 'no' | 'maybe';

export class Problems {
  readonly list: string[] = [];
  readonly report: string[] = [];
  check(ok: boolean, msg: string): boolean {
    if (!ok) this.list.push(msg);
    return ok;
  }
  add(msg: string): void {
    this.list.push(msg);
  }
  note(line: string): void {
    this.report.push(line);
  }
}

export interface KernelFacts {
  label: string;
  kind: 'guest' | 'host';
  preemptRt: boolean;
  package?: string;
  version?: string;
}

export interface Analysis {
  facts: KernelFacts;
  run: RunResult;
  h1: HelperOutput;
  h2: HelperOutput;
  ev: Events;
  wins: Map<string, Window>;
  groups: Record<Group, Problems>;
  /** Active boundaries no scenario of this run passes, with the reason. */
  notExercised: string[];
}

// ---------------------------------------------------------------- helpers

function pathKind(win: string, ev: Events): PathKind {
  if (win.startsWith('lo-')) return 'loopback';
  return ev.nic?.kind ?? 'veth';
}

function isQdiscWindow(win: string): boolean {
  return win.startsWith('delay-');
}

/** Whether a packet of this window's kind can pass boundary `b` (kernel facts about device types). */
function applies(loaded: LoadedMessage, dir: 'rx' | 'tx', b: Boundary, kind: PathKind, proto: Proto, qdiscWindow: boolean): Applies {
  const only = boundaryL4(loaded, b.name);
  if (only && only !== proto) return 'no';
  if (dir === 'rx') {
    if (kind === 'virtio') return NOT_ON_GRO_NIC.rx.test(b.name) ? 'no' : 'yes';
    return NOT_ON_VIRTUAL_DEVICES.rx.test(b.name) ? 'no' : 'yes';
  }
  // The default qdisc (pfifo_fast, noqueue on virtual devices) is bypassed when empty.
  if (QDISC.test(b.name)) return qdiscWindow ? 'yes' : 'maybe';
  if (kind !== 'virtio' && NOT_ON_VIRTUAL_DEVICES.tx.test(b.name)) return 'no';
  return 'yes';
}

function activeOf(loaded: LoadedMessage, dir: 'rx' | 'tx'): Boundary[] {
  return loaded.boundaries.filter((b) => b.dir === dir && b.active).sort((a, b) => a.id - b.id);
}

/** Upper bound of the mean over the packets below the outlier threshold (ns). */
function meanWithoutOutliers(h: Hist, thresholdNs: number): { upper: number; outliers: number } {
  let sum = h.sum;
  let n = h.count;
  let outliers = 0;
  h.buckets.forEach((c, i) => {
    if (c > 0 && bucketLower(i) >= thresholdNs) {
      sum -= c * bucketLower(i);
      n -= c;
      outliers += c;
    }
  });
  return { upper: n > 0 ? Math.max(0, sum) / n : 0, outliers };
}

/**
 * Mean qdisc wait of a burst of `count` datagrams of `size` bytes behind tbf `rate_bps`, bucket
 * `burst` bytes (full at the start): packet k (from 0) leaves when the bucket has refilled the
 * bytes of the k+1 first packets minus the burst, ((k+1)·L − B)/R, or at once when that is ≤ 0.
 * L is the length tbf charges: payload + UDP + IPv4 + Ethernet headers.
 */
export function tbfModelNs(count: number, size: number, rateBps: number, burst: number): number {
  const L = size + 8 + 20 + 14;
  const R = rateBps / 8;
  let total = 0;
  for (let k = 0; k < count; k++) total += Math.max(0, ((k + 1) * L - burst) / R);
  return (total / count) * 1e9;
}

function feedsText(feeds: Feed[]): string {
  return feeds.map((f) => `${f.program} (${f.attach} ${f.target}${f.netns?.length ? ` netns ${f.netns.join(',')}` : ''})`).join(', ');
}

function feedersOf(loaded: LoadedMessage, b: Boundary): string {
  if (b.feeds?.length) return feedsText(b.feeds);
  return loaded.programs
    .filter((pr) => pr.status === 'attached' && (pr.name === `handle_${b.name}` || pr.name.startsWith(`${b.name}__`)))
    .map((pr) => `${pr.name} (${pr.attach ?? '?'} ${pr.section})`)
    .join(', ');
}

/** The interesting part of a verifier log: its first lines (where the program starts) and its
 *  last (where the verifier says why it stopped). */
export function logExcerpt(log: string, indent = '      '): string {
  const lines = log.split('\n').filter((l) => l.trim());
  const head = lines.slice(0, 12);
  const rest = lines.length > 16 ? ['…', ...lines.slice(-4)] : lines.slice(12);
  return `\n${indent}verifier log (${lines.length} lines):\n${[...head, ...rest].map((l) => `${indent}  ${l}`).join('\n')}`;
}

/** An error message with the program and the interesting part of its verifier log. */
export function describeError(e: ErrorMsg): string {
  return `${e.code}: ${e.message}${e.program ? ` [program ${e.program}]` : ''}${e.log ? logExcerpt(e.log) : ''}`;
}

// ---------------------------------------------------------------- the analysis

export function analyse(run: RunResult, facts: KernelFacts): Analysis {
  const groups = Object.fromEntries(GROUPS.map((g) => [g, new Problems()])) as Record<Group, Problems>;
  const h1 = parseHelperOutput(run.files.get('helper.out') ?? '');
  const h2 = parseHelperOutput(run.files.get('helper2.out') ?? '');
  const ev = parseEvents(run.files.get('events.jsonl') ?? '');
  const w = windows(h1, ev);
  const a: Analysis = { facts, run, h1, h2, ev, wins: w.windows, groups, notExercised: [] };

  checkRun(a, w.problems);
  checkLoad(a);
  checkAttach(a);
  checkVerify(a);
  checkTraffic(a);
  checkConsistency(a);
  checkDelay(a);
  checkIrq(a);
  checkStamps(a);
  checkHostCounters(a);
  checkLeaks(a);
  return a;
}

function checkRun(a: Analysis, windowProblems: string[]): void {
  const g = a.groups.run;
  for (const p of a.run.problems) g.add(p);
  for (const [name, h] of [
    ['helper.out', a.h1],
    ['helper2.out', a.h2],
  ] as const) {
    if (!a.run.files.has(name)) continue;
    for (const i of h.invalid.slice(0, 5)) g.add(`${name}: line does not match src/core/protocol.ts: ${i.error}\n      line: ${i.line.slice(0, 300)}`);
    if (h.invalid.length > 5) g.add(`${name}: ${h.invalid.length - 5} more invalid lines`);
    g.check(!!h.hello, `${name}: no hello`);
  }
  for (const l of a.ev.invalid) g.add(`events.jsonl: not JSON: ${l}`);
  for (const f of a.ev.failures) g.add(f);
  for (const p of windowProblems) g.add(p);
  const expected = [...a.ev.flows.keys()].filter((n) => !n.startsWith('warmup'));
  for (const n of expected) g.check(a.wins.has(n), `window ${n}: no begin/end snapshot pair`);
  g.note(`wall ${(a.run.wallMs / 1000).toFixed(1)} s; phases: ${phaseDurations(a.ev).map((x) => `${x.name} ${(x.ms / 1000).toFixed(1)} s`).join(', ')}`);
  if (a.h1.hello) {
    const at = Object.entries(a.h1.hello.attach_types);
    g.note(`kernel ${a.h1.hello.kernel}, ${a.h1.hello.ncpus} CPUs; attach types working: ${at.filter(([, v]) => v).map(([k]) => k).join(', ') || 'none'}; not: ${at.filter(([, v]) => !v).map(([k]) => k).join(', ') || 'none'}; preempt_rt: ${String(a.h1.hello.preempt_rt ?? 'absent')}; irq_threads: ${String(a.h1.hello.irq_threads ?? 'absent')}; netfilter: ${String(a.h1.hello.netfilter ?? 'absent')}`);
    if (a.h1.hello.preempt_rt !== undefined && a.h1.hello.preempt_rt !== a.facts.preemptRt) {
      g.add(`hello says preempt_rt ${a.h1.hello.preempt_rt}, the kernel's build says ${a.facts.preemptRt}`);
    }
  }
}

function checkLoad(a: Analysis): void {
  const g = a.groups.load;
  const first = new Map<string, string>();
  for (const [which, h] of [
    ['first helper', a.h1],
    ['second helper', a.h2],
  ] as const) {
    for (const slot of ['rx', 'tx', 'irq']) {
      const l = h.loaded.get(slot);
      const err = h.errors.find((e) => e.id === `load:${slot}`);
      const got = l ? 'loaded' : err ? describeError(err) : 'no reply';
      if (which === 'first helper') first.set(slot, got);
      else if (got === first.get(slot)) continue; // the same outcome is reported once
      if (l) {
        const att = l.msg.programs.filter((pr) => pr.status === 'attached').length;
        g.note(`${which}: ${slot} loaded: ${att} of ${l.msg.programs.length} programs attached${l.msg.attempts && l.msg.attempts > 1 ? ` (${l.msg.attempts} loads: alternatives fell back)` : ''}`);
        // The load sent filter_port for rx and tx with if_declared: the object's direction (from its
        // BTF) picked its own, which rx and tx declare; irq was sent none of its direction.
        if (l.msg.dir !== slot) g.add(`${which}: ${slot} reports dir ${l.msg.dir ?? 'none'}`);
        if (!Array.isArray(l.msg.unset) || l.msg.unset.length) g.add(`${which}: ${slot}: unset is ${JSON.stringify(l.msg.unset)}, want [] (filter_port declared, nothing else sent)`);
        // A built-in probe the verifier refuses on a stock kernel is a probe bug, even when its group
        // fell back to another alternative; one that loads but does not attach may be the kernel's.
        for (const pr of l.msg.programs.filter((x) => x.status === 'failed')) {
          if (pr.log) g.add(`${which}: ${slot} program ${pr.name} (${pr.section}) refused by the verifier: ${pr.reason ?? ''}${logExcerpt(pr.log)}`);
          else g.note(`${which}: ${slot} program ${pr.name} (${pr.section}) failed: ${pr.reason ?? ''}`);
        }
      } else {
        g.add(`${which}: ${slot} did not load: ${got}`);
      }
    }
  }
}

function checkAttach(a: Analysis): void {
  const g = a.groups.attach;
  for (const slot of ['rx', 'tx', 'irq']) {
    const l = a.h1.loaded.get(slot);
    if (!l) {
      g.note(`${slot}: not loaded`);
      continue;
    }
    for (const b of l.msg.boundaries) {
      if (b.active) {
        g.check(!!b.attach, `${slot} boundary ${b.name} is active without an attach type`);
        g.note(`${slot.padEnd(3)} ${b.name.padEnd(28)} ${(b.attach ?? '?').padEnd(10)} ${feedersOf(l.msg, b)}`);
      } else {
        g.check(!!b.reason, `${slot} boundary ${b.name} is inactive without a reason`);
        g.note(`${slot.padEnd(3)} ${b.name.padEnd(28)} ${'—'.padEnd(10)} ${b.reason ?? ''}`);
      }
    }
    for (const gr of l.msg.groups ?? []) {
      if (gr.active) {
        g.check(gr.feeds.length > 0, `${slot} group ${gr.name} is active but nothing feeds it`);
        g.note(`${slot.padEnd(3)} ${`group ${gr.name}`.padEnd(28)} ${(gr.attach ?? '?').padEnd(10)} ${feedsText(gr.feeds)}`);
      } else {
        g.check(!!gr.reason, `${slot} group ${gr.name} is inactive without a reason`);
        g.note(`${slot.padEnd(3)} ${`group ${gr.name}`.padEnd(28)} ${'—'.padEnd(10)} ${gr.reason ?? ''}`);
      }
    }
    if (!l.msg.boundaries.length) {
      // Programs of no boundary and no group (a group's alternatives are listed with it above).
      const grouped = (name: string) => (l.msg.groups ?? []).some((gr) => name.startsWith(`${gr.name}__`));
      for (const pr of l.msg.programs.filter((x) => !grouped(x.name))) {
        g.note(`${slot.padEnd(3)} ${pr.name.padEnd(28)} ${(pr.status === 'attached' ? (pr.attach ?? '?') : '—').padEnd(10)} ${pr.status === 'attached' ? pr.section : (pr.reason ?? '')}`);
      }
      g.check(l.msg.programs.some((pr) => pr.status === 'attached'), `${slot}: no program attached`);
    }
  }
}

interface WinCtx {
  name: string;
  t: Totals;
  kind: PathKind;
  proto: Proto;
  qdisc: boolean;
}

function winCtxs(a: Analysis): WinCtx[] {
  const out: WinCtx[] = [];
  for (const [name, w] of a.wins) {
    const proto = w.flow?.proto ?? (name.includes('tcp') ? 'tcp' : 'udp');
    out.push({ name, t: w.totals, kind: pathKind(name, a.ev), proto, qdisc: isQdiscWindow(name) });
  }
  return out;
}

function checkTraffic(a: Analysis): void {
  const g = a.groups.traffic;
  // The traffic itself: every flow moved what it was asked to (UDP may lose a few).
  for (const [name, f] of a.ev.flows) {
    const lost = f.client.sent - f.server.received;
    const ok = f.ok && f.client.sent === f.count && (f.proto === 'tcp' ? lost === 0 : f.server.received >= f.client.sent * 0.9);
    g.check(ok, `flow ${name}: sent ${f.client.sent} of ${f.count}, received ${f.server.received}${f.server.error ? `, server: ${f.server.error}` : ''}${f.client.error ? `, client: ${f.client.error}` : ''}${f.client.timeout || f.server.timeout ? ' (timed out)' : ''}`);
  }
  const ctxs = winCtxs(a);
  for (const dir of ['rx', 'tx'] as const) {
    const l = a.h1.loaded.get(dir);
    if (!l) {
      g.add(`${dir} did not load: its boundaries cannot be checked (see the load test)`);
      continue;
    }
    for (const b of activeOf(l.msg, dir)) {
      const where = ctxs.filter((c) => applies(l.msg, dir, b, c.kind, c.proto, c.qdisc) === 'yes');
      const seen = ctxs.filter((c) => seenAt(c.t, dir, b.name) > 0);
      const seenList = seen.map((c) => `${c.name}:${seenAt(c.t, dir, b.name)}`).join(' ');
      if (!where.length) {
        const why =
          dir === 'rx' && /netif_receive_skb_entry/.test(b.name)
            ? 'only NAPI drivers without GRO enter here; virtio-net uses GRO, loopback and veth enter at netif_rx'
            : dir === 'rx'
              ? 'no scenario of this run enters the stack there (loopback and veth enter at netif_rx)'
              : 'no scenario of this run passes it (loopback and veth hand the skb to the peer at xmit, nothing completes)';
        a.notExercised.push(`${dir} ${b.name} (${b.attach}): not exercised: ${why}${seen.length ? `; saw packets anyway in ${seenList}` : ''}`);
        continue;
      }
      g.note(`${dir} ${b.name.padEnd(24)} applies in ${where.length} window(s); packets: ${seenList || 'none'}`);
      if (!where.some((c) => seenAt(c.t, dir, b.name) > 0)) {
        g.add(`${dir} boundary ${b.name} (active, ${b.attach}) saw no packets in any scenario where it applies (${where.map((c) => c.name).join(', ')})`);
      }
      if (dir === 'rx' && IP_LAYER.test(b.name)) {
        const silent = where.filter((c) => seenAt(c.t, dir, b.name) === 0);
        if (silent.length) {
          g.add(
            `rx boundary ${b.name} (active, ${b.attach}) saw no packets in ${silent.map((c) => c.name).join(', ')} ` +
              `(it must carry every scenario's packets wherever it is active; ${silent[0]!.name} passed ${observedPath(l.msg, dir, silent[0]!).join(' → ')})`,
          );
        }
      }
    }
  }
  for (const n of a.notExercised) g.note(n);
}

/** The active boundaries a window's packets really passed, in boundary order ("maybe" ones, such as
 *  a bypassed default qdisc, left out). */
function observedPath(loaded: LoadedMessage, dir: 'rx' | 'tx', c: WinCtx): string[] {
  return activeOf(loaded, dir)
    .filter((b) => applies(loaded, dir, b, c.kind, c.proto, c.qdisc) === 'yes')
    .filter((b) => seenAt(c.t, dir, b.name) > 0)
    .map((b) => b.name);
}

/**
 * The part of an observed path along which the end-to-end histogram covers the same packets as the
 * stages. The cumulative histogram at a boundary holds every packet from wherever it entered: when
 * a second population joins midway (TCP: the receiver's ACKs enter the TX path at ip_output or
 * net_dev_queue, after the data's sendmsg), the end-to-end median at the last boundary mixes both
 * and is not the sum of one population's stages. Entries are estimated from the stage counts (a
 * boundary's outgoing count above its incoming one); when one entry holds at least 2/3 of the
 * packets at the last boundary the path starts there, otherwise it ends where the second
 * population joins (the cumulative histogram there still holds only the first).
 */
function samePackets(t: Totals, dir: 'rx' | 'tx', seen: string[]): { path: string[]; note?: string } {
  const stageN = seen.slice(0, -1).map((b, i) => t.stage(dir, b, seen[i + 1]!)?.count ?? 0);
  const enter = seen.slice(0, -1).map((_, i) => (i === 0 ? stageN[0]! : Math.max(0, stageN[i]! - stageN[i - 1]!)));
  const nLast = t.cum(dir, seen[seen.length - 1]!)?.count ?? 0;
  let dom = 0;
  enter.forEach((n, i) => {
    if (n > enter[dom]!) dom = i;
  });
  if (enter[dom]! >= (2 / 3) * nLast) {
    return { path: seen.slice(dom), note: dom ? `most packets enter at ${seen[dom]}: compared from there` : undefined };
  }
  const m = enter.findIndex((n, i) => i > 0 && n >= nLast / 3);
  const end = m > 0 ? m : seen.length - 1;
  const entries = enter.map((n, i) => (n ? `${n} at ${seen[i]}` : '')).filter(Boolean).join(', ');
  return { path: seen.slice(0, end + 1), note: `packets enter at more than one boundary (${entries}; ${nLast} reach ${seen[seen.length - 1]}): compared over ${seen.slice(0, end + 1).join(' → ')}, before the second population joins` };
}

function checkConsistency(a: Analysis): void {
  const g = a.groups.consistency;
  for (const c of winCtxs(a)) {
    for (const dir of ['rx', 'tx'] as const) {
      const l = a.h1.loaded.get(dir);
      if (!l) {
        g.add(`${c.name} ${dir}: not loaded, nothing to compare`);
        continue;
      }
      const seen = observedPath(l.msg, dir, c);
      if (!g.check(seen.length >= 2, `${c.name} ${dir}: fewer than two boundaries saw packets (${seen.join(', ') || 'none'})\n${describeTotals(c.t, dir)}`)) continue;
      const { path, note } = samePackets(c.t, dir, seen);
      if (note) g.note(`${c.name.padEnd(12)} ${dir}: ${note}`);
      let sumP50 = 0;
      let sumMean = 0;
      const parts: string[] = [];
      for (let i = 0; i + 1 < path.length; i++) {
        const s = c.t.stage(dir, path[i]!, path[i + 1]!);
        if (!g.check(!!s && s.count > 0, `${c.name} ${dir}: stage ${path[i]}→${path[i + 1]} has no packets although both boundaries saw some`)) continue;
        sumP50 += p(s, 0.5);
        sumMean += mean(s);
        parts.push(`${path[i]}→${path[i + 1]} ${formatNs(p(s, 0.5))}`);
      }
      const last = path[path.length - 1]!;
      const e2e = c.t.cum(dir, last);
      if (!g.check(!!e2e && e2e.count > 0, `${c.name} ${dir}: no end-to-end histogram at ${last}`)) continue;
      const ratio = sumP50 / p(e2e, 0.5);
      const meanRatio = sumMean / mean(e2e);
      g.note(`${c.name.padEnd(12)} ${dir}: Σ p50 ${formatNs(sumP50).padStart(9)} vs end-to-end p50 ${formatNs(p(e2e, 0.5)).padStart(9)} at ${last} (n=${e2e!.count}): ratio ${ratio.toFixed(2)}; means ${meanRatio.toFixed(2)}  [${path.join(' → ')}]`);
      const within = (x: number, [lo, hi]: [number, number]) => x >= lo && x <= hi;
      g.check(
        within(meanRatio, MEAN_RATIO) || within(ratio, MEDIAN_RATIO),
        `${c.name} ${dir}: Σ stage mean ${formatNs(sumMean)} vs end-to-end mean ${formatNs(mean(e2e))} (ratio ${meanRatio.toFixed(2)} outside [${MEAN_RATIO.join(', ')}]) and Σ stage p50 ${formatNs(sumP50)} vs end-to-end p50 ${formatNs(p(e2e, 0.5))} at ${last} (ratio ${ratio.toFixed(2)} outside [${MEDIAN_RATIO.join(', ')}]) (${parts.join(', ')})`,
      );
    }
  }
}

function checkDelay(a: Analysis): void {
  const g = a.groups.delay;
  const q = a.ev.qdisc;
  const win = [...a.wins.values()].find((w) => isQdiscWindow(w.name));
  if (!q || !win) {
    g.add(`no known-delay window ran (qdisc event ${JSON.stringify(q)}, windows ${[...a.wins.keys()].join(', ')})`);
    return;
  }
  const tx = a.h1.loaded.get('tx');
  if (!tx) {
    g.add('tx did not load: the qdisc stage cannot be checked (see the load test)');
    return;
  }
  const f = win.flow;
  const sent = f?.client.sent ?? 0;
  let D: number;
  let bounds: [number, number];
  if (q.kind === 'netem') {
    D = (q.delay_ms ?? 0) * 1e6;
    bounds = NETEM_MEAN;
  } else {
    D = tbfModelNs(sent, f?.size ?? 0, q.rate_bps ?? 1, q.burst_bytes ?? 0);
    bounds = TBF_MEAN;
  }
  const qb = activeOf(tx.msg, 'tx').filter((b) => QDISC.test(b.name));
  if (!g.check(qb.length === 2, `two active qdisc boundaries (enqueue, dequeue) among tx's: ${activeOf(tx.msg, 'tx').map((b) => b.name).join(', ')}`)) return;
  const s = win.totals.stage('tx', qb[0]!.name, qb[1]!.name);
  const label = `${win.name} (${q.kind}${q.kind === 'netem' ? ` delay ${q.delay_ms} ms` : ` ${q.rate_bps} bit/s burst ${q.burst_bytes} B: model mean ${formatNs(D)}`})`;
  if (!g.check(!!s && s.count > 0, `${label}: ${qb[0]!.name}→${qb[1]!.name} has no packets\n${describeTotals(win.totals, 'tx')}`)) return;
  const { upper, outliers } = meanWithoutOutliers(s!, OUTLIER_FACTOR * D);
  g.note(
    `${label}: ${qb[0]!.name}→${qb[1]!.name} n=${s!.count} mean ${formatNs(mean(s))} (≤ ${formatNs(upper)} without ${outliers} stall outlier(s) ≥ ${formatNs(OUTLIER_FACTOR * D)}), p50 ${formatNs(p(s, 0.5))}; expected mean in [${formatNs(bounds[0] * D)}, ${formatNs(bounds[1] * D)}]`,
  );
  g.check(s!.count >= sent * 0.9 && s!.count <= sent + 3, `${label}: ${s!.count} packets through the qdisc stage for ${sent} datagrams sent`);
  g.check(mean(s) >= bounds[0] * D, `${label}: qdisc stage mean ${formatNs(mean(s))} below ${formatNs(bounds[0] * D)}`);
  g.check(outliers <= Math.max(1, OUTLIER_SHARE * s!.count), `${label}: ${outliers} of ${s!.count} packets waited ≥ ${formatNs(OUTLIER_FACTOR * D)} in the qdisc`);
  g.check(upper <= bounds[1] * D, `${label}: qdisc stage mean ${formatNs(upper)} (without stall outliers) above ${formatNs(bounds[1] * D)}`);
  // No stage before the qdisc carries the delay.
  const path = observedPath(tx.msg, 'tx', { name: win.name, t: win.totals, kind: pathKind(win.name, a.ev), proto: f?.proto ?? 'udp', qdisc: true });
  const qi = path.indexOf(qb[0]!.name);
  for (let i = 0; i + 1 <= qi; i++) {
    const st = win.totals.stage('tx', path[i]!, path[i + 1]!);
    if (!st || st.count === 0) continue;
    const m = meanWithoutOutliers(st, OUTLIER_FACTOR * D);
    g.note(`  earlier stage ${path[i]}→${path[i + 1]}: p50 ${formatNs(p(st, 0.5))}, mean ${formatNs(mean(st))} (≤ ${formatNs(m.upper)} without ${m.outliers} outlier(s))`);
    g.check(p(st, 0.5) < D / 2, `${label}: earlier stage ${path[i]}→${path[i + 1]} p50 ${formatNs(p(st, 0.5))} carries the delay`);
    g.check(m.upper < D / 2, `${label}: earlier stage ${path[i]}→${path[i + 1]} mean ${formatNs(m.upper)} carries the delay`);
  }
}

const NET_RX = 3;

function checkIrq(a: Analysis): void {
  const g = a.groups.irq;
  if (!a.h1.loaded.get('irq')) {
    g.add('irq did not load: nothing to check (see the load test)');
    return;
  }
  const t = Totals.of(a.h1.snapshots);
  const kinds = new Map<string, number>();
  for (const h of t.list({ slot: 'irq' })) kinds.set(h.kind, (kinds.get(h.kind) ?? 0) + h.count);
  g.note(`irq kinds over the run: ${[...kinds].map(([k, n]) => `${k}=${n}`).join(' ')}`);
  const count = (pred: (h: Hist) => boolean) => t.list({ slot: 'irq' }).filter(pred).reduce((s, h) => s + h.count, 0);
  for (const kind of ['softirq_delay', 'softirq_time']) {
    const n = count((h) => h.kind === kind && (h.vec === NET_RX || h.name === 'NET_RX'));
    g.check(n > 0, `${kind} NET_RX has no counts`);
  }
  g.check(count((h) => h.kind === 'napi_work') > 0, 'napi_work has no counts');
  // Raise → run stays paired where softirqs run (interrupt exit, ksoftirqd, or on PREEMPT_RT the
  // IRQ thread's local_bh_enable): every NET_RX run that had a raise measured it, and no delay is
  // a raise timestamp left over from long ago (those show as seconds).
  const delay = t.list({ slot: 'irq', kind: 'softirq_delay' }).filter((h) => h.name === 'NET_RX' && h.cpu === undefined);
  const runs = t.list({ slot: 'irq', kind: 'softirq_time' }).filter((h) => h.name === 'NET_RX' && h.cpu === undefined);
  const nd = delay.reduce((s, h) => s + h.count, 0);
  const nr = runs.reduce((s, h) => s + h.count, 0);
  for (const h of delay) {
    g.note(`NET_RX raise → run: n=${h.count} p50 ${formatNs(p(h, 0.5))} p99 ${formatNs(p(h, 0.99))}; runs ${nr}`);
    g.check(p(h, 0.99) < STALE_SOFTIRQ_NS, `NET_RX raise → run p99 ${formatNs(p(h, 0.99))}: a stale raise timestamp (≥ ${formatNs(STALE_SOFTIRQ_NS)})`);
  }
  g.check(nd <= nr && nd >= nr * 0.5, `NET_RX: ${nd} raise → run delays for ${nr} runs (each run follows at most one measured raise; most runs had one)`);
  // 1 in 4 timed (irq_measure_every = 4): every poll counted, a quarter in the work histogram, and
  // a timed softirq run timed from its raise to its end.
  const sw = a.wins.get('lo-udp4-irq4');
  if (g.check(sw !== undefined, 'the window at irq_measure_every = 4 is missing')) {
    const st = sw!.totals;
    const polls = st.counters.get('irq.napi_polls') ?? 0;
    const inHist = st.list({ slot: 'irq', kind: 'napi_work' }).reduce((s, h) => s + h.count, 0);
    const sd = st.list({ slot: 'irq', kind: 'softirq_delay' }).filter((h) => h.name === 'NET_RX').reduce((s, h) => s + h.count, 0);
    const sr = st.list({ slot: 'irq', kind: 'softirq_time' }).filter((h) => h.name === 'NET_RX').reduce((s, h) => s + h.count, 0);
    g.note(`at 1 in 4: ${inHist} of ${polls} NAPI polls in the work histogram; NET_RX runs timed ${sd} (delays) / ${sr} (run times)`);
    g.check(polls >= 100, `at 1 in 4: only ${polls} NAPI polls counted`);
    const share = polls ? inHist / polls : 0;
    g.check(share >= IRQ_SAMPLED_SHARE[0] / 4 && share <= IRQ_SAMPLED_SHARE[1] / 4, `at 1 in 4: ${inHist} of ${polls} NAPI polls in the work histogram (share ${share.toFixed(3)})`);
    g.check(sd > 0 && Math.abs(sd - sr) <= Math.max(3, 0.05 * sd), `at 1 in 4: ${sd} NET_RX delays but ${sr} run times (a timed run is timed from its raise to its end)`);
  }
  if (a.facts.kind !== 'guest') return;
  const hard = t.list({ slot: 'irq', kind: 'hardirq' }).filter((h) => h.count > 0);
  for (const h of hard) g.note(`  ${h.name}: n=${h.count} p50 ${formatNs(p(h, 0.5))} mean ${formatNs(mean(h))}`);
  const threads = a.h1.hello?.irq_threads === true;
  const thr = t.list({ slot: 'irq', kind: 'irq_thread_latency' }).filter((h) => h.count > 0);
  for (const h of thr) g.note(`  ${h.name}: n=${h.count} p50 ${formatNs(p(h, 0.5))} mean ${formatNs(mean(h))}`);
  for (const bus of [a.ev.nic?.server_bus, a.ev.nic?.peer_bus]) {
    if (!bus) {
      g.add('the scenario did not say which virtio devices the NICs are');
      continue;
    }
    const line = new RegExp(`\\b${bus}-input\\b`);
    g.check(count((h) => h.kind === 'hardirq' && line.test(h.name)) > 0, `hardirq for ${bus}-input has no counts (hardirq lines with counts: ${hard.map((h) => h.name).join(', ') || 'none'})`);
    if (threads) {
      g.check(count((h) => h.kind === 'irq_thread_latency' && line.test(h.name)) > 0, `hello says irq_threads, but irq_thread_latency for ${bus}-input has no counts (with counts: ${thr.map((h) => h.name).join(', ') || 'none'})`);
    }
  }
  if (a.facts.preemptRt && !threads) g.note(`PREEMPT_RT kernel, but hello has irq_threads ${String(a.h1.hello?.irq_threads ?? 'absent')}: threaded-IRQ latency not checked`);
}

/** Mean distance of a kernel receive stamp from the probes' clock at the entry (check_kernel_stamps):
 *  the stamp is taken a few instructions before the netif_rx tracepoint, so natively well under a
 *  microsecond; under TCG, where a vCPU can lose the host CPU between the two, allow a millisecond. */
export const STAMP_SKEW_NS = { host: 50e3, guest: 1e6 } as const;
/** In a window at irq_measure_every = N, the share of NAPI polls in the work histogram: 1/N up to
 *  the randomness of the gaps and the window's edges. */
export const IRQ_SAMPLED_SHARE: [number, number] = [0.5, 2];

/**
 * Kernel receive stamps (rx.bpf.c rx_kernel_stamp): with timestamping on, netif_rx's packets (loopback,
 * veth) take the kernel's stamp as their entry time; it must be within STAMP_SKEW_NS of the clock
 * (check_kernel_stamps), never refuted by the next boundary, and never taken from TCP's departure
 * time; a NIC with GRO enters at napi_gro_receive, before any stamp. Windows without timestamping
 * take none (guests: nothing else on them turns it on).
 */
/** What one timestamped window's rx entries took, from its counters. */
export interface StampWindow {
  name: string;
  kind: PathKind;
  proto: 'tcp' | 'udp';
  started: number;
  stamped: number;
  checked: number;
  /** Mean distance of a stamp from the probes' clock at the entry, ns (0 when none was checked). */
  skew: number;
}

/** The windows run with software receive timestamping on (named *-stamped). */
export function stampWindows(a: Analysis): StampWindow[] {
  const out: StampWindow[] = [];
  for (const [name, w] of a.wins) {
    if (!name.endsWith('-stamped')) continue;
    const c = (k: string) => w.totals.counters.get(`rx.${k}`) ?? 0;
    const checked = c('stamp_checked');
    out.push({ name, kind: pathKind(name, a.ev), proto: name.includes('tcp') ? 'tcp' : 'udp', started: c('started'), stamped: c('kernel_stamped'), checked, skew: checked ? c('stamp_skew_ns') / checked : 0 });
  }
  return out;
}

function checkStamps(a: Analysis): void {
  const g = a.groups.stamps;
  if (!a.h1.loaded.get('rx')) {
    g.add('rx did not load: nothing to check (see the load test)');
    return;
  }
  const bound = STAMP_SKEW_NS[a.facts.kind];
  let rejected = 0;
  for (const [name, w] of a.wins) {
    rejected += w.totals.counters.get('rx.stamp_rejected') ?? 0;
    const stamped = w.totals.counters.get('rx.kernel_stamped') ?? 0;
    if (!name.endsWith('-stamped') && a.facts.kind === 'guest') g.check(stamped === 0, `${name}: ${stamped} entries from kernel stamps with timestamping off`);
  }
  for (const w of stampWindows(a)) {
    g.note(`${w.name}: ${w.stamped} of ${w.started} entries from the kernel's stamp; mean distance from the clock ${formatNs(w.skew)}`);
    if (w.proto === 'tcp') {
      g.check(w.stamped <= 0.05 * w.started, `${w.name}: ${w.stamped} of ${w.started} TCP entries from skb->tstamp, which holds TCP's departure time there`);
    } else if (w.kind === 'virtio') {
      g.check(w.stamped === 0, `${w.name}: ${w.stamped} entries from stamps at a GRO NIC (it enters at napi_gro_receive, before the kernel stamps)`);
    } else {
      g.check(w.started > 0 && w.stamped >= 0.9 * w.started, `${w.name}: only ${w.stamped} of ${w.started} netif_rx entries took the kernel's stamp with timestamping on`);
      g.check(w.checked === w.stamped, `${w.name}: ${w.checked} of ${w.stamped} stamps checked against the clock`);
      g.check(w.skew <= bound, `${w.name}: stamps ${formatNs(w.skew)} from the clock on average (bound ${formatNs(bound)})`);
    }
  }
  g.check(rejected === 0, `${rejected} kernel stamps refuted by the next boundary`);
}

/**
 * The helper's host counters (HostSample in every snapshot): the server NIC's statistics move in
 * every NIC-path window; on guests, the virtio NICs' IRQ lines are named with their queue and
 * affinity in the first sample, virtio_net is the server NIC's driver, and its own counters
 * (`ethtool -S`) move with the traffic, its per-queue packet counts (where this kernel's
 * virtio_net names them) adding up to the interface's.
 */
function checkHostCounters(a: Analysis): void {
  const g = a.groups.host;
  const snaps = a.h1.snapshots;
  const samples = snaps.map((s) => s.host);
  if (!g.check(snaps.length > 0 && samples.every((x) => x), `host: ${samples.filter((x) => !x).length} of ${snaps.length} snapshots lack a host sample`)) return;
  const first = samples[0]!;
  const costs = samples.map((x) => x!.cost_ns).sort((x, y) => x - y);
  g.note(`host: ${samples.length} samples, collection ${formatNs(costs[Math.floor(costs.length / 2)]!)} median, ${formatNs(costs[costs.length - 1]!)} max; said once: ${samples.flatMap((x) => x!.errors ?? []).join('; ') || 'nothing'}`);
  const dev = a.ev.nic?.server_dev;
  if (!g.check(!!dev, 'host: the scenario did not say which device is the server NIC')) return;
  const movedDriver = new Map<string, number>();
  for (const name of [...a.wins.keys()].filter((n) => n.startsWith('nic-'))) {
    const end = snaps.find((s) => s.id === `end:${name}`)?.host;
    const nic = end?.ifaces.find((i) => i.name === dev && i.netns === 0);
    if (!g.check(!!nic, `host: window ${name}: ${dev} is not among the interfaces`)) continue;
    // the server receives in every window; over TCP it also sends (ACKs)
    const tcp = a.wins.get(name)?.flow?.proto === 'tcp';
    g.check((nic!.stats.rx_packets ?? 0) > 0 && (!tcp || (nic!.stats.tx_packets ?? 0) > 0), `host: window ${name}: ${dev} statistics did not move: ${JSON.stringify(nic!.stats)}`);
    for (const [k, v] of Object.entries(nic!.driver ?? {})) movedDriver.set(k, (movedDriver.get(k) ?? 0) + v);
    const perQueue = Object.entries(nic!.driver ?? {}).filter(([k]) => /^rx(?:_queue_)?\d+_packets$/.test(k));
    if (perQueue.length) {
      const sum = perQueue.reduce((x, [, v]) => x + v, 0);
      g.check(sum === nic!.stats.rx_packets, `host: window ${name}: ${dev}'s driver counts ${sum} packets received (${perQueue.map(([k, v]) => `${k} ${v}`).join(', ')}), its statistics ${nic!.stats.rx_packets}`);
    }
  }
  if (a.facts.kind !== 'guest') return;
  const cfg = first.ifaces.find((i) => i.name === dev && i.netns === 0)?.config;
  g.check(cfg?.driver === 'virtio_net', `host: ${dev}'s driver is ${cfg?.driver ?? 'not given'} in the first sample (want virtio_net)`);
  g.check(movedDriver.size > 0, `host: no driver counter of ${dev} (ethtool -S) moved with the NIC-path traffic`);
  g.note(`host: ${dev} (${cfg?.driver}) driver counters that moved: ${[...movedDriver].map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`);
  for (const [bus, iface] of [[a.ev.nic?.server_bus, dev], [a.ev.nic?.peer_bus, undefined]] as const) {
    if (!bus) continue;
    const lines = first.irqs.filter((l) => new RegExp(`^${bus}-(input|output)\\.\\d+$`).test(l.name));
    if (!g.check(lines.some((l) => l.name.startsWith(`${bus}-input.`)), `host: no ${bus}-input line among the IRQ lines of the first sample (${first.irqs.map((l) => l.name).join(', ')})`)) continue;
    for (const l of lines) {
      g.note(`host: IRQ ${l.irq} ${l.name}: queue ${JSON.stringify(l.queue)}, affinity ${l.affinity}, effective ${l.effective_affinity}`);
      g.check(l.queue?.device === bus && l.queue.queue === l.name.slice(bus.length + 1), `host: IRQ ${l.irq} ${l.name} is not named as ${bus}'s queue: ${JSON.stringify(l.queue)}`);
      // the peer NIC lives in another namespace: its interface is not the helper's to name
      if (iface) g.check(l.queue?.iface === iface, `host: IRQ ${l.irq} ${l.name} is not named as ${iface}'s: ${JSON.stringify(l.queue)}`);
      g.check(!!l.affinity && !!l.effective_affinity, `host: IRQ ${l.irq} ${l.name} has no affinity (${l.affinity}, ${l.effective_affinity})`);
    }
    const fired = samples.reduce((n, x) => n + x!.irqs.filter((l) => l.name === `${bus}-input.0`).reduce((m, l) => m + l.counts.reduce((p, c) => p + c, 0), 0), 0);
    g.check(fired > 0, `host: ${bus}-input.0 never fired in the host samples`);
  }
}

export const VERIFY_ALTERNATIVES = ['fentry', 'kprobe', 'netfilter', 'tp'] as const;

/** The alternative a program's name spells (nslat.h: <group>__<alt>[_what]). */
export function alternativeOf(name: string): string | undefined {
  const m = /__(fentry|fexit|kprobe|kretprobe|netfilter|tp|raw_tp)(?:_|$)/.exec(name);
  if (!m) return undefined;
  return ({ fexit: 'fentry', kretprobe: 'kprobe', raw_tp: 'tp' } as Record<string, string>)[m[1]!] ?? m[1]!;
}

/** What `verify` of one object and alternative found: its programs of that alternative verified,
 *  refused, or not loadable here (the attach type does not load on this kernel: the reason). */
export interface VerifyOutcome {
  verified: number;
  failed: Array<{ name: string; reason: string; log?: string }>;
  unavailable: Array<{ name: string; reason: string }>;
  error?: string;
}

export function verifyOutcome(a: Analysis, obj: string, alt: string): VerifyOutcome {
  const id = `verify:${obj}:${alt}`;
  const v = a.h1.verified.get(id);
  const out: VerifyOutcome = { verified: 0, failed: [], unavailable: [] };
  if (!v) {
    const e = a.h1.errors.find((x) => x.id === id);
    out.error = e ? describeError(e) : 'no reply';
    return out;
  }
  for (const pr of v.programs) {
    if (pr.status === 'failed') out.failed.push({ name: pr.name, reason: pr.reason ?? '', log: pr.log });
    else if (alternativeOf(pr.name) !== alt) continue;
    else if (pr.status === 'verified') out.verified++;
    else out.unavailable.push({ name: pr.name, reason: pr.reason ?? 'skipped' });
  }
  return out;
}

/** Every alternative of every object meets this kernel's verifier, whether or not it is chosen. */
function checkVerify(a: Analysis): void {
  const g = a.groups.verify;
  for (const obj of ['rx', 'tx', 'irq']) {
    for (const alt of VERIFY_ALTERNATIVES) {
      const o = verifyOutcome(a, obj, alt);
      if (o.error) {
        g.add(`verify ${obj} ${alt}: ${o.error}`);
        continue;
      }
      for (const f of o.failed) g.add(`verify ${obj} ${alt}: ${f.name} refused: ${f.reason}${f.log ? logExcerpt(f.log) : ''}`);
      g.note(`${obj} ${alt}: ${o.verified} verified${o.unavailable.length ? `, ${o.unavailable.length} not loadable here (${o.unavailable[0]!.reason})` : ''}`);
      // A kprobe program loads wherever its function is in the kernel's BTF, kprobes or not; fentry,
      // netfilter and tracepoint programs need the attach point or program type on this kernel.
      if (alt === 'kprobe') {
        g.check(o.unavailable.length === 0, `verify ${obj} ${alt}: ${o.unavailable.map((u) => `${u.name}: ${u.reason}`).join('; ')} did not load`);
      }
    }
  }
}

function checkLeaks(a: Analysis): void {
  const g = a.groups.leaks;
  for (const [name, h, exitWant] of [
    ['quit', a.h1, 0],
    ['sigkill', a.h2, 137],
  ] as const) {
    const ids = loadedProgIds(h);
    const ev = a.ev.leaks.get(name);
    const status = a.ev.exits.get(name);
    g.check(status === exitWant, `${name}: helper exit status ${status} (expected ${exitWant})`);
    if (name === 'quit') g.check(h.bye?.attached === 0, `quit: bye ${JSON.stringify(h.bye)} (expected attached 0)`);
    if (!g.check(!!ev, `${name}: no leak check ran`)) continue;
    if (ev!.error) g.add(`${name}: leak check failed: ${ev!.error}`);
    const unseen = ids.filter((id) => !ev!.ids.includes(id));
    g.check(unseen.length === 0, `${name}: nslat-guest did not find prog ids ${unseen.join(', ')} in the helper output`);
    const leaked = ids.filter((id) => ev!.still_loaded.includes(id));
    g.check(leaked.length === 0, `${name}: prog ids ${leaked.join(', ')} still loaded ${ev!.waited_ms} ms after the helper exited`);
    g.check(ids.length > 0, `${name}: the helper reported no prog ids (nothing loaded)`);
    g.note(`${name}: ${ids.length} programs, none left after ${ev!.waited_ms} ms`);
  }
}

/** Every group's report lines and the per-window totals, for the test log. */
export function reportOf(a: Analysis): string {
  const out: string[] = [`# ${a.facts.label}`];
  for (const gname of GROUPS) {
    const g = a.groups[gname];
    if (!g.report.length) continue;
    out.push(`## ${gname}`);
    for (const l of g.report) out.push(`  ${l}`);
  }
  if (process.env.NSLAT_MATRIX_VERBOSE) {
    for (const [name, w] of a.wins) out.push(`## window ${name}\n${describeTotals(w.totals, 'rx')}\n${describeTotals(w.totals, 'tx')}`);
  }
  return out.join('\n');
}

/**
 * Reading one matrix run's files: the helpers' stdout (every line validated with parseHelperMessage
 * from src/core/protocol.ts, plus the rules its comments state, as test/kernel/lib/helper.ts does
 * for a live helper), the scenario's events, and the traffic windows (merged snapshot deltas between
 * the `begin:<name>` and `end:<name>` replies).
 */
import { parseHelperMessage, type HelloMessage, type HelperMessage, type LoadedMessage, type SnapshotMessage, type VerifiedMessage } from '../../../src/core/protocol.ts';
import { Totals } from '../../kernel/lib/helper.ts';

export type ErrorMsg = Extract<HelperMessage, { type: 'error' }>;
export type ByeMsg = Extract<HelperMessage, { type: 'bye' }>;

export interface HelperOutput {
  /** Every valid message, in order. */
  messages: HelperMessage[];
  invalid: Array<{ line: string; error: string }>;
  hello?: HelloMessage;
  loaded: Map<string, { msg: LoadedMessage }>;
  errors: ErrorMsg[];
  bye?: ByeMsg;
  snapshots: SnapshotMessage[];
  /** `verified` replies by command id (verify:<object>:<alternative>). */
  verified: Map<string, VerifiedMessage>;
}

/** Validates every line of a helper's stdout. */
export function parseHelperOutput(text: string): HelperOutput {
  const out: HelperOutput = { messages: [], invalid: [], loaded: new Map(), errors: [], snapshots: [], verified: new Map() };
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let lastSeq: number | undefined;
  for (const line of lines) {
    if (line === '') {
      out.invalid.push({ line, error: 'empty line' });
      continue;
    }
    const r = parseHelperMessage(line);
    if (!r.ok) {
      out.invalid.push({ line: line.slice(0, 500), error: r.error.message });
      continue;
    }
    const m = r.value;
    out.messages.push(m);
    const bad = semantics(m, lastSeq);
    if (bad) out.invalid.push({ line: line.slice(0, 500), error: bad });
    switch (m.type) {
      case 'hello':
        out.hello ??= m;
        break;
      case 'loaded':
        out.loaded.set(m.slot, { msg: m });
        break;
      case 'error':
        out.errors.push(m);
        break;
      case 'bye':
        out.bye = m;
        break;
      case 'verified':
        out.verified.set(m.id, m);
        break;
      case 'snapshot':
        lastSeq = m.seq;
        out.snapshots.push(m);
        break;
      default:
        break;
    }
  }
  if (out.messages[0] && out.messages[0].type !== 'hello') out.invalid.push({ line: JSON.stringify(out.messages[0]).slice(0, 200), error: 'the first message is not hello' });
  return out;
}

/** What the schema cannot say but protocol.ts's comments do. */
function semantics(m: HelperMessage, lastSeq: number | undefined): string | undefined {
  if (m.type === 'snapshot') {
    if (lastSeq !== undefined && m.seq !== lastSeq + 1) return `snapshot seq ${m.seq} after ${lastSeq} (must increase by one)`;
    for (const slot of m.slots) {
      for (const h of slot.hists) {
        const n = h.buckets.reduce((a, [, c]) => a + c, 0);
        if (n !== h.count) return `slot ${slot.slot} hist ${h.name}: count ${h.count} but buckets hold ${n}`;
        if (h.count === 0 && h.sum !== 0) return `slot ${slot.slot} hist ${h.name}: sum ${h.sum} with count 0`;
        if (new Set(h.buckets.map(([b]) => b)).size !== h.buckets.length) return `slot ${slot.slot} hist ${h.name}: a bucket listed twice`;
      }
    }
  }
  if (m.type === 'loaded') {
    for (const p of m.programs) {
      if (p.status === 'attached' && (p.prog_id === undefined || p.attach === undefined)) return `program ${p.name} attached without prog_id/attach`;
      if (p.status !== 'attached' && !p.reason) return `program ${p.name} ${p.status} without a reason`;
    }
    const names = m.boundaries.map((b) => b.name);
    if (new Set(names).size !== names.length) return `boundary names repeat: ${names.join(', ')}`;
  }
  return undefined;
}

/** Program ids the `loaded` messages reported. */
export function loadedProgIds(h: HelperOutput): number[] {
  const ids = new Set<number>();
  for (const { msg } of h.loaded.values()) for (const p of msg.programs) if (p.prog_id !== undefined) ids.add(p.prog_id);
  return [...ids];
}

// ---------------------------------------------------------------- scenario events

export interface FlowSide {
  sent: number;
  received: number;
  bytes: number;
  reads: number;
  elapsed_ms: number;
  timeout: boolean;
  error?: string;
}
export interface FlowEvent {
  event: 'flow';
  name: string;
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  addr: string;
  port: number;
  count: number;
  size: number;
  interval_ms: number;
  client_netns: boolean;
  server: FlowSide;
  client: FlowSide;
  elapsed_ms: number;
  ok: boolean;
  error?: string;
}
export interface Events {
  all: Array<Record<string, unknown>>;
  invalid: string[];
  flows: Map<string, FlowEvent>;
  phases: Array<{ name: string; t_ms: number }>;
  nic?: { kind: 'virtio' | 'veth'; server_dev: string; peer_dev: string; server_bus: string; peer_bus: string; server_ifindex?: number };
  qdisc?: { kind: string; delay_ms?: number; rate_bps?: number; burst_bytes?: number };
  leaks: Map<string, { ids: number[]; still_loaded: number[]; waited_ms: number; error?: string }>;
  exits: Map<string, number>;
  /** Waits that timed out, errors the scenario reported. */
  failures: string[];
}

export function parseEvents(text: string): Events {
  const ev: Events = { all: [], invalid: [], flows: new Map(), phases: [], leaks: new Map(), exits: new Map(), failures: [] };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      ev.invalid.push(line.slice(0, 300));
      continue;
    }
    ev.all.push(o);
    switch (o.event) {
      case 'flow':
        ev.flows.set(String(o.name), o as unknown as FlowEvent);
        break;
      case 'phase':
        ev.phases.push({ name: String(o.name), t_ms: Number(o.t_ms) });
        break;
      case 'nic':
        ev.nic = o as unknown as Events['nic'];
        break;
      case 'qdisc':
        ev.qdisc = o as unknown as Events['qdisc'];
        break;
      case 'leak':
        ev.leaks.set(String(o.name), o as unknown as { ids: number[]; still_loaded: number[]; waited_ms: number; error?: string });
        break;
      case 'helper_exit':
        ev.exits.set(String(o.name), Number(o.status));
        break;
      case 'wait':
        ev.failures.push(`waited in vain for ${String(o.what)}: ${String(o.why ?? '')}`);
        break;
      case 'error':
        ev.failures.push(`scenario: ${String(o.what)}`);
        break;
      default:
        break;
    }
  }
  return ev;
}

/** Duration of each phase (until the next one), ms. */
export function phaseDurations(ev: Events): Array<{ name: string; ms: number }> {
  const out = [];
  for (let i = 0; i + 1 < ev.phases.length; i++) out.push({ name: ev.phases[i]!.name, ms: ev.phases[i + 1]!.t_ms - ev.phases[i]!.t_ms });
  return out;
}

// ---------------------------------------------------------------- windows

export interface Window {
  name: string;
  totals: Totals;
  snapshots: number;
  flow?: FlowEvent;
}

/**
 * The traffic windows: for each `begin:<name>` snapshot reply, the snapshots after it up to and
 * including the `end:<name>` reply, merged. Also reports snapshots nobody asked for (with
 * --interval-ms 0 there must be none) and windows whose end never came.
 */
export function windows(h: HelperOutput, ev: Events): { windows: Map<string, Window>; problems: string[] } {
  const out = new Map<string, Window>();
  const problems: string[] = [];
  const unasked = h.snapshots.filter((s) => s.id === undefined);
  if (unasked.length) problems.push(`${unasked.length} snapshot(s) without an id although the helper runs with --interval-ms 0 (first seq ${unasked[0]!.seq})`);
  let cur: { name: string; snaps: SnapshotMessage[] } | undefined;
  for (const s of h.snapshots) {
    const id = s.id ?? '';
    if (id.startsWith('begin:')) {
      if (cur) problems.push(`window ${cur.name} has no end snapshot before ${id}`);
      cur = { name: id.slice('begin:'.length), snaps: [] };
      continue;
    }
    if (!cur) continue;
    cur.snaps.push(s);
    if (id === `end:${cur.name}`) {
      out.set(cur.name, { name: cur.name, totals: Totals.of(cur.snaps), snapshots: cur.snaps.length, flow: ev.flows.get(cur.name) });
      cur = undefined;
    }
  }
  if (cur) problems.push(`window ${cur.name} has no end snapshot`);
  return { windows: out, problems };
}

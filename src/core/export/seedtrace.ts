/**
 * The seed-style text trace: one line per sampled packet per stage, e.g.
 *
 *   2026-11-25T18:00:01.500002Z rx netif_rx→netif_receive_skb delay=2481ns cumulative=2481ns tcp ipv4 sport=5201 dport=40123 len=1448 ifindex=1 cpu=0 sampled
 *
 * `<wall time> <dir> <stage from→to> delay=<ns>ns cumulative=<ns>ns <flow>`. The wall time is when
 * the packet reached the stage's `to` boundary; delay is the time between the two boundaries, and
 * cumulative the time since the packet's first boundary. (The original bpftrace script printed an
 * absolute timestamp where the delay belonged.) The last line of a journey also says how it ended
 * (`end=read`, `end=drop:NO_SOCKET`, …). Journeys with fewer than two marks print nothing.
 */
import { writeFileSync } from 'node:fs';
import type { JourneyMessage } from '../protocol.ts';

export interface SeedTraceOptions {
  /** Wall-clock ms for a monotonic ns timestamp (Aggregator.wallMs). Without it, the time column
   *  is monotonic seconds since boot with ns precision. */
  wallMs?: (mono_ns: number) => number;
}

const L4: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' };

/** ISO 8601 UTC with microseconds: 2026-11-25T18:00:01.500002Z */
export function isoMicros(ms: number): string {
  if (!Number.isFinite(ms)) return 'unknown-time';
  const whole = Math.floor(ms);
  const iso = new Date(whole).toISOString(); // …T18:00:01.500Z
  const micros = Math.min(999, Math.floor((ms - whole) * 1000));
  return `${iso.slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

function monoText(ns: number): string {
  const s = Math.floor(ns / 1e9);
  return `${s}.${String(Math.round(ns - s * 1e9)).padStart(9, '0')}`;
}

/** Flow description: protocol, family, ports, length, interface, CPU, why it was sampled. */
export function flowText(j: JourneyMessage): string {
  const parts: string[] = [];
  if (j.l4 !== undefined && j.l4 !== 0) parts.push(L4[j.l4] ?? `l4=${j.l4}`);
  if (j.family && j.family !== 'other') parts.push(j.family);
  if (j.sport !== undefined) parts.push(`sport=${j.sport}`);
  if (j.dport !== undefined) parts.push(`dport=${j.dport}`);
  if (j.len !== undefined) parts.push(`len=${j.len}`);
  if (j.ifindex !== undefined) parts.push(`ifindex=${j.ifindex}`);
  if (j.cpu !== undefined) parts.push(`cpu=${j.cpu}`);
  parts.push(j.reason);
  return parts.join(' ');
}

function clean(s: string): string {
  // one record per line: no control characters or spaces inside a field
  return s.replace(/[\s\u0000-\u001f\u007f]+/g, '_');
}

/** The lines of one journey. */
export function seedTraceLines(j: JourneyMessage, opts: SeedTraceOptions = {}): string[] {
  const marks = j.marks.map((m, i) => ({ ...m, i })).sort((a, b) => a.t_ns - b.t_ns || a.i - b.i);
  const out: string[] = [];
  const flow = flowText(j);
  for (let k = 1; k < marks.length; k++) {
    const prev = marks[k - 1]!;
    const cur = marks[k]!;
    const at = j.mono_ns + cur.t_ns;
    const when = opts.wallMs ? isoMicros(opts.wallMs(at)) : monoText(at);
    const delay = Math.round(cur.t_ns - prev.t_ns);
    const cumulative = Math.round(cur.t_ns);
    let line = `${when} ${j.dir} ${clean(prev.boundary)}→${clean(cur.boundary)} delay=${delay}ns cumulative=${cumulative}ns ${flow}`;
    if (k === marks.length - 1 && j.end) line += ` end=${clean(j.end)}`;
    out.push(line);
  }
  return out;
}

export function formatSeedTrace(journeys: Iterable<JourneyMessage>, opts: SeedTraceOptions = {}): string {
  const lines: string[] = [];
  for (const j of journeys) lines.push(...seedTraceLines(j, opts));
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export function writeSeedTrace(path: string, journeys: Iterable<JourneyMessage>, opts?: SeedTraceOptions): void {
  writeFileSync(path, formatSeedTrace(journeys, opts));
}

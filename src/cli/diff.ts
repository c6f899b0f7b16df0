/**
 * `nslat diff A.jsonl B.jsonl`: two saved traces — or two time ranges of one — compared stage by
 * stage (src/core/compare.ts): p50 and p99 of each, the shift, and whether it is larger than the
 * interval-to-interval noise. Both traces are read with the one trace reader (openTrace).
 */
import { basename } from 'node:path';
import type { Aggregator } from '../core/aggregate.ts';
import { compare, differences, windowOf } from '../core/compare.ts';
import { formatP, formatSigned, formatValue, unitOfKind, verdictShort, verdictText } from '../core/format.ts';
import type { Comparison, StageComparison, TimeRange } from '../core/protocol.ts';
import { layout } from '../core/text-table.ts';
import type { DiffCommand } from './args.ts';
import { readTrace } from './outputs.ts';

/** Seconds since the start of a trace's first interval → a wall-clock range. */
function rangeOf(agg: Aggregator, r: [number, number] | undefined): TimeRange | undefined {
  const first = agg.intervals()[0];
  if (!r || !first) return undefined;
  const t0 = first.t_ms - first.dur_ms;
  return { from_ms: t0 + r[0] * 1000, to_ms: t0 + r[1] * 1000 };
}

function describe(path: string, agg: Aggregator, range: [number, number] | undefined, at?: string): string {
  const host = agg.report().host;
  const where = range ? `, ${range[0]}–${range[1]} s` : at ? `, ${at}` : '';
  return `${basename(path)}${host && host !== 'local' ? ` (${host})` : ''}${where}`;
}

/** The comparison a diff command asks for; throws (with the reason) when it cannot be made. */
export async function diffOf(cmd: DiffCommand): Promise<Comparison> {
  const aggA = await readTrace(cmd.a);
  const aggB = cmd.b === undefined || cmd.b === cmd.a ? aggA : await readTrace(cmd.b);
  const opts = { ...(cmd.alpha !== undefined ? { alpha: cmd.alpha } : {}), ...(cmd.minPackets !== undefined ? { minPackets: cmd.minPackets } : {}) };
  if (cmd.atReload) {
    const marks = aggA.report().reloads.filter((r) => r.ok);
    const mark = marks[0];
    if (!mark) throw new Error(`${cmd.a} records no successful probe reload to split at`);
    const first = aggA.intervals()[0]!;
    const last = aggA.intervals().at(-1)!;
    const before = windowOf(aggA, describe(cmd.a, aggA, undefined, `before the ${mark.slot} reload`), { from_ms: first.t_ms - first.dur_ms, to_ms: mark.t_ms });
    const after = windowOf(aggA, describe(cmd.a, aggA, undefined, `after the ${mark.slot} reload`), { from_ms: mark.t_ms, to_ms: last.t_ms });
    return compare(before, after, opts);
  }
  const a = windowOf(aggA, describe(cmd.a, aggA, cmd.rangeA), rangeOf(aggA, cmd.rangeA));
  const b = windowOf(aggB, describe(cmd.b ?? cmd.a, aggB, cmd.rangeB), rangeOf(aggB, cmd.rangeB));
  if (a.intervals.length === 0) throw new Error(`window A, ${a.label}, holds no interval${cmd.rangeA ? ' in that range' : ''}`);
  if (b.intervals.length === 0) throw new Error(`window B, ${b.label}, holds no interval${cmd.rangeB ? ' in that range' : ''}`);
  return compare(a, b, opts);
}

function stageText(s: StageComparison): string {
  const dir = s.dir.toUpperCase();
  return s.kind === 'stage' || s.kind === 'cum' ? `${dir} ${s.kind === 'cum' ? `entry → ${s.name.split('→').pop()}` : s.name.replace('→', ' → ')}` : `${dir} ${s.name} [${s.kind}]`;
}

/** The comparison as a terminal table, then the stages that differ with their tests. */
export function formatComparison(c: Comparison, width = 120): string {
  const tests = c.stages.reduce((n, s) => n + (s.p50?.p_value !== null && s.p50 ? 1 : 0) + (s.p99?.p_value !== null && s.p99 ? 1 : 0), 0);
  const out: string[] = [];
  out.push(`nslat diff — A: ${c.a.label}, ${c.a.intervals} intervals; B: ${c.b.label}, ${c.b.intervals} intervals`);
  out.push(`Per stage, A's per-block p50 and p99 against B's (blocks: consecutive intervals of at least ${c.min_packets} packets) with the`);
  out.push(`Mann–Whitney U test, Holm-adjusted over ${tests} tests at α = ${c.alpha}; a shift smaller than one histogram bucket is not flagged.`);
  out.push('Δ: the shift of the per-block values (Hodges–Lehmann); * marks a shift beyond the noise.');
  const rows = c.stages.map((s) => {
    const unit = unitOfKind(s.kind);
    const v = (x: number | undefined) => (x === undefined ? '-' : formatValue(x, unit));
    const d = (q: 'p50' | 'p99') => {
      const x = s[q];
      return x ? `${formatSigned(x.shift, unit)}${x.significant ? ' *' : ''}` : '-';
    };
    return [stageText(s), s.a ? String(s.a.count) : '0', s.b ? String(s.b.count) : '0', v(s.p50?.a), v(s.p50?.b), d('p50'), v(s.p99?.a), v(s.p99?.b), d('p99'), verdictShort(s.verdict, s.kind)];
  });
  out.push('');
  if (rows.length === 0) out.push('No stage has packets in either window.');
  else out.push(...layout(['stage', 'A pkts', 'B pkts', 'A p50', 'B p50', 'Δ p50', 'A p99', 'B p99', 'Δ p99', 'verdict'], rows, width, [0, 9]));
  const diff = differences(c);
  out.push('');
  out.push(diff.length ? `${diff.length} stage${diff.length === 1 ? '' : 's'} differ${diff.length === 1 ? 's' : ''} beyond the interval-to-interval noise (* above):` : 'No stage differs beyond the interval-to-interval noise.');
  for (const s of diff) {
    const unit = unitOfKind(s.kind);
    const q = (name: 'p50' | 'p99') => {
      const x = s[name]!;
      return `${name} ${formatSigned(x.shift, unit)} (${formatP(x.adjusted)} adjusted${x.significant ? '' : ', not flagged'})`;
    };
    out.push(`  ${stageText(s)}: ${verdictText(s.verdict, s.kind)}: ${q('p50')}, ${q('p99')}`);
  }
  const few = c.stages.filter((s) => s.verdict === 'too_few');
  if (few.length) out.push(`${few.length} stage${few.length === 1 ? ' has' : 's have'} fewer than ${c.min_blocks} blocks on a side: not tested.`);
  return `${out.join('\n')}\n`;
}

/** Runs `nslat diff`; returns the exit status. */
export async function runDiff(cmd: DiffCommand, write: (s: string) => void): Promise<number> {
  const c = await diffOf(cmd);
  if (cmd.format === 'json') write(JSON.stringify({ ...c, differences: differences(c).map((s) => s.key) }, null, 2));
  else write(formatComparison(c, Math.max(100, process.stdout.columns || 140)));
  return 0;
}

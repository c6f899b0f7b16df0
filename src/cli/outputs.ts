/**
 * `--out FILE` for `nslat trace`: the JSON Lines trace and the seed-style text (.txt, every sampled
 * journey) are written as messages arrive, so a crash keeps what came before; the summaries
 * (.csv, .prom) are written from the aggregator at the end.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import type { Aggregator } from '../core/aggregate.ts';
import { openTrace, traceProblems, TraceWriter } from '../core/export/jsonl.ts';
import { toCsv } from '../core/export/csv.ts';
import { toOpenMetrics } from '../core/export/openmetrics.ts';
import { seedTraceLines } from '../core/export/seedtrace.ts';
import type { HelperMessage } from '../core/protocol.ts';
import type { OutFile } from './args.ts';

export interface Outputs {
  message(m: HelperMessage): void;
  close(agg: Aggregator): Promise<void>;
  written(): string[];
}

/** Opens every output now, so a path that cannot be written fails before tracing starts. */
export function openOutputs(files: OutFile[], host: string, agg: Aggregator): Outputs {
  const traces = files.filter((f) => f.kind === 'jsonl').map((f) => new TraceWriter(f.path, { host }));
  const texts = files.filter((f) => f.kind === 'txt').map((f) => ({ path: f.path, fd: openSync(f.path, 'w', 0o644) }));
  const summaries = files.filter((f) => f.kind === 'csv' || f.kind === 'prom');
  for (const f of summaries) writeFileSync(f.path, ''); // fail early on an unwritable path
  const done: string[] = [];
  let closed = false;
  return {
    message(m) {
      if (closed) return;
      for (const t of traces) t.write(m);
      if (m.type === 'journey' && texts.length) {
        const lines = seedTraceLines(m, { wallMs: (ns) => agg.wallMs(ns) });
        if (lines.length) for (const t of texts) writeSync(t.fd, `${lines.join('\n')}\n`);
      }
    },
    async close(a) {
      if (closed) return;
      closed = true;
      for (const t of traces) { t.close(); done.push(t.path); }
      for (const t of texts) { closeSync(t.fd); done.push(t.path); }
      const report = a.report();
      for (const f of summaries) {
        writeFileSync(f.path, f.kind === 'csv' ? toCsv(report) : toOpenMetrics(report));
        done.push(f.path);
      }
    },
    written: () => done,
  };
}

/** Reads a saved trace (openTrace, the one reader); bad lines are reported on stderr and skipped.
 *  Throws TraceOpenError when there is nothing to read. */
export async function readTrace(path: string): Promise<Aggregator> {
  const r = await openTrace(path);
  for (const p of traceProblems(r)) process.stderr.write(`nslat: ${path}: ${p}\n`);
  return r.aggregator;
}

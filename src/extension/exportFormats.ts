/** What "Export Trace" can write, rendered from a session's Aggregator and its raw trace (no vscode here). */
import { readFile } from 'node:fs/promises';
import type { Aggregator } from '../core/aggregate.ts';
import { toCsv } from '../core/export/csv.ts';
import { toOpenMetrics } from '../core/export/openmetrics.ts';
import { formatSeedTrace } from '../core/export/seedtrace.ts';

export type ExportFormat = 'jsonl' | 'csv' | 'openmetrics' | 'text';

export const EXPORT_FORMATS: ReadonlyArray<{ id: ExportFormat; label: string; ext: string; detail: string }> = [
  { id: 'jsonl', label: 'JSON Lines', ext: 'jsonl', detail: 'Every helper message as received: replay it with `nslat replay`' },
  { id: 'csv', label: 'CSV', ext: 'csv', detail: 'One row per stage: counts and latency percentiles over the session' },
  { id: 'openmetrics', label: 'OpenMetrics', ext: 'om', detail: 'Histograms and counters in the Prometheus/OpenMetrics text format' },
  { id: 'text', label: 'Text trace', ext: 'txt', detail: 'One line per sampled packet per stage (delay and cumulative time)' },
];

export interface ExportSource {
  aggregator: Aggregator;
  /** The session's JSON Lines trace file (written as messages arrive). */
  tracePath?: string;
}

export async function renderExport(format: ExportFormat, src: ExportSource): Promise<string> {
  const agg = src.aggregator;
  switch (format) {
    case 'jsonl':
      if (!src.tracePath) throw new Error('this session kept no JSON Lines trace');
      return readFile(src.tracePath, 'utf8');
    case 'csv':
      return toCsv(agg.report());
    case 'openmetrics':
      return toOpenMetrics(agg.report());
    case 'text':
      return formatSeedTrace(agg.journeys(), { wallMs: (ns) => agg.wallMs(ns) });
  }
}

import type { Aggregator } from '../core/aggregate.ts';
export type ExportFormat = 'jsonl' | 'csv' | 'openmetrics' | 'seedtrace';
export const EXPORT_FORMATS = [
  { id: 'jsonl', label: 'JSON Lines', ext: 'jsonl', detail: '' },
] as const;
export async function renderExport(_f: ExportFormat, _a: Aggregator): Promise<string> {
  return '';
}

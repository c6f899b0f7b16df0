/**
 * Per-stage summary as CSV (RFC 4180: CRLF line ends, a header row, fields containing a comma,
 * double quote, CR or LF enclosed in double quotes with inner quotes doubled).
 *
 * Columns: dir, kind, stage, from, to, cpu, irq, vec, total_over_cpus, unit, attach, mechanism
 * (every attach type feeding the stage's boundary, "+"-joined), skip_reason,
 * count, sum, mean, p50, p90, p99, p999, max. Latency values are ns (unit "ns"); NAPI work is in
 * packets (unit "packets"). Percentiles are empty for stages without data. Skipped boundaries are
 * rows of kind "boundary" with their skip reason, as in the JSON document.
 *
 * The last column, buckets, is the stage's histogram: its nonempty log-linear buckets as
 * space-separated LOW-HIGH:COUNT, the inclusive integer range of the bucket in the stage's unit
 * ("1024-1151:12 1152-1279:30"), the open-ended last bucket as LOW-:COUNT.
 *
 * Then one row of kind "loss" per loss of the report (the protocol's loss counters, then
 * lost_snapshots), in the columns stage (its name), count (how many were lost), loss_of (how many
 * it is a share of), loss_base (started_packets, hard_irqs or snapshots) and loss_share
 * (count / loss_of; empty when loss_of is 0). Stage rows leave the loss columns empty.
 */
import { writeFileSync } from 'node:fs';
import type { Report } from '../aggregate.ts';
import { toJsonDocument } from '../report.ts';
import { bucketLower, bucketUpper } from '../hist.ts';

export const CSV_COLUMNS = [
  'dir',
  'kind',
  'stage',
  'from',
  'to',
  'cpu',
  'irq',
  'vec',
  'total_over_cpus',
  'unit',
  'attach',
  'mechanism',
  'skip_reason',
  'count',
  'sum',
  'mean',
  'p50',
  'p90',
  'p99',
  'p999',
  'max',
  'loss_of',
  'loss_base',
  'loss_share',
  'buckets',
] as const;

type CsvRecord = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | boolean | null | undefined>>;

/** One RFC 4180 field. */
export function csvField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  let s: string;
  if (typeof v === 'number') s = Number.isFinite(v) ? String(Number.isInteger(v) ? v : Math.round(v * 1000) / 1000) : '';
  else s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Sparse [bucket, count] pairs as "LOW-HIGH:COUNT …" (see the columns above). */
export function bucketsField(pairs: ReadonlyArray<readonly [number, number]>): string {
  return pairs
    .filter(([, n]) => n > 0)
    .map(([i, n]) => {
      const hi = bucketUpper(i);
      return `${bucketLower(i)}-${Number.isFinite(hi) ? hi : ''}:${n}`;
    })
    .join(' ');
}

export function toCsv(report: Report): string {
  const doc = toJsonDocument(report);
  const rows: string[] = [CSV_COLUMNS.join(',')];
  for (const s of doc.stages) {
    const rec: CsvRecord = {
      dir: s.dir,
      kind: s.kind,
      stage: s.name,
      from: s.from,
      to: s.to,
      cpu: s.cpu,
      irq: s.irq,
      vec: s.vec,
      total_over_cpus: s.total_over_cpus,
      unit: s.unit,
      attach: s.attach,
      mechanism: s.mechanism,
      skip_reason: s.skip_reason,
      count: s.count,
      sum: s.sum,
      mean: s.mean,
      p50: s.p50,
      p90: s.p90,
      p99: s.p99,
      p999: s.p999,
      max: s.max,
      buckets: bucketsField(s.buckets),
    };
    rows.push(CSV_COLUMNS.map((c) => csvField(rec[c])).join(','));
  }
  for (const l of report.loss) {
    // shares can be tiny (1 in 10 M): written in full, not rounded like the other fields
    const rec: CsvRecord = { kind: 'loss', stage: l.name, count: l.total, loss_of: l.of, loss_base: l.base, loss_share: l.share === null ? null : String(l.share) };
    rows.push(CSV_COLUMNS.map((c) => csvField(rec[c])).join(','));
  }
  return `${rows.join('\r\n')}\r\n`;
}

export function writeCsv(path: string, report: Report): void {
  writeFileSync(path, toCsv(report));
}

/** Parses RFC 4180 text back into rows (used by tests and by anyone re-reading an export). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  let any = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      any = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      any = true;
      i++;
    } else if (c === '\r' || c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      any = false;
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      any = true;
      i++;
    }
  }
  if (any || field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

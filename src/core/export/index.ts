/** Exports of a session: JSON Lines trace (and replay), CSV, OpenMetrics, seed-style text trace. */
export { TraceWriter, readTrace, openTrace, traceProblems, TraceHeader, TraceOpenError, TraceProtocolError, TraceRecord, TRACE_VERSION } from './jsonl.ts';
export type { TraceWriterInfo, TraceReadResult, TraceLineError, ReadTraceOptions } from './jsonl.ts';
export { toCsv, writeCsv, parseCsv, csvField, bucketsField, CSV_COLUMNS } from './csv.ts';
export { toOpenMetrics, writeOpenMetrics, escapeLabel, nsToSecondsText, boundsFor, isBound, formatFor, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE, PER_OCTAVE } from './openmetrics.ts';
export type { OpenMetricsOptions, LiveStatus, PerOctave, ExpositionFormat } from './openmetrics.ts';
export { formatSeedTrace, seedTraceLines, writeSeedTrace, flowText, isoMicros } from './seedtrace.ts';
export type { SeedTraceOptions } from './seedtrace.ts';

/**
 * Saved traces (`.jsonl`) open in the latency panel: a read-only custom editor whose webview is the
 * panel itself, fed by the trace replayed into an Aggregator with the one trace reader (openTrace,
 * as `nslat replay` and `nslat diff` read it). The panel then shows the trace with a time scrubber
 * over its intervals, and a range selection on its time axis compares two parts of it. A trace
 * that cannot be shown (another protocol version, no nslat message) says why in the panel.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import type { Aggregator } from '../core/aggregate.ts';
import { compareRanges } from '../core/compare.ts';
import { openTrace, traceProblems, TraceOpenError, type TraceReadResult } from '../core/export/jsonl.ts';
import { FromPanel, type PanelState, type ToPanel } from '../core/protocol.ts';
import { exportTrace } from './exportTrace.ts';
import { buildHtml, emptyPanelState, webviewOptions } from './panel.ts';
import { PanelPump } from './panelPump.ts';

/** Traces nslat names itself (nslat-<host>-<time>.jsonl, *.nslat.jsonl) open here by default;
 *  any other .jsonl through "Open Trace in Panel" or "Reopen Editor With…". */
export const TRACE_VIEW_TYPE = 'nslat.trace';
export const TRACE_ANY_VIEW_TYPE = 'nslat.traceAny';

export class TraceDocument implements vscode.CustomDocument {
  constructor(
    readonly uri: vscode.Uri,
    readonly trace: TraceReadResult | undefined,
    readonly error: TraceOpenError | Error | undefined,
  ) {}

  dispose(): void {}
}

export class TraceEditorProvider implements vscode.CustomReadonlyEditorProvider<TraceDocument> {
  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  async openCustomDocument(uri: vscode.Uri): Promise<TraceDocument> {
    if (uri.scheme !== 'file') return new TraceDocument(uri, undefined, new Error(`${uri.toString(true)} is not a local file; nslat opens traces from the file system`));
    try {
      const trace = await openTrace(uri.fsPath);
      for (const p of traceProblems(trace)) this.log.warn(`trace ${uri.fsPath}: ${p}`);
      return new TraceDocument(uri, trace, undefined);
    } catch (e) {
      this.log.warn(`trace ${uri.fsPath}: ${(e as Error).message}`);
      return new TraceDocument(uri, undefined, e as Error);
    }
  }

  resolveCustomEditor(doc: TraceDocument, panel: vscode.WebviewPanel): void {
    panel.webview.options = webviewOptions(this.extensionUri);
    const post = (m: ToPanel) => void panel.webview.postMessage(m).then(undefined, (e: unknown) => this.log.warn(`trace panel: postMessage failed: ${String(e)}`));
    const pump = new PanelPump(post, { empty: () => errorState(doc) });
    const agg = doc.trace?.aggregator;
    if (agg && doc.trace) agg.setSession(traceSession(doc.uri.fsPath, doc.trace));
    pump.setSource(agg);
    pump.attach(panel.visible);
    panel.webview.html = buildHtml(panel.webview, this.extensionUri);
    const subs = [
      panel.onDidChangeViewState(() => pump.setVisible(panel.visible)),
      panel.webview.onDidReceiveMessage((raw: unknown) => {
        const r = FromPanel.safeParse(raw);
        if (!r.success) return;
        const m = r.data;
        if (m.type === 'ready') {
          pump.setVisible(panel.visible);
          pump.setReady();
        } else if (m.type === 'compareRanges' && agg) {
          post({ type: 'comparison', ...compareRanges(agg, basename(doc.uri.fsPath), m.a, m.b) });
        } else if (m.type === 'command' && m.command === 'export' && agg) {
          void exportTrace({ aggregator: agg, tracePath: doc.uri.fsPath }, agg.report().host, this.log);
        }
      }),
    ];
    panel.onDidDispose(() => {
      pump.detach();
      for (const d of subs) d.dispose();
    });
  }
}

/** What the panel's header says about a trace. */
function traceSession(path: string, t: TraceReadResult): Partial<PanelState['session']> {
  const ivs = t.aggregator.intervals();
  const span = ivs.length ? (ivs.at(-1)!.t_ms - (ivs[0]!.t_ms - ivs[0]!.dur_ms)) / 1000 : 0;
  const problems = traceProblems(t, 2);
  const started = t.header?.started ? ` recorded ${t.header.started.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}` : '';
  return {
    state: 'stopped',
    message: `Saved trace ${basename(path)}${started}: ${ivs.length} intervals over ${span < 120 ? `${span.toFixed(0)} s` : `${(span / 60).toFixed(1)} min`}; read-only.${problems.length ? ` Skipped: ${problems.join('; ')}.` : ''}`,
    trace: { file: basename(path), intervals: ivs.length },
  };
}

function errorState(doc: TraceDocument): PanelState {
  const e = doc.error;
  const why = e instanceof TraceOpenError ? `${basename(e.path)} ${e.kind === 'protocol' ? `cannot be shown: ${e.reason}` : e.reason}. ${e.hint}` : (e?.message ?? 'the trace could not be read');
  const state = emptyPanelState(why);
  state.session = { host: basename(doc.uri.fsPath), state: 'failed', message: why, trace: { file: basename(doc.uri.fsPath), intervals: 0 } };
  return state;
}

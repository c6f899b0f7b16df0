/**
 * Editing probes while the session runs: "Open Probe Sources" copies the session's probe files to an
 * editable folder (the workspace's `.nslat/probes/`, or the extension's global storage without a
 * workspace) and opens them; saving one (or "Reload Probes") rebuilds it on the target and reloads
 * it make-before-break. Compile errors and verifier rejections land in the Problems view on their
 * line and column; the old probes keep running; the panel marks every reload, good or failed.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as vscode from 'vscode';
import type { Aggregator } from '../core/aggregate.ts';
import type { Diagnostic as CoreDiagnostic } from '../core/diagnostic.ts';
import type { ReloadResult, Session } from '../core/session.ts';
import { withoutServerDuplicates, type DiagLike } from './lspSync.ts';

export interface ActiveSession {
  session: Session;
  aggregator: Aggregator;
  /** "this machine" or the SSH destination, for messages. */
  hostLabel: string;
}

const SEVERITY: Record<CoreDiagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  note: vscode.DiagnosticSeverity.Information,
};

/** A core diagnostic (1-based line/column, 0 = unknown) as a VS Code one (0-based). */
export function toVscodeDiagnostic(d: CoreDiagnostic): vscode.Diagnostic {
  const line = Math.max(0, d.line - 1);
  const col = Math.max(0, d.column - 1);
  // An empty range: the editor widens it to the word at that position.
  const diag = new vscode.Diagnostic(new vscode.Range(line, col, line, col), d.message, SEVERITY[d.severity] ?? vscode.DiagnosticSeverity.Error);
  diag.source = `nslat ${d.source}`;
  return diag;
}

export class ProbeEditor implements vscode.Disposable {
  readonly diagnostics = vscode.languages.createDiagnosticCollection('nslat');
  /** Editable copy (absolute path) → slot it feeds. */
  private readonly copies = new Map<string, string>();
  /** Files that got diagnostics from a slot's last reload, to clear them on the next one. */
  private readonly diagFiles = new Map<string, Set<string>>();
  /** What this collection shows per file (absolute path): the reload's diagnostics minus those the
   *  language server already shows. Once the server shows one, it owns it (it follows the edits). */
  private readonly shown = new Map<string, vscode.Diagnostic[]>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly inFlight = new Map<string, Promise<ReloadResult | undefined>>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    private readonly active: () => ActiveSession | undefined,
    private readonly revealPanel: () => void,
    /** True while the probe language server runs (its compile errors are in the Problems view). */
    private readonly serverRunning: () => boolean = () => false,
  ) {
    this.disposables.push(
      this.diagnostics,
      // The server's diagnostics often arrive after the reload's (or the other way round).
      vscode.languages.onDidChangeDiagnostics((e) => {
        for (const uri of e.uris) if (uri.scheme === 'file' && this.shown.has(uri.fsPath)) this.dedupe(uri.fsPath);
      }),
      vscode.workspace.onDidSaveTextDocument((doc) => {
        const slot = this.slotOf(doc.uri);
        if (slot) void this.reload(slot, doc.uri.fsPath, 'save');
      }),
    );
  }

  /** Where editable copies live. */
  folder(): string {
    const ws = vscode.workspace.workspaceFolders?.[0];
    if (ws && ws.uri.scheme === 'file') return join(ws.uri.fsPath, '.nslat', 'probes');
    return join(this.context.globalStorageUri.fsPath, 'probes');
  }

  slotOf(uri: vscode.Uri): string | undefined {
    if (uri.scheme !== 'file') return undefined;
    return this.copies.get(resolve(uri.fsPath));
  }

  /** The editable copies of the current session, by slot. */
  copiesBySlot(): Map<string, string> {
    const m = new Map<string, string>();
    for (const [path, slot] of this.copies) m.set(slot, path);
    return m;
  }

  /** A new session: its reloads start from a clean slate (old diagnostics would point at old runs). */
  forgetSession(): void {
    this.copies.clear();
    this.diagnostics.clear();
    this.diagFiles.clear();
    this.shown.clear();
  }

  /** "Open Probe Sources". */
  async open(): Promise<void> {
    const a = this.active();
    if (!a) {
      void vscode.window.showWarningMessage('nslat: no session is running. Start one with "nslat: Start Stack Trace" first: the probes you open are the ones it runs.');
      return;
    }
    const sources = a.session.probeSources();
    const dir = this.folder();
    mkdirSync(dir, { recursive: true });
    const plan: Array<{ slot: string; from: string; to: string; same: boolean; exists: boolean }> = [];
    for (const s of sources) {
      const to = join(dir, basename(s.path));
      const from = resolve(s.path);
      const exists = existsSync(to);
      plan.push({ slot: s.slot, from, to, exists, same: from === resolve(to) || (exists && sameContent(from, to)) });
    }
    const differing = plan.filter((p) => p.exists && !p.same);
    let replace = true;
    if (differing.length > 0) {
      const pick = await vscode.window.showWarningMessage(
        `nslat: ${differing.map((p) => basename(p.to)).join(', ')} in ${dir} differ from the probes running on ${a.hostLabel}.`,
        { modal: true, detail: 'Replace them with the running probes, or keep your copies (saving one then loads it).' },
        'Replace',
        'Keep Mine',
      );
      if (!pick) return;
      replace = pick === 'Replace';
    }
    for (const p of plan) {
      if (!p.same && (!p.exists || replace)) copyFileSync(p.from, p.to);
      this.copies.set(resolve(p.to), p.slot);
    }
    this.log.info(`probe sources for ${a.hostLabel} in ${dir}: ${plan.map((p) => `${p.slot} ← ${p.from}`).join(', ')}`);

    // Next to the panel when it is showing, so the reload marks stay in view.
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Active : vscode.ViewColumn.Beside;
    // The first slot's file ends up in front, with the focus.
    for (const [i, p] of [...plan].reverse().entries()) {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(p.to));
      await vscode.window.showTextDocument(doc, { preview: false, viewColumn: column, preserveFocus: i < plan.length - 1 });
    }
    void vscode.window.showInformationMessage(
      `nslat: probe sources opened from ${dir}. They run on ${a.hostLabel}: saving one rebuilds it there and reloads it; if it fails, the old probes keep running.`,
    );
  }

  /** "Reload Probes": the active probe copy (saved first), else every slot. */
  async reloadCommand(): Promise<void> {
    const a = this.active();
    if (!a) {
      void vscode.window.showWarningMessage('nslat: no session is running; nothing to reload.');
      return;
    }
    const editor = vscode.window.activeTextEditor;
    const slot = editor ? this.slotOf(editor.document.uri) : undefined;
    if (editor && slot) {
      // Saving triggers the reload through onDidSaveTextDocument.
      if (editor.document.isDirty) {
        await editor.document.save();
        return;
      }
      await this.reload(slot, editor.document.uri.fsPath, 'command');
      return;
    }
    const bySlot = this.copiesBySlot();
    const slots = a.session.probeSources().map((s) => s.slot);
    await Promise.all(slots.map((s) => this.reload(s, bySlot.get(s), 'command')));
  }

  /** Rebuilds and reloads one slot; shows the outcome. Concurrent saves of one slot coalesce. */
  async reload(slot: string, path: string | undefined, why: 'save' | 'command'): Promise<ReloadResult | undefined> {
    const a = this.active();
    if (!a) {
      if (why === 'save') this.log.info(`saved a probe for slot ${slot}, but no session is running: nothing reloaded`);
      return undefined;
    }
    const prev = this.inFlight.get(slot) ?? Promise.resolve(undefined);
    const run = prev.then(() => this.doReload(a, slot, path));
    this.inFlight.set(slot, run);
    try {
      return await run;
    } finally {
      if (this.inFlight.get(slot) === run) this.inFlight.delete(slot);
    }
  }

  private async doReload(a: ActiveSession, slot: string, path: string | undefined): Promise<ReloadResult | undefined> {
    const name = path ? basename(path) : slot;
    this.log.info(`reload ${slot} from ${path ?? 'its current source'} on ${a.hostLabel}`);
    a.aggregator.setSession({ state: 'reloading', message: `recompiling ${name} for ${a.hostLabel}` });
    const t0 = Date.now();
    let r: ReloadResult;
    try {
      r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: `nslat: recompiling ${name}` },
        () => a.session.reload(slot, path),
      );
    } catch (e) {
      r = { ok: false, slot, diagnostics: [], error: (e as Error).message };
    }
    const ms = Date.now() - t0;
    const ended = a.session.ended;
    const at = new Date().toLocaleTimeString();
    this.clearSlot(slot);
    if (r.ok) {
      const attached = r.loaded.programs.filter((p) => p.status === 'attached').length;
      this.log.info(`reloaded ${slot} in ${ms} ms: ${attached}/${r.loaded.programs.length} programs attached (prog ids ${progIds(r.loaded.programs)})`);
      if (r.warnings.length) this.setDiagnostics(slot, r.warnings, path);
      a.aggregator.setSession({ state: ended ? 'stopped' : 'running', message: `Reloaded ${name} at ${at}: ${attached} program${attached === 1 ? '' : 's'} attached.` });
      // The `loaded` message (replaced: true) marks the reload in the panel via the aggregator.
      void vscode.window.showInformationMessage(`nslat: reloaded ${name} on ${a.hostLabel} (${attached} program${attached === 1 ? '' : 's'} attached).`);
    } else {
      this.log.warn(`reload of ${slot} failed after ${ms} ms: ${r.error}`);
      for (const d of r.diagnostics) this.log.warn(`  ${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`);
      const diags = r.diagnostics.length
        ? r.diagnostics
        : [{ file: path ?? '', line: 0, column: 0, severity: 'error' as const, message: r.error, source: 'helper' as const }];
      this.setDiagnostics(slot, diags, path);
      a.aggregator.markReload(slot, false, firstLine(r.diagnostics[0]?.message ?? r.error));
      a.aggregator.setSession({
        state: ended ? 'stopped' : 'running',
        message: `Reload of ${name} failed at ${at}; the previous probes keep running. ${firstLine(r.diagnostics[0]?.message ?? r.error)}`,
      });
      // "No clang anywhere" is said once a session; later saves only update the diagnostic.
      if (!r.alreadySaid) void vscode.window
        .showErrorMessage(`nslat: ${name} was not reloaded; the previous probes keep running. ${firstLine(r.diagnostics[0]?.message ?? r.error)}`, 'Show Problems', 'Show Panel')
        .then((pick) => {
          if (pick === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
          else if (pick === 'Show Panel') this.revealPanel();
        });
    }
    return r;
  }

  /** Warnings of a load that went on without some programs (the verifier refused them), on the
   *  probe sources they come from; the next reload of the slot replaces them. */
  showLoadWarnings(items: Array<{ slot: string; diagnostic: CoreDiagnostic }>): void {
    const bySlot = new Map<string, CoreDiagnostic[]>();
    for (const i of items) bySlot.set(i.slot, [...(bySlot.get(i.slot) ?? []), i.diagnostic]);
    for (const [slot, diags] of bySlot) this.setDiagnostics(slot, diags, diags[0]?.file);
  }

  private clearSlot(slot: string): void {
    for (const f of this.diagFiles.get(slot) ?? []) {
      this.diagnostics.delete(vscode.Uri.file(f));
      this.shown.delete(f);
    }
    this.diagFiles.delete(slot);
  }

  /** Puts diagnostics on the files they name: our copies first, then any readable local file. */
  private setDiagnostics(slot: string, diags: CoreDiagnostic[], fallback: string | undefined): void {
    const byFile = new Map<string, vscode.Diagnostic[]>();
    for (const d of diags) {
      const file = this.localFileFor(d.file, fallback);
      if (!file) {
        this.log.warn(`diagnostic for ${d.file} has no local file: ${d.message}`);
        continue;
      }
      const list = byFile.get(file) ?? [];
      list.push(toVscodeDiagnostic(d));
      byFile.set(file, list);
    }
    const files = this.diagFiles.get(slot) ?? new Set<string>();
    for (const [file, list] of byFile) {
      this.shown.set(file, list);
      this.diagnostics.set(vscode.Uri.file(file), list);
      this.dedupe(file);
      files.add(file);
    }
    this.diagFiles.set(slot, files);
  }

  /** One error, not two: drops the reload's compile diagnostics on `file` that the language server
   *  shows too (same line and message). Verifier rejections stay: only the reload knows them. */
  private dedupe(file: string): void {
    const ours = this.shown.get(file);
    if (!ours?.length || !this.serverRunning()) return;
    const uri = vscode.Uri.file(file);
    const server: DiagLike[] = vscode.languages
      .getDiagnostics(uri)
      .map((d) => ({ line: d.range.start.line, message: d.message, source: d.source }));
    const kept = withoutServerDuplicates(ours.map((d) => ({ line: d.range.start.line, message: d.message, source: d.source, d })), server).map((x) => x.d);
    if (kept.length === ours.length) return;
    this.log.info(`${ours.length - kept.length} reload diagnostic(s) on ${basename(file)} left to the language server, which shows the same`);
    this.shown.set(file, kept);
    if (kept.length) this.diagnostics.set(uri, kept);
    else this.diagnostics.delete(uri);
  }

  private localFileFor(file: string, fallback: string | undefined): string | undefined {
    if (file) {
      const abs = resolve(file);
      if (this.copies.has(abs) || existsSync(abs)) return abs;
      const base = basename(file);
      for (const p of this.copies.keys()) if (basename(p) === base) return p;
      const bpf = join(this.context.extensionUri.fsPath, 'bpf');
      for (const sub of ['include', 'probes', '.']) {
        const cand = join(bpf, sub, base);
        if (existsSync(cand)) return cand;
      }
    }
    return fallback;
  }

  /** The panel asked for the probe that feeds a boundary: open the copy at the boundary's enum entry
   *  (NSLAT_<DIR>_<NAME>), else at the first mention of its name. */
  async revealBoundary(boundary: string): Promise<void> {
    if (!/^[A-Za-z0-9_]{1,64}$/.test(boundary)) return;
    if (this.copies.size === 0) await this.open();
    const patterns = [new RegExp(`\\bNSLAT_[A-Z0-9]+_${boundary.toUpperCase()}\\b`), new RegExp(`\\b${boundary}\\b`)];
    for (const re of patterns) {
      for (const path of this.copies.keys()) {
        let text: string;
        try {
          text = readFileSync(path, 'utf8');
        } catch {
          continue;
        }
        const m = re.exec(text);
        if (!m) continue;
        const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path));
        const start = doc.positionAt(m.index);
        const range = new vscode.Range(start, start.translate(0, m[0].length));
        await vscode.window.showTextDocument(doc, { selection: range, preview: false, viewColumn: vscode.ViewColumn.Beside });
        return;
      }
    }
    void vscode.window.showInformationMessage(`nslat: no probe source mentions "${boundary}".`);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function sameContent(a: string, b: string): boolean {
  try {
    return readFileSync(a).equals(readFileSync(b));
  } catch {
    return false;
  }
}

function firstLine(s: string): string {
  const l = s.split('\n')[0] ?? '';
  return l.length > 300 ? `${l.slice(0, 300)}…` : l;
}

export function progIds(programs: Array<{ prog_id?: number }>): string {
  const ids = programs.map((p) => p.prog_id).filter((x): x is number => typeof x === 'number');
  return ids.length ? ids.join(', ') : 'none';
}

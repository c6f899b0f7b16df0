/** "Export Trace": pick a format, pick a file, write what the session's Aggregator holds. */
import { copyFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { EXPORT_FORMATS, renderExport, type ExportSource } from './exportFormats.ts';

export async function exportTrace(src: ExportSource, host: string, log: vscode.LogOutputChannel): Promise<void> {
  const pick = await vscode.window.showQuickPick(
    EXPORT_FORMATS.map((f) => ({ label: f.label, description: `.${f.ext}`, detail: f.detail, format: f })),
    { title: 'nslat: Export Trace', placeHolder: 'Format', ignoreFocusOut: true },
  );
  if (!pick) return;
  const f: (typeof EXPORT_FORMATS)[number] = pick.format;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const base = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(homedir());
  const target = await vscode.window.showSaveDialog({
    title: `nslat: Export Trace as ${f.label}`,
    defaultUri: vscode.Uri.file(join(base.fsPath, `nslat-${host === 'local' ? 'local' : host.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}.${f.ext}`)),
    filters: { [f.label]: [f.ext], 'All files': ['*'] },
    saveLabel: 'Export',
  });
  if (!target) return;
  try {
    if (f.id === 'jsonl' && src.tracePath && target.scheme === 'file') {
      // The raw trace can be large: copy the file rather than read it into memory.
      await copyFile(src.tracePath, target.fsPath);
    } else {
      const text = await renderExport(f.id, src);
      if (target.scheme === 'file') await writeFile(target.fsPath, text, 'utf8');
      else await vscode.workspace.fs.writeFile(target, Buffer.from(text, 'utf8'));
    }
    log.info(`exported ${f.label} to ${target.toString(true)}`);
    const open = await vscode.window.showInformationMessage(`nslat: exported the trace to ${target.fsPath || target.toString(true)}.`, 'Open');
    if (open) await vscode.window.showTextDocument(target);
  } catch (e) {
    log.error(`export failed: ${(e as Error).message}`);
    void vscode.window.showErrorMessage(`nslat: export failed: ${(e as Error).message}`);
  }
}

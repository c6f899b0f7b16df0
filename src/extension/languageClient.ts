/** Starts the probe language server (dist/server.cjs, src/server) for probe sources, when it is built. */
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node.js';

/** Probe sources and the headers beside them, by path pattern (their language id is plain "c"). */
export const PROBE_DOCUMENT_SELECTOR = [
  { scheme: 'file', pattern: '**/*.bpf.c' },
  { scheme: 'file', pattern: '**/bpf/**/*.h' },
  { scheme: 'file', pattern: '**/.nslat/probes/**/*.h' },
];

export async function startProbeLanguageClient(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<LanguageClient | undefined> {
  const module = vscode.Uri.joinPath(context.extensionUri, 'dist', 'server.cjs').fsPath;
  if (!existsSync(module)) {
    log.info(`probe language server not built (${module} missing): no completion or hovers in probe sources`);
    return undefined;
  }
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: PROBE_DOCUMENT_SELECTOR,
    diagnosticCollectionName: 'nslat-probes',
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{bpf.c,h}') },
  };
  const client = new LanguageClient('nslat.probes', 'nslat probe language server', serverOptions, clientOptions);
  try {
    await client.start();
    log.info('probe language server started');
    return client;
  } catch (e) {
    log.error(`probe language server failed to start: ${(e as Error).message}`);
    return undefined;
  }
}

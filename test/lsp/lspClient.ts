/**
 * A minimal LSP client for the tests: spawns the probe language server on stdio and speaks
 * JSON-RPC to it with vscode-languageserver-protocol (the same library vscode-languageclient uses).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type CompletionList,
  type Diagnostic,
  type Hover,
  type ProtocolConnection,
  type PublishDiagnosticsParams,
  type InitializeResult,
} from 'vscode-languageserver-protocol/node.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEST_CACHE = path.join(REPO, '.cache', 'test-lsp');

export interface ClientOptions {
  initializationOptions?: Record<string, unknown>;
  rootDir?: string;
  /** Answers server → client requests by method name. */
  requests?: Record<string, (params: any) => unknown>;
}

export class LspClient {
  readonly conn: ProtocolConnection;
  private diags = new Map<string, PublishDiagnosticsParams[]>();
  private waiters: Array<() => void> = [];
  private versions = new Map<string, number>();
  readonly stderr: string[] = [];
  readonly logs: string[] = [];
  initResult?: InitializeResult;

  private constructor(readonly child: ChildProcess) {
    this.conn = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    child.stderr!.on('data', (b: Buffer) => this.stderr.push(b.toString()));
    this.conn.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => {
      const list = this.diags.get(p.uri) ?? [];
      list.push(p);
      this.diags.set(p.uri, list);
      for (const w of this.waiters.splice(0)) w();
    });
    this.conn.onNotification('window/logMessage', (p: { message: string }) => this.logs.push(p.message));
    this.conn.onNotification('window/showMessage', (p: { message: string }) => this.logs.push(`showMessage: ${p.message}`));
    this.conn.onRequest('window/showMessageRequest', (p: { message: string }) => {
      this.logs.push(`showMessage: ${p.message}`);
      return null;
    });
    this.conn.listen();
  }

  static async start(opts: ClientOptions = {}): Promise<LspClient> {
    mkdirSync(TEST_CACHE, { recursive: true });
    // NSLAT_LSP_SERVER=dist/server.cjs runs the same tests against the esbuild bundle.
    const bundle = process.env.NSLAT_LSP_SERVER;
    const argv = bundle ? [path.resolve(REPO, bundle), '--stdio'] : ['--import', 'tsx', path.join(REPO, 'src/server/server.ts'), '--stdio'];
    const child = spawn(process.execPath, argv, {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NSLAT_LSP_CACHE_DIR: TEST_CACHE },
    });
    const c = new LspClient(child);
    for (const [method, fn] of Object.entries(opts.requests ?? {})) c.conn.onRequest(method, fn);
    const root = opts.rootDir ?? REPO;
    c.initResult = await c.conn.sendRequest<InitializeResult>('initialize', {
      processId: process.pid,
      rootUri: pathToFileURL(root).href,
      workspaceFolders: [{ uri: pathToFileURL(root).href, name: 'ws' }],
      capabilities: { textDocument: { completion: { completionItem: { snippetSupport: true } }, hover: { contentFormat: ['markdown'] } } },
      initializationOptions: { cacheDir: TEST_CACHE, ...opts.initializationOptions },
    });
    await c.conn.sendNotification('initialized', {});
    return c;
  }

  async open(file: string, text: string): Promise<string> {
    const uri = pathToFileURL(file).href;
    this.versions.set(uri, 1);
    await this.conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'c', version: 1, text } });
    return uri;
  }

  async change(uri: string, text: string): Promise<void> {
    const v = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, v);
    await this.conn.sendNotification('textDocument/didChange', { textDocument: { uri, version: v }, contentChanges: [{ text }] });
  }

  /** The first diagnostics for `uri` (at the current version) that satisfy `pred`. */
  async diagnostics(uri: string, pred: (d: Diagnostic[]) => boolean = () => true, timeoutMs = 30_000): Promise<Diagnostic[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = this.versions.get(uri);
      const hit = (this.diags.get(uri) ?? []).find((p) => (p.version === undefined || p.version === v) && pred(p.diagnostics));
      if (hit) return hit.diagnostics;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching diagnostics for ${uri} in ${timeoutMs} ms; got ${JSON.stringify(this.diags.get(uri) ?? [], null, 1).slice(0, 3000)}\nstderr: ${this.stderr.join('')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The diagnostics of the document's current version (one publication per validation). */
  settled(uri: string, timeoutMs?: number): Promise<Diagnostic[]> {
    return this.diagnostics(uri, () => true, timeoutMs);
  }

  /** Every publication for `uri` so far. */
  published(uri: string): PublishDiagnosticsParams[] {
    return this.diags.get(uri) ?? [];
  }

  async save(uri: string): Promise<void> {
    await this.conn.sendNotification('textDocument/didSave', { textDocument: { uri } });
  }

  completion(uri: string, line: number, character: number): Promise<CompletionList> {
    return this.conn.sendRequest('textDocument/completion', { textDocument: { uri }, position: { line, character } });
  }

  hover(uri: string, line: number, character: number): Promise<Hover | null> {
    return this.conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line, character } });
  }

  async stop(): Promise<void> {
    try {
      await Promise.race([this.conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 3000))]);
      await this.conn.sendNotification('exit');
    } catch {
      /* already gone */
    }
    await new Promise<void>((r) => {
      if (this.child.exitCode !== null) return r();
      const t = setTimeout(() => {
        this.child.kill('SIGKILL');
        r();
      }, 3000);
      this.child.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
    this.conn.dispose();
  }
}

/** Position (0-based line, character) of the end of the first occurrence of `needle` in `text`. */
export function posAfter(text: string, needle: string): { line: number; character: number } {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, i + needle.length);
  const line = before.split('\n').length - 1;
  return { line, character: before.length - before.lastIndexOf('\n') - 1 };
}

/** Position inside the first occurrence of `needle` (offset `within` characters into it). */
export function posIn(text: string, needle: string, within = 1): { line: number; character: number } {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, i + within);
  return { line: before.split('\n').length - 1, character: before.length - before.lastIndexOf('\n') - 1 };
}

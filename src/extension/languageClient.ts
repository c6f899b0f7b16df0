/**
 * The probe language server (dist/server.cjs, src/server) for probe sources, and nslat's own messages
 * with it (src/server/protocol.ts):
 *  - `nslat/target` when a session starts: its host, whether it is remote, the helper's attach types
 *    (and why the others fail), and where to compile on a remote target; back to this machine when a
 *    remote session ends;
 *  - `nslat/targetRun` requests answered through the running session's transport (argument arrays
 *    only, a fixed list of programs), refused when no session runs;
 *  - `nslat/stageStats` from the session's Aggregator at most once a second, `running: false` at stop.
 * The server may restart (vscode-languageclient restarts a crashed server): the target and the latest
 * figures are sent again whenever it is running anew.
 *
 * Completion inside strings: probe files keep the language id "c" (checked in code-server 1.100: the
 * language mode of *.bpf.c is "C"), so that C tooling (cpptools, clangd) keeps working on them. VS
 * Code scopes configuration defaults by language id only, never by file pattern, so a
 * `"[c]": { "editor.quickSuggestions": { "strings": "on" } }` default would turn on suggestions in
 * the string literals of every C file the user edits. nslat contributes no such default; the server's
 * trigger characters (`"` `/` `_` `,` space) open the list inside SEC("…") and BPF_PROG(…) as one
 * types (`editor.suggestOnTriggerCharacters`, on by default, applies in strings too), the list then
 * filters as one types, and Ctrl+Space opens it anywhere.
 */
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import {
  LanguageClient,
  ResponseError,
  State,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node.js';
import type { Aggregator } from '../core/aggregate.ts';
import type { Session } from '../core/session.ts';
import { TransportError } from '../core/transport/errors.ts';
import { StageStatsNotification, TargetNotification, TargetRunRequest, type StageStatsParams, type TargetParams, type TargetRunResult } from '../server/protocol.ts';
import { checkTargetRun, serverCompileDirs, stageStatsFrom, stoppedStats, targetParams } from './lspSync.ts';

/** Probe sources and the headers beside them, by path pattern (their language id is plain "c"). */
export const PROBE_DOCUMENT_SELECTOR = [
  { scheme: 'file', pattern: '**/*.bpf.c' },
  { scheme: 'file', pattern: '**/bpf/**/*.h' },
  { scheme: 'file', pattern: '**/.nslat/probes/**/*.h' },
];

/** At most one `nslat/stageStats` a second (hovers need no more). */
export const STATS_INTERVAL_MS = 1000;

/** What of a Session the language server bridge uses. */
export type BridgedSession = Pick<Session, 'transport' | 'hello' | 'startupMessages' | 'ended'> & Partial<Pick<Session, 'compilePlace' | 'targetIncludeDirs'>>;

/** JSON-RPC error code for a refused `nslat/targetRun` (the server logs the message). */
const REFUSED = -32001;

export class ProbeLanguageClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private session: { session: BridgedSession; aggregator: Aggregator; host: string } | undefined;
  /** The last `nslat/target` sent (re-sent after a server restart). */
  private target: TargetParams | undefined;
  private lastStats: StageStatsParams | undefined;
  private statsTimer: ReturnType<typeof setTimeout> | undefined;
  private lastStatsAt = -Infinity;
  private readonly disposables: vscode.Disposable[] = [];
  readonly stats = { targets: 0, stageStats: 0, targetRuns: 0, refused: 0 };

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** True while the server runs (its diagnostics are in the Problems view). */
  get running(): boolean {
    return this.client?.state === State.Running;
  }

  async start(): Promise<boolean> {
    const module = vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'server.cjs').fsPath;
    if (!existsSync(module)) {
      this.log.info(`probe language server not built (${module} missing): no completion or hovers in probe sources`);
      return false;
    }
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc },
      debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
    };
    const watcher = vscode.workspace.createFileSystemWatcher('**/*.{bpf.c,h}');
    this.disposables.push(watcher);
    const clientOptions: LanguageClientOptions = {
      documentSelector: PROBE_DOCUMENT_SELECTOR,
      diagnosticCollectionName: 'nslat-probes',
      synchronize: { fileEvents: watcher },
    };
    const client = new LanguageClient('nslat.probes', 'nslat probe language server', serverOptions, clientOptions);
    this.client = client;
    this.disposables.push(
      client.onRequest(TargetRunRequest, (p) => this.targetRun(p)),
      client.onDidChangeState((e) => {
        // A restarted server knows nothing of the session: tell it again.
        if (e.newState === State.Running && e.oldState !== State.Running) this.resend();
      }),
    );
    try {
      await client.start();
      this.log.info('probe language server started');
      this.resend();
      return true;
    } catch (e) {
      this.log.error(`probe language server failed to start: ${(e as Error).message}`);
      return false;
    }
  }

  /** A session is running: tell the server which kernel, and start sending its figures. */
  sessionStarted(session: BridgedSession, aggregator: Aggregator): void {
    const host = session.transport.host;
    this.session = { session, aggregator, host };
    this.target = targetParams({
      host,
      kind: session.transport.kind,
      hello: session.hello,
      messages: session.startupMessages,
    });
    this.lastStats = undefined;
    this.lastStatsAt = -Infinity;
    this.send('target', this.target);
    this.log.info(`language server: target ${this.target.host}${this.target.remote ? ' (remote: reads its kernel through the session)' : ''}, attach types ${Object.entries(this.target.attachTypes ?? {}).filter(([, ok]) => ok).map(([t]) => t).join(', ') || 'none'}`);
    this.statsChanged(aggregator);
    // Without clang here, edited probes compile on the target: so does the server, with the same
    // headers and the target's vmlinux.h put there.
    if (session.compilePlace && session.targetIncludeDirs) {
      const site = { kind: session.transport.kind, compilePlace: session.compilePlace.bind(session), targetIncludeDirs: session.targetIncludeDirs.bind(session) };
      void serverCompileDirs(site).then((dirs) => {
        if (!dirs || this.session?.session !== session || !this.target) return;
        this.target = { ...this.target, compileOnTarget: { includeDirs: dirs } };
        this.send('target', this.target);
      }).catch((e: Error) => this.log.warn(`language server: no compile on ${host}: ${e.message}`));
    }
  }

  /** The session's data changed: send its figures soon, at most once a second. */
  statsChanged(aggregator: Aggregator): void {
    if (this.session?.aggregator !== aggregator || this.statsTimer !== undefined) return;
    const wait = Math.max(0, this.lastStatsAt + STATS_INTERVAL_MS - Date.now());
    this.statsTimer = setTimeout(() => {
      this.statsTimer = undefined;
      this.flushStats();
    }, wait);
  }

  private flushStats(): void {
    const s = this.session;
    if (!s || s.session.ended) return;
    this.lastStatsAt = Date.now();
    this.lastStats = stageStatsFrom(s.aggregator.report(), s.host);
    this.send('stageStats', this.lastStats);
  }

  /** The session ended (stopped, failed, or the connection dropped). */
  sessionEnded(session: BridgedSession): void {
    if (this.session?.session !== session) return;
    const host = this.session.host;
    this.session = undefined;
    if (this.statsTimer !== undefined) clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
    this.lastStats = stoppedStats(host);
    this.send('stageStats', this.lastStats);
    if (this.target?.remote) {
      // Its kernel cannot be read any more: back to this machine.
      this.target = { host: 'local', remote: false };
      this.send('target', this.target);
    }
  }

  private async targetRun(p: unknown): Promise<TargetRunResult | ResponseError<void>> {
    this.stats.targetRuns++;
    const s = this.session;
    if (!s || s.session.ended) {
      this.stats.refused++;
      return new ResponseError(REFUSED, 'nslat/targetRun: no nslat session is running, so the target cannot be reached');
    }
    const req = checkTargetRun(p);
    if ('error' in req) {
      this.stats.refused++;
      this.log.warn(`language server: refused ${req.error}`);
      return new ResponseError(REFUSED, req.error);
    }
    try {
      const opts: { input?: string; timeoutMs: number } = { timeoutMs: req.timeoutMs };
      if (req.input !== undefined) opts.input = req.input;
      const r = await s.session.transport.run(req.argv, opts);
      return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      // A program missing on the target is the program's failure (as a shell says: 127), so the
      // server can say what to install; anything else (timeout, connection) is an error.
      if (e instanceof TransportError && e.code === 'missing_tool') return { exitCode: 127, stdout: '', stderr: e.message };
      return new ResponseError(REFUSED, `nslat/targetRun ${req.argv[0]} on ${s.host}: ${(e as Error).message}`);
    }
  }

  private resend(): void {
    if (this.target) this.send('target', this.target);
    if (this.lastStats) this.send('stageStats', this.lastStats);
  }

  private send(what: 'target', params: TargetParams): void;
  private send(what: 'stageStats', params: StageStatsParams): void;
  private send(what: 'target' | 'stageStats', params: TargetParams | StageStatsParams): void {
    const c = this.client;
    if (!c || c.state !== State.Running) return; // resend() sends it when the server runs
    const sent = what === 'target'
      ? (this.stats.targets++, c.sendNotification(TargetNotification, params as TargetParams))
      : (this.stats.stageStats++, c.sendNotification(StageStatsNotification, params as StageStatsParams));
    sent.catch((e: unknown) => this.log.warn(`language server: nslat/${what} not sent: ${String(e)}`));
  }

  async stop(): Promise<void> {
    if (this.statsTimer !== undefined) clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
    const c = this.client;
    this.client = undefined;
    if (c && c.state !== State.Stopped) await c.stop().catch(() => undefined);
  }

  dispose(): void {
    if (this.statsTimer !== undefined) clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
    for (const d of this.disposables) d.dispose();
  }
}

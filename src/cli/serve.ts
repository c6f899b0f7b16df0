/**
 * `nslat serve`: the ServeAgent (src/core/serve.ts) behind a small HTTP server.
 *   GET /metrics  OpenMetrics text, what Prometheus asks for (a client whose Accept header does not
 *                 name OpenMetrics gets the Prometheus text format 0.0.4 of the same samples);
 *   GET /healthz  JSON: 200 while the helper runs and snapshots arrive, 503 while reconnecting.
 * Runs until SIGTERM or SIGINT (the helper unloads every probe before nslat exits; a second signal
 * exits at once, and the helper, its stdin closed, still unloads them); SIGHUP reloads the probes.
 * Every event is one line on stderr (the journal, under systemd).
 */
import { existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { NSLAT_VERSION } from '../core/deploy.ts';
import { formatFor, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE } from '../core/export/openmetrics.ts';
import { TraceWriter } from '../core/export/jsonl.ts';
import { ServeAgent } from '../core/serve.ts';
import { Session } from '../core/session.ts';
import type { Command, Listen } from './args.ts';
import { CliError, sentence } from './errors.ts';
import { createProgress } from './terminal.ts';
import { sessionOptions } from './session-options.ts';
import { socketTransport } from '../core/transport/socket.ts';

type ServeCmd = Extract<Command, { kind: 'serve' }>;

function listenText(l: Listen): string {
  return l.host.includes(':') ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
}

/** Starts listening; rejects with a sentence when the address cannot be had. */
function listen(server: Server, l: Listen): Promise<Listen> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'the address is in use' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EADDRNOTAVAIL' ? 'no such local address' : e.message;
      reject(new CliError(`cannot listen on ${listenText(l)}: ${why}.`, 'Choose another address with --listen ADDR:PORT.'));
    };
    server.once('error', onError);
    server.listen(l.port, l.host, () => {
      server.off('error', onError);
      const a = server.address();
      resolve(a && typeof a === 'object' ? { host: a.address, port: a.port } : l);
    });
  });
}

export async function runServe(cmd: ServeCmd): Promise<number> {
  if (cmd.probesDir && !(existsSync(cmd.probesDir) && statSync(cmd.probesDir).isDirectory())) {
    throw new CliError(`--probes ${cmd.probesDir} is not a directory.`, 'Give the directory that holds rx.bpf.c, tx.bpf.c and irq.bpf.c.', 2);
  }
  if (cmd.sshConfig && !existsSync(cmd.sshConfig)) {
    throw new CliError(`--ssh-config ${cmd.sshConfig} does not exist.`, 'Give the path of an ssh_config file.', 2);
  }
  const progress = createProgress(process.stderr);
  const say = (line: string) => process.stderr.write(`nslat: ${line}\n`);
  const hostLabel = cmd.hostLabel ?? cmd.host ?? hostname();
  let traces: TraceWriter[];
  try {
    traces = cmd.out.map((f) => new TraceWriter(f.path, { host: hostLabel }));
  } catch (e) {
    throw new CliError(`cannot write --out: ${sentence(e)}.`, 'Give a path in a directory you can write to.');
  }

  const session = sessionOptions(cmd, progress, say);
  const agent = new ServeAgent({
    session,
    hostLabel,
    version: NSLAT_VERSION,
    perOctave: cmd.perOctave,
    log: say,
    onMessage: traces.length ? (m) => { for (const t of traces) t.write(m); } : undefined,
    // A socket helper is a new connection (a new helper from systemd) for each session.
    startSession: cmd.helperSocket ? async (o) => Session.start({ ...o, transport: await socketTransport(cmd.helperSocket!) }) : undefined,
  });

  const server = metricsServer(agent);
  const bound = await listen(server, cmd.listen);
  say(`serving OpenMetrics on http://${listenText(bound)}/metrics (host label "${hostLabel}")`);
  agent.start();

  let signals = 0;
  const stopped = new Promise<number>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        say(`${sig} again: exiting now (the helper unloads the probes when its stdin closes)`);
        process.exit(130);
      }
      say(`${sig}: stopping (unloading the probes)`);
      void (async () => {
        server.close();
        server.closeAllConnections();
        await agent.stop().catch((e) => say(`stopping: ${sentence(e)}`));
        for (const t of traces) t.close();
        say('stopped');
        resolve(0);
      })();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  const onHup = () => {
    say('SIGHUP: reloading the probes');
    void agent.reloadAll();
  };
  process.on('SIGHUP', onHup);
  try {
    return await stopped;
  } finally {
    process.off('SIGHUP', onHup);
  }
}

/** The HTTP server of /metrics and /healthz for an agent (not listening yet). */
export function metricsServer(agent: ServeAgent): Server {
  const server = createServer((req, res) => handle(agent, req, res));
  server.keepAliveTimeout = 65_000; // longer than a scrape interval, so Prometheus reuses connections
  return server;
}

function handle(agent: ServeAgent, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('only GET and HEAD\n');
    return;
  }
  try {
    if (path === '/metrics') {
      const format = formatFor(req.headers.accept);
      const body = agent.metrics(format);
      res.writeHead(200, { 'content-type': format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_TEXT_CONTENT_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } else if (path === '/healthz') {
      const h = agent.health();
      const body = `${JSON.stringify(h)}\n`;
      res.writeHead(h.up ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('nslat serve: GET /metrics (OpenMetrics), GET /healthz\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
    }
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${sentence(e)}\n`);
  }
}

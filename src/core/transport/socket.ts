/**
 * This machine, with the helper run as root by systemd instead of by nslat: `nslat-helper.socket`
 * (packaging/systemd) listens on a Unix socket that only the nslat user can open, and starts one
 * `nslat-helper@.service` per connection with the connection as its stdin and stdout. Connecting
 * is starting the helper; closing the connection is closing its stdin, so it detaches everything
 * and exits, whatever happened to nslat. nslat itself then needs no privilege at all: no root, no
 * sudo, no capability.
 *
 * Everything else (preflight, copying the shipped objects into the work directory, compiling
 * edited probes) runs as the unprivileged user, as LocalTransport does. The helper's command line
 * is the unit's, not nslat's: of the arguments nslat would have given it, only the snapshot
 * period is passed on (as a `set` command, the first line it reads); its work directory,
 * --bpf-stats and --no-netfilter are set in the unit.
 */
import { connect, type Socket } from 'node:net';
import { LineSplitter } from '../helper-client.ts';
import { TransportError } from './errors.ts';
import { LocalTransport } from './local.ts';
import type { ExitInfo, SpawnPrivilegedOptions, TargetProcess, TransportLog } from './types.ts';

/** How long connecting may take (systemd starts the helper on accept). */
const CONNECT_TIMEOUT_MS = 10_000;

class SocketHelperProcess implements TargetProcess {
  readonly pid = undefined;
  readonly exited: Promise<ExitInfo>;
  private lineCbs: Array<(line: string) => void> = [];
  private pending: string[] = [];
  private exitCbs: Array<(info: ExitInfo) => void> = [];
  private info: ExitInfo | undefined;
  private resolveExit!: (info: ExitInfo) => void;
  private readonly splitter = new LineSplitter(
    (line) => this.emitLine(line),
    (bytes) => this.emitLine(JSON.stringify({ type: 'log', level: 'error', message: `a helper message of ${bytes} bytes was too long and skipped` })),
  );

  constructor(private readonly sock: Socket, private readonly path: string) {
    this.exited = new Promise((r) => (this.resolveExit = r));
    sock.on('data', (b: Buffer) => this.splitter.push(b));
    sock.on('error', () => {
      /* 'close' follows and reports */
    });
    sock.on('close', (hadError) => {
      this.splitter.end();
      this.finish({ code: null, signal: null, why: `the helper's connection ${this.path} closed${hadError ? ' with an error' : ''}` });
    });
  }

  write(line: string): void {
    if (this.info || this.sock.destroyed || this.sock.writableEnded) return;
    this.sock.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  end(): void {
    if (!this.sock.destroyed && !this.sock.writableEnded) this.sock.end();
  }

  /** The helper is root's: it cannot be signalled from here, only cut off (it then exits). */
  kill(): void {
    this.sock.destroy();
  }

  onLine(cb: (line: string) => void): void {
    this.lineCbs.push(cb);
    const q = this.pending;
    this.pending = [];
    for (const l of q) this.emitLine(l);
  }

  /** Its stderr goes to the journal (the unit's StandardError), not here. */
  onStderr(): void {}

  onExit(cb: (info: ExitInfo) => void): void {
    if (this.info) {
      const i = this.info;
      queueMicrotask(() => cb(i));
    } else this.exitCbs.push(cb);
  }

  private emitLine(line: string): void {
    if (this.lineCbs.length === 0) {
      this.pending.push(line);
      return;
    }
    for (const cb of this.lineCbs) cb(line);
  }

  private finish(info: ExitInfo): void {
    if (this.info) return;
    this.info = info;
    this.resolveExit(info);
    for (const cb of this.exitCbs.splice(0)) cb(info);
  }
}

export class SocketTransport extends LocalTransport {
  readonly privilegeVia: string;

  constructor(readonly socketPath: string, log?: TransportLog) {
    super(log);
    this.privilegeVia = `the helper runs as root under systemd, reached through ${socketPath}`;
  }

  override async spawnPrivileged(argv: string[], _opts: SpawnPrivilegedOptions = {}): Promise<TargetProcess> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(this.socketPath);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new TransportError('connect_failed', `no helper answered on ${this.socketPath} within ${CONNECT_TIMEOUT_MS / 1000} s`));
      }, CONNECT_TIMEOUT_MS);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = e.code === 'ENOENT' ? 'it does not exist (is nslat-helper.socket enabled and started?)'
          : e.code === 'EACCES' ? 'permission denied (the socket is for the nslat user or group only)'
          : e.code === 'ECONNREFUSED' ? 'nothing listens there (is nslat-helper.socket started?)'
          : e.message;
        reject(new TransportError('connect_failed', `cannot reach the helper at ${this.socketPath}: ${why}`));
      });
    });
    const proc = new SocketHelperProcess(sock, this.socketPath);
    const i = argv.indexOf('--interval-ms');
    const interval = i >= 0 ? Number(argv[i + 1]) : NaN;
    if (Number.isInteger(interval) && interval >= 0) proc.write(JSON.stringify({ cmd: 'set', id: 'socket-interval', interval_ms: interval }));
    return proc;
  }
}

/** A transport for this machine whose helper is reached through a systemd socket. */
export async function socketTransport(path: string, log?: TransportLog): Promise<SocketTransport> {
  return new SocketTransport(path, log);
}

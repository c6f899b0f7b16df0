/**
 * A remote target through the system OpenSSH client (so ~/.ssh/config, ProxyJump and the agent
 * all apply). Every command is a fixed argv, single-quoted word by word into the one command line
 * ssh sends (shJoin); the few compound steps are constant `sh -c` scripts that take their inputs
 * as positional parameters.
 *
 * One authenticated connection is shared by deploy, build and the helper: ControlMaster=auto with
 * a ControlPath in a private temp directory and a short ControlPersist. `-T` (no pty) means the
 * remote command's stdin is a pipe: when the local ssh process dies, the remote side reads EOF and
 * the helper detaches everything and exits.
 */
import { mkdtempSync, rmSync, existsSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { childEnv } from './env.ts';
import { TransportError, missingTool } from './errors.ts';
import { checkReplaceableDir, spawnPrivilegedKnown } from './local.ts';
import { ChildTargetProcess, lastLine } from './process.ts';
import { commandName, type PrivilegeTarget } from './privilege.ts';
import { checkEnvName, checkRemotePath, parseDestination, shJoin, shQuote, type SshDestination } from './quote.ts';
import type { AskPass, BatchOptions, RunOptions, RunResult, SpawnPrivilegedOptions, TargetProcess, Transport, TransportLog, TransportOptions } from './types.ts';

/** Idle time the shared connection outlives its last user. */
const CONTROL_PERSIST_S = 60;
/** Concurrent short commands over the shared connection: sshd's MaxSessions defaults to 10, and
 *  long-lived processes (the helper) need sessions too. */
const MAX_PARALLEL = 6;

/** A counting semaphore. */
class Limiter {
  private active = 0;
  private queue: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

// putDir: extract next to the destination, then swap, so a failed copy never leaves half a tree.
const PUTDIR_SCRIPT = [
  'set -e',
  'd=$1',
  't=$1.nslat-tmp.$$',
  'rm -rf -- "$t"',
  'mkdir -p -- "$t"',
  'tar -x -o -f - -C "$t"',
  'rm -rf -- "$d"',
  'mv -- "$t" "$d"',
].join('\n');
const PUTFILE_SCRIPT = ['set -e', 'mkdir -p -- "$(dirname -- "$1")"', 't=$1.nslat-tmp.$$', 'cat > "$t"', 'mv -f -- "$t" "$1"'].join('\n');

/** The program a POSIX shell reported missing ("sh: 1: tar: not found", "bash: tar: command not found"). */
export function missingFromStderr(stderr: string): string | undefined {
  const m = stderr.match(/(?:^|\n)[^\n]*?([A-Za-z0-9_.+\/-]+): (?:command )?not found\s*(?:\n|$)/);
  if (m) return m[1];
  const m2 = stderr.match(/(?:^|\n)[^\n]*?(?:exec: )?([A-Za-z0-9_.+\/-]+): No such file or directory\s*(?:\n|$)/);
  return m2 ? m2[1] : undefined;
}

/** A POSIX sh script that runs command lines (each already quoted word by word) one after
 *  another: each one's stdout goes straight out between markers, its stderr is captured apart, and
 *  `e=$(cmd 2>&1 >&3)` keeps the command's exit status in `$?`. */
export function batchScript(lines: string[]): string {
  return ['exec 3>&1', ...lines.map((cmd, i) => [
    `printf '\\036%s o\\n' ${i}`,
    `e=$( { ${cmd}; } 2>&1 >&3 3>&- ); r=$?`,
    `printf '\\036%s r %s\\n' ${i} "$r"`,
    `printf '\\036%s e\\n%s\\n' ${i} "$e"`,
  ].join('\n'))].join('\n');
}

/** Splits what batchScript printed into one result per command; a command
 *  whose markers are missing (the shell died) gets exit 127 and says so. */
export function parseBatchOutput(out: string, n: number): RunResult[] {
  const results: RunResult[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const o = out.indexOf(`\x1e${i} o\n`, at);
    const rm = o < 0 ? -1 : out.indexOf(`\x1e${i} r `, o);
    const em = rm < 0 ? -1 : out.indexOf(`\x1e${i} e\n`, rm);
    if (o < 0 || rm < 0 || em < 0) {
      results.push({ exitCode: 127, stdout: '', stderr: 'the command did not run (the remote shell stopped before it)' });
      continue;
    }
    const code = Number(/^(\d+)/.exec(out.slice(rm + `\x1e${i} r `.length))?.[1] ?? 127);
    const next = out.indexOf(`\x1e${i + 1} o\n`, em);
    const stderr = out.slice(em + `\x1e${i} e\n`.length, next < 0 ? undefined : next).replace(/\n$/, '');
    results.push({ exitCode: code, stdout: out.slice(o + `\x1e${i} o\n`.length, rm), stderr });
    at = next < 0 ? out.length : next;
  }
  return results;
}

function tmpBase(): string {
  const t = os.tmpdir();
  // ControlPath is an ssh option value and a unix socket path (108 bytes): keep it short and plain.
  return /^[A-Za-z0-9_/.-]{1,40}$/.test(t) ? t : '/tmp';
}

export class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  readonly host: string;
  readonly destination: SshDestination;
  private readonly sshConfig: string | undefined;
  private readonly log: TransportLog | undefined;
  private readonly askPass: AskPass | undefined;
  private controlDir: string | undefined;
  private connecting: Promise<void> | undefined;
  private homeCache: string | undefined;
  private idCache: { uid: number; user: string } | undefined;
  private askServer: net.Server | undefined;
  private askScript: string | undefined;
  private closed = false;
  private readonly limiter = new Limiter(MAX_PARALLEL);

  constructor(host: string, opts: TransportOptions = {}) {
    this.destination = parseDestination(host);
    this.host = host;
    this.log = opts.log;
    this.askPass = opts.sshAskPass;
    if (opts.sshConfig !== undefined) {
      const f = opts.sshConfig;
      if (typeof f !== 'string' || !f || /[\x00-\x1f\x7f]/.test(f)) {
        throw new TransportError('bad_destination', `Refusing ssh config file ${JSON.stringify(f)}: give the path of an ssh_config file.`);
      }
      const abs = f.startsWith('~/') ? path.join(os.homedir(), f.slice(2)) : path.resolve(f);
      if (!existsSync(abs) || !statSync(abs).isFile()) {
        throw new TransportError('bad_destination', `The ssh config file ${abs} does not exist.`);
      }
      this.sshConfig = abs;
    }
  }

  /** Where messages say this is. */
  get where(): string {
    return this.host;
  }

  /** ssh's own options (before `--`): config, multiplexing, keep-alives, batch mode, port. */
  sshOptions(): string[] {
    const a: string[] = [];
    if (this.sshConfig) a.push('-F', this.sshConfig);
    a.push('-T', '-x', '-a');
    a.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${this.controlPath()}`, '-o', `ControlPersist=${CONTROL_PERSIST_S}`);
    a.push('-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3', '-o', 'ConnectTimeout=20');
    a.push('-o', 'LogLevel=ERROR');
    if (!this.askPass) a.push('-o', 'BatchMode=yes');
    if (this.destination.port !== undefined) a.push('-p', String(this.destination.port));
    return a;
  }

  private controlPath(): string {
    if (!this.controlDir) this.controlDir = mkdtempSync(path.join(tmpBase(), 'nslat-ssh-'));
    return path.join(this.controlDir, '%C');
  }

  /** The full ssh argv for one remote command line. */
  private sshArgv(remoteCommand: string): string[] {
    return [...this.sshOptions(), '--', this.destination.dest, remoteCommand];
  }

  private env(): Record<string, string> {
    const extra: Record<string, string> = {};
    if (this.askPass && this.askScript) {
      extra.SSH_ASKPASS = this.askScript;
      extra.SSH_ASKPASS_REQUIRE = 'force';
      extra.DISPLAY = process.env.DISPLAY ?? ':0';
    }
    return childEnv(extra);
  }

  /** Opens the shared connection once (clear errors for unreachable hosts and refused logins). */
  private connect(): Promise<void> {
    if (this.closed) return Promise.reject(new TransportError('connect_failed', `the SSH transport to ${this.host} is closed.`));
    if (!this.connecting) {
      this.connecting = (async () => {
        if (this.askPass) await this.startAskPassServer();
        this.log?.(`ssh ${this.host}: connecting`);
        // The first command also tells the home directory: one round trip less for deploy.
        const r = await this.rawRun(`printf '%s\\n' "$HOME"`, {});
        if (r.exitCode !== 0) throw this.connectError(r.stderr, r.exitCode);
        const h = r.stdout.trim();
        if (h.startsWith('/') && !h.includes('\n')) this.homeCache = h;
        this.log?.(`ssh ${this.host}: connected`);
      })();
      this.connecting.catch(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  private connectError(stderr: string, code: number | undefined): TransportError {
    const said = (lastLine(stderr) || `ssh exit ${code}`).replace(/\.+$/, '');
    let hint = '';
    if (/Permission denied/i.test(stderr)) {
      hint = this.askPass
        ? ' Check the user name and key or password.'
        : ' Set up key-based login (ssh-copy-id, or load the key into ssh-agent): nslat runs ssh with BatchMode=yes and cannot type a password here.';
    } else if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(stderr)) {
      hint = ` Connect once with \`ssh ${this.destination.dest}\` to check and accept the host key.`;
    } else if (/Could not resolve hostname/i.test(stderr)) {
      hint = ' Check the host name or add a Host entry to your ssh config.';
    } else if (/Connection refused|timed out|No route to host/i.test(stderr)) {
      hint = ' Check that sshd runs on the target and the port is right.';
    }
    if (code !== 255 && code !== undefined) {
      return new TransportError('connect_failed', `the first command on ${this.host} failed (exit ${code}): ${said}.`);
    }
    return new TransportError('connect_failed', `could not connect to ${this.host} over SSH: ${said}.${hint}`);
  }

  /** One remote command line. When sshd refuses another session on the shared connection
   *  (MaxSessions), ssh itself falls back to a separate connection ("disabling multiplexing"). */
  private rawRun(remoteCommand: string, opts: { input?: string | Buffer; timeoutMs?: number; signal?: AbortSignal }) {
    return this.limiter.run(() => this.rawRunOnce(remoteCommand, opts));
  }

  private async rawRunOnce(remoteCommand: string, opts: { input?: string | Buffer; timeoutMs?: number; signal?: AbortSignal }) {
    const argv = this.sshArgv(remoteCommand);
    const r = await execa('ssh', argv, {
      reject: false,
      input: opts.input,
      stdin: opts.input === undefined ? 'ignore' : undefined,
      timeout: opts.timeoutMs,
      cancelSignal: opts.signal,
      env: this.env(),
      extendEnv: false,
      stripFinalNewline: false,
      encoding: 'utf8',
    });
    if (r.code === 'ENOENT' && r.exitCode === undefined) throw missingTool('ssh', 'this machine');
    return { exitCode: r.exitCode, signal: r.signal, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), timedOut: r.timedOut, isCanceled: r.isCanceled };
  }

  private async resolvePath(p: string, what: string): Promise<string> {
    checkRemotePath(p, what);
    if (p === '~') return this.home();
    if (p.startsWith('~/')) return path.posix.join(await this.home(), p.slice(2));
    return p;
  }

  /** Turns an ssh result into a RunResult, or the error that explains it. */
  private check(argv: readonly string[], r: Awaited<ReturnType<SshTransport['rawRun']>>, timeoutMs?: number): RunResult {
    const name = commandName(argv);
    if (r.timedOut) throw new TransportError('timeout', `\`${name}\` on ${this.host} did not finish within ${timeoutMs} ms; the local ssh was stopped.`);
    if (r.isCanceled) throw new TransportError('timeout', `\`${name}\` on ${this.host} was cancelled.`);
    if (r.exitCode === undefined) {
      throw new TransportError('connection_lost', `the ssh process running \`${name}\` on ${this.host} was killed by ${r.signal ?? 'a signal'}.`);
    }
    if (r.exitCode === 255) {
      throw new TransportError('connection_lost', `the SSH connection to ${this.host} failed while running \`${name}\` (ssh exit 255): ${lastLine(r.stderr) || 'no message'}.`);
    }
    if (r.exitCode === 127) {
      const tool = missingFromStderr(r.stderr);
      if (tool && (tool === argv[0] || ['sh', 'env', 'tar', 'mkdir', 'cat', 'mv', 'rm', 'dirname'].includes(tool) || argv[0] === 'sh')) {
        throw missingTool(tool, this.host);
      }
    }
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  }

  private async commandLine(argv: string[], opts: { cwd?: string; env?: Record<string, string> }): Promise<string> {
    if (argv.length === 0) throw new TransportError('bad_argument', 'run needs a command');
    if (argv[0]!.startsWith('-')) throw new TransportError('bad_argument', `refusing a command that begins with "-": ${JSON.stringify(argv[0])}`);
    let cmd = shJoin(argv);
    const env = Object.entries(opts.env ?? {});
    if (env.length) {
      for (const [k] of env) checkEnvName(k);
      cmd = `env ${env.map(([k, v]) => shQuote(`${k}=${v}`)).join(' ')} ${cmd}`;
    }
    if (opts.cwd) cmd = `cd ${shQuote(await this.resolvePath(opts.cwd, 'working directory'))} && ${cmd}`;
    return cmd;
  }

  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    await this.connect();
    const cmd = await this.commandLine(argv, opts);
    this.log?.(`ssh ${this.host}: ${cmd}`);
    const r = await this.rawRun(cmd, opts);
    return this.check(argv, r, opts.timeoutMs);
  }

  /**
   * Several commands in one round trip: one remote shell runs them one after another
   * (batchScript), each with its own stdout, stderr and exit status.
   */
  async runAll(commands: string[][], opts: BatchOptions = {}): Promise<RunResult[]> {
    if (commands.length === 0) return [];
    await this.connect();
    const lines = await Promise.all(commands.map((a) => this.commandLine(a, { env: opts.env })));
    const script = batchScript(lines);
    this.log?.(`ssh ${this.host}: ${commands.length} commands in one: ${commands.map((a) => commandName(a)).join(', ')}`);
    const r = await this.rawRun(shJoin(['sh', '-c', script]), { timeoutMs: opts.timeoutMs, signal: opts.signal });
    this.check(['sh'], r, opts.timeoutMs);
    return parseBatchOutput(r.stdout, commands.length);
  }

  async home(): Promise<string> {
    if (this.homeCache) return this.homeCache;
    await this.connect(); // its first command tells HOME
    if (this.homeCache) return this.homeCache;
    let r = this.check(['printenv'], await this.rawRun(shJoin(['printenv', 'HOME']), {}));
    let h = r.stdout.trim();
    if (!h.startsWith('/')) {
      r = this.check(['pwd'], await this.rawRun('pwd', {}));
      h = r.stdout.trim();
    }
    if (!h.startsWith('/')) throw new TransportError('command_failed', `could not find the home directory of the SSH user on ${this.host}.`);
    this.homeCache = h;
    return h;
  }

  async putDir(localDir: string, remoteDir: string): Promise<void> {
    const src = path.resolve(localDir);
    if (!existsSync(src) || !statSync(src).isDirectory()) throw new TransportError('bad_argument', `${src} is not a directory on this machine.`);
    await this.connect();
    const dest = await this.resolvePath(remoteDir, 'directory');
    checkReplaceableDir(dest, await this.home());
    const cmd = shJoin(['sh', '-c', PUTDIR_SCRIPT, 'sh', dest]);
    this.log?.(`ssh ${this.host}: copy ${src} → ${dest} (tar)`);
    const tar = execa('tar', ['-c', '-f', '-', '-C', src, '.'], { reject: false, buffer: { stdout: false }, stdin: 'ignore', env: childEnv(), extendEnv: false, encoding: 'buffer' });
    const ssh = execa('ssh', this.sshArgv(cmd), { reject: false, stdin: 'pipe', env: this.env(), extendEnv: false, encoding: 'utf8' });
    ssh.stdin?.on('error', () => {});
    tar.stdout?.pipe(ssh.stdin!);
    tar.once('error', () => ssh.stdin?.end());
    const [t, s] = await Promise.all([tar, ssh]);
    if (t.code === 'ENOENT' && t.exitCode === undefined) throw missingTool('tar', 'this machine');
    if (s.code === 'ENOENT' && s.exitCode === undefined) throw missingTool('ssh', 'this machine');
    const res = this.check(['sh'], { exitCode: s.exitCode, signal: s.signal, stdout: String(s.stdout), stderr: String(s.stderr), timedOut: false, isCanceled: false });
    if (t.exitCode !== 0) throw new TransportError('command_failed', `packing ${src} with tar failed: ${lastLine(String(t.stderr)) || `exit ${t.exitCode}`}.`);
    if (res.exitCode !== 0) {
      const tool = missingFromStderr(res.stderr);
      if (tool) throw missingTool(tool, this.host);
      throw new TransportError('command_failed', `copying ${src} to ${dest} on ${this.host} failed: ${lastLine(res.stderr) || `exit ${res.exitCode}`}.`);
    }
  }

  async putFile(remotePath: string, content: string | Buffer): Promise<void> {
    await this.connect();
    const dest = await this.resolvePath(remotePath, 'file');
    this.log?.(`ssh ${this.host}: write ${dest}`);
    const r = this.check(['sh'], await this.rawRun(shJoin(['sh', '-c', PUTFILE_SCRIPT, 'sh', dest]), { input: content }));
    if (r.exitCode !== 0) {
      const tool = missingFromStderr(r.stderr);
      if (tool) throw missingTool(tool, this.host);
      throw new TransportError('command_failed', `writing ${dest} on ${this.host} failed: ${lastLine(r.stderr) || `exit ${r.exitCode}`}.`);
    }
  }

  async getFile(remotePath: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    await this.connect();
    const src = await this.resolvePath(remotePath, 'file');
    const cmd = shJoin(['cat', '--', src]);
    this.log?.(`ssh ${this.host}: read ${src}`);
    const r = await this.limiter.run(() => execa('ssh', this.sshArgv(cmd), {
      reject: false,
      stdin: 'ignore',
      timeout: opts.timeoutMs ?? 120_000,
      cancelSignal: opts.signal,
      env: this.env(),
      extendEnv: false,
      stripFinalNewline: false,
      encoding: 'buffer',
      maxBuffer: 512 * 1024 * 1024,
    }));
    if (r.code === 'ENOENT' && r.exitCode === undefined) throw missingTool('ssh', 'this machine');
    const stderr = Buffer.from(r.stderr ?? []).toString('utf8');
    const res = this.check(['cat'], { exitCode: r.exitCode, signal: r.signal, stdout: '', stderr, timedOut: r.timedOut, isCanceled: r.isCanceled }, opts.timeoutMs ?? 120_000);
    if (res.exitCode !== 0) throw new TransportError('command_failed', `reading ${src} on ${this.host} failed: ${lastLine(stderr) || `exit ${res.exitCode}`}.`);
    return Buffer.from(r.stdout ?? []);
  }

  private async identity(): Promise<{ uid: number; user: string }> {
    if (this.idCache) return this.idCache;
    const [r, u] = await this.runAll([['id', '-u'], ['id', '-un']]);
    const uid = Number(r!.stdout.trim());
    if (r!.exitCode !== 0 || !Number.isInteger(uid)) throw new TransportError('command_failed', `could not tell which user nslat is on ${this.host}: ${lastLine(r!.stderr)}`);
    this.idCache = { uid, user: u!.stdout.trim() || this.destination.user || '?' };
    return this.idCache;
  }

  private async spawnChild(argv: string[], name: string): Promise<ChildTargetProcess> {
    await this.connect();
    const cmd = await this.commandLine(argv, {});
    this.log?.(`ssh ${this.host}: start ${cmd}`);
    const child = execa('ssh', this.sshArgv(cmd), {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      env: this.env(),
      extendEnv: false,
      cleanup: true,
    });
    child.catch(() => {});
    const host = this.host;
    const proc = new ChildTargetProcess(child, (code, signal, tail, err) => {
      const said = lastLine(tail);
      if (err) return err.code === 'ENOENT' ? missingTool('ssh', 'this machine').message : `ssh could not be started: ${err.message}`;
      if (signal) return `the local ssh process carrying ${name} to ${host} was killed by ${signal}, so ${name} on ${host} lost its stdin and stops.`;
      if (code === 255) return `the SSH connection to ${host} dropped (ssh exit 255)${said ? `: ${said}` : ''}.`;
      if (code === 127) {
        const tool = missingFromStderr(tail);
        if (tool) return missingTool(tool, host).message;
      }
      if (code === 0) return `${name} on ${host} exited normally.`;
      if (code !== null && code > 128 && code < 160) {
        const sig = Object.entries(os.constants.signals).find(([, n]) => n === code - 128)?.[0];
        return `${name} on ${host} was killed by ${sig ?? `signal ${code - 128}`} (exit ${code})${said ? `: ${said}` : ''}.`;
      }
      return `${name} on ${host} exited with status ${code}${said ? `: ${said}` : ''}.`;
    });
    return new Promise((resolve, reject) => {
      child.once('spawn', () => resolve(proc));
      child.once('error', (e: NodeJS.ErrnoException) => {
        if (child.pid === undefined) reject(e.code === 'ENOENT' ? missingTool('ssh', 'this machine') : new TransportError('command_failed', `ssh could not be started: ${e.message}`));
      });
    });
  }

  private privilegeTarget(): PrivilegeTarget {
    return {
      where: this.host,
      log: this.log,
      identity: () => this.identity(),
      run: (a) => this.run(a),
      spawn: (a, name) => this.spawnChild(a, name),
    };
  }

  spawn(argv: string[]): Promise<TargetProcess> {
    return this.spawnChild(argv, commandName(argv));
  }

  spawnPrivileged(argv: string[], opts?: SpawnPrivilegedOptions): Promise<TargetProcess> {
    return spawnPrivilegedKnown(this.privilegeTarget(), argv, opts);
  }

  /** Answers ssh's own prompts through the caller's callback: ssh runs a tiny script (SSH_ASKPASS)
   *  that asks this process over a unix socket in the private control directory. */
  private async startAskPassServer(): Promise<void> {
    if (this.askServer || !this.askPass) return;
    const dir = path.dirname(this.controlPath());
    const sock = path.join(dir, 'askpass.sock');
    const client = path.join(dir, 'askpass.cjs');
    const script = path.join(dir, 'askpass');
    writeFileSync(
      client,
      `const s=require('net').connect(process.argv[2]);let b='';s.on('data',d=>b+=d);` +
        `s.on('end',()=>{if(b[0]==='+'){process.stdout.write(b.slice(1)+'\\n');process.exit(0)}process.exit(1)});` +
        `s.on('error',()=>process.exit(1));s.end(process.argv[3]||'');\n`,
    );
    writeFileSync(script, `#!/bin/sh\nexec ${shQuote(process.execPath)} ${shQuote(client)} ${shQuote(sock)} "$1"\n`);
    chmodSync(script, 0o700);
    const ask = this.askPass;
    this.askServer = net.createServer({ allowHalfOpen: true }, (c) => {
      let prompt = '';
      c.on('data', (d) => (prompt += d.toString('utf8')));
      c.on('end', () => {
        ask(prompt.trim() || `ssh ${this.host}:`).then(
          (answer) => c.end(answer === undefined ? '-' : `+${answer}`),
          () => c.end('-'),
        );
      });
      c.on('error', () => {});
    });
    await new Promise<void>((resolve, reject) => {
      this.askServer!.once('error', reject);
      this.askServer!.listen(sock, () => resolve());
    });
    this.askServer.unref();
    this.askScript = script;
  }

  /** PID of the shared connection's master process (ssh -O check), when one runs. */
  async masterPid(): Promise<number | undefined> {
    if (!this.controlDir) return undefined;
    const r = await execa('ssh', [...this.sshOptions(), '-O', 'check', '--', this.destination.dest], {
      reject: false,
      stdin: 'ignore',
      env: this.env(),
      extendEnv: false,
      timeout: 5000,
    });
    const m = `${r.stdout}\n${r.stderr}`.match(/pid=(\d+)/);
    return m ? Number(m[1]) : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.controlDir) {
      await execa('ssh', [...this.sshOptions(), '-O', 'exit', '--', this.destination.dest], {
        reject: false,
        stdin: 'ignore',
        env: this.env(),
        extendEnv: false,
        timeout: 5000,
      }).catch(() => {});
      this.askServer?.close();
      rmSync(this.controlDir, { recursive: true, force: true });
      this.controlDir = undefined;
    }
  }
}

/** This machine as a target: commands run directly through execa with argument arrays. */
import { cp, mkdir, readFile, rm, writeFile, rename, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { childEnv } from './env.ts';
import { TransportError, missingTool } from './errors.ts';
import { ChildTargetProcess } from './process.ts';
import { commandName, spawnPrivileged, type PrivilegeTarget } from './privilege.ts';
import { checkEnvName, checkRemotePath } from './quote.ts';
import type { RunOptions, RunResult, SpawnPrivilegedOptions, TargetProcess, Transport, TransportLog } from './types.ts';

const WHERE = 'this machine';

/** Refuses to replace directories whose loss would hurt: "/", the home itself, top-level dirs. */
export function checkReplaceableDir(dir: string, home: string): void {
  const norm = path.posix.normalize(dir).replace(/\/+$/, '') || '/';
  const h = path.posix.normalize(home).replace(/\/+$/, '') || '/';
  if (dir.split('/').includes('..')) throw new TransportError('bad_argument', `refusing to replace ${JSON.stringify(dir)}: it contains ".."`);
  if (norm === '/' || norm === h || norm.split('/').filter(Boolean).length < 2 || h.startsWith(`${norm}/`)) {
    throw new TransportError('bad_argument', `refusing to replace ${JSON.stringify(dir)}: give a dedicated work directory such as ~/.cache/nslat/<version>`);
  }
}

/** spawnPrivileged, taking what a preflight just found (`known`) as it is: already root starts
 *  the command directly, a working `sudo -n` starts it through sudo -n, with no probe first. */
export function spawnPrivilegedKnown(t: PrivilegeTarget, argv: string[], opts: SpawnPrivilegedOptions = {}): Promise<ChildTargetProcess> {
  const known = (opts.mode ?? 'auto') === 'auto' && argv.length > 0 ? opts.known : undefined;
  const name = commandName(argv);
  if (known === 'root') {
    t.log?.(`privilege on ${t.where}: root (preflight), starting ${name} directly`);
    return t.spawn(argv, name);
  }
  if (known === 'sudo-n') {
    t.log?.(`privilege on ${t.where}: sudo -n (preflight) ${name}`);
    return t.spawn(['sudo', '-n', '--', ...argv], name);
  }
  return spawnPrivileged(t, argv, opts);
}

export class LocalTransport implements Transport {
  readonly host = 'local';
  readonly kind = 'local' as const;
  private idCache: { uid: number; user: string } | undefined;

  constructor(private readonly log?: TransportLog) {}

  async home(): Promise<string> {
    return os.homedir();
  }

  private async resolve(p: string, what: string): Promise<string> {
    checkRemotePath(p, what);
    if (p === '~') return this.home();
    if (p.startsWith('~/')) return path.join(await this.home(), p.slice(2));
    return p;
  }

  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    if (argv.length === 0) throw new TransportError('bad_argument', 'run needs a command');
    for (const k of Object.keys(opts.env ?? {})) checkEnvName(k);
    const cwd = opts.cwd ? await this.resolve(opts.cwd, 'working directory') : undefined;
    this.log?.(`local: ${argv.join(' ')}`);
    const r = await execa(argv[0]!, argv.slice(1), {
      reject: false,
      cwd,
      input: opts.input,
      stdin: opts.input === undefined ? 'ignore' : undefined,
      timeout: opts.timeoutMs,
      cancelSignal: opts.signal,
      env: childEnv(opts.env),
      extendEnv: false,
      stripFinalNewline: false,
      encoding: 'utf8',
    });
    if (r.code === 'ENOENT' && r.exitCode === undefined) {
      if (cwd) {
        const ok = await stat(cwd).then((s) => s.isDirectory(), () => false);
        if (!ok) throw new TransportError('bad_argument', `the working directory ${cwd} does not exist on ${WHERE}`);
      }
      throw missingTool(argv[0]!, WHERE);
    }
    if (r.timedOut) throw new TransportError('timeout', `\`${commandName(argv)}\` on ${WHERE} did not finish within ${opts.timeoutMs} ms and was stopped.`);
    if (r.isCanceled) throw new TransportError('timeout', `\`${commandName(argv)}\` on ${WHERE} was cancelled.`);
    if (r.exitCode === undefined) {
      if (r.signal) return { exitCode: 128 + (os.constants.signals[r.signal as NodeJS.Signals] ?? 0), stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
      throw new TransportError('command_failed', `could not run \`${commandName(argv)}\` on ${WHERE}: ${r.shortMessage}`);
    }
    return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  async putDir(localDir: string, remoteDir: string): Promise<void> {
    const dest = await this.resolve(remoteDir, 'directory');
    checkReplaceableDir(dest, await this.home());
    const src = path.resolve(localDir);
    if (path.resolve(dest) === src) return;
    this.log?.(`local: copy ${src} → ${dest}`);
    // Copy next to the destination, then swap, so a failed copy never leaves half a tree.
    const tmp = `${dest}.nslat-tmp-${process.pid}-${Date.now()}`;
    await mkdir(path.dirname(dest), { recursive: true });
    try {
      await cp(src, tmp, { recursive: true, force: true, errorOnExist: false, verbatimSymlinks: true });
      await rm(dest, { recursive: true, force: true });
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw new TransportError('command_failed', `copying ${src} to ${dest} failed: ${(e as Error).message}`);
    }
  }

  async putFile(remotePath: string, content: string | Buffer): Promise<void> {
    const dest = await this.resolve(remotePath, 'file');
    await mkdir(path.dirname(dest), { recursive: true });
    this.log?.(`local: write ${dest}`);
    await writeFile(dest, content);
  }

  async getFile(remotePath: string): Promise<Buffer> {
    const src = await this.resolve(remotePath, 'file');
    this.log?.(`local: read ${src}`);
    try {
      return await readFile(src);
    } catch (e) {
      throw new TransportError('command_failed', `reading ${src} on ${WHERE} failed: ${(e as Error).message}`);
    }
  }

  private identity(): Promise<{ uid: number; user: string }> {
    if (!this.idCache) this.idCache = { uid: process.getuid?.() ?? -1, user: os.userInfo().username };
    return Promise.resolve(this.idCache);
  }

  private spawnChild(argv: string[], name: string): Promise<ChildTargetProcess> {
    const child = execa(argv[0]!, argv.slice(1), {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      env: childEnv(),
      extendEnv: false,
      cleanup: true,
    });
    child.catch(() => {}); // reported through the exit event
    const proc = new ChildTargetProcess(child, (code, signal, tail, err) => {
      if (err) return err.code === 'ENOENT' ? missingTool(argv[0]!, WHERE).message : `${name} could not be started on ${WHERE}: ${err.message}`;
      if (signal) return `the ${name} process was killed by ${signal}.`;
      if (code === 0) return `${name} exited normally.`;
      const said = tail.trim().split('\n').pop()?.trim();
      return `${name} exited with status ${code}${said ? `: ${said}` : ''}.`;
    });
    return new Promise((resolve, reject) => {
      child.once('spawn', () => resolve(proc));
      child.once('error', (e: NodeJS.ErrnoException) => {
        if (child.pid !== undefined) return;
        reject(e.code === 'ENOENT' ? missingTool(argv[0]!, WHERE) : new TransportError('command_failed', `${name} could not be started on ${WHERE}: ${e.message}`));
      });
    });
  }

  spawnPrivileged(argv: string[], opts?: SpawnPrivilegedOptions): Promise<TargetProcess> {
    const target: PrivilegeTarget = {
      where: WHERE,
      log: this.log,
      identity: () => this.identity(),
      run: (a) => this.run(a),
      spawn: (a, name) => this.spawnChild(a, name),
    };
    return spawnPrivilegedKnown(target, argv, opts);
  }

  /** Starts argv as the current user (no privilege change), with the same line-oriented stdio. */
  spawn(argv: string[]): Promise<TargetProcess> {
    if (argv.length === 0) return Promise.reject(new TransportError('bad_argument', 'spawn needs a command'));
    return this.spawnChild(argv, commandName(argv));
  }

  async close(): Promise<void> {}
}

/**
 * Starting the helper as root, the same way on this machine and over SSH:
 *   already root → run it directly; else `sudo -n`; else, when the caller can ask for a password,
 *   `sudo -S -p <random marker>`, writing the password only after the marker shows up on stderr.
 *
 * In the password case the command is wrapped as `sh -c 'printf "%s\n" "$0" >&2; exec "$@"' TOKEN argv…`
 * (a fixed script; argv travels as positional parameters). The token on stderr proves sudo has
 * authenticated, so spawnPrivileged resolves only once the helper really runs, a wrong password is
 * told apart from a slow one, and nothing the caller writes can ever reach sudo's password read.
 */
import { randomBytes } from 'node:crypto';
import { TransportError, missingTool } from './errors.ts';
import { ChildTargetProcess, lastLine } from './process.ts';
import type { AskPass, PrivilegeMode, RunResult, TransportLog } from './types.ts';

export interface PrivilegeTarget {
  /** "this machine" or the SSH destination, for messages. */
  readonly where: string;
  identity(): Promise<{ uid: number; user: string }>;
  run(argv: string[]): Promise<RunResult>;
  /** Starts argv as the unprivileged user; `name` is what the exit report calls it. */
  spawn(argv: string[], name: string): Promise<ChildTargetProcess>;
  readonly log?: TransportLog;
}

/** How long sudo may take to prompt, or to accept a password, before we give up. */
const SUDO_TIMEOUT_MS = 60_000;
const READY_SCRIPT = 'printf "%s\\n" "$0" >&2; exec "$@"';

export function commandName(argv: readonly string[]): string {
  const a = argv[0] ?? '?';
  return a.slice(a.lastIndexOf('/') + 1);
}

/** Replaces every occurrence of `secret` in `text`. */
export function scrubSecret(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return text.split(secret).join('********');
}

export async function spawnPrivileged(
  t: PrivilegeTarget,
  argv: string[],
  opts: { askPass?: AskPass; mode?: PrivilegeMode } = {},
): Promise<ChildTargetProcess> {
  if (argv.length === 0) throw new TransportError('bad_argument', 'spawnPrivileged needs a command');
  const mode = opts.mode ?? 'auto';
  const name = commandName(argv);
  if (!['auto', 'root', 'sudo-n', 'sudo-askpass'].includes(mode)) {
    throw new TransportError('bad_argument', `unknown privilege mode ${JSON.stringify(mode)}`);
  }

  if (mode === 'root' || mode === 'auto') {
    const id = await t.identity();
    if (id.uid === 0) {
      t.log?.(`privilege on ${t.where}: already root, starting ${name} directly`);
      return t.spawn(argv, name);
    }
    if (mode === 'root') {
      throw new TransportError('not_root', `${id.user} on ${t.where} is not root; connect as root or use sudo (mode "auto").`);
    }
  }

  if (mode === 'sudo-n' || mode === 'auto') {
    const probe = await t.run(['sudo', '-n', 'true']);
    if (probe.exitCode === 0) {
      t.log?.(`privilege on ${t.where}: sudo -n ${name}`);
      return t.spawn(['sudo', '-n', '--', ...argv], name);
    }
    const needsPassword = /password is required|terminal is required/i.test(probe.stderr);
    if (!needsPassword) {
      throw new TransportError('sudo_failed', `sudo on ${t.where} refused to run commands: ${lastLine(probe.stderr) || `exit status ${probe.exitCode}`}. Check the user's entry in /etc/sudoers.`);
    }
    if (mode === 'sudo-n' || !opts.askPass) {
      const id = await t.identity();
      throw new TransportError(
        'sudo_password_required',
        `sudo on ${t.where} needs a password for ${id.user}, and no way to ask for it was given; answer the password prompt, or allow it without one (a NOPASSWD line in /etc/sudoers.d/).`,
      );
    }
  }
  if (!opts.askPass) {
    throw new TransportError('sudo_password_required', `mode "sudo-askpass" needs an askPass callback to ask for the sudo password on ${t.where}.`);
  }
  return sudoWithPassword(t, argv, name, opts.askPass);
}

async function sudoWithPassword(t: PrivilegeTarget, argv: string[], name: string, askPass: AskPass): Promise<ChildTargetProcess> {
  const id = await t.identity();
  const marker = `[nslat-sudo-prompt-${randomBytes(9).toString('hex')}]`;
  const token = `nslat-sudo-ready-${randomBytes(9).toString('hex')}`;
  t.log?.(`privilege on ${t.where}: sudo -S (password asked for ${id.user}) ${name}`);
  const proc = await t.spawn(['sudo', '-S', '-p', marker, '--', '/bin/sh', '-c', READY_SCRIPT, token, ...argv], name);

  return new Promise<ChildTargetProcess>((resolve, reject) => {
    let password: string | undefined;
    let state: 'waiting' | 'asking' | 'sent' | 'ready' | 'failed' = 'waiting';
    let buf = '';
    let before = ''; // what sudo said before the helper ran (lecture, "Sorry, try again.")
    // sudo must prompt, or answer a password, within SUDO_TIMEOUT_MS; the user's typing is not timed.
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new TransportError('timeout', `sudo on ${t.where} neither prompted for a password nor started ${name} within ${SUDO_TIMEOUT_MS / 1000} s.`)), SUDO_TIMEOUT_MS);
    };
    arm();

    // Kept only in this closure, to scrub it from anything the process prints (sudo or PAM could echo it).
    proc.scrub = (text) => scrubSecret(text, password);

    const fail = (err: TransportError) => {
      if (state === 'ready' || state === 'failed') return;
      state = 'failed';
      clearTimeout(timer);
      // Our own messages never contain the password; text taken from sudo is scrubbed where it is used.
      proc.end();
      proc.kill('SIGTERM');
      reject(err);
    };

    proc.interceptStderr = (text) => {
      if (state === 'ready') return text;
      if (state === 'failed') return '';
      buf += text;
      for (;;) {
        const ti = buf.indexOf(`${token}\n`);
        const mi = buf.indexOf(marker);
        if (ti >= 0 && (mi < 0 || ti < mi)) {
          before += buf.slice(0, ti);
          const rest = buf.slice(ti + token.length + 1);
          buf = '';
          state = 'ready';
          clearTimeout(timer);
          proc.interceptStderr = undefined;
          t.log?.(`privilege on ${t.where}: sudo accepted, ${name} running`);
          resolve(proc);
          return rest;
        }
        if (mi >= 0) {
          before += buf.slice(0, mi);
          buf = buf.slice(mi + marker.length);
          if (state === 'sent') {
            fail(new TransportError('sudo_wrong_password', `sudo on ${t.where} rejected the password for ${id.user} (wrong password).`));
            return '';
          }
          if (state === 'waiting') {
            state = 'asking';
            clearTimeout(timer);
            askPass(`[sudo] password for ${id.user} on ${t.where}:`).then(
              (pw) => {
                if (state !== 'asking') return;
                if (pw === undefined) {
                  fail(new TransportError('sudo_cancelled', `the sudo password prompt for ${id.user} on ${t.where} was cancelled, so ${name} was not started.`));
                  return;
                }
                if (pw.includes('\n') || pw.includes('\r')) {
                  fail(new TransportError('sudo_wrong_password', `the sudo password for ${id.user} on ${t.where} contains a line break, which sudo cannot read.`));
                  return;
                }
                password = pw;
                state = 'sent';
                arm();
                proc.writeRaw(`${pw}\n`);
              },
              (e: unknown) => fail(new TransportError('sudo_cancelled', `asking for the sudo password on ${t.where} failed: ${(e as Error)?.message ?? String(e)}`)),
            );
          }
          continue;
        }
        // Keep only what could still be the start of a marker or token.
        const keep = Math.max(marker.length, token.length + 1);
        if (buf.length > keep) {
          before += buf.slice(0, buf.length - keep);
          buf = buf.slice(buf.length - keep);
        }
        return '';
      }
    };

    proc.onExit((info) => {
      if (state === 'ready' || state === 'failed') return;
      const said = scrubSecret(before + buf, password).replace(/Sorry, try again\.\s*/g, '');
      if (info.code === 127 && /sudo/.test(said)) return fail(missingTool('sudo', t.where));
      if (/incorrect password|Authentication failure|try again/i.test(before)) {
        return fail(new TransportError('sudo_wrong_password', `sudo on ${t.where} rejected the password for ${id.user} (wrong password).`));
      }
      if (/not in the sudoers|not allowed to/i.test(said)) {
        return fail(new TransportError('sudo_failed', `${id.user} may not use sudo on ${t.where}: ${lastLine(said)}. Add the user to /etc/sudoers.d/.`));
      }
      fail(new TransportError('sudo_failed', `sudo on ${t.where} ended before starting ${name}: ${lastLine(said) || info.why}`));
    });
  });
}

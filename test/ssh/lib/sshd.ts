/**
 * A real sshd on 127.0.0.1 for the SSH tests, with throwaway users:
 *   - nopw: sudo NOPASSWD,  - pw: sudo with a password (askpass path),
 *   - bare: a login shell whose PATH lacks tar and sudo (missing-tool messages),
 *   - clean: sudo NOPASSWD and a PATH with a few base tools only (no clang, cc, gcc, make,
 *     pkg-config, bpftool, llvm); every command run as it is recorded (a ForceCommand wrapper).
 * Everything it creates (users and homes, the sudoers file, sshd, temp files) is removed by stop(),
 * which also runs on process exit if a test forgot or crashed.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync, rmSync, unlinkSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

export interface SshFixture {
  /** Temp directory holding keys, configs and the sshd pid file. */
  dir: string;
  port: number;
  /** ssh_config with Host entries nslat-test (nopw user), nslat-test-pw, nslat-test-bare and nslat-test-clean. */
  sshConfig: string;
  hosts: { nopw: string; pw: string; bare: string; clean: string };
  users: { nopw: string; pw: string; bare: string; clean: string };
  /** Every command line sshd ran for users.clean so far, in order (one entry each, newlines kept). */
  cleanCommands(): string[];
  /** The directories on users.clean's PATH. */
  cleanPath: string;
  /** sudo password of users.pw. */
  password: string;
  /** Everything sshd wrote to stderr so far. */
  sshdLog(): string;
  stop(): Promise<void>;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** PIDs of processes owned by uid (all of them were started by our tests: the users are ours). */
function pidsOfUid(uid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = readFileSync(`/proc/${e}/status`, 'utf8');
      const m = st.match(/^Uid:\s+(\d+)/m);
      if (m && Number(m[1]) === uid) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

const BARE_TOOLS = ['sh', 'dash', 'true', 'false', 'rm', 'mkdir', 'mv', 'cat', 'dirname', 'id', 'printenv', 'pwd', 'env', 'printf', 'echo', 'ls'];
/** What a host with nothing installed still has: coreutils, tar, sudo. No compiler or build tool. */
const CLEAN_TOOLS = [...BARE_TOOLS, 'uname', 'test', 'touch', 'chmod', 'sha256sum', 'df', 'find', 'stat', 'tar', 'sudo', 'base64', 'sleep', 'python3'];
export const BUILD_TOOLS = ['clang', 'cc', 'gcc', 'make', 'pkg-config', 'bpftool', 'llvm-strip', 'ld', 'as'];

/** The recorded command lines that name a compiler or build tool as a word (quoted, as a path,
 *  after `env X=Y`, inside `sh -c` scripts): BUILD_TOOLS, clang-N and llvm-*. */
export function buildToolsIn(lines: string[]): string[] {
  return lines.filter((line) => line.split(/[\s;&|()]+/).some((raw) => {
    const word = raw.replace(/['"\\]/g, ''); // quoting, also quoting nested in an sh -c script
    const base = word.slice(word.lastIndexOf('/') + 1);
    return BUILD_TOOLS.includes(base) || /^(?:clang|llvm)-[\w.-]+$/.test(base);
  }));
}

export async function startSshd(opts: { extraConfig?: string[] } = {}): Promise<SshFixture> {
  if (!isRoot()) throw new Error('the SSH tests need root (they create users and sudoers entries)');
  const tag = randomBytes(3).toString('hex');
  const users = { nopw: `nslat-ssh-nopw-${tag}`, pw: `nslat-ssh-pw-${tag}`, bare: `nslat-ssh-bare-${tag}`, clean: `nslat-ssh-clean-${tag}` };
  const password = `pw-${randomBytes(8).toString('hex')}-x'$"`;
  const dir = await mkdtemp('/tmp/nslat-sshd-');
  const sudoersFile = `/etc/sudoers.d/nslat-ssh-${tag}`;
  const created: { users: string[]; sudoers: boolean } = { users: [], sudoers: false };
  let sshd: ReturnType<typeof execa> | undefined;
  let log = '';
  let stopped = false;

  const stopSync = () => {
    // Last resort on process exit: synchronous, best effort.
    if (stopped) return;
    try {
      if (sshd?.pid) process.kill(sshd.pid, 'SIGKILL');
    } catch {}
    for (const u of created.users) {
      try {
        const uid = Number(readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${u}:`))?.split(':')[2]);
        if (Number.isInteger(uid)) for (const p of pidsOfUid(uid)) try { process.kill(p, 'SIGKILL'); } catch {}
        execFileSync('userdel', ['-r', '-f', u], { stdio: 'ignore', timeout: 10_000 });
      } catch {}
    }
    try {
      if (created.sudoers) unlinkSync(sudoersFile);
    } catch {}
    rmSync(dir, { recursive: true, force: true });
    stopped = true;
  };
  const onExit = () => stopSync();
  const onSignal = (sig: NodeJS.Signals) => {
    stopSync();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, sig);
  };
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const stop = async () => {
    if (stopped) return;
    if (sshd?.pid && sshd.exitCode === null) {
      sshd.kill('SIGTERM');
      await Promise.race([sshd.catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
      if (sshd.exitCode === null) sshd.kill('SIGKILL');
    }
    if (created.sudoers) await rm(sudoersFile, { force: true });
    for (const u of created.users) {
      const r = await execa('id', ['-u', u], { reject: false });
      const uid = Number(r.stdout);
      if (r.exitCode === 0 && Number.isInteger(uid) && uid > 0) {
        for (let i = 0; i < 20; i++) {
          const pids = pidsOfUid(uid);
          if (!pids.length) break;
          for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch {}
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      await execa('userdel', ['-r', '-f', u], { reject: false });
    }
    await rm(dir, { recursive: true, force: true });
    stopped = true;
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };

  const cleanLog = path.join(dir, 'clean-commands.log');
  try {
    await chmod(dir, 0o755); // sshd reads AuthorizedKeysFile as the user
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'nslat-test-host', '-f', path.join(dir, 'host_ed25519')]);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'nslat-test-client', '-f', path.join(dir, 'client_ed25519')]);
    const pub = await readFile(path.join(dir, 'client_ed25519.pub'), 'utf8');
    await writeFile(path.join(dir, 'authorized_keys'), pub, { mode: 0o644 });
    await chmod(path.join(dir, 'authorized_keys'), 0o644);

    // A login shell with a PATH that lacks tar and sudo.
    const bareBin = path.join(dir, 'bare-bin');
    await mkdir(bareBin, { mode: 0o755 });
    for (const tool of BARE_TOOLS) {
      const where = ['/usr/bin', '/bin'].map((d) => path.join(d, tool)).find((p) => existsSync(p));
      if (where) await symlink(where, path.join(bareBin, tool));
    }
    const bareShell = path.join(dir, 'bare-shell');
    await writeFile(bareShell, `#!/bin/sh\nPATH=${bareBin}\nexport PATH\nexec /bin/sh "$@"\n`, { mode: 0o755 });
    await chmod(bareShell, 0o755);

    // The clean user: a PATH of base tools only, and a ForceCommand wrapper that records each
    // command line before running it with that PATH.
    const cleanBin = path.join(dir, 'clean-bin');
    await mkdir(cleanBin, { mode: 0o755 });
    for (const tool of CLEAN_TOOLS) {
      const where = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => path.join(d, tool)).find((p) => existsSync(p));
      if (where) await symlink(where, path.join(cleanBin, tool));
    }
    const recorder = path.join(dir, 'clean-record');
    await writeFile(recorder, `#!/bin/sh\nprintf '%s\\0' "$SSH_ORIGINAL_COMMAND" >> ${cleanLog}\nPATH=${cleanBin}\nexport PATH\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`, { mode: 0o755 });
    await chmod(recorder, 0o755);

    for (const [kind, u] of Object.entries(users)) {
      await execa('useradd', ['-m', '-s', kind === 'bare' ? bareShell : '/bin/sh', u]);
      created.users.push(u);
    }
    // With UsePAM no, sshd refuses locked accounts ("!" in shadow) even for keys: unlock them.
    await execa('chpasswd', [], { input: `${users.pw}:${password}\n` });
    await execa('usermod', ['-p', '*', users.nopw]);
    await execa('usermod', ['-p', '*', users.bare]);
    await execa('usermod', ['-p', '*', users.clean]);
    await writeFile(cleanLog, '', { mode: 0o600 });
    await execa('chown', [users.clean, cleanLog]);

    const sudoers = [
      `${users.nopw} ALL=(ALL:ALL) NOPASSWD: ALL`,
      `${users.pw} ALL=(ALL:ALL) ALL`,
      `${users.bare} ALL=(ALL:ALL) NOPASSWD: ALL`,
      `${users.clean} ALL=(ALL:ALL) NOPASSWD: ALL`,
      '',
    ].join('\n');
    const tmpSudoers = path.join(dir, 'sudoers.check');
    await writeFile(tmpSudoers, sudoers, { mode: 0o440 });
    await execa('visudo', ['-c', '-q', '-f', tmpSudoers]);
    await writeFile(sudoersFile, sudoers, { mode: 0o440 });
    await chmod(sudoersFile, 0o440);
    created.sudoers = true;

    // sshd's privilege separation directory (the openssh-server service normally makes it). It is
    // left in place: another sshd started meanwhile may need it, and /run is emptied at boot.
    if (!existsSync('/run/sshd')) await mkdir('/run/sshd', { mode: 0o755, recursive: true });

    const port = await freePort();
    const cfg = path.join(dir, 'sshd_config');
    await writeFile(
      cfg,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${path.join(dir, 'host_ed25519')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        'UsePAM no',
        'StrictModes no',
        'PubkeyAuthentication yes',
        'PasswordAuthentication yes', // for the ssh-level askpass test (users.pw only has a password)
        'KbdInteractiveAuthentication no',
        'PermitRootLogin no',
        `AllowUsers ${Object.values(users).join(' ')}`,
        // MaxSessions stays at its default (10), like a real server: the transport must cope.
        'MaxStartups 30',
        'ClientAliveInterval 5',
        'LogLevel INFO',
        ...(opts.extraConfig ?? []),
        // Last: a Match block runs to the end of the file.
        `Match User ${users.clean}`,
        `  ForceCommand ${recorder}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    sshd = execa('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { reject: false, buffer: false, stdin: 'ignore', cleanup: true });
    sshd.catch(() => {});
    const proc = sshd;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`sshd did not start listening within 10 s:\n${log}`)), 10_000);
      proc.stderr?.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) {
          clearTimeout(t);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`sshd exited with ${code}:\n${log}`));
      });
    });

    const client = (host: string, user: string) => [
      `Host ${host}`,
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      `  User ${user}`,
      `  IdentityFile ${path.join(dir, 'client_ed25519')}`,
      '  IdentitiesOnly yes',
      '  IdentityAgent none',
      `  UserKnownHostsFile ${path.join(dir, 'known_hosts')}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking accept-new',
      '',
    ];
    const hosts = { nopw: 'nslat-test', pw: 'nslat-test-pw', bare: 'nslat-test-bare', clean: 'nslat-test-clean' };
    const sshConfig = path.join(dir, 'ssh_config');
    await writeFile(sshConfig, [...client(hosts.nopw, users.nopw), ...client(hosts.pw, users.pw), ...client(hosts.bare, users.bare), ...client(hosts.clean, users.clean)].join('\n'), { mode: 0o600 });

    // One record per command line ssh was given (NUL-terminated: a script spans lines).
    const cleanCommands = () => readFileSync(cleanLog, 'utf8').split('\0').filter((l) => l !== '');
    return { dir, port, sshConfig, hosts, users, password, sshdLog: () => log, stop, cleanCommands, cleanPath: cleanBin };
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
}

/** Is a process still alive (and not a zombie)? */
export function alive(pid: number): boolean {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(st);
  } catch {
    return false;
  }
}

/** Waits until pred() is true or the time is up; returns the final value. */
export async function waitFor(pred: () => boolean | Promise<boolean>, ms: number, step = 50): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, step));
  }
}

/** The uid a process runs as, from /proc. */
export async function uidOf(pid: number): Promise<number | undefined> {
  try {
    const st = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = st.match(/^Uid:\s+(\d+)/m);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Program ids currently loaded in the kernel (bpftool). */
export async function loadedProgIds(): Promise<Set<number>> {
  const r = await execa('bpftool', ['-j', 'prog', 'show'], { reject: false });
  if (r.exitCode !== 0) throw new Error(`bpftool prog show failed: ${r.stderr}`);
  const list = JSON.parse(r.stdout || '[]') as Array<{ id: number }>;
  return new Set(list.map((p) => p.id));
}

export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

/**
 * How the core reaches a target host: this machine, or one over SSH.
 * Every command is an argument array; nothing here ever builds a shell string from user input.
 */

/** Asks the user for the sudo password of `user@host`; resolves undefined when they cancel.
 *  The CLI asks on the terminal, the extension in a password box. Never stored or logged. */
export type AskPass = (prompt: string) => Promise<string | undefined>;

export type PrivilegeMode = 'auto' | 'root' | 'sudo-n' | 'sudo-askpass';

export interface SpawnPrivilegedOptions {
  askPass?: AskPass;
  mode?: PrivilegeMode;
  /** With mode 'auto': the privilege a preflight found a moment ago (already root, or sudo -n
   *  works), so the helper starts at once instead of after asking again. */
  known?: 'root' | 'sudo-n';
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Working directory on the target: absolute, or "~/..." (resolved against home()). */
  cwd?: string;
  /** Data written to the command's stdin. */
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Extra environment variables (names and values are validated, never interpolated). */
  env?: Record<string, string>;
}

/** Options of Transport.runAll: one timeout and one environment for the whole batch. */
export type BatchOptions = Pick<RunOptions, 'timeoutMs' | 'signal' | 'env'>;

/** How a TargetProcess ended. `why` is one sentence, e.g. "the SSH connection to h dropped (ssh exit 255)". */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
  why: string;
}

/** Receives one line per transport action (commands run, connection events). Never sees a password. */
export type TransportLog = (line: string) => void;

export interface TransportOptions {
  /** undefined or "local": this machine. Anything else: an SSH destination (user@host, alias,
   *  [user@]host:port, ssh://[user@]host[:port], IPv6 literal). */
  host?: string;
  /** An ssh_config file passed to ssh as `-F FILE` (default: ssh's own, ~/.ssh/config). */
  sshConfig?: string;
  /** Answers ssh's own prompts (host key confirmation, key passphrase, login password). Without it
   *  ssh runs with BatchMode=yes and fails instead of prompting. */
  sshAskPass?: AskPass;
  log?: TransportLog;
}

/** A long-running process on the target (the helper): line-oriented stdio. */
export interface TargetProcess {
  /** Local pid: the process itself, or the local `ssh` client that carries it. */
  readonly pid: number | undefined;
  /** Resolves once, with the same info onExit gets. */
  readonly exited: Promise<ExitInfo>;
  write(line: string): void;
  /** Close stdin: the helper then detaches everything and exits. */
  end(): void;
  /** Each complete stdout line, without its newline. */
  onLine(cb: (line: string) => void): void;
  onStderr(cb: (text: string) => void): void;
  /** exit code, or signal name; `why` says what happened in one sentence. */
  onExit(cb: (info: ExitInfo) => void): void;
  kill(signal?: NodeJS.Signals): void;
}

export interface Transport {
  /** "local" or the SSH destination as given. */
  readonly host: string;
  readonly kind: 'local' | 'ssh';
  /** Set when the system runs the helper as root itself (a systemd socket): says how, and no
   *  privilege of the user is needed. */
  readonly privilegeVia?: string;
  /** Run a fixed program with arguments as the unprivileged user. Resolves with any exit status;
   *  rejects with a TransportError for what is not the program's own failure: missing_tool (not
   *  installed on the target, says what to install), connect_failed / connection_lost (ssh exit
   *  255), timeout (timeoutMs or signal), bad_argument. */
  run(argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** Several short commands at once, each result as run() gives it (a missing program: exit 127):
   *  over SSH in one round trip, run one after another by one remote shell. Optional: runBatch()
   *  falls back to run() side by side. */
  runAll?(commands: string[][], opts?: BatchOptions): Promise<RunResult[]>;
  /** Copy a local directory tree to an absolute/home-relative directory on the target (replacing it). */
  putDir(localDir: string, remoteDir: string): Promise<void>;
  /** Write one file on the target (binary-safe). */
  putFile(remotePath: string, content: string | Buffer): Promise<void>;
  /** Read one file on the target as the unprivileged user, byte for byte (e.g. the kernel's BTF). */
  getFile(remotePath: string, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<Buffer>;
  /** Start argv as the unprivileged user, with the same line-oriented stdio as the helper gets. */
  spawn(argv: string[]): Promise<TargetProcess>;
  /** Start argv as root (`known`: what a preflight just found works, so it is not probed again;
   *  mode 'auto': no sudo if already root; else sudo -n; else `sudo -S` with the
   *  password from askPass, written only after sudo's own random prompt marker shows). Resolves once
   *  the command runs (after sudo accepted the password), so stdin belongs to the command; rejects
   *  with TransportError code sudo_wrong_password, sudo_cancelled, sudo_password_required,
   *  sudo_failed, not_root or missing_tool. */
  spawnPrivileged(argv: string[], opts?: SpawnPrivilegedOptions): Promise<TargetProcess>;
  /** Home directory of the unprivileged user on the target. */
  home(): Promise<string>;
  close(): Promise<void>;
}

/** t.runAll when the transport has it, else each command through t.run side by side (a command
 *  that cannot run at all resolves with exit 127 and the reason on stderr). */
export async function runBatch(t: Transport, commands: string[][], opts: BatchOptions = {}): Promise<RunResult[]> {
  if (t.runAll) return t.runAll(commands, opts);
  return Promise.all(commands.map((c) => t.run(c, opts).catch((e: Error) => ({ exitCode: 127, stdout: '', stderr: e.message }))));
}

/** Errors of the transport layer: one clear sentence plus what to do. */

export type TransportErrorCode =
  | 'bad_destination' // a destination or option refused before anything ran
  | 'bad_argument' // an argument no command line can carry, or a dangerous path
  | 'missing_tool' // a program is not installed on the target
  | 'connect_failed' // ssh could not connect or authenticate
  | 'connection_lost' // the ssh connection dropped while a command ran
  | 'sudo_password_required' // sudo needs a password and no askPass was given
  | 'sudo_wrong_password'
  | 'sudo_cancelled' // askPass was cancelled
  | 'sudo_failed' // sudo refused for another reason
  | 'not_root' // mode 'root' asked for, but the user is not root
  | 'command_failed' // a transport-internal command (tar, mkdir, ...) failed
  | 'timeout';

export class TransportError extends Error {
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    /** For missing_tool: the program that is missing. */
    readonly tool?: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** Debian/Ubuntu package names for programs the transport and the deploy step run on the target. */
const PACKAGES: Record<string, string> = {
  sudo: 'sudo',
  tar: 'tar',
  mkdir: 'coreutils',
  cat: 'coreutils',
  id: 'coreutils',
  printenv: 'coreutils',
  rm: 'coreutils',
  mv: 'coreutils',
  sh: 'dash',
  make: 'make',
  clang: 'clang',
  llc: 'llvm',
  bpftool: 'bpftool (Ubuntu: linux-tools-common and linux-tools-$(uname -r))',
  gcc: 'gcc',
  cc: 'gcc',
  'pkg-config': 'pkg-config',
  ssh: 'openssh-client',
};

export function missingTool(tool: string, where: string): TransportError {
  const base = tool.includes('/') ? tool.slice(tool.lastIndexOf('/') + 1) : tool;
  const pkg = PACKAGES[base] ?? base;
  return new TransportError(
    'missing_tool',
    `\`${base}\` is not installed on ${where}; install it (Debian/Ubuntu: sudo apt-get install ${pkg}; Fedora: sudo dnf install ${base === 'bpftool' ? 'bpftool' : pkg.split(' ')[0]}).`,
    base,
  );
}

/**
 * Quoting and validation for everything that reaches ssh or a remote shell.
 *
 * OpenSSH sends the remote command as one string that the remote user's login shell parses, so a
 * fixed argv is turned into a command line by POSIX single-quoting every word. Nothing else is ever
 * interpolated into a remote command line.
 */
import { TransportError } from './errors.ts';

/** POSIX shell single-quote escaping: the result is always one word, whatever `s` holds. */
export function shQuote(s: string): string {
  if (s.includes('\0')) throw new TransportError('bad_argument', `an argument contains a NUL byte, which no command line can carry: ${JSON.stringify(s)}`);
  if (s !== '' && /^[A-Za-z0-9_\-+=.,/:@%]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A command line for the remote shell from a fixed argv. */
export function shJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new TransportError('bad_argument', 'an empty command was given');
  return argv.map(shQuote).join(' ');
}

export interface SshDestination {
  /** What the caller gave, for messages. */
  readonly given: string;
  /** The destination word given to ssh after `--` (user@host or host). */
  readonly dest: string;
  readonly user?: string;
  readonly host: string;
  readonly port?: number;
}

function refuse(value: string, why: string): never {
  throw new TransportError('bad_destination', `Refusing SSH destination ${JSON.stringify(value)}: ${why}. Use user@host, host, an ~/.ssh/config alias, [user@]host:port or ssh://[user@]host[:port].`);
}

// ssh config aliases and DNS names; '%' would be expanded by ssh's own token rules, so it is refused too.
const HOST_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const USER_RE = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;

function checkPort(value: string, port: string): number {
  if (!/^[0-9]{1,5}$/.test(port)) refuse(value, `the port ${JSON.stringify(port)} is not a number`);
  const n = Number(port);
  if (n < 1 || n > 65535) refuse(value, `the port ${n} is outside 1-65535`);
  return n;
}

/**
 * Parses and validates an SSH destination. Anything that could be taken by ssh as an option
 * (a leading '-') or by a shell as syntax (whitespace, control characters, quotes, ';', '`', '$', ...)
 * is refused with an error naming the value.
 */
export function parseDestination(value: string): SshDestination {
  if (typeof value !== 'string' || value.length === 0) refuse(String(value), 'it is empty');
  if (value.length > 1024) refuse(value.slice(0, 60) + '…', 'it is too long');
  if (value.startsWith('-')) refuse(value, 'it begins with "-", so ssh would read it as an option');
  if (/[\x00-\x20\x7f]/.test(value)) refuse(value, 'it contains whitespace or control characters');
  const bad = value.match(/[;&|`$<>(){}'"\\!*?#~^,]/);
  if (bad) refuse(value, `it contains the character ${JSON.stringify(bad[0])}`);

  let rest = value;
  let port: number | undefined;
  let uri = false;
  if (/^ssh:\/\//i.test(rest)) {
    uri = true;
    rest = rest.slice(6);
    if (rest.endsWith('/')) rest = rest.slice(0, -1);
    if (rest.includes('/')) refuse(value, 'an ssh:// destination may not have a path');
  } else if (rest.includes('/')) {
    refuse(value, 'it contains "/"');
  }
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!user) refuse(value, 'the user name before "@" is empty');
    if (!USER_RE.test(user)) refuse(value, `the user name ${JSON.stringify(user)} has characters a login name cannot have`);
  }
  let host: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) refuse(value, 'an IPv6 address in brackets lacks its "]"');
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after) {
      if (!after.startsWith(':')) refuse(value, `unexpected ${JSON.stringify(after)} after "]"`);
      port = checkPort(value, after.slice(1));
    }
    if (!IPV6_RE.test(host) || !host.includes(':')) refuse(value, `${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colons = (rest.match(/:/g) ?? []).length;
    if (colons >= 2) {
      // A bare IPv6 literal (no port possible without brackets).
      if (uri) refuse(value, 'put an IPv6 address in an ssh:// destination in brackets, e.g. ssh://user@[::1]:22');
      if (!IPV6_RE.test(rest)) refuse(value, `${JSON.stringify(rest)} is not an IPv6 address`);
      host = rest;
    } else if (colons === 1) {
      const c = rest.indexOf(':');
      host = rest.slice(0, c);
      port = checkPort(value, rest.slice(c + 1));
    } else {
      host = rest;
    }
    if (!host.includes(':') && !HOST_RE.test(host)) refuse(value, `the host ${JSON.stringify(host)} is not a host name, address or ssh config alias`);
  }
  if (!host) refuse(value, 'the host is empty');
  if (host.startsWith('-')) refuse(value, 'the host begins with "-"');
  const dest = user ? `${user}@${host}` : host;
  return { given: value, dest, user, host, port };
}

/** Environment variable names allowed in RunOptions.env (the value is quoted, the name cannot be). */
export function checkEnvName(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TransportError('bad_argument', `invalid environment variable name ${JSON.stringify(name)}`);
}

/** A remote path given by the caller: absolute, or starting with "~/" (resolved against the home). */
export function checkRemotePath(p: string, what = 'path'): void {
  if (typeof p !== 'string' || p.length === 0) throw new TransportError('bad_argument', `the remote ${what} is empty`);
  if (p.includes('\0')) throw new TransportError('bad_argument', `the remote ${what} ${JSON.stringify(p)} contains a NUL byte`);
  if (!(p.startsWith('/') || p.startsWith('~/') || p === '~')) {
    throw new TransportError('bad_argument', `the remote ${what} ${JSON.stringify(p)} must be absolute or start with "~/"`);
  }
}

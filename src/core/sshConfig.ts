/**
 * The hosts an SSH config file names, for the extension's host list: the aliases of its `Host`
 * lines (patterns with wildcards or negations are not hosts one can pick), following `Include`
 * the way ssh does (relative paths from ~/.ssh, `*` and `?` globs in the file name). Parsing only:
 * connecting is ssh's job, with the same file (`ssh -F`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';

export interface SshConfigHost {
  /** The alias as written on the Host line (what `ssh ALIAS` and nslat take). */
  alias: string;
  /** Its HostName, User and Port when the block sets them (shown as a description). */
  hostName?: string;
  user?: string;
  port?: number;
  /** The file that names it. */
  file: string;
}

/** Include depth ssh allows. */
const MAX_INCLUDE_DEPTH = 16;
/** Files read at most (a glob over a large directory). */
const MAX_FILES = 64;

/** ssh_config words: whitespace-separated, double quotes group; `key=value` splits at the `=` (the
 *  keys read here have no `=` in their values). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|([^\s"=]+)/g)) out.push(m[1] ?? m[2]!);
  return out;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** The files an Include argument names, sorted, as ssh expands them. */
function includeFiles(arg: string, sshDir: string): string[] {
  const expanded = arg.startsWith('~/') ? join(homedir(), arg.slice(2)) : isAbsolute(arg) ? arg : join(sshDir, arg);
  const dir = dirname(expanded);
  const name = basename(expanded);
  if (!/[*?]/.test(name)) return [expanded];
  if (/[*?]/.test(dir)) return []; // globs in directory names: not followed
  try {
    const re = globToRegExp(name);
    return readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** A Host pattern that names one host: no wildcard, no negation. */
export function isConcreteHost(pattern: string): boolean {
  return pattern !== '' && !/[*?!]/.test(pattern);
}

/** Parses config text; `include` reads the files an Include names (absent: Include is skipped). */
export function parseSshConfig(text: string, file: string, include?: (arg: string) => SshConfigHost[]): SshConfigHost[] {
  const out: SshConfigHost[] = [];
  let current: SshConfigHost[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const w = words(line);
    const key = w[0]?.toLowerCase();
    const args = w.slice(1);
    if (key === 'host') {
      current = args.filter(isConcreteHost).map((alias) => ({ alias, file }));
      out.push(...current);
    } else if (key === 'match') {
      current = [];
    } else if (key === 'include') {
      if (include) for (const a of args) out.push(...include(a));
    } else if (key === 'hostname' && args[0]) {
      for (const h of current) h.hostName ??= args[0];
    } else if (key === 'user' && args[0]) {
      for (const h of current) h.user ??= args[0];
    } else if (key === 'port' && args[0] && /^\d{1,5}$/.test(args[0])) {
      for (const h of current) h.port ??= Number(args[0]);
    }
  }
  return out;
}

/** The hosts of an SSH config file (default ~/.ssh/config) and the files it includes, each alias
 *  once (the first block that names it). A missing or unreadable file gives no hosts. */
export function sshConfigHosts(path: string = join(homedir(), '.ssh', 'config')): SshConfigHost[] {
  const sshDir = join(homedir(), '.ssh');
  let files = 0;
  const read = (p: string, depth: number): SshConfigHost[] => {
    if (depth > MAX_INCLUDE_DEPTH || ++files > MAX_FILES) return [];
    let text: string;
    try {
      if (!statSync(p).isFile()) return [];
      text = readFileSync(p, 'utf8');
    } catch {
      return [];
    }
    return parseSshConfig(text, p, (arg) => includeFiles(arg, sshDir).flatMap((f) => read(f, depth + 1)));
  };
  const seen = new Set<string>();
  return read(path, 0).filter((h) => !seen.has(h.alias) && (seen.add(h.alias), true));
}

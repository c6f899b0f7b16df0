/**
 * The `--filter EXPR` language: terms joined by `and`, each setting one load-time constant of the
 * probes (`const volatile` rodata), so a filter that is not given costs nothing at run time.
 *
 *   tcp | udp                  protocol                       → filter_l4 = 6 | 17
 *   lport N / rport N          local / remote port            → filter_lport / filter_rport
 *   sport N / dport N          source / destination port of the packet: on RX the source is the
 *                              remote side (→ filter_rport, filter_lport), on TX the local side
 *   port N                     either side                    → filter_port (only when the probes
 *                              declare it; the session says so otherwise)
 *   dev NAME | ifindex N       interface                      → filter_ifindex
 *   netns INODE                network namespace inode        → filter_netns
 *   pid N                      process (TX, socket stages)    → filter_pid
 *   cgroup PATH | ID           cgroup v2 (path or id)         → filter_cgroup
 *
 * Parsing is pure; names (dev, cgroup path) are resolved on the target by `resolveFilter`.
 */

export interface FilterSpec {
  l4?: 'tcp' | 'udp';
  port?: number;
  sport?: number;
  dport?: number;
  lport?: number;
  rport?: number;
  dev?: string;
  ifindex?: number;
  netns?: number;
  pid?: number;
  cgroupPath?: string;
  cgroupId?: number;
}

export class FilterError extends Error {
  constructor(message: string, readonly column: number) {
    super(message);
    this.name = 'FilterError';
  }
}

/** The rodata names the probes declare for filters (bpf/include/nslat.h). */
export const FILTER_RODATA = {
  l4: 'filter_l4',
  port: 'filter_port',
  lport: 'filter_lport',
  rport: 'filter_rport',
  ifindex: 'filter_ifindex',
  netns: 'filter_netns',
  pid: 'filter_pid',
  cgroup: 'filter_cgroup',
} as const;

const MAX_EXPR = 1000;
const KEYWORDS = ['tcp', 'udp', 'port', 'sport', 'dport', 'lport', 'rport', 'dev', 'ifindex', 'netns', 'pid', 'cgroup'];

interface Token { text: string; col: number }

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(expr)) !== null) out.push({ text: m[0], col: m.index + 1 });
  return out;
}

function describe(t: string): string {
  const shown = t.length > 40 ? `${t.slice(0, 40)}…` : t;
  return JSON.stringify(shown);
}

function parseUint(tok: Token | undefined, what: string, max: number, after: Token): number {
  if (!tok) throw new FilterError(`"${after.text}" needs ${what} after it (column ${after.col})`, after.col);
  if (!/^[0-9]+$/.test(tok.text)) {
    throw new FilterError(`expected ${what} after "${after.text}" at column ${tok.col}, got ${describe(tok.text)}`, tok.col);
  }
  const n = Number(tok.text);
  if (!Number.isSafeInteger(n) || n > max) throw new FilterError(`${what} ${describe(tok.text)} at column ${tok.col} is out of range (at most ${max})`, tok.col);
  return n;
}

function parsePort(tok: Token | undefined, after: Token): number {
  const n = parseUint(tok, 'a port number (1-65535)', 65535, after);
  if (n === 0) throw new FilterError(`port 0 at column ${tok!.col} is not a valid port (1-65535)`, tok!.col);
  return n;
}

/** Parses a filter expression; throws FilterError with a precise message for anything else. */
export function parseFilter(expr: string): FilterSpec {
  if (typeof expr !== 'string') throw new FilterError('the filter must be a string', 0);
  if (expr.length > MAX_EXPR) throw new FilterError(`the filter is ${expr.length} characters long; at most ${MAX_EXPR} are accepted`, 0);
  // eslint-disable-next-line no-control-regex
  const ctl = /[\x00-\x08\x0b-\x1f\x7f]/.exec(expr);
  if (ctl) throw new FilterError(`control character at column ${ctl.index + 1} in the filter`, ctl.index + 1);
  const toks = tokenize(expr);
  if (toks.length === 0) throw new FilterError('the filter is empty; write e.g. "tcp and port 5201"', 0);
  const spec: FilterSpec = {};
  const seen = new Map<string, Token>();
  let i = 0;
  const once = (key: string, tok: Token) => {
    const prev = seen.get(key);
    if (prev) throw new FilterError(`"${tok.text}" at column ${tok.col} repeats "${prev.text}" at column ${prev.col}; each kind of filter can be given once (only "and" is supported)`, tok.col);
    seen.set(key, tok);
  };
  for (;;) {
    const t = toks[i++]!;
    const word = t.text.toLowerCase();
    switch (word) {
      case 'tcp':
      case 'udp':
        once('l4', t);
        spec.l4 = word;
        break;
      case 'port':
        once('port', t);
        spec.port = parsePort(toks[i++], t);
        break;
      case 'sport':
        once('sport', t);
        spec.sport = parsePort(toks[i++], t);
        break;
      case 'dport':
        once('dport', t);
        spec.dport = parsePort(toks[i++], t);
        break;
      case 'lport':
        once('lport', t);
        spec.lport = parsePort(toks[i++], t);
        break;
      case 'rport':
        once('rport', t);
        spec.rport = parsePort(toks[i++], t);
        break;
      case 'dev': {
        once('dev', t);
        const v = toks[i++];
        if (!v) throw new FilterError(`"dev" needs an interface name after it (column ${t.col})`, t.col);
        if (/^[0-9]+$/.test(v.text)) {
          spec.ifindex = parseUint(v, 'an interface index', 0x7fffffff, t);
        } else if (/^[A-Za-z0-9_.:@-]{1,15}$/.test(v.text) && !v.text.startsWith('-') && !KEYWORDS.includes(v.text) && v.text !== 'and') {
          spec.dev = v.text;
        } else {
          throw new FilterError(`${describe(v.text)} at column ${v.col} is not an interface name (1-15 characters of letters, digits, "_.:@-")`, v.col);
        }
        break;
      }
      case 'ifindex':
        once('dev', t);
        spec.ifindex = parseUint(toks[i++], 'an interface index', 0x7fffffff, t);
        if (spec.ifindex === 0) throw new FilterError(`ifindex 0 at column ${toks[i - 1]!.col} is not an interface`, toks[i - 1]!.col);
        break;
      case 'netns':
        once('netns', t);
        spec.netns = parseUint(toks[i++], 'a network namespace inode number (see `ls -Li /proc/PID/ns/net` or `lsns -t net`)', 0xffffffff, t);
        break;
      case 'pid':
        once('pid', t);
        spec.pid = parseUint(toks[i++], 'a process id', 0x3fffffff, t);
        if (spec.pid === 0) throw new FilterError(`pid 0 at column ${toks[i - 1]!.col} is not a process`, toks[i - 1]!.col);
        break;
      case 'cgroup': {
        once('cgroup', t);
        const v = toks[i++];
        if (!v) throw new FilterError(`"cgroup" needs a cgroup v2 path or id after it (column ${t.col})`, t.col);
        if (/^[0-9]+$/.test(v.text)) spec.cgroupId = parseUint(v, 'a cgroup id', Number.MAX_SAFE_INTEGER, t);
        else if (v.text.startsWith('/') && !v.text.split('/').includes('..') && v.text.length <= 4096) spec.cgroupPath = v.text;
        else throw new FilterError(`${describe(v.text)} at column ${v.col} is not a cgroup: give an absolute path like /sys/fs/cgroup/system.slice (no "..") or a cgroup id`, v.col);
        break;
      }
      case 'or':
      case 'not':
      case '!':
      case '||':
        throw new FilterError(`"${t.text}" at column ${t.col} is not supported: filters are load-time constants, so only terms joined by "and" can be combined`, t.col);
      case 'and':
      case '&&':
        throw new FilterError(`"${t.text}" at column ${t.col} has no filter term before it`, t.col);
      default:
        if (t.text.includes('(') || t.text.includes(')')) throw new FilterError(`parentheses at column ${t.col} are not supported: write terms joined by "and"`, t.col);
        throw new FilterError(`unknown filter term ${describe(t.text)} at column ${t.col}; known terms: ${KEYWORDS.join(', ')}`, t.col);
    }
    if (i >= toks.length) break;
    const conj = toks[i++]!;
    if (conj.text.toLowerCase() !== 'and' && conj.text !== '&&') {
      if (['or', '||'].includes(conj.text.toLowerCase())) throw new FilterError(`"${conj.text}" at column ${conj.col} is not supported: only "and" can join filter terms`, conj.col);
      throw new FilterError(`expected "and" at column ${conj.col}, got ${describe(conj.text)}`, conj.col);
    }
    if (i >= toks.length) throw new FilterError(`the filter ends with "${conj.text}" (column ${conj.col}): a term must follow it`, conj.col);
  }
  const sided = ['sport', 'dport', 'lport', 'rport'].filter((k) => spec[k as keyof FilterSpec] !== undefined);
  if (spec.port !== undefined && sided.length) {
    throw new FilterError(`"port" cannot be combined with "${sided[0]}": "port" already matches either side`, 0);
  }
  if ((spec.sport !== undefined || spec.dport !== undefined) && (spec.lport !== undefined || spec.rport !== undefined)) {
    throw new FilterError('"sport"/"dport" (packet direction) cannot be combined with "lport"/"rport" (socket side): use one pair', 0);
  }
  return spec;
}

/** What the target tells us to turn names into numbers. */
export interface FilterResolver {
  ifindexOf(dev: string): Promise<number | undefined>;
  cgroupIdOf(path: string): Promise<number | undefined>;
}

/** Turns a spec into rodata values for one direction's probes; names are looked up on the target. */
export async function filterToRodata(spec: FilterSpec, resolver?: FilterResolver, dir: 'rx' | 'tx' | 'irq' = 'rx'): Promise<Record<string, number>> {
  const r: Record<string, number> = {};
  if (spec.l4) r[FILTER_RODATA.l4] = spec.l4 === 'tcp' ? 6 : 17;
  if (spec.port !== undefined) r[FILTER_RODATA.port] = spec.port;
  if (spec.lport !== undefined) r[FILTER_RODATA.lport] = spec.lport;
  if (spec.rport !== undefined) r[FILTER_RODATA.rport] = spec.rport;
  // A received packet's source is the remote side; a sent packet's source is the local side.
  if (spec.sport !== undefined) r[dir === 'tx' ? FILTER_RODATA.lport : FILTER_RODATA.rport] = spec.sport;
  if (spec.dport !== undefined) r[dir === 'tx' ? FILTER_RODATA.rport : FILTER_RODATA.lport] = spec.dport;
  if (spec.ifindex !== undefined) r[FILTER_RODATA.ifindex] = spec.ifindex;
  if (spec.dev !== undefined) {
    const idx = resolver ? await resolver.ifindexOf(spec.dev) : undefined;
    if (idx === undefined) throw new FilterError(`no interface named "${spec.dev}" on the target (list them with \`ip link\`)`, 0);
    r[FILTER_RODATA.ifindex] = idx;
  }
  if (spec.netns !== undefined) r[FILTER_RODATA.netns] = spec.netns;
  if (spec.pid !== undefined) r[FILTER_RODATA.pid] = spec.pid;
  if (spec.cgroupId !== undefined) r[FILTER_RODATA.cgroup] = spec.cgroupId;
  if (spec.cgroupPath !== undefined) {
    const id = resolver ? await resolver.cgroupIdOf(spec.cgroupPath) : undefined;
    if (id === undefined) throw new FilterError(`no cgroup v2 directory "${spec.cgroupPath}" on the target`, 0);
    r[FILTER_RODATA.cgroup] = id;
  }
  return r;
}

/** Network namespaces an rx or tx load names for its netfilter hooks (a hook sees one namespace):
 *  the netns filter's, unless it is the helper's own (`ownNetns`), where they attach anyway. IRQ
 *  probes have no netfilter hooks. */
export function netfilterNamespaces(spec: FilterSpec, dir: 'rx' | 'tx' | 'irq', ownNetns?: number): number[] | undefined {
  if (spec.netns === undefined || spec.netns === 0 || dir === 'irq' || spec.netns === ownNetns) return undefined;
  return [spec.netns];
}

/** What the helper lists of the host's sockets and namespaces for a filter (protocol.ts
 *  HostOptions): the sockets of its ports (any side) and process, however short their queues, and
 *  the interfaces and sockets of its network namespace (unless that is the helper's own,
 *  `ownNetns`, read anyway). Undefined when the filter names none of these. */
export function hostOptionsOf(spec: FilterSpec, ownNetns?: number): { ports?: number[]; pids?: number[]; netns?: number[] } | undefined {
  const ports = [...new Set([spec.port, spec.lport, spec.rport, spec.sport, spec.dport].filter((p): p is number => p !== undefined))];
  const out: { ports?: number[]; pids?: number[]; netns?: number[] } = {};
  if (ports.length) out.ports = ports;
  if (spec.pid !== undefined) out.pids = [spec.pid];
  if (spec.netns !== undefined && spec.netns !== 0 && spec.netns !== ownNetns) out.netns = [spec.netns];
  return Object.keys(out).length ? out : undefined;
}

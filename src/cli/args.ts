/**
 * `nslat` command-line parsing: pure (no I/O), so every hostile argument is unit-tested.
 * Anything wrong becomes a UsageError: one sentence saying what, and a hint saying what to do.
 */
import { parseArgs } from 'node:util';
import { FilterError, parseFilter } from '../core/filter.ts';
import type { PrivilegeMode } from '../core/transport/types.ts';
import { MAX_MEASURE_EVERY, parseSampling, type SamplingMode } from '../core/sampling.ts';
import { PER_OCTAVE, type PerOctave } from '../core/export/openmetrics.ts';

export type Format = 'table' | 'json';
export type OutKind = 'jsonl' | 'csv' | 'prom' | 'txt';
export interface OutFile { path: string; kind: OutKind }

export interface CommonTarget {
  host?: string;
  sshConfig?: string;
  privilege: PrivilegeMode;
}

export type Command =
  | { kind: 'help'; topic?: 'check' | 'trace' | 'replay' | 'serve' | 'diff' }
  | { kind: 'version' }
  | ({
      kind: 'check';
      format: Format;
      /** BPF netfilter hooks on (the default); false: --no-netfilter. */
      netfilter: boolean;
      /** Also check that DIR/<stage>.bpf.c compile (where clang is) and load. */
      probesDir?: string;
    } & CommonTarget)
  | ({
      kind: 'trace';
      /** Seconds; 0 = until Ctrl-C. */
      durationS: number;
      load: 'loopback' | 'none';
      out: OutFile[];
      format: Format;
      /** Also print bcc-style log2 histograms per stage (--log2). */
      log2: boolean;
    } & TracingFields &
      CommonTarget)
  | { kind: 'replay'; file: string; format: Format; log2: boolean }
  | ({
      kind: 'serve';
      listen: Listen;
      /** JSON Lines traces only: the raw stream, as trace --out FILE.jsonl writes it. */
      out: OutFile[];
      /** Histogram buckets per power of two in the exposition. */
      perOctave: PerOctave;
      /** The `host` label (default: this machine's name, or the SSH destination). */
      hostLabel?: string;
      /** Reach a helper that systemd runs as root through this socket instead of starting one. */
      helperSocket?: string;
    } & TracingFields &
      CommonTarget)
  | DiffCommand;

/** What `trace` and `serve` both take: the session's probes and how it measures. */
export interface TracingFields {
  stages: Array<'rx' | 'tx' | 'irq'>;
  filter?: string;
  probesDir?: string;
  intervalMs: number;
  /** Which packets are measured (--measure auto|N). */
  sampling: SamplingMode;
  sampleEvery?: number;
  slowNs?: number;
  bpfStats: boolean;
  /** BPF netfilter hooks on (the default); false: --no-netfilter. */
  netfilter: boolean;
}

/** Where `nslat serve` listens. */
export interface Listen { host: string; port: number }

/** The default --listen: loopback only (metrics name the host's sockets and processes), on a port
 *  outside Prometheus's exporter range 9100-9999 (every number there is taken) and below the
 *  Linux ephemeral port range. */
export const DEFAULT_LISTEN: Listen = { host: '127.0.0.1', port: 10064 };

/** `nslat diff A [B]`: two traces, or two ranges (seconds since the trace's start) of one. */
export interface DiffCommand {
  kind: 'diff';
  a: string;
  b?: string;
  rangeA?: [number, number];
  rangeB?: [number, number];
  /** Before against after the first successful probe reload of A. */
  atReload: boolean;
  format: Format;
  alpha?: number;
  minPackets?: number;
}

export class UsageError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `nslat — where time goes in the Linux network stack, per layer and per packet

Usage:
  nslat check  [--host DEST] [--ssh-config FILE] [--probes DIR] [--no-netfilter] [--format table|json]
  nslat trace  [--host DEST] [--ssh-config FILE] [--duration SECONDS] [--stages rx,tx,irq]
               [--filter EXPR] [--probes DIR] [--load loopback|none] [--out FILE]...
               [--format table|json] [--interval MS] [--measure auto|N] [--sample N] [--slow-ms X]
               [--bpf-stats] [--no-netfilter] [--log2]
  nslat replay FILE [--format table|json] [--log2]
  nslat serve  [--listen ADDR:PORT] [--host DEST] [--ssh-config FILE] [--stages rx,tx,irq]
               [--filter EXPR] [--probes DIR] [--interval MS] [--measure auto|N] [--sample N]
               [--slow-ms X] [--bpf-stats] [--no-netfilter] [--buckets-per-octave 8|4|2|1]
               [--host-label NAME] [--helper-socket PATH] [--out FILE.jsonl]
  nslat diff   A.jsonl [B.jsonl] [--range-a S:E] [--range-b S:E] [--at-reload]
               [--alpha P] [--min-packets N] [--format table|json]
  nslat --help | --version

Commands:
  check    Preflight the target (kernel and architecture, BTF, tracefs, privilege, free space;
           it needs no compiler or libraries) and print what is missing and how to fix it; then
           start the helper, load the rx, tx and irq probes, print which mechanism feeds each
           boundary (or why nothing does), and unload them. With --probes DIR, also check clang
           and vmlinux.h where those probes compile. Exit status 0 when tracing can work.
  trace    Copy the shipped helper and probes to the target (nothing is built there), load them
           through the root helper, trace, and print a per-layer percentile table (RX, TX) plus
           IRQ, the percentiles interpolated in log-linear buckets (at most 12.5 % wide).
  replay   Print the same report from a trace saved with --out FILE.jsonl.
  serve    Trace until stopped (SIGTERM, SIGINT) and serve live OpenMetrics for Prometheus on
           GET /metrics (and GET /healthz). Reconnects with backoff when the helper or the SSH
           connection is lost (nslat_up is 0 meanwhile); counters never reset while it runs.
           Reloads the probes when a file in --probes DIR changes, and on SIGHUP.
  diff     Compare two saved traces stage by stage (or two time ranges of one: --range-a and
           --range-b in seconds since its start, or --at-reload: before and after its first probe
           reload): p50 and p99 of each, the shift, and whether it is larger than the
           interval-to-interval noise (Mann–Whitney over per-interval percentiles, Holm-adjusted
           over the stages at --alpha, default 0.01; docs/compare.md).

Options:
  --host DEST          SSH destination (user@host, alias from ~/.ssh/config, host:port,
                       ssh://user@host:port). Default: this machine.
  --ssh-config FILE    ssh_config file passed to ssh (-F FILE).
  --privilege MODE     auto (default: root, else sudo -n, else ask for the sudo password),
                       root, sudo-n or sudo-askpass.
  --duration SECONDS   How long to trace (default 10; 0 = until Ctrl-C; at most 86400).
  --stages LIST        Comma-separated stages to trace: rx, tx, irq (default: all three).
  --filter EXPR        Load-time filter, terms joined by "and": tcp | udp, port N, sport N,
                       dport N, dev NAME, ifindex N, netns INODE, pid N, cgroup PATH|ID.
                       Example: --filter "tcp and port 5201".
  --probes DIR         Trace with DIR/<stage>.bpf.c instead of the built-in probes, compiled
                       with clang on this machine (else on the target) against the target's BTF.
  --load MODE          loopback: run a built-in TCP+UDP ping-pong on 127.0.0.1 and ::1 for the
                       trace's duration (bounded in time and count); none (default).
  --out FILE           Save the session; the extension picks the format, repeat for several:
                         .jsonl  JSON Lines trace (every snapshot and journey; nslat replay reads it)
                         .csv    per-stage summary
                         .prom   OpenMetrics text (histograms in Prometheus exposition format)
                         .txt    seed-style text: one line per sampled packet per stage
  --format FMT         table (default) or json (one JSON document on stdout).
  --interval MS        Snapshot period in ms (default 1000; 100-60000).
  --measure auto|N     Which packets are timed through every boundary, and which hard IRQs and
                       softirq runs are timed: auto (default) 1 in N with N adapting so that at
                       most 5 000 a second are measured per probe object; N: 1 in N; 1: every
                       one (exact counts per stage, every slow outlier caught, at the full cost
                       per packet). Every packet is counted; the kernel counts every IRQ.
  --sample N           Send every Nth packet's journey (0 = none).
  --slow-ms X          Also send every packet slower end to end than X ms.
  --bpf-stats          Turn on kernel bpf_stats to report each program's cost per run.
  --log2               Also print a bcc-style log2 histogram per stage (trace, replay), summed
                       exactly from the log-linear buckets.
  --no-netfilter       No BPF netfilter hooks. They feed ip_rcv and ip_local_deliver on kernels
                       where neither fentry nor kprobes work; a hook sees one network namespace
                       (the helper's, plus the one a "netns INODE" filter names).
  --listen ADDR:PORT   serve: where to listen (default 127.0.0.1:10064; [::1]:PORT for IPv6,
                       0.0.0.0:PORT for every address, port 0 for any free port).
  --buckets-per-octave N  serve: histogram buckets per power of two, 8 (nslat's own, at most
                       12.5 % wide), 4, 2 or 1 (fewer series, buckets up to 25, 50, 100 % wide).
  --host-label NAME    serve: the host label of every sample (default: the host name, or DEST).
  --helper-socket PATH serve: the helper runs as root under systemd (nslat-helper.socket) and is
                       reached through this Unix socket; nslat serve itself needs no privilege.
  -h, --help           This help.  -V, --version  The version.

Ctrl-C stops cleanly: the probes are unloaded and what was collected is printed.
Exit status: 0 success (also after Ctrl-C ends a --duration 0 trace); 1 the target cannot trace,
or the trace ended early (what was collected is still printed); 2 bad arguments; 130 interrupted.
NSLAT_DEBUG=1 prints the helper's log and transport commands on stderr.`;

const HINT = 'Run `nslat --help` for usage.';

function usage(msg: string, hint = HINT): never {
  throw new UsageError(msg, hint);
}

function shown(v: string): string {
  const s = v.length > 60 ? `${v.slice(0, 60)}…` : v;
  return JSON.stringify(s);
}

function num(name: string, v: string | undefined, lo: number, hi: number, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^[0-9]+(\.[0-9]+)?$/.test(t)) usage(`--${name} needs a ${integer ? 'whole ' : ''}number from ${lo} to ${hi}, got ${shown(v)}.`);
  const n = Number(t);
  if (integer && !Number.isInteger(n)) usage(`--${name} needs a whole number, got ${shown(v)}.`);
  if (!(n >= lo && n <= hi)) usage(`--${name} must be between ${lo} and ${hi}, got ${shown(v)}.`);
  return n;
}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) usage(`--${name} must be ${allowed.join(' or ')}, got ${shown(v)}.`);
  return v as T;
}

function nonEmptyPath(name: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v === '' || /[\0]/.test(v)) usage(`--${name} needs a file or directory path, got ${shown(v)}.`);
  // A path that looks like an option is almost always a missing value (`--out --format json`).
  if (v.startsWith('-')) usage(`--${name} needs a value, but got the option-like ${shown(v)}.`, `Write ./${v} if it really is a path.`);
  return v;
}

export function outKind(path: string): OutKind {
  const m = /\.([A-Za-z0-9]+)$/.exec(path);
  const ext = m ? m[1]!.toLowerCase() : '';
  if (['jsonl', 'ndjson', 'json'].includes(ext)) return 'jsonl';
  if (ext === 'csv') return 'csv';
  if (['prom', 'om', 'metrics'].includes(ext)) return 'prom';
  if (['txt', 'log'].includes(ext)) return 'txt';
  usage(`--out ${shown(path)} has no known extension.`, 'Use .jsonl (trace), .csv (summary), .prom (OpenMetrics) or .txt (seed-style text).');
}

const OPTIONS = {
  host: { type: 'string' },
  'ssh-config': { type: 'string' },
  privilege: { type: 'string' },
  duration: { type: 'string' },
  stages: { type: 'string' },
  filter: { type: 'string' },
  probes: { type: 'string' },
  load: { type: 'string' },
  out: { type: 'string', multiple: true },
  format: { type: 'string' },
  interval: { type: 'string' },
  sample: { type: 'string' },
  measure: { type: 'string' },
  'slow-ms': { type: 'string' },
  'bpf-stats': { type: 'boolean' },
  'no-netfilter': { type: 'boolean' },
  log2: { type: 'boolean' },
  listen: { type: 'string' },
  'buckets-per-octave': { type: 'string' },
  'host-label': { type: 'string' },
  'helper-socket': { type: 'string' },
  'range-a': { type: 'string' },
  'range-b': { type: 'string' },
  'at-reload': { type: 'boolean' },
  alpha: { type: 'string' },
  'min-packets': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

const ALLOWED: Record<'check' | 'trace' | 'replay' | 'serve' | 'diff', string[]> = {
  check: ['host', 'ssh-config', 'privilege', 'format', 'no-netfilter', 'probes', 'help'],
  trace: ['host', 'ssh-config', 'privilege', 'duration', 'stages', 'filter', 'probes', 'load', 'out', 'format', 'interval', 'measure', 'sample', 'slow-ms', 'bpf-stats', 'no-netfilter', 'log2', 'help'],
  replay: ['format', 'log2', 'help'],
  serve: ['host', 'ssh-config', 'privilege', 'stages', 'filter', 'probes', 'out', 'interval', 'measure', 'sample', 'slow-ms', 'bpf-stats', 'no-netfilter', 'listen', 'buckets-per-octave', 'host-label', 'helper-socket', 'help'],
  diff: ['format', 'range-a', 'range-b', 'at-reload', 'alpha', 'min-packets', 'help'],
};

/** Parses --listen: "ADDR:PORT", "[IPv6]:PORT", ":PORT" (every address) or "PORT" (loopback). */
export function parseListen(v: string | undefined): Listen {
  if (v === undefined) return DEFAULT_LISTEN;
  const t = v.trim();
  let host: string;
  let port: string;
  const six = /^\[([0-9a-fA-F:.%a-zA-Z]+)\]:(\d+)$/.exec(t);
  const four = /^([A-Za-z0-9.-]*):(\d+)$/.exec(t);
  if (six) [host, port] = [six[1]!, six[2]!];
  else if (four) [host, port] = [four[1] === '' ? '0.0.0.0' : four[1]!, four[2]!];
  else if (/^\d+$/.test(t)) [host, port] = [DEFAULT_LISTEN.host, t];
  else usage(`--listen ${shown(v)} is not ADDR:PORT.`, 'Examples: --listen 127.0.0.1:10064, --listen [::1]:10064, --listen 0.0.0.0:10064.');
  const n = Number(port);
  if (!(Number.isInteger(n) && n >= 0 && n <= 65535)) usage(`--listen ${shown(v)}: the port must be from 0 to 65535.`);
  return { host, port: n };
}

export function parseCli(argv: string[]): Command {
  if (!Array.isArray(argv)) usage('internal: arguments are not a list');
  if (argv.length > 200) usage(`too many arguments (${argv.length}).`);
  for (const a of argv) {
    if (typeof a !== 'string') usage('internal: an argument is not a string');
    if (a.length > 8192) usage(`an argument of ${a.length} characters is too long (at most 8192).`);
  }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    const err = e as { code?: string; message: string };
    const amb = /Option '(-[\w-]+)(?:, -\w)?' argument is ambiguous/.exec(err.message) ?? /Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(err.message);
    if (amb) usage(`${amb[1]} needs a value, but the next argument begins with "-".`, `Give the value after ${amb[1]}; if it really begins with "-", write ${amb[1]}=VALUE.`);
    const missing = /Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(err.message);
    if (missing) usage(`${missing[1]} needs a value.`);
    const msg = (err.message.split('\n')[0] ?? err.message).replace(/\. To specify a positional argument.*$/s, '').replace(/[.\s]+$/, '');
    usage(`${msg}.`);
  }
  const v = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const pos = parsed.positionals;
  const cmd = pos[0];

  if (v.version && !cmd) return { kind: 'version' };
  if (!cmd) {
    if (v.help) return { kind: 'help' };
    usage('no command given.', 'Use `nslat check`, `nslat trace` or `nslat replay FILE`; `nslat --help` shows all options.');
  }
  if (cmd !== 'check' && cmd !== 'trace' && cmd !== 'replay' && cmd !== 'serve' && cmd !== 'diff') {
    if (cmd === 'help') return { kind: 'help' };
    usage(`unknown command ${shown(cmd)}.`, 'Use `nslat check`, `nslat trace`, `nslat replay FILE`, `nslat serve` or `nslat diff A B`.');
  }
  if (v.help) return { kind: 'help', topic: cmd };
  if (v.version) usage('--version takes no command.', 'Run `nslat --version` alone.');
  for (const k of Object.keys(v)) {
    if (v[k] !== undefined && !ALLOWED[cmd].includes(k)) usage(`--${k} does not apply to \`nslat ${cmd}\`.`, `Run \`nslat ${cmd} --help\` to see its options.`);
  }
  const str = (k: string) => {
    const x = v[k];
    return typeof x === 'string' ? x : undefined;
  };
  const format = oneOf<Format>('format', str('format'), ['table', 'json'], 'table');

  if (cmd === 'replay') {
    if (pos.length < 2) usage('`nslat replay` needs the trace file to read.', 'Example: nslat replay trace.jsonl');
    if (pos.length > 2) usage(`\`nslat replay\` takes one file, got ${pos.length - 1}: ${pos.slice(1).map(shown).join(' ')}.`);
    const file = nonEmptyPath('replay FILE', pos[1]!)!;
    return { kind: 'replay', file, format, log2: v.log2 === true };
  }
  if (cmd === 'diff') return parseDiff(pos.slice(1), v, format);
  if (pos.length > 1) usage(`unexpected argument ${shown(pos[1]!)} after \`nslat ${cmd}\`.`, 'Options start with --; quote a --filter expression that has spaces.');

  const host = str('host');
  if (host !== undefined) {
    if (host === '') usage('--host needs a destination, got an empty string.', 'Example: --host user@server, or leave --host out for this machine.');
    if (host.startsWith('-')) usage(`--host ${shown(host)} begins with "-", which ssh would read as an option.`, 'Give a destination such as user@server.');
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x20\x7f]/.test(host)) usage(`--host ${shown(host)} contains whitespace or control characters.`, 'Give a destination such as user@server.');
  }
  const target: CommonTarget = {
    host: host === 'local' ? undefined : host,
    sshConfig: nonEmptyPath('ssh-config', str('ssh-config')),
    privilege: oneOf<PrivilegeMode>('privilege', str('privilege'), ['auto', 'root', 'sudo-n', 'sudo-askpass'], 'auto'),
  };
  if (target.sshConfig && !target.host) usage('--ssh-config only applies with --host.', 'Add --host DEST, or drop --ssh-config.');
  const netfilter = v['no-netfilter'] !== true;
  if (cmd === 'check') {
    const probesDir = nonEmptyPath('probes', str('probes'));
    return { kind: 'check', format, netfilter, ...(probesDir ? { probesDir } : {}), ...target };
  }

  const durationS = num('duration', str('duration'), 0, 86_400, false) ?? 10;
  let stages: Array<'rx' | 'tx' | 'irq'> = ['rx', 'tx', 'irq'];
  const st = str('stages');
  if (st !== undefined) {
    const parts = st.split(',').map((s) => s.trim().toLowerCase());
    if (parts.length === 0 || parts.some((p) => p === '')) usage(`--stages ${shown(st)} has an empty entry.`, 'Example: --stages rx,tx');
    for (const p of parts) if (!['rx', 'tx', 'irq'].includes(p)) usage(`--stages: unknown stage ${shown(p)}.`, 'Stages are rx, tx and irq, comma-separated.');
    stages = [...new Set(parts)] as typeof stages;
  }
  const filter = str('filter');
  if (filter !== undefined) {
    try {
      parseFilter(filter);
    } catch (e) {
      if (e instanceof FilterError) usage(`--filter: ${e.message}.`, 'Example: --filter "tcp and port 5201"; see `nslat trace --help`.');
      throw e;
    }
  }
  const out = ((v.out as string[] | undefined) ?? []).map((p) => {
    const path = nonEmptyPath('out', p)!;
    return { path, kind: outKind(path) };
  });
  const seen = new Set<string>();
  for (const o of out) {
    if (seen.has(o.path)) usage(`--out ${shown(o.path)} is given twice.`);
    seen.add(o.path);
  }
  const slowMs = num('slow-ms', str('slow-ms'), 0, 60_000, false);
  const sampling = parseSampling(str('measure'));
  if (!sampling) usage(`--measure must be auto or a whole number from 1 to ${MAX_MEASURE_EVERY}, not "${str('measure')}"`);
  // What trace and serve both start a session with.
  const tracing = {
    stages,
    filter: filter?.trim() === '' ? undefined : filter,
    probesDir: nonEmptyPath('probes', str('probes')),
    intervalMs: num('interval', str('interval'), 100, 60_000, true) ?? 1000,
    sampling,
    sampleEvery: num('sample', str('sample'), 0, 1_000_000_000, true),
    slowNs: slowMs === undefined ? undefined : Math.round(slowMs * 1e6),
    bpfStats: v['bpf-stats'] === true,
    netfilter,
  };
  if (cmd === 'serve') {
    for (const o of out) if (o.kind !== 'jsonl') usage(`--out ${shown(o.path)}: nslat serve records only JSON Lines traces (.jsonl); it serves the rest live on /metrics.`);
    const per = str('buckets-per-octave');
    const perOctave = per === undefined ? 8 : Number(per);
    if (!(PER_OCTAVE as readonly number[]).includes(perOctave)) usage(`--buckets-per-octave must be 8, 4, 2 or 1, got ${shown(per ?? '')}.`);
    const hostLabel = str('host-label');
    // eslint-disable-next-line no-control-regex
    if (hostLabel !== undefined && (hostLabel === '' || /[\x00-\x1f\x7f]/.test(hostLabel))) usage(`--host-label ${shown(hostLabel)} must be a non-empty name without control characters.`);
    const helperSocket = nonEmptyPath('helper-socket', str('helper-socket'));
    if (helperSocket && target.host) usage('--helper-socket reaches a helper on this machine; it does not combine with --host.', 'Run nslat serve on the traced host itself.');
    if (helperSocket && str('privilege') !== undefined) usage('--helper-socket needs no --privilege: systemd starts the helper as root.');
    if (helperSocket && (v['bpf-stats'] === true || v['no-netfilter'] === true)) usage('with --helper-socket the helper\'s own options are the unit\'s: --bpf-stats and --no-netfilter go on the ExecStart line of nslat-helper@.service.');
    return {
      kind: 'serve',
      ...target,
      ...tracing,
      listen: parseListen(str('listen')),
      out,
      perOctave: perOctave as PerOctave,
      ...(hostLabel !== undefined ? { hostLabel } : {}),
      ...(helperSocket !== undefined ? { helperSocket } : {}),
    };
  }
  return {
    kind: 'trace',
    ...target,
    ...tracing,
    durationS,
    load: oneOf('load', str('load'), ['loopback', 'none'] as const, 'none'),
    out,
    format,
    log2: v.log2 === true,
  };
}

/** "S:E" seconds (S < E) → [S, E]. */
function secondsRange(name: string, v: string | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*$/.exec(v);
  if (!m) usage(`--${name} needs START:END in seconds since the trace's start, got ${shown(v)}.`, `Example: --${name} 0:30`);
  const r: [number, number] = [Number(m[1]), Number(m[2])];
  if (!(r[1] > r[0])) usage(`--${name} ${shown(v)} ends before it starts.`, `Example: --${name} 0:30`);
  return r;
}

function parseDiff(files: string[], v: Record<string, string | string[] | boolean | undefined>, format: Format): DiffCommand {
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  if (files.length === 0) usage('`nslat diff` needs the traces to compare.', 'Example: nslat diff before.jsonl after.jsonl');
  if (files.length > 2) usage(`\`nslat diff\` compares two traces, got ${files.length}: ${files.map(shown).join(' ')}.`);
  const a = nonEmptyPath('diff A', files[0]!)!;
  const b = files[1] === undefined ? undefined : nonEmptyPath('diff B', files[1])!;
  const rangeA = secondsRange('range-a', str('range-a'));
  const rangeB = secondsRange('range-b', str('range-b'));
  const atReload = v['at-reload'] === true;
  if (atReload && (b !== undefined || rangeA || rangeB)) usage('--at-reload compares one trace before and after its first reload: give one file and no --range-a/--range-b.');
  if (b === undefined && !atReload && !(rangeA && rangeB)) usage('`nslat diff` with one trace needs --range-a and --range-b, or --at-reload.', 'Example: nslat diff trace.jsonl --range-a 0:30 --range-b 40:70');
  const alpha = num('alpha', str('alpha'), 0, 0.5, false);
  if (alpha !== undefined && !(alpha > 0)) usage('--alpha must be above 0.');
  const minPackets = num('min-packets', str('min-packets'), 1, 1_000_000, true);
  const out: DiffCommand = { kind: 'diff', a, atReload, format };
  if (b !== undefined) out.b = b;
  if (rangeA) out.rangeA = rangeA;
  if (rangeB) out.rangeB = rangeB;
  if (alpha !== undefined) out.alpha = alpha;
  if (minPackets !== undefined) out.minPackets = minPackets;
  return out;
}

/**
 * One run of the matrix scenario (guest/scenario.sh) on one kernel: in a qemu guest, or natively on
 * the host inside a network namespace created for it. Either way the result is the scenario's files
 * (helper output, events) by name, plus wall times; test/matrix/lib/parse.ts reads them.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { buildInitramfs } from './initramfs.ts';
import { CACHE_DIR, RESULTS_DIR, type GuestKernel } from './kernels.ts';
import { MAC_PEER, MAC_SERVER, runQemu } from './qemu.ts';

const GUEST_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'guest');
export const SCENARIO = join(GUEST_DIR, 'scenario.sh');
export const INIT = join(GUEST_DIR, 'init');
const TOOL_SRC = join(GUEST_DIR, 'nslat-guest.c');
export const TOOL_BIN = join(CACHE_DIR, 'nslat-guest');

/** Process groups of host scenarios still running: killed (by their pid) if this process exits. */
const hostGroups = new Set<number>();
process.once('exit', () => {
  for (const pgid of hostGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** Files the scenario writes (guest/init dumps these on the second serial port). */
export type Files = Map<string, string>;

export interface RunResult {
  label: string;
  files: Files;
  /** Wall time of the whole run (initramfs, boot, scenario, power-off), ms. */
  wallMs: number;
  /** Problems with the run itself (timeout, missing sections): each one fails the test. */
  problems: string[];
  /** Where the logs of this run were written. */
  logDir: string;
  console?: string;
  qemuArgv?: string[];
}

/** Builds nslat-guest (static) into the cache when missing or older than its source. */
export async function buildTool(): Promise<string> {
  mkdirSync(CACHE_DIR, { recursive: true });
  if (existsSync(TOOL_BIN) && statSync(TOOL_BIN).mtimeMs >= statSync(TOOL_SRC).mtimeMs) return TOOL_BIN;
  const tmp = `${TOOL_BIN}.${process.pid}.tmp`;
  const r = await execa('gcc', ['-static', '-O2', '-Wall', '-Wextra', '-std=gnu11', '-o', tmp, TOOL_SRC], { reject: false, all: true, timeout: 120_000 });
  if (r.exitCode !== 0) throw new Error(`building nslat-guest failed (gcc -static needs libc6-dev):\n${r.all}`);
  await execa('mv', ['-f', tmp, TOOL_BIN]);
  return TOOL_BIN;
}

const BEGIN = /^=== nslat-matrix begin (\S+) ===$/;
const END = /^=== nslat-matrix end (\S+) (\d+) ===$/;

/** The sections of the guest's second serial port, checked against the byte counts /init gave. */
export function parseSections(out: string): { files: Files; done: boolean; problems: string[] } {
  const files: Files = new Map();
  const problems: string[] = [];
  const lines = out.replace(/\r\n/g, '\n').split('\n');
  let cur: { name: string; lines: string[] } | undefined;
  let done = false;
  for (const line of lines) {
    const b = BEGIN.exec(line);
    const e = END.exec(line);
    if (b && !cur) {
      cur = { name: b[1]!, lines: [] };
    } else if (e && cur && e[1] === cur.name) {
      const text = cur.lines.length ? `${cur.lines.join('\n')}\n` : '';
      const bytes = Buffer.byteLength(text, 'utf8');
      const want = Number(e[2]);
      // /init adds a newline to a file that lacks one.
      if (bytes !== want && bytes !== want + 1) problems.push(`section ${cur.name}: ${bytes} bytes arrived, the guest wrote ${want}`);
      files.set(cur.name, text);
      cur = undefined;
    } else if (cur) {
      cur.lines.push(line);
    } else if (/^=== nslat-matrix done /.test(line)) {
      done = true;
    }
  }
  if (cur) problems.push(`section ${cur.name} never ended (the guest stopped while writing it)`);
  return { files, done, problems };
}

export interface GuestRunOptions {
  kernel: GuestKernel;
  helper: string;
  objects: string[];
  port: number;
  timeoutMs: number;
}

/** Boots `kernel` with the scenario and returns its files. */
export async function runGuest(o: GuestRunOptions): Promise<RunResult> {
  const start = Date.now();
  const logDir = join(RESULTS_DIR, o.kernel.label);
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const scenarioTimeoutS = Math.max(30, Math.floor(o.timeoutMs / 1000) - 30);
  const initrd = await buildInitramfs({
    helper: o.helper,
    tool: await buildTool(),
    objects: o.objects,
    scenario: SCENARIO,
    init: INIT,
    modules: o.kernel.modules,
    env: {
      NSLAT_MODE: 'guest',
      NSLAT_HELPER: '/nslat/nslat-helper',
      NSLAT_TOOL: '/nslat/nslat-guest',
      NSLAT_OBJECTS: '/nslat/objects',
      NSLAT_WORK: '/tmp/work',
      NSLAT_OUT: '/tmp/out',
      NSLAT_PORT: String(o.port),
      NSLAT_PEER_NS: 'peer',
      NSLAT_IP: '/usr/sbin/ip',
      NSLAT_TC: '/usr/sbin/tc',
      NSLAT_MAC_SERVER: MAC_SERVER,
      NSLAT_MAC_PEER: MAC_PEER,
      NSLAT_TIMEOUT_S: String(scenarioTimeoutS),
    },
  });
  const initrdPath = join(logDir, 'initramfs.cpio');
  writeFileSync(initrdPath, initrd);
  const q = await runQemu({ vmlinuz: o.kernel.vmlinuz, initrd: initrdPath, dir: logDir, timeoutMs: o.timeoutMs });
  rmSync(initrdPath, { force: true });
  const { files, done, problems } = parseSections(q.out);
  if (q.timedOut) problems.unshift(`qemu did not power off within ${o.timeoutMs} ms (killed)`);
  else if (!done) problems.unshift(`the guest powered off without finishing its output (qemu exit ${q.exitCode ?? q.signal})`);
  if (q.stderr.trim()) writeFileSync(join(logDir, 'qemu.stderr.txt'), q.stderr);
  for (const [name, text] of files) writeFileSync(join(logDir, name), text);
  const status = files.get('scenario.status')?.trim();
  if (status !== undefined && status !== '0') problems.push(`scenario.sh exited ${status}${status === '124' ? ' (its timeout)' : ''}: ${files.get('scenario.stderr')?.slice(-1500) ?? ''}`);
  if (!files.has('helper.out')) {
    problems.push(`no helper output from the guest; console tail:\n${q.console.slice(-3000)}\nqemu: ${q.stderr.slice(-1000)}`);
  }
  return { label: o.kernel.label, files, wallMs: Date.now() - start, problems, logDir, console: q.console, qemuArgv: q.argv };
}

export interface HostRunOptions {
  helper: string;
  objects: string[];
  port: number;
  timeoutMs: number;
}

/**
 * Runs the scenario on this machine's kernel inside a fresh network namespace (its loopback and a
 * veth pair to a peer namespace are the NIC path), so no address or route of the host is touched.
 * Both namespaces are removed afterwards whatever happened; the scenario's process group is killed
 * (by its pid) if it outlives the timeout.
 */
export async function runHost(o: HostRunOptions): Promise<RunResult> {
  const start = Date.now();
  const logDir = join(RESULTS_DIR, 'host');
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const tag = `nslat-matrix-${process.pid}`;
  const mainNs = `${tag}-main`;
  const peerNs = `${tag}-peer`;
  const tmp = mkdtempSync(join(tmpdir(), 'nslat-matrix-'));
  const out = join(tmp, 'out');
  const work = join(tmp, 'work');
  mkdirSync(out);
  mkdirSync(work);
  const problems: string[] = [];
  const files: Files = new Map();
  try {
    const tool = await buildTool();
    await execa('ip', ['netns', 'add', mainNs], { timeout: 10_000 });
    const proc = execa('nsenter', [`--net=/run/netns/${mainNs}`, 'sh', SCENARIO], {
      reject: false,
      detached: true,
      stdin: 'ignore',
      all: true,
      env: {
        NSLAT_MODE: 'host',
        NSLAT_HELPER: o.helper,
        NSLAT_TOOL: tool,
        NSLAT_OBJECTS: dirname(o.objects[0]!),
        NSLAT_WORK: work,
        NSLAT_OUT: out,
        NSLAT_PORT: String(o.port),
        NSLAT_PEER_NS: peerNs,
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      },
    });
    if (proc.pid) hostGroups.add(proc.pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The scenario runs in its own process group (detached): end it and its children.
      if (proc.pid) {
        try {
          process.kill(-proc.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }, o.timeoutMs);
    const r = await proc.finally(() => {
      clearTimeout(timer);
      if (proc.pid) hostGroups.delete(proc.pid);
    });
    if (timedOut) problems.push(`the host scenario did not finish within ${o.timeoutMs} ms (killed)`);
    else if (r.exitCode !== 0) problems.push(`scenario.sh exited ${r.exitCode ?? r.signal}: ${String(r.all ?? '').slice(-1500)}`);
    files.set('scenario.stdout', String(r.all ?? ''));
    for (const name of readdirSync(out)) files.set(name, readFileSync(join(out, name), 'utf8'));
    for (const [name, text] of files) writeFileSync(join(logDir, name), text);
    if (!files.has('helper.out')) problems.push('no helper output from the host run');
  } finally {
    await execa('ip', ['netns', 'del', peerNs], { reject: false, timeout: 10_000 });
    await execa('ip', ['netns', 'del', mainNs], { reject: false, timeout: 10_000 });
    rmSync(tmp, { recursive: true, force: true });
  }
  return { label: 'host', files, wallMs: Date.now() - start, problems, logDir };
}

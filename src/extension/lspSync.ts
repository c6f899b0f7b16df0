/**
 * What the extension tells the probe language server about the running session, and what it lets
 * the server do through the session's transport (src/server/protocol.ts has the contract). No
 * vscode import here: plain Node tests cover it (test/unit/lsp-sync.test.ts).
 */
import { basename } from 'node:path';
import type { Report } from '../core/aggregate.ts';
import type { CompilePlace } from '../core/build.ts';
import type { HelperMessage, HelloMessage } from '../core/protocol.ts';
import type { StageStatsParams, TargetParams, TargetRunParams } from '../server/protocol.ts';

/** Why an attach type does not work here, from the helper's start-up `log` lines ("fentry not
 *  permitted on this kernel (EPERM at load)", "kprobes absent on this kernel (…)"): by type, for the
 *  types hello.attach_types marks false. Lines that name no type are left out. */
export function attachReasonsFrom(attachTypes: Record<string, boolean>, messages: readonly HelperMessage[]): Record<string, string> {
  const out: Record<string, string> = {};
  const failed = Object.keys(attachTypes).filter((t) => attachTypes[t] === false);
  // Longest names first, so a type whose name starts another's is tried after it.
  failed.sort((a, b) => b.length - a.length);
  for (const m of messages) {
    if (m.type !== 'log') continue;
    const text = m.message.trim();
    const t = failed.find((name) => !(name in out) && new RegExp(`^${escapeRe(name)}s?\\b`).test(text));
    if (t) out[t] = text;
  }
  return out;
}

export interface TargetInfo {
  host: string;
  kind: 'local' | 'ssh';
  hello: Pick<HelloMessage, 'attach_types'>;
  /** The helper's messages so far (start-up log lines carry the attach reasons). */
  messages?: readonly HelperMessage[];
  /** -I directories on the target (Session.targetIncludeDirs): set when edited probes compile
   *  there (this machine has no clang), so the server compiles there too. */
  targetIncludeDirs?: string[];
}

/** What of a session decides where the language server compiles. */
export interface CompileSite {
  kind: 'local' | 'ssh';
  compilePlace(): Promise<CompilePlace>;
  targetIncludeDirs(): Promise<string[]>;
}

/** The -I directories on the target when the server should compile there: exactly when the
 *  session's edited probes do (this machine has no clang, the target has); otherwise undefined and
 *  the server compiles on this machine, as the session does. */
export async function serverCompileDirs(s: CompileSite): Promise<string[] | undefined> {
  if (s.kind !== 'ssh') return undefined;
  const place = await s.compilePlace();
  return place.where === 'target' ? s.targetIncludeDirs() : undefined;
}

/** The `nslat/target` notification for a session that just started. */
export function targetParams(t: TargetInfo): TargetParams {
  const remote = t.kind === 'ssh';
  const p: TargetParams = { host: t.host || 'local', remote, attachTypes: { ...t.hello.attach_types } };
  const reasons = attachReasonsFrom(t.hello.attach_types, t.messages ?? []);
  if (Object.keys(reasons).length) p.attachReasons = reasons;
  // As bpf/Makefile's `probe` target: include/, probes/, then the target's vmlinux.h.
  if (remote && t.targetIncludeDirs?.length) p.compileOnTarget = { includeDirs: [...t.targetIncludeDirs] };
  return p;
}

/** The `nslat/stageStats` notification from the Aggregator's report() (which, unlike panelState(),
 *  does not touch what the panel has been sent). */
export function stageStatsFrom(r: Pick<Report, 'stages' | 'programs'>, host: string, running = true): StageStatsParams {
  const stages = r.stages.map((s) => {
    const st: StageStatsParams['stages'][number] = { name: s.name, dir: s.dir, p50: s.p50, p99: s.p99, count: s.count, kind: s.kind };
    if (s.from !== undefined) st.from = s.from;
    if (s.to !== undefined) st.to = s.to;
    if (s.cpu !== undefined) st.cpu = s.cpu;
    return st;
  });
  // Programs with runs only (as Health.progs): "0 ns per run" would be a false figure without bpf_stats.
  const progs = r.programs.filter((p) => p.runs > 0).map((p) => ({ name: p.name, ns_per_run: p.ns_per_run, runs: p.runs }));
  return { running, host, stages, progs };
}

/** What the extension sends when no session runs (any more). */
export function stoppedStats(host?: string): StageStatsParams {
  return host ? { running: false, host, stages: [], progs: [] } : { running: false, stages: [], progs: [] };
}

/** Programs the server may run on the target (protocol.ts lists them), by base name. */
const TARGET_COMMANDS = /^(?:uname|cat|base64|sha256sum|test|bpftool|clang(?:-\d+)?)$/;
export const TARGET_RUN_MAX_TIMEOUT_MS = 180_000;
export const TARGET_RUN_DEFAULT_TIMEOUT_MS = 60_000;
const MAX_INPUT = 8 * 1024 * 1024;

/** Checks a `nslat/targetRun` request: an argument array of strings for one of the listed programs,
 *  a string input of sane size, a bounded timeout. Returns the error sentence, or the run to do. */
export function checkTargetRun(p: unknown): { error: string } | { argv: string[]; input?: string; timeoutMs: number } {
  const q = (p ?? {}) as Partial<TargetRunParams>;
  if (!Array.isArray(q.argv) || q.argv.length === 0 || !q.argv.every((a) => typeof a === 'string')) {
    return { error: 'nslat/targetRun: argv must be a non-empty array of strings' };
  }
  const prog = q.argv[0]!;
  if (!TARGET_COMMANDS.test(basename(prog)) || /\s/.test(prog)) {
    return { error: `nslat/targetRun: "${prog.slice(0, 80)}" is not one of the programs the language server may run on the target (uname, cat, base64, sha256sum, test, bpftool, clang)` };
  }
  if (q.argv.some((a) => a.includes('\0'))) return { error: 'nslat/targetRun: an argument contains a NUL byte' };
  if (q.input !== undefined && (typeof q.input !== 'string' || q.input.length > MAX_INPUT)) {
    return { error: 'nslat/targetRun: input must be a string of at most 8 MiB' };
  }
  const t = typeof q.timeoutMs === 'number' && Number.isFinite(q.timeoutMs) && q.timeoutMs > 0 ? q.timeoutMs : TARGET_RUN_DEFAULT_TIMEOUT_MS;
  const out: { argv: string[]; input?: string; timeoutMs: number } = { argv: [...q.argv], timeoutMs: Math.min(Math.round(t), TARGET_RUN_MAX_TIMEOUT_MS) };
  if (q.input !== undefined) out.input = q.input;
  return out;
}

// ---------------------------------------------------------------- one error, not two

/** The parts of a diagnostic the dedupe looks at (VS Code's and core's shapes both fit). */
export interface DiagLike {
  /** 0-based line of the start. */
  line: number;
  message: string;
  /** "nslat clang" / "nslat verifier" / "nslat helper" for the reload's, "clang" for the server's. */
  source?: string;
}

/** Source of the language server's compile diagnostics (src/server/server.ts toLsp). */
export const LSP_CLANG_SOURCE = 'clang';
/** Source of the reload's compile diagnostics (probes.ts toVscodeDiagnostic: `nslat ${source}`). */
export const RELOAD_CLANG_SOURCE = 'nslat clang';

/** Clang's text without what may differ between two runs of it: the trailing warning flag
 *  (" [-Wunused-variable]"), surrounding space, runs of spaces. */
export function normalizeClangMessage(m: string): string {
  return m.replace(/\s*\[-W[^\]]*\]\s*$/, '').replace(/\s+/g, ' ').trim();
}

/**
 * The reload's diagnostics for one file minus the compile errors the language server already shows
 * on that file: same line and same clang message. Verifier and helper diagnostics always stay (only
 * the reload knows them), and so does every compile diagnostic the server does not have.
 */
export function withoutServerDuplicates<T extends DiagLike>(reload: readonly T[], server: readonly DiagLike[]): T[] {
  const have = new Set(server.filter((d) => d.source === LSP_CLANG_SOURCE).map((d) => `${d.line}\u0000${normalizeClangMessage(d.message)}`));
  if (have.size === 0) return [...reload];
  return reload.filter((d) => d.source !== RELOAD_CLANG_SOURCE || !have.has(`${d.line}\u0000${normalizeClangMessage(d.message)}`));
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

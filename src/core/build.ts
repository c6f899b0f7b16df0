/**
 * Compiles one probe source on the target as the unprivileged user, and turns clang's
 * `file:line:col: error: message` output into Diagnostics on the caller's own file.
 */
import type { Diagnostic } from './diagnostic.ts';
import type { Transport } from './transport/types.ts';

const CLANG_LINE = /^(.+?):(\d+):(\d+): (fatal error|error|warning|note): (.*)$/;

/**
 * Parses clang (and make) output. `mapFile` maps a path as clang printed it (the target's) to the
 * caller's path; unmapped paths are kept as printed.
 */
export function parseClangOutput(text: string, mapFile: (file: string) => string | undefined = () => undefined): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const raw of String(text ?? '').replace(/\r/g, '').split('\n')) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, ''); // strip colours if any
    const m = CLANG_LINE.exec(line);
    if (!m) continue;
    const sev = m[4] === 'fatal error' || m[4] === 'error' ? 'error' : (m[4] as 'warning' | 'note');
    out.push({
      file: mapFile(m[1]!) ?? m[1]!,
      line: Number(m[2]),
      column: Number(m[3]),
      severity: sev,
      message: m[5]!.slice(0, 2000),
      source: 'clang',
    });
  }
  return out;
}

export interface CompileRequest {
  transport: Transport;
  /** The deployed bpf/ directory on the target (holds the Makefile, include/, build/vmlinux.h). */
  remoteBpfDir: string;
  /** Absolute source path on the target (already written), and where the object goes. */
  remoteSrc: string;
  remoteObj: string;
  /** Maps target paths in clang's output back to the caller's. */
  mapFile?: (file: string) => string | undefined;
  /** Extra make variables (Deployment.makeVars). */
  makeVars?: string[];
  timeoutMs?: number;
  signal?: AbortSignal;
}

export type CompileResult =
  | { ok: true; object: string; warnings: Diagnostic[]; output: string }
  | { ok: false; diagnostics: Diagnostic[]; output: string; error: string };

export async function compileProbe(req: CompileRequest): Promise<CompileResult> {
  const r = await req.transport.run(
    ['make', '-s', '-C', req.remoteBpfDir, 'probe', `SRC=${req.remoteSrc}`, `OUT=${req.remoteObj}`, ...(req.makeVars ?? [])],
    { timeoutMs: req.timeoutMs ?? 120_000, signal: req.signal, env: { LC_ALL: 'C' } },
  );
  const output = `${r.stderr}${r.stdout ? `\n${r.stdout}` : ''}`.trim();
  const diags = parseClangOutput(output, req.mapFile);
  if (r.exitCode === 0) return { ok: true, object: req.remoteObj, warnings: diags.filter((d) => d.severity !== 'error'), output };
  const errors = diags.filter((d) => d.severity === 'error');
  const local = req.mapFile?.(req.remoteSrc) ?? req.remoteSrc;
  if (errors.length === 0) {
    // No clang diagnostic: a make or tool failure. Put the tail of its output on line 1.
    const tail = output.split('\n').slice(-6).join('\n') || `make exited with status ${r.exitCode}`;
    diags.push({ file: local, line: 0, column: 0, severity: 'error', message: `build failed: ${tail}`, source: 'clang' });
  }
  const first = diags.find((d) => d.severity === 'error')!;
  return {
    ok: false,
    diagnostics: diags,
    output,
    error: `${local} does not compile: ${first.file === local ? '' : `${first.file}:`}${first.line}:${first.column}: ${first.message}`,
  };
}

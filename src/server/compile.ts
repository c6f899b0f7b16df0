/**
 * Compile diagnostics: the probe's unsaved text goes to clang on stdin (`-x c -`), compiled as a
 * reload compiles it (bpf/Makefile's flags, CO-RE against the target's vmlinux.h) to /dev/null, and
 * clang's `file:line:col: error: msg` lines come back as ranges on the document. `<stdin>` is the
 * document; problems inside headers land on the document's #include line that pulled them in.
 *
 * The same backend runs clang on this machine or on the target (TargetAccess): where a session's
 * edited probes compile (this machine when it has clang, else the target), so does the server.
 */
import { bpfCflags, targetArchDefine } from '../core/build.ts';
import { lintProbeSource } from '../core/probe-lint.ts';
import type { TargetAccess } from './kernelInfo.ts';

export interface ClangDiag {
  /** 0-based. */
  line: number;
  character: number;
  endLine: number;
  endCharacter: number;
  severity: 'error' | 'warning' | 'note';
  message: string;
  /** Header the problem is in, when it is not the document itself. */
  file?: string;
}

export type CompileOutcome = { ok: true; diagnostics: ClangDiag[]; exitCode: number } | { ok: false; unavailable: string };

export interface CompileBackend {
  /** Where it compiles, for messages ("local clang", "clang on host"). */
  readonly where: string;
  compile(text: string, docDir: string): Promise<CompileOutcome>;
}

export { targetArchDefine };

export interface ClangBackendOptions {
  access: TargetAccess;
  clang?: string;
  /** -I directories on the machine clang runs on (vmlinux.h's directory among them). */
  includeDirs: (docDir: string) => Promise<string[]>;
  /** uname -m of the target, for __TARGET_ARCH_*. */
  machine: () => Promise<string>;
}

export class ClangBackend implements CompileBackend {
  readonly where: string;
  constructor(private readonly o: ClangBackendOptions) {
    this.where = o.access.local ? 'local clang' : `clang on ${o.access.name}`;
  }

  async compile(text: string, docDir: string): Promise<CompileOutcome> {
    const clang = this.o.clang ?? 'clang';
    const inc = await this.o.includeDirs(docDir);
    const argv = [
      // The flags a reload compiles with (bpf/Makefile's), so both report the same problems.
      clang, ...bpfCflags(await this.o.machine()),
      '-fno-color-diagnostics', '-fno-caret-diagnostics', '-fdiagnostics-print-source-range-info', '-ferror-limit=50',
      // The document's directory is on this machine: a remote clang must not look there (a path
      // that happens to exist on the target would give it the wrong headers).
      ...(this.o.access.local ? ['-iquote', docDir] : []), ...inc.flatMap((d) => ['-I', d]),
      '-x', 'c', '-c', '-', '-o', '/dev/null',
    ];
    const r = await this.o.access.run(argv, { input: text, timeoutMs: 60_000 });
    if (r.exitCode === 127 || (r.exitCode !== 0 && /ENOENT|command not found|No such file or directory.*clang|spawn .*clang/i.test(r.stderr) && !/:\d+:\d+:/.test(r.stderr))) {
      return { ok: false, unavailable: `${clang} was not found ${this.o.access.local ? 'on this machine' : `on ${this.o.access.name}`}` };
    }
    const diagnostics = parseClangDiagnostics(r.stderr, text);
    // What compiles is linted too: the errors a reload refuses before load (same line, same text).
    if (r.exitCode === 0) diagnostics.push(...lintDiagnostics(text));
    if (r.exitCode !== 0 && !diagnostics.some((d) => d.severity === 'error')) {
      const tail = r.stderr.trim().split('\n').slice(-4).join('\n') || `clang exited with status ${r.exitCode}`;
      diagnostics.push({ line: 0, character: 0, endLine: 0, endCharacter: 0, severity: 'error', message: `compile failed: ${tail}` });
    }
    return { ok: true, diagnostics, exitCode: r.exitCode };
  }
}

/** The probe lint's errors (core/probe-lint.ts) as ranges on the document. */
export function lintDiagnostics(text: string): ClangDiag[] {
  const lines = text.split('\n');
  return lintProbeSource(text, '<stdin>').map((d) => {
    const line = Math.max(0, d.line - 1);
    const character = Math.max(0, d.column - 1);
    return { line, character, endLine: line, endCharacter: tokenEnd(lines[line] ?? '', character), severity: d.severity, message: d.message };
  });
}

const DIAG = /^(.+?):(\d+):(\d+):((?:\{\d+:\d+-\d+:\d+\})*):? (fatal error|error|warning|note): (.*)$/;
const INCLUDED = /^In file included from (.+?):(\d+):/;
const ALSO = /^\s*from (.+?):(\d+):/;

/** Parses clang's stderr for a compile of `<stdin>` (= the document, whose text is `text`). */
export function parseClangDiagnostics(stderr: string, text: string): ClangDiag[] {
  const lines = text.split('\n');
  const out: ClangDiag[] = [];
  let includeLine: number | undefined; // the document line whose #include led here
  for (const raw of stderr.replace(/\r/g, '').split('\n')) {
    const inc = INCLUDED.exec(raw) ?? ALSO.exec(raw);
    if (inc) {
      if (inc[1] === '<stdin>') includeLine = Number(inc[2]) - 1;
      continue;
    }
    const m = DIAG.exec(raw);
    if (!m) continue;
    const [, file, l, c, ranges, sev, msg] = m;
    const severity = sev === 'note' ? 'note' : sev === 'warning' ? 'warning' : 'error';
    if (file === '<stdin>') {
      const line = Math.max(0, Number(l) - 1);
      const character = Math.max(0, Number(c) - 1);
      let endLine = line;
      let endCharacter = tokenEnd(lines[line] ?? '', character);
      const r = /\{(\d+):(\d+)-(\d+):(\d+)\}/.exec(ranges ?? '');
      if (r && Number(r[1]) - 1 === line) {
        endLine = Number(r[3]) - 1;
        endCharacter = Number(r[4]) - 1;
        if (endLine === line && endCharacter <= character) endCharacter = tokenEnd(lines[line] ?? '', character);
      }
      out.push({ line, character, endLine, endCharacter, severity, message: msg!.slice(0, 2000) });
      includeLine = undefined;
    } else {
      // In a header: on the #include line of the document when known, else its first line.
      const line = includeLine ?? 0;
      const len = (lines[line] ?? '').length;
      out.push({ line, character: 0, endLine: line, endCharacter: len, severity, message: `${file}:${l}:${c}: ${msg!.slice(0, 2000)}`, file });
    }
  }
  return out;
}

/** End of the identifier, number or operator token starting at `col` (at least one character). */
function tokenEnd(line: string, col: number): number {
  const rest = line.slice(col);
  const m = /^(?:[A-Za-z_]\w*|\d[\w.]*|"(?:[^"\\]|\\.)*"?|->|\S)/.exec(rest);
  return col + Math.max(1, m ? m[0].length : 1);
}

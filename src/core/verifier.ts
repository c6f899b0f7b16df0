/**
 * Maps a BPF verifier log to a Diagnostic on the probe's source line.
 *
 * With `clang -g`, the object carries BTF line info and the kernel prints, before the instructions
 * of each source line, an annotation `; <source text> @ <file>:<line>` (kernels since 6.x; older
 * ones print `; <source text>` only). The rejection message is the last line of the log before the
 * statistics ("verification time", "processed N insns"); the source line is the last annotation
 * before it.
 */
import type { Diagnostic } from './diagnostic.ts';

export interface VerifierMapOptions {
  /** Maps the file named in the log (often a basename, or the target's path) to the caller's path. */
  mapFile?: (file: string) => string | undefined;
  /** Local path and text of the probe, to place logs without `@ file:line` by their source text. */
  source?: { path: string; text: string };
  /** The program the helper named, for the message. */
  program?: string;
  /** Fallback file when nothing can be placed. */
  fallbackFile?: string;
}

const ANNOT_AT = /^;\s?(.*?)\s*@\s*(\S+?):(\d+)\s*$/;
const STATS = /^(verification time|stack depth|processed \d+ insns|max_states_per_insn|-- END PROG LOAD LOG --|libbpf:)/;
const INSN = /^\d+: (\(|R\d|safe|frame|\w+=)/;

interface Annot { text: string; file?: string; line: number; index: number }

/** Finds the rejection message: the last meaningful line before the statistics. */
export function verifierMessage(log: string): { message: string; index: number } | undefined {
  const lines = log.split('\n');
  let end = lines.length;
  for (let i = 0; i < lines.length; i++) {
    if (/^(verification time|processed \d+ insns)/.test(lines[i]!.trim())) { end = i; break; }
  }
  for (let i = end - 1; i >= 0; i--) {
    const l = lines[i]!.trimEnd();
    const t = l.trim();
    if (t === '' || STATS.test(t) || INSN.test(t) || t.startsWith(';')) continue;
    if (/^\s+\d+: /.test(l) || /^from \d+ to \d+:/.test(t)) continue;
    return { message: t, index: i };
  }
  return undefined;
}

function lastAnnotation(lines: string[], before: number): Annot | undefined {
  for (let i = before; i >= 0; i--) {
    const t = lines[i]!.trim();
    if (!t.startsWith(';')) continue;
    const m = ANNOT_AT.exec(t);
    if (m) {
      const line = Number(m[3]);
      if (line <= 0) continue; // "; @ file:0" is compiler-generated code, keep looking
      return { text: m[1]!, file: m[2]!, line, index: i };
    }
    const text = t.replace(/^;\s?/, '').trim();
    if (text) return { text, line: 0, index: i };
  }
  return undefined;
}

function findByText(text: string, source: string): number {
  const want = text.trim();
  if (!want) return 0;
  const lines = source.split('\n');
  let found = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === want) {
      if (found) return found; // ambiguous: keep the first
      found = i + 1;
    }
  }
  if (found) return found;
  for (let i = 0; i < lines.length; i++) if (lines[i]!.includes(want)) return i + 1;
  return 0;
}

/** Returns one error diagnostic for a rejected program (always, even for an unparseable log). */
export function mapVerifierLog(log: string, opts: VerifierMapOptions = {}): Diagnostic {
  const lines = (typeof log === 'string' ? log : '').replace(/\r/g, '').split('\n');
  const msg = verifierMessage(lines.join('\n'));
  const annot = lastAnnotation(lines, msg ? msg.index : lines.length - 1);
  const prefix = `verifier rejected ${opts.program ? `program ${opts.program}` : 'the program'}`;
  let message = msg ? `${prefix}: ${msg.message}` : `${prefix} (no message in the log)`;
  let file = opts.fallbackFile ?? opts.source?.path ?? '';
  let line = 0;
  let column = 0;
  if (annot) {
    if (annot.file) {
      const mapped = opts.mapFile?.(annot.file);
      if (mapped) file = mapped;
      else if (opts.source && basename(opts.source.path) === basename(annot.file)) file = opts.source.path;
      else if (!file) file = annot.file;
      line = annot.line;
    } else if (opts.source) {
      line = findByText(annot.text, opts.source.text);
    }
    if (line && opts.source && file === opts.source.path) {
      const srcLine = opts.source.text.split('\n')[line - 1];
      if (srcLine !== undefined) column = srcLine.length - srcLine.trimStart().length + 1;
    }
    message += ` (at: ${annot.text})`;
  }
  return { file, line, column, severity: 'error', message, source: 'verifier' };
}

function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i >= 0 ? p.slice(i + 1) : p;
}

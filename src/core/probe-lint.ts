/**
 * Probe lint: mistakes in a packet probe that the kernel's verifier accepts but that leave a stage
 * silently wrong, found in the source before it is compiled or loaded (no clang needed).
 *
 * A packet object declares its boundaries in `enum nslat_boundary` (NSLAT_RX_* or NSLAT_TX_*,
 * ordered by value), and a program feeds a boundary by its name: `handle_<b>` or
 * `<b>__<alt>[_<what>]` (bpf/include/nslat.h). Two rules, on each such program and what it calls
 * in the same file:
 *   - it must pass its boundary (to nslat_pass / nslat_record / nslat_begin, directly or through a
 *     helper's boundary parameter), else no packet ever reaches that boundary's histograms; the
 *     first boundary of a direction is exempt (sendmsg contexts, entry programs);
 *   - it must not pass a boundary of its direction before its own to nslat_pass / nslat_record:
 *     those only move a packet forward, so such a stage is never counted (nslat_begin may).
 * Statements after an unconditional `return` at the top level of a function body are dead code and
 * do not count. The lint reads tokens, not C semantics: preprocessor lines are ignored (both
 * branches of an #if count), and a call to something not defined in the file (a macro, a helper
 * of nslat.bpf.h) with a boundary in its arguments counts as passing it, never as going backwards.
 */
import type { Diagnostic } from './diagnostic.ts';

interface Tok {
  kind: 'id' | 'num' | 'str' | 'punct';
  text: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

/** C tokens without comments, string and character literals (one 'str' token each) or
 *  preprocessor lines (with their continuations). */
function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let atLineStart = true; // only blanks so far on this line
  const n = text.length;
  const push = (kind: Tok['kind'], from: number, to: number, l: number, col: number) => out.push({ kind, text: text.slice(from, to), line: l, column: col });
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      atLineStart = true;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      i += 2;
      while (i < n && !(text[i] === '*' && text[i + 1] === '/')) {
        if (text[i] === '\n') {
          line++;
          lineStart = i + 1;
        }
        i++;
      }
      i += 2;
      continue;
    }
    if (c === '#' && atLineStart) {
      // A directive, up to an end of line that is not escaped or inside a comment.
      while (i < n && text[i] !== '\n') {
        let to = i + 1;
        if (text[i] === '/' && text[i + 1] === '/') to = text.indexOf('\n', i) < 0 ? n : text.indexOf('\n', i);
        else if (text[i] === '/' && text[i + 1] === '*') to = text.indexOf('*/', i + 2) < 0 ? n : text.indexOf('*/', i + 2) + 2;
        else if (text[i] === '\\' && text[i + 1] === '\n') to = i + 2;
        for (; i < to; i++) {
          if (text[i] !== '\n') continue;
          line++;
          lineStart = i + 1;
        }
      }
      continue;
    }
    atLineStart = false;
    const col = i - lineStart + 1;
    const start = i;
    if (c === '"' || c === "'") {
      i++;
      while (i < n && text[i] !== c && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
      i++;
      push('str', start, Math.min(i, n), line, col);
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      while (i < n && /\w/.test(text[i]!)) i++;
      push('id', start, i, line, col);
      continue;
    }
    if (/\d/.test(c)) {
      while (i < n && /[\w.]/.test(text[i]!)) i++;
      push('num', start, i, line, col);
      continue;
    }
    const two = text.slice(i, i + 2);
    i += ['->', '++', '--', '<<', '>>', '<=', '>=', '==', '!=', '&&', '||'].includes(two) ? 2 : 1;
    push('punct', start, i, line, col);
  }
  return out;
}

const OPEN: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

/** How a token changes the bracket depth: +1 opening, -1 closing, else 0. */
function nesting(t: Tok): number {
  if (t.kind !== 'punct') return 0;
  if (OPEN[t.text]) return 1;
  return t.text === ')' || t.text === ']' || t.text === '}' ? -1 : 0;
}

/** Index of the token closing the bracket at `open` (or the last token when unbalanced). */
function closing(toks: Tok[], open: number): number {
  const stack: string[] = [];
  for (let i = open; i < toks.length; i++) {
    const t = toks[i]!.text;
    if (toks[i]!.kind !== 'punct') continue;
    if (OPEN[t]) stack.push(OPEN[t]!);
    else if (t === stack[stack.length - 1]) {
      stack.pop();
      if (!stack.length) return i;
    }
  }
  return toks.length - 1;
}

/** The comma-separated arguments between toks[open] = '(' and its closing ')'. */
function argsOf(toks: Tok[], open: number): { args: Tok[][]; end: number } {
  const end = closing(toks, open);
  const args: Tok[][] = [];
  let cur: Tok[] = [];
  let depth = 0;
  for (let i = open + 1; i < end; i++) {
    const t = toks[i]!;
    depth += nesting(t);
    if (depth === 0 && t.kind === 'punct' && t.text === ',') {
      args.push(cur);
      cur = [];
    } else cur.push(t);
  }
  if (cur.length || args.length) args.push(cur);
  return { args, end };
}

/** Unconditional return at the top level of a body: [from, to) are the dead tokens after it. */
interface Cut {
  ret: Tok;
  from: number;
  to: number;
}

interface Fn {
  name: string;
  params: string[];
  /** The tokens between the body's braces. */
  body: Tok[];
  cuts: Cut[];
  /** Line of the SEC("...") before it: a program. */
  secLine?: number;
}

/** Macros defining a program whose first argument is its name (BPF_PROG, BPF_KPROBE, ...). */
const PROG_MACRO = /^BPF_[A-Z0-9_]+$/;

/** A parameter's name: its last identifier outside brackets ('' for `void` or `...`). */
function paramName(p: Tok[]): string {
  let depth = 0;
  let name = '';
  for (const t of p) {
    if (t.text === '[' || t.text === '(') depth++;
    else if (t.text === ']' || t.text === ')') depth--;
    else if (depth === 0 && t.kind === 'id') name = t.text;
  }
  return name === 'void' ? '' : name;
}

/** Statement boundaries: a `return` right after one of these starts a statement of its own. */
const STATEMENT_END = new Set([';', '{', '}', ':']);

/** Top-level unconditional returns of a body and the code after each, up to the next label. */
function findCuts(body: Tok[]): Cut[] {
  const cuts: Cut[] = [];
  let depth = 0;
  for (let i = 0; i < body.length; i++) {
    const t = body[i]!;
    depth += nesting(t);
    if (depth !== 0 || t.text !== 'return' || t.kind !== 'id') continue;
    const prev = body[i - 1];
    if (prev && !(prev.kind === 'punct' && STATEMENT_END.has(prev.text))) continue; // if (...) return, else return
    let j = i + 1;
    for (let d = 0; j < body.length; j++) {
      const u = body[j]!;
      d += nesting(u);
      if (d === 0 && u.kind === 'punct' && u.text === ';') break;
    }
    const from = j + 1;
    let to = from;
    for (let d = 0; to < body.length; to++) {
      const u = body[to]!;
      d += nesting(u);
      // A label at the top level: reachable again (goto).
      const label = u.kind === 'id' && u.text !== 'default' && body[to + 1]?.text === ':';
      if (d === 0 && label && (to === from || STATEMENT_END.has(body[to - 1]!.text))) break;
    }
    if (to > from) cuts.push({ ret: t, from, to });
    i = to - 1;
  }
  return cuts;
}

interface Parsed {
  /** The boundary constants in order, and the direction of the object. */
  boundaries: string[];
  fns: Map<string, Fn>;
  programs: Fn[];
}

function parse(text: string): Parsed {
  const toks = tokenize(text);
  const boundaries: string[] = [];
  const fns = new Map<string, Fn>();
  const programs: Fn[] = [];
  let declStart = 0;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.text === ';' || t.text === '}') {
      declStart = i + 1;
      continue;
    }
    if (t.text === 'enum' && toks[i + 1]?.text === 'nslat_boundary' && toks[i + 2]?.text === '{') {
      const end = closing(toks, i + 2);
      boundaries.push(...enumerators(toks.slice(i + 3, end)));
      i = end;
      declStart = i + 1;
      continue;
    }
    if (t.text === '{') {
      const end = closing(toks, i);
      const fn = definition(toks, declStart, i, end);
      if (fn) {
        fns.set(fn.name, fn);
        if (fn.secLine !== undefined) programs.push(fn);
      }
      i = end;
      declStart = i + 1;
    }
  }
  return { boundaries, fns, programs };
}

/** NSLAT_RX_* / NSLAT_TX_* enumerators of one enum body, ordered by value. */
function enumerators(body: Tok[]): string[] {
  const found: Array<{ name: string; value: number; pos: number }> = [];
  let next = 0;
  for (const [pos, item] of argsOf([{ kind: 'punct', text: '(', line: 0, column: 0 }, ...body, { kind: 'punct', text: ')', line: 0, column: 0 }], 0).args.entries()) {
    const name = item[0]?.kind === 'id' ? item[0].text : undefined;
    if (!name) continue;
    let value = next;
    if (item[1]?.text === '=') {
      const lit = item.length === 3 && item[2]!.kind === 'num' ? Number.parseInt(item[2]!.text, item[2]!.text.startsWith('0x') ? 16 : 10) : NaN;
      value = Number.isFinite(lit) ? lit : next;
    }
    next = value + 1;
    if (/^NSLAT_(RX|TX)_/.test(name)) found.push({ name, value, pos });
  }
  return found.sort((a, b) => a.value - b.value || a.pos - b.pos).map((f) => f.name);
}

/** A function definition whose body is toks[open..end], its declaration from toks[declStart]. */
function definition(toks: Tok[], declStart: number, open: number, end: number): Fn | undefined {
  const close = open - 1;
  if (close <= declStart || toks[close]!.text !== ')') return undefined;
  // The '(' matching that ')', searching back.
  let depth = 0;
  let paren = close;
  for (; paren >= declStart; paren--) {
    const s = toks[paren]!.text;
    if (s === ')') depth++;
    else if (s === '(' && --depth === 0) break;
  }
  const head = toks[paren - 1];
  if (paren <= declStart || head?.kind !== 'id') return undefined;
  const { args } = argsOf(toks, paren);
  let name = head.text;
  let params = args;
  if (PROG_MACRO.test(name) && args[0]?.length === 1 && args[0][0]!.kind === 'id') {
    name = args[0][0]!.text;
    params = args.slice(1);
  }
  let secLine: number | undefined;
  for (let k = declStart; k < paren - 1; k++) if (toks[k]!.text === 'SEC' && toks[k]!.kind === 'id') secLine = toks[k]!.line;
  const body = toks.slice(open + 1, end);
  return { name, params: params.map(paramName), body, cuts: findCuts(body), secLine };
}

// ------------------------------------------------------------ passing boundaries

type Kind = 'pass' | 'start';

/** nslat.bpf.h's boundary arguments (argument index: what the function does with it). */
const BUILTIN: Record<string, Map<number, Kind>> = {
  nslat_pass: new Map([[1, 'pass']]),
  nslat_record: new Map([[1, 'pass']]),
  nslat_begin: new Map([[1, 'start']]),
};

const NOT_CALLS = new Set(['if', 'while', 'for', 'switch', 'return', 'sizeof', 'typeof', '__typeof__', '_Static_assert', 'SEC']);

interface Call {
  callee: string;
  args: Tok[][];
}

function callsIn(body: Tok[]): Call[] {
  const out: Call[] = [];
  for (let i = 0; i + 1 < body.length; i++) {
    if (body[i]!.kind === 'id' && body[i + 1]!.text === '(' && !NOT_CALLS.has(body[i]!.text)) out.push({ callee: body[i]!.text, args: argsOf(body, i + 1).args });
  }
  return out;
}

/** One passage of a boundary constant: to a boundary argument ('pass' / 'start'), or to something
 *  not defined in the file ('other': a macro may pass it). */
interface Passage {
  constant: string;
  tok: Tok;
  kind: Kind | 'other';
}

/**
 * What the programs pass, with the dead code after each cut removed except for the cuts in
 * `restored` (all of them: the code as written, ignoring returns).
 */
class Flow {
  private readonly calls = new Map<string, Call[]>();
  /** Boundary parameters of the file's functions: index → kinds. */
  private readonly bparams = new Map<string, Map<number, Set<Kind>>>();

  constructor(private readonly p: Parsed, restored: ReadonlySet<Cut> | 'all') {
    for (const fn of p.fns.values()) {
      const dead = fn.cuts.filter((c) => restored !== 'all' && !restored.has(c));
      const body = fn.body.filter((_, i) => !dead.some((c) => i >= c.from && i < c.to));
      this.calls.set(fn.name, callsIn(body));
      this.bparams.set(fn.name, new Map());
    }
    // A parameter forwarded to a boundary argument is one itself (to a fixpoint: helpers of helpers).
    for (let changed = true; changed;) {
      changed = false;
      for (const fn of p.fns.values()) {
        const mine = this.bparams.get(fn.name)!;
        for (const call of this.calls.get(fn.name)!) {
          for (const [idx, kinds] of this.positions(call.callee)) {
            const ids = new Set((call.args[idx] ?? []).filter((t) => t.kind === 'id').map((t) => t.text));
            fn.params.forEach((param, pi) => {
              if (!param || !ids.has(param)) return;
              const set = mine.get(pi) ?? new Set<Kind>();
              mine.set(pi, set);
              for (const k of kinds) {
                if (set.has(k)) continue;
                set.add(k);
                changed = true;
              }
            });
          }
        }
      }
    }
  }

  private positions(callee: string): Map<number, ReadonlySet<Kind>> {
    const b = BUILTIN[callee];
    if (b) return new Map([...b].map(([i, k]) => [i, new Set([k])]));
    return this.bparams.get(callee) ?? new Map();
  }

  /** The file's functions a program reaches (itself first, then breadth first). */
  reached(prog: string): string[] {
    const seen = [prog];
    for (let i = 0; i < seen.length; i++) {
      for (const c of this.calls.get(seen[i]!) ?? []) if (this.p.fns.has(c.callee) && !seen.includes(c.callee)) seen.push(c.callee);
    }
    return seen;
  }

  /** Every boundary constant the program hands on, with what receives it. */
  passages(prog: string): Passage[] {
    const known = new Set(this.p.boundaries);
    const out: Passage[] = [];
    for (const f of this.reached(prog)) {
      for (const call of this.calls.get(f)!) {
        const inFile = this.p.fns.has(call.callee);
        const pos = this.positions(call.callee);
        call.args.forEach((arg, idx) => {
          const kinds = pos.get(idx);
          if (inFile && !kinds) return; // an ordinary parameter of a helper
          for (const tok of arg) {
            if (tok.kind !== 'id' || !known.has(tok.text)) continue;
            const kind: Passage['kind'] = !kinds ? 'other' : kinds.has('start') ? 'start' : 'pass';
            out.push({ constant: tok.text, tok, kind });
          }
        });
      }
    }
    return out;
  }
}

// ------------------------------------------------------------ the rules

interface Bound {
  prog: Fn;
  /** Index of its boundary in the enum. */
  b: number;
  /** Its alternative: programs of one group and alternative attach (or not) together. */
  alt: string;
}

const ALT: Record<string, string> = { fexit: 'fentry', kretprobe: 'kprobe' };

/** The boundary a program feeds by its name (nslat.h's naming), if any. */
function bound(prog: Fn, names: string[]): Bound | undefined {
  const m = /^handle_(.+)$/.exec(prog.name);
  if (m) {
    const b = names.indexOf(m[1]!);
    return b < 0 ? undefined : { prog, b, alt: prog.name };
  }
  const sep = prog.name.indexOf('__');
  if (sep <= 0) return undefined;
  const b = names.indexOf(prog.name.slice(0, sep));
  if (b < 0) return undefined;
  const alt = prog.name.slice(sep + 2).split('_')[0]!;
  return { prog, b, alt: `${names[b]}__${ALT[alt] ?? alt}` };
}

/** Diagnostics of several programs on one line, said once. */
class Findings {
  private readonly at = new Map<string, { line: number; column: number; progs: string[]; say: (prog: string) => string }>();

  add(key: string, line: number, column: number, prog: string, say: (prog: string) => string): void {
    const f = this.at.get(key);
    if (f) {
      if (!f.progs.includes(prog)) f.progs.push(prog);
    } else this.at.set(key, { line, column, progs: [prog], say });
  }

  diagnostics(file: string): Diagnostic[] {
    return [...this.at.values()]
      .sort((a, b) => a.line - b.line || a.column - b.column)
      .map((f) => ({
        file, line: f.line, column: f.column, severity: 'error' as const,
        message: f.say(f.progs[0]!) + (f.progs.length > 1 ? ` (so do ${f.progs.slice(1).join(', ')})` : ''),
        // Refused before load, like a compile error.
        source: 'clang' as const,
      }));
  }
}

/** Errors in a packet probe's source that the verifier would let through (see the top of the file). */
export function lintProbeSource(text: string, file: string): Diagnostic[] {
  const parsed = parse(text);
  if (!parsed.boundaries.length) return [];
  const names = parsed.boundaries.map((c) => c.replace(/^NSLAT_(RX|TX)_/, '').toLowerCase());
  // Order only means something within a direction (RX or TX).
  const dir = (i: number) => parsed.boundaries[i]!.slice(0, 'NSLAT_RX_'.length);
  const before = (x: number, b: number) => x >= 0 && x < b && dir(x) === dir(b);
  const entry = (b: number) => parsed.boundaries.every((_, x) => !before(x, b));
  const progs = parsed.programs.flatMap((p) => bound(p, names) ?? []);
  if (!progs.length) return [];
  const live = new Flow(parsed, new Set());
  const asWritten = new Flow(parsed, 'all');
  const found = new Findings();

  const backwards = new Set<string>();
  for (const { prog, b } of progs) {
    for (const p of live.passages(prog.name)) {
      const x = parsed.boundaries.indexOf(p.constant);
      if (p.kind !== 'pass' || !before(x, b)) continue;
      backwards.add(prog.name);
      found.add(`back:${p.tok.line}:${p.constant}`, p.tok.line, p.tok.column, prog.name, (who) =>
        `${who} feeds ${names[b]} but passes ${names[x]}, which comes before it: this stage would count backwards (nslat_pass only moves forward)`);
    }
  }

  const passes = (flow: Flow, prog: string, b: number) => flow.passages(prog).some((p) => p.constant === parsed.boundaries[b]);
  // A program that hands no boundary on at all, even as written, beside one that does in its
  // alternative, keeps state for that one (the UDP queue head for the read, say).
  const feeder = (prog: string) => asWritten.passages(prog).some((p) => p.kind !== 'other');
  for (const { prog, b, alt } of progs) {
    if (entry(b) || backwards.has(prog.name) || passes(live, prog.name, b)) continue;
    if (!feeder(prog.name) && progs.some((o) => o.alt === alt && feeder(o.prog.name))) continue;
    // The return that cut it off: the one without which it would pass its boundary.
    const cut = live.reached(prog.name)
      .flatMap((f) => parsed.fns.get(f)!.cuts)
      .find((c) => passes(new Flow(parsed, new Set([c])), prog.name, b));
    const at = cut ? cut.ret : { line: prog.secLine!, column: 1 };
    found.add(`never:${at.line}:${b}`, at.line, at.column, prog.name, (who) =>
      `${who} feeds ${names[b]} but never passes it: no packet reaches the ${names[b]} histograms`);
  }
  return found.diagnostics(file);
}

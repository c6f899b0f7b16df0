/**
 * A light reading of a probe's C source: SEC("…") attach points, the program each one heads
 * (name, BPF_PROG arguments, body), and what the body does with its skb. No preprocessor and no
 * parser: the probes nslat ships (libbpf-tools style) are regular enough for this, and clang
 * reports everything else.
 */
import type { AttachKind } from './kernelInfo.ts';

export interface AttachPoint {
  /** The section as written, without a leading "?" (libbpf's no-autoload marker). */
  section: string;
  /** The section's prefix: "tp", "tracepoint", "raw_tp", "tp_btf", "fentry", "kprobe", ... */
  prefix: string;
  kind: AttachKind | undefined;
  /** tp/tracepoint: the category ("net"). */
  category?: string;
  /** Tracepoint or function name ("netif_receive_skb"); '' when not given yet. */
  name: string;
}

const PREFIX_KIND: Record<string, AttachKind> = {
  tp: 'tracepoint',
  tracepoint: 'tracepoint',
  raw_tp: 'raw_tp',
  raw_tracepoint: 'raw_tp',
  'raw_tp.w': 'raw_tp',
  'raw_tracepoint.w': 'raw_tp',
  tp_btf: 'tp_btf',
  fentry: 'fentry',
  'fentry.s': 'fentry',
  fmod_ret: 'fentry',
  fexit: 'fexit',
  'fexit.s': 'fexit',
  kprobe: 'kprobe',
  kretprobe: 'kretprobe',
};
export const SECTION_PREFIXES = Object.keys(PREFIX_KIND);

export function parseSection(raw: string): AttachPoint {
  const section = raw.replace(/^\?/, '');
  const slash = section.indexOf('/');
  const prefix = slash < 0 ? section : section.slice(0, slash);
  const rest = slash < 0 ? '' : section.slice(slash + 1);
  const kind = PREFIX_KIND[prefix];
  if (kind === 'tracepoint') {
    const i = rest.indexOf('/');
    return i < 0 ? { section, prefix, kind, name: '', category: rest } : { section, prefix, kind, category: rest.slice(0, i), name: rest.slice(i + 1) };
  }
  // kprobe/func+0x10: the function is before the offset.
  const name = kind === 'kprobe' || kind === 'kretprobe' ? rest.replace(/\+.*$/, '') : rest;
  return { section, prefix, kind, name };
}

export interface Param {
  type: string;
  name: string;
}

export interface Program {
  name: string;
  nameStart: number;
  /** BPF_PROG, BPF_KPROBE, ... or undefined for a plain `int f(ctx)`. */
  macro?: string;
  params: Param[];
  /** Offsets of the body: from its "{" to just after its "}". */
  bodyStart: number;
  bodyEnd: number;
}

export interface SecSite {
  attach: AttachPoint;
  /** Offsets of the string's content (between the quotes). */
  start: number;
  end: number;
  program?: Program;
}

/** Offsets are kept: comments become spaces; with `strings`, string and char contents too. */
export function mask(text: string, strings: boolean): string {
  const out = text.split('');
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    const d = text[i + 1];
    if (c === '/' && d === '/') {
      while (i < n && text[i] !== '\n') out[i++] = ' ';
    } else if (c === '/' && d === '*') {
      out[i++] = ' ';
      out[i++] = ' ';
      while (i < n && !(text[i] === '*' && text[i + 1] === '/')) {
        if (text[i] !== '\n') out[i] = ' ';
        i++;
      }
      if (i < n) {
        out[i++] = ' ';
        out[i++] = ' ';
      }
    } else if (c === '"' || c === "'") {
      i++;
      while (i < n && text[i] !== c && text[i] !== '\n') {
        if (text[i] === '\\') {
          if (strings) out[i] = ' ';
          i++;
        }
        if (strings && i < n && text[i] !== '\n') out[i] = ' ';
        i++;
      }
      i++;
    } else {
      i++;
    }
  }
  return out.join('');
}

const PROG_MACROS = new Set(['BPF_PROG', 'BPF_PROG2', 'BPF_KPROBE', 'BPF_KRETPROBE', 'BPF_KSYSCALL', 'BPF_KPROBE_SYSCALL']);

/** Splits at top-level commas. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(' || ch === '[') depth++;
    if (ch === ')' || ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((a) => a.trim()).filter(Boolean);
}

export function parseParams(list: string): Param[] {
  return splitArgs(list)
    .filter((a) => a !== 'void')
    .map((a) => {
      const m = /^([\s\S]*?)(\w+)\s*(\[[^\]]*\])?$/.exec(a);
      return m ? { type: m[1]!.replace(/\s+/g, ' ').trim(), name: m[2]! } : { type: a, name: '' };
    });
}

/** Finds the matching "}" for the "{" at `open` in comment- and string-masked text. */
function matchBrace(bare: string, open: number): number {
  let depth = 0;
  for (let i = open; i < bare.length; i++) {
    if (bare[i] === '{') depth++;
    else if (bare[i] === '}') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return bare.length;
}

export class ProbeSource {
  readonly code: string;
  readonly bare: string;
  readonly sites: SecSite[];

  constructor(readonly text: string) {
    this.code = mask(text, false);
    this.bare = mask(text, true);
    this.sites = this.findSites();
  }

  private findSites(): SecSite[] {
    const sites: SecSite[] = [];
    const re = /\bSEC\s*\(\s*"((?:[^"\\\n]|\\.)*)"\s*\)/g;
    for (let m = re.exec(this.code); m; m = re.exec(this.code)) {
      const start = m.index + m[0].indexOf('"') + 1;
      const site: SecSite = { attach: parseSection(m[1]!), start, end: start + m[1]!.length };
      const after = m.index + m[0].length;
      const stop = this.bare.slice(after).search(/[{;=]/);
      if (stop >= 0 && this.bare[after + stop] === '{') {
        const header = this.bare.slice(after, after + stop);
        const h = /(\w+)\s*\(([\s\S]*)\)\s*$/.exec(header);
        if (h) {
          const bodyStart = after + stop;
          const bodyEnd = matchBrace(this.bare, bodyStart);
          const headerStart = after + h.index;
          if (PROG_MACROS.has(h[1]!)) {
            const args = splitArgs(h[2]!);
            const name = args[0] ?? '';
            const nameStart = this.code.indexOf(name, headerStart + h[1]!.length);
            site.program = { name, nameStart, macro: h[1], params: parseParams(args.slice(1).join(', ')), bodyStart, bodyEnd };
          } else {
            site.program = { name: h[1]!, nameStart: headerStart, params: parseParams(h[2]!), bodyStart, bodyEnd };
          }
        }
      }
      sites.push(site);
    }
    return sites;
  }

  siteAt(offset: number): SecSite | undefined {
    return this.sites.find((s) => offset >= s.start && offset <= s.end);
  }

  /** The program whose header or body contains `offset`. */
  programAt(offset: number): SecSite | undefined {
    return this.sites.find((s) => s.program && offset >= s.start && offset < s.program.bodyEnd);
  }

  /** NSLAT_* enum entries a program's body uses. */
  enumRefs(p: Program): string[] {
    const body = this.bare.slice(p.bodyStart, p.bodyEnd);
    return [...new Set(body.match(/\bNSLAT_(?:RX|TX|IRQ)_[A-Z0-9_]+\b/g) ?? [])];
  }

  /** Places in a program's body that read through an skb pointer: [offset, length, what].
   *  `readers`: functions known to read through their skb argument (name → argument indexes). */
  skbReads(p: Pick<Program, 'params' | 'bodyStart' | 'bodyEnd'>, readers: SkbReaders = new Map()): Array<{ offset: number; length: number; what: string }> {
    const vars = new Set<string>();
    for (const prm of p.params) if (/\bstruct\s+sk_buff\s*\*$/.test(prm.type) && prm.name) vars.add(prm.name);
    const region = this.bare.slice(p.bodyStart, p.bodyEnd);
    for (const m of region.matchAll(/\bstruct\s+sk_buff\s*\*\s*(?:const\s+)?(\w+)/g)) vars.add(m[1]!);
    const out: Array<{ offset: number; length: number; what: string }> = [];
    const seen = new Set<number>();
    const add = (at: number, length: number, what: string) => {
      if (seen.has(at)) return;
      seen.add(at);
      out.push({ offset: p.bodyStart + at, length, what });
    };
    // BPF_CORE_READ*(…skb…), bpf_core_read*/bpf_probe_read*(…, skb) and casts to struct sk_buff *.
    const inCalls: Array<[number, number]> = [];
    const calls = /\b(BPF_CORE_READ\w*|BPF_PROBE_READ\w*|bpf_core_read\w*|bpf_probe_read\w*)\s*\(/g;
    for (const m of region.matchAll(calls)) {
      const open = m.index + m[0].length - 1;
      const close = matchingParen(region, open);
      const args = splitArgs(region.slice(open + 1, close));
      // The source pointer: first argument of BPF_CORE_READ(src, …), else the last one.
      const srcIdx = /^BPF_CORE_READ(?:_BITFIELD\w*)?$|^BPF_PROBE_READ$/.test(m[1]!) ? 0 : /_INTO$/.test(m[1]!) ? 1 : args.length - 1;
      const src = args[srcIdx] ?? '';
      const isSkb = [...vars].some((v) => new RegExp(`^&?\\s*\\(?\\s*${v}\\b`).test(src) && !new RegExp(`^&\\s*${v}\\s*$`).test(src)) ||
        /\(\s*struct\s+sk_buff\s*\*\s*\)/.test(src);
      if (isSkb) {
        add(m.index, close + 1 - m.index, `${m[1]}(${args.join(', ')})`);
        inCalls.push([m.index, close + 1]);
      }
    }
    // Calls of functions that read through their skb argument (static inline helpers).
    for (const m of region.matchAll(/\b(\w+)\s*\(/g)) {
      const idx = readers.get(m[1]!);
      if (!idx || inCalls.some(([s, e]) => m.index >= s && m.index < e)) continue;
      const open = m.index + m[0].length - 1;
      const close = matchingParen(region, open);
      const args = splitArgs(region.slice(open + 1, close));
      const hit = [...idx].some((i) => {
        const a = (args[i] ?? '').replace(/^\(\s*(?:const\s+)?struct\s+sk_buff\s*\*\s*\)\s*/, '');
        return [...vars].some((v) => a === v);
      });
      if (hit) {
        add(m.index, close + 1 - m.index, `${m[1]}() reads it`);
        inCalls.push([m.index, close + 1]);
      }
    }
    // skb->field outside those calls.
    for (const v of vars) {
      for (const m of region.matchAll(new RegExp(`(?<![\\w.>])${v}\\s*->\\s*\\w+`, 'g'))) {
        if (!inCalls.some(([s, e]) => m.index >= s && m.index < e)) add(m.index, m[0].length, `${m[0].replace(/\s+/g, '')}`);
      }
    }
    return out.sort((a, b) => a.offset - b.offset);
  }
}

export type SkbReaders = Map<string, Set<number>>;

const NOT_FUNCTIONS = new Set(['if', 'for', 'while', 'switch', 'return', 'sizeof', 'do', 'else', ...PROG_MACROS]);

/**
 * Functions defined in `text` (static inline helpers) that read through one of their
 * struct sk_buff * arguments, directly or through another such function: name → argument indexes.
 * `known` are readers from included headers.
 */
export function findSkbReaders(text: string, known: SkbReaders = new Map()): SkbReaders {
  const src = new ProbeSource(text);
  const fns: Array<{ name: string; params: Param[]; bodyStart: number; bodyEnd: number }> = [];
  for (const m of src.bare.matchAll(/\b(\w+)\s*\(([^(){};]*)\)\s*\{/g)) {
    if (NOT_FUNCTIONS.has(m[1]!)) continue;
    const bodyStart = m.index + m[0].length - 1;
    fns.push({ name: m[1]!, params: parseParams(m[2]!), bodyStart, bodyEnd: matchBrace(src.bare, bodyStart) });
  }
  const readers: SkbReaders = new Map(known);
  for (let round = 0; round < 4; round++) {
    let changed = false;
    for (const f of fns) {
      f.params.forEach((prm, i) => {
        if (!/\bstruct\s+sk_buff\s*\*$/.test(prm.type) || readers.get(f.name)?.has(i)) return;
        const only = { ...f, params: [prm] };
        if (src.skbReads(only, readers).length) {
          const set = readers.get(f.name) ?? new Set<number>();
          set.add(i);
          readers.set(f.name, set);
          changed = true;
        }
      });
    }
    if (!changed) break;
  }
  return readers;
}

/** Inside `SEC("…` before the cursor: the text typed so far and where the string starts. */
export function secContextAt(text: string, offset: number): { typed: string; start: number; end: number } | undefined {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const before = text.slice(lineStart, offset);
  const m = /\bSEC\s*\(\s*"([^"]*)$/.exec(before);
  if (!m) return undefined;
  const start = offset - m[1]!.length;
  const rest = text.slice(offset);
  const close = rest.search(/["\n]/);
  const end = close >= 0 && rest[close] === '"' ? offset + close : offset;
  return { typed: m[1]!, start, end };
}

/** Inside the argument list of `BPF_PROG(name, ` (or BPF_KPROBE…): the macro and its attach point. */
export function progArgsContextAt(src: ProbeSource, offset: number): { macro: string; attach: AttachPoint; argsStart: number } | undefined {
  const code = src.bare.slice(0, offset);
  const re = /\b(BPF_PROG2?|BPF_KPROBE|BPF_KRETPROBE)\s*\(\s*\w*\s*,/g;
  let last: RegExpExecArray | undefined;
  for (let m = re.exec(code); m; m = re.exec(code)) last = m;
  if (!last) return undefined;
  const tail = code.slice(last.index + last[0].length);
  if (/[){;]/.test(tail)) return undefined;
  const site = [...src.sites].reverse().find((s) => s.end < last!.index);
  if (!site) return undefined;
  return { macro: last[1]!, attach: site.attach, argsStart: last.index + last[0].length };
}

/** Index of the ')' closing the '(' at open (text.length when unbalanced). */
function matchingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  return text.length;
}

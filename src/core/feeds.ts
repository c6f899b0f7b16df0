/**
 * What fed each boundary (and each named group of a probe object), and why nothing did: the
 * helper's `loaded` message turned into words for the CLI tables, `nslat check` and the panel.
 *
 *  - mechanismOf: "netfilter", "tp_btf", "fentry+fexit": the attach types of the programs that
 *    feed it, in the order the helper lists them.
 *  - explainReason / shortReason: the helper's reason for a boundary nothing feeds is one clause per
 *    program ("ip_rcv__fentry_v4: fentry not permitted on this kernel (EPERM at load); …"); these
 *    merge the clauses that say the same thing (complete, or shortened for a table cell).
 *  - refusalsOf: programs the verifier refused in a load that went on without them, with what their
 *    group fell back to.
 *
 * Pure (type imports only): the panel imports it too.
 */
import type { Alternative, AttachType, Feed, LoadedMessage } from './protocol.ts';

/** Something fed by programs: a boundary or a named group, as `loaded` reports them. */
export interface Fed {
  active: boolean;
  attach?: AttachType;
  reason?: string;
  feeds?: Feed[];
}

/** The attach types that feed it, joined by "+" ("fentry+tp_btf"); undefined when nothing does.
 *  Without `feeds` (an older helper) the single `attach` it reports. */
export function mechanismOf(x: Fed): string | undefined {
  if (!x.active) return undefined;
  const types: string[] = [];
  for (const f of x.feeds ?? []) if (!types.includes(f.attach)) types.push(f.attach);
  if (types.length) return types.join('+');
  return x.attach;
}

/** Where the feeding programs attach: "ipv4/pre_routing, ipv6/pre_routing" (kernel functions,
 *  tracepoints or netfilter hooks), with the extra network namespaces of netfilter hooks. */
export function feedTargets(feeds: readonly Feed[] | undefined): string {
  const out: string[] = [];
  for (const f of feeds ?? []) {
    const extra = (f.netns ?? []).filter((n) => n !== 0);
    const t = extra.length ? `${f.target} (also in netns ${extra.join(', ')})` : f.target;
    if (!out.includes(t)) out.push(t);
  }
  return out.join(', ');
}

/** "netfilter (ipv4/pre_routing, ipv6/pre_routing)", or undefined when nothing feeds it. */
export function describeFeeds(x: Fed): string | undefined {
  const m = mechanismOf(x);
  if (!m) return undefined;
  const t = feedTargets(x.feeds);
  return t ? `${m} (${t})` : m;
}

/** The group a program belongs to by its name (`<group>__<alt>[_what]`), if any. */
export function groupOf(program: string): string | undefined {
  const i = program.indexOf('__');
  return i > 0 ? program.slice(0, i) : undefined;
}

/** The alternative a program is (fentry/fexit → fentry, kprobe/kretprobe → kprobe, netfilter, tp). */
export function alternativeOf(program: string): Alternative | undefined {
  const i = program.indexOf('__');
  if (i <= 0) return undefined;
  const alt = program.slice(i + 2);
  if (/^(fentry|fexit)(_|$)/.test(alt)) return 'fentry';
  if (/^(kprobe|kretprobe)(_|$)/.test(alt)) return 'kprobe';
  if (/^netfilter(_|$)/.test(alt)) return 'netfilter';
  if (/^tp(_|$)/.test(alt)) return 'tp';
  return undefined;
}

interface ReasonPart {
  /** The program the clause is about, when the helper named one. */
  program?: string;
  text: string;
}

/** Splits "prog: text; prog: text" into clauses; a reason of another shape is one clause. */
function reasonParts(reason: string): ReasonPart[] {
  const parts: ReasonPart[] = [];
  // A clause starts at a program name followed by ": "; texts may contain "; " themselves
  // ("alternative x chosen; fentry not permitted"), so split only where a program name follows.
  const re = /(?:^|; )([A-Za-z_][A-Za-z0-9_]*): /g;
  const starts: Array<{ at: number; body: number; program: string }> = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(reason)) !== null) {
    const program = m[1]!;
    // only names that look like programs: a group alternative or a handle_ program
    if (!program.includes('__') && !program.startsWith('handle_')) continue;
    starts.push({ at: m.index, body: m.index + m[0].length, program });
  }
  if (starts.length === 0 || starts[0]!.at !== 0) return reason.trim() ? [{ text: reason.trim() }] : [];
  for (let i = 0; i < starts.length; i++) {
    const end = i + 1 < starts.length ? starts[i + 1]!.at : reason.length;
    parts.push({ program: starts[i]!.program, text: reason.slice(starts[i]!.body, end).trim() });
  }
  return parts;
}

const MENTIONS_MECHANISM = /\b(fentry|fexit|kprobes?|kretprobes?|netfilter|tracepoints?|tp_btf|raw_tp|IRQ handlers)\b/;

/** The clauses of a reason with repeats merged, each once, in order; a clause that does not say
 *  which mechanism it is about is prefixed with it ("netfilter: rejected by the verifier: …"). */
function mergedClauses(reason: string): string[] {
  const parts = reasonParts(reason);
  const byText = new Map<string, Set<string>>();
  for (const p of parts) {
    const who = p.program ? (alternativeOf(p.program) ?? p.program) : '';
    let s = byText.get(p.text);
    if (!s) byText.set(p.text, (s = new Set()));
    if (who) s.add(who);
  }
  const out: string[] = [];
  for (const [text, who] of byText) {
    if (byText.size === 1 || who.size === 0 || MENTIONS_MECHANISM.test(text)) out.push(text);
    else out.push(`${[...who].join('/')}: ${text}`);
  }
  return out;
}

/** The helper's reason, complete, with clauses that repeat merged:
 *  "fentry not permitted on this kernel (EPERM at load); kprobes absent on this kernel (…)". */
export function explainReason(reason: string | undefined): string {
  if (!reason) return 'no program feeds it';
  return mergedClauses(reason).join('; ');
}

/** The same, short enough for a table cell: "fentry not permitted; kprobes absent; netfilter hooks
 *  turned off (--no-netfilter)". Details that only say how the helper found out (errno names,
 *  "at load") and "on this kernel" are dropped; what a user can act on stays. */
export function shortReason(reason: string | undefined): string {
  if (!reason) return 'no program feeds it';
  const out: string[] = [];
  for (const c of mergedClauses(reason)) {
    const s = c
      .replace(/ on this kernel\b/g, '')
      .replace(/\s*\((?:[^()]*\b(?:E[A-Z]{2,}|at load|at attach)\b[^()]*)\)/g, '')
      .trim();
    if (s && !out.includes(s)) out.push(s);
  }
  return out.join('; ') || 'no program feeds it';
}

/** A program the verifier (or a CO-RE relocation) refused in a load that went on without it. */
export interface Refusal {
  slot: string;
  program: string;
  section: string;
  /** The helper's reason ("rejected by the verifier: R0 invalid mem access 'map_value_or_null'"). */
  reason?: string;
  /** Tail of the verifier log, with `; source @ file:line` annotations. */
  log: string;
  /** The boundary or named group it fed, when it is an alternative of one. */
  group?: string;
  /** What feeds that group now ("tp_btf (netif_receive_skb)"), undefined when nothing does. */
  fallback?: string;
  /** What became of it: "its group nslat_test fell back to tp_btf (netif_receive_skb)",
   *  "it was dropped alone". */
  outcome: string;
  /** One sentence for warnings: what was refused, what happened to its group, that the rest loaded. */
  message: string;
}

/** The refused programs of a `loaded` message (status "failed" with a log). */
export function refusalsOf(loaded: LoadedMessage): Refusal[] {
  const out: Refusal[] = [];
  for (const p of loaded.programs) {
    if (p.status !== 'failed' || !p.log) continue;
    const group = groupOf(p.name);
    const what = /^rejected by the verifier/.test(p.reason ?? '') || !p.reason ? 'was refused by the verifier on this kernel' : `could not be loaded on this kernel (${p.reason})`;
    const r: Refusal = { slot: loaded.slot, program: p.name, section: p.section, log: p.log, outcome: '', message: '' };
    if (p.reason !== undefined) r.reason = p.reason;
    let then: string;
    if (group) {
      r.group = group;
      const fed = loaded.boundaries.find((b) => b.name === group) ?? loaded.groups?.find((g) => g.name === group);
      const fallback = fed ? describeFeeds(fed) : undefined;
      if (fallback) {
        r.fallback = fallback;
        then = `its group ${group} fell back to ${fallback}`;
      } else {
        then = `its group ${group} fell back to nothing (no other alternative works here), so ${group} is not measured`;
      }
    } else {
      then = 'it was dropped alone';
    }
    r.outcome = then;
    r.message = `stage ${loaded.slot}: program ${p.name} ${what}; ${then}; the rest loaded`;
    out.push(r);
  }
  return out;
}

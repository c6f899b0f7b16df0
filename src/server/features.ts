/**
 * The language features over one probe document, given what is known of the target kernel:
 * nslat's own checks (attach points, skb use after free), SEC completion, BPF_PROG argument
 * completion and hovers. No LSP connection here: server.ts wires these to it.
 */
import {
  CompletionItemKind,
  DiagnosticSeverity,
  DiagnosticTag,
  MarkupKind,
  type CompletionItem,
  type CompletionList,
  type Diagnostic,
  type Hover,
} from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { formatNs, formatValue } from '../core/format.ts';
import type { FuncInfo, KernelBtf, Param as BtfParam } from './btf.ts';
import { counterHover, isSkbFreeingFunction, SKB_GONE_TRACEPOINTS, stagesFor } from './catalogue.ts';
import type { AttachKind, Capabilities, Capability, KernelIdentity } from './kernelInfo.ts';
import { findSkbReaders, parseSection, progArgsContextAt, ProbeSource, secContextAt, SECTION_PREFIXES, type AttachPoint, type SecSite, type SkbReaders } from './probeSource.ts';
import type { StageStatsParams } from './protocol.ts';

/** Everything known about the target kernel at the moment (parts may still be loading). */
export interface KernelView {
  target: string;
  identity?: KernelIdentity;
  events?: Set<string>;
  eventsError?: string;
  btf?: KernelBtf;
  btfError?: string;
  caps?: Capabilities;
}

export const MAX_COMPLETIONS = 200;
export const SOURCE = 'nslat';

const KIND_LABEL: Record<AttachKind, string> = {
  tracepoint: 'tracepoint',
  raw_tp: 'raw tracepoint',
  tp_btf: 'BTF tracepoint',
  fentry: 'fentry (function entry)',
  fexit: 'fexit (function exit)',
  kprobe: 'kprobe',
  kretprobe: 'kretprobe',
};

function capOf(view: KernelView, kind: AttachKind | undefined): Capability {
  if (!kind) return { ok: undefined };
  return view.caps?.[kind] ?? { ok: undefined };
}

function attachLabel(c: Capability): string {
  if (c.ok === false) return `not attachable here: ${c.reason ?? 'this kernel refuses it'}`;
  if (c.ok === true) return 'attachable here';
  return 'attachability not known';
}

export function eventNames(view: KernelView): string[] {
  return view.events ? [...view.events] : [];
}

/** Does the attach point exist on the kernel? undefined when it cannot be told (data missing). */
export function attachExists(view: KernelView, a: AttachPoint): boolean | undefined {
  switch (a.kind) {
    case 'tracepoint':
      if (!view.events || view.eventsError) return undefined;
      return view.events.has(`${a.category}:${a.name}`);
    case 'raw_tp':
      if (!view.btf) return undefined;
      if (view.btf.tracepoints[a.name]) return true;
      if (!view.events || view.eventsError) return undefined;
      return [...view.events].some((e) => e.endsWith(`:${a.name}`));
    case 'tp_btf':
      return view.btf ? a.name in view.btf.tracepoints : undefined;
    case 'fentry':
    case 'fexit':
    case 'kprobe':
    case 'kretprobe':
      return view.btf ? a.name in view.btf.funcs : undefined;
    default:
      return undefined;
  }
}

/** The arguments a program attached at `a` receives (BTF), for hovers and BPF_PROG completion. */
export function attachArgs(view: KernelView, a: AttachPoint): { params: BtfParam[]; ret?: string; source: string } | undefined {
  if (!view.btf) return undefined;
  if (a.kind === 'tp_btf' || a.kind === 'raw_tp' || a.kind === 'tracepoint') {
    const p = view.btf.tracepoints[a.name];
    return p ? { params: p, source: `btf_trace_${a.name}` } : undefined;
  }
  if (a.kind) {
    const f: FuncInfo | undefined = view.btf.funcs[a.name];
    return f ? { params: f.params, ret: f.ret, source: `${a.name}()` } : undefined;
  }
  return undefined;
}

// ------------------------------------------------------------------------------ diagnostics

function rangeOf(doc: TextDocument, start: number, end: number) {
  return { start: doc.positionAt(start), end: doc.positionAt(end) };
}

/** `headerReaders`: helpers from included headers that read through their skb argument. */
export function nslatDiagnostics(doc: TextDocument, view: KernelView, headerReaders: SkbReaders = new Map()): Diagnostic[] {
  const src = new ProbeSource(doc.getText());
  let readers: SkbReaders | undefined;
  const out: Diagnostic[] = [];
  const kernel = view.identity ? `${view.target === 'local' ? 'this kernel' : view.target} (${view.identity.release})` : 'the target kernel';
  for (const site of src.sites) {
    const a = site.attach;
    if (!a.kind) continue;
    const range = rangeOf(doc, site.start, site.end);
    if (a.kind === 'tracepoint' && (!a.category || !a.name)) {
      out.push({ range, severity: DiagnosticSeverity.Warning, source: SOURCE, message: `"${a.section}": a tracepoint section is ${a.prefix}/<category>/<name>, e.g. ${a.prefix}/net/netif_receive_skb` });
      continue;
    }
    if (!a.name) continue;
    const exists = attachExists(view, a);
    if (exists === false) {
      const what = a.kind === 'tracepoint' ? `tracepoint ${a.category}:${a.name}` : a.kind === 'tp_btf' || a.kind === 'raw_tp' ? `tracepoint ${a.name}` : `function ${a.name} (no BTF entry)`;
      const hint = a.kind === 'kprobe' || a.kind === 'kretprobe' ? ' (it may be inlined or static)' : '';
      out.push({ range, severity: DiagnosticSeverity.Warning, source: SOURCE, code: 'no-such-attach-point', message: `${what} does not exist on ${kernel}${hint}: "${a.section}" cannot attach` });
    } else {
      const c = capOf(view, a.kind);
      if (c.ok === false) {
        // A hint, faded like code that does not run: probes carry fentry/kprobe upgrades on purpose.
        out.push({ range, severity: DiagnosticSeverity.Hint, tags: [DiagnosticTag.Unnecessary], source: SOURCE, code: 'not-attachable', message: `${a.section}: not attachable here: ${c.reason ?? ''}; the helper will skip this program on ${kernel}` });
      }
    }
    const p = site.program;
    if (!p) continue;
    const gone =
      ((a.kind === 'tracepoint' || a.kind === 'tp_btf' || a.kind === 'raw_tp') && SKB_GONE_TRACEPOINTS.has(a.name)) ||
      ((a.kind === 'fexit' || a.kind === 'kretprobe') && isSkbFreeingFunction(a.name));
    if (!gone) continue;
    const why = a.kind === 'fexit' || a.kind === 'kretprobe'
      ? `${a.name}() has freed the skb when ${a.kind} runs`
      : `${a.name} fires after the driver took the skb, which may already be freed (on another CPU)`;
    readers ??= findSkbReaders(doc.getText(), headerReaders);
    for (const r of src.skbReads(p, readers).slice(0, 5)) {
      out.push({
        range: rangeOf(doc, r.offset, r.offset + r.length),
        severity: DiagnosticSeverity.Warning,
        source: SOURCE,
        code: 'skb-use-after-free',
        message: `${p.name} reads the skb where it may already be freed (${r.what}): ${why}. Read what you need earlier (e.g. net_dev_start_xmit) and use only the pointer value here (as a map key).`,
        relatedInformation: [{ location: { uri: doc.uri, range }, message: `attached at ${a.section}` }],
      });
    }
  }
  return out;
}

// ------------------------------------------------------------------------------ completion

function argsDoc(view: KernelView, a: AttachPoint): string {
  const args = attachArgs(view, a);
  if (!args) return '';
  if (args.ret !== undefined) return `\`\`\`c\n${args.ret} ${a.name}(${args.params.map((p) => p.decl).join(', ')})\n\`\`\``;
  return `\`\`\`c\nBPF_PROG(handle_${a.name}${args.params.map((p) => `, ${p.decl}`).join('')})\n\`\`\``;
}

export function completeSection(doc: TextDocument, offset: number, view: KernelView): CompletionList | undefined {
  const ctx = secContextAt(doc.getText(), offset);
  if (!ctx) return undefined;
  const range = rangeOf(doc, ctx.start, ctx.end);
  const typed = ctx.typed.replace(/^\?/, '');
  const lead = ctx.typed.startsWith('?') ? '?' : '';
  const items: CompletionItem[] = [];
  const slash = typed.indexOf('/');
  if (slash < 0) {
    for (const prefix of SECTION_PREFIXES) {
      if (!prefix.startsWith(typed) || /\.[ws]$/.test(prefix)) continue;
      const kind = parseSection(`${prefix}/x`).kind!;
      const c = capOf(view, kind);
      items.push({
        label: `${prefix}/`,
        kind: CompletionItemKind.Module,
        detail: `${KIND_LABEL[kind]} — ${attachLabel(c)}`,
        labelDetails: { description: c.ok === false ? 'not attachable here' : KIND_LABEL[kind] },
        filterText: `${lead}${prefix}/`,
        sortText: `${c.ok === false ? '1' : '0'}${prefix}`,
        textEdit: { range, newText: `${lead}${prefix}/` },
        command: { title: 'attach points', command: 'editor.action.triggerSuggest' },
      });
    }
    return { isIncomplete: true, items };
  }
  const a = parseSection(typed);
  if (!a.kind) return { isIncomplete: false, items };
  const rest = typed.slice(slash + 1);
  const c = capOf(view, a.kind);
  let names: string[] = [];
  let more = false;
  let kind: CompletionItemKind = CompletionItemKind.Event;
  if (a.kind === 'tracepoint') {
    names = eventNames(view).map((e) => e.replace(':', '/'));
    if (!rest.includes('/') && names.length) {
      // Categories first (tp/net/), and names typed without their category (tp/netif_rx → tp/net/netif_rx).
      const cats = [...new Set(names.map((n) => n.slice(0, n.indexOf('/'))))].filter((cat) => cat.startsWith(rest)).sort();
      for (const cat of cats) {
        items.push({
          label: `${a.prefix}/${cat}/`,
          kind: CompletionItemKind.Folder,
          detail: `tracepoint category ${cat} — ${attachLabel(c)}`,
          filterText: `${lead}${a.prefix}/${cat}/`,
          sortText: `0${cat}`,
          textEdit: { range, newText: `${lead}${a.prefix}/${cat}/` },
          command: { title: 'tracepoints', command: 'editor.action.triggerSuggest' },
        });
      }
      names = rest ? names.filter((n) => n.slice(n.indexOf('/') + 1).startsWith(rest)) : [];
      if (!names.length) return { isIncomplete: true, items };
    }
  } else if (a.kind === 'tp_btf') {
    names = view.btf ? Object.keys(view.btf.tracepoints) : [];
  } else if (a.kind === 'raw_tp') {
    const set = new Set(view.btf ? Object.keys(view.btf.tracepoints) : []);
    for (const e of eventNames(view)) set.add(e.slice(e.indexOf(':') + 1));
    names = [...set];
  } else {
    names = view.btf ? Object.keys(view.btf.funcs) : [];
    kind = CompletionItemKind.Function;
  }
  let matches = (a.kind === 'tracepoint' && !rest.includes('/') ? names : names.filter((n) => n.startsWith(rest))).sort();
  if (matches.length > MAX_COMPLETIONS) {
    more = true;
    matches = matches.slice(0, MAX_COMPLETIONS);
  }
  const status = attachLabel(c);
  for (const n of matches) {
    const section = `${a.prefix}/${n}`;
    const ap = parseSection(section);
    const stages = stagesFor(ap.name);
    const docs = [argsDoc(view, ap), stages.length ? `nslat stage: ${stages.map((s) => `${s.dir.toUpperCase()} — ${s.stage}`).join('; ')}` : '', `${KIND_LABEL[a.kind]} — ${status}`]
      .filter(Boolean)
      .join('\n\n');
    items.push({
      label: section,
      kind,
      detail: `${KIND_LABEL[a.kind]} — ${status}`,
      labelDetails: { description: c.ok === false ? 'not attachable here' : stages[0] ? `${stages[0].dir} stage` : undefined },
      documentation: { kind: MarkupKind.Markdown, value: docs },
      // A name typed without its category (tp/netif_rx) still matches tp/net/netif_rx.
      filterText: a.kind === 'tracepoint' && !rest.includes('/') ? `${lead}${a.prefix}/${n.slice(n.indexOf('/') + 1)}` : `${lead}${section}`,
      sortText: `${stages.length ? '1' : '2'}${section}`,
      textEdit: { range, newText: `${lead}${section}` },
    });
  }
  if (!names.length) {
    const why = a.kind === 'tracepoint' ? view.eventsError ?? 'the tracepoint list is still loading' : view.btfError ?? 'the kernel BTF is still loading';
    items.push({ label: `${a.prefix}/…`, kind: CompletionItemKind.Text, detail: why, insertText: '', filterText: typed });
    more = true;
  }
  return { isIncomplete: more, items };
}

export function completeProgArgs(doc: TextDocument, offset: number, view: KernelView): CompletionList | undefined {
  const src = new ProbeSource(doc.getText());
  const ctx = progArgsContextAt(src, offset);
  if (!ctx) return undefined;
  const args = attachArgs(view, ctx.attach);
  if (!args) return { isIncomplete: !view.btf, items: [] };
  let params = args.params.map((p) => p.decl);
  if (ctx.macro === 'BPF_KRETPROBE') params = args.ret && args.ret !== 'void' ? [`${args.ret.endsWith('*') ? args.ret : `${args.ret} `}ret`] : [];
  else if (ctx.attach.kind === 'fexit' && args.ret && args.ret !== 'void') params.push(`${args.ret.endsWith('*') ? args.ret : `${args.ret} `}ret`);
  if (!params.length) return { isIncomplete: false, items: [] };
  let start = ctx.argsStart;
  const text = doc.getText();
  while (start < offset && /\s/.test(text[start]!)) start++;
  const list = params.join(', ');
  return {
    isIncomplete: false,
    items: [
      {
        label: list,
        kind: CompletionItemKind.Snippet,
        detail: `arguments of ${ctx.attach.section} (${args.source})`,
        documentation: { kind: MarkupKind.Markdown, value: argsDoc(view, ctx.attach) },
        preselect: true,
        sortText: '0',
        filterText: list,
        textEdit: { range: rangeOf(doc, start, offset), newText: list },
      },
    ],
  };
}

// ------------------------------------------------------------------------------ hover

/** A boundary name without nslat_ and rx_/tx_/irq_ prefixes, lower case. */
export function normBoundary(s: string): string {
  return s.trim().toLowerCase().replace(/^nslat_/, '').replace(/^(?:rx|tx|irq)_/, '');
}

function stageEnds(s: { name: string; from?: string; to?: string }): { from?: string; to?: string } {
  const parts = s.name.split(/→|->/);
  if (parts.length === 2) return { from: s.from ?? parts[0], to: s.to ?? parts[1] };
  return { from: s.from, to: s.to ?? s.name };
}

export function liveFor(stats: StageStatsParams | undefined, boundary: string, programs: string[]): string {
  if (!stats || stats.running === false) return '_No live figures: start an nslat session (nslat: Start) to see p50/p99 here._';
  const b = normBoundary(boundary);
  const rows: string[] = [];
  for (const s of stats.stages) {
    if (s.cpu !== undefined) continue;
    const e = stageEnds(s);
    const into = e.to !== undefined && normBoundary(e.to) === b;
    const outOf = e.from !== undefined && normBoundary(e.from) === b;
    if (!into && !outOf) continue;
    const how = s.kind === 'cum' ? 'since entry' : into ? 'into' : 'out of';
    const unit = s.kind === 'napi_work' ? (n: number) => `${formatValue(n, 'packets')} pkts` : formatNs;
    rows.push(`| ${s.name} | ${s.dir} | ${how} | ${unit(s.p50)} | ${unit(s.p99)} | ${s.count} |`);
  }
  const progs = stats.progs.filter((p) => programs.includes(p.name)).map((p) => `\`${p.name}\`: ${formatNs(p.ns_per_run)} per run${p.runs !== undefined ? ` (${p.runs} runs)` : ''}`);
  const where = stats.host ? ` on ${stats.host}` : '';
  const parts: string[] = [];
  if (rows.length) parts.push(`**Live${where}**\n\n| stage | dir | | p50 | p99 | count |\n|---|---|---|---|---|---|\n${rows.join('\n')}`);
  else parts.push(`_No live stage through ${b} in the running session${where}._`);
  if (progs.length) parts.push(`**Cost**: ${progs.join(', ')}`);
  return parts.join('\n\n');
}

function wordAt(text: string, offset: number): { word: string; start: number; end: number } | undefined {
  let s = offset;
  let e = offset;
  while (s > 0 && /\w/.test(text[s - 1]!)) s--;
  while (e < text.length && /\w/.test(text[e]!)) e++;
  return s < e ? { word: text.slice(s, e), start: s, end: e } : undefined;
}

function parseFormat(format: string): string[] {
  const fields: string[] = [];
  let common = true;
  for (const line of format.split('\n')) {
    if (!line.trim()) {
      if (fields.length || !common) continue;
      common = false;
      continue;
    }
    const m = /^\s*field:(.+?);\s*offset/.exec(line);
    if (m && !/common_/.test(m[1]!)) fields.push(m[1]!.trim());
  }
  return fields;
}

export async function hover(
  doc: TextDocument,
  offset: number,
  view: KernelView,
  stats: StageStatsParams | undefined,
  tracepointFormat: (cat: string, name: string) => Promise<string | undefined>,
): Promise<Hover | undefined> {
  const src = new ProbeSource(doc.getText());
  const site = src.siteAt(offset);
  if (site && site.attach.kind) return { contents: { kind: MarkupKind.Markdown, value: await attachHover(src, site, view, stats, tracepointFormat) }, range: rangeOf(doc, site.start, site.end) };
  const w = wordAt(doc.getText(), offset);
  if (!w || src.bare.slice(w.start, w.end) !== w.word) return undefined; // not in comments or strings
  const range = rangeOf(doc, w.start, w.end);
  const counter = counterHover(w.word);
  if (counter) return { contents: { kind: MarkupKind.Markdown, value: counter }, range };
  const programsUsing = (entry: string) => src.sites.filter((s) => s.program && src.enumRefs(s.program).includes(entry)).map((s) => s.program!.name);
  if (/^NSLAT_(?:RX|TX|IRQ)_[A-Z0-9_]+$/.test(w.word)) {
    const users = programsUsing(w.word);
    // The stage from the boundary's own name, else from where the programs feeding it attach.
    const seenStage = new Set<string>();
    const stages = [normBoundary(w.word), ...src.sites.filter((s) => s.program && users.includes(s.program.name)).map((s) => s.attach.name)]
      .flatMap((n) => stagesFor(n))
      .filter((s) => !seenStage.has(`${s.dir}${s.stage}`) && seenStage.add(`${s.dir}${s.stage}`));
    const value = [
      `**${w.word}** — nslat boundary \`${normBoundary(w.word)}\``,
      stages.length ? `Stage: ${stages.map((s) => `${s.dir.toUpperCase()} — ${s.stage}`).join('; ')}` : '',
      users.length ? `Fed by: ${users.map((u) => `\`${u}\``).join(', ')}` : '',
      liveFor(stats, w.word, users),
    ].filter(Boolean).join('\n\n');
    return { contents: { kind: MarkupKind.Markdown, value }, range };
  }
  const prog = src.sites.find((s) => s.program?.name === w.word)?.program;
  if (prog) {
    const p = stats?.progs.find((x) => x.name === prog.name);
    if (!p) return undefined;
    return { contents: { kind: MarkupKind.Markdown, value: `**${prog.name}**: ${formatNs(p.ns_per_run)} per run${p.runs !== undefined ? ` (${p.runs} runs)` : ''}${stats?.host ? ` on ${stats.host}` : ''}` }, range };
  }
  if (/^[a-z_][a-z0-9_]*$/.test(w.word)) {
    // A lower-case boundary name: only when the session or this file knows it as one.
    const b = normBoundary(w.word);
    const entry = [...doc.getText().matchAll(/\bNSLAT_(?:RX|TX|IRQ)_[A-Z0-9_]+\b/g)].map((m) => m[0]).find((e) => normBoundary(e) === b);
    const live = stats && stats.running !== false && stats.stages.some((s) => {
      const e = stageEnds(s);
      return (e.to && normBoundary(e.to) === b) || (e.from && normBoundary(e.from) === b);
    });
    if (!entry && !live) return undefined;
    const users = entry ? programsUsing(entry) : [];
    return { contents: { kind: MarkupKind.Markdown, value: [`**${b}** — nslat boundary${entry ? ` (\`${entry}\`)` : ''}`, liveFor(stats, b, users)].join('\n\n') }, range };
  }
  return undefined;
}

async function attachHover(
  src: ProbeSource,
  site: SecSite,
  view: KernelView,
  stats: StageStatsParams | undefined,
  tracepointFormat: (cat: string, name: string) => Promise<string | undefined>,
): Promise<string> {
  const a = site.attach;
  const kind = a.kind!;
  const parts: string[] = [`**${a.section}** — ${KIND_LABEL[kind]}${a.category ? ` \`${a.category}:${a.name}\`` : a.name ? ` \`${a.name}\`` : ''}`];
  const exists = attachExists(view, a);
  if (exists === false) parts.push(`⚠ does not exist on ${view.target === 'local' ? 'this kernel' : view.target}${view.identity ? ` (${view.identity.release})` : ''}`);
  const args = attachArgs(view, a);
  if (kind === 'tracepoint' && a.category && a.name) {
    const fmt = await tracepointFormat(a.category, a.name).catch(() => undefined);
    const fields = fmt ? parseFormat(fmt) : [];
    if (fields.length) parts.push(`Context fields (\`struct trace_event_raw_* *ctx\`):\n\`\`\`c\n${fields.join(';\n')};\n\`\`\``);
    if (args) parts.push(`Raw arguments (raw_tp / tp_btf, from ${args.source}):\n\`\`\`c\n${args.params.map((p) => p.decl).join(', ')}\n\`\`\``);
  } else if (args) {
    const sig = args.ret !== undefined ? `${args.ret} ${a.name}(${args.params.map((p) => p.decl).join(', ')})` : args.params.map((p) => p.decl).join(', ');
    parts.push(`Arguments (from BTF ${args.source}):\n\`\`\`c\n${sig}\n\`\`\``);
  } else if (!view.btf) {
    parts.push(`_Arguments: ${view.btfError ?? 'the kernel BTF is still loading'}._`);
  }
  const stages = stagesFor(a.name);
  if (stages.length) parts.push(`nslat stage: ${stages.map((s) => `**${s.dir.toUpperCase()}** — ${s.stage}${s.note ? ` — ${s.note}` : ''}`).join('; ')}`);
  const p = site.program;
  const refs = p ? src.enumRefs(p) : [];
  if (p) parts.push(`Program \`${p.name}\`${refs.length ? ` feeds ${refs.map((r) => `\`${r}\``).join(', ')}` : ''}`);
  const c = capOf(view, kind);
  parts.push(`On ${view.target === 'local' ? 'this kernel' : view.target}: ${attachLabel(c)}`);
  if (stats && stats.running !== false && (refs.length || p)) {
    for (const r of refs) parts.push(liveFor(stats, r, p ? [p.name] : []));
    if (!refs.length && p) {
      const ps = stats.progs.find((x) => x.name === p.name);
      if (ps) parts.push(`**Cost**: \`${p.name}\`: ${formatNs(ps.ns_per_run)} per run`);
    }
  }
  return parts.join('\n\n');
}

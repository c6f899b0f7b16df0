/**
 * The two halves of the contract agree: the protocol module's loss counters and the C header's
 * NSLAT_CNT_LOSS_MASK (bpf/include/nslat.h), and the fixtures and the boundaries the probe sources
 * declare (enum nslat_boundary in bpf/probes/*.bpf.c). The fixtures carry no machine paths.
 * The constants of src/core/contract.ts and the C side: NSLAT_PROTOCOL, NSLAT_HIST_BUCKETS and
 * NSLAT_HIST_SUB_BITS (nslat.h), and from whichever bpf/helper/*.c or *.h holds them MAX_COMMAND_BYTES, the string
 * tables atype_names, alt_names and dir_names, the codes passed to emit_error, and the validators
 * valid_slot and valid_varname. Each parser is also fed an edited text, to show the check can fail.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Aggregator } from '../../src/core/aggregate.ts';
import { ALTERNATIVES, ATTACH_TYPES, DIRECTIONS, ERROR_CODES, HIST_BUCKETS, HIST_SUB_BITS, IRQ_LINES, MAX_COMMAND_BYTES, PROTOCOL_VERSION, SLOT_RE, VAR_NAME_RE } from '../../src/core/contract.ts';
import { LOSS_COUNTERS, LOST_SNAPSHOTS, activityCounters, formatLossShare, isLossCounter, lossFigures, type LoadedMessage, type PanelState, type SlotCounters } from '../../src/core/protocol.ts';
import { REPO_DIR, WORKDIR, probeBoundaries, readStream, recorded } from '../fixtures/recorded.ts';

const HEADER = fileURLToPath(new URL('../../bpf/include/nslat.h', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** enum nslat_counter (name → value, lower-case without NSLAT_CNT_) and the names whose bits
 *  NSLAT_CNT_LOSS_MASK sets, from the C header. */
export function headerCounters(text: string): { counters: Map<string, number>; loss: string[] } {
  const src = text.replace(/\/\*[\s\S]*?\*\//g, '');
  const body = /enum\s+nslat_counter\s*\{([^}]*)\}/.exec(src)?.[1];
  assert.ok(body, 'nslat.h declares enum nslat_counter');
  const counters = new Map<string, number>();
  let next = 0;
  for (const entry of body.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^NSLAT_CNT_([A-Z0-9_]+)\s*(?:=\s*(\d+))?$/.exec(entry);
    if (!m) continue; // __NSLAT_CNT_MAX
    const v = m[2] !== undefined ? Number(m[2]) : next;
    counters.set(m[1]!.toLowerCase(), v);
    next = v + 1;
  }
  const mask = /#define\s+NSLAT_CNT_LOSS_MASK\s+((?:[^\n\\]|\\\n)*)/.exec(src)?.[1];
  assert.ok(mask, 'nslat.h defines NSLAT_CNT_LOSS_MASK');
  const loss = [...mask.matchAll(/1u?\s*<<\s*NSLAT_CNT_([A-Z0-9_]+)/g)].map((m) => m[1]!.toLowerCase());
  for (const l of loss) assert.ok(counters.has(l), `NSLAT_CNT_LOSS_MASK names ${l}, which enum nslat_counter does not have`);
  return { counters, loss };
}

test('the loss counters are the same set in protocol.ts and nslat.h (NSLAT_CNT_LOSS_MASK)', () => {
  const { counters, loss } = headerCounters(readFileSync(HEADER, 'utf8'));
  assert.ok(counters.size >= 10, 'enum nslat_counter parsed');
  assert.deepEqual([...LOSS_COUNTERS].sort(), [...loss].sort(), 'LOSS_COUNTERS (src/core/protocol.ts) and NSLAT_CNT_LOSS_MASK (bpf/include/nslat.h) differ');
  // every other counter of the header is activity
  for (const name of counters.keys()) assert.equal(isLossCounter(name), loss.includes(name), name);
  assert.ok(!counters.has(LOST_SNAPSHOTS), 'lost snapshots are counted by the core, not by a probe');
});

test('the header parser sees a change of the mask (the check above can fail)', () => {
  const text = readFileSync(HEADER, 'utf8');
  const fewer = text.replace(/\(1u << NSLAT_CNT_EVICTED\)/, '0');
  assert.notEqual(fewer, text, 'the mask names NSLAT_CNT_EVICTED');
  assert.ok(!headerCounters(fewer).loss.includes('evicted'));
  const more = text.replace('NSLAT_CNT_COALESCED,', 'NSLAT_CNT_COALESCED,\n\tNSLAT_CNT_NEW_LOSS,').replace('(1u << NSLAT_CNT_EVICTED)', '(1u << NSLAT_CNT_EVICTED) | (1u << NSLAT_CNT_NEW_LOSS)');
  const h = headerCounters(more);
  assert.equal(h.counters.get('new_loss'), h.counters.get('coalesced')! + 1);
  assert.notDeepEqual([...LOSS_COUNTERS].sort(), [...h.loss].sort());
});

test('an unknown counter is activity; each loss is a share of what it applies to', () => {
  const slots: SlotCounters[] = [
    { kind: 'packets' as const, counters: { started: 1_200_000, ringbuf_drop: 240, map_full: 0, some_future_counter: 7 } },
    { kind: 'packets' as const, counters: { started: 800_000, ringbuf_drop: 0, udp_unpaired: 2 } },
    { kind: 'irq' as const, counters: { irq_out_of_range: 1, napi_polls: 50, started: 0 }, hard_irqs: 999 },
  ];
  const f = new Map(lossFigures(slots, 98, 2).map((x) => [x.name, x]));
  assert.deepEqual([...f.keys()], [...LOSS_COUNTERS, LOST_SNAPSHOTS]);
  assert.deepEqual(f.get('ringbuf_drop'), { name: 'ringbuf_drop', total: 240, of: 2_000_000, base: 'started_packets', share: 240 / 2_000_000, label: '0.01 % of 2 M started packets' });
  assert.deepEqual(f.get('irq_out_of_range'), { name: 'irq_out_of_range', total: 1, of: 1000, base: 'hard_irqs', share: 0.001, label: '0.1 % of 1 k hard IRQs' });
  assert.deepEqual(f.get(LOST_SNAPSHOTS), { name: LOST_SNAPSHOTS, total: 2, of: 100, base: 'snapshots', share: 0.02, label: '2 % of 100 snapshots' });
  assert.deepEqual(activityCounters(slots), { napi_polls: 50, some_future_counter: 7, started: 2_000_000 });
  assert.equal(formatLossShare(f.get('ringbuf_drop')!), '0.01 % of 2 M started packets');
  assert.equal(formatLossShare({ total: 240, of: 1_200_000, base: 'started_packets' }), '0.02 % of 1.2 M started packets');
  assert.equal(formatLossShare({ total: 1, of: 1_200_000, base: 'started_packets' }), '<0.01 % of 1.2 M started packets');
  assert.equal(formatLossShare({ total: 0, of: 0, base: 'hard_irqs' }), 'of 0 hard IRQs');
  assert.equal(formatLossShare({ total: 5, of: 40, base: 'snapshots' }), '12.5 % of 40 snapshots');
});

test('the recorded stream, the derived stream and the panel fixture name the probes\' boundaries', () => {
  const declared = probeBoundaries();
  assert.deepEqual(Object.keys(declared).sort(), ['rx', 'tx'], 'rx.bpf.c and tx.bpf.c declare boundaries');
  const check = (what: string, loaded: Array<Pick<LoadedMessage, 'slot' | 'boundaries'>>): void => {
    for (const slot of Object.keys(declared)) {
      const l = loaded.filter((x) => x.slot === slot);
      assert.ok(l.length > 0, `${what}: a loaded ${slot}`);
      for (const x of l) assert.deepEqual(x.boundaries.map((b) => b.name), declared[slot], `${what}: ${slot} boundaries differ from bpf/probes/${slot}.bpf.c (re-record: scripts/record-fixtures.sh)`);
    }
  };
  const rec = recorded();
  const stream = readStream(`${FIXTURES}helper-stream.jsonl`);
  check('helper-recorded.jsonl', rec.filter((m): m is LoadedMessage => m.type === 'loaded'));
  check('helper-stream.jsonl', stream.filter((m): m is LoadedMessage => m.type === 'loaded'));
  const panel = JSON.parse(readFileSync(`${FIXTURES}panel-state.json`, 'utf8')) as PanelState;
  check('panel-state.json', Object.keys(declared).map((slot) => ({ slot, boundaries: panel.health.boundaries.filter((b) => b.slot === slot) })));

  // every boundary a stage, a journey or a program's group names is one the probes declare
  const known = (dir: string) => new Set(declared[dir] ?? []);
  for (const [what, msgs] of [['helper-recorded.jsonl', rec], ['helper-stream.jsonl', stream]] as const) {
    const agg = new Aggregator();
    for (const m of msgs) agg.ingest(m);
    for (const s of agg.report().stages.filter((x) => x.dir !== 'irq')) {
      for (const b of [s.from, s.to].filter((x): x is string => x !== undefined)) assert.ok(known(s.dir).has(b), `${what}: stage ${s.key} names ${b}, which bpf/probes/${s.dir}.bpf.c does not declare`);
    }
    for (const j of msgs) if (j.type === 'journey') for (const m of j.marks) assert.ok(known(j.dir).has(m.boundary), `${what}: a journey passes ${m.boundary}`);
  }
  for (const s of panel.stages.filter((x) => x.dir !== 'irq' && !x.name.startsWith('my_hook_'))) {
    for (const b of [s.from, s.to].filter((x): x is string => x !== undefined)) assert.ok(known(s.dir).has(b), `panel-state.json: stage ${s.key} names ${b}`);
  }
  for (const j of panel.journeys) for (const m of j.marks) assert.ok(known(j.dir).has(m.boundary), `panel-state.json: a journey passes ${m.boundary}`);
});

test('the fixtures carry no paths of the machine they were recorded on', () => {
  for (const f of ['helper-recorded.jsonl', 'helper-stream.jsonl', 'panel-state.json', 'helper-6.18-netfilter.jsonl', 'helper-6.18-no-netfilter.jsonl', 'helper-6.18-refused.jsonl', 'helper-host.jsonl']) {
    const text = readFileSync(`${FIXTURES}${f}`, 'utf8');
    const paths = [...text.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]!).filter((p) => !p.startsWith(WORKDIR) && !p.startsWith(REPO_DIR));
    assert.deepEqual(paths, [], `${f}: machine paths`);
    assert.doesNotMatch(text, /\/(?:tmp|var\/tmp|home|root|work)\//, `${f}: a machine path`);
  }
});

// ------------------------------------------------------------------ src/core/contract.ts ↔ C

const NSLAT_H = HEADER;
const HELPER_DIR = fileURLToPath(new URL('../../bpf/helper/', import.meta.url));
const CONTRACT_TS = fileURLToPath(new URL('../../src/core/contract.ts', import.meta.url));

/** Every C source and header of the helper (bpf/helper/*.c and *.h, whichever file a definition
 *  lives in), name → text. */
export function helperSources(): Map<string, string> {
  const files = readdirSync(HELPER_DIR).filter((f) => /\.[ch]$/.test(f)).sort();
  return new Map(files.map((f) => [f, readFileSync(`${HELPER_DIR}${f}`, 'utf8')]));
}

const stripC = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');

/** The value of `#define NAME value` (an integer expression of literals), from the one file of
 *  `sources` that defines it. */
export function cDefine(sources: Map<string, string>, name: string): number {
  const found: Array<[string, string]> = [];
  for (const [f, text] of sources) {
    for (const m of stripC(text).matchAll(new RegExp(`^[ \\t]*#[ \\t]*define[ \\t]+${name}[ \\t]+([^\\n]+)$`, 'gm'))) found.push([f, m[1]!.trim()]);
  }
  assert.equal(found.length, 1, `${name} is defined once (found in: ${found.map((x) => x[0]).join(', ') || 'none'})`);
  const expr = found[0]![1].replace(/(\d+)[uUlL]+\b/g, '$1');
  assert.match(expr, /^[\d\s()*+<-]+$/, `${name}: ${expr} is an expression of integer literals`);
  return Number(new Function(`return (${expr});`)());
}

/** A `const char *const NAME[...] = { "a", "b", … }` string table, from the one file that defines it. */
export function cStringTable(sources: Map<string, string>, name: string): string[] {
  const found: Array<[string, string[]]> = [];
  for (const [f, text] of sources) {
    for (const m of stripC(text).matchAll(new RegExp(`\\b${name}\\s*\\[[^\\]]*\\]\\s*=\\s*\\{([^}]*)\\}`, 'g'))) {
      found.push([f, [...m[1]!.matchAll(/"([^"]*)"/g)].map((s) => s[1]!)]);
    }
  }
  assert.equal(found.length, 1, `${name} is defined once (found in: ${found.map((x) => x[0]).join(', ') || 'none'})`);
  return found[0]![1];
}

/** The code strings the helper passes to emit_error(id, "code", …), in every file. */
export function cErrorCodes(sources: Map<string, string>): Set<string> {
  const codes = new Set<string>();
  let calls = 0;
  for (const [, text] of sources) {
    const src = stripC(text);
    for (const m of src.matchAll(/\bemit_error\s*\(/g)) {
      const rest = src.slice(m.index! + m[0].length);
      const arg = /^\s*[^,]*,\s*("([^"]*)"|[A-Za-z_]\w*)/.exec(rest);
      assert.ok(arg, `emit_error call with a second argument: ${rest.slice(0, 80)}`);
      if (arg[2] === undefined) continue; // the definition or declaration: `const char *code`
      codes.add(arg[2]);
      calls++;
    }
  }
  assert.ok(calls > 0, 'the helper calls emit_error');
  return codes;
}

/** The members of ERROR_CODES whose comment in src/core/contract.ts says the helper never sends
 *  them (written "TS-only"): the core raises those itself. */
export function tsOnlyErrorCodes(contractTs: string): Set<string> {
  const body = /export const ERROR_CODES\s*=\s*\[([\s\S]*?)\]\s*as const/.exec(contractTs)?.[1];
  assert.ok(body, 'contract.ts declares ERROR_CODES');
  return new Set([...body.matchAll(/'([a-z_]+)'\s*,?\s*\/\/[^\n]*\bTS-only\b/gi)].map((m) => m[1]!));
}

type CharClass = (c: string) => boolean;
/** A validator `static bool NAME(const char *s)` of the form the helper uses: a length bound
 *  (`n < 1 || n > MAX`), a condition on s[0] and one on every s[i] after it, each a disjunction
 *  of ranges ('a'..'z') and single characters, or (for s[0]) the negation of one range. */
export function cValidator(sources: Map<string, string>, name: string): { max: number; first: CharClass; rest: CharClass } {
  const found: Array<[string, string]> = [];
  for (const [f, text] of sources) {
    const m = new RegExp(`\\bbool\\s+${name}\\s*\\(\\s*const\\s+char\\s*\\*\\s*s\\s*\\)\\s*\\{([\\s\\S]*?)\\n\\}`).exec(stripC(text));
    if (m) found.push([f, m[1]!]);
  }
  assert.equal(found.length, 1, `${name} is defined once (found in: ${found.map((x) => x[0]).join(', ') || 'none'})`);
  const body = found[0]![1];
  const max = /\bn\s*>\s*(\d+)/.exec(body);
  assert.ok(max, `${name}: a length bound n > MAX`);
  assert.match(body, /\bn\s*<\s*1\b/, `${name}: refuses the empty string`);
  const classOf = (idx: string): CharClass => {
    // the statements about s[idx] only
    const parts = body.split(/;/).filter((st) => st.includes(`s[${idx}]`)).join(' ');
    assert.ok(parts, `${name}: a condition on s[${idx}]`);
    const ranges: Array<[string, string]> = [];
    const singles: string[] = [];
    const esc = idx.replace(/[[\]]/g, '\\$&');
    for (const m of parts.matchAll(new RegExp(`s\\[${esc}\\]\\s*>=\\s*'(.)'\\s*&&\\s*s\\[${esc}\\]\\s*<=\\s*'(.)'`, 'g'))) ranges.push([m[1]!, m[2]!]);
    for (const m of parts.matchAll(new RegExp(`s\\[${esc}\\]\\s*==\\s*'(.)'`, 'g'))) singles.push(m[1]!);
    const neg = new RegExp(`s\\[${esc}\\]\\s*<\\s*'(.)'\\s*\\|\\|\\s*s\\[${esc}\\]\\s*>\\s*'(.)'`).exec(parts);
    if (neg) ranges.push([neg[1]!, neg[2]!]);
    assert.ok(ranges.length + singles.length > 0, `${name}: the characters s[${idx}] may hold`);
    return (c) => singles.includes(c) || ranges.some(([lo, hi]) => c >= lo && c <= hi);
  };
  return { max: Number(max[1]), first: classOf('0'), rest: classOf('i') };
}

/** The strings on which a C validator and a regex could differ: every printable ASCII character
 *  first and after a valid first character, and the lengths around the bound. */
function validatorDisagreements(v: { max: number; first: CharClass; rest: CharClass }, re: RegExp): string[] {
  const cValid = (s: string) => s.length >= 1 && s.length <= v.max && v.first(s[0]!) && [...s.slice(1)].every(v.rest);
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
  const a = printable.find((c) => v.first(c)) ?? 'a';
  const cases = ['', ...printable, ...printable.map((c) => a + c), a.repeat(v.max - 1), a.repeat(v.max), a.repeat(v.max + 1), a.repeat(v.max + 2)];
  return cases.filter((s) => cValid(s) !== re.test(s)).map((s) => JSON.stringify(s));
}

/** The upper bound of the regex's repeated tail, plus its first character: the longest match. */
const regexMaxLength = (re: RegExp) => Number(/\{0,(\d+)\}\$$/.exec(re.source)?.[1] ?? NaN) + 1;

test('PROTOCOL_VERSION, HIST_BUCKETS, HIST_SUB_BITS, IRQ_LINES and MAX_COMMAND_BYTES are the C side\'s', () => {
  const header = new Map([['nslat.h', readFileSync(NSLAT_H, 'utf8')]]);
  assert.equal(cDefine(header, 'NSLAT_PROTOCOL'), PROTOCOL_VERSION, 'NSLAT_PROTOCOL (bpf/include/nslat.h) and PROTOCOL_VERSION (src/core/contract.ts) differ');
  assert.equal(cDefine(header, 'NSLAT_HIST_BUCKETS'), HIST_BUCKETS, 'NSLAT_HIST_BUCKETS and HIST_BUCKETS differ');
  assert.equal(cDefine(header, 'NSLAT_HIST_SUB_BITS'), HIST_SUB_BITS, 'NSLAT_HIST_SUB_BITS (bpf/include/nslat.h) and HIST_SUB_BITS (src/core/contract.ts) differ');
  assert.equal(cDefine(helperSources(), 'MAX_COMMAND_BYTES'), MAX_COMMAND_BYTES, 'MAX_COMMAND_BYTES (bpf/helper) and MAX_COMMAND_BYTES (src/core/contract.ts) differ');
  const lines = [...stripC(readFileSync(NSLAT_H, 'utf8')).matchAll(/\bNSLAT_IRQ_NR_LINES\s*=\s*(\d+)/g)].map((m) => Number(m[1]));
  assert.deepEqual(lines, [IRQ_LINES], 'NSLAT_IRQ_NR_LINES (enum nslat_irq_index, bpf/include/nslat.h) and IRQ_LINES (src/core/contract.ts) differ');
});

test('ATTACH_TYPES, ALTERNATIVES and DIRECTIONS are the helper\'s string tables, in order', () => {
  const src = helperSources();
  assert.deepEqual(cStringTable(src, 'atype_names'), [...ATTACH_TYPES], 'atype_names (bpf/helper) and ATTACH_TYPES differ');
  assert.deepEqual(cStringTable(src, 'alt_names'), [...ALTERNATIVES], 'alt_names (bpf/helper) and ALTERNATIVES differ');
  assert.deepEqual(cStringTable(src, 'dir_names'), [...DIRECTIONS], 'dir_names (bpf/helper) and DIRECTIONS differ');
});

test('the helper sends only ERROR_CODES, and every one of them is sent or documented as TS-only', () => {
  const sent = cErrorCodes(helperSources());
  const known = new Set<string>(ERROR_CODES);
  const tsOnly = tsOnlyErrorCodes(readFileSync(CONTRACT_TS, 'utf8'));
  assert.deepEqual([...sent].filter((c) => !known.has(c)).sort(), [], 'the helper emits codes ERROR_CODES (src/core/contract.ts) lacks');
  assert.deepEqual([...known].filter((c) => !sent.has(c) && !tsOnly.has(c)).sort(), [], 'ERROR_CODES members the helper never emits (mark them "TS-only" in contract.ts, or remove them)');
  assert.deepEqual([...tsOnly].filter((c) => sent.has(c)).sort(), [], 'codes marked TS-only that the helper emits');
});

test('SLOT_RE and VAR_NAME_RE accept what valid_slot and valid_varname accept', () => {
  const src = helperSources();
  for (const [fn, re] of [['valid_slot', SLOT_RE], ['valid_varname', VAR_NAME_RE]] as const) {
    const v = cValidator(src, fn);
    assert.equal(regexMaxLength(re), v.max, `${fn} allows ${v.max} characters, ${re} ${regexMaxLength(re)}`);
    assert.deepEqual(validatorDisagreements(v, re), [], `${fn} (bpf/helper) and ${re} (src/core/contract.ts) disagree on these names`);
  }
});

test('the C parsers see drift (the checks above can fail)', () => {
  const src = helperSources();
  const edit = (pattern: RegExp | string, to: string): Map<string, string> => {
    let hits = 0;
    const out = new Map([...src].map(([f, t]) => {
      const n = t.replace(pattern, to);
      if (n !== t) hits++;
      return [f, n];
    }));
    assert.equal(hits, 1, `the edit ${String(pattern)} applies to one file`);
    return out;
  };
  // a changed constant
  assert.equal(cDefine(edit(/#define MAX_COMMAND_BYTES .*/, '#define MAX_COMMAND_BYTES (128 * 1024)'), 'MAX_COMMAND_BYTES'), 128 * 1024);
  const header = readFileSync(NSLAT_H, 'utf8');
  assert.equal(cDefine(new Map([['nslat.h', header.replace(/(#define\s+NSLAT_PROTOCOL\s+)\d+/, '$17')]]), 'NSLAT_PROTOCOL'), 7);
  // the constant defined twice (a header split that left a copy) is an error, not a silent pick
  const twice = new Map(src).set('extra.h', '#define MAX_COMMAND_BYTES 1\n');
  assert.throws(() => cDefine(twice, 'MAX_COMMAND_BYTES'), /defined once/);
  // a reordered or extended table
  const dirs = cStringTable(edit(/"rx", "tx", "irq"/, '"tx", "rx", "irq"'), 'dir_names');
  assert.notDeepEqual(dirs, [...DIRECTIONS]);
  assert.notDeepEqual(cStringTable(edit(/"netfilter", "tp" \}/, '"netfilter", "tp", "uprobe" }'), 'alt_names'), [...ALTERNATIVES]);
  // a new error code, on one line or spread over two
  const added = cErrorCodes(edit(/emit_error\(id, "no_such_slot",/, 'emit_error(id,\n\t\t"slot_busy",'));
  assert.ok(added.has('slot_busy') && !added.has('no_such_slot'));
  // a TS-only mark is read from the comment
  assert.deepEqual([...tsOnlyErrorCodes("export const ERROR_CODES = [\n  'a',\n  'b', // TS-only: the core's\n] as const;")], ['b']);
  // a longer slot name, or one more character allowed
  const longer = cValidator(edit(/n > 32/, 'n > 40'), 'valid_slot');
  assert.notEqual(longer.max, regexMaxLength(SLOT_RE));
  const dash = cValidator(edit(/\(s\[i\] >= '0' && s\[i\] <= '9'\) \|\| s\[i\] == '_'\)\)\n\t\t\treturn false;\n\treturn true;\n\}\n\nstatic bool valid_varname/,
    "(s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))\n\t\t\treturn false;\n\treturn true;\n}\n\nstatic bool valid_varname"), 'valid_slot');
  assert.deepEqual(validatorDisagreements(dash, SLOT_RE), ['"a-"']);
});

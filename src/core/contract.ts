/**
 * What the C side (bpf/include/nslat.h, bpf/helper) and the TypeScript side must agree on, in one
 * place. Plain constants, no imports: the webview bundle and the language server use them too.
 * test/unit/contract.test.ts reads the C headers and fails when either side drifts.
 */

/** Bump on any incompatible change on either side. The helper reports its own in `hello`
 *  (NSLAT_PROTOCOL). */
export const PROTOCOL_VERSION = 2;
/** The helper refuses command lines longer than this (MAX_COMMAND_BYTES in the helper). */
export const MAX_COMMAND_BYTES = 64 * 1024;
/** The core refuses longer helper messages. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Buckets per histogram (NSLAT_HIST_BUCKETS); hist.ts says what each bucket holds. */
export const HIST_BUCKETS = 256;
/** Linear sub-buckets per power of two: 2^HIST_SUB_BITS (NSLAT_HIST_SUB_BITS). */
export const HIST_SUB_BITS = 3;
/** IRQ lines the IRQ object times, 0 to IRQ_LINES - 1 (NSLAT_IRQ_NR_LINES); higher ones are counted
 *  as irq_out_of_range. */
export const IRQ_LINES = 256;

/** Attach types, in the helper's spelling (atype_names). */
export const ATTACH_TYPES = ['tracepoint', 'raw_tp', 'tp_btf', 'fentry', 'fexit', 'kprobe', 'kretprobe', 'netfilter', 'other'] as const;
/** The order in which the helper prefers the alternatives that feed one group (alt_names). */
export const ALTERNATIVES = ['fentry', 'kprobe', 'netfilter', 'tp'] as const;
/** Directions of a probe object (dir_names). */
export const DIRECTIONS = ['rx', 'tx', 'irq'] as const;

/** Error codes of the helper's `error` message. */
export const ERROR_CODES = [
  'bad_json', // a line that is not JSON
  'bad_command', // JSON that is not a valid command
  'unknown_command',
  'too_long', // a line over MAX_COMMAND_BYTES
  'bad_path', // object outside the work directory, or missing
  'open_failed', // not a BPF object libbpf can open
  'verifier', // the kernel's verifier refused a program: `log` holds the verifier log
  'load_failed', // any other load failure
  'attach_failed', // nothing in the object could attach
  'no_such_slot',
  'internal',
] as const;

/** Slot names (the helper checks the same pattern). */
export const SLOT_RE = /^[a-z][a-z0-9_]{0,31}$/;
/** Names of globals a load or `set` may write (C identifiers, at most 64 characters). */
export const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

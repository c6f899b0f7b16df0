/**
 * A small reader for the kernel's raw BTF (/sys/kernel/btf/vmlinux), enough for the language server:
 * function prototypes (fentry/fexit/kprobe targets) and BTF tracepoints (the `btf_trace_<name>`
 * typedefs), with C declarations rendered the way a probe author writes them.
 *
 * Format: include/uapi/linux/btf.h (header, type section, string section). Type ids start at 1;
 * 0 is void.
 */

export interface Param {
  /** Parameter name, or '' when BTF has none. */
  name: string;
  /** C type as written before the name, e.g. "struct sk_buff *". */
  type: string;
  /** Full C declaration, e.g. "struct sk_buff *skb". */
  decl: string;
}

export interface FuncInfo {
  ret: string;
  params: Param[];
}

/** What the server keeps from a kernel's BTF (also the on-disk cache format). */
export interface KernelBtf {
  /** FUNC entries (kernel functions with BTF): name → prototype. */
  funcs: Record<string, FuncInfo>;
  /** BTF tracepoints: name (without btf_trace_) → arguments, without the leading `void *` ctx. */
  tracepoints: Record<string, Param[]>;
}

const KIND = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10,
  RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18,
  ENUM64: 19,
} as const;

interface RawType {
  kind: number;
  name: string;
  vlen: number;
  kflag: boolean;
  /** size or referenced type id, depending on kind */
  sizeOrType: number;
  /** ARRAY: element type and count */
  elem?: number;
  nelems?: number;
  /** FUNC_PROTO: [name, type] pairs */
  params?: Array<[string, number]>;
}

export class BtfError extends Error {}

/** Parses a raw BTF blob into its type table. */
function parseTypes(buf: Buffer): RawType[] {
  if (buf.length < 24) throw new BtfError('BTF blob too short');
  const magic = buf.readUInt16LE(0);
  if (magic !== 0xeb9f) throw new BtfError(`not BTF (magic 0x${magic.toString(16)}; only little-endian BTF is read)`);
  const hdrLen = buf.readUInt32LE(4);
  const typeOff = hdrLen + buf.readUInt32LE(8);
  const typeLen = buf.readUInt32LE(12);
  const strOff = hdrLen + buf.readUInt32LE(16);
  const strLen = buf.readUInt32LE(20);
  if (typeOff + typeLen > buf.length || strOff + strLen > buf.length) throw new BtfError('BTF sections run past the end of the blob');

  const strCache = new Map<number, string>();
  const str = (off: number): string => {
    if (off === 0) return '';
    let s = strCache.get(off);
    if (s === undefined) {
      const start = strOff + off;
      const end = buf.indexOf(0, start);
      s = buf.toString('latin1', start, end < 0 ? strOff + strLen : end);
      strCache.set(off, s);
    }
    return s;
  };

  const types: RawType[] = [{ kind: 0, name: 'void', vlen: 0, kflag: false, sizeOrType: 0 }];
  let p = typeOff;
  const end = typeOff + typeLen;
  while (p < end) {
    const nameOff = buf.readUInt32LE(p);
    const info = buf.readUInt32LE(p + 4);
    const sizeOrType = buf.readUInt32LE(p + 8);
    p += 12;
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const t: RawType = { kind, name: str(nameOff), vlen, kflag: (info >>> 31) === 1, sizeOrType };
    switch (kind) {
      case KIND.INT: p += 4; break;
      case KIND.ARRAY:
        t.elem = buf.readUInt32LE(p);
        t.nelems = buf.readUInt32LE(p + 8);
        p += 12;
        break;
      case KIND.STRUCT: case KIND.UNION: p += 12 * vlen; break;
      case KIND.ENUM: p += 8 * vlen; break;
      case KIND.ENUM64: p += 12 * vlen; break;
      case KIND.FUNC_PROTO: {
        const params: Array<[string, number]> = [];
        for (let i = 0; i < vlen; i++) params.push([str(buf.readUInt32LE(p + 8 * i)), buf.readUInt32LE(p + 8 * i + 4)]);
        t.params = params;
        p += 8 * vlen;
        break;
      }
      case KIND.VAR: p += 4; break;
      case KIND.DATASEC: p += 12 * vlen; break;
      case KIND.DECL_TAG: p += 4; break;
      case KIND.PTR: case KIND.FWD: case KIND.TYPEDEF: case KIND.VOLATILE: case KIND.CONST: case KIND.RESTRICT:
      case KIND.FUNC: case KIND.FLOAT: case KIND.TYPE_TAG:
        break;
      default:
        throw new BtfError(`unknown BTF kind ${kind} at type ${types.length}`);
    }
    types.push(t);
  }
  return types;
}

/** Renders type `id` declaring `decl` (a name, or '' for an abstract declarator) in C syntax. */
function render(types: RawType[], id: number, decl: string, depth = 0): string {
  const t = types[id];
  const withDecl = (base: string) => (decl ? `${base} ${decl}` : base);
  if (!t || depth > 32) return withDecl('void');
  switch (t.kind) {
    case 0: return withDecl('void');
    case KIND.INT: case KIND.FLOAT: case KIND.TYPEDEF: return withDecl(t.name || '(anon)');
    case KIND.STRUCT: return withDecl(`struct ${t.name || '(anon)'}`);
    case KIND.UNION: return withDecl(`union ${t.name || '(anon)'}`);
    case KIND.ENUM: case KIND.ENUM64: return withDecl(`enum ${t.name || '(anon)'}`);
    case KIND.FWD: return withDecl(`${t.kflag ? 'union' : 'struct'} ${t.name}`);
    case KIND.PTR: {
      const target = types[t.sizeOrType];
      const needParens = target && (target.kind === KIND.FUNC_PROTO || target.kind === KIND.ARRAY);
      return render(types, t.sizeOrType, needParens ? `(*${decl})` : `*${decl}`, depth + 1);
    }
    case KIND.CONST: case KIND.VOLATILE: case KIND.RESTRICT: {
      const q = t.kind === KIND.CONST ? 'const' : t.kind === KIND.VOLATILE ? 'volatile' : 'restrict';
      const target = types[t.sizeOrType];
      if (target && target.kind === KIND.PTR) return render(types, t.sizeOrType, decl ? `${q} ${decl}` : q, depth + 1);
      return `${q} ${render(types, t.sizeOrType, decl, depth + 1)}`;
    }
    case KIND.ARRAY: return render(types, t.elem ?? 0, `${decl}[${t.nelems ?? ''}]`, depth + 1);
    case KIND.FUNC_PROTO: {
      const ps = (t.params ?? []).map(([n, ty]) => (ty === 0 && !n ? '...' : render(types, ty, n, depth + 1)));
      return render(types, t.sizeOrType, `${decl}(${ps.length ? ps.join(', ') : 'void'})`, depth + 1);
    }
    case KIND.TYPE_TAG: case KIND.DECL_TAG: case KIND.VAR: return render(types, t.sizeOrType, decl, depth + 1);
    default: return withDecl(t.name || '?');
  }
}

/** The type text that goes before a name: "struct sk_buff *" for a pointer, "int " → "int". */
function typeText(types: RawType[], id: number): string {
  return render(types, id, '\u0000').replace('\u0000', '').trim();
}

/** A name for an anonymous argument, from its type (struct sk_buff * → skb). */
function guessName(type: string, index: number, used: Set<string>): string {
  const m = /^(?:const\s+)?(?:struct|union|enum)\s+(\w+)\s*\*?$/.exec(type);
  let base = m?.[1] ? ({ sk_buff: 'skb', sock: 'sk', net_device: 'dev', napi_struct: 'napi', task_struct: 'task' } as Record<string, string>)[m[1]] ?? m[1] : `arg${index}`;
  while (used.has(base)) base = `${base}${index}`;
  used.add(base);
  return base;
}

function paramsOf(types: RawType[], protoId: number, names?: string[]): Param[] {
  const proto = types[protoId];
  if (!proto || proto.kind !== KIND.FUNC_PROTO) return [];
  const used = new Set<string>();
  return (proto.params ?? []).map(([n, ty], i) => {
    if (ty === 0 && !n) return { name: '', type: '...', decl: '...' };
    const type = typeText(types, ty);
    const name = n || names?.[i] || guessName(type, i, used);
    used.add(name);
    return { name, type, decl: render(types, ty, name) };
  });
}

/** Extracts function prototypes and BTF tracepoints from a raw BTF blob. */
export function parseKernelBtf(buf: Buffer): KernelBtf {
  const types = parseTypes(buf);
  const funcs: Record<string, FuncInfo> = Object.create(null);
  const funcProto = new Map<string, number>();
  const traceTypedefs: Array<[string, number]> = [];
  for (let id = 1; id < types.length; id++) {
    const t = types[id]!;
    if (t.kind === KIND.FUNC) {
      funcProto.set(t.name, t.sizeOrType);
    } else if (t.kind === KIND.TYPEDEF && t.name.startsWith('btf_trace_')) {
      traceTypedefs.push([t.name.slice('btf_trace_'.length), t.sizeOrType]);
    }
  }
  for (const [name, protoId] of funcProto) {
    const proto = types[protoId];
    if (!proto || proto.kind !== KIND.FUNC_PROTO) continue;
    funcs[name] = { ret: typeText(types, proto.sizeOrType), params: paramsOf(types, protoId) };
  }
  const tracepoints: Record<string, Param[]> = Object.create(null);
  for (const [name, ptrId] of traceTypedefs) {
    // typedef void (*btf_trace_X)(void *, <args>): the prototype has no names; the tracepoint's
    // probe stub or iterator (same arguments, named) supplies them.
    const ptr = types[ptrId];
    const protoId = ptr && ptr.kind === KIND.PTR ? ptr.sizeOrType : ptrId;
    const named = funcs[`__probestub_${name}`] ?? funcs[`__traceiter_${name}`] ?? funcs[`__bpf_trace_${name}`];
    const names = named?.params.map((p) => p.name);
    const params = paramsOf(types, protoId, names);
    tracepoints[name] = params.slice(1);
  }
  return { funcs, tracepoints };
}

/**
 * The language server's pure pieces: clang output mapping, SEC parsing, skb-read analysis, ELF
 * notes (kernel build id) and BTF prototypes of this kernel.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseKernelBtf } from '../../src/server/btf.ts';
import { parseClangDiagnostics } from '../../src/server/compile.ts';
import { buildIdFromNotes } from '../../src/server/kernelInfo.ts';
import { findSkbReaders, parseSection, ProbeSource, secContextAt } from '../../src/server/probeSource.ts';

describe('clang output', () => {
  const text = '#include "vmlinux.h"\n#include "nslat.bpf.h"\n\nint x = y;\n';
  it('maps <stdin> to the document with the printed range', () => {
    const d = parseClangDiagnostics("<stdin>:4:9:{4:9-4:10}: error: use of undeclared identifier 'y'\n1 error generated.\n", text);
    assert.deepEqual(d, [{ line: 3, character: 8, endLine: 3, endCharacter: 9, severity: 'error', message: "use of undeclared identifier 'y'" }]);
  });
  it('puts a header\'s problem on the #include line that pulled it in', () => {
    const err = 'In file included from <stdin>:2:\n/x/bpf/probes/nslat.bpf.h:10:3: error: unknown type name \'foo\'\n';
    const [d] = parseClangDiagnostics(err, text);
    assert.equal(d!.line, 1);
    assert.equal(d!.file, '/x/bpf/probes/nslat.bpf.h');
    assert.match(d!.message, /nslat\.bpf\.h:10:3: unknown type name/);
  });
  it('extends a bare position to the token', () => {
    const [d] = parseClangDiagnostics("<stdin>:4:5: warning: unused variable 'x'\n", text);
    assert.deepEqual([d!.character, d!.endCharacter, d!.severity], [4, 5, 'warning']);
  });
});

describe('probe source', () => {
  it('parses section names', () => {
    assert.deepEqual(parseSection('tp/net/netif_rx'), { section: 'tp/net/netif_rx', prefix: 'tp', kind: 'tracepoint', category: 'net', name: 'netif_rx' });
    assert.equal(parseSection('?kprobe/ip_rcv+0x4').name, 'ip_rcv');
    assert.equal(parseSection('kprobe/ip_rcv+0x4').kind, 'kprobe');
    assert.equal(parseSection('xdp').kind, undefined);
  });
  it('finds the SEC context only inside the string', () => {
    const t = 'SEC("tp_btf/net") int x;';
    assert.deepEqual(secContextAt(t, 'SEC("tp_btf/ne'.length), { typed: 'tp_btf/ne', start: 5, end: 15 });
    assert.equal(secContextAt(t, t.length), undefined);
  });
  it('ignores skb reads in comments and strings, and follows helpers', () => {
    const src = `
static __always_inline int peek(struct sk_buff *s) { return s->len; }
static __always_inline int outer(int a, struct sk_buff *b) { return peek(b) + a; }
static __always_inline int key_only(struct sk_buff *s) { return (long)s; }
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(p, struct sk_buff *skb)
{
	/* skb->len would be wrong here */
	bpf_printk("skb->len");
	return key_only(skb) + outer(1, skb);
}`;
    const readers = findSkbReaders(src);
    assert.deepEqual([...readers.keys()].sort(), ['outer', 'peek']);
    assert.deepEqual([...readers.get('outer')!], [1]);
    const ps = new ProbeSource(src);
    const prog = ps.sites[0]!.program!;
    assert.equal(prog.name, 'p');
    const reads = ps.skbReads(prog, readers);
    assert.equal(reads.length, 1);
    assert.match(reads[0]!.what, /outer\(\) reads it/);
  });
});

describe('kernel identity and BTF', () => {
  it('reads the GNU build id from ELF notes', () => {
    const name = Buffer.from('GNU\0');
    const desc = Buffer.from('0123456789abcdef0123', 'hex');
    const hdr = (namesz: number, descsz: number, type: number) => {
      const b = Buffer.alloc(12);
      b.writeUInt32LE(namesz, 0);
      b.writeUInt32LE(descsz, 4);
      b.writeUInt32LE(type, 8);
      return b;
    };
    const other = Buffer.concat([hdr(6, 4, 1), Buffer.from('Linux\0\0\0'), Buffer.alloc(4)]);
    const notes = Buffer.concat([other, hdr(4, desc.length, 3), name, desc]);
    assert.equal(buildIdFromNotes(notes), desc.toString('hex'));
    assert.equal(buildIdFromNotes(other), undefined);
  });
  it('renders this kernel\'s prototypes as C', { skip: !existsSync('/sys/kernel/btf/vmlinux') && 'no kernel BTF' }, () => {
    const btf = parseKernelBtf(readFileSync('/sys/kernel/btf/vmlinux'));
    assert.deepEqual(btf.tracepoints.netif_receive_skb!.map((p) => p.decl), ['struct sk_buff *skb']);
    assert.equal(btf.funcs.tcp_v4_rcv!.ret, 'int');
    assert.equal(btf.funcs.tcp_v4_rcv!.params[0]!.decl, 'struct sk_buff *skb');
    // Function pointers and arrays keep C declarator syntax.
    const fp = Object.values(btf.funcs).flatMap((f) => f.params).find((p) => p.decl.includes('(*'));
    if (fp) assert.match(fp.decl, /^.+\(\*\w+\)\(.*\)$/);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lintProbeSource } from '../../src/core/probe-lint.ts';
import type { Diagnostic } from '../../src/core/diagnostic.ts';

const probe = (n: string) => fileURLToPath(new URL(`../../bpf/probes/${n}.bpf.c`, import.meta.url));
const RX = readFileSync(probe('rx'), 'utf8');
const TX = readFileSync(probe('tx'), 'utf8');

/** `text` with `from` (which must occur exactly once) replaced by `to`. */
function replaced(text: string, from: string, to: string): string {
  assert.equal(text.split(from).length, 2, `exactly one ${JSON.stringify(from)} in the probe`);
  return text.replace(from, () => to);
}

/** 1-based number of the line containing `mark` (which must be on exactly one line). */
function lineOf(text: string, mark: string): number {
  const hits = text.split('\n').flatMap((l, i) => (l.includes(mark) ? [i + 1] : []));
  assert.equal(hits.length, 1, `${mark} on exactly one line`);
  return hits[0]!;
}

const errors = (ds: Diagnostic[]) => ds.filter((d) => d.severity === 'error');

/** Exactly one error, on `line`, saying `msg`. */
function oneError(ds: Diagnostic[], line: number, msg: RegExp): Diagnostic {
  const es = errors(ds);
  assert.equal(es.length, 1, `one error, got: ${es.map((d) => `${d.line}: ${d.message}`).join(' | ')}`);
  const [d] = es;
  assert.equal(d!.line, line, d!.message);
  assert.match(d!.message, msg);
  return d!;
}

const READ_PASS = '\tst = nslat_pass(key, NSLAT_RX_APP_READ, &now);';
const READ_KEY_DECLS = 'static __always_inline void rx_read_key(__u64 key, struct sk_buff *skb)\n{\n\tstruct nslat_pkt *st;\n\t__u64 now;\n';

test('the built-in probes are clean', () => {
  for (const n of ['rx', 'tx', 'irq']) assert.deepEqual(lintProbeSource(readFileSync(probe(n), 'utf8'), probe(n)), [], n);
});

test('a return before the read boundary is passed: one error, on that return', () => {
  const text = replaced(RX, READ_KEY_DECLS, `${READ_KEY_DECLS}\treturn; /* cut */\n`);
  const d = oneError(lintProbeSource(text, '/p/rx.bpf.c'), lineOf(text, '/* cut */'), /^handle_app_read feeds app_read but never passes it: no packet reaches the app_read histograms/);
  assert.equal(d.file, '/p/rx.bpf.c');
  assert.equal(d.column, 2);
  // Every program of the read is named, once.
  for (const p of ['app_read__fentry_udp', 'app_read__kprobe_udp', 'app_read__tp_udp']) assert.match(d.message, new RegExp(`\\b${p}\\b`));
});

test('the read boundary passing the entry boundary instead: one error, on that constant', () => {
  const text = replaced(RX, READ_PASS, '\tst = nslat_pass(key, NSLAT_RX_NETIF_RX, &now); /* back */');
  const d = oneError(lintProbeSource(text, 'rx.bpf.c'), lineOf(text, '/* back */'), /^handle_app_read feeds app_read but passes netif_rx, which comes before it: this stage would count backwards \(nslat_pass only moves forward\)/);
  assert.equal(d.column, '\tst = nslat_pass(key, '.length + 1);
});

test('an earlier boundary passed after the right one: still backwards', () => {
  const text = replaced(RX, READ_PASS, `${READ_PASS}\n\tst = nslat_pass(key, NSLAT_RX_NETIF_RX, &now); /* back */`);
  oneError(lintProbeSource(text, 'rx.bpf.c'), lineOf(text, '/* back */'), /passes netif_rx, which comes before it/);
});

test('backwards in tx.bpf.c, through a helper taking the boundary: on the call site', () => {
  const text = replaced(TX, 'return tx_pass(skb, NSLAT_TX_NET_DEV_START_XMIT);', 'return tx_pass(skb, NSLAT_TX_QDISC_ENQUEUE); /* back */');
  oneError(lintProbeSource(text, 'tx.bpf.c'), lineOf(text, '/* back */'), /^handle_net_dev_start_xmit feeds net_dev_start_xmit but passes qdisc_enqueue, which comes before it/);
});

test('an entry program starting a packet at another entry boundary is not backwards', () => {
  const text = replaced(RX, 'rx_enter((struct sk_buff *)skb, NSLAT_RX_NAPI_GRO_RECEIVE_ENTRY)', 'rx_enter((struct sk_buff *)skb, NSLAT_RX_NETIF_RX)');
  // It starts packets (nslat_begin), it does not pass them on: only "never passes" its own.
  oneError(lintProbeSource(text, 'rx.bpf.c'), lineOf(text, 'int BPF_PROG(handle_napi_gro_receive_entry') - 1, /^handle_napi_gro_receive_entry feeds napi_gro_receive_entry but never passes it/);
});

test('a return in the helper that takes the boundary cuts off every program using it', () => {
  const from = 'static __always_inline int rx_pass(const void *skb, __u32 b)\n{\n\t__u64 now;\n';
  const text = replaced(RX, from, `${from}\n\treturn 0; /* cut */\n`);
  const es = errors(lintProbeSource(text, 'rx.bpf.c'));
  const line = lineOf(text, '/* cut */');
  assert.ok(es.length > 0 && es.every((d) => d.line === line), es.map((d) => `${d.line}: ${d.message}`).join(' | '));
  for (const b of ['netif_receive_skb', 'ip_rcv', 'ip_local_deliver', 'l4_rcv', 'sock_enqueue']) {
    assert.equal(es.filter((d) => d.message.includes(`feeds ${b} but never passes it`)).length, 1, b);
  }
});

test('one program of an alternative cut off is found beside a sibling that still passes', () => {
  const from = 'int BPF_PROG(ip_rcv__fentry_v6, struct sk_buff *skb)\n{\n';
  const text = replaced(RX, from, `${from}\treturn 0; /* cut */\n`);
  oneError(lintProbeSource(text, 'rx.bpf.c'), lineOf(text, '/* cut */'), /^ip_rcv__fentry_v6 feeds ip_rcv but never passes it: no packet reaches the ip_rcv histograms$/);
});

test('a return inside an if is not dead code', () => {
  for (const guard of ['\tif (!key)\n\t\treturn;\n', '\tif (!key) {\n\t\treturn;\n\t}\n', '\tif (!key)\n\t\treturn;\n\telse\n\t\treturn;\n']) {
    assert.deepEqual(lintProbeSource(replaced(RX, READ_KEY_DECLS, `${READ_KEY_DECLS}${guard}`), 'rx.bpf.c'), [], guard);
  }
});

test('code after a label following a return is reachable again', () => {
  const text = replaced(RX, READ_KEY_DECLS, `${READ_KEY_DECLS}\tgoto read;\n\treturn;\nread:\n`);
  assert.deepEqual(lintProbeSource(text, 'rx.bpf.c'), []);
});

test('boundaries in comments, strings and preprocessor lines are ignored', () => {
  const noisy = replaced(RX, READ_PASS, [
    '\t/* st = nslat_pass(key, NSLAT_RX_NETIF_RX, &now); */',
    '\t// st = nslat_pass(key, NSLAT_RX_NETIF_RX, &now);',
    '#define NSLAT_OLD_READ nslat_pass(key, NSLAT_RX_NETIF_RX, &now)',
    '\tbpf_printk("nslat_pass(key, NSLAT_RX_NETIF_RX, &now)");',
    READ_PASS,
  ].join('\n'));
  assert.deepEqual(lintProbeSource(noisy, 'rx.bpf.c'), []);

  // The read's only pass commented out: each read program, on its SEC line (no return cut it off),
  // and now the UDP queue-head keeper too (no program of its alternative passes the read).
  const gone = replaced(RX, READ_PASS, `\tst = NULL; /* ${READ_PASS.trim()} */`);
  const es = errors(lintProbeSource(gone, 'rx.bpf.c'));
  const progs = ['handle_app_read', 'app_read__fentry_udp', 'app_read__kprobe_udp', 'app_read__tp_udp_queue', 'app_read__tp_udp'];
  assert.deepEqual(es.map((d) => d.line), progs.map((p) => lineOf(gone, `(${p},`) - 1));
  assert.ok(es.every((d) => /never passes it/.test(d.message)));
});

test('boundaries are ordered within their direction', () => {
  const text = [
    'enum nslat_boundary { NSLAT_RX_A = 0, NSLAT_TX_B, NSLAT_RX_C, __NSLAT_BOUNDARY_MAX };',
    'SEC("tp_btf/b")',
    'int BPF_PROG(handle_b, struct sk_buff *skb) /* first of tx */',
    '{',
    '\treturn 0;',
    '}',
    'SEC("tp_btf/c")',
    'int BPF_PROG(handle_c, struct sk_buff *skb)',
    '{',
    '\tnslat_pass(NSLAT_KEY(skb), NSLAT_TX_B, &now); /* other direction */',
    '\tnslat_pass(NSLAT_KEY(skb), NSLAT_RX_A, &now); /* rx before c */',
    '\treturn 0;',
    '}',
  ].join('\n');
  oneError(lintProbeSource(text, 'mixed.bpf.c'), lineOf(text, '/* rx before c */'), /^handle_c feeds c but passes a, which comes before it/);
});

test('programs not bound to a boundary, and probes without boundaries, are not checked', () => {
  const extra = [
    '',
    'SEC("tp_btf/netif_receive_skb")',
    'int BPF_PROG(handle_nslat_extra, struct sk_buff *skb)',
    '{',
    '\treturn rx_pass(skb, NSLAT_RX_NETIF_RX);',
    '}',
    '',
    'SEC("fentry/kfree_skb_partial")',
    'int BPF_PROG(nothing__fentry, struct sk_buff *skb)',
    '{',
    '\treturn 0;',
    '}',
  ].join('\n');
  assert.deepEqual(lintProbeSource(RX + extra, 'rx.bpf.c'), []);
  assert.deepEqual(lintProbeSource('SEC("tp_btf/netif_rx")\nint BPF_PROG(handle_netif_rx, struct sk_buff *skb)\n{\n\treturn;\n}\n', 'x.bpf.c'), []);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mapVerifierLog, verifierMessage } from '../../src/core/verifier.ts';

const fixture = (n: string) => readFileSync(new URL(`./fixtures/${n}`, import.meta.url), 'utf8');

// Logs captured on this machine's kernel (6.18) with `bpftool -d prog load` of objects built with
// clang -g; the sources are in test/unit/fixtures/*.bpf.c.
test('NULL map value dereference: maps to the line of the dereference', () => {
  const log = fixture('verifier-null-deref.log');
  assert.equal(verifierMessage(log)?.message, "R0 invalid mem access 'map_value_or_null'");
  const src = fixture('bad.bpf.c');
  const d = mapVerifierLog(log, { source: { path: '/home/me/probes/bad.bpf.c', text: src }, program: 'handle_rx' });
  assert.equal(d.file, '/home/me/probes/bad.bpf.c');
  assert.equal(d.line, 18);
  assert.equal(src.split('\n')[17]!.trim().startsWith('*v += 1;'), true);
  assert.equal(d.column, 2);
  assert.equal(d.severity, 'error');
  assert.match(d.message, /verifier rejected program handle_rx: R0 invalid mem access 'map_value_or_null'/);
});

test('out-of-bounds stack read in an inlined loop: maps to the read, skipping state dumps', () => {
  const log = fixture('verifier-oob-stack.log');
  const d = mapVerifierLog(log, { source: { path: '/p/bad2.bpf.c', text: fixture('bad2.bpf.c') } });
  assert.equal(d.line, 10);
  assert.match(d.message, /invalid read from stack R3 off=0 size=4/);
});

test('older kernels without "@ file:line": placed by the annotation text', () => {
  const log = fixture('verifier-null-deref.log').replace(/ @ bad\.bpf\.c:\d+/g, '');
  const d = mapVerifierLog(log, { source: { path: '/p/bad.bpf.c', text: fixture('bad.bpf.c') } });
  assert.equal(d.line, 18);
});

test('"@ file:0" annotations are skipped; a log naming another file maps through mapFile', () => {
  const log = '0: R1=ctx()\n; int x = y; @ nslat.bpf.h:120\n;  @ rx.bpf.c:0\n5: (79) r1 = *(u64 *)(r0 +0)\nR0 invalid mem access\nprocessed 5 insns';
  const d = mapVerifierLog(log, { mapFile: (f) => (f === 'nslat.bpf.h' ? '/repo/bpf/probes/nslat.bpf.h' : undefined), fallbackFile: '/repo/rx.bpf.c' });
  assert.deepEqual([d.file, d.line], ['/repo/bpf/probes/nslat.bpf.h', 120]);
});

test('hostile or empty logs still give one diagnostic and never throw', () => {
  for (const log of ['', '\n\n', 'processed 1 insns', '; @ :', ';'.repeat(10000), 'x'.repeat(100000), '; a @ b:99999999999999999999\nboom', undefined as unknown as string]) {
    const d = mapVerifierLog(log, { fallbackFile: '/x.c' });
    assert.equal(d.severity, 'error');
    assert.equal(typeof d.line, 'number');
    assert.ok(Number.isFinite(d.line));
  }
});

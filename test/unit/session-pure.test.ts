import { test } from 'node:test';
import assert from 'node:assert/strict';
import { declaredNames } from '../../src/core/session.ts';
import { hashBpfSources } from '../../src/core/deploy.ts';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('declaredNames finds globals in code, not in comments', () => {
  const src = '/* filter_pid is documented here */\nconst volatile __u16 filter_lport = 0; // filter_cgroup\nvolatile __u32 sample_every SEC(".data") = 1;';
  assert.deepEqual([...declaredNames(src)].sort(), ['filter_lport', 'sample_every']);
});

test('the bpf source hash ignores build output and changes with any source', () => {
  const d = mkdtempSync(join(tmpdir(), 'nslat-hash-'));
  try {
    mkdirSync(join(d, 'probes'));
    mkdirSync(join(d, 'build'));
    writeFileSync(join(d, 'Makefile'), 'all:\n');
    writeFileSync(join(d, 'probes', 'rx.bpf.c'), 'int x;\n');
    const h1 = hashBpfSources(d);
    writeFileSync(join(d, 'build', 'rx.bpf.o'), 'binary');
    writeFileSync(join(d, 'probes', 'rx.bpf.o'), 'binary');
    assert.equal(hashBpfSources(d), h1);
    writeFileSync(join(d, 'probes', 'rx.bpf.c'), 'int y;\n');
    assert.notEqual(hashBpfSources(d), h1);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashShipped } from '../../src/core/deploy.ts';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('the shipped-files hash covers the helper and the objects only, and changes with any of them', () => {
  const d = mkdtempSync(join(tmpdir(), 'nslat-hash-'));
  try {
    mkdirSync(join(d, 'sub'));
    writeFileSync(join(d, 'nslat-helper'), 'elf');
    writeFileSync(join(d, 'rx.bpf.o'), 'binary');
    const h1 = hashShipped(d);
    writeFileSync(join(d, 'notes.txt'), 'not shipped');
    writeFileSync(join(d, 'sub', 'x.bpf.o'), 'not shipped');
    assert.equal(hashShipped(d), h1);
    writeFileSync(join(d, 'rx.bpf.o'), 'binary2');
    assert.notEqual(hashShipped(d), h1);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

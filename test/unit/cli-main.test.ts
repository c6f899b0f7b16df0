import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
function nslat(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('usage errors: one sentence plus what to do, exit status 2, nothing on stdout', () => {
  for (const args of [['trace', '--duration', 'soon'], ['bogus'], ['trace', '--host', '-oProxyCommand=x'], ['trace', '--filter', 'tcp or udp']]) {
    const r = nslat(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.equal(r.out, '');
    const lines = r.err.trim().split('\n');
    assert.equal(lines.length, 2, r.err);
    assert.match(lines[0]!, /^nslat: .+\.$/);
  }
});

test('--help, --version, and replay of a missing or bad file', () => {
  assert.match(nslat('--help').out, /nslat trace/);
  assert.match(nslat('--version').out, /^nslat \d+\.\d+\.\d+/);
  const missing = nslat('replay', '/nonexistent/trace.jsonl');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^nslat: \/nonexistent\/trace.jsonl does not exist\./);
  const d = mkdtempSync(join(tmpdir(), 'nslat-cli-'));
  try {
    const f = join(d, 'junk.jsonl');
    writeFileSync(f, 'not json\n{"type":"nope"}\n');
    const bad = nslat('replay', f);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /holds no nslat trace messages/);
    const probes = nslat('trace', '--probes', join(d, 'nope'));
    assert.equal(probes.code, 2);
    assert.match(probes.err, /is not a directory/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('replay: fine-bucket percentiles by default, --log2 adds bcc-style histograms, a protocol 1 trace is refused', async () => {
  const { makeStream } = await import('../fixtures/stream.ts');
  const d = mkdtempSync(join(tmpdir(), 'nslat-cli-'));
  try {
    const msgs = makeStream({ snapshots: 3 });
    const f = join(d, 'stream.jsonl');
    writeFileSync(f, msgs.map((m) => JSON.stringify(m)).join('\n') + '\n');
    const plain = nslat('replay', f);
    assert.equal(plain.code, 0, plain.err);
    assert.match(plain.out, /\nRX per stage\n/);
    assert.doesNotMatch(plain.out, /Histograms \(log2\)|nsecs +: count +distribution/);
    const log2 = nslat('replay', f, '--log2');
    assert.equal(log2.code, 0, log2.err);
    assert.match(log2.out, /\nHistograms \(log2\)\n/);
    // rows at powers of two, as bcc prints them
    const rows = [...log2.out.matchAll(/^ *(\d+) -> (\d+|inf) +: (\d+) +\|/gm)];
    assert.ok(rows.length > 0);
    for (const [, lo, hi] of rows) if (hi !== 'inf' && lo !== '0') assert.equal(Number(hi) + 1, 2 * Number(lo), `${lo} -> ${hi}`);

    const v1 = join(d, 'v1.jsonl');
    writeFileSync(v1, msgs.map((m) => JSON.stringify(m.type === 'hello' ? { ...m, protocol: 1 } : m)).join('\n') + '\n');
    const old = nslat('replay', v1);
    assert.equal(old.code, 1);
    assert.equal(old.out, '');
    assert.match(old.err, /^nslat: cannot replay .*v1\.jsonl: it was recorded with protocol version 1 \(32 log2 buckets per histogram\) and this nslat reads protocol version 2 \(256 log-linear buckets per histogram\)/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

/**
 * The real helper on this kernel through the TS Session: start locally with the loopback load,
 * see snapshots, reload a good edited probe, a probe with a syntax error, a probe the verifier
 * rejects (diagnostics on the right lines, old probes keep counting), stop, and no BPF program
 * of ours left per bpftool. Needs root, what `make -C bpf` ships, and clang here (edited probes).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session, type EndInfo, type ReloadResult } from '../../src/core/session.ts';
import { startLoopbackLoad, type RunningLoad } from '../../src/core/load.ts';
import type { HelperMessage, SnapshotMessage } from '../../src/core/protocol.ts';

const repo = new URL('../../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'nslat-integration-'));
after(() => rmSync(work, { recursive: true, force: true }));

function liveProgIds(): Set<number> {
  const out = execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' });
  return new Set((JSON.parse(out) as Array<{ id: number }>).map((p) => p.id));
}

/** Waits until none of `ids` is loaded any more; returns those still there after `ms`, with names. */
async function gone(ids: number[], ms = 5000): Promise<string[]> {
  const t0 = Date.now();
  for (;;) {
    const out = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
    const left = out.filter((p) => ids.includes(p.id)).map((p) => `${p.id} ${p.name ?? ''}`);
    if (left.length === 0 || Date.now() - t0 > ms) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function progIds(m: HelperMessage): number[] {
  return m.type === 'loaded' ? m.programs.flatMap((p) => (p.status === 'attached' && p.prog_id !== undefined ? [p.prog_id] : [])) : [];
}

/** Total packets counted in one slot's "stage" histograms of a snapshot. */
function slotCount(s: SnapshotMessage, slot: string): number {
  const sl = s.slots.find((x) => x.slot === slot);
  return sl ? sl.hists.reduce((a, h) => a + h.count, 0) : 0;
}

class Recorder {
  snapshots: SnapshotMessage[] = [];
  ids = new Set<number>();
  constructor(s: Session) {
    for (const m of s.startupMessages) this.take(m);
    s.on('message', (m) => this.take(m));
  }
  take(m: HelperMessage) {
    if (m.type === 'snapshot') this.snapshots.push(m);
    for (const id of progIds(m)) this.ids.add(id);
  }
  /** Waits for `n` more snapshots where `slot` counted packets. */
  async counting(slot: string, n = 2, timeoutMs = 20_000): Promise<number> {
    const from = this.snapshots.length;
    const t0 = Date.now();
    for (;;) {
      const got = this.snapshots.slice(from).filter((s) => slotCount(s, slot) > 0);
      if (got.length >= n) return got.reduce((a, s) => a + slotCount(s, slot), 0);
      if (Date.now() - t0 > timeoutMs) assert.fail(`no ${slot} packets counted in ${timeoutMs} ms (${this.snapshots.length - from} snapshots)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const rxSource = readFileSync(join(repo, 'bpf/probes/rx.bpf.c'), 'utf8');

/** A copy of rx.bpf.c with `insert` placed after the first line matching `after` (1-based line of the insert returned). */
function edited(name: string, insert: string, after: RegExp | 'end'): { path: string; line: number } {
  const lines = rxSource.split('\n');
  let at = after === 'end' ? lines.length : lines.findIndex((l) => after.test(l)) + 1;
  assert.ok(at > 0, `anchor ${after} not found in rx.bpf.c`);
  if (after === 'end' && lines[lines.length - 1] === '') at = lines.length - 1;
  lines.splice(at, 0, ...insert.split('\n'));
  const dir = join(work, name);
  execFileSync('mkdir', ['-p', dir]);
  const path = join(dir, 'rx.bpf.c');
  writeFileSync(path, lines.join('\n'));
  return { path, line: at + 1 };
}

test('session: start, trace with load, reload good/syntax-error/verifier-rejected probes, stop, nothing left', { timeout: 300_000 }, async () => {
  const progress: string[] = [];
  const before = liveProgIds();
  const session = await Session.start({ stages: ['rx', 'tx', 'irq'], intervalMs: 250, sampleEvery: 50, onProgress: (p) => progress.push(`${p.phase}: ${p.message}`) });
  let load: RunningLoad | undefined;
  const rec = new Recorder(session);
  try {
    assert.ok(progress.some((p) => p.startsWith('helper:')), progress.join('\n'));
    assert.deepEqual([...session.loaded.keys()].sort(), ['irq', 'rx', 'tx']);
    assert.ok(rec.ids.size > 0, 'the helper reported attached programs with ids');
    for (const id of rec.ids) assert.ok(!before.has(id), `program id ${id} was ours, not pre-existing`);
    assert.ok(session.hello.attach_types.tp_btf || session.hello.attach_types.tracepoint);

    load = startLoopbackLoad({ durationMs: 120_000, maxMessages: 2_000_000 });
    assert.ok((await rec.counting('rx')) > 0);
    assert.ok((await rec.counting('tx')) > 0);

    // 1. A good edit: the new object replaces the old one (make-before-break).
    const good = edited('good', '/* edited by the integration test */', /^#include "nslat.bpf.h"/);
    const reloads: ReloadResult[] = [];
    session.on('reload', (r) => reloads.push(r));
    const oldRx = progIds(session.loaded.get('rx')!);
    const ok = await session.reload('rx', good.path);
    assert.equal(ok.ok, true, ok.ok ? '' : `${ok.error}\n${JSON.stringify(ok.diagnostics)}`);
    if (ok.ok) {
      assert.equal(ok.loaded.replaced, true);
      for (const id of progIds(ok.loaded)) rec.ids.add(id);
    }
    assert.equal(session.probeSources().find((s) => s.slot === 'rx')?.path, good.path);
    // The kernel frees detached programs after an RCU grace period: allow it a few seconds.
    assert.deepEqual(await gone(oldRx), [], 'the replaced rx programs are detached and freed');
    assert.ok((await rec.counting('rx')) > 0, 'the reloaded rx probes count');

    // 2. A syntax error: diagnostics on the inserted line of the caller's file; old probes keep running.
    const syn = edited('syntax', '\tint nslat_broken = ;', /^\tstruct nslat_pkt init = \{\};/);
    const bad1 = await session.reload('rx', syn.path);
    assert.equal(bad1.ok, false);
    if (!bad1.ok) {
      const d = bad1.diagnostics.find((x) => x.severity === 'error');
      assert.ok(d, JSON.stringify(bad1));
      assert.equal(d.file, syn.path);
      assert.equal(d.line, syn.line);
      assert.match(d.message, /expected expression/);
      assert.equal(d.source, 'clang');
    }
    assert.ok((await rec.counting('rx')) > 0, 'old rx probes still count after a compile error');

    // 3. A verifier rejection: a program dereferencing a map value without a NULL check.
    const verif = edited('verifier', [
      '',
      'SEC("tp_btf/netif_receive_skb")',
      'int BPF_PROG(handle_nslat_test_unchecked, struct sk_buff *skb)',
      '{',
      '\t__u32 k = skb->len; /* unknown key: the lookup may fail */',
      '\t__u64 *v = bpf_map_lookup_elem(&nslat_counters, &k);',
      '',
      '\t*v += 1;',
      '\treturn 0;',
      '}',
    ].join('\n'), 'end');
    const derefLine = verif.line + 7;
    assert.match(readFileSync(verif.path, 'utf8').split('\n')[derefLine - 1]!, /\*v \+= 1;/);
    const bad2 = await session.reload('rx', verif.path);
    assert.equal(bad2.ok, false);
    if (!bad2.ok) {
      assert.equal(bad2.diagnostics.length, 1, JSON.stringify(bad2.diagnostics));
      const d = bad2.diagnostics[0]!;
      assert.equal(d.source, 'verifier', JSON.stringify(d));
      assert.equal(d.file, verif.path);
      assert.equal(d.line, derefLine, `${d.message}`);
      assert.match(d.message, /map_value_or_null|invalid mem access/);
    }
    assert.ok((await rec.counting('rx')) > 0, 'old rx probes still count after a verifier rejection');
    assert.deepEqual(reloads.map((r) => r.ok), [true, false, false]);
    // a bad slot name or missing file is an answer, not a crash
    assert.equal((await session.reload('../rx', good.path)).ok, false);
    assert.equal((await session.reload('rx', join(work, 'nope.bpf.c'))).ok, false);

    await load.stop();
    load = undefined;
    const end = await session.stop();
    assert.equal(end.reason, 'stopped');
    assert.equal(end.error, undefined);
    assert.equal(end.exit?.bye?.attached, 0);
  } finally {
    if (load) await load.stop();
    if (!session.ended) await session.stop();
  }
  assert.ok(rec.ids.size > 10);
  assert.deepEqual(await gone([...rec.ids]), [], 'no program of this session is left');
});

test('session: the helper dying is noticed at once and nothing is left attached', { timeout: 120_000 }, async () => {
  const session = await Session.start({ stages: ['rx'], intervalMs: 200 });
  const ids = new Set<number>();
  for (const m of session.startupMessages) for (const id of progIds(m)) ids.add(id);
  assert.ok(ids.size > 0);
  const ended = new Promise<EndInfo>((r) => session.once('ended', r));
  const pid = session.client.hello?.pid;
  assert.ok(pid && pid > 1);
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  const info = await ended;
  assert.ok(Date.now() - t0 < 3000, `noticed after ${Date.now() - t0} ms`);
  assert.equal(info.reason, 'helper-exited');
  assert.match(info.error ?? '', /stopped unexpectedly.*data collected so far is kept/);
  // the kernel frees the programs of a killed process once their fds are closed (after RCU)
  assert.deepEqual(await gone([...ids]), []);
  const r = await session.reload('rx');
  assert.equal(r.ok, false);
  assert.equal((await session.stop()).reason, 'helper-exited');
});

test('session: --filter udp reaches the probes (every sampled journey is UDP)', { timeout: 120_000 }, async () => {
  const session = await Session.start({ stages: ['rx', 'tx'], intervalMs: 250, sampleEvery: 1, filter: 'udp' });
  const journeys: Array<{ l4?: number }> = [];
  session.on('message', (m) => { if (m.type === 'journey') journeys.push(m); });
  const load = startLoopbackLoad({ durationMs: 1500, maxMessages: 20_000 });
  try {
    const s = await load.done;
    assert.ok(s.tcp > 0 && s.udp > 0, 'the load sent both TCP and UDP');
    await session.snapshot();
  } finally {
    await load.stop();
    await session.stop();
  }
  const withL4 = journeys.filter((j) => j.l4 !== undefined && j.l4 !== 0);
  assert.ok(withL4.length > 10, `${withL4.length} journeys with a protocol`);
  assert.deepEqual([...new Set(withL4.map((j) => j.l4))], [17]);
});

test('session: a bad filter and a missing --probes file fail before touching the target', async () => {
  await assert.rejects(Session.start({ filter: 'tcp or udp' }), /"or" at column 5/);
  await assert.rejects(Session.start({ probesDir: work, stages: ['rx'] }), /rx\.bpf\.c does not exist/);
});

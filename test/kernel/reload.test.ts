/**
 * The kernel developer's loop on the real kernel: with loopback traffic running,
 *  - a changed copy of the rx probe loaded into the same slot replaces it (`replaced: true`),
 *    make-before-break: every snapshot interval keeps counting packets, and the old programs go;
 *  - a copy with a syntax error fails to compile (`make -C bpf probe`) with clang's file:line:col;
 *  - a copy the verifier rejects returns an `error` with code "verifier" whose log carries the
 *    `; <source line>` annotation of the offending line;
 *  and after both failures the loaded probe keeps counting.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { execa } from 'execa';
import type { SnapshotMessage } from '../../src/core/protocol.ts';
import { BPF_DIR, Helper, Totals, bpftoolProgIds, kernelSkipReason, leakedProgIds, sleep } from './lib/helper.ts';
import { runFlow } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const PORT = 20_000 + ((process.pid + 7_919) % 20_000);
const SRC = join(BPF_DIR, 'probes', 'rx.bpf.c');
const INTERVAL_MS = 250;

/** Builds one probe with the project's own rule; returns make's exit code and output. */
async function makeProbe(src: string, out: string): Promise<{ code: number; output: string }> {
  const r = await execa('make', ['-s', '-C', BPF_DIR, 'probe', `SRC=${src}`, `OUT=${out}`], { reject: false, all: true, timeout: 120_000 });
  return { code: r.exitCode ?? -1, output: r.all ?? '' };
}

/** 1-based line number of the first line containing `needle`. */
function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
}

/** Packets the rx slot counted in one snapshot (all stage histograms). */
function rxPackets(s: SnapshotMessage): number {
  const slot = s.slots.find((x) => x.slot === 'rx');
  return (slot?.hists ?? []).filter((hh) => hh.kind === 'stage').reduce((a, hh) => a + hh.count, 0);
}

describe('reload on the real kernel', { skip, timeout: 150_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nslat-kernel-reload-'));
  let h: Helper | undefined;
  after(async () => {
    await h?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('changed probe replaces the old one with no gap; syntax and verifier errors keep the old one running', async () => {
    const original = readFileSync(SRC, 'utf8');

    // 1. A harmless change: one more load-time constant (a different object, same behaviour).
    const goodSrc = join(dir, 'rx_changed.bpf.c');
    writeFileSync(goodSrc, `${original}\n/* nslat kernel test: a harmless change */\nconst volatile __u64 nslat_test_marker = 1;\n`);
    // 2. A syntax error on a known line.
    const syntaxSrc = join(dir, 'rx_syntax.bpf.c');
    const syntaxText = `${original}\n/* nslat kernel test: a syntax error on the next line */\nint nslat_test_syntax_error( { return 0 }\n`;
    const syntaxLine = lineOf(syntaxText, 'nslat_test_syntax_error(');
    writeFileSync(syntaxSrc, syntaxText);
    // 3. A verifier rejection: a map lookup result dereferenced without a NULL check. (A hash map:
    //    since 6.14 the verifier knows an array lookup with a constant in-range key is never NULL.)
    const verifierSrc = join(dir, 'rx_verifier.bpf.c');
    const verifierText = `${original}
/* nslat kernel test: the verifier must refuse this program */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} nslat_test_map SEC(".maps");

SEC("tp/net/netif_rx")
int nslat_test_bad_deref(void *ctx)
{
	__u32 key = 0;
	__u64 *hits = bpf_map_lookup_elem(&nslat_test_map, &key);

	*hits += 1; /* nslat-test: no NULL check */
	return 0;
}
`;
    const verifierLine = lineOf(verifierText, '*hits += 1;');
    writeFileSync(verifierSrc, verifierText);

    h = await Helper.start();
    const goodObj = h.path('rx_changed.bpf.o');
    const verifierObj = h.path('rx_verifier.bpf.o');
    // Compile first (unprivileged clang, slow on 2 cores) so the reloads happen during traffic.
    const [good, syntax, verif] = await Promise.all([
      makeProbe(goodSrc, goodObj),
      makeProbe(syntaxSrc, h.path('rx_syntax.bpf.o')),
      makeProbe(verifierSrc, verifierObj),
    ]);
    assert.equal(good.code, 0, `the changed probe compiles:\n${good.output}`);
    assert.equal(verif.code, 0, `the verifier-rejected probe compiles (clang accepts it):\n${verif.output}`);
    assert.notEqual(syntax.code, 0, 'a syntax error fails the build');
    const re = new RegExp(`rx_syntax\\.bpf\\.c:${syntaxLine}:(\\d+): error:`);
    assert.match(syntax.output, re, `clang's file:line:col error for line ${syntaxLine}:\n${syntax.output.slice(0, 2000)}`);

    const first = await h.loadOk('rx', 'rx', { rodata: { filter_lport: PORT } });
    assert.equal(first.replaced, false);
    const firstIds = first.programs.filter((pr) => pr.status === 'attached').map((pr) => pr.prog_id!);
    h.setInterval(INTERVAL_MS);
    const from = h.mark();
    let reloadMono = 0;

    // Loopback UDP at ~400 packets/s for up to 8 s, bounded.
    const traffic = runFlow({ proto: 'udp', family: 4, port: PORT, count: 3200, size: 100, intervalMs: 2.5, durationS: 8, timeoutS: 15 });
    try {
      // Reload only once packets are flowing: at least two periodic snapshots have counted some
      // (the client may start late on a busy machine), so the reload lands inside the window.
      const hh = h;
      const flowing = (): number => hh.snapshotsSince(from).filter((s) => s.id === undefined && rxPackets(s) > 0).length;
      const waitUntil = Date.now() + 10_000;
      while (flowing() < 2 && Date.now() < waitUntil) await sleep(50);
      assert.ok(flowing() >= 2, 'traffic is flowing (two snapshot intervals with packets) within 10 s of starting it');
      // Reload with the changed object while packets flow.
      const reloaded = await h.loadOk('rx', goodObj, { rodata: { filter_lport: PORT }, strict: true });
      assert.equal(reloaded.replaced, true, 'loading into an occupied slot is a reload');
      reloadMono = reloaded.mono_ns;
      assert.ok(reloaded.programs.some((pr) => pr.status === 'attached'));
      const newIds = reloaded.programs.filter((pr) => pr.status === 'attached').map((pr) => pr.prog_id!);
      const live = await bpftoolProgIds();
      assert.deepEqual(newIds.filter((id) => !live.has(id)), [], 'the new programs are loaded');
      // Programs are freed asynchronously (RCU) once their links and fds close: poll briefly.
      const oldIds = firstIds.filter((id) => !newIds.includes(id));
      assert.deepEqual(await leakedProgIds(oldIds, 3_000), [], 'the old programs are gone after the reload');
      await sleep(1_000);

      // The syntax-error build left no object behind (nothing stale to load by mistake): asking the
      // helper to load it is refused, and the loaded probe keeps running.
      assert.equal(existsSync(h.path('rx_syntax.bpf.o')), false, 'a failed build leaves no object at OUT');
      const none = await h.load('rx', h.path('rx_syntax.bpf.o'), { rodata: { filter_lport: PORT }, strict: true });
      assert.equal(none.type, 'error', 'loading the object a failed build did not produce is an error');
      if (none.type === 'error') assert.equal(none.code, 'bad_path');
      await sleep(500);

      // The verifier rejects the third copy: an error with the log, and the old probe stays.
      const bad = await h.load('rx', verifierObj, { rodata: { filter_lport: PORT }, strict: true });
      assert.equal(bad.type, 'error', 'the verifier refuses a NULL-unchecked map value');
      if (bad.type === 'error') {
        assert.equal(bad.code, 'verifier', `error code (message: ${bad.message})`);
        assert.equal(bad.slot, 'rx');
        assert.ok(bad.log && bad.log.length > 0, 'the error carries the verifier log');
        assert.match(bad.log!, /^; .*\*hits \+= 1;/m, `the log annotates the offending source line with "; ":\n${bad.log!.slice(-1500)}`);
        const at = /^; .*\*hits \+= 1;.*@ \S*?:(\d+)/m.exec(bad.log!);
        if (at) assert.equal(Number(at[1]), verifierLine, 'the annotation names the offending line');
        if (bad.program) assert.equal(bad.program, 'nslat_test_bad_deref');
      }
      const live2 = await bpftoolProgIds();
      assert.deepEqual(newIds.filter((id) => !live2.has(id)), [], 'the loaded probe is still there after the verifier error');

      // Not strict (how built-in probes load): the refused program is dropped alone, reported with
      // its verifier log, and the rest of the object loads (in a slot of its own).
      const partial = await h.loadOk('rxpartial', verifierObj, { rodata: { filter_lport: PORT + 7 } });
      const refused = partial.programs.find((pr) => pr.name === 'nslat_test_bad_deref');
      assert.equal(refused?.status, 'failed', `the refused program is reported failed: ${JSON.stringify(refused)}`);
      assert.match(refused?.reason ?? '', /rejected by the verifier/);
      assert.match(refused?.log ?? '', /^; .*\*hits \+= 1;/m, 'its entry carries the verifier log with the source line');
      assert.ok(partial.programs.filter((pr) => pr.status === 'attached').length >= 5, 'the other programs attached');
      assert.equal((await h.unload('rxpartial')).type, 'unloaded');
      await sleep(1_500);
    } finally {
      await traffic.catch(() => undefined);
    }
    const flow = await traffic;
    await sleep(300);
    await h.snapshot();
    h.setInterval(0);

    // Every interval while traffic ran counted packets: no gap at the reload nor after the errors.
    const snaps = h.snapshotsSince(from).filter((s) => s.id === undefined);
    assert.ok(snaps.length >= 10, `periodic snapshots every ${INTERVAL_MS} ms (got ${snaps.length})`);
    const seqs = snaps.map((s) => s.seq);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, 'snapshot seq increases');
    // The traffic window: from the first interval with packets to the last one (ignore the edges).
    const counts = snaps.map(rxPackets);
    const firstIdx = counts.findIndex((c) => c > 0);
    let lastIdx = counts.length - 1;
    while (lastIdx > 0 && counts[lastIdx] === 0) lastIdx--;
    const inner = counts.slice(firstIdx + 1, lastIdx);
    console.log(`# reload: ${flow.client.sent} sent, ${flow.server.received} received; rx stage counts per ${INTERVAL_MS} ms interval: ${counts.join(' ')}`);
    assert.ok(inner.length >= 8, `traffic covered ≥ 8 intervals (${counts.join(' ')})`);
    // The reload happened inside the traffic window, not at its edge.
    const reloadIdx = snaps.findIndex((s) => s.mono_ns >= reloadMono);
    assert.ok(reloadIdx > firstIdx + 1 && reloadIdx < lastIdx, `the reload (snapshot ${reloadIdx}) falls inside the traffic window (${firstIdx}..${lastIdx})`);
    // Each packet is counted by the object that saw its entry boundary, and only by it: the read
    // boundary (whichever object fed it) saw every datagram the server read, or all but the few a
    // UDP read could not pair (udp_unpaired), and never more.
    const totals = Totals.of(h.snapshotsSince(from));
    const readName = first.boundaries.filter((b) => b.dir === 'rx' && b.active).sort((a, b) => b.id - a.id)[0]?.name ?? '';
    const reads = totals.cum('rx', readName)?.count ?? 0;
    console.log(`# reload: ${reads} packets reached ${readName} for ${flow.server.received} datagrams read`);
    assert.ok(reads >= flow.server.received * 0.98 && reads <= flow.server.received, `${reads} packets reached ${readName} across the reloads for ${flow.server.received} read`);
    // Per interval, packets per second (a load stalls the helper's loop, so the interval around a
    // reload is longer than the others): none far below the steady rate (a gap) nor far above it
    // (packets counted by both objects).
    const rates = snaps.map((s) => (rxPackets(s) * 1e9) / Math.max(1, s.interval_ns)).slice(firstIdx + 1, lastIdx);
    const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)]!;
    const shown = rates.map((r) => r.toFixed(0)).join(' ');
    console.log(`# reload at interval ${reloadIdx - firstIdx - 1} of the rates: ${shown}; intervals ms: ${snaps.slice(firstIdx + 1, lastIdx).map((s) => (s.interval_ns / 1e6).toFixed(0)).join(' ')}`);
    for (const [i, r] of rates.entries()) {
      assert.ok(r >= median * 0.75, `interval ${i + firstIdx + 1} counted ${r.toFixed(0)} stage passes/s, well below the median ${median.toFixed(0)}: a gap (${shown})`);
      assert.ok(r <= median * 1.25, `interval ${i + firstIdx + 1} counted ${r.toFixed(0)} stage passes/s, well above the median ${median.toFixed(0)}: packets counted twice (${shown})`);
    }
    await h.quit();
    h.assertProtocolClean();
  });
});

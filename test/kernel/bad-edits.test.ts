/**
 * Bad edits of the rx probe, reloaded through the real Session (the path the editor takes) while
 * loopback traffic runs. Each edit the compiler or the verifier refuses must come back as a failed
 * reload whose diagnostic sits on the edited line, and the old probes must keep counting. So must
 * the edits the verifier would accept but that leave a stage silently wrong (a program that never
 * hands a packet to the histograms, a stage that tries to count backwards): nslat's probe lint
 * refuses them before load.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Session, type ReloadResult } from '../../src/core/session.ts';
import { startLoopbackLoad, type RunningLoad } from '../../src/core/load.ts';
import type { SnapshotMessage } from '../../src/core/protocol.ts';
import { BPF_DIR, kernelSkipReason, sleep } from './lib/helper.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const RX = readFileSync(join(BPF_DIR, 'probes', 'rx.bpf.c'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'nslat-bad-edits-'));

/** rx.bpf.c with `insert` after the first line matching `anchor` (a list: the first line matching
 *  each in turn, after the previous one's), or at the end; `mark` is a string on the line the error
 *  belongs to, whose 1-based number is returned. */
function edit(name: string, insert: string, anchor: RegExp | RegExp[] | 'end', mark?: string): { path: string; line: number } {
  const lines = RX.split('\n');
  let at = 0;
  if (anchor === 'end') at = lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  else {
    for (const a of Array.isArray(anchor) ? anchor : [anchor]) {
      const found = lines.findIndex((l, i) => i >= at && a.test(l));
      assert.ok(found >= 0, `anchor ${String(a)} not in rx.bpf.c`);
      at = found + 1;
    }
  }
  lines.splice(at, 0, ...insert.split('\n'));
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'rx.bpf.c');
  writeFileSync(path, lines.join('\n'));
  const line = mark ? lines.findIndex((l) => l.includes(mark)) + 1 : 0;
  if (mark) assert.ok(line > 0, `${mark} not in the edit`);
  return { path, line };
}

function rxCount(s: SnapshotMessage): number {
  const sl = s.slots.find((x) => x.slot === 'rx');
  return sl ? sl.hists.filter((h) => h.kind === 'stage').reduce((a, h) => a + h.count, 0) : 0;
}

describe('bad probe edits through Session.reload', { skip, timeout: 400_000 }, () => {
  let session: Session | undefined;
  let load: RunningLoad | undefined;
  const snaps: SnapshotMessage[] = [];
  after(async () => {
    await load?.stop();
    if (session && !session.ended) await session.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** Packets rx counted in `n` snapshots from now (waits for them). */
  async function counted(n = 3, timeoutMs = 15_000): Promise<{ packets: number; snaps: SnapshotMessage[] }> {
    const from = snaps.length;
    const t0 = Date.now();
    while (snaps.length - from < n) {
      if (Date.now() - t0 > timeoutMs) assert.fail(`only ${snaps.length - from} snapshots in ${timeoutMs} ms`);
      await sleep(50);
    }
    const got = snaps.slice(from, from + n);
    return { packets: got.reduce((a, s) => a + rxCount(s), 0), snaps: got };
  }

  /** A refused edit: a failed reload, the diagnostic on `line` (when given) matching `msg`, and the
   *  old probes (same program ids) still counting. */
  async function refused(what: string, r: ReloadResult, line: number, msg: RegExp, path: string): Promise<void> {
    assert.equal(r.ok, false, `${what}: the reload must fail`);
    if (r.ok) return;
    const d = r.diagnostics.find((x) => x.severity === 'error') ?? r.diagnostics[0];
    assert.ok(d, `${what}: a diagnostic (${r.error})`);
    assert.match(`${d.message} ${r.error}`, msg, `${what}: what the diagnostic says`);
    if (line) {
      assert.equal(d.file, path, `${what}: diagnostic on the edited file`);
      assert.equal(d.line, line, `${what}: diagnostic line (${d.message})`);
    }
    const { packets } = await counted();
    assert.ok(packets > 0, `${what}: the old rx probes still count after the failed reload`);
  }

  test('syntax error, verifier rejection, missing attach point, unbounded loop, use after free, no histogram, backwards stage', async () => {
    session = await Session.start({ stages: ['rx'], intervalMs: 200, sampleEvery: 0 });
    session.on('message', (m) => {
      if (m.type === 'snapshot') snaps.push(m);
    });
    load = startLoopbackLoad({ durationMs: 300_000, maxMessages: 5_000_000 });
    assert.ok((await counted()).packets > 0, 'the built-in rx probes count');
    const ids = () => (session!.loaded.get('rx')?.programs ?? []).flatMap((p) => (p.prog_id !== undefined ? [p.prog_id] : []));
    const before = ids();

    // 1. A syntax error.
    const syn = edit('syntax', '\tint nslat_broken = ;', /^\tstruct nslat_pkt init = \{\};/, 'nslat_broken');
    await refused('syntax error', await session.reload('rx', syn.path), syn.line, /expected expression/, syn.path);

    // 2. A verifier rejection: a map value used without its NULL check.
    const ver = edit('verifier', [
      '',
      'SEC("tp_btf/netif_receive_skb")',
      'int BPF_PROG(handle_nslat_unchecked, struct sk_buff *skb)',
      '{',
      '\t__u32 k = skb->len;',
      '\t__u64 *v = bpf_map_lookup_elem(&nslat_counters, &k);',
      '',
      '\t*v += 1; /* unchecked */',
      '\treturn 0;',
      '}',
    ].join('\n'), 'end', '/* unchecked */');
    await refused('verifier rejection', await session.reload('rx', ver.path), ver.line, /map_value_or_null|invalid mem access/, ver.path);

    // 3. A missing attach point: a tracepoint no kernel has.
    const miss = edit('missing', [
      '',
      'SEC("tp_btf/nslat_no_such_tracepoint")',
      'int BPF_PROG(handle_nslat_nowhere, struct sk_buff *skb) /* nowhere */',
      '{',
      '\treturn 0;',
      '}',
    ].join('\n'), 'end', '/* nowhere */');
    await refused('missing attach point', await session.reload('rx', miss.path), miss.line, /nslat_no_such_tracepoint|handle_nslat_nowhere/, miss.path);

    // 4. An unbounded loop.
    const loop = edit('loop', [
      '',
      'SEC("tp_btf/netif_receive_skb")',
      'int BPF_PROG(handle_nslat_spin, struct sk_buff *skb)',
      '{',
      '\tvolatile __u32 n = skb->len;',
      '',
      '\twhile (n != 12345) /* spin */',
      '\t\tn = n * 3 + 1;',
      '\treturn 0;',
      '}',
    ].join('\n'), 'end', '/* spin */');
    const lr = await session.reload('rx', loop.path);
    await refused('unbounded loop', lr, 0, /handle_nslat_spin/, loop.path);
    if (!lr.ok) {
      // The verifier gives up inside the loop: its body or condition.
      const d = lr.diagnostics[0]!;
      assert.ok(d.line >= loop.line && d.line <= loop.line + 1, `unbounded loop: diagnostic on the loop (line ${d.line}, loop at ${loop.line}: ${d.message})`);
    }

    // 5. A read of an skb after it is freed: the pointer kept in a map at kfree_skb, dereferenced
    //    later. The verifier only sees a number there and refuses the read.
    const uaf = edit('uaf', [
      '',
      'struct {',
      '\t__uint(type, BPF_MAP_TYPE_ARRAY);',
      '\t__uint(max_entries, 1);',
      '\t__type(key, __u32);',
      '\t__type(value, __u64);',
      '} nslat_freed SEC(".maps");',
      '',
      'SEC("tp_btf/kfree_skb")',
      'int BPF_PROG(handle_nslat_keep, struct sk_buff *skb)',
      '{',
      '\t__u32 k = 0;',
      '\t__u64 p = (__u64)skb;',
      '',
      '\tbpf_map_update_elem(&nslat_freed, &k, &p, 0);',
      '\treturn 0;',
      '}',
      '',
      'SEC("tp_btf/netif_receive_skb")',
      'int BPF_PROG(handle_nslat_later, struct sk_buff *skb)',
      '{',
      '\t__u32 k = 0;',
      '\t__u64 *p = bpf_map_lookup_elem(&nslat_freed, &k);',
      '',
      '\tif (!p || !*p)',
      '\t\treturn 0;',
      '\treturn ((struct sk_buff *)*p)->len > 0; /* after free */',
      '}',
    ].join('\n'), 'end', '/* after free */');
    await refused('read after free', await session.reload('rx', uaf.path), uaf.line, /invalid mem access|scalar|R\d/, uaf.path);

    assert.deepEqual(ids(), before, 'every refused edit left the same programs loaded');

    // 6. Accepted by the verifier, refused by the lint: the read boundary never hands a packet to
    //    the histograms (its helper returns before passing it).
    const never = edit('never', '\treturn; /* never finishes */', [/^static __always_inline void rx_read_key\(/, /^\t__u64 now;$/], '/* never finishes */');
    await refused('never finishes', await session.reload('rx', never.path), never.line, /feeds app_read but never passes it/, never.path);

    // 7. Accepted by the verifier, refused by the lint: a stage that counts backwards (the read
    //    boundary passes the entry boundary again).
    const back = edit('backwards', '\tst = nslat_pass(key, NSLAT_RX_NETIF_RX, &now); /* backwards */', /^\tst = nslat_pass\(key, NSLAT_RX_APP_READ, &now\);/, '/* backwards */');
    await refused('backwards stage', await session.reload('rx', back.path), back.line, /feeds app_read but passes netif_rx, which comes before it/, back.path);

    assert.deepEqual(ids(), before, 'the edits the lint refused left the same programs loaded');

    // Back to the built-in probe: it loads and counts.
    const orig = edit('original', '', 'end');
    const ok = await session.reload('rx', orig.path);
    assert.equal(ok.ok, true, ok.ok ? '' : ok.error);
    assert.ok((await counted()).packets > 0);
    await load.stop();
    load = undefined;
    const end = await session.stop();
    assert.equal(end.exit?.bye?.attached, 0);
  });
});

/**
 * Alternatives on the real kernel (nslat.h: `<group>__<alt>` programs, one alternative chosen per
 * group before loading):
 *  - every kprobe and tracepoint variant of the built-in probes passes the verifier here (a kprobe
 *    program loads on this kernel even where no kprobe can attach), through the helper's `verify`;
 *  - the plan: for each boundary the first of fentry, kprobe, netfilter, tp that works on this
 *    kernel fed it, and only chosen programs were loaded (the others are "skipped" with a reason);
 *  - the IP layer (ip_rcv, ip_local_deliver, which have no tracepoint) is fed by default, and the
 *    helper's --no-netfilter turns netfilter off (the boundaries then say why nothing feeds them);
 *  - a chosen program the verifier refuses falls its group back to the next alternative, with the
 *    verifier log on the program's entry, and the rest of the object loads.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { execa } from 'execa';
import { ALTERNATIVES, type HelloMessage, type LoadedMessage } from '../../src/core/protocol.ts';
import { BPF_DIR, Helper, OBJECTS, disposeAll, kernelSkipReason } from './lib/helper.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

after(disposeAll);

/** The alternative a program name spells (`ip_rcv__kprobe_v4` → kprobe), as the helper reads it. */
function altOf(name: string): string | undefined {
  const m = /__(fentry|fexit|kprobe|kretprobe|netfilter|tp|raw_tp)(?:_|$)/.exec(name);
  if (!m) return undefined;
  return ({ fexit: 'fentry', kretprobe: 'kprobe', raw_tp: 'tp' } as Record<string, string>)[m[1]!] ?? m[1]!;
}

/** Which alternatives this kernel can attach, from the helper's hello. */
function usable(hello: HelloMessage): Set<string> {
  const at = hello.attach_types;
  const s = new Set<string>();
  if (at.fentry) s.add('fentry');
  if (at.kprobe) s.add('kprobe');
  if (hello.netfilter) s.add('netfilter');
  if (at.tp_btf || at.tracepoint || at.raw_tp) s.add('tp');
  return s;
}

describe('alternatives: choose before loading, verify every variant', { skip, timeout: 180_000 }, () => {
  test('every kprobe and tracepoint variant of rx, tx and irq passes the verifier on this kernel', async () => {
    const h = await Helper.start();
    try {
      for (const obj of OBJECTS) {
        for (const alt of ['kprobe', 'tp'] as const) {
          const r = await h.verify(obj, alt);
          assert.equal(r.type, 'verified', `verify ${obj} ${alt}: ${r.type === 'error' ? `${r.code}: ${r.message}` : ''}`);
          if (r.type !== 'verified') continue;
          const mine = r.programs.filter((p) => altOf(p.name) === alt);
          if (alt === 'kprobe') assert.ok(mine.length > 0, `${obj} has kprobe variants`);
          const failed = r.programs.filter((p) => p.status === 'failed');
          assert.deepEqual(
            failed.map((p) => `${p.name}: ${p.reason}\n${(p.log ?? '').slice(-1500)}`),
            [],
            `${obj}: no program of the ${alt} alternative (nor any program outside a group) is refused`,
          );
          for (const p of mine) assert.equal(p.status, 'verified', `${obj} ${p.name} verified (${p.reason ?? ''})`);
        }
      }
      h.assertProtocolClean();
    } finally {
      await h.dispose();
    }
  });

  test('each boundary is fed by the first alternative this kernel can attach; the IP layer is fed', async () => {
    const h = await Helper.start();
    try {
      const can = usable(h.hello);
      const loaded: LoadedMessage[] = [];
      for (const obj of OBJECTS) loaded.push(await h.loadOk(obj, obj));
      for (const l of loaded) {
        for (const b of [...l.boundaries, ...(l.groups ?? [])]) {
          const programs = l.programs.filter((p) => (p.name.startsWith(`${b.name}__`) && altOf(p.name)) || p.name === `handle_${b.name}`);
          const alts = ALTERNATIVES.filter((a) => programs.some((p) => altOf(p.name) === a));
          if (alts.length === 0) continue;
          const expected = alts.find((a) => can.has(a));
          const fedBy = new Set((b.feeds ?? []).map((f) => altOf(f.program)).filter(Boolean));
          if (!expected) {
            assert.ok(![...fedBy].length, `${l.slot} ${b.name}: no alternative works here, none feeds it`);
            continue;
          }
          if ('active' in b && !b.active && 'reason' in b && /threaded by force/.test(b.reason ?? '')) continue; // limited by NSLAT_WHEN
          assert.deepEqual([...fedBy], [expected], `${l.slot} ${b.name}: fed by the ${expected} alternative (${JSON.stringify(b.feeds)})`);
          for (const p of programs) {
            const alt = altOf(p.name);
            if (!alt || alt === expected) continue;
            assert.equal(p.status, 'skipped', `${l.slot} ${p.name} (not chosen) was not loaded`);
            assert.equal(p.prog_id, undefined, `${l.slot} ${p.name} (not chosen) has no program id`);
            assert.match(p.reason ?? '', new RegExp(`alternative ${b.name}__${expected} chosen`));
          }
        }
      }
      const rx = loaded[0]!;
      for (const name of ['ip_rcv', 'ip_local_deliver']) {
        const b = rx.boundaries.find((x) => x.name === name)!;
        if (can.has('fentry') || can.has('kprobe') || can.has('netfilter')) {
          assert.ok(b.active, `${name} is fed on this kernel (${b.reason})`);
          assert.ok((b.feeds ?? []).some((f) => /ip|pre_routing|local_in/.test(f.target)), `${name} feeds name their target: ${JSON.stringify(b.feeds)}`);
        }
      }
      h.assertProtocolClean();
    } finally {
      await h.dispose();
    }
  });

  test('two sessions on one kernel: the second helper still finds netfilter hooks working and both feed the IP layer', async () => {
    const a = await Helper.start();
    const b = await Helper.start().catch(async (e: unknown) => {
      await a.dispose();
      throw e;
    });
    try {
      if (!a.hello.netfilter) return; // no BPF netfilter links on this kernel: nothing to share
      const rxA = await a.loadOk('rx', 'rx');
      // b's start-up probe ran while a had no hooks; a third helper probes while a's hooks hold
      // the default priority (EBUSY there means another link holds it, not that links fail).
      const c = await Helper.start();
      try {
        assert.equal(c.hello.netfilter, true, 'a helper started while another holds netfilter hooks still finds them working');
        const rxC = await c.loadOk('rx', 'rx');
        const rxB = await b.loadOk('rx', 'rx');
        for (const [who, l] of [['first', rxA], ['second', rxB], ['third', rxC]] as const) {
          for (const name of ['ip_rcv', 'ip_local_deliver']) {
            const bd = l.boundaries.find((x) => x.name === name)!;
            if (bd.feeds?.some((f) => f.attach === 'netfilter') || bd.attach === 'netfilter' || !bd.active) {
              assert.ok(bd.active, `${who} helper: ${name} fed (${bd.reason})`);
            }
          }
        }
        c.assertProtocolClean();
      } finally {
        await c.dispose();
      }
      a.assertProtocolClean();
      b.assertProtocolClean();
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  test('--no-netfilter: the IP layer is fed by fentry or kprobe only, and says why not', async () => {
    const h = await Helper.start({ args: ['--no-netfilter'] });
    try {
      assert.equal(h.hello.netfilter, false, 'hello reports netfilter off');
      const rx = await h.loadOk('rx', 'rx');
      const can = usable(h.hello);
      for (const name of ['ip_rcv', 'ip_local_deliver']) {
        const b = rx.boundaries.find((x) => x.name === name)!;
        assert.ok(!(b.feeds ?? []).some((f) => f.attach === 'netfilter'), `${name}: no netfilter feed`);
        if (!can.has('fentry') && !can.has('kprobe')) {
          assert.equal(b.active, false, `${name} has no feed on this kernel without netfilter`);
          assert.match(b.reason ?? '', /no-netfilter/, `${name} says netfilter was turned off: ${b.reason}`);
        }
      }
      h.assertProtocolClean();
    } finally {
      await h.dispose();
    }
  });

  test('a chosen alternative the verifier refuses falls back to the next; the rest loads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nslat-kernel-alt-'));
    const h = await Helper.start({ objects: [] });
    try {
      // ip_rcv's two alternatives here: a netfilter hook that dereferences a map value without a
      // NULL check (the verifier refuses it), and a tracepoint one. Where netfilter does not load
      // at all (no netfilter links) the tracepoint one is chosen straight away.
      const src = join(dir, 'alt.bpf.c');
      writeFileSync(src, `#include "nslat.bpf.h"
enum nslat_boundary { NSLAT_RX_NETIF_RX = 0, NSLAT_RX_IP_RCV, __NSLAT_BOUNDARY_MAX };
NSLAT_BOUNDARY_ENUM_CHECK();
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } alt_map SEC(".maps");

SEC("tp_btf/netif_rx")
int BPF_PROG(handle_netif_rx, struct sk_buff *skb) { return 0; }

SEC("netfilter/ipv4/pre_routing")
int ip_rcv__netfilter_v4(struct bpf_nf_ctx *ctx)
{
	__u32 key = 0;
	__u64 *hits = bpf_map_lookup_elem(&alt_map, &key);

	*hits += 1; /* no NULL check */
	return 1;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(ip_rcv__tp, struct sk_buff *skb) { return 0; }
`);
      const out = h.path('alt.bpf.o');
      const mk = await execa('make', ['-s', '-C', BPF_DIR, 'probe', `SRC=${src}`, `OUT=${out}`], { reject: false, all: true, timeout: 120_000 });
      assert.equal(mk.exitCode, 0, `the test probe compiles:\n${mk.all}`);
      const l = await h.loadOk('alt', out);
      const nf = l.programs.find((p) => p.name === 'ip_rcv__netfilter_v4')!;
      const tp = l.programs.find((p) => p.name === 'ip_rcv__tp')!;
      const ip = l.boundaries.find((b) => b.name === 'ip_rcv')!;
      assert.equal(tp.status, 'attached', `the tracepoint alternative attached: ${JSON.stringify(tp)}`);
      assert.deepEqual((ip.feeds ?? []).map((f) => f.program), ['ip_rcv__tp'], 'ip_rcv is fed by the tracepoint alternative');
      if (h.hello.netfilter) {
        assert.equal(nf.status, 'failed', `the netfilter program was refused: ${JSON.stringify(nf)}`);
        assert.match(nf.reason ?? '', /rejected by the verifier/);
        assert.match(nf.log ?? '', /\*hits \+= 1;/, 'its entry carries the verifier log with the source line');
        assert.equal(l.attempts, 2, 'one load, then one after the fallback');
      } else {
        assert.equal(nf.status, 'skipped');
      }
      h.assertProtocolClean();
    } finally {
      await h.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

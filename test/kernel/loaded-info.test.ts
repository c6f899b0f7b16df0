/**
 * What `loaded` says about the object itself, from its BTF:
 *  - `dir`: rx, tx or irq for the built-in probes;
 *  - `globals`: the integer globals a load may set, with their datasec and size: the filter_*
 *    constants (.rodata) and sample_every / slow_ns (.data) that nslat.bpf.h declares;
 *  - a program whose name is shaped like a binding but binds nothing (a misspelt handle_<boundary>,
 *    <x>__<alt> where x is neither a boundary nor a group) is bookkeeping, with a warn log and a
 *    `warning` on its program entry; the built-in probes have none;
 *  - with `if_declared`, the names of a load's rodata and data the object does not declare are
 *    passed over and listed in `unset` (the core sends every direction's filters to every slot and
 *    the helper keeps the object's own); without it they refuse the load.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { execa } from 'execa';
import { BPF_DIR, Helper, OBJECTS, disposeAll, kernelSkipReason } from './lib/helper.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

after(disposeAll);

interface RawProgram {
  name: string;
  status: string;
  warning?: string;
}
interface RawLoaded {
  type: 'loaded';
  id: string;
  slot: string;
  dir?: string;
  globals?: Array<{ name: string; kind: string; size: number }>;
  programs: RawProgram[];
}

/** The `loaded` lines as the helper wrote them (every field, whatever the schema keeps). */
function rawLoaded(h: Helper): RawLoaded[] {
  const out: RawLoaded[] = [];
  let buf = '';
  h.proc.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const o = JSON.parse(line) as { type?: string };
        if (o.type === 'loaded') out.push(o as RawLoaded);
      } catch {
        /* the helper's own checks report bad lines */
      }
    }
  });
  return out;
}

/** The integer globals nslat.bpf.h declares: name → [kind, size]. */
function declaredGlobals(): Map<string, [string, number]> {
  const src = readFileSync(join(BPF_DIR, 'probes', 'nslat.bpf.h'), 'utf8');
  const sizes: Record<string, number> = { __u8: 1, __u16: 2, __u32: 4, __u64: 8 };
  const m = new Map<string, [string, number]>();
  for (const r of src.matchAll(/^const volatile (__u(?:8|16|32|64)) (filter_\w+) = /gm)) m.set(r[2]!, ['rodata', sizes[r[1]!]!]);
  for (const r of src.matchAll(/^volatile (__u(?:8|16|32|64)) (sample_every|slow_ns) SEC\("\.data"\)/gm)) m.set(r[2]!, ['data', sizes[r[1]!]!]);
  return m;
}

describe('loaded: direction, globals, unbound program names', { skip, timeout: 180_000 }, () => {
  test('the built-in objects: dir, their settable globals, and no warnings', async () => {
    const h = await Helper.start();
    const raw = rawLoaded(h);
    try {
      const want = declaredGlobals();
      assert.ok([...want.keys()].filter((n) => n.startsWith('filter_')).length >= 5, `filters found in nslat.bpf.h: ${[...want.keys()]}`);
      assert.ok(want.has('sample_every') && want.has('slow_ns'), 'sample_every and slow_ns found in nslat.bpf.h');
      const from = h.rawLines.length;
      for (const obj of OBJECTS) {
        const l = await h.loadOk(obj, obj);
        assert.equal(l.dir, obj, `${obj}: dir`);
        const globals = new Map((l.globals ?? []).map((g) => [g.name, [g.kind, g.size] as [string, number]]));
        for (const [name, ks] of want) assert.deepEqual(globals.get(name), ks, `${obj}: global ${name} (kind, size)`);
        for (const g of l.globals ?? []) {
          assert.ok([1, 2, 4, 8].includes(g.size), `${obj}: ${g.name} is integer-sized`);
          assert.ok(!g.name.startsWith('nslat_'), `${obj}: helper-owned ${g.name} is not listed`);
        }
        const r = raw.find((m) => m.slot === obj);
        assert.ok(r, `${obj}: raw loaded line seen`);
        assert.deepEqual(r.programs.filter((p) => p.warning).map((p) => `${p.name}: ${p.warning}`), [], `${obj}: no program warns`);
      }
      const warns = h.rawLines.slice(from).filter((o) => o.type === 'log' && o.level === 'warn' && /bookkeeping/.test(String(o.message)));
      assert.deepEqual(warns, [], 'no bookkeeping warning for the built-in probes');
      h.assertProtocolClean();
    } finally {
      await h.dispose();
    }
  });

  test('a misspelt handle_<boundary> and an unknown <x>__<alt> warn and are bookkeeping', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nslat-kernel-info-'));
    const h = await Helper.start({ objects: [] });
    const raw = rawLoaded(h);
    try {
      const src = join(dir, 'spelt.bpf.c');
      writeFileSync(src, `#include "nslat.bpf.h"
enum nslat_boundary { NSLAT_RX_NETIF_RX = 0, NSLAT_RX_APP_READ, __NSLAT_BOUNDARY_MAX };
NSLAT_BOUNDARY_ENUM_CHECK();

SEC("tp_btf/netif_rx")
int BPF_PROG(handle_netif_rx, struct sk_buff *skb) { return 0; }

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(handle_app_raed, struct sk_buff *skb) { return 0; }

SEC("tp_btf/consume_skb")
int BPF_PROG(app_raed__tp, struct sk_buff *skb) { return 0; }
`);
      const out = h.path('spelt.bpf.o');
      const mk = await execa('make', ['-s', '-C', BPF_DIR, 'probe', `SRC=${src}`, `OUT=${out}`], { reject: false, all: true, timeout: 120_000 });
      assert.equal(mk.exitCode, 0, `the test probe compiles:\n${mk.all}`);
      const from = h.rawLines.length;
      const l = await h.loadOk('spelt', out);
      assert.equal(l.dir, 'rx');
      assert.deepEqual((l.groups ?? []).map((g) => g.name), [], 'app_raed is no group');
      const r = raw.find((m) => m.id === l.id)!;
      const warns = h.rawLines.slice(from).filter((o) => o.type === 'log' && o.level === 'warn').map((o) => String(o.message));
      for (const name of ['handle_app_raed', 'app_raed__tp']) {
        const p = r.programs.find((x) => x.name === name)!;
        assert.ok(p.warning, `${name} carries a warning: ${JSON.stringify(p)}`);
        assert.match(p.warning, new RegExp(`program ${name} .*bookkeeping`));
        assert.ok(warns.includes(p.warning), `the warn log says the same: ${JSON.stringify(warns)}`);
        assert.equal(p.status, 'attached', `${name} attaches as bookkeeping`);
      }
      assert.equal(r.programs.find((x) => x.name === 'handle_netif_rx')!.warning, undefined);
      h.assertProtocolClean();
    } finally {
      await h.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('if_declared: every direction\'s rodata sent, the object\'s own written, the rest listed in unset', async () => {
    const h = await Helper.start();
    try {
      const byDir = { rx: { filter_lport: 1, filter_no_such_rx: 1 }, tx: { filter_lport: 2, filter_no_such_tx: 2 }, irq: { filter_cpu_no_such: 3 } };
      for (const obj of OBJECTS) {
        const l = await h.loadOk(obj, obj, { rodata_by_dir: byDir, data: { sample_every: 1, no_such_data: 1 }, if_declared: true });
        const declared = new Set((l.globals ?? []).map((g) => g.name));
        const own = Object.keys(byDir[obj as keyof typeof byDir]);
        const want = [...own, 'sample_every', 'no_such_data'].filter((n) => !declared.has(n)).sort();
        assert.deepEqual([...(l.unset ?? [])].sort(), want, `${obj}: unset lists exactly its undeclared names`);
        assert.ok(!(l.unset ?? []).some((n) => /no_such_(rx|tx)/.test(n) && !own.includes(n)), `${obj}: other directions' maps are not looked at`);
        await h.unload(obj);
      }
      // Without if_declared an undeclared name is an error, and nothing stays loaded.
      const r = await h.load('rx', 'rx', { rodata: { filter_no_such: 1 } });
      assert.equal(r.type, 'error');
      assert.match((r as { message: string }).message, /unknown or out-of-range rodata variable\(s\) .*filter_no_such/);
      // A value that does not fit is refused even with if_declared.
      const big = await h.load('rx', 'rx', { rodata_by_dir: { rx: { filter_lport: 1 << 20 } }, if_declared: true });
      assert.equal(big.type, 'error');
      assert.match((big as { message: string }).message, /filter_lport \(1048576 does not fit in 2 bytes\)/);
      // A key of rodata_by_dir that is no direction is a bad command.
      h.sendRaw(JSON.stringify({ cmd: 'load', id: 'bad-dir', slot: 'rx', object: h.path('rx.bpf.o'), rodata_by_dir: { up: {} } }));
      const e = await h.waitFor((m) => m.type === 'error' && m.id === 'bad-dir', 10_000, 'bad rodata_by_dir refused');
      assert.match((e as { message: string }).message, /'up' is not a direction/);
    } finally {
      await h.dispose();
    }
  });
});

/**
 * The probe language server over real LSP JSON-RPC on stdio, against this machine's kernel:
 * compile diagnostics from clang, attach-point completion from tracefs and BTF, BPF_PROG argument
 * completion, hovers (with live stats), and nslat's own warnings.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { LspClient, posAfter, posIn, REPO } from './lspClient.ts';

const HEAD = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

enum nslat_boundary { NSLAT_RX_NETIF_RECEIVE_SKB, NSLAT_TX_NET_DEV_XMIT };

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} seen SEC(".maps");
`;

const CLEAN = `${HEAD}
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(handle_netif_receive_skb, struct sk_buff *skb)
{
	__u64 key = (__u64)skb, ts = bpf_ktime_get_ns();
	__u32 b = NSLAT_RX_NETIF_RECEIVE_SKB;

	if (BPF_CORE_READ(skb, len) == 0)
		return 0;
	bpf_map_update_elem(&seen, &key, &ts, BPF_ANY);
	return b;
}

SEC("tp_btf/net_dev_xmit")
int BPF_PROG(handle_net_dev_xmit, struct sk_buff *skb, int rc)
{
	/* only the pointer value: fine where the skb may be gone */
	__u64 key = (__u64)skb;
	__u32 b = NSLAT_TX_NET_DEV_XMIT;

	bpf_map_delete_elem(&seen, &key);
	return b + rc;
}
`;

const SYNTAX_ERROR = `${HEAD}
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(handle_netif_receive_skb, struct sk_buff *skb)
{
	__u32 len = BPF_CORE_READ(skb, len)
	return len;
}
`;

const XMIT_DEREF = `${HEAD}
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(handle_net_dev_xmit, struct sk_buff *skb, int rc)
{
	__u32 len = BPF_CORE_READ(skb, len);
	__u64 key = (__u64)skb;

	bpf_map_update_elem(&seen, &key, &key, BPF_ANY);
	return len + rc;
}

SEC("tp/net/net_dev_xmit")
int handle_tp_net_dev_xmit(struct trace_event_raw_net_dev_xmit *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->skbaddr;
	unsigned int len = 0;

	bpf_probe_read_kernel(&len, sizeof(len), &skb->len);
	return len;
}

static __always_inline __u32 skb_len_of(struct sk_buff *skb)
{
	return BPF_CORE_READ(skb, len);
}

SEC("raw_tp/net_dev_xmit")
int BPF_PROG(handle_raw_net_dev_xmit, struct sk_buff *skb)
{
	return skb_len_of(skb);
}
`;

const MISSING = `${HEAD}
SEC("tp_btf/no_such_tracepoint_nslat")
int BPF_PROG(handle_nothing, struct sk_buff *skb)
{
	return 0;
}
`;

function kprobesEnabled(): boolean | undefined {
  try {
    const cfg = gunzipSync(readFileSync('/proc/config.gz')).toString();
    return /^CONFIG_KPROBES=y$/m.test(cfg);
  } catch {
    return undefined;
  }
}

function haveClang(): boolean {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('probe language server (LSP over stdio)', { timeout: 120_000 }, () => {
  let c: LspClient;
  let dir: string;
  const file = (name: string) => path.join(dir, 'bpf', 'probes', name);

  before(async () => {
    // Tracepoint names come from tracefs (scripts/setup.sh mounts it; do the same when run alone).
    if (!existsSync('/sys/kernel/tracing/available_events')) {
      try {
        execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'ignore' });
      } catch {
        /* the tests that need it say so */
      }
    }
    // A workspace of its own: bpf/include (empty) and bpf/probes, so nothing depends on the real probes.
    dir = mkdtempSync(path.join(tmpdir(), 'nslat-lsp-'));
    mkdirSync(path.join(dir, 'bpf', 'include'), { recursive: true });
    mkdirSync(path.join(dir, 'bpf', 'probes'), { recursive: true });
    c = await LspClient.start({ rootDir: dir });
  });
  after(async () => {
    await c?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('initializes with completion and hover', () => {
    const caps = c.initResult!.capabilities;
    assert.ok(caps.completionProvider, 'completion provider');
    assert.equal(caps.hoverProvider, true);
    assert.ok(caps.completionProvider!.triggerCharacters!.includes('/'));
  });

  it('reports a syntax error on the right line, and clears it when fixed', { skip: !haveClang() && 'clang not installed' }, async () => {
    const uri = await c.open(file('broken.bpf.c'), SYNTAX_ERROR);
    const diags = await c.settled(uri);
    const errors = diags.filter((d) => d.severity === 1);
    assert.ok(errors.length > 0, `expected a clang error, got ${JSON.stringify(diags)}`);
    const want = posAfter(SYNTAX_ERROR, 'BPF_CORE_READ(skb, len)').line; // "expected ';'" after this line
    assert.ok(errors.some((d) => d.source === 'clang' && /expected ';'/.test(d.message) && (d.range.start.line === want || d.range.start.line === want + 1)), JSON.stringify(errors));
    // Typing the fix clears it: keystrokes are debounced, only the last version gets compiled.
    await c.change(uri, SYNTAX_ERROR.replace('BPF_CORE_READ(skb, len)\n', 'BPF_CORE_READ(skb, len)x\n'));
    await c.change(uri, SYNTAX_ERROR.replace('BPF_CORE_READ(skb, len)\n', 'BPF_CORE_READ(skb, len)\n'));
    await c.change(uri, SYNTAX_ERROR.replace('BPF_CORE_READ(skb, len)\n', 'BPF_CORE_READ(skb, len);\n'));
    const fixed = await c.settled(uri);
    assert.deepEqual(fixed.filter((d) => d.severity === 1), []);
    assert.deepEqual(c.published(uri).map((p) => p.version).filter((v) => v === 2 || v === 3), [], 'intermediate versions were not compiled');
    // Saving validates again at once.
    const n = c.published(uri).length;
    await c.save(uri);
    await c.diagnostics(uri, () => c.published(uri).length > n, 5_000);
  });

  it('gives a clean program no diagnostics', async () => {
    const uri = await c.open(file('clean.bpf.c'), CLEAN);
    const diags = await c.settled(uri);
    assert.deepEqual(diags.filter((d) => d.severity! <= 2), [], JSON.stringify(diags));
  });

  it('completes tp_btf/ with this kernel\'s BTF tracepoints', async () => {
    const text = `${HEAD}\nSEC("tp_btf/netif_`;
    const uri = await c.open(file('complete.bpf.c'), text);
    const end = posAfter(text, 'tp_btf/netif_');
    const list = await c.completion(uri, end.line, end.character);
    const labels = list.items.map((i) => i.label);
    assert.ok(labels.includes('tp_btf/netif_receive_skb'), labels.join(' '));
    // Every offered name is a real tracepoint of this kernel (tracefs knows it too).
    const events = new Set(readFileSync('/sys/kernel/tracing/available_events', 'utf8').split('\n').map((l) => l.split(':')[1]));
    for (const l of labels) assert.ok(events.has(l.slice('tp_btf/'.length)), `${l} is not a tracepoint here`);
    assert.ok(labels.every((l) => l.startsWith('tp_btf/netif_')));
    const item = list.items.find((i) => i.label === 'tp_btf/netif_receive_skb')!;
    assert.match(String(item.detail), /attachable here/);
    assert.doesNotMatch(String(item.detail), /not attachable/);
    assert.ok(item.textEdit && 'range' in item.textEdit && item.textEdit.range.start.character === end.character - 'tp_btf/netif_'.length);
  });

  it('completes tp/ with tracefs categories and names', async () => {
    const text = `${HEAD}\nSEC("tp/net/net_dev_`;
    const uri = await c.open(file('complete-tp.bpf.c'), text);
    const end = posAfter(text, 'tp/net/net_dev_');
    const labels = (await c.completion(uri, end.line, end.character)).items.map((i) => i.label);
    assert.ok(labels.includes('tp/net/net_dev_xmit'), labels.join(' '));
    assert.ok(labels.includes('tp/net/net_dev_start_xmit'));
    // Without a category yet: categories, then names typed without their category.
    const t2 = `${HEAD}\nSEC("tp/netif_receive_s`;
    const u2 = await c.open(file('complete-tp2.bpf.c'), t2);
    const e2 = posAfter(t2, 'tp/netif_receive_s');
    const items = (await c.completion(u2, e2.line, e2.character)).items;
    const item = items.find((i) => i.label === 'tp/net/netif_receive_skb');
    assert.ok(item, items.map((i) => i.label).join(' '));
    assert.equal(item.filterText, 'tp/netif_receive_skb');
    const t3 = `${HEAD}\nSEC("tp/`;
    const u3 = await c.open(file('complete-tp3.bpf.c'), t3);
    const e3 = posAfter(t3, 'SEC("tp/');
    assert.ok((await c.completion(u3, e3.line, e3.character)).items.some((i) => i.label === 'tp/net/'));
  });

  it('marks kprobe/ and fentry/ items with whether this kernel can attach them', async () => {
    const text = `${HEAD}\nSEC("kprobe/ip_rc`;
    const uri = await c.open(file('complete-kprobe.bpf.c'), text);
    const end = posAfter(text, 'kprobe/ip_rc');
    const list = await c.completion(uri, end.line, end.character);
    const item = list.items.find((i) => i.label === 'kprobe/ip_rcv');
    assert.ok(item, list.items.map((i) => i.label).join(' '));
    const kp = kprobesEnabled();
    if (kp === false) {
      assert.match(String(item.detail), /not attachable here: kprobes are not enabled in this kernel/);
      assert.equal(item.labelDetails?.description, 'not attachable here');
    } else if (kp === true) {
      assert.doesNotMatch(String(item.detail), /not attachable/);
    }
    // Function lists are large: capped and marked incomplete so typing asks again.
    const text2 = `${HEAD}\nSEC("fentry/`;
    const uri2 = await c.open(file('complete-fentry.bpf.c'), text2);
    const end2 = posAfter(text2, 'fentry/');
    const all = await c.completion(uri2, end2.line, end2.character);
    assert.equal(all.isIncomplete, true);
    assert.ok(all.items.length > 50 && all.items.length <= 200, String(all.items.length));
  });

  it('completes BPF_PROG arguments from the btf_trace prototype', async () => {
    const text = `${HEAD}\nSEC("tp_btf/netif_receive_skb")\nint BPF_PROG(handle_rx, `;
    const uri = await c.open(file('args.bpf.c'), text);
    const end = posAfter(text, 'BPF_PROG(handle_rx, ');
    const list = await c.completion(uri, end.line, end.character);
    assert.deepEqual(list.items.map((i) => i.label), ['struct sk_buff *skb']);

    const text2 = `${HEAD}\nSEC("tp_btf/net_dev_xmit")\nint BPF_PROG(handle_tx, `;
    const uri2 = await c.open(file('args2.bpf.c'), text2);
    const end2 = posAfter(text2, 'BPF_PROG(handle_tx, ');
    const item = (await c.completion(uri2, end2.line, end2.character)).items[0]!;
    assert.match(item.label, /^struct sk_buff \*skb, int rc, struct net_device \*dev, unsigned int skb_len$/);
  });

  it('hovers an attach point with its arguments and stage', async () => {
    const uri = await c.open(file('hover.bpf.c'), CLEAN);
    const at = posIn(CLEAN, 'tp_btf/netif_receive_skb', 3);
    const h = await c.hover(uri, at.line, at.character);
    const md = (h?.contents as { value: string }).value;
    assert.match(md, /struct sk_buff \*skb/);
    assert.match(md, /L2 core \/ protocol dispatch/);
    assert.match(md, /NSLAT_RX_NETIF_RECEIVE_SKB/);
    assert.match(md, /attachable here/);
  });

  it('hovers a boundary with live p50/p99 and ns per run from nslat/stageStats', async () => {
    const uri = await c.open(file('hover-live.bpf.c'), CLEAN);
    const at = posIn(CLEAN, 'NSLAT_RX_NETIF_RECEIVE_SKB;', 4);
    const before = (await c.hover(uri, at.line, at.character))?.contents as { value: string };
    assert.match(before.value, /No live figures/);
    await c.conn.sendNotification('nslat/stageStats', {
      host: 'local',
      stages: [
        { name: 'netif_rx→netif_receive_skb', kind: 'stage', dir: 'rx', p50: 1500, p99: 23_000, count: 4242, from: 'netif_rx', to: 'netif_receive_skb' },
        { name: 'netif_rx→netif_receive_skb', kind: 'stage', dir: 'rx', p50: 777_777, p99: 888_888, count: 3, cpu: 1 },
        { name: 'netif_receive_skb', kind: 'cum', dir: 'rx', p50: 4100, p99: 61_000, count: 4242, to: 'netif_receive_skb' },
        { name: 'netif_receive_skb→ip_rcv', kind: 'stage', dir: 'rx', p50: 900, p99: 2000, count: 4000 },
        { name: 'ip_rcv→ip_local_deliver', kind: 'stage', dir: 'rx', p50: 123_456, p99: 654_321, count: 4000 },
      ],
      progs: [{ name: 'handle_netif_receive_skb', ns_per_run: 87 }],
    });
    const h = (await c.hover(uri, at.line, at.character))?.contents as { value: string };
    assert.match(h.value, /1\.50 µs/);
    assert.match(h.value, /23\.0 µs/);
    assert.match(h.value, /4242/);
    assert.match(h.value, /since entry \| 4\.10 µs \| 61\.0 µs/);
    assert.match(h.value, /netif_receive_skb→ip_rcv \| rx \| out of \| 900 ns/);
    assert.doesNotMatch(h.value, /778|123\.5|123\.46/); // per-CPU series and other boundaries' stages stay out
    assert.match(h.value, /handle_netif_receive_skb`: 87 ns per run/);
    await c.conn.sendNotification('nslat/stageStats', { running: false, stages: [], progs: [] });
  });

  it('hovers a counter as loss or activity, from the protocol\'s one definition', async () => {
    const text = `${CLEAN}\nstatic __always_inline void count_both(void)\n{\n\tnslat_cnt(NSLAT_CNT_MAP_FULL);\n\tnslat_cnt(NSLAT_CNT_STARTED);\n}\n`;
    const uri = await c.open(file('hover-counter.bpf.c'), text);
    const loss = posIn(text, 'NSLAT_CNT_MAP_FULL', 4);
    const lmd = ((await c.hover(uri, loss.line, loss.character))?.contents as { value: string }).value;
    assert.match(lmd, /loss counter `map_full`/);
    assert.match(lmd, /share of started packets/);
    const act = posIn(text, 'NSLAT_CNT_STARTED', 4);
    const amd = ((await c.hover(uri, act.line, act.character))?.contents as { value: string }).value;
    assert.match(amd, /activity counter `started`/);
    assert.doesNotMatch(amd, /loss counter/);
  });

  it('warns where an skb is read after net_dev_xmit, and not for the pointer value', async () => {
    const uri = await c.open(file('xmit.bpf.c'), XMIT_DEREF);
    const diags = (await c.settled(uri)).filter((d) => d.code === 'skb-use-after-free');
    const lines = diags.map((d) => d.range.start.line).sort((a, b) => a - b);
    const want = [posIn(XMIT_DEREF, 'BPF_CORE_READ(skb, len)').line, posIn(XMIT_DEREF, '&skb->len').line, posIn(XMIT_DEREF, 'skb_len_of(skb)').line];
    assert.deepEqual(lines, want, JSON.stringify(diags));
    assert.ok(diags.every((d) => d.severity === 2 && /may already be freed/.test(d.message)));
    // The clean program (pointer value only at net_dev_xmit) got none: see the clean test.
  });

  it('warns for fexit of an skb-freeing function that reads the skb', async () => {
    const text = `${HEAD}\nSEC("fexit/consume_skb")\nint BPF_PROG(handle_consume_exit, struct sk_buff *skb)\n{\n\treturn skb->len;\n}\n`;
    const uri = await c.open(file('fexit.bpf.c'), text);
    const diags = await c.diagnostics(uri, (ds) => ds.some((d) => d.code === 'skb-use-after-free'));
    const d = diags.find((x) => x.code === 'skb-use-after-free')!;
    assert.equal(d.range.start.line, posIn(text, 'skb->len').line);
  });

  it('warns about an attach point this kernel does not have', async () => {
    const uri = await c.open(file('missing.bpf.c'), MISSING);
    const diags = await c.diagnostics(uri, (ds) => ds.some((d) => d.code === 'no-such-attach-point'));
    const d = diags.find((x) => x.code === 'no-such-attach-point')!;
    assert.equal(d.range.start.line, posIn(MISSING, 'no_such_tracepoint_nslat').line);
    assert.match(d.message, /does not exist/);
  });
});

describe('probe language server on an editable copy of nslat\'s probes', { timeout: 60_000 }, () => {
  const real = path.join(REPO, 'bpf', 'probes', 'rx.bpf.c');
  it('compiles .nslat/probes/rx.bpf.c against nslat\'s own headers without errors', { skip: !existsSync(real) && 'bpf/probes/rx.bpf.c not there' }, async () => {
    // Like the extension's "Open Probe Sources": a copy in a workspace that has no bpf/ of its own.
    const dir = mkdtempSync(path.join(tmpdir(), 'nslat-lsp-copy-'));
    const c = await LspClient.start({ rootDir: dir });
    try {
      const f = path.join(dir, '.nslat', 'probes', 'rx.bpf.c');
      mkdirSync(path.dirname(f), { recursive: true });
      const text = readFileSync(real, 'utf8');
      writeFileSync(f, text);
      const uri = await c.open(f, text);
      const diags = await c.settled(uri);
      assert.deepEqual(diags.filter((d) => d.severity! <= 2), [], JSON.stringify(diags.slice(0, 5)));
      // A typo is reported on its line.
      const broken = text.replace(/return rx_pass\(skb, NSLAT_RX_NETIF_RECEIVE_SKB\);/, 'return rx_pass(skb, NSLAT_RX_NETIF_RECEIVE_SKBX);');
      if (broken !== text) {
        await c.change(uri, broken);
        const errs = (await c.settled(uri)).filter((d) => d.severity === 1);
        assert.ok(errs.some((d) => d.range.start.line === posIn(broken, 'NSLAT_RX_NETIF_RECEIVE_SKBX').line && /undeclared identifier/.test(d.message)), JSON.stringify(errs));
      }
    } finally {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('probe language server without clang', { timeout: 60_000 }, () => {
  it('says once that clang is missing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nslat-lsp-noclang-'));
    const c = await LspClient.start({ rootDir: dir, initializationOptions: { clang: '/nonexistent/nslat-clang' } });
    try {
      const f = path.join(dir, 'a.bpf.c');
      writeFileSync(f, CLEAN);
      const uri = await c.open(f, CLEAN);
      const diags = await c.diagnostics(uri, (ds) => ds.some((d) => d.code === 'no-clang'));
      const d = diags.find((x) => x.code === 'no-clang')!;
      assert.equal(d.severity, 3);
      assert.match(d.message, /not found.*install clang/);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(c.logs.filter((l) => l.startsWith('showMessage:') && /clang/.test(l)).length, 1);
    } finally {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('probe language server on a remote target (nslat/target + nslat/targetRun)', { timeout: 60_000 }, () => {
  it('reads the target kernel through the client and marks attachability from the helper\'s table', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nslat-lsp-remote-'));
    const argvs: string[][] = [];
    // The "transport": runs what the server asks for on this machine, as the extension would on the target.
    const run = (p: { argv: string[]; input?: string }) => {
      argvs.push(p.argv);
      try {
        const stdout = execFileSync(p.argv[0]!, p.argv.slice(1), { input: p.input, maxBuffer: 256 << 20, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
        return { exitCode: 0, stdout, stderr: '' };
      } catch (e) {
        const err = e as { status?: number; stdout?: Buffer; stderr?: Buffer };
        return { exitCode: err.status ?? 127, stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? '') };
      }
    };
    const c = await LspClient.start({ rootDir: dir, requests: { 'nslat/targetRun': run } });
    try {
      await c.conn.sendNotification('nslat/target', { host: 'target.example', remote: true, attachTypes: { tracepoint: true, raw_tp: true, tp_btf: true, fentry: false, kprobe: true }, attachReasons: { fentry: 'fentry: EPERM on load' } });
      const text = `${HEAD}\nSEC("fentry/ip_rc`;
      const uri = await c.open(path.join(dir, 'r.bpf.c'), text);
      const end = posAfter(text, 'fentry/ip_rc');
      let list = await c.completion(uri, end.line, end.character);
      // The first answer may come while the new target loads; ask again until it has the items.
      for (let i = 0; i < 50 && !list.items.some((x) => x.label === 'fentry/ip_rcv'); i++) {
        await new Promise((r) => setTimeout(r, 200));
        list = await c.completion(uri, end.line, end.character);
      }
      const item = list.items.find((x) => x.label === 'fentry/ip_rcv');
      assert.ok(item, list.items.map((x) => x.label).join(' '));
      assert.match(String(item.detail), /not attachable here: fentry: EPERM on load \(reported by the nslat helper on target\.example\)/);
      assert.ok(argvs.some((a) => a[0] === 'uname'), JSON.stringify(argvs));
      assert.ok(argvs.some((a) => a[0] === 'cat' && /available_events$/.test(a[1]!)));
      // The kernel's build id (the cache key) comes from the target's ELF notes, as base64.
      assert.ok(argvs.some((a) => a[0] === 'base64' && a[2] === '/sys/kernel/notes'), JSON.stringify(argvs));
      // fexit follows fentry from the helper's table.
      const t2 = `${HEAD}\nSEC("kprobe/ip_rc`;
      const u2 = await c.open(path.join(dir, 'r2.bpf.c'), t2);
      const e2 = posAfter(t2, 'kprobe/ip_rc');
      const kp = (await c.completion(u2, e2.line, e2.character)).items.find((x) => x.label === 'kprobe/ip_rcv')!;
      assert.doesNotMatch(String(kp.detail), /not attachable/);
    } finally {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

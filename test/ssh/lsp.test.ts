/**
 * The probe language server on a remote target, through real parts: a Session over SSH to a real
 * sshd on 127.0.0.1 (the shipped files copied into the SSH user's home, helper via sudo -n), the server
 * started over stdio with no usable clang on this side, and its `nslat/targetRun` requests answered
 * the way the extension answers them (checkTargetRun, then the session's transport). Completion
 * comes from the target kernel read over SSH, and a compile error is found by the target's clang
 * against the deployed headers and the target's vmlinux.h.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, loadedProgIds, startSshd, waitFor, type SshFixture } from './lib/sshd.ts';
import { LspClient, posAfter } from '../lsp/lspClient.ts';
import { checkTargetRun, targetParams } from '../../src/extension/lspSync.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = !isRoot() ? 'needs root' : !existsSync(path.join(root, 'bpf/build/ship')) ? 'nothing shipped yet (make -C bpf ship)' : false;

let fx: SshFixture;
before(async () => {
  if (!skip) fx = await startSshd();
});
after(async () => {
  await fx?.stop();
});

const PROBE = `#include "nslat.bpf.h"

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(handle_x, struct sk_buff *skb)
{
	__u32 len = skb->len
	return len;
}
`;

test('language server on an SSH target: completion from its kernel, a compile error from its clang, through the session transport', { skip, timeout: 240_000 }, async (tc) => {
  const { Session } = await import('../../src/core/session.ts');
  const s = await Session.start({ host: fx.hosts.nopw, sshConfig: fx.sshConfig, stages: ['irq'], intervalMs: 500 });
  const ids = [...s.loaded.values()].flatMap((l) => l.programs.flatMap((p) => (p.prog_id ? [p.prog_id] : [])));
  const dir = mkdtempSync(path.join(tmpdir(), 'nslat-ssh-lsp-'));
  const runs: string[][] = [];
  const refused: string[] = [];
  // As src/extension/languageClient.ts targetRun(): validate, then run through the session's transport.
  const targetRun = async (p: unknown) => {
    const req = checkTargetRun(p);
    if ('error' in req) {
      refused.push(req.error);
      throw new Error(req.error);
    }
    runs.push(req.argv);
    const r = await s.transport.run(req.argv, { timeoutMs: req.timeoutMs, ...(req.input !== undefined ? { input: req.input } : {}) });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };
  // No clang on this side: a diagnostic can only come from the target's.
  const c = await LspClient.start({ rootDir: dir, initializationOptions: { clang: '/nonexistent/nslat-clang', cacheDir: path.join(dir, 'cache') }, requests: { 'nslat/targetRun': targetRun } });
  try {
    // As the extension does when this machine has no clang: nslat's headers and the target's
    // vmlinux.h go to the work directory on the target, and the server compiles there.
    const dirs = await s.targetIncludeDirs();
    const target = targetParams({ host: s.transport.host, kind: s.transport.kind, hello: s.hello, targetIncludeDirs: dirs });
    assert.equal(target.remote, true);
    assert.deepEqual(target.compileOnTarget?.includeDirs, [`${s.deployment.dir}/src/include`, `${s.deployment.dir}/src/probes`, `${s.deployment.dir}/src/build`]);
    await c.conn.sendNotification('nslat/target', target);

    // Completion inside SEC("tp_btf/…"): this kernel's BTF tracepoints, read over SSH.
    const text = `${PROBE}\nSEC("tp_btf/netif_rec`;
    const uri = await c.open(path.join(dir, 'remote.bpf.c'), text);
    const end = posAfter(text, 'SEC("tp_btf/netif_rec');
    let labels: string[] = [];
    const got = await waitFor(async () => {
      labels = (await c.completion(uri, end.line, end.character)).items.map((i) => i.label);
      return labels.includes('tp_btf/netif_receive_skb');
    }, 60_000, 300);
    assert.ok(got, `completion: ${labels.slice(0, 20).join(' ')}`);
    // The target's kernel is known by its build id, read over SSH; its BTF comes from there unless
    // the cache already holds that build id's (127.0.0.1 runs this machine's kernel, which the
    // server read at start).
    assert.ok(runs.some((a) => a[0] === 'base64' && a.includes('/sys/kernel/notes')), `the target's build id was read over SSH: ${JSON.stringify(runs)}`);
    const kernels = readdirSync(path.join(dir, 'cache', 'kernels'));
    assert.ok(runs.some((a) => a[0] === 'base64' && a.includes('/sys/kernel/btf/vmlinux')) || kernels.some((k) => existsSync(path.join(dir, 'cache', 'kernels', k, 'btf.json'))), `the target's BTF was read over SSH or cached: ${JSON.stringify(runs.map((a) => a[0]))}`);

    // tracefs is root's only: tp/ names cannot be listed for this user, and the completion says why.
    const t2 = `${PROBE}\nSEC("tp/net/net_dev_`;
    const u2 = await c.open(path.join(dir, 'remote2.bpf.c'), t2);
    const e2 = posAfter(t2, 'SEC("tp/net/net_dev_');
    const tp = (await c.completion(u2, e2.line, e2.character)).items;
    const hint = tp.find((i) => i.label === 'tp/…');
    assert.ok(hint, tp.map((i) => i.label).join(' '));
    assert.match(String(hint.detail), /tracefs is readable by root only.*tp_btf\/ and raw_tp\/ names come from BTF/);

    // The missing ';' after `skb->len`: clang on the target, mapped back to this document's line.
    const want = posAfter(PROBE, 'skb->len').line;
    const diags = await c.diagnostics(uri, (ds) => ds.some((d) => d.severity === 1), 90_000);
    const err = diags.find((d) => d.severity === 1)!;
    assert.match(err.message, /expected ';'/);
    assert.ok(err.range.start.line === want || err.range.start.line === want + 1, `error on line ${err.range.start.line}, want ${want}`);
    assert.ok(runs.some((a) => /(^|\/)clang(-\d+)?$/.test(a[0]!)), `clang ran on the target: ${JSON.stringify(runs.map((a) => a[0]))}`);
    assert.ok(!diags.some((d) => d.code === 'no-clang'), 'no "clang missing" hint while the target compiles');
    assert.deepEqual(refused, []);
    tc.diagnostic(`${runs.length} commands on the target: ${[...new Set(runs.map((a) => path.basename(a[0]!)))].join(', ')}`);
  } finally {
    await c.stop();
    await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  const gone = await waitFor(async () => {
    const now = await loadedProgIds();
    return ids.every((id) => !now.has(id));
  }, 10_000, 200);
  assert.ok(gone, 'no programs left after stop()');
});

/**
 * The helper's life cycle on the real kernel: it leaves no program behind however it ends
 * (quit, stdin closed, SIGTERM, SIGKILL), and bad input gets an `error` while it keeps running.
 * Every line it writes is validated against src/core/protocol.ts.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { execa } from 'execa';
import { MAX_COMMAND_BYTES, checkHello, parseHelperMessage } from '../../src/core/protocol.ts';
import { BUILD_DIR, HELPER_BIN, Helper, bpftoolProgIds, disposeAll, kernelSkipReason, leakedProgIds } from './lib/helper.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

after(disposeAll);

/** Starts a helper with rx, tx and irq loaded; checks bpftool sees every program it reported. */
async function startLoaded(): Promise<{ h: Helper; ids: number[] }> {
  const h = await Helper.start();
  for (const slot of ['rx', 'tx', 'irq']) {
    const l = await h.loadOk(slot, slot);
    assert.equal(l.replaced, false, `first load of ${slot} is not a reload`);
    const attached = l.programs.filter((p) => p.status === 'attached');
    assert.ok(attached.length > 0, `${slot}: at least one program attached: ${JSON.stringify(l.programs)}`);
    for (const p of attached) assert.ok(typeof p.prog_id === 'number' && p.prog_id > 0, `${slot}/${p.name} attached without a prog_id`);
  }
  const ids = h.progIds();
  const live = await bpftoolProgIds();
  const missing = ids.filter((id) => !live.has(id));
  assert.deepEqual(missing, [], 'bpftool lists every prog_id the helper reported while it runs (else the leak check below proves nothing)');
  return { h, ids };
}

describe('tracefs', { skip, timeout: 30_000 }, () => {
  test('the helper mounts tracefs itself when /sys/kernel/tracing has no events, and says so', async () => {
    // In a private mount namespace (the machine's own tracefs mount is untouched): unmount
    // tracefs there, start the helper, load tx (its sendmsg__tp_* programs are tp/ tracepoints,
    // which need tracefs), quit.
    const wd = mkdtempSync(join(tmpdir(), 'nslat-kernel-tracefs-'));
    try {
      copyFileSync(join(BUILD_DIR, 'tx.bpf.o'), join(wd, 'tx.bpf.o'));
      const script = 'umount /sys/kernel/tracing 2>/dev/null; test -e /sys/kernel/tracing/events && exit 3; exec "$0" --workdir "$1"';
      const input = [
        JSON.stringify({ cmd: 'load', id: 'l', slot: 'tx', object: join(wd, 'tx.bpf.o') }),
        JSON.stringify({ cmd: 'quit', id: 'q' }),
        '',
      ].join('\n');
      const r = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, HELPER_BIN, wd], { input, reject: false, timeout: 20_000 });
      assert.notEqual(r.exitCode, 3, 'tracefs could be unmounted in the private mount namespace');
      const parsed = r.stdout.split('\n').filter(Boolean).map((l) => parseHelperMessage(l));
      const bad = parsed.filter((p) => !p.ok);
      assert.deepEqual(bad, [], 'every line validates against src/core/protocol.ts');
      const msgs = parsed.flatMap((p) => (p.ok ? [p.value] : []));
      assert.equal(msgs[0]?.type, 'hello', `hello first:\n${r.stdout}\n${r.stderr}`);
      const log = msgs.find((m) => m.type === 'log' && /mounted tracefs/.test(m.message));
      assert.ok(log && log.type === 'log' && log.level === 'info', `a log message reports the mount:\n${r.stdout}`);
      const loaded = msgs.find((m) => m.type === 'loaded');
      assert.ok(loaded && loaded.type === 'loaded', `tx loaded:\n${r.stdout}\n${r.stderr}`);
      const tp = loaded.programs.filter((p) => p.section.startsWith('tp/'));
      assert.ok(tp.length > 0 && tp.every((p) => p.status === 'attached'), `tp/ programs attached: ${JSON.stringify(tp)}`);
    } finally {
      rmSync(wd, { recursive: true, force: true });
    }
  });
});

describe('hello', { skip, timeout: 30_000 }, () => {
  test('hello describes this helper and this kernel', async () => {
    const h = await Helper.start();
    try {
      assert.equal(checkHello(h.hello), undefined, 'protocol version matches src/core/protocol.ts');
      assert.equal(h.hello.pid, h.pid, 'hello.pid is the helper process');
      assert.equal(realpathSync(h.hello.workdir), realpathSync(h.workdir), 'hello.workdir is the dir it was given');
      assert.equal(h.hello.kernel, release(), 'hello.kernel is uname -r');
      assert.equal(h.hello.ncpus, cpus().length, 'hello.ncpus');
      assert.equal(h.hello.btf, true, 'BTF present (/sys/kernel/btf/vmlinux)');
      // KERNEL.md: tracepoints, raw_tp and tp_btf work here; fentry is EPERM and kprobes absent.
      assert.equal(h.hello.attach_types.tracepoint, true);
      assert.equal(h.hello.attach_types.tp_btf, true);
      assert.equal(h.hello.attach_types.raw_tp, true);
      assert.equal(h.hello.attach_types.kprobe ?? false, existsSync('/sys/bus/event_source/devices/kprobe'), 'kprobe support as the kernel reports it');
      const mono = Number(process.hrtime.bigint()); // CLOCK_MONOTONIC in ns, like bpf_ktime_get_ns
      assert.ok(h.hello.mono_ns > 0 && h.hello.mono_ns <= mono, 'hello.mono_ns is CLOCK_MONOTONIC at start');
      assert.ok(Math.abs(h.hello.wall_ns / 1e6 - Date.now()) < 60_000, 'hello.wall_ns is the wall clock');
      await h.quit();
      h.assertProtocolClean();
    } finally {
      await h.dispose();
    }
  });
});

describe('helper exit leaves no programs', { skip, timeout: 120_000 }, () => {
  test('quit: bye, exit 0, no programs left', async () => {
    const { h, ids } = await startLoaded();
    try {
      await h.quit(10_000);
      const bye = h.bye();
      assert.ok(bye, 'bye message before exit');
      assert.equal(bye.reason, 'quit');
      assert.equal(bye.attached, 0, 'bye.attached');
      assert.equal(h.exit?.code, 0, `exit status ${JSON.stringify(h.exit)}`);
      assert.deepEqual(await leakedProgIds(ids), [], 'prog ids still loaded after quit');
      h.assertProtocolClean();
    } finally {
      await h.dispose();
    }
  });

  test('stdin closed: bye "stdin closed", no programs left', async () => {
    const { h, ids } = await startLoaded();
    try {
      h.closeStdin();
      await h.waitExit(10_000);
      const bye = h.bye();
      assert.ok(bye, 'bye message before exit');
      assert.match(bye.reason, /stdin/);
      assert.equal(bye.attached, 0);
      assert.equal(h.exit?.code, 0, `exit status ${JSON.stringify(h.exit)}`);
      assert.deepEqual(await leakedProgIds(ids), [], 'prog ids still loaded after stdin closed');
      h.assertProtocolClean();
    } finally {
      await h.dispose();
    }
  });

  test('SIGTERM: bye "SIGTERM", no programs left', async () => {
    const { h, ids } = await startLoaded();
    try {
      h.signal('SIGTERM');
      await h.waitExit(10_000);
      const bye = h.bye();
      assert.ok(bye, 'bye message before exit');
      assert.equal(bye.reason, 'SIGTERM');
      assert.equal(bye.attached, 0);
      assert.deepEqual(await leakedProgIds(ids), [], 'prog ids still loaded after SIGTERM');
      h.assertProtocolClean();
    } finally {
      await h.dispose();
    }
  });

  test('SIGKILL: nothing pinned, the kernel frees every program', async () => {
    const { h, ids } = await startLoaded();
    try {
      h.signal('SIGKILL');
      const exit = await h.waitExit(10_000);
      assert.equal(exit.signal, 'SIGKILL');
      assert.deepEqual(await leakedProgIds(ids, 5_000), [], 'prog ids still loaded after SIGKILL');
      h.assertProtocolClean();
    } finally {
      await h.dispose();
    }
  });
});

describe('bad input gets an error and the helper keeps running', { skip, timeout: 60_000 }, () => {
  test('malformed JSON, bad/unknown commands, paths outside the work dir, an over-long line', async () => {
    const h = await Helper.start();
    const outside = mkdtempSync(join(tmpdir(), 'nslat-kernel-outside-'));
    try {
      // A real, loadable object outside the work dir: only its location may make the helper refuse it.
      const outsideObj = join(outside, 'x.bpf.o');
      copyFileSync(join(BUILD_DIR, 'rx.bpf.o'), outsideObj);
      // The same via a `..` escape and via a symlink that lives inside the work dir.
      copyFileSync(join(BUILD_DIR, 'rx.bpf.o'), join(h.workdir, '..', `${h.workdir.split('/').pop()}-escape.bpf.o`));
      const escapePath = `${h.workdir}/../${h.workdir.split('/').pop()}-escape.bpf.o`;
      symlinkSync(outsideObj, h.path('link.bpf.o'));

      const expectError = async (line: string, code: string | RegExp, id?: string, what = line.slice(0, 80)) => {
        const from = h.mark();
        h.sendRaw(line);
        const e = await h.waitFor((m) => m.type === 'error' || m.type === 'loaded', 10_000, `error for ${what}`, from);
        assert.equal(e.type, 'error', `${what}: expected an error, got ${JSON.stringify(e).slice(0, 300)}`);
        if (e.type !== 'error') return;
        if (typeof code === 'string') assert.equal(e.code, code, `${what}: code (message: ${e.message})`);
        else assert.match(e.code, code, `${what}: code (message: ${e.message})`);
        if (id) assert.equal(e.id, id, `${what}: the error carries the command's id`);
        assert.ok(e.message.length > 0, `${what}: error has a message`);
      };

      await expectError('{"cmd": "snapshot", "id": ', 'bad_json');
      await expectError('this is not json at all', 'bad_json');
      await expectError('{"cmd":"frobnicate","id":"u1"}', 'unknown_command', 'u1');
      await expectError('{"cmd":"load","id":"c1"}', /^(bad_command)$/, 'c1', 'load without slot/object');
      await expectError('[1,2,3]', /^(bad_command|bad_json)$/, undefined, 'a JSON array');
      await expectError(JSON.stringify({ cmd: 'load', id: 'p1', slot: 'rx', object: outsideObj }), 'bad_path', 'p1', 'object outside the work dir');
      await expectError(JSON.stringify({ cmd: 'load', id: 'p2', slot: 'rx', object: escapePath }), 'bad_path', 'p2', 'object reached through ../');
      await expectError(JSON.stringify({ cmd: 'load', id: 'p3', slot: 'rx', object: 'rx.bpf.o' }), 'bad_path', 'p3', 'relative object path');
      await expectError(JSON.stringify({ cmd: 'load', id: 'p4', slot: 'rx', object: h.path('link.bpf.o') }), 'bad_path', 'p4', 'symlink in the work dir pointing outside');
      await expectError(JSON.stringify({ cmd: 'load', id: 'p5', slot: 'rx', object: h.path('missing.bpf.o') }), 'bad_path', 'p5', 'missing object');
      await expectError(JSON.stringify({ cmd: 'unload', id: 's1', slot: 'nosuch' }), 'no_such_slot', 's1');
      // Over the limit: a syntactically valid command padded past MAX_COMMAND_BYTES.
      const long = JSON.stringify({ cmd: 'snapshot', id: 'long1', pad: 'x'.repeat(MAX_COMMAND_BYTES + 1024) });
      await expectError(long, 'too_long', undefined, `a ${long.length}-byte line`);
      // A long line sent in pieces, and a valid command right after it on the same write.
      const from = h.mark();
      h.sendRaw('y'.repeat(40_000), false);
      h.sendRaw('y'.repeat(40_000), false);
      h.sendRaw('\n{"cmd":"snapshot","id":"after-long"}');
      await h.waitFor((m) => m.type === 'error' && m.code === 'too_long', 10_000, 'too_long for a line written in pieces', from);
      await h.waitFor((m) => m.type === 'snapshot' && m.id === 'after-long', 10_000, 'snapshot right after the long line', from);

      // Still alive, still answering, nothing loaded by any of the refused commands.
      const snap = await h.snapshot();
      assert.equal(snap.type, 'snapshot');
      assert.equal(h.exit, undefined, 'helper still running');
      assert.deepEqual(
        h.messages.filter((m) => m.type === 'loaded'),
        [],
        'none of the refused loads produced a loaded message',
      );
      // And a legitimate load still works afterwards.
      const l = await h.loadOk('rx', 'rx');
      assert.ok(l.programs.some((p) => p.status === 'attached'));
      await h.quit();
      h.assertProtocolClean();
    } finally {
      await h.dispose();
      rmSync(outside, { recursive: true, force: true });
      rmSync(`${h.workdir}-escape.bpf.o`, { force: true });
    }
  });
});

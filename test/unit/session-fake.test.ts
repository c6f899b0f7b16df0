/**
 * Session against a fake target and a fake helper (no kernel, no root): hostile helper output,
 * helper death, a load error with a verifier log, stop. The real thing is test/integration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileHashes, hashShipped, localBpfDir, NSLAT_VERSION } from '../../src/core/deploy.ts';
import { Session, SessionError, type EndInfo } from '../../src/core/session.ts';
import { LineSplitter } from '../../src/core/helper-client.ts';
import { PROTOCOL_VERSION } from '../../src/core/protocol.ts';
import { capturedLoaded } from '../fixtures/captured.ts';
import type { ExitInfo, RunOptions, RunResult, SpawnPrivilegedOptions, TargetProcess, Transport } from '../../src/core/transport/types.ts';

type Script = (cmd: Record<string, unknown>, p: FakeHelper) => void;

class FakeHelper implements TargetProcess {
  readonly pid = 99;
  private lineCbs: Array<(l: string) => void> = [];
  private exitCbs: Array<(i: ExitInfo) => void> = [];
  private done = false;
  private resolveExit!: (i: ExitInfo) => void;
  readonly exited = new Promise<ExitInfo>((r) => { this.resolveExit = r; });
  private readonly split = new LineSplitter((l) => this.lineCbs.forEach((cb) => cb(l)), () => {});
  constructor(private readonly script: Script, hello: Record<string, unknown> = {}) {
    setImmediate(() => this.say({ type: 'hello', protocol: PROTOCOL_VERSION, helper_version: 'fake', kernel: '6.18', mono_ns: 1e9, wall_ns: 1.7e18, ncpus: 2, btf: true, bpf_stats: false, attach_types: { tp_btf: true }, workdir: '/w', pid: 99, ...hello }));
  }
  say(o: unknown) { this.raw(`${JSON.stringify(o)}\n`); }
  raw(s: string) { if (!this.done) this.split.push(s); }
  write(line: string) { setImmediate(() => this.script(JSON.parse(line), this)); }
  end() { this.die({ code: 0, signal: null, why: 'stdin closed' }); }
  onLine(cb: (l: string) => void) { this.lineCbs.push(cb); }
  onStderr() {}
  onExit(cb: (i: ExitInfo) => void) { this.exitCbs.push(cb); }
  kill() { this.die({ code: null, signal: 'SIGKILL', why: 'killed' }); }
  die(i: ExitInfo) { if (this.done) return; this.split.end(); this.done = true; this.exitCbs.forEach((cb) => cb(i)); this.resolveExit(i); }
}

/** A loaded answer whose object declares every global the load asked for. */
const loaded = (cmd: Record<string, unknown>) => {
  const byDir = (cmd.rodata_by_dir ?? {}) as Record<string, Record<string, number>>;
  const names = new Set([...Object.keys(cmd.rodata ?? {}), ...Object.values(byDir).flatMap((m) => Object.keys(m)), ...Object.keys(cmd.data ?? {})]);
  const globals = [...names].map((name) => ({ name, kind: name in ((cmd.data ?? {}) as object) ? 'data' : 'rodata', size: 8 }));
  return { type: 'loaded', id: cmd.id, slot: cmd.slot, object: cmd.object, replaced: false, mono_ns: 2e9, programs: [{ name: 'handle_x', section: 'tp_btf/x', status: 'attached', attach: 'tp_btf', prog_id: 5 }], boundaries: [], globals };
};

function fakeTarget(script: Script, hello: Record<string, unknown> = {}) {
  const ship = `${localBpfDir()}/build/ship/x86_64`;
  const hash = hashShipped(ship);
  const sums = fileHashes(ship);
  const dir = `/home/u/.cache/nslat/${NSLAT_VERSION}-${hash}`;
  const helpers: FakeHelper[] = [];
  const runs: string[][] = [];
  const spawned: string[][] = [];
  const privileges: SpawnPrivilegedOptions[] = [];
  const t: Transport = {
    host: 'fake', kind: 'local',
    run: async (argv: string[], _o?: RunOptions): Promise<RunResult> => {
      runs.push(argv);
      const ok = (stdout = '') => ({ exitCode: 0, stdout, stderr: '' });
      // The shipped files are there already, with the right content.
      if (argv[0] === 'sha256sum') return ok(argv.slice(2).map((f) => `${sums[f.slice(f.lastIndexOf('/') + 1)] ?? '0'.repeat(64)}  ${f}`).join('\n'));
      if (argv[0] === 'uname') return ok(argv.includes('-m') && !argv.includes('-r') ? 'x86_64\n' : '6.18.0 x86_64\n');
      if (argv[0] === 'cat' && argv[1] === '/proc/mounts') return ok('tracefs /sys/kernel/tracing tracefs rw 0 0\n');
      if (argv[0] === 'cat' && argv[1] === '/etc/os-release') return ok('ID=debian\n');
      if (argv[0] === 'id') return ok('0\n');
      return ok('1.0\n');
    },
    putDir: async () => {}, putFile: async () => {}, getFile: async () => Buffer.alloc(0), home: async () => '/home/u', close: async () => {},
    spawn: async () => { throw new Error('no'); },
    spawnPrivileged: async (argv: string[], o?: SpawnPrivilegedOptions) => {
      assert.equal(argv[0], `${dir}/nslat-helper`);
      spawned.push(argv);
      privileges.push(o ?? {});
      // Like the real helper, it answers the snapshot a start-up asks for once the probes are loaded.
      const h = new FakeHelper((cmd, p) => (cmd.cmd === 'snapshot' ? p.say({ type: 'snapshot', id: cmd.id, seq: 0, mono_ns: 3e9, interval_ns: 1e9, slots: [] }) : script(cmd, p)), hello);
      helpers.push(h);
      return h;
    },
  };
  return { t, helpers, runs, spawned, privileges };
}

test('hostile helper output becomes warnings; messages still flow; stop quits the helper', async () => {
  const { t, helpers } = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load') {
      p.raw('garbage\n{"type":"snapshot"}\n\u0000\u0001\n');
      p.say(loaded(cmd));
    } else if (cmd.cmd === 'quit') {
      p.say({ type: 'bye', reason: 'quit', attached: 0 });
      setImmediate(() => p.die({ code: 0, signal: null, why: 'exited' }));
    }
  });
  const s = await Session.start({ transport: t, stages: ['rx', 'tx'] });
  const warnings: string[] = [];
  s.on('warning', (w) => warnings.push(w));
  assert.deepEqual([...s.loaded.keys()], ['rx', 'tx']);
  assert.ok(s.startupMessages.some((m) => m.type === 'hello'));
  const got: string[] = [];
  s.on('message', (m) => got.push(m.type));
  for (let i = 0; i < 30; i++) helpers[0]!.raw('{bad\n');
  helpers[0]!.say({ type: 'snapshot', seq: 1, mono_ns: 3e9, interval_ns: 1e9, slots: [] });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, ['snapshot']);
  // 6 bad lines came during start-up (3 per load); of the 30 more, 4 are reported, then one summary.
  assert.equal(warnings.length, 5, warnings.join('\n'));
  assert.match(warnings[0]!, /^bad line from the helper: helper message line is not JSON/);
  assert.match(warnings[4]!, /more bad lines from the helper/);
  const end = await s.stop();
  assert.equal(end.reason, 'stopped');
  assert.equal(end.exit?.bye?.attached, 0);
  assert.equal((await s.reload('rx')).ok, false);
});

test('subscribe delivers the start-up messages, then every later one, in order, each once', async () => {
  const { t, helpers } = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load') p.say(loaded(cmd));
    else if (cmd.cmd === 'quit') {
      p.say({ type: 'bye', reason: 'quit', attached: 0 });
      setImmediate(() => p.die({ code: 0, signal: null, why: 'exited' }));
    }
  });
  const s = await Session.start({ transport: t, stages: ['rx', 'tx'] });
  const got: string[] = [];
  const stop = s.subscribe((m) => got.push(m.type === 'snapshot' ? `snapshot ${m.seq}` : m.type));
  assert.deepEqual(got, ['hello', 'loaded', 'loaded', 'snapshot 0']);
  const late: string[] = [];
  s.subscribe((m) => late.push(m.type));
  assert.deepEqual(late, ['hello', 'loaded', 'loaded', 'snapshot']);
  helpers[0]!.say({ type: 'snapshot', seq: 1, mono_ns: 4e9, interval_ns: 1e9, slots: [] });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got.slice(4), ['snapshot 1']);
  stop();
  helpers[0]!.say({ type: 'snapshot', seq: 2, mono_ns: 5e9, interval_ns: 1e9, slots: [] });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got.slice(4), ['snapshot 1']);
  assert.deepEqual(late.slice(4), ['snapshot', 'snapshot']);
  await s.stop();
});

test('a verifier rejection at start-up of one stage: the others trace, diagnostics name the source line', async () => {
  const { t } = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load' && cmd.slot === 'tx') p.say({ type: 'error', id: cmd.id, code: 'verifier', slot: 'tx', program: 'handle_x', message: 'program handle_x rejected', log: '0: R1=ctx()\n; *v += 1; @ tx.bpf.c:42\n8: (79) r1 = *(u64 *)(r0 +0)\nR0 invalid mem access \'map_value_or_null\'\nprocessed 8 insns' });
    else if (cmd.cmd === 'load') p.say(loaded(cmd));
    else if (cmd.cmd === 'quit') p.die({ code: 0, signal: null, why: 'exited' });
  });
  const s = await Session.start({ transport: t, stages: ['rx', 'tx'] });
  const warnings: string[] = [];
  s.on('warning', (w) => warnings.push(w));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([...s.loaded.keys()], ['rx']);
  assert.match(warnings.join('\n'), /stage tx: program handle_x rejected \(.*tx\.bpf\.c:42\) did not load/);
  await s.stop();
});

test('all stages failing is a SessionError with diagnostics; the helper is told to quit', async () => {
  let quit = false;
  const { t } = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load') p.say({ type: 'error', id: cmd.id, code: 'open_failed', message: 'not a BPF object' });
    if (cmd.cmd === 'quit') { quit = true; p.die({ code: 0, signal: null, why: 'exited' }); }
  });
  await assert.rejects(Session.start({ transport: t, stages: ['rx'] }), (e: unknown) => e instanceof SessionError && /no probes could be loaded on fake: rx: not a BPF object/.test(e.message) && e.diagnostics?.[0]?.message === 'open_failed: not a BPF object');
  assert.equal(quit, true);
});

test('the helper dying ends the session at once with a clear reason', async () => {
  const { t, helpers } = fakeTarget((cmd, p) => { if (cmd.cmd === 'load') p.say(loaded(cmd)); });
  const s = await Session.start({ transport: t, stages: ['rx'] });
  const ended = new Promise<EndInfo>((r) => s.once('ended', r));
  helpers[0]!.die({ code: 139, signal: null, why: 'nslat-helper exited with status 139.' });
  const e = await ended;
  assert.equal(e.reason, 'helper-exited');
  assert.equal(e.error, 'the helper on fake stopped unexpectedly: nslat-helper exited with status 139; the data collected so far is kept');
  assert.equal((await s.stop()).reason, 'helper-exited');
});

test('an interface the target does not have is refused before the helper starts', async () => {
  const { t, helpers } = fakeTarget(() => {});
  const run = t.run;
  t.run = async (argv, o) => (argv[0] === 'cat' && argv[1]?.startsWith('/sys/class/net/') ? { exitCode: 1, stdout: '', stderr: 'No such file' } : run(argv, o));
  await assert.rejects(Session.start({ transport: t, stages: ['rx'], filter: 'dev nosuch0' }), /no interface named "nosuch0"/);
  assert.equal(helpers.length, 0);
});

test('--no-netfilter reaches the helper; a netns filter names the namespace in the rx and tx loads; built-ins load non-strict, reloads strict', async () => {
  const loads: Array<Record<string, unknown>> = [];
  const { t, spawned } = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load') {
      loads.push(cmd);
      p.say(loaded(cmd));
    } else if (cmd.cmd === 'quit') p.die({ code: 0, signal: null, why: 'exited' });
  });
  const s = await Session.start({ transport: t, stages: ['rx', 'tx', 'irq'], netfilter: false, filter: 'netns 4026532890 and udp' });
  assert.ok(spawned[0]!.includes('--no-netfilter'), spawned[0]!.join(' '));
  const bySlot = new Map(loads.map((l) => [l.slot, l]));
  assert.deepEqual(bySlot.get('rx')!.netns, [4026532890]);
  assert.deepEqual(bySlot.get('tx')!.netns, [4026532890]);
  assert.equal(bySlot.get('irq')!.netns, undefined, 'IRQ probes have no netfilter hooks');
  assert.equal((bySlot.get('rx')!.rodata_by_dir as Record<string, Record<string, number>>).rx!.filter_netns, 4026532890);
  for (const l of loads) assert.equal(l.strict, undefined, `built-in ${String(l.slot)} loads non-strict`);
  // an edited probe (here: the same source, rebuilt) loads strictly, with the same netns
  const r = await s.reload('rx');
  assert.equal(r.ok, true, r.ok ? '' : r.error);
  assert.equal(loads.at(-1)!.strict, true);
  assert.deepEqual(loads.at(-1)!.netns, [4026532890]);
  await s.stop();

  // the default: netfilter hooks on, no netns named
  const d = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load') { loads.push(cmd); p.say(loaded(cmd)); } else if (cmd.cmd === 'quit') p.die({ code: 0, signal: null, why: 'exited' });
  });
  const n = loads.length;
  const s2 = await Session.start({ transport: d.t, stages: ['rx'] });
  assert.ok(!d.spawned[0]!.includes('--no-netfilter'));
  assert.equal(loads[n]!.netns, undefined);
  await s2.stop();
});

test('probes from --probes DIR load strictly', async () => {
  const loads: Array<Record<string, unknown>> = [];
  const { t } = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load') { loads.push(cmd); p.say(loaded(cmd)); } else if (cmd.cmd === 'quit') p.die({ code: 0, signal: null, why: 'exited' });
  });
  const s = await Session.start({ transport: t, stages: ['rx'], probesDir: `${localBpfDir()}/probes` });
  assert.equal(loads[0]!.strict, true);
  await s.stop();
});

test('a program the verifier refused in a built-in load: a warning on its source line; its group fell back', async () => {
  const refused = capturedLoaded('helper-6.18-refused', 'rx');
  const { t } = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load' && cmd.slot === 'rx') p.say({ ...refused, id: cmd.id, object: cmd.object });
    else if (cmd.cmd === 'load') p.say(loaded(cmd));
    else if (cmd.cmd === 'quit') p.die({ code: 0, signal: null, why: 'exited' });
  });
  const s = await Session.start({ transport: t, stages: ['rx', 'tx'] });
  const warnings: string[] = [];
  s.on('warning', (w) => warnings.push(w));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([...s.loaded.keys()], ['rx', 'tx'], 'the stage still loaded');
  assert.equal(s.refusals.length, 1);
  const r = s.refusals[0]!;
  assert.equal(r.message, 'stage rx: program nslat_test__netfilter was refused by the verifier on this kernel; its group nslat_test fell back to tp_btf (netif_receive_skb); the rest loaded');
  assert.deepEqual(warnings, [r.message]);
  const d = r.diagnostic;
  assert.equal(d.severity, 'warning');
  assert.equal(d.source, 'verifier');
  assert.equal(d.file, `${localBpfDir()}/probes/rx.bpf.c`);
  assert.equal(d.line, 601, 'the line of the unchecked dereference in the log');
  assert.match(d.message, /^verifier rejected program nslat_test__netfilter: R0 invalid mem access 'map_value_or_null' \(at: \*v \+= 1;\); its group nslat_test fell back to tp_btf \(netif_receive_skb\); the rest loaded$/);
  await s.stop();
});

test('no clang on any machine: a reload fails naming the package, and a session says so once', async () => {
  const { t } = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load') p.say(loaded(cmd));
    else if (cmd.cmd === 'quit') p.die({ code: 0, signal: null, why: 'exited' });
  });
  const s = await Session.start({ transport: t, stages: ['rx'], clang: '/nonexistent/nslat-clang' });
  try {
    const src = `${localBpfDir()}/probes/rx.bpf.c`;
    const first = await s.reload('rx', src);
    assert.equal(first.ok, false);
    assert.ok(!first.ok && first.alreadySaid === undefined);
    assert.match(!first.ok ? first.error : '', /^edited probes need clang, and this machine does not have it: install clang \(Debian\/Ubuntu: apt-get install clang\)/);
    const again = await s.reload('rx', src);
    assert.ok(!again.ok && again.alreadySaid === true, JSON.stringify(again));
    assert.equal(s.loaded.get('rx')?.object, `${s.deployment.dir}/rx.bpf.o`, 'the built-in probes keep running');
  } finally {
    await s.stop();
  }
});

test('start-up: the helper starts with the privilege preflight found, and the first snapshot is asked for once loaded', async () => {
  const cmds: string[] = [];
  const { t, privileges } = fakeTarget((cmd, p) => {
    cmds.push(String(cmd.cmd));
    if (cmd.cmd === 'load') p.say(loaded(cmd));
    else if (cmd.cmd === 'quit') p.die({ code: 0, signal: null, why: 'exited' });
  });
  const s = await Session.start({ transport: t, stages: ['rx', 'tx'], intervalMs: 1000 });
  assert.deepEqual(privileges.map((o) => o.known), ['root'], 'preflight found root: no second probe');
  assert.deepEqual(cmds, ['load', 'load']);
  assert.ok(s.startupMessages.some((m) => m.type === 'snapshot' && m.id), 'the snapshot asked for is among the start-up messages');
  await s.stop();
  // Periodic snapshots off (nslat check): none asked for.
  cmds.length = 0;
  const c = await Session.start({ transport: t, stages: ['rx'], intervalMs: 0 });
  assert.deepEqual(cmds, ['load']);
  assert.ok(!c.startupMessages.some((m) => m.type === 'snapshot'));
  await c.stop();
});

test('a target of a foreign architecture: the session refuses before copying anything, naming what is shipped', async () => {
  const { t, spawned } = fakeTarget(() => {});
  const puts: string[] = [];
  const foreign: Transport = {
    ...t,
    run: async (argv, o) => (argv[0] === 'uname' ? { exitCode: 0, stdout: '6.18.0 riscv64\n', stderr: '' } : t.run(argv, o)),
    putDir: async (_local, remote) => { puts.push(remote); },
  };
  await assert.rejects(Session.start({ transport: foreign, stages: ['rx'] }), (e: unknown) => e instanceof SessionError && /architecture: riscv64: nslat ships its helper and probes for (aarch64 and )?x86_64 only/.test(e.message));
  assert.deepEqual(puts, []);
  assert.deepEqual(spawned, []);
});

test('a filter no loaded object declares (by its BTF) ends the start with the reason, and the helper is told to quit', async () => {
  let quit = false;
  const { t } = fakeTarget((cmd, p) => {
    if (cmd.cmd === 'load') {
      const l = loaded(cmd);
      p.say({ ...l, globals: l.globals.filter((g) => g.name !== 'filter_lport') });
    } else if (cmd.cmd === 'quit') { quit = true; p.die({ code: 0, signal: null, why: 'exited' }); }
  });
  await assert.rejects(Session.start({ transport: t, stages: ['rx', 'tx'], filter: 'lport 8080' }), (e: unknown) => e instanceof SessionError && /^the probes for rx, tx have no filter_lport filter, so --filter "lport 8080" cannot be applied$/.test(e.message));
  assert.equal(quit, true);
});

test('host counters: the filter\'s ports, process and namespace reach the helper before the first load, only when it sends host counters', async () => {
  const run = async (filter: string | undefined, hello: Record<string, unknown>) => {
    const cmds: Array<Record<string, unknown>> = [];
    const { t } = fakeTarget((cmd, p) => {
      cmds.push(cmd);
      if (cmd.cmd === 'load') p.say(loaded(cmd));
      else if (cmd.cmd === 'quit') p.die({ code: 0, signal: null, why: 'exited' });
    }, hello);
    const s = await Session.start({ transport: t, stages: ['rx'], ...(filter ? { filter } : {}) });
    await s.stop();
    return cmds;
  };
  const cmds = await run('udp and lport 5000 and pid 4321 and netns 4026532890', { host: true });
  const set = cmds.findIndex((c) => c.cmd === 'set' && c.host !== undefined);
  assert.ok(set >= 0, 'a set with host options');
  assert.deepEqual(cmds[set]!.host, { ports: [5000], pids: [4321], netns: [4026532890] });
  assert.ok(set < cmds.findIndex((c) => c.cmd === 'load'), 'before the first load, so the first snapshot lists the flow');
  assert.ok(!(await run('udp and lport 5000', {})).some((c) => c.cmd === 'set' && c.host !== undefined), 'a helper without host counters is not asked');
  assert.ok(!(await run('udp', { host: true })).some((c) => c.cmd === 'set' && c.host !== undefined), 'a filter without ports, process or namespace asks nothing');
});

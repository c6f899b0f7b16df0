/**
 * What feeds each boundary, with the real helper on this kernel: `nslat check` (the CLI, run as a
 * child process) loads rx, tx and irq, says per boundary and group which mechanism fed it or why
 * nothing did, and leaves nothing attached; with --no-netfilter the netfilter-fed boundaries say
 * why nothing feeds them. A session with a `netns INODE` filter hooks netfilter in that namespace
 * too, so packets there are measured at ip_rcv. Needs root.
 *
 * Which mechanism a boundary gets depends on the kernel (fentry, then kprobe, then netfilter):
 * the expectations follow the helper's hello, and on a kernel without fentry and kprobes (where
 * netfilter hooks are the only way to see ip_rcv) they are "netfilter", and nothing without it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import { Session } from '../../src/core/session.ts';
import type { HelloMessage, LoadedMessage, SnapshotMessage } from '../../src/core/protocol.ts';

const repo = new URL('../../', import.meta.url).pathname;

interface CheckRow { check: string; ok: boolean; detail: string; required?: boolean }
interface CheckDoc {
  ok: boolean;
  rows: CheckRow[];
  features: { arch: string | null; preempt_rt: boolean | null; irq_threads: boolean | null; netfilter: boolean | null; attach_types: Record<string, boolean> } | null;
  stages: Array<{ slot: string; boundaries?: LoadedMessage['boundaries']; groups?: NonNullable<LoadedMessage['groups']>; error?: string }>;
}

async function check(...args: string[]) {
  return execa('node', ['--import', 'tsx', 'src/cli/main.ts', 'check', ...args], { cwd: repo, reject: false, timeout: 240_000, env: { NSLAT_DEBUG: '' } });
}

/** The mechanism the helper prefers for ip_rcv / ip_local_deliver on this kernel, or null. */
function expectedIpMechanism(attach: Record<string, boolean>, netfilter: boolean): string | null {
  if (attach.fentry) return 'fentry';
  if (attach.kprobe) return 'kprobe';
  return netfilter ? 'netfilter' : null;
}

/** Our programs still loaded (by the names bpftool shows: at most 15 characters). */
function ourLiveProgs(names: Set<string>, before: Set<number>): string[] {
  const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
  return progs.filter((p) => !before.has(p.id) && p.name !== undefined && names.has(p.name)).map((p) => `${p.id} ${p.name}`);
}

function liveIds(): Set<number> {
  return new Set((JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' })) as Array<{ id: number }>).map((p) => p.id));
}

async function settle(names: Set<string>, before: Set<number>, ms = 5000): Promise<string[]> {
  const t0 = Date.now();
  for (;;) {
    const left = ourLiveProgs(names, before);
    if (left.length === 0 || Date.now() - t0 > ms) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('nslat check: per boundary which mechanism fed it; netfilter for ip_rcv and ip_local_deliver where nothing else can; nothing left attached', { timeout: 600_000 }, async () => {
  const before = liveIds();
  const json = await check('--format', 'json');
  assert.equal(json.exitCode, 0, `${json.stdout}\n${json.stderr}`);
  const doc = JSON.parse(json.stdout) as CheckDoc;
  assert.equal(doc.ok, true);
  assert.ok(doc.features, 'the helper ran');
  const f = doc.features!;
  assert.deepEqual(doc.stages.map((s) => s.slot), ['rx', 'tx', 'irq']);
  assert.ok(doc.stages.every((s) => s.boundaries !== undefined), 'rx, tx and irq all loaded');
  const names = new Set(doc.stages.flatMap((s) => [...(s.boundaries ?? []), ...(s.groups ?? [])]).flatMap((b) => (b.feeds ?? []).map((x) => x.program.slice(0, 15))));
  assert.ok(names.size > 10);

  const row = (rows: CheckRow[], c: string) => {
    const r = rows.find((x) => x.check === c);
    assert.ok(r, `row ${c} in ${rows.map((x) => x.check).join(', ')}`);
    return r;
  };
  const want = expectedIpMechanism(f.attach_types, f.netfilter === true);
  for (const b of ['ip_rcv', 'ip_local_deliver']) {
    const r = row(doc.rows, `rx ${b}`);
    if (want) {
      assert.equal(r.ok, true, r.detail);
      assert.match(r.detail, new RegExp(`^fed by ${want} \\(`));
    } else assert.match(r.detail, /^nothing feeds it: /);
    const fed = doc.stages[0]!.boundaries!.find((x) => x.name === b)!;
    if (want === 'netfilter') {
      assert.deepEqual(fed.feeds!.map((x) => [x.attach, x.target.split('/')[0]]), [['netfilter', 'ipv4'], ['netfilter', 'ipv6']]);
      assert.ok(fed.feeds!.every((x) => x.netns?.includes(0)), 'hooked in the helper\'s namespace');
    }
  }
  // every boundary and group has a row that says what fed it or why nothing did
  for (const s of doc.stages) {
    for (const b of [...(s.boundaries ?? []), ...(s.groups ?? [])]) {
      const r = row(doc.rows, 'dir' in b ? `${s.slot} ${b.name}` : `${s.slot} ${b.name} (group)`);
      assert.match(r.detail, b.active ? /^fed by \S+ \(/ : /^nothing feeds it: \S/);
    }
  }
  const at = row(doc.rows, 'attach types');
  assert.doesNotMatch(at.detail, /fall back/);
  assert.match(row(doc.rows, 'kernel build').detail, new RegExp(`^${f.arch}; ${f.preempt_rt ? 'PREEMPT_RT' : 'not PREEMPT_RT'}; device IRQ handlers ${f.irq_threads ? 'threaded by force' : 'not threaded'}`));
  assert.deepEqual(await settle(names, before), [], 'check detached everything');

  // --no-netfilter, as a table
  const table = await check('--no-netfilter');
  assert.equal(table.exitCode, 0, `${table.stdout}\n${table.stderr}`);
  assert.match(table.stdout, /^netfilter +(note|yes) +BPF netfilter hooks (work here but are turned off \(--no-netfilter\)|do not work)/m);
  const wantOff = expectedIpMechanism(f.attach_types, false);
  for (const b of ['ip_rcv', 'ip_local_deliver']) {
    const line = table.stdout.split('\n').find((l) => l.startsWith(`rx ${b} `));
    assert.ok(line, table.stdout);
    if (wantOff) assert.match(line, new RegExp(`^rx ${b} +yes +fed by ${wantOff} `));
    else assert.match(line, new RegExp(`^rx ${b} +note +nothing feeds it: .*netfilter hooks turned off \\(--no-netfilter\\)$`));
  }
  assert.match(table.stdout, /\n\nlocal: tracing can work\.$/);
  assert.deepEqual(await settle(names, before), [], 'check --no-netfilter detached everything');
});

// ---------------------------------------------------------------- netns filter → netfilter hooks in that namespace

const ns = `nslat-integ-${process.pid}`;
after(() => {
  try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* not created */ }
});

test('a netns filter hooks netfilter in that namespace too: its packets are measured at ip_rcv', { timeout: 180_000 }, async (t) => {
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  const ino = Number(execFileSync('stat', ['-L', '-c', '%i', `/run/netns/${ns}`], { encoding: 'utf8' }).trim());
  assert.ok(ino > 0);
  const session = await Session.start({ stages: ['rx'], intervalMs: 250, filter: `netns ${ino}` });
  const snaps: SnapshotMessage[] = [];
  session.on('message', (m) => { if (m.type === 'snapshot') snaps.push(m); });
  try {
    const hello: HelloMessage = session.hello;
    const rx = session.loaded.get('rx')!;
    const ip = rx.boundaries.find((b) => b.name === 'ip_rcv')!;
    if (expectedIpMechanism(hello.attach_types, hello.netfilter === true) !== 'netfilter') {
      t.skip(`ip_rcv is fed by ${ip.feeds?.map((x) => x.attach).join('+') ?? 'nothing'} here, not by netfilter hooks`);
      return;
    }
    assert.deepEqual(ip.feeds!.map((x) => x.netns), [[0, ino], [0, ino]], 'each hook in the helper\'s namespace and in the filtered one');
    // UDP on loopback inside the namespace, for two seconds
    await execa('ip', ['netns', 'exec', ns, 'python3', '-c', [
      'import socket, time',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))',
      'c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(1)',
      'end = time.time() + 2',
      'while time.time() < end:',
      '    c.sendto(b"x" * 64, s.getsockname()); s.recvfrom(100)',
    ].join('\n')], { timeout: 20_000 });
    await session.snapshot();
    const toIp = snaps.flatMap((s) => s.slots).flatMap((s) => s.hists).filter((h) => h.kind === 'stage' && h.to === 'ip_rcv').reduce((a, h) => a + h.count, 0);
    assert.ok(toIp > 100, `${toIp} packets of the namespace measured up to ip_rcv`);
  } finally {
    await session.stop();
  }
});

/**
 * Transport unit tests: quoting through a real /bin/sh, destination validation, the local
 * transport end to end, and the sudo password state machine against a scripted fake sudo.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile, rm, readdir, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createTransport, parseDestination, shJoin, shQuote, TransportError, LocalTransport } from '../../src/core/transport/index.ts';
import { ChildTargetProcess } from '../../src/core/transport/process.ts';
import { spawnPrivileged, type PrivilegeTarget } from '../../src/core/transport/privilege.ts';
import { batchScript, missingFromStderr, parseBatchOutput } from '../../src/core/transport/ssh.ts';
import { spawnPrivilegedKnown } from '../../src/core/transport/local.ts';
import { runBatch, type Transport } from '../../src/core/transport/types.ts';
import { childEnv } from '../../src/core/transport/env.ts';

export const HOSTILE = [
  'plain',
  '',
  'two words',
  "it's",
  "'",
  "''",
  '"double"',
  '$(touch /tmp/nslat-pwned)',
  '`touch /tmp/nslat-pwned`',
  '; touch /tmp/nslat-pwned',
  'a && b || c',
  'line1\nline2',
  '\ttab',
  '*',
  '~',
  '$HOME',
  '\\',
  '-n',
  '--',
  '!!',
  'ünïcødé ✓',
  '#comment',
  'a\'b"c$d`e\\f',
];

test('shQuote: hostile arguments reach a real /bin/sh as one word each, unchanged', async () => {
  const r = await execa('sh', ['-c', `printf '%s\\0' ${shJoin(HOSTILE)}`], { encoding: 'utf8' });
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), HOSTILE);
  assert.equal(shQuote('simple-word_1.0'), 'simple-word_1.0');
  assert.throws(() => shQuote('a\0b'), TransportError);
  assert.throws(() => shJoin([]), TransportError);
});

test('parseDestination accepts the usual forms', () => {
  assert.deepEqual(parseDestination('host'), { given: 'host', dest: 'host', user: undefined, host: 'host', port: undefined });
  assert.equal(parseDestination('user@host.example.com').dest, 'user@host.example.com');
  assert.equal(parseDestination('nslat-test').dest, 'nslat-test');
  assert.deepEqual(parseDestination('ssh://me@box:2222'), { given: 'ssh://me@box:2222', dest: 'me@box', user: 'me', host: 'box', port: 2222 });
  assert.equal(parseDestination('ssh://box').port, undefined);
  assert.deepEqual(
    { dest: parseDestination('me@box:22').dest, port: parseDestination('me@box:22').port },
    { dest: 'me@box', port: 22 },
  );
  assert.equal(parseDestination('::1').dest, '::1');
  assert.equal(parseDestination('me@fe80::1%eth0').dest, 'me@fe80::1%eth0');
  assert.deepEqual({ d: parseDestination('ssh://me@[::1]:2200').dest, p: parseDestination('ssh://me@[::1]:2200').port }, { d: 'me@::1', p: 2200 });
  assert.equal(parseDestination('[2001:db8::5]').dest, '2001:db8::5');
  assert.equal(parseDestination('192.168.1.10').dest, '192.168.1.10');
});

test('parseDestination refuses option and shell injection, naming the value', () => {
  const bad = [
    '-oProxyCommand=touch /tmp/x',
    '-oProxyCommand=id',
    '-p',
    'host -oProxyCommand=x',
    'host;id',
    'host`id`',
    'host$(id)',
    'host\nid',
    'host\tx',
    'user@-oProxyCommand=id',
    '@host',
    'us er@host',
    "host'",
    'host|id',
    'host&',
    'ssh://host/path',
    'host:99999',
    'host:abc',
    'ssh://::1',
    '',
    'a/b',
    'host\x7f',
    'me@[::1',
  ];
  for (const b of bad) {
    assert.throws(
      () => parseDestination(b),
      (e: unknown) => e instanceof TransportError && e.code === 'bad_destination' && e.message.includes(JSON.stringify(b)),
      `should refuse ${JSON.stringify(b)}`,
    );
  }
  assert.throws(() => createTransport({ host: '-oProxyCommand=id' }), /begins with "-"/);
});

test('createTransport: undefined and "local" mean this machine', () => {
  assert.equal(createTransport().kind, 'local');
  assert.equal(createTransport({ host: 'local' }).kind, 'local');
  assert.equal(createTransport({ host: 'somehost' }).kind, 'ssh');
  assert.throws(() => createTransport({ host: 'h', sshConfig: '/nonexistent/nslat-config' }), /does not exist/);
});

test('childEnv drops ELECTRON_RUN_AS_NODE and VSCODE_* only', () => {
  process.env.ELECTRON_RUN_AS_NODE = '1';
  process.env.VSCODE_PID = '42';
  process.env.NSLAT_KEEP = 'yes';
  try {
    const e = childEnv({ EXTRA: 'x' });
    assert.equal(e.ELECTRON_RUN_AS_NODE, undefined);
    assert.equal(e.VSCODE_PID, undefined);
    assert.equal(e.NSLAT_KEEP, 'yes');
    assert.equal(e.EXTRA, 'x');
  } finally {
    delete process.env.ELECTRON_RUN_AS_NODE;
    delete process.env.VSCODE_PID;
    delete process.env.NSLAT_KEEP;
  }
});

test('missingFromStderr recognises dash and bash messages', () => {
  assert.equal(missingFromStderr('sh: 1: tar: not found\n'), 'tar');
  assert.equal(missingFromStderr('bash: line 1: sudo: command not found\n'), 'sudo');
  assert.equal(missingFromStderr('zsh:1: command not found: x'), undefined);
  assert.equal(missingFromStderr('all good'), undefined);
});

test('local run: argv arrives intact, env and cwd apply, children do not see VSCODE_*', async () => {
  const t = createTransport();
  const r = await t.run(['printf', '%s\\0', ...HOSTILE]);
  assert.equal(r.exitCode, 0);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), HOSTILE);
  process.env.VSCODE_NSLAT_TEST = '1';
  try {
    const e = await t.run(['sh', '-c', 'echo "$NSLAT_X|${VSCODE_NSLAT_TEST:-unset}|$(pwd)"'], { env: { NSLAT_X: 'a b' }, cwd: '/tmp' });
    assert.equal(e.stdout, 'a b|unset|/tmp\n');
  } finally {
    delete process.env.VSCODE_NSLAT_TEST;
  }
  const f = await t.run(['sh', '-c', 'exit 3']);
  assert.equal(f.exitCode, 3);
  const i = await t.run(['cat'], { input: 'from stdin' });
  assert.equal(i.stdout, 'from stdin');
  await assert.rejects(t.run(['sleep', '5'], { timeoutMs: 200 }), (e: unknown) => e instanceof TransportError && e.code === 'timeout');
});

test('local run: a missing program is a clear missing_tool error', async () => {
  const t = createTransport();
  await assert.rejects(
    t.run(['nslat-no-such-tool-xyz']),
    (e: unknown) => e instanceof TransportError && e.code === 'missing_tool' && /not installed on this machine; install it/.test(e.message),
  );
  await assert.rejects(t.spawnPrivileged(['nslat-no-such-tool-xyz'], { mode: 'auto' }), /not installed/);
  await assert.rejects(t.run(['true'], { cwd: 'relative/dir' }), /must be absolute/);
  await assert.rejects(t.run(['true'], { env: { 'A B': 'x' } }), /invalid environment variable name/);
});

test('local putDir/putFile: hostile names round-trip, the target is replaced, dangerous targets refused', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'nslat-tr-'));
  try {
    const src = path.join(root, 'src');
    const names = ["it's", 'sp ace', '$(x)', 'semi;colon', 'new\nline', 'ü'];
    await mkdir(path.join(src, 'sub dir'), { recursive: true });
    for (const n of names) await writeFile(path.join(src, 'sub dir', n), `content of ${n}`);
    const t = createTransport();
    const dest = path.join(root, 'dest', 'work');
    await mkdir(dest, { recursive: true });
    await writeFile(path.join(dest, 'stale'), 'old');
    await t.putDir(src, dest);
    assert.deepEqual((await readdir(path.join(dest, 'sub dir'))).sort(), [...names].sort());
    for (const n of names) assert.equal(await readFile(path.join(dest, 'sub dir', n), 'utf8'), `content of ${n}`);
    assert.deepEqual(await readdir(dest), ['sub dir'], 'old contents are replaced');
    await t.putFile(path.join(root, 'deep', "f 'x'"), Buffer.from([0, 1, 2, 255]));
    assert.deepEqual([...(await readFile(path.join(root, 'deep', "f 'x'")))], [0, 1, 2, 255]);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await t.putFile(path.join(root, 'bytes'), all);
    assert.deepEqual(await t.getFile(path.join(root, 'bytes')), all, 'getFile reads back every byte value');
    await assert.rejects(t.getFile(path.join(root, 'missing')), /reading .*missing on this machine failed/);
    for (const bad of ['/', '~', '/tmp', os.homedir(), '/usr/../etc/x', 'relative']) {
      await assert.rejects(t.putDir(src, bad), TransportError, `refuse ${bad}`);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('local spawn: lines, stderr, early output is queued, exit reason for kill', async () => {
  const t = new LocalTransport();
  const p = await t.spawn(['sh', '-c', 'echo first; echo oops >&2; while read l; do echo "got $l"; done; echo bye']);
  const lines: string[] = [];
  let err = '';
  await new Promise((r) => setTimeout(r, 200)); // output arrives before anyone listens
  p.onLine((l) => lines.push(l));
  p.onStderr((s) => (err += s));
  p.write('a b');
  p.write("it's\n");
  p.end();
  const info = await p.exited;
  assert.deepEqual(lines, ['first', 'got a b', "got it's", 'bye']);
  assert.equal(err, 'oops\n');
  assert.equal(info.code, 0);
  assert.match(info.why, /exited normally/);

  const k = await t.spawn(['sleep', '30']);
  const got = new Promise<string>((r) => k.onExit((i) => r(i.why)));
  const t0 = Date.now();
  k.kill('SIGKILL');
  assert.match(await got, /the sleep process was killed by SIGKILL/);
  assert.ok(Date.now() - t0 < 2000);
  // onExit after the fact still fires
  assert.match(await new Promise<string>((r) => k.onExit((i) => r(i.why))), /SIGKILL/);
});

test('local spawnPrivileged as root runs directly (no sudo) and mode root refuses non-root', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root');
  const tr = createTransport();
  const p = await tr.spawnPrivileged(['id', '-u']);
  const lines: string[] = [];
  p.onLine((l) => lines.push(l));
  await p.exited;
  assert.deepEqual(lines, ['0']);
});

// ---------------------------------------------------------------- sudo password state machine

/** A fake sudo: `fake-sudo -S -p PROMPT -- cmd...` that asks like sudo does, password "right". */
async function fakeSudo(dir: string): Promise<string> {
  const f = path.join(dir, 'fake-sudo');
  await writeFile(
    f,
    `#!/bin/sh
# $1=-S $2=-p $3=prompt $4=--
prompt=$3; shift 4
case "$FAKE_SUDO_MODE" in notallowed) printf '%s' "$prompt" >&2; read -r pw; echo "u is not in the sudoers file." >&2; exit 1;; esac
n=0
while [ $n -lt 3 ]; do
  printf 'lecture text\\n%s' "$prompt" >&2
  IFS= read -r pw || exit 1
  if [ "$pw" = right ]; then exec "$@"; fi
  echo "echo of $pw in an error" >&2
  sleep 0.2; echo "Sorry, try again." >&2
  n=$((n+1))
done
echo "sudo: 3 incorrect password attempts" >&2
exit 1
`,
  );
  await chmod(f, 0o755);
  return f;
}

function fakeTarget(sudoPath: string, mode = ''): PrivilegeTarget & { logs: string[] } {
  const logs: string[] = [];
  const local = new LocalTransport((l) => logs.push(l));
  return {
    logs,
    where: 'fakehost',
    log: (l) => logs.push(l),
    identity: async () => ({ uid: 1000, user: 'u' }),
    run: async (argv) => (argv[0] === 'sudo' ? { exitCode: 1, stdout: '', stderr: 'sudo: a password is required\n' } : local.run(argv)),
    spawn: async (argv, name) => {
      const a = argv[0] === 'sudo' ? [sudoPath, ...argv.slice(1)] : argv;
      const child = execa(a[0]!, a.slice(1), { stdin: 'pipe', buffer: false, reject: false, env: { ...childEnv(), FAKE_SUDO_MODE: mode } });
      child.catch(() => {});
      return new ChildTargetProcess(child, (code, signal) => `${name} ended ${code ?? signal}`);
    },
  };
}

test('sudo askpass: right password starts the command; stdin then belongs to it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nslat-sudo-'));
  try {
    const t = fakeTarget(await fakeSudo(dir));
    const prompts: string[] = [];
    const p = await spawnPrivileged(t, ['cat'], { askPass: async (q) => (prompts.push(q), 'right') });
    assert.deepEqual(prompts, ['[sudo] password for u on fakehost:']);
    const lines: string[] = [];
    let err = '';
    p.onLine((l) => lines.push(l));
    p.onStderr((s) => (err += s));
    p.write('{"cmd":"quit","id":"1"}');
    p.end();
    await p.exited;
    assert.deepEqual(lines, ['{"cmd":"quit","id":"1"}'], 'the password never reaches the command');
    assert.doesNotMatch(err, /nslat-sudo/, 'prompt marker and ready token are not passed on');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sudo askpass: wrong password → sudo_wrong_password, never echoed; cancel → sudo_cancelled; no askPass → clear error', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nslat-sudo-'));
  try {
    const sudo = await fakeSudo(dir);
    const t = fakeTarget(sudo);
    const secret = 'Wr0ng-s3cret';
    let stderrSeen = '';
    const err = await spawnPrivileged(t, ['cat'], { askPass: async () => secret }).then(
      (p) => (p.onStderr((s) => (stderrSeen += s)), assert.fail('should fail')),
      (e: unknown) => e as TransportError,
    );
    assert.equal(err.code, 'sudo_wrong_password');
    assert.match(err.message, /rejected the password for u/);
    assert.ok(!err.message.includes(secret) && !stderrSeen.includes(secret) && !t.logs.join('\n').includes(secret));

    await assert.rejects(
      spawnPrivileged(t, ['cat'], { askPass: async () => undefined }),
      (e: unknown) => e instanceof TransportError && e.code === 'sudo_cancelled' && /cancelled/.test(e.message),
    );
    await assert.rejects(
      spawnPrivileged(t, ['cat'], { askPass: async () => { throw new Error('no terminal'); } }),
      (e: unknown) => e instanceof TransportError && e.code === 'sudo_cancelled' && /no terminal/.test(e.message),
    );
    await assert.rejects(
      spawnPrivileged(t, ['cat'], {}),
      (e: unknown) => e instanceof TransportError && e.code === 'sudo_password_required' && /NOPASSWD/.test(e.message),
    );
    await assert.rejects(spawnPrivileged(t, ['cat'], { mode: 'root' }), /is not root/);
    const na = fakeTarget(sudo, 'notallowed');
    await assert.rejects(
      spawnPrivileged(na, ['cat'], { askPass: async () => 'right' }),
      (e: unknown) => e instanceof TransportError && e.code === 'sudo_failed' && /may not use sudo/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('ChildTargetProcess: a spawn failure is reported once with a reason', async () => {
  const child = execa('nslat-no-such-binary', [], { stdin: 'pipe', buffer: false, reject: false });
  child.catch(() => {});
  const p = new ChildTargetProcess(child, (_c, _s, _t, e) => `failed: ${e?.code}`);
  const info = await p.exited;
  assert.equal(info.why, 'failed: ENOENT');
});

test('batchScript through a real /bin/sh: each command\'s stdout, stderr and exit status apart, hostile output included', async () => {
  const commands = [
    ['sh', '-c', 'echo out; echo err >&2; exit 3'],
    ['printf', '%s', HOSTILE.join('|')],
    ['nslat-no-such-program-here'],
    ['sh', '-c', 'printf "no newline at the end"'],
    ['true'],
  ];
  const r = await execa('/bin/sh', ['-c', batchScript(commands.map((c) => shJoin(c)))], { reject: false, stripFinalNewline: false });
  const res = parseBatchOutput(String(r.stdout), commands.length);
  assert.deepEqual(res[0], { exitCode: 3, stdout: 'out\n', stderr: 'err' });
  assert.deepEqual(res[1], { exitCode: 0, stdout: HOSTILE.join('|'), stderr: '' });
  assert.equal(res[2]!.exitCode, 127);
  assert.match(res[2]!.stderr, /nslat-no-such-program-here: .*not found/);
  assert.deepEqual(res[3], { exitCode: 0, stdout: 'no newline at the end', stderr: '' });
  assert.deepEqual(res[4], { exitCode: 0, stdout: '', stderr: '' });
  // A shell that stopped half-way: the commands it never ran say so.
  const cut = parseBatchOutput(String(r.stdout).slice(0, String(r.stdout).indexOf('\x1e2 o')), commands.length);
  assert.deepEqual(cut.map((x) => x.exitCode), [3, 0, 127, 127, 127]);
  assert.match(cut[4]!.stderr, /did not run/);
});

test('runBatch: a transport without runAll runs each command through run(), a failure as exit 127', async () => {
  const calls: string[][] = [];
  const t = {
    run: async (argv: string[]) => {
      calls.push(argv);
      if (argv[0] === 'boom') throw new TransportError('missing_tool', '`boom` is not installed');
      return { exitCode: 0, stdout: argv.join(' '), stderr: '' };
    },
  } as unknown as Transport;
  const res = await runBatch(t, [['a', '1'], ['boom'], ['b']]);
  assert.deepEqual(calls, [['a', '1'], ['boom'], ['b']]);
  assert.deepEqual(res.map((r) => [r.exitCode, r.stdout]), [[0, 'a 1'], [127, ''], [0, 'b']]);
  assert.match(res[1]!.stderr, /not installed/);
});

test('spawnPrivilegedKnown: what preflight found starts the command at once; otherwise the usual probe', async () => {
  const events: string[] = [];
  const target: PrivilegeTarget = {
    where: 'box',
    identity: async () => (events.push('identity'), { uid: 1000, user: 'u' }),
    run: async (a) => (events.push(`run ${a.join(' ')}`), { exitCode: 0, stdout: '', stderr: '' }),
    spawn: async (a) => (events.push(`spawn ${a.join(' ')}`), {} as ChildTargetProcess),
  };
  await spawnPrivilegedKnown(target, ['/w/nslat-helper', '--workdir', '/w'], { known: 'root' });
  assert.deepEqual(events.splice(0), ['spawn /w/nslat-helper --workdir /w']);
  await spawnPrivilegedKnown(target, ['/w/nslat-helper'], { known: 'sudo-n' });
  assert.deepEqual(events.splice(0), ['spawn sudo -n -- /w/nslat-helper']);
  // No finding, or a mode the caller chose: asked as before (identity, then sudo -n true).
  await spawnPrivilegedKnown(target, ['/w/nslat-helper'], {});
  assert.deepEqual(events.splice(0), ['identity', 'run sudo -n true', 'spawn sudo -n -- /w/nslat-helper']);
  await assert.rejects(spawnPrivilegedKnown(target, ['/w/nslat-helper'], { mode: 'root', known: 'sudo-n' }), (e: unknown) => e instanceof TransportError && e.code === 'not_root');
});

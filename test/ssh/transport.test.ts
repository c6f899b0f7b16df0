/**
 * The SSH transport against a real sshd on 127.0.0.1 (started by test/ssh/lib/sshd.ts), with
 * throwaway users: hostile arguments and file names, multiplexing, privilege (NOPASSWD and the
 * askpass path), destination injection, missing tools, and what happens when ssh dies.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTransport, SshTransport, TransportError, type TargetProcess } from '../../src/core/transport/index.ts';
import { alive, isRoot, startSshd, uidOf, waitFor, type SshFixture } from './lib/sshd.ts';

const skip = isRoot() ? false : 'needs root (creates users, sudoers entries and an sshd)';
let fx: SshFixture;
const open: SshTransport[] = [];
const logs: string[] = [];

function transport(kind: 'nopw' | 'pw' | 'bare' = 'nopw'): SshTransport {
  const t = createTransport({ host: fx.hosts[kind], sshConfig: fx.sshConfig, log: (l) => logs.push(l) }) as SshTransport;
  open.push(t);
  return t;
}

function firstLine(p: TargetProcess, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no line from the remote process')), ms);
    p.onLine((l) => {
      clearTimeout(t);
      resolve(l);
    });
    p.onExit((i) => (clearTimeout(t), reject(new Error(`exited before its first line: ${i.why}`))));
  });
}

before(async () => {
  if (skip) return;
  fx = await startSshd();
});

after(async () => {
  for (const t of open) await t.close().catch(() => {});
  await fx?.stop();
});

function hostile(dir: string): string[] {
  const pwned = path.join(dir, 'pwned');
  return [
    'plain',
    '',
    'two words',
    "it's",
    "'",
    '"double"',
    `$(touch ${pwned})`,
    `\`touch ${pwned}\``,
    `; touch ${pwned}`,
    `| touch ${pwned}`,
    `&& touch ${pwned} &&`,
    `line1\ntouch ${pwned}`,
    '\ttab',
    '*',
    '~',
    '$HOME',
    '\\',
    '-n',
    '--',
    'ünïcødé ✓',
    '#comment',
    'a\'b"c$d`e\\f',
  ];
}

test('run: hostile arguments arrive intact as one argument each; nothing is executed', { skip }, async () => {
  const t = transport();
  const args = hostile(fx.dir);
  const r = await t.run(['printf', '%s\\0', ...args]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), args);
  assert.equal(existsSync(path.join(fx.dir, 'pwned')), false, 'no argument was run as a command');
  // env and cwd are quoted too
  const e = await t.run(['sh', '-c', 'printf "%s|%s" "$X" "$(pwd)"'], { env: { X: "a b'$(id)" }, cwd: '/tmp' });
  assert.equal(e.stdout, "a b'$(id)|/tmp");
  const who = await t.run(['id', '-un']);
  assert.equal(who.stdout.trim(), fx.users.nopw);
  assert.equal(await t.home(), `/home/${fx.users.nopw}`);
  const code = await t.run(['sh', '-c', 'exit 7']);
  assert.equal(code.exitCode, 7);
  const input = await t.run(['cat'], { input: 'line one\nline two\n' });
  assert.equal(input.stdout, 'line one\nline two\n');
});

test('runAll: several commands in one round trip, each with its own stdout, stderr and status; hostile arguments intact', { skip }, async () => {
  const t = transport('bare'); // a PATH with base tools only: a missing program is exit 127
  const args = hostile(fx.dir);
  const n0 = logs.length;
  const res = await t.runAll([
    ['printf', '%s\\0', ...args],
    ['sh', '-c', 'echo out; echo "err $X" >&2; exit 5'],
    ['nslat-no-such-program'],
    ['printenv', 'X'],
  ], { env: { X: "a b'$(id)" } });
  assert.deepEqual(res[0]!.stdout.split('\0').slice(0, -1), args);
  assert.deepEqual(res[1], { exitCode: 5, stdout: 'out\n', stderr: "err a b'$(id)" });
  assert.equal(res[2]!.exitCode, 127);
  assert.deepEqual(res[3], { exitCode: 0, stdout: "a b'$(id)\n", stderr: '' });
  assert.equal(existsSync(path.join(fx.dir, 'pwned')), false, 'no argument was run as a command');
  // One remote command line for the four (after the connection's first, which also tells HOME).
  assert.equal(logs.slice(n0).filter((l) => /commands in one/.test(l)).length, 1, logs.slice(n0).join('\n'));
  assert.equal(await t.home(), `/home/${fx.users.bare}`);
});

test('one authenticated connection is shared (ControlMaster) and closed by close()', { skip }, async () => {
  const t = transport();
  await t.run(['true']);
  const master = await t.masterPid();
  assert.ok(master && alive(master), 'a master connection runs');
  const before = fx.sshdLog().match(/Accepted publickey/g)?.length ?? 0;
  assert.ok(before >= 1, 'sshd logs each authentication');
  for (let i = 0; i < 5; i++) await t.run(['true']);
  await t.putFile('~/nslat-mux-probe', 'x');
  const afterCount = fx.sshdLog().match(/Accepted publickey/g)?.length ?? 0;
  assert.equal(afterCount, before, 'no new authentication for later commands');
  await t.close();
  assert.ok(await waitFor(() => !alive(master), 5000), 'close() ends the master');
  await assert.rejects(t.run(['true']), /closed/);
});

test('putDir/putFile: hostile file names and a hostile target path round-trip; the target is replaced', { skip }, async () => {
  const t = transport();
  const src = await mkdtemp(path.join(os.tmpdir(), 'nslat-put-'));
  try {
    const names = ["it's", 'sp ace', '$(touch pwned)', 'semi;colon', 'new\nline', 'ü✓', '-rf', '--', '*'];
    await mkdir(path.join(src, 'sub dir', "q'uote"), { recursive: true });
    for (const n of names) await writeFile(path.join(src, 'sub dir', n), `content of ${n}\n`);
    await writeFile(path.join(src, 'sub dir', "q'uote", 'bin'), Buffer.from([0, 1, 2, 254, 255]));
    const remote = "~/work dir/it's $(x)";
    await t.putFile(`${remote}/stale-file`, 'old');
    await t.putDir(src, remote);
    const home = `/home/${fx.users.nopw}`;
    const dest = path.join(home, "work dir/it's $(x)");
    assert.deepEqual((await readdir(dest)).sort(), ['sub dir'], 'the old tree is replaced');
    assert.deepEqual((await readdir(path.join(dest, 'sub dir'))).sort(), [...names, "q'uote"].sort());
    for (const n of names) assert.equal(await readFile(path.join(dest, 'sub dir', n), 'utf8'), `content of ${n}\n`);
    assert.deepEqual([...(await readFile(path.join(dest, 'sub dir', "q'uote", 'bin')))], [0, 1, 2, 254, 255]);
    const st = await stat(path.join(dest, 'sub dir', "it's"));
    assert.equal(st.uid, Number((await t.run(['id', '-u'])).stdout.trim()), 'files belong to the SSH user');
    assert.equal(existsSync(path.join(home, 'pwned')), false);

    const content = Buffer.from('binary\0with "quotes" and $(x)\n');
    await t.putFile("~/deep/er/f 'name'", content);
    assert.deepEqual(await readFile(path.join(home, "deep/er/f 'name'")), content);
    // getFile is byte for byte: every byte value, and the kernel's BTF (binary, several MiB).
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await t.putFile('~/bytes', all);
    assert.deepEqual(await t.getFile('~/bytes'), all);
    if (existsSync('/sys/kernel/btf/vmlinux')) assert.deepEqual(await t.getFile('/sys/kernel/btf/vmlinux'), await readFile('/sys/kernel/btf/vmlinux'));
    await assert.rejects(t.getFile('~/no such file'), /reading .*no such file on .* failed/);
    await t.putFile('/tmp/../tmp/nslat-ssh-abs-file', 'abs');
    assert.equal(await readFile('/tmp/nslat-ssh-abs-file', 'utf8'), 'abs');
    await rm('/tmp/nslat-ssh-abs-file', { force: true });

    for (const bad of ['~', '/', '/home', 'relative/dir', '~/../x']) {
      await assert.rejects(t.putDir(src, bad), TransportError, `refuses ${bad}`);
    }
  } finally {
    await rm(src, { recursive: true, force: true });
  }
});

test('destinations and options that could inject ssh options or shell are refused before ssh runs', { skip }, async () => {
  const marker = path.join(fx.dir, 'injected');
  const bad = [
    `-oProxyCommand=touch ${marker}`,
    `-oProxyCommand=touch${'\t'}${marker}`,
    `nslat-test;touch ${marker}`,
    `nslat-test$(touch ${marker})`,
    `nslat-test\`touch ${marker}\``,
    `nslat-test\ntouch ${marker}`,
    'nslat-test -oProxyCommand=x',
    `${fx.users.nopw}@-oProxyCommand=x`,
    'ssh://nslat-test/-oProxyCommand=x',
  ];
  for (const host of bad) {
    assert.throws(
      () => createTransport({ host, sshConfig: fx.sshConfig }),
      (e: unknown) => e instanceof TransportError && e.code === 'bad_destination' && e.message.includes(JSON.stringify(host)),
      `refuses ${JSON.stringify(host)}`,
    );
  }
  assert.throws(() => createTransport({ host: 'nslat-test', sshConfig: `${fx.sshConfig}\n-oProxyCommand=x` }), TransportError);
  assert.equal(existsSync(marker), false);

  // The accepted forms really connect: ssh://user@host:port (mapped to -p) with the same keys.
  const t = createTransport({ host: `ssh://${fx.users.nopw}@127.0.0.1:${fx.port}`, sshConfig: fx.sshConfig }) as SshTransport;
  open.push(t);
  assert.ok(t.sshOptions().join(' ').includes(`-p ${fx.port}`));
  // The config's IdentityFile is only for the nslat-test aliases; give this one through a second config.
  const cfg2 = path.join(fx.dir, 'ssh_config_ip');
  await writeFile(
    cfg2,
    `Host 127.0.0.1\n  IdentityFile ${path.join(fx.dir, 'client_ed25519')}\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile ${path.join(fx.dir, 'known_hosts')}\n  StrictHostKeyChecking accept-new\n`,
    { mode: 0o600 },
  );
  const t2 = createTransport({ host: `ssh://${fx.users.nopw}@127.0.0.1:${fx.port}`, sshConfig: cfg2 }) as SshTransport;
  open.push(t2);
  assert.equal((await t2.run(['id', '-un'])).stdout.trim(), fx.users.nopw);
  const t3 = createTransport({ host: `${fx.users.nopw}@127.0.0.1:${fx.port}`, sshConfig: cfg2 }) as SshTransport;
  open.push(t3);
  assert.equal((await t3.run(['id', '-un'])).stdout.trim(), fx.users.nopw);
});

test('connection failures are one clear sentence', { skip }, async () => {
  const t = createTransport({ host: `ssh://nobody-here@127.0.0.1:1`, sshConfig: fx.sshConfig });
  open.push(t as SshTransport);
  await assert.rejects(
    t.run(['true']),
    (e: unknown) => e instanceof TransportError && e.code === 'connect_failed' && /could not connect to .*Connection refused.*sshd runs/s.test(e.message),
  );
  // A user without a key: BatchMode makes ssh fail instead of prompting.
  const cfg = path.join(fx.dir, 'ssh_config_nokey');
  await writeFile(cfg, `Host nokey\n  HostName 127.0.0.1\n  Port ${fx.port}\n  User ${fx.users.nopw}\n  IdentityFile /dev/null\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile ${path.join(fx.dir, 'known_hosts')}\n  StrictHostKeyChecking accept-new\n`, { mode: 0o600 });
  const n = createTransport({ host: 'nokey', sshConfig: cfg });
  open.push(n as SshTransport);
  const t0 = Date.now();
  await assert.rejects(n.run(['true']), /Permission denied.*BatchMode=yes/s);
  assert.ok(Date.now() - t0 < 15_000);
});

test('missing tools on the target name what to install', { skip }, async () => {
  const t = transport('bare');
  await assert.rejects(
    t.run(['nslat-no-such-tool']),
    (e: unknown) => e instanceof TransportError && e.code === 'missing_tool' && e.tool === 'nslat-no-such-tool' && e.message.includes(fx.hosts.bare),
  );
  const src = await mkdtemp(path.join(os.tmpdir(), 'nslat-bare-'));
  try {
    await writeFile(path.join(src, 'f'), 'x');
    await assert.rejects(
      t.putDir(src, '~/w/bpf'),
      (e: unknown) => e instanceof TransportError && e.code === 'missing_tool' && e.tool === 'tar' && /`tar` is not installed on nslat-test-bare; install it \(Debian\/Ubuntu: sudo apt-get install tar/.test(e.message),
    );
  } finally {
    await rm(src, { recursive: true, force: true });
  }
  await assert.rejects(
    t.spawnPrivileged(['id']),
    (e: unknown) => e instanceof TransportError && e.code === 'missing_tool' && e.tool === 'sudo' && /apt-get install sudo/.test(e.message),
  );
});

test('spawnPrivileged with sudo NOPASSWD: runs as root, lines both ways, hostile argv intact', { skip }, async () => {
  const t = transport();
  const p = await t.spawnPrivileged(['sh', '-c', 'id -u; printf "%s\\n" "$@"; exec cat', 'sh', "a b'c", '$(x)']);
  const lines: string[] = [];
  p.onLine((l) => lines.push(l));
  p.write('{"cmd":"quit","id":"1"}');
  p.end();
  const info = await p.exited;
  assert.deepEqual(lines, ['0', "a b'c", '$(x)', '{"cmd":"quit","id":"1"}']);
  assert.equal(info.code, 0);
  assert.match(info.why, /exited normally/);
  await assert.rejects(t.spawnPrivileged(['true'], { mode: 'root' }), (e: unknown) => e instanceof TransportError && e.code === 'not_root');
  const n = await t.spawnPrivileged(['id', '-u'], { mode: 'sudo-n' });
  assert.equal(await firstLine(n), '0');
});

test('spawnPrivileged with a sudo password: askPass right, wrong, cancelled, missing; the password never shows', { skip }, async () => {
  const t = transport('pw');
  const seen: string[] = [];
  const prompts: string[] = [];
  const p = await t.spawnPrivileged(['sh', '-c', 'id -u; exec cat'], {
    askPass: async (q) => {
      prompts.push(q);
      return fx.password;
    },
  });
  p.onStderr((s) => seen.push(s));
  assert.equal(await firstLine(p), '0');
  assert.deepEqual(prompts, [`[sudo] password for ${fx.users.pw} on ${fx.hosts.pw}:`]);
  const echoed: string[] = [];
  p.onLine((l) => echoed.push(l));
  p.write('after-auth');
  p.end();
  const info = await p.exited;
  assert.deepEqual(echoed.slice(-1), ['after-auth'], 'stdin belongs to the command after sudo');
  assert.ok(!echoed.some((l) => l.includes(fx.password)), 'the password never reaches the command');
  seen.push(info.why);

  const wrong = `${fx.password}-WRONG`;
  const t0 = Date.now();
  const err = await t.spawnPrivileged(['id', '-u'], { askPass: async () => wrong }).then(
    () => assert.fail('a wrong password must fail'),
    (e: unknown) => e as TransportError,
  );
  assert.equal(err.code, 'sudo_wrong_password');
  assert.match(err.message, new RegExp(`sudo on ${fx.hosts.pw} rejected the password for ${fx.users.pw}`));
  assert.ok(Date.now() - t0 < 15_000);
  seen.push(err.message);

  await assert.rejects(
    t.spawnPrivileged(['id', '-u'], { askPass: async () => undefined }),
    (e: unknown) => e instanceof TransportError && e.code === 'sudo_cancelled' && (seen.push(e.message), true),
  );
  await assert.rejects(
    t.spawnPrivileged(['id', '-u']),
    (e: unknown) => e instanceof TransportError && e.code === 'sudo_password_required' && /needs a password/.test(e.message) && (seen.push(e.message), true),
  );
  await assert.rejects(t.spawnPrivileged(['id', '-u'], { mode: 'sudo-n', askPass: async () => fx.password }), /needs a password/);

  const all = [...seen, ...logs].join('\n');
  for (const secret of [fx.password, wrong]) assert.ok(!all.includes(secret), 'the password is in no log, message or stderr');
  const sudoPart = fx.password.slice(3, 19);
  assert.ok(!all.includes(sudoPart));
});

test('killing the local ssh process: exit reported at once, the remote root process is gone', { skip }, async (tc) => {
  const t = transport();
  const p = await t.spawnPrivileged(['sh', '-c', 'echo $$; exec cat']);
  const remotePid = Number(await firstLine(p));
  assert.ok(alive(remotePid));
  assert.equal(await uidOf(remotePid), 0, 'the remote process runs as root');
  const t0 = Date.now();
  const exit = new Promise<{ why: string; ms: number }>((r) => p.onExit((i) => r({ why: i.why, ms: Date.now() - t0 })));
  process.kill(p.pid!, 'SIGKILL');
  const { why, ms } = await exit;
  tc.diagnostic(`exit reported ${ms} ms after SIGKILL of the local ssh`);
  assert.ok(ms < 1000, `exit noticed after ${ms} ms`);
  assert.match(why, /the local ssh process carrying sh to nslat-test was killed by SIGKILL/);
  const t1 = Date.now();
  assert.ok(await waitFor(() => !alive(remotePid), 5000), 'the remote process lost its stdin and exited');
  tc.diagnostic(`remote root process gone ${Date.now() - t1} ms after the exit report`);
});

test('the connection dropping (master killed): exit 255 reported at once, remote process gone', { skip }, async (tc) => {
  const t = transport();
  const p = await t.spawnPrivileged(['sh', '-c', 'echo $$; exec cat']);
  const remotePid = Number(await firstLine(p));
  const master = await t.masterPid();
  assert.ok(master);
  const t0 = Date.now();
  const exit = new Promise<{ code: number | null; why: string; ms: number }>((r) => p.onExit((i) => r({ code: i.code, why: i.why, ms: Date.now() - t0 })));
  process.kill(master!, 'SIGKILL');
  const { code, why, ms } = await exit;
  tc.diagnostic(`exit reported ${ms} ms after SIGKILL of the connection master`);
  assert.ok(ms < 2000, `exit noticed after ${ms} ms`);
  assert.equal(code, 255);
  assert.match(why, /^the SSH connection to nslat-test dropped \(ssh exit 255\)/);
  assert.ok(await waitFor(() => !alive(remotePid), 15_000), 'sshd closed the session and the remote process exited');
  // The transport reconnects for the next command.
  assert.equal((await t.run(['id', '-un'])).stdout.trim(), fx.users.nopw);
});

test('parallel commands beyond sshd\'s MaxSessions all succeed over the shared connection', { skip }, async () => {
  const t = transport();
  // 11 long-lived sessions > MaxSessions 10, plus parallel commands: the overflow takes separate connections.
  const holders = await Promise.all(Array.from({ length: 11 }, () => t.spawn(['cat'])));
  const results = await Promise.all(Array.from({ length: 24 }, (_, i) => t.run(['echo', String(i)])));
  assert.deepEqual(results.map((r) => r.stdout.trim()), Array.from({ length: 24 }, (_, i) => String(i)));
  const exits = await Promise.all(holders.map((h) => (h.end(), h.exited)));
  assert.ok(exits.every((e) => e.code === 0), exits.map((e) => e.why).join('; '));
});

test('sshAskPass answers ssh\'s own password prompt; the connection is then reused without asking again', { skip }, async () => {
  const cfg = path.join(fx.dir, 'ssh_config_password');
  await writeFile(
    cfg,
    `Host pwlogin\n  HostName 127.0.0.1\n  Port ${fx.port}\n  User ${fx.users.pw}\n  PubkeyAuthentication no\n  PreferredAuthentications password\n  IdentityAgent none\n  UserKnownHostsFile ${path.join(fx.dir, 'known_hosts')}\n  StrictHostKeyChecking accept-new\n`,
    { mode: 0o600 },
  );
  const prompts: string[] = [];
  const t = createTransport({
    host: 'pwlogin',
    sshConfig: cfg,
    sshAskPass: async (q) => (prompts.push(q), fx.password),
    log: (l) => logs.push(l),
  }) as SshTransport;
  open.push(t);
  assert.equal((await t.run(['id', '-un'])).stdout.trim(), fx.users.pw);
  await t.run(['true']);
  assert.equal(prompts.length, 1);
  assert.match(prompts[0]!, /password/i);
  const no = createTransport({ host: 'pwlogin', sshConfig: cfg, sshAskPass: async () => undefined }) as SshTransport;
  open.push(no);
  await assert.rejects(no.run(['true']), (e: unknown) => e instanceof TransportError && e.code === 'connect_failed');
  assert.ok(!logs.join('\n').includes(fx.password));
});

/**
 * The host list from an SSH config (src/core/sshConfig.ts): Host aliases (not patterns), their
 * HostName/User/Port, Include with relative paths and globs, Match blocks, quoting, key=value,
 * each alias once, and nothing from a missing file.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isConcreteHost, parseSshConfig, sshConfigHosts } from '../../src/core/sshConfig.ts';

test('Host aliases with their HostName, User and Port; patterns, negations and Match blocks are not hosts', () => {
  const text = `# lab machines
Host lab1 lab2
    HostName 10.0.0.1
    User root
    Port 2222
Host *.example.org !bad.example.org gw?
    User nobody
Host "quoted-box"
  HostName=quoted.example.org
Match host lab3
  User shadow
Host=eq-host
  port = 22
Host lab1
  User later
`;
  const hosts = parseSshConfig(text, '/cfg');
  assert.deepEqual(hosts, [
    { alias: 'lab1', hostName: '10.0.0.1', user: 'root', port: 2222, file: '/cfg' },
    { alias: 'lab2', hostName: '10.0.0.1', user: 'root', port: 2222, file: '/cfg' },
    { alias: 'quoted-box', hostName: 'quoted.example.org', file: '/cfg' },
    { alias: 'eq-host', port: 22, file: '/cfg' },
    { alias: 'lab1', user: 'later', file: '/cfg' },
  ]);
  for (const p of ['*', 'gw?', '!x', '*.org', '']) assert.equal(isConcreteHost(p), false, p);
});

test('sshConfigHosts follows Include (relative to ~/.ssh or absolute, globs), names each alias once, and a missing file gives none', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nslat-sshcfg-'));
  try {
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'conf.d', 'b.conf'), 'Host from-b\n  HostName b.example\n');
    writeFileSync(join(dir, 'conf.d', 'a.conf'), 'Host from-a\nHost main\n  User other\n');
    writeFileSync(join(dir, 'conf.d', 'skip.txt'), 'Host not-included\n');
    writeFileSync(join(dir, 'loop'), `Include ${join(dir, 'loop')}\nHost looped\n`);
    writeFileSync(join(dir, 'config'), `Host main\n  User me\nInclude ${join(dir, 'conf.d')}/*.conf\nInclude ${join(dir, 'loop')}\nInclude ${join(dir, 'absent')}\nHost last\n`);
    const hosts = sshConfigHosts(join(dir, 'config'));
    assert.deepEqual(hosts.map((h) => h.alias), ['main', 'from-a', 'from-b', 'looped', 'last']);
    assert.equal(hosts[0]!.user, 'me', 'the first block naming an alias wins');
    assert.equal(hosts[2]!.file, join(dir, 'conf.d', 'b.conf'));
    assert.deepEqual(sshConfigHosts(join(dir, 'nope')), []);
    assert.deepEqual(sshConfigHosts(dir), [], 'a directory is no config');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

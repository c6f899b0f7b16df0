/**
 * packaging/systemd passes `systemd-analyze verify` without a word (an unknown or misspelt option
 * is only a warning there, so any output fails the test), with ExecStart pointed at this checkout's
 * nslat and helper (verify checks that they are executable). Skipped where systemd is absent.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { execa } from 'execa';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const UNITS = join(REPO, 'packaging', 'systemd');
const have = (await execa('sh', ['-c', 'command -v systemd-analyze'], { reject: false })).exitCode === 0;
const helper = join(REPO, 'bpf', 'build', 'ship', 'x86_64', 'nslat-helper');

test('the systemd units verify cleanly', { skip: have ? false : 'systemd-analyze (package systemd) is missing' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nslat-units-'));
  try {
    const units = readdirSync(UNITS).filter((f) => /\.(service|socket)$/.test(f));
    assert.deepEqual(units.sort(), ['nslat-helper.socket', 'nslat-helper@.service', 'nslat-serve.service']);
    for (const u of units) {
      const text = readFileSync(join(UNITS, u), 'utf8')
        .replace('/usr/lib/nslat/bpf/build/ship/x86_64/nslat-helper', helper)
        .replace('/usr/bin/nslat', join(REPO, 'bin', 'nslat'));
      writeFileSync(join(dir, u), text);
    }
    copyFileSync(join(UNITS, 'nslat.sysusers.conf'), join(dir, 'nslat.sysusers.conf'));
    const r = await execa('systemd-analyze', ['verify', 'nslat-helper.socket', 'nslat-helper@1.service', 'nslat-serve.service'], { cwd: dir, reject: false, all: true });
    assert.equal(r.exitCode, 0, r.all);
    assert.equal((r.all ?? '').trim(), '', `systemd-analyze verify says nothing: ${r.all}`);

    // The checks bite: a misspelt value is reported.
    writeFileSync(join(dir, 'nslat-serve.service'), readFileSync(join(dir, 'nslat-serve.service'), 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=stricter'));
    const bad = await execa('systemd-analyze', ['verify', 'nslat-serve.service'], { cwd: dir, reject: false, all: true });
    assert.match(bad.all ?? '', /ProtectSystem|protect system/i);

    // What the unprivileged side gives up: no capability, no new privileges, a read-only system.
    const serve = readFileSync(join(UNITS, 'nslat-serve.service'), 'utf8');
    for (const line of ['User=nslat', 'CapabilityBoundingSet=\n', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', '--helper-socket /run/nslat/helper.sock']) assert.ok(serve.includes(line), `nslat-serve.service has ${line.trim()}`);
    const sock = readFileSync(join(UNITS, 'nslat-helper.socket'), 'utf8');
    for (const line of ['Accept=yes', 'SocketGroup=nslat', 'SocketMode=0660', 'ListenStream=/run/nslat/helper.sock']) assert.ok(sock.includes(line), `nslat-helper.socket has ${line}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

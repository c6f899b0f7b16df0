import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

// Drives readPassword on a real pseudo-terminal (python3's pty module): the password must not be
// echoed, backspace edits it, Ctrl-C cancels.
const script = new URL('./fixtures/read-password.mts', import.meta.url).pathname;
const PY = `
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], [sys.argv[1], '--import', 'tsx', sys.argv[2]])
out = b''
def rd(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return
        if b'got ' in out and out.endswith(b'\\n'):
            return
while b'password' not in out:
    rd(0.2)
os.write(fd, sys.argv[3].encode('latin1'))
rd(10)
sys.stdout.write(out.decode('utf8', 'replace'))
`;

function run(keys: string): string {
  const r = spawnSync('python3', ['-c', PY, process.execPath, script, keys], { encoding: 'utf8', timeout: 30_000, cwd: new URL('../..', import.meta.url).pathname });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('the sudo password prompt reads with echo off, handles backspace, and Ctrl-C cancels', () => {
  const ok = run('hunx\x7fter2\r');
  assert.match(ok, /\[sudo\] password for test: /);
  assert.match(ok, /got "hunter2"/);
  assert.doesNotMatch(ok.replace(/got "hunter2"/, ''), /hunter/);
  assert.match(run('abc\x03'), /got undefined/);
});

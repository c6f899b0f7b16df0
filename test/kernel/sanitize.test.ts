/**
 * The helper under AddressSanitizer + UndefinedBehaviorSanitizer (make -C bpf asan) and under
 * valgrind's memcheck (make -C bpf dynamic), each through the commands a session sends: load rx, tx
 * and irq, real loopback traffic, a reload, `set` (answered with its id), snapshots, an unload and
 * quit. Any sanitizer report, memcheck error or definite/indirect leak fails the test; so does a
 * helper that did not count the traffic (a run that measured nothing proves nothing).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { execa } from 'execa';
import { BPF_DIR, BUILD_DIR, Helper, Totals, kernelSkipReason, leakedProgIds } from './lib/helper.ts';
import { runFlow } from './lib/traffic.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const ASAN_BIN = join(BPF_DIR, 'build', 'asan', 'nslat-helper');
const DYN_BIN = join(BPF_DIR, 'build', 'dyn', 'nslat-helper');
const objects = ['rx', 'tx', 'irq'].map((o) => join(BUILD_DIR, `${o}.bpf.o`));

/** Builds the checked helpers; a reason to skip when the toolchain cannot. */
async function buildChecked(): Promise<string | undefined> {
  const r = await execa('make', ['-s', '-C', BPF_DIR, 'asan', 'dynamic'], { reject: false, all: true, timeout: 300_000 });
  if (r.exitCode !== 0) return `make -C bpf asan dynamic failed:\n${(r.all ?? '').split('\n').slice(-15).join('\n')}`;
  return undefined;
}

const buildFailure = skip ? undefined : await buildChecked();

/** Sanitizer reports in the helper's stderr. */
function sanitizerReports(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)Sanitizer/.test(l));
}

/** Loopback UDP and TCP traffic, bounded in count and time. */
async function traffic(count: number): Promise<void> {
  await runFlow({ proto: 'udp', family: 4, count, size: 200, durationS: 5, timeoutS: 15 });
  await runFlow({ proto: 'tcp', family: 4, count, size: 200, durationS: 5, timeoutS: 15 });
}

/** The session's command sequence; returns the packets the rx slot counted. */
async function script(h: Helper, packets: number, reloads: number): Promise<number> {
  const from = h.mark();
  await h.loadOk('rx', 'rx', { data: { sample_every: 10 } });
  await h.loadOk('tx', 'tx');
  await h.loadOk('irq', 'irq');
  await traffic(packets);
  for (let i = 0; i < reloads; i++) {
    await h.loadOk('rx', 'rx');
    await traffic(Math.ceil(packets / 2));
  }
  const set = await h.set({ data: { sample_every: 1 } });
  assert.equal(set.type, 'log', `set is answered with a log: ${JSON.stringify(set)}`);
  assert.match(set.message, /set sample_every on .*rx/);
  const bad = await h.set({ data: { no_such_variable: 1 } });
  assert.equal(bad.type, 'error');
  await traffic(Math.ceil(packets / 2));
  await h.snapshot();
  const u = await h.unload('tx');
  assert.equal(u.type, 'unloaded');
  await h.snapshot();
  const u2 = await h.unload('irq');
  assert.equal(u2.type, 'unloaded');
  await h.snapshot();
  const t = Totals.of(h.snapshotsSince(from));
  return t.counters.get('rx.started') ?? 0;
}

describe('helper under sanitizers and valgrind', { skip: skip ?? buildFailure, timeout: 420_000 }, () => {
  const helpers: Helper[] = [];
  after(async () => {
    await Promise.all(helpers.map((h) => h.dispose()));
  });

  test('ASan + UBSan: load, traffic, reload, set, snapshot, unload, quit report nothing', async () => {
    const h = await Helper.start({
      bin: ASAN_BIN,
      objects,
      env: {
        ASAN_OPTIONS: 'detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86',
        UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=87',
      },
      helloTimeoutMs: 60_000,
    });
    helpers.push(h);
    const started = await script(h, 2000, 3);
    assert.ok(started > 1000, `rx counted the traffic under ASan (started ${started})`);
    await h.quit(60_000);
    const ids = h.progIds();
    assert.deepEqual(await leakedProgIds(ids), [], 'no program outlives the helper');
    const reports = sanitizerReports(h.stderr);
    assert.deepEqual(reports, [], `sanitizer reports:\n${h.stderr.slice(-6000)}`);
    assert.equal(h.exit?.code, 0, `the ASan helper exits 0 (stderr tail: ${h.stderr.slice(-3000)})`);
    assert.equal(h.bye()?.reason, 'quit');
    h.assertProtocolClean();
  });

  test('valgrind memcheck: a short load, reload, set, unload, quit has no errors and no leaks', async (t) => {
    const vg = await execa('valgrind', ['--version'], { reject: false });
    if (vg.exitCode !== 0) return t.skip('valgrind is not installed (scripts/apt-packages.txt)');
    assert.ok(existsSync(DYN_BIN));
    const log = join(tmpdir(), `nslat-valgrind-${process.pid}.log`);
    const h = await Helper.start({
      bin: DYN_BIN,
      objects,
      prefix: [
        'valgrind',
        '--tool=memcheck',
        '--leak-check=full',
        '--show-leak-kinds=definite,indirect',
        '--errors-for-leak-kinds=definite,indirect',
        '--error-exitcode=99',
        '--track-fds=no',
        `--suppressions=${join(BPF_DIR, 'helper', 'valgrind.supp')}`,
        `--log-file=${log}`,
      ],
      helloTimeoutMs: 120_000,
    });
    helpers.push(h);
    try {
      const from = h.mark();
      await h.loadOk('rx', 'rx', { timeoutMs: 180_000 });
      await runFlow({ proto: 'udp', family: 4, count: 300, size: 200, durationS: 5, timeoutS: 20 });
      await h.loadOk('rx', 'rx', { timeoutMs: 180_000 });
      await runFlow({ proto: 'udp', family: 4, count: 300, size: 200, durationS: 5, timeoutS: 20 });
      const set = await h.set({ data: { sample_every: 1 } }, 60_000);
      assert.equal(set.type, 'log');
      await h.snapshot(60_000);
      assert.equal((await h.unload('rx', 60_000)).type, 'unloaded');
      await h.snapshot(60_000);
      const started = Totals.of(h.snapshotsSince(from)).counters.get('rx.started') ?? 0;
      assert.ok(started > 100, `rx counted the traffic under valgrind (started ${started})`);
      await h.quit(120_000);
      // valgrind's own notes on bpf commands it does not model are not findings
      const text = readFileSync(log, 'utf8').split('\n').filter((l) => !/WARNING: unhandled eBPF command/.test(l)).join('\n');
      const summary = text.split('\n').filter((l) => /ERROR SUMMARY|definitely lost|indirectly lost/.test(l)).join('\n');
      assert.match(text, /ERROR SUMMARY: 0 errors/, `memcheck found errors:\n${summary}\n${text.slice(0, 8000)}`);
      assert.equal(h.exit?.code, 0, `valgrind's exit code (99: errors or leaks)\n${summary}`);
      h.assertProtocolClean();
    } finally {
      rmSync(log, { force: true });
    }
  });
});

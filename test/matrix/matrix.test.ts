/**
 * The kernel matrix: the same scenario (test/matrix/guest/scenario.sh) on Debian's stock kernels,
 * each booted under qemu with a minimal initramfs (6.1, 6.12, 6.12 PREEMPT_RT: kprobes, fentry,
 * netfilter links, threaded IRQs, a real NIC driver with hard IRQs, NAPI and GRO), and natively on
 * this machine's kernel. The helper loads rx, tx and irq; loopback and NIC-path TCP/UDP flows (IPv4,
 * IPv6) and one known qdisc delay run between snapshot pairs; every alternative of every object
 * then goes through the kernel's verifier (`verify`, nothing attached); then the helper quits, and a second
 * one is SIGKILLed, and no program may outlive either.
 *
 * Per kernel, one test per concern (run and protocol, load, attach report, traffic coverage,
 * consistency, known delay, IRQ, leaks), each listing every problem it found. When every kernel ran,
 * docs/kernels.md is regenerated from the results.
 *
 * Kernels come from scripts/kernels.sh (.cache/kernels/manifest.json); NSLAT_MATRIX_KERNELS selects
 * some ("6.1,host"); NSLAT_KERNEL_BUILD points at another bpf build; NSLAT_MATRIX_VERBOSE=1 also
 * prints every window's stage table. Logs of each run land in test-results/matrix/<kernel>/.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { BUILD_DIR, HELPER_BIN, OBJECTS, REPO, kernelSkipReason } from '../kernel/lib/helper.ts';
import { GROUPS, analyse, reportOf, type Analysis, type Group, type KernelFacts } from './lib/checks.ts';
import { allKernels, guestSkipReason, matrixSkipReason, selectedLabels, type Kernel } from './lib/kernels.ts';
import { kernelsMarkdown } from './lib/report.ts';
import { runGuest, runHost, type RunResult } from './lib/run.ts';

/** Bounds of one kernel's run (qemu is SIGKILLed after it; the scenario inside has 30 s less). */
const GUEST_TIMEOUT_MS = 150_000;
const HOST_TIMEOUT_MS = 90_000;
const PORT = 40_000 + (process.pid % 20_000);

const skip = (await matrixSkipReason()) ?? (await kernelSkipReason());
if (skip) console.log(`# kernel matrix skipped: ${skip}`);
const guestSkip = skip ? undefined : await guestSkipReason();
if (guestSkip) console.log(`# kernel matrix: guests skipped: ${guestSkip}`);

const all = allKernels();
const labels = selectedLabels(all);
const unknown = labels.filter((l) => !all.some((k) => k.label === l));
const kernels = all.filter((k) => labels.includes(k.label));

/** One copy of the build for the whole matrix, so every kernel runs the same helper and objects
 *  even if bpf/build is rebuilt meanwhile. */
let build: { dir: string; helper: string; objects: string[] } | undefined;
function snapshotBuild(): { dir: string; helper: string; objects: string[] } {
  if (build) return build;
  const dir = mkdtempSync(join(tmpdir(), 'nslat-matrix-build-'));
  copyFileSync(HELPER_BIN, join(dir, 'nslat-helper'));
  const objects = OBJECTS.map((o) => {
    copyFileSync(join(BUILD_DIR, `${o}.bpf.o`), join(dir, `${o}.bpf.o`));
    return join(dir, `${o}.bpf.o`);
  });
  build = { dir, helper: join(dir, 'nslat-helper'), objects };
  return build;
}

async function hostFacts(): Promise<KernelFacts> {
  const v = await execa('uname', ['-v'], { reject: false });
  return { label: 'host', kind: 'host', preemptRt: /PREEMPT_RT/.test(v.stdout) };
}

function factsOf(k: Kernel): KernelFacts | Promise<KernelFacts> {
  if (k.kind === 'host') return hostFacts();
  return { label: k.label, kind: 'guest', preemptRt: k.preemptRt, package: k.package, version: k.version };
}

const GROUP_TITLES: Record<Group, string> = {
  run: 'the run finished within its bound and every helper line matches the protocol',
  load: 'rx, tx and irq load (both helpers)',
  attach: 'every boundary says what fed it or why nothing did',
  verify: 'every alternative of rx, tx and irq passes this kernel\'s verifier (kprobe variants everywhere)',
  traffic: 'every active boundary carries packets where it applies; the flows moved their data',
  consistency: 'per scenario, the stage means (or medians, where populations mix) add up to the end-to-end one',
  delay: 'the known qdisc delay lands in the qdisc stage and in no earlier one',
  irq: 'IRQ, softirq and NAPI histograms fill (virtio input lines in guests); 1 in N timed when sampled',
  stamps: 'kernel receive stamps are taken where netif_rx has them, close to the clock, never from TCP departure times',
  host: 'host counters in every snapshot: the NIC\'s statistics and driver counters move with its traffic; virtio IRQ lines with their queue and affinity (guests)',
  leaks: 'no program outlives the helper (quit, SIGKILL)',
};

describe('kernel matrix', { skip, timeout: kernels.length * (GUEST_TIMEOUT_MS + 30_000) + 60_000 }, () => {
  const done = new Map<string, Analysis>();
  const startAll = Date.now();

  after(() => {
    if (build) rmSync(build.dir, { recursive: true, force: true });
    const lines = [...done.values()].map((a) => `  ${a.facts.label.padEnd(8)} ${(a.run.wallMs / 1000).toFixed(1).padStart(6)} s  ${GROUPS.filter((g) => a.groups[g].list.length).map((g) => `${g}✗`).join(' ') || 'all checks pass'}`);
    console.log(`# kernel matrix: ${done.size} kernel(s) in ${((Date.now() - startAll) / 1000).toFixed(1)} s\n${lines.join('\n')}`);
    // Regenerated only from a run of the whole matrix, guests and host.
    const everything = all.every((k) => done.has(k.label)) && all.some((k) => k.kind === 'guest');
    if (everything) {
      writeFileSync(join(REPO, 'docs', 'kernels.md'), kernelsMarkdown(all.map((k) => done.get(k.label)!)));
      console.log('# kernel matrix: wrote docs/kernels.md');
    } else {
      console.log(`# kernel matrix: docs/kernels.md not written (ran ${[...done.keys()].join(', ') || 'nothing'} of ${all.map((k) => k.label).join(', ')})`);
    }
  });

  test('NSLAT_MATRIX_KERNELS names known kernels', () => {
    assert.deepEqual(unknown, [], `unknown kernel label(s) ${unknown.join(', ')}; known: ${all.map((k) => k.label).join(', ')}`);
  });

  for (const k of kernels) {
    const title = k.kind === 'guest' ? `${k.label} (${k.release}, qemu)` : 'host (native)';
    describe(title, { skip: k.kind === 'guest' ? guestSkip : undefined }, () => {
      let a: Analysis | undefined;
      let failure: unknown;

      before(async () => {
        try {
          const b = snapshotBuild();
          let run: RunResult;
          if (k.kind === 'guest') {
            run = await runGuest({ kernel: k, helper: b.helper, objects: b.objects, port: PORT, timeoutMs: GUEST_TIMEOUT_MS });
            const argv = run.qemuArgv ?? [];
            // No network backend but the hub: nothing can leave the guest.
            const netdevs = argv.filter((_, i) => argv[i - 1] === '-netdev');
            if (!argv.includes('-nodefaults') || argv[argv.indexOf('-nic') + 1] !== 'none' || netdevs.some((n) => !n.startsWith('hubport,'))) {
              run.problems.push(`qemu arguments allow a network backend other than the hub: ${argv.join(' ')}`);
            }
          } else {
            run = await runHost({ helper: b.helper, objects: b.objects, port: PORT, timeoutMs: HOST_TIMEOUT_MS });
          }
          a = analyse(run, await factsOf(k));
          done.set(k.label, a);
          console.log(`${reportOf(a)}\n# ${k.label}: wall time ${(run.wallMs / 1000).toFixed(1)} s (logs: ${run.logDir})`);
        } catch (e) {
          failure = e;
        }
      }, { timeout: (k.kind === 'guest' ? GUEST_TIMEOUT_MS : HOST_TIMEOUT_MS) + 30_000 });

      for (const g of GROUPS) {
        test(`${k.label}: ${GROUP_TITLES[g]}`, () => {
          if (failure) throw failure;
          assert.ok(a, 'the run produced no analysis');
          const pr = a.groups[g];
          assert.ok(pr.list.length === 0, `${k.label}: ${pr.list.length} problem(s):\n- ${pr.list.join('\n- ')}`);
        });
      }
    });
  }
});

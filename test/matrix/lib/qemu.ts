/**
 * Boots one Debian kernel under qemu (TCG: these machines have no KVM) with the matrix initramfs and
 * collects what the guest wrote: kernel messages on the first serial port (console.txt), the
 * scenario's files on the second (out.txt, between section markers, see guest/init).
 *
 * TCG runs both vCPUs on one host thread (thread=single): with one thread per vCPU, a 6.12-rt
 * guest was seen to oops on an int3 in kernel text the other vCPU was patching (a static key being
 * switched while the helper attached programs), and the guest's timers were less regular. The guest
 * still has two CPUs (per-CPU maps, IRQ affinity), and the host keeps a CPU for the rest.
 *
 * Networking: two virtio-net-pci devices on a qemu hub and nothing else (-nodefaults, -nic none):
 * the hub has no uplink, so no packet can leave the guest. Every run is bounded: qemu is SIGKILLed
 * (by its own pid) when it outlives its timeout, and a process-exit hook kills any qemu still
 * running.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';

export const MAC_SERVER = '52:54:00:4e:53:01';
export const MAC_PEER = '52:54:00:4e:53:02';

export interface QemuRun {
  /** Wall time of the qemu process, ms. */
  wallMs: number;
  timedOut: boolean;
  exitCode: number | undefined;
  signal: string | undefined;
  console: string;
  /** The second serial port's bytes (the scenario's sections). */
  out: string;
  /** qemu's own stderr (warnings, errors). */
  stderr: string;
  argv: string[];
}

const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** The qemu argument list; asserted by the test to hold no network backend but the hub. */
export function qemuArgs(vmlinuz: string, initrd: string, dir: string, cpus: number, memMb: number): string[] {
  return [
    '-accel', 'tcg,thread=single',
    '-cpu', 'max',
    '-smp', String(cpus),
    '-m', String(memMb),
    '-nodefaults',
    '-no-user-config',
    '-nic', 'none',
    '-display', 'none',
    '-monitor', 'none',
    '-no-reboot',
    '-kernel', vmlinuz,
    '-initrd', initrd,
    '-append', 'console=ttyS0 quiet panic=-1 rdinit=/init',
    '-serial', `file:${join(dir, 'console.txt')}`,
    '-chardev', `file,id=nslatout,path=${join(dir, 'out.txt')}`,
    '-device', 'isa-serial,chardev=nslatout',
    '-netdev', 'hubport,id=nslat0,hubid=0',
    '-device', `virtio-net-pci,netdev=nslat0,mac=${MAC_SERVER}`,
    '-netdev', 'hubport,id=nslat1,hubid=0',
    '-device', `virtio-net-pci,netdev=nslat1,mac=${MAC_PEER}`,
  ];
}

/** Runs qemu until the guest powers off or `timeoutMs` passes (then SIGKILL). */
export async function runQemu(opts: { vmlinuz: string; initrd: string; dir: string; timeoutMs: number; cpus?: number; memMb?: number }): Promise<QemuRun> {
  const argv = qemuArgs(opts.vmlinuz, opts.initrd, opts.dir, opts.cpus ?? 2, opts.memMb ?? 1024);
  writeFileSync(join(opts.dir, 'console.txt'), '');
  writeFileSync(join(opts.dir, 'out.txt'), '');
  const start = Date.now();
  const proc: ResultPromise<{ reject: false; stdin: 'ignore'; stdout: 'pipe'; stderr: 'pipe' }> = execa('qemu-system-x86_64', argv, {
    reject: false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const pid = proc.pid;
  if (pid) running.add(pid);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }, opts.timeoutMs);
  let r;
  try {
    r = await proc;
  } finally {
    clearTimeout(timer);
    if (pid) running.delete(pid);
  }
  return {
    wallMs: Date.now() - start,
    timedOut,
    exitCode: r.exitCode,
    signal: r.signal,
    console: readFileSync(join(opts.dir, 'console.txt'), 'utf8'),
    out: readFileSync(join(opts.dir, 'out.txt'), 'utf8'),
    stderr: String(r.stderr ?? '') + String(r.stdout ?? ''),
    argv,
  };
}

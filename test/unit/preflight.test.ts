import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachRows, compilerRows, feedRows, installCommand, parseDfPk, parseOsRelease, runPreflight } from '../../src/core/preflight.ts';
import type { HelloMessage } from '../../src/core/protocol.ts';
import { captured, capturedLoaded } from '../fixtures/captured.ts';
import type { RunOptions, RunResult, Transport } from '../../src/core/transport/types.ts';

test('distribution families from /etc/os-release and their install commands', () => {
  const deb = parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n');
  assert.equal(deb.family, 'debian');
  assert.equal(installCommand(deb, ['clang', 'llvm', 'libbpf']), 'sudo apt-get install -y clang llvm libbpf-dev');
  const ubu = parseOsRelease('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n');
  assert.equal(installCommand(ubu, ['bpftool'], '6.8.0-45-generic'), 'sudo apt-get install -y linux-tools-common linux-tools-6.8.0-45-generic');
  const fed = parseOsRelease('ID=fedora\nVERSION_ID=40\n');
  assert.equal(installCommand(fed, ['libbpf', 'clang']), 'sudo dnf install -y libbpf-devel clang');
  assert.equal(parseOsRelease('ID="rocky"\nID_LIKE="rhel centos fedora"\n').family, 'rhel');
  assert.equal(parseOsRelease('ID=opensuse-tumbleweed\nID_LIKE="opensuse suse"\n').family, 'suse');
  assert.equal(parseOsRelease('ID=arch\n').family, 'arch');
  assert.equal(parseOsRelease('ID=alpine\n').family, 'alpine');
  assert.equal(parseOsRelease('garbage\n\0').family, 'unknown');
  assert.match(installCommand(parseOsRelease(''), ['clang']), /package manager/);
});

/** A target (Ubuntu, 6.8) where sudo wants a password, with a `uname -m` and a `df -Pk` answer. */
function target(o: { uid?: string; sudoErr?: string; machine?: string; availKb?: number; noBtf?: boolean } = {}) {
  const calls: string[][] = [];
  const t: Transport = {
    host: 'box', kind: 'ssh',
    run: async (argv: string[], _o?: RunOptions): Promise<RunResult> => {
      calls.push(argv);
      const [p, ...a] = argv;
      const ok = (stdout: string) => ({ exitCode: 0, stdout, stderr: '' });
      if (p === 'cat' && a[0] === '/etc/os-release') return ok('ID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04"\n');
      if (p === 'cat' && a[0] === '/proc/mounts') return ok('sysfs /sys sysfs rw 0 0\n');
      if (p === 'uname') return ok(`6.8.0-45-generic ${o.machine ?? 'x86_64'}\n`);
      if (p === 'id') return ok(`${o.uid ?? '1000'}\n`);
      if (p === 'test') return o.noBtf ? { exitCode: 1, stdout: '', stderr: '' } : ok('');
      if (p === 'sudo') return { exitCode: 1, stdout: '', stderr: o.sudoErr ?? 'sudo: a password is required' };
      if (p === 'df') return ok(`Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda1 10000000 5000000 ${o.availKb ?? 4000000} 50% /home\n`);
      return { exitCode: 127, stdout: '', stderr: `${p}: not found` };
    },
    putDir: async () => {}, putFile: async () => {}, getFile: async () => Buffer.alloc(0), home: async () => '/home/u', close: async () => {},
    spawn: async () => { throw new Error('no'); }, spawnPrivileged: async () => { throw new Error('no'); },
  };
  return { t, calls };
}

const BUILD_TOOLS = /^(?:.*\/)?(?:make|clang(?:-\d+)?|cc|gcc|bpftool|pkg-config|llvm-strip|llvm-\w+)$/;

test('preflight checks the kernel, its architecture, BTF, tracefs, privilege and free space, and runs no build tool', async () => {
  const { t, calls } = target();
  const r = await runPreflight({ transport: t, askPass: async () => 'x' });
  assert.deepEqual(r.rows.map((x) => x.check), ['kernel', 'architecture', 'BTF', 'tracefs', 'privilege', 'free space']);
  assert.equal(r.ok, true, JSON.stringify(r.rows));
  assert.equal(r.machine, 'x86_64');
  assert.equal(r.privilege, 'sudo-password');
  const row = (c: string) => r.rows.find((x) => x.check === c)!;
  assert.match(row('architecture').detail, /^x86_64: nslat ships its helper and probes for it/);
  assert.match(row('free space').detail, /^3\.8 GiB free on \/home for \/home\/u\/\.cache\/nslat/);
  assert.equal(row('tracefs').ok, true); // informative: nslat mounts it
  assert.equal(r.needsTracefsMount, true);
  assert.ok(!calls.some((c) => BUILD_TOOLS.test(c[0]!)), JSON.stringify(calls));
  assert.deepEqual(calls.find((c) => c[0] === 'df'), ['df', '-Pk', '--', '/home/u']);
});

test('what fails: a foreign architecture, no BTF, no usable sudo, a full disk', async () => {
  const r = await runPreflight({ transport: target({ machine: 'riscv64', noBtf: true, sudoErr: 'sudo: not in sudoers', availKb: 100 }).t });
  assert.equal(r.ok, false);
  const row = (c: string) => r.rows.find((x) => x.check === c)!;
  assert.equal(row('architecture').ok, false);
  assert.match(row('architecture').detail, /^riscv64: nslat ships its helper and probes for (aarch64 and )?x86_64 only/);
  assert.equal(row('BTF').ok, false);
  assert.match(row('BTF').fix!, /CONFIG_DEBUG_INFO_BTF=y/);
  assert.equal(row('privilege').ok, false);
  assert.equal(row('free space').ok, false);
  assert.match(row('free space').detail, /^100 KiB free on \/home/);
  const pw = await runPreflight({ transport: target().t });
  assert.equal(pw.rows.find((x) => x.check === 'privilege')!.ok, false, 'a password is needed and none can be asked for');
  const root = await runPreflight({ transport: target({ uid: '0' }).t });
  assert.equal(root.privilege, 'root');
  assert.equal(root.ok, true);
});

test('compiler rows: where edited probes compile, or the package to install', async () => {
  const none = await compilerRows({ place: async () => ({ where: 'none', message: 'edited probes need clang, and neither this machine nor box has it' }), vmlinux: async () => ({ error: 'x' }) });
  assert.deepEqual(none.map((r) => [r.check, r.ok]), [['clang', false]]);
  assert.match(none[0]!.fix!, /apt-get install -y clang/);
  const there = await compilerRows({
    place: async () => ({ where: 'target', clang: 'clang', version: 'Debian clang version 19' }),
    vmlinux: async () => ({ dir: '/c', identity: { release: '6.8.0', machine: 'x86_64', buildId: 'abcdef0123456789', key: 'k' } }),
  }, 'box');
  assert.deepEqual(there.map((r) => [r.check, r.ok]), [['clang', true], ['vmlinux.h', true]]);
  assert.match(there[0]!.detail, /on box: edited probes compile there/);
  assert.match(there[1]!.detail, /kernel 6\.8\.0 \(build id abcdef012345\)/);
});

test('attach rows from the helper hello', () => {
  const rows = attachRows({ type: 'hello', protocol: 2, helper_version: '1', kernel: 'k', mono_ns: 0, wall_ns: 0, ncpus: 2, btf: true, bpf_stats: false, attach_types: { tracepoint: true, tp_btf: true, fentry: false, kprobe: false }, workdir: '/w', pid: 1 });
  assert.equal(rows[0]!.ok, true);
  assert.match(rows[0]!.detail, /tracepoint, tp_btf work; fentry, kprobe do not/);
});

test('attach rows from a real hello: what works, netfilter, the kernel build; no claim of a fallback', () => {
  const hello = captured('helper-6.18-netfilter').find((m): m is HelloMessage => m.type === 'hello')!;
  const rows = attachRows(hello);
  const row = (c: string) => rows.find((r) => r.check === c);
  assert.equal(row('attach types')!.detail, 'tracepoint, raw_tp, tp_btf, netfilter work; fentry, fexit, kprobe, kretprobe do not');
  for (const r of rows) assert.doesNotMatch(r.detail, /fall back/);
  assert.equal(row('netfilter')!.ok, true);
  assert.match(row('netfilter')!.detail, /^BPF netfilter hooks on: they feed ip_rcv and ip_local_deliver/);
  assert.match(row('kernel build')!.detail, /^x86_64; not PREEMPT_RT; device IRQ handlers not threaded/);
  assert.match(row('helper')!.detail, /^nslat-helper 0\.2\.0 \(x86_64\), protocol 2, 2 CPUs/);
  const off = captured('helper-6.18-no-netfilter').find((m): m is HelloMessage => m.type === 'hello')!;
  const nf = attachRows(off).find((r) => r.check === 'netfilter')!;
  assert.deepEqual([nf.ok, nf.required, nf.detail], [false, false, 'BPF netfilter hooks work here but are turned off (--no-netfilter)']);
  const rt = attachRows({ ...hello, preempt_rt: true, irq_threads: true }).find((r) => r.check === 'kernel build')!;
  assert.match(rt.detail, /PREEMPT_RT; device IRQ handlers threaded by force \(PREEMPT_RT\): IRQ thread wake-up latency is measured/);
});

test('feed rows: per boundary and group, the mechanism that fed it or why nothing did', () => {
  const rows = feedRows(['rx', 'tx', 'irq'].map((slot) => ({ slot, loaded: capturedLoaded('helper-6.18-netfilter', slot) })));
  const row = (c: string) => rows.find((r) => r.check === c);
  assert.deepEqual([row('rx ip_rcv')!.ok, row('rx ip_rcv')!.detail], [true, 'fed by netfilter (ipv4/pre_routing, ipv6/pre_routing)']);
  assert.equal(row('rx ip_local_deliver')!.detail, 'fed by netfilter (ipv4/local_in, ipv6/local_in)');
  assert.equal(row('rx l4_rcv')!.detail, 'fed by tp_btf (tcp_probe)');
  assert.match(row('tx ip_output')!.detail, /^nothing feeds it: fentry not permitted on this kernel \(EPERM at load\); kprobes absent on this kernel/);
  assert.match(row('irq irq_thread (group)')!.detail, /^nothing feeds it: IRQ handlers are not threaded by force on this kernel/);
  // informative: a boundary nothing feeds does not make the check fail
  assert.ok(rows.every((r) => r.required === false));
  assert.equal(rows.filter((r) => r.check.startsWith('rx ')).length, 9 + 1, 'nine rx boundaries and the coalesced group');

  const off = feedRows([{ slot: 'rx', loaded: capturedLoaded('helper-6.18-no-netfilter', 'rx') }]);
  const ip = off.find((r) => r.check === 'rx ip_rcv')!;
  assert.equal(ip.ok, false);
  assert.match(ip.detail, /; netfilter hooks turned off \(--no-netfilter\)$/);

  const refused = feedRows([{ slot: 'rx', loaded: capturedLoaded('helper-6.18-refused', 'rx') }, { slot: 'tx', error: 'open_failed: not a BPF object' }]);
  assert.equal(refused.find((r) => r.check === 'rx nslat_test (group)')!.detail, 'fed by tp_btf (netif_receive_skb)');
  assert.equal(refused.find((r) => r.check === 'rx nslat_test__netfilter')!.detail, "rejected by the verifier: R0 invalid mem access 'map_value_or_null'; its group nslat_test fell back to tp_btf (netif_receive_skb)");
  const tx = refused.find((r) => r.check === 'tx probes')!;
  assert.deepEqual([tx.ok, tx.required, tx.detail], [false, false, 'did not load: open_failed: not a BPF object']);
  assert.equal(feedRows([{ slot: 'rx', error: 'x' }])[0]!.required, true, 'nothing loaded at all: tracing cannot work');
});

test('df -Pk output parses, long device names and mount points with spaces included', () => {
  assert.deepEqual(parseDfPk('Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/mapper/vg-a--very--long--name 100 50 42 55% /mnt/my disk\n'), { availKb: 42, mount: '/mnt/my disk' });
  assert.equal(parseDfPk('garbage'), undefined);
});

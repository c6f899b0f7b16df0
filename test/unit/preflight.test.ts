import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachRows, feedRows, installCommand, parseOsRelease, runPreflight } from '../../src/core/preflight.ts';
import type { HelloMessage } from '../../src/core/protocol.ts';
import { captured, capturedLoaded } from '../fixtures/captured.ts';
import type { RunOptions, RunResult, Transport } from '../../src/core/transport/types.ts';

test('distribution families from /etc/os-release and their install commands', () => {
  const deb = parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n');
  assert.equal(deb.family, 'debian');
  assert.equal(installCommand(deb, ['clang', 'llvm', 'jsonc']), 'sudo apt-get install -y clang llvm libjson-c-dev');
  const ubu = parseOsRelease('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n');
  assert.equal(installCommand(ubu, ['bpftool'], '6.8.0-45-generic'), 'sudo apt-get install -y linux-tools-common linux-tools-6.8.0-45-generic');
  const fed = parseOsRelease('ID=fedora\nVERSION_ID=40\n');
  assert.equal(installCommand(fed, ['libbpf', 'jsonc']), 'sudo dnf install -y libbpf-devel json-c-devel');
  assert.equal(parseOsRelease('ID="rocky"\nID_LIKE="rhel centos fedora"\n').family, 'rhel');
  assert.equal(parseOsRelease('ID=opensuse-tumbleweed\nID_LIKE="opensuse suse"\n').family, 'suse');
  assert.equal(parseOsRelease('ID=arch\n').family, 'arch');
  assert.equal(parseOsRelease('ID=alpine\n').family, 'alpine');
  assert.equal(parseOsRelease('garbage\n\0').family, 'unknown');
  assert.match(installCommand(parseOsRelease(''), ['make']), /package manager/);
});

/** A target where some programs are missing and sudo wants a password. */
function target(missing: string[], uid = '1000', sudoErr = 'sudo: a password is required'): Transport {
  return {
    host: 'box', kind: 'ssh',
    run: async (argv: string[], _o?: RunOptions): Promise<RunResult> => {
      const [p, ...a] = argv;
      const name = p!.split('/').pop()!;
      if (missing.includes(name) || (name === 'pkg-config' && missing.includes(a[1] ?? ''))) return { exitCode: 127, stdout: '', stderr: `${name}: not found` };
      if (name === 'cat' && a[0] === '/etc/os-release') return { exitCode: 0, stdout: 'ID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04"\n', stderr: '' };
      if (name === 'cat' && a[0] === '/proc/mounts') return { exitCode: 0, stdout: 'sysfs /sys sysfs rw 0 0\n', stderr: '' };
      if (name === 'uname') return { exitCode: 0, stdout: '6.8.0-45-generic\n', stderr: '' };
      if (name === 'id') return { exitCode: 0, stdout: `${uid}\n`, stderr: '' };
      if (name === 'sudo') return { exitCode: 1, stdout: '', stderr: sudoErr };
      return { exitCode: 0, stdout: `${name} 1.0\n`, stderr: '' };
    },
    putDir: async () => {}, putFile: async () => {}, home: async () => '/home/u', close: async () => {},
    spawn: async () => { throw new Error('no'); }, spawnPrivileged: async () => { throw new Error('no'); },
  };
}

test('missing tools give rows with the exact install command for that distribution', async () => {
  const r = await runPreflight({ transport: target(['clang', 'bpftool', 'json-c']) });
  assert.equal(r.ok, false);
  const row = (c: string) => r.rows.find((x) => x.check === c)!;
  assert.equal(row('clang').ok, false);
  assert.equal(row('clang').fix, 'sudo apt-get install -y clang llvm');
  assert.equal(row('bpftool').fix, 'sudo apt-get install -y linux-tools-common linux-tools-6.8.0-45-generic');
  assert.equal(row('json-c').fix, 'sudo apt-get install -y libjson-c-dev');
  assert.equal(row('privilege').ok, false);
  assert.match(row('privilege').detail, /needs a password/);
  assert.equal(row('tracefs').ok, true); // informative: nslat mounts it
  assert.equal(r.needsTracefsMount, true);
});

test('sudo with a password is fine when a prompt is available; everything present → ok', async () => {
  const r = await runPreflight({ transport: target([]), askPass: async () => 'x' });
  assert.equal(r.ok, true);
  assert.equal(r.privilege, 'sudo-password');
  const root = await runPreflight({ transport: target([], '0') });
  assert.equal(root.privilege, 'root');
  assert.equal(root.ok, true);
});

test('attach rows from the helper hello', () => {
  const rows = attachRows({ type: 'hello', protocol: 1, helper_version: '1', kernel: 'k', mono_ns: 0, wall_ns: 0, ncpus: 2, btf: true, bpf_stats: false, attach_types: { tracepoint: true, tp_btf: true, fentry: false, kprobe: false }, workdir: '/w', pid: 1 });
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
  assert.match(row('helper')!.detail, /^nslat-helper 0\.2\.0 \(x86_64\), protocol 1, 2 CPUs/);
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

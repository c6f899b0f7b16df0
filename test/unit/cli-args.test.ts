import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCli, UsageError } from '../../src/cli/args.ts';

test('defaults and full trace options', () => {
  const c = parseCli(['trace']);
  assert.equal(c.kind, 'trace');
  if (c.kind !== 'trace') return;
  assert.deepEqual([c.durationS, c.stages, c.load, c.format, c.intervalMs, c.out], [10, ['rx', 'tx', 'irq'], 'none', 'table', 1000, []]);
  const d = parseCli(['trace', '--host', 'me@box', '--ssh-config', 'cfg', '--duration', '2.5', '--stages', 'rx,IRQ,rx',
    '--filter', 'tcp and port 5201', '--probes', './p', '--load', 'loopback', '--out', 't.jsonl', '--out', 's.csv',
    '--format', 'json', '--interval', '250', '--sample', '10', '--slow-ms', '1.5', '--bpf-stats']);
  assert.equal(d.kind, 'trace');
  if (d.kind !== 'trace') return;
  assert.equal(d.host, 'me@box');
  assert.equal(d.durationS, 2.5);
  assert.deepEqual(d.stages, ['rx', 'irq']);
  assert.deepEqual(d.out, [{ path: 't.jsonl', kind: 'jsonl' }, { path: 's.csv', kind: 'csv' }]);
  assert.equal(d.slowNs, 1_500_000);
  assert.equal(d.sampleEvery, 10);
  assert.equal(d.bpfStats, true);
  assert.equal(d.format, 'json');
});

test('check, replay, help and version', () => {
  assert.deepEqual(parseCli(['check', '--host', 'h']), { kind: 'check', format: 'table', netfilter: true, host: 'h', sshConfig: undefined, privilege: 'auto' });
  assert.deepEqual(parseCli(['replay', 'x.jsonl', '--format', 'json']), { kind: 'replay', file: 'x.jsonl', format: 'json', log2: false });
  assert.deepEqual(parseCli(['--help']), { kind: 'help' });
  assert.deepEqual(parseCli(['trace', '-h']), { kind: 'help', topic: 'trace' });
  assert.deepEqual(parseCli(['--version']), { kind: 'version' });
  assert.deepEqual(parseCli(['-V']), { kind: 'version' });
  assert.equal(parseCli(['trace', '--host', 'local']).kind === 'trace' && (parseCli(['trace', '--host', 'local']) as { host?: string }).host, undefined);
});

const bad: Array<[string[], RegExp]> = [
  [[], /no command given/],
  [['frobnicate'], /unknown command "frobnicate"/],
  [['trace', '--bogus'], /Unknown option '--bogus'/],
  [['trace', '--duration'], /^--duration needs a value\.$/],
  [['trace', '--duration', 'abc'], /--duration needs a number/],
  [['trace', '--duration', '-5'], /--duration needs a value|--duration/],
  [['trace', '--duration', '1e9'], /--duration needs a number/],
  [['trace', '--duration', '999999'], /between 0 and 86400/],
  [['trace', '--duration', 'NaN'], /--duration needs a number/],
  [['trace', '--stages', 'rx,,tx'], /empty entry/],
  [['trace', '--stages', 'rx,foo'], /unknown stage "foo"/],
  [['trace', '--load', 'iperf'], /--load must be loopback or none/],
  [['trace', '--format', 'xml'], /--format must be table or json/],
  [['trace', '--interval', '5'], /between 100 and 60000/],
  [['trace', '--interval', '150.5'], /whole number/],
  [['trace', '--sample', '-1'], /--sample/],
  [['trace', '--filter', 'tcp or udp'], /--filter: "or" at column 5 is not supported/],
  [['trace', '--filter', ''], /--filter: the filter is empty/],
  [['trace', '--host', '-oProxyCommand=evil'], /--host needs a value, but the next argument begins with "-"/],
  [['trace', '--host=-oProxyCommand=evil'], /--host "-oProxyCommand=evil" begins with "-"/],
  [['trace', '--host', ''], /--host needs a destination/],
  [['trace', '--host', 'a b'], /whitespace or control/],
  [['trace', '--host', 'a\nb'], /whitespace or control/],
  [['trace', '--ssh-config', 'x'], /only applies with --host/],
  [['trace', '--out', 'trace'], /has no known extension/],
  [['trace', '--out', 'a.jsonl', '--out', 'a.jsonl'], /given twice/],
  [['trace', '--out', '--format'], /--out/],
  [['trace', '--privilege', 'god'], /--privilege must be/],
  [['trace', 'extra'], /unexpected argument "extra"/],
  [['check', '--duration', '5'], /--duration does not apply to `nslat check`/],
  [['replay'], /needs the trace file/],
  [['replay', 'a', 'b'], /takes one file/],
  [['replay', 'a', '--load', 'loopback'], /--load does not apply to `nslat replay`/],
  [['trace', '--version'], /--version takes no command/],
  [['trace', 'x'.repeat(10000)], /too long/],
  [Array(300).fill('trace'), /too many arguments/],
];
for (const [argv, re] of bad) {
  test(`rejects ${JSON.stringify(argv).slice(0, 70)}`, () => {
    assert.throws(() => parseCli(argv), (e: unknown) => {
      assert.ok(e instanceof UsageError, `not a UsageError: ${(e as Error).message}`);
      assert.match(e.message, re);
      assert.ok(e.hint.length > 0);
      return true;
    });
  });
}

test('--log2: bcc-style histograms for trace and replay, off by default, not for check', () => {
  const t = parseCli(['trace']);
  const l = parseCli(['trace', '--log2', '--duration', '3']);
  assert.ok(t.kind === 'trace' && l.kind === 'trace');
  if (t.kind !== 'trace' || l.kind !== 'trace') return;
  assert.equal(t.log2, false);
  assert.equal(l.log2, true);
  assert.equal(l.durationS, 3);
  assert.deepEqual(parseCli(['replay', 'x.jsonl', '--log2']), { kind: 'replay', file: 'x.jsonl', format: 'table', log2: true });
  assert.throws(() => parseCli(['check', '--log2']), (e: unknown) => e instanceof UsageError && /--log2 does not apply to `nslat check`/.test(e.message));
  assert.throws(() => parseCli(['trace', '--log2=yes']), UsageError);
});

test('--no-netfilter: for trace and check (netfilter hooks are on by default), not for replay', () => {
  const on = parseCli(['trace']);
  const off = parseCli(['trace', '--no-netfilter', '--duration', '3']);
  assert.ok(on.kind === 'trace' && off.kind === 'trace');
  if (on.kind !== 'trace' || off.kind !== 'trace') return;
  assert.equal(on.netfilter, true);
  assert.equal(off.netfilter, false);
  assert.equal(off.durationS, 3);
  const check = parseCli(['check', '--no-netfilter', '--format', 'json']);
  assert.equal(check.kind === 'check' && check.netfilter, false);
  assert.throws(() => parseCli(['replay', 'x.jsonl', '--no-netfilter']), (e: unknown) => e instanceof UsageError && /--no-netfilter does not apply to `nslat replay`/.test(e.message));
  // a boolean flag: no value, and no --netfilter=no spelling
  assert.throws(() => parseCli(['trace', '--no-netfilter=1']), UsageError);
  assert.throws(() => parseCli(['trace', '--netfilter']), UsageError);
});

test('serve: trace\'s probes and options, --listen, --buckets-per-octave, --host-label, --helper-socket', () => {
  const c = parseCli(['serve']);
  assert.equal(c.kind, 'serve');
  if (c.kind !== 'serve') return;
  assert.deepEqual([c.listen, c.stages, c.intervalMs, c.perOctave, c.out, c.netfilter], [{ host: '127.0.0.1', port: 10064 }, ['rx', 'tx', 'irq'], 1000, 8, [], true]);
  const d = parseCli(['serve', '--host', 'me@box', '--stages', 'rx', '--filter', 'udp and lport 53', '--probes', './p', '--measure', '4', '--interval', '500',
    '--listen', '[::1]:9999', '--buckets-per-octave', '2', '--host-label', 'edge-1', '--out', 'x.jsonl', '--bpf-stats', '--no-netfilter']);
  assert.equal(d.kind, 'serve');
  if (d.kind !== 'serve') return;
  assert.deepEqual([d.host, d.stages, d.filter, d.probesDir, d.sampling, d.intervalMs, d.listen, d.perOctave, d.hostLabel, d.bpfStats, d.netfilter],
    ['me@box', ['rx'], 'udp and lport 53', './p', { kind: 'fixed', every: 4 }, 500, { host: '::1', port: 9999 }, 2, 'edge-1', true, false]);
  const listen = (v: string) => { const x = parseCli(['serve', '--listen', v]); return x.kind === 'serve' ? x.listen : undefined; };
  assert.deepEqual(listen('0.0.0.0:10064'), { host: '0.0.0.0', port: 10064 });
  assert.deepEqual(listen(':8080'), { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(listen('9000'), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(listen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  const s = parseCli(['serve', '--helper-socket', '/run/nslat/helper.sock']);
  assert.equal(s.kind === 'serve' && s.helperSocket, '/run/nslat/helper.sock');
  for (const [argv, re] of [
    [['serve', '--listen', 'box'], /not ADDR:PORT/],
    [['serve', '--listen', '127.0.0.1:70000'], /0 to 65535/],
    [['serve', '--buckets-per-octave', '3'], /8, 4, 2 or 1/],
    [['serve', '--out', 'x.prom'], /only JSON Lines/],
    [['serve', '--duration', '5'], /--duration does not apply/],
    [['serve', '--load', 'loopback'], /--load does not apply/],
    [['serve', '--format', 'json'], /--format does not apply/],
    [['serve', '--helper-socket', '/s', '--host', 'h'], /does not combine with --host/],
    [['serve', '--helper-socket', '/s', '--privilege', 'root'], /needs no --privilege/],
    [['serve', '--helper-socket', '/s', '--no-netfilter'], /ExecStart/],
    [['serve', '--host-label', ''], /non-empty/],
    [['trace', '--listen', ':1'], /--listen does not apply/],
  ] as Array<[string[], RegExp]>) {
    assert.throws(() => parseCli(argv), (e: unknown) => e instanceof UsageError && re.test(e.message), argv.join(' '));
  }
});

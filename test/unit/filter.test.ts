import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FilterError, filterToRodata, netfilterNamespaces, parseFilter } from '../../src/core/filter.ts';

test('parses the documented examples', async () => {
  assert.deepEqual(parseFilter('tcp and port 5201'), { l4: 'tcp', port: 5201 });
  assert.deepEqual(parseFilter('udp and dport 53'), { l4: 'udp', dport: 53 });
  assert.deepEqual(parseFilter('dev lo'), { dev: 'lo' });
  assert.deepEqual(parseFilter('netns 4026531840'), { netns: 4026531840 });
  assert.deepEqual(parseFilter('pid 1234'), { pid: 1234 });
  assert.deepEqual(parseFilter('cgroup /sys/fs/cgroup/x'), { cgroupPath: '/sys/fs/cgroup/x' });
  assert.deepEqual(parseFilter('  TCP   &&  lport 80 and ifindex 3 '), { l4: 'tcp', lport: 80, ifindex: 3 });
});

test('rodata: sport/dport map to local/remote by direction; names are resolved on the target', async () => {
  const spec = parseFilter('udp and dport 53 and dev eth0 and cgroup /sys/fs/cgroup/a');
  const resolver = { ifindexOf: async (d: string) => (d === 'eth0' ? 2 : undefined), cgroupIdOf: async () => 777 };
  assert.deepEqual(await filterToRodata(spec, resolver, 'rx'), { filter_l4: 17, filter_lport: 53, filter_ifindex: 2, filter_cgroup: 777 });
  assert.deepEqual(await filterToRodata(spec, resolver, 'tx'), { filter_l4: 17, filter_rport: 53, filter_ifindex: 2, filter_cgroup: 777 });
  await assert.rejects(filterToRodata(parseFilter('dev nope0'), resolver), /no interface named "nope0"/);
});

const bad: Array<[string, RegExp]> = [
  ['', /empty/],
  ['   ', /empty/],
  ['tcp or udp', /"or" at column 5 is not supported/],
  ['not tcp', /"not" at column 1 is not supported/],
  ['tcp and', /ends with "and" \(column 5\)/],
  ['and tcp', /"and" at column 1 has no filter term before it/],
  ['tcp udp', /expected "and" at column 5, got "udp"/],
  ['tcp and udp', /repeats "tcp" at column 1/],
  ['port', /"port" needs a port number/],
  ['port 0', /port 0 at column 6 is not a valid port/],
  ['port 65536', /out of range \(at most 65535\)/],
  ['port -1', /expected a port number .* at column 6, got "-1"/],
  ['port 1e3', /got "1e3"/],
  ['port 0x50', /got "0x50"/],
  ['port 99999999999999999999999', /out of range/],
  ['pid 0', /pid 0 .* is not a process/],
  ['pid abc', /expected a process id/],
  ['dev', /needs an interface name/],
  ['dev ../../etc', /is not an interface name/],
  ['dev averyveryverylongname', /is not an interface name/],
  ['dev $(reboot)', /is not an interface name/],
  ['cgroup ../x', /is not a cgroup/],
  ['cgroup /sys/fs/cgroup/../../etc', /is not a cgroup/],
  ['host 1.2.3.4', /unknown filter term "host" at column 1/],
  ['(tcp)', /parentheses/],
  ['tcp\u0000', /control character at column 4/],
  ['tcp\nand\tudp', /repeats "tcp"/],
  ['tcp\u001band udp', /control character at column 4/],
  ['port 80 and sport 81', /"port" cannot be combined with "sport"/],
  ['sport 80 and lport 81', /cannot be combined with "lport"/],
  ['x'.repeat(5000), /5000 characters long/],
  ['tcp and '.repeat(100) + 'tcp', /repeats "tcp"/],
];
for (const [expr, re] of bad) {
  test(`rejects ${JSON.stringify(expr.slice(0, 40))} with a precise message`, () => {
    assert.throws(() => parseFilter(expr), (e: unknown) => e instanceof FilterError && re.test(e.message));
  });
}

test('never throws anything but FilterError on random input', () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const words = ['tcp', 'udp', 'and', 'or', 'port', 'sport', 'dport', 'dev', 'pid', 'cgroup', '80', '-1', '/x', 'lo', '', '(', '\u00e9', '65535', 'netns'];
  for (let i = 0; i < 2000; i++) {
    const n = Math.floor(rnd() * 8);
    const expr = Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(' ');
    try {
      parseFilter(expr);
    } catch (e) {
      assert.ok(e instanceof FilterError, `${JSON.stringify(expr)} threw ${(e as Error).name}`);
      assert.ok((e as Error).message.length > 10);
    }
  }
});

test('netns filter: rx and tx loads name the namespace for their netfilter hooks, unless it is the helper\'s own', () => {
  const spec = parseFilter('netns 4026532890 and tcp');
  assert.deepEqual(netfilterNamespaces(spec, 'rx'), [4026532890]);
  assert.deepEqual(netfilterNamespaces(spec, 'tx'), [4026532890]);
  assert.equal(netfilterNamespaces(spec, 'irq'), undefined, 'IRQ probes have no netfilter hooks');
  assert.equal(netfilterNamespaces(spec, 'rx', 4026532890), undefined, 'the helper hooks its own namespace anyway');
  assert.deepEqual(netfilterNamespaces(spec, 'rx', 4026531840), [4026532890]);
  assert.equal(netfilterNamespaces(parseFilter('tcp'), 'rx'), undefined);
  assert.equal(netfilterNamespaces(parseFilter('netns 0'), 'rx'), undefined, '0 is "no filter"');
});

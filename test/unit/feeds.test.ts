/**
 * What fed each boundary, from real `loaded` messages of the helper (test/fixtures/captured.ts):
 * mechanisms, merged and shortened reasons, refused programs and what their group fell back to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alternativeOf, describeFeeds, explainReason, groupOf, mechanismOf, refusalsOf, shortReason } from '../../src/core/feeds.ts';
import { capturedLoaded } from '../fixtures/captured.ts';

const byName = (m: ReturnType<typeof capturedLoaded>, name: string) => {
  const b = m.boundaries.find((x) => x.name === name);
  assert.ok(b, `boundary ${name}`);
  return b;
};

test('mechanismOf: the attach types of the feeding programs, in order, each once', () => {
  const rx = capturedLoaded('helper-6.18-netfilter', 'rx');
  assert.equal(mechanismOf(byName(rx, 'ip_rcv')), 'netfilter');
  assert.equal(mechanismOf(byName(rx, 'ip_local_deliver')), 'netfilter');
  assert.equal(mechanismOf(byName(rx, 'netif_receive_skb')), 'tp_btf');
  // three programs (TCP and UDP reads), one attach type
  assert.equal(byName(rx, 'app_read').feeds?.length, 3);
  assert.equal(mechanismOf(byName(rx, 'app_read')), 'tp_btf');
  const tx = capturedLoaded('helper-6.18-netfilter', 'tx');
  assert.equal(mechanismOf(byName(tx, 'sendmsg')), 'tp_btf+tracepoint');
  assert.equal(mechanismOf(byName(tx, 'ip_output')), undefined, 'nothing feeds ip_output here');
  // an older helper without feeds: its one attach type
  assert.equal(mechanismOf({ active: true, attach: 'fentry' }), 'fentry');
  assert.equal(mechanismOf({ active: false, attach: 'fentry' }), undefined);
  assert.equal(mechanismOf({ active: true, attach: 'fentry', feeds: [{ program: 'a__fentry', attach: 'fentry', target: 'a' }, { program: 'a__fexit_end', attach: 'fexit', target: 'a' }, { program: 'handle_b', attach: 'tp_btf', target: 'b' }] }), 'fentry+fexit+tp_btf');
});

test('describeFeeds names the hooks, and netfilter namespaces other than the helper\'s', () => {
  const rx = capturedLoaded('helper-6.18-netfilter', 'rx');
  assert.equal(describeFeeds(byName(rx, 'ip_rcv')), 'netfilter (ipv4/pre_routing, ipv6/pre_routing)');
  assert.equal(describeFeeds(byName(rx, 'app_read')), 'tp_btf (sk_data_ready, skb_copy_datagram_iovec, sock_recv_length)');
  assert.equal(
    describeFeeds({ active: true, feeds: [{ program: 'ip_rcv__netfilter_v4', attach: 'netfilter', target: 'ipv4/pre_routing', netns: [0, 4026532890] }] }),
    'netfilter (ipv4/pre_routing (also in netns 4026532890))',
  );
});

test('explainReason merges repeated clauses; shortReason keeps what a user can act on', () => {
  const ip = byName(capturedLoaded('helper-6.18-no-netfilter', 'rx'), 'ip_rcv');
  assert.equal(ip.active, false);
  // six programs, three different reasons
  assert.equal(ip.reason!.split('; ').length, 6);
  assert.equal(explainReason(ip.reason), 'fentry not permitted on this kernel (EPERM at load); kprobes absent on this kernel (ENOENT at attach: no kprobe PMU or kprobe_events); netfilter hooks turned off (--no-netfilter)');
  assert.equal(shortReason(ip.reason), 'fentry not permitted; kprobes absent; netfilter hooks turned off (--no-netfilter)');
  const thr = capturedLoaded('helper-6.18-netfilter', 'irq').groups!.find((g) => g.name === 'irq_thread')!;
  assert.equal(shortReason(thr.reason), 'IRQ handlers are not threaded by force (no PREEMPT_RT, no threadirqs)');
  // a clause that does not say which mechanism it is about gets it
  assert.equal(explainReason('x__netfilter_v4: rejected by the verifier: R0 invalid mem access; x__tp: tracepoint sk_data_ready not found'), 'netfilter: rejected by the verifier: R0 invalid mem access; tracepoint sk_data_ready not found');
  // any other text passes through
  assert.equal(shortReason('no qdisc on this path (noqueue)'), 'no qdisc on this path (noqueue)');
  assert.equal(shortReason(undefined), 'no program feeds it');
});

test('group and alternative of a program come from its name', () => {
  assert.equal(groupOf('ip_rcv__netfilter_v4'), 'ip_rcv');
  assert.equal(groupOf('handle_netif_rx'), undefined);
  assert.equal(alternativeOf('sendmsg__kretprobe_inet_end'), 'kprobe');
  assert.equal(alternativeOf('irq_thread__fexit_forced_end'), 'fentry');
  assert.equal(alternativeOf('app_read__tp_udp'), 'tp');
  assert.equal(alternativeOf('handle_app_read'), undefined);
});

test('refusalsOf: a refused alternative, its log, and what its group fell back to', () => {
  const rx = capturedLoaded('helper-6.18-refused', 'rx');
  assert.equal(rx.attempts, 2, 'one more load after the refusal');
  const rs = refusalsOf(rx);
  assert.equal(rs.length, 1);
  const r = rs[0]!;
  assert.equal(r.program, 'nslat_test__netfilter');
  assert.equal(r.group, 'nslat_test');
  assert.equal(r.fallback, 'tp_btf (netif_receive_skb)');
  assert.match(r.log, /; \*v \+= 1; @ rx\.bpf\.c:601/);
  assert.equal(r.message, 'stage rx: program nslat_test__netfilter was refused by the verifier on this kernel; its group nslat_test fell back to tp_btf (netif_receive_skb); the rest loaded');
  // nothing left for the group, and a program of no group
  const alone = { ...rx, boundaries: [], groups: [{ name: 'nslat_test', active: false, reason: 'nslat_test__tp: tracepoint not found', feeds: [] }], programs: [...rx.programs, { name: 'end_extra', section: 'tp_btf/consume_skb', status: 'failed' as const, attach: 'tp_btf' as const, reason: 'rejected by the verifier: x', log: 'x' }] };
  const [a, b] = refusalsOf(alone);
  assert.match(a!.message, /its group nslat_test fell back to nothing \(no other alternative works here\), so nslat_test is not measured; the rest loaded$/);
  assert.equal(a!.fallback, undefined);
  assert.match(b!.message, /^stage rx: program end_extra was refused by the verifier on this kernel; it was dropped alone; the rest loaded$/);
  // loads without refusals have none
  assert.deepEqual(refusalsOf(capturedLoaded('helper-6.18-netfilter', 'rx')), []);
});

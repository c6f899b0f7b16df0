/**
 * UDP pairing under stress: many senders and several readers on one UDP socket on loopback, with
 * every packet's journey sampled (sample_every 1). Each datagram carries its send time and each
 * reader records the monotonic interval in which the kernel handed it one datagram (BPF uses the
 * same clock). A journey whose read falls outside its own datagram's read interval, or whose
 * socket-queue time is before the datagram was sent or after it was read, is a packet advanced by
 * another packet's read or enqueue. Where the read is seen only at sock:sock_recv_length (kernels
 * without fentry or kprobes), two readers racing on one socket can leave the probe unable to tell
 * which of them took the recorded queue head; it pairs a read only with a datagram of the length the
 * read returned, so the most a race can do is give a journey the read of another datagram of the
 * same length that was at the head of the queue with it. Such journeys are allowed, counted and
 * bounded; any other is wrong: there must be none. Reads and queue walks the probes could not pair
 * are counted (udp_unpaired, udp_queue_race), never guessed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { execa } from 'execa';
import type { JourneyMessage } from '../../src/core/protocol.ts';
import { Helper, Totals, kernelSkipReason } from './lib/helper.ts';

const skip = await kernelSkipReason();
if (skip) console.log(`# kernel suite skipped: ${skip}`);

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'lib', 'udp_stress.py');

interface Rec { sport: number; len: number; k: number; sent: number; t0: number; t1: number }

describe('UDP pairing under many senders and readers', { skip, timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nslat-udp-stress-'));
  let h: Helper | undefined;
  after(async () => {
    await h?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('no datagram is advanced by another one\'s read or enqueue; the ones given up on are counted', async () => {
    h = await Helper.start({ args: ['--interval-ms', '250'] });
    const from = h.mark();
    await h.loadOk('rx', 'rx', { data: { sample_every: 1 }, rodata: { filter_l4: 17 } });
    const out = join(dir, 'reads.jsonl');
    const run = await execa('python3', [SCRIPT, '--senders', '12', '--readers', '4', '--count', '3000', '--duration', '8', '--timeout', '40', '--out', out], { timeout: 45_000, reject: false });
    assert.equal(run.exitCode, 0, `stress traffic: ${run.stderr}`);
    const lines = run.stdout.trim().split('\n');
    const port = (JSON.parse(lines[0]!) as { port: number }).port;
    const summary = JSON.parse(lines[lines.length - 1]!) as { senders_ok: number; received: number };
    assert.equal(summary.senders_ok, 12);
    await h.snapshot();
    const recs = readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec);
    assert.ok(recs.length > 10_000, `the readers got ${recs.length} datagrams`);

    // The app-side truth, by (source port, payload length), in send order.
    const truth = new Map<string, Rec[]>();
    for (const r of recs) {
      const key = `${r.sport}:${r.len}`;
      (truth.get(key) ?? truth.set(key, []).get(key)!).push(r);
    }
    for (const v of truth.values()) v.sort((a, b) => a.sent - b.sent);
    const byLen = new Map<number, Rec[]>();
    for (const r of recs) (byLen.get(r.len) ?? byLen.set(r.len, []).get(r.len)!).push(r);
    /** A read of some datagram of this length was under way at t. */
    const sameLengthRead = (len: number, t: number) => (byLen.get(len) ?? []).some((r) => r.t0 <= t && t <= r.t1);
    const journeys = h.messages.slice(from).filter((m): m is JourneyMessage => m.type === 'journey' && m.dir === 'rx' && m.dport === port);
    assert.ok(journeys.length > 1000, `${journeys.length} journeys of the stress socket`);
    // skb->len at the entry boundary counts the IP and UDP headers.
    const HDRS = 28;
    let matched = 0;
    let reads = 0;
    const wrong: string[] = [];
    const raced: string[] = [];
    for (const j of journeys) {
      const cands = truth.get(`${j.sport}:${(j.len ?? 0) - HDRS}`);
      if (!cands) continue;
      // The datagram sent last before the journey's first boundary.
      let best: Rec | undefined;
      for (const c of cands) if (c.sent <= j.mono_ns) best = c;
      if (!best) continue;
      matched++;
      const at = (b: string) => j.marks.find((m) => m.boundary === b);
      const enq = at('sock_enqueue');
      const read = at('app_read');
      if (enq) {
        const t = j.mono_ns + enq.t_ns;
        if (t < best.sent || t > best.t1) wrong.push(`sock_enqueue of ${j.sport}#${best.k} at ${t}, sent ${best.sent}, read by ${best.t1}`);
      }
      if (read) {
        reads++;
        const t = j.mono_ns + read.t_ns;
        if ((t < best.t0 || t > best.t1) && sameLengthRead(best.len, t)) raced.push(`${j.sport}#${best.k}`);
        else if (t < best.t0 || t > best.t1) wrong.push(`app_read of ${j.sport}#${best.k} at ${t}, its read was ${best.t0}..${best.t1} (${t < best.t0 ? best.t0 - t : t - best.t1} ns off)`);
      }
    }
    const counters = Totals.of(h.snapshotsSince(from)).counters;
    const c = (n: string) => counters.get(`rx.${n}`) ?? 0;
    console.log(`# udp stress: ${recs.length} datagrams read, ${journeys.length} journeys, ${matched} matched, ${reads} with app_read, ${wrong.length} wrong, ${raced.length} given the read of another datagram of their length; udp_unpaired ${c('udp_unpaired')}, udp_queue_race ${c('udp_queue_race')}, ringbuf_drop ${c('ringbuf_drop')}, evicted ${c('evicted')}`);
    assert.ok(matched > journeys.length * 0.9, `journeys matched to datagrams: ${matched} of ${journeys.length}`);
    assert.ok(reads > 1000, `journeys paired with their read: ${reads}`);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} journeys stamped by another datagram's read or enqueue`);
    assert.ok(raced.length <= reads * 0.01, `reads taken from a racing reader of the same length: ${raced.length} of ${reads}`);
    // What was not paired is counted: journeys with a read + unpaired reads + reads the
    // ring buffer could not carry account for every datagram the readers took, within the packets
    // not tracked at all (none with filter_l4 and no other UDP).
    const accounted = reads + c('udp_unpaired') + c('ringbuf_drop');
    assert.ok(accounted >= recs.length * 0.95, `reads accounted for: ${accounted} of ${recs.length} (journeys ${reads}, unpaired ${c('udp_unpaired')}, ringbuf_drop ${c('ringbuf_drop')})`);
    await h.quit();
    h.assertProtocolClean();
  });
});

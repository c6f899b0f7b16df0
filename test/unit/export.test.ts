import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aggregator } from '../../src/core/aggregate.ts';
import type { HelperMessage, JourneyMessage } from '../../src/core/protocol.ts';
import { toJsonDocument } from '../../src/core/report.ts';
import { TraceHeader, TraceProtocolError, TraceWriter, readTrace } from '../../src/core/export/jsonl.ts';
import { HIST_BUCKETS, bucketOf, bucketUpper } from '../../src/core/hist.ts';
import { CSV_COLUMNS, bucketsField, csvField, parseCsv, toCsv, writeCsv } from '../../src/core/export/csv.ts';
import { escapeLabel, nsToSecondsText, toOpenMetrics } from '../../src/core/export/openmetrics.ts';
import { formatSeedTrace, isoMicros, seedTraceLines } from '../../src/core/export/seedtrace.ts';
import { T0_MONO, T0_WALL, makeStream } from '../fixtures/stream.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/helper-stream.jsonl', import.meta.url));

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nslat-export-'));
}

function aggregate(msgs: HelperMessage[], host = 'lab1'): Aggregator {
  const agg = new Aggregator({ host, now: () => 0 });
  msgs.forEach((m, i) => agg.ingest(m, 1_000 + i));
  return agg;
}

/** A stream whose stage names carry every character that needs escaping somewhere. */
function hostileStream(): HelperMessage[] {
  const msgs = makeStream({ snapshots: 2 });
  const snap = msgs.find((m) => m.type === 'snapshot')!;
  if (snap.type !== 'snapshot') throw new Error('unreachable');
  snap.slots[0]!.hists.push({ kind: 'stage', dir: 'rx', name: 'evil "quoted", with\\backslash\nand newline\r\nand CRLF', buckets: [[10, 3], [31, 1]], count: 4, sum: 3 * 600 + 4e9 });
  snap.slots[0]!.counters['weird"counter'] = 1;
  snap.slots[0]!.counters.ringbuf_drop = 5;
  snap.slots[0]!.drops['NO\\SOCKET\n'] = 2;
  return msgs;
}

// ------------------------------------------------------------------ JSON Lines trace

test('trace round trip: header, every message with its receive time, same report on replay', async () => {
  const dir = tmp();
  try {
    const path = join(dir, 'trace.jsonl');
    const msgs = makeStream();
    const w = new TraceWriter(path, { host: 'lab1', kernel: '6.12.48', started: new Date(Date.UTC(2026, 10, 25, 18)) });
    msgs.forEach((m, i) => w.write(m, 1_000 + i));
    w.close();
    w.close(); // idempotent
    assert.throws(() => w.write(msgs[0]!), /already closed/);
    assert.equal(w.lineCount, msgs.length + 1);

    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    assert.deepEqual(JSON.parse(lines[0]!), { type: 'nslat-trace', version: 1, protocol: 2, host: 'lab1', kernel: '6.12.48', started: '2026-11-25T18:00:00.000Z' });
    assert.ok(TraceHeader.safeParse(JSON.parse(lines[0]!)).success);
    assert.deepEqual(JSON.parse(lines[1]!), { recv_ms: 1000, msg: msgs[0] });

    const r = await readTrace(path, { aggregatorOptions: { host: 'lab1', now: () => 0 }, keepRecords: true });
    assert.equal(r.header?.host, 'lab1');
    assert.deepEqual(r.errors, []);
    assert.equal(r.messages, msgs.length);
    assert.equal(r.truncated, false);
    assert.deepEqual(r.records!.map((x) => x.msg), msgs);
    assert.deepEqual(r.records!.map((x) => x.recv_ms), msgs.map((_, i) => 1_000 + i));
    assert.deepEqual(r.aggregator.report(), aggregate(msgs).report());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a trace recorded with protocol 1 (log2 buckets) is refused, naming both versions, not misread', async () => {
  const dir = tmp();
  try {
    const msgs = makeStream({ snapshots: 3 });
    // a protocol 1 trace: its header says so, and its hello too
    const v1 = msgs.map((m) => (m.type === 'hello' ? { ...m, protocol: 1 } : m));
    const traced = join(dir, 'v1.jsonl');
    const header = { type: 'nslat-trace', version: 1, protocol: 1, host: 'lab1', kernel: '6.12.48', started: '2026-11-25T18:00:00.000Z' };
    writeFileSync(traced, [JSON.stringify(header), ...v1.map((m, i) => JSON.stringify({ recv_ms: 1000 + i, msg: m }))].join('\n') + '\n');
    const agg = new Aggregator();
    await assert.rejects(readTrace(traced, { aggregator: agg }), (e: Error) => {
      assert.ok(e instanceof TraceProtocolError);
      assert.match(e.message, /protocol version 1 \(32 log2 buckets per histogram\) and this nslat reads protocol version 2 \(256 log-linear buckets per histogram\) \(line 1\)/);
      return true;
    });
    assert.equal(agg.report().stages.length, 0, 'nothing replayed');
    // a bare helper stream: its hello says protocol 1
    const bare = join(dir, 'v1-bare.jsonl');
    writeFileSync(bare, v1.map((m) => JSON.stringify(m)).join('\n') + '\n');
    await assert.rejects(readTrace(bare), /recorded with protocol version 1 .* reads protocol version 2/);
    // a header without a protocol, whose hello is protocol 1
    writeFileSync(traced, [JSON.stringify({ ...header, protocol: undefined }), ...v1.map((m, i) => JSON.stringify({ recv_ms: 1000 + i, msg: m }))].join('\n') + '\n');
    await assert.rejects(readTrace(traced), TraceProtocolError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readTrace accepts a bare helper stream (the shared fixture)', async () => {
  const r = await readTrace(FIXTURE);
  assert.equal(r.header, undefined);
  assert.deepEqual(r.errors, []);
  assert.equal(r.messages, makeStream().length);
  const rep = r.aggregator.report();
  assert.equal(rep.snapshots, 30);
  assert.equal(rep.kernel, (makeStream()[0] as Extract<HelperMessage, { type: 'hello' }>).kernel);
});

test('readTrace reports bad lines with their numbers, keeps going, and notices a truncated end', async () => {
  const dir = tmp();
  try {
    const path = join(dir, 'bad.jsonl');
    const msgs = makeStream({ snapshots: 3 });
    const good = msgs.map((m, i) => JSON.stringify({ recv_ms: 5000 + i, msg: m }));
    const header = JSON.stringify({ type: 'nslat-trace', version: 1, host: 'h', kernel: 'k', started: '2026-11-25T18:00:00Z' });
    const lines = [
      header, // 1
      good[0]!, // 2 hello
      'this is not json', // 3
      '', // 4 blank: ignored
      JSON.stringify({ recv_ms: 1, msg: { type: 'snapshot', seq: 0, mono_ns: 1, interval_ns: 1, slots: [{ slot: 'rx', hists: [{ kind: 'stage', dir: 'rx', name: 'a', buckets: [[1, -1]], count: 1, sum: 1 }], counters: {}, drops: {}, progs: [] }] } }), // 5 negative
      JSON.stringify({ recv_ms: 1, msg: { type: 'teleport' } }), // 6 unknown type
      header, // 7 second header
      JSON.stringify(msgs[1]), // 8 bare message in a trace: accepted
      JSON.stringify({ msg: msgs[2] }), // 9 record without recv_ms: replayed, reported
      ...good.slice(3), // 10 …
    ];
    const full = lines.join('\n') + '\n';
    const cut = full.slice(0, full.length - 40); // the last record cut mid-line, no newline
    writeFileSync(path, cut);
    const r = await readTrace(path);
    const byLine = new Map(r.errors.map((e) => [e.line, e.message]));
    assert.match(byLine.get(3)!, /^line 3: not JSON/);
    assert.match(byLine.get(5)!, /^line 5: invalid helper message at slots\.0\.hists\.0\.buckets\.0\.1/);
    assert.match(byLine.get(6)!, /^line 6: invalid helper message/);
    assert.match(byLine.get(7)!, /^line 7: a second trace header/);
    assert.match(byLine.get(9)!, /^line 9: trace record without a numeric recv_ms/);
    assert.match(byLine.get(lines.length)!, /truncated/);
    assert.equal(r.truncated, true);
    assert.equal(byLine.size, 6);
    assert.equal(r.errorCount, 6);
    assert.equal(r.messages, msgs.length - 1, 'every valid message but the cut one');
    assert.equal(r.aggregator.report().kernel, (makeStream()[0] as Extract<HelperMessage, { type: 'hello' }>).kernel);

    // a complete file whose last line is bad but newline-terminated is not "truncated"
    writeFileSync(path, `${lines.slice(0, 3).join('\n')}\n`);
    const r2 = await readTrace(path, { maxErrors: 0 });
    assert.equal(r2.truncated, false);
    assert.equal(r2.errorCount, 1);
    assert.deepEqual(r2.errors, []);

    // a newer trace format is read on, with a warning
    writeFileSync(path, `${JSON.stringify({ type: 'nslat-trace', version: 9, host: 'h', kernel: 'k', started: 'x' })}\n${good[0]}\n`);
    const r3 = await readTrace(path);
    assert.match(r3.errors[0]!.message, /version 9 is newer.*update nslat/);
    assert.equal(r3.messages, 1);

    await assert.rejects(readTrace(join(dir, 'missing.jsonl')), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ CSV

test('csvField quotes per RFC 4180', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField('cr\rhere'), '"cr\rhere"');
  assert.equal(csvField(null), '');
  assert.equal(csvField(undefined), '');
  assert.equal(csvField(12), '12');
  assert.equal(csvField(1.23456), '1.235');
  assert.equal(csvField(Number.NaN), '');
  assert.equal(csvField(true), 'true');
});

test('CSV summary: one row per stage, CRLF, hostile names survive a round trip', () => {
  const rep = aggregate(hostileStream()).report();
  const csv = toCsv(rep);
  assert.ok(csv.endsWith('\r\n'));
  assert.ok(csv.startsWith(`${CSV_COLUMNS.join(',')}\r\n`));
  const rows = parseCsv(csv);
  const doc = toJsonDocument(rep);
  assert.equal(rows.length, doc.stages.length + rep.loss.length + 1);
  assert.ok(rows.every((r) => r.length === CSV_COLUMNS.length), 'every row has every column');
  const col = (name: (typeof CSV_COLUMNS)[number]): number => CSV_COLUMNS.indexOf(name);
  const evil = rows.find((r) => r[col('stage')]!.startsWith('evil'))!;
  assert.equal(evil[col('stage')], 'evil "quoted", with\\backslash\nand newline\r\nand CRLF');
  assert.equal(evil[col('count')], '4');
  const first = rows[1]!;
  const s0 = doc.stages[0]!;
  assert.deepEqual([first[col('dir')], first[col('kind')], first[col('stage')], first[col('attach')], first[col('mechanism')], first[col('count')]], ['rx', 'stage', s0.name, 'tp_btf', 'tp_btf', String(s0.count)]);
  assert.equal(Number(first[col('p50')]), Math.round(s0.p50! * 1000) / 1000);
  // the histogram: each nonempty log-linear bucket's inclusive range and count, summing to count
  const pairs = first[col('buckets')]!.split(' ').map((x) => /^(\d+)-(\d*):(\d+)$/.exec(x)!);
  assert.deepEqual(pairs.map((m) => [bucketOf(Number(m[1])), Number(m[3])]), s0.buckets);
  for (const m of pairs) assert.equal(Number(m[2]), bucketUpper(bucketOf(Number(m[1]))));
  assert.equal(pairs.reduce((a, m) => a + Number(m[3]), 0), s0.count);
  assert.equal(bucketsField([[64, 12], [65, 30], [HIST_BUCKETS - 1, 2]]), `1024-1151:12 1152-1279:30 ${15 * 2 ** 30}-:2`);
  const skipped = rows.find((r) => r[col('kind')] === 'boundary')!;
  assert.equal(skipped[col('p50')], '');
  assert.equal(skipped[col('buckets')], '');
  assert.match(skipped[col('skip_reason')]!, /EPERM/);
  assert.equal(skipped[col('mechanism')], '');
  assert.equal(first[col('loss_base')], '', 'a stage row has no loss columns');
  // the losses follow the stages, each with what it is a share of
  const loss = rows.filter((r) => r[col('kind')] === 'loss');
  assert.deepEqual(loss.map((r) => r[col('stage')]), rep.loss.map((l) => l.name));
  for (const [r, l] of loss.map((r, i) => [r, rep.loss[i]!] as const)) {
    assert.deepEqual([r[col('count')], r[col('loss_of')], r[col('loss_base')]], [String(l.total), String(l.of), l.base]);
    assert.equal(r[col('loss_share')], l.share === null ? '' : String(l.share));
  }

  const dir = tmp();
  try {
    writeCsv(join(dir, 's.csv'), rep);
    assert.equal(readFileSync(join(dir, 's.csv'), 'utf8'), csv);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ OpenMetrics

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict little OpenMetrics text parser: enough to check structure and escaping. */
function parseOpenMetrics(text: string): { types: Map<string, string>; samples: Sample[] } {
  assert.ok(text.endsWith('# EOF\n'), 'ends with # EOF');
  const lines = text.slice(0, -1).split('\n');
  assert.equal(lines.pop(), '# EOF');
  assert.ok(!lines.includes('# EOF'), 'only one # EOF');
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  let current: string | undefined;
  for (const line of lines) {
    const meta = /^# (TYPE|HELP|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        assert.ok(!types.has(meta[2]!), `family ${meta[2]} declared twice`);
        types.set(meta[2]!, meta[3]!);
        current = meta[2]!;
      } else assert.equal(meta[2], current, `${meta[1]} for ${meta[2]} outside its family`);
      if (meta[1] === 'UNIT') assert.ok(meta[2]!.endsWith(`_${meta[3]}`), 'unit is the name suffix');
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment ${line}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/s.exec(line); // label values may hold a raw CR (OpenMetrics allows it)
    assert.ok(m, `bad sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const body = m[2].slice(1, -1);
      let i = 0;
      while (i < body.length) {
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(body.slice(i));
        assert.ok(lm, `bad label at ${body.slice(i)}`);
        i += lm[0].length;
        let v = '';
        for (;;) {
          const c = body[i];
          assert.ok(c !== undefined, 'unterminated label value');
          assert.notEqual(c, '\n', 'raw newline in a label value');
          if (c === '\\') {
            const e = body[i + 1];
            assert.ok(e === '\\' || e === '"' || e === 'n', `bad escape \\${e}`);
            v += e === 'n' ? '\n' : e;
            i += 2;
          } else if (c === '"') {
            i++;
            break;
          } else {
            v += c;
            i++;
          }
        }
        assert.ok(!(lm[1]! in labels), `duplicate label ${lm[1]}`);
        labels[lm[1]!] = v;
        if (body[i] === ',') i++;
      }
    }
    const name = m[1]!;
    assert.ok(current && name.startsWith(current), `sample ${name} outside its family ${current}`);
    const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value), `bad value ${m[3]}`);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

test('OpenMetrics: histograms are cumulative, +Inf equals _count, counters are _total, # EOF last', () => {
  const msgs = hostileStream();
  const rep = aggregate(msgs).report();
  const text = toOpenMetrics(rep);
  const { types, samples } = parseOpenMetrics(text);
  assert.equal(types.get('nslat_stage_latency_seconds'), 'histogram');
  assert.equal(types.get('nslat_napi_poll_packets'), 'histogram');
  assert.equal(types.get('nslat_skb_drops'), 'counter');
  for (const s of samples) {
    const fam = [...types.keys()].find((f) => s.name === f || s.name.startsWith(`${f}_`))!;
    assert.ok(fam, `${s.name} has a TYPE`);
    if (types.get(fam) === 'counter') assert.equal(s.name, `${fam}_total`);
    assert.ok(s.value >= 0);
  }

  // group histogram series by their labels without le
  const series = new Map<string, { buckets: Array<[string, number]>; count?: number; sum?: number }>();
  for (const s of samples) {
    const m = /^(nslat_stage_latency_seconds|nslat_napi_poll_packets)_(bucket|count|sum)$/.exec(s.name);
    if (!m) continue;
    const { le, ...rest } = s.labels;
    const id = `${m[1]}${JSON.stringify(rest)}`;
    const e = series.get(id) ?? { buckets: [] };
    if (m[2] === 'bucket') e.buckets.push([le!, s.value]);
    else if (m[2] === 'count') e.count = s.value;
    else e.sum = s.value;
    series.set(id, e);
  }
  const histStages = rep.stages.filter((s) => s.cpu === undefined);
  assert.equal(series.size, histStages.length, 'one histogram per series that is not one CPU\'s share (IRQ series over all CPUs)');
  for (const [id, e] of series) {
    let prevLe = -Infinity;
    let prev = 0;
    for (const [le, v] of e.buckets) {
      const bound = le === '+Inf' ? Infinity : Number(le);
      assert.ok(bound > prevLe, `${id}: le not increasing at ${le}`);
      assert.ok(v >= prev, `${id}: bucket counts not cumulative at le=${le}`);
      prevLe = bound;
      prev = v;
    }
    assert.equal(e.buckets[e.buckets.length - 1]![0], '+Inf');
    assert.equal(e.buckets[e.buckets.length - 1]![1], e.count, `${id}: +Inf equals _count`);
    assert.ok(e.sum !== undefined && e.sum >= 0);
  }

  // values: the first RX stage, in seconds
  const s0 = rep.stages[0]!;
  const c = samples.find((s) => s.name === 'nslat_stage_latency_seconds_count' && s.labels.stage === s0.name && s.labels.dir === 'rx')!;
  assert.equal(c.value, s0.count);
  assert.equal(c.labels.host, 'lab1');
  assert.equal(c.labels.kind, 'stage');
  const sum = samples.find((s) => s.name === 'nslat_stage_latency_seconds_sum' && s.labels.stage === s0.name)!;
  assert.ok(Math.abs(sum.value - s0.sum / 1e9) < 1e-12);
  // le bounds sit at the log-linear upper edges (bucketUpper, in exact seconds); each carries the
  // count of every bucket up to it; every bound from the one below the smallest value's power of two
  // to the top of the largest's is there (a contiguous range), and none outside it
  const les = samples.filter((s) => s.name === 'nslat_stage_latency_seconds_bucket' && s.labels.stage === s0.name && s.labels.dir === 'rx' && s.labels.le !== '+Inf');
  const upperText = new Map(Array.from({ length: HIST_BUCKETS - 1 }, (_, i) => [nsToSecondsText(bucketUpper(i)), i] as const));
  assert.ok(les.length > 0 && les.length < HIST_BUCKETS - 1, `${les.length} bounds: only the range the stage used`);
  const idx = les.map((l) => upperText.get(l.labels.le!)!);
  for (let k = 1; k < idx.length; k++) assert.equal(idx[k], idx[k - 1]! + 1, 'the bounds are contiguous');
  assert.equal((idx[0]! + 1) % 8, 0, 'the range starts at a power of two');
  assert.equal((idx[idx.length - 1]! + 1) % 8, 0, 'and ends at one');
  for (const l of les) {
    const i = upperText.get(l.labels.le!);
    assert.ok(i !== undefined, `le=${l.labels.le} is not a bucket's upper edge`);
    assert.equal(l.value, s0.buckets.slice(0, i + 1).reduce((a, b) => a + b, 0), `le=${l.labels.le} covers buckets 0..${i}`);
  }
  for (let i = 0; i < HIST_BUCKETS - 1; i++) {
    if (!(s0.buckets[i]! > 0)) continue;
    for (const j of [i, i - 1].filter((x) => x >= 0)) assert.ok(les.some((l) => l.labels.le === nsToSecondsText(bucketUpper(j))), `bucket ${j}'s bound is written`);
  }
  // the edges are not powers of two: 1024 ns and 1151 ns are bucket 64's, 1152 ns bucket 65's
  assert.equal(nsToSecondsText(bucketUpper(bucketOf(1024))), '0.000001151');
  assert.equal(nsToSecondsText(bucketUpper(bucketOf(1152))), '0.000001279');

  // escaping: hostile names come back unchanged
  const evil = samples.find((s) => s.name === 'nslat_stage_latency_seconds_count' && s.labels.stage?.startsWith('evil'))!;
  assert.equal(evil.labels.stage, 'evil "quoted", with\\backslash\nand newline\r\nand CRLF');
  assert.equal(evil.value, 4);
  assert.ok(samples.some((s) => s.name === 'nslat_activity_total' && s.labels.counter === 'weird"counter'), 'an unknown counter is activity');
  assert.ok(samples.some((s) => s.name === 'nslat_skb_drops_total' && s.labels.reason === 'NO\\SOCKET\n' && s.value === 2));
  // IRQ series: histograms over all CPUs (no cpu label), and each CPU's share as counters
  assert.ok(samples.some((s) => s.name === 'nslat_stage_latency_seconds_count' && s.labels.kind === 'softirq_delay' && s.labels.vec === '3' && s.labels.cpu === undefined));
  const perCpu = rep.stages.find((s) => s.kind === 'softirq_delay' && s.vec === 3 && s.cpu === 1)!;
  const cpuEvents = samples.find((s) => s.name === 'nslat_irq_cpu_events_total' && s.labels.kind === 'softirq_delay' && s.labels.cpu === '1' && s.labels.vec === '3')!;
  assert.equal(cpuEvents.value, perCpu.count);
  const cpuSeconds = samples.find((s) => s.name === 'nslat_irq_cpu_seconds_total' && s.labels.kind === 'softirq_delay' && s.labels.cpu === '1' && s.labels.vec === '3')!;
  assert.ok(Math.abs(cpuSeconds.value - perCpu.sum / 1e9) < 1e-12);
  // loss: every loss with what it is a share of; activity apart
  const lost = (loss: string) => samples.find((s) => s.name === 'nslat_lost_total' && s.labels.loss === loss)?.value;
  const base = (loss: string) => samples.find((s) => s.name === 'nslat_loss_base_total' && s.labels.loss === loss);
  assert.equal(lost('ringbuf_drop'), 5);
  assert.equal(lost('lost_snapshots'), 0);
  assert.deepEqual([base('ringbuf_drop')!.labels.base, base('ringbuf_drop')!.value], ['started_packets', rep.activity.started!.total]);
  assert.deepEqual([base('lost_snapshots')!.labels.base, base('lost_snapshots')!.value], ['snapshots', 2]);
  assert.equal(base('irq_out_of_range')!.labels.base, 'hard_irqs');
  assert.equal(lost('started'), undefined, 'started is activity');
  assert.ok(samples.some((s) => s.name === 'nslat_activity_total' && s.labels.counter === 'started'));
  assert.ok(!samples.some((s) => s.name === 'nslat_activity_total' && s.labels.counter === 'ringbuf_drop'));
  assert.ok(samples.some((s) => s.name === 'nslat_prog_run_seconds_total' && s.labels.prog === 'handle_netif_rx'));
});

test('OpenMetrics helpers: label escaping and exact ns → s text', () => {
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assert.equal(nsToSecondsText(0), '0');
  assert.equal(nsToSecondsText(1), '0.000000001');
  assert.equal(nsToSecondsText(1023), '0.000001023');
  assert.equal(nsToSecondsText(1_500_000_000), '1.5');
  assert.equal(nsToSecondsText(2 ** 30 - 1), '1.073741823');
  // an empty report is still a valid exposition
  const { types } = parseOpenMetrics(toOpenMetrics(new Aggregator().report()));
  assert.equal(types.get('nslat_stage_latency_seconds'), 'histogram');
});

// ------------------------------------------------------------------ seed-style text trace

test('seed trace: one line per packet per stage with the real delay and the cumulative time', () => {
  const agg = aggregate(makeStream());
  const journeys = agg.journeys();
  const text = formatSeedTrace(journeys, { wallMs: (ns) => agg.wallMs(ns) });
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, journeys.reduce((a, j) => a + j.marks.length - 1, 0));
  const re = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (rx|tx) (\S+)→(\S+) delay=(\d+)ns cumulative=(\d+)ns (.*)$/;
  const j = journeys[0]!;
  const mine = lines.slice(0, j.marks.length - 1);
  mine.forEach((l, k) => {
    const m = re.exec(l);
    assert.ok(m, l);
    assert.equal(m[2], j.dir);
    assert.equal(m[3], j.marks[k]!.boundary);
    assert.equal(m[4], j.marks[k + 1]!.boundary);
    assert.equal(Number(m[5]), j.marks[k + 1]!.t_ns - j.marks[k]!.t_ns, 'delay is the stage time, not a timestamp');
    assert.equal(Number(m[6]), j.marks[k + 1]!.t_ns);
    assert.ok(Number(m[5]) < 1e9, 'a delay, not an absolute time');
    const wall = (T0_WALL + (j.mono_ns + j.marks[k + 1]!.t_ns - T0_MONO)) / 1e6;
    assert.equal(m[1], isoMicros(wall));
    assert.match(m[7]!, /^(tcp|udp) ipv[46] sport=\d+ dport=\d+ len=\d+ ifindex=1 cpu=[01] (sampled|slow)/);
  });
  assert.match(mine[mine.length - 1]!, new RegExp(` end=${j.end}$`));
  assert.doesNotMatch(mine[0]!, /end=/);
  assert.equal(isoMicros(Date.UTC(2026, 10, 25, 18) + 1.5004), '2026-11-25T18:00:00.001500Z');
});

test('seed trace: odd journeys — unsorted marks, one mark, hostile names, no wall clock', () => {
  const j: JourneyMessage = {
    type: 'journey',
    slot: 'rx',
    dir: 'rx',
    reason: 'slow',
    mono_ns: 7_000_000_000,
    total_ns: 900,
    marks: [
      { boundary: 'b', t_ns: 500 },
      { boundary: 'a', t_ns: 0 },
      { boundary: 'c d\ne', t_ns: 900 },
    ],
    end: 'drop:NO SOCKET',
  };
  const lines = seedTraceLines(j);
  assert.deepEqual(lines, [
    '7.000000500 rx a→b delay=500ns cumulative=500ns slow',
    '7.000000900 rx b→c_d_e delay=400ns cumulative=900ns slow end=drop:NO_SOCKET',
  ]);
  assert.deepEqual(seedTraceLines({ ...j, marks: [{ boundary: 'a', t_ns: 0 }] }), []);
  assert.equal(formatSeedTrace([]), '');
});

/**
 * Which share of packets the probes measure. Every packet that passes the filters at its entry
 * boundary is counted (the probes' `seen` counter, exact); 1 in `measure_every` of them, chosen at
 * random before the clock is read, is measured through every later boundary (`started`). A packet
 * not measured costs the later boundaries one bit of a small table each and nothing else.
 *
 * By default the rate adapts: after each snapshot interval the session picks the smallest power of
 * two N that keeps the measured packets of the busiest probe object at or under
 * `maxMeasuredPerSec`. The default bound, 5 000 measured packets per second:
 *   - cost: a measured packet costs about 1.9 µs of BPF time more than one that is not, over all
 *     its hooks in rx, tx and irq (bench/: part 1 (a) against (e), loopback, on a VM whose clock
 *     reads take 30–40 ns), so 5 000 a second cost about 10 ms of CPU per second, 1 % of one CPU,
 *     however fast the traffic;
 *   - accuracy: each second still gives 50 values above the p99 and 500 over ten seconds; at
 *     150–320 k packets/s the stages' p50 and p99 read within 5 % of every-packet mode where a
 *     stage takes µs; where it takes 100–600 ns they differ by up to about 70 ns at p50 and 100 ns
 *     at p99, as a measured packet finds the measured path cold at 1 in N
 *     (test/kernel/accuracy.test.ts).
 * The probes' counters are summed over CPUs, so the bound holds for the total of an object, which
 * is what one CPU carrying all the traffic sees; traffic spread over several CPUs is measured less
 * on each.
 *
 * The IRQ object samples the same way (SessionSampling): it times 1 in N hard IRQs and softirq runs,
 * N adapting to the rate of those events under the same bound, and the kernel's own counters
 * (/proc/interrupts, /proc/softirqs) give their exact totals.
 *
 * Every-packet mode (N = 1 always) is for exact per-packet figures and for catching every slow
 * outlier (journeys with slow_ns); a fixed N is for comparing runs at the same rate.
 */

export type SamplingMode = { kind: 'adaptive'; maxMeasuredPerSec: number } | { kind: 'fixed'; every: number };

export const DEFAULT_MAX_MEASURED_PER_SEC = 5_000;
/** The largest N the adaptive rate picks (1 in 4096 of 100 M packets/s is still 24 000/s). */
export const MAX_MEASURE_EVERY = 4096;

export const EVERY_PACKET: SamplingMode = { kind: 'fixed', every: 1 };
export const ADAPTIVE: SamplingMode = { kind: 'adaptive', maxMeasuredPerSec: DEFAULT_MAX_MEASURED_PER_SEC };

/** The smallest power of two N with rate / N ≤ bound. */
function powerOfTwoFor(ratePerSec: number, bound: number): number {
  if (!(ratePerSec > bound) || !(bound > 0)) return 1;
  const n = 2 ** Math.ceil(Math.log2(ratePerSec / bound));
  return Math.min(MAX_MEASURE_EVERY, Math.max(1, n));
}

/**
 * The session's sampling rate. `observe` takes, after each snapshot, the packets seen per probe
 * object in that interval; it returns the new N when the rate should change.
 *
 * Hysteresis: N goes up as soon as the measured rate would exceed the bound, and comes down only
 * to an N that keeps it under half the bound, so a rate near a power of two does not flip N every
 * interval.
 */
export class MeasureRate {
  private n: number;

  constructor(readonly mode: SamplingMode = ADAPTIVE) {
    this.n = mode.kind === 'fixed' ? Math.max(1, Math.floor(mode.every)) : 1;
  }

  /** The N in force: 1 in N packets is measured. */
  get every(): number {
    return this.n;
  }

  observe(seenPerObject: readonly number[], intervalNs: number): number | undefined {
    if (this.mode.kind !== 'adaptive' || !(intervalNs > 0)) return undefined;
    const rate = Math.max(0, ...seenPerObject.filter((x) => Number.isFinite(x))) / (intervalNs / 1e9);
    const up = powerOfTwoFor(rate, this.mode.maxMeasuredPerSec);
    const down = powerOfTwoFor(rate, this.mode.maxMeasuredPerSec / 2);
    const next = up > this.n ? up : down < this.n ? down : this.n;
    if (next === this.n) return undefined;
    this.n = next;
    return next;
  }
}

/** The IRQ object's timed events in a snapshot's histograms: each timed hard IRQ, softirq run
 *  (its raise → entry delay; its run time is the same run's) and NAPI poll. */
export function timedIrqEvents(hists: ReadonlyArray<{ kind: string; count: number }>): number {
  let n = 0;
  for (const h of hists) if (h.kind === 'hardirq' || h.kind === 'softirq_delay' || h.kind === 'napi_work') n += h.count;
  return n;
}

/** What a snapshot says that the rates follow. */
export interface SamplingSnapshot {
  interval_ns: number;
  slots: ReadonlyArray<{ slot: string; counters: Readonly<Record<string, number>>; hists: ReadonlyArray<{ kind: string; count: number }> }>;
}

/** A rate that changed: 1 in `every` packets, or hard IRQs and softirq runs, is timed from now on. */
export interface RateChange {
  every: number;
  of: 'packets' | 'irq';
}

/**
 * Both rates of a session, in one mode: packets (the packet objects' `seen`, every packet past the
 * filters) and IRQ events (the IRQ object times 1 in N hard IRQs and softirq runs; the events it
 * timed, times the N in force, estimate all of them). `data` holds the globals every load starts
 * with; after each snapshot `observe` says which to `set`.
 */
export class SessionSampling {
  readonly packets: MeasureRate;
  readonly irq: MeasureRate;

  constructor(readonly mode: SamplingMode = ADAPTIVE) {
    this.packets = new MeasureRate(mode);
    this.irq = new MeasureRate(mode);
  }

  get data(): { measure_every: number; irq_measure_every: number } {
    return { measure_every: this.packets.every, irq_measure_every: this.irq.every };
  }

  /** `isIrq` tells the IRQ object's slot (its loaded `dir`). */
  observe(m: SamplingSnapshot, isIrq: (slot: string) => boolean): { data: Record<string, number>; changes: RateChange[] } | undefined {
    const data: Record<string, number> = {};
    const changes: RateChange[] = [];
    const n = this.packets.observe(m.slots.filter((s) => !isIrq(s.slot)).map((s) => s.counters.seen ?? 0), m.interval_ns);
    if (n !== undefined) {
      data.measure_every = n;
      changes.push({ every: n, of: 'packets' });
    }
    const irqSlots = m.slots.filter((s) => isIrq(s.slot));
    if (irqSlots.length) {
      const ni = this.irq.observe(irqSlots.map((s) => timedIrqEvents(s.hists) * this.irq.every), m.interval_ns);
      if (ni !== undefined) {
        data.irq_measure_every = ni;
        changes.push({ every: ni, of: 'irq' });
      }
    }
    return changes.length ? { data, changes } : undefined;
  }
}

/** `--measure` and the nslat.measure setting: "auto" (the default: adaptive), or N (1 in N
 *  packets; 1 is every packet). Undefined when the text is neither. */
export function parseSampling(text: string | number | undefined): SamplingMode | undefined {
  if (text === undefined || text === '' || text === 'auto') return ADAPTIVE;
  const n = typeof text === 'number' ? text : /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= MAX_MEASURE_EVERY ? { kind: 'fixed', every: n } : undefined;
}

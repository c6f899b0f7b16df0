/**
 * The long-running agent behind `nslat serve`: keeps one tracing session on a host running for as
 * long as it is asked to, and keeps what it measured as running totals that only grow, rendered as
 * OpenMetrics on demand (export/openmetrics.ts). Pure engine: no HTTP, no signals, no terminal
 * (src/cli/serve.ts adds those).
 *
 *  - Sessions come and go, the totals stay: one Aggregator takes every session's deltas, the
 *    host's counters included (its host.ts accumulator, read through Aggregator.hostTotals()), so
 *    a probe reload (the helper carries a replaced object's counts into the next snapshot) and a
 *    helper restart (its first snapshot counts from its own start) both continue the same
 *    counters. What happens while no helper runs is not counted, and nslat_up says so; the
 *    sockets' queues (gauges) are not written while no helper runs.
 *  - A session that ends on its own (the helper died, the SSH connection dropped) or cannot start
 *    is started again after a backoff that doubles from `firstMs` up to `maxMs`, and starts over
 *    from `firstMs` once a session has run for `resetAfterMs`.
 *  - Reloads: reloadAll() rebuilds every slot from its source (the --probes files, else the
 *    built-in sources); with `watch`, a change to a file in the probes directory reloads the slot it
 *    belongs to (a header: every slot), as the extension does on save. A failed reload leaves the
 *    old probes running and is counted.
 *  - Memory is bounded: the aggregator keeps a handful of intervals (the exposition needs only the
 *    totals), at most its maxSeries stage series and its journey ring; its host tables are capped
 *    (host.ts HostLimits) and forget interfaces, IRQ lines and sockets not named for
 *    SERVE_STALE_SAMPLES samples (their series end).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import { Aggregator } from './aggregate.ts';
import type { HostLimits } from './host.ts';
import { toOpenMetrics, type ExpositionFormat, type LiveStatus, type PerOctave } from './export/openmetrics.ts';
import type { HelperMessage } from './protocol.ts';
import { Session, type EndInfo, type ReloadResult, type SessionOptions } from './session.ts';

export interface Backoff {
  firstMs: number;
  maxMs: number;
  /** A session that ran this long resets the backoff to firstMs. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { firstMs: 1_000, maxMs: 60_000, resetAfterMs: 60_000 };

/** Samples after which serve forgets an interface, IRQ line or socket no sample named (HostLimits
 *  staleSamples): a fleet host's containers come and go with their veth interfaces, and their
 *  series should end rather than hold a table's room for good. */
export const SERVE_STALE_SAMPLES = 300;

export interface ServeAgentOptions {
  /** How each session starts (host, stages, filter, probes, interval, sampling, …). */
  session: Omit<SessionOptions, 'signal' | 'onProgress'>;
  /** The `host` label of every sample. */
  hostLabel: string;
  version: string;
  /** Buckets per power of two in the exposition (default 8). */
  perOctave?: PerOctave;
  /** Reload a slot when its file in session.probesDir changes (default: when probesDir is set). */
  watch?: boolean;
  /** Quiet time after the last file change before reloading (default 300 ms). */
  watchDebounceMs?: number;
  backoff?: Partial<Backoff>;
  /** Bounds of the host's tables (default: host.ts HOST_LIMITS, staleSamples SERVE_STALE_SAMPLES). */
  hostLimits?: Partial<HostLimits>;
  /** Aggregator caps (its series cap bounds the exported stage series). */
  maxSeries?: number;
  /** One line per event worth telling (start, loss, reload, warning). */
  log?: (line: string) => void;
  /** Every helper message, as it is added to the totals (e.g. to record a trace). */
  onMessage?: (m: HelperMessage) => void;
  /** Starts a session (tests inject one; default Session.start). */
  startSession?: (opts: SessionOptions) => Promise<Session>;
}

export type AgentState = 'starting' | 'up' | 'down' | 'stopping' | 'stopped';

export interface AgentHealth {
  state: AgentState;
  up: boolean;
  host: string;
  helper_pid?: number;
  helper_starts: number;
  helper_losses: Record<string, number>;
  snapshots: number;
  last_snapshot_ms?: number;
  last_error?: string;
  /** Program ids of the probes attached by the running helper. */
  prog_ids: number[];
  /** What is held: stage series, interfaces, IRQ lines, intervals (the memory bounds). */
  held: { series: number; ifaces: number; irqs: number; intervals: number };
  /** nslat serve's resident memory and JavaScript heap in use, bytes. */
  memory: { rss: number; heap_used: number };
}

export class ServeAgent {
  readonly agg: Aggregator;
  private readonly backoff: Backoff;
  private readonly log: (line: string) => void;
  private state: AgentState = 'starting';
  private session: Session | undefined;
  private starts = 0;
  private readonly losses: Record<string, number> = {};
  private readonly reloadCounts = new Map<string, { slot: string; ok: boolean; count: number }>();
  private snapshots = 0;
  private lastSnapshotMs: number | undefined;
  private lastError: string | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private startAbort: AbortController | undefined;
  private watcher: FSWatcher | undefined;
  private pending = new Set<string>();
  private watchTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ServeAgentOptions) {
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.log = opts.log ?? (() => {});
    // The exposition needs totals only: keep a handful of intervals, compacted at once.
    this.agg = new Aggregator({
      host: opts.hostLabel,
      maxIntervals: 8,
      fullResolutionMs: 0,
      maxJourneys: 64,
      maxReloads: 64,
      maxSeries: opts.maxSeries,
      hostLimits: { staleSamples: SERVE_STALE_SAMPLES, ...opts.hostLimits },
    });
  }

  get current(): Session | undefined {
    return this.session;
  }

  get status(): AgentState {
    return this.state;
  }

  /** Starts the loop that keeps a session running; returns at once. */
  start(): void {
    if (this.loop) return;
    this.loop = this.run();
    const dir = this.opts.session.probesDir;
    if (dir && (this.opts.watch ?? true)) this.watchProbes(dir);
  }

  /** Stops the session (the helper unloads everything) and the loop. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    this.watcher?.close();
    clearTimeout(this.watchTimer);
    this.startAbort?.abort();
    this.wake?.();
    const s = this.session;
    if (s && !s.ended) {
      const end = await s.stop();
      if (end.error) this.log(`stopping: ${end.error}`);
    }
    await this.loop;
    this.state = 'stopped';
  }

  /** Rebuilds every loaded slot from its source; failures leave the old probes running. */
  async reloadAll(): Promise<ReloadResult[]> {
    const s = this.session;
    if (!s || s.ended) {
      this.log('reload: no helper is running; the next one starts with the current probe files');
      return [];
    }
    return Promise.all([...s.loaded.keys()].map((slot) => s.reload(slot)));
  }

  /** Everything so far as OpenMetrics text (or the Prometheus text format 0.0.4). */
  metrics(format: ExpositionFormat = 'openmetrics'): string {
    const report = this.agg.report();
    const hello = this.session?.hello;
    const live: LiveStatus = {
      up: this.state === 'up',
      version: this.opts.version,
      helperStarts: this.starts,
      helperLosses: { ...this.losses },
      snapshots: this.snapshots,
      reloads: [...this.reloadCounts.values()],
    };
    if (hello) {
      live.kernel = hello.kernel;
      if (hello.arch !== undefined) live.arch = hello.arch;
      live.helperVersion = hello.helper_version;
    }
    if (this.state === 'up' && this.session) {
      live.measureEvery = this.session.sampling.packets.every;
      live.irqMeasureEvery = this.session.sampling.irq.every;
    }
    if (this.lastSnapshotMs !== undefined) live.lastSnapshotS = this.lastSnapshotMs / 1000;
    const mem = process.memoryUsage();
    live.memory = { rss: mem.rss, heapUsed: mem.heapUsed };
    return toOpenMetrics(report, { host: this.opts.hostLabel, perOctave: this.opts.perOctave, hostTotals: this.agg.hostTotals(), live, format });
  }

  health(): AgentHealth {
    const s = this.session;
    const host = this.agg.hostTotals();
    const h: AgentHealth = {
      state: this.state,
      up: this.state === 'up',
      host: this.opts.hostLabel,
      helper_starts: this.starts,
      helper_losses: { ...this.losses },
      snapshots: this.snapshots,
      prog_ids: s && !s.ended ? [...s.loaded.values()].flatMap((l) => l.programs.flatMap((p) => (p.status === 'attached' && p.prog_id !== undefined ? [p.prog_id] : []))) : [],
      memory: { rss: process.memoryUsage().rss, heap_used: process.memoryUsage().heapUsed },
      held: { series: this.agg.seriesCount(), ifaces: host.ifaces.size, irqs: host.irqs.size, intervals: this.agg.intervalCount() },
    };
    if (s && !s.ended) h.helper_pid = s.hello.pid;
    if (this.lastSnapshotMs !== undefined) h.last_snapshot_ms = this.lastSnapshotMs;
    if (this.lastError !== undefined) h.last_error = this.lastError;
    return h;
  }

  // ------------------------------------------------------------------ the loop

  private stopping(): boolean {
    return this.state === 'stopping' || this.state === 'stopped';
  }

  private async run(): Promise<void> {
    let delay = this.backoff.firstMs;
    const start = this.opts.startSession ?? ((o: SessionOptions) => Session.start(o));
    while (!this.stopping()) {
      const t0 = Date.now();
      this.startAbort = new AbortController();
      let s: Session | undefined;
      try {
        s = await start({ ...this.opts.session, signal: this.startAbort.signal });
      } catch (e) {
        this.count('start-failed');
        this.lastError = (e as Error)?.message ?? String(e);
        if (!this.stopping()) this.log(`could not start tracing on ${this.opts.hostLabel}: ${this.lastError}; retrying in ${Math.round(delay / 1000)} s`);
      }
      if (s) {
        if (this.stopping()) {
          await s.stop();
          break;
        }
        const end = await this.follow(s);
        if (this.stopping()) break;
        this.count(end.reason === 'stopped' ? 'helper-exited' : end.reason);
        this.lastError = end.error ?? end.reason;
        if (Date.now() - t0 >= this.backoff.resetAfterMs) delay = this.backoff.firstMs;
        this.log(`${end.error ?? `the helper on ${this.opts.hostLabel} stopped`}; reconnecting in ${Math.round(delay / 1000)} s`);
      }
      if (this.stopping()) break;
      this.state = 'down';
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = undefined;
      delay = Math.min(delay * 2, this.backoff.maxMs);
    }
  }

  /** Feeds one session into the totals until it ends. */
  private follow(s: Session): Promise<EndInfo> {
    this.session = s;
    this.starts++;
    this.state = 'up';
    this.agg.clearHostGauges();
    this.log(`tracing ${s.stages.filter((x) => s.loaded.has(x)).join(', ')} on ${s.host} (helper pid ${s.hello.pid}, kernel ${s.hello.kernel})`);
    s.subscribe((m) => {
      try {
        if (m.type === 'snapshot') {
          this.snapshots++;
          this.lastSnapshotMs = Date.now();
        }
        this.agg.ingest(m, Date.now());
        this.opts.onMessage?.(m);
      } catch (e) {
        this.log(`could not take a ${m.type} message: ${(e as Error)?.message ?? String(e)}`);
      }
    });
    s.on('warning', (w) => this.log(w));
    s.on('reload', (r) => {
      const key = `${r.slot}:${r.ok}`;
      const c = this.reloadCounts.get(key) ?? { slot: r.slot, ok: r.ok, count: 0 };
      c.count++;
      this.reloadCounts.set(key, c);
      if (r.ok) this.log(`reloaded ${r.slot}`);
      else {
        this.agg.markReload(r.slot, false, r.error);
        this.log(`reload of ${r.slot} failed, the previous probes keep running: ${r.error}`);
        for (const d of r.diagnostics.slice(0, 5)) this.log(`${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`);
      }
    });
    return new Promise<EndInfo>((resolve) => {
      const done = (end: EndInfo) => {
        if (this.session === s) this.session = undefined;
        if (!this.stopping()) this.state = 'down';
        this.agg.clearHostGauges();
        resolve(end);
      };
      if (s.ended) done(s.ended);
      else s.once('ended', done);
    });
  }

  private count(reason: string): void {
    this.losses[reason] = (this.losses[reason] ?? 0) + 1;
  }

  // ------------------------------------------------------------------ probe files

  private watchProbes(dir: string): void {
    try {
      this.watcher = watch(dir, (_event, file) => {
        const name = typeof file === 'string' ? basename(file) : '';
        if (!/\.(bpf\.c|h)$/.test(name)) return;
        this.pending.add(name);
        clearTimeout(this.watchTimer);
        this.watchTimer = setTimeout(() => void this.reloadChanged(), this.opts.watchDebounceMs ?? 300);
      });
      this.watcher.on('error', (e) => this.log(`watching ${dir} stopped: ${e.message}`));
    } catch (e) {
      this.log(`cannot watch ${dir} for changes (reload with SIGHUP): ${(e as Error).message}`);
    }
  }

  private async reloadChanged(): Promise<void> {
    const names = [...this.pending];
    this.pending.clear();
    const s = this.session;
    if (!s || s.ended || this.stopping()) return;
    const slots = names.some((n) => n.endsWith('.h')) ? [...s.loaded.keys()] : names.map((n) => n.replace(/\.bpf\.c$/, '')).filter((slot) => s.loaded.has(slot));
    for (const slot of new Set(slots)) {
      this.log(`${slot}: probe source changed, reloading`);
      await s.reload(slot);
    }
  }
}

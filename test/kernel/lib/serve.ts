/**
 * Runs the real `nslat serve` (bin/nslat, the built CLI) for the tests: started with the given
 * arguments on 127.0.0.1 and a free port, its stderr kept, /metrics parsed, /healthz read, stopped
 * by PID (SIGTERM, or SIGKILL to check that the helper cleans up on its own).
 */
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { AgentHealth } from '../../../src/core/serve.ts';
import { REPO, sleep } from './helper.ts';

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Samples of an OpenMetrics or Prometheus text exposition (the tests' own reading, enough for
 *  label values without escapes other than \\, \" and \n). */
export function parseSamples(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad sample line ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let lm = re.exec(m[2] ?? ''); lm; lm = re.exec(m[2] ?? '')) labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

export function sampleKey(s: MetricSample): string {
  return `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
}

export class Serve {
  stderr = '';

  private constructor(
    readonly proc: ResultPromise,
    readonly url: string,
    readonly port: number,
  ) {}

  /** Starts `nslat serve ARGS --listen 127.0.0.1:0` and waits until it listens. */
  static async start(args: string[], opts: { env?: Record<string, string>; uid?: number; gid?: number } = {}): Promise<Serve> {
    const proc = execa(process.execPath, [join(REPO, 'bin', 'nslat'), 'serve', '--listen', '127.0.0.1:0', ...args], {
      reject: false,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      env: { ...opts.env },
      extendEnv: true,
      uid: opts.uid,
      gid: opts.gid,
      buffer: false,
    });
    let err = '';
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`nslat serve did not listen within 30 s: ${err}`)), 30_000);
      proc.stderr!.on('data', (b: Buffer) => {
        err += b.toString('utf8');
        const m = /serving OpenMetrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
      void proc.then(() => {
        clearTimeout(t);
        reject(new Error(`nslat serve exited: ${err}`));
      });
    });
    const s = new Serve(proc, `http://127.0.0.1:${port}`, port);
    s.stderr = err;
    proc.stderr!.on('data', (b: Buffer) => { s.stderr += b.toString('utf8'); });
    return s;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async health(): Promise<{ status: number; body: AgentHealth }> {
    const r = await fetch(`${this.url}/healthz`);
    return { status: r.status, body: (await r.json()) as AgentHealth };
  }

  /** Waits until /healthz says `want` (up or down), bounded. */
  async waitHealth(pred: (h: AgentHealth) => boolean, what: string, timeoutMs = 90_000): Promise<AgentHealth> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const h = await this.health().catch(() => undefined);
      if (h && pred(h.body)) return h.body;
      if (Date.now() > deadline) throw new Error(`nslat serve: ${what} not seen within ${timeoutMs} ms; last health ${JSON.stringify(h?.body)}; stderr:\n${this.stderr.slice(-2000)}`);
      await sleep(250);
    }
  }

  async metricsText(openMetrics = true): Promise<{ text: string; type: string }> {
    const r = await fetch(`${this.url}/metrics`, { headers: openMetrics ? { accept: 'application/openmetrics-text; version=1.0.0' } : {} });
    return { text: await r.text(), type: r.headers.get('content-type') ?? '' };
  }

  async metrics(): Promise<MetricSample[]> {
    return parseSamples((await this.metricsText()).text);
  }

  /** Sends a signal and waits for the exit (bounded); returns its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | undefined> {
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const r = await this.proc;
    clearTimeout(t);
    return r.exitCode;
  }
}

/**
 * A real Prometheus (Debian's `prometheus` package) for the tests: started on 127.0.0.1 with its
 * own scrape configuration and data directory, bounded in time (it is killed by PID when the test
 * ends or after `maxS` seconds), and queried through its HTTP API.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export async function prometheusSkipReason(): Promise<string | undefined> {
  const r = await execa('prometheus', ['--version'], { reject: false });
  return r.exitCode === 0 ? undefined : 'the Prometheus tests need Debian\'s prometheus package (scripts/apt-packages.txt)';
}

export interface PromSample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: Array<[number, string]>;
}

export class Prometheus {
  private constructor(
    readonly url: string,
    private readonly proc: ResultPromise,
    private readonly dir: string,
    private readonly timer: NodeJS.Timeout,
  ) {}

  /** Starts Prometheus scraping `target` (host:port) every `scrapeS` seconds. */
  static async start(target: string, opts: { scrapeS?: number; maxS?: number } = {}): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'nslat-prom-'));
    const scrape = `${opts.scrapeS ?? 1}s`;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        `  scrape_interval: ${scrape}`,
        `  scrape_timeout: ${scrape}`,
        'scrape_configs:',
        '  - job_name: nslat',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const proc = execa(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { reject: false, stdout: 'ignore', stderr: 'pipe', buffer: true, cleanup: true },
    );
    const timer = setTimeout(() => proc.kill('SIGKILL'), (opts.maxS ?? 300) * 1000);
    timer.unref();
    const p = new Prometheus(`http://127.0.0.1:${port}`, proc, dir, timer);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`${p.url}/-/ready`).then((r) => r.ok, () => false);
      if (ok) return p;
      if (proc.exitCode !== null || Date.now() > deadline) {
        await p.stop();
        throw new Error(`prometheus did not become ready: ${String((await proc).stderr).slice(-800)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** An instant query at `time` (s; default now); throws with Prometheus's error when it fails. */
  async query(expr: string, time?: number): Promise<PromSample[]> {
    const q = new URLSearchParams({ query: expr });
    if (time !== undefined) q.set('time', String(time));
    const r = await fetch(`${this.url}/api/v1/query?${q}`);
    const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
    if (body.status !== 'success') throw new Error(`PromQL ${expr}: ${body.error ?? r.status}`);
    return body.data!.result;
  }

  /** The series matching a selector (what Grafana's label_values() reads). */
  async series(match: string): Promise<Array<Record<string, string>>> {
    const r = await fetch(`${this.url}/api/v1/series?${new URLSearchParams({ 'match[]': match })}`);
    const body = (await r.json()) as { status: string; error?: string; data?: Array<Record<string, string>> };
    if (body.status !== 'success') throw new Error(`series ${match}: ${body.error ?? r.status}`);
    return body.data!;
  }

  /** The scrape targets' health (up, last error). */
  async targets(): Promise<Array<{ health: string; lastError: string; scrapeUrl: string }>> {
    const r = await fetch(`${this.url}/api/v1/targets`);
    const body = (await r.json()) as { data: { activeTargets: Array<{ health: string; lastError: string; scrapeUrl: string }> } };
    return body.data.activeTargets;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.proc;
    clearTimeout(t);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

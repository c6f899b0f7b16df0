/**
 * End to end in a real VS Code build (code-server, as test/e2e/extension.test.ts): the panel's Host
 * tab in a live session. "nslat: Start Stack Trace" → "This machine" with bounded loopback traffic,
 * and a UDP reader on loopback that stops reading while a sender goes on (its receive buffer
 * overflows); the Host tab shows the loopback interface moving packets, every CPU, the protocol
 * counters with Udp.RcvbufErrors, the reader's socket with its pid, and the udp-rcvbuf-errors hint;
 * the Stages tab has a marker on its time axis where the counters moved, and a click on it says
 * what moved. Then Stop: the helper exits and none of its BPF programs is left loaded.
 *
 * Needs root, the code-server install and built bundles (`npm run test:e2e` does both). Run under
 * `flock /tmp/nslat-bpf.lock`. Screenshots: test-results/e2e-host-tab.png, e2e-host-marker.png.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import type { Browser, Page } from 'playwright-core';
import { CODE_SERVER, REPO, GiveUp, cleanupDirs, cmdline, descendants, groupMembers, launchBrowser, loadedProgIds, bpfProgIdsOf, makeRunDirs, packageExtension, pickQuickItem, runCommand, screenshot, startCodeServer, waitFor, webviewFrame, type CodeServer } from './harness.ts';
import { startLoopbackTraffic, type Traffic } from './traffic.ts';

const isRoot = process.getuid?.() === 0;
const built = existsSync(join(REPO, 'dist', 'extension.cjs'));
const STOPPED = join(REPO, 'test/kernel/lib/udp_stopped.py');

function helperPids(cs: CodeServer): number[] {
  return descendants(cs.proc.pid!).filter((p) => /nslat-helper/.test(cmdline(p)));
}

/** A UDP reader on 127.0.0.1 that reads 10 datagrams, then stops reading for `holdS` seconds while
 *  a sender sends 3000: its queue fills and the rest is dropped. */
async function stoppedReader(holdS: number): Promise<{ port: number; pid: number; done: Promise<unknown>; stop(): void }> {
  const reader: ResultPromise = execa('python3', [STOPPED, 'reader', '--bind', '127.0.0.1', '--read', '10', '--hold-s', String(holdS), '--timeout', String(holdS + 30)], { timeout: (holdS + 40) * 1000, reject: false, buffer: true, stdout: 'pipe' });
  const first = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    let acc = '';
    let said = false;
    const t = setTimeout(() => reject(new Error('the UDP reader did not start within 15 s')), 15_000);
    reader.stdout!.on('data', (b: Buffer) => {
      acc += b.toString('utf8');
      const nl = acc.indexOf('\n');
      if (nl >= 0 && !said) {
        said = true;
        clearTimeout(t);
        resolve(JSON.parse(acc.slice(0, nl)) as { port: number; pid: number });
      }
    });
  });
  const sender = execa('python3', [STOPPED, 'send', '--addr', '127.0.0.1', '--port', String(first.port), '--count', '3000', '--size', '1000', '--interval-ms', '1', '--timeout', '30'], { timeout: 35_000, reject: false });
  return {
    ...first,
    done: Promise.all([reader, sender]),
    stop: () => {
      for (const p of [reader, sender]) if (p.exitCode === null) p.kill('SIGKILL');
    },
  };
}

test('e2e: the Host tab in a live session, and a marker on the stage chart where the host counters moved', {
  timeout: 10 * 60_000,
  skip: !isRoot ? 'needs root to load BPF programs' : !existsSync(CODE_SERVER) ? 'code-server not installed: run scripts/install-code-server.sh (npm run test:e2e does)' : !built ? 'extension not built: npm run build' : false,
}, async (t) => {
  const t0 = Date.now();
  const mark = (what: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const dirs = makeRunDirs('nslat-e2e-host-');
  let cs: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let traffic: Traffic | undefined;
  let udp: Awaited<ReturnType<typeof stoppedReader>> | undefined;
  let failure: unknown;
  try {
    const vsix = await packageExtension(dirs);
    cs = await startCodeServer(dirs, { installVsix: vsix });
    mark(`code-server up on ${cs.url}`);
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
    await page.goto(`${cs.url}/?folder=${encodeURIComponent(dirs.workspace)}`);
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });

    await runCommand(page, 'nslat: Start Stack Trace');
    await pickQuickItem(page, 'This machine');
    traffic = await startLoopbackTraffic({ perSecond: 500, maxMs: 6 * 60_000 });
    const panel = webviewFrame(page);
    await waitFor('the panel to show a running session', async () => {
      const state = (await panel.locator('.state').first().textContent({ timeout: 2000 }))?.trim();
      if (state === 'failed') throw new GiveUp(`the session failed to start: ${await panel.locator('.session-message').first().textContent({ timeout: 1000 }).catch(() => '')}`);
      return state === 'running';
    }, 5 * 60_000, 1000);
    mark('session running');
    const helpers = await waitFor('the helper process under code-server', () => {
      const p = helperPids(cs!);
      return p.length ? p : undefined;
    }, 10_000);
    const ids = new Set(helpers.flatMap(bpfProgIdsOf));
    assert.ok(ids.size > 0, 'the helper holds BPF programs');

    // A reader that stops: its receive buffer overflows while the session runs. It keeps its full
    // queue for a while: the helper finds who holds a listed socket by walking /proc within a small
    // CPU budget per snapshot, which takes some snapshots on a machine running a VS Code.
    udp = await stoppedReader(80);
    mark(`UDP reader pid ${udp.pid} on port ${udp.port} stops after 10 datagrams`);

    await panel.locator('#tab-host').click();
    await waitFor('the Host tab to list the loopback interface moving packets', async () => {
      const row = panel.locator('#host-iface-table tbody tr[data-key="lo"] td');
      return (await row.count()) > 3 && /[1-9]/.test((await row.nth(2).textContent({ timeout: 1000 })) ?? '');
    }, 30_000, 500);
    const cpus = await panel.locator('#host-cpu-table tbody tr').count();
    assert.ok(cpus >= 1, 'every CPU has a row');
    const hintRow = panel.locator('#host-hints li[data-rule="udp-rcvbuf-errors"]');
    await waitFor('the udp-rcvbuf-errors hint naming the socket', async () => (await hintRow.count()) > 0 && ((await hintRow.first().textContent({ timeout: 1000 })) ?? '').includes(`127.0.0.1:${udp!.port}`), 30_000, 500);
    mark('hint shown');
    const hint = await waitFor('the hint to name the reader\'s process too', async () => {
      const text = (await hintRow.first().textContent({ timeout: 1000 })) ?? '';
      return text.includes(`python3 ${udp!.pid}`) ? text : undefined;
    }, 80_000, 500);
    mark(`hint with the process: ${hint.slice(0, 160)}`);
    const sock = panel.locator(`#host-socket-table tbody tr[data-key^="udp 127.0.0.1:${udp.port} "]`);
    assert.match((await sock.textContent()) ?? '', new RegExp(`python3 ${udp.pid}`), 'the reader\'s socket with its pid');
    const rcvbuf = (await panel.locator('#host-snmp-table tbody tr[data-key="Udp.RcvbufErrors"] td').first().textContent()) ?? '';
    assert.match(rcvbuf, /[1-9]/, `Udp.RcvbufErrors counted: ${rcvbuf}`);
    for (const id of ['host-packets-canvas', 'host-cpu-chart-canvas', 'host-event-rates-canvas']) {
      const ink = await panel.locator(`#${id}`).evaluate((c: unknown) => {
        const cv = c as { width: number; height: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
        const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
        return n;
      });
      assert.ok(ink > 500, `${id} is drawn (${ink} pixels)`);
    }
    await panel.locator('#host-hints-card').scrollIntoViewIfNeeded();
    const shot = await screenshot(page, 'host-tab');
    mark(`screenshot ${shot}`);

    // The stage chart's time axis has a marker where the counters moved; a click says what.
    await panel.locator('#tab-stages').click();
    const positions = async () => (await panel.locator('body').evaluate(() => (globalThis as unknown as { nslatPanel: { markers: { stages: { positions(t: string): Array<{ t_ms: number; x: number; y: number }> } } } }).nslatPanel.markers.stages.positions('timeseries'))) as Array<{ t_ms: number; x: number; y: number }>;
    await waitFor('a marker on the stage time chart', async () => ((await positions()).length ? true : undefined), 20_000, 500);
    const canvas = panel.locator('#timeseries-canvas');
    await canvas.scrollIntoViewIfNeeded();
    const detail = panel.locator('#timeseries-event-detail');
    // The live chart slides left as time passes: each try clicks where the newest marker is now.
    await waitFor('the marker\'s details after a click on it', async () => {
      const last = (await positions()).at(-1);
      if (!last) return undefined;
      await canvas.click({ position: { x: last.x, y: last.y - 3 } });
      await sleep(200);
      return (await detail.isVisible()) && (await detail.locator('li').count()) > 0 ? true : undefined;
    }, 20_000, 300);
    mark(`marker details: ${(await detail.textContent())?.slice(0, 200)}`);
    await screenshot(page, 'host-marker');

    await runCommand(page, 'nslat: Stop Stack Trace');
    await waitFor('the panel to show the session stopped', async () => (await panel.locator('.state').first().textContent({ timeout: 1000 }))?.trim() === 'stopped', 30_000, 500);
    await waitFor('the helper to exit', () => helperPids(cs!).length === 0, 15_000);
    const left = await loadedProgIds();
    assert.deepEqual([...ids].filter((id) => left.has(id)), [], 'no BPF program of the session is left loaded');
  } catch (e) {
    failure = e;
    if (page) await screenshot(page, 'host-failure');
    if (cs) t.diagnostic(`code-server log: ${cs.logFile}`);
    throw e;
  } finally {
    udp?.stop();
    await udp?.done.catch(() => undefined);
    await traffic?.stop();
    await browser?.close().catch(() => undefined);
    if (cs) {
      const pid = cs.proc.pid!;
      const tree = descendants(pid).map((p) => ({ p, cmd: cmdline(p) }));
      await cs.stop();
      const survivors = () => [...new Set([...groupMembers(pid), ...tree.filter((x) => cmdline(x.p) === x.cmd && x.cmd !== '').map((x) => x.p)])];
      const alive = await waitFor('code-server\'s processes to exit', () => (survivors().length === 0 ? true : undefined), 10_000).then(() => [], () => survivors());
      for (const p of alive) {
        try {
          process.kill(p, 'SIGKILL');
        } catch { /* gone */ }
      }
      if (!failure) assert.deepEqual(alive, [], `processes left behind by code-server: ${alive.map((p) => `${p} ${cmdline(p)}`).join('; ')}`);
    }
    cleanupDirs(dirs);
  }
});

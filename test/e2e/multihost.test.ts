/**
 * Several hosts, the compare view and saved traces in a real VS Code (code-server, as
 * extension.test.ts drives it), with two "hosts": this machine, and a real sshd on 127.0.0.1
 * (test/ssh/lib/sshd.ts) reached through an SSH config named in nslat.sshConfigFile.
 *
 *  1. The nslat sidebar lists this machine and the SSH config's Host aliases; its inline buttons
 *     start a session on each: two helpers, one panel whose host selector lists both, running.
 *  2. The Compare tab sets one stage on both hosts side by side (histograms overlaid, p50/p99
 *     over time, a row per host with packets): screenshot test-results/e2e-compare-hosts.png.
 *  3. Stopping the SSH host from the sidebar ends its helper (its programs unloaded) and leaves this
 *     machine's session running, still measuring.
 *  4. Started again and its SSH connection killed: the host is marked failed with the reason; this
 *     machine goes on.
 *  5. A saved trace (nslat-*.jsonl) opened from Quick Open shows in the panel, read-only, with its
 *     scrubber; a trace of an older protocol says why it cannot be shown.
 *  6. Stopping this machine leaves no program loaded.
 * Needs root, the code-server install and built bundles (`npm run test:e2e`).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import { TraceWriter } from '../../src/core/export/jsonl.ts';
import { makeStream } from '../fixtures/stream.ts';
import { startSshd, type SshFixture } from '../ssh/lib/sshd.ts';
import {
  GiveUp,
  e2eSkipReason,
  bpfProgIdsOf,
  cleanupDirs,
  cmdline,
  descendants,
  launchBrowser,
  loadedProgIds,
  makeRunDirs,
  packageExtension,
  runCommand,
  screenshot,
  startCodeServer,
  stopCodeServer,
  waitFor,
  webviewFrame,
  type CodeServer,
} from './harness.ts';
import { startLoopbackTraffic, type Traffic } from './traffic.ts';


/** Every live process whose command line runs the helper, with the BPF programs it holds. */
function helpers(): Array<{ pid: number; ids: number[] }> {
  const out: Array<{ pid: number; ids: number[] }> = [];
  for (const pid of descendants(1)) {
    if (!/nslat-helper/.test(cmdline(pid))) continue;
    const ids = bpfProgIdsOf(pid);
    if (ids.length) out.push({ pid, ids });
  }
  return out;
}

/** A row of the nslat sidebar whose label is exactly `label` (and whose text matches `also`). */
function treeRow(page: Page, label: string, also?: RegExp) {
  const rows = page.locator('.sidebar .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) });
  return also ? rows.filter({ hasText: also }) : rows;
}

/** Hovers a sidebar row and clicks its inline action. */
async function inline(page: Page, row: ReturnType<typeof treeRow>, action: string): Promise<void> {
  const r = row.first();
  await r.hover();
  await r.locator(`.action-label[aria-label*="${action}"]`).first().click();
}

async function hostOptions(panel: FrameLocator): Promise<string[]> {
  return panel.locator('#host-select option').allTextContents();
}

test('e2e: two hosts (this machine, sshd on 127.0.0.1) in one panel, compared; one stopped, one lost, the other running; saved traces in the panel', {
  timeout: 15 * 60_000,
  skip: e2eSkipReason(),
}, async (t) => {
  const t0 = Date.now();
  const mark = (what: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const dirs = makeRunDirs('nslat-e2e-hosts-');
  let fx: SshFixture | undefined;
  let cs: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let traffic: Traffic | undefined;
  let failure: unknown;
  const before = await loadedProgIds();
  try {
    fx = await startSshd();
    const ssh = fx.hosts.nopw;
    mark(`sshd on 127.0.0.1:${fx.port}, host alias ${ssh}`);
    const settingsFile = join(dirs.userData, 'User', 'settings.json');
    const settings = JSON.parse(readFileSync(settingsFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(settingsFile, JSON.stringify({ ...settings, 'nslat.sshConfigFile': fx.sshConfig, 'nslat.privilege': 'sudo-n', 'nslat.stages': ['rx', 'tx'] }, null, 2));
    // Two saved traces in the workspace: one of this protocol, one recorded with protocol 1.
    const w = new TraceWriter(join(dirs.workspace, 'nslat-lab1-saved.jsonl'), { host: 'lab1', kernel: '6.12.48' });
    for (const m of makeStream({ snapshots: 40 })) w.write(m);
    w.close();
    const old = makeStream({ snapshots: 3 }).map((m) => JSON.stringify({ recv_ms: 1, msg: m.type === 'hello' ? { ...m, protocol: 1 } : m }));
    writeFileSync(join(dirs.workspace, 'nslat-old.jsonl'), [JSON.stringify({ type: 'nslat-trace', version: 1, protocol: 1, host: 'old', kernel: '6.1', started: '2025-01-01T00:00:00.000Z' }), ...old].join('\n') + '\n');

    const vsix = await packageExtension(dirs);
    cs = await startCodeServer(dirs, { installVsix: vsix });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(`${cs.url}/?folder=${encodeURIComponent(dirs.workspace)}`);
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
    mark('workbench shown');

    // ---- 1. the sidebar: this machine and the SSH config's hosts; start both from there
    const bar = page.locator('.activitybar .action-item a[aria-label^="nslat"]').first();
    await waitFor('the nslat view in the activity bar', async () => (await bar.count()) > 0, 60_000, 1000);
    await bar.click();
    await waitFor(`"This machine" and ${ssh} in the nslat sidebar`, async () => (await treeRow(page!, 'This machine').count()) > 0 && (await treeRow(page!, ssh, /ssh config/).count()) > 0, 60_000, 1000);
    await screenshot(page, 'hosts-sidebar');
    mark('sidebar lists this machine and the SSH config hosts');
    traffic = await startLoopbackTraffic({ perSecond: 800, maxMs: 12 * 60_000 });
    await inline(page, treeRow(page, 'This machine'), 'Start Stack Trace');
    const panel = webviewFrame(page);
    await waitFor('this machine running in the panel', async () => {
      const state = (await panel.locator('.state').first().textContent({ timeout: 2000 }))?.trim();
      if (state === 'failed') throw new GiveUp(`the local session failed: ${await panel.locator('.session-message').first().textContent()}`);
      return state === 'running';
    }, 5 * 60_000, 1000);
    mark('this machine running');
    await inline(page, treeRow(page, ssh, /ssh config/), 'Start Stack Trace');
    await waitFor(`both hosts running in the panel's host selector`, async () => {
      const opts = await hostOptions(panel);
      if (opts.some((o) => /failed/.test(o))) throw new GiveUp(`a host failed: ${opts.join(', ')}; ${await panel.locator('.session-message').first().textContent()}`);
      return opts.length === 2 && opts.every((o) => / — running$/.test(o)) ? opts : undefined;
    }, 5 * 60_000, 1000).catch(async (e) => {
      await screenshot(page!, 'hosts-start-failed');
      throw e;
    });
    assert.deepEqual((await hostOptions(panel)).sort(), ['nslat-test — running', 'this machine — running']);
    const running = helpers().filter((h) => !before.has(h.ids[0]!));
    const local = running.filter((h) => descendants(cs!.proc.pid!).includes(h.pid));
    const remote = running.filter((h) => !local.includes(h));
    assert.equal(local.length, 1, `one helper under code-server: ${JSON.stringify(running)}`);
    assert.equal(remote.length, 1, `one helper under sshd: ${JSON.stringify(running)}`);
    mark(`two helpers: this machine pid ${local[0]!.pid} (${local[0]!.ids.length} programs), ${ssh} pid ${remote[0]!.pid} (${remote[0]!.ids.length} programs)`);
    await waitFor('the sidebar to list both sessions running', async () => (await treeRow(page!, 'this machine', /running/).count()) > 0 && (await treeRow(page!, ssh, /running/).count()) > 0, 30_000, 500);

    // ---- 2. the compare view: one stage on both hosts
    await panel.getByRole('tab', { name: 'Compare' }).click();
    const hostRows = panel.locator('#cmp-host-table tbody tr');
    await waitFor('both hosts with packets in the compare view', async () => {
      const rows = await hostRows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td, th')].map((c) => c.textContent ?? '')));
      return rows.length === 2 && rows.every((r) => /[1-9]/.test(r[2] ?? '')) ? rows : undefined;
    }, 90_000, 1000);
    const ink = await panel.locator('#cmp-hist-canvas').evaluate((el) => {
      const c = el as unknown as { width: number; height: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
      return n;
    });
    assert.ok(ink > 2000, `overlaid histograms drawn (${ink} px)`);
    const legend = await panel.locator('#cmp-hist ~ .chart-legend button, #cmp-hist .chart-legend button').allTextContents();
    assert.deepEqual(legend.sort(), ['nslat-test', 'this machine']);
    const stage = await panel.locator('#cmp-stage option:checked').textContent();
    await page.waitForTimeout(1500); // one more refresh of the lines
    const shot = await screenshot(page, 'compare-hosts');
    mark(`compare view: ${stage} on both hosts; screenshot ${shot}`);

    // ---- 3. stop the SSH host from the sidebar: this machine keeps running
    await inline(page, treeRow(page, ssh, /running/), 'Stop Stack Trace');
    await waitFor(`${ssh} stopped in the host selector`, async () => (await hostOptions(panel)).includes('nslat-test — stopped'), 60_000, 500);
    assert.ok((await hostOptions(panel)).includes('this machine — running'), 'this machine still running');
    await waitFor(`${ssh}'s helper to exit`, () => !helpers().some((h) => h.pid === remote[0]!.pid), 20_000);
    const left = await loadedProgIds();
    assert.deepEqual(remote[0]!.ids.filter((id) => left.has(id)), [], `${ssh}'s programs unloaded`);
    assert.ok(local[0]!.ids.every((id) => left.has(id)), 'this machine\'s programs still loaded');
    await panel.locator('#host-select').selectOption('local');
    await waitFor('the panel on this machine, running', async () => (await panel.locator('.host').textContent())?.includes('local') && (await panel.locator('.state').first().textContent())?.trim() === 'running', 20_000, 500);
    await panel.getByRole('tab', { name: 'Stages' }).click();
    const count = async () => Number((await panel.locator('#stage-table tbody tr').first().locator('td').nth(2).textContent())?.replace(/[^\d.]/g, '') ?? 0);
    const c0 = await count();
    await waitFor('this machine to keep measuring after the other host stopped', async () => (await count()) !== c0, 30_000, 1000);
    mark(`${ssh} stopped (helper gone, ${remote[0]!.ids.length} programs unloaded); this machine still measuring`);

    // ---- 4. start the SSH host again and cut its connection: failed with the reason, this machine goes on
    await inline(page, treeRow(page, ssh, /stopped/), 'Start Stack Trace');
    await waitFor(`${ssh} running again`, async () => (await hostOptions(panel)).includes('nslat-test — running'), 5 * 60_000, 1000);
    const sshPid = await waitFor('the ssh process carrying the helper', () => descendants(cs!.proc.pid!).find((p) => /^(\S*\/)?ssh .*nslat-helper/.test(cmdline(p))), 20_000);
    process.kill(sshPid, 'SIGKILL');
    await waitFor(`${ssh} marked failed`, async () => (await hostOptions(panel)).includes('nslat-test — failed'), 60_000, 500);
    const reason = (await panel.locator('#host-select option[value="nslat-test"]').getAttribute('title')) ?? '';
    assert.match(reason, /lost the connection to nslat-test|stopped unexpectedly/, `the reason: ${reason}`);
    assert.ok((await hostOptions(panel)).includes('this machine — running'), 'this machine still running');
    assert.ok(helpers().some((h) => h.pid === local[0]!.pid), 'this machine\'s helper still up');
    await screenshot(page, 'host-lost');
    mark(`${ssh}'s connection killed: marked failed ("${reason}"); this machine running`);

    // ---- 5. saved traces open in the panel
    await page.keyboard.press('Control+P');
    const quick = page.locator('.quick-input-widget .quick-input-box input');
    await quick.waitFor({ state: 'visible', timeout: 10_000 });
    await quick.fill('nslat-lab1-saved.jsonl');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'nslat-lab1-saved.jsonl' }).first().waitFor({ state: 'visible', timeout: 20_000 });
    await quick.press('Enter');
    const trace = webviewFrame(page);
    await waitFor('the saved trace in the panel', async () => (await trace.locator('.state').first().textContent({ timeout: 2000 }))?.trim() === 'saved trace' && (await trace.locator('.host').textContent())?.includes('lab1'), 60_000, 1000);
    assert.match((await trace.locator('.session-message').textContent()) ?? '', /^Saved trace nslat-lab1-saved\.jsonl recorded .*: 40 intervals over 40 s; read-only\.$/);
    assert.ok((await trace.locator('#stage-table tbody tr').count()) > 5, 'its stages');
    const readout = trace.locator('#scrubber-readout');
    assert.match((await readout.textContent()) ?? '', /^interval 40 of 40 · /);
    await trace.locator('#scrubber-range').focus();
    await page.keyboard.press('Home');
    await waitFor('the scrubber at the first interval', async () => /^interval 1 of 40 · /.test((await readout.textContent()) ?? ''), 10_000, 250);
    await page.keyboard.press('ArrowRight');
    await waitFor('the scrubber at the second interval', async () => /^interval 2 of 40 · /.test((await readout.textContent()) ?? ''), 10_000, 250);
    const traceShot = await screenshot(page, 'trace');
    mark(`saved trace in the panel, scrubbed to interval 2; screenshot ${traceShot}`);
    await runCommand(page, 'View: Close Editor');
    await page.keyboard.press('Control+P');
    await quick.fill('nslat-old.jsonl');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'nslat-old.jsonl' }).first().waitFor({ state: 'visible', timeout: 20_000 });
    await quick.press('Enter');
    await waitFor('the old trace refused with the reason', async () => /protocol version 1 \(32 log2 buckets per histogram\)/.test((await webviewFrame(page!).locator('.session-message').textContent({ timeout: 2000 })) ?? ''), 60_000, 1000);
    mark('a protocol 1 trace says why it cannot be shown');
    await runCommand(page, 'View: Close Editor');

    // ---- 6. stop this machine: nothing left loaded
    await runCommand(page, 'nslat: Stop Stack Trace');
    await waitFor('this machine\'s helper to exit', () => !helpers().some((h) => h.pid === local[0]!.pid), 30_000);
    const after = await loadedProgIds();
    assert.deepEqual(local[0]!.ids.filter((id) => after.has(id)), [], 'this machine\'s programs unloaded');
    mark('this machine stopped; no program of either host left loaded');
  } catch (e) {
    failure = e;
    if (page) await screenshot(page, 'hosts-failure');
    if (cs) t.diagnostic(`code-server log: ${cs.logFile}`);
    throw e;
  } finally {
    await traffic?.stop();
    await browser?.close().catch(() => undefined);
    if (cs) {
      const left = await stopCodeServer(cs);
      if (!failure) assert.deepEqual(left, [], `processes left behind by code-server: ${left.join('; ')}`);
      else if (left.length) t.diagnostic(`processes left behind by code-server (killed): ${left.join('; ')}`);
    }
    await fx?.stop();
    cleanupDirs(dirs);
  }
});

/**
 * End to end in a real VS Code build (code-server 4.100.3, see ../../../shared/E2E-NOTES.md or
 * scripts/install-code-server.sh): start a session on this machine from the F1 palette, see the
 * panel fill with live data while the test sends loopback traffic, open the probe sources, break a
 * probe and see the compile error in the Problems view, fix it and see the reload in the panel, stop,
 * and check that none of the session's BPF programs is left loaded.
 *
 * Needs root (the helper loads BPF), the code-server install (npm run test:e2e does it) and a built
 * extension (npm run build). Screenshots go to test-results/e2e-*.png.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  CODE_SERVER,
  GiveUp,
  REPO,
  bpfProgIdsOf,
  cleanupDirs,
  cmdline,
  descendants,
  groupMembers,
  launchBrowser,
  loadedProgIds,
  makeRunDirs,
  packageExtension,
  pickQuickItem,
  runCommand,
  screenshot,
  startCodeServer,
  waitFor,
  webviewFrame,
  type CodeServer,
} from './harness.ts';
import { startLoopbackTraffic, type Traffic } from './traffic.ts';

const isRoot = process.getuid?.() === 0;
const built = existsSync(join(REPO, 'dist', 'extension.cjs'));

function helperPids(cs: CodeServer): number[] {
  return descendants(cs.proc.pid!).filter((p) => /nslat-helper/.test(cmdline(p)));
}

test('e2e: Start Stack Trace → live panel → break and fix a probe → Stop, in code-server', {
  timeout: 12 * 60_000,
  skip: !isRoot ? 'needs root to load BPF programs' : !existsSync(CODE_SERVER) ? 'code-server not installed: run scripts/install-code-server.sh (npm run test:e2e does)' : !built ? 'extension not built: npm run build' : false,
}, async (t) => {
  const t0 = Date.now();
  const mark = (what: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const dirs = makeRunDirs();
  let cs: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let traffic: Traffic | undefined;
  const pageErrors: string[] = [];
  let failure: unknown;
  try {
    const vsix = await packageExtension(dirs);
    mark('packaged the extension');
    cs = await startCodeServer(dirs, { installVsix: vsix });
    mark(`code-server up on ${cs.url}`);
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${cs.url}/?folder=${encodeURIComponent(dirs.workspace)}`);
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
    mark('workbench shown');

    // ---- Start Stack Trace → This machine
    await runCommand(page, 'nslat: Start Stack Trace');
    mark('Start Stack Trace run from the palette');
    await pickQuickItem(page, 'This machine');
    mark('picked "This machine"');
    traffic = await startLoopbackTraffic({ perSecond: 1000, maxMs: 8 * 60_000 });

    const panel = webviewFrame(page);
    // The first start on a machine builds the helper and the probes there (unprivileged), so be patient.
    await waitFor('the panel to show a running session', async () => {
      const state = (await panel.locator('.state').first().textContent({ timeout: 2000 }))?.trim();
      if (state === 'failed') {
        const msg = await panel.locator('.session-message').first().textContent({ timeout: 1000 }).catch(() => '');
        throw new GiveUp(`the session failed to start: ${msg}`);
      }
      return state === 'running';
    }, 6 * 60_000, 1000).catch(async (e) => {
      await screenshot(page!, 'start-failed');
      throw e;
    });
    mark('panel: session running');
    const rows = panel.locator('#stage-table tbody tr');
    await waitFor('stage rows with packet counts in the panel', async () => (await rows.count()) > 0, 60_000, 500);
    const events = await waitFor('events/s above zero in the health row', async () => {
      const text = (await panel.locator('#health-events').textContent({ timeout: 1000 }))?.trim() ?? '';
      return /[1-9]/.test(text) ? text : undefined;
    }, 60_000, 500);
    const stageNames = await rows.locator('td, th').first().allTextContents().catch(() => []);
    mark(`panel live: ${await rows.count()} stage rows, ${events} events/s (first: ${stageNames.join(', ')})`);
    const status = page.locator('.statusbar-item', { hasText: 'nslat: this machine' }).first();
    await waitFor('the status bar to show host, state and events/s', async () => /running · [0-9.]+k? ev\/s/.test((await status.textContent()) ?? ''), 15_000);
    await page.waitForTimeout(1500);
    await screenshot(page, 'panel-live');

    // The helper and the BPF programs it holds.
    const helpers = await waitFor('the helper process under code-server', () => {
      const p = helperPids(cs!);
      return p.length ? p : undefined;
    }, 10_000);
    const idsAtStart = new Set(helpers.flatMap(bpfProgIdsOf));
    assert.ok(idsAtStart.size > 0, `the helper (pids ${helpers.join(', ')}) holds no BPF programs`);
    const loaded = await loadedProgIds();
    for (const id of idsAtStart) assert.ok(loaded.has(id), `prog ${id} held by the helper is not in bpftool prog show`);
    mark(`helper pid ${helpers.join(', ')} holds ${idsAtStart.size} BPF programs`);

    // ---- Open Probe Sources
    await runCommand(page, 'nslat: Open Probe Sources');
    const tab = page.locator('.tabs-container .tab', { hasText: 'rx.bpf.c' }).first();
    await tab.waitFor({ state: 'visible', timeout: 30_000 });
    const note = page.locator('.notifications-toasts', { hasText: 'They run on this machine' }).first();
    await note.waitFor({ state: 'visible', timeout: 15_000 });
    assert.ok(existsSync(join(dirs.workspace, '.nslat', 'probes', 'rx.bpf.c')), 'rx.bpf.c was not copied to .nslat/probes in the workspace');
    mark('probe sources opened in .nslat/probes');

    // ---- Break the probe in the editor and save
    await tab.click();
    const editor = page.locator('.editor-group-container.active .monaco-editor').first();
    await editor.locator('.view-lines').click({ position: { x: 40, y: 10 } });
    await page.keyboard.press('Control+Home');
    await page.keyboard.type('int nslat_e2e_broken = ;');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+S');
    mark('inserted a syntax error at line 1 and saved');
    await page.keyboard.press('Control+Shift+M'); // Problems view
    const problems = page.locator('.markers-panel');
    // Ours (source "nslat clang": from the reload on the target), not the language server's own check.
    const problem = problems.locator('.monaco-list-row', { hasText: 'expected expression' }).filter({ hasText: 'nslat clang' }).first();
    await waitFor('the compile error in the Problems view', async () => problem.isVisible(), 120_000, 500).catch(async (e) => {
      await screenshot(page!, 'problems-missing');
      throw e;
    });
    const problemText = (await problem.textContent()) ?? '';
    assert.match(problemText, /Ln 1, Col 2[0-9]/, `the diagnostic is not on line 1 at the "= ;" column: ${problemText}`);
    assert.ok(await editor.locator('.squiggly-error').count() > 0, 'no error squiggle in the editor');
    await waitFor('the panel to show the failed reload', async () => {
      const msg = (await panel.locator('.session-message').first().textContent({ timeout: 1000 })) ?? '';
      return /failed/i.test(msg) && /previous probes keep running/.test(msg);
    }, 30_000, 500);
    assert.equal((await panel.locator('.state').first().textContent())?.trim(), 'running', 'the session must keep running after a failed reload');
    const idsAfterBreak = new Set(helperPids(cs).flatMap(bpfProgIdsOf));
    assert.deepEqual([...idsAfterBreak].sort(), [...idsAtStart].sort(), 'a failed reload must leave the old programs in place');
    mark(`diagnostic shown: ${problemText.replace(/\s+/g, ' ').trim()}`);
    await screenshot(page, 'probe-broken');

    // ---- Fix it (delete the inserted line) and save: the reload succeeds
    await editor.locator('.view-lines').click({ position: { x: 40, y: 10 } });
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Delete');
    await page.keyboard.press('Control+S');
    mark('removed the error and saved');
    await waitFor('the panel to show the successful reload', async () => {
      const msg = (await panel.locator('.session-message').first().textContent({ timeout: 1000 })) ?? '';
      return /Reloaded rx\.bpf\.c/.test(msg);
    }, 120_000, 500).catch(async (e) => {
      await screenshot(page!, 'reload-missing');
      throw e;
    });
    await waitFor('the Problems view to clear', async () => (await problems.locator('.monaco-list-row', { hasText: 'expected expression' }).count()) === 0, 30_000);
    const idsAfterFix = new Set(helperPids(cs).flatMap(bpfProgIdsOf));
    assert.ok([...idsAfterFix].some((id) => !idsAtStart.has(id)), 'a successful reload must load new programs');
    mark(`reload succeeded: ${idsAfterFix.size} programs held now`);
    await page.waitForTimeout(1500);
    await screenshot(page, 'probe-reloaded');

    // ---- Stop
    const everyId = new Set([...idsAtStart, ...idsAfterFix]);
    await runCommand(page, 'nslat: Stop Stack Trace');
    await waitFor('the panel to show the session stopped', async () => (await panel.locator('.state').first().textContent({ timeout: 1000 }))?.trim() === 'stopped', 30_000, 500);
    await waitFor('the helper to exit', () => helperPids(cs!).length === 0, 15_000);
    const left = await loadedProgIds();
    const leaked = [...everyId].filter((id) => left.has(id));
    assert.deepEqual(leaked, [], `BPF programs of the session still loaded after Stop: ${leaked.join(', ')}`);
    mark(`stopped: none of the session's ${everyId.size} programs is loaded`);
    await screenshot(page, 'stopped');

    // ---- Export Trace (JSON Lines): the session's data stays after Stop
    await runCommand(page, 'nslat: Export Trace');
    await pickQuickItem(page, 'JSON Lines');
    // code-server's save dialog is a quick input holding the proposed path.
    const pathBox = page.locator('.quick-input-widget .quick-input-box input');
    await waitFor('the save dialog to propose a .jsonl file', async () => /\.jsonl$/.test(await pathBox.inputValue()), 15_000);
    await pathBox.press('Enter');
    const exported = await waitFor('the exported trace in the workspace', () => {
      const f = readdirSync(dirs.workspace).find((n) => /^nslat-local-.*\.jsonl$/.test(n));
      return f ? join(dirs.workspace, f) : undefined;
    }, 15_000);
    await waitFor('the export to be written', () => statSync(exported).size > 0, 5_000);
    const records = readFileSync(exported, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(records[0].type, 'nslat-trace');
    const types = records.slice(1).map((r: { msg: { type: string } }) => r.msg.type);
    for (const ty of ['hello', 'loaded', 'snapshot']) assert.ok(types.includes(ty), `no ${ty} message in the exported trace`);
    assert.ok(records.some((r: { msg?: { type: string; replaced?: boolean } }) => r.msg?.type === 'loaded' && r.msg.replaced), 'the reload is in the trace');
    mark(`exported ${records.length} JSON Lines records`);

    // ---- Reload the window: the serializer brings the panel back (without a session now)
    await runCommand(page, 'Developer: Reload Window');
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
    await waitFor('the restored panel', async () => {
      const state = (await webviewFrame(page!).locator('.state').first().textContent({ timeout: 2000 }))?.trim();
      const msg = (await webviewFrame(page!).locator('.session-message').first().textContent({ timeout: 1000 })) ?? '';
      return state === 'stopped' && /No session/.test(msg);
    }, 60_000, 1000);
    mark('panel restored after a window reload');
    await screenshot(page, 'restored');
    assert.deepEqual(pageErrors.filter((e) => /nslat/i.test(e)), [], 'errors in the workbench page');
  } catch (e) {
    failure = e;
    if (page) await screenshot(page, 'failure');
    if (cs) t.diagnostic(`code-server log: ${cs.logFile}`);
    throw e;
  } finally {
    const sent = await traffic?.stop();
    if (sent) t.diagnostic(`traffic sent: ${sent.udp} UDP datagrams, ${sent.tcp} TCP writes`);
    await browser?.close().catch(() => undefined);
    if (cs) {
      const pid = cs.proc.pid!;
      const tree = descendants(pid).map((p) => ({ p, cmd: cmdline(p) }));
      await cs.stop();
      // Nothing code-server started may survive it (extension host, language server, helper): the
      // helper exits when its stdin closes. Give it a few seconds, then end stragglers by pid.
      const survivors = () => [...new Set([...groupMembers(pid), ...tree.filter((x) => cmdline(x.p) === x.cmd && x.cmd !== '').map((x) => x.p)])];
      const alive = await waitFor('code-server\'s processes to exit', () => (survivors().length === 0 ? true : undefined), 10_000).then(() => [], () => survivors());
      const described = alive.map((p) => `${p} ${cmdline(p)}`).join('; ');
      for (const p of alive) {
        try {
          process.kill(p, 'SIGKILL');
        } catch { /* gone */ }
      }
      if (!failure) assert.deepEqual(alive, [], `processes left behind by code-server: ${described}`);
      else if (alive.length) t.diagnostic(`processes left behind by code-server (killed): ${described}`);
    }
    cleanupDirs(dirs);
    mark('cleaned up');
  }
});

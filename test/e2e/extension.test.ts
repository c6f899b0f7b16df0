/**
 * End to end in a real VS Code build (code-server 4.100.3; scripts/install-code-server.sh installs it
 * offline into .cache/code-server): the packaged extension (.vsix) in code-server, driven by headless
 * Debian chromium through playwright-core.
 *
 *  1. "nslat: Start Stack Trace" from the F1 palette → "This machine"; the panel fills with live data
 *     (stage rows, events/s) while the test sends bounded loopback traffic; the status bar shows it;
 *  2. "nslat: Open Probe Sources" copies the probes to <workspace>/.nslat/probes and says where they run;
 *     the probe language server hovers a boundary with the session's live p50/p99 and completes
 *     SEC("tp_btf/netif_ with this kernel's BTF tracepoints (screenshot e2e-lsp.png);
 *  3. a syntax error typed into rx.bpf.c and saved → the panel marks the failed reload, the old
 *     programs stay loaded, the error shows once in the Problems view (the reload's copy of the
 *     language server's diagnostic is dropped) at line 1 and the right column;
 *  4. the line removed and saved → the reload succeeds (new programs), the Problems view clears;
 *  5. a boundary added in C (enum entry + program) → the panel shows the new stage by its own name;
 *  6. "nslat: Stop Stack Trace" → the helper exits and none of the session's BPF programs is loaded;
 *  7. "nslat: Export Trace" (JSON Lines) writes the session's messages; after "Reload Window" the
 *     serializer restores the panel.
 * code-server is always ended by its process group, and nothing it started may outlive it.
 *
 * Needs root (the helper loads BPF), the code-server install and built bundles: `npm run test:e2e`
 * does both. Screenshots go to test-results/e2e-*.png.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
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
  pickQuickItem,
  runCommand,
  screenshot,
  startCodeServer,
  stopCodeServer,
  waitFor,
  webviewFrame,
  type CodeServer,
} from './harness.ts';
import { startLoopbackTraffic, type Traffic } from './traffic.ts';


/** rx.bpf.c plus one boundary, NSLAT_RX_E2E_MARK, passed right after netif_receive_skb (ids stay in
 *  path order: boundaries only count forward). */
function addStageToRxProbe(src: string): string {
  const anchor = /^(\s*)NSLAT_RX_NETIF_RECEIVE_SKB,.*$/m;
  if (!anchor.test(src) || !src.includes('rx_pass(')) {
    throw new Error('rx.bpf.c no longer has "NSLAT_RX_NETIF_RECEIVE_SKB," in enum nslat_boundary or an rx_pass() helper; update addStageToRxProbe in this test');
  }
  const withEnum = src.replace(anchor, (line, indent: string) => `${line}\n${indent}NSLAT_RX_E2E_MARK,\t/* added by the e2e test */`);
  return `${withEnum.trimEnd()}\n
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(handle_e2e_mark, struct sk_buff *skb)
{
\treturn rx_pass(skb, NSLAT_RX_E2E_MARK);
}
`;
}

function helperPids(cs: CodeServer): number[] {
  return descendants(cs.proc.pid!).filter((p) => /nslat-helper/.test(cmdline(p)));
}

/** A loss as the panel shows it: "0.02 % of 1.2 M started packets", "of 0 hard IRQs". */
const SHARE = /^(?:<?[\d.]+ % of |of )[\d.]+(?: [kMG])? (?:started packets|hard IRQs|snapshots)$/;

test('e2e: Start Stack Trace → live panel → break, fix and extend a probe → Stop → Export → restore, in code-server', {
  timeout: 12 * 60_000,
  skip: e2eSkipReason(),
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
    // The LOST tile counts only what nslat lost (the Loss table's rows, each a share of what it
    // applies to): "0" when every loss is 0, else their total and the worst share. The activity
    // counters (started, finished, sampled…) are listed apart, with what the probes did.
    const lossTable = await panel.locator('#loss-table tbody tr').evaluateAll((trs) => trs.map((t) => [...t.querySelectorAll('td, th')].map((c) => c.textContent ?? '')));
    const lost = (await panel.locator('#health-lost').textContent({ timeout: 5000 }))?.trim() ?? '';
    const lossRows = lossTable.map((r) => r.join(' ')).join('; ');
    assert.ok(lossTable.length >= 8 && lossTable.every((r) => SHARE.test(r[2] ?? '')), `every loss as a share: ${lossRows}`);
    const lossNames = lossTable.map((r) => r[0]);
    assert.ok(lossNames.includes('ringbuf_drop') && lossNames.includes('lost_snapshots'), `loss rows: ${lossRows}`);
    if (lossTable.every((r) => r[1] === '0')) assert.equal(lost, '0', `the LOST tile reads "${lost}" while every loss is 0: ${lossRows}`);
    else assert.match(lost, new RegExp(`^[\\d.]+[kMG]? \\((${SHARE.source.slice(1, -1)})\\)$`), `the LOST tile reads "${lost}"; losses: ${lossRows}`);
    const activity = new Map(await panel.locator('#activity-table tbody tr').evaluateAll((trs) => trs.map((t) => [t.getAttribute('data-key') ?? '', t.querySelectorAll('td, th')[1]?.textContent ?? ''] as [string, string])));
    assert.ok(/[1-9]/.test(activity.get('started') ?? '') && !activity.has('ringbuf_drop'), `activity rows: ${[...activity].join('; ')}`);
    mark(`LOST tile "${lost}" (${lossTable.filter((r) => r[1] !== '0').map((r) => `${r[0]} ${r[1]}, ${r[2]}`).join('; ') || 'nothing lost'}); activity apart: ${[...activity].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    const status = page.locator('.statusbar-item', { hasText: 'nslat: this machine' }).first();
    await waitFor('the status bar to show host, state and events/s', async () => /running · [0-9.]+k? ev\/s/.test((await status.textContent()) ?? ''), 15_000);
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

    // A boundary chip in the panel opens its probe at the boundary's enum entry.
    const rxText = readFileSync(join(dirs.workspace, '.nslat', 'probes', 'rx.bpf.c'), 'utf8');
    const enumLine = rxText.split('\n').findIndex((l) => /\bNSLAT_RX_NETIF_RECEIVE_SKB\b/.test(l)) + 1;
    assert.ok(enumLine > 0, 'rx.bpf.c has no NSLAT_RX_NETIF_RECEIVE_SKB');
    await panel.locator('button[data-action="open-probe"][data-value="netif_receive_skb"]').first().click();
    const cursor = page.locator('.statusbar-item', { hasText: /Ln \d+, Col \d+/ }).first();
    await waitFor(`the cursor on rx.bpf.c line ${enumLine} after clicking the netif_receive_skb chip`, async () => new RegExp(`Ln ${enumLine}, Col \\d+ \\(\\d+ selected\\)`).test((await cursor.textContent()) ?? ''), 15_000);
    mark(`the netif_receive_skb chip opened rx.bpf.c at line ${enumLine}`);

    // ---- The probe language server: a hover on that boundary shows the session's live figures
    // (nslat/stageStats from the extension), completion inside SEC("…") lists this kernel's BTF
    // tracepoints (nslat/target from the session's hello).
    await page.keyboard.press('ArrowLeft'); // collapse the selection to the start of NSLAT_RX_NETIF_RECEIVE_SKB
    const hover = page.locator('.monaco-hover:not(.hidden)', { hasText: 'NSLAT_RX_NETIF_RECEIVE_SKB' }).first();
    const hoverText = await waitFor('a hover with live p50/p99 on NSLAT_RX_NETIF_RECEIVE_SKB', async () => {
      await page!.keyboard.press('Control+K');
      await page!.keyboard.press('Control+I'); // "Show or Focus Hover"
      await hover.waitFor({ state: 'visible', timeout: 3000 });
      const text = (await hover.textContent()) ?? '';
      return /Live on local/.test(text) && /p50/.test(text) ? text : undefined;
    }, 30_000, 1000).catch(async (e) => {
      await screenshot(page!, 'lsp');
      throw e;
    });
    mark(`hover: ${hoverText.replace(/\s+/g, ' ').slice(0, 160)}`);
    await page.keyboard.press('Escape');
    // On a new first line (the view stays at the top, where the next steps click).
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('Enter');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.type('SEC("tp_btf/netif_');
    const suggest = page.locator('.editor-widget.suggest-widget.visible');
    const item = suggest.locator('.monaco-list-row', { hasText: 'netif_receive_skb' }).first();
    await waitFor('netif_receive_skb in the suggest widget after Ctrl+Space in SEC("tp_btf/netif_', async () => {
      if (!(await suggest.isVisible())) await page!.keyboard.press('Control+Space');
      await item.waitFor({ state: 'visible', timeout: 3000 });
      return true;
    }, 30_000, 500).catch(async (e) => {
      await screenshot(page!, 'lsp');
      throw e;
    });
    const suggestions = (await suggest.locator('.monaco-list-row .label-name').allTextContents()).map((x) => x.trim());
    await screenshot(page, 'lsp');
    assert.ok(suggestions.length > 0 && suggestions.every((x) => x.startsWith('tp_btf/netif_')), `unexpected suggestions: ${suggestions.join(', ')}`);
    mark(`completion in SEC("tp_btf/netif_: ${suggestions.slice(0, 6).join(', ')}`);
    // Take the line out again: the probe on disk stays as it was.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Z');
    await runCommand(page, 'File: Revert File');
    await waitFor('the editor to be clean again', async () => (await tab.getAttribute('class'))?.includes('dirty') === false, 10_000, 250);

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
    await waitFor('the panel to show the failed reload', async () => {
      const msg = (await panel.locator('.session-message').first().textContent({ timeout: 1000 })) ?? '';
      return /failed/i.test(msg) && /previous probes keep running/.test(msg);
    }, 120_000, 500).catch(async (e) => {
      await screenshot(page!, 'reload-failure-missing');
      throw e;
    });
    // One error, not two: the reload's copy ("nslat clang", built on the target) is dropped where the
    // language server ("clang", while typing) shows the same line and message.
    const sameError = problems.locator('.monaco-list-row', { hasText: 'expected expression' });
    const problem = sameError.first();
    await waitFor('the compile error once in the Problems view (the language server\'s)', async () => {
      if ((await sameError.count()) !== 1) return false;
      return !/nslat clang/.test((await problem.textContent()) ?? '');
    }, 60_000, 500).catch(async (e) => {
      await screenshot(page!, 'problems-missing');
      const rowsNow = await sameError.allTextContents().catch(() => []);
      throw new Error(`${(e as Error).message}; rows: ${JSON.stringify(rowsNow)}`);
    });
    // Held for a moment on purpose: a second copy (the reload's own) would arrive after the first.
    await page.waitForTimeout(1500);
    assert.equal(await sameError.count(), 1, `the compile error shows more than once: ${JSON.stringify(await sameError.allTextContents())}`);
    const problemText = (await problem.textContent()) ?? '';
    assert.match(problemText, /Ln 1, Col 2[0-9]/, `the diagnostic is not on line 1 at the "= ;" column: ${problemText}`);
    assert.ok(await editor.locator('.squiggly-error').count() > 0, 'no error squiggle in the editor');
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
    await screenshot(page, 'probe-reloaded');

    // ---- Add a stage in C: a new boundary in the enum and a program that passes it. Written to the
    // file on disk, then saved through the editor; the panel shows the new stage by its own name.
    const copy = join(dirs.workspace, '.nslat', 'probes', 'rx.bpf.c');
    const added = addStageToRxProbe(readFileSync(copy, 'utf8'));
    writeFileSync(copy, added);
    // Don't depend on the file watcher: "Revert File" reads the file from disk into the editor now.
    await editor.locator('.view-lines').click({ position: { x: 40, y: 10 } });
    await runCommand(page, 'File: Revert File');
    await waitFor('the editor to pick up the file written on disk', async () => (await editor.locator('.view-lines').textContent())?.includes('NSLAT_RX_E2E_MARK'), 20_000, 250);
    const before = (await panel.locator('.session-message').first().textContent()) ?? '';
    await editor.locator('.view-lines').click({ position: { x: 40, y: 10 } });
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+S');
    await waitFor('the reload with the new stage', async () => {
      const msg = (await panel.locator('.session-message').first().textContent({ timeout: 1000 })) ?? '';
      if (/Reload of rx\.bpf\.c failed/.test(msg)) throw new GiveUp(`the probe with an added stage did not load: ${msg}`);
      return msg !== before && /Reloaded rx\.bpf\.c/.test(msg);
    }, 120_000, 500);
    await waitFor('the boundary "e2e_mark" among the attach chips', async () => (await panel.locator('#attach-chips', { hasText: 'e2e_mark' }).count()) > 0, 20_000, 500);
    const newStage = await waitFor('a stage named after the new boundary in the panel', async () => {
      const row = panel.locator('#stage-table tbody tr', { hasText: 'e2e_mark' }).first();
      return (await row.count()) > 0 ? ((await row.locator('td, th').first().textContent()) ?? 'e2e_mark').trim() : undefined;
    }, 60_000, 500);
    const idsAfterStage = new Set(helperPids(cs).flatMap(bpfProgIdsOf));
    mark(`added a stage in C: "${newStage}" in the panel`);
    await screenshot(page, 'stage-added');

    // ---- Hide the panel behind another editor, then show it: its new document gets a full snapshot.
    const panelTab = page.locator('.tabs-container .tab', { hasText: 'nslat: stack latency' }).first();
    await panelTab.click();
    await runCommand(page, 'File: New Untitled Text File');
    await waitFor('the panel to be hidden', async () => (await page!.locator('iframe.webview.ready').count()) === 0 || !(await panel.locator('#stage-table').isVisible().catch(() => false)), 10_000);
    await panelTab.click();
    await waitFor('the shown panel to have its data again', async () => (await panel.locator('#stage-table tbody tr', { hasText: 'e2e_mark' }).count()) > 0, 30_000, 500);
    mark('panel hidden and shown again: data restored from a snapshot');

    // ---- Stop
    const everyId = new Set([...idsAtStart, ...idsAfterFix, ...idsAfterStage]);
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
      // Nothing code-server started may survive it (extension host, language server, helper).
      const left = await stopCodeServer(cs);
      if (!failure) assert.deepEqual(left, [], `processes left behind by code-server: ${left.join('; ')}`);
      else if (left.length) t.diagnostic(`processes left behind by code-server (killed): ${left.join('; ')}`);
    }
    cleanupDirs(dirs);
    mark('cleaned up');
  }
});

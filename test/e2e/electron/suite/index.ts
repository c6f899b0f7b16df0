/**
 * A minimal suite inside a desktop VS Code (see ../runTest.ts): the extension activates, contributes
 * and registers its commands, reads its settings, and opens its panel without a session. The full
 * session flow (BPF, root) is covered by the code-server test.
 */
import assert from 'node:assert/strict';
import * as vscode from 'vscode';

const cases: Array<[string, () => Promise<void>]> = [
  ['the extension is present and activates', async () => {
    const ext = vscode.extensions.getExtension('nslat.nslat');
    assert.ok(ext, 'nslat.nslat is not installed in the test instance');
    await ext.activate();
    assert.equal(ext.isActive, true);
    assert.deepEqual(ext.packageJSON.extensionKind, ['workspace']);
  }],
  ['every command is registered', async () => {
    const all = await vscode.commands.getCommands(true);
    for (const c of ['nslat.start', 'nslat.stop', 'nslat.reload', 'nslat.openProbes', 'nslat.export', 'nslat.showPanel']) {
      assert.ok(all.includes(c), `${c} is not registered`);
    }
  }],
  ['settings have their defaults', async () => {
    const c = vscode.workspace.getConfiguration('nslat');
    assert.equal(c.get('privilege'), 'auto');
    assert.deepEqual(c.get('stages'), ['rx', 'tx', 'irq']);
    assert.equal(c.get('snapshotIntervalMs'), 1000);
  }],
  ['the panel opens without a session', async () => {
    await vscode.commands.executeCommand('nslat.showPanel');
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs);
    const panel = tabs.find((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('nslat.panel'));
    assert.ok(panel, `no nslat panel among the tabs: ${tabs.map((t) => t.label).join(', ')}`);
  }],
];

export async function run(): Promise<void> {
  const failures: string[] = [];
  for (const [name, fn] of cases) {
    try {
      await fn();
      console.log(`ok - ${name}`);
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
      console.log(`not ok - ${name}: ${(e as Error).message}`);
    }
  }
  console.log(`${cases.length - failures.length} passed, ${failures.length} failed`);
  if (failures.length) throw new Error(failures.join('\n'));
}

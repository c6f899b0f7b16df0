/** The extension shell's vscode-free parts, and its manifest (package.json contributions). */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Aggregator } from '../../src/core/aggregate.ts';
import { parseHelperMessage } from '../../src/core/protocol.ts';
import { EXPORT_FORMATS, renderExport } from '../../src/extension/exportFormats.ts';
import { escapeMarkdown, formatRate, hostLabel, installCommands, validateDestination } from '../../src/extension/labels.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

test('validateDestination accepts SSH destinations and refuses options, spaces and junk', () => {
  for (const ok of ['host', 'user@host', 'user@host.example.org', 'host:2222', 'u_1@10.0.0.1:22', 'my-alias', '[::1]:22', 'root@[fe80::1]']) {
    assert.equal(validateDestination(ok), undefined, ok);
  }
  for (const bad of ['', '  ', '-oProxyCommand=x', 'user@host extra', 'a;b', 'user@', '@host', 'host:0', 'host:70000', 'h$(x)', 'x'.repeat(300)]) {
    assert.equal(typeof validateDestination(bad), 'string', bad);
  }
});

test('labels: host, rate and Markdown', () => {
  assert.equal(escapeMarkdown('lost *x* [y](z) `c`'), 'lost \\*x\\* \\[y\\]\\(z\\) \\`c\\`');
  assert.equal(hostLabel('local'), 'this machine');
  assert.equal(hostLabel('root@box'), 'root@box');
  assert.deepEqual([0, -1, NaN, 7.46, 950.4, 1234, 12_345, 3_400_000].map(formatRate), ['0', '0', '0', '7.5', '950', '1.2k', '12k', '3.4M']);
});

test('installCommands: distinct fixes of failed required checks only', () => {
  const rows = [
    { check: 'clang', ok: false, detail: 'missing', fix: 'sudo apt-get install -y clang llvm' },
    { check: 'llvm', ok: false, detail: 'missing', fix: 'sudo apt-get install -y clang llvm' },
    { check: 'bpftool', ok: true, detail: 'v7', fix: 'sudo apt-get install -y bpftool' },
    { check: 'bpf_stats', ok: false, detail: 'off', fix: 'sysctl kernel.bpf_stats_enabled=1', required: false },
    { check: 'kernel', ok: false, detail: 'too old' },
  ];
  assert.deepEqual(installCommands({ rows }), ['sudo apt-get install -y clang llvm']);
});

test('renderExport: every format from a recorded helper stream', async () => {
  const lines = readFileSync(join(ROOT, 'test', 'fixtures', 'helper-stream.jsonl'), 'utf8').split('\n').filter(Boolean);
  const agg = new Aggregator({ host: 'local' });
  const dir = mkdtempSync(join(tmpdir(), 'nslat-ext-export-'));
  try {
    const tracePath = join(dir, 'trace.jsonl');
    const out: string[] = [JSON.stringify({ type: 'nslat-trace', version: 1, host: 'local', kernel: '', started: new Date(0).toISOString() })];
    for (const l of lines) {
      const r = parseHelperMessage(l);
      assert.ok(r.ok, l.slice(0, 100));
      agg.ingest(r.value, 1000);
      out.push(JSON.stringify({ recv_ms: 1000, msg: r.value }));
    }
    writeFileSync(tracePath, `${out.join('\n')}\n`);
    assert.deepEqual(EXPORT_FORMATS.map((f) => f.id), ['jsonl', 'csv', 'openmetrics', 'text']);
    const jsonl = await renderExport('jsonl', { aggregator: agg, tracePath });
    assert.equal(jsonl.trim().split('\n').length, lines.length + 1);
    const csv = await renderExport('csv', { aggregator: agg });
    assert.ok(csv.split('\n').length > 2, 'CSV has a header and stage rows');
    const om = await renderExport('openmetrics', { aggregator: agg });
    assert.match(om, /# EOF\s*$/);
    const text = await renderExport('text', { aggregator: agg });
    assert.equal(typeof text, 'string');
    await assert.rejects(renderExport('jsonl', { aggregator: agg }), /no JSON Lines trace/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('manifest: commands, settings, trust and extension kind', () => {
  const c = pkg.contributes;
  const titles = Object.fromEntries(c.commands.map((x: { command: string; title: string; category: string }) => [x.command, `${x.category}: ${x.title}`]));
  assert.deepEqual(
    { start: titles['nslat.start'], stop: titles['nslat.stop'], reload: titles['nslat.reload'], open: titles['nslat.openProbes'], exp: titles['nslat.export'] },
    { start: 'nslat: Start Stack Trace', stop: 'nslat: Stop Stack Trace', reload: 'nslat: Reload Probes', open: 'nslat: Open Probe Sources', exp: 'nslat: Export Trace' },
  );
  // Every contributed command is registered, and every registered one contributed.
  const src = readFileSync(join(ROOT, 'src', 'extension', 'extension.ts'), 'utf8');
  const registered = [...src.matchAll(/registerCommand\('([^']+)'/g)].map((m) => m[1]).sort();
  assert.deepEqual(registered, Object.keys(titles).sort());

  const props = c.configuration.properties;
  for (const k of ['host', 'sshConfigFile', 'privilege', 'stages', 'filter', 'snapshotIntervalMs', 'sampleEvery', 'slowThresholdMs']) assert.ok(props[`nslat.${k}`], k);
  assert.deepEqual(props['nslat.privilege'].enum, ['auto', 'root', 'sudo-n', 'sudo-askpass']);
  const machine = Object.keys(props).filter((k) => props[k].scope === 'machine').sort();
  assert.deepEqual(machine, ['nslat.host', 'nslat.privilege', 'nslat.sshConfigFile']);
  assert.deepEqual([...pkg.capabilities.untrustedWorkspaces.restrictedConfigurations].sort(), machine);
  assert.deepEqual(pkg.extensionKind, ['workspace']);
  assert.equal(pkg.main, './dist/extension.cjs');
  assert.ok(pkg.activationEvents.includes('onWebviewPanel:nslat.panel'), 'the panel serializer needs onWebviewPanel activation');
  assert.equal(pkg.scripts.package, 'vsce package --no-dependencies');
});

test('manifest: the nslat sidebar, the trace editors and menus that name contributed commands', () => {
  const c = pkg.contributes;
  assert.deepEqual(c.viewsContainers.activitybar.map((v: { id: string }) => v.id), ['nslat']);
  for (const v of c.viewsContainers.activitybar) assert.ok(existsSync(join(ROOT, v.icon)), `${v.icon} exists`);
  const viewsSrc = readFileSync(join(ROOT, 'src', 'extension', 'hostsView.ts'), 'utf8');
  assert.deepEqual(c.views.nslat.map((v: { id: string }) => v.id), [/HOSTS_VIEW = '([^']+)'/.exec(viewsSrc)![1]]);
  const traceSrc = readFileSync(join(ROOT, 'src', 'extension', 'traceEditor.ts'), 'utf8');
  const types = [...traceSrc.matchAll(/export const TRACE_\w*VIEW_TYPE = '([^']+)'/g)].map((m) => m[1]);
  assert.deepEqual(c.customEditors.map((e: { viewType: string }) => e.viewType), types);
  assert.deepEqual(c.customEditors.map((e: { priority: string }) => e.priority), ['default', 'option']);
  for (const e of c.customEditors) assert.ok(pkg.activationEvents.includes(`onCustomEditor:${e.viewType}`), e.viewType);
  const commands = new Set(c.commands.map((x: { command: string }) => x.command));
  for (const [where, items] of Object.entries(c.menus) as Array<[string, Array<{ command: string }>]>) {
    for (const i of items) assert.ok(commands.has(i.command), `${where}: ${i.command} is contributed`);
  }
  const inline = c.menus['view/item/context'].map((m: { command: string; when: string }) => `${m.command} ${/viewItem (?:==|=~) (\S+)/.exec(m.when)?.[1]}`);
  assert.deepEqual(inline, ['nslat.start host', 'nslat.start session-ended', 'nslat.stop session-live', 'nslat.showPanel /^session-/']);
});

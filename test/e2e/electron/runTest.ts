/**
 * The same extension in a desktop VS Code, via @vscode/test-electron — for machines that can download
 * VS Code from Microsoft (this project's CI cannot; there the code-server test in ../extension.test.ts
 * runs instead). Run: `npm run build && node --import tsx test/e2e/electron/runTest.ts`.
 *
 * The suite runs inside VS Code's extension host, which loads CommonJS, so it is bundled with esbuild
 * first (vscode stays external).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { runTests } from '@vscode/test-electron';

const repo = resolve(import.meta.dirname, '..', '..', '..');
const out = mkdtempSync(join(tmpdir(), 'nslat-electron-'));
try {
  const suite = join(out, 'suite.cjs');
  await build({
    entryPoints: [join(import.meta.dirname, 'suite', 'index.ts')],
    outfile: suite,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'warning',
  });
  const workspace = join(out, 'workspace');
  await runTests({
    version: process.env.NSLAT_VSCODE_VERSION ?? 'stable',
    extensionDevelopmentPath: repo,
    extensionTestsPath: suite,
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', `--user-data-dir=${join(out, 'user-data')}`],
  });
} catch (e) {
  console.error(`electron tests failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}

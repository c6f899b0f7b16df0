// Builds every bundle nslat ships: the extension host, the language server, the CLI and the webview.
// Host code and webview code are separate esbuild builds (the webview targets the browser).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const common = { bundle: true, sourcemap: true, logLevel: 'warning', minify: process.argv.includes('--minify') };

// CJS bundles (extension host, language server) have no import.meta: give modules that locate files
// from import.meta.url (src/core/deploy.ts) the bundle's own file URL instead.
const cjsImportMeta = {
  define: { 'import.meta.url': '__nslatImportMetaUrl' },
  banner: { js: "const __nslatImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};

const targets = [
  { entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.cjs', platform: 'node', format: 'cjs', target: 'node20', external: ['vscode'], ...cjsImportMeta },
  { entryPoints: ['src/server/server.ts'], outfile: 'dist/server.cjs', platform: 'node', format: 'cjs', target: 'node20', ...cjsImportMeta },
  {
    entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.mjs', platform: 'node', format: 'esm', target: 'node20',
    // execa and friends are ESM; give bundled CJS dependencies a require() in the ESM bundle.
    banner: { js: "import { createRequire as __nslatCreateRequire } from 'node:module'; const require = __nslatCreateRequire(import.meta.url);" },
  },
  { entryPoints: ['webview/main.ts'], outfile: 'dist/webview.js', platform: 'browser', format: 'iife', target: 'es2022', tsconfig: 'webview/tsconfig.json' },
];

const present = targets.filter((t) => existsSync(t.entryPoints[0]));
if (watch) {
  const { context } = await import('esbuild');
  for (const t of present) await (await context({ ...common, ...t })).watch();
} else {
  await Promise.all(present.map((t) => build({ ...common, ...t })));
  for (const t of targets) if (!present.includes(t)) console.warn(`build: skipped ${t.entryPoints[0]} (not there yet)`);
}

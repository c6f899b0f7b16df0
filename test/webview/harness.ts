// Serves the real panel HTML (src/extension/panelHtml.ts, same CSP) to headless Chromium with a fake
// acquireVsCodeApi that records what the panel posts. Shared by the panel tests and bench/panel-render.ts.
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { Aggregator } from '../../src/core/aggregate.ts';
import { type FromPanel, type HelperMessage, type PanelState, parseHelperMessage, type ToPanel } from '../../src/core/protocol.ts';
import { makeNonce, panelCsp, panelHtml } from '../../src/extension/panelHtml.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Bundles webview/main.ts exactly as scripts/build.mjs does (IIFE, es2022, browser), into a temp dir.
 *  `webviewDir` bundles another copy of webview/ instead (bench/panel-render.ts --baseline); its
 *  packages still come from this repository's node_modules. */
export async function buildWebview(webviewDir = join(ROOT, 'webview')): Promise<{ js: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'nslat-webview-'));
  const outfile = join(dir, 'webview.js');
  await build({
    entryPoints: [join(webviewDir, 'main.ts')],
    outfile,
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    tsconfig: join(webviewDir, 'tsconfig.json'),
    nodePaths: [join(ROOT, 'node_modules')],
    logLevel: 'error',
  });
  return { js: await readFile(outfile, 'utf8'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Theme variables as VS Code sets them on <html> (known colours, so tests can check them). */
export const TEST_THEME: Record<string, string> = {
  '--vscode-editor-background': '#101820',
  '--vscode-editor-foreground': '#e0e4e8',
  '--vscode-font-family': '"DejaVu Sans", sans-serif',
  '--vscode-font-size': '13px',
  '--vscode-descriptionForeground': '#9aa4ad',
  '--vscode-panel-border': '#33404c',
  '--vscode-focusBorder': '#4aa3ff',
  '--vscode-button-background': '#0e639c',
  '--vscode-button-foreground': '#ffffff',
  '--vscode-button-hoverBackground': '#1177bb',
  '--vscode-button-secondaryBackground': '#3a3d41',
  '--vscode-button-secondaryForeground': '#ffffff',
  '--vscode-charts-blue': '#00a0ff',
  '--vscode-charts-orange': '#ff8c00',
  '--vscode-charts-green': '#6ccf5f',
  '--vscode-charts-purple': '#b180d7',
  '--vscode-charts-yellow': '#f2d13a',
  '--vscode-charts-red': '#f14c4c',
  '--vscode-errorForeground': '#f14c4c',
  '--vscode-list-hoverBackground': '#1c2a36',
  '--vscode-textLink-foreground': '#4aa3ff',
  '--vscode-sideBar-background': '#141e28',
};

/** Browser-side helpers the tests call by name (plain JS: the page has no TS). */
const PAGE_HELPERS = `
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample });
});
window.__t = {
  canvas(id) {
    const c = document.getElementById(id);
    if (!c || !c.width || !c.height) return { w: 0, h: 0, ink: 0, colors: 0 };
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let ink = 0; const colors = new Set();
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) { ink++; if (colors.size < 5000) colors.add((d[i] >> 3) << 10 | (d[i + 1] >> 3) << 5 | (d[i + 2] >> 3)); }
    return { w: c.width, h: c.height, ink, colors: colors.size };
  },
  near(id, hex, tol) {
    const c = document.getElementById(id);
    const n = parseInt(hex.slice(1), 16), r = n >> 16 & 255, g = n >> 8 & 255, b = n & 255;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let k = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && Math.abs(d[i] - r) <= tol && Math.abs(d[i + 1] - g) <= tol && Math.abs(d[i + 2] - b) <= tol) k++;
    return k;
  },
  style(sel, prop) { const el = document.querySelector(sel); return el ? getComputedStyle(el).getPropertyValue(prop) : null; },
  text(sel) { const el = document.querySelector(sel); return el ? el.textContent : null; },
  texts(sel) { return Array.from(document.querySelectorAll(sel), (e) => e.textContent); },
  frame() { return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))); },
};
`;

function fakeVsCode(theme: Record<string, string>): string {
  return `
for (const [k, v] of Object.entries(${JSON.stringify(theme)})) document.documentElement.style.setProperty(k, v);
document.body.classList.add('vscode-dark');
window.__posted = [];
window.__states = [];
window.acquireVsCodeApi = () => ({
  postMessage: (m) => window.__posted.push(m),
  getState: () => { const s = sessionStorage.getItem('vscode-state'); return s ? JSON.parse(s) : undefined; },
  // VS Code serializes the state when it is set; so does this fake (a later mutation is not saved).
  setState: (s) => { window.__states.push(JSON.parse(JSON.stringify(s))); sessionStorage.setItem('vscode-state', JSON.stringify(s)); return s; },
});
`;
}

export interface PanelServer {
  url: string;
  nonce: string;
  csp: string;
  html: string;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 serving the test page, the bundle and the stylesheet. */
export async function servePanel(js: string, theme: Record<string, string> = TEST_THEME): Promise<PanelServer> {
  const css = readFileSync(join(ROOT, 'media/panel.css'), 'utf8');
  let origin = '';
  let nonce = '';
  let html = '';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/panel.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html);
    } else if (path === '/dist/webview.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(js);
    } else if (path === '/media/panel.css') {
      res.writeHead(200, { 'content-type': 'text/css; charset=utf-8' });
      res.end(css);
    } else if (path === '/favicon.ico') {
      res.writeHead(204); // a browser asks for it; a webview does not
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  nonce = makeNonce();
  const real = panelHtml({ scriptUri: `${origin}/dist/webview.js`, styleUri: `${origin}/media/panel.css`, cspSource: origin, nonce });
  // Wrap the real HTML: helpers in <head> right after the CSP meta (to see every violation), the fake
  // VS Code API just before the panel's script. Both carry the same nonce, as VS Code's own script does.
  html = real
    .replace(/(<meta http-equiv="Content-Security-Policy"[^>]*>)/, `$1\n<script nonce="${nonce}">${PAGE_HELPERS}</script>`)
    .replace(`<script nonce="${nonce}" src=`, `<script nonce="${nonce}">${fakeVsCode(theme)}</script>\n<script nonce="${nonce}" src=`);
  return { url: `${origin}/panel.html`, nonce, csp: panelCsp(origin, nonce), html: real, close: () => new Promise((ok) => server.close(() => ok())) };
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.NSLAT_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Page-side problems collected while a test runs. */
export interface Problems {
  console: string[];
  pageErrors: string[];
}

export function watchProblems(page: Page): Problems {
  const p: Problems = { console: [], pageErrors: [] };
  page.on('console', (m) => {
    // The readback hint is about the tests' own getImageData calls, not the panel.
    if ((m.type() === 'error' || m.type() === 'warning') && !m.text().includes('willReadFrequently')) p.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => p.pageErrors.push(String(e)));
  return p;
}

/** A panel test file's set-up: the bundle built and served, and a browser, around the file's tests.
 *  `open` gives a page of the panel that has said `ready`; `clean` checks that it ran without CSP
 *  violations, uncaught errors or console complaints, and closes it. */
export function panelSuite(defaults: { width: number; height: number }): {
  open(width?: number, height?: number): Promise<{ page: Page; problems: Problems }>;
  clean(page: Page, problems: Problems): Promise<void>;
  server(): PanelServer;
} {
  let browser: Browser | undefined;
  let server: PanelServer | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  before(async () => {
    const bundle = await buildWebview();
    cleanup = bundle.cleanup;
    server = await servePanel(bundle.js);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await cleanup?.();
  });
  return {
    async open(width = defaults.width, height = defaults.height) {
      const page = await browser!.newPage({ viewport: { width, height } });
      page.setDefaultTimeout(10_000);
      const problems = watchProblems(page);
      await page.goto(server!.url);
      await readyPosted(page);
      return { page, problems };
    },
    async clean(page, problems) {
      assert.deepEqual(await cspViolations(page), [], 'no CSP violations');
      assert.deepEqual(problems.pageErrors, [], 'no uncaught errors');
      assert.deepEqual(problems.console, [], 'no console errors or warnings');
      await page.close();
    },
    server: () => server!,
  };
}

/** Waits for the panel's `ready`. (Predicates are functions, not strings: the CSP forbids eval.) */
export async function readyPosted(page: Page): Promise<void> {
  await page.waitForFunction(() => ((globalThis as unknown as { __posted?: unknown[] }).__posted?.length ?? 0) > 0);
}

/** Waits until VS Code's saved UI state (the fake's sessionStorage) has this scroll position. */
export async function savedScroll(page: Page, y: number): Promise<void> {
  await page.waitForFunction((want) => JSON.parse((globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('vscode-state') ?? '{}').scroll === want, y);
}

export async function send(page: Page, msg: ToPanel): Promise<void> {
  await page.evaluate((m) => (globalThis as unknown as { postMessage(m: unknown, o: string): void }).postMessage(m, '*'), msg);
}

/** Waits until the panel rendered after everything sent so far. */
export async function rendered(page: Page): Promise<void> {
  await page.evaluate('window.__t.frame()');
  await page.evaluate('window.__t.frame()');
}

export async function posted(page: Page): Promise<FromPanel[]> {
  return (await page.evaluate('window.__posted')) as FromPanel[];
}

export interface CanvasInk {
  w: number;
  h: number;
  ink: number;
  colors: number;
}
export async function canvasInk(page: Page, id: string): Promise<CanvasInk> {
  return (await page.evaluate(`window.__t.canvas(${JSON.stringify(id)})`)) as CanvasInk;
}
export async function pixelsNear(page: Page, id: string, hex: string, tol = 12): Promise<number> {
  return (await page.evaluate(`window.__t.near(${JSON.stringify(id)}, ${JSON.stringify(hex)}, ${tol})`)) as number;
}
export async function computed(page: Page, sel: string, prop: string): Promise<string | null> {
  return (await page.evaluate(`window.__t.style(${JSON.stringify(sel)}, ${JSON.stringify(prop)})`)) as string | null;
}
export async function cspViolations(page: Page): Promise<unknown[]> {
  return (await page.evaluate('window.__csp')) as unknown[];
}

/** The recorded helper stream (test/fixtures/helper-stream.jsonl) through the real aggregator: the
 *  snapshot after the first `split` of the lines, and the delta the rest produces. */
export function recordedPanel(split = 0.6): { state: PanelState; delta: Extract<ToPanel, { type: 'delta' }> } {
  const lines = readFileSync(join(ROOT, 'test/fixtures/helper-stream.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
  const agg = new Aggregator({ host: 'this machine', now: () => Date.UTC(2026, 10, 25, 18, 0, 0) });
  const cut = Math.floor(lines.length * split);
  const feed = (l: string) => {
    const r = parseHelperMessage(l);
    if (!r.ok) throw r.error;
    agg.ingest(r.value);
  };
  lines.slice(0, cut).forEach(feed);
  const state = agg.panelState();
  lines.slice(cut).forEach(feed);
  return { state, delta: agg.panelDelta() };
}

/** The panel state of a list of helper messages (e.g. test/fixtures/captured.ts) through the real
 *  Aggregator. */
export function panelOf(messages: HelperMessage[], host = 'this machine'): PanelState {
  const agg = new Aggregator({ host, now: () => Date.UTC(2026, 11, 1, 12, 0, 0) });
  for (const m of messages) agg.ingest(m);
  return agg.panelState();
}

export function fixtureState(): PanelState {
  return JSON.parse(readFileSync(join(ROOT, 'test/fixtures/panel-state.json'), 'utf8')) as PanelState;
}

export { makeNonce };

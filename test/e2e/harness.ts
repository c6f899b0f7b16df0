/**
 * Drives a real VS Code build for the end-to-end tests: code-server (VS Code's server and web
 * workbench, with a real Node extension host) from .cache/code-server (scripts/install-code-server.sh),
 * and Debian's chromium through playwright-core. Everything lives in a fresh temporary run folder;
 * code-server runs in its own process group and is always ended by that group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';

export const REPO = resolve(import.meta.dirname, '..', '..');
/** Where scripts/install-code-server.sh put code-server (NSLAT_CODE_SERVER_DIR, as there). */
export const CODE_SERVER = join(process.env.NSLAT_CODE_SERVER_DIR ? resolve(process.env.NSLAT_CODE_SERVER_DIR) : join(REPO, '.cache', 'code-server'), 'node_modules', 'code-server', 'out', 'node', 'entry.js');
export const CHROMIUM = process.env.NSLAT_CHROMIUM ?? '/usr/bin/chromium';
export const RESULTS = join(REPO, 'test-results');

/** Why the end-to-end tests cannot run here (root for BPF, code-server installed, bundles built),
 *  or false. */
export function e2eSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to load BPF programs';
  if (!existsSync(CODE_SERVER)) return 'code-server not installed: run scripts/install-code-server.sh (npm run test:e2e does)';
  if (!existsSync(join(REPO, 'dist', 'extension.cjs'))) return 'extension not built: npm run build';
  return false;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => res(port));
    });
  });
}

export interface RunDirs {
  root: string;
  userData: string;
  extensions: string;
  config: string;
  workspace: string;
  xdg: string;
}

export function makeRunDirs(prefix = 'nslat-e2e-'): RunDirs {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const d: RunDirs = {
    root,
    userData: join(root, 'user-data'),
    extensions: join(root, 'extensions'),
    config: join(root, 'config.yaml'),
    workspace: join(root, 'workspace'),
    xdg: join(root, 'xdg'),
  };
  for (const p of [d.userData, join(d.userData, 'User'), d.extensions, d.workspace, d.xdg]) mkdirSync(p, { recursive: true });
  writeFileSync(d.config, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  // Deterministic editor: no suggestions or auto-closing to eat keystrokes, no welcome page, no trust prompt.
  writeFileSync(
    join(d.userData, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.enableExperiments': false,
      'security.workspace.trust.enabled': false,
      'editor.quickSuggestions': { other: false, comments: false, strings: false },
      'editor.suggestOnTriggerCharacters': false,
      'editor.acceptSuggestionOnEnter': 'off',
      'editor.wordBasedSuggestions': 'off',
      'editor.autoClosingBrackets': 'never',
      'editor.autoClosingQuotes': 'never',
      'editor.formatOnSave': false,
      'files.autoSave': 'off',
      'telemetry.telemetryLevel': 'off',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'update.mode': 'none',
    }, null, 2),
  );
  return d;
}

/** The environment for code-server: nothing lands in $HOME; no inherited VS Code/Electron variables. */
function cleanEnv(d: RunDirs): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('VSCODE_') || k === 'ELECTRON_RUN_AS_NODE' || k.startsWith('NODE_OPTIONS') || k.startsWith('npm_')) continue;
    env[k] = v;
  }
  env.XDG_CONFIG_HOME = join(d.xdg, 'config');
  env.XDG_DATA_HOME = join(d.xdg, 'data');
  env.XDG_CACHE_HOME = join(d.xdg, 'cache');
  return env;
}

export interface CodeServer {
  url: string;
  port: number;
  proc: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/** Packages the extension (vsce, bundled: no node_modules) into the run folder. With
 *  NSLAT_E2E_VSIX=<file>, installs that .vsix, packed beforehand, instead. */
export async function packageExtension(d: RunDirs): Promise<string> {
  const { execa } = await import('execa');
  const out = join(d.root, 'nslat.vsix');
  const given = process.env.NSLAT_E2E_VSIX;
  if (given) {
    if (!existsSync(given)) throw new Error(`NSLAT_E2E_VSIX names ${given}, which does not exist`);
    copyFileSync(given, out);
    return out;
  }
  const r = await execa('npx', ['--no-install', 'vsce', 'package', '--no-dependencies', '--out', out], { cwd: REPO, reject: false, stdin: 'ignore', all: true });
  if (r.exitCode !== 0 || !existsSync(out)) throw new Error(`vsce package failed (${r.exitCode}):\n${r.all}`);
  return out;
}

/** code-server has no --extensionDevelopmentPath: the extension is installed from its .vsix. */
export async function startCodeServer(d: RunDirs, opts: { installVsix?: string; timeoutMs?: number } = {}): Promise<CodeServer> {
  if (!existsSync(CODE_SERVER)) throw new Error(`code-server is not installed at ${CODE_SERVER}: run scripts/install-code-server.sh`);
  const env = cleanEnv(d);
  const common = ['--user-data-dir', d.userData, '--extensions-dir', d.extensions, '--config', d.config];
  if (opts.installVsix) {
    const r = spawn(process.execPath, [CODE_SERVER, ...common, '--install-extension', opts.installVsix], { env, stdio: 'ignore' });
    const code = await new Promise<number | null>((res) => r.on('exit', res));
    if (code !== 0) throw new Error(`code-server --install-extension ${opts.installVsix} exited with ${code}`);
  }
  const port = await freePort();
  const args = [
    CODE_SERVER,
    ...common,
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--bind-addr', `127.0.0.1:${port}`,
    d.workspace,
  ];
  const logFile = join(d.root, 'code-server.log');
  const out = createWriteStream(logFile);
  // Its own process group (detached), so stop() ends it and every child it started.
  const proc = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.pipe(out);
  proc.stderr!.pipe(out);
  const url = `http://127.0.0.1:${port}`;
  let exited: string | undefined;
  proc.on('exit', (code, sig) => (exited = `code-server exited early (${code ?? sig}); see ${logFile}`));
  const stop = async () => {
    if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((res) => proc.once('exit', () => res()));
    try {
      process.kill(-proc.pid, 'SIGTERM');
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch { /* already gone */ }
    }, 5000);
    await gone;
    clearTimeout(t);
    // Children that ignored SIGTERM (extension host, helper): end what is left of the group.
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch { /* none left */ }
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (exited) throw new Error(exited);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on ${url} within ${opts.timeoutMs ?? 60_000} ms; see ${logFile}`);
    }
    await sleep(250);
  }
  return { url, port, proc, logFile, stop };
}

/** Headless Debian chromium; playwright gives it a fresh temporary profile. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Thrown from a waitFor callback to stop waiting at once (a definite failure, not "not yet"). */
export class GiveUp extends Error {}

/** Waits until `fn` returns a truthy value; throws with `what` after the timeout. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false | null> | T | undefined | false | null, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

/** Opens the F1 palette and runs a command by its title; retries until the command is listed
 *  (contributed commands appear a few seconds after the workbench, when the extension host is up). */
export async function runCommand(page: Page, title: string, timeoutMs = 60_000): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await waitFor(`command "${title}" in the palette`, async () => {
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 5000 });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 3000 });
    } catch {
      return false;
    }
    await input.press('Enter');
    return true;
  }, timeoutMs, 1000);
}

/** Picks an entry in an open QuickPick by the text of its row. */
export async function pickQuickItem(page: Page, text: string, timeoutMs = 20_000): Promise<void> {
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: text }).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  await row.click();
}

/** The panel's document inside VS Code's two webview iframes. */
export function webviewFrame(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `e2e-${name}.png`);
  await page.screenshot({ path: file }).catch(() => undefined);
  return file;
}

// ---------------------------------------------------------------- processes and BPF programs

/** Every live pid whose parent chain reaches `root`. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(e), ppid);
    } catch { /* exited */ }
  }
  const out: number[] = [];
  for (const pid of parent.keys()) {
    let p: number | undefined = pid;
    for (let i = 0; i < 64 && p !== undefined && p > 1; i++) {
      p = parent.get(p);
      if (p === root) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

/** Kernel ids of the BPF programs a process holds open (from /proc/PID/fdinfo). */
export function bpfProgIdsOf(pid: number): number[] {
  const ids = new Set<number>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (!link.startsWith('anon_inode:bpf-prog') && !link.startsWith('anon_inode:bpf_link')) continue;
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      const m = /^prog_id:\s*(\d+)/m.exec(info);
      if (m) ids.add(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  return [...ids].sort((a, b) => a - b);
}

/** Ids of every BPF program loaded in the kernel right now. */
export async function loadedProgIds(): Promise<Set<number>> {
  const { execa } = await import('execa');
  const r = await execa('bpftool', ['prog', 'show', '-j'], { reject: false });
  if (r.exitCode !== 0) throw new Error(`bpftool prog show failed: ${r.stderr}`);
  const list = JSON.parse(r.stdout || '[]') as { id: number }[];
  return new Set(list.map((p) => p.id));
}

export function cleanupDirs(d: RunDirs): void {
  if (process.env.NSLAT_E2E_KEEP) return;
  rmSync(d.root, { recursive: true, force: true });
}

/** Live processes in process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(e));
    } catch { /* exited */ }
  }
  return out;
}

/** Stops code-server by its process group, then checks that nothing it started outlives it
 *  (extension host, language server, helpers: a helper exits when its stdin closes, so it gets a
 *  few seconds). Stragglers are ended by pid; returns them as "pid command line". */
export async function stopCodeServer(cs: CodeServer): Promise<string[]> {
  const pid = cs.proc.pid!;
  const tree = descendants(pid).map((p) => ({ p, cmd: cmdline(p) }));
  await cs.stop();
  const survivors = () => [...new Set([...groupMembers(pid), ...tree.filter((x) => cmdline(x.p) === x.cmd && x.cmd !== '').map((x) => x.p)])];
  const alive = await waitFor('code-server\'s processes to exit', () => (survivors().length === 0 ? true : undefined), 10_000).then(() => [], () => survivors());
  const described = alive.map((p) => `${p} ${cmdline(p)}`);
  for (const p of alive) {
    try {
      process.kill(p, 'SIGKILL');
    } catch { /* gone */ }
  }
  return described;
}

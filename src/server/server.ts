/**
 * nslat's probe language server. Started by the extension through vscode-languageclient
 * (stdio or node IPC) for `*.bpf.c` and probe headers. Features (see features.ts):
 *  - diagnostics while typing (debounced) and on save: clang -target bpf against the target's
 *    vmlinux.h, plus nslat's checks (attach point missing on the target, skb read after free);
 *  - completion of attach points inside SEC("…") and of BTF arguments inside BPF_PROG(name, …);
 *  - hovers on attach points (arguments, stage) and on boundaries (live p50/p99, ns per run).
 * nslat's own messages (nslat/stageStats, nslat/target, nslat/targetRun) are in protocol.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createConnection,
  DiagnosticSeverity,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type Diagnostic,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver/node.js';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { ClangBackend, type CompileBackend, type ClangDiag } from './compile.ts';
import { completeProgArgs, completeSection, hover, nslatDiagnostics, SOURCE, type KernelView } from './features.ts';
import { findSkbReaders, type SkbReaders } from './probeSource.ts';
import { localAccess, runnerAccess, TargetKernelInfo, type KernelInfo, type TargetAccess } from './kernelInfo.ts';
import { InitOptions, StageStatsNotification, StageStatsParams, TargetNotification, TargetParams, TargetRunRequest } from './protocol.ts';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);

let options: InitOptions = {};
let roots: string[] = [];
let kernel: KernelInfo;
let access: TargetAccess = localAccess();
let compiler: CompileBackend;
let targetCompiler: CompileBackend | undefined;
let view: KernelView = { target: 'local' };
let viewReady: Promise<void> = Promise.resolve();
let stats: StageStatsParams | undefined;
let clangMissingShown = false;

const timers = new Map<string, NodeJS.Timeout>();
const generation = new Map<string, number>();
const fresh = new Set<string>();

function log(msg: string): void {
  connection.console.log(`[nslat] ${msg}`);
}

/** Loads what is known about the target kernel into `view`; failures become messages, not throws. */
function loadKernel(k: KernelInfo): Promise<void> {
  const v: KernelView = { target: k.target };
  view = v;
  const t0 = Date.now();
  const steps = [
    k.identity().then((id) => (v.identity = id)),
    k.tracepoints().then((tp) => {
      v.events = tp.events;
      v.eventsError = tp.error;
    }),
    k.btf().then(
      (b) => {
        v.btf = b;
        log(`${k.target}: BTF with ${Object.keys(b.funcs).length} functions, ${Object.keys(b.tracepoints).length} BTF tracepoints (${Date.now() - t0} ms)`);
      },
      (e: Error) => {
        v.btfError = `no kernel BTF from ${k.target}: ${e.message} (a kernel with CONFIG_DEBUG_INFO_BTF=y has /sys/kernel/btf/vmlinux)`;
        throw e;
      },
    ),
    k.capabilities().then((c) => (v.caps = c)),
  ];
  return Promise.allSettled(steps).then((rs) => {
    for (const r of rs) if (r.status === 'rejected') log(`kernel info for ${k.target}: ${(r.reason as Error)?.message ?? r.reason}`);
  });
}

/** nslat's own bpf/ (shipped beside dist/ in the extension; ../../bpf from src/server in a checkout). */
function ownBpfDir(): string | undefined {
  let d = path.dirname(path.resolve(process.argv[1] ?? '.'));
  for (let i = 0; i < 4; i++) {
    if (existsSync(path.join(d, 'bpf', 'include', 'nslat.h'))) return path.join(d, 'bpf');
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  return undefined;
}
const OWN_BPF = ownBpfDir();

/** The bpf/ directory whose include/ and probes/ a probe at `docDir` compiles against. */
function workspaceBpfDir(docDir: string): string | undefined {
  for (const r of roots) if (existsSync(path.join(r, 'bpf', 'include'))) return path.join(r, 'bpf');
  // No workspace (or another layout): walk up from the document to a bpf/ with an include/ dir.
  let d = docDir;
  for (let i = 0; i < 8; i++) {
    if (path.basename(d) === 'bpf' && existsSync(path.join(d, 'include'))) return d;
    if (existsSync(path.join(d, 'bpf', 'include'))) return path.join(d, 'bpf');
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  // Editable copies (.nslat/probes/ in any workspace) compile against nslat's own headers.
  return OWN_BPF;
}

let vmlinuxError: string | undefined;

const headerCache = new Map<string, { mtimeMs: number; text: string }>();

/** Helpers in the document's quoted #includes (and theirs) that read through an skb argument. */
function includedSkbReaders(text: string, docDir: string, depth = 0, seen = new Set<string>()): SkbReaders {
  const readers: SkbReaders = new Map();
  if (depth > 3) return readers;
  const bpf = workspaceBpfDir(docDir);
  const dirs = [docDir, ...(options.includeDirs ?? (bpf ? [path.join(bpf, 'include'), path.join(bpf, 'probes')] : []))];
  for (const m of text.matchAll(/^\s*#\s*include\s*"([^"]+)"/gm)) {
    const file = dirs.map((d) => path.resolve(d, m[1]!)).find((f) => existsSync(f));
    if (!file || seen.has(file) || /vmlinux\.h$/.test(file)) continue;
    seen.add(file);
    try {
      const mtimeMs = statSync(file).mtimeMs;
      let c = headerCache.get(file);
      if (!c || c.mtimeMs !== mtimeMs) {
        c = { mtimeMs, text: readFileSync(file, 'utf8') };
        headerCache.set(file, c);
      }
      const inner = includedSkbReaders(c.text, path.dirname(file), depth + 1, seen);
      for (const [k, v] of findSkbReaders(c.text, inner)) readers.set(k, v);
    } catch {
      /* unreadable header: clang will say so */
    }
  }
  return readers;
}

function makeLocalCompiler(k: KernelInfo): CompileBackend {
  return new ClangBackend({
    access: localAccess(),
    clang: options.clang,
    machine: async () => (await k.identity()).machine,
    includeDirs: async (docDir) => {
      const vm = await k.vmlinuxDir();
      vmlinuxError = vm.error;
      const bpf = workspaceBpfDir(docDir);
      const user = options.includeDirs ?? (bpf ? [path.join(bpf, 'include')] : []);
      // bpf/probes last: an editable copy elsewhere still finds "nslat.bpf.h". Never bpf/build: its
      // vmlinux.h is this machine's kernel, not necessarily the target's.
      const after = options.includeDirs ? [] : bpf ? [path.join(bpf, 'probes')] : [];
      return [...user, ...(vm.dir ? [vm.dir] : []), ...after];
    },
  });
}

function setTarget(k: KernelInfo, revalidate: boolean): void {
  kernel = k;
  compiler = makeLocalCompiler(k);
  viewReady = loadKernel(k);
  // vmlinux.h is made once per kernel (cached by build id); start it now, the first compile waits.
  void viewReady.then(() => k.vmlinuxDir());
  if (revalidate) revalidateAll();
}

connection.onInitialize((params: InitializeParams): InitializeResult => {
  const parsed = InitOptions.safeParse(params.initializationOptions ?? {});
  options = parsed.success ? parsed.data : {};
  if (!parsed.success) log(`ignoring bad initializationOptions: ${parsed.error.message}`);
  roots = (params.workspaceFolders ?? []).map((f) => fileURLToPath(f.uri));
  if (!roots.length && params.rootUri) roots = [fileURLToPath(params.rootUri)];
  access = localAccess();
  setTarget(new TargetKernelInfo(access, { cacheDir: options.cacheDir, attachTypes: options.attachTypes, bpftool: options.bpftool }), false);
  return {
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
      completionProvider: { triggerCharacters: ['"', '/', ',', ' ', '_'], resolveProvider: false },
      hoverProvider: true,
    },
    serverInfo: { name: 'nslat-probe-server', version: '0.1.0' },
  };
});

connection.onNotification(TargetNotification, (raw) => {
  const p = TargetParams.safeParse(raw);
  if (!p.success) return log(`bad nslat/target: ${p.error.message}`);
  const t = p.data;
  const base = t.remote
    ? runnerAccess(t.host, (argv, o) => connection.sendRequest(TargetRunRequest, { argv, input: o?.input, timeoutMs: o?.timeoutMs }))
    : localAccess();
  access = base;
  const k = new TargetKernelInfo(base, { cacheDir: options.cacheDir, bpftool: options.bpftool, attachTypes: options.attachTypes });
  if (t.attachTypes) k.setAttachTypes(t.attachTypes, `the nslat helper on ${t.host}`, t.attachReasons);
  targetCompiler = t.remote && t.compileOnTarget
    ? new ClangBackend({
        access: base,
        machine: async () => (await base.run(['uname', '-m'])).stdout.trim(),
        includeDirs: async () => t.compileOnTarget!.includeDirs,
      })
    : undefined;
  clangMissingShown = false;
  log(`target: ${t.host}${t.remote ? ' (remote)' : ''}`);
  setTarget(k, true);
});

connection.onNotification(StageStatsNotification, (raw) => {
  const p = StageStatsParams.safeParse(raw);
  if (!p.success) return log(`bad nslat/stageStats: ${p.error.message}`);
  stats = p.data;
});

function schedule(doc: TextDocument, delay: number): void {
  const old = timers.get(doc.uri);
  if (old) clearTimeout(old);
  timers.set(
    doc.uri,
    setTimeout(() => {
      timers.delete(doc.uri);
      void validate(doc.uri);
    }, delay),
  );
}

function revalidateAll(): void {
  for (const d of documents.all()) schedule(d, 0);
}

function toLsp(d: ClangDiag): Diagnostic {
  return {
    range: { start: { line: d.line, character: d.character }, end: { line: d.endLine, character: d.endCharacter } },
    severity: d.severity === 'error' ? DiagnosticSeverity.Error : d.severity === 'warning' ? DiagnosticSeverity.Warning : DiagnosticSeverity.Information,
    source: 'clang',
    message: d.message,
  };
}

/** At most two clang runs at once (the machine is shared; many documents may open together). */
let running = 0;
const queue: Array<() => void> = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    queue.shift()?.();
  }
}

async function compileDiagnostics(doc: TextDocument, docPath: string): Promise<Diagnostic[]> {
  const text = doc.getText();
  const dir = path.dirname(docPath);
  let outcome = await limited(() => compiler.compile(text, dir));
  if (!outcome.ok && targetCompiler) outcome = await limited(() => targetCompiler!.compile(text, dir));
  if (!outcome.ok) {
    const msg = `${outcome.unavailable}: install clang (Debian/Ubuntu: apt-get install clang) for compile diagnostics while you type (a session whose target has clang compiles there).`;
    if (!clangMissingShown) {
      clangMissingShown = true;
      void connection.window.showInformationMessage(`nslat: ${msg}`);
    }
    return [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, severity: DiagnosticSeverity.Information, source: SOURCE, code: 'no-clang', message: msg }];
  }
  const out = outcome.diagnostics
    .filter((d) => !(d.severity === 'note' && (d.file || /could not determine the original source location/.test(d.message))))
    .map(toLsp);
  if (vmlinuxError && outcome.diagnostics.some((d) => /vmlinux\.h/.test(d.message))) {
    out.push({ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, severity: DiagnosticSeverity.Information, source: SOURCE, message: vmlinuxError });
  }
  return out;
}

async function validate(uri: string): Promise<void> {
  const doc = documents.get(uri);
  if (!doc) return;
  const gen = (generation.get(uri) ?? 0) + 1;
  generation.set(uri, gen);
  const stale = () => generation.get(uri) !== gen || documents.get(uri)?.version !== doc.version;
  await viewReady;
  if (stale()) return;
  const diags: Diagnostic[] = [];
  let docPath = '';
  try {
    docPath = uri.startsWith('file:') ? fileURLToPath(uri) : '';
  } catch {
    /* not a file URI */
  }
  if (doc.getText().length > 1_000_000) {
    connection.sendDiagnostics({ uri, version: doc.version, diagnostics: [] }); // vmlinux.h and the like
    return;
  }
  try {
    const headers = docPath ? includedSkbReaders(doc.getText(), path.dirname(docPath)) : new Map();
    diags.push(...nslatDiagnostics(doc, view, headers));
  } catch (e) {
    log(`nslat checks failed on ${uri}: ${(e as Error).stack ?? e}`);
  }
  // Headers are compiled through the probes that include them.
  if (!/\.h$/.test(docPath || uri)) {
    try {
      diags.push(...(await compileDiagnostics(doc, docPath || path.join(process.cwd(), 'untitled.bpf.c'))));
    } catch (e) {
      log(`compile failed on ${uri}: ${(e as Error).stack ?? e}`);
    }
    if (stale()) return;
  }
  connection.sendDiagnostics({ uri, version: doc.version, diagnostics: diags });
}

documents.onDidOpen((e) => fresh.add(e.document.uri));
documents.onDidChangeContent((e) => {
  const opened = fresh.delete(e.document.uri);
  schedule(e.document, opened ? 0 : options.debounceMs ?? 400);
});
documents.onDidSave((e) => schedule(e.document, 0));
documents.onDidClose((e) => {
  const t = timers.get(e.document.uri);
  if (t) clearTimeout(t);
  timers.delete(e.document.uri);
  generation.delete(e.document.uri);
  connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
});

connection.onCompletion(async (p) => {
  const doc = documents.get(p.textDocument.uri);
  if (!doc) return null;
  const offset = doc.offsetAt(p.position);
  // Wait briefly for the kernel data on the first request; answer incomplete rather than hang.
  await Promise.race([viewReady, new Promise((r) => setTimeout(r, 10_000))]);
  try {
    return completeSection(doc, offset, view) ?? completeProgArgs(doc, offset, view) ?? null;
  } catch (e) {
    log(`completion failed: ${(e as Error).stack ?? e}`);
    return null;
  }
});

connection.onHover(async (p) => {
  const doc = documents.get(p.textDocument.uri);
  if (!doc) return null;
  await Promise.race([viewReady, new Promise((r) => setTimeout(r, 10_000))]);
  const k = kernel;
  try {
    return (await hover(doc, doc.offsetAt(p.position), view, stats, (c, n) => k.tracepointFormat(c, n))) ?? null;
  } catch (e) {
    log(`hover failed: ${(e as Error).stack ?? e}`);
    return null;
  }
});

documents.listen(connection);
connection.listen();

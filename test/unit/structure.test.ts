/**
 * The code's layering holds: no import cycle among the TypeScript modules of src/ and webview/,
 * no include cycle among the helper's and the probes' C files, and the core never imports vscode.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, ext));
    else if (ext.test(name)) out.push(p);
  }
  return out;
}

/** Relative imports of a TS module (value and type imports, re-exports and dynamic imports). */
export function tsImports(file: string, text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/^\s*\/\/.*$/gm, ' ');
  const out: string[] = [];
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(resolve(dirname(file), m[1]!));
  return out;
}

/** Quoted includes of a C file that name a file of the same tree. */
export function cIncludes(file: string, text: string, tree: Set<string>, dirs: string[]): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
    for (const d of [dirname(file), ...dirs]) {
      const p = resolve(d, m[1]!);
      if (tree.has(p)) { out.push(p); break; }
    }
  }
  return out;
}

/** A cycle in a graph as the list of its nodes, or undefined. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (!graph.has(m)) continue;
      if (state.get(m) === 1) return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) { const c = visit(m); if (c) return c; }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of graph.keys()) if (!state.has(n)) { const c = visit(n); if (c) return c; }
  return undefined;
}

const show = (c: string[]) => c.map((p) => relative(ROOT, p)).join(' → ');

test('no import cycle among the TypeScript modules of src/ and webview/', () => {
  const all = [...files(join(ROOT, 'src'), /\.ts$/), ...files(join(ROOT, 'webview'), /\.ts$/)];
  const graph = new Map(all.map((f) => [f, tsImports(f, readFileSync(f, 'utf8'))]));
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, cycle && `import cycle: ${show(cycle)}`);
});

test('no include cycle among the C files of bpf/', () => {
  const all = files(join(ROOT, 'bpf'), /\.[ch]$/).filter((f) => !f.includes('/build/'));
  const tree = new Set(all);
  const dirs = [join(ROOT, 'bpf/include'), join(ROOT, 'bpf/probes'), join(ROOT, 'bpf/helper')];
  const graph = new Map(all.map((f) => [f, cIncludes(f, readFileSync(f, 'utf8'), tree, dirs)]));
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, cycle && `include cycle: ${show(cycle)}`);
});

test('src/core, src/cli and webview/ never import vscode', () => {
  for (const dir of ['src/core', 'src/cli', 'webview']) {
    for (const f of files(join(ROOT, dir), /\.ts$/)) {
      assert.doesNotMatch(readFileSync(f, 'utf8'), /from\s+['"]vscode['"]/, `${relative(ROOT, f)} imports vscode`);
    }
  }
});

test('the cycle finder finds a cycle and the import parser sees imports (the checks above can fail)', () => {
  assert.deepEqual(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['a', 'b', 'c', 'a']);
  assert.equal(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', []]])), undefined);
  const imps = tsImports('/x/y/m.ts', "import { a } from './a.ts';\nimport type { B } from '../b.ts';\nexport * from './c.ts';\nconst d = await import('./d.ts');\n// import { e } from './e.ts';\n");
  assert.deepEqual(imps, ['/x/y/a.ts', '/x/b.ts', '/x/y/c.ts', '/x/y/d.ts']);
});

// A local ESLint rule: no import cycle among the project's own modules, type imports and
// re-exports included (import-x's no-cycle passes over `import type`, and a cycle of types
// still ties the declarations a user compiles against into a knot). The graph is built once
// per lint run with TypeScript's own pre-processor, which lists every module specifier of a
// file (import, import type, export … from, import()), and cycles are found with Tarjan's
// algorithm; each import that closes one is reported on the file that has it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** file → its relative imports resolved to files, for every file reached. */
const graphs = new Map();

function resolve(from, specifier) {
  if (!specifier.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), base, `${base}.ts`, path.join(base, 'index.ts')]) {
    try {
      readFileSync(candidate);
      return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const info = ts.preProcessFile(text, true, true);
  const out = [];
  for (const ref of info.importedFiles) {
    const target = resolve(file, ref.fileName);
    if (target !== null) out.push({ specifier: ref.fileName, target });
  }
  return out;
}

/** The strongly connected components (of more than one file, or a file importing itself) reached from `root`. */
function cyclesFrom(root) {
  const edges = new Map();
  const stack = [root];
  while (stack.length > 0) {
    const file = stack.pop();
    if (edges.has(file)) continue;
    const list = importsOf(file);
    edges.set(file, list);
    for (const { target } of list) if (!edges.has(target)) stack.push(target);
  }
  let index = 0;
  const indices = new Map();
  const low = new Map();
  const onStack = new Set();
  const path_ = [];
  const component = new Map();
  const strong = (v) => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    path_.push(v);
    onStack.add(v);
    for (const { target: w } of edges.get(v)) {
      if (!indices.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), indices.get(w)));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const members = [];
      let w;
      do {
        w = path_.pop();
        onStack.delete(w);
        members.push(w);
      } while (w !== v);
      const set = new Set(members);
      const cyclic = members.length > 1 || edges.get(v).some(({ target }) => target === v);
      for (const m of members) component.set(m, cyclic ? set : null);
    }
  };
  for (const v of edges.keys()) if (!indices.has(v)) strong(v);
  return { edges, component };
}

function graphFor(file) {
  let graph = graphs.get(file);
  if (graph === undefined) {
    graph = cyclesFrom(file);
    for (const f of graph.edges.keys()) graphs.set(f, graph);
  }
  return graph;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: "forbid import cycles between the project's modules, type imports included" },
    schema: [],
    messages: { cycle: 'import of {{target}} closes an import cycle: {{members}}' },
  },
  create(context) {
    const file = path.resolve(context.filename);
    const { component } = graphFor(file);
    const members = component.get(file);
    if (!members) return {};
    const check = (node) => {
      if (node.source === null || node.source === undefined || typeof node.source.value !== 'string') return;
      const target = resolve(file, node.source.value);
      if (target === null || !members.has(target)) return;
      const cwd = context.cwd ?? process.cwd();
      context.report({
        node: node.source,
        messageId: 'cycle',
        data: {
          target: node.source.value,
          members: [...members]
            .map((m) => path.relative(cwd, m))
            .sort()
            .join(', '),
        },
      });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};

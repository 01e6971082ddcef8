/**
 * ESLint rule `kao/no-import-cycle`: reports a static import (or re-export) of a project file that leads,
 * through more imports, back to the importing file.
 *
 * `import type` counts. import-x's `no-cycle` skips type-only imports because they vanish at run time, but a
 * type cycle is still two modules that cannot be understood or moved apart (it is how seven services ended
 * up in one cycle through a context type). Dynamic `import()` does not count: it is how a module loads a
 * heavy dependency lazily, on purpose. Nor do specifiers with a query (`./worker.ts?modulePath`), which
 * name another process's entry, not a dependency, nor a file importing itself (a recursive Svelte component).
 *
 * The other files' imports are read from disk with TypeScript's parser (the script blocks of a .svelte
 * file) and cached by modification time, so linting the whole tree parses each file once.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';

/** @type {Map<string, { mtimeMs: number, imports: string[] }>} */
const cache = new Map();

/** The project file a relative specifier names, or undefined (a package, a query, a file that isn't there). */
function resolveSpecifier(fromFile, specifier) {
  if (!specifier.startsWith('.') || specifier.includes('?')) return undefined;
  const base = resolve(dirname(fromFile), specifier);
  for (const candidate of [base, `${base}.ts`, resolve(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  // `./x.js` for a TypeScript source `./x.ts`.
  if (base.endsWith('.js') && existsSync(`${base.slice(0, -3)}.ts`)) return `${base.slice(0, -3)}.ts`;
  return undefined;
}

function scriptText(file, text) {
  if (!file.endsWith('.svelte')) return text;
  return [...text.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n');
}

/** The specifiers of a source text's top-level import and export-from declarations. */
function staticSpecifiers(file, text) {
  const source = ts.createSourceFile(file, scriptText(file, text), ts.ScriptTarget.Latest, false);
  const specifiers = [];
  for (const statement of source.statements) {
    if (
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier &&
      ts.isStringLiteral(statement.moduleSpecifier)
    ) {
      specifiers.push(statement.moduleSpecifier.text);
    }
  }
  return specifiers;
}

function importsOnDisk(file) {
  let mtimeMs;
  try {
    mtimeMs = statSync(file).mtimeMs;
  } catch {
    return [];
  }
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit.imports;
  const imports = staticSpecifiers(file, readFileSync(file, 'utf8'))
    .map((specifier) => resolveSpecifier(file, specifier))
    .filter((target) => target !== undefined);
  cache.set(file, { mtimeMs, imports });
  return imports;
}

/** The shortest import path from `start` back to `goal` (both included), or undefined. */
function pathBack(start, goal, importsOf) {
  const parent = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift();
    for (const next of importsOf(file)) {
      if (parent.has(next)) continue;
      parent.set(next, file);
      if (next === goal) {
        const path = [goal];
        for (let at = file; at !== undefined; at = parent.get(at)) path.unshift(at);
        return path;
      }
      queue.push(next);
    }
  }
  return undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
export default {
  meta: {
    type: 'problem',
    docs: { description: 'Disallow import cycles between project files, type-only imports included.' },
    schema: [],
    messages: { cycle: 'Import cycle: {{path}}. Move what both need into a module below them.' },
  },
  create(context) {
    const file = context.filename;
    const cwd = context.cwd;
    // This file's own imports come from the text being linted (it may differ from the disk). They are
    // collected by node type, not from Program.body: in a .svelte file they sit inside the script element.
    const own = [];
    const collect = (node) => {
      if (!node.source) return;
      const target = resolveSpecifier(file, String(node.source.value));
      if (target !== undefined) own.push({ node: node.source, target });
    };
    return {
      ImportDeclaration: collect,
      ExportNamedDeclaration: collect,
      ExportAllDeclaration: collect,
      'Program:exit'() {
        const ownTargets = own.map((o) => o.target);
        const importsOf = (f) => (f === file ? ownTargets : importsOnDisk(f));
        for (const { node, target } of own) {
          // A component importing itself is a recursive component, not a cycle between modules.
          if (target === file) continue;
          const cycle = pathBack(target, file, importsOf);
          if (!cycle) continue;
          const shown = [file, ...cycle].map((f) => relative(cwd, f)).join(' → ');
          context.report({ node, messageId: 'cycle', data: { path: shown } });
        }
      },
    };
  },
};

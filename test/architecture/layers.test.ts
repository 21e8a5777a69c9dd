// The layering rules of DESIGN.md and DEVELOPERS.md, read from the imports of every source file:
// - the bus imports nothing above it;
// - actors (services, listener) never import protocols, and nothing but the CLI imports cli/;
// - a protocol folder never reaches into another protocol's folder or into a service's state
//   (store, engine, vault file, key ring, actor machines);
// - a service's messages.ts carries no live objects (no Any/Unsafe schemas).
// A rule broken by a new import fails here with the file and the import named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SOURCE_DIRS = ['bus', 'supervisors', 'actors', 'protocols', 'operations', 'cli', 'lib', 'examples', 'bench', 'index.ts'];

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const stat = fs.statSync(abs, { throwIfNoEntry: false });
    if (!stat) return;
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(abs)) if (name !== 'node_modules') walk(path.join(rel, name));
    } else if (/\.(ts|mts|js|mjs)$/.test(rel)) out.push(rel);
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  return out;
}

/** Repo-relative targets of a file's relative imports (static and dynamic). */
function importsOf(file: string): string[] {
  // Comment lines may show imports as examples; only code counts.
  const text = fs.readFileSync(path.join(root, file), 'utf8').replace(/^\s*(\/\/|\*).*$/gm, '');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    out.push(path.relative(root, path.resolve(path.dirname(path.join(root, file)), m[1]!)));
  }
  return out;
}

const files = sourceFiles();
const edges = files.flatMap((file) => importsOf(file).map((target) => ({ file, target })));
const top = (p: string): string => p.split(path.sep)[0]!;
const protocolOf = (p: string): string | undefined => (p.startsWith(`protocols${path.sep}`) && p.split(path.sep).length > 2 ? p.split(path.sep)[1] : undefined);

function violations(rule: (e: { file: string; target: string }) => boolean): string[] {
  return edges.filter(rule).map((e) => `${e.file} imports ${e.target}`);
}

test('the source tree was found', () => {
  assert.ok(files.length > 100, `only ${files.length} source files found under ${root}`);
  assert.ok(edges.length > 300);
});

test('the bus imports nothing above it', () => {
  assert.deepEqual(violations((e) => top(e.file) === 'bus' && top(e.target) !== 'bus'), []);
});

test('actors never import protocols', () => {
  assert.deepEqual(violations((e) => top(e.file) === 'actors' && top(e.target) === 'protocols'), []);
});

test('only the CLI imports cli/', () => {
  assert.deepEqual(violations((e) => top(e.file) !== 'cli' && top(e.target) === 'cli'), []);
});

test('a protocol folder never reaches into another protocol folder', () => {
  assert.deepEqual(
    violations((e) => {
      const from = protocolOf(e.file);
      const to = protocolOf(e.target);
      return from !== undefined && to !== undefined && from !== to;
    }),
    [],
  );
});

test("a protocol never imports a service's state or actor machine", () => {
  const STATE = /^actors\/[^/]+\/(store|engine|vaultFile|keyRing|machine|partial|gc|index-db|peerList)\.ts$/;
  assert.deepEqual(violations((e) => top(e.file) === 'protocols' && STATE.test(e.target.split(path.sep).join('/'))), []);
});

test('service messages carry no live objects (no Any or Unsafe schemas)', () => {
  const catalogues = files.filter((f) => /^actors\/[^/]+\/messages\.ts$/.test(f.split(path.sep).join('/')));
  assert.ok(catalogues.length >= 4, `vault, fs, tensor and peers each have messages.ts (found ${catalogues.join(', ')})`);
  for (const file of catalogues) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    assert.doesNotMatch(text, /\b(?:T|Type)\.(?:Any|Unsafe)\s*[<(]/, `${file} declares a live-object schema`);
  }
});

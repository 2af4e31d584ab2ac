import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';

/**
 * The layering rule of `npm run lint` (.dependency-cruiser.cjs, docs/architecture.md) holds for src/, and fails the
 * lint when an import breaks it: each case below writes a small tree that breaks one rule, and dependency-cruiser,
 * run with the project's own configuration, must refuse it by that rule's name.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

function cruise(cwd: string, outputType = 'err'): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [DEPCRUISE, '--config', join(cwd, '.dependency-cruiser.cjs'), '--output-type', outputType, 'src'],
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

let tree: string | undefined;
afterEach(async () => {
  if (tree) await rm(tree, { recursive: true, force: true });
  tree = undefined;
});

/** A tree with the project's configuration and the given files (path → the modules it imports). */
async function treeOf(files: Record<string, readonly string[]>): Promise<string> {
  tree = await mkdtemp(join(tmpdir(), 'frozen-layering-'));
  await cp(join(ROOT, '.dependency-cruiser.cjs'), join(tree, '.dependency-cruiser.cjs'));
  await writeFile(join(tree, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext' } }));
  for (const [path, imports] of Object.entries(files)) {
    await mkdir(join(tree, dirname(path)), { recursive: true });
    const lines = imports.map((target, i) => `import { x as x${i} } from '${target}';`);
    await writeFile(join(tree, path), `${lines.join('\n')}\nexport const x = 1;\n`);
  }
  return tree;
}

describe('the layering rule', () => {
  test('holds for src/', async () => {
    const result = await cruise(ROOT);
    expect(result.output).toContain('no dependency violations found');
    expect(result.code).toBe(0);
  });

  test("no circle among src/'s folders (a file directly in src/ counts as a folder of its own)", async () => {
    const { output } = await cruise(ROOT, 'json');
    const { modules } = JSON.parse(output) as { modules: { source: string; dependencies: { resolved: string }[] }[] };
    const folderOf = (path: string) => (path.startsWith('src/') ? path.split('/').slice(0, 2).join('/') : undefined);
    const edges = new Map<string, Set<string>>();
    for (const module of modules) {
      const from = folderOf(module.source);
      for (const { resolved } of module.dependencies) {
        const to = folderOf(resolved);
        if (from && to && from !== to) edges.set(from, (edges.get(from) ?? new Set()).add(to));
      }
    }
    expect(edges.size).toBeGreaterThan(10); // the graph was read
    expect(folderCircle(edges)).toBeUndefined();
  });

  test.each([
    ['services-below-api', { 'src/registry/remote.ts': ['../pull/run.js'], 'src/pull/run.ts': [] }],
    ['core-is-the-bottom', { 'src/reference/index.ts': ['../registry/client.js'], 'src/registry/client.ts': [] }],
    ['api-below-cli', { 'src/pull/run.ts': ['../cli/io.js'], 'src/cli/io.ts': [] }],
    ['registry-alone', { 'src/registry/remote.ts': ['../transfer/ingest.js'], 'src/transfer/ingest.ts': [] }],
    ['cache-alone', { 'src/cache/blob-cache.ts': ['../registry/retry.js'], 'src/registry/retry.ts': [] }],
    ['layout-alone', { 'src/layout/oci.ts': ['../cache/blob-cache.js'], 'src/cache/blob-cache.ts': [] }],
    ['vocabulary-alone', { 'src/api/options.ts': ['../pull/run.js'], 'src/pull/run.ts': [] }],
    ['pull-below-commands', { 'src/pull/run.ts': ['../lock.js'], 'src/lock.ts': [] }],
    ['no-circular', { 'src/pull/a.ts': ['./b.js'], 'src/pull/b.ts': ['./a.js'] }],
  ])('an import that breaks %s fails the check', async (rule, files) => {
    const result = await cruise(await treeOf(files));
    expect(result.output).toContain(`error ${rule}:`);
    expect(result.code).not.toBe(0);
  });
});

/** A circle in the graph, as the folders on it, or undefined (depth-first search, colouring the folders). */
function folderCircle(edges: ReadonlyMap<string, ReadonlySet<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, path: string[]): string[] | undefined => {
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    if (state.get(node) === 'done') return undefined;
    state.set(node, 'open');
    for (const next of edges.get(node) ?? []) {
      const circle = visit(next, [...path, node]);
      if (circle) return circle;
    }
    state.set(node, 'done');
    return undefined;
  };
  for (const node of edges.keys()) {
    const circle = visit(node, []);
    if (circle) return circle;
  }
  return undefined;
}

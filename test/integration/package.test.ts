import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { oneLayerImage, pushImage, type BuiltImage } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * The package as npm would install it: `npm pack`ed, unpacked into a consumer's node_modules beside its
 * dependencies, then imported, type-checked and run from there. Catches what the repository's own tests cannot:
 * a file left out of the package, an export that does not resolve, declarations that do not compile for a user.
 */
const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
let registry: RunningRegistry;
let img: BuiltImage;
let consumer: string;
let packed: string[];

beforeAll(async () => {
  registry = await startRegistry();
  img = await oneLayerImage('packaged');
  await pushImage({ url: registry.url }, 'packaged/app', img, '1');
  consumer = await mkdtemp(join(tmpdir(), 'frozen-consumer-'));
  // The build is fresh (npm test builds first), so the pack skips `prepare`.
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', consumer], {
    cwd: repo,
  });
  const [report] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  packed = report!.files.map((file) => file.path).sort();
  const installed = join(consumer, 'node_modules', 'frozen-images');
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', join(consumer, report!.filename), '-C', installed, '--strip-components=1']);
  // Its dependencies (and the consumer's typescript and @types/node) come from the repository's node_modules.
  for (const entry of await readdir(join(repo, 'node_modules'))) {
    if (entry !== '.bin' && entry !== 'frozen-images')
      await symlink(join(repo, 'node_modules', entry), join(consumer, 'node_modules', entry));
  }
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
}, 120_000);
afterAll(async () => {
  await registry?.stop();
});

describe('the npm package', () => {
  test('holds the built code, its declarations, its sources, the CLI bundle, the docs and the licence, and no tests', () => {
    for (const path of [
      'bin/frozen.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/require.cjs',
      'src/index.ts',
      'dist/bundle/frozen.js',
      'dist/bundle/frozen.js.map',
      'docs/api.md',
      'docs/cli.md',
      'README.md',
      'LICENSE',
      'package.json',
    ]) {
      expect(packed).toContain(path);
    }
    expect(packed.filter((path) => /^(test|\.ci|scripts)\//.test(path))).toEqual([]);
    // The CLI runs from its bundle; tsc's unbundled copy of it would be dead weight.
    expect(packed.filter((path) => path.startsWith('dist/cli/'))).toEqual([]);
  });

  test('every source map resolves within the package: its sources are packed, or carried in the map', async () => {
    const installed = join(consumer, 'node_modules', 'frozen-images');
    const maps = packed.filter((path) => path.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(10);
    const unresolved: string[] = [];
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(await readFile(join(installed, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      for (const [i, source] of sources.entries()) {
        const path = join(installed, map, '..', source);
        if (typeof sourcesContent?.[i] !== 'string' && !existsSync(path)) unresolved.push(`${map}: ${source}`);
      }
    }
    expect(unresolved).toEqual([]);
  });

  test('holds no file an earlier build left: every chunk of the bundle is one its entry loads', async () => {
    const bundle = packed.filter((path) => path.startsWith('dist/bundle/') && path.endsWith('.js'));
    const source = new Map(
      await Promise.all(bundle.map(async (path) => [path, await readFile(join(repo, path), 'utf8')] as const)),
    );
    const reached = new Set(['dist/bundle/frozen.js']);
    for (const from of reached) {
      for (const chunk of bundle)
        if (source.get(from)!.includes(`./${chunk.slice('dist/bundle/'.length)}`)) reached.add(chunk);
    }
    expect(bundle.filter((path) => !reached.has(path))).toEqual([]);
  });

  test('a consumer imports pull and pulls an image through the installed package', async () => {
    const output = join(consumer, 'images');
    await writeFile(
      join(consumer, 'use.mjs'),
      `import * as api from 'frozen-images';
const result = await api.pull({ images: [${JSON.stringify(`${registry.host}/packaged/app:1`)}], output: ${JSON.stringify(output)}, cache: false });
console.log(JSON.stringify({ exports: Object.keys(api).sort(), imageId: result.images[0].imageId }));`,
    );
    const { stdout } = await run(process.execPath, ['use.mjs'], { cwd: consumer });
    const seen = JSON.parse(stdout) as { exports: string[]; imageId: string };
    expect(seen.exports).toEqual(
      [
        'FrozenError',
        'ImagePullError',
        'PullFailures',
        'canonicalReference',
        'defaultPlatform',
        'formatPlatform',
        'inspect',
        'isRetryable',
        'lock',
        'parsePlatform',
        'parseReference',
        'pull',
        'readLockFile',
        'verifyArchive',
        'writeLockFile',
      ].sort(),
    );
    expect(seen.imageId).toBe(img.config.digest);
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8')) as { Config: string }[];
    expect(manifest.map((entry) => entry.Config)).toEqual([`${img.config.digest.slice('sha256:'.length)}.json`]);
  });

  test('its declarations type-check in a strict TypeScript project (NodeNext)', async () => {
    await writeFile(
      join(consumer, 'typed.ts'),
      `import { inspect, pull, FrozenError, type PullEvent, type PullOptions, type PullResult, type RequestEvent } from 'frozen-images';
const options: PullOptions = { images: ['example.com/app:1'], output: 'out', onEvent: (event: PullEvent) => void event.type };
export const pulled: Promise<PullResult> = pull(options);
export const inspected = inspect({ image: 'example.com/app:1', onEvent: (event: RequestEvent) => void event.reason });
export const kind = (error: unknown) => (error instanceof FrozenError ? error.kind : undefined);
`,
    );
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [
      '--strict',
      '--noEmit',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--types',
      'node',
      'typed.ts',
    ];
    await expect(run(process.execPath, [tsc, ...args], { cwd: consumer })).resolves.toBeDefined();
  });

  test('require() works where Node loads ES modules with it (20.19 and newer): the same API', async () => {
    await writeFile(
      join(consumer, 'use.cjs'),
      `const api = require('frozen-images');\nconsole.log(typeof api.pull, api.canonicalReference('busybox'));\n`,
    );
    const { stdout } = await run(process.execPath, ['use.cjs'], { cwd: consumer });
    expect(stdout.trim()).toBe('function docker.io/library/busybox:latest');
  });

  // A pipeline with every strict flag (exactOptionalPropertyTypes, noUncheckedIndexedAccess) and no skipLibCheck: the
  // declarations compile there, forwarding optional values works, and mistakes the types should catch are caught.
  test('its declarations hold in the strictest project a pipeline may have', async () => {
    await writeFile(
      join(consumer, 'strict.ts'),
      `import { pull, isRetryable, type PullEvent, type ErrorEvent, type DispatcherLike } from 'frozen-images';
import { Agent } from 'undici';
interface Job { images: string[]; signal?: AbortSignal | undefined; retries?: number | undefined }
export async function run(job: Job) {
  const dispatcher: DispatcherLike = new Agent();
  const result = await pull({ images: job.images, signal: job.signal, retries: job.retries, dispatcher, partial: true });
  const onError = (event: PullEvent) => (event.type === 'error' ? (event satisfies ErrorEvent).kind : undefined);
  return [result.totals.requests, result.failures.filter(isRetryable), onError] as const;
}
// @ts-expect-error a lock file and images are exclusive
void pull({ images: ['a:1'], lock: { version: 1, images: [] } });
// @ts-expect-error a lock file pins the platform
void pull({ lock: { version: 1, images: [] }, platform: 'linux/amd64' });
// @ts-expect-error kind is an ErrorKind, not any string
export const wrong: ErrorEvent = { type: 'error', image: 'a', kind: 'oops', message: '', retryable: false };
`,
    );
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          types: ['node'],
        },
        files: ['strict.ts'],
      }),
    );
    const checked = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: consumer }).catch(
      (error: { stdout: string }) => error,
    );
    expect(checked.stdout).toBe('');
  });

  test('the installed bin runs', async () => {
    const { stdout } = await run(
      process.execPath,
      [join(consumer, 'node_modules', 'frozen-images', 'bin', 'frozen.js'), '--version'],
      { cwd: consumer },
    );
    const { version } = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };
    expect(stdout.trim()).toBe(version);
  });

  test('the installed bin pulls into a tar and verifies it (the bundle and its lazily loaded parts are all packed)', async () => {
    const bin = join(consumer, 'node_modules', 'frozen-images', 'bin', 'frozen.js');
    const archive = join(consumer, 'image.tar');
    await run(
      process.execPath,
      [bin, 'pull', '-q', '--no-cache', '--format', 'tar', '-o', archive, `${registry.host}/packaged/app:1`],
      { cwd: consumer },
    );
    const { stdout } = await run(process.execPath, [bin, 'verify', archive], { cwd: consumer });
    expect(stdout.trim()).toBe(`${archive}: ok, 1 image, 1 layer verified`);
  });
});

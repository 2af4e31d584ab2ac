import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, test } from 'vitest';
import { pull } from '../../src/index.js';
import { FROZEN_BIN, runCli, runCliInTerminal } from '../support/cli.js';
import { useRegistry } from '../support/fixture.js';
import { image, layer, multiLayerImage, oneLayerImage, pushImage, type BuiltImage } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-tar-out-'));

const fixture = useRegistry(async (target) => {
  const multi = await multiLayerImage();
  const one = await oneLayerImage('tar');
  // More than a pipe holds: a reader that stops early leaves frozen writing into a closed pipe.
  const big = image({ layers: [await layer([{ type: 'file', name: 'big', content: randomBytes(1_000_000) }])] });
  await pushImage(target, 'team/app', multi, '1');
  await pushImage(target, 'one/app', one, '1');
  await pushImage(target, 'big/app', big, '1');
  return { multi, one };
});

/** skopeo reads a docker-archive tar file: load each entry and check its image ID. */
async function expectLoadableTar(file: string, expected: BuiltImage[]) {
  const dir = await tempDir();
  const { execFile } = await import('node:child_process');
  await new Promise((resolve, reject) =>
    execFile('tar', ['-xf', file, '-C', dir], (e) => (e ? reject(e) : resolve(undefined))),
  );
  for (const [i, img] of expected.entries()) expect((await loadWithSkopeo(dir, i)).imageId).toBe(img.config.digest);
  const verified = await runCli(['verify', file]);
  expect(verified.stdout).toBe(
    `${file}: ok, ${expected.length} images, ${expected.reduce((n, img) => n + img.layers.length, 0)} layers verified\n`,
  );
}

describe('tar output', () => {
  test('-o - streams a docker-archive tar to stdout (progress stays on stderr)', async () => {
    const file = join(await tempDir(), 'stdout.tar');
    const cache = await tempDir();
    const child = spawn(
      process.execPath,
      [FROZEN_BIN, 'pull', '-o', '-', `${fixture.registry.host}/team/app:1`, `${fixture.registry.host}/one/app:1`],
      {
        env: { ...process.env, FROZEN_CACHE: cache },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await pipeline(child.stdout, createWriteStream(file));
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/^done /m);
    await expectLoadableTar(file, [fixture.images.multi, fixture.images.one]);
    expect(await readdir(join(cache, 'tmp'))).toEqual([]); // the scratch directory is gone
  });

  test('--format tar -o FILE writes the same tar, byte for byte, every time', async () => {
    const dir = await tempDir();
    const first = await runCli([
      'pull',
      '--format',
      'tar',
      '-o',
      join(dir, 'a.tar'),
      `${fixture.registry.host}/team/app:1`,
      `${fixture.registry.host}/one/app:1`,
    ]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`load with: docker load -i '${join(dir, 'a.tar')}'`);
    await runCli([
      'pull',
      '--format',
      'tar',
      '-o',
      join(dir, 'b.tar'),
      `${fixture.registry.host}/team/app:1`,
      `${fixture.registry.host}/one/app:1`,
    ]);
    const [a, b] = await Promise.all([stat(join(dir, 'a.tar')), stat(join(dir, 'b.tar'))]);
    expect(a.size).toBe(b.size);
    const { readFile } = await import('node:fs/promises');
    expect((await readFile(join(dir, 'a.tar'))).equals(await readFile(join(dir, 'b.tar')))).toBe(true);
    await expectLoadableTar(join(dir, 'a.tar'), [fixture.images.multi, fixture.images.one]);
  });

  test('a failed tar pull leaves no file; --json with -o - is a usage error', async () => {
    const dir = await tempDir();
    const failed = await runCli([
      'pull',
      '--format',
      'tar',
      '-o',
      join(dir, 'x.tar'),
      `${fixture.registry.host}/team/app:nope`,
    ]);
    expect(failed.code).toBe(1);
    expect(await readdir(dir)).toEqual([]);
    const both = await runCli(['pull', '--json', '-o', '-', `${fixture.registry.host}/team/app:1`]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('frozen: error: --json and -o - both want stdout\n');
    expect(existsSync(join(dir, 'x.tar'))).toBe(false);
  });

  test('-o - with stdout on a terminal is refused before anything is fetched', async () => {
    const cache = await tempDir();
    const { screen, code } = await runCliInTerminal(['pull', '-o', '-', `${fixture.registry.host}/team/app:1`], {
      FROZEN_CACHE: cache,
    });
    expect(code).toBe(2);
    expect(screen.replace(/\r/g, '')).toBe(
      'frozen: error: -o - writes a tar, and stdout is a terminal: pipe it (| docker load) or redirect it\n',
    );
    expect(await readdir(cache)).toEqual([]);
  });

  test('-o - into a pipe its reader closes early: one error line and exit 1', async () => {
    const child = spawn(process.execPath, [FROZEN_BIN, 'pull', '-q', '-o', '-', `${fixture.registry.host}/big/app:1`], {
      env: { ...process.env, FROZEN_CACHE: await tempDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdout.once('data', () => child.stdout.destroy()); // like `| head -c 10`
    expect(await exited).toBe(1);
    expect(stderr).toBe('frozen: error: cannot write the tar stream: write EPIPE\n');
  });

  test('a stream that fails while the tar is written rejects the pull with an output error', async () => {
    let accepted = 0;
    const failing = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        accepted += chunk.length;
        callback(accepted > 4096 ? new Error('no space left on device') : null);
      },
    });
    const cache = await tempDir();
    const pulling = pull({ images: [`${fixture.registry.host}/team/app:1`], format: 'tar', output: failing, cache });
    await expect(pulling).rejects.toMatchObject({
      kind: 'output',
      message: 'cannot write the tar stream: no space left on device',
    });
    expect(await readdir(join(cache, 'tmp'))).toEqual([]); // the scratch directory is gone
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { runCli } from '../support/cli.js';
import { useRegistry } from '../support/fixture.js';
import { multiLayerImage, oneLayerImage, pushImage, sha256 } from '../support/images.js';

const exec = promisify(execFile);
const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-oci-out-'));

const fixture = useRegistry(async (target) => {
  const multi = await multiLayerImage('oci-gzip');
  const one = await oneLayerImage('oci');
  await pushImage(target, 'team/app', multi, 'v1');
  await pushImage(target, 'one/app', one, 'v2');
  return { multi, one };
});

describe('--format oci', () => {
  test('an OCI image layout with manifest.json: skopeo reads it as oci:, frozen verify passes', async () => {
    const output = join(await tempDir(), 'layout');
    const result = await runCli([
      'pull',
      '--format',
      'oci',
      '-o',
      output,
      `${fixture.registry.host}/team/app:v1`,
      `${fixture.registry.host}/one/app:v2`,
    ]);
    expect(result.stderr).not.toContain('error');
    expect(result.code).toBe(0);
    expect((await readdir(output)).sort()).toEqual(['blobs', 'index.json', 'manifest.json', 'oci-layout']);
    const index = JSON.parse(await readFile(join(output, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual([
      fixture.images.multi.manifest.digest,
      fixture.images.one.manifest.digest,
    ]);
    expect(index.manifests[0].annotations).toEqual({
      'io.containerd.image.name': `${fixture.registry.host}/team/app:v1`,
      'org.opencontainers.image.ref.name': 'v1',
    });
    for (const blob of [
      fixture.images.multi.manifest,
      fixture.images.multi.config,
      ...fixture.images.multi.layers,
      fixture.images.one.manifest,
      fixture.images.one.config,
      ...fixture.images.one.layers,
    ]) {
      expect(sha256(await readFile(join(output, 'blobs/sha256', blob.digest.slice(7))))).toBe(blob.digest);
    }
    // skopeo 1.9's oci: transport finds only OCI-typed manifests in index.json; the Docker-typed one (v2) is
    // covered by the blob hashes above, frozen verify below, and docker load on dockerd.
    const copied = await tempDir();
    await exec('skopeo', ['copy', '--quiet', `oci:${output}:v1`, `dir:${copied}`]);
    const manifest = JSON.parse(await readFile(join(copied, 'manifest.json'), 'utf8'));
    expect(manifest.config.digest).toBe(fixture.images.multi.config.digest);
    expect((await runCli(['verify', output])).stdout).toBe(`${output}: ok, 2 images, 4 layers verified\n`);
  });

  test('a directory that is not empty is refused and left alone', async () => {
    const output = await tempDir();
    await writeFile(join(output, 'keep'), 'x');
    const result = await runCli(['pull', '--format', 'oci', '-o', output, `${fixture.registry.host}/one/app:v2`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is not empty: --format oci writes a new layout\n$/);
    expect(await readdir(output)).toEqual(['keep']);
    expect(
      (
        await runCli([
          'pull',
          '--format',
          'oci',
          '--decompress',
          '-o',
          join(output, 'x'),
          `${fixture.registry.host}/one/app:v2`,
        ])
      ).code,
    ).toBe(2);
  });

  test('a cache inside the layout is refused before anything is made', async () => {
    const output = join(await tempDir(), 'layout');
    const result = await runCli([
      'pull',
      '--format',
      'oci',
      '-o',
      output,
      '--cache',
      join(output, 'cache'),
      `${fixture.registry.host}/one/app:v2`,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `frozen: error: the cache ${join(output, 'cache')} is inside the OCI layout ${output}: give --cache a folder outside it\n`,
    );
    await expect(stat(output)).rejects.toThrow(/ENOENT/);
  });
});

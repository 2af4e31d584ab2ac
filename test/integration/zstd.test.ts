import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli } from '../support/cli.js';
import { useRegistry } from '../support/fixture.js';
import { image, layer, pushImage, sha256 } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-zstd-'));

const fixture = useRegistry(async (target) => {
  const base = await layer([{ type: 'file', name: 'etc/os-release', content: 'ID=zstd-test\n' }], 'oci-gzip');
  const big = await layer([{ type: 'file', name: 'data/blob', content: Buffer.alloc(3_000_000, 'zstd ') }], 'zstd');
  const zstdImage = image({ layers: [base, big], format: 'oci' });
  await pushImage(target, 'zstd/app', zstdImage, '1');
  // BuildKit with oci-mediatypes=false labels zstd layers ...rootfs.diff.tar.zstd; other tools push plain tars as ...rootfs.diff.tar.
  const dockerTypes = image({
    layers: [
      await layer([{ type: 'file', name: 'a', content: 'plain\n' }], 'docker-tar'),
      await layer([{ type: 'file', name: 'b', content: 'zstd\n' }], 'docker-zstd'),
    ],
  });
  await pushImage(target, 'zstd/docker', dockerTypes, '1');
  return { zstdImage, dockerTypes };
});

describe('zstd layers', () => {
  test('docker-archive output holds them decompressed (a plain tar whose hash is the diff ID), and it loads', async () => {
    const output = await tempDir();
    const result = await runCli(['pull', '-q', '-o', output, `${fixture.registry.host}/zstd/app:1`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [entry] = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    const files = await Promise.all(entry.Layers.map((path: string) => readFile(join(output, path))));
    // The gzip layer stays as served; the zstd one is written as its tar.
    expect(sha256(files[0])).toBe(fixture.images.zstdImage.layers[0]!.digest);
    expect(sha256(files[1])).toBe(fixture.images.zstdImage.layers[1]!.diffId);
    expect(await loadWithSkopeo(output)).toEqual({
      imageId: fixture.images.zstdImage.config.digest,
      diffIds: fixture.images.zstdImage.layers.map((l) => l.diffId),
    });
    expect((await runCli(['verify', output])).code).toBe(0);
  });

  test('Docker media types for a plain tar and a zstd layer: pulled, the zstd one decompressed, and it loads', async () => {
    const output = await tempDir();
    const result = await runCli(['pull', '-q', '-o', output, `${fixture.registry.host}/zstd/docker:1`]);
    expect([result.code, result.stderr]).toEqual([0, '']);
    const [entry] = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    const files = await Promise.all(entry.Layers.map((path: string) => readFile(join(output, path))));
    const { dockerTypes } = fixture.images;
    expect(files.map((file) => sha256(file))).toEqual(dockerTypes.layers.map((l) => l.diffId));
    expect(sha256(files[0])).toBe(dockerTypes.layers[0]!.digest); // a plain tar is its own diff ID
    expect(await loadWithSkopeo(output)).toEqual({
      imageId: dockerTypes.config.digest,
      diffIds: dockerTypes.layers.map((l) => l.diffId),
    });
  });

  test('an OCI layout keeps the zstd blob as served, and frozen verify decompresses it', async () => {
    const layout = join(await tempDir(), 'layout');
    const result = await runCli(['pull', '-q', '--format', 'oci', '-o', layout, `${fixture.registry.host}/zstd/app:1`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const zstdBlob = await readFile(join(layout, 'blobs/sha256', fixture.images.zstdImage.layers[1]!.digest.slice(7)));
    expect(zstdBlob.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    expect((await runCli(['verify', layout])).code).toBe(0);
  });

  test('a zstd layer that does not decompress to its diff ID is refused, and nothing is written', async () => {
    const wrong = image({
      layers: [fixture.images.zstdImage.layers[1]!],
      format: 'oci',
      rewriteConfig: (json) => json.replace(fixture.images.zstdImage.layers[1]!.diffId, sha256('other')),
    });
    await pushImage({ url: fixture.registry.url }, 'zstd/wrong', wrong, '1');
    const output = join(await tempDir(), 'never');
    const result = await runCli(['pull', '-o', output, `${fixture.registry.host}/zstd/wrong:1`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/decompresses to sha256:[0-9a-f]{64}, not the config's diff ID/);
    await expect(readFile(join(output, 'manifest.json'))).rejects.toThrow();
  });
});

import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { layerIds } from '../../src/layout/docker-format.js';
import { runCli } from '../support/cli.js';
import { useRegistry } from '../support/fixture.js';
import { image, layer, multiLayerImage, pushImage, sha256 } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-decompress-'));

const fixture = useRegistry(async (target) => {
  const multi = await multiLayerImage();
  await pushImage(target, 'team/app', multi, '1');
  const real = await layer([{ type: 'file', name: 'a', content: 'real' }]);
  const lying = image({ layers: [{ ...real, diffId: sha256('not the content') }] });
  await pushImage(target, 'lying/app', lying, '1');
  return { multi, lying };
});

describe('--decompress', () => {
  test('layer.tar files are plain tars that hash to their diff IDs, in the same layer dirs, and load', async () => {
    const output = await tempDir();
    const cache = await tempDir();
    const result = await runCli(['pull', '--decompress', '-o', output, `${fixture.registry.host}/team/app:1`], {
      env: { FROZEN_CACHE: cache },
    });
    expect(result.code).toBe(0);
    const ids = layerIds(fixture.images.multi.layers.map((l) => l.digest));
    for (const [i, id] of ids.entries()) {
      const bytes = await readFile(join(output, id, 'layer.tar'));
      expect(sha256(bytes)).toBe(fixture.images.multi.layers[i]!.diffId);
      expect(bytes.subarray(257, 262).toString()).toBe('ustar');
      expect(existsSync(join(cache, 'blobs', 'sha256', fixture.images.multi.layers[i]!.diffId.slice(7)))).toBe(true);
    }
    expect((await loadWithSkopeo(output)).imageId).toBe(fixture.images.multi.config.digest);
    expect((await runCli(['verify', output])).code).toBe(0);
  });

  test('a layer that does not decompress to the config’s diff ID is refused, and nothing is written', async () => {
    const output = join(await tempDir(), 'out');
    const result = await runCli(['pull', '--decompress', '-o', output, `${fixture.registry.host}/lying/app:1`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `lying/app:1: layer ${fixture.images.lying.layers[0]!.digest} decompresses to sha256:[0-9a-f]{64}, not the config's diff ID ${fixture.images.lying.layers[0]!.diffId}\\n$`,
      ),
    );
    expect(existsSync(output)).toBe(false);
  });
});

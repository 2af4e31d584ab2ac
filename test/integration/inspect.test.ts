import { describe, expect, test } from 'vitest';
import type { InspectResult } from '../../src/inspect.js';
import { runCli } from '../support/cli.js';
import { useFixtureRegistry } from '../support/fixture.js';

const fixture = useFixtureRegistry();

describe('frozen inspect', () => {
  test('--json for a multi-platform index: every platform, the chosen image, its layers and sizes', async () => {
    const result = await runCli([
      'inspect',
      '--json',
      '--platform',
      'linux/arm64',
      `${fixture.registry.host}/multi/app:1`,
    ]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const inspected = JSON.parse(result.stdout) as InspectResult;
    const arm = fixture.images.platforms.arm64;
    expect(inspected).toMatchObject({
      digest: fixture.images.index.digest,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      platform: 'linux/arm64',
      manifestDigest: arm.manifest.digest,
      imageId: arm.config.digest,
      size: arm.config.size + arm.layers.reduce((sum, l) => sum + l.size, 0),
      endpoint: fixture.registry.host,
    });
    expect(inspected.configPlatform).toBe('linux/arm64'); // its config says arm64/v8, which normalizes to arm64
    expect(inspected.platformMismatch).toBeUndefined();
    expect(inspected.platforms!.map((p) => p.platform)).toEqual([
      'linux/amd64',
      'linux/arm64',
      'linux/arm/v7',
      'unknown/unknown',
    ]);
    expect(inspected.layers).toEqual(
      arm.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    );
  });

  test('human output for a single image', async () => {
    const result = await runCli(['inspect', '--platform', 'linux/amd64', `${fixture.registry.host}/team/app:1.2`]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `  platform  linux/amd64\n  image ID  ${fixture.images.multi.config.digest}\n  created   2024-01-01T00:00:00Z\n`,
    );
    expect(result.stdout).toContain(
      `  digest    ${fixture.images.multi.manifest.digest} (application/vnd.docker.distribution.manifest.v2+json)`,
    );
    for (const layer of fixture.images.multi.layers) expect(result.stdout).toContain(layer.digest);
    expect(result.stdout).toMatch(/ {2}size {6}[\d.]+ KB \(3 layers\)\n {2}from {6}127\.0\.0\.1:\d+\n$/);
  });

  test('a single-platform image for another platform than the one asked for says so, as pull warns', async () => {
    const ref = `${fixture.registry.host}/one/app:1`; // linux/amd64, not an index
    const text = await runCli(['inspect', '--platform', 'linux/arm64', ref]);
    expect([text.code, text.stderr]).toEqual([0, '']);
    expect(text.stdout).toContain(
      '  platform  linux/amd64 (not linux/arm64, which was asked for: the image has no other platform)\n',
    );
    const json = await runCli(['inspect', '--json', '--platform', 'linux/arm64', ref]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      configPlatform: 'linux/amd64',
      platformMismatch: 'linux/arm64',
      created: '2024-01-01T00:00:00Z',
    });
    expect(JSON.parse(json.stdout)).not.toHaveProperty('platform');
  });

  test('a missing tag and a bad reference', async () => {
    const missing = await runCli(['inspect', `${fixture.registry.host}/team/app:nope`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `frozen: error: ${fixture.registry.host}/team/app:nope: manifest nope: not found (MANIFEST_UNKNOWN: manifest unknown)\n`,
    );
    expect((await runCli(['inspect', 'Bad/Ref'])).code).toBe(2);
  });
});

import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runCli } from '../support/cli.js';
import { multiLayerImage, pushImage } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

let registry: RunningRegistry;
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => registry?.stop());

test('smoke', async () => {
  const img = await multiLayerImage();
  await pushImage({ url: registry.url }, 'team/app', img, '1.2');
  const out = await mkdtemp(join(tmpdir(), 'frozen-out-'));
  const result = await runCli(['pull', '-o', out, `${registry.host}/team/app:1.2`]);
  console.log(result);
  console.log(await readdir(out, { recursive: true }));
  console.log(await readFile(join(out, 'manifest.json'), 'utf8'));
  console.log(await readFile(join(out, 'repositories'), 'utf8'));
  expect(result.code).toBe(0);
});

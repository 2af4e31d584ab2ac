import { execFile } from 'node:child_process';
import { link, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { layerIds } from '../../src/layout/docker-format.js';
import { runCli } from '../support/cli.js';
import { useRegistry } from '../support/fixture.js';
import { image, layer, multiLayerImage, oneLayerImage, pushImage } from '../support/images.js';

const exec = promisify(execFile);
const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-verify-'));

const fixture = useRegistry(async (target) => {
  const multi = await multiLayerImage('oci-gzip');
  const one = await oneLayerImage('verify');
  await pushImage(target, 'team/app', multi, '1');
  await pushImage(target, 'one/app', one, '1');
  const empty = await layer([]);
  const twice = image({ layers: [await layer([{ type: 'file', name: 'a', content: 'a\n' }]), empty, empty] });
  await pushImage(target, 'dup/app', twice, '1');
  return { multi, one, twice };
});

/** A pulled directory with its own copies of the blobs (so breaking them does not break a cache). */
async function pulled(): Promise<string> {
  const output = await tempDir();
  const result = await runCli([
    'pull',
    '--no-cache',
    '-q',
    '-o',
    output,
    `${fixture.registry.host}/team/app:1`,
    `${fixture.registry.host}/one/app:1`,
  ]);
  expect(result.code).toBe(0);
  return output;
}

describe('frozen verify', () => {
  test('a pulled directory, and the same as a tar and as a gzip tar, verify', async () => {
    const output = await pulled();
    const ok = await runCli(['verify', output]);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toBe(`${output}: ok, 2 images, 4 layers verified\n`);
    const tar = join(await tempDir(), 'images.tar');
    await exec('tar', ['-cf', tar, '-C', output, '.']);
    await exec('sh', ['-c', `gzip -k '${tar}'`]);
    const both = await runCli(['verify', tar, `${tar}.gz`]);
    expect(both.code).toBe(0);
    expect(both.stdout).toBe(`${tar}: ok, 2 images, 4 layers verified\n${tar}.gz: ok, 2 images, 4 layers verified\n`);
  });

  test('a truncated layer', async () => {
    const output = await pulled();
    const ids = layerIds(fixture.images.multi.layers.map((l) => l.digest));
    await truncate(join(output, ids[0]!, 'layer.tar'), 100);
    const result = await runCli(['verify', output]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      `${output}: ${fixture.registry.host}/team/app:1: layer 1 (${ids[0]}/layer.tar): corrupt gzip (unexpected end of file)\n`,
    );
  });

  test('two layers swapped', async () => {
    const output = await pulled();
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    const layers = manifest[0].Layers;
    [layers[0], layers[1]] = [layers[1], layers[0]];
    await writeFile(join(output, 'manifest.json'), JSON.stringify(manifest));
    const result = await runCli(['verify', output]);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /: layer 1 \([0-9a-f]{64}\/layer\.tar\): diff ID sha256:[0-9a-f]{64} does not match the config's sha256:[0-9a-f]{64}$/,
    );
    expect(lines[1]).toMatch(/: layer 2 \(/);
  });

  test('a missing config, a path outside the archive, a bad tag, no manifest.json', async () => {
    const output = await pulled();
    await rm(join(output, `${fixture.images.one.config.digest.slice(7)}.json`));
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    manifest[0].Layers[2] = '../../etc/passwd';
    manifest[0].RepoTags.push('no-tag-here');
    await writeFile(join(output, 'manifest.json'), JSON.stringify(manifest));
    const result = await runCli(['verify', output]);
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n').sort()).toEqual([
      `${output}: ${fixture.registry.host}/one/app:1: config ${fixture.images.one.config.digest.slice(7)}.json is missing`,
      `${output}: ${fixture.registry.host}/team/app:1: RepoTag "no-tag-here" is not name:tag`,
      `${output}: ${fixture.registry.host}/team/app:1: layer 3 (../../etc/passwd): missing (or outside the archive)`,
    ]);
    await rm(join(output, 'manifest.json'));
    const none = await runCli(['verify', output]);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe(`${output}: no manifest.json: not loadable by Docker 29 or the containerd image store\n`);
    expect((await runCli(['verify', join(output, 'nope')])).code).toBe(2);
    await writeFile(join(output, 'notes.txt'), 'not a tar\n'.repeat(100));
    const notTar = await runCli(['verify', join(output, 'notes.txt')]);
    expect(notTar.code).toBe(1);
    expect(notTar.stdout).toMatch(
      new RegExp(`^${join(output, 'notes.txt')}: not a readable directory or tar archive \\(.+\\)\n$`),
    );
    expect(notTar.stderr).toBe('');
  });

  test("hard links: followed in a tar, with a warning (skopeo and podman read them as empty); docker save's symlinks silently", async () => {
    const output = await tempDir();
    expect((await runCli(['pull', '-q', '-o', output, `${fixture.registry.host}/dup/app:1`])).code).toBe(0);
    const ref = `${fixture.registry.host}/dup/app:1`;
    expect((await runCli(['verify', output])).stdout).toBe(`${output}: ok, 1 image, 3 layers verified\n`);
    const [, first, second] = layerIds(fixture.images.twice.layers.map((l) => l.digest)).map((id) => `${id}/layer.tar`);
    await rm(join(output, second!));
    await link(join(output, first!), join(output, second!));
    const linked = await runCli(['verify', output]);
    expect(linked.code).toBe(0);
    const sameFile = (n: number, name: string, other: string) =>
      `${output}: ${ref}: warning: layer ${n} (${name}) is the same file as ${other}: tar -c writes one of them as a hard link, which docker load follows but skopeo, podman load and containerd's importer do not (use tar --hard-dereference)\n`;
    expect(linked.stdout).toBe(sameFile(2, first!, second!) + `${output}: ok, 1 image, 3 layers verified\n`); // one line for the pair
    const tar = join(await tempDir(), 'linked.tar');
    await exec('tar', ['-cf', tar, '-C', output, '.']);
    const fromTar = await runCli(['verify', tar]);
    expect(fromTar.code).toBe(0);
    expect(fromTar.stdout).toMatch(
      new RegExp(
        `^${tar}: ${ref}: warning: layer [23] \\([0-9a-f]{64}/layer\\.tar\\) is a hard link to [0-9a-f]{64}/layer\\.tar in the tar: docker load follows it, but skopeo, podman load and containerd's importer do not \\(make the tar with tar --hard-dereference\\)\n${tar}: ok, 1 image, 3 layers verified\n$`,
      ),
    );
    await rm(join(output, second!));
    await symlink(`../${first}`, join(output, second!));
    const saved = join(await tempDir(), 'saved.tar');
    await exec('tar', ['-cf', saved, '-C', output, '.']);
    expect(await runCli(['verify', saved])).toMatchObject({
      code: 0,
      stdout: `${saved}: ok, 1 image, 3 layers verified\n`,
    });
  });

  test('a cache inside the output directory: pull warns, even with -q; verify names every file tar -c would link to its cached twin, and the tar still verifies', async () => {
    const output = await tempDir();
    const pulled = await runCli([
      'pull',
      '-q',
      '-o',
      output,
      '--cache',
      join(output, 'cache'),
      `${fixture.registry.host}/one/app:1`,
    ]);
    expect(pulled.code).toBe(0);
    expect(pulled.stderr).toBe(
      `warning: the cache ${join(output, 'cache')} is inside the output directory ${output}: tar -c of the directory would carry it, and write the files they share as hard links, which skopeo, podman load and containerd's importer cannot read (choose a cache outside it: --cache DIR)\n`,
    );
    const outside = await runCli([
      'pull',
      '-q',
      '-o',
      await tempDir(),
      '--cache',
      join(output, 'cache'),
      `${fixture.registry.host}/one/app:1`,
    ]);
    expect([outside.code, outside.stderr]).toEqual([0, '']);
    const { one } = fixture.images;
    const [layerFile] = layerIds(one.layers.map((l) => l.digest)).map((id) => `${id}/layer.tar`);
    const cached = (digest: string) => join('cache', 'blobs', 'sha256', digest.slice(7));
    const ref = `${fixture.registry.host}/one/app:1`;
    const result = await runCli(['verify', output]);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').slice(0, 2)).toEqual([
      `${output}: ${ref}: warning: config ${one.config.digest.slice(7)}.json is the same file as ${cached(one.config.digest)}: tar -c writes one of them as a hard link, which docker load follows but skopeo, podman load and containerd's importer do not (use tar --hard-dereference)`,
      `${output}: ${ref}: warning: layer 1 (${layerFile}) is the same file as ${cached(one.layers[0]!.digest)}: tar -c writes one of them as a hard link, which docker load follows but skopeo, podman load and containerd's importer do not (use tar --hard-dereference)`,
    ]);
    // Archived cache first, the config and layer become links to it: followed, not "missing".
    const tar = join(await tempDir(), 'cache-first.tar');
    await exec('tar', [
      '-cf',
      tar,
      '-C',
      output,
      'cache',
      'manifest.json',
      'repositories',
      `${one.config.digest.slice(7)}.json`,
      layerFile!.split('/')[0]!,
    ]);
    const fromTar = await runCli(['verify', tar]);
    expect(fromTar.code).toBe(0);
    expect(fromTar.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `: warning: config ${one.config.digest.slice(7)}\\.json is a hard link to ${cached(one.config.digest)} in the tar`,
        ),
      ),
      expect.stringMatching(
        new RegExp(
          `: warning: layer 1 \\(${layerFile}\\) is a hard link to ${cached(one.layers[0]!.digest)} in the tar`,
        ),
      ),
      `${tar}: ok, 1 image, 1 layer verified`,
    ]);
  });
});

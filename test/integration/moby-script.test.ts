import { readdir, readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { layerIds } from '../../src/layout/docker-format.js';
import { runCli } from '../support/cli.js';
import {
  image,
  index,
  layer,
  oneLayerImage,
  pushBlob,
  pushImage,
  pushManifest,
  type BuiltImage,
} from '../support/images.js';
import {
  MOBY_SCRIPT,
  MOBY_V1_SCRIPT,
  mobyScriptFor,
  mobyV1ScriptFor,
  type LocalMobyScript,
} from '../support/moby-script.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startV1Registry, v1Image, type V1Registry } from '../support/v1-registry.js';

/**
 * frozen's directory against the one moby's script writes for the same images, file by file and byte by byte.
 * The script is moby's code and not shipped here: this runs where it is installed (or named by FROZEN_MOBY_SCRIPT).
 * Both pull Docker Hub names from the local registry: the script through its two Hub addresses pointed there,
 * frozen through a trusted mirror of Docker Hub, so the names they write are the same too.
 */
describe.runIf(MOBY_SCRIPT !== undefined)("the files and bytes of moby's download-frozen-image-v2.sh", () => {
  let registry: RunningRegistry;
  let script: LocalMobyScript;
  const images: Record<string, BuiltImage> = {};

  beforeAll(async () => {
    registry = await startRegistry();
    script = await mobyScriptFor(MOBY_SCRIPT!, registry.url);
    const target = { url: registry.url };
    const base = await layer([
      { type: 'dir', name: 'etc/' },
      { type: 'file', name: 'etc/os-release', content: 'ID=frozen\n' },
    ]);
    const app = await layer([{ type: 'file', name: 'app/run', content: '#!/bin/sh\nexec app\n', mode: 0o755 }]);
    images['busybox:1.36'] = await oneLayerImage('busybox');
    // A config with what makes JSON printers differ: non-ASCII, HTML characters, empty objects and arrays, numbers.
    images['team/app:1'] = image({
      layers: [base, app, base],
      extraConfig: {
        config: {
          Labels: { 'org.example.title': 'Grüße <app> & "co"', empty: '' },
          ExposedPorts: { '80/tcp': {} },
          Volumes: null,
          OnBuild: [],
          StopTimeout: 10,
        },
        container: 'f00d',
        docker_version: '24.0.7',
      },
    });
    images['team/app:2'] = image({ layers: [base, await layer([{ type: 'file', name: 'app/v2', content: 'two\n' }])] });
    for (const [name, img] of Object.entries(images)) {
      const [repository, tag] = name.split(':') as [string, string];
      await pushImage(target, repository.includes('/') ? repository : `library/${repository}`, img, tag);
    }
    const platforms = [image({ layers: [base] }), image({ layers: [base, app], architecture: 'arm64', variant: 'v8' })];
    for (const img of platforms) await pushImage(target, 'team/multi', img);
    const list = index(platforms, { docker: true });
    await pushBlob(target, 'team/multi', list);
    await pushManifest(target, 'team/multi', '1', list);
    images['team/multi:1'] = platforms[1]!;
  });
  afterAll(async () => {
    await script?.stop();
    await registry?.stop();
  });

  const tagOf = (ref: string) => ref.split('@')[0]!.split(':')[1]!;
  const imageOf = (ref: string) => images[ref.split('@')[0]!]!;

  /** Both tools pull `refs` into directories of their own; the two trees must hold the same files and bytes. */
  async function expectSameDirectories(
    refs: readonly string[],
    frozenArgs: readonly string[] = [],
    scriptEnv: Record<string, string> = {},
  ) {
    const scriptDir = join(await mkdtemp(join(tmpdir(), 'frozen-moby-out-')), 'out');
    const ran = await script.run(scriptDir, refs, scriptEnv);
    expect([ran.code, ran.stderr]).toEqual([0, expect.not.stringContaining('error')]);
    const frozenDir = join(await mkdtemp(join(tmpdir(), 'frozen-moby-out-')), 'out');
    const pulled = await runCli([
      'pull',
      '-q',
      '--no-daemon-config',
      '--trusted-mirror',
      registry.url,
      '-o',
      frozenDir,
      ...frozenArgs,
      ...refs,
    ]);
    expect([pulled.code, pulled.stderr]).toEqual([0, '']);

    const files = await filesUnder(scriptDir);
    expect(await filesUnder(frozenDir)).toEqual(files);
    for (const file of files.filter((f) => f !== 'repositories')) {
      expect({ file, bytes: (await readFile(join(frozenDir, file))).toString('latin1') }).toEqual({
        file,
        bytes: (await readFile(join(scriptDir, file))).toString('latin1'),
      });
    }
    // The script means to map each tag to its image's top layer ID, but its v2 path sets that ID in a local variable
    // and writes "" instead; frozen writes the ID, in the same bytes otherwise.
    const topIds = Object.fromEntries(
      refs.map((ref) => [tagOf(ref), layerIds(imageOf(ref).layers.map((l) => l.digest)).at(-1)!]),
    );
    const intended = (await readFile(join(scriptDir, 'repositories'), 'utf8')).replace(
      /"([^"]+)": ""/g,
      (_, tag: string) => `"${tag}": "${topIds[tag]}"`,
    );
    expect(await readFile(join(frozenDir, 'repositories'), 'utf8')).toBe(intended);
    return frozenDir;
  }

  test('three images in one run: two repositories, two tags of one, a layer used twice, a config full of JSON corners', async () => {
    const dir = await expectSameDirectories(['busybox:1.36', 'team/app:1', 'team/app:2']);
    expect(
      JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')).map((e: { RepoTags: string[] }) => e.RepoTags),
    ).toEqual([['busybox:1.36'], ['team/app:1'], ['team/app:2']]);
  });

  test("a tag and a digest, as in the script's own usage line: the digest picks the manifest, the tag names it", async () => {
    const pinned = `team/app:1@${images['team/app:1']!.manifest.digest}`;
    const dir = await expectSameDirectories([pinned]);
    expect(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))[0].RepoTags).toEqual(['team/app:1']);
  });

  test('a manifest list: the platform the script picks by TARGETARCH/TARGETVARIANT, frozen by --platform', async () => {
    await expectSameDirectories(['team/multi:1'], ['--platform', 'linux/arm64/v8'], {
      TARGETARCH: 'arm64',
      TARGETVARIANT: 'v8',
    });
  });
});

/**
 * The v1 script against a v1 registry (its own index): the directories it writes must be frozen's, byte for byte.
 * frozen adds what Docker 29 needs (a config per image and manifest.json), and names the registry in
 * `repositories`, which the script, knowing only Docker Hub, leaves out.
 */
describe.runIf(MOBY_V1_SCRIPT !== undefined)("the files and bytes of moby's v1 download-frozen-image.sh", () => {
  let registry: V1Registry;
  let script: LocalMobyScript;

  beforeAll(async () => {
    registry = await startV1Registry();
    script = await mobyV1ScriptFor(MOBY_V1_SCRIPT!, `http://${registry.host}`);
    const base = await v1Image([
      { type: 'dir', name: 'etc' },
      { type: 'file', name: 'etc/os-release', content: 'ID=old\n' },
    ]);
    const middle = await v1Image([{ type: 'file', name: 'middle', content: 'middle\n' }], {
      parent: base,
      cmd: 'echo middle > /middle',
    });
    const top = await v1Image([{ type: 'file', name: 'top', content: 'top\n' }], { parent: middle });
    const other = await v1Image([{ type: 'file', name: 'other', content: 'not compressed\n' }], {
      parent: base,
      gzip: false,
    });
    for (const image of [base, middle, top, other]) registry.add(image);
    registry.tag('team/app', '1', top.id);
    registry.tag('team/app', 'latest', top.id);
    registry.tag('team/other', '2', other.id);
  });
  afterAll(async () => {
    await script?.stop();
    await registry?.stop();
  });

  // The minimal registry serves exactly what the script fetches: no X-Docker-Size, and HEAD answered 501.
  test.each([
    ['a v1 registry', false],
    ['a minimal v1 registry (no X-Docker-Size, HEAD answered 501)', true],
  ])('three tags of two repositories sharing a base, one layer not compressed: %s', async (_, minimal) => {
    registry.behaviour.omitSize = minimal;
    registry.behaviour.layerHeadStatus = minimal ? 501 : undefined;
    const refs = ['team/app:1', 'team/app', 'team/other:2'];
    const scriptDir = join(await mkdtemp(join(tmpdir(), 'frozen-moby-out-')), 'out');
    const ran = await script.run(scriptDir, refs);
    expect([ran.code, ran.stderr]).toEqual([0, expect.not.stringContaining('error')]);
    const frozenDir = join(await mkdtemp(join(tmpdir(), 'frozen-moby-out-')), 'out');
    const pulled = await runCli([
      'pull',
      '-q',
      '--protocol',
      'v1',
      '-o',
      frozenDir,
      ...refs.map((ref) => `${registry.host}/${ref}`),
    ]);
    expect([pulled.code, pulled.stderr]).toEqual([0, '']);

    const files = await filesUnder(scriptDir);
    expect(files).toHaveLength(4 * 3 + 1);
    const configs = JSON.parse(await readFile(join(frozenDir, 'manifest.json'), 'utf8')).map(
      (entry: { Config: string }) => entry.Config,
    );
    expect(await filesUnder(frozenDir)).toEqual([...files, ...new Set(configs), 'manifest.json'].sort());
    for (const file of files.filter((f) => f !== 'repositories')) {
      expect({ file, bytes: (await readFile(join(frozenDir, file))).toString('latin1') }).toEqual({
        file,
        bytes: (await readFile(join(scriptDir, file))).toString('latin1'),
      });
    }
    const named = (await readFile(join(scriptDir, 'repositories'), 'utf8')).replace(
      /"([^"]+)": \{/g,
      (_, name: string) => `"${registry.host}/${name}": {`,
    );
    expect(await readFile(join(frozenDir, 'repositories'), 'utf8')).toBe(named);
    registry.behaviour.omitSize = false;
    registry.behaviour.layerHeadStatus = undefined;
  });
});

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

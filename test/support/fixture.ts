import { readdir, readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll } from 'vitest';
import { join, relative } from 'node:path';
import { startRegistry, type RunningRegistry } from './registry.js';
import {
  image,
  index,
  layer,
  multiLayerImage,
  oneLayerImage,
  pushImage,
  pushManifest,
  type BuiltImage,
  type Blob,
  type PushTarget,
} from './images.js';

/** The images every integration suite pulls, pushed to a real registry. */
export interface PushedImages {
  readonly one: BuiltImage; // one/app:1
  readonly multi: BuiltImage; // team/app:1.2 (symlink, hardlink, whiteout)
  readonly oci: BuiltImage; // oci/app:1 (OCI manifest, gzip layers)
  readonly ociTar: BuiltImage; // ocitar/app:1 (OCI manifest, plain tar layers)
  readonly platforms: { readonly amd64: BuiltImage; readonly arm64: BuiltImage; readonly armv7: BuiltImage };
  readonly index: Blob; // multi/app:1 (OCI index + attestation)
  readonly bareIndex: Blob; // bare/app:1 (OCI index without mediaType)
}

async function platformImage(architecture: string, variant?: string): Promise<BuiltImage> {
  const l = await layer([{ type: 'file', name: 'etc/arch', content: `${architecture}${variant ?? ''}\n` }], 'oci-gzip');
  return image({ layers: [l], format: 'oci', architecture, ...(variant && { variant }) });
}

export async function pushFixtures(target: PushTarget): Promise<PushedImages> {
  const one = await oneLayerImage();
  const multi = await multiLayerImage();
  const oci = await multiLayerImage('oci-gzip');
  const ociTar = await multiLayerImage('oci-tar');
  await pushImage(target, 'one/app', one, '1');
  await pushImage(target, 'team/app', multi, '1.2');
  await pushImage(target, 'oci/app', oci, '1');
  await pushImage(target, 'ocitar/app', ociTar, '1');

  const platforms = {
    amd64: await platformImage('amd64'),
    arm64: await platformImage('arm64', 'v8'),
    armv7: await platformImage('arm', 'v7'),
  };
  const attestation = await platformImage('amd64', 'attestation');
  for (const repo of ['multi/app', 'bare/app']) {
    for (const img of [...Object.values(platforms), attestation]) await pushImage(target, repo, img);
  }
  const built = [platforms.amd64, platforms.arm64, platforms.armv7];
  const idx = index(built, { attestation: attestation.manifest });
  const bareIndex = index(built, { mediaType: false });
  await pushManifest(target, 'multi/app', '1', idx);
  await pushManifest(target, 'bare/app', '1', bareIndex);
  return { one, multi, oci, ociTar, platforms, index: idx, bareIndex };
}

/** Another image for tag-moving tests. */
export async function pushReplacement(target: PushTarget, repository: string, tag: string): Promise<BuiltImage> {
  const replacement = await oneLayerImage(`replacement-${tag}`);
  await pushImage(target, repository, replacement, tag);
  return replacement;
}

/** Every file below `dir` with its bytes, for "unchanged" and "identical" assertions. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true })) {
    const path = join(dir, entry);
    if ((await stat(path)).isFile()) files[relative(dir, path)] = (await readFile(path)).toString('base64');
  }
  return files;
}

export interface UsedRegistry<T> {
  registry: RunningRegistry;
  images: T;
}

export type FixtureRegistry = UsedRegistry<PushedImages>;

/**
 * A real registry, started before a test file's tests and stopped after them, holding what `push` puts there (its
 * result becomes `images`).
 */
export function useRegistry<T>(push: (target: PushTarget) => Promise<T>): UsedRegistry<T> {
  const state = {} as UsedRegistry<T>;
  beforeAll(async () => {
    state.registry = await startRegistry();
    state.images = await push({ url: state.registry.url });
  });
  afterAll(async () => state.registry?.stop());
  return state;
}

/** A real registry holding the fixture images. */
export function useFixtureRegistry(): FixtureRegistry {
  return useRegistry(pushFixtures);
}

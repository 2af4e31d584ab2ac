import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sha256 } from './images.js';

const exec = promisify(execFile);

/** `tar -cC dir .` into a file: what `tar -cC dir . | docker load` reads. */
export async function tarDirectory(dir: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'frozen-tar-')), 'image.tar');
  await exec('tar', ['-cf', file, '-C', dir, '.']);
  return file;
}

export interface LoadedImage {
  /** Digest of the config as skopeo copied it: the image ID. */
  readonly imageId: string;
  readonly diffIds: readonly string[];
}

/**
 * Proves the directory is a loadable docker-archive: skopeo reads the `index`-th manifest.json entry as
 * `docker-archive:` and copies it to a `dir:` layout. The copy decompresses every layer and checks it against the
 * config's diff IDs; `dir:` keeps the config bytes, so its hash is the image ID a daemon would give it.
 */
export async function loadWithSkopeo(dir: string, index = 0): Promise<LoadedImage> {
  const archive = await tarDirectory(dir);
  const target = await mkdtemp(join(tmpdir(), 'frozen-copied-'));
  try {
    await exec('skopeo', ['copy', '--quiet', `docker-archive:${archive}:@${index}`, `dir:${target}`]);
    const manifest = JSON.parse(await readFile(join(target, 'manifest.json'), 'utf8')) as {
      config: { digest: string };
    };
    const configBytes = await readFile(join(target, manifest.config.digest.split(':')[1]!));
    const config = JSON.parse(configBytes.toString()) as { rootfs: { diff_ids: string[] } };
    return { imageId: sha256(configBytes), diffIds: config.rootfs.diff_ids };
  } finally {
    await rm(target, { recursive: true, force: true });
    await rm(join(archive, '..'), { recursive: true, force: true });
  }
}

/**
 * The docker-archive writer: the images are written as a download-frozen-image directory in a scratch folder,
 * then packed into one tar (tar.ts), to a file (written under a temporary name and renamed, so it is whole or
 * absent) or to a stream. Loaded only for tar output: tar-stream costs directory pulls start-up time for nothing.
 */
import { rm } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import type { Writable } from 'node:stream';
import type { Digest } from '../digest.js';
import { openScratch } from '../util/scratch.js';
import { DockerDirectory, type DirectoryOptions } from './docker-dir.js';
import { assertTarTarget, packTo } from './tar.js';
import { nothingExisting, type ExistingFiles, type OutputWriter, type StagedImage } from './writer.js';

/** Writes the images as one docker-archive tar, to a file or a stream. */
export class TarWriter implements OutputWriter {
  readonly format = 'tar';
  readonly keepsZstd = false;

  private constructor(
    private readonly target: string | Writable,
    private readonly scratch: string,
    private readonly directory: DockerDirectory,
  ) {}

  /** Checks that a tar file can be written at `target` (before any download), and makes the scratch directory. */
  static async open(
    target: string | Writable,
    scratchRoot: () => Promise<string>,
    options: DirectoryOptions,
  ): Promise<TarWriter> {
    if (typeof target === 'string') await assertTarTarget(resolvePath(target));
    const scratch = await openScratch(await scratchRoot());
    try {
      return new TarWriter(target, scratch, await DockerDirectory.open(join(scratch, 'images'), options));
    } catch (error) {
      await rm(scratch, { recursive: true, force: true });
      throw error;
    }
  }

  get output(): string {
    return typeof this.target === 'string' ? resolvePath(this.target) : '-';
  }

  get staging(): string {
    return this.directory.staging;
  }

  existing(_config: Digest, layers: readonly Digest[]): ExistingFiles {
    return nothingExisting(layers);
  }

  async write(images: readonly StagedImage[], signal?: AbortSignal): Promise<void> {
    try {
      await this.directory.commit(images, signal);
      await this.pack();
    } finally {
      await rm(this.scratch, { recursive: true, force: true });
    }
  }

  async discard(): Promise<void> {
    await rm(this.scratch, { recursive: true, force: true });
  }

  private async pack(): Promise<void> {
    await packTo(this.directory.root, typeof this.target === 'string' ? resolvePath(this.target) : this.target);
  }
}

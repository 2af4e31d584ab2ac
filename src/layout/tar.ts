/** A directory packed as a deterministic tar (sorted, fixed times and modes), streamed. */
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack, type Pack } from 'tar-stream';
import { FrozenError } from '../errors.js';
import { assertWritableFolder } from '../util/files.js';

/** Every entry gets this time, so the same images always make the same tar. */
const MTIME = new Date(0);

/**
 * Writes a directory as the tar `tar -cC DIR .` would (what `docker load` reads), in sorted order with fixed
 * times and modes. Big files are streamed, never held in memory.
 */
export async function packDirectory(dir: string, output: Writable): Promise<void> {
  const tar = pack();
  const done = pipeline(tar, output);
  const adding = addEntries(tar, dir).catch((error: unknown) => {
    tar.destroy(error as Error);
    throw error;
  });
  // An output that fails (a file that cannot be opened, a closed pipe) ends the pipeline before the entries are
  // in: its error is the one to report, and must not be left unhandled while an entry waits.
  await Promise.all([done, adding]);
}

async function addEntries(tar: Pack, dir: string): Promise<void> {
  for (const name of await walk(dir)) {
    const path = join(dir, name);
    const info = await stat(path);
    if (info.isDirectory()) {
      tar.entry({ name: `${name}/`, type: 'directory', mode: 0o755, mtime: MTIME });
      continue;
    }
    await new Promise<void>((resolve, reject) => {
      const entry = tar.entry({ name, type: 'file', size: info.size, mode: 0o644, mtime: MTIME }, (error) =>
        error ? reject(error) : resolve(),
      );
      // A failing output destroys the entry too: its error is the output's, reported by the pipeline.
      entry.on('error', reject);
      createReadStream(path).on('error', reject).pipe(entry);
    });
  }
  tar.finalize();
}

/**
 * Packs `dir` to a tar file (written under a temporary name and renamed, so it is whole or absent) or to a stream.
 *
 * @throws {FrozenError} `output`, naming the file or the stream.
 */
export async function packTo(dir: string, target: string | Writable): Promise<void> {
  if (typeof target !== 'string') {
    await packDirectory(dir, target).catch((error: Error) => {
      throw new FrozenError('output', `cannot write the tar stream: ${error.message}`, { cause: error });
    });
    return;
  }
  const temp = `${target}.frozen-${process.pid}`;
  try {
    await packDirectory(dir, createWriteStream(temp));
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw new FrozenError('output', `cannot write ${target}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Fails before any download when a tar cannot be written at `path`: it is a directory, or its folder is missing or
 * not writable.
 * (A failure at the end still leaves nothing behind; this spares the wait.)
 */
export async function assertTarTarget(path: string): Promise<void> {
  const [target, folder] = await Promise.all([
    stat(path).catch(() => undefined),
    stat(dirname(path)).catch(() => undefined),
  ]);
  if (target?.isDirectory())
    throw new FrozenError('output', `cannot write ${path}: it is a directory (format: 'tar' writes a file)`);
  if (!folder?.isDirectory())
    throw new FrozenError('output', `cannot write ${path}: ${dirname(path)} is not a directory`);
  await assertWritableFolder(dirname(path), path);
}

/** Relative paths of everything below `dir`, directories before what they contain, sorted. */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  for (const entry of (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    names.push(name);
    if (entry.isDirectory()) names.push(...(await walk(dir, name)));
  }
  return names;
}

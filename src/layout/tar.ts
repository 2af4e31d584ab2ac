import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';

/** Every entry gets this time, so the same images always make the same tar. */
const MTIME = new Date(0);

/**
 * Writes a directory as the tar `tar -cC DIR .` would (what `docker load` reads), in sorted order with fixed
 * times and modes. Big files are streamed, never held in memory.
 */
export async function packDirectory(dir: string, output: Writable): Promise<void> {
  const tar = pack();
  const done = pipeline(tar, output);
  for (const name of await walk(dir)) {
    const path = join(dir, name);
    const info = await stat(path);
    if (info.isDirectory()) {
      tar.entry({ name: `${name}/`, type: 'directory', mode: 0o755, mtime: MTIME });
      continue;
    }
    await new Promise<void>((resolve, reject) => {
      const entry = tar.entry({ name, type: 'file', size: info.size, mode: 0o644, mtime: MTIME }, (error) => (error ? reject(error) : resolve()));
      createReadStream(path).on('error', reject).pipe(entry);
    });
  }
  tar.finalize();
  await done;
}

/** Relative paths of everything below `dir`, directories before what they contain, sorted. */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  for (const entry of (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    names.push(name);
    if (entry.isDirectory()) names.push(...(await walk(dir, name)));
  }
  return names;
}

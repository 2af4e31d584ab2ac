import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { makeDirectory } from '../../src/util/make-directory.js';

describe('makeDirectory', () => {
  test('makes missing parents, and many calls racing for the same parents all succeed', async () => {
    const root = await mkdtemp(join(tmpdir(), 'frozen-mkdir-'));
    const leaves = Array.from({ length: 40 }, (_, i) => join(root, 'a', 'b', 'c', `leaf${i % 4}`));
    // Started one after another, so that some find a parent missing that another call has made by the time they look.
    const calls: Promise<void>[] = [];
    for (const leaf of leaves) {
      calls.push(makeDirectory(leaf));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(calls);
    for (const leaf of leaves) expect((await stat(leaf)).isDirectory()).toBe(true);
    await makeDirectory(leaves[0]!); // already there
  });

  test('a file in the way is an error', async () => {
    const root = await mkdtemp(join(tmpdir(), 'frozen-mkdir-'));
    await writeFile(join(root, 'file'), 'x');
    await expect(makeDirectory(join(root, 'file'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(makeDirectory(join(root, 'file', 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  // Node's recursive mkdir loops forever here: procfs answers ENOENT for a folder under an existing /proc.
  test('a file system that refuses the folder under an existing parent is an error, not a hang', async () => {
    await expect(makeDirectory('/proc/frozen-test/below')).rejects.toMatchObject({
      code: 'ENOENT',
      path: '/proc/frozen-test',
    });
  });
});

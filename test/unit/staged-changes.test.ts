import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { StagedChanges } from '../../src/layout/staged-changes.js';
import { snapshot } from '../support/fixture.js';

/** A directory holding `old/json` and `repositories`, a blob outside it, and a staging folder inside it. */
async function setUp() {
  const root = await mkdtemp(join(tmpdir(), 'frozen-staged-'));
  await mkdir(join(root, 'old'));
  await writeFile(join(root, 'old', 'json'), 'old json');
  await writeFile(join(root, 'repositories'), 'old repositories');
  const blob = join(await mkdtemp(join(tmpdir(), 'frozen-blob-')), 'blob');
  await writeFile(blob, 'layer bytes');
  const staging = join(root, '.staging');
  await mkdir(staging);
  return { root, blob, changes: new StagedChanges(root, staging) };
}

const withoutStaging = async (root: string) =>
  Object.fromEntries(Object.entries(await snapshot(root)).filter(([path]) => !path.startsWith('.staging')));

describe('StagedChanges', () => {
  test('nothing changes until apply; then new folders, new files and replacements are all in place', async () => {
    const { root, blob, changes } = await setUp();
    const before = await withoutStaging(root);
    await changes.folder('new');
    await changes.folder('new');
    await changes.folder('old'); // there already
    await changes.write('new/VERSION', '1.0');
    await changes.place('new/layer.tar', blob, false);
    await changes.write('old/json', 'new json');
    await changes.write('repositories', 'first');
    await changes.write('repositories', 'second'); // a later write to the same file wins
    expect(await changes.hasContent('new/VERSION')).toBe(true);
    expect(await changes.hasContent('new/json')).toBe(false);
    expect(await withoutStaging(root)).toEqual(before);

    await changes.apply();
    expect(await readFile(join(root, 'new', 'VERSION'), 'utf8')).toBe('1.0');
    expect((await stat(join(root, 'new', 'layer.tar'))).ino).toBe((await stat(blob)).ino); // a hard link
    expect(await readFile(join(root, 'old', 'json'), 'utf8')).toBe('new json');
    expect(await readFile(join(root, 'repositories'), 'utf8')).toBe('second');
  });

  test('a file that already holds the bytes, or is the blob, is left alone', async () => {
    const { root, blob, changes } = await setUp();
    await changes.write('old/json', 'old json');
    await changes.place('old/layer.tar', blob, false);
    await changes.apply();
    const linked = (await stat(join(root, 'old', 'layer.tar'))).ino;
    const again = new StagedChanges(root, join(root, '.staging'));
    await again.write('old/json', 'old json');
    await again.place('old/layer.tar', blob, false);
    await again.apply();
    expect(await readdir(join(root, '.staging'))).toEqual([]); // nothing was staged
    expect((await stat(join(root, 'old', 'layer.tar'))).ino).toBe(linked);
  });

  test('a rename that fails undoes those before it: new files and folders go, replaced files come back', async () => {
    const { root, blob, changes } = await setUp();
    await mkdir(join(root, 'in-the-way.json', 'below'), { recursive: true }); // a file cannot be renamed over it
    const before = await withoutStaging(root);
    await changes.folder('new');
    await changes.place('new/layer.tar', blob, false);
    await changes.write('old/json', 'new json');
    await changes.write('added', 'added');
    await changes.place('in-the-way.json', blob, false);
    await changes.write('repositories', 'new repositories');
    await expect(changes.apply()).rejects.toMatchObject({ code: 'EISDIR' });
    expect(await withoutStaging(root)).toEqual(before);
    expect((await readdir(root)).sort()).toEqual(['.staging', 'in-the-way.json', 'old', 'repositories']);
  });
});

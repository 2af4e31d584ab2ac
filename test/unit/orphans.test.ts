import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { removeOrphans } from '../../src/util/process.js';

test('removeOrphans removes the folders of gone processes with its prefix, and nothing else', async () => {
  const gone = spawnSync(process.execPath, ['-e', '']).pid; // has exited by now
  const root = await mkdtemp(join(tmpdir(), 'frozen-orphans-'));
  const names = [
    `scratch-${gone}-a`,
    `scratch-${process.pid}-b`,
    `.frozen-staging-${gone}-c`,
    `scratch-x-d`,
    'scratch-',
  ];
  for (const name of names) await mkdir(join(root, name));
  await removeOrphans(root, 'scratch-');
  expect((await readdir(root)).sort()).toEqual(
    [`scratch-${process.pid}-b`, `.frozen-staging-${gone}-c`, 'scratch-x-d', 'scratch-'].sort(),
  );
  await removeOrphans(root, '.frozen-staging-');
  expect((await readdir(root)).sort()).toEqual([`scratch-${process.pid}-b`, 'scratch-x-d', 'scratch-'].sort());
});

import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

/**
 * scripts/test-components.mjs, which `npm test` runs first: on a machine without the Debian components and not as
 * root, it stops at once with one line naming what is missing and the command that installs it. (As root it
 * installs them; that is what CI and a fresh machine do, and what the README's two commands rely on.)
 */
const SCRIPT = fileURLToPath(new URL('../../scripts/test-components.mjs', import.meta.url));

test('not root, components missing: exit 1 and one line with the apt-get command', async () => {
  const emptyPath = await mkdtemp(join(tmpdir(), 'frozen-no-tools-'));
  const asNobody =
    process.getuid?.() === 0 ? ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  const [command, ...args] = [...asNobody, process.execPath, SCRIPT];
  const run = spawnSync(command, args, {
    env: { PATH: emptyPath, HOME: emptyPath },
    encoding: 'utf8',
    timeout: 10_000,
  });
  expect(run.status).toBe(1);
  expect(run.stdout).toBe('');
  const lines = run.stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    /^npm test needs (?=.*docker-registry)(?=.*skopeo)(?=.*tinyproxy).*: install them as root with: apt-get update && apt-get install -y .*docker-registry/,
  );
});

test('FROZEN_SKIP_COMPONENTS=1 skips the check', async () => {
  const emptyPath = await mkdtemp(join(tmpdir(), 'frozen-no-tools-'));
  const run = spawnSync(process.execPath, [SCRIPT], {
    env: { PATH: emptyPath, FROZEN_SKIP_COMPONENTS: '1' },
    encoding: 'utf8',
  });
  expect([run.status, run.stderr]).toEqual([0, '']);
});

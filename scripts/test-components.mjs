#!/usr/bin/env node
// The Debian components the test suites run against, in one place: `npm test` runs this first. Each is a command
// and the package that brings it. What is missing is installed when this runs as root with apt-get (a fresh
// Debian machine, CI); otherwise it stops at once with one line naming what is missing and the command to install
// it. FROZEN_SKIP_COMPONENTS=1 skips the check (a machine that runs only the unit tests: `npx vitest run test/unit`).
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** [command, Debian package]: what each suite needs (README.md, "Set up and test"). */
export const COMPONENTS = [
  ['docker-registry', 'docker-registry'], // CNCF Distribution: the registry every integration suite pulls from
  ['skopeo', 'skopeo'], // loads every pulled directory as a docker-archive
  ['dockerd', 'docker.io'], // a private dockerd for `docker load`
  ['ctr', 'containerd'], // a private containerd for `ctr images import`
  ['tinyproxy', 'tinyproxy'], // an HTTP proxy
  ['openssl', 'openssl'], // test certificates
  ['zstd', 'zstd'], // zstd layers
  ['script', 'bsdutils'], // a terminal on stdout
  ['mkfs.xfs', 'xfsprogs'], // an XFS file system with reflinks
];

const SEARCH = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];

function found(command) {
  return SEARCH.some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function missingPackages() {
  return [...new Set(COMPONENTS.filter(([command]) => !found(command)).map(([, pkg]) => pkg))];
}

if (process.env.FROZEN_SKIP_COMPONENTS === '1') process.exit(0);
const missing = missingPackages();
if (missing.length === 0) process.exit(0);
const install = `apt-get update && apt-get install -y ${missing.join(' ')}`;
const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (!root || !found('apt-get')) {
  process.stderr.write(`npm test needs ${missing.join(', ')}: install them as root with: ${install}\n`);
  process.exit(1);
}
process.stderr.write(`npm test: installing the components the suites need: ${missing.join(' ')}\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [['update'], ['install', '-y', ...missing]]) {
  const run = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (run.status !== 0) {
    process.stderr.write(`npm test: apt-get ${args[0]} failed (exit ${run.status}); run it yourself: ${install}\n`);
    process.exit(1);
  }
}
const still = missingPackages();
if (still.length > 0) {
  process.stderr.write(`npm test: ${still.join(', ')} still missing after apt-get install\n`);
  process.exit(1);
}

import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dockerdWanted, startDockerd, type PrivateDockerd } from '../support/dockerd.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

const exec = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** Docker 20.10's own client (docker.io): its `build` speaks BuildKit with DOCKER_BUILDKIT=1, no buildx needed. */
const DOCKER_CLIENT = '/usr/bin/docker';

/**
 * README.md's Dockerfile recipe, built as a user builds it: BuildKit on dockerd 20.10 (a private one), the
 * checkout as the context, `npm ci` in the build. Nothing comes from Docker Hub: the Node image the recipe starts
 * from is made here from this machine's Node binary and its libraries (`docker import`), and the image the recipe
 * freezes is that same image, pushed to a local registry. What the build froze is loaded and run.
 */
describe.runIf(dockerdWanted)("README's Dockerfile recipe, built with BuildKit", () => {
  let dockerd: PrivateDockerd;
  let registry: RunningRegistry;

  beforeAll(async () => {
    [dockerd, registry] = await Promise.all([startDockerd(), startRegistry()]);
  }, 90_000);
  afterAll(async () => {
    await dockerd?.stop();
    await registry?.stop();
  });

  const docker = (args: readonly string[], env: NodeJS.ProcessEnv = {}) =>
    exec(DOCKER_CLIENT, ['-H', dockerd.host, ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });

  test('freezes an image from the test registry in a RUN step; docker load takes it, and it runs', async () => {
    const frozenRef = `${registry.host}/node/offline:1`;
    // This machine's extra CA (a TLS-intercepting proxy's, say) goes into the image too, or npm ci cannot reach npm.
    const extraCa = process.env.NODE_EXTRA_CA_CERTS;
    const changes = [
      'ENV PATH=/usr/local/bin:/usr/bin:/bin',
      ...(extraCa ? [`ENV NODE_EXTRA_CA_CERTS=${extraCa}`] : []),
    ];
    const rootfs = await nodeRootfs(extraCa ? [extraCa] : []);
    await docker(['import', ...changes.flatMap((change) => ['--change', change]), rootfs, 'frozen-test/node:offline']);
    await docker(['tag', 'frozen-test/node:offline', frozenRef]);
    await docker(['push', frozenRef]);

    const dockerfile = recipe(await readFile(join(REPO, 'README.md'), 'utf8'), frozenRef);
    const context = await mkdtemp(join(tmpdir(), 'frozen-dockerfile-'));
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    const out = join(context, 'out');
    await docker(
      ['build', '--network=host', '--file', join(context, 'Dockerfile'), '--output', `type=local,dest=${out}`, REPO],
      { DOCKER_BUILDKIT: '1' },
    );
    expect((await readdir(join(out, 'frozen-images'))).sort()).toContain('manifest.json');

    await docker(['rmi', '-f', frozenRef, 'frozen-test/node:offline']);
    const loaded = await exec('sh', [
      '-c',
      `tar -cC '${join(out, 'frozen-images')}' . | ${DOCKER_CLIENT} -H '${dockerd.host}' load`,
    ]);
    expect(loaded.stdout).toContain(`Loaded image: ${frozenRef}`);
    const ran = await docker([
      'run',
      '--rm',
      '--network=none',
      frozenRef,
      'node',
      '-e',
      'console.log("ran " + process.version)',
    ]);
    expect(ran.stdout.trim()).toBe(`ran ${process.version}`);
  }, 600_000);
});

/**
 * The recipe's Dockerfile as README.md gives it, with what a test cannot have replaced, each replacement checked to
 * apply: the Node image by the one made here, the example references by the test registry's image, and the final
 * `docker:dind` stage by `scratch` (the frozen directory is what the test needs out of it).
 */
function recipe(readme: string, frozenRef: string): string {
  const block = /```Dockerfile\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no Dockerfile block');
  const replacements: [RegExp, string][] = [
    [/node:20-bookworm-slim/, 'frozen-test/node:offline'],
    [/busybox:latest@sha256:<digest> \\\n\s+registry\.example\.com\/team\/app:1\.2/, frozenRef],
    [/FROM docker:dind/, 'FROM scratch'],
  ];
  let text = block;
  for (const [pattern, replacement] of replacements) {
    if (!pattern.test(text)) throw new Error(`README.md's recipe has no ${pattern.source}`);
    text = text.replace(pattern, replacement);
  }
  return text;
}

/**
 * A root file system with this machine's Node (and npm), a shell and `env`, the libraries they link and `extraFiles`:
 * enough for the recipe's `npm ci`, for frozen, and for `node -e`. Returned as a tar file.
 */
async function nodeRootfs(extraFiles: readonly string[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'frozen-node-rootfs-'));
  const binaries = [process.execPath, '/bin/sh', '/usr/bin/env'];
  const libraries = new Set<string>();
  for (const binary of binaries) {
    const { stdout } = await exec('ldd', [binary]);
    for (const lib of stdout.matchAll(/(\/\S+) \(0x/g)) libraries.add(lib[1]!);
  }
  // The rest of glibc, as a Debian image has it: native addons (rolldown's, in the recipe's build) link librt too.
  const libc = [...libraries].find((lib) => /\/libc\.so\.6$/.test(lib));
  if (libc) {
    const dir = dirname(libc);
    for (const name of await readdir(dir)) {
      if (/^lib(c|m|rt|dl|pthread|util|resolv|anl|nss_files|nss_dns)\.so\.\d+$/.test(name))
        libraries.add(join(dir, name));
    }
  }
  for (const file of [...binaries, ...libraries, '/etc/ssl/certs/ca-certificates.crt', ...extraFiles]) {
    await mkdir(join(root, dirname(file)), { recursive: true });
    await copyFile(file, join(root, file));
  }
  const npm = '/usr/lib/node_modules/npm';
  await mkdir(join(root, dirname(npm)), { recursive: true });
  await exec('cp', ['-a', npm, join(root, npm)]);
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/bin/npm')).catch(() => undefined);
  if (process.execPath !== '/usr/bin/node') await symlink(process.execPath, join(root, 'usr/bin/node'));
  for (const dir of ['tmp', 'root', 'etc']) await mkdir(join(root, dir), { recursive: true, mode: 0o1777 });
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  const tar = `${root}.tar`;
  await exec('tar', ['-C', root, '-cf', tar, '.']);
  return tar;
}

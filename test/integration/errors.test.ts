import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startBearerFront, type BearerFront } from '../support/bearer-front.js';
import { FROZEN_BIN, runCli } from '../support/cli.js';
import { snapshot } from '../support/fixture.js';
import { oneLayerImage, pushImage, type BuiltImage } from '../support/images.js';
import { mountTmpfs, mountsWanted } from '../support/mounts.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Bad input through the CLI: each case exits with the documented code, prints exactly one line naming the image and
 * the cause, and leaves a directory that already held a good pull byte-for-byte unchanged.
 */
let registry: RunningRegistry;
let corrupting: BearerFront;
let stalling: BearerFront;
let img: BuiltImage;
let output: string;
let before: Record<string, string>;

beforeAll(async () => {
  registry = await startRegistry();
  img = await oneLayerImage();
  await pushImage({ url: registry.url }, 'one/app', img, '1');
  // Not in the output directory, so a pull of it must download (one/app:1's blobs come from the directory).
  await pushImage({ url: registry.url }, 'one/app', await oneLayerImage('two'), '2');
  corrupting = await startBearerFront(registry.url, { corruptBlobs: true });
  stalling = await startBearerFront(registry.url, { stallBlobs: true });
  output = await mkdtemp(join(tmpdir(), 'frozen-errors-'));
  const first = await runCli(['pull', '-o', output, `${registry.host}/one/app:1`]);
  expect(first.code).toBe(0);
  before = await snapshot(output);
});
afterAll(async () => {
  await corrupting?.stop();
  await stalling?.stop();
  await registry?.stop();
});

/** The error lines of stderr (progress lines, in non-TTY mode, are the others). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('frozen: '));
}

async function expectFailure(args: string[], code: number, line: RegExp) {
  const result = await runCli(['pull', '-o', output, ...args]);
  expect(result.code).toBe(code);
  const errors = errorLines(result.stderr);
  expect(errors).toHaveLength(1);
  expect(`${errors[0]}\n`).toMatch(line);
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug
  expect(await snapshot(output)).toEqual(before);
}

describe('usage errors exit 2', () => {
  test.each([
    ['user/App:1', /repository name must be lowercase/],
    ['app:bad tag', /contains white space/],
    ['busybox:', /malformed tag/],
    ['app@sha256:123', /malformed digest \(want algorithm:hex, or a 64-hex image ID\)/],
    [`${'a'.repeat(64)}`, /a 64-hex image ID is not a repository name/],
  ])('%s', async (ref, message) => {
    await expectFailure([ref], 2, new RegExp(`^frozen: error: invalid reference ".*": ${message.source}\\n$`));
  });

  test('an invalid reference among valid ones fails before anything is fetched', async () => {
    await expectFailure([`${registry.host}/one/app:1`, 'Bad'], 2, /invalid reference "Bad"/);
  });

  test('no image, an unknown option, a bad --platform', async () => {
    expect((await runCli(['pull'])).code).toBe(2);
    expect((await runCli(['pull', '--bogus', 'x'])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    // Commander's suggestions stay on the error's one line.
    expect(await runCli(['pul', 'x'])).toMatchObject({
      code: 2,
      stderr: "frozen: error: unknown command 'pul' (Did you mean pull?) (see frozen --help)\n",
    });
    expect(await runCli(['pull', '--concurency', '4', 'x'])).toMatchObject({
      code: 2,
      stderr: "frozen: error: unknown option '--concurency' (Did you mean --concurrency?) (see frozen --help)\n",
    });
    await expectFailure(['--platform', 'linux/', `${registry.host}/one/app:1`], 2, /invalid platform "linux\/"/);
    await expectFailure(['--concurrency', '0', `${registry.host}/one/app:1`], 2, /not a positive integer/);
  });
});

describe('pull failures exit 1', () => {
  test('an unknown host, at once: a name that does not exist is not retried', async () => {
    const started = Date.now();
    await expectFailure(
      ['no-such-host.invalid/app:1'],
      1,
      /^frozen: error: no-such-host\.invalid\/app:1: cannot reach no-such-host\.invalid: unknown host\n$/,
    );
    expect(Date.now() - started).toBeLessThan(3_000); // five retries with back-off take over 6 s
  });

  test('a closed port', async () => {
    await expectFailure(
      ['127.0.0.1:1/app:1'],
      1,
      /^frozen: error: 127\.0\.0\.1:1\/app:1: cannot reach 127\.0\.0\.1:1: connection refused\n$/,
    );
  });

  test('an unknown tag and an unknown repository: 404 with the registry’s code', async () => {
    await expectFailure(
      [`${registry.host}/one/app:nope`],
      1,
      /one\/app:nope: manifest nope: not found \(MANIFEST_UNKNOWN: manifest unknown\)\n$/,
    );
    await expectFailure(
      [`${registry.host}/none/here:1`],
      1,
      /none\/here:1: manifest 1: not found \((?:NAME|MANIFEST)_UNKNOWN: [^)]+\)\n$/,
    );
  });

  test('a digest that does not exist', async () => {
    await expectFailure([`${registry.host}/one/app@sha256:${'0'.repeat(64)}`], 1, /manifest sha256:0{64}: not found/);
  });

  test('blobs whose bytes do not match their digest', async () => {
    await expectFailure(
      [`${corrupting.host}/one/app:2`],
      1,
      /one\/app:2: blob sha256:[0-9a-f]{64}: digest or size mismatch \(content hashes to sha256:[0-9a-f]{64}\)\n$/,
    );
  });

  test('several failing images: one line each', async () => {
    const result = await runCli(['pull', '-o', output, `${registry.host}/one/app:x`, `${registry.host}/one/app:y`]);
    expect(result.code).toBe(1);
    expect(errorLines(result.stderr)).toEqual([
      expect.stringMatching(/one\/app:x: manifest x: not found/),
      expect.stringMatching(/one\/app:y: manifest y: not found/),
    ]);
    expect(await snapshot(output)).toEqual(before);
  });

  test('--debug adds the stack, its frames mapped from the bundle to the modules tsc wrote', async () => {
    const result = await runCli(['pull', '-o', output, '--debug', `${registry.host}/one/app:nope`]);
    expect(result.code).toBe(1);
    const frames = result.stderr.split('\n').filter((line) => /^\s+at /.test(line));
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.join('\n')).toMatch(/dist\/registry\/client\.js:\d+:\d+/);
    expect(frames.filter((frame) => frame.includes('dist/bundle/'))).toEqual([]);
  });
});

describe('output directory problems exit 1', () => {
  test('an output path that is a file', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'frozen-file-')), 'not-a-dir');
    await writeFile(file, 'x');
    const result = await runCli(['pull', '-o', file, `${registry.host}/one/app:1`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^frozen: error: cannot write to .*not-a-dir: it exists and is not a directory \(--format tar writes a file\)\n$/,
    );
    expect(await readFile(file, 'utf8')).toBe('x');
  });

  test('a tar or OCI target that cannot be written fails before any download, in one line', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'frozen-targets-'));
    const file = join(parent, 'a-file');
    await writeFile(file, 'x');
    const cases: [string[], string][] = [
      [['--format', 'tar', '-o', parent], `cannot write ${parent}: it is a directory (--format tar writes a file)`],
      [
        ['--format', 'tar', '-o', join(parent, 'missing', 'x.tar')],
        `cannot write ${join(parent, 'missing', 'x.tar')}: ${join(parent, 'missing')} is not a directory`,
      ],
      [['--format', 'oci', '-o', file], `${file} exists and is not a directory: --format oci writes a new layout`],
    ];
    for (const [args, message] of cases) {
      const cache = await mkdtemp(join(tmpdir(), 'frozen-targets-cache-'));
      const result = await runCli(['pull', ...args, `${registry.host}/one/app:1`], { env: { FROZEN_CACHE: cache } });
      expect([result.code, result.stderr]).toEqual([1, `frozen: error: ${message}\n`]);
      expect(await readdir(cache)).toEqual([]); // nothing was fetched
    }
    expect(await readdir(parent)).toEqual(['a-file']);
    expect(await readFile(file, 'utf8')).toBe('x');
  });

  // Node's own recursive mkdir never returns there: procfs answers ENOENT for a folder whose parent exists.
  test.runIf(mountsWanted)(
    'a target on a read-only file system fails before any download, in one line, for every format',
    async () => {
      const disk = await mountTmpfs(1024 * 1024);
      try {
        await disk.remount('ro');
        const cases: [string[], string][] = [
          [
            ['--format', 'tar', '-o', join(disk.root, 'x.tar')],
            `cannot write ${join(disk.root, 'x.tar')}: ${disk.root} is not writable (EROFS)`,
          ],
          [
            ['--format', 'oci', '-o', join(disk.root, 'oci')],
            `cannot write ${join(disk.root, 'oci')}: ${disk.root} is not writable (EROFS)`,
          ],
          [
            ['-o', join(disk.root, 'dir')],
            `cannot write to ${join(disk.root, 'dir')}: EROFS: read-only file system, mkdir '${join(disk.root, 'dir')}'`,
          ],
        ];
        for (const [args, message] of cases) {
          const cache = await mkdtemp(join(tmpdir(), 'frozen-targets-cache-'));
          const result = await runCli(['pull', ...args, `${registry.host}/one/app:1`], {
            env: { FROZEN_CACHE: cache },
          });
          expect([result.code, result.stderr]).toEqual([1, `frozen: error: ${message}\n`]);
          expect(await readdir(cache)).toEqual([]); // nothing was fetched
        }
      } finally {
        await disk.stop();
      }
    },
  );

  test('an output or cache folder that cannot be made (under /proc) is a one-line error, not a hang', async () => {
    const output = await runCli(['pull', '-o', '/proc/frozen-test-output', `${registry.host}/one/app:1`]);
    expect([output.code, output.stderr]).toEqual([
      1,
      "frozen: error: cannot write to /proc/frozen-test-output: ENOENT: no such file or directory, mkdir '/proc/frozen-test-output'\n",
    ]);
    const dir = join(await mkdtemp(join(tmpdir(), 'frozen-proc-cache-')), 'out');
    const cache = await runCli(['pull', '-o', dir, '--cache', '/proc/frozen-test-cache', `${registry.host}/one/app:1`]);
    expect([cache.code, cache.stderr]).toEqual([
      1,
      "frozen: error: cannot use the cache at /proc/frozen-test-cache: ENOENT: no such file or directory, mkdir '/proc/frozen-test-cache'; choose another cache (--cache DIR or $FROZEN_CACHE) or none (--no-cache)\n",
    ]);
    expect(existsSync(dir)).toBe(false);
  });

  test('a default cache that cannot be made (no writable home): the pull goes on without one and warns, even with -q', async () => {
    for (const quiet of [false, true]) {
      const dir = join(await mkdtemp(join(tmpdir(), 'frozen-nohome-')), 'out');
      const env = { FROZEN_CACHE: '', XDG_CACHE_HOME: '', HOME: '/proc/frozen-no-home' };
      const result = await runCli(['pull', ...(quiet ? ['-q'] : []), '-o', dir, `${registry.host}/one/app:1`], { env });
      expect(result.code).toBe(0);
      const warning =
        "warning: cannot use the cache at /proc/frozen-no-home/.cache/frozen (ENOENT: no such file or directory, mkdir '/proc/frozen-no-home'); pulling without one (choose one with --cache DIR or $FROZEN_CACHE)\n";
      expect(result.stderr.startsWith(warning) || result.stderr.includes(`\n${warning}`)).toBe(true);
      expect(await snapshot(dir)).toEqual(before);
      expect((await readdir(dir)).filter((name) => name.startsWith('.'))).toEqual([]); // the temporary store went with the staging area
    }
  });

  test('an existing manifest.json frozen cannot read is not overwritten', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'frozen-badmanifest-'));
    await writeFile(join(dir, 'manifest.json'), '{"not": "a list"}');
    const result = await runCli(['pull', '-o', dir, `${registry.host}/one/app:1`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/manifest\.json exists but is not valid \(.*\); refusing to overwrite it\n$/);
    expect(await readdir(dir)).toEqual(['manifest.json']);
    expect(await readFile(join(dir, 'manifest.json'), 'utf8')).toBe('{"not": "a list"}');
  });
});

describe('interruption', () => {
  test('SIGINT or SIGTERM mid-download: exit 128+signal, the output as it was (a directory the run created is removed), the partial kept', async () => {
    const cases = [
      { target: output, signal: 'SIGINT', code: 130 },
      { target: join(await mkdtemp(join(tmpdir(), 'frozen-int-')), 'new'), signal: 'SIGTERM', code: 143 },
    ] as const;
    for (const { target, signal, code } of cases) {
      const cache = await mkdtemp(join(tmpdir(), 'frozen-int-cache-'));
      const child = spawn(process.execPath, [FROZEN_BIN, 'pull', '-q', '-o', target, `${stalling.host}/one/app:2`], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, FROZEN_CACHE: cache },
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      // Wait until the download is under way (its partial exists), and a little longer for bytes to arrive.
      for (let i = 0; i < 200 && (await partialBytes(cache)) === undefined; i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(await partialBytes(cache)).toBeDefined();
      await new Promise((r) => setTimeout(r, 200));
      child.kill(signal);
      expect(await exited).toBe(code);
      expect(stderr).toBe(
        `frozen: interrupted by ${signal}; what was downloaded stays in the cache, and the next pull resumes from there\n`,
      );
      if (target === output) expect(await snapshot(output)).toEqual(before);
      else expect(existsSync(target)).toBe(false);
      expect(await partialBytes(cache)).toBeGreaterThan(0); // what arrived was written out, for the next run to resume
    }
  });
});

/** Bytes in the cache's partial downloads; undefined while there are none. */
async function partialBytes(cache: string): Promise<number | undefined> {
  const dir = join(cache, 'blobs', 'sha256');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith('.partial'));
  if (names.length === 0) return undefined;
  const sizes = await Promise.all(names.map((name) => stat(join(dir, name)).then((s) => s.size)));
  return sizes.reduce((a, b) => a + b, 0);
}

describe('a reader that goes away', () => {
  test('stdout closed before frozen writes (| head): exit 141 as SIGPIPE would, no stack trace', async () => {
    for (const args of [['inspect', `${registry.host}/one/app:1`], ['--help']]) {
      const child = spawn(process.execPath, [FROZEN_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy(); // the reader is gone before the first line
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect({ args, code, stderr }).toEqual({ args, code: 141, stderr: '' });
    }
  });

  test('pull --json whose reader goes away (| head -1): the pull stops cleanly, exit 141, nothing left in the output', async () => {
    const target = join(await mkdtemp(join(tmpdir(), 'frozen-pipe-')), 'new');
    // The blob stalls; at the stall timeout the retry event is written, and that write finds the reader gone.
    const child = spawn(
      process.execPath,
      [FROZEN_BIN, 'pull', '--json', '--stall-timeout', '1', '-o', target, `${stalling.host}/one/app:1`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, FROZEN_CACHE: await mkdtemp(join(tmpdir(), 'frozen-pipe-cache-')) },
      },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const firstLine = await new Promise<string>((resolve) => {
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\n')) {
          child.stdout.destroy();
          resolve(text.slice(0, text.indexOf('\n')));
        }
      });
    });
    expect(JSON.parse(firstLine)).toMatchObject({ type: 'resolved' });
    expect(await exited).toBe(141);
    expect(stderr).toBe('');
    expect(existsSync(target)).toBe(false);
  });
});

describe('help and version', () => {
  test('--help and --version exit 0', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['pull [options] [image...]', 'cache', 'verify <path...>', 'inspect [options] <image>']) {
      expect(help.stdout).toContain(command);
    }
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

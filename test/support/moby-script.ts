import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';

/**
 * moby's `contrib/download-frozen-image-v2.sh` and its v1 ancestor (`download-frozen-image-v1.sh`, first named
 * `download-frozen-image.sh`), where a developer has them: named by `$FROZEN_MOBY_SCRIPT` and
 * `$FROZEN_MOBY_V1_SCRIPT`, or on PATH. This project does not ship them (they are moby's code), so what uses them
 * runs only where they are found.
 */
export const MOBY_SCRIPT = process.env.FROZEN_MOBY_SCRIPT ?? onPath('download-frozen-image-v2.sh');
export const MOBY_V1_SCRIPT =
  process.env.FROZEN_MOBY_V1_SCRIPT ?? onPath('download-frozen-image-v1.sh') ?? onPath('download-frozen-image.sh');

function onPath(name: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, name))
    .find((path) => existsSync(path));
}

export interface ScriptRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A copy of one of the scripts that talks to local servers instead of Docker Hub. */
export interface LocalMobyScript {
  /** The patched copy: `bash <path> DIR IMAGE...`. */
  readonly path: string;
  run(dir: string, images: readonly string[], env?: Readonly<Record<string, string>>): Promise<ScriptRun>;
  stop(): Promise<void>;
}

/**
 * The v2 script talks only to `https://registry-1.docker.io` and `https://auth.docker.io`, both set on one line
 * each. A copy with those two lines replaced talks to `registryUrl`, and gets its (unchecked) token from a small
 * server here; nothing else in it changes. `images` are then named as on Docker Hub: `team/app:1`, `busybox:1`.
 */
export async function mobyScriptFor(script: string, registryUrl: string): Promise<LocalMobyScript> {
  const tokens = await tokenServer();
  try {
    const replacements: [RegExp, string][] = [
      [/^registryBase=.*$/m, `registryBase='${registryUrl}'`],
      [/^authBase=.*$/m, `authBase='${tokens.url}'`],
    ];
    return await patchedScript(script, replacements, tokens.close);
  } catch (error) {
    await tokens.close();
    throw error;
  }
}

/**
 * The v1 script writes Docker Hub's index and registry addresses into each of its curl lines; a copy with every
 * one of them replaced by `url` (a v1 registry that is its own index) talks to it. Copies of it that say `curl
 * --progress` (ambiguous since curl 7.67 added `--progress-meter`) are made to say `--progress-bar`, which it
 * meant; the copy moby removed in 2020 already says so. Nothing else changes.
 */
export function mobyV1ScriptFor(script: string, url: string): Promise<LocalMobyScript> {
  return patchedScript(
    script,
    [
      [/https:\/\/index\.docker\.io/g, url],
      [/https:\/\/registry-1\.docker\.io/g, url],
    ],
    async () => {},
    [[/--progress /g, '--progress-bar ']],
  );
}

/**
 * A copy of `script` with every `replacements` pattern replaced (each must be there: a script that lacks one would
 * still talk to Docker Hub) and every `fixes` pattern replaced where it occurs.
 */
async function patchedScript(
  script: string,
  replacements: readonly [RegExp, string][],
  cleanUp = async () => {},
  fixes: readonly [RegExp, string][] = [],
): Promise<LocalMobyScript> {
  const dir = await mkdtemp(join(tmpdir(), 'frozen-moby-'));
  const patched = join(dir, basename(script));
  try {
    let text = await readFile(script, 'utf8');
    for (const [pattern, replacement] of replacements) {
      if (!new RegExp(pattern.source, pattern.flags.replace('g', '')).test(text))
        throw new Error(`${script} has no ${pattern.source} to point at a local server`);
      text = text.replace(pattern, replacement);
    }
    for (const [pattern, replacement] of fixes) text = text.replace(pattern, replacement);
    await writeFile(patched, text);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    path: patched,
    run: (out, images, env = {}) =>
      new Promise((resolve) => {
        execFile(
          'bash',
          [patched, out, ...images],
          { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      }),
    async stop() {
      await Promise.all([cleanUp(), rm(dir, { recursive: true, force: true })]);
    },
  };
}

/** Answers every request as auth.docker.io answers an anonymous token request. */
async function tokenServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ token: 'anonymous' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('token server has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

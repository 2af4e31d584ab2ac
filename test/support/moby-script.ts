import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * moby's `contrib/download-frozen-image-v2.sh`, where a developer has it: `$FROZEN_MOBY_SCRIPT`, or on PATH. This
 * project does not ship it (it is moby's code), so what uses it runs only where it is found.
 */
export const MOBY_SCRIPT = process.env.FROZEN_MOBY_SCRIPT ?? onPath('download-frozen-image-v2.sh');

function onPath(name: string): string | undefined {
  return (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, name)).find((path) => existsSync(path));
}

export interface ScriptRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The script with its two Docker Hub addresses pointed at a local registry and a token endpoint of its own. */
export interface LocalMobyScript {
  /** The patched copy: `bash <path> DIR IMAGE...`. */
  readonly path: string;
  run(dir: string, images: readonly string[], env?: Readonly<Record<string, string>>): Promise<ScriptRun>;
  stop(): Promise<void>;
}

/**
 * The script talks only to `https://registry-1.docker.io` and `https://auth.docker.io`, both set on one line each.
 * A copy with those two lines replaced talks to `registryUrl`, and gets its (unchecked) token from a small server
 * here; nothing else in it changes. `images` are then named as on Docker Hub: `team/app:1`, `busybox:1`.
 */
export async function mobyScriptFor(script: string, registryUrl: string): Promise<LocalMobyScript> {
  const tokens = await tokenServer();
  const dir = await mkdtemp(join(tmpdir(), 'frozen-moby-'));
  const patched = join(dir, 'download-frozen-image-v2.sh');
  try {
    const text = await readFile(script, 'utf8');
    const lines = { registryBase: `registryBase='${registryUrl}'`, authBase: `authBase='${tokens.url}'` };
    let local = text;
    for (const [name, line] of Object.entries(lines)) {
      const pattern = new RegExp(`^${name}=.*$`, 'm');
      if (!pattern.test(local)) throw new Error(`${script} has no ${name}= line to point at the local registry`);
      local = local.replace(pattern, line);
    }
    await writeFile(patched, local);
  } catch (error) {
    await Promise.all([tokens.close(), rm(dir, { recursive: true, force: true })]);
    throw error;
  }
  return {
    path: patched,
    run: (out, images, env = {}) =>
      new Promise((resolve) => {
        execFile('bash', [patched, out, ...images], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      }),
    async stop() {
      await Promise.all([tokens.close(), rm(dir, { recursive: true, force: true })]);
    },
  };
}

/** Answers every request as auth.docker.io answers an anonymous token request. */
async function tokenServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ token: 'anonymous' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('token server has no port');
  return { url: `http://127.0.0.1:${address.port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadSignaturePolicy } from '../../src/signature/policy.js';

async function keyFile(dir: string, name: string): Promise<string> {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const path = join(dir, `${name}.pub`);
  await writeFile(path, publicKey.export({ type: 'spki', format: 'pem' }));
  return path;
}

describe('signature policy: which keys apply to an image', () => {
  test("a prefix ending in / names what is below it; one without names itself and what is below, as policy.json's scopes", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'frozen-policy-'));
    const [prod, team, everywhere] = (await Promise.all(['prod', 'team', 'all'].map((name) => keyFile(dir, name)))) as [
      string,
      string,
      string,
    ];
    const configFile = join(dir, 'config.json');
    const signatures = [
      { prefix: 'registry.example.com/prod/', keys: [prod] },
      { prefix: 'registry.example.com/team/app', keys: [team] },
    ];
    await writeFile(configFile, JSON.stringify({ signatures }));
    const policy = await loadSignaturePolicy({ configFile, verifyKeys: [everywhere] });
    const sources = (name: string) => policy.keysFor(name).map((key) => key.source);
    expect(sources('registry.example.com/prod/api')).toEqual([everywhere, prod]);
    expect(sources('registry.example.com/production')).toEqual([everywhere]);
    expect(sources('registry.example.com/team/app')).toEqual([everywhere, team]);
    expect(sources('registry.example.com/team/app/sub')).toEqual([everywhere, team]);
    expect(sources('registry.example.com/team/application')).toEqual([everywhere]);

    const rulesOnly = await loadSignaturePolicy({ configFile });
    expect(rulesOnly.keysFor('docker.io/library/busybox')).toEqual([]);
  });

  test('a key file that cannot be read is a usage error naming it, before any request', async () => {
    await expect(loadSignaturePolicy({ verifyKeys: ['/nonexistent/cosign.pub'] })).rejects.toMatchObject({
      kind: 'usage',
      message: expect.stringMatching(/^cannot read the key \/nonexistent\/cosign\.pub: ENOENT/) as unknown,
    });
  });
});

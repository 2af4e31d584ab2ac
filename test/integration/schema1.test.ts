import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseEvents, runCli } from '../support/cli.js';
import { startFlakyRegistry, type FlakyRegistry } from '../support/flaky-registry.js';
import { oneLayerImage, type BuiltImage } from '../support/images.js';
import { schema1Fixture, type Schema1Fixture } from '../support/schema1.js';
import { loadWithSkopeo } from '../support/load.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-schema1-'));

let server: FlakyRegistry;
let fixture: Schema1Fixture;
let modern: BuiltImage;

beforeAll(async () => {
  server = await startFlakyRegistry();
  fixture = await schema1Fixture();
  const { base, top, empty } = fixture;
  server.serveRaw('old/app', '1', fixture.unsigned, [base, top, empty]);
  server.serveRaw('old/signed', '1', fixture.signed, [base, top, empty]);
  modern = await oneLayerImage('next to schema1');
  server.serve('new/app', '1', modern);
});
afterAll(async () => server?.stop());

describe('schema1 images', () => {
  test.each(['old/app', 'old/signed'])(
    '%s is converted: loadable, layers base first without empty ones, history kept',
    async (repo) => {
      const output = await tempDir();
      const result = await runCli([
        'pull',
        '--json',
        '-o',
        output,
        `${server.host}/${repo}:1`,
        `${server.host}/new/app:1`,
      ]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const events = parseEvents(result.stdout);
      expect(events).toContainEqual({ type: 'converted', image: `${server.host}/${repo}:1`, from: 'schema1' });
      const [imageId] = events.flatMap((e) =>
        e.type === 'image-done' && e.result.reference.includes(repo) ? [e.result.imageId] : [],
      );
      expect(imageId).toMatch(/^sha256:[0-9a-f]{64}$/);

      const loaded = await loadWithSkopeo(output, 0);
      expect(loaded.imageId).toBe(imageId);
      expect(loaded.diffIds).toEqual([fixture.base.diffId, fixture.top.diffId]);
      const config = JSON.parse(await readFile(join(output, `${imageId!.slice(7)}.json`), 'utf8'));
      expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] } });
      expect(
        config.history.map((h: { created_by: string; empty_layer?: boolean }) => [
          h.created_by,
          h.empty_layer ?? false,
        ]),
      ).toEqual([
        ['/bin/sh -c #(nop) ADD file:base in /', false],
        ['/bin/sh -c #(nop) ENV A=1', true],
        ['/bin/sh -c echo top > /top', false],
      ]);
      // The modern image of the same run keeps its manifest.json entry.
      expect((await loadWithSkopeo(output, 1)).imageId).toBe(modern.config.digest);
      expect((await runCli(['verify', output])).code).toBe(0);
    },
  );
});

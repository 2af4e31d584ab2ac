import { describe, expect, test } from 'vitest';
import {
  addRepositoryTag,
  layerId,
  layerIds,
  layerSourcesField,
  mergeManifestEntries,
  parseManifestJson,
  parseRepositories,
  printManifestJson,
  printRepositories,
  starterLayerJson,
  topLayerJson,
  type ManifestEntry,
} from '../../src/layout/docker-format.js';
import { parseOrdered, printJq } from '../../src/util/ordered-json.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const ID1 = '2c70aaf6b3fc0daabac2c0ee3418eba01cc8a1e58fde00d320ce0182f417c63a';
const ID2 = '8ef283fa7a69eee47dc1db00c21ec428137c4bac8c693613bf8c04c59fca3e74';

describe('layer IDs (download-frozen-image-v2.sh formula)', () => {
  test('the protocol notes’ test vectors', () => {
    expect(layerId('', A)).toBe(ID1);
    expect(layerId(ID1, B)).toBe(ID2);
    expect(layerIds([A, B])).toEqual([ID1, ID2]);
  });

  test('the same layer twice gets two IDs', () => {
    const [first, second] = layerIds([A, A]);
    expect(first).not.toBe(second);
  });
});

describe('layer json', () => {
  test('a non-top layer gets the script’s starter template, jq-printed', () => {
    expect(starterLayerJson(ID2, ID1)).toBe(
      `{
  "id": "${ID2}",
  "parent": "${ID1}",
  "created": "0001-01-01T00:00:00Z",
  "container_config": {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": false,
    "AttachStdout": false,
    "AttachStderr": false,
    "Tty": false,
    "OpenStdin": false,
    "StdinOnce": false,
    "Env": null,
    "Cmd": null,
    "Image": "",
    "Volumes": null,
    "WorkingDir": "",
    "Entrypoint": null,
    "OnBuild": null,
    "Labels": null
  }
}
`,
    );
  });

  test('the base layer has no parent key', () => {
    expect(starterLayerJson(ID1, '')).toMatch(/^\{\n  "id": "2c70[0-9a-f]+",\n  "created"/);
  });

  test('the top layer is {id, parent} + config minus history and rootfs, keys and numbers as the registry wrote them', () => {
    const config =
      '{"architecture":"amd64","config":{"Labels":{"zeta":"z","1":"one"},"Healthcheck":{"Interval":30000000000},"Env":[]},' +
      '"created":"2024-01-01T00:00:00Z","history":[{"created_by":"x"}],"os":"linux","rootfs":{"type":"layers","diff_ids":[]},"w":1.50,"s":"del\u007f/\u00e9"}';
    expect(topLayerJson(ID2, ID1, config)).toBe(
      `{
  "id": "${ID2}",
  "parent": "${ID1}",
  "architecture": "amd64",
  "config": {
    "Labels": {
      "zeta": "z",
      "1": "one"
    },
    "Healthcheck": {
      "Interval": 30000000000
    },
    "Env": []
  },
  "created": "2024-01-01T00:00:00Z",
  "os": "linux",
  "w": 1.50,
  "s": "del\\u007f/é"
}
`,
    );
  });

  test('a config "id" key overrides the value but keeps the position, as jq object addition does', () => {
    const json = topLayerJson(ID1, '', '{"os":"linux","id":"ignored"}');
    expect(json).toBe(`{\n  "id": "ignored",\n  "os": "linux"\n}\n`);
  });
});

describe('manifest.json', () => {
  const entry = (config: string, tags: string[], layers: string[]): ManifestEntry => ({
    Config: config,
    RepoTags: tags,
    Layers: layers,
  });

  test('jq-printed bytes', () => {
    expect(printManifestJson([entry('c.json', ['busybox:latest'], [`${ID1}/layer.tar`])])).toBe(
      `[
  {
    "Config": "c.json",
    "RepoTags": [
      "busybox:latest"
    ],
    "Layers": [
      "${ID1}/layer.tar"
    ]
  }
]
`,
    );
  });

  test('other images stay; a re-pulled tag moves; an image that lost its last tag goes', () => {
    const old = [
      entry('a.json', ['app:1', 'app:stable'], ['x/layer.tar']),
      entry('b.json', ['other:1'], ['y/layer.tar']),
    ];
    const merged = mergeManifestEntries(old, [entry('c.json', ['app:1'], ['z/layer.tar'])]);
    expect(merged).toEqual([
      entry('a.json', ['app:stable'], ['x/layer.tar']),
      entry('b.json', ['other:1'], ['y/layer.tar']),
      entry('c.json', ['app:1'], ['z/layer.tar']),
    ]);
    const moved = mergeManifestEntries(merged, [entry('c.json', ['app:stable'], ['z/layer.tar'])]);
    expect(moved).toEqual([
      entry('b.json', ['other:1'], ['y/layer.tar']),
      entry('c.json', ['app:1', 'app:stable'], ['z/layer.tar']),
    ]);
  });

  test('pulling the same image again is idempotent; untagged entries are kept', () => {
    const first = [entry('a.json', ['app:1'], ['x/layer.tar']), entry('d.json', [], ['w/layer.tar'])];
    expect(mergeManifestEntries(first, [entry('a.json', ['app:1'], ['x/layer.tar'])])).toEqual(first);
  });

  test('LayerSources: the foreign layers by diff ID, and no field for an image without one', () => {
    const descriptor = {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      size: 5,
      digest: A,
      urls: ['https://example.com/l'],
    };
    expect(layerSourcesField([{}, { source: { diffId: B, descriptor } }])).toEqual({
      LayerSources: { [B]: descriptor },
    });
    expect(layerSourcesField([{}, {}])).toEqual({});
    // An entry written without them (by an older frozen) gains them when the image is pulled again.
    const sources = layerSourcesField([{ source: { diffId: B, descriptor } }]);
    const merged = mergeManifestEntries(
      [entry('a.json', ['app:1'], ['x/layer.tar'])],
      [{ ...entry('a.json', ['app:2'], ['x/layer.tar']), ...sources }],
    );
    expect(merged).toEqual([{ ...entry('a.json', ['app:1', 'app:2'], ['x/layer.tar']), ...sources }]);
  });

  test('parses docker save output and rejects what is not a manifest.json', () => {
    expect(parseManifestJson('[{"Config":"c","RepoTags":null,"Layers":["l"]}]')).toEqual([entry('c', [], ['l'])]);
    expect(() => parseManifestJson('{"Config":"c"}')).toThrow();
    expect(() => parseManifestJson('[{"RepoTags":[]}]')).toThrow();
  });
});

describe('repositories', () => {
  test('the script’s hand-written format', () => {
    const repositories = new Map<string, Map<string, string>>();
    addRepositoryTag(repositories, 'busybox', 'latest', ID1);
    addRepositoryTag(repositories, 'busybox', '1', ID2);
    addRepositoryTag(repositories, 'localhost:5000/team/app', '1.2', ID2);
    expect(printRepositories(repositories)).toBe(
      `{\n\t"busybox": { "latest": "${ID1}", "1": "${ID2}" },\n\t"localhost:5000/team/app": { "1.2": "${ID2}" }\n}\n`,
    );
    expect(printRepositories(new Map())).toBe('{\n}\n');
  });

  test('round-trips, keeping numeric tags in place', () => {
    const text = `{\n\t"app": { "latest": "${ID1}", "2": "${ID2}" }\n}\n`;
    const parsed = parseRepositories(text);
    expect([...parsed.get('app')!.keys()]).toEqual(['latest', '2']);
    expect(printRepositories(parsed)).toBe(text);
  });

  test('a re-pulled tag moves to the new top layer in place', () => {
    const parsed = parseRepositories(`{"app":{"1":"${ID1}","2":"${ID1}"}}`);
    addRepositoryTag(parsed, 'app', '1', ID2);
    expect(printRepositories(parsed)).toBe(`{\n\t"app": { "1": "${ID2}", "2": "${ID1}" }\n}\n`);
  });

  test('rejects malformed files', () => {
    expect(() => parseRepositories('[]')).toThrow();
    expect(() => parseRepositories('{"a":{"t":1}}')).toThrow();
    expect(() => parseRepositories('{"a":')).toThrow();
  });
});

describe('ordered JSON', () => {
  test('printJq matches JSON.stringify indentation for ordinary documents', () => {
    const doc = { a: [1, { b: null, c: [] }, 'x'], d: {}, e: true };
    expect(printJq(parseOrdered(JSON.stringify(doc)))).toBe(`${JSON.stringify(doc, null, 2)}\n`);
  });
  test('rejects trailing garbage and bad tokens', () => {
    expect(() => parseOrdered('{} x')).toThrow();
    expect(() => parseOrdered('{"a" 1}')).toThrow();
    expect(() => parseOrdered('[1,]')).toThrow();
  });
});

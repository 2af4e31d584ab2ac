import { describe, expect, test } from 'vitest';
import { FrozenError } from '../../src/errors.js';
import {
  apiHost,
  canonicalReference,
  distinctReferences,
  familiarTag,
  parseReference,
} from '../../src/reference/index.js';

const HEX = 'a'.repeat(64);
const DIGEST = `sha256:${HEX}`;

// [input, registry, repository, tag, digest, imageId, familiar name]
const VALID: [string, string, string, string | undefined, string | undefined, string | undefined, string][] = [
  ['busybox', 'docker.io', 'library/busybox', 'latest', undefined, undefined, 'busybox'],
  ['busybox:latest', 'docker.io', 'library/busybox', 'latest', undefined, undefined, 'busybox'],
  ['busybox:1.36.1-glibc', 'docker.io', 'library/busybox', '1.36.1-glibc', undefined, undefined, 'busybox'],
  ['library/busybox:1', 'docker.io', 'library/busybox', '1', undefined, undefined, 'busybox'],
  ['docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined, undefined, 'busybox'],
  ['docker.io/library/busybox', 'docker.io', 'library/busybox', 'latest', undefined, undefined, 'busybox'],
  ['index.docker.io/busybox:2', 'docker.io', 'library/busybox', '2', undefined, undefined, 'busybox'],
  ['index.docker.io/user/app', 'docker.io', 'user/app', 'latest', undefined, undefined, 'user/app'],
  ['registry-1.docker.io/user/app', 'docker.io', 'user/app', 'latest', undefined, undefined, 'user/app'],
  ['user/app:v1', 'docker.io', 'user/app', 'v1', undefined, undefined, 'user/app'],
  [
    'arm32v7/hello-world:latest',
    'docker.io',
    'arm32v7/hello-world',
    'latest',
    undefined,
    undefined,
    'arm32v7/hello-world',
  ],
  ['user/deep/path/app', 'docker.io', 'user/deep/path/app', 'latest', undefined, undefined, 'user/deep/path/app'],
  [`busybox@${DIGEST}`, 'docker.io', 'library/busybox', undefined, DIGEST, undefined, 'busybox'],
  [`busybox:latest@${DIGEST}`, 'docker.io', 'library/busybox', 'latest', DIGEST, undefined, 'busybox'],
  [
    `busybox@sha512:${'b'.repeat(128)}`,
    'docker.io',
    'library/busybox',
    undefined,
    `sha512:${'b'.repeat(128)}`,
    undefined,
    'busybox',
  ],
  [`busybox:latest@${HEX}`, 'docker.io', 'library/busybox', 'latest', undefined, HEX, 'busybox'],
  [`hello-world@${HEX}`, 'docker.io', 'library/hello-world', 'latest', undefined, HEX, 'hello-world'],
  ['localhost/app', 'localhost', 'app', 'latest', undefined, undefined, 'localhost/app'],
  ['localhost:5000/team/app:1.2', 'localhost:5000', 'team/app', '1.2', undefined, undefined, 'localhost:5000/team/app'],
  [
    `localhost:5000/team/app:1.2@${DIGEST}`,
    'localhost:5000',
    'team/app',
    '1.2',
    DIGEST,
    undefined,
    'localhost:5000/team/app',
  ],
  ['127.0.0.1:5000/app', '127.0.0.1:5000', 'app', 'latest', undefined, undefined, '127.0.0.1:5000/app'],
  ['[::1]:5000/app:x', '[::1]:5000', 'app', 'x', undefined, undefined, '[::1]:5000/app'],
  ['ghcr.io/owner/repo:sha-abc', 'ghcr.io', 'owner/repo', 'sha-abc', undefined, undefined, 'ghcr.io/owner/repo'],
  ['quay.io/a/b', 'quay.io', 'a/b', 'latest', undefined, undefined, 'quay.io/a/b'],
  [
    'Registry.Example.com/app',
    'Registry.Example.com',
    'app',
    'latest',
    undefined,
    undefined,
    'Registry.Example.com/app',
  ],
  ['UPPERHOST/app', 'UPPERHOST', 'app', 'latest', undefined, undefined, 'UPPERHOST/app'],
  [
    'my-registry.local:443/ns/a_b.c__d-e---f',
    'my-registry.local:443',
    'ns/a_b.c__d-e---f',
    'latest',
    undefined,
    undefined,
    'my-registry.local:443/ns/a_b.c__d-e---f',
  ],
  ['app:_tag', 'docker.io', 'library/app', '_tag', undefined, undefined, 'app'],
  [`app:${'t'.repeat(128)}`, 'docker.io', 'library/app', 't'.repeat(128), undefined, undefined, 'app'],
  ['localhost:5000', 'docker.io', 'library/localhost', '5000', undefined, undefined, 'localhost'],
  ['k8s.gcr.io/pause:3.9', 'k8s.gcr.io', 'pause', '3.9', undefined, undefined, 'k8s.gcr.io/pause'],
];

const INVALID: [string, RegExp][] = [
  ['', /empty/],
  ['Busybox', /lowercase/],
  ['user/App', /lowercase/],
  ['busybox:', /malformed tag/],
  ['busybox:-tag', /malformed tag/],
  ['busybox:tag!', /malformed tag/],
  [`busybox:${'t'.repeat(129)}`, /malformed tag/],
  ['busybox@', /malformed digest/],
  ['busybox@sha256:abc', /malformed digest/],
  [`busybox@sha256:${'A'.repeat(64)}`, /malformed digest/],
  [`busybox@md5:${'a'.repeat(32)}`, /unsupported digest algorithm/],
  [`busybox@sha256:${'a'.repeat(63)}`, /malformed digest/],
  [`busybox@${'a'.repeat(63)}`, /malformed digest/],
  [HEX, /64-hex image ID/],
  ['bad name', /white space/],
  ['/busybox', /malformed/],
  ['busybox/', /malformed/],
  ['a//b', /malformed/],
  ['-app', /malformed/],
  ['app-', /malformed/],
  ['app..x', /malformed/],
  ['ex ample.com/app', /white space/],
  ['-bad.host/app', /malformed registry host/],
  ['host:port/app', /malformed registry host/],
  ['docker://busybox:1', /no scheme: write "busybox:1"$/],
  [
    'http://localhost:5000/app',
    /no scheme: write "localhost:5000\/app" \(plain http is used for loopback and insecureRegistries hosts\)/, // the CLI says --insecure-registry
  ],
  ['HTTPS://registry.example/app', /no scheme: write "registry.example\/app" \(plain http/],
  [`${'a'.repeat(256)}`, /longer than 255/],
  [`localhost:5000/${'a/'.repeat(127)}ab`, /longer than 255/],
  ['busybox:latest:again', /malformed tag/],
];

describe('parseReference', () => {
  test.each(VALID)('%s', (input, registry, repository, tag, digest, imageId, familiar) => {
    const ref = parseReference(input);
    expect({
      registry: ref.registry,
      repository: ref.repository,
      tag: ref.tag,
      digest: ref.digest?.value,
      imageId: ref.imageId,
      familiar: ref.familiarName,
    }).toEqual({ registry, repository, tag, digest, imageId, familiar });
  });

  test.each(INVALID)('rejects %j', (input, message) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FrozenError);
    expect((caught as FrozenError).kind).toBe('reference');
    expect((caught as FrozenError).message).toMatch(message);
  });

  test('the table is at least 40 references', () => {
    expect(VALID.length + INVALID.length).toBeGreaterThanOrEqual(40);
  });

  test('Docker Hub is served from registry-1.docker.io; others from themselves', () => {
    expect(apiHost(parseReference('busybox').registry)).toBe('registry-1.docker.io');
    expect(apiHost(parseReference('localhost:5000/a').registry)).toBe('localhost:5000');
  });

  test('canonical and familiar forms', () => {
    const ref = parseReference(`busybox:latest@${DIGEST}`);
    expect(canonicalReference(ref)).toBe(`docker.io/library/busybox:latest@${DIGEST}`);
    expect(familiarTag(ref)).toBe('busybox:latest');
    expect(familiarTag(parseReference(`busybox@${DIGEST}`))).toBeUndefined();
  });

  test('references naming the same image are kept once, the first of them, in the order given', () => {
    const given = [
      'busybox',
      'alpine:3',
      'docker.io/library/busybox:latest',
      'index.docker.io/library/busybox',
      `busybox@${DIGEST}`,
      'alpine:3',
    ];
    const refs = given.map((image) => parseReference(image));
    expect(distinctReferences(refs, (ref) => ref).map((ref) => ref.original)).toEqual([
      'busybox',
      'alpine:3',
      `busybox@${DIGEST}`,
    ]);
  });
});

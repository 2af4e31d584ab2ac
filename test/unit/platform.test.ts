import { describe, expect, test } from 'vitest';
import {
  defaultPlatform,
  formatPlatform,
  parsePlatform,
  selectPlatform,
  wantedPlatforms,
  type IndexEntry,
} from '../../src/platform/index.js';
import { FrozenError } from '../../src/errors.js';

const entry = (
  digest: string,
  os: string,
  architecture: string,
  variant?: string,
  annotations?: Record<string, string>,
): IndexEntry => ({
  digest,
  platform: { os, architecture, ...(variant && { variant }) },
  ...(annotations && { annotations }),
});

describe('parsePlatform normalizes like containerd', () => {
  test.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/x86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/i386', 'linux/386'],
    ['LINUX/AMD64', 'linux/amd64'],
    ['windows/amd64', 'windows/amd64'],
  ])('%s → %s', (input, expected) => {
    expect(formatPlatform(parsePlatform(input))).toBe(expected);
  });

  test.each(['linux/', '/amd64', 'a/b/c/d', 'linux/am d64', 'amd', ''])('rejects %j', (input) => {
    expect(() => parsePlatform(input)).toThrow(/invalid platform/);
  });
});

describe('one part alone, as containerd reads it', () => {
  const host = formatPlatform(defaultPlatform({}));
  test("an OS takes this host's architecture", () => {
    expect(formatPlatform(parsePlatform('linux'))).toBe(host);
    expect(formatPlatform(parsePlatform('windows'))).toBe(host.replace(/^linux/, 'windows'));
  });
  test("an architecture takes this host's OS family", () => {
    expect(formatPlatform(parsePlatform('arm64'))).toBe('linux/arm64');
    expect(formatPlatform(parsePlatform('aarch64'))).toBe('linux/arm64');
    expect(formatPlatform(parsePlatform('armhf'))).toBe('linux/arm/v7');
    expect(formatPlatform(parsePlatform('s390x'))).toBe('linux/s390x');
  });
});

describe('defaultPlatform', () => {
  test('TARGETPLATFORM wins (Dockerfile builds)', () => {
    expect(formatPlatform(defaultPlatform({ TARGETPLATFORM: 'linux/arm/v6', TARGETARCH: 'amd64' }))).toBe(
      'linux/arm/v6',
    );
  });
  test('TARGETARCH and TARGETVARIANT', () => {
    expect(formatPlatform(defaultPlatform({ TARGETARCH: 'arm', TARGETVARIANT: 'v6' }))).toBe('linux/arm/v6');
    expect(formatPlatform(defaultPlatform({ TARGETARCH: 'arm64', TARGETOS: 'linux' }))).toBe('linux/arm64');
  });
  test('the host otherwise', () => {
    const expected = { x64: 'amd64', arm64: 'arm64' }[process.arch as 'x64' | 'arm64'];
    expect(defaultPlatform({}).architecture).toBe(expected ?? defaultPlatform({}).architecture);
    expect(defaultPlatform({}).os).toBe(process.platform === 'win32' ? 'windows' : 'linux');
  });
});

describe('selectPlatform', () => {
  const index = [
    entry('amd64', 'linux', 'amd64'),
    entry('arm64', 'linux', 'arm64', 'v8'),
    entry('armv6', 'linux', 'arm', 'v6'),
    entry('armv7', 'linux', 'arm', 'v7'),
    entry('win', 'windows', 'amd64'),
    entry('att', 'unknown', 'unknown', undefined, { 'vnd.docker.reference.type': 'attestation-manifest' }),
  ];

  test('exact matches, with os checked as well as architecture', () => {
    expect(selectPlatform(index, parsePlatform('linux/amd64')).entry.digest).toBe('amd64');
    expect(selectPlatform(index, parsePlatform('windows/amd64')).entry.digest).toBe('win');
    expect(selectPlatform(index, parsePlatform('linux/arm64')).entry.digest).toBe('arm64');
    expect(selectPlatform(index, parsePlatform('linux/arm/v7')).entry.digest).toBe('armv7');
    expect(selectPlatform(index, parsePlatform('linux/arm/v6')).entry.digest).toBe('armv6');
  });

  test('the best compatible variant wins regardless of index order', () => {
    const reordered = [entry('v5', 'linux', 'arm', 'v5'), entry('v6', 'linux', 'arm', 'v6')];
    expect(selectPlatform(reordered, parsePlatform('linux/arm/v7')).entry.digest).toBe('v6');
    expect(selectPlatform([entry('plain', 'linux', 'amd64')], parsePlatform('linux/amd64/v3')).entry.digest).toBe(
      'plain',
    );
    expect(selectPlatform([entry('a', 'linux', 'arm64')], parsePlatform('linux/arm64/v8')).entry.digest).toBe('a');
  });

  test('a newer variant than the host can run is not chosen', () => {
    expect(() => selectPlatform([entry('v7', 'linux', 'arm', 'v7')], parsePlatform('linux/arm/v6'))).toThrow(
      /no manifest/,
    );
  });

  test('no match lists what the index offers, without attestations', () => {
    expect(() => selectPlatform(index, parsePlatform('linux/s390x'))).toThrow(
      'no manifest for platform linux/s390x; the index offers linux/amd64, linux/arm64, linux/arm/v6, linux/arm/v7, windows/amd64',
    );
  });

  test('attestation entries never match, even when asked for unknown/unknown', () => {
    expect(() => selectPlatform(index, parsePlatform('unknown/unknown'))).toThrow(/no manifest/);
  });
});

/**
 * The cases the conformance issue found, each as containerd/platforms decides it (`Only` and `LimitManifests`):
 * the wanted platform's entry if the index has one, else the best one it also runs, reported as a fallback.
 */
describe('selectPlatform as containerd picks', () => {
  const pick = (entries: IndexEntry[], wanted: string) => {
    const picked = selectPlatform(entries, parsePlatform(wanted));
    return [picked.entry.digest, picked.platform, picked.fallback];
  };

  test('linux/arm64/v9 runs arm64/v8.2; linux/arm64 is arm64/v8.0', () => {
    expect(pick([entry('v8.2', 'linux', 'arm64', 'v8.2')], 'linux/arm64/v9')).toEqual([
      'v8.2',
      'linux/arm64/v8.2',
      true,
    ]);
    expect(pick([entry('v8.0', 'linux', 'arm64', 'v8.0')], 'linux/arm64')).toEqual(['v8.0', 'linux/arm64', false]);
  });

  test('an arm64 host takes an arm/v7-only image, an amd64 host a 386-only one: as fallbacks', () => {
    expect(pick([entry('v7', 'linux', 'arm', 'v7')], 'linux/arm64')).toEqual(['v7', 'linux/arm/v7', true]);
    expect(pick([entry('x86', 'linux', '386')], 'linux/amd64')).toEqual(['x86', 'linux/386', true]);
  });

  test('an exact match beats every fallback, wherever it stands in the index', () => {
    const entries = [
      entry('v7', 'linux', 'arm', 'v7'),
      entry('v8.1', 'linux', 'arm64', 'v8.1'),
      entry('arm64', 'linux', 'arm64'),
    ];
    expect(pick(entries, 'linux/arm64')).toEqual(['arm64', 'linux/arm64', false]);
    expect(pick(entries.slice(0, 2), 'linux/arm64/v8.2')).toEqual(['v8.1', 'linux/arm64/v8.1', true]);
  });

  test('windows(10.0.17763)/amd64 picks that build; windows/amd64 the newest; a build the host cannot run is no match', () => {
    const windows = (digest: string, osVersion: string): IndexEntry => ({
      digest,
      platform: { os: 'windows', architecture: 'amd64', 'os.version': osVersion },
    });
    const entries = [
      windows('2022', '10.0.20348.2700'),
      windows('2019', '10.0.17763.6293'),
      windows('2025', '10.0.26100.1742'),
    ];
    expect(pick(entries, 'windows(10.0.17763)/amd64')).toEqual(['2019', 'windows(10.0.17763.6293)/amd64', false]);
    expect(pick(entries, 'windows/amd64')[0]).toBe('2025');
    expect(pick(entries, 'windows(10.0.20348)/amd64')[0]).toBe('2022');
    expect(() => pick(entries.slice(0, 1), 'windows(10.0.17763)/amd64')).toThrow(
      /no manifest for platform windows\(10\.0\.17763\)\/amd64/,
    );
  });
});

/** The platforms of a choice that is a list, formatted. */
function listed(choice: ReturnType<typeof wantedPlatforms>): string[] {
  if (choice === 'all') throw new Error('not a list');
  return choice.map(formatPlatform);
}

describe('wantedPlatforms: several platforms, or all', () => {
  test('a comma-separated list, a list, all; a platform named twice (once normalized) counts once', () => {
    expect(wantedPlatforms('all')).toBe('all');
    expect(listed(wantedPlatforms('linux/amd64,linux/arm64/v8, linux/aarch64'))).toEqual([
      'linux/amd64',
      'linux/arm64',
    ]);
    expect(listed(wantedPlatforms(['linux/arm/v7', { os: 'linux', architecture: 'x86_64' }]))).toEqual([
      'linux/arm/v7',
      'linux/amd64',
    ]);
    expect(wantedPlatforms('linux/riscv64')).toEqual([{ os: 'linux', architecture: 'riscv64' }]);
  });

  test('an empty entry or an empty list is a usage error', () => {
    expect(() => wantedPlatforms('linux/amd64,')).toThrow(FrozenError);
    expect(() => wantedPlatforms([])).toThrow(/names no platform/);
  });
});

import { describe, expect, test } from 'vitest';
import {
  defaultPlatform,
  formatPlatform,
  parsePlatform,
  selectPlatform,
  type IndexEntry,
} from '../../src/platform/index.js';

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
    expect(selectPlatform(index, parsePlatform('linux/amd64')).digest).toBe('amd64');
    expect(selectPlatform(index, parsePlatform('windows/amd64')).digest).toBe('win');
    expect(selectPlatform(index, parsePlatform('linux/arm64')).digest).toBe('arm64');
    expect(selectPlatform(index, parsePlatform('linux/arm/v7')).digest).toBe('armv7');
    expect(selectPlatform(index, parsePlatform('linux/arm/v6')).digest).toBe('armv6');
  });

  test('the best compatible variant wins regardless of index order', () => {
    const reordered = [entry('v5', 'linux', 'arm', 'v5'), entry('v6', 'linux', 'arm', 'v6')];
    expect(selectPlatform(reordered, parsePlatform('linux/arm/v7')).digest).toBe('v6');
    expect(selectPlatform([entry('plain', 'linux', 'amd64')], parsePlatform('linux/amd64/v3')).digest).toBe('plain');
    expect(selectPlatform([entry('a', 'linux', 'arm64')], parsePlatform('linux/arm64/v8')).digest).toBe('a');
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

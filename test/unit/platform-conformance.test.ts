import { describe, expect, test } from 'vitest';
import {
  formatPlatform,
  formatShort,
  only,
  onlyStrict,
  ordered,
  parseSpecifier,
  platformMatcher,
  type MatchComparer,
  type Platform,
} from '../../src/platform/index.js';
import { windowsHostRuns, windowsLess } from '../../src/platform/match.js';
import {
  compareOSFeatures,
  formatAllEncoding,
  onlyMatches,
  onlyStrictMatches,
  parseSelector,
  parseSelectorInvalid,
  windowsAbiCheck,
  windowsPlatformCompat,
  windowsPlatformOrder,
  type GoPlatform,
  type GoValue,
} from './vectors/containerd-platforms.js';

/**
 * frozen's platforms against containerd/platforms' own test tables (test/unit/vectors/containerd-platforms.ts): one
 * vitest case per upstream case, named by upstream file and test function. The host of these cases is a
 * linux/amd64 one, as containerd's own CI runs them (defaultOS, defaultArch, defaultVariant).
 */
const HOST = { os: 'linux', architecture: 'amd64' } as const;
const GO_VARIABLES: Record<string, string> = { defaultOS: HOST.os, defaultArch: HOST.architecture, defaultVariant: '' };
const parse = (text: string) => parseSpecifier(text, HOST);

/** A Go expression of the tables, evaluated: a variable of the test, or path.Join (empty parts dropped). */
function evaluate(value: GoValue): string {
  if (typeof value === 'string') return value;
  if ('$' in value) return GO_VARIABLES[value.$]!;
  return value.args.map(evaluate).filter(Boolean).join('/');
}

function resolved(p: GoPlatform): Platform {
  const entries = Object.entries(p).map(([key, value]) => [
    key,
    typeof value === 'object' && value !== null && '$' in value ? evaluate(value as GoValue) : value,
  ]);
  return Object.fromEntries(entries.filter(([, value]) => value !== ''));
}

describe('platforms_test.go TestParseSelector', () => {
  test.each(parseSelector.filter((c) => !c.skip))('$input', (c) => {
    const p = parse(c.input);
    expect(p).toEqual(resolved(c.expected));
    const matcher = platformMatcher(p);
    for (const other of [resolved(c.expected), ...c.matches]) expect(matcher(other), JSON.stringify(other)).toBe(true);
    const format = c.useV2Format ? formatPlatform : formatShort;
    const formatted = format(p);
    expect(formatted).toBe(evaluate(c.formatted));
    expect(format(parse(formatted))).toBe(formatted); // stable on a round trip
  });
  // Wildcards are skipped upstream ("not yet supported"): frozen refuses them.
  test.each(parseSelector.filter((c) => c.skip))('$input (skipped upstream; refused here)', (c) => {
    expect(() => parse(c.input)).toThrow(/wildcards are not supported/);
  });
});

describe('platforms_test.go TestFormatAllEncoding', () => {
  test.each(formatAllEncoding)('$expected', (c) => {
    expect(formatPlatform(c.platform)).toBe(c.expected);
    const reparsed = parse(c.expected);
    expect(reparsed.osVersion ?? '').toBe(c.platform.osVersion ?? '');
    expect(reparsed.osFeatures).toEqual(c.platform.osFeatures);
  });
});

describe('platforms_test.go TestParseSelectorInvalid', () => {
  test.each(parseSelectorInvalid)('%j', (input) => {
    expect(() => parse(input)).toThrow(/^invalid platform/);
  });
});

test('platforms_test.go TestFormatAllSkipsEmptyOSFeatures', () => {
  const p = { os: 'linux', architecture: 'amd64', osFeatures: ['', 'gpu', '', 'simd'] };
  expect(formatPlatform(p)).toBe('linux(+gpu+simd)/amd64');
});

function expectMatches(comparer: MatchComparer, c: { match: readonly string[]; noMatch: readonly string[] }) {
  for (const text of c.match) expect(comparer.match(parse(text)), `${text} should match`).toBe(true);
  for (const text of c.noMatch) expect(comparer.match(parse(text)), `${text} should not match`).toBe(false);
}

describe('compare_test.go TestOnly', () => {
  test.each(onlyMatches)('$platform', (c) => expectMatches(only(parse(c.platform)), c));
});

describe('compare_test.go TestOnlyStrict', () => {
  test.each(onlyStrictMatches)('$platform', (c) => expectMatches(onlyStrict(parse(c.platform)), c));
});

/** Go's sort.Slice with `less`; the tables' expectations hold for any sort (their orders are total on the cases). */
function sorted(platforms: readonly Platform[], less: (a: Platform, b: Platform) => boolean): Platform[] {
  return [...platforms].sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : 0));
}

describe('compare_test.go TestCompareOSFeatures', () => {
  const comparers: [string, (p: Platform) => MatchComparer][] = [
    ['only', only],
    ['only strict', onlyStrict],
    ['ordered', (p) => ordered([p])],
  ];
  for (const [name, comparer] of comparers) {
    test.each(compareOSFeatures)(`${name}: $platform`, (c) => {
      const order = sorted(c.platforms.map(parse), comparer(parse(c.platform)).less).map(formatPlatform);
      expect(order).toEqual(c.expected);
    });
  }
});

describe('platform_windows_compat_test.go Test_PlatformCompat', () => {
  test.each(windowsPlatformCompat)('Host_$hostBuild_Ctr_$containerBuild', (c) => {
    const version = (build: number) => ({ major: 10, minor: 0, build });
    expect(windowsHostRuns(version(c.hostBuild), version(c.containerBuild))).toBe(c.shouldRun);
  });
});

describe('platform_windows_compat_test.go Test_PlatformOrder', () => {
  test.each(windowsPlatformOrder)('$name', (c) => {
    const first = sorted(c.platforms, windowsLess(platformMatcher(c.host)))[0]!;
    expect([first.os, first.osVersion]).toEqual([c.want.os, c.want.osVersion]);
  });
});

describe('defaults_test.go TestMatchComparerMatch_ABICheckWCOW', () => {
  test.each(windowsAbiCheck)('host $host.osVersion, image $test.osVersion: $match', (c) => {
    expect(platformMatcher(c.host)(c.test)).toBe(c.match);
  });
});

test('defaults_test.go TestWindowsMatchComparerLess', () => {
  const windows = (osVersion?: string): Platform => ({
    os: 'windows',
    architecture: 'amd64',
    ...(osVersion && { osVersion }),
  });
  const platforms = ['10.0.17764.1', undefined, '10.0.17763.1', '10.0.17763.2', '10.0.17762.1'].map(windows);
  const expected = ['10.0.17763.2', '10.0.17763.1', undefined, '10.0.17764.1', '10.0.17762.1'].map(windows);
  expect(sorted(platforms, windowsLess(platformMatcher(windows('10.0.17763.1'))))).toEqual(expected);
});

test('platforms_windows_test.go TestFallbackOnOSVersion', () => {
  const p = { os: 'windows', architecture: 'amd64', osVersion: '99.99.99.99' };
  expect(platformMatcher(p)({ os: 'windows', architecture: 'amd64' })).toBe(true);
});

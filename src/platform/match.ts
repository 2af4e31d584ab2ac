/**
 * Which platforms run where, as containerd decides it (github.com/containerd/platforms, compare.go, platforms.go
 * and platform_windows_compat.go): `NewMatcher` (same OS, architecture and variant after normalizing; Windows OS
 * versions by build compatibility; OS features a subset), `Only` (the ordered vector of what a platform also runs:
 * amd64/vN → lower amd64 variants → 386; arm64/v9.x → v9.x down … → v8.x down → arm/v8 → v7 → v6 → v5; arm/vN →
 * lower arm variants), `OnlyStrict`, and the `Less` of its ordered comparer, which decides what an index offers
 * first.
 */
import { normalizePlatform, type Platform } from './parse.js';

/** A predicate over platforms, and an order that puts the ones it prefers first. */
export interface MatchComparer {
  readonly match: (p: Platform) => boolean;
  /** `a` is preferred to `b` (sort ascending with this). */
  readonly less: (a: Platform, b: Platform) => boolean;
}

/** containerd's `NewMatcher`: equality after normalizing, Windows builds by compatibility, features a subset. */
export function platformMatcher(wanted: Platform): (p: Platform) => boolean {
  const m = normalizePlatform(wanted);
  const osVersionMatches = m.os === 'windows' ? windowsVersionMatcher(m.osVersion ?? '') : () => true;
  return (given) => {
    // Older containerd ignored the win32k feature on Windows; it is still left out of the comparison.
    const p = m.os === 'windows' ? { ...given, osFeatures: given.osFeatures?.filter((f) => f !== 'win32k') } : given;
    const n = normalizePlatform(p);
    if (m.os !== n.os || m.architecture !== n.architecture || (m.variant ?? '') !== (n.variant ?? '')) return false;
    if (!osVersionMatches(p.osVersion ?? '')) return false;
    return isSubset(n.osFeatures ?? [], m.osFeatures ?? []);
  };
}

function isSubset(features: readonly string[], of: readonly string[]): boolean {
  return features.every((feature) => of.includes(feature));
}

/** containerd's `Only`: the platform and what it also runs, in order of preference. */
export function only(p: Platform): MatchComparer {
  return ordered(platformVector(normalizePlatform(p)));
}

/** containerd's `OnlyStrict`: the platform alone (normalized), no lesser variant or architecture. */
export function onlyStrict(p: Platform): MatchComparer {
  return ordered([normalizePlatform(p)]);
}

/** containerd's `Ordered`: matches any of the platforms, preferring them in the order given. */
export function ordered(platforms: readonly Platform[]): MatchComparer {
  const matchers = platforms.map(platformMatcher);
  const match = (p: Platform) => matchers.some((m) => m(p));
  const less = (a: Platform, b: Platform): boolean => {
    for (const m of matchers) {
      const [am, bm] = [m(a), m(b)];
      if (am && !bm) return true;
      // Both match this one: the one with more OS features is preferred.
      if (am && bm) return (a.osFeatures?.length ?? 0) > (b.osFeatures?.length ?? 0);
      if (bm) return false;
    }
    // Neither matches anything: compare them again without their features.
    if (a.osFeatures?.length || b.osFeatures?.length) return less(withoutFeatures(a), withoutFeatures(b));
    return false;
  };
  return { match, less };
}

function withoutFeatures(p: Platform): Platform {
  const { osFeatures: _dropped, ...rest } = p;
  return rest;
}

/** The arm64 variants and the v8 minors each v9 minor runs (compare.go's `arm64variantToVersion`). */
const ARM64_VERSIONS: Record<string, { major: number[]; minor: number[] }> = {
  ...Object.fromEntries(['v8', 'v8.0'].map((v) => [v, { major: [8], minor: [0] }])),
  ...Object.fromEntries([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => [`v8.${n}`, { major: [8], minor: [n] }])),
  ...Object.fromEntries(['v9', 'v9.0'].map((v) => [v, { major: [9, 8], minor: [0, 5] }])),
  ...Object.fromEntries(
    [1, 2, 3, 4, 5, 6, 7].map((n) => [`v9.${n}`, { major: [9, 8], minor: [n, Math.min(n + 5, 9)] }]),
  ),
};

/** compare.go's `platformVector`: the platform first, then what it also runs, best first. */
export function platformVector(p: Platform): Platform[] {
  const { os, osVersion, osFeatures } = p;
  const like = (architecture: string, variant?: string): Platform => ({
    os,
    architecture,
    ...(variant && { variant }),
    ...(osVersion && { osVersion }),
    ...(osFeatures && { osFeatures }),
  });
  const version = Number(/^v?(\d+)$/.exec(p.variant ?? '')?.[1] ?? NaN);
  switch (p.architecture) {
    case 'amd64': {
      const lower = version > 1 ? range(version - 1, 1).map((v) => like('amd64', `v${v}`)) : [];
      return [p, ...lower, like('386')];
    }
    case 'arm':
      return [p, ...(version > 5 ? range(version - 1, 5).map((v) => like('arm', `v${v}`)) : [])];
    case 'arm64':
      return arm64Vector(p.variant || 'v8', like);
    default:
      return [p];
  }
}

function arm64Vector(variant: string, like: (architecture: string, variant?: string) => Platform): Platform[] {
  const versions = ARM64_VERSIONS[variant];
  if (!versions) return []; // an arm64 variant containerd does not know matches nothing
  const arm64 = versions.major.flatMap((major, i) =>
    range(versions.minor[i]!, 0).map((minor) => like('arm64', minor === 0 ? `v${major}` : `v${major}.${minor}`)),
  );
  // Every arm64 v8.x and v9.x also runs 32-bit arm up to v8.
  return [...arm64, ...platformVector(like('arm', /^v[89]/.test(variant) ? 'v8' : variant))];
}

/** `from` down to `to`, both included. */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, from - to + 1) }, (_, i) => from - i);
}

/** Windows builds (platform_windows_compat.go). */
const LTSC2022 = 20348;
const LTSC2025 = 26100;
/** The LTSC releases whose containers later hosts run (the stable ABI), ascending. */
const COMPAT_LTSC_RELEASES = [LTSC2022, LTSC2025];

interface WindowsVersion {
  readonly major: number;
  readonly minor: number;
  readonly build: number;
}

/** `major.minor.build[.revision]`; anything else is no version (all zeros). */
export function windowsVersion(text: string): WindowsVersion {
  const none = { major: 0, minor: 0, build: 0 };
  const [major, minor, build] = text.split('.');
  if ((text.match(/\./g)?.length ?? 0) < 2) return none;
  const parsed = [major, minor, build].map((part) => (/^\d+$/.test(part ?? '') ? Number(part) : NaN));
  const [a, b, c] = parsed as [number, number, number];
  if (!(a <= 255 && b <= 255 && c <= 65535)) return none;
  return { major: a, minor: b, build: c };
}

/**
 * Whether a Windows host of version `host` runs a container of version `container`: the same major and minor; before
 * Windows Server 2022 the same build; since, any build from the LTSC before the host's (or 2022) up to its own.
 */
export function windowsHostRuns(host: WindowsVersion, container: WindowsVersion): boolean {
  if (host.major !== container.major || host.minor !== container.minor) return false;
  if (host.build < LTSC2022) return host.build === container.build;
  const supported = [...COMPAT_LTSC_RELEASES].reverse().find((release) => host.build > release) ?? LTSC2022;
  return supported <= container.build && container.build <= host.build;
}

/** A wanted Windows version matches every version its host runs; no version on either side matches anything. */
function windowsVersionMatcher(wanted: string): (version: string) => boolean {
  const host = windowsVersion(wanted);
  const empty = host.major === 0 && host.minor === 0 && host.build === 0;
  return (version) => empty || version === '' || windowsHostRuns(host, windowsVersion(version));
}

/**
 * The order Docker on Windows picks in (containerd's `windowsMatchComparer`): what matches first, and among
 * matches the higher OS version (compared as text, as containerd does).
 */
export function windowsLess(matches: (p: Platform) => boolean): (a: Platform, b: Platform) => boolean {
  return (a, b) => {
    const [am, bm] = [matches(a), matches(b)];
    if (am && bm) return (a.osVersion ?? '') > (b.osVersion ?? '');
    return am && !bm;
  };
}

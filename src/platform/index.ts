/**
 * Platforms, as containerd parses, normalizes, matches and picks them (parse.ts, match.ts, select.ts), and which
 * one a pull wants: the one given, else Docker's build arguments, else this host.
 */
import { release } from 'node:os';
import { FrozenError } from '../errors.js';
import { only } from './match.js';
import { formatPlatform, normalizePlatform, parseSpecifier, type HostPlatform, type Platform } from './parse.js';
import { declaredPlatform } from './select.js';

export { formatPlatform, formatShort, normalizePlatform, parseSpecifier, type Platform } from './parse.js';
export { only, onlyStrict, ordered, platformMatcher, type MatchComparer } from './match.js';
export { declaredPlatform, selectPlatform, type IndexEntry, type PickedEntry } from './select.js';

/**
 * Parses a platform specifier (`--platform`, `TARGETPLATFORM`) as containerd's `Parse` does and normalizes it:
 * `linux/arm64`, `linux/arm/v7`, `windows(10.0.17763)/amd64`, or one part alone (`linux`, `arm64`), which borrows
 * the rest from this host.
 *
 * @throws {FrozenError} `usage` for one that is malformed, in one line that says why.
 */
export function parsePlatform(text: string): Platform {
  return normalizePlatform(parseSpecifier(text.trim(), hostPlatform()), hostOs());
}

/** The platform an option names (specifier text, or already parsed), else the default one. */
export function wantedPlatform(option: string | Platform | undefined): Platform {
  if (typeof option === 'string') return parsePlatform(option);
  return option ? normalizePlatform(option, hostOs()) : defaultPlatform();
}

/** What a `platform` option may be: one specifier or Platform, several (a list, or text with commas), or `all`. */
export type PlatformOption = string | Platform | readonly (string | Platform)[];

/** The platforms a pull wants: one or more (an image for each that an index offers), or every one it offers. */
export type PlatformChoice = readonly [Platform, ...Platform[]] | 'all';

/**
 * The platforms an option names: `all`, a comma-separated list (`linux/amd64,linux/arm64`), a list, or one (the
 * default one when none is given). A platform named twice counts once.
 *
 * @throws {FrozenError} `usage` for a malformed specifier, or an empty list.
 */
export function wantedPlatforms(option: PlatformOption | undefined): PlatformChoice {
  if (typeof option === 'string' && option.trim() === 'all') return 'all';
  const items = typeof option === 'string' ? option.split(',') : Array.isArray(option) ? option : [option];
  const parsed = (items as (string | Platform | undefined)[]).map((item) => wantedPlatform(item));
  const distinct = parsed.filter((p, i) => parsed.findIndex((q) => formatPlatform(q) === formatPlatform(p)) === i);
  if (distinct.length === 0) throw new FrozenError('usage', 'platform: the list names no platform');
  return distinct as [Platform, ...Platform[]];
}

/**
 * The platform to pull when none is given: Docker's build arguments when set (so `RUN frozen pull` in a
 * Dockerfile follows `--platform` of the build), else the host (with its OS version on Windows, as containerd's
 * default). Images are Linux images unless the host is Windows.
 */
export function defaultPlatform(env: NodeJS.ProcessEnv = process.env): Platform {
  if (env.TARGETPLATFORM) return parsePlatform(env.TARGETPLATFORM);
  const os = env.TARGETOS || hostOs();
  if (env.TARGETARCH) {
    return normalizePlatform({
      os,
      architecture: env.TARGETARCH,
      ...(env.TARGETVARIANT && { variant: env.TARGETVARIANT }),
    });
  }
  const osVersion = os === 'windows' && process.platform === 'win32' ? release() : undefined;
  return normalizePlatform({ ...hostPlatform(), os, ...(osVersion && { osVersion }) });
}

/** Images are Linux images unless the host is Windows. */
function hostOs(): string {
  return process.platform === 'win32' ? 'windows' : 'linux';
}

/** This host as containerd's `runtime.GOOS`/`GOARCH` and `cpuVariant()` name it. */
function hostPlatform(): HostPlatform {
  const armVersion = (process.config.variables as { arm_version?: string }).arm_version;
  const os = hostOs();
  switch (process.arch) {
    case 'x64':
      return { os, architecture: 'amd64' };
    case 'ia32':
      return { os, architecture: '386' };
    case 'arm':
      return { os, architecture: 'arm', ...(armVersion && { variant: `v${armVersion}` }) };
    case 'arm64':
      return { os, architecture: 'arm64' };
    default:
      return { os, architecture: process.arch };
  }
}

/** The platform an image config names (`os`, `architecture`, `variant`, `os.version`), normalized, if it names one. */
export function configPlatform(config: unknown): Platform | undefined {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return undefined;
  const declared = declaredPlatform(config as Record<string, unknown>);
  return declared && normalizePlatform(declared);
}

/** Whether an image of platform `offered` runs where `want` is asked for (containerd's `Only(want).Match`). */
export function platformMatches(offered: Platform, want: Platform): boolean {
  return only(want).match(offered);
}

/**
 * Picking an image from an index, as containerd does when it pulls one platform (`FilterPlatforms` with `Only`,
 * then `LimitManifests`: the entries sorted by the comparer's `Less`, stably, and the first taken): an exact match
 * always beats a fallback, and among equals the index's order decides. For Windows, among matching builds the
 * newer wins (containerd's Windows comparer, which Docker on Windows uses).
 */
import { FrozenError } from '../errors.js';
import { only, platformMatcher, windowsLess } from './match.js';
import { formatPlatform, normalizePlatform, type Platform } from './parse.js';

/** A descriptor as it appears in an index's `manifests` array (only the fields platform matching needs). */
export interface IndexEntry {
  readonly digest: string;
  readonly mediaType?: string;
  /** The entry's platform as the JSON gives it (`os.version` and `os.features` keys included). */
  readonly platform?: Readonly<Record<string, unknown>>;
  readonly annotations?: Record<string, string>;
}

/** The entry picked for a wanted platform, and whether it is that platform or only one the platform also runs. */
export interface PickedEntry<T> {
  readonly entry: T;
  /** The entry's platform, normalized and formatted (`linux/arm/v7`). */
  readonly platform: string;
  /** It is another platform than the one wanted (arm/v7 for arm64, 386 for amd64, an older variant). */
  readonly fallback: boolean;
}

/** The platform an index entry (or an image config) declares, when it declares one of strings. */
export function declaredPlatform(raw: Readonly<Record<string, unknown>> | undefined): Platform | undefined {
  const text = (key: string) => (typeof raw?.[key] === 'string' ? raw[key] : '');
  const [os, architecture, variant, osVersion] = ['os', 'architecture', 'variant', 'os.version'].map(text);
  if (!os || !architecture) return undefined;
  const features = Array.isArray(raw?.['os.features']) ? raw['os.features'].filter((f) => typeof f === 'string') : [];
  return {
    os,
    architecture,
    ...(variant && { variant }),
    ...(osVersion && { osVersion }),
    ...(features.length > 0 && { osFeatures: features }),
  };
}

/**
 * Picks the index entry for `want`, or throws a platform error listing what the index offers. Attestation
 * manifests (`unknown/unknown`, or Docker's reference-type annotation) are never picked.
 */
export function selectPlatform<T extends IndexEntry>(entries: readonly T[], want: Platform): PickedEntry<T> {
  const candidates = entries.flatMap((entry) => {
    const platform = isImageEntry(entry) ? declaredPlatform(entry.platform) : undefined;
    return platform ? [{ entry, platform }] : [];
  });
  const comparer = only(want);
  const newerBuild = windowsLess(comparer.match);
  const before = (a: Platform, b: Platform) =>
    comparer.less(a, b) || (want.os === 'windows' && !comparer.less(b, a) && newerBuild(a, b));
  const best = candidates
    .filter((c) => comparer.match(c.platform))
    .sort((a, b) => (before(a.platform, b.platform) ? -1 : before(b.platform, a.platform) ? 1 : 0))[0];
  if (best) {
    const fallback = !platformMatcher(want)(best.platform);
    return { entry: best.entry, platform: formatPlatform(normalizePlatform(best.platform)), fallback };
  }
  const offered = candidates.map((c) => formatPlatform(normalizePlatform(c.platform)));
  throw new FrozenError(
    'platform',
    `no manifest for platform ${formatPlatform(want)}; the index offers ${offered.length ? offered.join(', ') : 'no platforms'}`,
  );
}

function isImageEntry(entry: IndexEntry): boolean {
  const { os, architecture } = entry.platform ?? {};
  if (os === 'unknown' || architecture === 'unknown') return false;
  return entry.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest';
}

/** Platforms: parsed and normalized as containerd does, the default one, and the pick from an index. */
import { FrozenError } from '../errors.js';

/** An OCI platform, normalized the way containerd's `platforms.Normalize` does. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** A platform as `os/architecture[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * Parses `os/arch[/variant]` (as given to `--platform` or in `TARGETPLATFORM`) and normalizes it. As in containerd's
 * `platforms.Parse`, one part alone is an OS (with this host's architecture) when it names one, else an
 * architecture (for this host's OS family): `--platform linux`, `--platform arm64`.
 */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.length > 3 || parts.some((part) => !/^[a-z0-9._-]+$/.test(part))) {
    throw new FrozenError('usage', `invalid platform "${text}": want os/arch[/variant]`);
  }
  if (parts.length === 1) return parseSinglePart(parts[0]!, text);
  const [os, architecture, variant] = parts as [string, string, string?];
  return normalizePlatform({ os, architecture, ...(variant && { variant }) });
}

const KNOWN_OSES = new Set([
  'aix',
  'android',
  'darwin',
  'macos',
  'dragonfly',
  'freebsd',
  'hurd',
  'illumos',
  'ios',
  'js',
  'linux',
  'netbsd',
  'openbsd',
  'plan9',
  'solaris',
  'wasip1',
  'windows',
  'zos',
]);
const KNOWN_ARCHITECTURES = new Set([
  '386',
  'i386',
  'i686',
  'amd64',
  'x86_64',
  'x86-64',
  'arm',
  'armhf',
  'armel',
  'arm64',
  'aarch64',
  'loong64',
  'mips',
  'mipsle',
  'mips64',
  'mips64le',
  'ppc64',
  'ppc64le',
  'riscv64',
  's390x',
  'wasm',
]);

function parseSinglePart(part: string, text: string): Platform {
  if (KNOWN_OSES.has(part)) return normalizePlatform({ os: part, ...hostArchitecture() });
  if (KNOWN_ARCHITECTURES.has(part)) return normalizePlatform({ os: hostOs(), architecture: part });
  throw new FrozenError(
    'usage',
    `invalid platform "${text}": want os/arch[/variant], or a known os or architecture alone`,
  );
}

/** Images are Linux images unless the host is Windows. */
function hostOs(): string {
  return process.platform === 'win32' ? 'windows' : 'linux';
}

/** A platform with its architecture and variant in their normal forms (`aarch64` → `arm64`, …). */
export function normalizePlatform(p: Platform): Platform {
  const os = normalizeOs(p.os);
  const { architecture, variant } = normalizeArch(p.architecture.toLowerCase(), p.variant?.toLowerCase() ?? '');
  return { os, architecture, ...(variant && { variant }) };
}

function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

function normalizeArch(arch: string, variant: string): { architecture: string; variant: string } {
  switch (arch) {
    case 'i386':
    case 'i686':
      return { architecture: '386', variant: '' };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: variant === 'v1' ? '' : variant };
    case 'aarch64':
    case 'arm64':
      return { architecture: 'arm64', variant: variant === 'v8' || variant === '8' ? '' : variant };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      return { architecture: 'arm', variant: /^[5-8]$/.test(variant) ? `v${variant}` : variant || 'v7' };
    default:
      return { architecture: arch, variant };
  }
}

/** The platform an option names (`os/arch[/variant]` text, or already parsed), else the default one. */
export function wantedPlatform(option: string | Platform | undefined): Platform {
  return typeof option === 'string' ? parsePlatform(option) : (option ?? defaultPlatform());
}

/**
 * The platform to pull when none is given: Docker's build arguments when set (so `RUN frozen pull` in a
 * Dockerfile follows `--platform` of the build), else the host. Images are Linux images unless the host is Windows.
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
  return normalizePlatform({ os, ...hostArchitecture() });
}

function hostArchitecture(): { architecture: string; variant?: string } {
  const armVersion = (process.config.variables as { arm_version?: string }).arm_version;
  switch (process.arch) {
    case 'x64':
      return { architecture: 'amd64' };
    case 'ia32':
      return { architecture: '386' };
    case 'arm':
      return { architecture: 'arm', ...(armVersion && { variant: `v${armVersion}` }) };
    case 'ppc64':
      return { architecture: 'ppc64le' };
    default:
      return { architecture: process.arch };
  }
}

/**
 * Variants a platform can run, best first: the exact variant, then older ones (containerd's platform vector).
 * An empty string stands for "no variant given".
 */
function compatibleVariants(p: Platform): string[] {
  const variant = p.variant ?? '';
  const versionOf = (prefix: string, fallback: number): number => {
    const match = new RegExp(`^${prefix}(\\d+)$`).exec(variant);
    return match ? Number(match[1]) : fallback;
  };
  switch (p.architecture) {
    case 'arm': {
      const list: string[] = [];
      for (let v = versionOf('v', 7); v >= 5; v--) list.push(`v${v}`);
      return list.length > 0 ? list : [variant];
    }
    case 'amd64': {
      const list: string[] = [];
      for (let v = versionOf('v', 1); v >= 2; v--) list.push(`v${v}`);
      return [...list, ''];
    }
    case 'arm64':
      return variant === '' ? [''] : [variant, ''];
    default:
      return [variant];
  }
}

/** A descriptor as it appears in an index's `manifests` array (only the fields platform matching needs). */
export interface IndexEntry {
  readonly digest: string;
  readonly mediaType?: string;
  readonly platform?: { os?: string; architecture?: string; variant?: string };
  readonly annotations?: Record<string, string>;
}

/**
 * Picks the index entry for `want`: `os` and `architecture` must match, the best compatible variant wins, and among
 * equals the first in index order. Attestation manifests (`unknown/unknown`, or the Docker reference-type annotation)
 * never match. Throws a platform error listing what the index offers.
 */
export function selectPlatform<T extends IndexEntry>(entries: readonly T[], want: Platform): T {
  const candidates = entries.filter((entry) => isImageEntry(entry));
  let best: { entry: T; rank: number } | undefined;
  for (const entry of candidates) {
    const rank = matchRank(entry.platform as Platform, want);
    if (rank >= 0 && (best === undefined || rank < best.rank)) best = { entry, rank };
  }
  if (best) return best.entry;
  const offeredList = candidates.map((entry) => formatPlatform(normalizePlatform(entry.platform as Platform)));
  throw new FrozenError(
    'platform',
    `no manifest for platform ${formatPlatform(want)}; the index offers ${offeredList.length ? offeredList.join(', ') : 'no platforms'}`,
  );
}

/** The platform an image config names (`os`, `architecture`, `variant`), normalized; undefined when it names none. */
export function configPlatform(config: unknown): Platform | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  const { os, architecture, variant } = config as { os?: unknown; architecture?: unknown; variant?: unknown };
  if (typeof os !== 'string' || typeof architecture !== 'string' || !os || !architecture) return undefined;
  return normalizePlatform({ os, architecture, ...(typeof variant === 'string' && variant && { variant }) });
}

/** Whether an image of platform `offered` runs where `want` is asked for (same os and architecture, a compatible variant). */
export function platformMatches(offered: Platform, want: Platform): boolean {
  return matchRank(offered, want) >= 0;
}

/** How well `offered` suits `want`: 0 is best, -1 is no match. */
function matchRank(given: Platform, want: Platform): number {
  const offered = normalizePlatform(given);
  if (offered.os !== want.os || offered.architecture !== want.architecture) return -1;
  return compatibleVariants(want).indexOf(offered.variant ?? '');
}

function isImageEntry(entry: IndexEntry): boolean {
  const platform = entry.platform;
  if (!platform?.os || !platform.architecture) return false;
  if (platform.os === 'unknown' || platform.architecture === 'unknown') return false;
  return entry.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest';
}

/**
 * Platform specifiers as containerd reads and writes them (github.com/containerd/platforms, platforms.go and
 * database.go): `Parse`, `Format`/`FormatAll` and `Normalize`, including the `os(version+feature…)/arch/variant`
 * syntax with its percent-encoding and every architecture alias containerd knows. Pure: the host's OS and
 * architecture come in as arguments.
 */
import { FrozenError } from '../errors.js';

/** An OCI platform. `osVersion` and `osFeatures` matter for Windows images (and features for any OS). */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly osVersion?: string;
  readonly osFeatures?: readonly string[];
}

/** What a one-part specifier borrows from the host: `linux` takes its architecture, `arm64` its OS. */
export interface HostPlatform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

const SPECIFIER = /^[A-Za-z0-9_.-]+$/;
const OS_OPTIONS = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?$/;

const KNOWN_OSES = new Set(
  'aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris windows zos'.split(
    ' ',
  ),
);
const KNOWN_ARCHITECTURES = new Set(
  (
    '386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 mips64le mips64p32 ' +
    'mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm'
  ).split(' '),
);

/**
 * containerd's `Parse`: `<os>[(<version>[+<feature>]…)]`, `<arch>`, or `<os>[(…)]/<arch>[/<variant>]`. One part
 * alone is an OS when it names one (with the host's architecture), else an architecture (with the host's OS).
 * The result keeps what was written (`linux/arm64/v8` stays v8); `normalizePlatform` gives the canonical form.
 */
export function parseSpecifier(specifier: string, host: HostPlatform): Platform {
  const invalid = (why: string) => new FrozenError('usage', `invalid platform "${specifier}": ${why}`);
  if (specifier.includes('*')) throw invalid('wildcards are not supported');
  const parts = splitN(specifier, '/', 4);
  const osOptions = OS_OPTIONS.exec(parts[0]!);
  if (!osOptions) throw invalid(`"${parts[0]}" is not an OS, or an OS(version+features)`);
  for (const part of parts.slice(1)) {
    if (!SPECIFIER.test(part)) throw invalid(`"${part}" is not an architecture or variant`);
  }
  const os = normalizeOs(osOptions[1]!, host);
  const osVersion = decodeOsOption(osOptions[2] ?? '', invalid);
  const osFeatures = parseOsFeatures((osOptions[3] ?? '').slice(1), invalid);
  const osPart: Platform = { os, architecture: '', ...(osVersion && { osVersion }), ...(osFeatures && { osFeatures }) };
  switch (parts.length) {
    case 1:
      return singlePart(osPart, parts[0]!, host, invalid);
    case 2: {
      const arch = normalizeArch(parts[1]!, '');
      return withArch(
        osPart,
        arch.architecture,
        arch.architecture === 'arm' && arch.variant === 'v7' ? '' : arch.variant,
      );
    }
    case 3: {
      const arch = normalizeArch(parts[1]!, parts[2]!);
      return withArch(osPart, arch.architecture, arch.architecture === 'arm64' && !arch.variant ? 'v8' : arch.variant);
    }
    default:
      throw invalid('want os/arch[/variant]');
  }
}

function singlePart(osPart: Platform, part: string, host: HostPlatform, invalid: (why: string) => Error): Platform {
  if (KNOWN_OSES.has(osPart.os)) {
    const variant = host.architecture === 'arm' && host.variant !== 'v7' ? (host.variant ?? '') : '';
    return withArch(osPart, host.architecture, variant);
  }
  const arch = normalizeArch(part, '');
  if (!KNOWN_ARCHITECTURES.has(arch.architecture)) throw invalid('not a known operating system or architecture');
  return withArch(
    { os: host.os, architecture: '' },
    arch.architecture,
    arch.architecture === 'arm' && arch.variant === 'v7' ? '' : arch.variant,
  );
}

function withArch(p: Platform, architecture: string, variant: string): Platform {
  return { ...p, architecture, ...(variant ? { variant } : {}) };
}

/** Go's `strings.SplitN`: at most `n` parts, the last one holding the rest. */
function splitN(text: string, separator: string, n: number): string[] {
  const parts = text.split(separator);
  return parts.length <= n ? parts : [...parts.slice(0, n - 1), parts.slice(n - 1).join(separator)];
}

function parseOsFeatures(text: string, invalid: (why: string) => Error): string[] | undefined {
  if (text === '') return undefined;
  const features: string[] = [];
  for (const raw of text.split('+')) {
    const trimmed = raw.trim();
    if (trimmed === '') throw invalid('an empty OS feature');
    const feature = decodeOsOption(trimmed, invalid);
    if (feature !== '') features.push(feature);
  }
  return features.length > 0 ? features : undefined;
}

function decodeOsOption(value: string, invalid: (why: string) => Error): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalid(`"${value}" is not valid percent-encoding`);
  }
}

/** Characters of OS versions and features that the specifier syntax uses, percent-encoded (`%` first). */
function encodeOsOption(value: string): string {
  return value.replace(/[%+()/]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** containerd's `Format`: `os/architecture[/variant]`. */
export function formatShort(p: Platform): string {
  if (!p.os) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** containerd's `FormatAll`: `Format`, with `(version+features)` after the OS when it has either. */
export function formatPlatform(p: Platform): string {
  if (!p.os) return 'unknown';
  const version = encodeOsOption(p.osVersion ?? '');
  const features = [...new Set((p.osFeatures ?? []).filter(Boolean))].sort().map(encodeOsOption).join('+');
  const options = version || features ? `(${version}${features ? `+${features}` : ''})` : '';
  return [`${p.os}${options}`, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * containerd's `Normalize`: OS and architecture lower-cased and their aliases resolved (`macos` → `darwin`,
 * `aarch64` → `arm64`, `armhf` → `arm/v7`, …), the default variants spelled as containerd keeps them (`arm` → v7,
 * `arm64/v8` → none, `amd64/v1` → none), OS features sorted and each once. An empty OS is the host's.
 */
export function normalizePlatform(p: Platform, hostOs = 'linux'): Platform {
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  const features = p.osFeatures && [...new Set(p.osFeatures)].sort();
  return {
    os: normalizeOs(p.os, { os: hostOs }),
    architecture,
    ...(variant && { variant }),
    ...(p.osVersion && { osVersion: p.osVersion }),
    ...(features && features.length > 0 && { osFeatures: features }),
  };
}

function normalizeOs(os: string, host: { readonly os: string }): string {
  if (os === '') return host.os;
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

/** containerd's `normalizeArch`. */
export function normalizeArch(arch: string, variant: string): { architecture: string; variant: string } {
  const [a, v] = [arch.toLowerCase(), variant.toLowerCase()];
  switch (a) {
    case 'i386':
      return { architecture: '386', variant: '' };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: v === 'v1' ? '' : v };
    case 'aarch64':
    case 'arm64':
      return { architecture: 'arm64', variant: arm64Variant(v) };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      return { architecture: 'arm', variant: v === '' || v === '7' ? 'v7' : ['5', '6', '8'].includes(v) ? `v${v}` : v };
    default:
      return { architecture: a, variant: v };
  }
}

function arm64Variant(variant: string): string {
  if (['8', 'v8', 'v8.0'].includes(variant)) return '';
  if (['9', '9.0', 'v9.0'].includes(variant)) return 'v9';
  return variant;
}

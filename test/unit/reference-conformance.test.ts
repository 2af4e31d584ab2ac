import { describe, expect, test } from 'vitest';
import { FrozenError } from '../../src/errors.js';
import { canonicalReference, parseReference, type ImageReference } from '../../src/reference/index.js';
import {
  anyReference,
  invalidReferenceNames,
  invalidRemoteNames,
  normalizedSplitHostname,
  parseDockerRef,
  referenceParse,
  repositoryInfo,
  validReferenceNames,
  validRemoteNames,
} from './vectors/distribution-reference.js';

/**
 * frozen's references against distribution/reference's own test tables (test/unit/vectors/distribution-reference.ts),
 * one case per upstream case, named by upstream file and test function. frozen parses as `ParseNormalizedNamed`
 * does and, like `ParseDockerRef`, gives a reference with neither tag nor digest the tag `latest`. The deliberate
 * differences (docs/cli.md, "Image references") are the cases listed in DIFFERENCES, each checked to differ as
 * documented.
 */
const DIFFERENCES: Record<string, string> = {
  // frozen verifies sha512 digests too; the upstream tests run without a sha512 implementation linked in.
  [`validname@sha512:${'f'.repeat(128)}`]: 'accepted: sha512 digests are verified',
};

function named(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

function refused(input: string): FrozenError | undefined {
  try {
    parseReference(input);
    return undefined;
  } catch (error) {
    return error as FrozenError;
  }
}

describe('normalize_test.go TestValidateReferenceName', () => {
  test.each(validReferenceNames)('valid: %s', (name) => expect(refused(name)).toBeUndefined());
  test.each(invalidReferenceNames)('invalid: %s', (name) => expect(refused(name)?.kind).toBe('reference'));
});

describe('normalize_test.go TestValidateRemoteName', () => {
  test.each(validRemoteNames)('valid: %s', (name) => expect(refused(name)).toBeUndefined());
  test.each(invalidRemoteNames)('invalid: %s', (name) => expect(refused(name)?.kind).toBe('reference'));
});

describe('normalize_test.go TestParseRepositoryInfo', () => {
  const cases = repositoryInfo.flatMap((c) =>
    [c.FamiliarName, c.FullName, c.AmbiguousName].filter(Boolean).map((input) => ({ input, ...c })),
  );
  test.each(cases)('$input', (c) => {
    const ref = parseReference(c.input);
    expect([ref.familiarName, named(ref), ref.registry, ref.repository]).toEqual([
      c.FamiliarName,
      c.FullName,
      c.Domain,
      c.RemoteName,
    ]);
  });
});

describe('normalize_test.go TestParseAnyReference', () => {
  test.each(anyReference.filter((c) => !c.digestOnly))('$reference', (c) => {
    const withDefaultTag = /[:@][^/]*$/.test(c.equivalent.split('/').slice(1).join('/'))
      ? c.equivalent
      : `${c.equivalent}:latest`;
    expect(canonicalReference(parseReference(c.reference))).toBe(withDefaultTag);
  });
  // ParseAnyReference reads these as bare digests; frozen pulls names, and reads them as ParseNormalizedNamed does:
  // 64 hex alone is refused as ambiguous with an image ID, `sha256:<hex>` is the repository sha256 tagged <hex>.
  test.each(anyReference.filter((c) => c.digestOnly))('$reference (a bare digest upstream)', (c) => {
    if (!c.reference.includes(':')) {
      expect(refused(c.reference)?.kind).toBe('reference');
      return;
    }
    expect(canonicalReference(parseReference(c.reference))).toBe(`docker.io/library/${c.reference}`);
  });
});

describe('normalize_test.go TestNormalizedSplitHostname', () => {
  test.each(normalizedSplitHostname)('$input', (c) => {
    const ref = parseReference(c.input);
    expect([ref.registry, ref.repository]).toEqual([c.domain, c.path]);
  });
});

describe('normalize_test.go TestParseDockerRef', () => {
  test.each(parseDockerRef)('$name: $input', (c) => {
    const ref = parseReference(c.input);
    // ParseDockerRef drops the tag of `name:tag@digest`; frozen keeps it to name the image (RepoTags), and pulls
    // by the digest all the same.
    const expected = ref.digest && ref.tag ? c.expected.replace('@', `:${ref.tag}@`) : c.expected;
    expect(canonicalReference(ref)).toBe(expected);
  });
});

describe('reference_test.go TestReferenceParse', () => {
  test.each(referenceParse)('$input', (c) => {
    const error = refused(c.input);
    if (c.input in DIFFERENCES) {
      expect(error).toBeUndefined();
      return;
    }
    if (c.err !== null) {
      expect(error?.kind, `upstream: ${c.err}`).toBe('reference');
      return;
    }
    expect(error).toBeUndefined();
    const ref = parseReference(c.input);
    expect(ref.digest?.value ?? '').toBe(c.digest);
    expect(ref.tag ?? '').toBe(c.tag || (c.digest ? '' : 'latest'));
    // Parse does not normalize: its name is frozen's, less the docker.io/library/ frozen adds.
    const familiar = ref.registry === 'docker.io' ? ref.repository.replace(/^library\//, '') : named(ref);
    expect([familiar, `docker.io/${familiar}`, `docker.io/library/${familiar}`]).toContain(c.repository);
  });
});

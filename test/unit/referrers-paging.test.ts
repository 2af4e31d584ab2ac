import { describe, expect, test } from 'vitest';
import { parseDigest } from '../../src/digest.js';
import { nextPageQuery } from '../../src/registry/remote.js';

const digest = parseDigest(`sha256:${'a'.repeat(64)}`);

describe('the next page of a referrers listing (Link: <…>; rel="next", OCI distribution spec 1.1)', () => {
  test('a link to the same listing gives its query; relative or absolute, with or without quotes', () => {
    const path = `/v2/app/referrers/${digest.value}`;
    expect(nextPageQuery(`<${path}?n=10&last=sha256:b>; rel="next"`, digest)).toBe('?n=10&last=sha256:b');
    expect(nextPageQuery(`<https://registry.example${path}?n=2>; rel=next`, digest)).toBe('?n=2');
  });

  test('no link, another relation, another listing, or no query: no next page', () => {
    expect(nextPageQuery(undefined, digest)).toBeUndefined();
    expect(nextPageQuery(`</v2/app/referrers/${digest.value}?n=1>; rel="prev"`, digest)).toBeUndefined();
    expect(nextPageQuery(`</v2/app/referrers/sha256:${'b'.repeat(64)}?n=1>; rel="next"`, digest)).toBeUndefined();
    expect(nextPageQuery(`</v2/app/tags/list?n=1>; rel="next"`, digest)).toBeUndefined();
    expect(nextPageQuery(`</v2/app/referrers/${digest.value}>; rel="next"`, digest)).toBeUndefined();
  });
});

import { describe, expect, test } from 'vitest';
import { parseChallenges, parseCredentials } from '../../src/registry/auth.js';

describe('parseChallenges', () => {
  test('Docker Hub bearer challenge with a comma inside the quoted scope', () => {
    const header =
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"';
    expect(parseChallenges([header])).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:samalba/my-app:pull,push',
        },
      },
    ]);
  });

  test('scheme and parameter names are case-insensitive; values keep their case', () => {
    expect(parseChallenges(['BASIC Realm="Frozen Test"'])).toEqual([
      { scheme: 'basic', params: { realm: 'Frozen Test' } },
    ]);
  });

  test('several challenges in one header value, and unquoted token values', () => {
    const parsed = parseChallenges([
      'Basic realm="r1", Bearer realm="https://t.example/token", service=reg.example, error=invalid_token',
    ]);
    expect(parsed).toEqual([
      { scheme: 'basic', params: { realm: 'r1' } },
      {
        scheme: 'bearer',
        params: { realm: 'https://t.example/token', service: 'reg.example', error: 'invalid_token' },
      },
    ]);
  });

  test('several header instances', () => {
    const parsed = parseChallenges(['Negotiate', 'Bearer realm="x"']);
    expect(parsed.map((c) => c.scheme)).toEqual(['negotiate', 'bearer']);
  });

  test('backslash escapes inside quoted strings, and spaces around "="', () => {
    expect(parseChallenges(['Bearer realm = "a \\"quoted\\" realm", scope="x"'])).toEqual([
      { scheme: 'bearer', params: { realm: 'a "quoted" realm', scope: 'x' } },
    ]);
  });

  test('empty header', () => {
    expect(parseChallenges([''])).toEqual([]);
  });
});

describe('parseCredentials', () => {
  test('the password may contain colons', () => {
    expect(parseCredentials('user:pa:ss')).toEqual({ username: 'user', password: 'pa:ss' });
  });
  test('a missing user is an error', () => {
    expect(() => parseCredentials(':secret')).toThrow(/user:password/);
    expect(() => parseCredentials('nocolon')).toThrow(/user:password/);
  });
});

/**
 * Which keys must have signed an image before it is frozen: the keys given for every image (`verifyKeys`, the CLI's
 * `--verify-key`), and the keys frozen's config file requires for a registry or repository prefix, as containers'
 * policy.json does with `sigstoreSigned` and `keyPath`:
 *
 *     { "signatures": [{ "prefix": "registry.example.com/prod/", "keys": ["/etc/frozen/prod.pub"] }] }
 *
 * An image is written only if a signature by one of the keys that apply to it covers it; no key applies to an image
 * that no prefix names when no `verifyKeys` are given.
 */
import { readFile } from 'node:fs/promises';
import { FrozenError } from '../errors.js';
import { readConfigFile } from '../util/config-file.js';
import { trustedKey, type TrustedKey } from './cosign.js';

/** The keys that apply to each image. */
export interface SignaturePolicy {
  /** The keys one of which must have signed the image `registry/repository`; empty when none must. */
  keysFor(name: string): readonly TrustedKey[];
}

interface PrefixRule {
  readonly prefix: string;
  readonly keys: readonly TrustedKey[];
}

/**
 * Reads the keys given and the config file's `signatures` rules (every key file read and parsed now, so a wrong
 * one fails before any request).
 *
 * @throws {FrozenError} `usage` for a key file that cannot be read or holds no public key, or rules of the wrong shape.
 */
export async function loadSignaturePolicy(options: {
  readonly verifyKeys?: readonly string[] | undefined;
  readonly configFile?: string | undefined;
}): Promise<SignaturePolicy> {
  const everyImage = await Promise.all((options.verifyKeys ?? []).map(readKey));
  const rules = await prefixRules(options.configFile);
  return {
    keysFor: (name) => [
      ...everyImage,
      ...rules.filter((rule) => matchesPrefix(name, rule.prefix)).flatMap((rule) => rule.keys),
    ],
  };
}

/** `registry.example.com/prod/` names every repository below it; a prefix without `/` at its end, that name too. */
function matchesPrefix(name: string, prefix: string): boolean {
  return prefix.endsWith('/') ? name.startsWith(prefix) : name === prefix || name.startsWith(`${prefix}/`);
}

async function readKey(path: string): Promise<TrustedKey> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new FrozenError('usage', `cannot read the key ${path}: ${(error as Error).message}`);
  }
  return trustedKey(pem, path);
}

async function prefixRules(configFile: string | undefined): Promise<PrefixRule[]> {
  const { file, config } = await readConfigFile(configFile);
  const rules = (config as { signatures?: unknown } | undefined)?.signatures;
  if (rules === undefined) return [];
  const wrong = () =>
    new FrozenError('usage', `${file}: "signatures" must be a list of { "prefix": …, "keys": [key files] }`);
  if (!Array.isArray(rules)) throw wrong();
  return Promise.all(
    rules.map(async (rule: unknown) => {
      const { prefix, keys } = (typeof rule === 'object' && rule !== null ? rule : {}) as Record<string, unknown>;
      if (typeof prefix !== 'string' || !prefix || !Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) {
        throw wrong();
      }
      return { prefix, keys: await Promise.all((keys as string[]).map(readKey)) };
    }),
  );
}

/** JSON read from the network or from files, with errors that name what was read. */
import { readFile } from 'node:fs/promises';
import { FrozenError } from '../errors.js';

/** JSON from a registry (or a blob it served): text that does not parse is a protocol error naming `what`. */
export function parseJson(text: string | Uint8Array, what: string): unknown {
  try {
    return JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
  } catch {
    throw new FrozenError('protocol', `${what} is not valid JSON`);
  }
}

/**
 * Reads a JSON settings file. A file that is not there (or not readable, for default locations) is undefined
 * unless `required`; one that cannot be read or parsed otherwise is a usage error naming it.
 */
export async function readJsonFile(path: string, options: { required: boolean; what: string }): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (!options.required && ['ENOENT', 'EACCES', 'ENOTDIR'].includes(code)) return undefined;
    throw new FrozenError('usage', `cannot read ${options.what} ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new FrozenError('usage', `${options.what} ${path} is not valid JSON`);
  }
}

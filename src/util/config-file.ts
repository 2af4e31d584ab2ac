/** frozen's own config file (mirrors, signature policy): where it is, and its JSON. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readJsonFile } from './json-file.js';

/** The config file: the one given, else `$XDG_CONFIG_HOME/frozen/config.json` (`~/.config/frozen/config.json`). */
export function configFilePath(given: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return given ?? join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'frozen', 'config.json');
}

/** The config file's JSON: a default one that is not there is undefined; a file given must be readable JSON. */
export async function readConfigFile(
  given: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ file: string; config: unknown }> {
  const file = configFilePath(given, env);
  return { file, config: await readJsonFile(file, { required: given !== undefined, what: 'config file' }) };
}

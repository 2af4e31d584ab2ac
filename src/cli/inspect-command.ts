/** `frozen inspect`: what a reference names, as a table or JSON. */
import { Command } from 'commander';
import { inspect, type InspectResult } from '../inspect.js';
import { counted } from '../util/counted.js';
import { formatBytes } from './format.js';
import { requestLine } from './progress.js';
import { EXIT_OK, type Io } from './io.js';
import { addRegistryOptions, registryOptions, type RegistryFlags } from './registry-options.js';
import { reportError } from './report.js';

interface InspectFlags extends RegistryFlags {
  platform?: string;
  cache?: string | false;
  json?: boolean;
  debug?: boolean;
}

/** `frozen inspect REF`: the manifest, platforms, digests and sizes, verified, without downloading layers. */
export function inspectCommand(io: Io, setExitCode: (code: number) => void): Command {
  const command = new Command('inspect')
    .description(
      'show what an image reference names: digests, platforms, layers and sizes (only the config is downloaded)',
    )
    .argument('<image>', 'an image reference')
    .option('--platform <os/arch[/variant]>', 'which image of a multi-platform index to describe')
    .option(
      '--cache <dir>',
      "read manifests and the config from this blob cache, and keep manifests in it (default: pull's, if it exists)",
    )
    .option('--no-cache', 'ask the registry for everything');
  return addRegistryOptions(command)
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces with errors')
    .action(async (image: string, flags: InspectFlags) => {
      try {
        const result = await inspect({
          ...registryOptions(flags),
          image,
          ...(flags.platform && { platform: flags.platform }),
          ...(flags.cache !== undefined && { cache: flags.cache }),
          onEvent: (event) => io.stderr(`${requestLine(event)}\n`),
        });
        io.stdout(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatInspection(result));
        setExitCode(EXIT_OK);
      } catch (error) {
        setExitCode(reportError(error, io, flags.debug === true));
      }
    });
}

function formatInspection(result: InspectResult): string {
  const rows = [result.canonical, `  digest    ${result.digest} (${result.mediaType})`];
  for (const [i, entry] of (result.platforms ?? []).entries()) {
    rows.push(
      `  ${i === 0 ? 'platforms' : '         '} ${entry.platform.padEnd(14)} ${entry.digest} ${formatBytes(entry.size)}`,
    );
  }
  if (result.platform) {
    const fallback = result.platformFallback ? ` (the image has no ${result.platformFallback})` : '';
    rows.push(`  platform  ${result.platform}${fallback}`, `  manifest  ${result.manifestDigest}`);
  }
  if (!result.platform && result.configPlatform) {
    const mismatch = result.platformMismatch
      ? ` (not ${result.platformMismatch}, which was asked for: the image has no other platform)`
      : '';
    rows.push(`  platform  ${result.configPlatform}${mismatch}`);
  }
  rows.push(`  image ID  ${result.imageId}`);
  if (result.created) rows.push(`  created   ${result.created}`);
  for (const [i, layer] of result.layers.entries()) {
    rows.push(
      `  ${i === 0 ? 'layers   ' : '         '} ${layer.digest} ${formatBytes(layer.size).padStart(9)}  ${layer.mediaType}`,
    );
  }
  rows.push(
    `  size      ${formatBytes(result.size)} (${counted(result.layers.length, 'layer')})`,
    `  from      ${result.endpoint}`,
  );
  return `${rows.join('\n')}\n`;
}

/** `frozen verify`: an archive proved loadable, or its problems listed. */
import { Command } from 'commander';
import { counted } from '../util/counted.js';
import { EXIT_FAILED, EXIT_OK, type Io } from './io.js';
import { reportError } from './report.js';

/** `frozen verify PATH...`: is this directory or tar loadable, without a daemon? One line per problem. */
export function verifyCommand(io: Io, setExitCode: (code: number) => void): Command {
  return new Command('verify')
    .description(
      'check that a directory or tar is loadable by docker load: manifest.json, configs, every layer against its diff ID',
    )
    .argument('<path...>', 'output directories or docker-archive tars (plain or gzip)')
    .action(async (paths: string[]) => {
      let code = EXIT_OK;
      for (const path of paths) {
        try {
          // Loaded on use: it brings tar-stream, which the other commands' start-up need not pay for.
          const { verifyArchive } = await import('../verify.js');
          const result = await verifyArchive(path);
          // Problems of the whole archive name the path itself as their image: it is said once.
          const where = (image: string) => (image === path ? path : `${path}: ${image}`);
          for (const { image, message } of result.problems) io.stdout(`${where(image)}: ${message}\n`);
          for (const { image, message } of result.warnings) io.stdout(`${where(image)}: warning: ${message}\n`);
          if (result.problems.length === 0)
            io.stdout(`${path}: ok, ${counted(result.images, 'image')}, ${counted(result.layers, 'layer')} verified\n`);
          else code = Math.max(code, EXIT_FAILED);
        } catch (error) {
          code = Math.max(code, reportError(error, io, false));
        }
      }
      setExitCode(code);
    });
}

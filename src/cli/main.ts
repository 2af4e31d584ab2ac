/** The `frozen` command line: its commands, and how errors and help become exit codes. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { cacheCommand } from './cache-command.js';
import { EXIT_OK, EXIT_USAGE, processIo, type Io } from './io.js';
import { inspectCommand } from './inspect-command.js';
import { lockCommand } from './lock-command.js';
import { pullCommand } from './pull-command.js';
import { verifyCommand } from './verify-command.js';

/** Runs the `frozen` command line with `argv` (node's, script path included) and returns the exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let exitCode = EXIT_OK;
  const setExitCode = (code: number) => {
    exitCode = code;
  };
  const program = new Command('frozen')
    .description('Download container images from registries into docker-load-ready directories, no daemon needed.')
    .version(packageVersion(), '-V, --version')
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // One line per error, like every other failure: "frozen: error: …". Commander puts its suggestion ("Did you
      // mean pull?") on a line of its own.
      outputError: (text, write) => write(`frozen: ${text.trim().replace(/\s*\n\s*/g, ' ')} (see frozen --help)\n`),
    })
    .addCommand(pullCommand(io, setExitCode))
    .addCommand(cacheCommand(io, setExitCode))
    .addCommand(verifyCommand(io, setExitCode))
    .addCommand(inspectCommand(io, setExitCode))
    .addCommand(lockCommand(io, setExitCode));
  exitOverrideAll(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // Help and version "errors" are successes; everything else commander rejects is a usage error.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    throw error;
  }
  return exitCode;
}

/** Commander errors must come back to `main` from subcommands too, not exit the process. */
function exitOverrideAll(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) {
    sub.configureOutput(command.configureOutput());
    exitOverrideAll(sub);
  }
}

function packageVersion(): string {
  const url = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

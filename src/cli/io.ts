/** Where the CLI writes; tests pass their own. */
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stderr is a terminal (progress is redrawn in place only then). */
  readonly interactive: boolean;
  /** Whether stdout is a terminal (a tar is never written there). */
  readonly stdoutIsTerminal?: boolean;
  /**
   * Calls `handler` instead of ending the process when the reader of stdout goes away, until the returned function
   * is called: a command that can stop cleanly (a pull, which must not leave a half-made directory) does so.
   */
  readonly onStdoutClosed?: (handler: () => void) => () => void;
  /**
   * The size of the terminal stderr is, now (it can be resized); the live progress region fits in it. 0 for what
   * the terminal does not say: a pseudo-terminal nobody has sized (`script` writing to a pipe, `docker run -t` before
   * its first resize) reports 0 × 0.
   */
  readonly terminalSize?: () => TerminalSize;
}

export interface TerminalSize {
  readonly rows: number;
  readonly columns: number;
}

/** What a terminal that does not say its size is taken to be. */
export const DEFAULT_TERMINAL: TerminalSize = { rows: 24, columns: 80 };

let stdoutGuarded = false;
let stdoutClosedHandler: (() => void) | undefined;

export const processIo: Io = {
  stdout: writeStdout,
  onStdoutClosed: (handler) => {
    stdoutClosedHandler = handler;
    return () => {
      stdoutClosedHandler = undefined;
    };
  },
  stderr: (text) => process.stderr.write(text),
  interactive: process.stderr.isTTY === true,
  stdoutIsTerminal: process.stdout.isTTY === true,
  terminalSize: () => ({ rows: process.stderr.rows ?? 0, columns: process.stderr.columns ?? 0 }),
};

/** Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGPIPE, what the shell reports for a tool that SIGPIPE ended. */
export const EXIT_BROKEN_PIPE = 141;

/**
 * Node ignores SIGPIPE, so a reader that goes away (`frozen cache ls | head -1`) would end the process with an
 * unhandled EPIPE and a stack trace; it ends it as SIGPIPE ends other tools instead, or lets the command stop.
 * Set up on the first text written, so that it never stands in the way of `-o -`, which handles its own stream's
 * errors.
 */
function writeStdout(text: string): void {
  if (!stdoutGuarded) {
    stdoutGuarded = true;
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
      if (stdoutClosedHandler) stdoutClosedHandler();
      else process.exit(EXIT_BROKEN_PIPE);
    });
  }
  process.stdout.write(text);
}

/**
 * How the command line reports failures: `pyvision-rl: E_CODE: message` on
 * stderr, no stack unless --debug or PYVISION_RL_DEBUG is set. Exit codes:
 * 0 ok, 1 a runtime error, 2 a usage error (unknown command or option, a bad
 * flag value, a setting the config rejects).
 */
import { PyVisionError } from '../util/errors.js';

/** Where a command writes: process.stdout / stderr, or a test's buffers. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stdout is a terminal (progress bars) or not (plain lines). */
  isTTY?: boolean;
}

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

/** A mistake in how the command was called: exits 2. */
export class UsageError extends PyVisionError {
  constructor(message: string) {
    super('E_ARG', message);
    this.name = 'UsageError';
  }
}

/** Whether stacks are printed: --debug anywhere in the arguments, or PYVISION_RL_DEBUG set (not '' or '0'). */
export function debugEnabled(argv: readonly string[]): boolean {
  const env = process.env.PYVISION_RL_DEBUG;
  return argv.includes('--debug') || (env !== undefined && env !== '' && env !== '0');
}

/** The line printed for an error, and the exit code. */
export function describeFailure(error: unknown, debug: boolean): { text: string; exitCode: number } {
  const exitCode = error instanceof UsageError ? EXIT_USAGE : EXIT_RUNTIME;
  const code = error instanceof PyVisionError ? error.code : 'E_INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  let text = `pyvision-rl: ${code}: ${message}`;
  if (!(error instanceof PyVisionError) && !debug) text += ' (run with --debug for the stack)';
  if (debug && error instanceof Error && error.stack) text += `\n${error.stack}`;
  return { text, exitCode };
}

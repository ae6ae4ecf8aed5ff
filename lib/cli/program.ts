/**
 * The pyvision-rl command line (agent.md section 7), one file per command:
 *
 *   pyvision-rl train [--recipe pyvision-rl|grpo] [--config FILE.json] [--out DIR] [--seed N]
 *                     [--steps N] [--sft-steps N] [--resume] [setting flags]
 *   pyvision-rl eval --checkpoint DIR [--split test] [--max-turns 30] [--json]
 *   pyvision-rl report DIR [DIR ...]
 *   pyvision-rl experiment collapse|ablations [--seeds N] [--out DIR] [--quick]
 *   pyvision-rl doctor [--json]
 *
 * `runCli` returns the exit code (errors.ts: 0 ok, 1 runtime error, 2 usage error).
 */
import { Command, CommanderError } from 'commander';

import { packageVersion } from '../train/run.js';
import { doctorCommand } from './doctor.js';
import { debugEnabled, describeFailure, EXIT_OK, EXIT_USAGE, type CliIo } from './errors.js';
import { evalCommand } from './eval.js';
import { experimentCommand } from './experiment.js';
import { reportCommand } from './report.js';
import { trainCommand } from './train.js';
import { registerBuiltinWorlds } from './worlds.js';

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: Boolean(process.stdout.isTTY),
};

export type { CliIo };

export function buildProgram(io: CliIo = defaultIo): Command {
  registerBuiltinWorlds();
  const program = new Command('pyvision-rl')
    .description('Reinforcement learning for agentic vision policies (PyVision-RL): train, evaluate, report, experiments.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--debug', 'print the stack of an error (also: PYVISION_RL_DEBUG=1)')
    .showSuggestionAfterError(true)
    .addHelpText('after', '\nRun `pyvision-rl <command> --help` for the flags of a command.');
  for (const command of [trainCommand(io), evalCommand(io), reportCommand(io), experimentCommand(io), doctorCommand(io)]) {
    program.addCommand(command);
  }
  // every command: usage errors exit 2 through the one error format, no process.exit inside commander
  const configure = (command: Command): void => {
    command.exitOverride();
    command.configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      outputError: (text, write) => {
        const message = text.replace(/^error:\s*/, '').trimEnd();
        const name = command.name() === 'pyvision-rl' ? '' : ` ${command.name()}`;
        write(`pyvision-rl: E_ARG: ${message} (see 'pyvision-rl${name} --help')\n`);
      },
    });
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Runs the command line on argv (without node and the script); returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const debug = debugEnabled(argv);
  const program = buildProgram(io);
  if (argv.length === 0) {
    io.stdout(program.helpInformation());
    return EXIT_OK;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version are "errors" of commander that exit 0; the rest are usage errors, already printed
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT_OK;
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    const { text, exitCode } = describeFailure(error, debug);
    io.stderr(`${text}\n`);
    return exitCode;
  }
}

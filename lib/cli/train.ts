/**
 * `pyvision-rl train`: SFT cold start on the expert's trajectories, then the
 * RL steps of the chosen recipe, the final test evaluation, and report.html
 * in the run folder. With no arguments: the embedded default run (visual
 * search, SFT then pyvision-rl). Every setting of the config is a flag.
 */
import { Command } from 'commander';

import { ProgressSink, type ProgressStream } from '../metrics/progress.js';
import type { MetricsSink } from '../metrics/types.js';
import { mergeConfig } from '../train/config.js';
import { RECIPES } from '../train/recipes/index.js';
import { RunFolder } from '../train/run.js';
import { train } from '../train/trainer.js';
import { PyVisionError } from '../util/errors.js';
import { addConfigFlags, settingsFromFlags } from './config-flags.js';
import { UsageError, type CliIo } from './errors.js';

export function trainCommand(io: CliIo): Command {
  const command = new Command('train')
    .summary('train a policy: SFT, then RL with a recipe (pyvision-rl or grpo)')
    .description(
      'Trains an agentic vision policy: SFT cold start on the scripted expert, then RL steps of the recipe, then the test evaluation. Writes the run folder (--out): config.json, metrics.jsonl, TensorBoard event files, checkpoints/, samples/ and report.html. With no flags: the embedded default run.',
    )
    .option('--quiet', 'no progress bar or progress lines (errors and the final summary only)')
    .option('--no-report', 'do not write report.html at the end');
  addConfigFlags(command);
  command.addHelpText(
    'after',
    '\nExamples:\n  pyvision-rl train\n  pyvision-rl train --recipe grpo --steps 30 --out runs/grpo\n  pyvision-rl train --tool-reward 0 --out runs/no-tool-reward\n  pyvision-rl train --out runs/train --resume',
  );
  command.action(async () => {
    await runTrain(command, io);
  });
  return command;
}

async function runTrain(command: Command, io: CliIo): Promise<void> {
  const settings = settingsFromFlags(command);
  // Settings are checked before anything starts: a bad value is a usage error.
  let config;
  try {
    config = mergeConfig(settings, RECIPES);
  } catch (error) {
    if (error instanceof PyVisionError && error.code === 'E_ARG') throw new UsageError(error.message);
    throw error;
  }
  const quiet = Boolean(command.opts().quiet);
  // a terminal gets the bar (cli-progress drives the real stream); anything else plain lines through io
  const out: ProgressStream = io.isTTY ? process.stdout : { write: (text: string) => io.stdout(text), isTTY: false };
  let sftBar: ProgressSink | null = null;
  let rlBar: ProgressSink | null = null;
  const say = (line: string): void => {
    if (quiet) return;
    const bar = rlBar ?? sftBar;
    if (bar) bar.log(line);
    else out.write(`${line}\n`);
  };
  say(
    `pyvision-rl train: recipe ${config.recipe}, world ${config.world}, seed ${config.seed}, ${config.sftSteps} SFT steps, ${config.steps} RL steps` +
      `${config.outDir ? `, run folder ${config.outDir}` : ''}${config.resume ? ' (resuming)' : ''}`,
  );
  // the RL progress starts at the first RL step (after SFT), where a resumed run left off
  const resumeStep = config.resume && config.outDir ? (new RunFolder(config.outDir).latestCheckpoint()?.state.step ?? 0) : 0;
  const started = Date.now();
  const rlProgress: MetricsSink = {
    write: (step, record) => {
      if (quiet) return;
      // step 0 (the SFT checkpoint's validation) starts the RL clock; a resumed run's clock starts with the command
      rlBar ??= new ProgressSink({
        totalSteps: config.steps,
        startStep: resumeStep,
        label: 'rl',
        stream: out,
        every: Math.max(1, Math.ceil(config.steps / 20)),
        startedAt: step === 0 ? Date.now() : started,
      });
      if (step > 0) rlBar.write(step, record);
    },
    close: () => {
      rlBar?.close();
      rlBar = null;
    },
  };
  const result = await train(settings, {
    sinks: [rlProgress],
    onSftStep: (record) => {
      if (quiet) return;
      sftBar ??= new ProgressSink({
        totalSteps: config.sftSteps,
        label: 'sft',
        stream: out,
        every: Math.max(1, Math.ceil(config.sftSteps / 10)),
        columns: [
          { key: 'loss', label: 'loss', digits: 4 },
          { key: 'val/acc', label: 'val acc', digits: 3 },
        ],
      });
      sftBar.write(record.step, { loss: record.loss, ...(record.valAcc !== undefined ? { 'val/acc': record.valAcc } : {}) });
      if (record.step >= config.sftSteps) {
        sftBar.close();
        sftBar = null;
      }
    },
    log: say,
  });
  (sftBar as ProgressSink | null)?.close();
  const lines = [
    `done: ${result.steps} RL steps, ${result.rolloutTotal} trajectories sampled, ${(result.seconds / 60).toFixed(1)} min`,
  ];
  if (result.test) {
    lines.push(
      `test: acc ${result.test.acc.toFixed(3)} on ${result.test.n} tasks, tool calls ${result.test.tool_call_mean.toFixed(2)} per trajectory` +
        `${result.testNoTools ? `; with tools disabled acc ${result.testNoTools.acc.toFixed(3)}` : ''}`,
    );
  }
  if (result.outDir) {
    if (command.opts().report !== false) {
      const { writeReport } = await import('../report/report.js');
      const path = await writeReport([result.outDir]);
      lines.push(`report: ${path}`);
    }
    lines.push(`run folder: ${result.outDir}${result.checkpoint ? ` (checkpoint ${result.checkpoint})` : ''}`);
  }
  out.write(`${lines.join('\n')}\n`);
}

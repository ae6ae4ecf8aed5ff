/**
 * `pyvision-rl eval --checkpoint DIR`: the policy of a checkpoint evaluated on
 * a split (greedy, the evaluation turn budget), with the world and settings of
 * the run that wrote it. DIR is a checkpoint folder (policy.safetensors and
 * state.json) or a run folder (its latest checkpoint).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';

import type { TrainConfig } from '../train/config.js';
import type { EvalResult } from '../train/evaluate.js';
import { RunFolder } from '../train/run.js';
import { Trainer } from '../train/trainer.js';
import { PyVisionError } from '../util/errors.js';
import { parseJsonObject } from './config-flags.js';
import { UsageError, type CliIo } from './errors.js';

function positiveInt(flag: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--${flag} must be a positive integer, got '${raw}'`);
    return n;
  };
}

export function evalCommand(io: CliIo): Command {
  return new Command('eval')
    .summary("evaluate a checkpoint on a split (prints acc, tool calls, turns, end reasons, per question type)")
    .description(
      'Evaluates the policy of a checkpoint with the world and settings of its run: one greedy trajectory per task. --checkpoint is a checkpoint folder (policy.safetensors, state.json) or a run folder (its latest checkpoint).',
    )
    .requiredOption('--checkpoint <dir>', 'checkpoint folder, or run folder')
    .addOption(new Option('--split <name>', 'split to evaluate').choices(['test', 'val']).default('test'))
    .option('--max-turns <n>', 'turn budget per trajectory', positiveInt('max-turns'), 30)
    .option('--tasks <n>', "tasks to evaluate (default: the run's testTasks or valTasks)", positiveInt('tasks'))
    .option('--no-tools', 'evaluate with every tool call failing (the answer from the first view)')
    .option('--temperature <t>', 'sampling temperature (0: greedy)', (raw: string) => {
      const t = Number(raw);
      if (!Number.isFinite(t) || t < 0) throw new InvalidArgumentError(`--temperature must be a number >= 0, got '${raw}'`);
      return t;
    })
    .option('--world-options <json>', "the world's knobs, replacing the run's (e.g. '{\"firstViewShare\":0}' for the control world)", parseJsonObject('world-options'))
    .option('--json', 'print the result as JSON: { acc, tool_call_mean, turns_mean, visual_tokens_mean, end_reasons, n, per_type, ... }')
    .action(async (options: { checkpoint: string; split: 'test' | 'val'; maxTurns: number; tasks?: number; tools: boolean; temperature?: number; worldOptions?: Record<string, unknown>; json?: boolean }) => {
      const { policyFile, config } = resolveCheckpoint(options.checkpoint);
      const n = options.tasks ?? (options.split === 'val' ? config.valTasks : config.testTasks) ?? 200;
      const trainer = await Trainer.create({
        ...config,
        initCheckpoint: policyFile,
        sftSteps: 0,
        outDir: null,
        resume: false,
        // only the evaluated split's tasks are needed
        trainTasks: 1,
        valTasks: 0,
        evalMaxTurns: options.maxTurns,
        ...(options.temperature !== undefined ? { evalTemperature: options.temperature } : {}),
        ...(options.worldOptions !== undefined ? { worldOptions: options.worldOptions } : {}),
      });
      try {
        const result = await trainer.evaluate(options.split, { tasks: n, toolsDisabled: !options.tools });
        io.stdout(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatResult(result, options.checkpoint, options.split));
      } catch (error) {
        throw options.worldOptions === undefined ? withOldDefaultWorldHint(error, config) : error;
      } finally {
        await trainer.close();
      }
    });
}

/**
 * A run of the built-in visual-search world made before its defaults changed (2026-12-02: cue
 * 'region', 8-pixel patches) records `worldOptions` without those knobs, so its checkpoint no longer
 * fits the world they build: say how to evaluate it.
 */
function withOldDefaultWorldHint(error: unknown, config: TrainConfig): unknown {
  const knobs = (config.worldOptions ?? {}) as Record<string, unknown>;
  if (!(error instanceof PyVisionError) || !/patchDim/.test(error.message) || config.world !== 'visual-search' || 'patch' in knobs) return error;
  const old = JSON.stringify({ cue: 'attribute', patch: 16, ...knobs });
  return new PyVisionError(error.code, `${error.message}; a run made before 2026-12-02 with the visual-search world's defaults of then is evaluated with --world-options '${old}'`);
}

/** The policy file and the run's settings of a checkpoint folder or a run folder. */
export function resolveCheckpoint(dir: string): { policyFile: string; config: TrainConfig } {
  if (!existsSync(dir)) throw new PyVisionError('E_IO', `--checkpoint ${dir} does not exist`);
  let checkpointDir = dir;
  if (!existsSync(join(dir, 'policy.safetensors'))) {
    const latest = new RunFolder(dir).latestCheckpoint();
    if (!latest) throw new UsageError(`--checkpoint ${dir} is neither a checkpoint folder (policy.safetensors) nor a run folder with checkpoints/`);
    checkpointDir = latest.dir;
  }
  const statePath = join(checkpointDir, 'state.json');
  if (!existsSync(statePath)) throw new PyVisionError('E_IO', `${statePath} is missing: the checkpoint does not say which run (world, settings) it belongs to`);
  let state: { config?: TrainConfig };
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8'));
  } catch (error) {
    throw new PyVisionError('E_IO', `${statePath}: ${(error as Error).message}`);
  }
  if (!state.config || typeof state.config !== 'object') throw new PyVisionError('E_IO', `${statePath} has no config`);
  return { policyFile: join(checkpointDir, 'policy.safetensors'), config: state.config };
}

function pct(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : 'n/a';
}

function formatResult(r: EvalResult, checkpoint: string, split: string): string {
  const lines = [
    `pyvision-rl eval: ${checkpoint}, ${split} split, ${r.n} tasks`,
    `  acc                : ${pct(r.acc)}`,
    `  tool calls / traj  : ${pct(r.tool_call_mean)} (share calling a tool ${pct(r.tool_call_ratio)})`,
    `  acc with / without : ${pct(r.acc_with_tool)} / ${pct(r.acc_without_tool)} (trajectories with / without a tool call)`,
    `  turns / traj       : ${pct(r.turns_mean)}`,
    `  visual tokens      : ${pct(r.visual_tokens_mean)}`,
    `  end reasons        : ${Object.entries(r.end_reasons).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${pct(v)}`).join(', ') || 'none'}`,
    '  per question type  :',
    ...Object.entries(r.per_type).map(([type, t]) => `    ${type.padEnd(16)} acc ${pct(t.acc)}, tool calls ${pct(t.tool_call_mean)}, n ${t.n}`),
  ];
  return `${lines.join('\n')}\n`;
}

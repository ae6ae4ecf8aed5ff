/**
 * The experiments of agent.md / method.md, each a set of training runs from
 * one SFT checkpoint, summarised as a table (mean and spread over seeds) and
 * series over steps for plots:
 *
 * - `collapse`: `grpo` against `pyvision-rl` with the same rollout budget
 *   (sampled trajectories), on the world and on its control variant (no
 *   question answerable from the first view), where collapse should not appear.
 * - `ablations`: the default recipe and its five single-setting ablations
 *   (ABLATIONS), the same number of steps each.
 *
 * Every run is an ordinary run folder (config.json, metrics.jsonl, ...), so
 * `pyvision-rl report DIR...` overlays any of them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMetricsJsonl, type MetricsRow } from '../metrics/jsonl.js';
import { ABLATIONS, trainBatchSize, type TrainConfig } from './config.js';
import type { EvalResult } from './evaluate.js';
import { train, type TrainHooks, type TrainResult } from './trainer.js';

/** The world knobs of the control variant: no question is answerable from the first view. */
export const CONTROL_WORLD_OPTIONS: Readonly<Record<string, unknown>> = Object.freeze({ firstViewShare: 0 });

/** Series plotted per run and step. */
export const EXPERIMENT_SERIES: readonly string[] = [
  'agent/tool_call_mean',
  'agent/tool_call_ratio',
  'val/acc',
  'data/pos_sample_neg_adv_ratio',
  'critic/acc/mean',
  'critic/score/mean',
  'critic/group_std/mean',
];

export interface ExperimentOptions {
  /** Seeds of the RL runs (0 .. seeds-1). Default 3. */
  seeds?: number;
  /** Folder of the experiment (one sub-folder per run). */
  outDir: string;
  /** CI-sized smoke run: a few steps of a tiny policy. */
  quick?: boolean;
  /** Settings under every run's (sizes, world options...). */
  base?: Partial<TrainConfig>;
  /** Engine parts for every run (a custom world, rollout or expert); the built-ins by default. */
  hooks?: Pick<TrainHooks, 'rollout' | 'replayExpert'> & { world?: (worldOptions: Record<string, unknown>) => TrainHooks['world'] };
  /** Start every arm from this SFT checkpoint (policy.safetensors) instead of running SFT (main world only; the control world still gets its own). */
  sftCheckpoint?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** The sizes of `--quick`: seconds per run on two cores. */
export const QUICK_SETTINGS: Readonly<Partial<TrainConfig>> = Object.freeze({
  layers: 1,
  heads: 2,
  dim: 32,
  trainTasks: 64,
  valTasks: 8,
  testTasks: 8,
  sftSteps: 4,
  sftBatch: 4,
  sftValEvery: 0,
  groupSize: 4,
  trainBatchPrompts: 2,
  steps: 2,
  valEvery: 1,
  evalMaxTurns: 5,
  checkpointEvery: 0,
  samplesPerEval: 2,
});

/**
 * The sizes of the real experiments (steps and budget; the policy and SFT are the default run's):
 * the collapse's budget is what 100 grpo steps sample (3,200 trajectories), the ablations run 100
 * steps each.
 */
export const EXPERIMENT_SETTINGS: Readonly<Partial<TrainConfig>> = Object.freeze({
  steps: 100,
  valEvery: 10,
  valTasks: 48,
  testTasks: 128,
  checkpointEvery: 0,
  samplesPerEval: 4,
});

/** One run of an experiment. */
export interface RunSummary {
  /** Arm of the experiment, e.g. 'grpo / main' or 'no-std-rank'. */
  arm: string;
  seed: number;
  dir: string;
  steps: number;
  rolloutTotal: number;
  seconds: number;
  test: EvalResult | null;
  testNoTools: EvalResult | null;
  /** The metric rows of the run (step 0 = the SFT checkpoint). */
  rows: MetricsRow[];
}

/** A table row: an arm's statistics over seeds. */
export interface ArmSummary {
  arm: string;
  seeds: number;
  /** name -> { mean, min, max, sd } over seeds. */
  stats: Record<string, { mean: number; min: number; max: number; sd: number }>;
}

export interface ExperimentReport {
  name: string;
  outDir: string;
  runs: RunSummary[];
  table: ArmSummary[];
  /** arm -> metric -> per step { step, mean, min, max } over seeds. */
  series: Record<string, Record<string, Array<{ step: number; mean: number; min: number; max: number }>>>;
  /** Wall time of the experiment, seconds. */
  seconds: number;
  /** The table as markdown. */
  markdown: string;
}

const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

function statsOf(xs: number[]): { mean: number; min: number; max: number; sd: number } {
  const v = xs.filter(finite);
  if (v.length === 0) return { mean: NaN, min: NaN, max: NaN, sd: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, min: Math.min(...v), max: Math.max(...v), sd };
}

function meanOf(rows: MetricsRow[], key: string): number {
  const v = rows.map((r) => r[key]).filter(finite);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

/** The quantities of the table for one run. */
export function runMeasures(run: RunSummary): Record<string, number> {
  const rl = run.rows.filter((r) => r.step > 0);
  const half = Math.max(1, Math.ceil(rl.length / 2));
  const first = rl.slice(0, half);
  const lastQuarter = rl.slice(Math.floor((rl.length * 3) / 4));
  const vals = run.rows.filter((r) => finite(r['val/acc']));
  const valAcc = vals.map((r) => r['val/acc'] as number);
  const diffs = valAcc.slice(1).map((x, i) => Math.abs(x - valAcc[i]));
  const step0 = run.rows.find((r) => r.step === 0);
  return {
    'test acc': run.test?.acc ?? NaN,
    'test acc, tools disabled': run.testNoTools?.acc ?? NaN,
    'test tool calls': run.test?.tool_call_mean ?? NaN,
    'val acc (SFT)': (step0?.['val/acc'] as number | undefined) ?? NaN,
    'val acc (last)': valAcc.length ? valAcc[valAcc.length - 1] : NaN,
    'val acc step-to-step change': diffs.length ? diffs.reduce((a, b) => a + b, 0) / diffs.length : NaN,
    'tool calls / traj (first step)': rl.length ? (rl[0]['agent/tool_call_mean'] as number) : NaN,
    'tool calls / traj (last quarter)': meanOf(lastQuarter, 'agent/tool_call_mean'),
    'share calling a tool (last quarter)': meanOf(lastQuarter, 'agent/tool_call_ratio'),
    'correct with negative advantage (first half)': meanOf(first, 'data/pos_sample_neg_adv_ratio'),
    'train acc (last quarter)': meanOf(lastQuarter, 'critic/acc/mean'),
    steps: run.steps,
    rollouts: run.rolloutTotal,
    'minutes': run.seconds / 60,
  };
}

function summarise(name: string, outDir: string, runs: RunSummary[], seconds: number): ExperimentReport {
  const arms = [...new Set(runs.map((r) => r.arm))];
  const table: ArmSummary[] = arms.map((arm) => {
    const of = runs.filter((r) => r.arm === arm).map(runMeasures);
    const stats: ArmSummary['stats'] = {};
    for (const key of Object.keys(of[0] ?? {})) stats[key] = statsOf(of.map((m) => m[key]));
    return { arm, seeds: of.length, stats };
  });
  const series: ExperimentReport['series'] = {};
  for (const arm of arms) {
    series[arm] = {};
    const of = runs.filter((r) => r.arm === arm);
    for (const key of EXPERIMENT_SERIES) {
      const steps = [...new Set(of.flatMap((r) => r.rows.filter((row) => finite(row[key])).map((row) => row.step)))].sort((a, b) => a - b);
      series[arm][key] = steps.map((step) => {
        const s = statsOf(of.map((r) => (r.rows.find((row) => row.step === step)?.[key] as number | undefined) ?? NaN));
        return { step, mean: s.mean, min: s.min, max: s.max };
      });
    }
  }
  const keys = Object.keys(table[0]?.stats ?? {});
  const fmt = (s: { mean: number; min: number; max: number }, k: string) => {
    if (!finite(s.mean)) return 'n/a';
    const d = k === 'steps' || k === 'rollouts' ? 0 : k === 'minutes' ? 1 : 3;
    return s.min === s.max ? s.mean.toFixed(d) : `${s.mean.toFixed(d)} (${s.min.toFixed(d)}-${s.max.toFixed(d)})`;
  };
  const markdown = [
    `| arm | seeds | ${keys.join(' | ')} |`,
    `|---|---|${keys.map(() => '---').join('|')}|`,
    ...table.map((a) => `| ${a.arm} | ${a.seeds} | ${keys.map((k) => fmt(a.stats[k], k)).join(' | ')} |`),
  ].join('\n');
  return { name, outDir, runs, table, series, seconds, markdown };
}

function writeReport(report: ExperimentReport): void {
  mkdirSync(report.outDir, { recursive: true });
  const { runs, ...rest } = report;
  writeFileSync(join(report.outDir, 'table.md'), `# ${report.name}\n\nmean (min-max) over seeds; wall time ${(report.seconds / 60).toFixed(1)} min\n\n${report.markdown}\n`);
  writeFileSync(
    join(report.outDir, 'results.json'),
    JSON.stringify({ ...rest, runs: runs.map((r) => ({ arm: r.arm, seed: r.seed, dir: r.dir, steps: r.steps, rolloutTotal: r.rolloutTotal, seconds: r.seconds, test: r.test, testNoTools: r.testNoTools, measures: runMeasures(r) })) }, null, 1),
  );
}

async function runOne(arm: string, seed: number, dir: string, settings: Partial<TrainConfig>, o: ExperimentOptions): Promise<RunSummary> {
  o.log?.(`${arm}, seed ${seed}: ${dir}`);
  const worldOptions = (settings.worldOptions ?? {}) as Record<string, unknown>;
  const result: TrainResult = await train({ ...settings, seed, outDir: dir }, {
    rollout: o.hooks?.rollout,
    replayExpert: o.hooks?.replayExpert,
    world: o.hooks?.world?.(worldOptions),
  });
  o.log?.(`${arm}, seed ${seed}: test acc ${result.test?.acc.toFixed(3)}, tool calls ${result.test?.tool_call_mean.toFixed(2)}, ${result.steps} steps, ${(result.seconds / 60).toFixed(1)} min`);
  return { arm, seed, dir, steps: result.steps, rolloutTotal: result.rolloutTotal, seconds: result.seconds, test: result.test, testNoTools: result.testNoTools, rows: readMetricsJsonl(join(dir, 'metrics.jsonl')) };
}

/** SFT alone (steps 0): the checkpoint every arm of an experiment starts from. */
async function sftCheckpoint(dir: string, settings: Partial<TrainConfig>, o: ExperimentOptions): Promise<string> {
  o.log?.(`SFT checkpoint: ${dir}`);
  const worldOptions = (settings.worldOptions ?? {}) as Record<string, unknown>;
  const r = await train({ ...settings, steps: 0, testTasks: 0, outDir: dir }, { rollout: o.hooks?.rollout, replayExpert: o.hooks?.replayExpert, world: o.hooks?.world?.(worldOptions) });
  if (!r.checkpoint) throw new Error('the SFT run wrote no checkpoint');
  return join(r.checkpoint, 'policy.safetensors');
}

function baseSettings(o: ExperimentOptions): Partial<TrainConfig> {
  return { ...(o.quick ? QUICK_SETTINGS : EXPERIMENT_SETTINGS), ...(o.base ?? {}) };
}

/**
 * grpo against pyvision-rl from one SFT checkpoint per world, with the same
 * rollout budget: the sampled trajectories of `steps` grpo steps (grpo samples
 * exactly K per step, pyvision-rl between 2K and 2K * maxGenRounds).
 */
export async function runCollapse(o: ExperimentOptions): Promise<ExperimentReport> {
  const t0 = performance.now();
  const seeds = o.seeds ?? 3;
  const base = baseSettings(o);
  const runs: RunSummary[] = [];
  const worlds: Array<[string, Record<string, unknown>]> = [
    ['main', { ...((base.worldOptions as Record<string, unknown>) ?? {}) }],
    ['control', { ...((base.worldOptions as Record<string, unknown>) ?? {}), ...CONTROL_WORLD_OPTIONS }],
  ];
  for (const [worldName, worldOptions] of worlds) {
    const sft = worldName === 'main' && o.sftCheckpoint ? o.sftCheckpoint : await sftCheckpoint(join(o.outDir, `sft-${worldName}`), { ...base, worldOptions, seed: 0 }, o);
    const steps = base.steps ?? 12;
    for (let seed = 0; seed < seeds; seed++) {
      for (const recipe of ['grpo', 'pyvision-rl']) {
        // the budget: what `steps` grpo steps sample (K each)
        const k = trainBatchSize({ trainBatchPrompts: base.trainBatchPrompts ?? 4, groupSize: base.groupSize ?? 8 });
        const settings: Partial<TrainConfig> = { ...base, recipe, worldOptions, initCheckpoint: sft, sftSteps: 0, rolloutBudget: steps * k, steps: steps * 10 };
        runs.push(await runOne(`${recipe} / ${worldName}`, seed, join(o.outDir, `${recipe}-${worldName}-s${seed}`), settings, o));
      }
    }
  }
  const report = summarise('collapse', o.outDir, runs, (performance.now() - t0) / 1000);
  writeReport(report);
  return report;
}

/** The default recipe and each ablation, from one SFT checkpoint, the same steps each. */
export async function runAblations(o: ExperimentOptions): Promise<ExperimentReport> {
  const t0 = performance.now();
  const seeds = o.seeds ?? 3;
  const base = baseSettings(o);
  const sft = o.sftCheckpoint ?? (await sftCheckpoint(join(o.outDir, 'sft'), { ...base, seed: 0 }, o));
  const runs: RunSummary[] = [];
  const arms: Array<[string, Partial<TrainConfig>]> = [['pyvision-rl', {}], ...Object.entries(ABLATIONS)];
  for (let seed = 0; seed < seeds; seed++) {
    for (const [arm, overrides] of arms) {
      const settings: Partial<TrainConfig> = { ...base, recipe: 'pyvision-rl', ...overrides, initCheckpoint: sft, sftSteps: 0 };
      runs.push(await runOne(arm, seed, join(o.outDir, `${arm}-s${seed}`), settings, o));
    }
  }
  const report = summarise('ablations', o.outDir, runs, (performance.now() - t0) / 1000);
  writeReport(report);
  return report;
}

export const EXPERIMENTS = { collapse: runCollapse, ablations: runAblations } as const;

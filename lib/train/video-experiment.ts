/**
 * The video experiment (issue "Video: on-demand context construction", item
 * 5): the video QA world with the video on demand (frames through the tool)
 * against the uniform-context baseline (k frames in the prompt) for several k,
 * each trained with the same SFT and RL budget, several seeds each. Measured
 * per run on the test split: accuracy and mean visual tokens per sample (the
 * patches in the context, counted the same way for every arm). The claim under
 * test: on demand reaches at least the best uniform arm's accuracy with at most
 * 1/5 of its visual tokens.
 *
 * Every run is an ordinary run folder, so `pyvision-rl report DIR...` overlays
 * any of them; the table (and calibration: expert, random, uniform-k oracle)
 * goes to OUT/table.md and OUT/results.json.
 *
 * A finished run leaves OUT/<run>/video-run.json (its settings and results);
 * a later experiment into the same folder with the same settings takes the
 * run from there instead of training it again (training is seeded, so it
 * would be the same run). An interrupted experiment so continues where it
 * stopped, and `arms` splits one over several processes that share OUT.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { readMetricsJsonl } from '../metrics/jsonl.js';
import { VideoQAWorld, type VideoQAOptions } from '../worlds/video-qa.js';
import { calibrateVideoQA, type CalibrationRow } from '../worlds/video-qa-calibration.js';
import type { TrainConfig } from './config.js';
import type { EvalResult } from './evaluate.js';
import type { ExperimentOptions } from './experiments.js';
import { PyVisionError } from '../util/errors.js';
import { registerWorld, train } from './trainer.js';

registerWorld('video-qa', (options) => new VideoQAWorld(options as VideoQAOptions));

/**
 * Sizes of the video runs (the policy and budgets of every arm are the same).
 * 400 SFT steps: at 200 the on-demand policy still wrote other words than the
 * question's into its select_frames query; at 400 its held-out programs are
 * the expert's. 30 RL steps per seed (docs/video.md also has 8 and 60: the
 * test accuracy did not move with them).
 */
export const VIDEO_EXPERIMENT_SETTINGS: Readonly<Partial<TrainConfig>> = Object.freeze({
  world: 'video-qa',
  layers: 2,
  heads: 4,
  dim: 64,
  trainTasks: 2048,
  valTasks: 16,
  testTasks: 96,
  sftSteps: 400,
  sftBatch: 16,
  sftValEvery: 0,
  steps: 30,
  groupSize: 4,
  trainBatchPrompts: 4,
  maxGenRounds: 2,
  maxTurns: 5,
  maxTurnTokens: 72,
  valEvery: 4,
  evalMaxTurns: 5,
  checkpointEvery: 0,
  samplesPerEval: 2,
});

/** `--quick`: a CI-sized smoke run of every arm (seconds each). */
export const VIDEO_QUICK_SETTINGS: Readonly<Partial<TrainConfig>> = Object.freeze({
  ...VIDEO_EXPERIMENT_SETTINGS,
  layers: 1,
  heads: 2,
  dim: 32,
  trainTasks: 32,
  valTasks: 4,
  testTasks: 8,
  sftSteps: 3,
  sftBatch: 4,
  steps: 1,
  groupSize: 2,
  trainBatchPrompts: 2,
  valEvery: 1,
  samplesPerEval: 0,
});

export interface VideoExperimentOptions extends ExperimentOptions {
  /** Uniform-context budgets. Default [8, 16, 32]. */
  ks?: number[];
  /** World options under every arm's (frame counts, view...). */
  worldOptions?: VideoQAOptions;
  /** Run only these arms ('on-demand', 'uniform-8', ...; default all), e.g. to split the runs over processes. */
  arms?: string[];
}

/** What a finished run of the experiment leaves in its folder (video-run.json). */
interface RunRecord {
  config: Partial<TrainConfig>;
  seconds: number;
  test: EvalResult | null;
  val: EvalResult | null;
  checkpoint: string | null;
}
const RUN_RECORD = 'video-run.json';

/**
 * train(), or the record of the same run already finished in config.outDir
 * (only when `reuse`: an RL run is taken only when its SFT checkpoint was too,
 * since a retrained one may differ under the same path).
 */
async function trainOnce(config: Partial<TrainConfig>, hooks: Parameters<typeof train>[1], reuse: boolean, log?: (line: string) => void): Promise<RunRecord & { reused: boolean }> {
  const path = join(config.outDir!, RUN_RECORD);
  if (reuse && existsSync(path)) {
    const record = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    // A run folder trained again since (train() empties it) has lost its checkpoint: not taken.
    if (JSON.stringify(record.config) === JSON.stringify(config) && (record.checkpoint === null || existsSync(record.checkpoint))) {
      log?.(`${config.outDir}: finished before with the same settings, taken from ${RUN_RECORD}`);
      return { ...record, reused: true };
    }
  }
  const r = await train(config, hooks);
  const record: RunRecord = { config, seconds: r.seconds, test: r.test, val: r.val, checkpoint: r.checkpoint };
  writeFileSync(path, JSON.stringify(record, null, 1));
  return { ...record, reused: false };
}

export interface VideoRun {
  arm: string;
  seed: number;
  dir: string;
  seconds: number;
  test: EvalResult | null;
  /** Validation accuracy right after SFT (step 0) and after RL. */
  valAccSft: number;
  valAccLast: number;
}

export interface VideoArmRow {
  arm: string;
  seeds: number;
  acc: { mean: number; min: number; max: number };
  visualTokens: { mean: number; min: number; max: number };
  toolCalls: number;
  valAccSft: number;
  minutes: number;
}

export interface VideoExperimentReport {
  outDir: string;
  runs: VideoRun[];
  arms: VideoArmRow[];
  calibration: CalibrationRow[];
  /** The claim's verdict in words, with the figures. */
  verdict: string;
  markdown: string;
  seconds: number;
}

const spread = (xs: number[]) => {
  const v = xs.filter(Number.isFinite);
  if (v.length === 0) return { mean: NaN, min: NaN, max: NaN };
  return { mean: v.reduce((a, b) => a + b, 0) / v.length, min: Math.min(...v), max: Math.max(...v) };
};
const fmt = (s: { mean: number; min: number; max: number }, d = 3) =>
  !Number.isFinite(s.mean) ? 'n/a' : s.min === s.max ? s.mean.toFixed(d) : `${s.mean.toFixed(d)} (${s.min.toFixed(d)}-${s.max.toFixed(d)})`;

/** The claim: on demand reaches the best uniform accuracy with at most 1/5 of that arm's visual tokens. */
export function videoVerdict(arms: readonly VideoArmRow[], chance: number): string {
  const onDemand = arms.find((a) => a.arm === 'on-demand');
  const uniform = arms.filter((a) => a.arm !== 'on-demand' && Number.isFinite(a.acc.mean));
  if (!onDemand || uniform.length === 0 || !Number.isFinite(onDemand.acc.mean)) return 'not measured';
  if (onDemand.acc.mean <= chance) {
    return `not shown: on-demand accuracy ${onDemand.acc.mean.toFixed(3)} is not above chance (${chance.toFixed(3)}), so its token count says nothing`;
  }
  const best = uniform.reduce((a, b) => (b.acc.mean > a.acc.mean ? b : a));
  const ratio = onDemand.visualTokens.mean / best.visualTokens.mean;
  const accOk = onDemand.acc.mean >= best.acc.mean;
  const tokOk = ratio <= 0.2;
  const figures = `on-demand acc ${onDemand.acc.mean.toFixed(3)} with ${onDemand.visualTokens.mean.toFixed(1)} visual tokens per sample; best uniform arm ${best.arm} acc ${best.acc.mean.toFixed(3)} with ${best.visualTokens.mean.toFixed(1)} (token ratio ${ratio.toFixed(3)})`;
  if (accOk && tokOk) return `holds: ${figures}`;
  const why = [!accOk ? 'on-demand accuracy is below the best uniform arm' : '', !tokOk ? 'on-demand uses more than 1/5 of its visual tokens' : ''].filter(Boolean).join('; ');
  return `does not hold (${why}): ${figures}`;
}

/**
 * The baseline has no tool to call: no tool-image filter (it would drop every
 * trajectory) and no tool reward (a print() would earn it).
 */
function contextSettings(arm: string): Partial<TrainConfig> {
  return arm === 'on-demand' ? {} : { requireToolImage: false, toolRewardCoef: 0 };
}

/** Runs every arm for every seed (SFT then RL, the same budget), then the calibration, and writes the table. */
export async function runVideoExperiment(o: VideoExperimentOptions): Promise<VideoExperimentReport> {
  const t0 = performance.now();
  const seeds = o.seeds ?? 3;
  const ks = o.ks ?? [8, 16, 32];
  const base: Partial<TrainConfig> = { ...(o.quick ? VIDEO_QUICK_SETTINGS : VIDEO_EXPERIMENT_SETTINGS), ...(o.base ?? {}) };
  const allArms: Array<[string, VideoQAOptions]> = [
    ['on-demand', { ...o.worldOptions, context: 'on-demand' }],
    ...ks.map((k): [string, VideoQAOptions] => [`uniform-${k}`, { ...o.worldOptions, context: { uniform: k } }]),
  ];
  for (const name of o.arms ?? []) {
    if (!allArms.some(([arm]) => arm === name)) throw new PyVisionError('E_ARG', `options.arms: no arm '${name}' (arms: ${allArms.map(([arm]) => arm).join(', ')})`);
  }
  const arms = allArms.filter(([arm]) => o.arms === undefined || o.arms.includes(arm));
  const runs: VideoRun[] = [];
  // One SFT checkpoint per arm (its own expert's trajectories, the same number
  // of steps for every arm), then RL from it with each seed.
  const sft = new Map<string, { checkpoint: string; valAcc: number; seconds: number; reused: boolean }>();
  for (const [arm, worldOptions] of arms) {
    const dir = join(o.outDir, `sft-${arm}`);
    o.log?.(`${arm}: SFT ${dir}`);
    const r = await trainOnce(
      { ...base, ...contextSettings(arm), worldOptions: worldOptions as Record<string, unknown>, seed: 0, steps: 0, testTasks: 0, outDir: dir },
      { world: new VideoQAWorld(worldOptions), rollout: o.hooks?.rollout, replayExpert: o.hooks?.replayExpert },
      true,
      o.log,
    );
    if (!r.checkpoint) throw new Error(`the SFT run of ${arm} wrote no checkpoint`);
    sft.set(arm, { checkpoint: join(r.checkpoint, 'policy.safetensors'), valAcc: r.val?.acc ?? NaN, seconds: r.seconds, reused: r.reused });
    o.log?.(`${arm}: SFT val acc ${r.val?.acc.toFixed(3)}, ${(r.seconds / 60).toFixed(1)} min`);
  }
  for (let seed = 0; seed < seeds; seed++) {
    for (const [arm, worldOptions] of arms) {
      const dir = join(o.outDir, `${arm}-s${seed}`);
      o.log?.(`${arm}, seed ${seed}: ${dir}`);
      const world = new VideoQAWorld(worldOptions);
      const start = sft.get(arm)!;
      const result = await trainOnce(
        { ...base, ...contextSettings(arm), worldOptions: worldOptions as Record<string, unknown>, seed, outDir: dir, initCheckpoint: start.checkpoint, sftSteps: 0 },
        { world, rollout: o.hooks?.rollout, replayExpert: o.hooks?.replayExpert },
        start.reused,
        o.log,
      );
      const rows = readMetricsJsonl(join(dir, 'metrics.jsonl'));
      const vals = rows.filter((r) => Number.isFinite(r['val/acc']));
      const run: VideoRun = {
        arm,
        seed,
        dir,
        seconds: result.seconds + (seed === 0 ? start.seconds : 0),
        test: result.test,
        valAccSft: start.valAcc,
        valAccLast: (vals.at(-1)?.['val/acc'] as number | undefined) ?? NaN,
      };
      runs.push(run);
      o.log?.(`${arm}, seed ${seed}: test acc ${result.test?.acc.toFixed(3)}, visual tokens ${result.test?.visual_tokens_mean.toFixed(1)}, ${(result.seconds / 60).toFixed(1)} min`);
      writeFileSync(join(o.outDir, 'runs.json'), JSON.stringify(runs, null, 1));
    }
  }
  const rowsOf: VideoArmRow[] = arms.map(([arm]) => {
    const of = runs.filter((r) => r.arm === arm);
    return {
      arm,
      seeds: of.length,
      acc: spread(of.map((r) => r.test?.acc ?? NaN)),
      visualTokens: spread(of.map((r) => r.test?.visual_tokens_mean ?? NaN)),
      toolCalls: spread(of.map((r) => r.test?.tool_call_mean ?? NaN)).mean,
      valAccSft: spread(of.map((r) => r.valAccSft)).mean,
      minutes: of.reduce((a, r) => a + r.seconds, 0) / 60,
    };
  });
  const testTasks = base.testTasks ?? 96;
  const calibration = await calibrateVideoQA(new VideoQAWorld(o.worldOptions), { split: 'test', n: testTasks, seed: 0, ks });
  const chance = calibration.find((c) => c.name.startsWith('random'))?.acc ?? 0;
  const verdict = videoVerdict(rowsOf, chance);
  const markdown = [
    '| arm | seeds | test acc, mean (min-max) | visual tokens / sample | tool calls / sample | val acc after SFT | minutes (all seeds) |',
    '|---|---|---|---|---|---|---|',
    ...rowsOf.map((a) => `| ${a.arm} | ${a.seeds} | ${fmt(a.acc)} | ${fmt(a.visualTokens, 1)} | ${Number.isFinite(a.toolCalls) ? a.toolCalls.toFixed(2) : 'n/a'} | ${Number.isFinite(a.valAccSft) ? a.valAccSft.toFixed(3) : 'n/a'} | ${a.minutes.toFixed(1)} |`),
    '',
    `Calibration on the same ${testTasks} test tasks (no policy):`,
    '',
    '| answerer | acc | visual tokens / sample |',
    '|---|---|---|',
    ...calibration.map((c) => `| ${c.name} | ${c.acc.toFixed(3)} | ${c.visualTokens.toFixed(1)} |`),
    '',
    `Claim: ${verdict}.`,
  ].join('\n');
  const seconds = (performance.now() - t0) / 1000;
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, 'table.md'), `# video: on-demand against uniform context\n\nwall time ${(seconds / 60).toFixed(1)} min\n\n${markdown}\n`);
  const report: VideoExperimentReport = { outDir: o.outDir, runs, arms: rowsOf, calibration, verdict, markdown, seconds };
  writeFileSync(join(o.outDir, 'results.json'), JSON.stringify(report, null, 1));
  return report;
}

/**
 * The training configuration: one typed object, one doc line per field, the
 * defaults in one place (DEFAULT_CONFIG), validated by resolveConfig (E_ARG
 * naming the field). A recipe (lib/train/recipes/) is a named set of these
 * settings applied over the defaults; the user's settings go over the recipe.
 * Every field is a plain JSON value, so config.json of a run holds all of them.
 */
import { PyVisionError, describe } from '../util/errors.js';
import type { AdvantageScale, LossAggregation } from '../kernels/scoring.js';
import { LOSS_AGGREGATIONS } from '../kernels/scoring.js';
import type { EndReasonName } from '../rollout/types.js';
import type { Backend } from '../native/backend.js';
import { PYVISION_RL } from './recipes/pyvision-rl.js';

export const END_REASON_NAMES: readonly EndReasonName[] = [
  'DONE',
  'EXCEED_MAX_TURNS',
  'ERROR_IN_ACTION',
  'OVER_LENGTH',
  'EXCEED_MAX_IMAGES',
];

export interface TrainConfig {
  // ---- run ----
  /** Recipe whose settings lie under the user's ('pyvision-rl' or 'grpo'; see lib/train/recipes/). */
  recipe: string;
  /** Seed of everything: policy init, data order, sampling, the world's splits. */
  seed: number;
  /** Run folder (config.json, metrics.jsonl, checkpoints/, samples/); null: write nothing. */
  outDir: string | null;
  /** Continue the run in outDir from its latest checkpoint (exactly). */
  resume: boolean;
  /** Kernel and policy backend: 'auto', 'cpu' or 'cuda'. */
  backend: Backend;
  /** CPU threads of the policy (0: the library default, all cores; the default policy is small enough that one thread is faster on a busy machine). */
  threads: number;

  // ---- world ----
  /** Built-in world by name ('visual-search'), or the name a custom world was registered under. */
  world: string;
  /** The world's documented knobs (e.g. { firstViewShare: 0 } for the control world). */
  worldOptions: Record<string, unknown>;
  /** Train-split tasks the data cursor cycles through (reshuffled each epoch). */
  trainTasks: number;
  /** Validation tasks evaluated during training. */
  valTasks: number;
  /** Test tasks of the final evaluation. */
  testTasks: number;

  // ---- policy ----
  /** Transformer blocks of a fresh policy. */
  layers: number;
  /** Attention heads of a fresh policy. */
  heads: number;
  /** Channels of a fresh policy. */
  dim: number;
  /** Longest sequence in positions; 0: the world's policyConfig default. */
  maxSeqLen: number;
  /** Start from this policy checkpoint (weights only) instead of a fresh policy; SFT still runs unless sftSteps is 0. */
  initCheckpoint: string | null;

  // ---- SFT cold start ----
  /** SFT optimizer steps on the expert's trajectories (0: no SFT). */
  sftSteps: number;
  /** Expert trajectories per SFT step (fresh tasks of the train split each step). */
  sftBatch: number;
  /** SFT learning rate (constant after warm-up). */
  sftLr: number;
  /** SFT linear warm-up steps. */
  sftWarmup: number;
  /** Validation accuracy every this many SFT steps (0: only at the end). */
  sftValEvery: number;

  // ---- generation ----
  /** G: samples per prompt (one group). */
  groupSize: number;
  /** Prompts per update: K = trainBatchPrompts * groupSize trajectories are kept for the update. */
  trainBatchPrompts: number;
  /** Prompts per generation round = round(oversampleFactor * trainBatchPrompts). */
  oversampleFactor: number;
  /** Generation rounds per step at most while the pool has fewer than K survivors. */
  maxGenRounds: number;
  /** Sampling temperature of the rollouts. */
  temperature: number;
  /** Sample among the k most likely tokens only (0: all). */
  topK: number;
  /** Turn budget of a training rollout (tool calls + the answer). */
  maxTurns: number;
  /** Tokens one turn may sample before it is ERROR_IN_ACTION. */
  maxTurnTokens: number;
  /** Images in the context at most (EXCEED_MAX_IMAGES beyond). */
  maxImages: number;
  /** Tool errors come back as observations instead of ending the trajectory with reward 0. */
  errorFeedback: boolean;

  // ---- reward and advantage ----
  /** Tool reward coefficient: R = acc + coef * toolCalls * [acc >= correctThreshold]. */
  toolRewardCoef: number;
  /** acc at or above this counts as correct for the tool bonus. */
  correctThreshold: number;
  /** Advantage scale: 'none' (r - mean) or 'group-std' ((r - mean) / (std + eps)). */
  advantageScale: AdvantageScale;

  // ---- filters and ranking ----
  /** Drop groups whose rewards are all equal (and keep generating until K survive). */
  zeroVarianceFilter: boolean;
  /** End reasons kept by the broken-interaction filter (all five: the filter is off). */
  keepEndReasons: EndReasonName[];
  /** Drop trajectories in which no tool call returned an image. */
  requireToolImage: boolean;
  /** Drop trajectories longer than this many positions (0: no limit). */
  maxLength: number;
  /** Order of the pool before the top K: 'std' (group reward std, descending) or 'none' (generation order). */
  rank: 'std' | 'none';

  // ---- PPO update ----
  /** RL steps (updates). */
  steps: number;
  /** Stop after this many sampled trajectories in total (0: no limit); equal budgets compare recipes. */
  rolloutBudget: number;
  /** Passes over the K kept trajectories per step. */
  ppoEpochs: number;
  /** Minibatches per pass (one AdamW step each). */
  ppoMiniBatches: number;
  /** Lower clip of the ratio (1 - clipLow). */
  clipLow: number;
  /** Upper clip of the ratio (1 + clipHigh). */
  clipHigh: number;
  /** Dual clip c on negative advantages (null: off). */
  dualClip: number | null;
  /** Loss aggregation over tokens. */
  lossAgg: LossAggregation;
  /** Recompute the old log-probs with the policy before the update instead of using the sampler's. */
  recomputeOldLogp: boolean;
  /** RL learning rate (constant). */
  lr: number;
  /** AdamW decoupled weight decay (matrices only). */
  weightDecay: number;
  /** AdamW beta1. */
  beta1: number;
  /** AdamW beta2. */
  beta2: number;
  /** Global gradient-norm clip (0: off). */
  gradClip: number;

  // ---- evaluation, checkpoints, samples ----
  /** Validation every this many RL steps (0: only at the end); also at step 0 (after SFT). */
  valEvery: number;
  /** Turn budget of evaluation. */
  evalMaxTurns: number;
  /** Evaluation sampling temperature (0: greedy). */
  evalTemperature: number;
  /** Also evaluate with tools disabled (the answer forced at the first turn) at each validation. */
  evalNoTools: boolean;
  /** Checkpoint every this many RL steps (0: only at the end). */
  checkpointEvery: number;
  /** Checkpoints kept on disk (older ones are removed). */
  keepCheckpoints: number;
  /** Trajectories written to samples/ every validation (0: none). */
  samplesPerEval: number;
}

/** The defaults of every setting: the embedded default run (visual search, SFT then pyvision-rl). Sizes are tuned for a 10-minute run on two CPU cores. */
export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze({
  recipe: 'pyvision-rl',
  seed: 0,
  outDir: 'runs/train',
  resume: false,
  backend: 'auto',
  threads: 1,

  world: 'visual-search',
  worldOptions: {},
  trainTasks: 4096,
  valTasks: 64,
  testTasks: 200,

  layers: 2,
  heads: 4,
  dim: 96,
  maxSeqLen: 0,
  initCheckpoint: null,

  sftSteps: 1500,
  sftBatch: 16,
  sftLr: 2e-3,
  sftWarmup: 10,
  sftValEvery: 250,

  groupSize: 8,
  trainBatchPrompts: 4,
  temperature: 1,
  topK: 0,
  maxTurns: 5,
  maxTurnTokens: 32,
  maxImages: 32,
  errorFeedback: false,

  correctThreshold: 1,

  maxLength: 0,

  steps: 20,
  rolloutBudget: 0,
  ppoEpochs: 1,
  ppoMiniBatches: 2,
  clipLow: 0.2,
  clipHigh: 0.2,
  dualClip: 3,
  lossAgg: 'token-mean',
  recomputeOldLogp: false,
  lr: 3e-4,
  weightDecay: 0.01,
  beta1: 0.9,
  beta2: 0.999,
  gradClip: 1.0,

  valEvery: 5,
  evalMaxTurns: 30,
  evalTemperature: 0,
  evalNoTools: true,
  checkpointEvery: 5,
  keepCheckpoints: 2,
  samplesPerEval: 8,

  // the RL step's settings are the default recipe's (recipes/pyvision-rl.ts)
  ...PYVISION_RL,
} as TrainConfig);

/** The settings of the RL step only (what a recipe sets). */
export type RecipeSettings = Partial<Omit<TrainConfig, 'recipe' | 'outDir' | 'resume' | 'backend' | 'threads'>>;

type Kind =
  | { t: 'int'; min: number; max?: number }
  | { t: 'num'; min?: number; max?: number; above?: number }
  | { t: 'bool' }
  | { t: 'str' }
  | { t: 'strOrNull' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'object' }
  | { t: 'endReasons' }
  | { t: 'numOrNull'; above: number };

const MAX_INT = 2 ** 31 - 1;
/** How each field is checked (every field of TrainConfig has exactly one entry). */
const RULES: { [K in keyof TrainConfig]: Kind } = {
  recipe: { t: 'str' },
  seed: { t: 'int', min: 0, max: 2 ** 32 - 1 },
  outDir: { t: 'strOrNull' },
  resume: { t: 'bool' },
  backend: { t: 'enum', values: ['auto', 'cpu', 'cuda'] },
  threads: { t: 'int', min: 0, max: 4096 },
  world: { t: 'str' },
  worldOptions: { t: 'object' },
  trainTasks: { t: 'int', min: 1, max: 1_000_000 },
  valTasks: { t: 'int', min: 0, max: 1_000_000 },
  testTasks: { t: 'int', min: 0, max: 1_000_000 },
  layers: { t: 'int', min: 1, max: 64 },
  heads: { t: 'int', min: 1, max: 64 },
  dim: { t: 'int', min: 1, max: 8192 },
  maxSeqLen: { t: 'int', min: 0, max: 1 << 20 },
  initCheckpoint: { t: 'strOrNull' },
  sftSteps: { t: 'int', min: 0, max: MAX_INT },
  sftBatch: { t: 'int', min: 1, max: 65536 },
  sftLr: { t: 'num', min: 0 },
  sftWarmup: { t: 'int', min: 0, max: MAX_INT },
  sftValEvery: { t: 'int', min: 0, max: MAX_INT },
  groupSize: { t: 'int', min: 2, max: 4096 },
  trainBatchPrompts: { t: 'int', min: 1, max: 65536 },
  oversampleFactor: { t: 'num', min: 1, max: 64 },
  maxGenRounds: { t: 'int', min: 1, max: 1000 },
  temperature: { t: 'num', above: 0 },
  topK: { t: 'int', min: 0, max: MAX_INT },
  maxTurns: { t: 'int', min: 1, max: 1000 },
  maxTurnTokens: { t: 'int', min: 1, max: 1 << 20 },
  maxImages: { t: 'int', min: 1, max: 1 << 20 },
  errorFeedback: { t: 'bool' },
  toolRewardCoef: { t: 'num', min: 0 },
  correctThreshold: { t: 'num', min: 0, max: 1 },
  advantageScale: { t: 'enum', values: ['none', 'group-std'] },
  zeroVarianceFilter: { t: 'bool' },
  keepEndReasons: { t: 'endReasons' },
  requireToolImage: { t: 'bool' },
  maxLength: { t: 'int', min: 0, max: MAX_INT },
  rank: { t: 'enum', values: ['std', 'none'] },
  steps: { t: 'int', min: 0, max: MAX_INT },
  rolloutBudget: { t: 'int', min: 0, max: Number.MAX_SAFE_INTEGER },
  ppoEpochs: { t: 'int', min: 1, max: 1000 },
  ppoMiniBatches: { t: 'int', min: 1, max: 65536 },
  clipLow: { t: 'num', min: 0, max: 0.99 },
  clipHigh: { t: 'num', min: 0 },
  dualClip: { t: 'numOrNull', above: 1 },
  lossAgg: { t: 'enum', values: LOSS_AGGREGATIONS },
  recomputeOldLogp: { t: 'bool' },
  lr: { t: 'num', min: 0 },
  weightDecay: { t: 'num', min: 0 },
  beta1: { t: 'num', min: 0, max: 0.999999 },
  beta2: { t: 'num', min: 0, max: 0.999999 },
  gradClip: { t: 'num', min: 0 },
  valEvery: { t: 'int', min: 0, max: MAX_INT },
  evalMaxTurns: { t: 'int', min: 1, max: 1000 },
  evalTemperature: { t: 'num', min: 0 },
  evalNoTools: { t: 'bool' },
  checkpointEvery: { t: 'int', min: 0, max: MAX_INT },
  keepCheckpoints: { t: 'int', min: 1, max: 1000 },
  samplesPerEval: { t: 'int', min: 0, max: 100000 },
};

/** Every setting's name, in the order of TrainConfig. */
export const CONFIG_KEYS = Object.keys(RULES) as (keyof TrainConfig)[];

function bad(field: string, expected: string, value: unknown): never {
  throw new PyVisionError('E_ARG', `config.${field} must be ${expected}, got ${describe(value)}`);
}

function checkField(field: keyof TrainConfig, value: unknown): unknown {
  const rule = RULES[field];
  switch (rule.t) {
    case 'int': {
      const range = `an integer >= ${rule.min}${rule.max !== undefined ? ` and <= ${rule.max}` : ''}`;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || (rule.max !== undefined && value > rule.max)) {
        bad(field, range, value);
      }
      return value;
    }
    case 'num': {
      const parts = ['a finite number'];
      if (rule.min !== undefined) parts.push(`>= ${rule.min}`);
      if (rule.above !== undefined) parts.push(`> ${rule.above}`);
      if (rule.max !== undefined) parts.push(`<= ${rule.max}`);
      if (
        typeof value !== 'number' ||
        !Number.isFinite(value) ||
        (rule.min !== undefined && value < rule.min) ||
        (rule.above !== undefined && value <= rule.above) ||
        (rule.max !== undefined && value > rule.max)
      ) {
        bad(field, parts.join(' '), value);
      }
      return value;
    }
    case 'numOrNull':
      if (value === null) return null;
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= rule.above) bad(field, `null or a number > ${rule.above}`, value);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') bad(field, 'a boolean', value);
      return value;
    case 'str':
      if (typeof value !== 'string' || value.length === 0) bad(field, 'a non-empty string', value);
      return value;
    case 'strOrNull':
      if (value !== null && (typeof value !== 'string' || value.length === 0)) bad(field, 'null or a non-empty string', value);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !rule.values.includes(value)) bad(field, `one of ${rule.values.map((v) => `'${v}'`).join(', ')}`, value);
      return value;
    case 'object':
      if (value === null || typeof value !== 'object' || Array.isArray(value)) bad(field, 'an object', value);
      return JSON.parse(JSON.stringify(value));
    case 'endReasons': {
      if (!Array.isArray(value) || value.length === 0) bad(field, `a non-empty array of ${END_REASON_NAMES.join(', ')}`, value);
      const seen = new Set<string>();
      (value as unknown[]).forEach((name, k) => {
        if (typeof name !== 'string' || !(END_REASON_NAMES as readonly string[]).includes(name)) {
          bad(`${field}[${k}]`, `one of ${END_REASON_NAMES.join(', ')}`, name);
        }
        seen.add(name);
      });
      // a fixed order, so that equal settings print and compare equal
      return END_REASON_NAMES.filter((n) => seen.has(n));
    }
  }
}

/**
 * The full configuration: defaults, then the recipe's settings, then `settings`.
 * Unknown fields and bad values throw PyVisionError E_ARG naming the field.
 * `recipes` maps recipe names to their settings (lib/train/recipes).
 */
export function mergeConfig(
  settings: Partial<TrainConfig> | undefined,
  recipes: Readonly<Record<string, RecipeSettings>>,
): TrainConfig {
  if (settings !== undefined && (settings === null || typeof settings !== 'object' || Array.isArray(settings))) {
    throw new PyVisionError('E_ARG', `config must be an object, got ${describe(settings)}`);
  }
  const user = (settings ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(user)) {
    if (!(key in RULES)) throw new PyVisionError('E_ARG', `config.${key} is not a setting (known: ${CONFIG_KEYS.join(', ')})`);
  }
  const recipeName = user.recipe === undefined ? DEFAULT_CONFIG.recipe : checkField('recipe', user.recipe);
  const recipe = recipes[recipeName as string];
  if (recipe === undefined) {
    throw new PyVisionError('E_ARG', `config.recipe must be one of ${Object.keys(recipes).map((r) => `'${r}'`).join(', ')}, got ${describe(recipeName)}`);
  }
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG, ...recipe };
  for (const [k, val] of Object.entries(user)) if (val !== undefined) merged[k] = val;
  const out: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) out[key] = checkField(key, merged[key]);
  const c = out as unknown as TrainConfig;
  if (c.dim % c.heads !== 0) throw new PyVisionError('E_ARG', `config.dim (${c.dim}) must be a multiple of config.heads (${c.heads})`);
  if (c.resume && c.outDir === null) throw new PyVisionError('E_ARG', 'config.resume needs config.outDir (the run folder to resume)');
  if (c.ppoMiniBatches > c.trainBatchPrompts * c.groupSize) {
    throw new PyVisionError(
      'E_ARG',
      `config.ppoMiniBatches (${c.ppoMiniBatches}) must be <= K = trainBatchPrompts * groupSize (${c.trainBatchPrompts * c.groupSize})`,
    );
  }
  return c;
}

/** K: trajectories kept for one update. */
export function trainBatchSize(c: Pick<TrainConfig, 'trainBatchPrompts' | 'groupSize'>): number {
  return c.trainBatchPrompts * c.groupSize;
}

/** Prompts of one generation round. */
export function genBatchPrompts(c: Pick<TrainConfig, 'trainBatchPrompts' | 'oversampleFactor'>): number {
  return Math.max(1, Math.round(c.oversampleFactor * c.trainBatchPrompts));
}

/**
 * The ablations of agent.md section 5, each a plain set of settings over the
 * default recipe (the CLI maps `--tool-reward 0`, `--no-std-rank`, `--std-norm`,
 * `--max-turns 2`, `--no-tool-image-filter` to these fields).
 */
export const ABLATIONS: Readonly<Record<string, Partial<TrainConfig>>> = Object.freeze({
  'tool-reward-0': { toolRewardCoef: 0 },
  'no-std-rank': { rank: 'none' },
  'std-norm': { advantageScale: 'group-std' },
  'max-turns-2': { maxTurns: 2 },
  'no-tool-image-filter': { requireToolImage: false },
});

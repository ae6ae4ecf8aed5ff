/** Training: SFT cold start, the PyVision-RL step and its recipes, evaluation, runs. */
export {
  DEFAULT_CONFIG,
  CONFIG_KEYS,
  ABLATIONS,
  END_REASON_NAMES,
  mergeConfig,
  trainBatchSize,
  genBatchPrompts,
  type TrainConfig,
  type RecipeSettings,
} from './config.js';
export { RECIPES, RECIPE_NAMES, PYVISION_RL, GRPO } from './recipes/index.js';
export {
  rlStep,
  generateRound,
  scoreRewards,
  computeAdvantages,
  filterRollouts,
  joinRounds,
  rankPool,
  ppoUpdate,
  minibatches,
  selectPlain,
  type GenRound,
  type RolloutFn,
  type RolloutRequest,
  type StepContext,
  type StepOutcome,
  type StepSettings,
  type StepTiming,
  type UpdateResult,
} from './step.js';
export { sftStep, sftLearningRate, type ExpertReplayFn, type SftStepRecord } from './sft.js';
export { evaluate, summarize, withToolsDisabled, type EvalResult, type EvaluateOptions } from './evaluate.js';
export { STEP_METRIC_KEYS, VAL_METRIC_KEYS, stepRecord, valRecord, trajectoryStats } from './step-metrics.js';
export { DataCursor, type CursorState } from './data.js';
export { RunFolder, checkpointName, type TrainState } from './run.js';
export {
  Trainer,
  train,
  registerWorld,
  worldNames,
  type TrainHooks,
  type TrainResult,
  type WorldFactory,
} from './trainer.js';
export {
  runCollapse,
  runAblations,
  runMeasures,
  EXPERIMENTS,
  EXPERIMENT_SERIES,
  EXPERIMENT_SETTINGS,
  QUICK_SETTINGS,
  CONTROL_WORLD_OPTIONS,
  type ExperimentOptions,
  type ExperimentReport,
  type RunSummary,
  type ArmSummary,
} from './experiments.js';

/** pyvision-rl: reinforcement learning for agentic vision policies. */
export { PyVisionError, ERROR_CODES, type ErrorCode } from './errors.js';
export { backendInfo, setCpuThreads, BACKENDS, type Backend, type BackendInfo } from './backend.js';
export {
  accumulativeToolReward,
  groupAdvantages,
  selectRollouts,
  policyLoss,
  EndReason,
  DEFAULT_KEEP_END_REASONS,
  LOSS_AGGREGATIONS,
  type AdvantageScale,
  type BackendOption,
  type GroupAdvantageOptions,
  type GroupAdvantages,
  type KlType,
  type LossAggregation,
  type PolicyLossInput,
  type PolicyLossOptions,
  type PolicyLossResult,
  type RolloutBatch,
  type SelectionResult,
  type SelectOptions,
  type ToolRewardOptions,
} from './scoring.js';

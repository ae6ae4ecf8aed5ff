/** pyvision-rl: reinforcement learning for agentic vision policies. */
export { PyVisionError, ERROR_CODES, type ErrorCode } from './util/errors.js';
export { backendInfo, setCpuThreads, BACKENDS, type Backend, type BackendInfo } from './native/backend.js';
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
} from './kernels/scoring.js';
export {
  Policy,
  type AdamWOptions,
  type PolicyConfig,
  type PolicyCreateConfig,
  type PolicyGradientLoss,
  type PolicyLoadOptions,
  type PolicyRuntimeOptions,
  type PolicyTrainingLoss,
  type SequenceBatch,
  type SftLoss,
  type TrainStepResult,
} from './policy/policy.js';
export {
  PolicySession,
  STOPPED_MAX_NEW_TOKENS,
  STOPPED_STOP_TOKEN,
  STOPPED_MAX_SEQ_LEN,
  type GenerateOptions,
  type GenerateResult,
} from './policy/session.js';
export { selectFrames, frameRelevance, FRAME_MODES, FRAME_DEFAULTS, type FrameBatch, type FrameMode, type FrameRelevanceOptions, type FrameSelection, type SelectFramesOptions } from './kernels/frames.js';
export {
  MetricsLogger,
  JsonlSink,
  TensorBoardSink,
  ProgressSink,
  openRunMetrics,
  readMetricsJsonl,
  writeSamples,
  readSamples,
  sampleFromTrajectory,
  type MetricsRecord,
  type MetricsRow,
  type MetricsSink,
  type SampleRecord,
} from './metrics/index.js';
export { writeReport, renderReport, readRun, type ReportOptions, type RunData } from './report/index.js';
export * from './train/index.js';
export {
  rollout,
  emptyTimings,
  ROLLOUT_DEFAULTS,
  type RolloutOptions,
  type RolloutTimings,
} from './rollout/rollout.js';
export { replayExpert, type ReplayExpertOptions } from './rollout/expert.js';
export { packTrajectories, type PackedTrajectories } from './rollout/pack.js';
export { trajectorySeed } from './rollout/protocol.js';
export type { Trajectory, EndReasonName } from './rollout/types.js';
export * from './image/index.js';
export * from './sandbox/index.js';
export * from './worlds/index.js';
export { type VideoSource, DEFAULT_CACHE_BYTES } from './video/source.js';
export { FrameCache, type FrameCacheStats } from './video/cache.js';
export { VideoFile, locateFfmpeg, requireFfmpeg, probeVideo, type VideoFileOptions, type VideoFileInfo, type FfmpegTools } from './video/ffmpeg.js';
export {
  ProceduralVideo,
  renderSceneFrame,
  VIDEO_COLOURS,
  VIDEO_COLOUR_NAMES,
  VIDEO_SHAPES,
  type Scene as VideoScene,
  type SceneObject as VideoSceneObject,
  type VideoShape,
  type FrameInterval,
  type ProceduralVideoOptions,
} from './video/procedural.js';
export { encodeFrame, embedQuery, builtinEmbeddings, userEmbeddings, readEmbeddingsFile, BUILTIN_EMBEDDING_DIM, type FrameEmbeddings } from './video/embed.js';
export { VideoReaderObject, videoGlobals, selectFramesBuiltin, DEFAULT_VIDEO_TOOL_LIMITS, type VideoToolOptions, type VideoToolLimits } from './worlds/video-tools.js';
export { VideoQAWorld, VIDEO_QA_WORDS, type VideoQAOptions, type VideoContext } from './worlds/video-qa.js';
export { VIDEO_QUESTION_TYPES, answerFromFrames, uniformFrames, type VideoTask, type VideoQuestionType, type VideoTaskOptions } from './worlds/video-qa-tasks.js';
export { calibrateVideoQA, type CalibrationRow as VideoCalibrationRow } from './worlds/video-qa-calibration.js';
export { runVideoExperiment, videoVerdict, VIDEO_EXPERIMENT_SETTINGS, VIDEO_QUICK_SETTINGS, type VideoExperimentOptions, type VideoExperimentReport } from './train/video-experiment.js';

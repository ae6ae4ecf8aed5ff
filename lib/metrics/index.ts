/** The metrics logger and its sinks: metrics.jsonl, TensorBoard event files, console progress. */
export type { MetricsRecord, MetricsSink } from './types.js';
export { JsonlSink, formatMetricsLine, parseMetricsJsonl, readMetricsJsonl, type JsonlSinkOptions, type MetricsRow } from './jsonl.js';
export { TensorBoardSink, crc32c, maskedCrc32c, type TensorBoardSinkOptions } from './tensorboard.js';
export { ProgressSink, RL_PROGRESS_COLUMNS, formatSeconds, type ProgressColumn, type ProgressSinkOptions, type ProgressStream } from './progress.js';
export { MetricsLogger, METRICS_FILE, openRunMetrics, type RunMetricsOptions } from './logger.js';
export { encodePng, decodePng } from './png.js';
export { END_REASON_NAMES, readSamples, sampleFromTrajectory, writeSamples, type Box, type SampleRecord, type SampleSet, type SampleTurn, type TrajectoryLike } from './samples.js';

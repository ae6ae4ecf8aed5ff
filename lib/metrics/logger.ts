/**
 * The metrics logger: hands each step's record to every sink, in order, and
 * closes them all. `openRunMetrics` is what a run folder uses: metrics.jsonl
 * and a TensorBoard event file in the folder, and the console progress.
 */
import { join } from 'node:path';

import { PyVisionError } from '../util/errors.js';
import { JsonlSink } from './jsonl.js';
import { ProgressSink, type ProgressSinkOptions } from './progress.js';
import { TensorBoardSink } from './tensorboard.js';
import type { MetricsRecord, MetricsSink } from './types.js';

export class MetricsLogger implements MetricsSink {
  private readonly sinks: MetricsSink[];
  private lastStep = -Infinity;
  private closed = false;

  constructor(sinks: readonly MetricsSink[]) {
    this.sinks = [...sinks];
  }

  /** Adds a sink (e.g. a progress bar for the next phase). */
  add(sink: MetricsSink): void {
    this.sinks.push(sink);
  }

  /** Writes one step to every sink; steps must increase. */
  async write(step: number, record: MetricsRecord): Promise<void> {
    if (this.closed) throw new PyVisionError('E_IO', 'the metrics logger is closed');
    if (!Number.isInteger(step) || step < 0) throw new PyVisionError('E_ARG', `step must be a non-negative integer, got ${step}`);
    if (step <= this.lastStep) throw new PyVisionError('E_ARG', `step ${step} logged after step ${this.lastStep}: steps must increase`);
    this.lastStep = step;
    for (const sink of this.sinks) await sink.write(step, record);
  }

  /** Closes every sink (all of them, even when one fails; the first failure is rethrown). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let failure: unknown = null;
    for (const sink of this.sinks) {
      try {
        await sink.close();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure) throw failure;
  }
}

/** The file names of a run folder's metrics. */
export const METRICS_FILE = 'metrics.jsonl';

export interface RunMetricsOptions {
  /** Resuming: the first step the resumed run writes (lines and events from it on are superseded). */
  resumeStep?: number;
  /** Console progress; omitted for none. */
  progress?: ProgressSinkOptions;
  /** More sinks of the caller's (after the built-in ones). */
  extraSinks?: readonly MetricsSink[];
}

/** A logger writing `dir/metrics.jsonl`, a TensorBoard event file in `dir`, and the progress. */
export function openRunMetrics(dir: string, options: RunMetricsOptions = {}): MetricsLogger {
  const sinks: MetricsSink[] = [
    new JsonlSink(join(dir, METRICS_FILE), { resumeStep: options.resumeStep }),
    new TensorBoardSink(dir, { resumeStep: options.resumeStep }),
  ];
  if (options.progress) sinks.push(new ProgressSink(options.progress));
  sinks.push(...(options.extraSinks ?? []));
  return new MetricsLogger(sinks);
}

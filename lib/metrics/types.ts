/**
 * The metrics contract: the trainer produces one record of named numbers per
 * step (the keys of docs/agent.md section 6, e.g. `critic/acc/mean`,
 * `agent/tool_call_mean`, `timing/step`) and hands it to sinks. The sinks of
 * this folder write `metrics.jsonl`, TensorBoard event files and the console
 * progress; a user's own sink (a database, another dashboard) implements the
 * same two methods.
 */

/** One step's metrics: metric key to value. Non-finite values are kept by the jsonl sink as null. */
export type MetricsRecord = Record<string, number>;

export interface MetricsSink {
  /**
   * Records the metrics of one step. Steps are written in increasing order; a
   * sink may return a Promise, which the logger awaits before the next write.
   */
  write(step: number, record: MetricsRecord): void | Promise<void>;
  /** Flushes and releases what the sink holds (files, the terminal). Idempotent. */
  close(): void | Promise<void>;
}

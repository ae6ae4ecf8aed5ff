/**
 * `metrics.jsonl`: one JSON object per step, `{"step": N, "<key>": value, ...}`,
 * one line each. Every line goes to the file with one synchronous write as it
 * is logged, so a run killed at any point (SIGKILL included) leaves every
 * complete line on disk; at most the last line is cut short, and the reader
 * ignores such a line. Values that are not finite are written as null (JSON
 * has no NaN).
 *
 * A resumed run opens the file with `resumeStep`: lines of steps from
 * `resumeStep` on (written after the checkpoint the run resumes from) and a
 * cut-short last line are dropped, and the resumed run appends from there, so
 * the file ends up as an uninterrupted run's would.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

import { PyVisionError } from '../util/errors.js';
import type { MetricsRecord, MetricsSink } from './types.js';

/** One line of metrics.jsonl as read back: null where the value was not finite. */
export type MetricsRow = { step: number } & Record<string, number | null>;

export interface JsonlSinkOptions {
  /**
   * Resume: keep the existing file's lines of steps before this one and append
   * after them. Without it the file is started afresh (an existing one is replaced).
   */
  resumeStep?: number;
}

export class JsonlSink implements MetricsSink {
  readonly path: string;
  private fd: number | null;

  constructor(path: string, options: JsonlSinkOptions = {}) {
    this.path = path;
    try {
      mkdirSync(dirname(path), { recursive: true });
      if (options.resumeStep !== undefined && existsSync(path)) {
        const kept = parseMetricsJsonl(readFileSync(path, 'utf8'), path).filter((row) => row.step < options.resumeStep!);
        writeFileSync(path, kept.map((row) => JSON.stringify(row) + '\n').join(''));
        this.fd = openSync(path, 'a');
      } else {
        this.fd = openSync(path, 'w');
      }
    } catch (error) {
      if (error instanceof PyVisionError) throw error;
      throw new PyVisionError('E_IO', `cannot open ${path} for metrics: ${(error as Error).message}`);
    }
  }

  write(step: number, record: MetricsRecord): void {
    if (this.fd === null) throw new PyVisionError('E_IO', `metrics sink for ${this.path} is closed`);
    if (!Number.isInteger(step) || step < 0) throw new PyVisionError('E_ARG', `step must be a non-negative integer, got ${step}`);
    const line = Buffer.from(formatMetricsLine(step, record) + '\n', 'utf8');
    // One write call per line: the line is in the kernel's hands when write returns.
    let offset = 0;
    while (offset < line.length) offset += writeSync(this.fd, line, offset, line.length - offset);
  }

  close(): void {
    if (this.fd === null) return;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

/** The JSON line of one step: `step` first, then the record's keys in order; non-finite values as null. */
export function formatMetricsLine(step: number, record: MetricsRecord): string {
  const row: Record<string, number | null> = { step };
  for (const [key, value] of Object.entries(record)) {
    if (key === 'step') continue;
    row[key] = typeof value === 'number' && Number.isFinite(value) ? value : null;
  }
  return JSON.stringify(row);
}

/**
 * Parses metrics.jsonl text. Blank lines are skipped; a last line without its
 * newline that does not parse (a write cut short by a kill) is ignored; any
 * other bad line is an E_IO naming the file and line.
 */
export function parseMetricsJsonl(text: string, file = 'metrics.jsonl'): MetricsRow[] {
  const lines = text.split('\n');
  const rows: MetricsRow[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const last = i === lines.length - 1; // no newline after it
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (last) break;
      throw new PyVisionError('E_IO', `${file}:${i + 1}: not a JSON line: ${line.slice(0, 60)}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof (value as { step?: unknown }).step !== 'number') {
      throw new PyVisionError('E_IO', `${file}:${i + 1}: expected an object with a numeric "step"`);
    }
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== null && typeof v !== 'number') throw new PyVisionError('E_IO', `${file}:${i + 1}: "${key}" is not a number or null`);
    }
    rows.push(value as MetricsRow);
  }
  return rows;
}

/** Reads a run's metrics.jsonl (see parseMetricsJsonl for what is tolerated). */
export function readMetricsJsonl(path: string): MetricsRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PyVisionError('E_IO', `cannot read ${path}: ${(error as Error).message}`);
  }
  return parseMetricsJsonl(text, path);
}

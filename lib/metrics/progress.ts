/**
 * Console progress of a run. On a terminal: a cli-progress bar with the step,
 * the mean reward, the mean tool calls per trajectory, the accuracy and the
 * ETA, redrawn in place. Anywhere else (a pipe, a log file, CI): no bar and no
 * control characters, one plain line every `every` steps and at the last step.
 */
import cliProgress from 'cli-progress';

import type { MetricsRecord, MetricsSink } from './types.js';

/** A value shown next to the bar: the metric key, its label, and decimals. */
export interface ProgressColumn {
  key: string;
  label: string;
  digits?: number;
}

/** What the bar shows of an RL step (agent.md section 6 names). */
export const RL_PROGRESS_COLUMNS: readonly ProgressColumn[] = [
  { key: 'critic/score/mean', label: 'reward', digits: 3 },
  { key: 'agent/tool_call_mean', label: 'tool calls', digits: 2 },
  { key: 'critic/acc/mean', label: 'acc', digits: 3 },
];

/** The subset of a writable stream the sink needs (process.stdout, or a test's fake). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressSinkOptions {
  /** Steps of the whole phase (the bar's total). */
  totalSteps: number;
  /** The first step's number minus one when resuming (the bar starts there); 0 by default. */
  startStep?: number;
  /** Prefix of every line, e.g. 'sft' or 'rl'. */
  label?: string;
  /** Values shown; RL_PROGRESS_COLUMNS by default. */
  columns?: readonly ProgressColumn[];
  /** Where to write; process.stdout by default. */
  stream?: ProgressStream;
  /** Force the terminal (bar) or plain (lines) mode; by default stream.isTTY decides. */
  tty?: boolean;
  /** Plain mode: a line every this many steps (and at the last); 10 by default. */
  every?: number;
  /** When the phase started (Date.now()), for the elapsed time and the ETA; the sink's creation by default. */
  startedAt?: number;
}

export class ProgressSink implements MetricsSink {
  private readonly options: Required<Omit<ProgressSinkOptions, 'tty' | 'startedAt'>> & { tty: boolean };
  // a MultiBar of one bar: its log() prints lines above the bar without breaking it
  private multi: cliProgress.MultiBar | null = null;
  private bar: cliProgress.SingleBar | null = null;
  private readonly started: number;
  private closed = false;

  constructor(options: ProgressSinkOptions) {
    const stream = options.stream ?? process.stdout;
    this.started = options.startedAt ?? Date.now();
    this.options = {
      totalSteps: options.totalSteps,
      startStep: options.startStep ?? 0,
      label: options.label ?? 'train',
      columns: options.columns ?? RL_PROGRESS_COLUMNS,
      stream,
      tty: options.tty ?? Boolean(stream.isTTY),
      every: Math.max(1, Math.floor(options.every ?? 10)),
    };
    if (this.options.tty) {
      const values = this.options.columns.map((c) => `${c.label} {${safeName(c.key)}}`).join(' | ');
      this.multi = new cliProgress.MultiBar(
        {
          format: `${this.options.label} [{bar}] {value}/{total} | ${values} | ETA {eta_formatted}`,
          stream: stream as NodeJS.WritableStream,
          hideCursor: true,
          clearOnComplete: false,
          // redrawn after every log line, even when its text did not change
          forceRedraw: true,
          etaBuffer: 20,
          barsize: 24,
          // cli-progress checks stream.isTTY itself; tty was decided above.
          noTTYOutput: true,
          notTTYSchedule: 1000,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multi.create(this.options.totalSteps, this.options.startStep, this.payload({}));
    }
  }

  write(step: number, record: MetricsRecord): void {
    if (this.closed) return;
    if (this.bar) {
      this.bar.update(step, this.payload(record));
      return;
    }
    const { every, totalSteps, label, stream } = this.options;
    if (step <= this.options.startStep || (step % every !== 0 && step !== totalSteps)) return;
    const values = this.options.columns
      .map((c) => `${c.label} ${formatValue(record[c.key], c.digits)}`)
      .join(' | ');
    const elapsed = (Date.now() - this.started) / 1000;
    const done = step - this.options.startStep;
    const eta = done > 0 ? ((totalSteps - step) * elapsed) / done : NaN;
    stream.write(`${label} step ${step}/${totalSteps} | ${values} | elapsed ${formatSeconds(elapsed)} | ETA ${formatSeconds(eta)}\n`);
  }

  /** A line of text (a phase, an evaluation) without breaking the bar: above it on a terminal, as is elsewhere. */
  log(line: string): void {
    const { stream } = this.options;
    if (this.multi && !this.closed) {
      this.multi.log(`${line}\n`);
      this.multi.update(); // now, not at the next redraw
    } else {
      stream.write(`${line}\n`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.multi) {
      this.multi.stop();
      this.multi = null;
      this.bar = null;
    }
  }

  private payload(record: MetricsRecord): Record<string, string> {
    const out: Record<string, string> = {};
    for (const c of this.options.columns) out[safeName(c.key)] = formatValue(record[c.key], c.digits);
    return out;
  }
}

/** cli-progress placeholders are {word}: metric keys with '/' become '_'. */
function safeName(key: string): string {
  return key.replace(/[^A-Za-z0-9_]/g, '_');
}

function formatValue(value: number | undefined, digits = 3): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** Seconds as 1h02m, 3m05s or 12s; '-' when unknown. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

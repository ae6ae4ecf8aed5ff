/**
 * Shared benchmark harness. Each bench/<area>.bench.ts exports
 * `run(ctx: BenchContext): Promise<BenchRow[]>`; bench/run.ts runs them all,
 * prints one table and writes bench/results/<date>-<host>.json.
 *
 * Timing uses the `benchmark` package (adaptive sampling; mean, median and
 * best sample, and the relative margin of error of the mean) for every
 * candidate and its baseline in the same run, so a speed-up is a ratio of two
 * numbers measured under the same conditions. Rows compared with an external
 * peer use the statistic that peer reports (see Timing).
 */
import Benchmark from 'benchmark';
import { spawnSync } from 'node:child_process';

export interface BenchRow {
  /** what is measured, e.g. "groupAdvantages 1M" */
  name: string;
  /** who computed it, e.g. "native cpu", "plain TypeScript", "numpy" */
  impl: string;
  /** milliseconds per call: the mean, unless the row's note names another statistic (median, best of N) */
  ms: number;
  /** relative margin of error of the mean, in percent (0 when not sampled by benchmark) */
  rme: number;
  /** median and best sample, milliseconds per call (rows whose ratio to another row is reported) */
  medianMs?: number;
  minMs?: number;
  /** items per second, with `unit` naming the item */
  throughput?: number;
  unit?: string;
  /** how many times faster than each baseline row of the same name, keyed by the baseline's impl */
  speedups?: Record<string, number>;
  /** the fraction of the memory-bandwidth floor reached (bytes moved / time / measured bandwidth) */
  bandwidthFraction?: number;
  /** free text: target, notes */
  note?: string;
}

export interface BenchContext {
  /** measured read bandwidth of this machine in GB/s (a large sequential sum) */
  readBandwidthGBs: number;
  /** quick mode (BENCH_QUICK=1): smaller sizes / fewer samples, for smoke runs */
  quick: boolean;
  /** python3 with numpy importable (for same-run peers) */
  python: string | undefined;
}

/** A small seeded PRNG (mulberry32) for benchmark inputs. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A timing: mean, median and minimum milliseconds per call over the samples,
 * and the relative margin of error of the mean (%). Compare a row with a peer
 * by the statistic the peer reports (the frame-selection numpy and faiss
 * peers: best of N, i.e. `minMs`; the scoring numpy peer and the PyTorch
 * peer: median, i.e. `medianMs`).
 */
export interface Timing {
  ms: number;
  medianMs: number;
  minMs: number;
  rme: number;
}

function timingOf(stats: { mean: number; rme: number; sample: number[] }): Timing {
  const sorted = [...stats.sample].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  const median = sorted.length === 0 ? stats.mean : sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { ms: stats.mean * 1000, medianMs: median * 1000, minMs: (sorted[0] ?? stats.mean) * 1000, rme: stats.rme };
}

/** Times an async function with benchmark.js (deferred mode). */
export function timeAsync(fn: () => Promise<unknown>, opts: { minSamples?: number; maxTime?: number } = {}): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const bench = new Benchmark('b', {
      defer: true,
      minSamples: opts.minSamples ?? 5,
      maxTime: opts.maxTime ?? 2,
      fn: (deferred: { resolve(): void }) => {
        fn().then(
          () => deferred.resolve(),
          (error) => reject(error),
        );
      },
      onComplete: () => resolve(timingOf(bench.stats)),
      onError: (event: { target: { error: unknown } }) => reject(event.target.error),
    });
    bench.run({ async: true });
  });
}

/**
 * Times several async functions in turn (one warm-up call of each, then
 * rounds of one call of each, in order, until every one has `minSamples`
 * calls and `maxTime` seconds have passed), so that a shared machine's quick
 * and slow moments fall on all of them alike: for rows that are compared by
 * their ratio. Returns one timing per function; rme is the 95% margin of the
 * mean in percent (normal quantile), as benchmark.js reports it.
 */
export async function timeInTurn(fns: (() => Promise<unknown>)[], opts: { minSamples?: number; maxTime?: number } = {}): Promise<Timing[]> {
  const minSamples = opts.minSamples ?? 5;
  const maxTime = opts.maxTime ?? 2;
  for (const fn of fns) await fn();
  const samples: number[][] = fns.map(() => []);
  const start = performance.now();
  while (samples[0].length < minSamples || performance.now() - start < maxTime * 1e3) {
    for (let f = 0; f < fns.length; f++) {
      const t0 = performance.now();
      await fns[f]();
      samples[f].push((performance.now() - t0) / 1e3);
    }
  }
  return samples.map((sample) => {
    const n = sample.length;
    const mean = sample.reduce((sum, x) => sum + x, 0) / n;
    const sd = Math.sqrt(sample.reduce((sum, x) => sum + (x - mean) ** 2, 0) / Math.max(1, n - 1));
    return timingOf({ mean, rme: ((1.96 * sd) / Math.sqrt(n) / mean) * 100, sample });
  });
}

/** Times a synchronous function with benchmark.js. */
export function timeSync(fn: () => unknown, opts: { minSamples?: number; maxTime?: number } = {}): Timing {
  const bench = new Benchmark('b', { fn, minSamples: opts.minSamples ?? 5, maxTime: opts.maxTime ?? 2 });
  bench.run();
  return timingOf(bench.stats);
}

/**
 * Runs a Python peer script (numpy, torch, faiss) that prints one JSON object
 * per line: {"name", "impl", "ms"}. Returns [] with a note when Python or the
 * module is missing (peers are optional, never install dependencies).
 */
export function runPython(ctx: BenchContext, script: string, args: string[] = [], env: Record<string, string> = {}): BenchRow[] {
  if (!ctx.python) return [];
  const run = spawnSync(ctx.python, ['-c', script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 16 << 20,
    timeout: 15 * 60 * 1000,
  });
  if (run.status !== 0) {
    console.warn(`python peer skipped: ${(run.stderr || run.error?.message || '').trim().split('\n').pop()}`);
    return [];
  }
  return run.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      const o = JSON.parse(line) as { name: string; impl: string; ms: number; note?: string };
      return { name: o.name, impl: o.impl, ms: o.ms, rme: 0, note: o.note };
    });
}

/** Records, on each row of `impl`, its speed-up over the row of the same name from `baselineImpl`. */
export function addSpeedups(rows: BenchRow[], impl: string, baselineImpl: string, statistic: 'mean' | 'median' = 'mean'): void {
  for (const row of rows) {
    if (row.impl !== impl) continue;
    const base = rows.find((r) => r.name === row.name && r.impl === baselineImpl);
    const ms = statistic === 'median' ? (row.medianMs ?? row.ms) : row.ms;
    if (base) row.speedups = { ...row.speedups, [baselineImpl]: base.ms / ms };
  }
}

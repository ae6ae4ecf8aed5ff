/**
 * One RL step at the default configuration (the embedded default run:
 * visual-search world, default policy, the pyvision-rl recipe), by phase:
 * generate (the policy sampling: prefill, decode, observations appended),
 * tool (the sandbox running the programs), score (rewards, advantages,
 * filters, ranking), update (the PPO minibatches). Sampled and processed
 * tokens per second, and the share of the step spent outside native code.
 *
 * The policy is first trained by a short SFT (BENCH_QUICK=1: fewer steps) so
 * that it writes programs and answers as in a real run; then each of N steps
 * is timed (wall clock; the phases come from the trainer's own timing and the
 * rollout engine's per-phase timings). Native code: the rollout's prefill,
 * decode and append calls, and the whole update phase (policy.trainStep; the
 * packing of its minibatches in TypeScript is counted with it, so the share
 * outside native code is a lower bound).
 */
import { Trainer } from '../lib/train/trainer.js';
import { DEFAULT_CONFIG } from '../lib/train/config.js';
import type { BenchContext, BenchRow } from './harness.js';

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const steps = ctx.quick ? 2 : 5;
  const trainer = await Trainer.create({ outDir: null, sftSteps: ctx.quick ? 10 : DEFAULT_CONFIG.sftSteps, sftValEvery: 0, valTasks: 0, testTasks: 0, steps: steps + 1 });
  await trainer.sft();
  await trainer.step(); // warm-up: workspaces grow to their size
  const phases = { gen: [] as number[], tool: [] as number[], score: [] as number[], update: [] as number[], step: [] as number[] };
  let native = 0;
  let total = 0;
  let sampled = 0;
  let positions = 0;
  const first = trainer.config;
  for (let i = 0; i < steps; i++) {
    const record = await trainer.step();
    for (const k of Object.keys(phases) as (keyof typeof phases)[]) phases[k].push(record[`timing/${k}`] * 1000);
    native += record['timing/native'] * 1000;
    total += record['timing/step'] * 1000;
    sampled += record['perf/sampled_tokens'];
    positions += record['perf/tokens_per_second'] * record['timing/step'];
  }
  await trainer.close();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
  const rme = (xs: number[]) => (xs.length > 1 ? (100 * 1.96 * sd(xs)) / Math.sqrt(xs.length) / mean(xs) : 0);
  const name = `RL step (default: L=${first.layers} C=${first.dim}, ${first.trainBatchPrompts * first.groupSize} kept of ${Math.round(first.oversampleFactor * first.trainBatchPrompts) * first.groupSize} per round)`;
  const stepMs = mean(phases.step);
  const rows: BenchRow[] = [
    {
      name,
      impl: 'whole step',
      ms: stepMs,
      rme: rme(phases.step),
      throughput: positions / (total / 1000),
      unit: 'positions',
      note: `${(positions / (total / 1000)).toFixed(0)} positions/s (every position of the step's trajectories), ${(sampled / (total / 1000)).toFixed(0)} sampled tokens/s; ${(100 * (1 - native / total)).toFixed(0)}% of the step outside native code; mean of ${steps} steps`,
    },
    {
      name,
      impl: 'outside native code',
      ms: (total - native) / steps,
      rme: 0,
      note: `${(100 * (1 - native / total)).toFixed(1)}% of the step: all but the rollout's prefill, decode and append calls and the update phase (per step, mean of ${steps})`,
    },
  ];
  for (const k of ['gen', 'tool', 'score', 'update'] as const) {
    rows.push({ name, impl: `phase ${k === 'gen' ? 'generate' : k}`, ms: mean(phases[k]), rme: rme(phases[k]), note: `${((100 * mean(phases[k])) / stepMs).toFixed(1)}% of the step` });
  }
  return rows;
}

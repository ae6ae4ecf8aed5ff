/**
 * Stage 1, the SFT cold start: the scripted expert's trajectories replayed in
 * the policy's protocol, only the expert's action tokens in the loss (the
 * trajectories' mask), packed batches of fresh train-split tasks each step, a
 * linear warm-up then a constant learning rate, and validation accuracy every
 * sftValEvery steps.
 */
import type { Policy } from '../policy/policy.js';
import type { Trajectory } from '../rollout/types.js';
import type { Task, World } from '../worlds/world.js';
import { PyVisionError } from '../util/errors.js';
import type { TrainConfig } from './config.js';
import type { DataCursor } from './data.js';
import { packTrajectories } from '../rollout/pack.js';
import { hash32, STREAM } from './rng.js';

/** What the trainer asks of the expert replay (lib/rollout's `replayExpert` has this shape). */
export type ExpertReplayFn = (request: { world: World; tasks: Task[]; seed: number }) => Promise<Trajectory[]> | Trajectory[];

export type SftSettings = Pick<TrainConfig, 'sftSteps' | 'sftBatch' | 'sftLr' | 'sftWarmup' | 'weightDecay' | 'beta1' | 'beta2' | 'gradClip' | 'seed'>;

/** The learning rate of SFT step `step` (1-based): linear warm-up, then constant. */
export function sftLearningRate(s: Pick<TrainConfig, 'sftLr' | 'sftWarmup'>, step: number): number {
  return s.sftWarmup > 0 && step <= s.sftWarmup ? (s.sftLr * step) / s.sftWarmup : s.sftLr;
}

export interface SftStepRecord {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** Sampled (expert action) tokens in the batch. */
  tokens: number;
}

/** One SFT step: the next sftBatch tasks, the expert's trajectories, one AdamW step on their action tokens. */
export async function sftStep(
  policy: Policy,
  world: World,
  cursor: DataCursor<Task>,
  replayExpert: ExpertReplayFn,
  s: SftSettings,
  step: number,
): Promise<SftStepRecord> {
  const tasks = cursor.next(s.sftBatch);
  const trajs = await replayExpert({ world, tasks, seed: hash32(s.seed, STREAM.sft, step) });
  if (trajs.length === 0) throw new PyVisionError('E_INTERNAL', 'replayExpert returned no trajectories');
  const packed = packTrajectories(trajs);
  const tokens = packed.sampledTokens.reduce((a, b) => a + b, 0);
  if (tokens === 0) throw new PyVisionError('E_INTERNAL', 'the expert trajectories have no action tokens in their mask');
  const lr = sftLearningRate(s, step);
  const r = await policy.trainStep(packed.batch, { kind: 'sft', mask: packed.mask }, { lr, betas: [s.beta1, s.beta2], weightDecay: s.weightDecay, gradClip: s.gradClip });
  return { step, loss: r.loss, gradNorm: r.gradNorm, lr, tokens };
}

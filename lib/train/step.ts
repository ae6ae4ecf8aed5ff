/**
 * One RL step of agent.md section 5, as small functions that can be used
 * alone, composed by `rlStep` in this order:
 *
 *   pool = []
 *   repeat until pool has >= K trajectories (or maxGenRounds):
 *       trajs  = generateRound(...)                      genBatch prompts x G samples
 *       reward = scoreRewards(trajs)                     accumulativeToolReward
 *       adv    = computeAdvantages(reward, groups)       groupAdvantages on the FULL groups
 *       pool  += filterRollouts(round)                   filters, no ranking
 *   keep = rankPool(rounds, K)                           the pool by group std, top K; advantages kept
 *   ppoUpdate(policy, keep)                              epochs x minibatches of the pg loss
 *
 * No branch depends on the recipe: each recipe is only settings.
 */
import type { Policy } from '../policy/policy.js';
import type { Trajectory } from '../rollout/types.js';
import type { Task, World } from '../worlds/world.js';
import { emptyTimings, type RolloutTimings } from '../rollout/rollout.js';
import {
  accumulativeToolReward,
  groupAdvantages,
  selectRollouts,
  EndReason,
  type GroupAdvantages,
  type SelectionResult,
} from '../kernels/scoring.js';
import { PyVisionError } from '../util/errors.js';
import { END_REASON_NAMES, genBatchPrompts, trainBatchSize, type TrainConfig } from './config.js';
import type { DataCursor } from './data.js';
import { packTrajectories } from '../rollout/pack.js';
import { hash32, permutation, STREAM } from './rng.js';

/** What the trainer asks of a rollout engine (lib/rollout's `rollout` has this shape). */
export interface RolloutRequest<T extends Task = Task> {
  policy: Policy;
  world: World<T>;
  tasks: T[];
  groupSize: number;
  temperature: number;
  topK: number;
  maxTurns: number;
  maxTurnTokens: number;
  maxImages: number;
  errorFeedback: boolean;
  seed: number;
  /** Filled with the phases' milliseconds by engines that measure them (lib/rollout does). */
  timings?: RolloutTimings;
}
export type RolloutFn = (request: RolloutRequest) => Promise<Trajectory[]>;

/** One generation round, scored on its full groups. */
export interface GenRound {
  trajectories: Trajectory[];
  /** Group ids unique within the step (round * prompts + promptId). */
  groups: Int32Array;
  rewards: Float32Array;
  advantages: Float32Array;
  groupMean: Float32Array;
  groupStd: Float32Array;
  /** Indices into `trajectories` that passed the filters, in generation order. */
  survivors: Int32Array;
  dropped: SelectionResult['dropped'];
}

/** The settings the step's parts read. */
export type StepSettings = Pick<
  TrainConfig,
  | 'backend'
  | 'groupSize'
  | 'trainBatchPrompts'
  | 'oversampleFactor'
  | 'maxGenRounds'
  | 'temperature'
  | 'topK'
  | 'maxTurns'
  | 'maxTurnTokens'
  | 'maxImages'
  | 'errorFeedback'
  | 'toolRewardCoef'
  | 'correctThreshold'
  | 'advantageScale'
  | 'zeroVarianceFilter'
  | 'keepEndReasons'
  | 'requireToolImage'
  | 'maxLength'
  | 'rank'
  | 'ppoEpochs'
  | 'ppoMiniBatches'
  | 'clipLow'
  | 'clipHigh'
  | 'dualClip'
  | 'lossAgg'
  | 'recomputeOldLogp'
  | 'lr'
  | 'weightDecay'
  | 'beta1'
  | 'beta2'
  | 'gradClip'
  | 'seed'
>;

function backendOf(s: Pick<TrainConfig, 'backend'>): { backend: TrainConfig['backend'] } {
  return { backend: s.backend };
}

/** Samples one round: the next genBatch prompts of the cursor, G samples each, seeded by (seed, step, round). */
export async function generateRound(
  rollout: RolloutFn,
  policy: Policy,
  world: World,
  cursor: DataCursor<Task>,
  s: StepSettings,
  step: number,
  round: number,
  timings?: RolloutTimings,
): Promise<{ trajectories: Trajectory[]; groups: Int32Array }> {
  const prompts = genBatchPrompts(s);
  const tasks = cursor.next(prompts);
  const trajectories = await rollout({
    policy,
    world,
    tasks,
    groupSize: s.groupSize,
    temperature: s.temperature,
    topK: s.topK,
    maxTurns: s.maxTurns,
    maxTurnTokens: s.maxTurnTokens,
    maxImages: s.maxImages,
    errorFeedback: s.errorFeedback,
    seed: hash32(s.seed, STREAM.rollout, step, round),
    ...(timings ? { timings } : {}),
  });
  const groups = new Int32Array(trajectories.length);
  trajectories.forEach((t, i) => {
    if (!Number.isInteger(t.promptId) || t.promptId < 0 || t.promptId >= prompts) {
      throw new PyVisionError('E_INTERNAL', `rollout returned promptId ${t.promptId} for ${prompts} prompts`);
    }
    groups[i] = round * prompts + t.promptId;
    t.group = groups[i];
  });
  return { trajectories, groups };
}

/** R = acc + coef * toolCalls * [acc >= correctThreshold] (semantics.md section 1). */
export async function scoreRewards(trajectories: readonly Trajectory[], s: Pick<TrainConfig, 'toolRewardCoef' | 'correctThreshold' | 'backend'>): Promise<Float32Array> {
  const acc = Float32Array.from(trajectories, (t) => t.acc);
  const calls = Int32Array.from(trajectories, (t) => t.toolCalls);
  // copies: arrays made by the addon belong to the main realm, which a vm context (jest) does not accept back
  const rewards = new Float32Array(await accumulativeToolReward(acc, calls, { coef: s.toolRewardCoef, correctThreshold: s.correctThreshold, ...backendOf(s) }));
  trajectories.forEach((t, i) => (t.reward = rewards[i]));
  return rewards;
}

/** Advantages and group statistics on the full groups (semantics.md section 2). */
export async function computeAdvantages(rewards: Float32Array, groups: Int32Array, s: Pick<TrainConfig, 'advantageScale' | 'backend'>): Promise<GroupAdvantages> {
  const r = await groupAdvantages(rewards, groups, { scale: s.advantageScale, ...backendOf(s) });
  return { advantages: new Float32Array(r.advantages), groupMean: new Float32Array(r.groupMean), groupStd: new Float32Array(r.groupStd) };
}

/** Everything a selection reads, per trajectory. */
export interface SelectionInput {
  rewards: Float32Array;
  groups: Int32Array;
  endReasons: Uint8Array;
  toolImages: Int32Array;
  lengths: Int32Array;
  /** Group reward std on the full groups (computeAdvantages). */
  groupStd: Float32Array;
}

export function selectionInput(trajectories: readonly Trajectory[], groups: Int32Array, rewards: Float32Array, groupStd: Float32Array): SelectionInput {
  return {
    rewards,
    groups,
    endReasons: Uint8Array.from(trajectories, (t) => t.endReason),
    toolImages: Int32Array.from(trajectories, (t) => t.toolImages),
    lengths: Int32Array.from(trajectories, (t) => t.tokens.length),
    groupStd,
  };
}

function keepReasonCodes(s: Pick<TrainConfig, 'keepEndReasons'>): EndReason[] {
  return s.keepEndReasons.map((name) => END_REASON_NAMES.indexOf(name) as EndReason);
}

/**
 * The selection of semantics.md section 3 in TypeScript, with the zero-variance
 * filter switchable (the native kernel always applies it). Used when
 * `zeroVarianceFilter` is off; tested equal to the kernel when it is on.
 */
export function selectPlain(
  input: SelectionInput,
  o: { target: number; zeroVariance: boolean; keepEndReasons: EndReason[]; requireToolImage: boolean; maxLength: number; rank: 'std' | 'none' },
): SelectionResult {
  const n = input.rewards.length;
  const dropped = { zeroVariance: 0, endReason: 0, noToolImage: 0, overLength: 0 };
  const lo = new Map<number, number>();
  const hi = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const g = input.groups[i];
    const r = input.rewards[i];
    lo.set(g, Math.min(lo.get(g) ?? Infinity, r));
    hi.set(g, Math.max(hi.get(g) ?? -Infinity, r));
  }
  const keep = new Set<number>(o.keepEndReasons);
  const survivors: number[] = [];
  for (let i = 0; i < n; i++) {
    const g = input.groups[i];
    if (o.zeroVariance && lo.get(g) === hi.get(g)) dropped.zeroVariance++;
    else if (!keep.has(input.endReasons[i])) dropped.endReason++;
    else if (o.requireToolImage && input.toolImages[i] === 0) dropped.noToolImage++;
    else if (o.maxLength > 0 && input.lengths[i] > o.maxLength) dropped.overLength++;
    else survivors.push(i);
  }
  if (o.rank === 'std') survivors.sort((a, b) => input.groupStd[b] - input.groupStd[a] || a - b);
  return { indices: Int32Array.from(survivors.slice(0, o.target)), dropped };
}

/** Runs the selection: the native kernel when the zero-variance filter is on, else selectPlain. */
export async function runSelection(
  input: SelectionInput,
  s: Pick<TrainConfig, 'zeroVarianceFilter' | 'keepEndReasons' | 'requireToolImage' | 'maxLength' | 'backend'>,
  target: number,
  rank: 'std' | 'none',
): Promise<SelectionResult> {
  const keepEndReasons = keepReasonCodes(s);
  if (!s.zeroVarianceFilter) {
    return selectPlain(input, { target, zeroVariance: false, keepEndReasons, requireToolImage: s.requireToolImage, maxLength: s.maxLength, rank });
  }
  const r = await selectRollouts(
    { rewards: input.rewards, groups: input.groups, endReasons: input.endReasons, toolImages: input.toolImages, lengths: input.lengths },
    {
      target,
      keepEndReasons,
      requireToolImage: s.requireToolImage,
      ...(s.maxLength > 0 ? { maxLength: s.maxLength } : {}),
      rank,
      ...backendOf(s),
    },
  );
  return { indices: new Int32Array(r.indices), dropped: r.dropped };
}

/** The filters of one round, no ranking: its survivors in generation order. */
export async function filterRollouts(
  round: Omit<GenRound, 'survivors' | 'dropped'>,
  s: Pick<TrainConfig, 'zeroVarianceFilter' | 'keepEndReasons' | 'requireToolImage' | 'maxLength' | 'backend'>,
): Promise<SelectionResult> {
  const input = selectionInput(round.trajectories, round.groups, round.rewards, round.groupStd);
  return runSelection(input, s, round.trajectories.length, 'none');
}

/** The rounds of one step joined (group ids are already unique across rounds). */
export function joinRounds(rounds: readonly GenRound[]): GenRound {
  const cat = <A extends Float32Array | Int32Array>(make: (n: number) => A, pick: (r: GenRound) => A): A => {
    const out = make(rounds.reduce((s, r) => s + pick(r).length, 0));
    let at = 0;
    for (const r of rounds) {
      out.set(pick(r) as never, at);
      at += pick(r).length;
    }
    return out;
  };
  const survivors: number[] = [];
  let base = 0;
  const dropped = { zeroVariance: 0, endReason: 0, noToolImage: 0, overLength: 0 };
  for (const r of rounds) {
    for (const i of r.survivors) survivors.push(base + i);
    base += r.trajectories.length;
    for (const k of Object.keys(dropped) as (keyof typeof dropped)[]) dropped[k] += r.dropped[k];
  }
  return {
    trajectories: rounds.flatMap((r) => r.trajectories),
    groups: cat((n) => new Int32Array(n), (r) => r.groups),
    rewards: cat((n) => new Float32Array(n), (r) => r.rewards),
    advantages: cat((n) => new Float32Array(n), (r) => r.advantages),
    groupMean: cat((n) => new Float32Array(n), (r) => r.groupMean),
    groupStd: cat((n) => new Float32Array(n), (r) => r.groupStd),
    survivors: Int32Array.from(survivors),
    dropped,
  };
}

/**
 * The top K of the pool, ranked by the group reward std of the full groups
 * (selectRollouts rank 'std'), or in generation order (rank 'none').
 * The selection runs over every generated trajectory of the step, so that each
 * group's std is the full group's (semantics.md section 3); its filters are the
 * ones each round already applied, so its survivors are exactly the pool (checked).
 * Advantages are not recomputed: the kept trajectories carry their round's.
 */
export async function rankPool(
  all: GenRound,
  s: Pick<TrainConfig, 'zeroVarianceFilter' | 'keepEndReasons' | 'requireToolImage' | 'maxLength' | 'rank' | 'backend'>,
  target: number,
): Promise<Int32Array> {
  const input = selectionInput(all.trajectories, all.groups, all.rewards, all.groupStd);
  const { indices } = await runSelection(input, s, target, s.rank);
  const pool = new Set(all.survivors);
  for (const i of indices) {
    if (!pool.has(i)) throw new PyVisionError('E_INTERNAL', `rankPool selected trajectory ${i}, which the round filters dropped`);
  }
  if (indices.length !== Math.min(target, pool.size)) {
    throw new PyVisionError('E_INTERNAL', `rankPool kept ${indices.length} of a pool of ${pool.size} (target ${target})`);
  }
  return indices;
}

/** The metrics of one PPO update (means over its minibatches). */
export interface UpdateResult {
  pgLoss: number;
  clipFrac: number;
  approxKl: number;
  gradNorm: number;
  entropy: number;
  /** AdamW steps taken. */
  optimizerSteps: number;
}

/** Splits 0..n-1 (shuffled) into `parts` nearly equal consecutive chunks. */
export function minibatches(n: number, parts: number, seed: number): number[][] {
  const order = permutation(n, seed);
  const out: number[][] = [];
  const p = Math.min(parts, n);
  for (let k = 0; k < p; k++) {
    const lo = Math.floor((k * n) / p);
    const hi = Math.floor(((k + 1) * n) / p);
    out.push(Array.from(order.subarray(lo, hi)));
  }
  return out;
}

/**
 * The PPO update: ppoEpochs passes, each over ppoMiniBatches shuffled
 * minibatches, one AdamW step per minibatch on the clipped pg loss (clip
 * clipLow/clipHigh, dual clip, lossAgg) with one advantage per trajectory.
 * Old log-probs are the sampler's, or recomputed once before the first pass.
 */
export async function ppoUpdate(
  policy: Policy,
  kept: readonly Trajectory[],
  advantages: Float32Array,
  s: StepSettings,
  step: number,
): Promise<UpdateResult> {
  const result: UpdateResult = { pgLoss: NaN, clipFrac: NaN, approxKl: NaN, gradNorm: NaN, entropy: NaN, optimizerSteps: 0 };
  if (kept.length === 0) return result;
  if (advantages.length !== kept.length) throw new PyVisionError('E_INTERNAL', `ppoUpdate: ${advantages.length} advantages for ${kept.length} trajectories`);
  let oldLogp: Float32Array[] = kept.map((t) => t.logp);
  if (s.recomputeOldLogp) {
    const packed = packTrajectories(kept);
    const { logp } = await policy.logprobs(packed.batch);
    oldLogp = kept.map((t, b) => {
      const lo = packed.batch.seqOffsets[b];
      const out = logp.slice(lo, lo + t.tokens.length);
      for (let i = 0; i < out.length; i++) if (!t.mask[i]) out[i] = 0;
      return out;
    });
  }
  const sums = { pgLoss: 0, clipFrac: 0, approxKl: 0, gradNorm: 0, entropy: 0 };
  for (let epoch = 0; epoch < s.ppoEpochs; epoch++) {
    for (const chunk of minibatches(kept.length, s.ppoMiniBatches, hash32(s.seed, STREAM.minibatch, step, epoch))) {
      if (chunk.length === 0) continue;
      const packed = packTrajectories(chunk.map((i) => ({ ...kept[i], logp: oldLogp[i] })));
      if (packed.mask.every((m) => m === 0)) continue;
      const r = await policy.trainStep(
        packed.batch,
        {
          kind: 'pg',
          mask: packed.mask,
          oldLogp: packed.oldLogp,
          advantages: Float32Array.from(chunk, (i) => advantages[i]),
          clipLow: s.clipLow,
          clipHigh: s.clipHigh,
          dualClip: s.dualClip,
          agg: s.lossAgg,
        },
        { lr: s.lr, betas: [s.beta1, s.beta2], weightDecay: s.weightDecay, gradClip: s.gradClip },
      );
      sums.pgLoss += r.loss;
      sums.clipFrac += r.clipFrac;
      sums.approxKl += r.approxKl;
      sums.gradNorm += r.gradNorm;
      sums.entropy += r.entropy;
      result.optimizerSteps++;
    }
  }
  if (result.optimizerSteps > 0) {
    const k = result.optimizerSteps;
    Object.assign(result, {
      pgLoss: sums.pgLoss / k,
      clipFrac: sums.clipFrac / k,
      approxKl: sums.approxKl / k,
      gradNorm: sums.gradNorm / k,
      entropy: sums.entropy / k,
    });
  }
  return result;
}

/** Wall-clock phases of one step (seconds). */
export interface StepTiming {
  gen: number;
  tool: number;
  score: number;
  update: number;
  step: number;
}

/** What one step produced. */
export interface StepOutcome {
  /** Every round, joined. */
  generated: GenRound;
  /** Indices into generated.trajectories of the K kept, in rank order. */
  kept: Int32Array;
  /** Generation rounds run. */
  rounds: number;
  update: UpdateResult;
  timing: StepTiming;
  /** The rollout engine's phases over the step's rounds (milliseconds). */
  rolloutTimings: RolloutTimings;
}

export interface StepContext {
  policy: Policy;
  world: World;
  cursor: DataCursor<Task>;
  rollout: RolloutFn;
  settings: StepSettings;
  /** The step number (1-based): it seeds the step's sampling and minibatch order. */
  step: number;
  /** Where the rollout phases' milliseconds are summed (fresh per step when absent). */
  timings?: RolloutTimings;
}

const now = (): number => performance.now() / 1000;

/** One RL step, in the order of agent.md section 5. */
export async function rlStep(ctx: StepContext): Promise<StepOutcome> {
  const s = ctx.settings;
  const K = trainBatchSize(s);
  const timing: StepTiming = { gen: 0, tool: 0, score: 0, update: 0, step: 0 };
  const timings = ctx.timings ?? emptyTimings();
  const t0 = now();
  const rounds: GenRound[] = [];
  let poolSize = 0;
  while (rounds.length < s.maxGenRounds && (rounds.length === 0 || poolSize < K)) {
    const g0 = now();
    const { trajectories, groups } = await generateRound(ctx.rollout, ctx.policy, ctx.world, ctx.cursor, s, ctx.step, rounds.length, timings);
    timing.gen += now() - g0;
    const s0 = now();
    const rewards = await scoreRewards(trajectories, s);
    const adv = await computeAdvantages(rewards, groups, s);
    const partial = { trajectories, groups, rewards, ...adv };
    const { indices, dropped } = await filterRollouts(partial, s);
    rounds.push({ ...partial, survivors: indices, dropped });
    poolSize += indices.length;
    timing.score += now() - s0;
  }
  const s1 = now();
  const generated = joinRounds(rounds);
  const kept = await rankPool(generated, s, K);
  timing.score += now() - s1;
  const u0 = now();
  const update = await ppoUpdate(
    ctx.policy,
    Array.from(kept, (i) => generated.trajectories[i]),
    Float32Array.from(kept, (i) => generated.advantages[i]),
    s,
    ctx.step,
  );
  timing.update = now() - u0;
  // generation without the tool calls (the rollout engine's own measure of them)
  timing.tool = timings.tool / 1000;
  timing.gen -= timing.tool;
  timing.step = now() - t0;
  return { generated, kept, rounds: rounds.length, update, timing, rolloutTimings: timings };
}

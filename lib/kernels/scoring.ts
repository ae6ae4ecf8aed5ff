/**
 * Trajectory scoring: the accumulative tool reward, group advantages, the
 * oversampling-filtering-ranking selection, and the clipped policy-gradient
 * loss with its gradient (semantics.md sections 1-5). Each function validates
 * its arguments here, then runs natively off the JavaScript thread.
 */
import type { Backend } from '../native/backend.js';
import { resolveBackend } from '../native/backend.js';
import { PyVisionError, withCallSite } from '../util/errors.js';
import { native, type NativeKlType, type NativeLossAggregation, type NativeLossOptions } from '../native/addon.js';
import { LIMITS } from '../util/limits.js';
import * as v from '../util/validate.js';

/** Why a trajectory ended (semantics.md section 3). */
export enum EndReason {
  DONE = 0,
  EXCEED_MAX_TURNS = 1,
  ERROR_IN_ACTION = 2,
  OVER_LENGTH = 3,
  EXCEED_MAX_IMAGES = 4,
}

export interface BackendOption {
  /** Where to run: 'auto' (default: PYVISION_RL_BACKEND, else CUDA when available), 'cpu' or 'cuda'. */
  backend?: Backend;
}

export interface ToolRewardOptions extends BackendOption {
  /** Bonus per successful tool call on a correct answer. Default 0.1. */
  coef?: number;
  /** acc >= correctThreshold counts as correct. Default 1.0. */
  correctThreshold?: number;
}

/** R_i = acc_i + coef * toolCalls_i * [acc_i >= correctThreshold]. */
export function accumulativeToolReward(
  acc: Float32Array,
  toolCalls: Int32Array,
  opts: ToolRewardOptions = {},
): Promise<Float32Array> {
  return withCallSite(async () => {
    v.typedArray(toolCalls, 'Int32Array', 'toolCalls', v.typedLength(v.typedArray(acc, 'Float32Array', 'acc')));
    const o = v.optionalObject(opts, 'opts');
    const coef = v.optionalNumber(o.coef, 'opts.coef', 0.1, { float32: true });
    const correctThreshold = v.optionalNumber(o.correctThreshold, 'opts.correctThreshold', 1.0, { float32: true });
    return native().accumulativeToolReward({ backend: resolveBackend(o.backend), acc, toolCalls, coef, correctThreshold });
  });
}

export type AdvantageScale = 'none' | 'group-std';

export interface GroupAdvantageOptions extends BackendOption {
  /** 'none' (default, PyVision-RL / Dr. GRPO): r - mean. 'group-std': (r - mean) / (std + eps). */
  scale?: AdvantageScale;
  /** Added to the std with scale 'group-std'. Default 1e-6. */
  eps?: number;
}

export interface GroupAdvantages {
  /** Per trajectory; 0 for a singleton group. */
  advantages: Float32Array;
  /** Per trajectory: the mean reward of its group. */
  groupMean: Float32Array;
  /** Per trajectory: the unbiased std of its group's rewards (0 for a singleton). */
  groupStd: Float32Array;
}

/** Group-relative advantages. Group ids are arbitrary integers (unsorted, non-contiguous). */
export function groupAdvantages(
  rewards: Float32Array,
  groups: Int32Array,
  opts: GroupAdvantageOptions = {},
): Promise<GroupAdvantages> {
  return withCallSite(async () => {
    v.typedArray(groups, 'Int32Array', 'groups', v.typedLength(v.typedArray(rewards, 'Float32Array', 'rewards')));
    const o = v.optionalObject(opts, 'opts');
    const scale = v.oneOf(o.scale, 'opts.scale', ['none', 'group-std'] as const, 'none');
    const eps = v.optionalNumber(o.eps, 'opts.eps', 1e-6, { min: 0, float32: true });
    return native().groupAdvantages({ backend: resolveBackend(o.backend), rewards, groups, scale, eps });
  });
}

export interface RolloutBatch {
  /** Final reward of each trajectory (tool bonus included). */
  rewards: Float32Array;
  /** Group (prompt) id of each trajectory. */
  groups: Int32Array;
  /** EndReason of each trajectory. */
  endReasons: Uint8Array;
  /** Number of images returned by tool calls in each trajectory. */
  toolImages: Int32Array;
  /** Token count of each trajectory; needed with `maxLength`. */
  lengths?: Int32Array;
}

export interface SelectOptions extends BackendOption {
  /** K: how many trajectories to keep at most. */
  target: number;
  /** End reasons that survive the filter. Default DONE, EXCEED_MAX_TURNS, ERROR_IN_ACTION. */
  keepEndReasons?: EndReason[];
  /** Drop trajectories in which no tool call returned an image. Default true (the reference code). */
  requireToolImage?: boolean;
  /** Drop trajectories longer than this many tokens. Default: no limit. */
  maxLength?: number;
  /** 'std' (default): by group reward std, descending, ties by index; 'none': input order. */
  rank?: 'std' | 'none';
}

export interface SelectionResult {
  /** Selected trajectory indices, in rank order. */
  indices: Int32Array;
  /** How many trajectories each filter dropped (each counted by the first filter that dropped it). */
  dropped: { zeroVariance: number; endReason: number; noToolImage: number; overLength: number };
}

export const DEFAULT_KEEP_END_REASONS: readonly EndReason[] = [
  EndReason.DONE,
  EndReason.EXCEED_MAX_TURNS,
  EndReason.ERROR_IN_ACTION,
];

/** Oversampling-filtering-ranking: drop zero-variance groups and broken interactions, rank by group std, keep K. */
export function selectRollouts(input: RolloutBatch, opts: SelectOptions): Promise<SelectionResult> {
  return withCallSite(async () => {
    const i = v.object(input, 'input');
    const rewards = v.typedArray(i.rewards, 'Float32Array', 'input.rewards');
    const n = rewards.length;
    const groups = v.typedArray(i.groups, 'Int32Array', 'input.groups', n);
    const endReasons = v.typedArray(i.endReasons, 'Uint8Array', 'input.endReasons', n);
    const toolImages = v.typedArray(i.toolImages, 'Int32Array', 'input.toolImages', n);
    const lengths = v.optionalTypedArray(i.lengths, 'Int32Array', 'input.lengths', n);
    const o = v.object(opts, 'opts');
    const target = v.number(o.target, 'opts.target', { integer: true, min: 0, max: LIMITS.int32 });
    const keep = o.keepEndReasons === undefined ? DEFAULT_KEEP_END_REASONS : o.keepEndReasons;
    if (!Array.isArray(keep)) throw new PyVisionError('E_ARG', 'opts.keepEndReasons must be an array of EndReason');
    const keepEndReasons = Uint8Array.from(keep, (reason: unknown, k: number) =>
      v.number(reason, `opts.keepEndReasons[${k}]`, { integer: true, min: 0, max: 4 }),
    );
    const requireToolImage = v.boolean(o.requireToolImage, 'opts.requireToolImage', true);
    const maxLength = o.maxLength === undefined ? null : v.number(o.maxLength, 'opts.maxLength', { integer: true, min: 0, max: LIMITS.int32 });
    if (maxLength !== null && lengths === undefined) {
      throw new PyVisionError('E_ARG', 'opts.maxLength needs input.lengths (the token count of each trajectory)');
    }
    const rank = v.oneOf(o.rank, 'opts.rank', ['std', 'none'] as const, 'std');
    return native().selectRollouts({
      backend: resolveBackend(o.backend),
      rewards,
      groups,
      endReasons,
      toolImages,
      lengths,
      target,
      keepEndReasons,
      requireToolImage,
      maxLength,
      rank,
    });
  });
}

export type LossAggregation = NativeLossAggregation;
export const LOSS_AGGREGATIONS: readonly LossAggregation[] = [
  'token-mean',
  'seq-mean-token-sum',
  'seq-mean-token-mean',
  'seq-mean-token-sum-norm',
];
export type KlType = NativeKlType;
export const KL_TYPES: readonly KlType[] = ['k1', 'k2', 'k3'];

export interface PolicyLossInput {
  /** log-prob of each token under the current policy. */
  logp: Float32Array;
  /** log-prob of each token under the policy that generated the rollout. */
  oldLogp: Float32Array;
  /** One advantage per token, or one per sequence (broadcast to its tokens). */
  advantages: Float32Array;
  /** 1 for tokens the policy generated (in the loss), 0 otherwise (prompt, observations). */
  mask: Uint8Array | Float32Array;
  /** B + 1 offsets of the packed sequences into the token arrays. */
  seqOffsets: Int32Array;
  /** log-prob under a reference policy; needed when klCoef > 0. */
  refLogp?: Float32Array;
}

export interface PolicyLossOptions extends BackendOption {
  /** Lower PPO clip: ratio >= 1 - clipLow. Default 0.2. */
  clipLow?: number;
  /** Upper PPO clip: ratio <= 1 + clipHigh. Default 0.2. */
  clipHigh?: number;
  /** Dual-clip bound on negative advantages (> 1), or null to disable. Default 3. */
  dualClip?: number | null;
  /** How token losses are aggregated. Default 'token-mean'. */
  agg?: LossAggregation;
  /** Denominator of 'seq-mean-token-sum-norm'. Default: the longest sequence's token count. */
  normDenominator?: number;
  /** Weight of the KL penalty to refLogp. Default 0 (off). */
  klCoef?: number;
  /** KL estimator. Default 'k3'. */
  klType?: KlType;
}

export interface PolicyLossResult {
  /** The aggregated loss. */
  loss: number;
  /** d loss / d logp, per token. */
  grad: Float32Array;
  /** Share of masked tokens where the clipped branch was taken (pg2 > pg1). */
  clipFrac: number;
  /** Share of masked tokens where the dual clip bound was taken. */
  clipFracLower: number;
  /** Masked mean of oldLogp - logp. */
  approxKl: number;
}

/**
 * Reads and validates the policy-loss options of `o` (messages name
 * `${prefix}.field`), defaults applied: the one reader shared by policyLoss
 * and the policy engine's pg loss (lib/policy/policy.ts).
 */
export function resolveLossOptions(o: Record<string, unknown>, prefix = 'opts'): NativeLossOptions {
  const clipLow = v.optionalNumber(o.clipLow, `${prefix}.clipLow`, 0.2, { min: 0, below: 1 });
  const clipHigh = v.optionalNumber(o.clipHigh, `${prefix}.clipHigh`, 0.2, { min: 0, float32: true });
  const dualClip = o.dualClip === null ? null : v.optionalNumber(o.dualClip, `${prefix}.dualClip`, 3.0, { above: 1, float32: true });
  const agg = v.oneOf(o.agg, `${prefix}.agg`, LOSS_AGGREGATIONS, 'token-mean');
  const normDenominator = o.normDenominator === undefined ? null : v.number(o.normDenominator, `${prefix}.normDenominator`, { above: 0 });
  const klCoef = v.optionalNumber(o.klCoef, `${prefix}.klCoef`, 0, { min: 0, float32: true });
  const klType = v.oneOf(o.klType, `${prefix}.klType`, KL_TYPES, 'k3');
  return { clipLow, clipHigh, dualClip, agg, normDenominator, klCoef, klType };
}

/** The PPO clipped surrogate with dual clip, aggregated, and its gradient w.r.t. logp. */
export function policyLoss(input: PolicyLossInput, opts: PolicyLossOptions = {}): Promise<PolicyLossResult> {
  return withCallSite(async () => {
    const i = v.object(input, 'input');
    const logp = v.typedArray(i.logp, 'Float32Array', 'input.logp');
    const T = logp.length;
    const oldLogp = v.typedArray(i.oldLogp, 'Float32Array', 'input.oldLogp', T);
    const seqOffsets = v.offsetsArray(i.seqOffsets, 'input.seqOffsets', T, 'the token count');
    const B = seqOffsets.length - 1;
    const advantages = v.typedArray(i.advantages, 'Float32Array', 'input.advantages');
    if (advantages.length !== T && advantages.length !== B) {
      throw new PyVisionError(
        'E_SHAPE',
        `input.advantages must have one value per token (${T}) or per sequence (${B}), got ${advantages.length}`,
      );
    }
    const mask = v.typedArrayOf(i.mask, ['Uint8Array', 'Float32Array'] as const, 'input.mask', T);
    const refLogp = v.optionalTypedArray(i.refLogp, 'Float32Array', 'input.refLogp', T);
    const o = v.optionalObject(opts, 'opts');
    const r = resolveLossOptions(o);
    if (r.klCoef > 0 && refLogp === undefined) {
      throw new PyVisionError('E_ARG', 'opts.klCoef > 0 needs input.refLogp');
    }
    return native().policyLoss({ backend: resolveBackend(o.backend), logp, oldLogp, advantages, mask, seqOffsets, refLogp, ...r });
  });
}

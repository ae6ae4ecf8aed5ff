/**
 * Trajectories into the batch layout of policy.logprobs / gradients /
 * trainStep (docs/policy.md "The batch format"): one sequence per trajectory,
 * the loss mask on sampled tokens, the behaviour log-probs, and one advantage
 * per sequence.
 */
import type { SequenceBatch } from '../policy/policy.js';
import { PyVisionError, describe } from '../util/errors.js';
import { isTypedArray } from '../util/validate.js';
import type { Trajectory } from './types.js';

export interface PackedTrajectories {
  /** Sequence b is trajectory b: `batch.seqOffsets[b] .. batch.seqOffsets[b + 1]`. */
  batch: SequenceBatch;
  /** Per position: 1 on sampled tokens (the loss mask of a pg or sft loss), else 0. */
  mask: Float32Array;
  /** Per position: the log-prob at sampling time (0 off the mask): a pg loss's oldLogp. */
  oldLogp: Float32Array;
  /** Per sequence (B): the advantages given, or zeros for the caller to fill. */
  advantages: Float32Array;
  /** Sampled tokens per sequence (B): the mask's sum, for token-mean weights and metrics. */
  sampledTokens: Int32Array;
}

/** Packs trajectories (in the given order) for the policy; `advantages`, when given, one per trajectory. */
export function packTrajectories(trajectories: readonly Trajectory[], advantages?: ArrayLike<number>): PackedTrajectories {
  if (!Array.isArray(trajectories) || trajectories.length === 0) {
    throw new PyVisionError('E_ARG', `trajectories must be a non-empty array of trajectories, got ${describe(trajectories)}`);
  }
  const B = trajectories.length;
  if (advantages !== undefined) {
    if (typeof advantages !== 'object' || advantages === null || typeof advantages.length !== 'number') {
      throw new PyVisionError('E_ARG', `advantages must be an array of numbers, got ${describe(advantages)}`);
    }
    if (advantages.length !== B) throw new PyVisionError('E_SHAPE', `advantages must hold one value per trajectory (${B}), got ${advantages.length}`);
  }
  let n = 0;
  let np = 0;
  trajectories.forEach((t, b) => {
    if (!isTypedArray(t?.tokens, 'Int32Array') || !isTypedArray(t.mask, 'Uint8Array') || !isTypedArray(t.logp, 'Float32Array') || !isTypedArray(t.patches, 'Float32Array')) {
      throw new PyVisionError('E_DTYPE', `trajectories[${b}] must have tokens (Int32Array), patches (Float32Array), mask (Uint8Array) and logp (Float32Array)`);
    }
    if (t.mask.length !== t.tokens.length || t.logp.length !== t.tokens.length) {
      throw new PyVisionError('E_SHAPE', `trajectories[${b}].mask and .logp must have the length of .tokens (${t.tokens.length}), got ${t.mask.length} and ${t.logp.length}`);
    }
    n += t.tokens.length;
    np += t.patches.length;
  });
  const tokens = new Int32Array(n);
  const patches = new Float32Array(np);
  const seqOffsets = new Int32Array(B + 1);
  const mask = new Float32Array(n);
  const oldLogp = new Float32Array(n);
  const sampledTokens = new Int32Array(B);
  let at = 0;
  let pat = 0;
  trajectories.forEach((t, b) => {
    tokens.set(t.tokens, at);
    patches.set(t.patches, pat);
    oldLogp.set(t.logp, at);
    let m = 0;
    for (let i = 0; i < t.mask.length; i++) {
      mask[at + i] = t.mask[i];
      m += t.mask[i];
    }
    sampledTokens[b] = m;
    at += t.tokens.length;
    pat += t.patches.length;
    seqOffsets[b + 1] = at;
  });
  const adv = new Float32Array(B);
  if (advantages !== undefined) {
    for (let b = 0; b < B; b++) {
      const a = advantages[b];
      if (typeof a !== 'number' || !Number.isFinite(a)) throw new PyVisionError('E_NONFINITE', `advantages[${b}] must be a finite number, got ${describe(a)}`);
      adv[b] = a;
    }
  }
  return { batch: { tokens, patches, seqOffsets }, mask, oldLogp, advantages: adv, sampledTokens };
}

/**
 * Packing trajectories into one SequenceBatch for the policy (the order of the
 * list is kept): positions, patches, offsets, the loss mask, the sampler's
 * log-probs and one advantage per sequence.
 */
import type { SequenceBatch } from '../policy/policy.js';
import type { Trajectory } from '../rollout/types.js';

export interface PackedBatch {
  batch: SequenceBatch;
  /** 1 on sampled positions. */
  mask: Uint8Array;
  /** The sampler's log-probs per position (0 off the mask). */
  logp: Float32Array;
  /** Sampled positions in the batch. */
  maskedTokens: number;
}

export function packSequences(trajectories: readonly Pick<Trajectory, 'tokens' | 'patches' | 'mask' | 'logp'>[]): PackedBatch {
  let positions = 0;
  let patchFloats = 0;
  for (const t of trajectories) {
    positions += t.tokens.length;
    patchFloats += t.patches.length;
  }
  const tokens = new Int32Array(positions);
  const patches = new Float32Array(patchFloats);
  const mask = new Uint8Array(positions);
  const logp = new Float32Array(positions);
  const seqOffsets = new Int32Array(trajectories.length + 1);
  let at = 0;
  let pat = 0;
  let maskedTokens = 0;
  trajectories.forEach((t, b) => {
    tokens.set(t.tokens, at);
    patches.set(t.patches, pat);
    mask.set(t.mask, at);
    logp.set(t.logp, at);
    for (let i = 0; i < t.mask.length; i++) maskedTokens += t.mask[i];
    at += t.tokens.length;
    pat += t.patches.length;
    seqOffsets[b + 1] = at;
  });
  return { batch: { tokens, patches, seqOffsets }, mask, logp, maskedTokens };
}

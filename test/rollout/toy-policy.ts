/**
 * A tiny policy taught the toy world's protocol by SFT on the expert's
 * replayed trajectories (the cold start the trainer runs), so rollouts have
 * several well-formed turns; deterministic for its seed.
 */
import { Policy, type PolicyConfig } from '../../lib/policy/policy.js';
import { packTrajectories } from '../../lib/rollout/pack.js';
import { replayExpert } from '../../lib/rollout/expert.js';
import { ToyWorld } from './toy-world.js';

export function toyConfig(world: ToyWorld, maxSeqLen = 64): PolicyConfig {
  return { vocabSize: world.tokenizer.size, patchDim: world.patchDim, maxSeqLen, layers: 1, heads: 2, dim: 32 };
}

export async function trainedToyPolicy(world: ToyWorld, steps = 80, seed = 1): Promise<Policy> {
  const policy = await Policy.create({ ...toyConfig(world), seed, backend: 'cpu' });
  const tasks = world.tasks('train', 12, 0);
  const expert = await replayExpert({ world, tasks, seed: 0, samples: 2 });
  const packed = packTrajectories(expert);
  for (let i = 0; i < steps; i++) {
    await policy.trainStep(packed.batch, { kind: 'sft', mask: packed.mask }, { lr: 1e-2, weightDecay: 0 });
  }
  return policy;
}

/** The same weights with a shorter maxSeqLen (pos_emb cut): the native end of a sequence. */
export async function withMaxSeqLen(policy: Policy, maxSeqLen: number): Promise<Policy> {
  const t = await policy.tensors();
  const C = policy.config.dim;
  const cut = new Map([...t].map(([name, x]) => [name, name === 'pos_emb.weight' ? x.slice(0, maxSeqLen * C) : x]));
  return Policy.fromTensors({ ...policy.config, maxSeqLen }, cut, { backend: 'cpu' });
}

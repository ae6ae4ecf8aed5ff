/**
 * The RL step's order on a stub world with known rewards (agent.md section 5):
 * rewards, advantages and std on the FULL groups before any filter; the round
 * filters without ranking; pooling until K; ranking of the pool by group std
 * after pooling; the top K trained with the advantages of their full groups.
 */
import { Policy } from '../../lib/policy/policy.js';
import { selectRollouts, EndReason } from '../../lib/kernels/scoring.js';
import { mergeConfig } from '../../lib/train/config.js';
import { DataCursor } from '../../lib/train/data.js';
import { RECIPES } from '../../lib/train/recipes/index.js';
import { rlStep, selectPlain, type StepSettings } from '../../lib/train/step.js';
import type { Task } from '../../lib/worlds/world.js';
import { rng, ints, uniform } from '../helpers.js';
import { StubWorld, scriptedRollout, type Outcome } from './stub.js';

const world = new StubWorld();

async function makePolicy(): Promise<Policy> {
  return Policy.create({ ...world.policyConfig(), layers: 1, heads: 1, dim: 8, seed: 3 });
}

/** Records the per-sequence advantages of every trainStep. */
function spyTrainSteps(policy: Policy): Float32Array[] {
  const seen: Float32Array[] = [];
  const original = policy.trainStep.bind(policy);
  policy.trainStep = (batch, loss, optim) => {
    if (loss.kind === 'pg') seen.push(Float32Array.from(loss.advantages));
    return original(batch, loss, optim);
  };
  return seen;
}

const sorted = (xs: ArrayLike<number>) => Array.from(xs).sort((a, b) => a - b);

describe('rlStep order', () => {
  // Round 0: prompt 0 all correct (zero variance); prompt 1 rewards [1.1, 0, 0, 0], sample 2 without a tool image.
  // Round 1: prompt 0 rewards [1.1, 1.1, 0, 0], sample 2 without a tool image; prompt 1 rewards [1.4, 0, 0, 0].
  const outcomes = (call: number, k: number, g: number): Outcome => {
    if (call === 0 && k === 0) return { acc: 1 };
    if (call === 0 && k === 1) return { acc: g === 0 ? 1 : 0, toolImages: g === 2 ? 0 : 1 };
    if (call === 1 && k === 0) return { acc: g < 2 ? 1 : 0, toolImages: g === 2 ? 0 : 1 };
    if (call === 1 && k === 1) return { acc: g === 0 ? 1 : 0, toolCalls: g === 0 ? 4 : 1 };
    return { acc: 0 };
  };

  test('pyvision-rl: full-group advantages, pooling until K, ranking after pooling, advantages not recomputed', async () => {
    const policy = await makePolicy();
    const seen = spyTrainSteps(policy);
    const settings: StepSettings = mergeConfig({ groupSize: 4, trainBatchPrompts: 2, oversampleFactor: 1, maxGenRounds: 3, ppoMiniBatches: 1, seed: 5 }, RECIPES);
    const { rollout, calls } = scriptedRollout(policy, outcomes);
    const cursor = new DataCursor<Task>(world.tasks('train', 16), 0);
    const out = await rlStep({ policy, world, cursor, rollout, settings, step: 1 });

    // two rounds: after round 0 only 3 survive (< K = 8); after round 1, 3 + 3 + 4 = 10
    expect(out.rounds).toBe(2);
    expect(calls.length).toBe(2);
    expect(calls[0].tasks.length).toBe(2);
    expect(calls[0].seed).not.toBe(calls[1].seed);
    const g = out.generated;
    expect(g.trajectories.length).toBe(16);
    // the tool reward: 1 + 0.1 * calls when correct
    expect(Array.from(g.rewards.subarray(4, 8))).toEqual([1.1, 0, 0, 0].map(Math.fround));
    expect(Array.from(g.rewards.subarray(12, 16))).toEqual([1.4, 0, 0, 0].map(Math.fround));
    // advantages on the FULL groups (sample 2 of round 1 prompt 0 counted in its group's mean)
    const full = (r: number[]) => r.map((x) => x - r.reduce((a, b) => a + b, 0) / r.length);
    expectClose(g.advantages.subarray(0, 4), [0, 0, 0, 0]);
    expectClose(g.advantages.subarray(4, 8), full([1.1, 0, 0, 0]));
    expectClose(g.advantages.subarray(8, 12), full([1.1, 1.1, 0, 0]));
    expectClose(g.advantages.subarray(12, 16), full([1.4, 0, 0, 0]));
    expectClose([g.groupStd[4], g.groupStd[8], g.groupStd[12]], [0.55, 0.635085, 0.7]);
    // filters without ranking: survivors in generation order
    expect(Array.from(g.survivors)).toEqual([4, 5, 7, 8, 9, 11, 12, 13, 14, 15]);
    expect(g.dropped.zeroVariance).toBe(4);
    expect(g.dropped.noToolImage).toBe(2);
    // ranking after pooling: the round-1 groups (std 0.7, 0.635) first, then round 0's (0.55); top K = 8
    expect(Array.from(out.kept)).toEqual([12, 13, 14, 15, 8, 9, 11, 4]);
    // advantages not recomputed: the update got the full-group advantages of the kept trajectories
    expect(seen.length).toBe(1);
    const keptAdv = Array.from(out.kept, (i) => g.advantages[i]);
    expect(sorted(seen[0])).toEqual(sorted(keptAdv));
    // (recomputed on the survivors of round 1 prompt 0, [1.1, 1.1, 0], they would be 0.367 and -0.733)
    expectClose(Array.from(out.kept.subarray(4, 7), (i) => g.advantages[i]), [0.55, 0.55, -0.55]);
    expect(out.update.optimizerSteps).toBe(1);
    policy.dispose();
  });

  test('grpo: one generation batch, no filter, no ranking, std-scaled advantages', async () => {
    const policy = await makePolicy();
    const seen = spyTrainSteps(policy);
    const settings: StepSettings = mergeConfig({ recipe: 'grpo', groupSize: 4, trainBatchPrompts: 2, ppoMiniBatches: 2, seed: 5 }, RECIPES);
    const { rollout, calls } = scriptedRollout(policy, outcomes);
    const cursor = new DataCursor<Task>(world.tasks('train', 16), 0);
    const out = await rlStep({ policy, world, cursor, rollout, settings, step: 1 });
    expect(out.rounds).toBe(1);
    expect(calls.length).toBe(1);
    expect(Array.from(out.kept)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const g = out.generated;
    // no tool reward; (r - mean) / (std + 1e-6)
    expect(Array.from(g.rewards.subarray(4, 8))).toEqual([1, 0, 0, 0]);
    const std = Math.sqrt((0.75 ** 2 + 3 * 0.25 ** 2) / 3);
    expectClose(g.advantages.subarray(4, 8), [0.75, -0.25, -0.25, -0.25].map((a) => a / (std + 1e-6)));
    expectClose(g.advantages.subarray(0, 4), [0, 0, 0, 0]);
    expect(seen.length).toBe(2);
    expect(sorted([...seen[0], ...seen[1]])).toEqual(sorted(g.advantages));
    policy.dispose();
  });

  test('oversampling stops at maxGenRounds; an empty pool trains nothing', async () => {
    const policy = await makePolicy();
    const settings: StepSettings = mergeConfig({ groupSize: 4, trainBatchPrompts: 2, oversampleFactor: 1.5, maxGenRounds: 3, ppoMiniBatches: 1 }, RECIPES);
    const { rollout, calls } = scriptedRollout(policy, () => ({ acc: 1 }));
    const cursor = new DataCursor<Task>(world.tasks('train', 16), 0);
    const out = await rlStep({ policy, world, cursor, rollout, settings, step: 1 });
    expect(out.rounds).toBe(3);
    expect(calls.map((c) => c.tasks.length)).toEqual([3, 3, 3]);
    // the cursor moved on: nine distinct prompts
    expect(new Set(calls.flatMap((c) => c.tasks.map((t) => t.id))).size).toBe(9);
    expect(out.kept.length).toBe(0);
    expect(out.update.optimizerSteps).toBe(0);
    expect(Number.isNaN(out.update.pgLoss)).toBe(true);
    policy.dispose();
  });

  test('selectPlain (the switchable selection) equals selectRollouts with the zero-variance filter on', async () => {
    const random = rng(11);
    for (let trial = 0; trial < 20; trial++) {
      const n = 1 + Math.floor(random() * 60);
      const groups = ints(random, n, 0, 7);
      const rewards = Float32Array.from(uniform(random, n, 0, 1), (x) => (x < 0.5 ? 0 : x < 0.8 ? 1 : 1.1));
      const endReasons = Uint8Array.from(ints(random, n, 0, 4));
      const toolImages = ints(random, n, 0, 2);
      const lengths = ints(random, n, 1, 100);
      // group std on the full input, as groupAdvantages gives it
      const byGroup = new Map<number, number[]>();
      groups.forEach((g, i) => byGroup.set(g, [...(byGroup.get(g) ?? []), rewards[i]]));
      const groupStd = Float32Array.from(groups, (g) => {
        const r = byGroup.get(g)!;
        if (r.length < 2) return 0;
        const m = r.reduce((a, b) => a + b, 0) / r.length;
        return Math.sqrt(r.reduce((a, b) => a + (b - m) ** 2, 0) / (r.length - 1));
      });
      for (const rank of ['std', 'none'] as const) {
        const target = Math.floor(random() * n) + 1;
        const keep = [EndReason.DONE, EndReason.ERROR_IN_ACTION];
        const native = await selectRollouts({ rewards, groups, endReasons, toolImages, lengths }, { target, rank, keepEndReasons: keep, requireToolImage: true, maxLength: 60 });
        const plain = selectPlain({ rewards, groups, endReasons, toolImages, lengths, groupStd }, { target, rank, zeroVariance: true, keepEndReasons: keep, requireToolImage: true, maxLength: 60 });
        expect(Array.from(plain.indices)).toEqual(Array.from(native.indices));
        expect(plain.dropped).toEqual(native.dropped);
      }
    }
  });
});

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i] - b[i]) > tol * (1 + Math.abs(b[i]))) throw new Error(`element ${i}: ${a[i]} vs ${b[i]} (${Array.from(a).join(', ')})`);
  }
}

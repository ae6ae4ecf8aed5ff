/**
 * Cases the random tests of scoring.test.ts never reach: the k3 KL clamps
 * (value at 10, x at ±20), singleton groups with scale 'group-std' and eps 0
 * on the adjacent and the scattered paths, and a group whose rewards differ by
 * less than 1e-6, which the zero-variance filter must keep.
 */
import { EndReason, groupAdvantages, policyLoss, selectRollouts } from '../../lib/index.js';
import { groupStatsRef, policyLossGradRef, policyLossRef, type LossRefInput, type LossRefOptions } from '../reference/scoring.js';
import { expectClose, expectScalarClose } from '../helpers.js';

describe('k3 KL penalty at and beyond its clamps', () => {
  // x = refLogp - logp: inside (1.5, 2.5, -8), past the value clamp exp(x) - x - 1 = 10
  // (x about 2.53 or -11; 3.9, 5, -15), and past the clamp of x at ±20 (25, -25, 40).
  const xs = [1.5, 2.5, 2.52, 2.54, 3.9, 5, -8, -10.9, -11.1, -15, 19.9, 20.1, 25, -19.9, -25, 40, 0.3, -0.7];
  const T = xs.length;
  const logp = Float32Array.from(xs.map((_, t) => -1 - (t % 5) * 0.25));
  const refLogp = Float32Array.from(xs.map((x, t) => logp[t] + x));
  // Zero advantages: the clipped surrogate contributes neither loss nor gradient.
  const input: LossRefInput & { logp: Float32Array; mask: Uint8Array } = {
    logp,
    oldLogp: Float32Array.from(logp),
    advantages: new Float32Array(T),
    mask: new Uint8Array(T).fill(1),
    seqOffsets: Int32Array.from([0, 7, T]),
    refLogp,
  };

  test.each(['token-mean', 'seq-mean-token-sum'] as const)('%s: loss against the reference, zero gradient where a clamp is active', async (agg) => {
    const o: LossRefOptions = { clipLow: 0.2, clipHigh: 0.2, dualClip: 3, agg, klCoef: 0.5, klType: 'k3' };
    const got = await policyLoss(input, { agg, klCoef: 0.5, klType: 'k3', backend: 'cpu' });
    const ref = policyLossRef(input, o);
    expectScalarClose(got.loss, ref.loss, 1e-6, 1e-5, 'loss');
    expectClose(got.grad, policyLossGradRef(input, o), 1e-6, 1e-5, 'grad');
    xs.forEach((x, t) => {
      const xr = refLogp[t] - logp[t]; // the float32 x the kernel sees
      const c = Math.min(Math.max(xr, -20), 20);
      const clamped = xr <= -20 || xr >= 20 || Math.exp(c) - c - 1 >= 10;
      if (clamped) expect([x, got.grad[t]]).toEqual([x, 0]);
      else expect([x, got.grad[t] !== 0]).toEqual([x, true]);
    });
    // The value clamp: each clamped token adds exactly 10 * klCoef to the token sum.
    const clampedCount = xs.filter((_, t) => {
      const xr = refLogp[t] - logp[t];
      const c = Math.min(Math.max(xr, -20), 20);
      return Math.exp(c) - c - 1 >= 10;
    }).length;
    expect(clampedCount).toBeGreaterThanOrEqual(8);
  });
});

describe("singleton groups with scale 'group-std' and eps 0", () => {
  const rewards = Float32Array.from([0.5, 1, 0, 0.25, 3, 3, 0.7, 2]);
  const layouts = {
    // singletons 10 and 30 and 50, a pair 20, a triple 40 (one run each)
    adjacent: Int32Array.from([10, 20, 20, 30, 40, 40, 40, 50]),
    // the same membership, interleaved (the scattered path)
    scattered: Int32Array.from([40, 20, 10, 40, 30, 20, 50, 40]),
  };
  test.each(Object.keys(layouts) as (keyof typeof layouts)[])('%s: advantage 0 (not NaN), std 0', async (layout) => {
    const groups = layouts[layout];
    const got = await groupAdvantages(rewards, groups, { scale: 'group-std', eps: 0, backend: 'cpu' });
    const ref = groupStatsRef(rewards, groups, 'group-std', 0);
    const counts = new Map<number, number>();
    groups.forEach((g) => counts.set(g, (counts.get(g) ?? 0) + 1));
    groups.forEach((g, i) => {
      if (counts.get(g) === 1) {
        expect([i, got.advantages[i], got.groupStd[i], got.groupMean[i]]).toEqual([i, 0, 0, rewards[i]]);
      }
    });
    expectClose(got.advantages, ref.advantages, 1e-6, 1e-5, 'advantages');
    expect(got.advantages.every(Number.isFinite)).toBe(true);
  });
});

describe('the zero-variance filter is exact', () => {
  test('a group of [0, 1e-7] is kept, [1e-7, 1e-7] is dropped, [1, 1 + 2^-23] is kept', async () => {
    const rewards = Float32Array.from([0, 1e-7, 1e-7, 1e-7, 1, 1 + 2 ** -23]);
    const groups = Int32Array.from([1, 1, 2, 2, 4, 4]);
    const n = rewards.length;
    const got = await selectRollouts(
      { rewards, groups, endReasons: new Uint8Array(n).fill(EndReason.DONE), toolImages: new Int32Array(n).fill(1) },
      { target: n, backend: 'cpu' },
    );
    expect(got.dropped.zeroVariance).toBe(2);
    expect(Array.from(got.indices).sort()).toEqual([0, 1, 4, 5]);
  });
});

/**
 * The scoring kernels against float64 references of semantics.md sections 1-5,
 * on seeded random and adversarial inputs; policyLoss gradients against
 * central finite differences; every error code; CUDA against CPU when a GPU is
 * present.
 */
import {
  accumulativeToolReward,
  backendInfo,
  EndReason,
  groupAdvantages,
  policyLoss,
  PyVisionError,
  selectRollouts,
  type LossAggregation,
  type PolicyLossOptions,
} from '../../lib/index.js';
import {
  groupStatsRef,
  lossGradientFD,
  policyLossGradRef,
  policyLossRef,
  selectRef,
  toolRewardRef,
  type LossRefInput,
  type LossRefOptions,
} from '../reference/scoring.js';
import { cudaStatus, expectClose, expectScalarClose, ints, rng, snapshot, uniform } from '../helpers.js';

async function expectCode(promise: Promise<unknown>, code: string, messagePart?: string): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(PyVisionError);
  expect((caught as PyVisionError).code).toBe(code);
  if (messagePart) expect((caught as PyVisionError).message).toContain(messagePart);
}

/** Group ids: unsorted, non-contiguous, negative and huge values, interleaved members. */
function scrambledGroups(random: () => number, n: number, groupCount: number): Int32Array {
  const ids = Array.from({ length: groupCount }, (_, g) => (g % 3 === 0 ? -1 - g * 7919 : g * 104729 + 2 ** 30));
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = ids[Math.floor(random() * groupCount)];
  return out;
}

describe('accumulativeToolReward', () => {
  test('matches the reference on random inputs (defaults and custom options)', async () => {
    const random = rng(1);
    const n = 1001;
    const acc = new Float32Array(n).map(() => (random() < 0.2 ? random() : Math.round(random())));
    const calls = ints(random, n, 0, 6);
    expectClose(await accumulativeToolReward(acc, calls), toolRewardRef(acc, calls, 0.1, 1.0), 1e-7, 1e-6, 'default');
    const custom = await accumulativeToolReward(acc, calls, { coef: 0.25, correctThreshold: 0.5 });
    expectClose(custom, toolRewardRef(acc, calls, 0.25, 0.5), 1e-7, 1e-6, 'custom');
  });

  test('the bonus is paid only for correct answers', async () => {
    const r = await accumulativeToolReward(new Float32Array([1, 0, 1, 0.99]), new Int32Array([4, 4, 0, 3]));
    expectClose(r, [1.4, 0, 1, 0.99], 1e-7, 1e-6);
  });

  test('empty input gives an empty output', async () => {
    expect((await accumulativeToolReward(new Float32Array(0), new Int32Array(0))).length).toBe(0);
  });

  test('rejects bad input with stable codes and leaves inputs unchanged', async () => {
    const acc = new Float32Array([1, 0, 1]);
    const calls = new Int32Array([1, 2, 3]);
    const unchanged = snapshot(acc, calls);
    await expectCode(accumulativeToolReward(acc, new Int32Array(2)), 'E_SHAPE', 'toolCalls');
    await expectCode(accumulativeToolReward(new Float64Array(3) as unknown as Float32Array, calls), 'E_DTYPE', 'acc');
    await expectCode(accumulativeToolReward(new Float32Array([1, NaN, 0]), calls), 'E_NONFINITE', 'acc[1]');
    await expectCode(accumulativeToolReward(acc, new Int32Array([0, -1, 0])), 'E_ARG', 'toolCalls[1]');
    await expectCode(accumulativeToolReward(acc, calls, { coef: NaN }), 'E_NONFINITE', 'opts.coef');
    await expectCode(accumulativeToolReward(acc, calls, { coef: '0.1' as unknown as number }), 'E_ARG', 'opts.coef');
    await expectCode(accumulativeToolReward(acc, calls, { backend: 'gpu' as never }), 'E_ARG', 'backend');
    unchanged();
  });
});

describe('groupAdvantages', () => {
  test.each(['none', 'group-std'] as const)('matches the reference on scrambled groups (scale %s)', async (scale) => {
    const random = rng(2);
    const n = 1003;
    const groups = scrambledGroups(random, n, 97);
    const rewards = uniform(random, n, -2, 3);
    const r = await groupAdvantages(rewards, groups, { scale });
    const ref = groupStatsRef(rewards, groups, scale, 1e-6);
    expectClose(r.groupMean, ref.groupMean, 1e-7, 1e-6, 'groupMean');
    expectClose(r.groupStd, ref.groupStd, 1e-7, 1e-6, 'groupStd');
    expectClose(r.advantages, ref.advantages, 1e-6, 1e-5, 'advantages');
  });

  test('large batches (the parallel paths): contiguous sorted groups, contiguous unsorted, scattered', async () => {
    const random = rng(8);
    const n = 100_003; // above the parallel threshold, not a multiple of anything
    const rewards = uniform(random, n, -1, 2);
    const layouts = {
      sorted: new Int32Array(n).map((_, i) => Math.floor(i / 7)),
      unsorted: new Int32Array(n).map((_, i) => (Math.floor(i / 9) * 7919) % 10007),
      scattered: scrambledGroups(random, n, 5000),
    };
    for (const [name, groups] of Object.entries(layouts)) {
      const r = await groupAdvantages(rewards, groups, { scale: 'group-std' });
      const ref = groupStatsRef(rewards, groups, 'group-std', 1e-6);
      expectClose(r.groupStd, ref.groupStd, 1e-7, 1e-6, `${name} groupStd`);
      expectClose(r.advantages, ref.advantages, 1e-6, 1e-5, `${name} advantages`);
      const input = { rewards, groups, endReasons: new Uint8Array(n), toolImages: new Int32Array(n).fill(1) };
      const got = await selectRollouts(input, { target: 70_000 });
      expect(Array.from(got.indices)).toEqual(selectRef(input, { keepEndReasons: [0, 1, 2], requireToolImage: true, rank: 'std', target: 70_000 }).indices);
    }
  });

  test('large inputs (parallel validation) still name the first bad element', async () => {
    const n = 300_001;
    const rewards = new Float32Array(n).fill(1);
    rewards[250_001] = NaN;
    rewards[270_000] = Infinity;
    const groups = new Int32Array(n).map((_, i) => i >> 3);
    await expectCode(groupAdvantages(rewards, groups), 'E_NONFINITE', 'rewards[250001]');
    const endReasons = new Uint8Array(n);
    endReasons[299_999] = 5;
    const input = { rewards: new Float32Array(n), groups, endReasons, toolImages: new Int32Array(n) };
    await expectCode(selectRollouts(input, { target: 1 }), 'E_ARG', 'endReasons[299999]');
  });

  test('stays exact for rewards with a large offset (no one-pass variance)', async () => {
    // 1000 + k * 2^-13: exactly representable, differences far below 1000 * float epsilon squared.
    const n = 64;
    const rewards = new Float32Array(n).map((_, i) => 1000 + (i % 8) * 2 ** -13);
    const groups = new Int32Array(n).map((_, i) => Math.floor(i / 8));
    const r = await groupAdvantages(rewards, groups);
    const ref = groupStatsRef(rewards, groups, 'none', 0);
    expect(ref.groupStd[0]).toBeGreaterThan(0);
    expectClose(r.groupStd, ref.groupStd, 0, 1e-6, 'groupStd');
    expectClose(r.advantages, ref.advantages, 0, 1e-6, 'advantages');
    const scaled = await groupAdvantages(rewards, groups, { scale: 'group-std', eps: 0 });
    expectClose(scaled.advantages, groupStatsRef(rewards, groups, 'group-std', 0).advantages, 1e-6, 1e-5, 'scaled');
  });

  test('singleton groups get advantage 0 and std 0; all-equal groups get 0', async () => {
    const rewards = new Float32Array([5, 1, 1, 1, 0.5, 2]);
    const groups = new Int32Array([9, 3, 3, 3, -4, -4]);
    const r = await groupAdvantages(rewards, groups, { scale: 'group-std' });
    expect(Array.from(r.advantages.slice(0, 4))).toEqual([0, 0, 0, 0]);
    expect(r.groupStd[0]).toBe(0);
    expect(r.groupStd[1]).toBe(0);
    expect(r.groupMean[0]).toBe(5);
    expectClose(r.advantages.slice(4), [-0.75 / (Math.SQRT1_2 * 1.5 + 1e-6), 0.75 / (Math.SQRT1_2 * 1.5 + 1e-6)], 1e-7, 1e-6);
  });

  test('one sample and empty input', async () => {
    const one = await groupAdvantages(new Float32Array([3]), new Int32Array([0]));
    expect(Array.from(one.advantages)).toEqual([0]);
    const none = await groupAdvantages(new Float32Array(0), new Int32Array(0));
    expect(none.advantages.length).toBe(0);
  });

  test('rejects bad input with stable codes and leaves inputs unchanged', async () => {
    const rewards = new Float32Array([1, 0, 1]);
    const groups = new Int32Array([0, 0, 1]);
    const unchanged = snapshot(rewards, groups);
    await expectCode(groupAdvantages(rewards, new Int32Array(4)), 'E_SHAPE', 'groups');
    await expectCode(groupAdvantages(rewards, new Uint32Array(3) as unknown as Int32Array), 'E_DTYPE', 'groups');
    await expectCode(groupAdvantages(new Float32Array([1, Infinity, 0]), groups), 'E_NONFINITE', 'rewards[1]');
    await expectCode(groupAdvantages(rewards, groups, { scale: 'std' as never }), 'E_ARG', 'opts.scale');
    await expectCode(groupAdvantages(rewards, groups, { eps: -1 }), 'E_ARG', 'opts.eps');
    unchanged();
    const r = await groupAdvantages(rewards, groups);
    expect(Array.from(r.advantages)).toEqual([0.5, -0.5, 0]);
  });
});

function rolloutBatch(seed: number, groupCount: number, groupSize: number) {
  const random = rng(seed);
  const n = groupCount * groupSize;
  const acc = new Float32Array(n).map(() => (random() < 0.45 ? 1 : 0));
  const calls = ints(random, n, 0, 4);
  const rewards = new Float32Array(toolRewardRef(acc, calls, 0.1, 1));
  // Groups in blocks but with scrambled ids, some blocks interleaved.
  const ids = scrambledGroups(random, groupCount, groupCount);
  const groups = new Int32Array(n).map((_, i) => ids[Math.floor(i / groupSize)] ^ (i % 2 === 0 && i % 16 < 4 ? 0 : 0));
  const endReasons = new Uint8Array(n).map(() => {
    const x = random();
    return x < 0.7 ? 0 : Math.floor(1 + random() * 4);
  });
  const toolImages = ints(random, n, 0, 3);
  const lengths = ints(random, n, 10, 5000);
  return { rewards, groups, endReasons, toolImages, lengths };
}

describe('selectRollouts', () => {
  const defaults = { keepEndReasons: [0, 1, 2], requireToolImage: true, rank: 'std' as const };

  test('matches the reference: filters, counts, std ranking with ties by index', async () => {
    const input = rolloutBatch(3, 211, 8);
    for (const target of [0, 17, 400, 5000]) {
      const got = await selectRollouts(input, { target });
      const ref = selectRef(input, { ...defaults, target });
      expect(Array.from(got.indices)).toEqual(ref.indices);
      expect(got.dropped).toEqual(ref.dropped);
    }
  });

  test('options: end reasons, no tool-image filter, max length, no ranking', async () => {
    const input = rolloutBatch(4, 97, 8);
    const variants = [
      { target: 300, keepEndReasons: [EndReason.DONE], requireToolImage: false, rank: 'std' as const },
      { target: 300, keepEndReasons: [0, 1, 2, 3, 4], requireToolImage: true, maxLength: 2500, rank: 'std' as const },
      { target: 250, keepEndReasons: [0, 2], requireToolImage: false, maxLength: 4000, rank: 'none' as const },
    ];
    for (const v of variants) {
      const got = await selectRollouts(input, v);
      const ref = selectRef(input, v);
      expect(Array.from(got.indices)).toEqual(ref.indices);
      expect(got.dropped).toEqual(ref.dropped);
    }
  });

  test('large batches with every filter dropping (the parallel filter): blocks, sorted ids, shuffled', async () => {
    // Above the parallel threshold; dropped trajectories fall on the chunk
    // boundaries of the parallel filter, whose survivors must not overwrite
    // each other.
    const blocks = rolloutBatch(9, 12_503, 8);
    const n = blocks.rewards.length;
    const random = rng(10);
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const layouts = {
      blocks,
      sorted: { ...blocks, groups: new Int32Array(n).map((_, i) => Math.floor(i / 8)) },
      shuffled: {
        rewards: Float32Array.from(order, (i) => blocks.rewards[i]),
        groups: Int32Array.from(order, (i) => blocks.groups[i]),
        endReasons: Uint8Array.from(order, (i) => blocks.endReasons[i]),
        toolImages: Int32Array.from(order, (i) => blocks.toolImages[i]),
        lengths: Int32Array.from(order, (i) => blocks.lengths[i]),
      },
    };
    for (const [name, input] of Object.entries(layouts)) {
      for (const rank of ['std', 'none'] as const) {
        const opts = { target: 30_001, maxLength: 3000, rank };
        const got = await selectRollouts(input, opts);
        const ref = selectRef(input, { ...defaults, ...opts });
        expect({ name, rank, dropped: got.dropped }).toEqual({ name, rank, dropped: ref.dropped });
        expect({ name, rank, indices: Array.from(got.indices) }).toEqual({ name, rank, indices: ref.indices });
      }
    }
  });

  test('thousands of distinct group stds (continuous rewards), odd group sizes', async () => {
    const random = rng(6);
    const n = 3001 * 5;
    const input = {
      rewards: uniform(random, n, 0, 1),
      groups: scrambledGroups(random, n, 3001),
      endReasons: new Uint8Array(n),
      toolImages: new Int32Array(n).fill(1),
    };
    const got = await selectRollouts(input, { target: 9000 });
    const ref = selectRef(input, { ...defaults, target: 9000 });
    expect(Array.from(got.indices)).toEqual(ref.indices);
    expect(got.dropped).toEqual(ref.dropped);
  });

  test('unsorted interleaved groups, singletons, ties in std and large offsets', async () => {
    // Groups 50 and -7 interleave; both have std 0.5774 (tie): index order decides.
    const rewards = new Float32Array([1000, 1000.5, 1001, 1000.5, 1000, 3, 1000.5, 1001, 7, 7, 1]);
    const groups = new Int32Array([50, -7, 50, -7, 50, 999, -7, -7, 12, 12, 13]);
    const endReasons = new Uint8Array(rewards.length);
    const toolImages = new Int32Array(rewards.length).fill(1);
    const input = { rewards, groups, endReasons, toolImages };
    const got = await selectRollouts(input, { target: 100 });
    const ref = selectRef(input, { ...defaults, target: 100 });
    expect(Array.from(got.indices)).toEqual(ref.indices);
    expect(got.dropped.zeroVariance).toBe(4); // the singletons 999 and 13, and the all-equal group 12
  });

  test('singleton groups are zero variance; empty input', async () => {
    const got = await selectRollouts(
      { rewards: new Float32Array([1, 0]), groups: new Int32Array([1, 2]), endReasons: new Uint8Array(2), toolImages: new Int32Array([1, 1]) },
      { target: 2 },
    );
    expect(got.indices.length).toBe(0);
    expect(got.dropped.zeroVariance).toBe(2);
    const empty = await selectRollouts(
      { rewards: new Float32Array(0), groups: new Int32Array(0), endReasons: new Uint8Array(0), toolImages: new Int32Array(0) },
      { target: 4 },
    );
    expect(empty.indices.length).toBe(0);
  });

  test('rejects bad input with stable codes and leaves inputs unchanged', async () => {
    const input = rolloutBatch(5, 4, 8);
    const unchanged = snapshot(input.rewards, input.groups, input.endReasons, input.toolImages, input.lengths);
    const bad = (patch: object) => ({ ...input, ...patch });
    await expectCode(selectRollouts(input, { target: -1 }), 'E_ARG', 'opts.target');
    await expectCode(selectRollouts(input, { target: 1.5 }), 'E_ARG', 'opts.target');
    await expectCode(selectRollouts(input, undefined as never), 'E_ARG', 'opts');
    await expectCode(selectRollouts(input, { target: 4, keepEndReasons: [7 as EndReason] }), 'E_ARG', 'keepEndReasons[0]');
    await expectCode(selectRollouts(input, { target: 4, rank: 'mean' as never }), 'E_ARG', 'opts.rank');
    await expectCode(selectRollouts(bad({ lengths: undefined }), { target: 4, maxLength: 10 }), 'E_ARG', 'maxLength');
    await expectCode(selectRollouts(bad({ groups: new Int32Array(3) }), { target: 4 }), 'E_SHAPE', 'input.groups');
    await expectCode(selectRollouts(bad({ endReasons: new Int8Array(32) }), { target: 4 }), 'E_DTYPE', 'input.endReasons');
    await expectCode(selectRollouts(bad({ endReasons: new Uint8Array(32).fill(9) }), { target: 4 }), 'E_ARG', 'endReasons[0]');
    await expectCode(selectRollouts(bad({ toolImages: new Int32Array(32).fill(-2) }), { target: 4 }), 'E_ARG', 'toolImages[0]');
    const nan = new Float32Array(input.rewards);
    nan[5] = NaN;
    await expectCode(selectRollouts(bad({ rewards: nan }), { target: 4 }), 'E_NONFINITE', 'rewards[5]');
    unchanged();
  });
});

/** Random packed sequences, kept away from the kinks of the loss so finite differences are valid. */
function lossBatch(seed: number, lengths: number[], perSequence: boolean) {
  const random = rng(seed);
  const offsets = new Int32Array(lengths.length + 1);
  lengths.forEach((len, b) => (offsets[b + 1] = offsets[b] + len));
  const T = offsets[lengths.length];
  const logp = new Float32Array(T);
  const oldLogp = new Float32Array(T);
  const refLogp = new Float32Array(T);
  const kinks = [0.8, 1.2, 3, 0.7, 1.1];
  for (let t = 0; t < T; t++) {
    let d: number;
    do {
      d = (random() - 0.5) * 3;
    } while (kinks.some((k) => Math.abs(Math.exp(d) - k) < 2e-3));
    logp[t] = -0.05 - random() * 5;
    oldLogp[t] = logp[t] - d;
    refLogp[t] = logp[t] + (random() - 0.5) * 2;
  }
  const advantages = perSequence ? uniform(random, lengths.length, -1.5, 1.5) : uniform(random, T, -1.5, 1.5);
  const mask = new Uint8Array(T).map(() => (random() < 0.7 ? 1 : 0));
  return { logp, oldLogp, refLogp, advantages, mask, seqOffsets: offsets };
}

function refOptions(o: PolicyLossOptions): LossRefOptions {
  return {
    clipLow: o.clipLow ?? 0.2,
    clipHigh: o.clipHigh ?? 0.2,
    dualClip: o.dualClip === undefined ? 3 : o.dualClip,
    agg: o.agg ?? 'token-mean',
    normDenominator: o.normDenominator,
    klCoef: o.klCoef ?? 0,
    klType: o.klType ?? 'k3',
  };
}

async function checkLoss(input: LossRefInput & { mask: Uint8Array | Float32Array }, opts: PolicyLossOptions, fd: boolean): Promise<void> {
  const r = await policyLoss(input as never, opts);
  const o = refOptions(opts);
  const ref = policyLossRef(input, o);
  expectScalarClose(r.loss, ref.loss, 1e-7, 1e-5, `loss ${JSON.stringify(opts)}`);
  expectScalarClose(r.clipFrac, ref.clipFrac, 1e-12, 0, 'clipFrac');
  expectScalarClose(r.clipFracLower, ref.clipFracLower, 1e-12, 0, 'clipFracLower');
  expectScalarClose(r.approxKl, ref.approxKl, 1e-7, 1e-5, 'approxKl');
  const analytic = policyLossGradRef(input, o);
  const scale = Math.max(...analytic.map(Math.abs), 1e-30);
  expectClose(r.grad, analytic, 1e-6 * scale, 1e-5, `grad vs analytic ${JSON.stringify(opts)}`);
  if (fd) {
    const numeric = lossGradientFD(input, o);
    expectClose(analytic, numeric, 1e-6 * scale, 1e-4, `analytic vs finite differences ${JSON.stringify(opts)}`);
    expectClose(r.grad, numeric, 2e-6 * scale, 1e-4, `grad vs finite differences ${JSON.stringify(opts)}`);
  }
}

describe('policyLoss', () => {
  const aggs: LossAggregation[] = ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'];
  // Odd lengths, an empty sequence, sequences of length 1.
  const lengths = [7, 1, 0, 13, 1, 29, 3, 11];

  test.each(aggs)('aggregation %s: loss, metrics and gradient vs finite differences', async (agg) => {
    for (const perSequence of [false, true]) {
      const b = lossBatch(11, lengths, perSequence);
      await checkLoss(b, { agg }, true);
      await checkLoss(b, { agg, dualClip: null, clipLow: 0.1, clipHigh: 0.3 }, true);
    }
  });

  test.each(['k1', 'k2', 'k3'] as const)('KL penalty %s and its gradient', async (klType) => {
    const b = lossBatch(12, lengths, false);
    await checkLoss(b, { klCoef: 0.3, klType }, true);
  });

  test('seq-mean-token-sum-norm with an explicit denominator; Float32Array mask', async () => {
    const b = lossBatch(13, lengths, true);
    await checkLoss({ ...b, mask: Float32Array.from(b.mask) }, { agg: 'seq-mean-token-sum-norm', normDenominator: 100 }, true);
  });

  test('large odd-sized batch (parallel path) against the analytic reference', async () => {
    const random = rng(14);
    const big = Array.from({ length: 517 }, () => Math.floor(random() * 300));
    for (const agg of aggs) await checkLoss(lossBatch(15, big, agg === 'seq-mean-token-mean'), { agg, klCoef: 0.05 }, false);
  });

  test('extreme ratios: gradient is zero where the clamp of logp - oldLogp is active', async () => {
    const logp = new Float32Array([-1, -30, -1, -0.5]);
    const oldLogp = new Float32Array([-30, -1, -1, -0.5]);
    const r = await policyLoss({ logp, oldLogp, advantages: new Float32Array([1, -1, 0, 2]), mask: new Uint8Array([1, 1, 1, 1]), seqOffsets: new Int32Array([0, 4]) });
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.grad[0]).toBe(0); // ratio clipped (and d clamped at 20)
    expect(Math.abs(r.grad[2])).toBe(0); // zero advantage
    expectScalarClose(r.grad[3], -2 / 4, 1e-7, 1e-6);
  });

  test('empty mask gives loss 0 and zero gradient, not NaN; no tokens at all', async () => {
    const b = lossBatch(16, [5, 4], false);
    for (const agg of aggs) {
      const r = await policyLoss({ ...b, mask: new Uint8Array(9) }, { agg });
      expect(r.loss).toBe(0);
      expect(r.clipFrac).toBe(0);
      expect(Array.from(r.grad)).toEqual(new Array(9).fill(0));
    }
    const none = await policyLoss({ logp: new Float32Array(0), oldLogp: new Float32Array(0), advantages: new Float32Array(0), mask: new Uint8Array(0), seqOffsets: new Int32Array([0]) });
    expect(none.loss).toBe(0);
    expect(none.grad.length).toBe(0);
  });

  test('rejects bad input with stable codes and leaves inputs unchanged', async () => {
    const b = lossBatch(17, [3, 4], false);
    const unchanged = snapshot(b.logp, b.oldLogp, b.advantages, b.mask, b.seqOffsets);
    const bad = (patch: object) => ({ ...b, ...patch });
    await expectCode(policyLoss(bad({ oldLogp: new Float32Array(6) })), 'E_SHAPE', 'input.oldLogp');
    await expectCode(policyLoss(bad({ seqOffsets: new Int32Array([0, 3, 6]) })), 'E_SHAPE', 'input.seqOffsets');
    await expectCode(policyLoss(bad({ seqOffsets: new Int32Array([0, 5, 2, 7]) })), 'E_SHAPE', 'seqOffsets');
    await expectCode(policyLoss(bad({ advantages: new Float32Array(5) })), 'E_SHAPE', 'input.advantages');
    await expectCode(policyLoss(bad({ mask: new Int32Array(7) })), 'E_DTYPE', 'input.mask');
    await expectCode(policyLoss(bad({ mask: new Uint8Array(7).fill(2) })), 'E_ARG', 'mask[0]');
    const nan = new Float32Array(b.logp);
    nan[4] = NaN;
    await expectCode(policyLoss(bad({ logp: nan })), 'E_NONFINITE', 'logp');
    const inf = new Float32Array(b.advantages);
    inf[6] = -Infinity;
    await expectCode(policyLoss(bad({ advantages: inf })), 'E_NONFINITE', 'advantages');
    await expectCode(policyLoss(b, { clipLow: 1.5 }), 'E_ARG', 'opts.clipLow');
    await expectCode(policyLoss(b, { dualClip: 0.5 }), 'E_ARG', 'opts.dualClip');
    await expectCode(policyLoss(b, { agg: 'mean' as never }), 'E_ARG', 'opts.agg');
    await expectCode(policyLoss(bad({ refLogp: undefined }), { klCoef: 0.1 }), 'E_ARG', 'refLogp');
    await expectCode(policyLoss(b, { klType: 'k4' as never, klCoef: 0 }), 'E_ARG', 'opts.klType');
    await expectCode(policyLoss(b, { normDenominator: 0 }), 'E_ARG', 'opts.normDenominator');
    unchanged();
  });
});

describe('backends', () => {
  const info = backendInfo();
  const cuda = cudaStatus(info);

  test('backendInfo reports what was compiled and why the backend was chosen', () => {
    expect(info.compiled.cpu).toBe(true);
    expect(typeof info.reason).toBe('string');
    expect(['cpu', 'cuda']).toContain(info.chosen);
    expect(backendInfo('cpu').chosen).toBe('cpu');
    expect(() => backendInfo('tpu' as never)).toThrow(PyVisionError);
  });

  test('PYVISION_RL_BACKEND sets the default and is validated', async () => {
    const saved = process.env.PYVISION_RL_BACKEND;
    try {
      process.env.PYVISION_RL_BACKEND = 'cpu';
      expect(backendInfo().requested).toBe('cpu');
      await groupAdvantages(new Float32Array([1, 0]), new Int32Array([0, 0]));
      process.env.PYVISION_RL_BACKEND = 'fast';
      await expectCode(groupAdvantages(new Float32Array([1, 0]), new Int32Array([0, 0])), 'E_ARG', 'PYVISION_RL_BACKEND');
    } finally {
      if (saved === undefined) delete process.env.PYVISION_RL_BACKEND;
      else process.env.PYVISION_RL_BACKEND = saved;
    }
  });

  const fallback = info.compiled.cuda && info.devices.length === 0;
  (fallback ? test : test.skip)('a CUDA-enabled build without a GPU loads and falls back to the CPU', async () => {
    expect(info.chosen).toBe('cpu');
    expect(info.reason).toMatch(/unavailable/);
    const r = await groupAdvantages(new Float32Array([1, 0]), new Int32Array([0, 0]), { backend: 'auto' });
    expect(Array.from(r.advantages)).toEqual([0.5, -0.5]);
    await expectCode(groupAdvantages(new Float32Array([1]), new Int32Array([0]), { backend: 'cuda' }), 'E_BACKEND', 'cuda');
  });
  if (!fallback) console.log(`fallback test skipped: ${info.compiled.cuda ? 'a GPU is present' : 'this build has no CUDA backend'}`);

  (info.compiled.cuda ? test.skip : test)('a CPU-only build rejects backend cuda with E_BACKEND', async () => {
    await expectCode(groupAdvantages(new Float32Array([1]), new Int32Array([0]), { backend: 'cuda' }), 'E_BACKEND', 'no CUDA backend');
  });

  (cuda.ok ? test : test.skip)('CUDA matches CPU on the same inputs', async () => {
    const input = rolloutBatch(21, 4099, 8);
    for (const scale of ['none', 'group-std'] as const) {
      const cpu = await groupAdvantages(input.rewards, input.groups, { scale, backend: 'cpu' });
      const gpu = await groupAdvantages(input.rewards, input.groups, { scale, backend: 'cuda' });
      expect(Buffer.from(gpu.advantages.buffer).equals(Buffer.from(cpu.advantages.buffer))).toBe(true);
      expect(Buffer.from(gpu.groupStd.buffer).equals(Buffer.from(cpu.groupStd.buffer))).toBe(true);
    }
    const opts = { target: 9000, maxLength: 4000 };
    const cpuSel = await selectRollouts(input, { ...opts, backend: 'cpu' });
    const gpuSel = await selectRollouts(input, { ...opts, backend: 'cuda' });
    expect(Array.from(gpuSel.indices)).toEqual(Array.from(cpuSel.indices));
    expect(gpuSel.dropped).toEqual(cpuSel.dropped);
    const acc = new Float32Array(input.rewards.length).map((_, i) => i % 2);
    const calls = input.toolImages;
    expectClose(await accumulativeToolReward(acc, calls, { backend: 'cuda' }), await accumulativeToolReward(acc, calls, { backend: 'cpu' }), 0, 0);
    const random = rng(22);
    const big = Array.from({ length: 1001 }, () => Math.floor(random() * 500));
    for (const agg of ['token-mean', 'seq-mean-token-mean'] as const) {
      const b = lossBatch(23, big, false);
      const c = await policyLoss(b, { agg, klCoef: 0.1, backend: 'cpu' } as never);
      const g = await policyLoss({ ...b }, { agg, backend: 'cuda' });
      const c2 = await policyLoss(b, { agg, backend: 'cpu' });
      expectClose(g.grad, c2.grad, 1e-9, 1e-5, 'grad cuda vs cpu');
      expectScalarClose(g.loss, c2.loss, 1e-9, 1e-6, 'loss cuda vs cpu');
      expect(g.clipFrac).toBeCloseTo(c2.clipFrac, 12);
      expect(c.loss).toBeDefined();
    }
  });
  if (!cuda.ok) console.log(`CUDA-vs-CPU scoring tests skipped: ${cuda.reason}`);
});

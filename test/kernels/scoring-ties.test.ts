/**
 * Rank ties independent of member order (semantics.md section 3): groups with
 * equal reward multisets must have bit-identical group statistics and tie in
 * selectRollouts (lower trajectory index first) whatever the order of their
 * members, on the adjacent and the scattered layouts. The expected ranking
 * comes from the exact rational variance of each group (test/reference/rational.ts).
 */
import { EndReason, groupAdvantages, selectRollouts, type SelectionResult } from '../../lib/index.js';
import { compareRational, exactVariance, rationalToNumber, type Rational } from '../reference/rational.js';
import { rng } from '../helpers.js';

interface Batch {
  rewards: Float32Array;
  groups: Int32Array;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** One group per entry of `multisets`, members in a random order; adjacent or scattered (members interleaved). */
function makeBatch(multisets: number[][], random: () => number, layout: 'adjacent' | 'scattered'): Batch {
  const members: { group: number; reward: number }[][] = multisets.map((values, g) =>
    shuffle(values, random).map((reward) => ({ group: g * 7 - 100, reward })),
  );
  let flat = members.flat();
  if (layout === 'scattered') flat = shuffle(flat, random);
  return {
    rewards: Float32Array.from(flat.map((m) => m.reward)),
    groups: Int32Array.from(flat.map((m) => m.group)),
  };
}

/** The rank order of semantics.md section 3 with the exact variance as the key (no filters active here). */
function expectedOrder(batch: Batch): number[] {
  const byGroup = new Map<number, number[]>();
  batch.groups.forEach((g, i) => byGroup.set(g, [...(byGroup.get(g) ?? []), batch.rewards[i]]));
  const variance = new Map<number, Rational>();
  for (const [g, values] of byGroup) variance.set(g, exactVariance(values));
  const alive = [...batch.groups.keys()].filter((i) => {
    const values = byGroup.get(batch.groups[i])!;
    return values.some((v) => v !== values[0]);
  });
  return alive.sort((a, b) => compareRational(variance.get(batch.groups[b])!, variance.get(batch.groups[a])!) || a - b);
}

async function select(batch: Batch): Promise<SelectionResult> {
  const n = batch.rewards.length;
  return selectRollouts(
    { ...batch, endReasons: new Uint8Array(n).fill(EndReason.DONE), toolImages: new Int32Array(n).fill(1) },
    { target: n, requireToolImage: false, backend: 'cpu' },
  );
}

/** Every group's (mean, std) bit patterns, keyed by the sorted multiset of its rewards. */
async function statsByMultiset(batch: Batch): Promise<Map<string, Set<string>>> {
  const { groupMean, groupStd } = await groupAdvantages(batch.rewards, batch.groups, { backend: 'cpu' });
  const byGroup = new Map<number, number[]>();
  batch.groups.forEach((g, i) => byGroup.set(g, [...(byGroup.get(g) ?? []), i]));
  const out = new Map<string, Set<string>>();
  for (const list of byGroup.values()) {
    const key = list.map((i) => batch.rewards[i]).sort((a, b) => a - b).join(',');
    const bits = list.map((i) => `${groupMean[i]}/${groupStd[i]}`);
    const set = out.get(key) ?? new Set<string>();
    bits.forEach((b) => set.add(b));
    out.set(key, set);
  }
  return out;
}

const ISSUE_GROUP = [0, 0, 0, 0.1, 0.2, 0.2, 0.2, 0.3];

describe.each(['adjacent', 'scattered'] as const)('%s layout', (layout) => {
  test('permuted copies of [0, 0, 0, 0.1, 0.2, 0.2, 0.2, 0.3] tie: lower index first, identical std bits', async () => {
    const random = rng(layout === 'adjacent' ? 11 : 12);
    // 40 permutations of the same multiset, around groups of clearly different spread.
    const multisets = Array.from({ length: 40 }, () => ISSUE_GROUP);
    multisets.splice(7, 0, [0, 1, 0, 1]);
    multisets.splice(21, 0, [0.1, 0.1, 0.1, 0.2]);
    multisets.splice(30, 0, [5, 5, 5, 5]);
    const batch = makeBatch(multisets, random, layout);
    const got = await select(batch);
    expect(Array.from(got.indices)).toEqual(expectedOrder(batch));
    const stats = await statsByMultiset(batch);
    for (const [key, bits] of stats) expect([key, bits.size]).toEqual([key, 1]);
  });

  test('random multisets, each in several member orders, against the exact rational ranking', async () => {
    const random = rng(layout === 'adjacent' ? 21 : 22);
    const pools = [
      [0, 0.1, 0.2, 0.3, 0.5, 1, 1.1, 1.3],
      [1000, 1000.0001, 1000.0002, 999.9999],
      [1e-7, 0, 2e-7, 3e-7],
      [-3, 2.5, 1e-3, 7, 0.75],
    ];
    const multisets: number[][] = [];
    for (let m = 0; m < 60; m++) {
      const pool = pools[m % pools.length];
      const size = 2 + Math.floor(random() * 9);
      const values = Array.from({ length: size }, () => pool[Math.floor(random() * pool.length)]);
      for (let copy = 0; copy < 3; copy++) multisets.push(values);
    }
    const batch = makeBatch(shuffle(multisets, random), random, layout);
    const got = await select(batch);
    expect(Array.from(got.indices)).toEqual(expectedOrder(batch));
    const stats = await statsByMultiset(batch);
    for (const [key, bits] of stats) expect([key, bits.size]).toEqual([key, 1]);
  });

  test('wide exponent ranges and large groups (the sorted fallback) tie too, and keep the exact std', async () => {
    const random = rng(layout === 'adjacent' ? 31 : 32);
    const wide = [1e30, -1e30, 1e-30, 3, -2.5e-20, 7e12];
    const big = Array.from({ length: 3000 }, () => Math.fround(random() * 1e-3 + (random() < 0.01 ? 1e6 : 0)));
    const multisets = [wide, big, wide, [1, 2], big, wide, [1e-30, 2e-30, 3e-30]];
    const batch = makeBatch(multisets, random, layout);
    const got = await select(batch);
    expect(Array.from(got.indices)).toEqual(expectedOrder(batch));
    const stats = await statsByMultiset(batch);
    for (const [key, bits] of stats) expect([key.slice(0, 40), bits.size]).toEqual([key.slice(0, 40), 1]);
    // The std is the exact one to float32 rounding (two-pass float64 in ascending order, or exact integers).
    const { groupStd } = await groupAdvantages(batch.rewards, batch.groups, { backend: 'cpu' });
    const byGroup = new Map<number, number[]>();
    batch.groups.forEach((g, i) => byGroup.set(g, [...(byGroup.get(g) ?? []), i]));
    for (const list of byGroup.values()) {
      const exact = Math.sqrt(rationalToNumber(exactVariance(list.map((i) => batch.rewards[i]))));
      const std = groupStd[list[0]];
      expect(Math.abs(std - exact)).toBeLessThanOrEqual(2 ** -22 * exact + 1e-45);
    }
  });
});

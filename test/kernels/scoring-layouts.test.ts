/**
 * Group layouts and id ranges (semantics.md sections 2-3): the same groups
 * under any trajectory order and any labelling of their ids give bit-identical
 * group statistics and advantages, and the reference selection. Each id set
 * takes a different native path: sorted ids (runs read in place), ids within
 * a range of at most N values (direct addressing, negative ones included),
 * sparse ids (hashed), adjacent groups with unsorted ids, and ranges at and
 * past the direct-addressing bound. Small batches run on one thread, batches
 * above 65536 trajectories (about 87000 here) on every CPU thread.
 */
import { createHash } from 'node:crypto';
import { groupAdvantages, selectRollouts, type GroupAdvantages } from '../../lib/index.js';
import { selectRef } from '../reference/scoring.js';
import { ints, rng } from '../helpers.js';

interface Layout {
  /** Trajectory i of the layout is trajectory order[i] of the canonical batch. */
  order: number[];
  /** Group id of each canonical group number. */
  ids: (g: number) => number;
}

/**
 * Canonical batch: `groupCount` groups with sizes 1 to 12 (singletons
 * included), members adjacent in group order; rewards on a coarse dyadic grid
 * (many equal multisets, all-equal groups; dyadic so that distinct exact
 * variances are distinct doubles and the reference's exact ranking applies),
 * some with a large offset.
 */
function canonical(seed: number, groupCount: number) {
  const random = rng(seed);
  const group: number[] = [];
  for (let g = 0; g < groupCount; g++) {
    const size = g % 17 === 0 ? 1 : 1 + Math.floor(random() * 12);
    for (let k = 0; k < size; k++) group.push(g);
  }
  const n = group.length;
  const rewards = new Float32Array(n).map((_, i) =>
    group[i] % 5 === 0 ? 1000 + Math.floor(random() * 4) * 0.125 : Math.floor(random() * 6) * 0.25,
  );
  return { group, rewards, n };
}

function shuffled(random: () => number, n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

/** The outputs of the layout, put back in canonical order. */
function unpermute(r: GroupAdvantages, order: number[]) {
  const back = (a: Float32Array) => {
    const out = new Float32Array(a.length);
    order.forEach((from, i) => (out[from] = a[i]));
    return bits(out);
  };
  return { advantages: back(r.advantages), groupMean: back(r.groupMean), groupStd: back(r.groupStd) };
}

describe.each([
  ['one thread', 2000],
  ['every thread', 14_000],
])('layouts and id ranges (%s)', (_name, groupCount) => {
  const { group, rewards, n } = canonical(groupCount, groupCount);
  const G = groupCount;
  const random = rng(groupCount + 1);
  const identity = Array.from({ length: n }, (_, i) => i);
  const mixed = shuffled(random, n);
  // Adjacent groups in a random group order (ids not sorted).
  const groupOrder = shuffled(random, G);
  const starts: number[] = [];
  group.forEach((g, i) => (i === 0 || group[i - 1] !== g ? starts.push(i) : undefined));
  const adjacentUnsorted = groupOrder.flatMap((g) => {
    const end = g + 1 < G ? starts[g + 1] : n;
    return Array.from({ length: end - starts[g] }, (_, k) => starts[g] + k);
  });
  const layouts: Record<string, Layout> = {
    'sorted dense ids': { order: identity, ids: (g) => g },
    'shuffled dense ids': { order: mixed, ids: (g) => g },
    'shuffled dense negative ids': { order: mixed, ids: (g) => g - Math.floor(G / 2) - 5 },
    'shuffled dense ids in reverse': { order: mixed, ids: (g) => -g },
    'shuffled ids spanning exactly N values': { order: mixed, ids: (g) => (g === G - 1 ? n - 1 : g) },
    'shuffled ids spanning N + 1 values': { order: mixed, ids: (g) => (g === G - 1 ? n : g) },
    'shuffled sparse ids': { order: mixed, ids: (g) => g * 7919 },
    'shuffled sparse negative ids': { order: mixed, ids: (g) => -1 - g * 104729 },
    'shuffled ids at the int32 extremes': {
      order: mixed,
      ids: (g) => (g === 0 ? -(2 ** 31) : g === 1 ? 2 ** 31 - 1 : g * 3),
    },
    'adjacent groups, dense unsorted ids': { order: adjacentUnsorted, ids: (g) => g },
    'adjacent groups, sparse unsorted ids': { order: adjacentUnsorted, ids: (g) => g * 7919 - 2 ** 30 },
  };
  const make = (layout: Layout) => ({
    rewards: Float32Array.from(layout.order, (i) => rewards[i]),
    groups: Int32Array.from(layout.order, (i) => layout.ids(group[i])),
  });

  test.each(['none', 'group-std'] as const)('groupAdvantages: the same bits in every layout (scale %s, eps 0)', async (scale) => {
    const expected = unpermute(await groupAdvantages(rewards, Int32Array.from(group), { scale, eps: 0, backend: 'cpu' }), identity);
    // Singletons get advantage 0 (not NaN with eps 0) and std 0.
    const single = group.map((g, i) => (i > 0 && group[i - 1] === g) || (i + 1 < n && group[i + 1] === g) ? -1 : i).filter((i) => i >= 0);
    expect(single.length).toBeGreaterThan(G / 20);
    for (const i of single) expect([expected.advantages[i], expected.groupStd[i]]).toEqual([0, 0]);
    for (const [name, layout] of Object.entries(layouts)) {
      const batch = make(layout);
      const got = unpermute(await groupAdvantages(batch.rewards, batch.groups, { scale, eps: 0, backend: 'cpu' }), layout.order);
      expect({ name, equal: got.advantages.every((b, i) => b === expected.advantages[i]) }).toEqual({ name, equal: true });
      expect({ name, equal: got.groupMean.every((b, i) => b === expected.groupMean[i]) }).toEqual({ name, equal: true });
      expect({ name, equal: got.groupStd.every((b, i) => b === expected.groupStd[i]) }).toEqual({ name, equal: true });
    }
  });

  test('selectRollouts: the reference selection in every layout', async () => {
    const extra = rng(groupCount + 2);
    const endReasons = new Uint8Array(n).map(() => (extra() < 0.8 ? 0 : Math.floor(extra() * 5)));
    const toolImages = ints(extra, n, 0, 2);
    const lengths = ints(extra, n, 10, 4000);
    for (const [name, layout] of Object.entries(layouts)) {
      const batch = make(layout);
      const input = {
        ...batch,
        endReasons: Uint8Array.from(layout.order, (i) => endReasons[i]),
        toolImages: Int32Array.from(layout.order, (i) => toolImages[i]),
        lengths: Int32Array.from(layout.order, (i) => lengths[i]),
      };
      const opts = { target: Math.floor(n / 3), maxLength: 3500 };
      const got = await selectRollouts(input, { ...opts, backend: 'cpu' });
      const ref = selectRef(input, { ...opts, keepEndReasons: [0, 1, 2], requireToolImage: true, rank: 'std' });
      expect({ name, dropped: got.dropped }).toEqual({ name, dropped: ref.dropped });
      expect({ name, indices: Array.from(got.indices) }).toEqual({ name, indices: ref.indices });
    }
  });
});

// groupAdvantages then selectRollouts on one batch reuse the group index of
// the first call (native/cpu/scoring.cc, IndexGroups): every call must give
// the bits of the same call made with no index to reuse, when the rewards
// change under the same ids, when the ids are a new array with the same
// values, and when the ids are changed in place.
describe.each([
  ['one thread', 2000],
  ['every thread', 14_000],
])('the group index reused across calls (%s)', (_name, groupCount) => {
  const { group, rewards, n } = canonical(groupCount + 7, groupCount);
  const random = rng(groupCount + 8);
  const order = shuffled(random, n);
  const other = new Float32Array(n).map(() => Math.floor(random() * 5) * 0.5);
  const cpu = { backend: 'cpu' as const };
  // Short, exact summaries of large outputs (a failure's diff stays readable).
  const digest = (a: Float32Array | Uint32Array | Int32Array) =>
    createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16) + `/${a.length}`;
  // A sorted batch in between leaves no index to reuse.
  const fresh = async <T>(call: () => Promise<T>): Promise<T> => {
    await groupAdvantages(Float32Array.of(1, 2), Int32Array.of(0, 0), cpu);
    return call();
  };
  const advantages = (r: Float32Array, ids: Int32Array) => async () => {
    const out = await groupAdvantages(r, ids, { scale: 'group-std', eps: 1e-6, ...cpu });
    return [digest(out.advantages), digest(out.groupMean), digest(out.groupStd)];
  };
  const selection = (r: Float32Array, ids: Int32Array) => async () => {
    const extra = rng(3);
    const input = {
      rewards: r,
      groups: ids,
      endReasons: new Uint8Array(n).map(() => (extra() < 0.8 ? 0 : 3)),
      toolImages: ints(extra, n, 0, 2),
    };
    const out = await selectRollouts(input, { target: Math.floor(n / 4), ...cpu });
    return { indices: digest(out.indices), dropped: out.dropped };
  };

  test.each([
    ['sparse ids', (g: number) => g * 7919 + 3],
    ['dense ids', (g: number) => g],
  ])('%s', async (_ids, label) => {
    const ids = Int32Array.from(order, (i) => label(group[i]));
    const r1 = Float32Array.from(order, (i) => rewards[i]);
    const r2 = Float32Array.from(order, (i) => other[i]);
    const steps: [string, () => Promise<unknown>][] = [
      ['first call', advantages(r1, ids)],
      ['new rewards, same ids', advantages(r2, ids)],
      ['same rewards, a copy of the ids', advantages(r2, ids.slice())],
      ['selectRollouts after groupAdvantages', selection(r2, ids)],
      ['back to the first rewards', selection(r1, ids)],
    ];
    for (const [name, call] of steps) {
      const reused = await call();
      expect({ name, out: reused }).toEqual({ name, out: await fresh(call) });
      // Leave the index of this batch for the next step to reuse.
      await call();
    }
    // One trajectory moved to another group, in place: the index must not be reused.
    await advantages(r1, ids)();
    const moved = order.findIndex((i) => group[i] !== group[order[0]]);
    ids[moved] = ids[0];
    const got = await advantages(r1, ids)();
    expect(got).toEqual(await fresh(advantages(r1, ids)));
    expect(got).not.toEqual(await fresh(advantages(r1, Int32Array.from(order, (i) => label(group[i])))));
  });
});

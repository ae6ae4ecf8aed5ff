/**
 * Scoring kernels: native CPU against plain TypeScript (same run), and
 * groupAdvantages + selectRollouts against vectorised numpy (same data, same
 * run) at 1M trajectories in groups of 8, adjacent and shuffled (trajectories
 * in random order; ids (i / 8) * 7919, and the shuffled batch again with ids
 * 0..G-1); policyLoss at 4M tokens in 16K sequences.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { accumulativeToolReward, backendInfo, groupAdvantages, policyLoss, selectRollouts } from '../lib/index.js';
import { addSpeedups, random, runPython, timeAsync, timeInTurn, timeSync, type BenchContext, type BenchRow } from './harness.js';
import { groupAdvantagesTs, policyLossTs, selectRolloutsTs, toolRewardTs } from './scoring-plain.js';


const NUMPY_PEER = String.raw`
import json, sys, time
import numpy as np
d = sys.argv[1]
rewards = np.fromfile(d + '/rewards.f32', dtype=np.float32)
groups = np.fromfile(d + '/groups.i32', dtype=np.int32)
end = np.fromfile(d + '/end.u8', dtype=np.uint8)
images = np.fromfile(d + '/images.i32', dtype=np.int32)
lengths = np.fromfile(d + '/lengths.i32', dtype=np.int32)
target, max_length = int(sys.argv[2]), int(sys.argv[3])
suffix = sys.argv[4] if len(sys.argv) > 4 else ''


def stats(r, g):
    # One stable argsort, then segment reductions (reduceat): the fast
    # vectorised layout (np.minimum.at / bincount variants are slower).
    n = r.size
    order = np.argsort(g, kind='stable')
    gs = g[order]; rs = r[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    size = np.diff(np.r_[starts, n])
    mean = np.add.reduceat(rs, starts) / size
    inv_sorted = np.repeat(np.arange(starts.size), size)
    c = rs - mean[inv_sorted]
    var = np.add.reduceat(c * c, starts) / np.maximum(size - 1, 1)
    std = np.where(size > 1, np.sqrt(var), 0.0)
    lo = np.minimum.reduceat(rs, starts); hi = np.maximum.reduceat(rs, starts)
    inv = np.empty(n, np.int64); inv[order] = inv_sorted
    return inv, size, mean, std, lo, hi

def group_advantages(r, g):
    inv, size, mean, std, lo, hi = stats(r, g)
    centered = r.astype(np.float64) - mean[inv]
    adv = np.where(size[inv] > 1, centered, 0.0).astype(np.float32)
    return adv, mean[inv].astype(np.float32), std[inv].astype(np.float32)

def select(r, g):
    inv, size, mean, std, lo, hi = stats(r, g)
    keep = (hi[inv] != lo[inv]) & (end <= 2) & (images > 0) & (lengths <= max_length)
    idx = np.nonzero(keep)[0]
    order = np.lexsort((idx, -std[inv[idx]]))
    return idx[order][:target]

def bench(fn, reps=5):
    # the median of reps calls after a warm-up call
    fn(); times = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] * 1000

n = rewards.size
print(json.dumps({"name": f"groupAdvantages {n // 1000}K{suffix}", "impl": "numpy", "ms": bench(lambda: group_advantages(rewards, groups))}))
print(json.dumps({"name": f"selectRollouts {n // 1000}K{suffix}", "impl": "numpy", "ms": bench(lambda: select(rewards, groups))}))
print(json.dumps({"name": f"groupAdvantages + selectRollouts {n // 1000}K{suffix}", "impl": "numpy", "ms": bench(lambda: (group_advantages(rewards, groups), select(rewards, groups)))}))
`;

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const bw = ctx.readBandwidthGBs * 1e9;
  const n = ctx.quick ? 1 << 17 : 1 << 20;
  const rand = random(7);
  const acc = new Float32Array(n).map(() => (rand() < 0.45 ? 1 : 0));
  const calls = new Int32Array(n).map(() => Math.floor(rand() * 5));
  const rewards = await accumulativeToolReward(acc, calls);
  const groups = new Int32Array(n).map((_, i) => Math.floor(i / 8) * 7919);
  const endReasons = new Uint8Array(n).map(() => (rand() < 0.8 ? 0 : Math.floor(rand() * 5)));
  const toolImages = new Int32Array(n).map(() => Math.floor(rand() * 3));
  const lengths = new Int32Array(n).map(() => 10 + Math.floor(rand() * 4000));
  const rollouts = { rewards, groups, endReasons, toolImages, lengths };
  const target = n / 4;
  const maxLength = 3500;
  const k = `${Math.floor(n / 1000)}K`;

  const add = (name: string, impl: string, t: { ms: number; rme: number; medianMs?: number; minMs?: number }, items: number, bytes: number, note?: string) =>
    rows.push({
      name,
      impl,
      ms: t.ms,
      rme: t.rme,
      medianMs: t.medianMs,
      minMs: t.minMs,
      throughput: (items / t.ms) * 1000,
      unit: 'items',
      bandwidthFraction: impl.startsWith('native') ? bytes / bw / (t.ms / 1000) : undefined,
      note,
    });

  add(`accumulativeToolReward ${k}`, 'native cpu', await timeAsync(() => accumulativeToolReward(acc, calls, { backend: 'cpu' })), n, n * 12);
  add(`accumulativeToolReward ${k}`, 'plain TypeScript', timeSync(() => toolRewardTs(acc, calls)), n, n * 12);
  add(`groupAdvantages ${k}`, 'native cpu', await timeAsync(() => groupAdvantages(rewards, groups, { backend: 'cpu' })), n, n * 20, 'target >= 5x plain TypeScript');
  add(`groupAdvantages ${k}`, 'plain TypeScript', timeSync(() => groupAdvantagesTs(rewards, groups)), n, n * 20);
  add(`selectRollouts ${k}`, 'native cpu', await timeAsync(() => selectRollouts(rollouts, { target, maxLength, backend: 'cpu' })), n, n * 17);
  add(`selectRollouts ${k}`, 'plain TypeScript', timeSync(() => selectRolloutsTs(rollouts, target, maxLength), { minSamples: 3 }), n, n * 17);

  // The same batch with its trajectories in random order (groups scattered,
  // as after length balancing or pooling across generation rounds).
  const shuffle = () => {
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const permute = <T extends Float32Array | Int32Array | Uint8Array>(a: T): T => a.map((_, i) => a[perm[i]]) as T;
    return {
      rewards: permute(rewards),
      groups: permute(groups),
      endReasons: permute(endReasons),
      toolImages: permute(toolImages),
      lengths: permute(lengths),
    };
  };
  // Two orders of the batch, used in turn: selectRollouts reuses the group
  // index that groupAdvantages built for the same ids, and each timed call
  // here must find none left by the previous sample (a trainer's next step
  // brings new ids). The adjacent layout likewise alternates between the batch
  // and a copy of it, so that both layouts' calls meet the same working set.
  const shuffledPair = [shuffle(), shuffle()];
  const shuffled = shuffledPair[0];
  const copy = (b: typeof shuffled): typeof shuffled => ({
    rewards: b.rewards.slice(),
    groups: b.groups.slice(),
    endReasons: b.endReasons.slice(),
    toolImages: b.toolImages.slice(),
    lengths: b.lengths.slice(),
  });
  const adjacentTwice = [rollouts, copy(rollouts)];
  const inTurn = (batches: (typeof shuffled)[], call: (batch: typeof shuffled) => Promise<unknown>) => {
    let i = 0;
    return () => call(batches[i++ % batches.length]);
  };
  const pair = async (batch: typeof shuffled) => {
    await groupAdvantages(batch.rewards, batch.groups, { backend: 'cpu' });
    await selectRollouts(batch, { target, maxLength, backend: 'cpu' });
  };
  // The two layouts' pairs are timed in turn (one call of each per round, over the same moments
  // of this VM's drift), since the shuffled row is judged by its ratio to the adjacent one.
  const [adjacentPair, shuffledTiming] = await timeInTurn([inTurn(adjacentTwice, pair), inTurn(shuffledPair, pair)], { maxTime: 4 });
  add(`groupAdvantages + selectRollouts ${k}`, 'native cpu', adjacentPair, n, n * 37, 'target >= 5x numpy');
  add(`groupAdvantages ${k} shuffled`, 'native cpu', await timeAsync(inTurn(shuffledPair, (b) => groupAdvantages(b.rewards, b.groups, { backend: 'cpu' }))), n, n * 20);
  add(`selectRollouts ${k} shuffled`, 'native cpu', await timeAsync(inTurn(shuffledPair, (b) => selectRollouts(b, { target, maxLength, backend: 'cpu' }))), n, n * 17);
  // Its ratio to the adjacent pair by each statistic: this VM's stalls only ever add time, so the
  // median and the best sample show what the layouts cost, the mean also how often it stalled.
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  add(
    `groupAdvantages + selectRollouts ${k} shuffled`,
    'native cpu',
    shuffledTiming,
    n,
    n * 37,
    `target >= 5x numpy, within 2x of the adjacent layout: ${ratio(shuffledTiming.ms, adjacentPair.ms)} (mean), ` +
      `${ratio(shuffledTiming.medianMs, adjacentPair.medianMs)} (median), ${ratio(shuffledTiming.minMs, adjacentPair.minMs)} (best)`,
  );
  // The same shuffled batches with ids 0..G-1 (prompt numbers): a range of at
  // most N ids takes the direct-addressing path instead of the hash.
  const denseIds = shuffledPair.map((b) => ({ ...b, groups: b.groups.map((g) => g / 7919) }));
  add(
    `groupAdvantages + selectRollouts ${k} shuffled, ids 0..G-1`,
    'native cpu',
    await timeAsync(inTurn(denseIds, pair)),
    n,
    n * 37,
    'ids within a range of N values: direct addressing',
  );

  // numpy peer on the same data, both layouts
  for (const [suffix, batch] of [['', rollouts], [' shuffled', shuffled]] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'pyvision-bench-'));
    try {
      writeFileSync(join(dir, 'rewards.f32'), batch.rewards);
      writeFileSync(join(dir, 'groups.i32'), batch.groups);
      writeFileSync(join(dir, 'end.u8'), batch.endReasons);
      writeFileSync(join(dir, 'images.i32'), batch.toolImages);
      writeFileSync(join(dir, 'lengths.i32'), batch.lengths);
      for (const row of runPython(ctx, NUMPY_PEER, [dir, String(target), String(maxLength), suffix])) {
        rows.push({ ...row, throughput: (n / row.ms) * 1000, unit: 'items' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  // policyLoss: 16K sequences (odd lengths around 256), ~4M tokens
  const B = ctx.quick ? 2048 : 16384;
  const seqOffsets = new Int32Array(B + 1);
  for (let b = 0; b < B; b++) seqOffsets[b + 1] = seqOffsets[b] + 1 + Math.floor(rand() * 511);
  const T = seqOffsets[B];
  const logp = new Float32Array(T).map(() => -0.01 - rand() * 6);
  const oldLogp = logp.map((x) => x + (rand() - 0.5));
  const advantages = new Float32Array(B).map(() => (rand() - 0.5) * 3);
  const mask = new Uint8Array(T).map(() => (rand() < 0.75 ? 1 : 0));
  const input = { logp, oldLogp, advantages, mask, seqOffsets };
  const tokens = `${(T / 1e6).toFixed(1)}M tokens`;
  const bytes = T * 17; // logp, oldLogp, mask read; grad written (advantages per sequence)
  add(`policyLoss ${tokens}`, 'native cpu', await timeAsync(() => policyLoss(input, { backend: 'cpu' })), T, bytes, 'target >= 5x plain TypeScript');
  add(`policyLoss ${tokens}`, 'plain TypeScript', timeSync(() => policyLossTs(logp, oldLogp, advantages, mask, seqOffsets)), T, bytes);

  // On a GPU machine: the same kernels on the card (host arrays in and out, so
  // the copies are included), with the fraction of the card's memory bandwidth.
  const info = backendInfo();
  if (info.devices.length > 0 && info.compiled.cuda) {
    const cardBw = (info.devices[0].memoryBandwidthGBs || 1) * 1e9;
    const addCuda = (name: string, t: { ms: number; rme: number }, items: number, bytes: number) =>
      rows.push({ name, impl: 'native cuda', ms: t.ms, rme: t.rme, throughput: (items / t.ms) * 1000, unit: 'items', bandwidthFraction: bytes / cardBw / (t.ms / 1000), note: 'incl. host-device copies' });
    addCuda(`groupAdvantages ${k}`, await timeAsync(() => groupAdvantages(rewards, groups, { backend: 'cuda' })), n, n * 20);
    addCuda(`selectRollouts ${k}`, await timeAsync(() => selectRollouts(rollouts, { target, maxLength, backend: 'cuda' })), n, n * 17);
    addCuda(`policyLoss ${tokens}`, await timeAsync(() => policyLoss(input, { backend: 'cuda' })), T, bytes);
    addSpeedups(rows, 'native cuda', 'native cpu');
  }

  addSpeedups(rows, 'native cpu', 'plain TypeScript');
  // The numpy peer reports the median of five calls: compared with the native rows' medians.
  addSpeedups(rows, 'native cpu', 'numpy', 'median');
  return rows;
}

/**
 * Plain TypeScript implementations of the scoring kernels (semantics.md
 * sections 1-5): the baseline the native kernels are compared with in the
 * same run. Straightforward, idiomatic code with typed arrays and a Map.
 */

export function toolRewardTs(acc: Float32Array, calls: Int32Array, coef = 0.1, threshold = 1): Float32Array {
  const out = new Float32Array(acc.length);
  for (let i = 0; i < acc.length; i++) out[i] = acc[i] + coef * calls[i] * (acc[i] >= threshold ? 1 : 0);
  return out;
}

interface Stats {
  dense: Int32Array;
  mean: Float64Array;
  std: Float64Array;
  size: Int32Array;
  lo: Float64Array;
  hi: Float64Array;
}

function groupStats(rewards: Float32Array, groups: Int32Array): Stats {
  const n = rewards.length;
  const ids = new Map<number, number>();
  const dense = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let d = ids.get(groups[i]);
    if (d === undefined) {
      d = ids.size;
      ids.set(groups[i], d);
    }
    dense[i] = d;
  }
  const G = ids.size;
  const mean = new Float64Array(G);
  const std = new Float64Array(G);
  const size = new Int32Array(G);
  const lo = new Float64Array(G).fill(Infinity);
  const hi = new Float64Array(G).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const g = dense[i];
    mean[g] += rewards[i];
    size[g]++;
    if (rewards[i] < lo[g]) lo[g] = rewards[i];
    if (rewards[i] > hi[g]) hi[g] = rewards[i];
  }
  for (let g = 0; g < G; g++) mean[g] /= size[g];
  for (let i = 0; i < n; i++) {
    const d = rewards[i] - mean[dense[i]];
    std[dense[i]] += d * d;
  }
  for (let g = 0; g < G; g++) std[g] = size[g] > 1 ? Math.sqrt(std[g] / (size[g] - 1)) : 0;
  return { dense, mean, std, size, lo, hi };
}

export function groupAdvantagesTs(rewards: Float32Array, groups: Int32Array) {
  const s = groupStats(rewards, groups);
  const n = rewards.length;
  const advantages = new Float32Array(n);
  const groupMean = new Float32Array(n);
  const groupStd = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const g = s.dense[i];
    advantages[i] = s.size[g] > 1 ? rewards[i] - s.mean[g] : 0;
    groupMean[i] = s.mean[g];
    groupStd[i] = s.std[g];
  }
  return { advantages, groupMean, groupStd };
}

export function selectRolloutsTs(
  input: { rewards: Float32Array; groups: Int32Array; endReasons: Uint8Array; toolImages: Int32Array; lengths: Int32Array },
  target: number,
  maxLength: number,
): Int32Array {
  const s = groupStats(input.rewards, input.groups);
  const survivors: number[] = [];
  for (let i = 0; i < input.rewards.length; i++) {
    const g = s.dense[i];
    if (s.lo[g] === s.hi[g]) continue;
    if (input.endReasons[i] > 2) continue;
    if (input.toolImages[i] === 0) continue;
    if (input.lengths[i] > maxLength) continue;
    survivors.push(i);
  }
  survivors.sort((a, b) => s.std[s.dense[b]] - s.std[s.dense[a]] || a - b);
  return Int32Array.from(survivors.slice(0, target));
}

export function policyLossTs(
  logp: Float32Array,
  oldLogp: Float32Array,
  advantages: Float32Array,
  mask: Uint8Array,
  seqOffsets: Int32Array,
): { loss: number; grad: Float32Array } {
  // token-mean, clip 0.2/0.2, dual clip 3, advantages per sequence
  const T = logp.length;
  const grad = new Float32Array(T);
  let total = 0;
  for (let t = 0; t < T; t++) total += mask[t];
  const w = total > 0 ? 1 / total : 0;
  let loss = 0;
  for (let b = 0; b + 1 < seqOffsets.length; b++) {
    const A = advantages[b];
    for (let t = seqOffsets[b]; t < seqOffsets[b + 1]; t++) {
      if (!mask[t]) continue;
      const x = logp[t] - oldLogp[t];
      const ratio = Math.exp(Math.min(Math.max(x, -20), 20));
      const dratio = x > -20 && x < 20 ? ratio : 0;
      const pg1 = -A * ratio;
      const pg2 = -A * Math.min(Math.max(ratio, 0.8), 1.2);
      const clipped = pg2 > pg1;
      let l = clipped ? pg2 : pg1;
      let g = clipped ? (ratio > 0.8 && ratio < 1.2 ? -A * dratio : 0) : -A * dratio;
      if (A < 0 && l > -A * 3) {
        l = -A * 3;
        g = 0;
      }
      loss += l * w;
      grad[t] = g * w;
    }
  }
  return { loss, grad };
}

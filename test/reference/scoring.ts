/**
 * Float64 references of semantics.md sections 1-5, written naively and
 * independently of the native code they check (no shared helpers). The rank
 * of selectRollouts uses the exact rational variance (rational.ts), so that
 * groups with equal reward multisets tie whatever the order of their members.
 */
import { compareRational, exactVariance, type Rational } from './rational.js';

export function toolRewardRef(acc: Float32Array, calls: Int32Array, coef: number, threshold: number): Float64Array {
  const out = new Float64Array(acc.length);
  for (let i = 0; i < acc.length; i++) out[i] = acc[i] + coef * calls[i] * (acc[i] >= threshold ? 1 : 0);
  return out;
}

export interface GroupRef {
  advantages: Float64Array;
  groupMean: Float64Array;
  groupStd: Float64Array;
}

/** Members of each group, in ascending index order. */
function membersOf(groups: Int32Array): Map<number, number[]> {
  const members = new Map<number, number[]>();
  groups.forEach((g, i) => {
    const list = members.get(g);
    if (list) list.push(i);
    else members.set(g, [i]);
  });
  return members;
}

export function groupStatsRef(rewards: Float32Array, groups: Int32Array, scale: 'none' | 'group-std', eps: number): GroupRef {
  const n = rewards.length;
  const out: GroupRef = { advantages: new Float64Array(n), groupMean: new Float64Array(n), groupStd: new Float64Array(n) };
  for (const list of membersOf(groups).values()) {
    let sum = 0;
    for (const i of list) sum += rewards[i];
    const mean = sum / list.length;
    let sq = 0;
    for (const i of list) sq += (rewards[i] - mean) * (rewards[i] - mean);
    const std = list.length > 1 ? Math.sqrt(sq / (list.length - 1)) : 0;
    for (const i of list) {
      out.groupMean[i] = mean;
      out.groupStd[i] = std;
      if (list.length === 1) out.advantages[i] = 0;
      else out.advantages[i] = scale === 'none' ? rewards[i] - mean : (rewards[i] - mean) / (std + eps);
    }
  }
  return out;
}

export interface SelectRefOptions {
  target: number;
  keepEndReasons: number[];
  requireToolImage: boolean;
  maxLength?: number;
  rank: 'std' | 'none';
}

export function selectRef(
  input: { rewards: Float32Array; groups: Int32Array; endReasons: Uint8Array; toolImages: Int32Array; lengths?: Int32Array },
  opts: SelectRefOptions,
): { indices: number[]; dropped: { zeroVariance: number; endReason: number; noToolImage: number; overLength: number } } {
  const zeroVariance = new Set<number>();
  const variance = new Map<number, Rational>();
  for (const [g, list] of membersOf(input.groups)) {
    const values = list.map((i) => input.rewards[i]);
    if (Math.max(...values) === Math.min(...values)) zeroVariance.add(g);
    variance.set(g, exactVariance(values));
  }
  const dropped = { zeroVariance: 0, endReason: 0, noToolImage: 0, overLength: 0 };
  const survivors: number[] = [];
  for (let i = 0; i < input.rewards.length; i++) {
    if (zeroVariance.has(input.groups[i])) dropped.zeroVariance++;
    else if (!opts.keepEndReasons.includes(input.endReasons[i])) dropped.endReason++;
    else if (opts.requireToolImage && input.toolImages[i] === 0) dropped.noToolImage++;
    else if (opts.maxLength !== undefined && input.lengths![i] > opts.maxLength) dropped.overLength++;
    else survivors.push(i);
  }
  if (opts.rank === 'std') {
    survivors.sort((a, b) => compareRational(variance.get(input.groups[b])!, variance.get(input.groups[a])!) || a - b);
  }
  return { indices: survivors.slice(0, opts.target), dropped };
}

export interface LossRefOptions {
  clipLow: number;
  clipHigh: number;
  dualClip: number | null;
  agg: 'token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';
  normDenominator?: number;
  klCoef: number;
  klType: 'k1' | 'k2' | 'k3';
}

export interface LossRefInput {
  logp: ArrayLike<number>;
  oldLogp: Float32Array;
  advantages: Float32Array;
  mask: ArrayLike<number>;
  seqOffsets: Int32Array;
  refLogp?: Float32Array;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);

/** Per-token loss of semantics.md section 4 in float64. */
function tokenLoss(logp: number, old: number, A: number, ref: number | undefined, o: LossRefOptions) {
  const ratio = Math.exp(clamp(logp - old, -20, 20));
  const pg1 = -A * ratio;
  const pg2 = -A * clamp(ratio, 1 - o.clipLow, 1 + o.clipHigh);
  const clip1 = Math.max(pg1, pg2);
  let pg = clip1;
  if (o.dualClip !== null && A < 0) pg = Math.min(-A * o.dualClip, clip1);
  let kl = 0;
  if (o.klCoef > 0 && ref !== undefined) {
    if (o.klType === 'k1') kl = logp - ref;
    else if (o.klType === 'k2') kl = 0.5 * (logp - ref) ** 2;
    else {
      const c = clamp(ref - logp, -20, 20);
      kl = clamp(Math.exp(c) - c - 1, -10, 10);
    }
  }
  return {
    loss: pg + o.klCoef * kl,
    clipped: pg2 > pg1,
    lower: o.dualClip !== null && A < 0 && clip1 > -A * o.dualClip,
  };
}

/** The aggregated loss and metrics (no gradient: gradients are checked by finite differences of this). */
export function policyLossRef(input: LossRefInput, o: LossRefOptions): { loss: number; clipFrac: number; clipFracLower: number; approxKl: number } {
  const B = input.seqOffsets.length - 1;
  const T = input.oldLogp.length;
  const perSeq = input.advantages.length !== T;
  let longest = 0;
  let total = 0;
  let clipped = 0;
  let lower = 0;
  let kl = 0;
  const seqSums: number[] = [];
  const seqCounts: number[] = [];
  let sumAll = 0;
  for (let b = 0; b < B; b++) {
    const start = input.seqOffsets[b];
    const end = input.seqOffsets[b + 1];
    longest = Math.max(longest, end - start);
    let s = 0;
    let c = 0;
    for (let t = start; t < end; t++) {
      if (!input.mask[t]) continue;
      const A = perSeq ? input.advantages[b] : input.advantages[t];
      const r = tokenLoss(input.logp[t], input.oldLogp[t], A, input.refLogp?.[t], o);
      s += r.loss;
      c += 1;
      clipped += r.clipped ? 1 : 0;
      lower += r.lower ? 1 : 0;
      kl += input.oldLogp[t] - input.logp[t];
    }
    seqSums.push(s);
    seqCounts.push(c);
    sumAll += s;
    total += c;
  }
  let loss = 0;
  const valid = seqCounts.filter((c) => c > 0).length;
  if (o.agg === 'token-mean') loss = total > 0 ? sumAll / total : 0;
  else if (o.agg === 'seq-mean-token-sum') loss = valid > 0 ? seqSums.filter((_, b) => seqCounts[b] > 0).reduce((a, x) => a + x, 0) / valid : 0;
  else if (o.agg === 'seq-mean-token-mean')
    loss = valid > 0 ? seqSums.reduce((a, x, b) => a + (seqCounts[b] > 0 ? x / seqCounts[b] : 0), 0) / valid : 0;
  else loss = total > 0 ? sumAll / (o.normDenominator ?? longest) : 0;
  return {
    loss,
    clipFrac: total > 0 ? clipped / total : 0,
    clipFracLower: total > 0 ? lower / total : 0,
    approxKl: total > 0 ? kl / total : 0,
  };
}

/** Central finite difference of the reference loss with respect to logp[t], in float64. */
export function lossGradientFD(input: LossRefInput, o: LossRefOptions, h = 1e-6): Float64Array {
  const logp = Float64Array.from(input.logp);
  const grad = new Float64Array(logp.length);
  for (let t = 0; t < logp.length; t++) {
    const x = logp[t];
    logp[t] = x + h;
    const up = policyLossRef({ ...input, logp }, o).loss;
    logp[t] = x - h;
    const down = policyLossRef({ ...input, logp }, o).loss;
    logp[t] = x;
    grad[t] = (up - down) / (2 * h);
  }
  return grad;
}

/**
 * The analytic gradient d loss / d logp in float64, written from the rules of
 * semantics.md section 4 (clamp passes gradient strictly inside its bounds,
 * max/min pass it to the selected branch). Itself checked against
 * lossGradientFD; used to check the native gradient at sizes where finite
 * differences would be too slow.
 */
export function policyLossGradRef(input: LossRefInput, o: LossRefOptions): Float64Array {
  const B = input.seqOffsets.length - 1;
  const T = input.oldLogp.length;
  const perSeq = input.advantages.length !== T;
  const grad = new Float64Array(T);
  const counts: number[] = [];
  let total = 0;
  let longest = 0;
  for (let b = 0; b < B; b++) {
    let c = 0;
    for (let t = input.seqOffsets[b]; t < input.seqOffsets[b + 1]; t++) c += input.mask[t] ? 1 : 0;
    counts.push(c);
    total += c;
    longest = Math.max(longest, input.seqOffsets[b + 1] - input.seqOffsets[b]);
  }
  const valid = counts.filter((c) => c > 0).length;
  for (let b = 0; b < B; b++) {
    let weight = 0;
    if (o.agg === 'token-mean') weight = total > 0 ? 1 / total : 0;
    else if (o.agg === 'seq-mean-token-sum') weight = valid > 0 ? 1 / valid : 0;
    else if (o.agg === 'seq-mean-token-mean') weight = counts[b] > 0 ? 1 / (valid * counts[b]) : 0;
    else weight = total > 0 ? 1 / (o.normDenominator ?? longest) : 0;
    for (let t = input.seqOffsets[b]; t < input.seqOffsets[b + 1]; t++) {
      if (!input.mask[t]) continue;
      const A = perSeq ? input.advantages[b] : input.advantages[t];
      const x = input.logp[t] - input.oldLogp[t];
      const ratio = Math.exp(clamp(x, -20, 20));
      const dratio = x > -20 && x < 20 ? ratio : 0;
      const lo = 1 - o.clipLow;
      const hi = 1 + o.clipHigh;
      const pg1 = -A * ratio;
      const pg2 = -A * clamp(ratio, lo, hi);
      const g1 = -A * dratio;
      const g2 = ratio > lo && ratio < hi ? g1 : 0;
      const clip1 = pg2 > pg1 ? pg2 : pg1;
      let g = pg2 > pg1 ? g2 : g1;
      if (o.dualClip !== null && A < 0 && clip1 > -A * o.dualClip) g = 0;
      if (o.klCoef > 0 && input.refLogp) {
        const ref = input.refLogp[t];
        let gk = 0;
        if (o.klType === 'k1') gk = 1;
        else if (o.klType === 'k2') gk = input.logp[t] - ref;
        else {
          const xr = ref - input.logp[t];
          const c = clamp(xr, -20, 20);
          const raw = Math.exp(c) - c - 1;
          gk = xr > -20 && xr < 20 && raw > -10 && raw < 10 ? -(Math.exp(c) - 1) : 0;
        }
        g += o.klCoef * gk;
      }
      grad[t] = g * weight;
    }
  }
  return grad;
}

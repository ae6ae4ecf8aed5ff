/**
 * Float64 reference of frame selection (semantics.md section 7), written to be
 * read, not to be fast. Dot products are summed left to right in float64, and
 * relevance is rounded to float32 (as the contract defines it) before any
 * selection. The native kernels sum in another fixed order (16 lanes), so
 * their relevance can differ from this one by one float32 rounding step; the
 * tests allow exactly that (see relevanceTolerance).
 */

export type Mode = 'uniform' | 'topk' | 'topk-gap' | 'mmr' | 'bolt';

export interface Batch {
  embeddings: Float32Array;
  frameOffsets: Int32Array;
  queries: Float32Array;
  dim: number;
}

export interface RefOptions {
  k: number | Int32Array;
  mode: Mode;
  minGap?: number;
  lambda?: number;
  alpha?: number;
  normalize?: boolean;
}

function dot(a: Float32Array, ai: number, b: Float32Array, bi: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += a[ai + j] * b[bi + j];
  return s;
}

/** Relevance in float64 (not rounded): the dot product, or the cosine with normalize (0 for a zero norm). */
export function relevance64(batch: Batch, normalize: boolean): Float64Array {
  const { embeddings: e, frameOffsets: off, queries: q, dim } = batch;
  const out = new Float64Array(off[off.length - 1]);
  for (let b = 0; b + 1 < off.length; b++) {
    const qNorm = Math.sqrt(dot(q, b * dim, q, b * dim, dim));
    for (let i = off[b]; i < off[b + 1]; i++) {
      const d = dot(e, i * dim, q, b * dim, dim);
      if (!normalize) {
        out[i] = d;
      } else {
        const eNorm = Math.sqrt(dot(e, i * dim, e, i * dim, dim));
        out[i] = eNorm === 0 || qNorm === 0 ? 0 : d / (eNorm * qNorm);
      }
    }
  }
  return out;
}

/** Relevance as the contract defines it: float32, with -0 written as +0. */
export function relevance32(batch: Batch, normalize: boolean): Float32Array {
  const r = relevance64(batch, normalize);
  const out = new Float32Array(r.length);
  for (let i = 0; i < r.length; i++) out[i] = Math.fround(r[i]) + 0;
  return out;
}

/**
 * Tolerance of a native relevance against relevance32: both round a float64
 * sum of the same exact products to float32, in different orders. The float64
 * sums differ by at most 2 D u sum|e_j q_j| (u = 2^-53; divided by |e||q| and
 * so at most 2 (D + 2) u with normalize), and the float32 results by one
 * float32 ulp on top: rtol = 2^-23.
 */
export function relevanceTolerance(batch: Batch, normalize: boolean): { atol: number; rtol: number } {
  const { embeddings: e, frameOffsets: off, queries: q, dim } = batch;
  const u = 2 ** -53;
  if (normalize) return { atol: 2 * (dim + 2) * u + 2 ** -149, rtol: 2 ** -23 };
  let worst = 0;
  for (let b = 0; b + 1 < off.length; b++) {
    for (let i = off[b]; i < off[b + 1]; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += Math.abs(e[i * dim + j] * q[b * dim + j]);
      worst = Math.max(worst, s);
    }
  }
  return { atol: 2 * dim * u * worst + 2 ** -149, rtol: 2 ** -23 };
}

/** The frames of one video in selection order: higher relevance first, ties to the lower index. */
function byRelevance(s: Float32Array, begin: number, n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (s[begin + b] - s[begin + a]) || a - b);
  return order;
}

function cosine(batch: Batch, i: number, j: number): number {
  const { embeddings: e, dim } = batch;
  const ni = Math.sqrt(dot(e, i * dim, e, i * dim, dim));
  const nj = Math.sqrt(dot(e, j * dim, e, j * dim, dim));
  if (ni === 0 || nj === 0) return 0;
  return dot(e, i * dim, e, j * dim, dim) / (ni * nj);
}

/** numpy.linspace(1/k, 1 - 1/k, k), or [0.5] for k = 1. */
export function boltTargets(k: number): number[] {
  if (k === 1) return [0.5];
  const start = 1 / k;
  const stop = 1 - 1 / k;
  const step = (stop - start) / (k - 1);
  const u: number[] = [];
  for (let j = 0; j < k; j++) u.push(j * step + start);
  u[k - 1] = stop;
  return u;
}

/** The selected local frame indices of one video, in any order (duplicates allowed for bolt). */
function selectVideo(batch: Batch, s: Float32Array, begin: number, n: number, k: number, o: RefOptions): number[] {
  const lambda = o.lambda ?? 0.5;
  const alpha = o.alpha ?? 3;
  const minGap = o.minGap ?? 1;
  switch (o.mode) {
    case 'uniform': {
      const kk = Math.min(k, n);
      return Array.from({ length: kk }, (_, j) => Math.floor(((j + 0.5) * n) / kk));
    }
    case 'topk':
      return byRelevance(s, begin, n).slice(0, Math.min(k, n));
    case 'topk-gap': {
      const accepted: number[] = [];
      for (const i of byRelevance(s, begin, n)) {
        if (accepted.length >= k) break;
        if (accepted.every((j) => Math.abs(i - j) >= minGap)) accepted.push(i);
      }
      return accepted;
    }
    case 'mmr': {
      const kk = Math.min(k, n);
      if (kk === 0) return [];
      const selected = [byRelevance(s, begin, n)[0]];
      const maxCos = new Float64Array(n).fill(-Infinity);
      while (selected.length < kk) {
        const last = selected[selected.length - 1];
        let best = -1;
        let bestObjective = -Infinity;
        for (let i = 0; i < n; i++) {
          if (selected.includes(i)) continue;
          maxCos[i] = Math.max(maxCos[i], cosine(batch, begin + i, begin + last));
          const objective = lambda * s[begin + i] - (1 - lambda) * maxCos[i];
          if (best < 0 || objective > bestObjective) {
            best = i;
            bestObjective = objective;
          }
        }
        selected.push(best);
      }
      return selected;
    }
    case 'bolt': {
      if (n === 0) return [];
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        lo = Math.min(lo, s[begin + i]);
        hi = Math.max(hi, s[begin + i]);
      }
      const w = Array.from({ length: n }, (_, i) => (hi === lo ? 1 : Math.pow((s[begin + i] - lo) / (hi - lo), alpha)));
      const cum: number[] = [];
      let total = 0;
      for (const x of w) cum.push((total += x));
      const cdf = cum.map((c) => c / total);
      return boltTargets(k).map((u) => {
        const i = cdf.findIndex((c) => c >= u);
        return i < 0 ? n - 1 : i;
      });
    }
  }
}

/** selectFrames in float64: indices B x kmax (ascending, -1 padded) and their relevance (NaN padded). */
export function referenceSelectFrames(batch: Batch, o: RefOptions): { indices: Int32Array; scores: Float32Array } {
  const off = batch.frameOffsets;
  const B = off.length - 1;
  const budget = (b: number) => (typeof o.k === 'number' ? o.k : o.k[b]);
  let kmax = 0;
  for (let b = 0; b < B; b++) kmax = Math.max(kmax, budget(b));
  const s = relevance32(batch, o.normalize ?? false);
  const indices = new Int32Array(B * kmax).fill(-1);
  const scores = new Float32Array(B * kmax).fill(NaN);
  for (let b = 0; b < B; b++) {
    const n = off[b + 1] - off[b];
    const picked = selectVideo(batch, s, off[b], n, budget(b), o).sort((x, y) => x - y);
    picked.forEach((i, t) => {
      indices[b * kmax + t] = i;
      scores[b * kmax + t] = s[off[b] + i];
    });
  }
  return { indices, scores };
}

/**
 * The canonical summation order of the native kernels (core/frames.h): 16
 * float64 partial sums, lane l taking elements j = l (mod 16) in ascending j,
 * combined as l + (l ^ 8), then ^ 4, ^ 2, ^ 1. Every backend must reproduce
 * float32 of this bit for bit.
 */
export function canonicalDot(a: Float32Array, ai: number, b: Float32Array, bi: number, dim: number): number {
  const lane = new Float64Array(16);
  for (let j = 0; j < dim; j++) lane[j % 16] += a[ai + j] * b[bi + j];
  const x = Array.from({ length: 8 }, (_, l) => lane[l] + lane[l + 8]);
  const y = Array.from({ length: 4 }, (_, l) => x[l] + x[l + 4]);
  return (y[0] + y[2]) + (y[1] + y[3]);
}

/** The exact relevance bits every backend returns: float32 of the canonical dot (or cosine), -0 as +0. */
export function canonicalRelevance(batch: Batch, normalize: boolean): Float32Array {
  const { embeddings: e, frameOffsets: off, queries: q, dim } = batch;
  const out = new Float32Array(off[off.length - 1]);
  for (let b = 0; b + 1 < off.length; b++) {
    const qNorm = Math.sqrt(canonicalDot(q, b * dim, q, b * dim, dim));
    for (let i = off[b]; i < off[b + 1]; i++) {
      const d = canonicalDot(e, i * dim, q, b * dim, dim);
      let r = d;
      if (normalize) {
        const eNorm = Math.sqrt(canonicalDot(e, i * dim, e, i * dim, dim));
        r = eNorm === 0 || qNorm === 0 ? 0 : d / (eNorm * qNorm);
      }
      out[i] = Math.fround(r) + 0;
    }
  }
  return out;
}

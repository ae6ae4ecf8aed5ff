/**
 * Counter-based randomness: every random choice of a run is a pure function of
 * (seed, purpose, counters), so the whole RNG state of a run is its seed and
 * its step and data-cursor counters, and a resumed run draws exactly what an
 * uninterrupted one would have.
 */

import { mulberry32 } from '../util/random.js';

/** SplitMix64 finaliser over 32-bit halves: a well-mixed 32-bit hash of the inputs. */
export function hash32(...values: number[]): number {
  let h = 0x9e3779b9 >>> 0;
  for (const value of values) {
    let x = (Math.floor(value) >>> 0) ^ Math.imul(Math.floor(value / 2 ** 32) >>> 0, 0x85ebca6b);
    h = Math.imul(h ^ x, 0xcc9e2d51) >>> 0;
    h = ((h << 13) | (h >>> 19)) >>> 0;
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
    x = h;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    h = x >>> 0;
  }
  return h >>> 0;
}

/** Purposes of the seeds derived from a run's seed (one stream each). */
export const STREAM = {
  policyInit: 1,
  dataOrder: 2,
  rollout: 3,
  minibatch: 4,
  sft: 5,
  eval: 6,
  worldSplits: 7,
} as const;

/** mulberry32 generator: uniform floats in [0, 1). */
export function uniformStream(seed: number): () => number {
  return mulberry32(seed);
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const u = uniformStream(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

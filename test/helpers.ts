/** Test utilities: a seeded PRNG and tolerance comparisons that report the worst element. */

/** mulberry32 (the package's own seeded generator): small, seedable, good enough for test inputs. */
export { mulberry32 as rng } from '../lib/util/random.js';

export function uniform(random: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * random();
  return out;
}

export function ints(random: () => number, n: number, lo: number, hi: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(random() * (hi - lo + 1));
  return out;
}

export interface Worst {
  index: number;
  candidate: number;
  reference: number;
  /** |a - b| / (atol + rtol |b|); <= 1 passes */
  ratio: number;
}

/**
 * Checks |a - b| <= atol + rtol * |b| elementwise. Throws with the worst element
 * (index, both values, how far past the tolerance) when any element fails.
 */
export function expectClose(
  candidate: ArrayLike<number>,
  reference: ArrayLike<number>,
  atol: number,
  rtol: number,
  label = 'values',
): Worst {
  if (candidate.length !== reference.length) {
    throw new Error(`${label}: length ${candidate.length} != reference length ${reference.length}`);
  }
  let worst: Worst = { index: -1, candidate: 0, reference: 0, ratio: 0 };
  for (let i = 0; i < candidate.length; i++) {
    const a = candidate[i];
    const b = reference[i];
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      worst = { index: i, candidate: a, reference: b, ratio: Infinity };
      break;
    }
    const ratio = Math.abs(a - b) / (atol + rtol * Math.abs(b));
    if (ratio > worst.ratio) worst = { index: i, candidate: a, reference: b, ratio };
  }
  if (worst.ratio > 1) {
    throw new Error(
      `${label}: worst element ${worst.index}: ${worst.candidate} vs reference ${worst.reference} ` +
        `(|diff| = ${Math.abs(worst.candidate - worst.reference)}, ${worst.ratio.toFixed(2)}x the tolerance ` +
        `atol=${atol} rtol=${rtol})`,
    );
  }
  return worst;
}

export function expectScalarClose(candidate: number, reference: number, atol: number, rtol: number, label = 'value'): void {
  expectClose([candidate], [reference], atol, rtol, label);
}

/** Snapshot of typed arrays (to check that a rejected call left its inputs unchanged). */
export function snapshot(...arrays: ArrayBufferView[]): () => void {
  const copies = arrays.map((a) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));
  return () => {
    arrays.forEach((a, k) => {
      const now = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      expect(Buffer.compare(Buffer.from(now), Buffer.from(copies[k]))).toBe(0);
    });
  };
}

/** Whether CUDA-vs-CPU tests can run here, and why not. */
export function cudaStatus(info: { compiled: { cuda: boolean }; devices: unknown[]; reason: string }): {
  ok: boolean;
  reason: string;
} {
  if (!info.compiled.cuda) return { ok: false, reason: 'this build has no CUDA backend' };
  if (info.devices.length === 0) return { ok: false, reason: `no CUDA device: ${info.reason}` };
  return { ok: true, reason: '' };
}

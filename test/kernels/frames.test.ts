/**
 * selectFrames / frameRelevance against the float64 reference of
 * test/reference/frames.ts (semantics.md section 7): every mode on seeded
 * random batches and on crafted ones (ties, constant relevance, N < k, N = 0,
 * N = 1, a huge video beside many tiny ones, zero vectors), every error path,
 * determinism across thread counts, and CUDA against CPU when a GPU is present.
 *
 * Indices must match the reference exactly. Relevance must match within one
 * float32 rounding step (relevanceTolerance explains the bound).
 */
import { PyVisionError, backendInfo, frameRelevance, selectFrames, setCpuThreads } from '../../lib/index.js';
import type { FrameBatch, SelectFramesOptions } from '../../lib/index.js';
import { type Mode, canonicalRelevance, referenceSelectFrames, relevance32, relevanceTolerance } from '../reference/frames.js';
import { cudaStatus, expectClose, rng, snapshot } from '../helpers.js';

const MODES: Mode[] = ['uniform', 'topk', 'topk-gap', 'mmr', 'bolt'];

function makeBatch(lengths: number[], dim: number, values: () => number): FrameBatch {
  const frameOffsets = new Int32Array(lengths.length + 1);
  lengths.forEach((n, b) => (frameOffsets[b + 1] = frameOffsets[b] + n));
  const embeddings = new Float32Array(frameOffsets[lengths.length] * dim);
  for (let i = 0; i < embeddings.length; i++) embeddings[i] = values();
  const queries = new Float32Array(lengths.length * dim);
  for (let i = 0; i < queries.length; i++) queries[i] = values();
  return { embeddings, frameOffsets, queries, dim };
}

function randomBatch(seed: number, lengths: number[], dim: number): FrameBatch {
  const r = rng(seed);
  return makeBatch(lengths, dim, () => 2 * r() - 1);
}

/** Runs selectFrames on the CPU and compares it with the reference. */
async function expectMatchesReference(batch: FrameBatch, opts: SelectFramesOptions, label: string): Promise<void> {
  const got = await selectFrames(batch, { ...opts, backend: 'cpu' });
  const want = referenceSelectFrames(batch, opts);
  expectSameIndices(got.indices, want.indices, `${label} indices`);
  const tol = relevanceTolerance(batch, opts.normalize ?? false);
  expectClose(got.scores, want.scores, tol.atol, tol.rtol, `${label} scores`);
}

/** Checks two index arrays are identical; throws naming the first difference and its neighbourhood. */
function expectSameIndices(candidate: Int32Array, reference: Int32Array, label: string): void {
  expect(candidate.length).toBe(reference.length);
  for (let i = 0; i < candidate.length; i++) {
    if (candidate[i] !== reference[i]) {
      const lo = Math.max(0, i - 4);
      throw new Error(
        `${label}: first difference at ${i}: ${candidate[i]} vs reference ${reference[i]} ` +
          `(candidate ${Array.from(candidate.slice(lo, i + 5))}, reference ${Array.from(reference.slice(lo, i + 5))})`,
      );
    }
  }
}

function expectedCode(code: string) {
  return expect.objectContaining({ name: 'PyVisionError', code });
}

describe('frameRelevance', () => {
  test.each([
    [false, 37],
    [true, 37],
    [false, 512],
    [true, 16],
  ])('normalize=%s D=%i matches the float64 reference within one float32 rounding', async (normalize, dim) => {
    const batch = randomBatch(11 + dim, [0, 1, 5, 300, 17, 0, 64], dim);
    const got = await frameRelevance(batch, { normalize, backend: 'cpu' });
    const tol = relevanceTolerance(batch, normalize);
    expectClose(got, relevance32(batch, normalize), tol.atol, tol.rtol, 'relevance');
  });

  test.each([1, 7, 16, 17, 37, 517])('D=%i: bit-identical to the canonical summation order of core/frames.h', async (dim) => {
    for (const normalize of [false, true]) {
      const batch = randomBatch(200 + dim, [0, 9, 1, 123, 4], dim);
      // Scale some frames so that rounding differences between orders would show.
      for (let i = 0; i < batch.embeddings.length; i += 5) batch.embeddings[i] *= 1e6;
      const got = await frameRelevance(batch, { normalize, backend: 'cpu' });
      expect(Buffer.from(got.buffer).equals(Buffer.from(canonicalRelevance(batch, normalize).buffer))).toBe(true);
    }
  });

  test('integer-valued embeddings give exact relevance (no rounding anywhere)', async () => {
    const r = rng(5);
    const batch = makeBatch([40, 3, 0, 25], 19, () => Math.floor(r() * 9) - 4);
    const got = await frameRelevance(batch, { backend: 'cpu' });
    expect(Array.from(got)).toEqual(Array.from(relevance32(batch, false)));
  });

  test('zero vectors have cosine relevance +0 and a zero query gives +0 everywhere', async () => {
    const batch = makeBatch([3, 2], 4, () => 0);
    batch.embeddings.set([1, 2, 3, 4], 4); // frame 1 of video 0 is non-zero
    batch.queries.set([1, 0, 0, 0], 0); // video 0's query; video 1's stays zero
    const got = await frameRelevance(batch, { normalize: true, backend: 'cpu' });
    expect(Array.from(got)).toEqual([0, Math.fround(1 / Math.sqrt(30)), 0, 0, 0]);
    expect(Object.is(got[0], 0)).toBe(true);
    const dotted = await frameRelevance(batch, { backend: 'cpu' });
    expect(Array.from(dotted)).toEqual([0, 1, 0, 0, 0]);
  });

  test('negative zero dot products are written as +0', async () => {
    const batch: FrameBatch = {
      embeddings: new Float32Array([-0, -0, 0, -1]),
      frameOffsets: new Int32Array([0, 2]),
      queries: new Float32Array([1, 0]),
      dim: 2,
    };
    const got = await frameRelevance(batch, { backend: 'cpu' });
    expect(Object.is(got[0], 0)).toBe(true);
    expect(Object.is(got[1], 0)).toBe(true);
  });
});

describe('selectFrames against the reference', () => {
  const lengths = [0, 1, 2, 7, 50, 131, 300, 3, 0, 64, 1, 90];
  for (const mode of MODES) {
    for (const normalize of [false, true]) {
      test(`${mode} normalize=${normalize}: random batch, per-video budgets (some > N)`, async () => {
        for (const dim of [1, 16, 37]) {
          const batch = randomBatch(100 + dim + (normalize ? 1 : 0), lengths, dim);
          const r = rng(7 + dim);
          const k = Int32Array.from(lengths, () => Math.floor(r() * 40));
          k[3] = 0;
          k[4] = 60; // N = 50 < k
          for (const extra of [{}, { minGap: 5 }, { lambda: 0.3, alpha: 1.7 }, { lambda: 1, alpha: 1 }, { lambda: 0, minGap: 0 }]) {
            await expectMatchesReference(batch, { mode, k, normalize, ...extra }, `${mode} D=${dim} ${JSON.stringify(extra)}`);
          }
          await expectMatchesReference(batch, { mode, k: 9, normalize }, `${mode} D=${dim} k=9`);
        }
      });
    }
  }

  test.each(MODES)('%s: integer-valued embeddings with many exact ties', async (mode) => {
    const r = rng(21);
    // Values in {-1, 0, 1} on D = 3: relevance takes a handful of values, so
    // nearly every comparison is a tie decided by the frame index.
    const batch = makeBatch([40, 9, 0, 1, 25, 200], 3, () => Math.floor(r() * 3) - 1);
    for (const normalize of [false, true]) {
      for (const extra of [{}, { minGap: 3 }, { lambda: 0.7 }, { alpha: 2 }]) {
        await expectMatchesReference(batch, { mode, k: Int32Array.of(6, 20, 4, 3, 25, 17), normalize, ...extra }, `${mode} ties normalize=${normalize} ${JSON.stringify(extra)}`);
      }
    }
  });

  test.each(MODES)('%s: constant relevance (identical frames, and a zero query)', async (mode) => {
    const same = makeBatch([33, 8], 5, () => 0.25);
    await expectMatchesReference(same, { mode, k: 5, minGap: 4 }, `${mode} identical frames`);
    const r = rng(3);
    const zeroQuery = makeBatch([33, 8], 5, () => r() - 0.5);
    zeroQuery.queries.fill(0);
    for (const normalize of [false, true]) {
      await expectMatchesReference(zeroQuery, { mode, k: 5, minGap: 4, normalize }, `${mode} zero query normalize=${normalize}`);
    }
  });

  test.each(MODES)('%s: N < k, N = 0, N = 1 and k = 0', async (mode) => {
    const batch = randomBatch(9, [0, 1, 3, 0, 1], 6);
    for (const k of [0, 1, 2, 5, Int32Array.of(4, 4, 0, 1, 0)]) {
      await expectMatchesReference(batch, { mode, k }, `${mode} k=${k}`);
    }
    const got = await selectFrames(batch, { mode, k: 5, backend: 'cpu' });
    // video 0 is empty: only -1 (and NaN scores)
    expect(Array.from(got.indices.slice(0, 5))).toEqual([-1, -1, -1, -1, -1]);
    expect(got.scores.slice(0, 5).every(Number.isNaN)).toBe(true);
    // video 2 has 3 frames: 3 indices then -1, except bolt, which always returns k
    const row = Array.from(got.indices.slice(10, 15));
    if (mode === 'bolt') expect(row.every((i) => i >= 0 && i < 3)).toBe(true);
    else expect(row).toEqual([0, 1, 2, -1, -1]);
  });

  test('topk over streams in rising, falling and alternating order (every frame a new best, none, half)', async () => {
    // D = 1, query 1: relevance is the embedding, so the order of the stream is chosen. Rising
    // order makes every frame enter the kept set (the CPU buffer is cut back again and again);
    // lengths around the 200-frame pieces and k from 1 to just below the length.
    for (const n of [17, 199, 200, 201, 1000, 5003]) {
      const orders: [string, (i: number) => number][] = [
        ['rising', (i) => i],
        ['falling', (i) => n - i],
        ['alternating', (i) => (i % 2 === 0 ? i : -i)],
        ['sawtooth', (i) => i % 37],
      ];
      for (const [name, value] of orders) {
        const embeddings = Float32Array.from({ length: n }, (_, i) => value(i));
        const batch: FrameBatch = { embeddings, frameOffsets: Int32Array.of(0, n), queries: Float32Array.of(1), dim: 1 };
        for (const k of [1, 2, 16, 33, n - 1]) {
          await expectMatchesReference(batch, { mode: 'topk', k }, `topk ${name} n=${n} k=${k}`);
        }
      }
    }
  });

  test.each(MODES)('%s: one huge video and many tiny ones in one batch', async (mode) => {
    const lengths = [100_003, ...Array.from({ length: 300 }, (_, b) => b % 4)];
    const batch = randomBatch(77, lengths, 24);
    const r = rng(78);
    const k = Int32Array.from(lengths, () => 1 + Math.floor(r() * 5));
    k[0] = mode === 'mmr' ? 12 : 40;
    for (const normalize of [false, true]) {
      await expectMatchesReference(batch, { mode, k, normalize, minGap: 1000 }, `${mode} huge+tiny normalize=${normalize}`);
    }
  });

  test('topk with minGap <= 1 and topk-gap with minGap 0 or 1 are the same selection', async () => {
    const batch = randomBatch(31, [500, 20], 8);
    const topk = await selectFrames(batch, { mode: 'topk', k: 30, backend: 'cpu' });
    for (const minGap of [0, 1]) {
      const gap = await selectFrames(batch, { mode: 'topk-gap', k: 30, minGap, backend: 'cpu' });
      expect(gap.indices).toEqual(topk.indices);
    }
  });

  test('topk-gap keeps accepted frames minGap apart and may return fewer than k', async () => {
    const batch = randomBatch(41, [100], 8);
    const got = await selectFrames(batch, { mode: 'topk-gap', k: 50, minGap: 10, backend: 'cpu' });
    const picked = Array.from(got.indices).filter((i) => i >= 0);
    expect(picked.length).toBeLessThan(50);
    expect(picked.length).toBeGreaterThanOrEqual(5);
    for (let t = 1; t < picked.length; t++) expect(picked[t] - picked[t - 1]).toBeGreaterThanOrEqual(10);
  });

  test('uniform ignores relevance and spreads frames evenly', async () => {
    const batch = randomBatch(1, [10, 3], 4);
    const got = await selectFrames(batch, { mode: 'uniform', k: 4, backend: 'cpu' });
    expect(Array.from(got.indices)).toEqual([1, 3, 6, 8, 0, 1, 2, -1]);
  });

  test('bolt keeps duplicates and returns k frames for a short video', async () => {
    const batch: FrameBatch = {
      embeddings: new Float32Array([0, 1, 10]),
      frameOffsets: new Int32Array([0, 3]),
      queries: new Float32Array([1]),
      dim: 1,
    };
    const got = await selectFrames(batch, { mode: 'bolt', k: 5, backend: 'cpu' });
    expect(Array.from(got.indices)).toEqual([2, 2, 2, 2, 2]);
    expect(Array.from(got.scores)).toEqual([10, 10, 10, 10, 10]);
    const flat = await selectFrames(batch, { mode: 'bolt', k: 5, alpha: 0.001, backend: 'cpu' });
    expect(Array.from(flat.indices)).toEqual(Array.from(referenceSelectFrames(batch, { mode: 'bolt', k: 5, alpha: 0.001 }).indices));
  });

  test('mmr with lambda = 1 is topk; with lambda = 0 it spreads over distinct directions', async () => {
    const batch = randomBatch(51, [200], 16);
    const topk = await selectFrames(batch, { mode: 'topk', k: 10, backend: 'cpu' });
    const relevanceOnly = await selectFrames(batch, { mode: 'mmr', k: 10, lambda: 1, backend: 'cpu' });
    expect(relevanceOnly.indices).toEqual(topk.indices);
    // Two directions repeated: with lambda = 0 the second pick is the other direction.
    const two: FrameBatch = {
      embeddings: new Float32Array([1, 0, 1, 0.01, 0, 1, 1, 0.02]),
      frameOffsets: new Int32Array([0, 4]),
      queries: new Float32Array([1, 0.1]),
      dim: 2,
    };
    const diverse = await selectFrames(two, { mode: 'mmr', k: 2, lambda: 0, backend: 'cpu' });
    expect(Array.from(diverse.indices)).toEqual([2, 3]);
  });
});

describe('determinism', () => {
  afterAll(() => setCpuThreads(0));

  test.each(MODES)('%s: identical bits with 1 thread and with all threads, and on repeated calls', async (mode) => {
    const lengths = [70_001, 5, 0, 900, ...Array.from({ length: 50 }, (_, b) => (b * 7) % 40)];
    const batch = randomBatch(5, lengths, 40);
    const opts: SelectFramesOptions = { mode, k: 17, minGap: 30, normalize: true, backend: 'cpu' };
    setCpuThreads(0);
    const a = await selectFrames(batch, opts);
    const b = await selectFrames(batch, opts);
    setCpuThreads(1);
    const c = await selectFrames(batch, opts);
    setCpuThreads(0);
    for (const other of [b, c]) {
      expect(other.indices).toEqual(a.indices);
      expect(Buffer.from(other.scores.buffer).equals(Buffer.from(a.scores.buffer))).toBe(true);
    }
  });
});

describe('concurrent calls', () => {
  test('many calls in flight at once (some failing) settle exactly as the same calls one after another', async () => {
    const batches = Array.from({ length: 12 }, (_, i) => randomBatch(100 + i, [3000 + 17 * i, 5, 400], 24));
    const opts = (i: number): SelectFramesOptions => ({ mode: MODES[i % MODES.length], k: 9, minGap: 4, backend: 'cpu' });
    const sequential = [];
    for (let i = 0; i < batches.length; i++) sequential.push(await selectFrames(batches[i], opts(i)));
    const bad = { ...batches[0], embeddings: batches[0].embeddings.slice() };
    bad.embeddings[5] = Number.NaN;
    const settled = await Promise.allSettled([
      ...batches.map((b, i) => selectFrames(b, opts(i))),
      selectFrames(bad, opts(0)),
    ]);
    for (let i = 0; i < batches.length; i++) {
      const s = settled[i];
      expect(s.status).toBe('fulfilled');
      if (s.status !== 'fulfilled') continue;
      expect(s.value.indices).toEqual(sequential[i].indices);
      expect(Buffer.from(s.value.scores.buffer).equals(Buffer.from(sequential[i].scores.buffer))).toBe(true);
    }
    const failed = settled[batches.length];
    expect(failed.status).toBe('rejected');
    if (failed.status === 'rejected') {
      expect(failed.reason).toBeInstanceOf(PyVisionError);
      expect((failed.reason as PyVisionError).code).toBe('E_NONFINITE');
    }
  });
});

describe('bad input', () => {
  const good = (): FrameBatch => randomBatch(3, [4, 2], 3);

  test.each([
    ['embeddings not a Float32Array', (b: FrameBatch) => ({ ...b, embeddings: new Float64Array(18) }) as unknown as FrameBatch, 'E_DTYPE'],
    ['embeddings length not a multiple of dim', (b: FrameBatch) => ({ ...b, embeddings: new Float32Array(17) }), 'E_SHAPE'],
    ['frameOffsets not ending at the frame count', (b: FrameBatch) => ({ ...b, frameOffsets: Int32Array.of(0, 4, 5) }), 'E_SHAPE'],
    ['frameOffsets not starting at 0', (b: FrameBatch) => ({ ...b, frameOffsets: Int32Array.of(1, 4, 6) }), 'E_SHAPE'],
    ['frameOffsets decreasing', (b: FrameBatch) => ({ ...b, frameOffsets: Int32Array.of(0, 5, 4, 6), queries: new Float32Array(9) }), 'E_SHAPE'],
    ['frameOffsets empty', (b: FrameBatch) => ({ ...b, frameOffsets: new Int32Array(0) }), 'E_SHAPE'],
    ['queries of the wrong length (D mismatch)', (b: FrameBatch) => ({ ...b, queries: new Float32Array(5) }), 'E_SHAPE'],
    ['dim not matching the data', (b: FrameBatch) => ({ ...b, dim: 4 }), 'E_SHAPE'],
    ['dim 0', (b: FrameBatch) => ({ ...b, dim: 0 }), 'E_ARG'],
    ['dim not an integer', (b: FrameBatch) => ({ ...b, dim: 1.5 }), 'E_ARG'],
    ['a NaN embedding', (b: FrameBatch) => ({ ...b, embeddings: b.embeddings.map((x, i) => (i === 13 ? NaN : x)) }), 'E_NONFINITE'],
    ['an infinite embedding', (b: FrameBatch) => ({ ...b, embeddings: b.embeddings.map((x, i) => (i === 2 ? -Infinity : x)) }), 'E_NONFINITE'],
    ['an infinite query', (b: FrameBatch) => ({ ...b, queries: b.queries.map((x, i) => (i === 4 ? Infinity : x)) }), 'E_NONFINITE'],
    ['input not an object', () => 7 as unknown as FrameBatch, 'E_ARG'],
  ])('%s', async (_name, mutate, code) => {
    const batch = mutate(good());
    await expect(selectFrames(batch, { mode: 'topk', k: 2, backend: 'cpu' })).rejects.toEqual(expectedCode(code));
    await expect(frameRelevance(batch, { backend: 'cpu' })).rejects.toEqual(expectedCode(code));
  });

  test('a non-finite embedding is named by its index, frame and video, in every mode', async () => {
    const batch = good();
    batch.embeddings[5 * 3 + 1] = NaN; // video 1, frame 1, feature 1
    for (const mode of MODES) {
      for (const normalize of [false, true]) {
        const error = await selectFrames(batch, { mode, k: 2, normalize, backend: 'cpu' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(PyVisionError);
        expect((error as PyVisionError).code).toBe('E_NONFINITE');
        expect((error as PyVisionError).message).toContain('embeddings[16]');
        expect((error as PyVisionError).message).toContain('frame 1 of video 1');
      }
    }
  });

  test('relevance overflowing float32 is rejected by selectFrames and returned as Infinity by frameRelevance', async () => {
    const batch: FrameBatch = {
      embeddings: new Float32Array([3e38, 3e38, 1, 1]),
      frameOffsets: new Int32Array([0, 2]),
      queries: new Float32Array([2, 2]),
      dim: 2,
    };
    await expect(selectFrames(batch, { mode: 'topk', k: 1, backend: 'cpu' })).rejects.toEqual(expectedCode('E_NONFINITE'));
    await expect(selectFrames(batch, { mode: 'mmr', k: 1, backend: 'cpu' })).rejects.toEqual(expectedCode('E_NONFINITE'));
    expect(Array.from(await frameRelevance(batch, { backend: 'cpu' }))).toEqual([Infinity, 4]);
    const cosine = await selectFrames(batch, { mode: 'topk', k: 1, normalize: true, backend: 'cpu' });
    expect(cosine.indices[0]).toBe(0);
  });

  test.each([
    ['k < 0', { k: -1 }, 'E_ARG'],
    ['k not an integer', { k: 1.5 }, 'E_ARG'],
    ['k NaN', { k: NaN }, 'E_NONFINITE'],
    ['k a string', { k: '3' }, 'E_ARG'],
    ['k budgets of the wrong length', { k: Int32Array.of(1, 2, 3) }, 'E_SHAPE'],
    ['k budgets with a negative entry', { k: Int32Array.of(1, -2) }, 'E_ARG'],
    ['k budgets of the wrong type', { k: Float32Array.of(1, 2) }, 'E_ARG'],
    ['an unknown mode', { mode: 'best' }, 'E_ARG'],
    ['no mode', { mode: undefined }, 'E_ARG'],
    ['minGap < 0', { mode: 'topk-gap', minGap: -1 }, 'E_ARG'],
    ['minGap not an integer', { mode: 'topk-gap', minGap: 2.5 }, 'E_ARG'],
    ['lambda > 1', { mode: 'mmr', lambda: 1.01 }, 'E_ARG'],
    ['lambda < 0', { mode: 'mmr', lambda: -0.1 }, 'E_ARG'],
    ['lambda NaN', { mode: 'mmr', lambda: NaN }, 'E_NONFINITE'],
    ['alpha = 0', { mode: 'bolt', alpha: 0 }, 'E_ARG'],
    ['alpha < 0', { mode: 'bolt', alpha: -2 }, 'E_ARG'],
    ['alpha infinite', { mode: 'bolt', alpha: Infinity }, 'E_NONFINITE'],
    ['normalize not a boolean', { normalize: 1 }, 'E_ARG'],
    ['an unknown backend', { backend: 'tpu' }, 'E_ARG'],
    ['a huge output', { k: 2 ** 31 - 1 }, 'E_ARG'],
  ])('%s', async (_name, change, code) => {
    const opts = { mode: 'topk', k: 2, backend: 'cpu', ...change } as unknown as SelectFramesOptions;
    await expect(selectFrames(good(), opts)).rejects.toEqual(expectedCode(code));
  });

  test('inputs are left unchanged, by a call that succeeds and by one that is rejected', async () => {
    const batch = randomBatch(8, [30, 0, 12], 5);
    const k = Int32Array.of(4, 2, 9);
    const unchanged = snapshot(batch.embeddings, batch.frameOffsets, batch.queries, k);
    for (const mode of MODES) await selectFrames(batch, { mode, k, minGap: 3, normalize: true, backend: 'cpu' });
    await frameRelevance(batch, { backend: 'cpu' });
    await expect(selectFrames(batch, { mode: 'mmr', k, lambda: 2, backend: 'cpu' })).rejects.toEqual(expectedCode('E_ARG'));
    unchanged();
  });

  test('opts must be an object', async () => {
    await expect(selectFrames(good(), undefined as unknown as SelectFramesOptions)).rejects.toEqual(expectedCode('E_ARG'));
    await expect(frameRelevance(good(), 3 as unknown as object)).rejects.toEqual(expectedCode('E_ARG'));
  });

  test('errors carry the caller\'s line', async () => {
    const batch = good();
    batch.embeddings[0] = NaN;
    const error = (await selectFrames(batch, { mode: 'topk', k: 1, backend: 'cpu' }).catch((e: unknown) => e)) as Error;
    expect(error.stack).toContain('frames.test.ts');
  });
});

const cuda = cudaStatus(backendInfo()).ok;
const describeCuda = cuda ? describe : describe.skip;

describeCuda('CUDA against CPU (identical indices and relevance bits)', () => {
  const lengths = [0, 1, 2, 7, 50, 131, 300, 3, 0, 64, 1, 90, 20_011, ...Array.from({ length: 500 }, (_, b) => b % 9)];
  for (const mode of MODES) {
    test(`${mode}`, async () => {
      for (const dim of [1, 37, 512]) {
        for (const normalize of [false, true]) {
          const batch = randomBatch(900 + dim, lengths, dim);
          const r = rng(dim);
          const k = Int32Array.from(lengths, () => Math.floor(r() * 30));
          for (const extra of [{}, { minGap: 7, lambda: 0.3, alpha: 1.5 }]) {
            const opts: SelectFramesOptions = { mode, k, normalize, ...extra };
            const onCpu = await selectFrames(batch, { ...opts, backend: 'cpu' });
            const onCuda = await selectFrames(batch, { ...opts, backend: 'cuda' });
            expectSameIndices(onCuda.indices, onCpu.indices, `${mode} D=${dim} normalize=${normalize}`);
            expect(Buffer.from(onCuda.scores.buffer).equals(Buffer.from(onCpu.scores.buffer))).toBe(true);
          }
        }
      }
    });
  }

  test('integer ties and constant relevance', async () => {
    const r = rng(21);
    const ties = makeBatch([40, 9, 0, 1, 25, 200, 5000], 3, () => Math.floor(r() * 3) - 1);
    for (const mode of MODES) {
      for (const normalize of [false, true]) {
        const opts: SelectFramesOptions = { mode, k: 13, minGap: 3, normalize };
        const onCpu = await selectFrames(ties, { ...opts, backend: 'cpu' });
        const onCuda = await selectFrames(ties, { ...opts, backend: 'cuda' });
        expectSameIndices(onCuda.indices, onCpu.indices, `${mode} ties normalize=${normalize}`);
      }
    }
  });

  test('frameRelevance bits and errors', async () => {
    const batch = randomBatch(4, [1000, 0, 33], 100);
    for (const normalize of [false, true]) {
      const a = await frameRelevance(batch, { normalize, backend: 'cpu' });
      const b = await frameRelevance(batch, { normalize, backend: 'cuda' });
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    }
    batch.embeddings[500 * 100 + 7] = NaN;
    await expect(selectFrames(batch, { mode: 'mmr', k: 3, backend: 'cuda' })).rejects.toEqual(expectedCode('E_NONFINITE'));
  });
});

if (!cuda) {
  test(`CUDA comparison skipped: ${cudaStatus(backendInfo()).reason}`, () => {
    expect(backendInfo('cpu').chosen).toBe('cpu');
  });
}

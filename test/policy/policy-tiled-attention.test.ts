/**
 * The whole network on sequences long enough (16 or more query positions,
 * head size a multiple of the CPU vector width) for the tiled attention
 * forward of native/cpu/policy_attention.cc, against the float64 reference
 * network. The other whole-model tests use head size 8 and short sequences,
 * which take the per-query path only.
 */
import { Policy, type PolicyConfig, type SequenceBatch } from '../../lib/index.js';
import * as ref from '../reference/policy.js';
import { expectClose, rng, uniform } from '../helpers.js';

// dim / heads = 32: a multiple of 4, 8 and 16 floats (SSE, AVX2, AVX-512), and
// at most 8 vectors, so every CPU build takes the tiled path.
const CONFIG: PolicyConfig = { vocabSize: 29, patchDim: 5, maxSeqLen: 48, layers: 2, heads: 2, dim: 64 };

function makeBatch(seed: number): SequenceBatch {
  const r = rng(seed);
  // 41 and 17 positions (both >= 16 queries, not multiples of the tile), 3, and one with visual runs.
  const lengths = [41, 17, 3, 30];
  const tokens: number[] = [];
  const seqOffsets = [0];
  lengths.forEach((n, b) => {
    for (let t = 0; t < n; t++) tokens.push(b === 3 && t % 7 < 2 ? -1 : Math.floor(r() * CONFIG.vocabSize));
    seqOffsets.push(tokens.length);
  });
  const visual = tokens.filter((t) => t < 0).length;
  return { tokens: Int32Array.from(tokens), patches: uniform(r, visual * CONFIG.patchDim, -1, 1), seqOffsets: Int32Array.from(seqOffsets) };
}

test('log-probs and entropy of 17- to 41-position sequences match the float64 reference', async () => {
  // Weights larger than the initialisation, so that attention is far from uniform.
  const base = await Policy.create({ ...CONFIG, seed: 5, backend: 'cpu' });
  const r = rng(17);
  const params = new Map([...(await base.tensors())].map(([name, x]) => [name, x.map((v) => v * 6 + (name.includes('ln') ? (r() - 0.5) * 0.4 : 0))]));
  base.dispose();
  const policy = await Policy.fromTensors(CONFIG, params, { backend: 'cpu' });
  try {
    const batch = makeBatch(3);
    const { logp, entropy } = await policy.logprobs(batch);
    const want = ref.networkLogprobs(CONFIG, params, batch);
    expectClose(logp, want.logp, 5e-5, 2e-4, 'logp');
    expectClose(entropy, want.entropy, 5e-5, 2e-4, 'entropy');
    // and the same sequence alone gives the same bits as inside the batch
    const lo = batch.seqOffsets[0];
    const hi = batch.seqOffsets[1];
    const alone = await policy.logprobs({ tokens: batch.tokens.slice(lo, hi), patches: new Float32Array(0), seqOffsets: Int32Array.from([0, hi - lo]) });
    expect(Array.from(alone.logp)).toEqual(Array.from(logp.slice(lo, hi)));
  } finally {
    policy.dispose();
  }
});

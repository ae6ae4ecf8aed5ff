/**
 * Decode tokens/s of a generation session for the rollout world's policy
 * shape (L=2, C=64, H=4, V=1300): B prompts of 64 positions (16 visual
 * patches, then tokens) are prefilled outside the timing, then each sample
 * times one generate call of 64 sampled tokens per sequence (temperature 1,
 * no stop tokens), on a fresh session.
 *
 * Run as a script (`node dist/bench/bench/policy-decode.js 16,64,256`) it
 * prints one JSON line per batch size: bench/policy.bench.ts times a second
 * addon that way (PYVISION_RL_ADDON) in the same run.
 */
import { fileURLToPath } from 'node:url';

import { Policy, type PolicyConfig } from '../lib/index.js';
import { random } from './harness.js';

/** BENCH_DECODE_DIM=96 times the trainer's default policy (lib/train/config.ts: dim 96) instead of dim 64. */
export const DECODE_CONFIG: PolicyConfig = { vocabSize: 1300, patchDim: 48, maxSeqLen: 256, layers: 2, heads: 4, dim: Number(process.env.BENCH_DECODE_DIM ?? 64) };
export const DECODE_PROMPT = 64;
export const DECODE_TOKENS = 64;

export interface DecodeTiming {
  B: number;
  /** median ms of one generate call of DECODE_TOKENS tokens per sequence */
  ms: number;
  /** relative standard error of the mean of the samples (%) */
  rme: number;
  tokensPerSecond: number;
}

export async function timeDecode(batchSizes: number[], quick: boolean): Promise<DecodeTiming[]> {
  const cfg = DECODE_CONFIG;
  const policy = await Policy.create({ ...cfg, seed: 0, backend: 'cpu' });
  const out: DecodeTiming[] = [];
  for (const B of batchSizes) {
    const r = random(B);
    const visual = 16;
    const tokens = new Int32Array(B * DECODE_PROMPT);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < DECODE_PROMPT; t++) tokens[b * DECODE_PROMPT + t] = t < visual ? -1 : Math.floor(r() * cfg.vocabSize);
    const patches = Float32Array.from({ length: B * visual * cfg.patchDim }, () => r() - 0.5);
    const seqOffsets = Int32Array.from({ length: B + 1 }, (_, b) => b * DECODE_PROMPT);
    // Samples until minSamples and maxTime are both reached; each on a fresh,
    // prefilled session, timing the generate call alone.
    const minSamples = quick ? 1 : 5;
    const maxMs = quick ? 1000 : 8000;
    const times: number[] = [];
    const started = Date.now();
    while (times.length < minSamples || (Date.now() - started < maxMs && times.length < 50)) {
      const session = await policy.startSession({ tokens, patches, seqOffsets });
      await session.generate({ maxNewTokens: 0, temperature: 1 });
      const t0 = process.hrtime.bigint();
      await session.generate({ maxNewTokens: DECODE_TOKENS, temperature: 1, seed: times.length });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      session.dispose();
    }
    times.sort((x, y) => x - y);
    const median = times.length % 2 ? times[times.length >> 1] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
    const mean = times.reduce((x, y) => x + y, 0) / times.length;
    const sd = Math.sqrt(times.reduce((x, y) => x + (y - mean) ** 2, 0) / Math.max(1, times.length - 1));
    const t = { medianMs: median, rme: (100 * sd) / Math.sqrt(times.length) / mean };
    out.push({ B, ms: t.medianMs, rme: t.rme, tokensPerSecond: (B * DECODE_TOKENS) / (t.medianMs * 1e-3) });
  }
  policy.dispose();
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const batches = (process.argv[2] ?? '16,64,256').split(',').map(Number);
  const rows = await timeDecode(batches, process.env.BENCH_QUICK === '1');
  for (const row of rows) console.log(JSON.stringify(row));
}

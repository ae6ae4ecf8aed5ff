// Scratch: the tokens and log-probs of multi-turn generation sessions, printed
// as one digest per configuration, so that two builds can be compared bit for
// bit: run it once per addon and diff the outputs.
//   PYVISION_RL_ADDON=<build>/pyvision_rl.node node dev/policy_session_bits.mjs > /tmp/a.txt
// (after `npm run build`; without PYVISION_RL_ADDON it loads this checkout's build).
// Each configuration: prompts of different lengths with visual patches, three
// generate calls with observations appended between them, stop tokens,
// temperature, top-k, greedy and per-sequence seeds, on 1 and on 2 threads.
import { createHash } from 'node:crypto';
import { Policy } from '../dist/lib/index.js';

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function batch(r, B, V, P, minLen, maxLen) {
  const tokens = [], patches = [], offsets = [0];
  for (let b = 0; b < B; b++) {
    const n = minLen + Math.floor(r() * (maxLen - minLen + 1));
    for (let t = 0; t < n; t++) {
      if (r() < 0.2) {
        tokens.push(-1);
        for (let p = 0; p < P; p++) patches.push(r() - 0.5);
      } else tokens.push(Math.floor(r() * V));
    }
    offsets.push(tokens.length);
  }
  return { tokens: Int32Array.from(tokens), patches: Float32Array.from(patches), seqOffsets: Int32Array.from(offsets) };
}

const configs = [
  { vocabSize: 1300, patchDim: 12, maxSeqLen: 96, layers: 2, heads: 4, dim: 64 },
  { vocabSize: 1300, patchDim: 12, maxSeqLen: 96, layers: 2, heads: 4, dim: 96 },
  { vocabSize: 77, patchDim: 5, maxSeqLen: 64, layers: 1, heads: 5, dim: 40 },
  { vocabSize: 200, patchDim: 7, maxSeqLen: 80, layers: 2, heads: 2, dim: 48 },
  { vocabSize: 301, patchDim: 3, maxSeqLen: 48, layers: 3, heads: 4, dim: 128 },
];
const sampling = [
  { temperature: 1 },
  { temperature: 0.7, topK: 5 },
  { temperature: 0 },
  { temperature: 1.3, perSequenceSeeds: true },
];
for (const cfg of configs) {
  for (const threads of [1, 2]) {
    const policy = await Policy.create({ ...cfg, seed: 3, backend: 'cpu', threads });
    for (const [si, opts] of sampling.entries()) {
      for (const B of [1, 5, 37]) {
        const r = rng(1000 * si + B);
        const hash = createHash('sha256');
        const session = await policy.startSession(batch(r, B, cfg.vocabSize, cfg.patchDim, 1, 20));
        let live = B;
        for (let turn = 0; turn < 3; turn++) {
          const { perSequenceSeeds, ...rest } = opts;
          const seedOpt = perSequenceSeeds ? { seeds: Array.from({ length: B }, (_, b) => 11 * b + turn) } : { seed: 7 + turn };
          const out = await session.generate({ maxNewTokens: 6 + 5 * turn, stopTokens: [3, 4], ...rest, ...seedOpt });
          hash.update(Buffer.from(out.tokens.buffer, out.tokens.byteOffset, out.tokens.byteLength));
          hash.update(Buffer.from(out.logp.buffer, out.logp.byteOffset, out.logp.byteLength));
          hash.update(Buffer.from(out.stopped.buffer, out.stopped.byteOffset, out.stopped.byteLength));
          live = Array.from((await session.state()).live).reduce((a, x) => a + x, 0);
          if (turn < 2 && live > 0) await session.append(batch(r, live, cfg.vocabSize, cfg.patchDim, 0, 9));
        }
        session.dispose();
        console.log(`dim ${cfg.dim} heads ${cfg.heads} threads ${threads} sampling ${si} B ${B}: ${hash.digest('hex').slice(0, 16)}`);
      }
    }
    policy.dispose();
  }
}

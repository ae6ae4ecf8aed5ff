// Scratch: selectFrames (topk, k = 16, D = 512) called 200 times in a row from
// JavaScript after `npm run build`; prints the best and the median rate. Next
// to dev/frames_select_bench.cc (the same kernel from C++) it shows what the
// JavaScript boundary and the thread hand-off cost on short calls.
//   node dev/frames_calls.mjs N video_length      e.g. 10000 10000
import { selectFrames } from '../dist/lib/index.js';

const N = Number(process.argv[2] ?? 10000);
const len = Number(process.argv[3] ?? N);
const D = 512;
const embeddings = new Float32Array(N * D);
let x = 1;
for (let i = 0; i < embeddings.length; i++) {
  x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
  embeddings[i] = x / 4294967296 - 0.5;
}
const B = Math.ceil(N / len);
const frameOffsets = new Int32Array(B + 1);
for (let b = 0; b <= B; b++) frameOffsets[b] = Math.min(N, b * len);
const batch = { embeddings, frameOffsets, queries: new Float32Array(B * D).fill(0.01), dim: D };
const times = [];
for (let r = 0; r < 200; r++) {
  const t0 = performance.now();
  await selectFrames(batch, { mode: 'topk', k: 16, backend: 'cpu' });
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const rate = (ms) => (N / ms / 1e3).toFixed(2);
console.log(`N=${N} video length ${len}: best ${rate(times[0])} M frames/s, median ${rate(times[100])} M frames/s (200 calls)`);

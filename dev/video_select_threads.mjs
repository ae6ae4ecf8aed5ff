// selectFrames on 3000 x 64 embeddings (k = 3, topk and topk-gap), 30 calls per mode: median and min wall time and the
// process CPU per call. ROOT is the package folder to load (e.g. a copy with the parent commit's build), default this one:
//   npm run build && [ROOT=/path/to/other/build] node dev/video_select_threads.mjs
const { selectFrames } = await import((process.env.ROOT ?? new URL('..', import.meta.url).pathname) + '/dist/lib/kernels/frames.js');
const n = 3000, D = 64;
const emb = new Float32Array(n * D).map((_, i) => Math.sin(i * 0.37));
const q = new Float32Array(D).map((_, i) => Math.cos(i));
for (const mode of ['topk', 'topk-gap']) {
  const ts = []; const c0 = process.cpuUsage();
  for (let r = 0; r < 30; r++) { const t = performance.now(); await selectFrames({ embeddings: emb, frameOffsets: new Int32Array([0, n]), queries: q, dim: D }, { k: 3, mode, minGap: 500 }); ts.push(performance.now() - t); }
  const c = process.cpuUsage(c0); ts.sort((a, b) => a - b);
  console.log(mode, 'median ms', ts[15].toFixed(2), 'min', ts[0].toFixed(2), 'process cpu ms/call', ((c.user + c.system) / 1000 / 30).toFixed(2));
}

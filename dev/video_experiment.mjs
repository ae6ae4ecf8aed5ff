// The whole video experiment (runVideoExperiment: one SFT per arm, RL per seed, table.md):
//   npm run build && node dev/video_experiment.mjs OUT_DIR [SEEDS]
import { runVideoExperiment } from '../dist/lib/train/video-experiment.js';
const t0 = Date.now();
const r = await runVideoExperiment({ outDir: process.argv[2], seeds: Number(process.argv[3] ?? 3), log: (l) => console.log(new Date().toISOString().slice(11, 19), ((Date.now() - t0) / 1000).toFixed(0), l) });
console.log(r.markdown);

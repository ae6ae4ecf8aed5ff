// The whole video experiment (runVideoExperiment: one SFT per arm, RL per seed, table.md):
//   npm run build && node dev/video_experiment.mjs OUT_DIR [SEEDS] [ARMS]
// ARMS (comma-separated, e.g. uniform-16,uniform-32) runs only those arms, so that several processes can share
// OUT_DIR; a finished run is taken from its video-run.json by any later call with the same settings (the
// CLI's `experiment video --out OUT_DIR` then writes the table of all arms without training anything again).
import { runVideoExperiment } from '../dist/lib/train/video-experiment.js';
const t0 = Date.now();
const arms = process.argv[4] ? process.argv[4].split(',') : undefined;
const r = await runVideoExperiment({ outDir: process.argv[2], seeds: Number(process.argv[3] ?? 3), arms, log: (l) => console.log(new Date().toISOString().slice(11, 19), ((Date.now() - t0) / 1000).toFixed(0), l) });
console.log(r.markdown);
console.log(`wall time ${(r.seconds / 60).toFixed(1)} min`);

// SFT of single arms with VIDEO_EXPERIMENT_SETTINGS (to redo one arm of the experiment):
//   node dev/video_sft_arm.mjs OUT_DIR on-demand uniform-8 ...
// SFT of the named arms with the experiment's settings (the same budget as the running experiment's SFT).
import { VIDEO_EXPERIMENT_SETTINGS } from '../dist/lib/train/video-experiment.js';
import { train } from '../dist/lib/train/trainer.js';
import { VideoQAWorld } from '../dist/lib/worlds/video-qa.js';
const out = process.argv[2];
for (const arm of process.argv.slice(3)) {
  const k = arm === 'on-demand' ? null : Number(arm.split('-')[1]);
  const worldOptions = k === null ? { context: 'on-demand' } : { context: { uniform: k } };
  const extra = k === null ? {} : { requireToolImage: false, toolRewardCoef: 0 };
  const t0 = Date.now();
  console.log(new Date().toISOString().slice(11, 19), arm, 'SFT start');
  const r = await train({ ...VIDEO_EXPERIMENT_SETTINGS, ...extra, worldOptions, seed: 0, steps: 0, testTasks: 0, outDir: `${out}/sft-${arm}` }, { world: new VideoQAWorld(worldOptions) });
  console.log(new Date().toISOString().slice(11, 19), arm, 'SFT val acc', r.val?.acc, 'min', ((Date.now() - t0) / 60000).toFixed(1), r.checkpoint);
}

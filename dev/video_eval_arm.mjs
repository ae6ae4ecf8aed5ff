// Test-split evaluation of OUT_DIR/sft-ARM checkpoints after STEPS RL steps (0: the SFT checkpoint alone), SEEDS seeds;
// rows appended to OUT_DIR/eval-results.json. The on-demand sandbox gets 60 s of wall time per call.
//   node dev/video_eval_arm.mjs OUT_DIR STEPS SEEDS on-demand uniform-8 uniform-16 uniform-32
// Test-split evaluation (greedy) of SFT checkpoints, and optionally RL steps from them with seeds.
import { VIDEO_EXPERIMENT_SETTINGS } from '../dist/lib/train/video-experiment.js';
import { train } from '../dist/lib/train/trainer.js';
import { VideoQAWorld } from '../dist/lib/worlds/video-qa.js';
import { readdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
const [out, stepsArg, seedsArg, ...arms] = process.argv.slice(2);
const steps = Number(stepsArg), seeds = Number(seedsArg);
const resultsPath = `${out}/eval-results.json`;
const results = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : [];
for (let seed = 0; seed < seeds; seed++) for (const arm of arms) {
  const k = arm === 'on-demand' ? null : Number(arm.split('-')[1]);
  const worldOptions = k === null ? { context: 'on-demand', sandboxLimits: { maxWallMs: 60000 } } : { context: { uniform: k } };
  const extra = k === null ? {} : { requireToolImage: false, toolRewardCoef: 0 };
  const ckdir = `${out}/sft-${arm}/checkpoints`;
  const last = readdirSync(ckdir).sort().at(-1);
  const t0 = Date.now();
  const r = await train({ ...VIDEO_EXPERIMENT_SETTINGS, ...extra, worldOptions, seed, steps, sftSteps: 0, initCheckpoint: `${ckdir}/${last}/policy.safetensors`, outDir: `${out}/${arm}-rl${steps}-s${seed}` }, { world: new VideoQAWorld(worldOptions) });
  const row = { arm, seed, steps, acc: r.test?.acc, visualTokens: r.test?.visual_tokens_mean, toolCalls: r.test?.tool_call_mean, perType: r.test?.per_type, endReasons: r.test?.end_reasons, n: r.test?.n, minutes: (Date.now() - t0) / 60000 };
  results.push(row);
  writeFileSync(resultsPath, JSON.stringify(results, null, 1));
  console.log(new Date().toISOString().slice(11, 19), JSON.stringify(row));
}

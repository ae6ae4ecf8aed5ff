// Greedy answers of a checkpoint on the 96 test tasks of seed 0, per question type: accuracy, the share that is none of
// the options, and the answers given (for order: the first option, the second, or neither).
//   npm run build && node dev/video_answers.mjs CHECKPOINT/policy.safetensors on-demand|uniform-K
import { VideoQAWorld } from '../dist/lib/worlds/video-qa.js';
import { rollout } from '../dist/lib/rollout/rollout.js';
import { Policy } from '../dist/lib/policy/policy.js';
const [ck, arm] = process.argv.slice(2);
const k = arm === 'on-demand' ? null : Number(arm.split('-')[1]);
const world = new VideoQAWorld(k === null ? { context: 'on-demand' } : { context: { uniform: k } });
const policy = await Policy.load(ck, { threads: 1, optimizer: false });
const tasks = world.tasks('test', 96, 0);
const gr = await rollout({ policy, world, tasks, groupSize: 1, temperature: 0, maxTurns: 5, maxTurnTokens: 72, seed: 1 });
const per = {};
gr.forEach((t, i) => { const task = tasks[i]; const r = (per[task.type] ??= { n: 0, invalid: 0, acc: 0, answers: {} }); r.n++; r.acc += t.acc; const a = (t.answer ?? '').trim(); if (!task.options.includes(a)) r.invalid++; const key = task.type === 'order' ? (a === task.options[0] ? 'first option' : a === task.options[1] ? 'second option' : 'neither') : a; r.answers[key] = (r.answers[key] ?? 0) + 1; });
for (const [ty, r] of Object.entries(per)) console.log(arm, ty, 'n', r.n, 'acc', (r.acc / r.n).toFixed(2), 'not an option', (r.invalid / r.n).toFixed(2), JSON.stringify(r.answers));

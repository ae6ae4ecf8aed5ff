/**
 * SFT on the answer token alone (a fixed set of 1024 expert trajectories), printing the held-out and training
 * answer loss every 100 steps: does the policy learn to read the answer from the image, or memorise? After npm run build:
 *   LR=1e-3 STEPS=600 [L=2 C=96] node dev/sft-answer-probe.mjs
 */
import { VisualSearchWorld } from '../dist/lib/worlds/visual-search/world.js';
import { replayExpert } from '../dist/lib/rollout/expert.js';
import { Policy } from '../dist/lib/policy/policy.js';
import { packTrajectories as packSequences } from '../dist/lib/rollout/pack.js';
const world = new VisualSearchWorld({ cue: 'attribute', patch: 16 });
const ans = world.tokenizer.id('<answer>');
const onlyAnswer = (trs) => trs.map((t) => { const m = new Uint8Array(t.mask.length); for (let i = 1; i < t.tokens.length; i++) if (t.tokens[i - 1] === ans && t.mask[i]) m[i] = 1; return { ...t, mask: m }; });
const train = onlyAnswer(await replayExpert({ world, tasks: world.tasks('train', 1024, 0), seed: 1 }));
const val = onlyAnswer(await replayExpert({ world, tasks: world.tasks('val', 128, 0), seed: 2 }));
const p = await Policy.create({ ...world.policyConfig(), layers: Number(process.env.L ?? 2), heads: 4, dim: Number(process.env.C ?? 96), seed: 1, threads: 1 });
const vp = packSequences(val);
const tp = packSequences(train.slice(0, 128));
async function nll(v = vp) { const { logp } = await p.logprobs(v.batch); let s = 0, n = 0; for (let i = 0; i < logp.length; i++) if (v.mask[i]) { s -= logp[i]; n++; } return s / n; }
const B = 32; const lr = Number(process.env.LR ?? 3e-3);
for (let step = 0; step <= Number(process.env.STEPS ?? 300); step++) {
  if (step % 100 === 0) console.log(step, 'val answer nll', (await nll()).toFixed(3), 'train', (await nll(tp)).toFixed(3));
  const batch = train.slice((step * B) % train.length, (step * B) % train.length + B);
  const pk = packSequences(batch);
  await p.trainStep(pk.batch, { kind: 'sft', mask: pk.mask }, { lr });
}

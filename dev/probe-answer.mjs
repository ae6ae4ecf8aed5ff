/**
 * Answer-token probe on the visual-search world: SFT on the answer token alone of expert trajectories
 * (fresh train tasks every step), printing held-out answer loss and accuracy (argmax over the listed options)
 * per difficulty. After npm run build:
 *   TYPES=color STEPS=300 OPTS='{"view":64}' [FULL=1: loss on every action token] node dev/probe-answer.mjs
 */
import { VisualSearchWorld } from '../dist/lib/worlds/visual-search/world.js';
import { replayExpert } from '../dist/lib/rollout/expert.js';
import { packTrajectories } from '../dist/lib/rollout/pack.js';
import { Policy } from '../dist/lib/policy/policy.js';
const types = (process.env.TYPES ?? 'color').split(',');
const world = new VisualSearchWorld({ cue: 'attribute', patch: 16, questionTypes: types, ...JSON.parse(process.env.OPTS ?? '{}') });
const tk = world.tokenizer;
const ans = tk.id('<answer>');
const onlyAnswer = (trs) => trs.map((t) => { const m = new Uint8Array(t.mask.length); for (let i = 1; i < t.tokens.length; i++) if (t.tokens[i - 1] === ans && t.mask[i]) m[i] = 1; return { ...t, mask: m }; });
const B = Number(process.env.B ?? 32), STEPS = Number(process.env.STEPS ?? 300), lr = Number(process.env.LR ?? 2e-3);
const allTrain = world.tasks('train', B * (STEPS + 1), 0);
const val = onlyAnswer(await replayExpert({ world, tasks: world.tasks('val', 200, 0), seed: 2 }));
const p = await Policy.create({ ...world.policyConfig(), layers: Number(process.env.L ?? 2), heads: 4, dim: Number(process.env.C ?? 96), seed: 1, threads: 1 });
const vp = packTrajectories(val);
async function evaluate() {
  // full distribution at the answer position: one forward per trajectory is costly; use logprobs of truth + each option by substitution
  const res = { first: [0, 0, 0], zoom: [0, 0, 0] };
  const K = val[0].task.options.length;
  const variants = [];
  for (const t of val) for (let o = 0; o < t.task.options.length; o++) {
    const tokens = Int32Array.from(t.tokens); const i = tokens.findIndex((x, k) => k > 0 && tokens[k - 1] === ans && t.mask[k]);
    tokens[i] = tk.encode(t.task.options[o])[0];
    variants.push({ ...t, tokens });
  }
  const pk = packTrajectories(variants);
  const { logp } = await p.logprobs(pk.batch);
  let v = 0;
  for (const t of val) {
    let best = -1, bestL = -Infinity, truthL = 0;
    for (let o = 0; o < t.task.options.length; o++, v++) {
      const lo = pk.batch.seqOffsets[v];
      let l = 0; for (let i = 0; i < t.tokens.length; i++) if (pk.mask[lo + i]) l += logp[lo + i];
      if (l > bestL) { bestL = l; best = o; }
      if (t.task.options[o] === t.task.answer) truthL = l;
    }
    const r = res[t.task.difficulty === 'zoom' ? 'zoom' : 'first'];
    r[0]++; r[1] += t.task.options[best] === t.task.answer ? 1 : 0; r[2] -= truthL;
  }
  return Object.entries(res).map(([k, [n, c, l]]) => `${k}: n ${n} acc ${(c / n).toFixed(3)} nll ${(l / n).toFixed(3)}`).join(' | ');
}
const t0 = Date.now();
for (let step = 0; step <= STEPS; step++) {
  if (step % 50 === 0) console.log('step', step, await evaluate(), `${((Date.now() - t0) / 1000).toFixed(0)}s`);
  const raw = await replayExpert({ world, tasks: allTrain.slice(step * B, step * B + B), seed: 1 });
  const trs = process.env.FULL ? raw : onlyAnswer(raw);
  const pk = packTrajectories(trs);
  await p.trainStep(pk.batch, { kind: 'sft', mask: pk.mask }, { lr });
}

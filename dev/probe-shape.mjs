/**
 * Probe of what the default policy can learn to read from one view, with nothing else to learn:
 * a prompt "<bos> <q> QUESTION </q> <img> patches </img> <answer> WORD", trained on the answer
 * token alone (fresh samples every step, 32 per step, lr 2e-3, L=2 C=96 H=4, one thread), the
 * held-out answer loss printed every 50 steps. The image is a 256 x 256 canvas of the world's
 * procedural texture with objects drawn by the world's own renderer, seen at the world's view
 * (64 x 64 by default).
 *   colour  one object, "what color is it ?"  (8 colours: uniform loss 2.079)
 *   shape   one object, "what shape is it ?"  (4 shapes: uniform loss 1.386)
 *   locate  six objects of six colours, "where is the COLOUR object ?", answer the left edge of
 *           the 64-pixel column holding its centre (0, 64, 128, 192: uniform 1.386)
 *   place   one object, "where is it ?", the same answer (nothing to match: only where)
 * After npm run build:
 *   node dev/probe-shape.mjs MODE [steps=400]   env: PATCH (view patch, default 16),
 *   SMIN / SMAX (object side in canvas pixels, default 24 / 36: the world's large objects),
 *   LR (default 2e-3), BETA2 (Adam's second beta, default 0.999)
 */
import { VisualSearchWorld } from '../dist/lib/worlds/visual-search/world.js';
import { COLOR_NAMES } from '../dist/lib/worlds/visual-search/scene.js';
import { Policy } from '../dist/lib/policy/policy.js';
import { packAnswerBatch, probeSampler } from './probe-batch.mjs';

const mode = process.argv[2] ?? 'shape';
if (!['colour', 'shape', 'locate', 'place'].includes(mode)) throw new Error(`mode must be colour, shape, locate or place, not ${mode}`);
const steps = Number(process.argv[3] ?? 400);
const sizeMin = Number(process.env.SMIN ?? 24);
const sizeMax = Number(process.env.SMAX ?? 36);
const lr = Number(process.env.LR ?? 2e-3);
const beta2 = Number(process.env.BETA2 ?? 0.999);
const world = new VisualSearchWorld({ cue: 'attribute', patch: Number(process.env.PATCH ?? 16) });
const np = world.patchesPerImage;
const sample = probeSampler(mode, world, 1, sizeMin, sizeMax);

const pack = (items) => packAnswerBatch(items, np * world.patchDim);

const policy = await Policy.create({ ...world.policyConfig(), layers: 2, heads: 4, dim: 96, seed: 1, threads: 1 });
const held = pack(Array.from({ length: 256 }, sample));
const uniform = Math.log(mode === 'colour' ? COLOR_NAMES.length : 4).toFixed(3);
const t0 = Date.now();
for (let step = 0; step <= steps; step++) {
  if (step % 50 === 0) {
    const { logp } = await policy.logprobs(held.batch);
    let nll = 0;
    for (let i = 0; i < logp.length; i++) if (held.mask[i]) nll -= logp[i];
    console.log(`${mode} patch ${world.settings.view.patch} size ${sizeMin}-${sizeMax} lr ${lr} step ${step}: held-out answer loss ${(nll / 256).toFixed(3)} (uniform ${uniform}), ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  const b = pack(Array.from({ length: 32 }, sample));
  await policy.trainStep(b.batch, { kind: 'sft', mask: b.mask }, { lr, betas: [0.9, beta2] });
}

/**
 * Sanity probe of the image pathway: a prompt "<bos> <q> what color is it ? </q> <img> patches </img>"
 * whose image is one flat colour (plus grain), followed by "<answer> COLOUR". Trained on the answer token only;
 * held-out accuracy should reach 1.0 quickly if patches reach the model. After npm run build:
 *   node dev/probe-solid-colour.mjs [MODE]   MODE: solid (default) | spot (one small square on a texture)
 */
import { VisualSearchWorld } from '../dist/lib/worlds/visual-search/world.js';
import { COLORS, COLOR_NAMES } from '../dist/lib/worlds/visual-search/scene.js';
import { viewPatches } from '../dist/lib/image/view.js';
import { Policy } from '../dist/lib/policy/policy.js';
import { mulberry32 } from '../dist/lib/util/random.js';
import { packAnswerBatch } from './probe-batch.mjs';
const mode = process.argv[2] ?? 'solid';
const world = new VisualSearchWorld({ cue: 'attribute', patch: 16 });
const tk = world.tokenizer;
const view = world.settings.view;
const np = world.patchesPerImage;
const r = mulberry32(1);
function sample() {
  const c = Math.floor(r() * COLOR_NAMES.length);
  const W = 64;
  const data = new Uint8Array(W * W * 3);
  const rgb = COLORS[COLOR_NAMES[c]];
  const sx = Math.floor(r() * 48), sy = Math.floor(r() * 48);
  for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) for (let k = 0; k < 3; k++) {
    const inSpot = mode === 'solid' || (x >= sx && x < sx + 16 && y >= sy && y < sy + 16);
    data[(y * W + x) * 3 + k] = inSpot ? rgb[k] : 110 + Math.floor(r() * 12);
  }
  const patches = viewPatches({ width: W, height: W, data }, view);
  const q = tk.encode('what color is it ?');
  const toks = [tk.id('<bos>'), tk.id('<q>'), ...q, tk.id('</q>'), tk.id('<img>'), ...Array(np).fill(-1), tk.id('</img>'), tk.id('<answer>'), tk.encode(COLOR_NAMES[c])[0]];
  return { tokens: Int32Array.from(toks), patches, c };
}
const pack = (items) => packAnswerBatch(items, np * world.patchDim);
const first = sample();
let mn = Infinity, mx = -Infinity, s = 0;
for (const x of first.patches) { mn = Math.min(mn, x); mx = Math.max(mx, x); s += x; }
console.log('patch floats', first.patches.length, 'min', mn.toFixed(3), 'max', mx.toFixed(3), 'mean', (s / first.patches.length).toFixed(3));
const p = await Policy.create({ ...world.policyConfig(), layers: 2, heads: 4, dim: 96, seed: 1, threads: 1 });
const val = Array.from({ length: 128 }, sample);
const vp = pack(val);
async function evalAcc() {
  const { logp } = await p.logprobs(vp.batch);
  let nll = 0; for (let i = 0; i < logp.length; i++) if (vp.mask[i]) nll -= logp[i];
  return nll / val.length;
}
for (let step = 0; step <= 200; step++) {
  if (step % 25 === 0) console.log('step', step, 'held-out answer nll', (await evalAcc()).toFixed(3), '(uniform over 8 colours: 2.079)');
  const b = pack(Array.from({ length: 32 }, sample));
  await p.trainStep(b.batch, { kind: 'sft', mask: b.mask }, { lr: 2e-3 });
}

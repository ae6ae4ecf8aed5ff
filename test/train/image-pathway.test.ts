/**
 * The image pathway end to end: the visual-search world's view patches, in the
 * prompt layout of world.prompt (`<bos> <q> question </q> <img> patch x Np </img>`),
 * reach the policy and carry gradient. A tiny policy trained by SFT on the answer
 * token of "what color is it ?" over one-colour images must read the colour from
 * the patches (held-out loss far below the prior over the eight colour words);
 * the same training with the patches zeroed cannot beat the prior.
 */
import { Policy } from '../../lib/policy/policy.js';
import { viewPatches } from '../../lib/image/view.js';
import { mulberry32 } from '../../lib/util/random.js';
import { VisualSearchWorld } from '../../lib/worlds/visual-search/world.js';
import { COLORS, COLOR_NAMES } from '../../lib/worlds/visual-search/scene.js';

// 16 patches of 16 x 16 (the world's default until 2026-12-02; the sizes this test was tuned at).
const world = new VisualSearchWorld({ patch: 16 });
const tk = world.tokenizer;
const np = world.patchesPerImage;

interface Example {
  tokens: number[];
  patches: Float32Array;
}

/** One example: a view-sized image of colour `name` with grain, the colour's word after <answer>. */
function example(r: () => number, name: (typeof COLOR_NAMES)[number]): Example {
  const side = world.settings.view.width;
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, COLORS[name][i % 3] + Math.round((r() - 0.5) * 40)));
  const tokens = [
    tk.id('<bos>'), tk.id('<q>'), ...tk.encode('what color is it ?'), tk.id('</q>'),
    tk.id('<img>'), ...new Array<number>(np).fill(-1), tk.id('</img>'),
    tk.id('<answer>'), ...tk.encode(name),
  ];
  return { tokens, patches: viewPatches({ width: side, height: side, data }, world.settings.view) };
}

function pack(examples: Example[], zeroPatches: boolean) {
  const n = examples.reduce((a, e) => a + e.tokens.length, 0);
  const tokens = new Int32Array(n);
  const patches = new Float32Array(examples.length * np * world.patchDim);
  const seqOffsets = new Int32Array(examples.length + 1);
  const mask = new Float32Array(n);
  let at = 0;
  examples.forEach((e, b) => {
    tokens.set(e.tokens, at);
    if (!zeroPatches) patches.set(e.patches, b * np * world.patchDim);
    mask[at + e.tokens.length - 1] = 1; // the colour word
    at += e.tokens.length;
    seqOffsets[b + 1] = at;
  });
  return { batch: { tokens, patches, seqOffsets }, mask };
}

// Four images of each colour for training, two others for the held-out loss (made once: image building is slow under ts-jest).
const r0 = mulberry32(7);
const TRAIN = COLOR_NAMES.flatMap((name) => Array.from({ length: 4 }, () => example(r0, name)));
const HELD = COLOR_NAMES.flatMap((name) => Array.from({ length: 2 }, () => example(r0, name)));

async function heldOutLoss(zeroPatches: boolean): Promise<number> {
  const r = mulberry32(11);
  const policy = await Policy.create({ ...world.policyConfig({ maxSeqLen: 64 }), layers: 1, heads: 2, dim: 32, seed: 3, threads: 1 });
  try {
    const held = pack(HELD, zeroPatches);
    for (let step = 0; step < 150; step++) {
      const b = pack(Array.from({ length: 16 }, () => TRAIN[Math.floor(r() * TRAIN.length)]), zeroPatches);
      await policy.trainStep(b.batch, { kind: 'sft', mask: b.mask }, { lr: 3e-3 });
    }
    const { logp } = await policy.logprobs(held.batch);
    let nll = 0;
    for (let i = 0; i < logp.length; i++) if (held.mask[i]) nll -= logp[i];
    return nll / HELD.length;
  } finally {
    policy.dispose();
  }
}

test('the colour of a one-colour image is learned from its patches, and not without them', async () => {
  const prior = Math.log(COLOR_NAMES.length); // 2.08: the eight colour words uniformly
  const seeing = await heldOutLoss(false);
  const blind = await heldOutLoss(true);
  expect(seeing).toBeLessThan(0.3);
  expect(blind).toBeGreaterThan(prior - 0.3);
}, 60_000);

import { COLOR_NAMES, SHAPES, renderScene } from '../dist/lib/worlds/visual-search/scene.js';
import { viewPatches } from '../dist/lib/image/view.js';
import { mulberry32 } from '../dist/lib/util/random.js';

/**
 * The samples of dev/probe-shape.mjs (its header says what each mode asks), seeded: a function
 * returning { tokens, patches } (the prompt, the image's view patches, the answer token last).
 */
export function probeSampler(mode, world, seed, sizeMin, sizeMax) {
  const tk = world.tokenizer;
  const np = world.patchesPerImage;
  const r = mulberry32(seed);
  const int = (a, b) => a + Math.floor(r() * (b - a + 1));
  const apart = (o, p) => o.x > p.x + p.size + 3 || p.x > o.x + o.size + 3 || o.y > p.y + p.size + 3 || p.y > o.y + o.size + 3;
  return () => {
    const colours = [...COLOR_NAMES].sort(() => r() - 0.5);
    const want = mode === 'locate' ? 6 : 1;
    const objects = [];
    for (let k = 0; objects.length < want && k < 500; k++) {
      const size = int(sizeMin, sizeMax);
      const o = { shape: SHAPES[int(0, 3)], color: colours[objects.length], size, x: int(1, 255 - size), y: int(1, 255 - size) };
      if (objects.every((p) => apart(o, p))) objects.push(o);
    }
    const image = renderScene({ width: 256, height: 256, background: { kind: 'texture', seed: int(0, 1e9), tone: int(0, 3) }, objects });
    const target = objects[int(0, objects.length - 1)];
    const question = mode === 'colour' ? 'what color is it ?' : mode === 'shape' ? 'what shape is it ?' : mode === 'place' ? 'where is it ?' : `where is the ${target.color} object ?`;
    const answer = mode === 'colour' ? target.color : mode === 'shape' ? target.shape : String(Math.floor((target.x + target.size / 2) / 64) * 64);
    const tokens = [tk.id('<bos>'), tk.id('<q>'), ...tk.encode(question), tk.id('</q>'), tk.id('<img>'), ...Array(np).fill(-1), tk.id('</img>'), tk.id('<answer>'), tk.encode(answer)[0]];
    return { tokens: Int32Array.from(tokens), patches: viewPatches(image, world.settings.view) };
  };
}

/**
 * The batch of the answer probes (dev/probe-solid-colour.mjs, dev/probe-shape.mjs): samples of
 * { tokens, patches } packed into one policy batch, the loss mask on each sample's last token.
 */
export function packAnswerBatch(items, patchFloats) {
  const n = items.reduce((a, s) => a + s.tokens.length, 0);
  const tokens = new Int32Array(n), patches = new Float32Array(items.length * patchFloats), seqOffsets = new Int32Array(items.length + 1), mask = new Float32Array(n);
  let at = 0;
  items.forEach((s, b) => {
    tokens.set(s.tokens, at);
    patches.set(s.patches, b * patchFloats);
    mask[at + s.tokens.length - 1] = 1;
    at += s.tokens.length;
    seqOffsets[b + 1] = at;
  });
  return { batch: { tokens, patches, seqOffsets }, mask };
}

/**
 * Data of dev/probe-caption.py: does a dense description of the first view (every object's
 * colour and shape, many supervised tokens per image) teach this policy shapes faster than the
 * one-token question does? Scenes of K large objects (the world's 24-36 canvas pixels, K distinct
 * colours, random shapes) on the world's texture, seen at the world's view; from each scene
 *   qa       "<bos> <q> what shape is the COLOUR object ? </q> <img> patches </img> <answer> SHAPE"
 *   caption  "<bos> <q> what objects are there ? </q> <img> patches </img> <answer> C1 S1 ... CK SK"
 *            (the objects in the order of the world's colour list)
 * written as in dev/probe-twin.mjs (tokens as int32, patches as bytes): DIR/{train,held}_{qa,cap}.
 * After npm run build:
 *   node dev/probe-caption.mjs COUNT DIR     env: PATCH (default 16), K (default 4), SEED (default 1)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { VisualSearchWorld } from '../dist/lib/worlds/visual-search/world.js';
import { COLOR_NAMES, SHAPES, renderScene } from '../dist/lib/worlds/visual-search/scene.js';
import { viewPatches } from '../dist/lib/image/view.js';
import { mulberry32 } from '../dist/lib/util/random.js';

const [count, dir] = [Number(process.argv[2] ?? 16384), process.argv[3] ?? '/tmp/probe-caption'];
const K = Number(process.env.K ?? 4);
const world = new VisualSearchWorld({ cue: 'attribute', patch: Number(process.env.PATCH ?? 16) });
const tk = world.tokenizer;
const np = world.patchesPerImage;
mkdirSync(dir, { recursive: true });

function sampler(seed) {
  const r = mulberry32(seed);
  const int = (a, b) => a + Math.floor(r() * (b - a + 1));
  const apart = (o, p) => o.x > p.x + p.size + 3 || p.x > o.x + o.size + 3 || o.y > p.y + p.size + 3 || p.y > o.y + o.size + 3;
  return () => {
    const colours = [...COLOR_NAMES].sort(() => r() - 0.5).slice(0, K);
    const objects = [];
    for (let tries = 0; objects.length < K; tries++) {
      if (tries > 2000) throw new Error('layout failed');
      const size = int(24, 36);
      const o = { shape: SHAPES[int(0, 3)], color: colours[objects.length], size, x: int(1, 255 - size), y: int(1, 255 - size) };
      if (objects.every((p) => apart(o, p))) objects.push(o);
    }
    const image = renderScene({ width: 256, height: 256, background: { kind: 'texture', seed: int(0, 1e9), tone: int(0, 3) }, objects });
    const patches = viewPatches(image, world.settings.view);
    const image_ = [tk.id('<img>'), ...Array(np).fill(-1), tk.id('</img>')];
    const target = objects[int(0, K - 1)];
    const qa = [tk.id('<bos>'), tk.id('<q>'), ...tk.encode(`what shape is the ${target.color} object ?`), tk.id('</q>'), ...image_, tk.id('<answer>'), tk.encode(target.shape)[0]];
    const ordered = [...objects].sort((a, b) => COLOR_NAMES.indexOf(a.color) - COLOR_NAMES.indexOf(b.color));
    const words = ordered.flatMap((o) => [o.color, o.shape]).join(' ');
    const cap = [tk.id('<bos>'), tk.id('<q>'), ...tk.encode('what objects are there ?'), tk.id('</q>'), ...image_, tk.id('<answer>'), ...tk.encode(words)];
    return { qa, cap, patches };
  };
}

const seed0 = Number(process.env.SEED ?? 1);
for (const [name, n, seed] of [['train', count, seed0], ['held', 512, seed0 + 1]]) {
  const sample = sampler(seed);
  const first = sample();
  const sets = { qa: first.qa.length, cap: first.cap.length };
  const tokens = { qa: new Int32Array(n * sets.qa), cap: new Int32Array(n * sets.cap) };
  const patches = new Uint8Array(n * first.patches.length);
  for (let s = 0; s < n; s++) {
    const x = s === 0 ? first : sample();
    if (x.qa.length !== sets.qa || x.cap.length !== sets.cap) throw new Error('sample lengths differ');
    tokens.qa.set(x.qa, s * sets.qa);
    tokens.cap.set(x.cap, s * sets.cap);
    for (let i = 0; i < x.patches.length; i++) patches[s * x.patches.length + i] = Math.round((x.patches[i] + 0.5) * 255);
  }
  for (const kind of ['qa', 'cap']) {
    writeFileSync(`${dir}/${name}_${kind}.tok`, tokens[kind]);
    writeFileSync(`${dir}/${name}_${kind}.json`, JSON.stringify({ count: n, len: sets[kind], patches: np, patchDim: world.patchDim, answerTokens: kind === 'qa' ? 1 : 2 * K }));
  }
  writeFileSync(`${dir}/${name}.pat`, patches);
}
const c = world.policyConfig();
writeFileSync(`${dir}/config.json`, JSON.stringify({ vocabSize: c.vocabSize, patchDim: c.patchDim, maxSeqLen: c.maxSeqLen, layers: 2, heads: 4, dim: 96 }));
const shapeIds = SHAPES.map((s) => tk.encode(s)[0]);
writeFileSync(`${dir}/shapes.json`, JSON.stringify(shapeIds));
console.log(`wrote ${count} training and 512 held-out scenes of ${K} objects to ${dir}`);

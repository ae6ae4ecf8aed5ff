/**
 * The probes of dev/probe-shape.mjs trained side by side with the PyTorch twin of the policy
 * (bench/policy_torch.py's model): the same samples, the same initial weights, the same batches,
 * the same AdamW. Tells an engine defect from a task this network cannot learn in the budget.
 * After npm run build:
 *   node dev/probe-twin.mjs dump MODE COUNT DIR     COUNT training samples and 512 held-out ones
 *                                                   (patches stored as bytes, read so by both)
 *   python3 dev/probe-twin.py DIR STEPS [--train]   the twin's initial weights and batch order
 *                                                   (--train: train it too, its losses in DIR)
 *   node dev/probe-twin.mjs train DIR STEPS         this engine from those weights and batches:
 *                                                   held-out answer loss every 50 steps, and the
 *                                                   twin's loss and gradient norm beside its own
 * env PATCH (view patch, default 8), SMIN / SMAX as dev/probe-shape.mjs, SEED (of the training
 * samples, default 1; the held-out ones use SEED + 1); lr 2e-3, batch 32.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { VisualSearchWorld } from '../dist/lib/worlds/visual-search/world.js';
import { Policy } from '../dist/lib/policy/policy.js';
import { packAnswerBatch, probeSampler } from './probe-batch.mjs';

const [command, ...args] = process.argv.slice(2);
const bytesOf = (path) => {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};

if (command === 'dump') {
  const [mode, count, dir] = [args[0], Number(args[1]), args[2]];
  const world = new VisualSearchWorld({ cue: 'attribute', patch: Number(process.env.PATCH ?? 8) });
  mkdirSync(dir, { recursive: true });
  const seed0 = Number(process.env.SEED ?? 1);
  for (const [name, n, seed] of [['train', count, seed0], ['held', 512, seed0 + 1]]) {
    const sample = probeSampler(mode, world, seed, Number(process.env.SMIN ?? 24), Number(process.env.SMAX ?? 36));
    const first = sample();
    const len = first.tokens.length;
    const tokens = new Int32Array(n * len), patches = new Uint8Array(n * first.patches.length);
    for (let s = 0; s < n; s++) {
      const x = s === 0 ? first : sample();
      tokens.set(x.tokens, s * len);
      for (let i = 0; i < x.patches.length; i++) patches[s * x.patches.length + i] = Math.round((x.patches[i] + 0.5) * 255);
    }
    writeFileSync(`${dir}/${name}.tok`, tokens);
    writeFileSync(`${dir}/${name}.pat`, patches);
    writeFileSync(`${dir}/${name}.json`, JSON.stringify({ count: n, len, patches: world.patchesPerImage, patchDim: world.patchDim }));
  }
  const c = world.policyConfig();
  writeFileSync(`${dir}/config.json`, JSON.stringify({ vocabSize: c.vocabSize, patchDim: c.patchDim, maxSeqLen: c.maxSeqLen, layers: 2, heads: 4, dim: 96 }));
} else if (command === 'train') {
  const [dir, steps] = [args[0], Number(args[1])];
  const config = JSON.parse(readFileSync(`${dir}/config.json`, 'utf8'));
  const load = (name) => {
    const m = JSON.parse(readFileSync(`${dir}/${name}.json`, 'utf8'));
    return { ...m, tokens: new Int32Array(bytesOf(`${dir}/${name}.tok`)), patches: new Uint8Array(bytesOf(`${dir}/${name}.pat`)) };
  };
  const train = load('train'), held = load('held');
  const floats = train.patches.length / train.count;
  const items = (set, ids) =>
    ids.map((s) => ({
      tokens: set.tokens.subarray(s * set.len, (s + 1) * set.len),
      patches: Float32Array.from(set.patches.subarray(s * floats, (s + 1) * floats), (b) => b / 255 - 0.5),
    }));
  const heldBatch = packAnswerBatch(items(held, Array.from({ length: held.count }, (_, i) => i)), floats);
  const names = JSON.parse(readFileSync(`${dir}/init/index.json`, 'utf8'));
  const tensors = Object.fromEntries(Object.keys(names).map((k) => [k, new Float32Array(bytesOf(`${dir}/init/${k}.f32`))]));
  const batches = new Int32Array(bytesOf(`${dir}/batches.i32`));
  const twin = existsSync(`${dir}/twin-losses.json`) ? JSON.parse(readFileSync(`${dir}/twin-losses.json`, 'utf8')) : [];
  const policy = await Policy.fromTensors(config, tensors, { threads: 1 });
  const heldLoss = async () => {
    const { logp } = await policy.logprobs(heldBatch.batch);
    let nll = 0;
    for (let i = 0; i < logp.length; i++) if (heldBatch.mask[i]) nll -= logp[i];
    return nll / held.count;
  };
  for (let step = 0; step < steps; step++) {
    const b = packAnswerBatch(items(train, Array.from(batches.subarray(step * 32, step * 32 + 32))), floats);
    const held0 = step % 50 === 0 ? await heldLoss() : undefined;
    const r = await policy.trainStep(b.batch, { kind: 'sft', mask: b.mask }, { lr: 2e-3 });
    const t = twin[step];
    if (held0 !== undefined) {
      console.log(`step ${step}: held-out answer loss ${held0.toFixed(3)}; batch loss ${r.loss.toFixed(5)}, grad norm ${r.gradNorm.toFixed(5)}` +
        (t ? `; twin ${t.loss.toFixed(5)}, ${t.gradNorm.toFixed(5)}, held-out ${t.held === null ? '-' : t.held.toFixed(3)}` : ''));
    }
  }
} else {
  throw new Error('usage: node dev/probe-twin.mjs dump MODE COUNT DIR | train DIR STEPS');
}

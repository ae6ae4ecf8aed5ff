/**
 * The policy network end to end on the CPU backend: initialisation, log-probs
 * against the float64 reference network, whole-network gradients against
 * central finite differences of the float64 reference loss, the AdamW step,
 * save/load (bit-exact, optimizer state included), memorisation with the SFT
 * and PG losses, and every error the API raises.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Policy, PyVisionError, backendInfo, type PolicyConfig, type SequenceBatch } from '../../lib/index.js';
import * as ref from '../reference/policy.js';
import { expectClose, rng, snapshot, uniform } from '../helpers.js';

const CONFIG: PolicyConfig = { vocabSize: 23, patchDim: 6, maxSeqLen: 20, layers: 2, heads: 2, dim: 16 };

/** Four sequences: visual patches first, mid-sequence and in a run; lengths 7, 1, 0, 13. */
function makeBatch(seed: number, config = CONFIG): SequenceBatch {
  const r = rng(seed);
  const layout = [
    [-1, 3, 4, -1, -1, 9, 2],
    [5],
    [],
    [1, 2, 3, -1, 4, 5, 6, 7, 8, -1, 10, 11, 12],
  ];
  const tokens = Int32Array.from(layout.flat().map((t) => (t < 0 ? -1 : (t * 7 + Math.floor(r() * 5)) % config.vocabSize)));
  const seqOffsets = new Int32Array(layout.length + 1);
  layout.forEach((s, b) => (seqOffsets[b + 1] = seqOffsets[b] + s.length));
  const visual = tokens.filter((t) => t < 0).length;
  return { tokens, patches: uniform(r, visual * config.patchDim, -1, 1), seqOffsets };
}

/** 1 at every position that has a log-prob (not a start, not visual). */
function fullMask(batch: SequenceBatch): Float32Array {
  const mask = new Float32Array(batch.tokens.length);
  for (let b = 0; b + 1 < batch.seqOffsets.length; b++) {
    for (let t = batch.seqOffsets[b] + 1; t < batch.seqOffsets[b + 1]; t++) mask[t] = batch.tokens[t] >= 0 ? 1 : 0;
  }
  return mask;
}

async function expectCode(promise: Promise<unknown> | (() => unknown), code: string, message?: RegExp) {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(PyVisionError);
  expect((error as PyVisionError).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
}

describe('initialisation', () => {
  test('GPT-2 init of policy.md, reproducible from the seed, every tensor of the table', async () => {
    const a = await Policy.create({ ...CONFIG, seed: 7, backend: 'cpu' });
    const b = await Policy.create({ ...CONFIG, seed: 7, backend: 'cpu' });
    const c = await Policy.create({ ...CONFIG, seed: 8, backend: 'cpu' });
    const ta = await a.tensors();
    const tb = await b.tensors();
    const tc = await c.tensors();
    const C = CONFIG.dim;
    const names = [
      'tok_emb.weight', 'pos_emb.weight', 'patch_proj.weight', 'patch_proj.bias',
      ...[0, 1].flatMap((l) =>
        ['ln1.weight', 'ln1.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias',
          'ln2.weight', 'ln2.bias', 'mlp.fc.weight', 'mlp.fc.bias', 'mlp.proj.weight', 'mlp.proj.bias'].map((n) => `blocks.${l}.${n}`)),
      'ln_f.weight', 'ln_f.bias', 'lm_head.weight',
    ];
    expect([...ta.keys()]).toEqual(names);
    expect(a.parameterCount).toBe([...ta.values()].reduce((s, t) => s + t.length, 0));
    expect(ta.get('blocks.1.mlp.fc.weight')!.length).toBe(4 * C * C);
    for (const [name, t] of ta) {
      expect(Buffer.compare(Buffer.from(t.buffer, t.byteOffset, t.byteLength), Buffer.from(tb.get(name)!.buffer, tb.get(name)!.byteOffset, t.byteLength))).toBe(0);
      if (name.endsWith('.bias')) expect(t.every((x) => x === 0)).toBe(true);
      else if (/ln(1|2|_f)\.weight$/.test(name)) expect(t.every((x) => x === 1)).toBe(true);
      else {
        const std = Math.sqrt(t.reduce((s, x) => s + x * x, 0) / t.length);
        const want = /(attn|mlp)\.proj\.weight$/.test(name) ? 0.02 / Math.sqrt(2 * CONFIG.layers) : 0.02;
        expect(Math.abs(std - want) / want).toBeLessThan(0.2);
        expect(tc.get(name)!.some((x, i) => x !== t[i])).toBe(true);
      }
    }
    expect(a.config).toEqual(CONFIG);
    expect(Object.isFrozen(a.config)).toBe(true);
    expect(a.backend).toBe('cpu');
    [a, b, c].forEach((p) => p.dispose());
  });
});

describe('the network against the float64 reference', () => {
  let policy: Policy;
  let params: Map<string, Float32Array>;
  beforeAll(async () => {
    // Larger-than-init weights so that attention and GELU are far from linear.
    const base = await Policy.create({ ...CONFIG, seed: 3, backend: 'cpu' });
    const r = rng(99);
    const t = await base.tensors();
    base.dispose();
    params = new Map([...t].map(([name, x]) => [name, x.map((v) => v * 10 + (name.includes('ln') ? (r() - 0.5) * 0.4 : 0))]));
    params.set('blocks.0.attn.qkv.bias', uniform(r, 3 * CONFIG.dim, -0.3, 0.3));
    policy = await Policy.fromTensors(CONFIG, params, { backend: 'cpu' });
  });
  afterAll(() => policy.dispose());

  test('logprobs and entropy per position (0 at starts and visual positions)', async () => {
    const batch = makeBatch(1);
    const restore = snapshot(batch.tokens, batch.patches, batch.seqOffsets);
    const { logp, entropy } = await policy.logprobs(batch);
    const want = ref.networkLogprobs(CONFIG, params, batch);
    expectClose(logp, want.logp, 2e-5, 1e-4, 'logp');
    expectClose(entropy, want.entropy, 2e-5, 1e-4, 'entropy');
    for (let b = 0; b + 1 < batch.seqOffsets.length; b++) {
      if (batch.seqOffsets[b] < batch.seqOffsets[b + 1]) expect(logp[batch.seqOffsets[b]]).toBe(0);
    }
    batch.tokens.forEach((t, i) => t < 0 && expect(logp[i]).toBe(0));
    restore();
  });

  test('the same sequence gives the same log-probs alone and inside a batch', async () => {
    const batch = makeBatch(1);
    const all = await policy.logprobs(batch);
    const lo = batch.seqOffsets[3];
    const hi = batch.seqOffsets[4];
    const patchesBefore = batch.tokens.subarray(0, lo).filter((t) => t < 0).length * CONFIG.patchDim;
    const alone = await policy.logprobs({
      tokens: batch.tokens.slice(lo, hi),
      patches: batch.patches.slice(patchesBefore),
      seqOffsets: Int32Array.from([0, hi - lo]),
    });
    expectClose(alone.logp, all.logp.subarray(lo, hi), 1e-6, 1e-5, 'logp alone vs batched');
  });

  // Central differences of the float64 reference loss w.r.t. sampled
  // parameters (h = 1e-4: truncation ~1e-8, far below the float32 gradient's error).
  async function checkGradients(loss: Parameters<Policy['gradients']>[1], refLoss: (p: Map<string, Float64Array | Float32Array>) => number, seed: number) {
    const batch = makeBatch(seed);
    const grads = await policy.gradients(batch, loss);
    expect([...grads.keys()]).toEqual([...params.keys()]);
    const r = rng(seed + 1);
    let checked = 0;
    for (const [name, tensor] of params) {
      const picks = new Set<number>();
      for (let k = 0; k < Math.min(4, tensor.length); k++) picks.add(Math.floor(r() * tensor.length));
      const got: number[] = [];
      const want: number[] = [];
      for (const i of picks) {
        const h = 1e-4;
        const plus = new Map<string, Float64Array | Float32Array>(params);
        const minus = new Map<string, Float64Array | Float32Array>(params);
        const p = Float64Array.from(tensor);
        p[i] = tensor[i] + h;
        plus.set(name, p);
        const m = Float64Array.from(tensor);
        m[i] = tensor[i] - h;
        minus.set(name, m);
        want.push((refLoss(plus) - refLoss(minus)) / (2 * h));
        got.push(grads.get(name)![i]);
        checked++;
      }
      expectClose(got, want, 2e-5, 2e-3, `d loss / d ${name}`);
    }
    expect(checked).toBeGreaterThan(80);
  }

  test('SFT gradients of every tensor against central finite differences', async () => {
    const batch = makeBatch(4);
    const mask = fullMask(batch);
    await checkGradients({ kind: 'sft', mask }, (p) => ref.sftLoss(ref.networkLogprobs(CONFIG, p, batch).logp, mask), 4);
  });

  test('PG gradients (clipped branches, dual clip, per-sequence advantages) against finite differences', async () => {
    const batch = makeBatch(4);
    const mask = fullMask(batch);
    const { logp } = await policy.logprobs(batch);
    const r = rng(5);
    const oldLogp = Float32Array.from(logp, (x) => x + (r() - 0.5) * 0.9);
    const perSeq = Float32Array.from([1.5, -0.7, 0.3, -2.0]);
    const advantages = new Float32Array(batch.tokens.length);
    for (let b = 0; b < 4; b++) advantages.fill(perSeq[b], batch.seqOffsets[b], batch.seqOffsets[b + 1]);
    const clip = { clipLow: 0.2, clipHigh: 0.28, dualClip: 3 };
    await checkGradients(
      { kind: 'pg', mask, oldLogp, advantages: perSeq, ...clip },
      (p) => ref.pgLoss(ref.networkLogprobs(CONFIG, p, batch).logp, oldLogp, advantages, mask, clip),
      4,
    );
  });

  test('trainStep reports the loss and metrics of the batch before the update', async () => {
    const batch = makeBatch(6);
    const mask = fullMask(batch);
    const copy = await Policy.fromTensors(CONFIG, params, { backend: 'cpu' });
    const { logp, entropy } = await copy.logprobs(batch);
    const r = rng(7);
    const oldLogp = Float32Array.from(logp, (x) => x + (r() - 0.5) * 0.9);
    const advantages = uniform(r, batch.tokens.length, -1, 1);
    const res = await copy.trainStep(batch, { kind: 'pg', mask, oldLogp, advantages }, { lr: 1e-3 });
    const clip = { clipLow: 0.2, clipHigh: 0.2, dualClip: 3 };
    expect(res.loss).toBeCloseTo(ref.pgLoss(logp, oldLogp, advantages, mask, clip), 5);
    const masked = [...mask.keys()].filter((t) => mask[t]);
    expect(res.approxKl).toBeCloseTo(masked.reduce((s, t) => s + oldLogp[t] - logp[t], 0) / masked.length, 5);
    expect(res.entropy).toBeCloseTo(masked.reduce((s, t) => s + entropy[t], 0) / masked.length, 5);
    expect(res.clipFrac).toBeGreaterThan(0);
    expect(res.clipFrac).toBeLessThan(1);
    const sft = await copy.trainStep(batch, { kind: 'sft', mask }, { lr: 0 });
    const { logp: after } = await copy.logprobs(batch);
    expect(sft.loss).toBeCloseTo(ref.sftLoss(after, mask), 5);
    expect(sft.clipFrac).toBe(0);
    copy.dispose();
  });
});

describe('AdamW step', () => {
  test('equals torch AdamW on the gradient, decay on matrices only, global-norm clipping', async () => {
    const batch = makeBatch(8);
    const mask = fullMask(batch);
    const a = await Policy.create({ ...CONFIG, seed: 11, backend: 'cpu' });
    const b = await Policy.create({ ...CONFIG, seed: 11, backend: 'cpu' });
    const before = await a.tensors();
    const grads = await a.gradients(batch, { kind: 'sft', mask });
    let norm = 0;
    for (const g of grads.values()) for (const x of g) norm += x * x;
    norm = Math.sqrt(norm);
    const gradClip = norm / 3; // clipping is active
    const optim = { lr: 1e-2, betas: [0.8, 0.9] as [number, number], eps: 1e-6, weightDecay: 0.3, gradClip };
    for (let step = 1; step <= 2; step++) {
      const res = await b.trainStep(batch, { kind: 'sft', mask }, optim);
      if (step === 1) {
        expect(res.gradNorm).toBeCloseTo(norm, 4);
        const after = await b.tensors();
        const scale = Math.min(1, gradClip / (norm + 1e-6));
        for (const [name, p] of before) {
          const want = ref.adamwStep(p, new Float32Array(p.length), new Float32Array(p.length), grads.get(name)!, {
            lr: 1e-2, beta1: 0.8, beta2: 0.9, eps: 1e-6, gradScale: scale, step: 1,
            weightDecay: /(bias|ln1\.weight|ln2\.weight|ln_f\.weight)$/.test(name) ? 0 : 0.3,
          });
          expectClose(after.get(name)!, want.params, 1e-6, 1e-5, `AdamW step of ${name}`);
        }
      }
    }
    a.dispose();
    b.dispose();
  });
});

describe('thread counts', () => {
  test('log-probs, gradients and a train step have the same bits on 1 thread and on all threads', async () => {
    // 640 positions: above the row count at which the linear layers' weight
    // gradients are summed in two fixed halves, and above every parallel threshold.
    const config: PolicyConfig = { vocabSize: 40, patchDim: 6, maxSeqLen: 160, layers: 2, heads: 2, dim: 32 };
    const r = rng(31);
    const lengths = [160, 157, 160, 163 - 3];
    const seqOffsets = new Int32Array(lengths.length + 1);
    lengths.forEach((n, b) => (seqOffsets[b + 1] = seqOffsets[b] + n));
    const tokens = new Int32Array(seqOffsets[lengths.length]);
    for (let b = 0; b < lengths.length; b++) {
      for (let t = seqOffsets[b]; t < seqOffsets[b + 1]; t++) tokens[t] = t - seqOffsets[b] < 12 ? -1 : Math.floor(r() * config.vocabSize);
    }
    const visual = tokens.filter((t) => t < 0).length;
    const batch: SequenceBatch = { tokens, patches: uniform(r, visual * config.patchDim, -1, 1), seqOffsets };
    const mask = fullMask(batch);
    const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const results = [];
    for (const threads of [1, 0]) {
      const policy = await Policy.create({ ...config, seed: 5, backend: 'cpu', ...(threads ? { threads } : {}) });
      const lp = await policy.logprobs(batch);
      const grads = await policy.gradients(batch, { kind: 'sft', mask });
      const step = await policy.trainStep(batch, { kind: 'sft', mask }, { lr: 1e-3 });
      const after = await policy.tensors();
      results.push({ lp, grads, step, after });
      policy.dispose();
    }
    const [one, all] = results;
    expect(bits(all.lp.logp).equals(bits(one.lp.logp))).toBe(true);
    expect(bits(all.lp.entropy).equals(bits(one.lp.entropy))).toBe(true);
    expect([...all.grads.keys()]).toEqual([...one.grads.keys()]);
    for (const [name, g] of one.grads) expect({ name, same: bits(all.grads.get(name)!).equals(bits(g)) }).toEqual({ name, same: true });
    expect(all.step).toEqual(one.step);
    for (const [name, t] of one.after) expect({ name, same: bits(all.after.get(name)!).equals(bits(t)) }).toEqual({ name, same: true });
  });
});

describe('save and load', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pyvision-policy-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('round trip is bit-exact, optimizer and step included; the file is plain safetensors', async () => {
    const batch = makeBatch(12);
    const mask = fullMask(batch);
    const optim = { lr: 3e-3, weightDecay: 0.1 };
    const a = await Policy.create({ ...CONFIG, seed: 21, backend: 'cpu' });
    for (let i = 0; i < 3; i++) await a.trainStep(batch, { kind: 'sft', mask }, optim);
    const path = join(dir, 'policy.safetensors');
    await a.save(path);
    const b = await Policy.load(path, { backend: 'cpu' });
    expect(b.config).toEqual(CONFIG);
    const ta = await a.tensors();
    const tb = await b.tensors();
    for (const [name, t] of ta) expect(Buffer.from(tb.get(name)!.buffer, tb.get(name)!.byteOffset, t.byteLength)).toEqual(Buffer.from(t.buffer, t.byteOffset, t.byteLength));
    // Same moments and step: the next step is identical to the bit.
    const ra = await a.trainStep(batch, { kind: 'sft', mask }, optim);
    const rb = await b.trainStep(batch, { kind: 'sft', mask }, optim);
    expect(rb.loss).toBe(ra.loss);
    const ta2 = await a.tensors();
    const tb2 = await b.tensors();
    for (const [name, t] of ta2) expect(Array.from(tb2.get(name)!)).toEqual(Array.from(t));
    // Without the optimizer state the next step differs (fresh moments, step 1).
    const c = await Policy.load(path, { backend: 'cpu', optimizer: false });
    await c.trainStep(batch, { kind: 'sft', mask }, optim);
    expect((await c.tensors()).get('lm_head.weight')!.some((x, i) => x !== ta2.get('lm_head.weight')![i])).toBe(true);

    // The weights file: 8-byte header length, JSON header, F32 data in policy.md order.
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__.format).toBe('pyvision-rl-policy');
    expect(header.__metadata__.version).toBe('1');
    expect(JSON.parse(header.__metadata__.config)).toEqual(CONFIG);
    expect(header['tok_emb.weight']).toEqual({ dtype: 'F32', shape: [23, 16], data_offsets: [0, 23 * 16 * 4] });
    expect(header['blocks.1.mlp.proj.weight'].shape).toEqual([16, 64]);
    const lm = header['lm_head.weight'];
    const raw = bytes.subarray(8 + n + lm.data_offsets[0], 8 + n + lm.data_offsets[1]);
    expect(Buffer.compare(raw, Buffer.from(ta.get('lm_head.weight')!.buffer, ta.get('lm_head.weight')!.byteOffset, raw.length))).toBe(0);
    // One optimizer file beside it, referenced by the metadata; later saves
    // keep the new one and the previous one only.
    const optimFiles = () => readdirSync(dir).filter((f) => f.startsWith('policy.safetensors.optim-')).sort();
    expect(optimFiles()).toEqual([header.__metadata__.optimizer]);
    await b.save(path);
    expect(optimFiles().length).toBe(2);
    expect(optimFiles()).toContain(header.__metadata__.optimizer);
    await b.save(path);
    expect(optimFiles().length).toBe(2);
    expect(optimFiles()).not.toContain(header.__metadata__.optimizer);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    [a, b, c].forEach((p) => p.dispose());
  });

  test('bad files are rejected with E_IO', async () => {
    const a = await Policy.create({ ...CONFIG, seed: 1, backend: 'cpu' });
    const path = join(dir, 'bad.safetensors');
    await a.save(path);
    const good = readFileSync(path);
    const meta = JSON.parse(good.subarray(8, 8 + Number(good.readBigUInt64LE(0))).toString('utf8')).__metadata__;
    await expectCode(Policy.load(join(dir, 'missing.safetensors')), 'E_IO', /cannot read/);
    writeFileSync(path, good.subarray(0, good.length - 10));
    await expectCode(Policy.load(path), 'E_IO', /data_offsets/);
    writeFileSync(path, Buffer.from('not a checkpoint'));
    await expectCode(Policy.load(path), 'E_IO');
    // A wrong shape in the header.
    const n = Number(good.readBigUInt64LE(0));
    const header = JSON.parse(good.subarray(8, 8 + n).toString('utf8'));
    header['ln_f.bias'].shape = [8, 2];
    const json = Buffer.from(JSON.stringify(header).padEnd(n, ' '));
    writeFileSync(path, Buffer.concat([good.subarray(0, 8), json.subarray(0, n), good.subarray(8 + n)]));
    await expectCode(Policy.load(path), 'E_IO', /ln_f\.bias/);
    // The optimizer file the weights refer to is missing.
    writeFileSync(path, good);
    rmSync(join(dir, meta.optimizer));
    await expectCode(Policy.load(path), 'E_IO', /optim/);
    const weightsOnly = await Policy.load(path, { optimizer: false });
    weightsOnly.dispose();
    a.dispose();
  });
});

describe('memorisation', () => {
  const config: PolicyConfig = { vocabSize: 32, patchDim: 4, maxSeqLen: 24, layers: 2, heads: 4, dim: 32 };
  function task(seed: number): SequenceBatch {
    const r = rng(seed);
    const tokens: number[] = [];
    const seqOffsets = [0];
    for (let b = 0; b < 4; b++) {
      tokens.push(-1); // an image first, then 15 tokens to memorise
      for (let t = 0; t < 15; t++) tokens.push(Math.floor(r() * 32));
      seqOffsets.push(tokens.length);
    }
    return { tokens: Int32Array.from(tokens), patches: uniform(r, 4 * 4, -1, 1), seqOffsets: Int32Array.from(seqOffsets) };
  }

  test('SFT loss goes down', async () => {
    const policy = await Policy.create({ ...config, seed: 5, backend: 'cpu' });
    const batch = task(1);
    const mask = fullMask(batch);
    const losses: number[] = [];
    for (let i = 0; i < 60; i++) losses.push((await policy.trainStep(batch, { kind: 'sft', mask }, { lr: 3e-3, weightDecay: 0 })).loss);
    expect(losses[0]).toBeGreaterThan(3); // ~ log 32
    expect(losses[59]).toBeLessThan(0.3 * losses[0]);
    policy.dispose();
  });

  test('PG loss goes down and the rewarded sequences become likely, the penalised ones unlikely', async () => {
    const policy = await Policy.create({ ...config, seed: 6, backend: 'cpu' });
    const batch = task(2);
    const mask = fullMask(batch);
    const advantages = Float32Array.from([1, 1, -1, 1]);
    const seqMean = (logp: Float32Array, b: number) => {
      let s = 0;
      for (let t = batch.seqOffsets[b] + 2; t < batch.seqOffsets[b + 1]; t++) s += logp[t];
      return s / (batch.seqOffsets[b + 1] - batch.seqOffsets[b] - 2);
    };
    const start = (await policy.logprobs(batch)).logp;
    // PPO: 12 rounds of 4 epochs on the same rollout log-probs each.
    const firstRound: number[] = [];
    for (let round = 0; round < 12; round++) {
      const oldLogp = (await policy.logprobs(batch)).logp;
      for (let epoch = 0; epoch < 4; epoch++) {
        const r = await policy.trainStep(batch, { kind: 'pg', mask, oldLogp, advantages }, { lr: 3e-3, weightDecay: 0 });
        if (round === 0) firstRound.push(r.loss);
      }
    }
    expect(firstRound[3]).toBeLessThan(firstRound[0] - 0.05); // the surrogate goes down within a round
    const end = (await policy.logprobs(batch)).logp;
    for (const b of [0, 1, 3]) expect(seqMean(end, b)).toBeGreaterThan(seqMean(start, b) + 1);
    expect(seqMean(end, 2)).toBeLessThan(seqMean(start, 2) - 1);
    policy.dispose();
  });
});

describe('errors', () => {
  let policy: Policy;
  beforeAll(async () => {
    policy = await Policy.create({ ...CONFIG, seed: 2, backend: 'cpu' });
  });
  afterAll(() => policy.dispose());

  test('bad configs', async () => {
    await expectCode(Policy.create({ ...CONFIG, dim: 15 }), 'E_ARG', /multiple of config\.heads/);
    await expectCode(Policy.create({ ...CONFIG, layers: 0 }), 'E_ARG', /config\.layers/);
    await expectCode(Policy.create({ ...CONFIG, vocabSize: 2.5 }), 'E_ARG', /config\.vocabSize/);
    await expectCode(Policy.create({ ...CONFIG, seed: -1 }), 'E_ARG', /config\.seed/);
    await expectCode(Policy.create({ ...CONFIG, threads: 1.5 }), 'E_ARG', /config\.threads/);
    await expectCode(Policy.create({ ...CONFIG, backend: 'gpu' as never }), 'E_ARG', /backend/);
    await expectCode(Policy.create(null as never), 'E_ARG', /config must be an object/);
    if (!backendInfo().devices.length) await expectCode(Policy.create({ ...CONFIG, backend: 'cuda' }), 'E_BACKEND');
    await expectCode(Policy.fromTensors(CONFIG, new Map()), 'E_ARG', /lacks the tensor 'tok_emb\.weight'/);
    const t = await policy.tensors();
    const short = new Map(t);
    short.set('ln_f.bias', new Float32Array(3));
    await expectCode(Policy.fromTensors(CONFIG, short), 'E_SHAPE', /ln_f\.bias/);
    const extra = new Map(t);
    extra.set('head.weight', new Float32Array(3));
    await expectCode(Policy.fromTensors(CONFIG, extra), 'E_ARG', /head\.weight/);
    const nan = new Map(t);
    nan.set('ln_f.bias', new Float32Array(CONFIG.dim).fill(NaN));
    await expectCode(Policy.fromTensors(CONFIG, nan), 'E_NONFINITE', /parameters/);
  });

  test('bad batches: each rejected with its code, inputs unchanged', async () => {
    const cases: { what: string; edit: (b: SequenceBatch) => SequenceBatch; code: string; message: RegExp }[] = [
      { what: 'tokens not Int32Array', edit: (b) => ({ ...b, tokens: Float32Array.from(b.tokens) as never }), code: 'E_DTYPE', message: /batch\.tokens must be a Int32Array/ },
      { what: 'patches not Float32Array', edit: (b) => ({ ...b, patches: Array.from(b.patches) as never }), code: 'E_DTYPE', message: /batch\.patches/ },
      { what: 'offsets not ending at N', edit: (b) => ({ ...b, seqOffsets: Int32Array.from([0, 7, 8, 8, 20]) }), code: 'E_SHAPE', message: /seqOffsets\[4\] must equal/ },
      { what: 'decreasing offsets', edit: (b) => ({ ...b, seqOffsets: Int32Array.from([0, 7, 5, 8, 21]) }), code: 'E_SHAPE', message: /non-decreasing/ },
      { what: 'token id >= vocabSize', edit: (b) => ({ ...b, tokens: b.tokens.map((t, i) => (i === 5 ? 23 : t)) }), code: 'E_ARG', message: /tokens\[5\] must be a token id in \[0, 23\)/ },
      { what: 'token id -2', edit: (b) => ({ ...b, tokens: b.tokens.map((t, i) => (i === 2 ? -2 : t)) }), code: 'E_ARG', message: /tokens\[2\]/ },
      { what: 'too few patch floats', edit: (b) => ({ ...b, patches: b.patches.slice(0, b.patches.length - 6) }), code: 'E_SHAPE', message: /patches/ },
      { what: 'patch floats not a multiple of patchDim', edit: (b) => ({ ...b, patches: b.patches.slice(1) }), code: 'E_SHAPE', message: /patchDim/ },
      { what: 'NaN patch', edit: (b) => ({ ...b, patches: b.patches.map((x, i) => (i === 4 ? NaN : x)) }), code: 'E_NONFINITE', message: /patches\[4\]/ },
      {
        what: 'sequence longer than maxSeqLen',
        edit: () => ({ tokens: new Int32Array(21).fill(1), patches: new Float32Array(0), seqOffsets: Int32Array.from([0, 21]) }),
        code: 'E_SHAPE',
        message: /sequence 0 has 21 positions, more than maxSeqLen \(20\)/,
      },
    ];
    for (const c of cases) {
      const batch = c.edit(makeBatch(1));
      const restore = snapshot(...[batch.tokens, batch.patches, batch.seqOffsets].filter(ArrayBuffer.isView));
      await expectCode(policy.logprobs(batch), c.code, c.message);
      await expectCode(policy.gradients(batch, { kind: 'sft', mask: new Float32Array(batch.tokens?.length ?? 0) }), c.code);
      restore();
    }
  });

  test('bad losses and optimizer options', async () => {
    const batch = makeBatch(1);
    const N = batch.tokens.length;
    const mask = fullMask(batch);
    const pg = { kind: 'pg' as const, mask, oldLogp: new Float32Array(N), advantages: new Float32Array(N) };
    const restore = snapshot(batch.tokens, batch.patches, batch.seqOffsets, mask);
    await expectCode(policy.gradients(batch, { kind: 'sft', mask: mask.slice(1) }), 'E_SHAPE', /loss\.mask must have length 21/);
    await expectCode(policy.gradients(batch, { kind: 'sft', mask: Array.from(mask) as never }), 'E_DTYPE', /loss\.mask/);
    await expectCode(policy.gradients(batch, { kind: 'sft', mask: mask.map((x, i) => (i === 0 ? 1 : x)) }), 'E_ARG', /loss\.mask\[0\] must be 0: position 0 is the start/);
    await expectCode(policy.gradients(batch, { kind: 'sft', mask: mask.map((x, i) => (i === 3 ? 1 : x)) }), 'E_ARG', /visual patch/);
    await expectCode(policy.gradients(batch, { kind: 'sft', mask: mask.map((x, i) => (i === 1 ? 2 : x)) }), 'E_ARG', /0 or 1/);
    await expectCode(policy.gradients(batch, { kind: 'ppo' } as never), 'E_ARG', /loss\.kind/);
    await expectCode(policy.gradients(batch, { ...pg, oldLogp: pg.oldLogp.map((x, i) => (i === 6 ? NaN : x)) }), 'E_NONFINITE', /oldLogp\[6\]/);
    await expectCode(policy.gradients(batch, { ...pg, advantages: new Float32Array(5) }), 'E_SHAPE', /advantages/);
    await expectCode(policy.gradients(batch, { ...pg, klCoef: 0.1 }), 'E_ARG', /refLogp/);
    await expectCode(policy.gradients(batch, { ...pg, clipLow: 1 }), 'E_ARG', /loss\.clipLow/);
    await expectCode(policy.gradients(batch, { ...pg, agg: 'mean' as never }), 'E_ARG', /loss\.agg/);
    await expectCode(policy.trainStep(batch, pg, { lr: -1 }), 'E_ARG', /optim\.lr/);
    await expectCode(policy.trainStep(batch, pg, { lr: 1e-3, betas: [0.9, 1] }), 'E_ARG', /optim\.betas\[1\]/);
    await expectCode(policy.trainStep(batch, pg, { lr: 1e-3, eps: 0 }), 'E_ARG', /optim\.eps/);
    await expectCode(policy.trainStep(batch, pg, { lr: NaN }), 'E_NONFINITE', /optim\.lr/);
    restore();
  });

  test('use after dispose: E_DISPOSED; dispose is idempotent', async () => {
    const p = await Policy.create({ ...CONFIG, seed: 3, backend: 'cpu' });
    const batch = makeBatch(1);
    const session = await p.startSession({ tokens: Int32Array.from([1, 2]), patches: new Float32Array(0), seqOffsets: Int32Array.from([0, 2]) });
    const pending = p.logprobs(batch); // in flight while disposed: completes
    p.dispose();
    p.dispose();
    expect(p.disposed).toBe(true);
    await expect(pending).resolves.toHaveProperty('logp');
    const mask = fullMask(batch);
    await expectCode(p.logprobs(batch), 'E_DISPOSED');
    await expectCode(p.gradients(batch, { kind: 'sft', mask }), 'E_DISPOSED');
    await expectCode(p.trainStep(batch, { kind: 'sft', mask }, { lr: 1 }), 'E_DISPOSED');
    await expectCode(p.tensors(), 'E_DISPOSED');
    await expectCode(p.save(join(tmpdir(), 'never.safetensors')), 'E_DISPOSED');
    await expectCode(p.startSession(batch), 'E_DISPOSED');
    await expectCode(session.generate({ maxNewTokens: 1 }), 'E_DISPOSED', /policy/);
    session.dispose();
    session.dispose();
  });
});

const gpu = backendInfo();
const cudaReady = gpu.compiled.cuda && gpu.devices.length > 0;
if (!cudaReady) console.log(`policy CUDA-vs-CPU tests skipped: ${gpu.compiled.cuda ? 'no CUDA device' : 'this build has no CUDA backend'}`);
(cudaReady ? describe : describe.skip)('CUDA against CPU', () => {
  test('log-probs, gradients, a train step and a session agree', async () => {
    const cpu = await Policy.create({ ...CONFIG, seed: 31, backend: 'cpu' });
    const tensors = await cpu.tensors();
    const cuda = await Policy.fromTensors(CONFIG, tensors, { backend: 'cuda' });
    expect(cuda.backend).toBe('cuda');
    const batch = makeBatch(3);
    const mask = fullMask(batch);
    const a = await cpu.logprobs(batch);
    const b = await cuda.logprobs(batch);
    expectClose(b.logp, a.logp, 1e-5, 1e-4, 'cuda logp');
    expectClose(b.entropy, a.entropy, 1e-5, 1e-4, 'cuda entropy');
    const r = rng(4);
    const loss = { kind: 'pg' as const, mask, oldLogp: Float32Array.from(a.logp, (x) => x + (r() - 0.5) * 0.5), advantages: uniform(r, 4, -1, 1) };
    const ga = await cpu.gradients(batch, loss);
    const gb = await cuda.gradients(batch, loss);
    for (const [name, g] of ga) expectClose(gb.get(name)!, g, 1e-6, 1e-3, `cuda gradient of ${name}`);
    const optim = { lr: 1e-3, weightDecay: 0.1 };
    const sa = await cpu.trainStep(batch, loss, optim);
    const sb = await cuda.trainStep(batch, loss, optim);
    expect(sb.loss).toBeCloseTo(sa.loss, 5);
    expect(sb.gradNorm).toBeCloseTo(sa.gradNorm, 4);
    const ta = await cpu.tensors();
    const tb = await cuda.tensors();
    for (const [name, t] of ta) expectClose(tb.get(name)!, t, 1e-6, 1e-4, `cuda parameter ${name} after a step`);
    const prompts = { tokens: Int32Array.from([1, 2, 3, 4]), patches: new Float32Array(0), seqOffsets: Int32Array.from([0, 3, 4]) };
    const session = await cuda.startSession(prompts);
    const out = await session.generate({ maxNewTokens: 6, temperature: 1, seed: 5 });
    session.dispose();
    // The CUDA session's sampled logp against the CPU's teacher forcing of the same tokens.
    const seqs = [0, 1].map((s) => [...prompts.tokens.slice(prompts.seqOffsets[s], prompts.seqOffsets[s + 1]), ...out.tokens.slice(out.offsets[s], out.offsets[s + 1])]);
    const full = { tokens: Int32Array.from(seqs.flat()), patches: new Float32Array(0), seqOffsets: Int32Array.from([0, seqs[0].length, seqs[0].length + seqs[1].length]) };
    const teacher = await cpu.logprobs(full);
    const want: number[] = [];
    seqs.forEach((s, i) => {
      const start = full.seqOffsets[i] + (prompts.seqOffsets[i + 1] - prompts.seqOffsets[i]);
      for (let t = start; t < full.seqOffsets[i + 1]; t++) want.push(teacher.logp[t]);
    });
    expectClose(out.logp, want, 2e-4, 1e-4, 'cuda sampled logp vs cpu teacher forcing');
    cpu.dispose();
    cuda.dispose();
  });
});

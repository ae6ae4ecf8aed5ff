/**
 * Each layer of the policy network (core/policy_ops.h), forward and backward,
 * on the CPU backend (and on CUDA when a device is present) against the naive
 * float64 references of test/reference/policy.ts. Sizes are odd on purpose
 * (tails of every vector and tile width); attention runs on ragged packed
 * sequences and on a KV-cache layout with a non-zero first position. The ops
 * run through the test-only addon (test/native/ops-addon.ts), not the
 * production one.
 */
import { backendInfo } from '../../lib/index.js';
import { native } from '../../lib/native/addon.js';
import { opsAddon } from '../native/ops-addon.js';
import * as ref from '../reference/policy.js';
import { expectClose, rng, uniform } from '../helpers.js';

type Arrays = Record<string, Float32Array | Int32Array>;

const info = backendInfo();
const devices: { name: string; code: 0 | 1 }[] = [{ name: 'cpu', code: 0 }];
if (info.compiled.cuda && info.devices.length > 0) devices.push({ name: 'cuda', code: 1 });
else console.log(`policy ops: CUDA cases skipped (${info.compiled.cuda ? 'no CUDA device' : 'CUDA backend not compiled'})`);

function run(device: 0 | 1, op: string, arrays: Arrays, sizes: Record<string, number>) {
  return opsAddon().policyOpRun({ backend: device === 1 ? 'cuda' : 'cpu', op, arrays, sizes });
}

const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
// float32 results of short sums against float64: relative 1e-5 per operation,
// with headroom for sums of a few hundred terms.
const TOL = { atol: 2e-5, rtol: 2e-4 };

describe.each(devices)('policy ops on $name', ({ code }) => {
  test('embedding forward and backward (tokens, patches, positions)', async () => {
    const r = rng(11);
    const V = 13, T = 9, C = 19, Np = 3;
    const tokens = Int32Array.from([3, -1, 0, 12, -1, 5, -1, 3, 3, 7]);
    const N = tokens.length;
    let p = 0;
    const patchRows = Int32Array.from(tokens, (t) => (t < 0 ? p++ : -1));
    const positions = Int32Array.from([0, 1, 2, 3, 0, 1, 2, 0, 8, 4]);
    const tokEmb = uniform(r, V * C, -1, 1);
    const posEmb = uniform(r, T * C, -1, 1);
    const patchOut = uniform(r, Np * C, -1, 1);
    const out = new Float32Array(N * C);
    await run(code, 'embeddingForward', { out, tokens, patchRows, positions, tokEmb, posEmb, patchOut }, { N, C });
    expectClose(out, ref.embeddingForward(tokens, patchRows, positions, tokEmb, posEmb, patchOut, C), 1e-6, 1e-6, 'embedding out');

    const dout = uniform(r, N * C, -1, 1);
    const dTokEmb = uniform(r, V * C, -1, 1); // accumulated into
    const dPosEmb = uniform(r, T * C, -1, 1);
    const before = { tok: dTokEmb.slice(), pos: dPosEmb.slice() };
    const dPatchOut = new Float32Array(Np * C);
    await run(code, 'embeddingBackward', { dTokEmb, dPosEmb, dPatchOut, dout, tokens, patchRows, positions }, { N, C });
    const want = ref.embeddingBackward(dout, tokens, patchRows, positions, V, T, Np, C);
    expectClose(dTokEmb, before.tok.map((x, i) => x + want.dTokEmb[i]), 1e-6, 1e-5, 'dtok_emb (accumulated)');
    expectClose(dPosEmb, before.pos.map((x, i) => x + want.dPosEmb[i]), 1e-6, 1e-5, 'dpos_emb (accumulated)');
    expectClose(dPatchOut, want.dPatchOut, 1e-7, 1e-7, 'dpatch_out');
  });

  test.each([
    { N: 1, C: 1 },
    { N: 7, C: 33 },
    { N: 37, C: 96 },
  ])('layerNorm forward and backward N=$N C=$C (with a large offset row)', async ({ N, C }) => {
    const r = rng(N * 100 + C);
    const inp = uniform(r, N * C, -2, 2);
    for (let c = 0; c < C; c++) inp[c] += 1000; // large offset: two-pass variance
    const weight = uniform(r, C, 0.5, 1.5);
    const bias = uniform(r, C, -0.5, 0.5);
    const out = new Float32Array(N * C);
    const mean = new Float32Array(N);
    const rstd = new Float32Array(N);
    await run(code, 'layerNormForward', { out, mean, rstd, inp, weight, bias }, { N, C });
    const want = ref.layerNormForward(inp, weight, bias, N, C);
    expectClose(out, want.out, 1e-4, 1e-4, 'ln out');
    expectClose(mean, want.mean, 1e-6, 1e-6, 'ln mean');
    expectClose(rstd, want.rstd, 1e-6, 1e-4, 'ln rstd');

    const dout = uniform(r, N * C, -1, 1);
    const dinp = uniform(r, N * C, -1, 1); // accumulated (the residual gradient)
    const dinpBefore = dinp.slice();
    const dweight = new Float32Array(C);
    const dbias = new Float32Array(C);
    await run(code, 'layerNormBackward', { dinp, dweight, dbias, dout, inp, weight, mean, rstd }, { N, C });
    const g = ref.layerNormBackward(dout, inp, weight, N, C);
    expectClose(dinp, dinpBefore.map((x, i) => x + g.dinp[i]), 1e-4, 1e-3, 'ln dinp (accumulated)');
    expectClose(dweight, g.dweight, TOL.atol, TOL.rtol, 'ln dweight');
    expectClose(dbias, g.dbias, TOL.atol, TOL.rtol, 'ln dbias');
  });

  test.each([
    { N: 1, I: 1, O: 1, bias: true },
    { N: 37, I: 53, O: 71, bias: true },
    { N: 130, I: 260, O: 33, bias: false },
    { N: 5, I: 300, O: 517, bias: true },
    // N >= 512: the weight gradient summed in two fixed halves (LinearBackward)
    { N: 1100, I: 40, O: 24, bias: true },
    // outputs of 4 MiB and more per thread's slice, one K block: non-temporal
    // stores (rows of 1030 floats: some rows 64-byte aligned, some not)
    { N: 4100, I: 3, O: 1030, bias: true },
  ])('matmul forward and backward N=$N I=$I O=$O bias=$bias', async ({ N, I, O, bias }) => {
    const r = rng(N + 7 * I + 13 * O);
    const inp = uniform(r, N * I, -1, 1);
    const weight = uniform(r, O * I, -1, 1);
    const b = bias ? uniform(r, O, -1, 1) : undefined;
    const out = new Float32Array(N * O).fill(123); // overwritten
    await run(code, 'matmulForward', { out, inp, weight, ...(b ? { bias: b } : {}) }, { N, I, O });
    expectClose(out, ref.matmulForward(inp, weight, b ?? null, N, I, O), 1e-4, 1e-4, 'matmul out');

    const dout = uniform(r, N * O, -1, 1);
    const dinp = new Float32Array(N * I).fill(7); // written
    const dweight = uniform(r, O * I, -1, 1); // accumulated
    const dwBefore = dweight.slice();
    const dbias = uniform(r, O, -1, 1);
    const dbBefore = dbias.slice();
    await run(code, 'matmulBackward', { dinp, dweight, ...(bias ? { dbias } : {}), dout, inp, weight }, { N, I, O });
    const g = ref.matmulBackward(dout, inp, weight, N, I, O);
    expectClose(dinp, g.dinp, 1e-4, 1e-4, 'matmul dinp');
    expectClose(dweight, dwBefore.map((x, i) => x + g.dweight[i]), 1e-4, 1e-4, 'matmul dweight (accumulated)');
    if (bias) expectClose(dbias, dbBefore.map((x, i) => x + g.dbias[i]), 1e-4, 1e-4, 'matmul dbias (accumulated)');
  });

  const layouts = [
    {
      what: 'packed training batch (lengths 1, 17, 0, 23, 150: per-query and tiled paths), q/k/v strided in one qkv row',
      lengths: [1, 17, 0, 23, 150],
      session: false,
    },
    {
      what: 'KV-cache layout (slots of T = 64 rows, first positions 0, 5, 31; 3, 1 and 20 queries)',
      lengths: [3, 1, 20],
      session: true,
    },
    {
      what: 'KV-cache decode layout (fewer than 16 queries in every slot: 3, 1 and 7; first positions 0, 5, 31)',
      lengths: [3, 1, 7],
      session: true,
    },
  ];
  const heads = [
    { C: 24, H: 3 }, // D = 8: the GEMM-tile path on AVX-512
    { C: 64, H: 4 }, // D = 16
    { C: 64, H: 2 }, // D = 32
    { C: 128, H: 2 }, // D = 64
    { C: 256, H: 2 }, // D = 128
    { C: 96, H: 4 }, // D = 24: decode rows of all heads at once (AVX-512), the per-head loop otherwise
  ];
  const attentionCases = layouts.flatMap((l) => heads.map((h) => ({ ...l, ...h, D: h.C / h.H })));
  test.each(attentionCases)('attention forward and backward, head size $D: $what', async ({ lengths, session, C, H }) => {
    const r = rng(lengths.length * 31 + (session ? 1 : 0) + C + H);
    const B = lengths.length;
    const queryOffsets = new Int32Array(B + 1);
    lengths.forEach((n, b) => (queryOffsets[b + 1] = queryOffsets[b] + n));
    const N = queryOffsets[B];
    const T = 64;
    const firstPosition = Int32Array.from(session ? [0, 5, 31] : lengths.map(() => 0));
    const keyStart = Int32Array.from(session ? lengths.map((_, b) => b * T) : Array.from(queryOffsets.subarray(0, B)));
    const ldq = 3 * C;
    const ldkv = session ? C : 3 * C;
    const keyRows = session ? B * T : N;
    const q = uniform(r, N * ldq, -1.5, 1.5);
    const k = uniform(r, keyRows * ldkv, -1.5, 1.5);
    const v = uniform(r, keyRows * ldkv, -1, 1);
    const maxQueries = Math.max(...lengths);
    const maxKeys = Math.max(...lengths.map((n, b) => firstPosition[b] + n));
    const layout = { queryOffsets, keyStart, firstPosition };
    const sizes = { N, C, H, ldq, ldkv, B, maxQueries, maxKeys };
    const out = new Float32Array(N * C);
    const lse = new Float32Array(N * H);
    await run(code, 'attentionForward', { out, lse, q, k, v, ...layout }, sizes);
    const want = ref.attentionForward(q, k, v, layout, N, C, H, ldq, ldkv);
    expectClose(out, want.out, 1e-5, 1e-4, 'attention out');
    expectClose(lse, want.lse, 1e-5, 1e-5, 'attention lse');

    const dout = uniform(r, N * C, -1, 1);
    const dq = new Float32Array(q.length);
    const dk = new Float32Array(k.length);
    const dv = new Float32Array(v.length);
    await run(code, 'attentionBackward', { dq, dk, dv, dout, out, lse, q, k, v, ...layout }, sizes);
    const g = ref.attentionBackward(dout, q, k, v, layout, N, C, H, ldq, ldkv);
    expectClose(dq, g.dq, 1e-5, 1e-3, 'attention dq');
    expectClose(dk, g.dk, 1e-5, 1e-3, 'attention dk');
    expectClose(dv, g.dv, 1e-5, 1e-3, 'attention dv');
  });

  test('decode attention: a slot has the same bits whether every slot has fewer than 16 queries or another has more', async () => {
    // Head size 24 (C = 96, H = 4): the all-heads decode rows kernel in the
    // first call, the per-head loop in the second.
    const C = 96, H = 4, T = 64, ldq = 3 * C, ldkv = C;
    const r = rng(77);
    const k = uniform(r, 4 * T * ldkv, -1.5, 1.5);
    const v = uniform(r, 4 * T * ldkv, -1, 1);
    const outputs: Float32Array[] = [];
    for (const lengths of [[3, 1, 7], [3, 1, 7, 20]]) {
      const B = lengths.length;
      const queryOffsets = new Int32Array(B + 1);
      lengths.forEach((n, b) => (queryOffsets[b + 1] = queryOffsets[b] + n));
      const N = queryOffsets[B];
      const q = uniform(rng(5), N * ldq, -1.5, 1.5); // the first 11 rows are the same in both calls
      const firstPosition = Int32Array.from([0, 5, 31, 2].slice(0, B));
      const keyStart = Int32Array.from(lengths.map((_, b) => b * T));
      const layout = { queryOffsets, keyStart, firstPosition };
      const sizes = { N, C, H, ldq, ldkv, B, maxQueries: Math.max(...lengths), maxKeys: 38 };
      const out = new Float32Array(N * C);
      const lse = new Float32Array(N * H);
      await run(code, 'attentionForward', { out, lse, q, k, v, ...layout }, sizes);
      outputs.push(Float32Array.from([...out.subarray(0, 11 * C), ...lse.subarray(0, 11 * H)]));
    }
    expect(Array.from(outputs[0])).toEqual(Array.from(outputs[1]));
  });

  test('gelu forward and backward, residual add', async () => {
    const r = rng(5);
    const n = 1031;
    const inp = uniform(r, n, -6, 6);
    inp.set([0, 1e-4, -1e-4, 0.03, -0.03, 10, -10], 0);
    const out = new Float32Array(n);
    await run(code, 'geluForward', { out, inp }, { n });
    expectClose(out, Array.from(inp, ref.gelu), 1e-6, 1e-5, 'gelu');
    const dout = uniform(r, n, -1, 1);
    const dinp = new Float32Array(n);
    await run(code, 'geluBackward', { dinp, dout, inp }, { n });
    expectClose(dinp, Array.from(inp, (x, i) => dout[i] * ref.geluGrad(x)), 1e-6, 1e-5, 'gelu grad');
    const a = uniform(r, n, -1, 1);
    const b = uniform(r, n, -1, 1);
    const sum = new Float32Array(n);
    await run(code, 'residualForward', { out: sum, a, b }, { n });
    expectClose(sum, Array.from(a, (x, i) => Math.fround(x + b[i])), 0, 0, 'residual');
  });

  test('gather and scatter rows with strides', async () => {
    const r = rng(9);
    const width = 5, ldIn = 7, ldOut = 11;
    const inp = uniform(r, 6 * ldIn, -1, 1);
    const rows = Int32Array.from([4, 0, 5, 2]);
    const out = new Float32Array(rows.length * width);
    await run(code, 'gatherRows', { out, inp, rows }, { n: rows.length, width, ldIn });
    const want = Array.from(rows).flatMap((row) => Array.from(inp.subarray(row * ldIn, row * ldIn + width)));
    expectClose(out, want, 0, 0, 'gather');
    const dst = uniform(r, 6 * ldOut, -1, 1);
    const expected = dst.slice();
    rows.forEach((row, i) => expected.set(inp.subarray(i * ldIn, i * ldIn + width), row * ldOut));
    await run(code, 'scatterRows', { out: dst, inp, rows }, { n: rows.length, width, ldOut, ldIn });
    expectClose(dst, expected, 0, 0, 'scatter');
  });

  test('log-softmax forward and the fused SFT / PG / PG+KL loss backward', async () => {
    const r = rng(21);
    const V = 67;
    const N = 29;
    const logits = uniform(r, N * V, -4, 4);
    for (let v = 0; v < V; v++) logits[V + v] += 50; // large logits
    const targets = Int32Array.from({ length: N }, (_, i) => (i % 7 === 3 ? -1 : Math.floor(r() * V)));
    const logp = new Float32Array(N);
    const entropy = new Float32Array(N);
    await run(code, 'logSoftmaxForward', { logp, entropy, logits, targets }, { N, V });
    const want = ref.logSoftmax(logits, targets, V);
    expectClose(logp, want.logp, 1e-5, 1e-5, 'logp');
    expectClose(entropy, want.entropy, 1e-5, 1e-5, 'entropy');

    const weight = Float32Array.from({ length: N }, (_, i) => (i % 5 === 0 ? 0 : 1 / 23));
    const oldLogp = f32(Array.from(want.logp, (x) => x + (r() - 0.5) * 0.8));
    const advantages = uniform(r, N, -2, 2);
    const refLogp = f32(Array.from(want.logp, (x) => x + (r() - 0.5) * 0.3));
    const clip = { clipLow: 0.2, clipHigh: 0.28, dualClip: 3 };
    const cases = [
      { kind: 1, tokenGrad: () => -1, extra: {} as Arrays, sizes: {} },
      {
        kind: 0,
        tokenGrad: (i: number) => ref.clippedTokenGrad(want.logp[i], oldLogp[i], advantages[i], clip),
        extra: { oldLogp, advantages } as Arrays,
        sizes: clip,
      },
      {
        kind: 0,
        // k3 KL: d/dlogp [exp(ref - logp) - (ref - logp) - 1] = 1 - exp(ref - logp)
        tokenGrad: (i: number) =>
          ref.clippedTokenGrad(want.logp[i], oldLogp[i], advantages[i], clip) + 0.1 * (1 - Math.exp(refLogp[i] - want.logp[i])),
        extra: { oldLogp, advantages, refLogp } as Arrays,
        sizes: { ...clip, klCoef: 0.1, klType: 2 },
      },
    ];
    for (const c of cases) {
      const dlogits = logits.slice(); // in place
      const lp = new Float32Array(N);
      const en = new Float32Array(N);
      await run(code, 'logSoftmaxLossBackward', { dlogits, logp: lp, entropy: en, logits: dlogits, targets, weight, ...c.extra }, { N, V, kind: c.kind, ...c.sizes });
      expectClose(lp, want.logp, 1e-5, 1e-5, 'fused logp');
      expectClose(en, want.entropy, 1e-5, 1e-5, 'fused entropy');
      const expected = new Float64Array(N * V);
      for (let i = 0; i < N; i++) {
        if (targets[i] < 0) continue;
        const g = weight[i] * c.tokenGrad(i);
        for (let v = 0; v < V; v++) expected[i * V + v] = g * ((v === targets[i] ? 1 : 0) - want.probs[i * V + v]);
      }
      expectClose(dlogits, expected, 1e-7, 1e-3, `fused dlogits (kind ${c.kind})`);
    }
  });

  test('sum of squares and AdamW (torch semantics, weight decay, clipping scale)', async () => {
    const r = rng(33);
    const n = 2049;
    const x = uniform(r, n, -3, 3);
    const ss = await run(code, 'sumSquares', { x }, { n });
    expect(Math.abs((ss as number) - Array.from(x).reduce((s, a) => s + a * a, 0))).toBeLessThan(1e-9 * n);
    const params = uniform(r, n, -1, 1);
    const m = uniform(r, n, -0.1, 0.1);
    const v = uniform(r, n, 0, 0.01);
    const grads = uniform(r, n, -1, 1);
    const o = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradScale: 0.5, step: 7 };
    const want = ref.adamwStep(params, m, v, grads, o);
    await run(code, 'adamw', { params, m, v, grads }, {
      n,
      ...o,
      biasCorrection1: 1 - o.beta1 ** o.step,
      biasCorrection2: 1 - o.beta2 ** o.step,
    });
    expectClose(params, want.params, 1e-6, 1e-5, 'adamw params');
    expectClose(m, want.m, 1e-7, 1e-5, 'adamw m');
    expectClose(v, want.v, 1e-9, 1e-5, 'adamw v');
  });
});

test('the per-op harness is in the test addon only, not in the production addon', () => {
  expect(typeof opsAddon().policyOpRun).toBe('function');
  expect(Object.keys(native())).not.toContain('policyOpRun');
});

/**
 * The library's policy against an independent PyTorch implementation of
 * policy.md (dev/make_policy_fixture.py, float64): the same checkpoint, the
 * same packed batch of three odd-length sequences with visual patches, and
 * the expected logp, entropy, and gradients of the SFT and PG losses w.r.t.
 * every parameter. PyTorch is not needed here: the fixture is committed in
 * test/fixtures/policy/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Policy, backendInfo, type SequenceBatch } from '../../lib/index.js';

const FIXTURE = join(process.cwd(), 'test', 'fixtures', 'policy');

interface Manifest {
  config: { vocabSize: number; patchDim: number; maxSeqLen: number; layers: number; heads: number; dim: number };
  tokens: number[];
  seqOffsets: number[];
  mask: number[];
  pg: { clipLow: number; clipHigh: number; dualClip: number; aggregation: string; regimes: Record<string, number> };
  loss: { sft: number; pg: number };
  files: Record<'checkpoint' | 'patches' | 'oldLogp' | 'advantages' | 'logp' | 'entropy' | 'gradSft' | 'gradPg', string>;
  parameters: { name: string; shape: number[]; offset: number; count: number }[];
}

const manifest = JSON.parse(readFileSync(join(FIXTURE, 'manifest.json'), 'utf8')) as Manifest;

function f32(name: keyof Manifest['files']): Float32Array {
  const bytes = readFileSync(join(FIXTURE, manifest.files[name]));
  const out = new Float32Array(bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; ++i) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/** Worst element of |a - b| <= atol + rtol |b|, as a margin ratio (<= 1 passes). */
function worst(a: Float32Array, b: Float32Array, atol: number, rtol: number) {
  expect(a.length).toBe(b.length);
  let margin = 0;
  let index = -1;
  for (let i = 0; i < b.length; ++i) {
    const m = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(m <= margin)) {
      margin = Number.isNaN(m) ? Infinity : m;
      index = i;
    }
  }
  return { margin, index, got: index >= 0 ? a[index] : 0, want: index >= 0 ? b[index] : 0 };
}

function expectClose(what: string, a: Float32Array, b: Float32Array, atol: number, rtol: number) {
  const w = worst(a, b, atol, rtol);
  if (w.margin > 1) {
    throw new Error(
      `${what}: worst element ${w.index} is ${w.got}, expected ${w.want} ` +
        `(|a - b| = ${Math.abs(w.got - w.want)} > ${atol} + ${rtol} * |b|, margin ${w.margin.toFixed(2)})`,
    );
  }
  return w;
}

// Float32 forward and backward against a float64 reference on a network this
// small (C = 16, two layers, 31 positions): the float32 rounding of sums of
// at most 64 terms is ~1e-6 relative, so 1e-4 relative with a small absolute
// floor has two orders of magnitude of headroom and still catches any wrong
// term (a missing bias, a wrong mask, a sequence attending across its
// boundary moves values by 1e-2 or more).
const LOGP_TOL = { atol: 2e-5, rtol: 1e-4 };
const GRAD_TOL = { atol: 2e-6, rtol: 2e-3 };

/**
 * The batch as lib/policy/policy.ts takes it: the fixture stores patches densely
 * ([N, P], zero at token positions); the library takes P floats per visual
 * position, in position order.
 */
function batch(): SequenceBatch {
  const P = manifest.config.patchDim;
  const dense = f32('patches');
  const visual = manifest.tokens.flatMap((tok, t) => (tok < 0 ? [t] : []));
  const patches = new Float32Array(visual.length * P);
  visual.forEach((t, i) => patches.set(dense.subarray(t * P, (t + 1) * P), i * P));
  return {
    tokens: Int32Array.from(manifest.tokens),
    patches,
    seqOffsets: Int32Array.from(manifest.seqOffsets),
  };
}

test('the fixture is self-consistent', () => {
  const { tokens, seqOffsets, mask, parameters, config } = manifest;
  const n = tokens.length;
  expect(seqOffsets[seqOffsets.length - 1]).toBe(n);
  expect(f32('patches').length).toBe(n * config.patchDim);
  for (const name of ['logp', 'entropy', 'oldLogp', 'advantages'] as const) expect(f32(name).length).toBe(n);
  const total = parameters.reduce((s, p) => s + p.count, 0);
  expect(f32('gradSft').length).toBe(total);
  expect(f32('gradPg').length).toBe(total);
  // Masked positions have a defined logp: not a sequence start, not visual.
  const starts = new Set(seqOffsets.slice(0, -1));
  const logp = f32('logp');
  for (let t = 0; t < n; ++t) {
    if (mask[t]) expect(!starts.has(t) && tokens[t] >= 0).toBe(true);
    if (starts.has(t) || tokens[t] < 0) expect(logp[t]).toBe(0);
  }
  // Every branch of the clipped surrogate occurs in the PG case.
  for (const count of Object.values(manifest.pg.regimes)) expect(count).toBeGreaterThan(0);
});

const info = backendInfo();
const cudaReady = info.compiled.cuda && info.devices.length > 0;
const backends: ('cpu' | 'cuda')[] = cudaReady ? ['cpu', 'cuda'] : ['cpu'];
if (!cudaReady) {
  console.log(
    `policy-fixture on CUDA skipped: ${info.compiled.cuda ? 'no CUDA device found' : 'this build has no CUDA backend'}`,
  );
}

describe.each(backends)('Policy (%s) against the PyTorch fixture', (backend) => {
  let policy: Policy;

  beforeAll(async () => {
    policy = await Policy.load(join(FIXTURE, manifest.files.checkpoint), { backend });
    expect(policy.config).toEqual(manifest.config);
  });
  afterAll(() => policy?.dispose());

  test('logprobs: logp and entropy per position', async () => {
    const input = batch();
    const tokensBefore = input.tokens.slice();
    const { logp, entropy } = await policy.logprobs(input);
    const wl = expectClose('logp', logp, f32('logp'), LOGP_TOL.atol, LOGP_TOL.rtol);
    const we = expectClose('entropy', entropy, f32('entropy'), LOGP_TOL.atol, LOGP_TOL.rtol);
    console.log(`${backend}: fixture logp worst margin ${wl.margin.toFixed(3)}, entropy ${we.margin.toFixed(3)}`);
    expect(input.tokens).toEqual(tokensBefore);
  });

  const cases = [
    { kind: 'sft' as const, file: 'gradSft' as const },
    { kind: 'pg' as const, file: 'gradPg' as const },
  ];
  test.each(cases)('gradients of the $kind loss w.r.t. every parameter', async ({ kind, file }) => {
    const mask = Float32Array.from(manifest.mask);
    const { clipLow, clipHigh, dualClip } = manifest.pg;
    const loss =
      kind === 'sft'
        ? { kind, mask }
        : { kind, mask, oldLogp: f32('oldLogp'), advantages: f32('advantages'), clipLow, clipHigh, dualClip,
            agg: 'token-mean' as const };
    const grads = await policy.gradients(batch(), loss);
    const expected = f32(file);
    expect(new Set(grads.keys())).toEqual(new Set(manifest.parameters.map((p) => p.name)));
    let worstName = '';
    let worstMargin = -1;
    for (const p of manifest.parameters) {
      const got = grads.get(p.name)!;
      const want = expected.subarray(p.offset, p.offset + p.count);
      const w = expectClose(`${kind} gradient of ${p.name}`, got, want, GRAD_TOL.atol, GRAD_TOL.rtol);
      if (w.margin > worstMargin) {
        worstMargin = w.margin;
        worstName = `${p.name}[${w.index}]`;
      }
    }
    console.log(`${backend}: fixture ${kind} gradients: worst margin ${worstMargin.toFixed(3)} at ${worstName}`);
  });
});

/**
 * Multi-turn generation with a KV cache: the log-probs returned while sampling
 * equal logprobs() of the finished sequences (teacher forcing) across several
 * appended observations (tokens and patches); each position runs through the
 * network once; sampling is reproducible from its seed and obeys temperature 0
 * and top-k; maxSeqLen ends a sequence without failing the batch.
 */
import { Policy, PyVisionError, type PolicyConfig, type SequenceBatch } from '../../lib/index.js';
import { expectClose, rng, snapshot, uniform } from '../helpers.js';

const CONFIG: PolicyConfig = { vocabSize: 29, patchDim: 5, maxSeqLen: 48, layers: 2, heads: 2, dim: 16 };

/** A policy with weights ten times the initialisation: peaked, position-dependent distributions. */
async function sharpPolicy(seed: number, config = CONFIG): Promise<Policy> {
  const base = await Policy.create({ ...config, seed, backend: 'cpu' });
  const t = await base.tensors();
  base.dispose();
  const scaled = new Map([...t].map(([name, x]) => [name, name.includes('ln') ? x : x.map((v) => v * 10)]));
  return Policy.fromTensors(config, scaled, { backend: 'cpu' });
}

interface Seq {
  tokens: number[];
  patches: number[];
}

function pack(seqs: Seq[]): SequenceBatch {
  const seqOffsets = [0];
  for (const s of seqs) seqOffsets.push(seqOffsets[seqOffsets.length - 1] + s.tokens.length);
  return {
    tokens: Int32Array.from(seqs.flatMap((s) => s.tokens)),
    patches: Float32Array.from(seqs.flatMap((s) => s.patches)),
    seqOffsets: Int32Array.from(seqOffsets),
  };
}

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PyVisionError);
  expect((error as PyVisionError).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
}

test('sampled logp equals teacher-forced logprobs across three turns with appended observations', async () => {
  const policy = await sharpPolicy(1);
  const r = rng(2);
  const P = CONFIG.patchDim;
  // Prompts: an image then text; text only; text, an image run, text.
  const seqs: Seq[] = [
    { tokens: [-1, 3, 4], patches: Array.from(uniform(r, P, -1, 1)) },
    { tokens: [7], patches: [] },
    { tokens: [1, -1, -1, 2], patches: Array.from(uniform(r, 2 * P, -1, 1)) },
  ];
  const session = await policy.startSession(pack(seqs));
  const generated: { seq: number; position: number; logp: number }[] = [];
  const stopTokens = [5, 11];
  for (let turn = 0; turn < 3; turn++) {
    const out = await session.generate({ maxNewTokens: 6, temperature: 1, stopTokens, seed: 100 + turn });
    expect(out.offsets.length).toBe(4);
    for (let b = 0; b < 3; b++) {
      const n = out.offsets[b + 1] - out.offsets[b];
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(6);
      const last = out.tokens[out.offsets[b + 1] - 1];
      expect(out.stopped[b]).toBe(stopTokens.includes(last) ? 1 : 0);
      if (out.stopped[b] === 0) expect(n).toBe(6);
      for (let i = out.offsets[b]; i < out.offsets[b + 1]; i++) {
        generated.push({ seq: b, position: seqs[b].tokens.length, logp: out.logp[i] });
        seqs[b].tokens.push(out.tokens[i]);
      }
    }
    if (turn < 2) {
      // Tool observations: tokens and patches, one empty entry.
      const obs: Seq[] = [
        { tokens: [9, -1, 10], patches: Array.from(uniform(r, P, -1, 1)) },
        turn === 0 ? { tokens: [], patches: [] } : { tokens: [-1], patches: Array.from(uniform(r, P, -1, 1)) },
        { tokens: [12, 13, 14, 15], patches: [] },
      ];
      const { overflowed } = await session.append(pack(obs));
      expect(Array.from(overflowed)).toEqual([0, 0, 0]);
      obs.forEach((o, b) => {
        seqs[b].tokens.push(...o.tokens);
        seqs[b].patches.push(...o.patches);
      });
    }
  }
  const state = await session.state();
  expect(Array.from(state.lengths)).toEqual(seqs.map((s) => s.tokens.length));
  expect(Array.from(state.live)).toEqual([1, 1, 1]);
  // Every position went through the network once (the last sampled tokens are still pending).
  expect(state.forwarded).toBe(seqs.reduce((s, q) => s + q.tokens.length, 0) - 3);

  const full = pack(seqs);
  const teacher = await policy.logprobs(full);
  const got = generated.map((g) => g.logp);
  const want = generated.map((g) => teacher.logp[full.seqOffsets[g.seq] + g.position]);
  expectClose(got, want, 2e-4, 1e-4, 'sampled logp vs teacher-forced logp');
  expect(generated.length).toBeGreaterThan(20);
  session.dispose();
  policy.dispose();
});

test('sampling is reproducible from its seed; temperature 0 and top-k follow the distribution', async () => {
  const policy = await sharpPolicy(3);
  const prompts = pack([
    { tokens: [1, 2, 3], patches: [] },
    { tokens: [4], patches: [] },
  ]);
  const run = async (opts: { temperature: number; topK?: number; seed: number }) => {
    const s = await policy.startSession(prompts);
    const out = await s.generate({ maxNewTokens: 8, stopTokens: [], ...opts });
    s.dispose();
    return out;
  };
  const a = await run({ temperature: 1, seed: 42 });
  const b = await run({ temperature: 1, seed: 42 });
  const c = await run({ temperature: 1, seed: 43 });
  expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
  expect(Array.from(b.logp)).toEqual(Array.from(a.logp));
  expect(Array.from(c.tokens)).not.toEqual(Array.from(a.tokens));

  // The first token's distribution, by teacher forcing every candidate.
  const V = CONFIG.vocabSize;
  const candidates = pack(Array.from({ length: V }, (_, v) => ({ tokens: [1, 2, 3, v], patches: [] })));
  const { logp } = await policy.logprobs(candidates);
  const first = Array.from({ length: V }, (_, v) => logp[4 * v + 3]);
  const order = [...first.keys()].sort((x, y) => first[y] - first[x] || x - y);
  const greedy = await run({ temperature: 0, seed: 1 });
  expect(greedy.tokens[0]).toBe(order[0]);
  expect(greedy.logp[0]).toBeCloseTo(first[order[0]], 4);
  const top1 = await run({ temperature: 1, topK: 1, seed: 5 });
  expect(Array.from(top1.tokens)).toEqual(Array.from(greedy.tokens));
  for (let seed = 0; seed < 12; seed++) {
    const top3 = await run({ temperature: 2, topK: 3, seed });
    expect(order.slice(0, 3)).toContain(top3.tokens[0]);
  }
  policy.dispose();
});

test('maxSeqLen ends one sequence (stopped = 2) without failing the others', async () => {
  const config = { ...CONFIG, maxSeqLen: 12 };
  const policy = await sharpPolicy(4, config);
  const session = await policy.startSession(
    pack([
      { tokens: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], patches: [] },
      { tokens: [3], patches: [] },
    ]),
  );
  const out = await session.generate({ maxNewTokens: 5, temperature: 1, stopTokens: [], seed: 9 });
  expect(Array.from(out.offsets)).toEqual([0, 2, 7]);
  expect(Array.from(out.stopped)).toEqual([2, 0]);
  expect(Array.from((await session.state()).live)).toEqual([0, 1]);
  // Later calls: the ended sequence produces nothing and takes no observation entry.
  await expectCode(session.append(pack([{ tokens: [1], patches: [] }, { tokens: [2], patches: [] }])), 'E_SHAPE', /one entry per live sequence \(1\)/);
  // Sequence 1 holds 1 + 5 positions: 6 more fit exactly, 7 do not.
  const { overflowed } = await session.append(pack([{ tokens: [1, 2, 3, 4, 5, 6, 7], patches: [] }]));
  expect(Array.from(overflowed)).toEqual([1]);
  expect(Array.from((await session.state()).live)).toEqual([0, 0]);
  const again = await session.generate({ maxNewTokens: 3, temperature: 1, stopTokens: [], seed: 1 });
  expect(Array.from(again.offsets)).toEqual([0, 0, 0]);
  expect(Array.from(again.stopped)).toEqual([2, 2]);
  session.dispose();
  policy.dispose();
});

test('bad session inputs are rejected with their code; inputs unchanged', async () => {
  const policy = await sharpPolicy(5);
  const prompts = pack([{ tokens: [1, -1], patches: [0.1, 0.2, 0.3, 0.4, 0.5] }]);
  const restore = snapshot(prompts.tokens, prompts.patches, prompts.seqOffsets);
  await expectCode(policy.startSession(pack([{ tokens: [1], patches: [] }, { tokens: [], patches: [] }])), 'E_SHAPE', /sequence 1 is empty/);
  await expectCode(policy.startSession({ ...prompts, patches: new Float32Array(5).fill(NaN) }), 'E_NONFINITE');
  await expectCode(policy.startSession(pack([{ tokens: new Array(49).fill(1), patches: [] }])), 'E_SHAPE', /maxSeqLen/);
  const session = await policy.startSession(prompts);
  restore();
  await expectCode(session.generate({ maxNewTokens: -1 }), 'E_ARG', /options\.maxNewTokens/);
  await expectCode(session.generate({ maxNewTokens: 2, temperature: -1 }), 'E_ARG', /options\.temperature/);
  await expectCode(session.generate({ maxNewTokens: 2, topK: 1.5 }), 'E_ARG', /options\.topK/);
  await expectCode(session.generate({ maxNewTokens: 2, stopTokens: [29] }), 'E_ARG', /options\.stopTokens\[0\]/);
  await expectCode(session.generate({ maxNewTokens: 2, stopTokens: 'x' as never }), 'E_DTYPE', /options\.stopTokens/);
  await expectCode(session.generate({ maxNewTokens: 2, seed: 0.5 }), 'E_ARG', /options\.seed/);
  await expectCode(session.append(pack([{ tokens: [30], patches: [] }])), 'E_ARG', /observations\.tokens\[0\]/);
  await expectCode(session.append(pack([{ tokens: [-1], patches: [NaN, 0, 0, 0, 0] }])), 'E_NONFINITE', /observations\.patches\[0\]/);
  await expectCode(session.append(pack([{ tokens: [-1], patches: [] }])), 'E_SHAPE', /observations\.patches/);
  // Rejected calls left the session as it was.
  expect(Array.from((await session.state()).lengths)).toEqual([2]);
  const out = await session.generate({ maxNewTokens: 2, seed: 3 });
  expect(out.tokens.length).toBe(2);
  session.dispose();
  await expectCode(session.generate({ maxNewTokens: 1 }), 'E_DISPOSED', /session/);
  await expectCode(session.append(prompts), 'E_DISPOSED');
  await expectCode(session.state(), 'E_DISPOSED');
  policy.dispose();
});

test('per-sequence seeds: a sequence draws the same tokens at any batch index and beside any other sequences', async () => {
  const policy = await sharpPolicy(6);
  const a = { tokens: [1, 2, 3], patches: [] };
  const b = { tokens: [4], patches: [] };
  const c = { tokens: [5, 6], patches: [] };
  const run = async (seqs: Seq[], seeds: number[]) => {
    const s = await policy.startSession(pack(seqs));
    const first = await s.generate({ maxNewTokens: 5, temperature: 1.5, stopTokens: [], seeds });
    // A second turn after an observation: positions continue, so do the draws.
    await s.append(pack(seqs.map(() => ({ tokens: [7, 8], patches: [] }))));
    const second = await s.generate({ maxNewTokens: 4, temperature: 1.5, stopTokens: [], seeds });
    s.dispose();
    const per = (out: typeof first, i: number) => Array.from(out.tokens.subarray(out.offsets[i], out.offsets[i + 1]));
    return seqs.map((_, i) => [...per(first, i), ...per(second, i)]);
  };
  const alone = await run([a], [1234]);
  const mixed = await run([b, c, a], [77, 78, 1234]);
  const other = await run([c, a], [5, 1234]);
  expect(mixed[2]).toEqual(alone[0]);
  expect(other[1]).toEqual(alone[0]);
  // seeds: [x] draws what seed: x draws for sequence 0.
  const single = await policy.startSession(pack([a]));
  const bySeed = await single.generate({ maxNewTokens: 5, temperature: 1.5, stopTokens: [], seed: 1234 });
  expect(Array.from(bySeed.tokens)).toEqual(alone[0].slice(0, 5));
  single.dispose();
  // Another seed, another stream.
  const changed = await run([b, c, a], [77, 78, 4321]);
  expect(changed[2]).not.toEqual(alone[0]);
  expect(changed[0]).toEqual(mixed[0]);
  const s = await policy.startSession(pack([a, b]));
  await expectCode(s.generate({ maxNewTokens: 1, seeds: [1] }), 'E_SHAPE', /options\.seeds must hold one seed per sequence \(2\)/);
  await expectCode(s.generate({ maxNewTokens: 1, seeds: [1, -2] }), 'E_ARG', /options\.seeds\[1\]/);
  await expectCode(s.generate({ maxNewTokens: 1, seeds: 'x' as never }), 'E_DTYPE', /options\.seeds/);
  s.dispose();
  policy.dispose();
});

test('end(): ended sequences sample nothing, take no observation entry and keep their length', async () => {
  const policy = await sharpPolicy(7);
  const session = await policy.startSession(
    pack([
      { tokens: [1, 2], patches: [] },
      { tokens: [3], patches: [] },
      { tokens: [4, 5, 6], patches: [] },
    ]),
  );
  await session.generate({ maxNewTokens: 2, temperature: 1, stopTokens: [], seed: 1 });
  const before = await session.state();
  await session.end([1]);
  await session.end(Int32Array.from([1]));
  const after = await session.state();
  expect(Array.from(after.live)).toEqual([1, 0, 1]);
  expect(Array.from(after.lengths)).toEqual(Array.from(before.lengths));
  await expectCode(session.append(pack([{ tokens: [1], patches: [] }, { tokens: [2], patches: [] }, { tokens: [3], patches: [] }])), 'E_SHAPE', /one entry per live sequence \(2\)/);
  await session.append(pack([{ tokens: [9], patches: [] }, { tokens: [], patches: [] }]));
  const out = await session.generate({ maxNewTokens: 3, temperature: 1, stopTokens: [], seed: 2 });
  expect(Array.from(out.stopped)).toEqual([0, 2, 0]);
  expect(out.offsets[2] - out.offsets[1]).toBe(0);
  const forwarded = (await session.state()).forwarded;
  // Positions run: seq 0 its prompt (2), its first sample, then the pending [sample, 9] and two more
  // samples; seq 1 its prompt and first sample only (the second was pending when it ended); seq 2
  // its prompt (3), its first sample, its pending sample and two more.
  expect(forwarded).toBe(2 + 1 + 2 + 2 + (1 + 1) + (3 + 1 + 1 + 2));
  await expectCode(session.end([3]), 'E_ARG', /sequences\[0\] must be a sequence index in \[0, 3\)/);
  await expectCode(session.end([0.5]), 'E_ARG', /sequences\[0\]/);
  await expectCode(session.end('x' as never), 'E_DTYPE', /sequences/);
  session.dispose();
  await expectCode(session.end([0]), 'E_DISPOSED');
  policy.dispose();
});

test('a sequence samples the same tokens and log-probs, to the bit, alone on one thread and in a batch of 20 on all threads', async () => {
  // dim 72: heads of 24 channels, and the MLP projection's 288-long sums (more
  // than one K block of the CPU matrix product), where a product of 1 row and
  // one of 20 rows take different kernels.
  const config: PolicyConfig = { vocabSize: 41, patchDim: 3, maxSeqLen: 40, layers: 2, heads: 3, dim: 72 };
  const r = rng(9);
  const target: Seq = { tokens: [1, -1, 2, 3], patches: Array.from(uniform(r, 3, -1, 1)) };
  const others: Seq[] = Array.from({ length: 19 }, (_, i) => ({ tokens: Array.from({ length: 1 + (i % 7) }, (_, t) => (5 * i + t) % 41), patches: [] }));
  const run = async (threads: number | undefined, seqs: Seq[], index: number) => {
    const policy = await Policy.create({ ...config, seed: 4, backend: 'cpu', ...(threads ? { threads } : {}) });
    const session = await policy.startSession(pack(seqs));
    const seeds = seqs.map((_, i) => (i === index ? 2024 : 31 * i + 1));
    const out: number[][] = [];
    for (let turn = 0; turn < 2; turn++) {
      const g = await session.generate({ maxNewTokens: 9, temperature: 1, seeds });
      out.push(Array.from(g.tokens.subarray(g.offsets[index], g.offsets[index + 1])));
      out.push(Array.from(g.logp.subarray(g.offsets[index], g.offsets[index + 1])));
      if (turn === 0) await session.append(pack(seqs.map((_, i) => ({ tokens: i === index ? [7, 9] : [7, (i * 3) % 41], patches: [] }))));
    }
    session.dispose();
    policy.dispose();
    return out;
  };
  const alone = await run(1, [target], 0);
  const batched = [...others.slice(0, 7), target, ...others.slice(7)];
  expect(await run(undefined, batched, 7)).toEqual(alone);
  expect(await run(1, batched, 7)).toEqual(alone);
});

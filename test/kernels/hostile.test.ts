/**
 * Hostile inputs to the kernels and the addon boundary, each in a child
 * process (test/child.ts) with a 6 GiB address-space limit and a time limit,
 * so that an abort, a segfault or a hang fails its test instead of the run:
 * outputs larger than memory, absurd thread counts, arrays changed while their
 * call is in flight, SharedArrayBuffer-backed arrays, revoked Proxies, arrays
 * from another realm, and options that overflow float32.
 */
import { expectClean, runChild } from '../child.js';

const PRELUDE = `
const outcome = async (run) => {
  try { await run(); return 'resolved'; } catch (e) { return e instanceof pv.PyVisionError ? e.code : 'not a PyVisionError: ' + e; }
};
const tiny = { embeddings: new Float32Array(2), frameOffsets: Int32Array.from([0, 1]), queries: new Float32Array(2), dim: 2 };
`;

function run(body: string, opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Record<string, unknown> {
  return expectClean(runChild(PRELUDE + body, { timeoutMs: opts.timeoutMs ?? 60000, env: opts.env })) as Record<string, unknown>;
}

test('an output of B x k slots that memory cannot hold is E_OOM or E_ARG, not an abort', () => {
  const result = run(`
const codes = [];
codes.push(await outcome(() => pv.selectFrames(tiny, { k: 2 ** 30, mode: 'topk', backend: 'cpu' })));
codes.push(await outcome(() => pv.selectFrames(tiny, { k: 2 ** 30, mode: 'bolt', backend: 'cpu' })));
const B = 1024;
const many = { embeddings: new Float32Array(B * 2).fill(1), frameOffsets: Int32Array.from({ length: B + 1 }, (_, b) => b), queries: new Float32Array(B * 2).fill(1), dim: 2 };
codes.push(await outcome(() => pv.selectFrames(many, { k: 2 ** 20, mode: 'topk', backend: 'cpu' })));
codes.push(await outcome(() => pv.selectFrames(many, { k: 2 ** 21, mode: 'topk', backend: 'cpu' })));
// the process is still usable
const after = await pv.selectFrames(tiny, { k: 1, mode: 'topk', backend: 'cpu' });
report({ codes, after: Array.from(after.indices) });
`);
  const codes = result.codes as string[];
  for (const code of codes) expect(['E_OOM', 'E_ARG']).toContain(code);
  expect(codes[3]).toBe('E_ARG'); // 2^31 slots: over the documented limit
  expect(result.after).toEqual([0]);
});

test('setCpuThreads(4096) and PYVISION_RL_THREADS=4096 are served with at most one thread per processor', () => {
  const body = `
const inUse = pv.setCpuThreads(4096);
const r = await pv.groupAdvantages(new Float32Array(300000).map((_, i) => i % 7), new Int32Array(300000).map((_, i) => i >> 3));
const s = await pv.selectFrames(tiny, { k: 1, mode: 'topk', backend: 'cpu' });
report({ inUse, cores: pv.backendInfo().cpuThreads, adv: r.advantages[1], frames: Array.from(s.indices) });
`;
  const result = run(body);
  expect(result.inUse).toBeGreaterThanOrEqual(1);
  expect(result.inUse).toBeLessThan(4096);
  expect(result.frames).toEqual([0]);
  const fromEnv = run(body.replace('pv.setCpuThreads(4096)', 'pv.backendInfo().cpuThreads'), { env: { PYVISION_RL_THREADS: '4096' } });
  expect(fromEnv.inUse).toBeLessThan(4096);
  expect(fromEnv.frames).toEqual([0]);
});

test('offsets and budgets changed while their call is in flight do not change what the call reads', () => {
  const result = run(`
const T = 1 << 16, B = 256;
const logp = new Float32Array(T).map((_, i) => -1 - (i % 13) / 13);
const oldLogp = logp.map((x, i) => x + ((i % 5) - 2) / 20);
const advantages = new Float32Array(B).map((_, b) => (b % 3) - 1);
const mask = new Uint8Array(T).fill(1);
const offsets = () => Int32Array.from({ length: B + 1 }, (_, b) => b * (T / B));
const reference = await pv.policyLoss({ logp, oldLogp, advantages, mask, seqOffsets: offsets() }, { agg: 'seq-mean-token-mean' });
let lossSame = true;
for (let round = 0; round < 20; round++) {
  const seqOffsets = offsets();
  const pending = pv.policyLoss({ logp, oldLogp, advantages, mask, seqOffsets }, { agg: 'seq-mean-token-mean' });
  seqOffsets.fill(0x7fffffff, 1, B);  // out of bounds if read after this point
  seqOffsets[0] = -5;
  const got = await pending;
  lossSame &&= got.loss === reference.loss && got.grad.every((g, i) => Object.is(g, reference.grad[i]));
}
const N = 20000, D = 16, V = 50;
const embeddings = new Float32Array(N * D).map((_, i) => Math.sin(i));
const frameOffsets = () => Int32Array.from({ length: V + 1 }, (_, b) => b * (N / V));
const queries = new Float32Array(V * D).map((_, i) => Math.cos(i));
const budgets = () => new Int32Array(V).fill(8);
const want = await pv.selectFrames({ embeddings, frameOffsets: frameOffsets(), queries, dim: D }, { k: budgets(), mode: 'topk-gap', minGap: 3 });
let framesSame = true;
for (let round = 0; round < 20; round++) {
  const fo = frameOffsets(), k = budgets();
  const pending = pv.selectFrames({ embeddings, frameOffsets: fo, queries, dim: D }, { k, mode: 'topk-gap', minGap: 3 });
  fo.fill(0x7fffffff, 1, V);
  k.fill(0x7fffffff);
  const got = await pending;
  framesSame &&= got.indices.every((x, i) => x === want.indices[i]);
}
report({ lossSame, framesSame });
`);
  expect(result).toEqual({ lossSame: true, framesSame: true });
});

test('group ids changed while groupAdvantages and selectRollouts are in flight do not change what the calls read', () => {
  const result = run(`
// Shuffled ids 0..G-1 (the direct-addressing path, whose tables are sized by a first pass) and
// sorted ids (runs counted by a first pass): out-of-range ids written after the call would
// overflow those tables if the kernels read them.
const n = 1 << 18;
const order = Int32Array.from({ length: n }, (_, i) => i);
for (let i = n - 1, s = 7; i > 0; i--) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; const j = s % (i + 1); [order[i], order[j]] = [order[j], order[i]]; }
const rewards = new Float32Array(n).map((_, i) => (i * 37) % 11);
const layouts = { shuffled: () => Int32Array.from(order, (i) => i >> 3), sorted: () => Int32Array.from({ length: n }, (_, i) => i >> 3) };
const hostile = (ids) => { for (let i = 0; i < ids.length; i++) ids[i] = i & 1 ? 0x7fffffff : -0x80000000 + i; };
const same = {};
for (const [name, ids] of Object.entries(layouts)) {
  const wantA = await pv.groupAdvantages(rewards, ids(), { scale: 'group-std', backend: 'cpu' });
  const sel = (groups) => pv.selectRollouts({ rewards, groups, endReasons: new Uint8Array(n), toolImages: new Int32Array(n).fill(1) }, { target: n / 4, backend: 'cpu' });
  const wantS = await sel(ids());
  let ok = true;
  for (let round = 0; round < 10; round++) {
    const g1 = ids(), g2 = ids();
    const pa = pv.groupAdvantages(rewards, g1, { scale: 'group-std', backend: 'cpu' });
    const ps = sel(g2);
    hostile(g1);
    hostile(g2);
    const [a, s] = await Promise.all([pa, ps]);
    ok &&= a.advantages.every((x, i) => Object.is(x, wantA.advantages[i])) && s.indices.every((x, i) => x === wantS.indices[i]);
  }
  same[name] = ok;
}
report(same);
`);
  expect(result).toEqual({ shuffled: true, sorted: true });
});

test('arrays on a SharedArrayBuffer are E_DTYPE, in lib/ and at the native boundary', () => {
  const result = run(`
const { native } = await import(libDir + '/native/addon.js');
const shared = (Ctor, n) => new Ctor(new SharedArrayBuffer(n * Ctor.BYTES_PER_ELEMENT));
const codes = [];
codes.push(await outcome(() => pv.groupAdvantages(shared(Float32Array, 4), new Int32Array(4))));
codes.push(await outcome(() => pv.groupAdvantages(new Float32Array(4), shared(Int32Array, 4))));
codes.push(await outcome(() => pv.accumulativeToolReward(shared(Float32Array, 2), new Int32Array(2))));
codes.push(await outcome(() => pv.policyLoss({ logp: new Float32Array(2), oldLogp: new Float32Array(2), advantages: new Float32Array(2), mask: shared(Uint8Array, 2), seqOffsets: Int32Array.from([0, 2]) })));
codes.push(await outcome(() => pv.selectFrames({ ...tiny, frameOffsets: Object.assign(shared(Int32Array, 2), { 1: 1 }) }, { k: 1, mode: 'topk' })));
codes.push(await outcome(() => pv.frameRelevance({ ...tiny, embeddings: shared(Float32Array, 2) })));
codes.push(await outcome(async () => native().groupAdvantages({ backend: 'cpu', rewards: shared(Float32Array, 4), groups: new Int32Array(4), scale: 'none', eps: 1e-6 })));
codes.push(await outcome(async () => native().frameRelevance({ backend: 'cpu', embeddings: new Float32Array(2), frameOffsets: shared(Int32Array, 2), queries: new Float32Array(2), dim: 2, normalize: false })));
report({ codes });
`);
  expect(result).toEqual({ codes: Array(8).fill('E_DTYPE') });
});

test('a revoked Proxy as input or options is E_ARG, a Proxy of a typed array is E_DTYPE', () => {
  const result = run(`
const revoked = () => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; };
const codes = [];
codes.push(await outcome(() => pv.groupAdvantages(new Float32Array(2), new Int32Array(2), revoked())));
codes.push(await outcome(() => pv.selectRollouts(revoked(), { target: 1 })));
codes.push(await outcome(() => pv.selectRollouts({ rewards: new Float32Array(1), groups: new Int32Array(1), endReasons: new Uint8Array(1), toolImages: new Int32Array(1) }, revoked())));
codes.push(await outcome(() => pv.policyLoss(revoked())));
codes.push(await outcome(() => pv.selectFrames(tiny, revoked())));
codes.push(await outcome(() => pv.frameRelevance(revoked())));
codes.push(await outcome(() => pv.accumulativeToolReward(new Proxy(new Float32Array(2), {}), new Int32Array(2))));
report({ codes });
`);
  expect(result).toEqual({ codes: ['E_ARG', 'E_ARG', 'E_ARG', 'E_ARG', 'E_ARG', 'E_ARG', 'E_DTYPE'] });
});

test('typed arrays from another realm are accepted; a shadowed length does not fool the checks', () => {
  const result = run(`
const vm = await import('node:vm');
const other = vm.runInNewContext('({ r: new Float32Array([1, 0, 2, 2]), g: new Int32Array([3, 3, 4, 4]) })');
const r = await pv.groupAdvantages(other.r, other.g);
const lying = new Float32Array(3);
Object.defineProperty(lying, 'length', { value: 4 });
const code = await outcome(() => pv.groupAdvantages(lying, new Int32Array(4)));
report({ adv: Array.from(r.advantages), code });
`);
  expect(result).toEqual({ adv: [0.5, -0.5, 0, 0], code: 'E_SHAPE' });
});

test('options beyond float32 and rewards that overflow float32 are rejected, not turned into infinity', () => {
  const result = run(`
const acc = Float32Array.from([1, 1]);
const calls = Int32Array.from([10, 0]);
const codes = [];
codes.push(await outcome(() => pv.accumulativeToolReward(acc, calls, { coef: 1e39 })));
codes.push(await outcome(() => pv.accumulativeToolReward(acc, calls, { correctThreshold: -1e39 })));
codes.push(await outcome(() => pv.accumulativeToolReward(acc, calls, { coef: 1e38 })));
codes.push(await outcome(() => pv.groupAdvantages(acc, calls, { scale: 'group-std', eps: 1e39 })));
const loss = { logp: new Float32Array(2), oldLogp: new Float32Array(2), advantages: new Float32Array(2), mask: new Uint8Array(2), seqOffsets: Int32Array.from([0, 2]) };
codes.push(await outcome(() => pv.policyLoss(loss, { clipHigh: 1e39 })));
codes.push(await outcome(() => pv.policyLoss(loss, { dualClip: 1e39 })));
codes.push(await outcome(() => pv.policyLoss({ ...loss, refLogp: new Float32Array(2) }, { klCoef: 1e39 })));
report({ codes });
`);
  expect(result).toEqual({ codes: ['E_ARG', 'E_ARG', 'E_NONFINITE', 'E_ARG', 'E_ARG', 'E_ARG', 'E_ARG'] });
});

/**
 * TrajectoryBuilder.build's lazy `patches` (copied from the segments on first read) against the
 * plain concatenation of the segments' patches, and its behaviour as a property: an ordinary
 * data property once read or assigned, in its place among the keys, copied by spread, JSON and
 * structuredClone.
 */
import { EndReason } from '../../lib/kernels/scoring.js';
import { protocolIds } from '../../lib/rollout/protocol.js';
import { TrajectoryBuilder } from '../../lib/rollout/trajectory.js';
import { mulberry32 } from '../../lib/util/random.js';
import { ToyWorld, type ToyTask } from './toy-world.js';

const world = new ToyWorld();
const ids = protocolIds(world.tokenizer, 'tokenizer');
const limits = { maxTurns: 5, maxSeqLen: 512, maxImages: 32, maxObsTokens: 16, errorFeedback: false };
const KEYS = ['task', 'promptId', 'group', 'sample', 'tokens', 'patches', 'mask', 'logp', 'turns', 'toolCalls', 'toolImages', 'visualTokens', 'endReason', 'answer', 'acc', 'reward', 'turnRecords', 'record'];

/** A builder fed `images` segments of seeded patches (0: an empty patch array too); returns it with the plain concatenation. */
function built(images: number[], seed: number) {
  const r = mulberry32(seed);
  const task = world.tasks('val', 1, 0)[0] as ToyTask;
  const b = new TrajectoryBuilder(task, 0, 0, limits, ids);
  const plain: number[] = [];
  for (const n of images) {
    const np = 4 * n;
    const tokens = new Int32Array(np + (n > 0 ? 2 : 1)).fill(-1);
    tokens[0] = ids.img;
    if (n > 0) tokens[tokens.length - 1] = world.tokenizer.id('</img>');
    const patches = Float32Array.from({ length: np * world.patchDim }, () => r() - 0.5);
    plain.push(...patches);
    b.appendContext({ tokens: n > 0 ? tokens : Int32Array.from([ids.img]), patches: n > 0 ? patches : new Float32Array(0) });
  }
  b.end(EndReason.EXCEED_MAX_TURNS);
  return { t: b.build(world), plain: Float32Array.from(plain) };
}

test('patches read from a built trajectory equal the concatenated segments, for 0, 1 and several segments', () => {
  for (const [k, images] of [[], [1], [1, 0], [1, 2, 1], [3, 1, 1, 1]].entries()) {
    const { t, plain } = built(images, k + 1);
    expect(typeof Object.getOwnPropertyDescriptor(t, 'patches')?.get).toBe('function');
    const first = t.patches;
    expect(first).toBeInstanceOf(Float32Array);
    expect(Array.from(first)).toEqual(Array.from(plain));
    // Settled: a data property holding the same array from now on.
    const d = Object.getOwnPropertyDescriptor(t, 'patches');
    expect([d?.get, d?.writable, d?.enumerable]).toEqual([undefined, true, true]);
    expect(t.patches).toBe(first);
  }
});

test('the lazy property keeps its place among the keys and is copied by spread, JSON and structuredClone', () => {
  const { t, plain } = built([1, 1], 9);
  expect(Object.keys(t)).toEqual(KEYS);
  const spread = { ...t };
  expect(Object.getOwnPropertyDescriptor(spread, 'patches')?.value).toBeInstanceOf(Float32Array);
  expect(Array.from(spread.patches)).toEqual(Array.from(plain));
  expect(Object.keys(t)).toEqual(KEYS);
  const { t: u } = built([2], 10);
  expect(Object.keys(JSON.parse(JSON.stringify(u)))).toContain('patches');
  const { t: w, plain: wp } = built([1, 2], 11);
  expect(Array.from(structuredClone({ patches: w.patches }).patches)).toEqual(Array.from(wp));
});

test('assigning patches before reading them replaces them', () => {
  const { t } = built([1], 12);
  const mine = new Float32Array(3);
  t.patches = mine;
  expect(t.patches).toBe(mine);
  expect(Object.keys(t)).toEqual(KEYS);
});

test('a builder started in given storage (views of a larger, reused buffer) builds what a builder with its own arrays builds', () => {
  const task = world.tasks('val', 1, 0)[0] as ToyTask;
  const slab = { tokens: new Int32Array(3 * 8), mask: new Uint8Array(3 * 8), logp: new Float32Array(3 * 8) };
  // Earlier use left the slab dirty; the caller zeroes mask and logp before handing it out, as rollout() does.
  slab.tokens.fill(77);
  slab.mask.fill(0);
  slab.logp.fill(0);
  const storage = { tokens: slab.tokens.subarray(8, 16), mask: slab.mask.subarray(8, 16), logp: slab.logp.subarray(8, 16) };
  const make = (s?: typeof storage) => {
    const b = new TrajectoryBuilder(task, 0, 0, limits, ids, s);
    b.appendContext({ tokens: Int32Array.from([ids.img, -1, world.tokenizer.id('</img>')]), patches: new Float32Array(world.patchDim).fill(0.25) });
    // 3 + 7 + 3 positions: past the storage's 8, so the builder moves to arrays of its own.
    b.appendSampled(Int32Array.from([ids.code, 5, 6, 7, 8, 9, ids.codeEnd]), Float32Array.from([-1, -2, -3, -4, -5, -6, -7]));
    b.appendContext({ tokens: Int32Array.from([ids.img, -1, world.tokenizer.id('</img>')]), patches: new Float32Array(world.patchDim).fill(-0.25) });
    b.end(EndReason.DONE);
    return b.build(world);
  };
  const own = make();
  const given = make(storage);
  expect([Array.from(given.tokens), Array.from(given.mask), Array.from(given.logp), Array.from(given.patches)]).toEqual([
    Array.from(own.tokens), Array.from(own.mask), Array.from(own.logp), Array.from(own.patches),
  ]);
  // Neighbouring parts of the slab are untouched.
  expect(Array.from(slab.tokens.subarray(0, 8))).toEqual(new Array(8).fill(77));
  expect(Array.from(slab.tokens.subarray(16))).toEqual(new Array(8).fill(77));
});

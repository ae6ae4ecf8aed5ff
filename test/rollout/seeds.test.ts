/** The per-trajectory seed: groupSeeds (the task hashed once) equals trajectorySeed and a written-out SplitMix64 of (seed, id, sample). */
import { groupSeeds, trajectorySeed } from '../../lib/rollout/protocol.js';
import { mulberry32 } from '../../lib/util/random.js';

const M = (1n << 64n) - 1n;
function splitmix(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  return z ^ (z >> 31n);
}
function reference(seed: number, id: string, sample: number): number {
  let h = 0xcbf29ce484222325n;
  for (const unit of Array.from({ length: id.length }, (_, i) => id.charCodeAt(i))) h = ((h ^ BigInt(unit)) * 0x100000001b3n) & M;
  return Number(splitmix(splitmix(splitmix(BigInt(seed)) ^ h) ^ BigInt(sample)) >> 11n);
}

test('groupSeeds, trajectorySeed and the reference agree on seeded and extreme inputs', () => {
  const r = mulberry32(21);
  const ids = ['', 'a', 'vs-train-0-17', 'vs-val-3-4095', 'ünïcödé-✓', 'x'.repeat(300)];
  const seeds = [0, 1, 7, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
  for (let k = 0; k < 20; k++) seeds.push(Math.floor(r() * Number.MAX_SAFE_INTEGER));
  for (const seed of seeds) {
    for (const id of ids) {
      const of = groupSeeds(seed, id);
      for (const sample of [0, 1, 7, 255, 100000]) {
        const want = reference(seed, id, sample);
        expect([seed, id.length, sample, of(sample)]).toEqual([seed, id.length, sample, want]);
        expect(trajectorySeed(seed, id, sample)).toBe(want);
        expect(Number.isSafeInteger(want) && want >= 0).toBe(true);
      }
    }
  }
});

test('the 32-bit hash equals the BigInt reference on 3,000 random ids, seeds and samples', () => {
  const r = mulberry32(5);
  for (let k = 0; k < 3000; k++) {
    const id = String.fromCharCode(...Array.from({ length: Math.floor(r() * 24) }, () => Math.floor(r() * (r() < 0.5 ? 128 : 65536))));
    const seed = r() < 0.3 ? Math.floor(r() * 2 ** 32) : Math.floor(r() * Number.MAX_SAFE_INTEGER);
    const sample = r() < 0.5 ? Math.floor(r() * 64) : Math.floor(r() * Number.MAX_SAFE_INTEGER);
    expect([k, trajectorySeed(seed, id, sample)]).toEqual([k, reference(seed, id, sample)]);
  }
});

/** ViewPatchCache: hits are byte-for-byte equal images and give viewPatches' floats; bounded; errors. */
import { ViewPatchCache, checkViewShape, viewPatches } from '../../lib/index.js';
import type { RgbImage } from '../../lib/index.js';
import { mulberry32 } from '../../lib/util/random.js';

const view = checkViewShape({ width: 16, height: 16, patch: 8 });

function randomImage(seed: number, w: number, h: number): RgbImage {
  const r = mulberry32(seed);
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)) };
}

test('a hit needs the same size and the same bytes, and gives the floats viewPatches computes', () => {
  const cache = new ViewPatchCache(view);
  const a = randomImage(1, 64, 64);
  const first = cache.patches(a);
  expect(Array.from(first)).toEqual(Array.from(viewPatches(a, view)));
  // Another object with the same pixels: a hit, the same (shared) array.
  const copy = { width: 64, height: 64, data: a.data.slice() };
  expect(cache.patches(copy)).toBe(first);
  expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
  // One byte that the key's sample skips (byte 1 of 12288, the sample takes every 12th): a miss, its own floats.
  const near = { width: 64, height: 64, data: a.data.slice() };
  near.data[1] ^= 0xff;
  const got = cache.patches(near);
  expect(got).not.toBe(first);
  expect(Array.from(got)).toEqual(Array.from(viewPatches(near, view)));
  // The same bytes read as another size: a miss.
  const tall = { width: 32, height: 128, data: a.data.slice() };
  expect(Array.from(cache.patches(tall))).toEqual(Array.from(viewPatches(tall, view)));
  expect(cache.stats()).toMatchObject({ hits: 1, misses: 3, entries: 3 });
});

test('the cache keeps its own copy of the pixels: writing the image afterwards is a miss, not a wrong hit', () => {
  const cache = new ViewPatchCache(view);
  const a = randomImage(2, 20, 12);
  const before = cache.patches(a);
  a.data.fill(9);
  const after = cache.patches(a);
  expect(after).not.toBe(before);
  expect(Array.from(after)).toEqual(Array.from(viewPatches(a, view)));
});

test('put adds patches computed elsewhere; entries and bytes are bounded, least recently used first', () => {
  const images = [3, 4, 5, 6].map((s) => randomImage(s, 10, 10));
  const cache = new ViewPatchCache(view, { maxEntries: 2 });
  cache.put(images[0], viewPatches(images[0], view));
  cache.patches(images[1]);
  cache.patches(images[0]); // a hit: images[0] becomes the most recent
  cache.patches(images[2]); // evicts images[1]
  expect(cache.stats()).toMatchObject({ hits: 1, misses: 2, entries: 2 });
  cache.patches(images[0]);
  expect(cache.stats().hits).toBe(2);
  cache.patches(images[1]);
  expect(cache.stats()).toMatchObject({ hits: 2, misses: 3, entries: 2 });
  const entry = 300 + 16 * 16 * 3 * 4; // pixels and patches of one 10 x 10 image
  const small = new ViewPatchCache(view, { maxBytes: 2 * entry });
  for (const img of images) small.patches(img);
  expect(small.stats()).toMatchObject({ entries: 2, bytes: 2 * entry });
  const none = new ViewPatchCache(view, { maxBytes: entry - 1 });
  expect(Array.from(none.patches(images[0]))).toEqual(Array.from(viewPatches(images[0], view)));
  expect(none.stats()).toMatchObject({ entries: 0, bytes: 0 });
});

test('bad views, options and images are rejected naming them', () => {
  expect(() => new ViewPatchCache({ width: 10, height: 16, patch: 8 })).toThrow(/view.width and view.height must be multiples/);
  expect(() => new ViewPatchCache(view, { maxEntries: 0 })).toThrow(/options.maxEntries/);
  expect(() => new ViewPatchCache(view, { maxBytes: 1.5 })).toThrow(/options.maxBytes/);
  expect(() => new ViewPatchCache(view).patches({ width: 2, height: 2, data: new Uint8Array(2) })).toThrow(/image.data/);
});

/**
 * crop's whole-row path, cropShared (a view of whole rows), resize's fast paths (integer downscale, integer upscale, the general
 * separable passes with cached coverage tables) and the fused view (viewPatches, viewPatchesInto)
 * against the plain references of test/reference/image_plain.ts, bit for bit, on seeded images of
 * odd sizes.
 */
import { checkViewShape, crop, cropShared, fitToView, imagePatches, resize, viewPatches, viewPatchesInto } from '../../lib/index.js';
import type { RgbImage } from '../../lib/index.js';
import { mulberry32 } from '../../lib/util/random.js';
import { referenceCrop, referenceResize, referenceViewPatches } from '../reference/image_plain.js';

function randomImage(r: () => number, w: number, h: number, flat = false): RgbImage {
  const data = new Uint8Array(w * h * 3);
  // Some images saturated or flat (all 255: the largest sums), most random.
  const base = Math.floor(r() * 256);
  for (let i = 0; i < data.length; i++) data[i] = flat ? 255 : r() < 0.2 ? base : Math.floor(r() * 256);
  return { width: w, height: h, data };
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return 'none';
}

test('cropShared equals crop: a view of the source for whole rows inside the image, a copy otherwise', () => {
  const r = mulberry32(17);
  const img = randomImage(r, 13, 9);
  const boxes: [number, number, number, number][] = [[0, 0, 13, 9], [0, 2, 13, 5], [0, 8, 13, 9], [0, -3, 13, 4], [0, 6, 13, 14], [0, -5, 13, -1], [1, 0, 13, 9], [0, 0, 12, 9], [-1, 0, 14, 9], [0.4, 1.5, 12.6, 4.5]];
  for (let k = 0; k < 30; k++) {
    const l = Math.floor(r() * 20) - 5;
    const t = Math.floor(r() * 16) - 4;
    boxes.push([l, t, l + 1 + Math.floor(r() * 16), t + 1 + Math.floor(r() * 12)]);
  }
  let views = 0;
  for (const box of boxes) {
    const got = cropShared(img, box);
    const want = crop(img, box);
    expect([box, got.width, got.height, firstDifference(got.data, want.data)]).toEqual([box, want.width, want.height, 'none']);
    const [l, t, rr, b] = box.map(Math.round);
    const inside = l === 0 && rr === 13 && t >= 0 && b <= 9;
    expect([box, got.data.buffer === img.data.buffer]).toEqual([box, inside]);
    if (inside) views++;
  }
  expect(views).toBeGreaterThanOrEqual(4);
  // A Buffer-backed image still gives a plain Uint8Array view.
  const buffered = { width: 13, height: 9, data: Buffer.from(img.data) };
  const view = cropShared(buffered, [0, 2, 13, 5]);
  expect([view.data.constructor, view.data.buffer === buffered.data.buffer]).toEqual([Uint8Array, true]);
  expect(firstDifference(view.data, crop(img, [0, 2, 13, 5]).data)).toBe('none');
  expect(() => cropShared(img, [3, 0, 2, 9])).toThrow(/right/);
});

test('crop equals the reference: whole rows (inside, above, below, taller than the image) and partial rows', () => {
  const r = mulberry32(13);
  const img = randomImage(r, 13, 9);
  const boxes: [number, number, number, number][] = [[0, 0, 13, 9], [0, 2, 13, 5], [0, -3, 13, 4], [0, 6, 13, 14], [0, -2, 13, 12], [0, -5, 13, -1], [0, 10, 13, 12], [1, 0, 13, 9], [0, 0, 12, 9], [-1, 0, 14, 9]];
  for (let k = 0; k < 30; k++) {
    const l = Math.floor(r() * 20) - 5;
    const t = Math.floor(r() * 16) - 4;
    boxes.push([l, t, l + 1 + Math.floor(r() * 16), t + 1 + Math.floor(r() * 12)]);
  }
  for (const box of boxes) {
    const got = crop(img, box);
    const want = referenceCrop(img, box);
    expect([box, got.width, got.height, firstDifference(got.data, want.data)]).toEqual([box, want.width, want.height, 'none']);
  }
});

test('resize equals the reference on every path: integer down / up scales, mixed and general ratios', () => {
  const r = mulberry32(11);
  const cases: [number, number, number, number][] = [
    [256, 256, 64, 64], [128, 96, 64, 48], [12, 12, 4, 3], [7, 5, 1, 1], [9, 9, 3, 9], [30, 1, 5, 1], // integer downscale (and one axis kept)
    [5, 3, 20, 9], [1, 1, 7, 11], [16, 16, 64, 64], [3, 7, 3, 21], // integer upscale
    [48, 48, 64, 64], [37, 53, 64, 59], [100, 70, 64, 45], [64, 64, 63, 61], [255, 3, 64, 1], [1, 300, 1, 64], [10, 20, 20, 10], // general
  ];
  for (let k = 0; k < 40; k++) cases.push([1 + Math.floor(r() * 90), 1 + Math.floor(r() * 90), 1 + Math.floor(r() * 70), 1 + Math.floor(r() * 70)]);
  cases.forEach(([W, H, w, h], k) => {
    for (const flat of [false, true]) {
      const img = randomImage(r, W, H, flat);
      const got = resize(img, w, h);
      const want = referenceResize(img, w, h);
      expect([k, W, H, w, h, flat, firstDifference(got.data, want.data)]).toEqual([k, W, H, w, h, flat, 'none']);
      expect([got.width, got.height]).toEqual([w, h]);
    }
  });
});

test('resize leaves its input alone and returns a new array of the same size', () => {
  const img = randomImage(mulberry32(3), 6, 4);
  const before = img.data.slice();
  const same = resize(img, 6, 4);
  expect(same.data).not.toBe(img.data);
  expect(Array.from(same.data)).toEqual(Array.from(before));
  resize(img, 3, 2);
  resize(img, 12, 8);
  resize(img, 5, 5);
  expect(Array.from(img.data)).toEqual(Array.from(before));
});

test('viewPatches and viewPatchesInto equal fit-then-patch and the reference view', () => {
  const r = mulberry32(5);
  const views = [checkViewShape({ width: 64, height: 64, patch: 16 }), checkViewShape({ width: 24, height: 16, patch: 8 }), checkViewShape({ width: 9, height: 6, patch: 3 })];
  const sizes: [number, number][] = [[256, 256], [64, 64], [32, 32], [48, 48], [37, 53], [300, 20], [1, 1], [1, 40], [96, 64], [128, 200]];
  for (let k = 0; k < 12; k++) sizes.push([1 + Math.floor(r() * 150), 1 + Math.floor(r() * 150)]);
  for (const view of views) {
    for (const [w, h] of sizes) {
      const img = randomImage(r, w, h);
      const label = `${w} x ${h} in ${view.width} x ${view.height} / ${view.patch}`;
      const want = referenceViewPatches(img, view.width, view.height, view.patch);
      expect([label, firstDifference(viewPatches(img, view), want)]).toEqual([label, 'none']);
      expect([label, firstDifference(imagePatches(fitToView(img, view.width, view.height), view.patch), want)]).toEqual([label, 'none']);
      // Into the middle of a larger array: the floats around it are untouched.
      const out = new Float32Array(want.length + 10).fill(7);
      viewPatchesInto(img, view, out, 4);
      expect([label, firstDifference(out.subarray(4, 4 + want.length), want)]).toEqual([label, 'none']);
      expect(Array.from(out.subarray(0, 4))).toEqual([7, 7, 7, 7]);
      expect(Array.from(out.subarray(4 + want.length))).toEqual([7, 7, 7, 7, 7, 7]);
    }
  }
});

test('viewPatchesInto rejects an array without room and a bad view, naming them', () => {
  const img = randomImage(mulberry32(1), 8, 8);
  const view = checkViewShape({ width: 8, height: 8, patch: 4 });
  expect(() => viewPatchesInto(img, view, new Float32Array(191), 0)).toThrow(/out must be a Float32Array with room for 192 floats at offset 0/);
  expect(() => viewPatchesInto(img, view, new Float32Array(192), 1)).toThrow(/offset 1/);
  expect(() => viewPatchesInto(img, view, new Float64Array(192) as unknown as Float32Array, 0)).toThrow(/out must be a Float32Array/);
  expect(() => viewPatchesInto(img, { width: 10, height: 8, patch: 4 }, new Float32Array(240), 0)).toThrow(/multiple of patch/);
  expect(() => viewPatches({ width: 2, height: 2, data: new Uint8Array(3) }, view)).toThrow(/image.data/);
});

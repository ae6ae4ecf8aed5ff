/**
 * CropView (cropShared's crop inside an image, pixels copied on first read): its pixels, its
 * plain-image behaviour (keys, spread, clone), crops of crops, and every reader that takes it in
 * place (resize's paths, fitToView, viewPatches, the view cache) equal to the same calls on the
 * copied crop, bit for bit.
 */
import { CropView, ViewPatchCache, checkViewShape, crop, cropShared, fitToView, resize, viewPatches } from '../../lib/index.js';
import type { RgbImage } from '../../lib/index.js';
import { mulberry32 } from '../../lib/util/random.js';

function randomImage(r: () => number, w: number, h: number): RgbImage {
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)) };
}

function plain(image: RgbImage): RgbImage {
  return { width: image.width, height: image.height, data: Uint8Array.from(image.data) };
}

/** 'same' when the byte arrays are equal, else the first difference. */
function diff(a: Uint8Array | Float32Array, b: Uint8Array | Float32Array): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return 'same';
}

function randomBoxInside(r: () => number, w: number, h: number): [number, number, number, number] {
  const l = Math.floor(r() * w);
  const t = Math.floor(r() * h);
  return [l, t, l + 1 + Math.floor(r() * (w - l)), t + 1 + Math.floor(r() * (h - t))];
}

test('a crop inside the image is a CropView with crop()s pixels, a plain image to spread, clone and list', () => {
  const r = mulberry32(3);
  const img = randomImage(r, 37, 29);
  let wholeRows = 0;
  for (let k = 0; k < 80; k++) {
    const box: [number, number, number, number] = k % 8 === 0 ? [0, k % 5, 37, 29 - (k % 3)] : randomBoxInside(r, 37, 29);
    const got = cropShared(img, box);
    const want = crop(img, box);
    expect(got).toBeInstanceOf(CropView);
    expect(Object.keys(got)).toEqual(['width', 'height', 'data']);
    const spread = { ...got };
    expect(Object.getOwnPropertyDescriptor(spread, 'data')?.value).toBeInstanceOf(Uint8Array);
    expect(structuredClone(got)).toEqual(want);
    expect([box, got.width, got.height, Array.from(got.data)]).toEqual([box, want.width, want.height, Array.from(want.data)]);
    expect(got.data).toBe(got.data); // made once
    // Whole rows: a view of the source's bytes; other boxes: a copy.
    expect([box, got.data.buffer === img.data.buffer]).toEqual([box, box[0] === 0 && box[2] === 37]);
    if (box[0] === 0 && box[2] === 37) wholeRows++;
  }
  // Boxes reaching outside the image are black there: plain copies, as crop().
  for (const box of [[-3, 2, 10, 9], [30, 20, 40, 31], [0, -1, 37, 29]] as const) {
    const got = cropShared(img, box);
    expect(got).not.toBeInstanceOf(CropView);
    expect(Array.from(got.data)).toEqual(Array.from(crop(img, box).data));
  }
  expect(wholeRows).toBeGreaterThanOrEqual(10);
});

test('crops of crops compose: the same pixels as crop() of crop(), whether or not the outer one was read', () => {
  const r = mulberry32(4);
  const img = randomImage(r, 40, 33);
  for (let k = 0; k < 80; k++) {
    const outerBox = randomBoxInside(r, 40, 33);
    const outer = cropShared(img, outerBox);
    if (k % 3 === 0) void outer.data; // read: a crop of it is one of its copy
    const innerBox = k % 5 === 0 ? [-2, -1, outer.width + 1, 3] : randomBoxInside(r, outer.width, outer.height);
    const inner = cropShared(outer, innerBox);
    const want = crop(crop(img, outerBox), innerBox);
    expect([k, inner.width, inner.height, Array.from(inner.data)]).toEqual([k, want.width, want.height, Array.from(want.data)]);
  }
});

test('resize, fitToView and viewPatches read a CropView in place: equal to the copied crop on every path', () => {
  const r = mulberry32(5);
  const img = randomImage(r, 96, 80);
  const view = checkViewShape({ width: 16, height: 16, patch: 8 });
  let cases = 0;
  for (let k = 0; k < 120; k++) {
    const box: [number, number, number, number] = k % 10 === 0 ? [0, k % 7, 96, 80 - (k % 4)] : randomBoxInside(r, 96, 80);
    const w = box[2] - box[0];
    const h = box[3] - box[1];
    // Same size, integer downscale, integer upscale, and general ratios.
    const sizes: [number, number][] = [[w, h], [Math.max(1, Math.floor(w / 2)), Math.max(1, Math.floor(h / 3))], [w * 2, h * 3], [1 + Math.floor(r() * 50), 1 + Math.floor(r() * 50)]];
    if (w % 2 === 0 && h % 3 === 0) sizes.push([w / 2, h / 3]);
    for (const [sw, sh] of sizes) {
      const lazy = cropShared(img, box);
      const got = resize(lazy, sw, sh);
      const want = resize(plain(crop(img, box)), sw, sh);
      expect([box, sw, sh, diff(got.data, want.data)]).toEqual([box, sw, sh, 'same']);
      expect((lazy as CropView).region()).toBeDefined(); // not copied by the resize
      cases++;
    }
    const lazy = cropShared(img, box);
    expect(diff(fitToView(lazy, 16, 16).data, fitToView(plain(crop(img, box)), 16, 16).data)).toBe('same');
    expect(diff(viewPatches(lazy, view), viewPatches(plain(crop(img, box)), view))).toBe('same');
    expect((lazy as CropView).region()).toBeDefined();
  }
  expect(cases).toBeGreaterThan(300);
});

test('the view cache knows an unread CropView by its source and box, and a read one by its bytes', () => {
  const r = mulberry32(6);
  const img = randomImage(r, 64, 48);
  const view = checkViewShape({ width: 16, height: 16, patch: 8 });
  const cache = new ViewPatchCache(view);
  const a = cropShared(img, [3, 4, 35, 30]);
  const first = cache.patches(a);
  expect(Array.from(first)).toEqual(Array.from(viewPatches(crop(img, [3, 4, 35, 30]), view)));
  // The same box of the same source, made again (or as a crop of a crop): a hit.
  expect(cache.patches(cropShared(img, [3, 4, 35, 30]))).toBe(first);
  expect(cache.patches(cropShared(cropShared(img, [1, 2, 60, 40]), [2, 2, 34, 28]))).toBe(first);
  expect(cache.stats()).toMatchObject({ hits: 2, misses: 1, entries: 1 });
  // Another box, or the same box of a source with the same bytes: misses with their own floats.
  const b = cropShared(img, [4, 4, 36, 30]);
  expect(Array.from(cache.patches(b))).toEqual(Array.from(viewPatches(crop(img, [4, 4, 36, 30]), view)));
  const twin = plain(img);
  const c = cache.patches(cropShared(twin, [3, 4, 35, 30]));
  expect(c).not.toBe(first);
  expect(Array.from(c)).toEqual(Array.from(first));
  // A CropView whose pixels were read (and then written) is compared by its bytes: a miss, not a wrong hit.
  const d = cropShared(img, [3, 4, 35, 30]);
  d.data.fill(7);
  const got = cache.patches(d);
  expect(got).not.toBe(first);
  expect(Array.from(got)).toEqual(Array.from(viewPatches({ width: 32, height: 26, data: new Uint8Array(32 * 26 * 3).fill(7) }, view)));
  // The whole image as a crop (what a policy often asks for): a hit by its box, no byte comparison.
  const whole = cache.patches(cropShared(img, [0, 0, 64, 48]));
  expect(cache.patches(cropShared(img, [0, 0, 64, 48]))).toBe(whole);
  expect(Array.from(whole)).toEqual(Array.from(viewPatches(img, view)));
  // The region entry holds no copy of the pixels: its bytes are the patches'.
  const fresh = new ViewPatchCache(view);
  fresh.patches(cropShared(img, [3, 4, 35, 30]));
  expect(fresh.stats().bytes).toBe(first.byteLength);
});

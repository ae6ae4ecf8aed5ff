/** The policy's view of an image: fit with aspect kept on black, patch layout, value scaling. */
import { PyVisionError, checkViewShape, fitToView, fittedSize, imageFromPixels, imagePatches, patchCount, patchDim, viewPatches } from '../../lib/index.js';
import type { RgbImage } from '../../lib/index.js';

function solid(w: number, h: number, rgb: number[]): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, i * 3);
  return { width: w, height: h, data };
}

test('fittedSize keeps the aspect, rounding the short side half up', () => {
  expect(fittedSize(256, 256, 64, 64)).toEqual([64, 64]);
  expect(fittedSize(200, 100, 64, 64)).toEqual([64, 32]);
  expect(fittedSize(100, 300, 64, 64)).toEqual([21, 64]); // 21.33
  expect(fittedSize(300, 1, 64, 64)).toEqual([64, 1]); // at least one pixel
  expect(fittedSize(10, 10, 64, 32)).toEqual([32, 32]);
});

test('fitToView centres the resized image on black', () => {
  const view = fitToView(solid(40, 20, [255, 128, 0]), 8, 8); // -> 8 x 4 at rows 2..5
  expect([view.width, view.height]).toEqual([8, 8]);
  const row = (y: number) => Array.from(view.data.subarray(y * 24, y * 24 + 3));
  expect(row(0)).toEqual([0, 0, 0]);
  expect(row(1)).toEqual([0, 0, 0]);
  expect(row(2)).toEqual([255, 128, 0]);
  expect(row(5)).toEqual([255, 128, 0]);
  expect(row(6)).toEqual([0, 0, 0]);
});

test('patches are row-major, pixels row-major inside a patch, RGB interleaved, scaled to [-0.5, 0.5]', () => {
  // 4 x 2 image, patch 2: two patches side by side.
  const data: number[] = [];
  for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) data.push(x * 60, y * 255, 0);
  const p = imagePatches(imageFromPixels(4, 2, data), 2);
  expect(p.length).toBe(2 * 12);
  const v = (b: number) => Math.fround(b / 255 - 0.5);
  // patch 0, pixel (0, 0) then (1, 0) then (0, 1)
  expect(Array.from(p.subarray(0, 9))).toEqual([v(0), v(0), v(0), v(60), v(0), v(0), v(0), v(255), v(0)]);
  // patch 1 starts at image pixel (2, 0)
  expect(Array.from(p.subarray(12, 15))).toEqual([v(120), v(0), v(0)]);
  expect(Math.min(...p)).toBeCloseTo(-0.5, 6);
  expect(Math.max(...p)).toBeCloseTo(0.5, 6);
});

test('viewPatches of a 256 x 256 image at 64 / 16', () => {
  const shape = checkViewShape({ width: 64, height: 64, patch: 16 });
  expect(patchCount(shape)).toBe(16);
  expect(patchDim(shape)).toBe(768);
  expect(viewPatches(solid(256, 256, [255, 255, 255]), shape).every((x) => x === 0.5)).toBe(true);
});

test('bad view shapes and images are rejected naming the argument', () => {
  expect(() => checkViewShape({ width: 60, height: 64, patch: 16 })).toThrow(/multiples of view.patch/);
  expect(() => checkViewShape({ width: 64, height: 64, patch: 0 })).toThrow(/view.patch/);
  expect(() => imagePatches(solid(6, 4, [0, 0, 0]), 4)).toThrow(PyVisionError);
  expect(() => fitToView({ width: 0, height: 1, data: new Uint8Array(0) }, 8, 8)).toThrow(/image.width/);
});

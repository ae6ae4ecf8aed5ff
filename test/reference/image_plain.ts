/**
 * Plain references of lib/image's crop, area-average resize and the policy's view: one pixel at a
 * time from the formulas of lib/image/ops.ts's and view.ts's file comments (every output pixel of
 * resize from its integer overlaps, no fast path; the view as fit-then-patch with one division per
 * value). The fast paths are compared with these bit for bit (test/image/fast-paths.test.ts).
 */
import type { RgbImage } from '../../lib/util/rgb.js';
import { fittedSize } from '../../lib/image/view.js';

/** PIL's crop of an already rounded box: pixel (x, y) of the result is (l + x, t + y) of the image, black outside. */
export function referenceCrop(image: RgbImage, box: readonly [number, number, number, number]): RgbImage {
  const [l, t, r, b] = box;
  const w = r - l;
  const h = b - t;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = l + x;
      const sy = t + y;
      if (sx < 0 || sy < 0 || sx >= image.width || sy >= image.height) continue;
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = image.data[(sy * image.width + sx) * 3 + c];
    }
  }
  return { width: w, height: h, data: out };
}

/** floor((2 s + d) / (2 d)) for non-negative integers s, d below 2^51: the float quotient, then corrected in exact integers. */
function roundedQuotient(s: number, d: number): number {
  const n = 2 * s + d;
  let q = Math.floor(n / (2 * d));
  while (q * 2 * d > n) q--;
  while ((q + 1) * 2 * d <= n) q++;
  return q;
}

/** Area average: output (i, j) covers [i W / w, (i + 1) W / w) x [j H / h, (j + 1) H / h); exact overlaps. */
export function referenceResize(image: RgbImage, width: number, height: number): RgbImage {
  const W = image.width;
  const H = image.height;
  const overlap = (n: number, m: number, i: number, s: number) => Math.max(0, Math.min((s + 1) * m, (i + 1) * n) - Math.max(s * m, i * n));
  const out = new Uint8Array(width * height * 3);
  for (let j = 0; j < height; j++) {
    const y0 = Math.floor((j * H) / height);
    const y1 = Math.ceil(((j + 1) * H) / height);
    for (let i = 0; i < width; i++) {
      const x0 = Math.floor((i * W) / width);
      const x1 = Math.ceil(((i + 1) * W) / width);
      const sum = [0, 0, 0];
      for (let y = y0; y < y1; y++) {
        const wy = overlap(H, height, j, y);
        for (let x = x0; x < x1; x++) {
          const weight = overlap(W, width, i, x) * wy;
          for (let c = 0; c < 3; c++) sum[c] += image.data[(y * W + x) * 3 + c] * weight;
        }
      }
      for (let c = 0; c < 3; c++) out[(j * width + i) * 3 + c] = roundedQuotient(sum[c], W * H);
    }
  }
  return { width, height, data: out };
}

/** The view: referenceResize to fittedSize, centred on black, patched with byte / 255 - 0.5 per value. */
export function referenceViewPatches(image: RgbImage, viewWidth: number, viewHeight: number, patch: number): Float32Array {
  const [w, h] = fittedSize(image.width, image.height, viewWidth, viewHeight);
  const scaled = referenceResize(image, w, h);
  const ox = Math.floor((viewWidth - w) / 2);
  const oy = Math.floor((viewHeight - h) / 2);
  const pixel = (x: number, y: number, c: number) =>
    x < ox || y < oy || x >= ox + w || y >= oy + h ? 0 : scaled.data[((y - oy) * w + (x - ox)) * 3 + c];
  const across = viewWidth / patch;
  const out = new Float32Array(viewWidth * viewHeight * 3);
  for (let y = 0; y < viewHeight; y++) {
    for (let x = 0; x < viewWidth; x++) {
      const p = Math.floor(y / patch) * across + Math.floor(x / patch);
      for (let c = 0; c < 3; c++) out[p * patch * patch * 3 + ((y % patch) * patch + (x % patch)) * 3 + c] = pixel(x, y, c) / 255 - 0.5;
    }
  }
  return out;
}

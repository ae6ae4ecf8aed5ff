/**
 * Image operations with the meaning the sandbox's built-ins give them (PIL's
 * where PIL defines one). Everything is exact integer or IEEE-double
 * arithmetic in a fixed order, so test/reference/image_builtins.py (numpy)
 * reproduces every pixel bit for bit:
 *
 *   crop(box)      PIL Image.crop: box (left, top, right, bottom) in pixels, each coordinate
 *                  rounded like Python's round() (half to even), as PIL's _crop does; the
 *                  parts outside the image are black. right < left or bottom < top is an error
 *                  (checked before rounding, as PIL does); an empty result is an error here
 *                  (PIL would return a 0-pixel image, which cannot be shown).
 *   resize(w, h)   area average: output pixel (i, j) covers the source rectangle
 *                  [i W / w, (i + 1) W / w) x [j H / h, (j + 1) H / h); each source pixel
 *                  contributes by its exact (rational) overlap; the mean is rounded half up.
 *                  Computed in integers (overlaps in units of 1 / (w h)), so it is exact.
 *                  The same filter as PIL's BOX resampling, in exact arithmetic (PIL's own
 *                  fixed-point implementation is not compared with it here).
 *   rotate(deg)    PIL Image.rotate(deg) with its defaults: counter-clockwise about the centre
 *                  (w / 2, h / 2), same size, nearest neighbour, black fill. The angle is taken
 *                  modulo 360 as Python's float %; the affine matrix is PIL's (cos and sin of
 *                  -radians(angle) rounded to 15 decimals, which makes multiples of 90 exact);
 *                  output pixel (x, y) samples the source at
 *                  (a (x + 0.5) + b (y + 0.5) + c, d (x + 0.5) + e (y + 0.5) + f), truncated
 *                  (negative -> outside), evaluated per pixel in that order.
 *   meanColor      per-channel mean over all pixels, rounded half up, as integers.
 */
import { PyVisionError, describe } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';
import { MAX_IMAGE_SIDE, checkImage, checkSide } from './image.js';

/** Python's round(x) for a finite double: nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f; // exact for doubles
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Python's float x % y for y > 0 (the result has y's sign; -0.0 becomes 0.0). */
export function pyFloatMod(x: number, y: number): number {
  let mod = x % y;
  if (mod !== 0) {
    if (mod < 0 !== y < 0) mod += y;
  } else {
    mod = 0 * y; // copysign(0, y)
  }
  return mod;
}

/** Python's round(x, 15) for |x| <= 1 (correctly rounded decimal, as CPython's). */
function round15(x: number): number {
  // toFixed picks the decimal nearest to the exact double (no ties exist at 15 places for
  // |x| <= 1), and Number() rounds it back correctly: the same steps as CPython's round.
  return Number(x.toFixed(15));
}

export type Box = readonly [number, number, number, number];

/**
 * The integer box crop() uses for `box` (PIL's rounding). Throws E_ARG naming `name` for a box
 * that is not 4 finite numbers, for right < left or bottom < top, and for an empty box.
 */
export function cropBox(box: unknown, name = 'box'): Box {
  if (!Array.isArray(box) || box.length !== 4) {
    throw new PyVisionError('E_ARG', `${name} must be [left, top, right, bottom], got ${describe(box)}`);
  }
  for (let k = 0; k < 4; k++) {
    if (typeof box[k] !== 'number' || !Number.isFinite(box[k])) {
      throw new PyVisionError('E_ARG', `${name}[${k}] must be a finite number, got ${describe(box[k])}`);
    }
  }
  const [l, t, r, b] = box as number[];
  if (r < l) throw new PyVisionError('E_ARG', `${name}: right (${r}) is less than left (${l})`);
  if (b < t) throw new PyVisionError('E_ARG', `${name}: bottom (${b}) is less than top (${t})`);
  const out: Box = [roundHalfEven(l), roundHalfEven(t), roundHalfEven(r), roundHalfEven(b)];
  if (out[2] - out[0] < 1 || out[3] - out[1] < 1) {
    throw new PyVisionError('E_ARG', `${name} ${JSON.stringify(box)} is empty after rounding to ${JSON.stringify(out)}`);
  }
  if (out[2] - out[0] > MAX_IMAGE_SIDE || out[3] - out[1] > MAX_IMAGE_SIDE) {
    throw new PyVisionError('E_ARG', `${name} ${JSON.stringify(box)} gives a crop larger than ${MAX_IMAGE_SIDE} pixels on a side`);
  }
  return out;
}

/** PIL's Image.crop(box): see the file comment. */
export function crop(image: RgbImage, box: readonly number[]): RgbImage {
  checkImage(image);
  const [l, t, r, b] = cropBox(box);
  const w = r - l;
  const h = b - t;
  const out = new Uint8Array(w * h * 3);
  const x0 = Math.max(l, 0);
  const x1 = Math.min(r, image.width);
  if (x1 > x0) {
    for (let y = Math.max(t, 0); y < Math.min(b, image.height); y++) {
      const src = (y * image.width + x0) * 3;
      out.set(image.data.subarray(src, src + (x1 - x0) * 3), ((y - t) * w + (x0 - l)) * 3);
    }
  }
  return { width: w, height: h, data: out };
}

/** Source pixels and integer overlaps of each output pixel along one axis (units of 1 / (n m)). */
function coverage(n: number, m: number): { start: Int32Array; weights: number[][] } {
  // Output pixel i covers [i n, (i + 1) n); source pixel s covers [s m, (s + 1) m).
  const start = new Int32Array(m);
  const weights: number[][] = [];
  for (let i = 0; i < m; i++) {
    const lo = i * n;
    const hi = (i + 1) * n;
    const s0 = Math.floor(lo / m);
    const s1 = Math.ceil(hi / m); // exclusive
    start[i] = s0;
    const row: number[] = [];
    for (let s = s0; s < s1; s++) row.push(Math.min((s + 1) * m, hi) - Math.max(s * m, lo));
    weights.push(row);
  }
  return { start, weights };
}

/** Area-average resize to width x height (see the file comment). */
export function resize(image: RgbImage, width: number, height: number): RgbImage {
  checkImage(image);
  checkSide(width, 'width');
  checkSide(height, 'height');
  const W = image.width;
  const H = image.height;
  if (W === width && H === height) return { width, height, data: image.data.slice() };
  const cx = coverage(W, width);
  const cy = coverage(H, height);
  const src = image.data;
  // Horizontal pass: sums in units of 1 / width (integers up to 255 * W).
  const rows = new Float64Array(H * width * 3);
  for (let y = 0; y < H; y++) {
    for (let i = 0; i < width; i++) {
      const ws = cx.weights[i];
      let r = 0;
      let g = 0;
      let b = 0;
      let p = (y * W + cx.start[i]) * 3;
      for (let k = 0; k < ws.length; k++, p += 3) {
        r += src[p] * ws[k];
        g += src[p + 1] * ws[k];
        b += src[p + 2] * ws[k];
      }
      const o = (y * width + i) * 3;
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  // Vertical pass: sums up to 255 * W * H (exact in doubles), then the rounded mean.
  const area = W * H;
  const out = new Uint8Array(width * height * 3);
  for (let j = 0; j < height; j++) {
    const ws = cy.weights[j];
    const t0 = cy.start[j];
    for (let i = 0; i < width * 3; i++) {
      let s = 0;
      for (let k = 0; k < ws.length; k++) s += rows[(t0 + k) * width * 3 + i] * ws[k];
      out[j * width * 3 + i] = roundedQuotient(s, area);
    }
  }
  return { width, height, data: out };
}

/** floor((2 s + d) / (2 d)) for non-negative integers s, d (exact). */
function roundedQuotient(s: number, d: number): number {
  // n and 2 d are integers below 2^53 and the quotient is at most 255, so the correctly rounded
  // division is within one unit of the exact quotient; one comparison each way fixes it.
  const n = 2 * s + d;
  const dd = 2 * d;
  const q = Math.floor(n / dd);
  const rest = n - q * dd;
  return rest < 0 ? q - 1 : rest >= dd ? q + 1 : q;
}

/** PIL's Image.rotate(degrees): see the file comment. */
export function rotate(image: RgbImage, degrees: number): RgbImage {
  checkImage(image);
  if (typeof degrees !== 'number' || !Number.isFinite(degrees)) {
    throw new PyVisionError('E_ARG', `degrees must be a finite number, got ${describe(degrees)}`);
  }
  const angle = pyFloatMod(degrees, 360);
  const { width: w, height: h, data: src } = image;
  if (angle === 0) return { width: w, height: h, data: src.slice() };
  const rad = -(angle * (Math.PI / 180));
  const a = round15(Math.cos(rad));
  const b = round15(Math.sin(rad));
  const d = round15(-Math.sin(rad));
  const e = a;
  const cx = w / 2;
  const cy = h / 2;
  const c = a * -cx + b * -cy + 0.0 + cx;
  const f = d * -cx + e * -cy + 0.0 + cy;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < w; x++) {
      const xc = x + 0.5;
      const u = a * xc + b * yc + c;
      const v = d * xc + e * yc + f;
      if (u < 0 || v < 0) continue;
      const xi = Math.trunc(u);
      const yi = Math.trunc(v);
      if (xi >= w || yi >= h) continue;
      const s = (yi * w + xi) * 3;
      const o = (y * w + x) * 3;
      out[o] = src[s];
      out[o + 1] = src[s + 1];
      out[o + 2] = src[s + 2];
    }
  }
  return { width: w, height: h, data: out };
}

/** Per-channel mean colour, rounded half up: [r, g, b] integers in [0, 255]. */
export function meanColor(image: RgbImage): [number, number, number] {
  checkImage(image);
  const sums = [0, 0, 0];
  const { data } = image;
  for (let p = 0; p < data.length; p += 3) {
    sums[0] += data[p];
    sums[1] += data[p + 1];
    sums[2] += data[p + 2];
  }
  const n = image.width * image.height;
  return [roundedQuotient(sums[0], n), roundedQuotient(sums[1], n), roundedQuotient(sums[2], n)];
}

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
import { CropView, MAX_IMAGE_SIDE, checkImage, checkSide } from './image.js';

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
  const y0 = Math.max(t, 0);
  const y1 = Math.min(b, image.height);
  if (l === 0 && r === image.width) {
    // Whole rows: one copy of the rows inside the image.
    if (y1 > y0) out.set(image.data.subarray(y0 * w * 3, y1 * w * 3), (y0 - t) * w * 3);
  } else if (x1 > x0) {
    for (let y = y0; y < y1; y++) {
      const src = (y * image.width + x0) * 3;
      out.set(image.data.subarray(src, src + (x1 - x0) * 3), ((y - t) * w + (x0 - l)) * 3);
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * crop() for callers that never write into images (the sandbox's Image objects): the same pixels
 * without copying them where it can. A box inside the image is a CropView: read in place by resize,
 * the view and the view cache, its `data` made on first read (a view of the source's bytes for
 * whole rows, a copy otherwise); a crop of a CropView is one of its source. A box reaching outside
 * the image is crop().
 */
export function cropShared(image: RgbImage, box: readonly number[]): RgbImage {
  checkImage(image);
  const [l, t, r, b] = cropBox(box);
  if (l < 0 || t < 0 || r > image.width || b > image.height) return crop(image, box);
  const region = image instanceof CropView ? image.region() : undefined;
  if (region !== undefined) return new CropView(region.source, region.left + l, region.top + t, r - l, b - t);
  return new CropView(image, l, t, r - l, b - t);
}

/**
 * Source pixels and integer overlaps of each output pixel along one axis (units of 1 / (n m)):
 * output i covers [i n, (i + 1) n), source s covers [s m, (s + 1) m); output i reads the
 * sources start[i] .. start[i] + taps[i] - 1 with weights weights[i * maxTaps + k].
 */
interface AxisCoverage {
  start: Int32Array;
  taps: Int32Array;
  maxTaps: number;
  weights: Float64Array;
}

/** Coverage tables by `${n} ${m}` (a handful of shapes repeat: crops and the view); bounded. */
const COVERAGE = new Map<string, AxisCoverage>();

function coverage(n: number, m: number): AxisCoverage {
  const key = `${n} ${m}`;
  const cached = COVERAGE.get(key);
  if (cached !== undefined) return cached;
  const maxTaps = Math.ceil(n / m) + 1;
  const start = new Int32Array(m);
  const taps = new Int32Array(m);
  const weights = new Float64Array(m * maxTaps);
  for (let i = 0; i < m; i++) {
    const lo = i * n;
    const hi = (i + 1) * n;
    const s0 = Math.floor(lo / m);
    const s1 = Math.ceil(hi / m); // exclusive
    start[i] = s0;
    taps[i] = s1 - s0;
    for (let s = s0; s < s1; s++) weights[i * maxTaps + (s - s0)] = Math.min((s + 1) * m, hi) - Math.max(s * m, lo);
  }
  const table = { start, taps, maxTaps, weights };
  if (COVERAGE.size >= 256) COVERAGE.delete(COVERAGE.keys().next().value as string);
  COVERAGE.set(key, table);
  return table;
}

/** Scratch of the horizontal pass, grown as needed (resizeInto is synchronous, so one is enough). */
let rowsScratch = new Float64Array(0);

/** round-half-up means of box sums of d pixels: QUOTIENTS(d)[s] = floor((2 s + d) / (2 d)), s in [0, 255 d]. */
const QUOTIENTS = new Map<number, Uint8Array>();

function quotients(d: number): Uint8Array {
  let q = QUOTIENTS.get(d);
  if (q === undefined) {
    q = new Uint8Array(255 * d + 1);
    for (let s = 0; s < q.length; s++) q[s] = Math.floor((2 * s + d) / (2 * d)); // small integers: exact
    if (QUOTIENTS.size >= 64) QUOTIENTS.delete(QUOTIENTS.keys().next().value as number);
    QUOTIENTS.set(d, q);
  }
  return q;
}

/** Area-average resize to width x height (see the file comment). */
export function resize(image: RgbImage, width: number, height: number): RgbImage {
  checkImage(image);
  checkSide(width, 'width');
  checkSide(height, 'height');
  const out = new Uint8Array(width * height * 3);
  resizeInto(image, width, height, out, 0, width * 3);
  return { width, height, data: out };
}

/**
 * resize()'s pixels written into `out`: output row j at out[offset + j * stride ..], RGB
 * interleaved (the caller checked the image, the sizes and that `out` holds them). Three paths
 * with the same result, every one the exact area average of the file comment:
 *   - integer downscale (W = kx width, H = ky height): every source pixel lies inside one output
 *     pixel with the full weight, so the mean is floor((2 sum + kx ky) / (2 kx ky)) of the kx x ky
 *     block's plain sum (the rational mean of the general formula, reduced);
 *   - integer upscale (width = kx W, height = ky H): every output pixel lies inside one source
 *     pixel, whose value it is;
 *   - the general case: the two separable passes with the integer overlaps (sums below 2^53,
 *     exact in doubles in any order), then the rounded quotient.
 */
export function resizeInto(image: RgbImage, width: number, height: number, out: Uint8Array, offset: number, stride: number): void {
  const W = image.width;
  const H = image.height;
  // Source pixel (x, y) at src[base + y * srcRow + 3 x]: a CropView not yet copied is read in its source.
  const region = image instanceof CropView ? image.region() : undefined;
  const src = region !== undefined ? region.source.data : image.data;
  const srcRow = region !== undefined ? region.source.width * 3 : W * 3;
  const base = region !== undefined ? region.top * srcRow + region.left * 3 : 0;
  const rowBytes = width * 3;
  if (W === width && H === height) {
    for (let y = 0; y < H; y++) out.set(src.subarray(base + y * srcRow, base + y * srcRow + rowBytes), offset + y * stride);
    return;
  }
  if (W % width === 0 && H % height === 0 && (W / width) * (H / height) <= 65536) {
    const kx = W / width;
    const ky = H / height;
    const q = quotients(kx * ky);
    for (let j = 0; j < height; j++) {
      const o = offset + j * stride;
      const top = base + j * ky * srcRow;
      for (let i = 0; i < width; i++) {
        let r = 0;
        let g = 0;
        let b = 0;
        let p = top + i * kx * 3;
        for (let y = 0; y < ky; y++, p += srcRow) {
          let s = p;
          for (let x = 0; x < kx; x++, s += 3) {
            r += src[s];
            g += src[s + 1];
            b += src[s + 2];
          }
        }
        out[o + 3 * i] = q[r];
        out[o + 3 * i + 1] = q[g];
        out[o + 3 * i + 2] = q[b];
      }
    }
    return;
  }
  if (width % W === 0 && height % H === 0) {
    const kx = width / W;
    const ky = height / H;
    for (let j = 0; j < height; j++) {
      const o = offset + j * stride;
      let s = base + Math.floor(j / ky) * srcRow;
      for (let x = 0; x < W; x++, s += 3) {
        const r = src[s];
        const g = src[s + 1];
        const b = src[s + 2];
        for (let k = 0, t = o + x * kx * 3; k < kx; k++, t += 3) {
          out[t] = r;
          out[t + 1] = g;
          out[t + 2] = b;
        }
      }
    }
    return;
  }
  const cx = coverage(W, width);
  const cy = coverage(H, height);
  // Horizontal pass: sums in units of 1 / width (integers up to 255 * W).
  if (rowsScratch.length < H * rowBytes) rowsScratch = new Float64Array(H * rowBytes);
  const rows = rowsScratch;
  const xw = cx.weights;
  const xTaps = cx.maxTaps;
  for (let y = 0; y < H; y++) {
    const line = base + y * srcRow;
    let o = y * rowBytes;
    for (let i = 0; i < width; i++, o += 3) {
      const n = cx.taps[i];
      const w0 = i * xTaps;
      let r = 0;
      let g = 0;
      let b = 0;
      let p = line + cx.start[i] * 3;
      for (let k = 0; k < n; k++, p += 3) {
        const w = xw[w0 + k];
        r += src[p] * w;
        g += src[p + 1] * w;
        b += src[p + 2] * w;
      }
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  // Vertical pass: sums up to 255 * W * H (exact in doubles), then the rounded mean.
  const area = W * H;
  const yw = cy.weights;
  const yTaps = cy.maxTaps;
  for (let j = 0; j < height; j++) {
    const n = cy.taps[j];
    const w0 = j * yTaps;
    const t0 = cy.start[j] * rowBytes;
    const o = offset + j * stride;
    for (let i = 0; i < rowBytes; i++) {
      let s = 0;
      for (let k = 0, at = t0 + i; k < n; k++, at += rowBytes) s += rows[at] * yw[w0 + k];
      out[o + i] = roundedQuotient(s, area);
    }
  }
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

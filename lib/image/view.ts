/**
 * What the policy sees of an image (docs/agent.md, "Images and observations"):
 * the image resized by area average to fit the view with its aspect kept, centred
 * on black padding, cut into square patches in row-major order, each patch's
 * pixels row-major with R, G, B interleaved and scaled to [-0.5, 0.5]:
 *
 *   patch index   p = py * (viewWidth / patch) + px
 *   float index   p * patchDim + ((y * patch + x) * 3 + channel),   patchDim = patch * patch * 3
 *   value         byte / 255 - 0.5
 */
import { PyVisionError } from '../util/errors.js';
import { number } from '../util/validate.js';
import type { RgbImage } from '../util/rgb.js';
import { blankImage, checkImage } from './image.js';
import { resize } from './ops.js';

export interface ViewShape {
  /** View width in pixels (a multiple of patch). */
  width: number;
  /** View height in pixels (a multiple of patch). */
  height: number;
  /** Side of a square patch in pixels. */
  patch: number;
}

/** Validates a view shape: positive integers, sides multiples of the patch. */
export function checkViewShape(view: ViewShape, name = 'view'): ViewShape {
  const patch = number(view?.patch, `${name}.patch`, { integer: true, min: 1, max: 256 });
  const width = number(view?.width, `${name}.width`, { integer: true, min: patch, max: 4096 });
  const height = number(view?.height, `${name}.height`, { integer: true, min: patch, max: 4096 });
  if (width % patch !== 0 || height % patch !== 0) {
    throw new PyVisionError('E_ARG', `${name}.width and ${name}.height must be multiples of ${name}.patch (${patch}), got ${width} x ${height}`);
  }
  return { width, height, patch };
}

/** Patches of one view: (width / patch) * (height / patch). */
export function patchCount(view: ViewShape): number {
  return (view.width / view.patch) * (view.height / view.patch);
}

/** Floats per patch: patch * patch * 3. */
export function patchDim(view: ViewShape): number {
  return view.patch * view.patch * 3;
}

/**
 * The size an image of width x height is resized to inside the view: the largest that fits with
 * the aspect kept, the shorter side rounded half up from the exact ratio (at least 1 pixel).
 */
export function fittedSize(width: number, height: number, viewWidth: number, viewHeight: number): [number, number] {
  if (width * viewHeight >= height * viewWidth) {
    return [viewWidth, Math.min(viewHeight, Math.max(1, Math.floor((2 * height * viewWidth + width) / (2 * width))))];
  }
  return [Math.min(viewWidth, Math.max(1, Math.floor((2 * width * viewHeight + height) / (2 * height)))), viewHeight];
}

/** The image as the view shows it: resized to fittedSize and centred on black (left / top offsets floor). */
export function fitToView(image: RgbImage, viewWidth: number, viewHeight: number): RgbImage {
  checkImage(image);
  const [w, h] = fittedSize(image.width, image.height, viewWidth, viewHeight);
  const scaled = resize(image, w, h);
  if (w === viewWidth && h === viewHeight) return scaled;
  const out = blankImage(viewWidth, viewHeight);
  const ox = Math.floor((viewWidth - w) / 2);
  const oy = Math.floor((viewHeight - h) / 2);
  for (let y = 0; y < h; y++) {
    out.data.set(scaled.data.subarray(y * w * 3, (y + 1) * w * 3), ((y + oy) * viewWidth + ox) * 3);
  }
  return out;
}

/** Cuts an image whose size is the view's into patches (the layout in the file comment). */
export function imagePatches(view: RgbImage, patch: number): Float32Array {
  checkImage(view, 'view');
  number(patch, 'patch', { integer: true, min: 1 });
  if (view.width % patch !== 0 || view.height % patch !== 0) {
    throw new PyVisionError('E_ARG', `view size ${view.width} x ${view.height} must be a multiple of patch (${patch})`);
  }
  const across = view.width / patch;
  const down = view.height / patch;
  const dim = patch * patch * 3;
  const out = new Float32Array(across * down * dim);
  let o = 0;
  for (let py = 0; py < down; py++) {
    for (let px = 0; px < across; px++) {
      for (let y = 0; y < patch; y++) {
        let s = ((py * patch + y) * view.width + px * patch) * 3;
        for (let k = 0; k < patch * 3; k++) out[o++] = view.data[s++] / 255 - 0.5;
      }
    }
  }
  return out;
}

/** fitToView then imagePatches: the patchCount(view) * patchDim(view) floats of one image observation. */
export function viewPatches(image: RgbImage, view: ViewShape): Float32Array {
  return imagePatches(fitToView(image, view.width, view.height), view.patch);
}

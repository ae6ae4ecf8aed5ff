/**
 * RGB8 images (lib/util/rgb.ts): construction and validation. Every image
 * function of lib/image/ takes and returns plain RgbImage records.
 */
import { PyVisionError, describe } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';

export type { RgbImage };

/** Largest width or height any image function accepts or creates. */
export const MAX_IMAGE_SIDE = 16384;

/** A black (all zero) image of width x height. */
export function blankImage(width: number, height: number, name = 'size'): RgbImage {
  checkSide(width, `${name} width`);
  checkSide(height, `${name} height`);
  return { width, height, data: new Uint8Array(width * height * 3) };
}

/** An image from its pixels (width * height * 3 bytes, R G B interleaved, row-major); the bytes are copied. */
export function imageFromPixels(width: number, height: number, data: ArrayLike<number>, name = 'data'): RgbImage {
  checkSide(width, 'width');
  checkSide(height, 'height');
  if (data === null || typeof data !== 'object' || typeof (data as { length?: unknown }).length !== 'number') {
    throw new PyVisionError('E_ARG', `${name} must be an array of width * height * 3 bytes, got ${describe(data)}`);
  }
  if (data.length !== width * height * 3) {
    throw new PyVisionError('E_SHAPE', `${name} must have width * height * 3 = ${width * height * 3} entries, got ${data.length}`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < out.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < 0 || v > 255) {
      throw new PyVisionError('E_ARG', `${name}[${i}] must be an integer in [0, 255], got ${describe(v)}`);
    }
    out[i] = v;
  }
  return { width, height, data: out };
}

/** Checks that a value is a well-formed RgbImage (positive integer sizes, a Uint8Array of the right length). */
export function checkImage(value: unknown, name = 'image'): RgbImage {
  if (value === null || typeof value !== 'object') {
    throw new PyVisionError('E_ARG', `${name} must be an RgbImage { width, height, data }, got ${describe(value)}`);
  }
  const image = value as Partial<RgbImage>;
  checkSide(image.width, `${name}.width`);
  checkSide(image.height, `${name}.height`);
  if (!(image.data instanceof Uint8Array)) {
    throw new PyVisionError('E_DTYPE', `${name}.data must be a Uint8Array, got ${describe(image.data)}`);
  }
  const want = (image.width as number) * (image.height as number) * 3;
  if (image.data.length !== want) {
    throw new PyVisionError('E_SHAPE', `${name}.data must have width * height * 3 = ${want} bytes, got ${image.data.length}`);
  }
  return image as RgbImage;
}

export function checkSide(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_IMAGE_SIDE) {
    throw new PyVisionError('E_ARG', `${name} must be an integer in [1, ${MAX_IMAGE_SIDE}], got ${describe(value)}`);
  }
  return value;
}

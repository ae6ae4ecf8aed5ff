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

/**
 * A crop of an image whose pixels never change, that copies them only when its `data` is read:
 * resizeInto and the view cache read them from the source in place instead. cropShared makes one
 * for a box inside an image (the sandbox's crops: their pixels mostly go straight to the view, and
 * a fresh copy of a crop costs its page faults every time). `data` is an own enumerable property
 * (a getter; the copy is made once), so spreading, cloning or serialising a CropView gives the
 * same plain image a copy would. Made only by cropShared, which checks the box.
 */
export class CropView implements RgbImage {
  readonly width: number;
  readonly height: number;
  declare readonly data: Uint8Array;
  /** The image the pixels are read from (a CropView only if its pixels had been read: then a crop of its copy). */
  readonly #source: RgbImage;
  readonly #left: number;
  readonly #top: number;
  #copy: Uint8Array | undefined;

  constructor(source: RgbImage, left: number, top: number, width: number, height: number) {
    this.width = width;
    this.height = height;
    this.#source = source;
    this.#left = left;
    this.#top = top;
    Object.defineProperty(this, 'data', { get: CROP_VIEW_DATA, enumerable: true });
  }

  /** The source and where the crop lies in it, while `data` has not been read (after that, a caller may have written into it). */
  region(): { source: RgbImage; left: number; top: number } | undefined {
    return this.#copy === undefined ? { source: this.#source, left: this.#left, top: this.#top } : undefined;
  }

  /** The pixels, copied from the source on the first call (whole rows of it: a view of its bytes, as they never change). */
  pixels(): Uint8Array {
    if (this.#copy === undefined) {
      const { width: w, height: h } = this;
      const row = this.#source.width * 3;
      const src = this.#source.data;
      if (w === this.#source.width) {
        // A plain Uint8Array view whatever the source's class (a Buffer's subarray is a Buffer).
        this.#copy = new Uint8Array(src.buffer, src.byteOffset + this.#top * row, h * row);
        return this.#copy;
      }
      const out = new Uint8Array(w * h * 3);
      for (let y = 0; y < h; y++) {
        const at = (this.#top + y) * row + this.#left * 3;
        out.set(src.subarray(at, at + w * 3), y * w * 3);
      }
      this.#copy = out;
    }
    return this.#copy;
  }
}

function CROP_VIEW_DATA(this: CropView): Uint8Array {
  return this.pixels();
}

/** Checks that a value is a well-formed RgbImage (positive integer sizes, a Uint8Array of the right length). */
export function checkImage(value: unknown, name = 'image'): RgbImage {
  if (value instanceof CropView) return value; // well formed by construction (its pixels are not copied to check them)
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

/**
 * Decoding users' image files (PNG, JPEG, WebP, and whatever else libvips
 * reads) with sharp, and encoding images (for tests, samples and reports).
 * sharp is loaded on first use, so code that never decodes never loads libvips.
 * EXIF orientation is applied; alpha is dropped; grey images become RGB.
 */
import { PyVisionError, describe } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';
import { MAX_IMAGE_SIDE, checkImage } from './image.js';

type Sharp = typeof import('sharp').default;
let sharpModule: Promise<Sharp> | undefined;

async function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then((m) => m.default);
  return sharpModule;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function decode(input: string | Uint8Array, what: string): Promise<RgbImage> {
  const sharp = await loadSharp();
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    raw = await sharp(input, { failOn: 'error' }).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new PyVisionError('E_IO', `cannot decode image ${what}: ${message(error)}`);
  }
  const { width, height, channels } = raw.info;
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new PyVisionError('E_IO', `image ${what} is ${width} x ${height}, larger than ${MAX_IMAGE_SIDE} pixels on a side`);
  }
  const data = new Uint8Array(width * height * 3);
  if (channels === 3) {
    data.set(raw.data.subarray(0, data.length));
  } else if (channels === 1) {
    for (let i = 0; i < width * height; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = raw.data[i];
  } else {
    throw new PyVisionError('E_IO', `image ${what} decoded to ${channels} channels, expected 3`);
  }
  return { width, height, data };
}

/** Decodes an image file to RGB8. Errors: E_IO naming the file. */
export async function decodeImageFile(path: string): Promise<RgbImage> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new PyVisionError('E_ARG', `path must be a non-empty string, got ${describe(path)}`);
  }
  return decode(path, `'${path}'`);
}

/** Decodes an encoded image held in memory (PNG, JPEG, WebP...). Errors: E_IO naming `name`. */
export async function decodeImage(bytes: Uint8Array, name = 'bytes'): Promise<RgbImage> {
  if (!(bytes instanceof Uint8Array)) {
    throw new PyVisionError('E_ARG', `${name} must be a Uint8Array, got ${describe(bytes)}`);
  }
  return decode(bytes, name);
}

export type EncodeFormat = 'png' | 'jpeg' | 'webp';

/** Encodes an image (PNG lossless; JPEG and WebP at the given quality, default 90). */
export async function encodeImage(image: RgbImage, format: EncodeFormat = 'png', quality = 90): Promise<Uint8Array> {
  checkImage(image);
  if (format !== 'png' && format !== 'jpeg' && format !== 'webp') {
    throw new PyVisionError('E_ARG', `format must be one of 'png', 'jpeg', 'webp'; got ${describe(format)}`);
  }
  const sharp = await loadSharp();
  const pipeline = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
  const encoded =
    format === 'png' ? pipeline.png() : format === 'jpeg' ? pipeline.jpeg({ quality }) : pipeline.webp({ quality });
  return new Uint8Array(await encoded.toBuffer());
}

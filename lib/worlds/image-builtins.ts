/**
 * The image built-ins of the visual worlds' sandbox (agent.md section 2),
 * named after PIL as PyVision's models write them:
 *
 *   img.crop((left, top, right, bottom))   img.resize((w, h))   img.rotate(deg)
 *   img.size -> (w, h)   img.width   img.height   mean_color(img) -> (r, g, b)
 *
 * The pixels are lib/image/ops.ts's; this file adds Python's argument rules.
 * Misuse raises the exception the Python twin (test/reference/image_builtins.py)
 * raises, in the same order of checks: TypeError for wrong types and counts,
 * ValueError for PIL's "Coordinate 'right' is less than 'left'", empty crops,
 * non-positive sizes and non-finite angles, OverflowError for coordinates
 * outside 32 bits, MemoryError "image too large" past the pixel limit.
 *
 * Each image remembers where it lies in image_clue_0 (a crop or resize of it;
 * unknown after a rotation), so a world can record which regions the agent looked at.
 */
import { cropShared, meanColor, resize, rotate, roundHalfEven } from '../image/ops.js';
import { MAX_IMAGE_SIDE } from '../image/image.js';
import { pyError } from '../sandbox/exceptions.js';
import { PyBuiltin, PyList, PyTuple, isHostObject, type HostContext, type PyHostObject, type PyValue } from '../sandbox/host.js';
import { pyTypeName } from '../sandbox/index.js';
import type { RgbImage } from '../util/rgb.js';

/** Where an image's pixels come from in the input image: pixel (x, y) shows input point (x0 + x sx, y0 + y sy). */
export interface ImageOrigin {
  x0: number;
  y0: number;
  sx: number;
  sy: number;
}

export interface ImageBuiltinLimits {
  /** Pixels (width * height) of one image a built-in creates. */
  maxPixels: number;
}

export const DEFAULT_IMAGE_BUILTIN_LIMITS: Readonly<ImageBuiltinLimits> = Object.freeze({ maxPixels: 2048 * 2048 });


/** Binds positional and keyword arguments to parameter names with CPython's TypeErrors. */
export function bindArgs(fn: string, params: readonly string[], args: readonly PyValue[], kwargs: ReadonlyMap<string, PyValue>): PyValue[] {
  if (args.length > params.length) {
    throw pyError('TypeError', `${fn}() takes ${params.length} positional argument${params.length === 1 ? '' : 's'} but ${args.length} were given`);
  }
  const out: (PyValue | undefined)[] = [...args];
  for (const [name, value] of kwargs) {
    const k = params.indexOf(name);
    if (k < 0) throw pyError('TypeError', `${fn}() got an unexpected keyword argument '${name}'`);
    if (k < args.length) throw pyError('TypeError', `${fn}() got multiple values for argument '${name}'`);
    out[k] = value;
  }
  for (let k = 0; k < params.length; k++) {
    if (out[k] === undefined) throw pyError('TypeError', `${fn}() missing 1 required positional argument: '${params[k]}'`);
  }
  return out as PyValue[];
}

type Real = bigint | number;

function isNumber(v: PyValue): v is bigint | number | boolean {
  return typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean';
}

function real(v: bigint | number | boolean): Real {
  return typeof v === 'boolean' ? (v ? 1n : 0n) : v;
}

/** a < b with Python's exact comparison of ints and floats. */
function less(a: Real, b: Real): boolean {
  if (typeof a === typeof b) return a < b;
  if (typeof a === 'bigint') {
    const f = b as number;
    if (Number.isNaN(f)) return false;
    if (!Number.isFinite(f)) return f > 0;
    return Number.isInteger(f) ? a < BigInt(f) : a <= BigInt(Math.floor(f));
  }
  const f = a as number;
  const i = b as bigint;
  if (Number.isNaN(f)) return false;
  if (!Number.isFinite(f)) return f < 0;
  return Number.isInteger(f) ? BigInt(f) < i : BigInt(Math.floor(f)) < i;
}

/** Python's round(x) to an int. */
function pyRound(v: Real): bigint {
  if (typeof v === 'bigint') return v;
  if (Number.isNaN(v)) throw pyError('ValueError', 'cannot convert float NaN to integer');
  if (!Number.isFinite(v)) throw pyError('OverflowError', 'cannot convert float infinity to integer');
  return BigInt(roundHalfEven(v));
}

function checkPixels(w: bigint, h: bigint, limits: ImageBuiltinLimits): void {
  if (w > BigInt(MAX_IMAGE_SIDE) || h > BigInt(MAX_IMAGE_SIDE) || w * h > BigInt(limits.maxPixels)) {
    throw pyError('MemoryError', `image too large: ${w} x ${h} (the limit is ${limits.maxPixels} pixels)`);
  }
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;

/** Image objects by the pixels they hold (show() hands the world the RgbImage; this finds its object again). */
const OBJECTS = new WeakMap<RgbImage, ImageObject>();

/** The Image host object: an RgbImage with PIL's methods. */
export class ImageObject implements PyHostObject {
  readonly pyTypeName = 'Image';

  constructor(
    readonly image: RgbImage,
    readonly limits: ImageBuiltinLimits = DEFAULT_IMAGE_BUILTIN_LIMITS,
    /** Where the pixels lie in the input image (null: not a crop or resize of it, e.g. rotated). */
    readonly origin: ImageOrigin | null = null,
  ) {
    if (!OBJECTS.has(image)) OBJECTS.set(image, this);
  }

  /** The object that holds these pixels, if one was made. */
  static of(image: RgbImage): ImageObject | undefined {
    return OBJECTS.get(image);
  }

  getAttr(name: string): PyValue | undefined {
    switch (name) {
      case 'size':
        return new PyTuple([BigInt(this.image.width), BigInt(this.image.height)]);
      case 'width':
        return BigInt(this.image.width);
      case 'height':
        return BigInt(this.image.height);
      case 'crop':
        return new PyBuiltin('crop', (args, kwargs, ctx) => this.crop(bindArgs('crop', ['box'], args, kwargs)[0], ctx));
      case 'resize':
        return new PyBuiltin('resize', (args, kwargs, ctx) => this.resize(bindArgs('resize', ['size'], args, kwargs)[0], ctx));
      case 'rotate':
        return new PyBuiltin('rotate', (args, kwargs, ctx) => this.rotate(bindArgs('rotate', ['angle'], args, kwargs)[0], ctx));
      default:
        return undefined;
    }
  }

  asImage(): RgbImage {
    return this.image;
  }

  repr(): string {
    return `<Image ${this.image.width}x${this.image.height}>`;
  }

  /** The input-image box [left, top, right, bottom] this image shows, or null. */
  box(): [number, number, number, number] | null {
    const o = this.origin;
    if (!o) return null;
    return [o.x0, o.y0, o.x0 + this.image.width * o.sx, o.y0 + this.image.height * o.sy];
  }

  private crop(box: PyValue, ctx: HostContext): ImageObject {
    if (!(box instanceof PyTuple || box instanceof PyList) || box.items.length !== 4) {
      throw pyError('TypeError', 'crop() argument must be a tuple of 4 numbers');
    }
    const items = box.items;
    for (const v of items) {
      if (!isNumber(v)) throw pyError('TypeError', `crop() box coordinates must be numbers, not '${pyTypeName(v)}'`);
    }
    const raw = items.map((v) => real(v as bigint | number | boolean));
    if (less(raw[2], raw[0])) throw pyError('ValueError', "Coordinate 'right' is less than 'left'");
    if (less(raw[3], raw[1])) throw pyError('ValueError', "Coordinate 'lower' is less than 'upper'");
    const [l, t, r, b] = raw.map(pyRound);
    for (const v of [l, t, r, b]) {
      if (v < INT32_MIN || v > INT32_MAX) throw pyError('OverflowError', 'crop() coordinate out of range');
    }
    if (r - l < 1n || b - t < 1n) throw pyError('ValueError', 'crop() box is empty');
    checkPixels(r - l, b - t, this.limits);
    ctx.charge(Math.ceil(Number((r - l) * (b - t)) / 1024));
    const box4 = [Number(l), Number(t), Number(r), Number(b)];
    const o = this.origin;
    const origin = o ? { x0: o.x0 + box4[0] * o.sx, y0: o.y0 + box4[1] * o.sy, sx: o.sx, sy: o.sy } : null;
    // Sandbox images are never written into: a crop of whole rows shares the source's pixels.
    return new ImageObject(cropShared(this.image, box4), this.limits, origin);
  }

  private resize(size: PyValue, ctx: HostContext): ImageObject {
    if (!(size instanceof PyTuple || size instanceof PyList) || size.items.length !== 2) {
      throw pyError('TypeError', 'resize() argument must be a tuple of 2 ints');
    }
    for (const v of size.items) {
      if (typeof v !== 'bigint' && typeof v !== 'boolean') throw pyError('TypeError', `resize() size must be ints, not '${pyTypeName(v)}'`);
    }
    const [w, h] = size.items.map((v) => real(v as bigint | boolean) as bigint);
    if (w < 1n || h < 1n) throw pyError('ValueError', 'height and width must be > 0');
    checkPixels(w, h, this.limits);
    ctx.charge(Math.ceil((Number(w * h) + this.image.width * this.image.height) / 1024));
    const o = this.origin;
    const W = this.image.width;
    const H = this.image.height;
    const origin = o ? { x0: o.x0, y0: o.y0, sx: (o.sx * W) / Number(w), sy: (o.sy * H) / Number(h) } : null;
    return new ImageObject(resize(this.image, Number(w), Number(h)), this.limits, origin);
  }

  private rotate(angle: PyValue, ctx: HostContext): ImageObject {
    if (!isNumber(angle)) throw pyError('TypeError', `rotate() angle must be a number, not '${pyTypeName(angle)}'`);
    let degrees: number;
    if (typeof angle === 'bigint') {
      degrees = Number(angle);
      if (!Number.isFinite(degrees)) throw pyError('OverflowError', 'int too large to convert to float');
    } else {
      degrees = Number(angle);
    }
    if (!Number.isFinite(degrees)) throw pyError('ValueError', 'rotate() angle must be finite');
    ctx.charge(Math.ceil((this.image.width * this.image.height) / 1024));
    return new ImageObject(rotate(this.image, degrees), this.limits, null);
  }
}

/** mean_color(img) -> (r, g, b), the rounded per-channel mean. */
export const meanColorBuiltin = new PyBuiltin('mean_color', (args, kwargs, ctx) => {
  const [img] = bindArgs('mean_color', ['img'], args, kwargs);
  if (!(isHostObject(img) && img instanceof ImageObject)) {
    throw pyError('TypeError', `mean_color() argument must be an Image, not '${pyTypeName(img)}'`);
  }
  ctx.charge(Math.ceil((img.image.width * img.image.height) / 1024));
  return new PyTuple(meanColor(img.image).map((v) => BigInt(v)));
});

/** Wraps an image as the sandbox's Image object (video frames use it too: `wrapImage: (frame) => wrapImage(frame)`). */
export function wrapImage(image: RgbImage, limits: ImageBuiltinLimits = DEFAULT_IMAGE_BUILTIN_LIMITS, origin: ImageOrigin | null = null): ImageObject {
  return new ImageObject(image, limits, origin);
}

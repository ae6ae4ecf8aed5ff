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
import { isTypedArray, number } from '../util/validate.js';
import type { RgbImage } from '../util/rgb.js';
import { CropView, blankImage, checkImage, checkSide } from './image.js';
import { resizeInto } from './ops.js';

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
  const out = blankImage(viewWidth, viewHeight);
  fitInto(image, viewWidth, viewHeight, out.data);
  return out;
}

/** fitToView's pixels into `out` (viewWidth * viewHeight * 3 bytes, already black where the padding goes). */
function fitInto(image: RgbImage, viewWidth: number, viewHeight: number, out: Uint8Array): void {
  const [w, h] = fittedSize(image.width, image.height, viewWidth, viewHeight);
  const ox = Math.floor((viewWidth - w) / 2);
  const oy = Math.floor((viewHeight - h) / 2);
  resizeInto(image, w, h, out, (oy * viewWidth + ox) * 3, viewWidth * 3);
}

/** byte / 255 - 0.5 as a float32, for every byte (what storing the double into a Float32Array gives). */
const PATCH_VALUE = Float32Array.from({ length: 256 }, (_, b) => b / 255 - 0.5);

/** Cuts an image whose size is the view's into patches (the layout in the file comment). */
export function imagePatches(view: RgbImage, patch: number): Float32Array {
  checkImage(view, 'view');
  number(patch, 'patch', { integer: true, min: 1 });
  if (view.width % patch !== 0 || view.height % patch !== 0) {
    throw new PyVisionError('E_ARG', `view size ${view.width} x ${view.height} must be a multiple of patch (${patch})`);
  }
  const out = new Float32Array(view.width * view.height * 3);
  patchesInto(view.data, view.width, view.height, patch, out, 0);
  return out;
}

function patchesInto(data: Uint8Array, width: number, height: number, patch: number, out: Float32Array, at: number): void {
  const across = width / patch;
  const down = height / patch;
  const line = patch * 3;
  let o = at;
  for (let py = 0; py < down; py++) {
    for (let px = 0; px < across; px++) {
      for (let y = 0; y < patch; y++) {
        let s = ((py * patch + y) * width + px * patch) * 3;
        for (let k = 0; k < line; k++) out[o++] = PATCH_VALUE[data[s++]];
      }
    }
  }
}

/** The view's pixels between fitting and patching (viewPatches is synchronous, so one buffer is enough). */
let viewScratch = new Uint8Array(0);

/** fitToView then imagePatches: the patchCount(view) * patchDim(view) floats of one image observation. */
export function viewPatches(image: RgbImage, view: ViewShape): Float32Array {
  const out = new Float32Array(view.width * view.height * 3);
  viewPatchesInto(image, view, out, 0);
  return out;
}

/**
 * viewPatches(image, view) written into out[at .. at + patchCount(view) * patchDim(view)), for a
 * caller that packs several images into one array.
 */
export function viewPatchesInto(image: RgbImage, view: ViewShape, out: Float32Array, at: number): void {
  checkImage(image);
  const { width, height, patch } = view;
  number(patch, 'view.patch', { integer: true, min: 1 });
  checkSide(width, 'view.width');
  checkSide(height, 'view.height');
  if (width % patch !== 0 || height % patch !== 0) {
    throw new PyVisionError('E_ARG', `view size ${width} x ${height} must be a multiple of patch (${patch})`);
  }
  const n = width * height * 3;
  if (!isTypedArray(out, 'Float32Array') || !Number.isInteger(at) || at < 0 || at + n > out.length) {
    throw new PyVisionError('E_ARG', `out must be a Float32Array with room for ${n} floats at offset ${at}`);
  }
  if (viewScratch.length < n) viewScratch = new Uint8Array(n);
  const pixels = viewScratch.subarray(0, n);
  pixels.fill(0);
  fitInto(image, width, height, pixels);
  patchesInto(pixels, width, height, patch, out, at);
}

/** Limits of a ViewPatchCache. */
export interface ViewPatchCacheOptions {
  /** Most images kept. Default 256. */
  maxEntries?: number;
  /** Most bytes kept (the images' pixels and their patches). Default 32 MiB. */
  maxBytes?: number;
}

interface CachedView {
  width: number;
  height: number;
  /** A copy of the image's pixels (what a hit is compared with, byte for byte); null for a crop's region. */
  data: Uint8Array | null;
  /** For a CropView whose pixels were not copied: its source and place (what a hit is compared with). */
  source: RgbImage | null;
  left: number;
  top: number;
  patches: Float32Array;
  bytes: number;
}

/** Numbers for the sources of CropViews (the key of a region is a hash of its source's number and its box). */
const SOURCE_IDS = new WeakMap<RgbImage, number>();
let sourceCount = 0;

function regionHash(source: RgbImage, left: number, top: number, width: number, height: number): number {
  let id = SOURCE_IDS.get(source);
  if (id === undefined) SOURCE_IDS.set(source, (id = ++sourceCount));
  let h = 0x811c9dc5;
  for (const v of [id, left, top, width, height]) h = Math.imul(h ^ v, 0x01000193);
  return h >>> 0;
}

/**
 * viewPatches by the image's pixels, for worlds whose observations repeat (the samples of one
 * task often show the same crop): an image with the same size and the same bytes as a cached one
 * gets the cached patches, the same floats viewPatches computes. A hit is a full byte comparison
 * (the key is only a hash of the size and of a sample of the bytes), so a hit is never wrong;
 * least recently used entries leave first. A CropView whose pixels were not copied is known by
 * its source and its box instead (the source's pixels never change, see CropView): the entry
 * holds the source, not a copy, and its bytes count the patches only. The patches it returns are
 * shared: read them only.
 */
export class ViewPatchCache {
  readonly view: ViewShape;
  readonly maxEntries: number;
  readonly maxBytes: number;
  #bytes = 0;
  #count = 0;
  #hits = 0;
  #misses = 0;
  /** Entries by key, least recently used first (a key holds every entry with that hash). */
  readonly #entries = new Map<number, CachedView[]>();

  constructor(view: ViewShape, options: ViewPatchCacheOptions = {}) {
    this.view = checkViewShape(view, 'view');
    this.maxEntries = number(options.maxEntries ?? 256, 'options.maxEntries', { integer: true, min: 1 });
    this.maxBytes = number(options.maxBytes ?? 32 << 20, 'options.maxBytes', { integer: true, min: 1 });
  }

  /** Counters since construction. */
  stats(): { hits: number; misses: number; entries: number; bytes: number } {
    return { hits: this.#hits, misses: this.#misses, entries: this.#count, bytes: this.#bytes };
  }

  /** viewPatches(image, this.view), cached: the returned array is shared, read it only. */
  patches(image: RgbImage): Float32Array {
    checkImage(image);
    const region = image instanceof CropView ? image.region() : undefined;
    const key = region !== undefined ? regionHash(region.source, region.left, region.top, image.width, image.height) : sampleHash(image);
    const list = this.#entries.get(key);
    if (list !== undefined) {
      for (const e of list) {
        if (e.width !== image.width || e.height !== image.height) continue;
        const same =
          region !== undefined
            ? e.source === region.source && e.left === region.left && e.top === region.top
            : e.data !== null && Buffer.compare(e.data, image.data) === 0;
        if (same) {
          this.#hits++;
          this.#entries.delete(key);
          this.#entries.set(key, list);
          return e.patches;
        }
      }
    }
    this.#misses++;
    const patches = viewPatches(image, this.view);
    this.put(image, patches, key);
    return patches;
  }

  /** Adds an image whose viewPatches the caller already has (they must be viewPatches(image, this.view)). */
  put(image: RgbImage, patches: Float32Array, key?: number): void {
    const region = image instanceof CropView ? image.region() : undefined;
    const bytes = (region !== undefined ? 0 : image.data.length) + patches.byteLength;
    if (bytes > this.maxBytes) return;
    const { width, height } = image;
    key ??= region !== undefined ? regionHash(region.source, region.left, region.top, width, height) : sampleHash(image);
    const entry: CachedView =
      region !== undefined
        ? { width, height, data: null, source: region.source, left: region.left, top: region.top, patches, bytes }
        : { width, height, data: image.data.slice(), source: null, left: 0, top: 0, patches, bytes };
    const list = this.#entries.get(key) ?? [];
    this.#entries.delete(key);
    list.push(entry);
    this.#entries.set(key, list);
    this.#bytes += bytes;
    this.#count++;
    while (this.#bytes > this.maxBytes || this.#count > this.maxEntries) {
      const [oldKey, oldList] = this.#entries.entries().next().value as [number, CachedView[]];
      const dropped = oldList.shift() as CachedView;
      if (oldList.length === 0) this.#entries.delete(oldKey);
      this.#bytes -= dropped.bytes;
      this.#count--;
    }
  }
}

/** FNV-1a over the size and up to 1024 evenly spaced bytes: a cheap key, not an identity. */
function sampleHash(image: RgbImage): number {
  const { data } = image;
  let h = 0x811c9dc5;
  h = Math.imul(h ^ image.width, 0x01000193);
  h = Math.imul(h ^ image.height, 0x01000193);
  const step = Math.max(1, Math.floor(data.length / 1024));
  for (let i = 0; i < data.length; i += step) h = Math.imul(h ^ data[i], 0x01000193);
  return h >>> 0;
}

/**
 * Scenes of the visual-search world: a background (a procedural texture or a
 * region of a user's photo) and flat-coloured objects of several shapes and
 * sizes, drawn with hard edges at canvas resolution. A scene is a small plain
 * record; its pixels are rendered on demand (renderScene).
 */
import type { RgbImage } from '../../util/rgb.js';
import { crop, resize } from '../../image/ops.js';
import { mulberry32 } from '../../util/random.js';

export const COLORS = {
  red: [220, 40, 40],
  green: [40, 180, 60],
  blue: [50, 80, 230],
  yellow: [240, 220, 40],
  purple: [150, 60, 200],
  orange: [245, 140, 30],
  white: [245, 245, 245],
  cyan: [40, 210, 220],
} as const satisfies Record<string, readonly [number, number, number]>;

export type ColorName = keyof typeof COLORS;
export const COLOR_NAMES = Object.keys(COLORS) as ColorName[];

export const SHAPES = ['circle', 'square', 'triangle', 'cross'] as const;
export type ShapeName = (typeof SHAPES)[number];

export interface SceneObject {
  shape: ShapeName;
  color: ColorName;
  /** Left and top of the object's square bounding box, in canvas pixels. */
  x: number;
  y: number;
  /** Side of the bounding box in pixels. */
  size: number;
}

export type Background =
  /** Smooth value noise in a muted tone, from its seed. */
  | { kind: 'texture'; seed: number; tone: number }
  /** The region `box` of the user's photo number `index`, resized to the canvas. */
  | { kind: 'photo'; index: number; box: [number, number, number, number] };

export interface Scene {
  width: number;
  height: number;
  background: Background;
  objects: SceneObject[];
}

/** Muted tones of the procedural background (far from every object colour). */
export const TONES: readonly (readonly [number, number, number])[] = [
  [118, 110, 100],
  [104, 112, 92],
  [96, 104, 116],
  [124, 112, 96],
];

/** mulberry32: the world's seeded generator (uniform in [0, 1)). */
export function random(seed: number): () => number {
  return mulberry32(seed);
}

/** A 32-bit hash of a list of integers and strings (FNV-1a then a final mix). */
export function hash32(...parts: (number | string)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = typeof part === 'number' ? `#${part}` : `$${part}`;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/** Whether pixel centre (px + 0.5, py + 0.5) lies inside the object. */
export function insideObject(o: SceneObject, px: number, py: number): boolean {
  const u = (px + 0.5 - o.x) / o.size;
  const v = (py + 0.5 - o.y) / o.size;
  if (u < 0 || u >= 1 || v < 0 || v >= 1) return false;
  switch (o.shape) {
    case 'square':
      return true;
    case 'circle':
      return (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25;
    case 'triangle':
      return Math.abs(u - 0.5) <= v / 2;
    case 'cross':
      return Math.abs(u - 0.5) <= 1 / 6 || Math.abs(v - 0.5) <= 1 / 6;
  }
}

/**
 * The procedural background: value noise on a grid of 32-pixel cells (bilinear between the 4
 * nodes around each pixel) in a muted tone, plus a per-pixel grain. Byte for byte the plain
 * per-pixel version in test/reference/visual_search_texture.ts, faster: the horizontal interpolations of a band of rows (the
 * rows between two grid lines share them) are computed once per band instead of once per pixel;
 * every value is the same IEEE expression evaluated in the same order, and the generator is drawn
 * in the same order (the grid, then one grain per pixel, row-major).
 */
export function renderTexture(width: number, height: number, seed: number, tone: number): RgbImage {
  // The generator's state, stepped inline below (random(seed) is mulberry32(seed)).
  let a = seed >>> 0;
  const r = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const cell = 32;
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const raw = new Float64Array(gw * gh * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = r() * 2 - 1;
  const grid = new Float64Array(gw * gh * 3);
  for (let i = 0; i < gw * gh; i++) for (let c = 0; c < 3; c++) grid[i * 3 + c] = raw[i * 3 + c] * 0.6 + raw[i * 3] * 0.4;
  const base = TONES[tone % TONES.length];
  const b0 = base[0];
  const b1 = base[1];
  const b2 = base[2];
  const data = new Uint8Array(width * height * 3);
  // Per pixel and channel of the current band: the interpolation along the band's top and bottom grid lines.
  const top = new Float64Array(width * 3);
  const bottom = new Float64Array(width * 3);
  let band = -1;
  let at = 0;
  // The generator's state after the grid, in a local that no closure captures (the loop's hot path),
  // held as an int32: the same bits modulo 2^32 as the uint32 of random(), and every use below reads
  // it through ^, >>> or Math.imul, which see only those bits.
  let state = a | 0;
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor(y / cell);
    const fy = y / cell - y0;
    if (y0 !== band) {
      band = y0;
      for (let x = 0; x < width; x++) {
        const x0 = Math.floor(x / cell);
        const fx = x / cell - x0;
        const n00 = (y0 * gw + x0) * 3;
        const n01 = n00 + 3;
        const n10 = n00 + gw * 3;
        const n11 = n10 + 3;
        for (let c = 0; c < 3; c++) {
          top[x * 3 + c] = (1 - fx) * grid[n00 + c] + fx * grid[n01 + c];
          bottom[x * 3 + c] = (1 - fx) * grid[n10 + c] + fx * grid[n11 + c];
        }
      }
    }
    const gy = 1 - fy;
    for (let x = 0, k = 0; x < width; x++, k += 3) {
      // r(), inlined: mulberry32's step on its state (util/random.ts).
      state = (state + 0x6d2b79f5) | 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const grain = (((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5) * 12;
      // Math.round(v) as Math.floor(v + 0.5), several times faster here and the same integer for
      // every v >= 0.5 (v + 0.5 is exact within v's binade, and a sum rounded into the next binade
      // stays at or above the integer that begins it) and for every v <= -0.5; v lies in
      // [60, 156] (tones 92-124, +-26 of texture, +-6 of grain), far from (-0.5, 0.5).
      const v0 = Math.floor(b0 + 26 * (gy * top[k] + fy * bottom[k]) + grain + 0.5);
      const v1 = Math.floor(b1 + 26 * (gy * top[k + 1] + fy * bottom[k + 1]) + grain + 0.5);
      const v2 = Math.floor(b2 + 26 * (gy * top[k + 2] + fy * bottom[k + 2]) + grain + 0.5);
      data[at++] = v0 < 0 ? 0 : v0 > 255 ? 255 : v0;
      data[at++] = v1 < 0 ? 0 : v1 > 255 ? 255 : v1;
      data[at++] = v2 < 0 ? 0 : v2 > 255 ? 255 : v2;
    }
  }
  return { width, height, data };
}

/** The scene's pixels. `photos` are the user's backgrounds (needed when scene.background.kind is 'photo'). */
export function renderScene(scene: Scene, photos: readonly RgbImage[] = []): RgbImage {
  const { width, height } = scene;
  let image: RgbImage;
  if (scene.background.kind === 'texture') {
    image = renderTexture(width, height, scene.background.seed, scene.background.tone);
  } else {
    const photo = photos[scene.background.index];
    if (!photo) throw new Error(`scene background photo ${scene.background.index} is not loaded`);
    image = resize(crop(photo, scene.background.box), width, height);
  }
  const data = image.data;
  for (const o of scene.objects) {
    const rgb = COLORS[o.color];
    for (let py = Math.max(0, o.y); py < Math.min(height, o.y + o.size); py++) {
      for (let px = Math.max(0, o.x); px < Math.min(width, o.x + o.size); px++) {
        if (insideObject(o, px, py)) data.set(rgb, (py * width + px) * 3);
      }
    }
  }
  return image;
}

/** The object's bounding box [left, top, right, bottom]. */
export function objectBox(o: SceneObject): [number, number, number, number] {
  return [o.x, o.y, o.x + o.size, o.y + o.size];
}

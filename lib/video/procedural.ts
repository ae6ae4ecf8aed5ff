/**
 * Procedural videos: a seeded scene description (objects with their on-screen
 * intervals, straight-line paths, colour changes and flashes) from which any
 * frame is rendered on demand, so a video of thousands of frames costs only
 * the frames a tool asks for. The video QA world draws its scenes from a seed;
 * anyone can write a Scene by hand.
 */
import { PyVisionError } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';
import * as v from '../util/validate.js';
import { FrameCache } from './cache.js';
import { DEFAULT_CACHE_BYTES, checkFrameIndices, type VideoSource } from './source.js';

export type Rgb = readonly [number, number, number];

/** The named colours of procedural scenes (and of the built-in frame encoder). */
export const VIDEO_COLOURS: Readonly<Record<string, Rgb>> = {
  red: [220, 40, 40],
  green: [40, 190, 60],
  blue: [50, 80, 230],
  yellow: [235, 215, 40],
  purple: [150, 60, 200],
  orange: [240, 140, 30],
  cyan: [40, 210, 220],
  white: [250, 250, 250],
};

/** Colour names in a fixed order (the encoder's colour channels). */
export const VIDEO_COLOUR_NAMES: readonly string[] = Object.keys(VIDEO_COLOURS);

/** The colour an object shows while it flashes (every other pair of frames). */
export const FLASH_COLOUR = 'white';

export type VideoShape = 'ball' | 'box' | 'triangle';
export const VIDEO_SHAPES: readonly VideoShape[] = ['ball', 'box', 'triangle'];

/** Frames start (inclusive) to end (exclusive). */
export interface FrameInterval {
  start: number;
  end: number;
}

export interface SceneObject {
  shape: VideoShape;
  /** Radius (ball), half side (box) or half base (triangle), in pixels. */
  size: number;
  /** When the object is on screen; disjoint, ascending. */
  visible: FrameInterval[];
  /** Colour changes, ascending by `from`: the object has `colour` from frame `from` on (the first entry's `from` is <= its first frame). */
  colours: { from: number; colour: string }[];
  /** Centre at its first visible frame (x0, y0) and at its last (x1, y1), moving in a straight line in between. */
  path: { x0: number; y0: number; x1: number; y1: number };
  /** While flashing, the object is drawn white on frames where floor((i - start) / 2) is odd. */
  flashes: FrameInterval[];
}

export interface Scene {
  frameCount: number;
  fps: number;
  width: number;
  height: number;
  background: Rgb;
  objects: SceneObject[];
}

/** Whether the frame lies in one of the intervals. */
export function inIntervals(intervals: readonly FrameInterval[], frame: number): boolean {
  for (const r of intervals) if (frame >= r.start && frame < r.end) return true;
  return false;
}

/** The object's colour name at a frame (flashes not counted). */
export function colourAt(object: SceneObject, frame: number): string {
  let colour = object.colours[0].colour;
  for (const c of object.colours) if (c.from <= frame) colour = c.colour;
  return colour;
}

/** The colour it is drawn in at a frame (white on a flash frame), or null when not on screen. */
export function drawnColourAt(object: SceneObject, frame: number): string | null {
  if (!inIntervals(object.visible, frame)) return null;
  for (const f of object.flashes) {
    if (frame >= f.start && frame < f.end && Math.floor((frame - f.start) / 2) % 2 === 1) return FLASH_COLOUR;
  }
  return colourAt(object, frame);
}

/** The object's centre at a frame (on its path between its first and last visible frames). */
export function positionAt(object: SceneObject, frame: number): { x: number; y: number } {
  const first = object.visible[0].start;
  const last = object.visible[object.visible.length - 1].end - 1;
  const t = last > first ? Math.min(1, Math.max(0, (frame - first) / (last - first))) : 0;
  const p = object.path;
  return { x: p.x0 + (p.x1 - p.x0) * t, y: p.y0 + (p.y1 - p.y0) * t };
}

function insideShape(shape: VideoShape, dx: number, dy: number, size: number): boolean {
  if (shape === 'ball') return dx * dx + dy * dy <= size * size;
  if (shape === 'box') return Math.abs(dx) <= size && Math.abs(dy) <= size;
  // Triangle pointing up, base 2 * size at dy = +size, apex at dy = -size.
  if (dy < -size || dy > size) return false;
  const half = (size * (dy + size)) / (2 * size);
  return Math.abs(dx) <= half;
}

/** Renders frame `frame` of a scene (objects drawn in order, later ones on top). */
export function renderSceneFrame(scene: Scene, frame: number): RgbImage {
  const { width, height } = scene;
  const data = new Uint8Array(width * height * 3);
  const [br, bg, bb] = scene.background;
  data[0] = br;
  data[1] = bg;
  data[2] = bb;
  // Doubling copies: log2(pixels) copyWithin calls instead of a loop over pixels.
  for (let filled = 3; filled < data.length; filled *= 2) data.copyWithin(filled, 0, Math.min(filled, data.length - filled));
  for (const object of scene.objects) {
    const name = drawnColourAt(object, frame);
    if (name === null) continue;
    const [r, g, b] = VIDEO_COLOURS[name];
    const { x, y } = positionAt(object, frame);
    const s = object.size;
    const x0 = Math.max(0, Math.floor(x - s));
    const x1 = Math.min(width - 1, Math.ceil(x + s));
    const y0 = Math.max(0, Math.floor(y - s));
    const y1 = Math.min(height - 1, Math.ceil(y + s));
    for (let py = y0; py <= y1; py++) {
      for (let px = x0; px <= x1; px++) {
        if (!insideShape(object.shape, px + 0.5 - x, py + 0.5 - y, s)) continue;
        const o = 3 * (py * width + px);
        data[o] = r;
        data[o + 1] = g;
        data[o + 2] = b;
      }
    }
  }
  return { width, height, data };
}

function checkScene(scene: Scene): void {
  const s = v.object(scene, 'scene');
  v.number(s.frameCount, 'scene.frameCount', { integer: true, min: 0 });
  v.number(s.fps, 'scene.fps', { above: 0 });
  v.number(s.width, 'scene.width', { integer: true, min: 1, max: 4096 });
  v.number(s.height, 'scene.height', { integer: true, min: 1, max: 4096 });
  if (!Array.isArray(s.objects)) throw new PyVisionError('E_ARG', 'scene.objects must be an array');
  scene.objects.forEach((o, j) => {
    if (!VIDEO_SHAPES.includes(o.shape)) throw new PyVisionError('E_ARG', `scene.objects[${j}].shape must be one of ${VIDEO_SHAPES.join(', ')}, got ${String(o.shape)}`);
    if (!Array.isArray(o.visible) || o.visible.length === 0) throw new PyVisionError('E_ARG', `scene.objects[${j}].visible must list at least one interval`);
    if (!Array.isArray(o.colours) || o.colours.length === 0) throw new PyVisionError('E_ARG', `scene.objects[${j}].colours must list at least one colour`);
    for (const c of o.colours) {
      if (!(c.colour in VIDEO_COLOURS)) throw new PyVisionError('E_ARG', `scene.objects[${j}].colours: unknown colour ${String(c.colour)} (known: ${VIDEO_COLOUR_NAMES.join(', ')})`);
    }
  });
}

export interface ProceduralVideoOptions {
  /** Byte budget of the rendered-frame cache. Default 64 MiB. */
  cacheBytes?: number;
}

/** A video whose frames are rendered from a Scene when asked for. */
export class ProceduralVideo implements VideoSource {
  readonly frameCount: number;
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  readonly cache: FrameCache;
  /** Frames rendered so far (cache misses). */
  rendered = 0;

  constructor(readonly scene: Scene, opts: ProceduralVideoOptions = {}) {
    checkScene(scene);
    const o = v.optionalObject(opts, 'opts');
    this.frameCount = scene.frameCount;
    this.fps = scene.fps;
    this.width = scene.width;
    this.height = scene.height;
    this.cache = new FrameCache(v.optionalNumber(o.cacheBytes, 'opts.cacheBytes', DEFAULT_CACHE_BYTES, { integer: true, min: 0 }));
  }

  /** One frame, rendered now if not cached (synchronous: rendering is a few microseconds per kilopixel). */
  frame(index: number): RgbImage {
    checkFrameIndices([index], this.frameCount, 'index');
    const hit = this.cache.get(index);
    if (hit !== undefined) return hit;
    const image = renderSceneFrame(this.scene, index);
    this.rendered++;
    this.cache.set(index, image);
    return image;
  }

  /** Whether no object is on screen at the frame (the frame is the plain background). */
  isBackgroundFrame(index: number): boolean {
    return this.scene.objects.every((o) => !inIntervals(o.visible, index));
  }

  /** Renders a frame without touching the cache (for a pass over every frame, e.g. computing embeddings). */
  renderFrame(index: number): RgbImage {
    checkFrameIndices([index], this.frameCount, 'index');
    return renderSceneFrame(this.scene, index);
  }

  async frames(indices: readonly number[]): Promise<RgbImage[]> {
    checkFrameIndices(indices, this.frameCount);
    return indices.map((i) => this.frame(i));
  }
}

/**
 * Frame embeddings for select_frames. The built-in encoder is fixed (no
 * training): every pixel is matched to the nearest named colour (or to none),
 * and per colour it keeps whether that colour is present, how its pixels fill
 * their bounding box (a disc fills about pi/4 of it, a square all of it, a
 * triangle half: ball-, box- and triangle-likeness) and which quadrant of the
 * frame holds them. Queries are built from the question's words: colour,
 * shape and position words switch on the matching features, so that
 * dot(frame, query("red ball")) is about 2 on a frame with a red ball, about 1
 * with something else red, and 0 without red; query("ball") is the
 * ball-likeness of whatever colour is on screen.
 *
 * Users bring their own embeddings instead: a Float32Array of [N, D] (or a
 * safetensors file holding one [N, D] tensor) with their own query vectors.
 */
import { readSafetensors } from '../policy/safetensors.js';
import { PyVisionError } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';
import { isTypedArray } from '../util/validate.js';
import { VIDEO_COLOURS, VIDEO_COLOUR_NAMES, VIDEO_SHAPES, type VideoShape } from './procedural.js';
import type { VideoSource } from './source.js';

/** Per colour: presence, ball-, box-, triangle-likeness, then the share of its pixels in each quadrant (top-left, top-right, bottom-left, bottom-right). */
export const FEATURES_PER_COLOUR = 8;
/** D of the built-in encoder. */
export const BUILTIN_EMBEDDING_DIM = VIDEO_COLOUR_NAMES.length * FEATURES_PER_COLOUR;

/** Fill ratio of the bounding box that each shape gives. */
const SHAPE_FILL: Record<VideoShape, number> = { ball: Math.PI / 4, box: 1, triangle: 0.5 };
/** A pixel is of a colour when its squared RGB distance to it is below this (60 per channel in total). */
const MATCH_DISTANCE2 = 60 * 60;

const PALETTE = VIDEO_COLOUR_NAMES.map((name) => VIDEO_COLOURS[name]);

function classify(r: number, g: number, b: number): number {
  let best = -1;
  let bestDistance = MATCH_DISTANCE2;
  for (let c = 0; c < PALETTE.length; c++) {
    const [pr, pg, pb] = PALETTE[c];
    const d = (r - pr) * (r - pr) + (g - pg) * (g - pg) + (b - pb) * (b - pb);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best;
}

/** Writes the built-in embedding of one frame into out[offset .. offset + BUILTIN_EMBEDDING_DIM). */
export function encodeFrame(frame: RgbImage, out: Float32Array, offset = 0): void {
  const { width, height, data } = frame;
  const C = PALETTE.length;
  const count = new Float64Array(C);
  const quadrant = new Float64Array(C * 4);
  const minX = new Int32Array(C).fill(width);
  const maxX = new Int32Array(C).fill(-1);
  const minY = new Int32Array(C).fill(height);
  const maxY = new Int32Array(C).fill(-1);
  let lastKey = -1;
  let lastClass = -1;
  for (let y = 0; y < height; y++) {
    const bottom = 2 * y >= height ? 2 : 0;
    for (let x = 0; x < width; x++) {
      const o = 3 * (y * width + x);
      const key = (data[o] << 16) | (data[o + 1] << 8) | data[o + 2];
      // Runs of one colour (backgrounds, flat shapes) are classified once.
      if (key !== lastKey) {
        lastKey = key;
        lastClass = classify(data[o], data[o + 1], data[o + 2]);
      }
      const c = lastClass;
      if (c < 0) continue;
      count[c]++;
      quadrant[4 * c + bottom + (2 * x >= width ? 1 : 0)]++;
      if (x < minX[c]) minX[c] = x;
      if (x > maxX[c]) maxX[c] = x;
      if (y < minY[c]) minY[c] = y;
      if (y > maxY[c]) maxY[c] = y;
    }
  }
  const minPixels = Math.max(6, (width * height) / 400);
  for (let c = 0; c < C; c++) {
    const base = offset + c * FEATURES_PER_COLOUR;
    for (let f = 0; f < FEATURES_PER_COLOUR; f++) out[base + f] = 0;
    if (count[c] === 0) continue;
    const presence = Math.min(1, count[c] / minPixels);
    const fill = count[c] / ((maxX[c] - minX[c] + 1) * (maxY[c] - minY[c] + 1));
    out[base] = presence;
    VIDEO_SHAPES.forEach((shape, s) => {
      const z = (fill - SHAPE_FILL[shape]) / 0.12;
      out[base + 1 + s] = presence * Math.exp(-z * z);
    });
    for (let q = 0; q < 4; q++) out[base + 4 + q] = (presence * quadrant[4 * c + q]) / count[c];
  }
}

/** Words the query builder understands, by what they switch on. */
const COLOUR_WORDS: Record<string, string> = Object.fromEntries([
  ...VIDEO_COLOUR_NAMES.map((name) => [name, name]),
  ['flash', 'white'],
  ['flashes', 'white'],
  ['flashing', 'white'],
]);
const SHAPE_WORDS: Record<string, VideoShape> = {
  ball: 'ball', balls: 'ball', circle: 'ball', disc: 'ball',
  box: 'box', boxes: 'box', square: 'box', squares: 'box',
  triangle: 'triangle', triangles: 'triangle',
};
/** Quadrants (top-left, top-right, bottom-left, bottom-right) each position word points at. */
const POSITION_WORDS: Record<string, number[]> = {
  left: [0, 2], right: [1, 3], top: [0, 1], upper: [0, 1], bottom: [2, 3], lower: [2, 3],
};

/** The built-in encoder's query vector for a text such as "red ball" or "the blue box on the left". */
export function embedQuery(text: string): Float32Array {
  if (typeof text !== 'string') throw new PyVisionError('E_ARG', `query must be a string, got ${typeof text}`);
  const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
  const colours = new Set<number>();
  const shapes = new Set<number>();
  const quadrants = new Set<number>();
  for (const w of words) {
    if (w in COLOUR_WORDS) colours.add(VIDEO_COLOUR_NAMES.indexOf(COLOUR_WORDS[w]));
    if (w in SHAPE_WORDS) shapes.add(VIDEO_SHAPES.indexOf(SHAPE_WORDS[w]));
    for (const q of POSITION_WORDS[w] ?? []) quadrants.add(q);
  }
  // No colour named: any colour but the flash white. Then a shape word ranks by
  // shape alone (not by how many things are on screen); with no shape either,
  // by presence.
  const named = colours.size > 0;
  const targets = named ? [...colours] : VIDEO_COLOUR_NAMES.map((_, c) => c).filter((c) => VIDEO_COLOUR_NAMES[c] !== 'white');
  const q = new Float32Array(BUILTIN_EMBEDDING_DIM);
  for (const c of targets) {
    const base = c * FEATURES_PER_COLOUR;
    q[base] = named || shapes.size === 0 ? 1 : 0;
    for (const s of shapes) q[base + 1 + s] = 1;
    for (const quadrant of quadrants) q[base + 4 + quadrant] = 0.5;
  }
  return q;
}

/** A video's frame embeddings and how to turn a text query into a query vector. */
export interface FrameEmbeddings {
  /** N x D, frame after frame. */
  data: Float32Array;
  frameCount: number;
  dim: number;
  /** Text to a query vector of D values; absent: queries must be given as vectors. */
  embedQuery?: (text: string) => Float32Array;
}

/** The built-in embeddings of every frame of a video (frames fetched in chunks, not kept in its cache). */
export async function builtinEmbeddings(source: VideoSource, chunk = 256): Promise<FrameEmbeddings> {
  const N = source.frameCount;
  const data = new Float32Array(N * BUILTIN_EMBEDDING_DIM);
  const procedural = source as { renderFrame?: (i: number) => RgbImage; isBackgroundFrame?: (i: number) => boolean };
  if (procedural.renderFrame !== undefined) {
    // Procedural videos: frames with nothing on screen are the same background
    // image, so they have the same embedding (encoded once, copied).
    let background: Float32Array | undefined;
    const D = BUILTIN_EMBEDDING_DIM;
    for (let i = 0; i < N; i++) {
      if (procedural.isBackgroundFrame?.(i)) {
        if (background === undefined) {
          encodeFrame(procedural.renderFrame.call(source, i), data, i * D);
          background = data.slice(i * D, (i + 1) * D);
        } else data.set(background, i * D);
      } else encodeFrame(procedural.renderFrame.call(source, i), data, i * D);
    }
    return { data, frameCount: N, dim: D, embedQuery };
  }
  for (let start = 0; start < N; start += chunk) {
    const indices = Array.from({ length: Math.min(chunk, N - start) }, (_, j) => start + j);
    const frames = await source.frames(indices);
    frames.forEach((frame, j) => encodeFrame(frame, data, (start + j) * BUILTIN_EMBEDDING_DIM));
  }
  return { data, frameCount: N, dim: BUILTIN_EMBEDDING_DIM, embedQuery };
}

/** Checks a user's [N, D] embeddings (and optional text-to-query function). */
export function userEmbeddings(data: Float32Array, frameCount: number, embed?: (text: string) => Float32Array): FrameEmbeddings {
  if (!isTypedArray(data, 'Float32Array')) throw new PyVisionError('E_DTYPE', `embeddings must be a Float32Array of [N, D], got ${Object.prototype.toString.call(data).slice(8, -1)}`);
  if (!Number.isInteger(frameCount) || frameCount < 0) throw new PyVisionError('E_ARG', `frameCount must be an integer >= 0, got ${frameCount}`);
  if (frameCount === 0) {
    if (data.length !== 0) throw new PyVisionError('E_SHAPE', `embeddings of an empty video must be empty, got ${data.length} values`);
    return { data, frameCount, dim: 1, embedQuery: embed };
  }
  if (data.length === 0 || data.length % frameCount !== 0) {
    throw new PyVisionError('E_SHAPE', `embeddings.length must be frameCount (${frameCount}) x D, got ${data.length}`);
  }
  return { data, frameCount, dim: data.length / frameCount, embedQuery: embed };
}

/**
 * Reads [N, D] frame embeddings from a safetensors file: the tensor `name`, or
 * the file's only tensor. E_IO naming the file when it is not one.
 */
export async function readEmbeddingsFile(path: string, name?: string): Promise<{ data: Float32Array; frameCount: number; dim: number }> {
  const file = await readSafetensors(path);
  const names = [...file.tensors.keys()];
  const chosen = name ?? (names.length === 1 ? names[0] : names.includes('embeddings') ? 'embeddings' : undefined);
  if (chosen === undefined) throw new PyVisionError('E_IO', `${path} holds ${names.length} tensors (${names.join(', ')}); name the one with the frame embeddings`);
  const tensor = file.tensors.get(chosen);
  if (tensor === undefined) throw new PyVisionError('E_IO', `${path} has no tensor named ${chosen} (it has ${names.join(', ')})`);
  if (tensor.shape.length !== 2) throw new PyVisionError('E_SHAPE', `${path}: tensor ${chosen} must be [N, D], got [${tensor.shape.join(', ')}]`);
  return { data: tensor.data, frameCount: tensor.shape[0], dim: tensor.shape[1] };
}

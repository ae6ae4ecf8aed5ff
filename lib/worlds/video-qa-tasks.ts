/**
 * The tasks of the video QA world: a seeded procedural video per task and a
 * question about something that happens briefly in it, the scripted expert's
 * program, and what k uniformly sampled frames can tell (the uniform-k
 * oracle). Pure functions of the task: no sandbox, no tokenizer, no policy.
 *
 * Question types (every object's on-screen window is short: `eventShare` of
 * the video, 3-6% by default, so a few uniform frames often miss it):
 *   presence  "does a red ball appear in the video"                       yes / no
 *   colour    "the ball changes colour . what colour is it at the end"    4 colours
 *   order     "which appears first : the red ball or the blue box"        the two objects
 *   count     "how many times does the red ball appear"                   1 / 2 / 3
 * An object is never on screen together with another object of its colour.
 */
import { PyVisionError } from '../util/errors.js';
import * as v from '../util/validate.js';
import { mulberry32 } from '../util/random.js';
import {
  FLASH_COLOUR,
  VIDEO_COLOUR_NAMES,
  VIDEO_SHAPES,
  drawnColourAt,
  inIntervals,
  type FrameInterval,
  type Rgb,
  type Scene,
  type SceneObject,
  type VideoShape,
} from '../video/procedural.js';
import type { Split, Task } from './world.js';

export type VideoQuestionType = 'presence' | 'colour' | 'order' | 'count';
export const VIDEO_QUESTION_TYPES: readonly VideoQuestionType[] = ['presence', 'colour', 'order', 'count'];

/** Colours objects may have (white is the flash). */
export const OBJECT_COLOURS: readonly string[] = VIDEO_COLOUR_NAMES.filter((c) => c !== FLASH_COLOUR);

export interface VideoTask extends Task {
  readonly type: VideoQuestionType;
  /** The procedural video, rendered frame by frame on demand. */
  readonly scene: Scene;
  /** Index into scene.objects of the object(s) the question is about (for order: the two, in the question's order). */
  readonly targets: readonly number[];
  /** For presence: the (colour, shape) asked about; for the others the targets' description. */
  readonly subject: { colour: string | null; shape: VideoShape };
  /** For order: the second object asked about. */
  readonly second?: { colour: string; shape: VideoShape };
  /** The shortest on-screen window the generator makes for this video (frames): a gap between looked-at frames shorter than this cannot hide an appearance. */
  readonly minWindow: number;
}

export interface VideoTaskOptions {
  /** Frame count range [min, max] of the videos. Default [300, 3000]. */
  frames: [number, number];
  /** Frame rates to draw from. Default [10, 15, 24, 30]. */
  fpsChoices: number[];
  /** Frame size in pixels. Default 64 x 64. */
  width: number;
  height: number;
  /** Length of an object's on-screen window as a share of the video, [min, max]. Default [0.03, 0.06]. */
  eventShare: [number, number];
  /** Distractor objects per video, [min, max]. Default [1, 3]. */
  distractors: [number, number];
  /** Question types to draw (in turn). Default all four. */
  types: VideoQuestionType[];
}

export const DEFAULT_VIDEO_TASK_OPTIONS: VideoTaskOptions = {
  frames: [300, 3000],
  fpsChoices: [10, 15, 24, 30],
  width: 64,
  height: 64,
  eventShare: [0.03, 0.06],
  distractors: [1, 3],
  types: [...VIDEO_QUESTION_TYPES],
};

/** Checks and completes task options (messages name the field). */
export function videoTaskOptions(options: Partial<VideoTaskOptions> = {}, name = 'options'): VideoTaskOptions {
  const o = { ...DEFAULT_VIDEO_TASK_OPTIONS, ...v.optionalObject(options, name) } as VideoTaskOptions;
  const range = (r: unknown, field: string, rule: v.NumberRule): [number, number] => {
    if (!Array.isArray(r) || r.length !== 2) throw new PyVisionError('E_ARG', `${name}.${field} must be [min, max], got ${String(r)}`);
    const lo = v.number(r[0], `${name}.${field}[0]`, rule);
    const hi = v.number(r[1], `${name}.${field}[1]`, { ...rule, min: lo });
    return [lo, hi];
  };
  o.frames = range(o.frames, 'frames', { integer: true, min: 60, max: 1_000_000 });
  o.eventShare = range(o.eventShare, 'eventShare', { above: 0, max: 0.15 });
  o.distractors = range(o.distractors, 'distractors', { integer: true, min: 0, max: 6 });
  v.number(o.width, `${name}.width`, { integer: true, min: 32, max: 1024 });
  v.number(o.height, `${name}.height`, { integer: true, min: 32, max: 1024 });
  if (!Array.isArray(o.fpsChoices) || o.fpsChoices.length === 0) throw new PyVisionError('E_ARG', `${name}.fpsChoices must be a non-empty array of frame rates`);
  o.fpsChoices.forEach((f, j) => v.number(f, `${name}.fpsChoices[${j}]`, { above: 0, max: 1000 }));
  if (!Array.isArray(o.types) || o.types.length === 0) throw new PyVisionError('E_ARG', `${name}.types must list question types`);
  o.types.forEach((t, j) => v.oneOf(t, `${name}.types[${j}]`, VIDEO_QUESTION_TYPES, 'presence'));
  return o;
}

/** A small seeded generator (mulberry32): the same seed gives the same tasks on every machine. */
export class TaskRng {
  /** Uniform in [0, 1). */
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/** A 32-bit hash of strings and numbers (FNV-1a), for per-task seeds. */
export function hashSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('\u0000')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const describeObject = (colour: string | null, shape: VideoShape) => (colour === null ? shape : `${colour} ${shape}`);

interface Builder {
  rng: TaskRng;
  o: VideoTaskOptions;
  N: number;
  objects: SceneObject[];
}

function windowLength(b: Builder): number {
  const [lo, hi] = b.o.eventShare;
  return Math.max(4, Math.round((lo + (hi - lo) * b.rng.next()) * b.N));
}

/** A random window of length L not overlapping `avoid` (each widened by `gap`); null when none fits in a few tries. */
function placeWindow(b: Builder, L: number, avoid: FrameInterval[], gap: number): FrameInterval | null {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = b.rng.int(0, b.N - L);
    const w = { start, end: start + L };
    if (avoid.every((a) => w.end + gap <= a.start || w.start >= a.end + gap)) return w;
  }
  return null;
}

function makeObject(b: Builder, shape: VideoShape, colour: string, visible: FrameInterval[]): SceneObject {
  const { width: W, height: H } = b.o;
  const size = b.rng.int(Math.round(W / 16), Math.round(W / 10));
  const margin = size + 1;
  const pos = () => ({ x: b.rng.int(margin, W - margin - 1) + 0.5, y: b.rng.int(margin, H - margin - 1) + 0.5 });
  const p0 = pos();
  const p1 = pos();
  return { shape, size, visible, colours: [{ from: 0, colour }], path: { x0: p0.x, y0: p0.y, x1: p1.x, y1: p1.y }, flashes: [] };
}

/** Gives an object a flash (8-16 frames inside one of its windows) with probability p. */
function maybeFlash(b: Builder, object: SceneObject, p: number): void {
  if (b.rng.next() >= p) return;
  const w = b.rng.pick(object.visible);
  const length = Math.min(w.end - w.start, b.rng.int(8, 16));
  const start = b.rng.int(w.start, w.end - length);
  object.flashes.push({ start, end: start + length });
}

/** Distractors: objects whose (colour, shape) is not in `taken`, optionally of other shapes only. */
function addDistractors(b: Builder, taken: Set<string>, allowedShapes: readonly VideoShape[], preferSimilarTo?: { colour: string | null; shape: VideoShape }): void {
  const count = b.rng.int(b.o.distractors[0], b.o.distractors[1]);
  for (let d = 0; d < count; d++) {
    let shape: VideoShape = b.rng.pick(allowedShapes);
    let colour = b.rng.pick(OBJECT_COLOURS);
    // Hard negatives: the first distractor often shares the subject's colour or shape.
    if (d === 0 && preferSimilarTo !== undefined && b.rng.next() < 0.7) {
      if (preferSimilarTo.colour !== null && b.rng.next() < 0.5) colour = preferSimilarTo.colour;
      else if (allowedShapes.includes(preferSimilarTo.shape)) shape = preferSimilarTo.shape;
    }
    for (let attempt = 0; attempt < 20 && taken.has(`${colour} ${shape}`); attempt++) {
      shape = b.rng.pick(allowedShapes);
      colour = b.rng.pick(OBJECT_COLOURS);
    }
    if (taken.has(`${colour} ${shape}`)) continue;
    // Never on screen together with an object of its colour (one colour's pixels must be one object's).
    const sameColour = b.objects.filter((x) => x.colours.some((c) => c.colour === colour)).flatMap((x) => x.visible);
    const w = placeWindow(b, windowLength(b), sameColour, 1);
    if (w === null) continue;
    taken.add(`${colour} ${shape}`);
    const object = makeObject(b, shape, colour, [w]);
    maybeFlash(b, object, 0.4);
    b.objects.push(object);
  }
}

/** The task with this id: everything follows from (seed, split, index). */
export function makeVideoTask(options: VideoTaskOptions, split: Split, index: number, seed: number): VideoTask {
  const rng = new TaskRng(hashSeed('video-qa', seed, split, index));
  const o = options;
  const N = rng.int(o.frames[0], o.frames[1]);
  const fps = rng.pick(o.fpsChoices);
  const b: Builder = { rng, o, N, objects: [] };
  const type = o.types[(index + hashSeed(seed, split)) % o.types.length];
  const grey = rng.int(40, 90);
  const background: Rgb = [grey, grey, grey];
  let question: string;
  let options_: string[];
  let answer: string;
  let targets: number[] = [];
  let subject: VideoTask['subject'];
  let second: VideoTask['second'];
  const taken = new Set<string>();

  if (type === 'presence') {
    const colour = rng.pick(OBJECT_COLOURS);
    const shape = rng.pick(VIDEO_SHAPES);
    subject = { colour, shape };
    taken.add(`${colour} ${shape}`);
    const present = rng.next() < 0.5;
    if (present) {
      const object = makeObject(b, shape, colour, [placeWindow(b, windowLength(b), [], 0)!]);
      maybeFlash(b, object, 0.3);
      b.objects.push(object);
      targets = [0];
    }
    addDistractors(b, taken, VIDEO_SHAPES, subject);
    question = `does a ${colour} ${shape} appear in the video`;
    options_ = ['yes', 'no'];
    answer = present ? 'yes' : 'no';
  } else if (type === 'colour') {
    const shape = rng.pick(VIDEO_SHAPES);
    const [from, to] = rng.shuffle([...OBJECT_COLOURS]).slice(0, 2);
    subject = { colour: null, shape };
    const w = placeWindow(b, windowLength(b), [], 0)!;
    const object = makeObject(b, shape, from, [w]);
    const change = w.start + Math.round((w.end - w.start) * (0.35 + 0.3 * rng.next()));
    object.colours.push({ from: change, colour: to });
    b.objects.push(object);
    targets = [0];
    addDistractors(b, taken, VIDEO_SHAPES.filter((s) => s !== shape));
    question = `the ${shape} changes colour . what colour is it at the end`;
    const others = rng.shuffle(OBJECT_COLOURS.filter((c) => c !== from && c !== to)).slice(0, 2);
    options_ = rng.shuffle([to, from, ...others]);
    answer = to;
  } else if (type === 'order') {
    const [first, other] = rng.shuffle(OBJECT_COLOURS.flatMap((c) => VIDEO_SHAPES.map((s) => [c, s] as const))).slice(0, 2);
    const gap = Math.round(0.05 * N);
    const wa = placeWindow(b, windowLength(b), [], 0)!;
    let wb = placeWindow(b, windowLength(b), [wa], gap);
    for (let attempt = 0; wb === null && attempt < 10; attempt++) wb = placeWindow(b, windowLength(b), [wa], gap);
    if (wb === null) wb = wa.start > N / 2 ? { start: 0, end: Math.max(4, wa.start - gap) } : { start: Math.min(N - 4, wa.end + gap), end: N };
    const a = makeObject(b, first[1], first[0], [wa]);
    const c = makeObject(b, other[1], other[0], [wb]);
    maybeFlash(b, a, 0.3);
    maybeFlash(b, c, 0.3);
    b.objects.push(a, c);
    taken.add(`${first[0]} ${first[1]}`);
    taken.add(`${other[0]} ${other[1]}`);
    // The question names them in a random order.
    const swap = rng.next() < 0.5;
    const named = swap ? [1, 0] : [0, 1];
    targets = named;
    const desc = named.map((t) => describeObject(b.objects[t].colours[0].colour, b.objects[t].shape));
    subject = { colour: b.objects[named[0]].colours[0].colour, shape: b.objects[named[0]].shape };
    second = { colour: b.objects[named[1]].colours[0].colour, shape: b.objects[named[1]].shape };
    addDistractors(b, taken, VIDEO_SHAPES);
    question = `which appears first : the ${desc[0]} or the ${desc[1]}`;
    options_ = [`the ${desc[0]}`, `the ${desc[1]}`];
    answer = wa.start < wb.start ? `the ${describeObject(first[0], first[1])}` : `the ${describeObject(other[0], other[1])}`;
  } else {
    const colour = rng.pick(OBJECT_COLOURS);
    const shape = rng.pick(VIDEO_SHAPES);
    subject = { colour, shape };
    taken.add(`${colour} ${shape}`);
    const want = rng.int(1, 3);
    const windows: FrameInterval[] = [];
    const gap = Math.round(N / 5);
    for (let m = 0; m < want; m++) {
      const w = placeWindow(b, windowLength(b), windows, gap);
      if (w !== null) windows.push(w);
    }
    windows.sort((x, y) => x.start - y.start);
    const object = makeObject(b, shape, colour, windows);
    b.objects.push(object);
    targets = [0];
    addDistractors(b, taken, VIDEO_SHAPES, subject);
    question = `how many times does the ${colour} ${shape} appear`;
    options_ = ['1', '2', '3'];
    answer = String(windows.length);
  }
  // Draw order shuffled, so the target is not always underneath.
  const order = rng.shuffle(b.objects.map((_, j) => j));
  const objects = order.map((j) => b.objects[j]);
  targets = targets.map((t) => order.indexOf(t));
  const scene: Scene = { frameCount: N, fps, width: o.width, height: o.height, background, objects };
  const minWindow = Math.max(4, Math.round(o.eventShare[0] * N));
  return { id: `video-qa/${seed}/${split}/${index}`, split, type, question, options: options_, answer, scene, targets, subject: subject!, second, minWindow };
}

/** Normalised answer text: lower case, single spaces. */
export function normaliseAnswer(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9 ]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** The expert's program per question type: it only uses what the question says. */
export function expertProgram(task: VideoTask): string {
  const s = task.subject;
  if (task.type === 'presence') {
    return `f = select_frames(video_clue_0, "${s.colour} ${s.shape}", 1)\nshow(video_clue_0.get_batch(f)[0])`;
  }
  if (task.type === 'colour') {
    // mmr: the most relevant frame (the earliest, before the change), then the frame least like it: the other colour.
    return `f = select_frames(video_clue_0, "${s.shape}", 2, mode="mmr", normalize=True)\nshow(video_clue_0.get_batch(f)[-1])`;
  }
  if (task.type === 'order') {
    const t = task.second!;
    return (
      `a = select_frames(video_clue_0, "${s.colour} ${s.shape}", 1)\nb = select_frames(video_clue_0, "${t.colour} ${t.shape}", 1)\n` +
      'f = video_clue_0.get_batch(a + b)\nshow(f[0])\nshow(f[1])\nprint(a[0] < b[0])'
    );
  }
  return (
    `f = video_clue_0.get_batch(select_frames(video_clue_0, "${s.colour} ${s.shape}", 3, mode="topk_gap", min_gap=len(video_clue_0) // 6))\n` +
    'show(f[0])\nshow(f[1])\nshow(f[2])'
  );
}

/** Whether an object with this colour (null: any) and shape is drawn in its own colour at the frame. */
function showsObject(scene: Scene, colour: string | null, shape: VideoShape, frame: number): boolean {
  return scene.objects.some((obj) => obj.shape === shape && (colour === null ? drawnColourAt(obj, frame) !== null && drawnColourAt(obj, frame) !== FLASH_COLOUR : drawnColourAt(obj, frame) === colour));
}

/**
 * Expected accuracy of the best answer the frames `seen` allow (1 when they
 * decide the question; else 1 / the number of options they leave open, the
 * open options being equally likely, except presence where "no" is the
 * better guess when nothing was seen). Also the answer chosen (the right one
 * when decided; else an open option, seeded when rng is given).
 *
 * `selected`: the frames were chosen by relevance to the question's object
 * (the expert's topk-gap over its appearances), so an asked-for frame without
 * the object is evidence that there is no further appearance: the count is the
 * number of frames that show it.
 */
export function answerFromFrames(task: VideoTask, seen: readonly number[], rng?: TaskRng, selected = false): { acc: number; answer: string } {
  const scene = task.scene;
  const pickOpen = (open: string[]): { acc: number; answer: string } => {
    const answer = rng !== undefined ? rng.pick(open) : open[0];
    return { acc: open.includes(task.answer) ? 1 / open.length : 0, answer };
  };
  if (task.type === 'presence') {
    const hit = seen.some((i) => showsObject(scene, task.subject.colour, task.subject.shape, i));
    return hit ? { acc: task.answer === 'yes' ? 1 : 0, answer: 'yes' } : { acc: task.answer === 'no' ? 1 : 0, answer: 'no' };
  }
  if (task.type === 'colour') {
    const target = scene.objects[task.targets[0]];
    const colours = seen.filter((i) => inIntervals(target.visible, i)).map((i) => drawnColourAt(target, i)).filter((c) => c !== FLASH_COLOUR);
    const initial = target.colours[0].colour;
    const later = colours.filter((c) => c !== initial);
    if (later.length > 0) return pickOpen([later[later.length - 1]!]);
    const open = task.options.filter((c) => !(colours.length > 0 && c === initial));
    return pickOpen([...open]);
  }
  if (task.type === 'order') {
    const first = (t: number) => {
      const obj = scene.objects[task.targets[t]];
      const hits = seen.filter((i) => inIntervals(obj.visible, i));
      return hits.length > 0 ? Math.min(...hits) : -1;
    };
    const a = first(0);
    const c = first(1);
    if (a >= 0 && c >= 0) return pickOpen([a < c ? task.options[0] : task.options[1]]);
    return pickOpen([...task.options]);
  }
  const target = scene.objects[task.targets[0]];
  if (selected) {
    const shown = seen.filter((i) => drawnColourAt(target, i) === target.colours[0].colour).length;
    return pickOpen([String(Math.min(3, Math.max(1, shown)))]);
  }
  const hitWindows = target.visible.filter((w) => seen.some((i) => i >= w.start && i < w.end && drawnColourAt(target, i) === target.colours[0].colour)).length;
  // An appearance can hide between two looked-at frames only where they are at least minWindow + 1 apart.
  const sorted = [...new Set(seen)].sort((a, b) => a - b);
  const edges = [-1, ...sorted, scene.frameCount];
  let canMiss = false;
  for (let j = 1; j < edges.length; j++) if (edges[j] - edges[j - 1] > task.minWindow) canMiss = true;
  if (!canMiss) return pickOpen([String(Math.min(3, Math.max(1, hitWindows)))]);
  const open = task.options.filter((x) => Number(x) >= Math.max(1, hitWindows));
  return pickOpen([...open]);
}

/** The frames floor((j + 0.5) N / k), j = 0..k-1 (selectFrames' uniform mode; fewer when N < k). */
export function uniformFrames(frameCount: number, k: number): number[] {
  if (frameCount <= k) return Array.from({ length: frameCount }, (_, i) => i);
  return Array.from({ length: k }, (_, j) => Math.floor(((j + 0.5) * frameCount) / k));
}

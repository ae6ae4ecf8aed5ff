/**
 * Task generation of the visual-search world: one question about one small
 * target (or a small group) with multiple-choice options, V*-like.
 *
 *   color     what color is the <shape> ?                      the shape is unique in the scene
 *   shape     what shape is the <color> object ?               the colour is unique
 *   relation  where is the <color> <shape> relative to the <color2> <shape2> ?
 *             options left / right / above / below; the reference object is large and unique
 *   count     how many <color> <shape> objects are there ?     options 1..4
 *
 * Difficulty 'first-view': the objects the question is about are large (resolvable at the
 * view size). Difficulty 'zoom': they are small, and decoys make the first view ambiguous by
 * construction: the colour question's three decoys are small objects of the other three
 * shapes in the other option colours; the shape question's decoys are small objects of the
 * other shapes; the relation's decoys share the target's colour (other shapes) and lie in
 * other directions from the reference; the count's decoys share the colour (other shapes)
 * and sit in the same cluster. Telling them apart needs the object's shape, which a small
 * object does not show at the view size. These are the types of cue 'attribute' (the question
 * names its target by an attribute, so the agent must find it).
 *
 * Cue 'region' (the world's default; color and shape questions) names the target by a cell of
 * the REGION_GRID x REGION_GRID grid of the canvas instead:
 *   color     what color is the object of the region <l> <t> <r> <b> ?
 *   shape     what shape is the object of the region <l> <t> <r> <b> ?
 * The target lies inside that cell and nothing else touches it; the decoys (one object of each
 * other option's colour or shape) and the distractors lie elsewhere. The agent is told where to
 * look: what a crop adds is resolution, not search.
 */
import { COLOR_NAMES, SHAPES, objectBox, type ColorName, type SceneObject, type ShapeName } from './scene.js';

export const QUESTION_TYPES = ['color', 'shape', 'relation', 'count'] as const;
export type QuestionType = (typeof QUESTION_TYPES)[number];
export type Difficulty = 'first-view' | 'zoom';
export const DIRECTIONS = ['left', 'right', 'above', 'below'] as const;
/** How a question names its target: by an attribute (its shape or colour; the agent must find it) or by a region of the canvas. */
export const TARGET_CUES = ['attribute', 'region'] as const;
export type TargetCue = (typeof TARGET_CUES)[number];
/** The question types a 'region' cue applies to. */
export const REGION_QUESTION_TYPES: readonly QuestionType[] = ['color', 'shape'];
/** Cells per side of the grid whose cells 'region' questions name. */
export const REGION_GRID = 8;

export interface GenerationParams {
  canvas: number;
  smallSize: readonly [number, number];
  largeSize: readonly [number, number];
  distractors: number;
  options: number;
  cue: TargetCue;
}

export interface GeneratedTask {
  type: QuestionType;
  difficulty: Difficulty;
  question: string;
  options: string[];
  answer: string;
  objects: SceneObject[];
  /** Indices in `objects` of what the question is about (target first; for count, every counted object). */
  focus: number[];
  /** The region an agent must see closely: the target's box, or the counted group's and its decoys' box. */
  targetBox: [number, number, number, number];
  /** The grid cell a 'region' question names (canvas pixels [left, top, right, bottom]); absent otherwise. */
  region?: [number, number, number, number];
}

type Rng = () => number;

function int(r: Rng, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

function pick<T>(r: Rng, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)];
}

function shuffle<T>(r: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function overlaps(a: SceneObject, b: SceneObject, gap: number): boolean {
  return a.x < b.x + b.size + gap && b.x < a.x + a.size + gap && a.y < b.y + b.size + gap && b.y < a.y + a.size + gap;
}

class Layout {
  readonly objects: SceneObject[] = [];
  /** A box no object placed from now on may touch (a 'region' question's cell, once its target is in). */
  private reserved: [number, number, number, number] | null = null;
  constructor(readonly canvas: number, private readonly r: Rng) {}

  reserve(box: [number, number, number, number]): void {
    this.reserved = box;
  }

  fits(o: SceneObject): boolean {
    if (o.x < 1 || o.y < 1 || o.x + o.size > this.canvas - 1 || o.y + o.size > this.canvas - 1) return false;
    const q = this.reserved;
    if (q && o.x < q[2] && q[0] < o.x + o.size && o.y < q[3] && q[1] < o.y + o.size) return false;
    return this.objects.every((p) => !overlaps(o, p, Math.max(3, Math.round(0.25 * Math.max(o.size, p.size)))));
  }

  /** Places an object with its top-left uniform in [x0, x1] x [y0, y1]; returns its index or -1. */
  place(shape: ShapeName, color: ColorName, size: number, region?: [number, number, number, number]): number {
    const [x0, y0, x1, y1] = region ?? [1, 1, this.canvas - 1 - size, this.canvas - 1 - size];
    for (let attempt = 0; attempt < 200; attempt++) {
      const o = { shape, color, size, x: int(this.r, x0, Math.max(x0, x1)), y: int(this.r, y0, Math.max(y0, y1)) };
      if (this.fits(o)) {
        this.objects.push(o);
        return this.objects.length - 1;
      }
    }
    return -1;
  }
}

function unionBox(objects: readonly SceneObject[]): [number, number, number, number] {
  const boxes = objects.map(objectBox);
  return [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])), Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))];
}

/** Options: the answer and (count - 1) others from `pool`, shuffled. */
function optionsWith(r: Rng, answer: string, pool: readonly string[], count: number): string[] {
  const others = shuffle(r, pool.filter((p) => p !== answer)).slice(0, count - 1);
  return shuffle(r, [answer, ...others]);
}

/** Adds `n` random distractors allowed by `allowed` (half small, half of any size). */
function addDistractors(r: Rng, layout: Layout, p: GenerationParams, n: number, allowed: (shape: ShapeName, color: ColorName) => boolean): void {
  for (let k = 0, tries = 0; k < n && tries < 50 * n; tries++) {
    const shape = pick(r, SHAPES);
    const color = pick(r, COLOR_NAMES);
    if (!allowed(shape, color)) continue;
    const size = r() < 0.5 ? int(r, p.smallSize[0], p.smallSize[1]) : int(r, p.smallSize[0], p.largeSize[1]);
    if (layout.place(shape, color, size) >= 0) k++;
  }
}

/** The cell (column, row) of the REGION_GRID grid of a canvas, in canvas pixels. */
export function regionCell(canvas: number, column: number, row: number): [number, number, number, number] {
  const edge = (k: number) => Math.round((k * canvas) / REGION_GRID);
  return [edge(column), edge(row), edge(column + 1), edge(row + 1)];
}

/**
 * A 'region' question: the target (small for 'zoom', large for 'first-view') inside a random
 * grid cell that nothing else touches; one small decoy per other option and the distractors
 * outside it. Null when something does not fit (the caller redraws).
 */
function regionTask(r: Rng, type: QuestionType, difficulty: Difficulty, p: GenerationParams): GeneratedTask | null {
  const small = () => int(r, p.smallSize[0], p.smallSize[1]);
  const size = difficulty === 'zoom' ? small() : int(r, p.largeSize[0], p.largeSize[1]);
  const layout = new Layout(p.canvas, r);
  const cell = regionCell(p.canvas, int(r, 0, REGION_GRID - 1), int(r, 0, REGION_GRID - 1));
  const margin = 2;
  const shape = pick(r, SHAPES);
  const color = pick(r, COLOR_NAMES);
  if (cell[2] - cell[0] < size + 2 * margin || cell[3] - cell[1] < size + 2 * margin) return null;
  const t = layout.place(shape, color, size, [cell[0] + margin, cell[1] + margin, cell[2] - margin - size, cell[3] - margin - size]);
  if (t < 0) return null;
  layout.reserve(cell);
  const answer = type === 'color' ? color : shape;
  const options = type === 'color' ? optionsWith(r, color, COLOR_NAMES, p.options) : optionsWith(r, shape, SHAPES, Math.min(p.options, SHAPES.length));
  // Every other option is on the canvas, so the image as a whole does not give the answer away.
  for (const o of options.filter((x) => x !== answer)) {
    const placed = type === 'color' ? layout.place(pick(r, SHAPES), o as ColorName, small()) : layout.place(o as ShapeName, pick(r, COLOR_NAMES), small());
    if (placed < 0) return null;
  }
  addDistractors(r, layout, p, p.distractors, () => true);
  const question = `what ${type} is the object of the region ${cell.join(' ')} ?`;
  return { type, difficulty, question, options, answer, focus: [t], objects: layout.objects, targetBox: objectBox(layout.objects[t]), region: cell };
}

/** One task of the given type and difficulty, or null when the layout failed (the caller redraws). */
export function generateTask(r: Rng, type: QuestionType, difficulty: Difficulty, p: GenerationParams): GeneratedTask | null {
  if (p.cue === 'region') return regionTask(r, type, difficulty, p);
  const layout = new Layout(p.canvas, r);
  const small = () => int(r, p.smallSize[0], p.smallSize[1]);
  const large = () => int(r, p.largeSize[0], p.largeSize[1]);
  const targetSize = () => (difficulty === 'zoom' ? small() : large());
  let result: Omit<GeneratedTask, 'objects' | 'targetBox' | 'type' | 'difficulty'> & { box?: number[] };

  if (type === 'color') {
    const shape = pick(r, SHAPES);
    const color = pick(r, COLOR_NAMES);
    const options = optionsWith(r, color, COLOR_NAMES, p.options);
    const t = layout.place(shape, color, targetSize());
    if (t < 0) return null;
    // Decoys: the other shapes in the other option colours, small.
    const otherShapes = shuffle(r, SHAPES.filter((s) => s !== shape));
    options.filter((o) => o !== color).forEach((c, k) => layout.place(otherShapes[k % otherShapes.length], c as ColorName, small()));
    addDistractors(r, layout, p, p.distractors, (s) => s !== shape);
    result = { question: `what color is the ${shape} ?`, options, answer: color, focus: [t] };
  } else if (type === 'shape') {
    const shape = pick(r, SHAPES);
    const color = pick(r, COLOR_NAMES);
    const options = optionsWith(r, shape, SHAPES, Math.min(p.options, SHAPES.length));
    const t = layout.place(shape, color, targetSize());
    if (t < 0) return null;
    const decoyColors = shuffle(r, COLOR_NAMES.filter((c) => c !== color));
    options.filter((o) => o !== shape).forEach((s, k) => layout.place(s as ShapeName, decoyColors[k], small()));
    addDistractors(r, layout, p, p.distractors, (_s, c) => c !== color);
    result = { question: `what shape is the ${color} object ?`, options, answer: shape, focus: [t] };
  } else if (type === 'relation') {
    const shape = pick(r, SHAPES);
    const color = pick(r, COLOR_NAMES);
    const refShape = pick(r, SHAPES);
    const refColor = pick(r, COLOR_NAMES.filter((c) => c !== color));
    const refSize = large();
    const margin = Math.round(p.canvas * 0.3);
    const ref = layout.place(refShape, refColor, refSize, [margin, margin, p.canvas - margin - refSize, p.canvas - margin - refSize]);
    if (ref < 0) return null;
    const o = layout.objects[ref];
    const centre = [o.x + o.size / 2, o.y + o.size / 2];
    const directions = shuffle(r, [...DIRECTIONS]);
    const answer = directions[0];
    // The target and one same-coloured decoy in each of two other directions.
    const placeAt = (dir: string, s: ShapeName, size: number): number => {
      for (let attempt = 0; attempt < 40; attempt++) {
        const along = int(r, Math.round(o.size / 2 + size + 8), Math.round(p.canvas * 0.3));
        const across = Math.round((r() * 2 - 1) * along * 0.4);
        const [dx, dy] = dir === 'left' ? [-along, across] : dir === 'right' ? [along, across] : dir === 'above' ? [across, -along] : [across, along];
        const x = Math.round(centre[0] + dx - size / 2);
        const y = Math.round(centre[1] + dy - size / 2);
        const k = layout.place(s, color, size, [x, y, x, y]);
        if (k >= 0) return k;
      }
      return -1;
    };
    const t = placeAt(answer, shape, targetSize());
    if (t < 0) return null;
    const decoyShapes = shuffle(r, SHAPES.filter((s) => s !== shape));
    placeAt(directions[1], decoyShapes[0], small());
    placeAt(directions[2], decoyShapes[1], small());
    addDistractors(r, layout, p, p.distractors, (s, c) => c !== color && !(s === refShape && c === refColor));
    const options = optionsWith(r, answer, DIRECTIONS, Math.min(p.options, DIRECTIONS.length));
    result = { question: `where is the ${color} ${shape} relative to the ${refColor} ${refShape} ?`, options, answer, focus: [t, ref], box: objectBox(layout.objects[t]) };
  } else {
    const shape = pick(r, SHAPES);
    const color = pick(r, COLOR_NAMES);
    const count = int(r, 1, 4);
    const decoys = int(r, 0, 2);
    // Small groups sit in one cluster (one crop sees them all); large ones anywhere.
    const side = Math.min(p.canvas - 2, Math.max(4 * p.smallSize[1] + 24, Math.round(p.canvas * 0.3)));
    const cx = int(r, 1, p.canvas - 1 - side);
    const cy = int(r, 1, p.canvas - 1 - side);
    const focus: number[] = [];
    const all: number[] = [];
    const decoyShapes = SHAPES.filter((s) => s !== shape);
    for (let k = 0; k < count + decoys; k++) {
      const size = targetSize();
      const region: [number, number, number, number] | undefined = difficulty === 'zoom' ? [cx, cy, cx + side - size, cy + side - size] : undefined;
      const idx = layout.place(k < count ? shape : pick(r, decoyShapes), color, size, region);
      if (idx < 0) return null;
      if (k < count) focus.push(idx);
      all.push(idx);
    }
    addDistractors(r, layout, p, p.distractors, (_s, c) => c !== color);
    const pool = ['1', '2', '3', '4'];
    const options = optionsWith(r, String(count), pool, Math.min(p.options, pool.length)).sort();
    result = { question: `how many ${color} ${shape} objects are there ?`, options, answer: String(count), focus, box: unionBox(all.map((i) => layout.objects[i])) };
  }
  const targetBox = (result.box ?? objectBox(layout.objects[result.focus[0]])) as [number, number, number, number];
  return { type, difficulty, question: result.question, options: result.options, answer: result.answer, focus: result.focus, objects: layout.objects, targetBox };
}

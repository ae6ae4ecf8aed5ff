/**
 * The first-view solver: the best answer this project's scripted analysis finds
 * from the first observation alone (the canvas at the view size), for the
 * calibration table. It reads the question's words, not the task's hidden
 * fields. Pixels are labelled with the nearest object colour (or background),
 * connected regions become candidate objects, and a region's shape is read by
 * matching it against each shape's mask when the region is at least
 * `minShapeSide` view pixels wide; smaller regions have no readable shape.
 * Where the view leaves several answers possible, it guesses uniformly among
 * them (seeded by the task id), which is the best a solver can do when the
 * candidates are indistinguishable.
 */
import type { RgbImage } from '../../util/rgb.js';
import { COLORS, COLOR_NAMES, SHAPES, hash32, insideObject, random, type ColorName, type ShapeName } from './scene.js';
import { DIRECTIONS } from './tasks.js';

export interface ViewRegion {
  color: ColorName;
  /** Bounding box in view pixels [left, top, right, bottom). */
  box: [number, number, number, number];
  pixels: number;
  /** The best-matching shape, or null when the region is too small to tell. */
  shape: ShapeName | null;
  cx: number;
  cy: number;
}

export interface FirstViewOptions {
  /** Largest colour distance from an object colour for a pixel to count as that object's. Default 70. */
  colorDistance?: number;
  /** Smallest bounding-box side (view pixels) at which a shape is read. Default 5 (small objects span at most 4 after blending). */
  minShapeSide?: number;
}

/** Candidate objects in a view image. */
export function viewRegions(view: RgbImage, options: FirstViewOptions = {}): ViewRegion[] {
  const maxDist2 = (options.colorDistance ?? 70) ** 2;
  const minSide = options.minShapeSide ?? 5;
  const { width: w, height: h, data } = view;
  const label = new Int8Array(w * h).fill(-1);
  for (let p = 0; p < w * h; p++) {
    let best = -1;
    let bestD = maxDist2;
    COLOR_NAMES.forEach((name, k) => {
      const c = COLORS[name];
      const d = (data[3 * p] - c[0]) ** 2 + (data[3 * p + 1] - c[1]) ** 2 + (data[3 * p + 2] - c[2]) ** 2;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    });
    label[p] = best;
  }
  const seen = new Uint8Array(w * h);
  const regions: ViewRegion[] = [];
  for (let start = 0; start < w * h; start++) {
    if (label[start] < 0 || seen[start]) continue;
    const k = label[start];
    const stack = [start];
    const members: number[] = [];
    seen[start] = 1;
    while (stack.length > 0) {
      const p = stack.pop() as number;
      members.push(p);
      const x = p % w;
      const y = (p - x) / w;
      for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]]) {
        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
        const q = ny * w + nx;
        if (!seen[q] && label[q] === k) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    const xs = members.map((p) => p % w);
    const ys = members.map((p) => Math.floor(p / w));
    const box: [number, number, number, number] = [Math.min(...xs), Math.min(...ys), Math.max(...xs) + 1, Math.max(...ys) + 1];
    const side = Math.max(box[2] - box[0], box[3] - box[1]);
    let shape: ShapeName | null = null;
    if (side >= minSide) {
      const inside = new Set(members);
      let bestIou = -1;
      for (const s of SHAPES) {
        // The shape's mask in the region's square box (same pixel-centre test the renderer uses).
        const o = { shape: s, color: COLOR_NAMES[k], x: box[0], y: box[1], size: side };
        let both = 0;
        let either = 0;
        for (let y = box[1]; y < box[1] + side; y++) {
          for (let x = box[0]; x < box[0] + side; x++) {
            const a = x < w && y < h && inside.has(y * w + x);
            const b = insideObject(o, x, y);
            if (a && b) both++;
            if (a || b) either++;
          }
        }
        const iou = both / Math.max(1, either);
        if (iou > bestIou) {
          bestIou = iou;
          shape = s;
        }
      }
    }
    regions.push({
      color: COLOR_NAMES[k],
      box,
      pixels: members.length,
      shape,
      cx: (box[0] + box[2]) / 2,
      cy: (box[1] + box[3]) / 2,
    });
  }
  return regions;
}

interface QuestionLike {
  id: string;
  type: string;
  question: string;
  options: readonly string[];
  /** The region a question of cue 'region' names, in canvas pixels, and the canvas it is of. */
  region?: readonly number[];
  scene?: { width: number };
}

function direction(dx: number, dy: number): string {
  return Math.abs(dx) >= Math.abs(dy) ? (dx < 0 ? 'left' : 'right') : dy < 0 ? 'above' : 'below';
}

/** The first-view solver's answer to a visual-search question, given the first view's pixels. */
export function firstViewAnswer(task: QuestionLike, view: RgbImage, options: FirstViewOptions = {}): string {
  const r = random(hash32('first-view', task.id));
  const guess = (choices: readonly string[]) => {
    const allowed = choices.filter((c) => task.options.includes(c));
    const pool = allowed.length > 0 ? allowed : task.options;
    return pool[Math.floor(r() * pool.length)];
  };
  const words = task.question.split(/\s+/);
  const colors = words.filter((x) => (COLOR_NAMES as string[]).includes(x)) as ColorName[];
  const shapes = words.filter((x) => (SHAPES as readonly string[]).includes(x)) as ShapeName[];
  // Tiny specks (one pixel of blending) are noise unless nothing else is there.
  const regions = viewRegions(view, options);
  const largest = (rs: ViewRegion[]) => rs.reduce<ViewRegion | null>((a, b) => (a === null || b.pixels > a.pixels ? b : a), null);

  if (task.region && task.scene) {
    // The named region at the view's scale: the largest region whose centre lies in it is the target.
    const k = view.width / task.scene.width;
    const [l, t, rt, b] = task.region.map((x) => x * k);
    const inside = largest(regions.filter((g) => g.cx >= l && g.cx < rt && g.cy >= t && g.cy < b));
    const read = inside && (task.type === 'color' ? inside.color : inside.shape);
    return read && task.options.includes(read) ? read : guess(task.options);
  }

  if (task.type === 'color') {
    const shape = shapes[0];
    const known = largest(regions.filter((g) => g.shape === shape));
    if (known && task.options.includes(known.color)) return known.color;
    return guess(regions.filter((g) => g.shape === null).map((g) => g.color));
  }
  if (task.type === 'shape') {
    const mine = largest(regions.filter((g) => g.color === colors[0]));
    if (mine && mine.shape && task.options.includes(mine.shape)) return mine.shape;
    return guess(task.options);
  }
  if (task.type === 'relation') {
    const [color, refColor] = colors;
    const [shape, refShape] = shapes;
    const ref = largest(regions.filter((g) => g.color === refColor && (g.shape === refShape || g.shape === null)));
    if (!ref) return guess(DIRECTIONS);
    const target = largest(regions.filter((g) => g.color === color && g.shape === shape));
    if (target) return guess([direction(target.cx - ref.cx, target.cy - ref.cy)]);
    const unknown = regions.filter((g) => g.color === color && g.shape === null);
    if (unknown.length === 0) return guess(DIRECTIONS);
    return guess(unknown.map((g) => direction(g.cx - ref.cx, g.cy - ref.cy)));
  }
  if (task.type === 'count') {
    const color = colors[0];
    const shape = shapes[0];
    const mine = regions.filter((g) => g.color === color);
    const known = mine.filter((g) => g.shape === shape).length;
    const unknown = mine.filter((g) => g.shape === null).length;
    const possible: string[] = [];
    for (let k = Math.max(1, known); k <= known + unknown; k++) possible.push(String(k));
    return guess(possible.length > 0 ? possible : task.options);
  }
  return guess(task.options);
}

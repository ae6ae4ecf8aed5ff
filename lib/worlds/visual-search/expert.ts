/**
 * The scripted expert of the visual-search world (the SFT cold start). It knows
 * the target and writes, in the protocol and vocabulary the policy speaks:
 *   - a direct answer where the first view suffices (share directShare of 'first-view' tasks);
 *   - otherwise one zoom, show(image_clue_0.crop((l, t, r, b))), on a jittered box around the
 *     target, or (share twoStepShare) two: a wide crop, then a crop of that crop in its own
 *     pixel coordinates, show(image_clue_k.crop(...));
 *   - in share imperfectShare of the zooming trajectories, first a crop that misses the target
 *     (a region elsewhere), then the correct zoom: imperfect but recovering, and still correct;
 *   - then <answer> the answer </answer>.
 * Every box is integers inside the canvas (numbers the vocabulary has as whole tokens).
 * A task that names its region (the world's cue 'region') is zoomed on that region exactly (no
 * jitter); its two-step zoom crops the quarter of the canvas holding the region first, and its
 * imperfect crop is the region mirrored through the canvas centre.
 */
import type { ExpertTurn } from '../world.js';
import { hash32, random } from './scene.js';

export interface ExpertOptions {
  /** Share of 'first-view' tasks answered without a tool call. Default 0.85. */
  directShare: number;
  /** Share of zooming trajectories that zoom in two steps (crop the crop). Default 0.3. */
  twoStepShare: number;
  /** Share of zooming trajectories that first crop a region that misses the target. Default 0.1. */
  imperfectShare: number;
  /** Jitter of box sizes and positions (fraction of the box side). Default 0.25. */
  jitter: number;
}

export const DEFAULT_EXPERT_OPTIONS: Readonly<ExpertOptions> = Object.freeze({ directShare: 0.85, twoStepShare: 0.3, imperfectShare: 0.1, jitter: 0.25 });

interface ExpertTask {
  id: string;
  answer: string;
  difficulty: string;
  targetBox: readonly [number, number, number, number];
  /** The region the question names, when it names one: the zoom is that region. */
  region?: readonly [number, number, number, number];
}

interface ExpertSettings {
  canvas: number;
  view: { width: number };
  expert: ExpertOptions;
}

type Box = [number, number, number, number];

/**
 * A square box of side `side` (clamped to the area) inside [0, areaW) x [0, areaH) that contains
 * `target` whole when it fits, placed uniformly among such positions.
 */
function boxAround(r: () => number, target: readonly number[], side: number, areaW: number, areaH: number): Box {
  const sideX = Math.min(Math.max(side, Math.ceil(target[2] - target[0]) + 2), areaW);
  const sideY = Math.min(Math.max(side, Math.ceil(target[3] - target[1]) + 2), areaH);
  const place = (lo: number, hi: number, s: number, area: number) => {
    const min = Math.max(0, Math.ceil(hi) - s);
    const max = Math.min(area - s, Math.floor(lo));
    return max >= min ? min + Math.floor(r() * (max - min + 1)) : Math.max(0, Math.min(area - s, Math.round((lo + hi - s) / 2)));
  };
  const x = place(target[0], target[2], sideX, areaW);
  const y = place(target[1], target[3], sideY, areaH);
  return [x, y, x + sideX, y + sideY];
}

function cropCode(clue: number, box: Box): string {
  return `show(image_clue_${clue}.crop((${box[0]}, ${box[1]}, ${box[2]}, ${box[3]})))`;
}

/** The expert's turns for one task and seed (deterministic). */
export function expertTurns(task: ExpertTask, seed: number, settings: ExpertSettings): ExpertTurn[] {
  const r = random(hash32('expert', seed, task.id));
  const e = settings.expert;
  const S = settings.canvas;
  const answer: ExpertTurn = { kind: 'answer', answer: task.answer };
  if (task.difficulty === 'first-view' && r() < e.directShare) return [answer];
  if (task.region) return [...regionZoom(r, task.region, S, e), answer];
  const t = task.targetBox;
  const tSide = Math.max(t[2] - t[0], t[3] - t[1]);
  const jitter = (x: number) => x * (1 + e.jitter * (2 * r() - 1));
  // The zoom that resolves the target: it spans about 4 to 6 target sides, at least a third of the view.
  const zoomSide = () => Math.round(Math.min(S, Math.max(settings.view.width / 3, jitter(tSide * 5))));
  const turns: ExpertTurn[] = [];
  let clue = 0;
  if (r() < e.imperfectShare) {
    // A crop of similar size elsewhere: the far side of the canvas from the target.
    const side = zoomSide();
    const cx = (t[0] + t[2]) / 2 < S / 2 ? S - side : 0;
    const cy = (t[1] + t[3]) / 2 < S / 2 ? S - side : 0;
    turns.push({ kind: 'code', code: cropCode(0, [cx, cy, cx + side, cy + side]) });
    clue++;
  }
  if (r() < e.twoStepShare && S >= 128) {
    const wide = boxAround(r, t, Math.round(Math.min(S, jitter(S / 2))), S, S);
    turns.push({ kind: 'code', code: cropCode(0, wide) });
    clue++;
    const inner = [t[0] - wide[0], t[1] - wide[1], t[2] - wide[0], t[3] - wide[1]];
    turns.push({ kind: 'code', code: cropCode(clue, boxAround(r, inner, zoomSide(), wide[2] - wide[0], wide[3] - wide[1])) });
  } else {
    turns.push({ kind: 'code', code: cropCode(0, boxAround(r, t, zoomSide(), S, S)) });
  }
  turns.push(answer);
  return turns;
}

/** The zoom onto a named region: the region itself, possibly after a miss or a first wider crop. */
function regionZoom(r: () => number, region: readonly [number, number, number, number], S: number, e: ExpertOptions): ExpertTurn[] {
  const [l, t, rt, b] = region;
  const turns: ExpertTurn[] = [];
  let clue = 0;
  if (r() < e.imperfectShare) {
    turns.push({ kind: 'code', code: cropCode(0, [S - rt, S - b, S - l, S - t]) });
    clue++;
  }
  if (r() < e.twoStepShare && S >= 128) {
    // The quarter of the canvas the region lies in (the grid's middle edge splits no cell).
    const mid = Math.round(S / 2);
    const wx = l < mid ? 0 : mid;
    const wy = t < mid ? 0 : mid;
    turns.push({ kind: 'code', code: cropCode(0, [wx, wy, wx === 0 ? mid : S, wy === 0 ? mid : S]) });
    clue++;
    turns.push({ kind: 'code', code: cropCode(clue, [l - wx, t - wy, rt - wx, b - wy]) });
  } else {
    turns.push({ kind: 'code', code: cropCode(0, [l, t, rt, b]) });
  }
  return turns;
}

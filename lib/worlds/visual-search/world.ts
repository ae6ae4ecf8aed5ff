/**
 * The built-in visual-search world (agent.md section 4): a canvas of a
 * background and flat-coloured objects; questions about one small target with
 * options; a first view at the view size where small targets are not
 * resolvable; the image tool (crop / resize / rotate / show) to zoom in.
 * See docs/agent.md, "The visual-search world", for the knobs and the calibration.
 */
import { PyVisionError, describe } from '../../util/errors.js';
import * as v from '../../util/validate.js';
import type { RgbImage } from '../../util/rgb.js';
import { checkImage } from '../../image/image.js';
import { decodeImageFile } from '../../image/decode.js';
import { ViewPatchCache, checkViewShape, fitToView, patchCount, patchDim, viewPatches, viewPatchesInto, type ViewShape } from '../../image/view.js';
import { resolveLimits, type SandboxLimits } from '../../sandbox/limits.js';
import { ImageToolSession, type ImageToolDetails } from '../image-session.js';
import { WordTokenizer } from '../tokenizer.js';
import type {
  ExpertTurn, ObservationLimits, Segment, Split, Task, ToolResult, ToolSession, TurnRecord, World, WorldPolicyShape,
} from '../world.js';
import { DEFAULT_EXPERT_OPTIONS, expertTurns, type ExpertOptions } from './expert.js';
import { hash32, random, renderScene, type Background, type Scene } from './scene.js';
import { QUESTION_TYPES, REGION_GRID, REGION_QUESTION_TYPES, TARGET_CUES, generateTask, type Difficulty, type QuestionType, type TargetCue } from './tasks.js';
import { ERROR_WORDS, IMAGE_TOOL_WORDS, QUESTION_WORDS, imageClueWords } from './vocabulary.js';

export interface VisualSearchTask extends Task {
  readonly type: QuestionType;
  /** 'first-view': the objects asked about are large; 'zoom': they are small (crop to see them). */
  readonly difficulty: Difficulty;
  readonly scene: Scene;
  /** The region to look at closely (the target, or the counted group), canvas pixels [left, top, right, bottom]. */
  readonly targetBox: [number, number, number, number];
  /** Indices in scene.objects of the objects the question is about (target first). */
  readonly focus: readonly number[];
  /** The grid cell a question of cue 'region' names, canvas pixels [left, top, right, bottom]; absent otherwise. */
  readonly region?: [number, number, number, number];
}

export interface VisualSearchOptions {
  /** Canvas side in pixels (square). Default 256; 64..1024. */
  canvas?: number;
  /** Side of the view (the first observation and every shown image) in pixels. Default 64. */
  view?: number;
  /** Patch side in pixels (view must be a multiple). Default 8: 64 patches per image, patchDim 192. */
  patch?: number;
  /** [min, max] side of small objects (targets of 'zoom' questions, decoys) in canvas pixels. Default [2, 4] (cue 'attribute': [6, 10]). */
  targetSize?: [number, number];
  /** [min, max] side of large objects (targets of 'first-view' questions, references). Default 5..7 view pixels' worth, what fits a region cell (cue 'attribute': 6..9). */
  largeSize?: [number, number];
  /** Random objects besides the target and its decoys. Default 6. */
  distractors?: number;
  /** Share of questions about large (first-view resolvable) objects, in [0, 1]; 0 is the control where tools are always needed. Default 0.55. */
  firstViewShare?: number;
  /** Options per question, 2..4. Default 4. */
  options?: number;
  /** Question types drawn (uniformly). Default color (cue 'attribute': all of color, shape, relation, count); cue 'region' takes color and shape. */
  questionTypes?: QuestionType[];
  /**
   * How a question names its target. 'region' (default): by a cell of an 8 x 8 grid of the canvas
   * that holds the target alone ("what color is the object of the region 64 128 96 160 ?"; color
   * and shape questions), so what a crop adds is resolution, not search. 'attribute': by its shape
   * or colour, V*-like, so the agent must also find it.
   */
  cue?: TargetCue;
  /** Chance that a tool call fails (RuntimeError, program not run), per call, in [0, 1). Default 0. */
  toolFailureRate?: number;
  /** Decoded photos for backgrounds (VisualSearchWorld.create also takes file paths). Default: procedural texture. */
  backgrounds?: RgbImage[];
  /** Share of scenes on a photo when backgrounds are given. Default 1. */
  photoShare?: number;
  /** Sequence length the policy gets (policyConfig().maxSeqLen). Default 512. */
  maxSeqLen?: number;
  /** The scripted expert's mix of behaviours. */
  expert?: Partial<ExpertOptions>;
  /** Sandbox limits of the tool (images per trajectory, steps, wall time...). */
  limits?: Partial<SandboxLimits>;
  /** Pixels of one image the image built-ins may create. Default 2048 * 2048. */
  maxPixels?: number;
  /** Mixed into every task's generation: two worlds with different seeds draw different tasks. Default 0. */
  seed?: number;
}

export interface VisualSearchCreateOptions extends Omit<VisualSearchOptions, 'backgrounds'> {
  /** Photos as file paths (decoded with sharp: PNG, JPEG, WebP...) or decoded images. */
  backgrounds?: (string | RgbImage)[];
}

/** The resolved settings (every field set). */
export interface VisualSearchSettings {
  canvas: number;
  view: ViewShape;
  targetSize: [number, number];
  largeSize: [number, number];
  distractors: number;
  firstViewShare: number;
  options: number;
  questionTypes: QuestionType[];
  cue: TargetCue;
  toolFailureRate: number;
  photoShare: number;
  maxSeqLen: number;
  expert: ExpertOptions;
  limits: Partial<SandboxLimits>;
  maxPixels: number;
  seed: number;
  maxImages: number;
}

const SPLIT_BUCKETS: Record<Split, [number, number]> = { train: [0, 8], val: [8, 9], test: [9, 10] };

function sizeRange(value: unknown, name: string, fallback: [number, number], max: number): [number, number] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length !== 2) throw new PyVisionError('E_ARG', `${name} must be [min, max], got ${describe(value)}`);
  const lo = v.number(value[0], `${name}[0]`, { integer: true, min: 2, max });
  const hi = v.number(value[1], `${name}[1]`, { integer: true, min: lo, max });
  return [lo, hi];
}

export function resolveVisualSearchOptions(options: VisualSearchOptions | undefined): VisualSearchSettings {
  const o = v.optionalObject(options, 'options');
  const known = new Set(['canvas', 'view', 'patch', 'targetSize', 'largeSize', 'distractors', 'firstViewShare', 'options', 'questionTypes', 'cue', 'toolFailureRate', 'backgrounds', 'photoShare', 'maxSeqLen', 'expert', 'limits', 'maxPixels', 'seed']);
  for (const key of Object.keys(o)) {
    if (!known.has(key)) throw new PyVisionError('E_ARG', `options.${key} is not a visual-search option (known: ${[...known].join(', ')})`);
  }
  const canvas = v.optionalNumber(o.canvas, 'options.canvas', 256, { integer: true, min: 64, max: 1024 });
  const viewSide = v.optionalNumber(o.view, 'options.view', 64, { integer: true, min: 8, max: canvas });
  const patch = v.optionalNumber(o.patch, 'options.patch', 8, { integer: true, min: 2, max: viewSide });
  const view = checkViewShape({ width: viewSide, height: viewSide, patch }, 'options.view');
  const scale = canvas / viewSide;
  const cue = v.oneOf(o.cue, 'options.cue', TARGET_CUES, 'region');
  // A 'region' question's large target fits its cell with a 2-pixel margin.
  const cellSide = Math.floor(canvas / REGION_GRID);
  const largeDefault: [number, number] =
    cue === 'region' ? [Math.min(Math.ceil(5 * scale), cellSide - 4), Math.min(Math.ceil(9 * scale), cellSide - 4)] : [Math.ceil(6 * scale), Math.ceil(9 * scale)];
  const targetSize = sizeRange(o.targetSize, 'options.targetSize', cue === 'region' ? [2, 4] : [6, 10], Math.floor(canvas / 4));
  const largeSize = sizeRange(o.largeSize, 'options.largeSize', largeDefault, Math.floor(canvas / 4));
  const distractors = v.optionalNumber(o.distractors, 'options.distractors', 6, { integer: true, min: 0, max: 40 });
  const firstViewShare = v.optionalNumber(o.firstViewShare, 'options.firstViewShare', 0.55, { min: 0, max: 1 });
  const optionCount = v.optionalNumber(o.options, 'options.options', 4, { integer: true, min: 2, max: 4 });
  let questionTypes: QuestionType[] = cue === 'region' ? ['color'] : [...QUESTION_TYPES];
  if (o.questionTypes !== undefined) {
    if (!Array.isArray(o.questionTypes) || o.questionTypes.length === 0) {
      throw new PyVisionError('E_ARG', `options.questionTypes must be a non-empty array of ${QUESTION_TYPES.join(', ')}; got ${describe(o.questionTypes)}`);
    }
    questionTypes = o.questionTypes.map((t, i) => v.oneOf(t, `options.questionTypes[${i}]`, QUESTION_TYPES, 'color'));
  }
  if (cue === 'region') {
    const other = questionTypes.find((t) => !REGION_QUESTION_TYPES.includes(t));
    if (other !== undefined) throw new PyVisionError('E_ARG', `options.questionTypes: cue 'region' names targets of ${REGION_QUESTION_TYPES.join(' and ')} questions only, got ${other}`);
    if (largeSize[1] + 4 > cellSide || targetSize[1] + 4 > cellSide) {
      throw new PyVisionError('E_ARG', `options.largeSize and options.targetSize must fit a region cell with a 2-pixel margin (side at most ${cellSide - 4} at canvas ${canvas}), got ${largeSize[1]} and ${targetSize[1]}`);
    }
  }
  const toolFailureRate = v.optionalNumber(o.toolFailureRate, 'options.toolFailureRate', 0, { min: 0, below: 1 });
  const photoShare = v.optionalNumber(o.photoShare, 'options.photoShare', 1, { min: 0, max: 1 });
  const maxSeqLen = v.optionalNumber(o.maxSeqLen, 'options.maxSeqLen', 512, { integer: true, min: 64, max: 65536 });
  const e = v.optionalObject(o.expert, 'options.expert');
  const expert: ExpertOptions = { ...DEFAULT_EXPERT_OPTIONS };
  for (const key of Object.keys(e)) {
    if (!(key in DEFAULT_EXPERT_OPTIONS)) throw new PyVisionError('E_ARG', `options.expert.${key} is not an expert option (known: ${Object.keys(DEFAULT_EXPERT_OPTIONS).join(', ')})`);
    const k = key as keyof ExpertOptions;
    expert[k] = v.number(e[k], `options.expert.${key}`, { min: 0, max: 1 });
  }
  const limits = v.optionalObject(o.limits, 'options.limits') as Partial<SandboxLimits>;
  const maxImages = limits.maxImages === undefined ? 32 : v.number(limits.maxImages, 'options.limits.maxImages', { integer: true, min: 1, max: 1000 });
  const maxPixels = v.optionalNumber(o.maxPixels, 'options.maxPixels', 2048 * 2048, { integer: true, min: 1, max: 1 << 28 });
  const seed = v.optionalNumber(o.seed, 'options.seed', 0, { integer: true, min: 0, max: 0xffffffff });
  return { canvas, view, targetSize, largeSize, distractors, firstViewShare, options: optionCount, questionTypes, cue, toolFailureRate, photoShare, maxSeqLen, expert, limits: { maxImages, ...limits }, maxPixels, seed, maxImages };
}

/** The question as the prompt shows it: the question, then its options. */
export function questionText(task: Task): string {
  return `${task.question} options : ${task.options.join(' , ')}`;
}

/** Normalised answer text: trimmed, lower case, single spaces. */
export function normalizeAnswer(answer: string): string {
  return answer.trim().toLowerCase().replace(/\s+/g, ' ');
}

/** Fraction of box `inner` covered by box `outer`. */
export function boxCoverage(inner: readonly number[], outer: readonly number[]): number {
  const w = Math.max(0, Math.min(inner[2], outer[2]) - Math.max(inner[0], outer[0]));
  const h = Math.max(0, Math.min(inner[3], outer[3]) - Math.max(inner[1], outer[1]));
  const area = (inner[2] - inner[0]) * (inner[3] - inner[1]);
  return area > 0 ? (w * h) / area : 0;
}

export class VisualSearchWorld implements World<VisualSearchTask> {
  readonly name = 'visual-search';
  readonly settings: VisualSearchSettings;
  readonly tokenizer: WordTokenizer;
  readonly patchDim: number;
  /** Patches of one image observation. */
  readonly patchesPerImage: number;
  private readonly photos: RgbImage[];
  /** Per task id, its canvas and (once prompted) its prompt tokens and first view's patches; least recently used first. */
  private readonly cache = new Map<string, { image: RgbImage; patches?: Float32Array; tokens?: Int32Array }>();
  /** Observed images' patches by their pixels (the samples of a task often show the same crop, or the whole canvas). */
  private readonly views: ViewPatchCache;
  /** settings.limits over the sandbox's defaults, resolved at the first openTool. */
  private toolLimits: SandboxLimits | undefined;

  /** A world with the procedural background or already-decoded photos (see create() for files). */
  constructor(options?: VisualSearchOptions) {
    this.settings = resolveVisualSearchOptions(options);
    const photos = options?.backgrounds ?? [];
    if (!Array.isArray(photos)) throw new PyVisionError('E_ARG', `options.backgrounds must be an array of images, got ${describe(photos)}`);
    this.photos = photos.map((p, i) => checkImage(p, `options.backgrounds[${i}]`));
    const words = [...IMAGE_TOOL_WORDS, ...ERROR_WORDS, ...QUESTION_WORDS, ...imageClueWords(this.settings.maxImages)];
    this.tokenizer = new WordTokenizer(words, { maxNumber: Math.max(256, this.settings.canvas) });
    this.patchDim = patchDim(this.settings.view);
    this.patchesPerImage = patchCount(this.settings.view);
    this.views = new ViewPatchCache(this.settings.view);
  }

  /** A world whose backgrounds are users' photos: file paths are decoded with sharp (E_IO naming the file). */
  static async create(options?: VisualSearchCreateOptions): Promise<VisualSearchWorld> {
    const o = v.optionalObject(options, 'options') as VisualSearchCreateOptions;
    const given = o.backgrounds ?? [];
    if (!Array.isArray(given)) throw new PyVisionError('E_ARG', `options.backgrounds must be an array of paths or images, got ${describe(given)}`);
    const backgrounds: RgbImage[] = [];
    for (let i = 0; i < given.length; i++) {
      const b = given[i];
      backgrounds.push(typeof b === 'string' ? await decodeImageFile(b) : checkImage(b, `options.backgrounds[${i}]`));
    }
    return new VisualSearchWorld({ ...o, backgrounds });
  }

  tasks(split: Split, n: number, seed = 0): VisualSearchTask[] {
    v.oneOf(split, 'split', ['train', 'val', 'test'], 'train');
    v.number(n, 'n', { integer: true, min: 0, max: 10_000_000 });
    v.number(seed, 'seed', { integer: true, min: 0, max: 0xffffffff });
    const s = this.settings;
    const [lo, hi] = SPLIT_BUCKETS[split];
    const out: VisualSearchTask[] = [];
    for (let i = 0; i < n; i++) {
      for (let attempt = 0; ; attempt++) {
        if (attempt === 2000) {
          throw new PyVisionError('E_ARG', `options: no scene fits (canvas ${s.canvas}, largeSize ${JSON.stringify(s.largeSize)}, distractors ${s.distractors}); use a larger canvas or smaller objects`);
        }
        const r = random(hash32('visual-search', s.seed, seed, split, i, attempt));
        const type = s.questionTypes[Math.floor(r() * s.questionTypes.length)];
        const difficulty: Difficulty = r() < s.firstViewShare ? 'first-view' : 'zoom';
        const generated = generateTask(r, type, difficulty, { canvas: s.canvas, smallSize: s.targetSize, largeSize: s.largeSize, distractors: s.distractors, options: s.options, cue: s.cue });
        if (!generated) continue;
        const background: Background =
          this.photos.length > 0 && r() < s.photoShare ? this.photoBackground(r) : { kind: 'texture', seed: Math.floor(r() * 0xffffffff), tone: Math.floor(r() * 4) };
        const scene: Scene = { width: s.canvas, height: s.canvas, background, objects: generated.objects };
        // The split is a function of the scene itself, so no scene can be in two splits.
        const bucket = hash32(JSON.stringify(scene), generated.question) % 10;
        if (bucket < lo || bucket >= hi) continue;
        out.push({
          id: `vs-${split}-${seed}-${i}`,
          split,
          type: generated.type,
          difficulty: generated.difficulty,
          question: generated.question,
          options: generated.options,
          answer: generated.answer,
          scene,
          targetBox: generated.targetBox,
          focus: generated.focus,
          ...(generated.region ? { region: generated.region } : {}),
        });
        break;
      }
    }
    return out;
  }

  private photoBackground(r: () => number): Background {
    const index = Math.floor(r() * this.photos.length);
    const photo = this.photos[index];
    const side = Math.max(1, Math.floor(Math.min(photo.width, photo.height) * (0.6 + 0.4 * r())));
    const x = Math.floor(r() * (photo.width - side + 1));
    const y = Math.floor(r() * (photo.height - side + 1));
    return { kind: 'photo', index, box: [x, y, x + side, y + side] };
  }

  /** The task's canvas (rendered on first use; a few hundred are cached). */
  image(task: VisualSearchTask): RgbImage {
    return this.entry(task).image;
  }

  private entry(task: VisualSearchTask): { image: RgbImage; patches?: Float32Array; tokens?: Int32Array } {
    const cached = this.cache.get(task.id);
    if (cached) {
      this.cache.delete(task.id);
      this.cache.set(task.id, cached);
      return cached;
    }
    const entry = { image: renderScene(this.checkTask(task).scene, this.photos) };
    this.cache.set(task.id, entry);
    if (this.cache.size > 512) this.cache.delete(this.cache.keys().next().value as string);
    return entry;
  }

  private checkTask(task: VisualSearchTask): VisualSearchTask {
    const t = v.object(task, 'task') as unknown as VisualSearchTask;
    if (typeof t.id !== 'string' || !t.scene || !Array.isArray(t.scene.objects) || t.scene.width !== this.settings.canvas) {
      throw new PyVisionError('E_ARG', `task must be a task of this visual-search world (canvas ${this.settings.canvas}), got ${describe(task)}`);
    }
    return t;
  }

  verify(task: VisualSearchTask, answer: string): number {
    this.checkTask(task);
    if (typeof answer !== 'string') throw new PyVisionError('E_ARG', `answer must be a string, got ${describe(answer)}`);
    return normalizeAnswer(answer) === normalizeAnswer(task.answer) ? 1 : 0;
  }

  /** The prompt; its patches are shared by every call for the task (read them, do not write them). */
  prompt(task: VisualSearchTask): Segment {
    const checked = this.checkTask(task);
    // The tokens and the first view are the same for every sample of a task: computed once, cached with the canvas.
    const entry = this.entry(task);
    if (entry.tokens === undefined) {
      const text = this.tokenizer.encode(questionText(checked));
      const np = this.patchesPerImage;
      const tokens = new Int32Array(text.length + 5 + np);
      let k = 0;
      tokens[k++] = this.tokenizer.id('<bos>');
      tokens[k++] = this.tokenizer.id('<q>');
      tokens.set(text, k);
      k += text.length;
      tokens[k++] = this.tokenizer.id('</q>');
      tokens[k++] = this.tokenizer.id('<img>');
      tokens.fill(-1, k, k + np);
      k += np;
      tokens[k++] = this.tokenizer.id('</img>');
      entry.tokens = tokens;
    }
    if (entry.patches === undefined) {
      entry.patches = viewPatches(entry.image, this.settings.view);
      this.views.put(entry.image, entry.patches);
    }
    return { tokens: entry.tokens.slice(), patches: entry.patches };
  }

  /** The first observation's pixels: the canvas as the view shows it (what prompt() patches). */
  firstView(task: VisualSearchTask): RgbImage {
    const view = this.settings.view;
    return fitToView(this.image(task), view.width, view.height);
  }

  openTool(task: VisualSearchTask): ToolSession {
    const s = this.settings;
    const rate = s.toolFailureRate;
    // Validated once, at the first session (the same error, at the same call, as per session).
    this.toolLimits ??= resolveLimits(s.limits);
    return new ImageToolSession({
      image: this.image(task),
      limits: this.toolLimits,
      imageLimits: { maxPixels: s.maxPixels },
      failure: rate > 0 ? (call, code) => hash32('tool-failure', s.seed, task.id, call, code) / 4294967296 < rate : undefined,
    });
  }

  observe(result: ToolResult, limits: ObservationLimits): Segment {
    return observeImages(this.tokenizer, this.settings.view, result, limits, this.views);
  }

  expert(task: VisualSearchTask, seed: number): ExpertTurn[] {
    this.checkTask(task);
    v.number(seed, 'seed', { integer: true, min: 0 });
    return expertTurns(task, seed, this.settings);
  }

  policyConfig(overrides?: Partial<WorldPolicyShape>): WorldPolicyShape {
    return policyShape(this.tokenizer.size, this.patchDim, this.settings.maxSeqLen, overrides);
  }

  record(task: VisualSearchTask, turns: readonly TurnRecord[]): Record<string, unknown> {
    return imageRecord(task, this.image(task), task.targetBox, turns, { difficulty: task.difficulty });
  }
}

/**
 * The observation segment of a tool result in an image world (agent.md section 2). With `cache`
 * (made for this view), images seen before are not fitted again: the same floats either way (the
 * segment's patches may then be the cache's shared array: read them, do not write them).
 */
export function observeImages(tokenizer: WordTokenizer, view: ViewShape, result: ToolResult, limits: ObservationLimits, cache?: ViewPatchCache): Segment {
  const r = v.object(result, 'result') as unknown as ToolResult;
  if (typeof r.output !== 'string' || !Array.isArray(r.images)) {
    throw new PyVisionError('E_ARG', `result must be a ToolResult { output, images, error }, got ${describe(result)}`);
  }
  const l = v.object(limits, 'limits');
  const maxObsTokens = v.number(l.maxObsTokens, 'limits.maxObsTokens', { integer: true, min: 0 });
  let text = r.output;
  if (r.error) text += `${text.length > 0 && !text.endsWith('\n') ? '\n' : ''}${r.error.type}: ${r.error.message}`;
  const textTokens = tokenizer.encode(text).subarray(0, maxObsTokens);
  if (cache !== undefined && (cache.view.width !== view.width || cache.view.height !== view.height || cache.view.patch !== view.patch)) {
    throw new PyVisionError('E_ARG', `cache must be made for the view ${JSON.stringify(view)}, got one for ${JSON.stringify(cache.view)}`);
  }
  const np = patchCount(view);
  const dim = patchDim(view);
  const tokens = new Int32Array(2 + textTokens.length + r.images.length * (np + 2));
  // One cached image: its shared patches as they are; otherwise one array for all.
  let patches: Float32Array | null = cache !== undefined && r.images.length === 1 ? null : new Float32Array(r.images.length * np * dim);
  let k = 0;
  tokens[k++] = tokenizer.id('<obs>');
  tokens.set(textTokens, k);
  k += textTokens.length;
  r.images.forEach((image, i) => {
    tokens[k++] = tokenizer.id('<img>');
    tokens.fill(-1, k, k + np);
    k += np;
    tokens[k++] = tokenizer.id('</img>');
    const checked = checkImage(image, `result.images[${i}]`);
    if (patches === null) patches = (cache as ViewPatchCache).patches(checked);
    else if (cache !== undefined) patches.set(cache.patches(checked), i * np * dim);
    else viewPatchesInto(checked, view, patches, i * np * dim);
  });
  tokens[k++] = tokenizer.id('</obs>');
  return { tokens, patches: patches ?? new Float32Array(0) };
}

/** WorldPolicyShape with validated overrides. */
export function policyShape(vocabSize: number, patchDimValue: number, maxSeqLen: number, overrides?: Partial<WorldPolicyShape>): WorldPolicyShape {
  const o = v.optionalObject(overrides, 'overrides');
  for (const key of Object.keys(o)) {
    if (!['vocabSize', 'patchDim', 'maxSeqLen'].includes(key)) throw new PyVisionError('E_ARG', `overrides.${key} is not a policy shape field (vocabSize, patchDim, maxSeqLen)`);
  }
  if (o.patchDim !== undefined && o.patchDim !== patchDimValue) {
    throw new PyVisionError('E_ARG', `overrides.patchDim must equal the world's patchDim (${patchDimValue}), got ${describe(o.patchDim)}`);
  }
  return {
    vocabSize: v.optionalNumber(o.vocabSize, 'overrides.vocabSize', vocabSize, { integer: true, min: vocabSize, max: 1 << 20 }),
    patchDim: patchDimValue,
    maxSeqLen: v.optionalNumber(o.maxSeqLen, 'overrides.maxSeqLen', maxSeqLen, { integer: true, min: 16, max: 1 << 20 }),
  };
}

/** Whether `box` contains the centre of `target` (half-open boxes): the trainer's crop_miss_ratio reads misses the same way. */
export function containsCentre(box: readonly number[], target: readonly number[]): boolean {
  const cx = (target[0] + target[2]) / 2;
  const cy = (target[1] + target[3]) / 2;
  return cx >= box[0] && cx < box[2] && cy >= box[1] && cy < box[3];
}

/** The record of a trajectory in an image world: the image, the target box and every shown crop (and whether it missed). */
export function imageRecord(
  task: Task,
  image: RgbImage,
  target: readonly [number, number, number, number] | null,
  turns: readonly TurnRecord[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const crops: { box: [number, number, number, number] | null; turn: number; missed: boolean | null }[] = [];
  let toolFailures = 0;
  turns.forEach((turn, k) => {
    const details = (turn.result as (ToolResult & { details?: ImageToolDetails }) | undefined)?.details;
    if (details?.injectedFailure) toolFailures++;
    for (const box of details?.shown ?? []) {
      crops.push({ box, turn: k, missed: box && target ? !containsCentre(box, target) : null });
    }
  });
  return {
    type: task.type,
    ...extra,
    image,
    target,
    crops: crops.filter((c) => c.box !== null),
    shownImages: crops.length,
    cropsMissed: crops.filter((c) => c.missed === true).length,
    toolFailures,
  };
}

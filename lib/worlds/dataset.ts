/**
 * A user's dataset as a World: a JSONL file, one task per line,
 *
 *   { "image": "images/0001.png", "question": "what is on the table ?", "options": ["cup", "book"],
 *     "answer": "cup", "type"?: "objects", "split"?: "train" | "val" | "test", "box"?: [l, t, r, b] }
 *
 * image paths relative to the file. Images are decoded with sharp when the world loads
 * (larger ones are area-resized to maxImageSide, aspect kept). A line without "split" goes to
 * train / val / test by a hash of the line (80 / 10 / 10 by default). The tool is the image
 * sandbox (image_clue_0 = the line's image). The expert answers directly, or, when the line has a
 * "box" (the region that shows the answer, in the original image's pixels), zooms on it first
 * like the visual-search expert.
 *
 * Errors name the file and line: E_IO for lines that are not JSON and images that do not
 * decode, E_ARG for fields with wrong values. By default the first bad line fails the load;
 * with skipBadLines the load keeps every good line and lists the bad ones in world.skipped.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PyVisionError, describe } from '../util/errors.js';
import * as v from '../util/validate.js';
import type { RgbImage } from '../util/rgb.js';
import { decodeImageFile } from '../image/decode.js';
import { resize } from '../image/ops.js';
import { checkViewShape, fittedSize, patchCount, patchDim, viewPatches, type ViewShape } from '../image/view.js';
import type { SandboxLimits } from '../sandbox/limits.js';
import { ImageToolSession } from './image-session.js';
import { WordTokenizer } from './tokenizer.js';
import { DEFAULT_EXPERT_OPTIONS, expertTurns, type ExpertOptions } from './visual-search/expert.js';
import { hash32, random } from './visual-search/scene.js';
import { ERROR_WORDS, IMAGE_TOOL_WORDS, imageClueWords } from './visual-search/vocabulary.js';
import { imageRecord, normalizeAnswer, observeImages, policyShape, questionText } from './visual-search/world.js';
import type { ExpertTurn, ObservationLimits, Segment, Split, Task, ToolResult, ToolSession, TurnRecord, World, WorldPolicyShape } from './world.js';

export interface DatasetTask extends Task {
  /** The image file, absolute. */
  readonly image: string;
  /** 1-based line in the JSONL file. */
  readonly line: number;
  /** The answer's region in the (possibly resized) image, if the line gave one. */
  readonly box: [number, number, number, number] | null;
}

export interface DatasetWorldOptions {
  /** Name in logs and reports. Default 'dataset'. */
  name?: string;
  /** View side (square) in pixels. Default 64. */
  view?: number;
  /** Patch side. Default 16. */
  patch?: number;
  /** Images larger than this on a side are area-resized (aspect kept) when loaded. Default 1024. */
  maxImageSide?: number;
  /** Shares of lines without "split" that go to val and test. Default 0.1 and 0.1. */
  valShare?: number;
  testShare?: number;
  /** Keep the good lines when some are bad (listed in world.skipped) instead of failing the load. Default false. */
  skipBadLines?: boolean;
  /** Sequence length the policy gets. Default 512. */
  maxSeqLen?: number;
  /** Sandbox limits of the tool. */
  limits?: Partial<SandboxLimits>;
  /** Pixels of one image the image built-ins may create. Default 2048 * 2048. */
  maxPixels?: number;
  /** The expert's mix (twoStepShare, imperfectShare, jitter apply to lines with a box). */
  expert?: Partial<ExpertOptions>;
}

interface Entry {
  task: DatasetTask;
  image: RgbImage;
}

const SPLITS: readonly Split[] = ['train', 'val', 'test'];

function fail(code: 'E_IO' | 'E_ARG', where: string, message: string): never {
  throw new PyVisionError(code, `${where}: ${message}`);
}

function parseLine(text: string, where: string, dir: string): Omit<DatasetTask, 'id' | 'line' | 'split'> & { split: Split | null } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    fail('E_IO', where, `not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('E_ARG', where, `a line must be a JSON object, got ${describe(value)}`);
  const o = value as Record<string, unknown>;
  if (typeof o.image !== 'string' || o.image.length === 0) fail('E_ARG', where, `image must be a non-empty path, got ${describe(o.image)}`);
  if (typeof o.question !== 'string' || o.question.trim().length === 0) fail('E_ARG', where, `question must be a non-empty string, got ${describe(o.question)}`);
  if (!Array.isArray(o.options) || o.options.length < 2) fail('E_ARG', where, `options must be an array of at least 2 strings, got ${describe(o.options)}`);
  o.options.forEach((opt, i) => {
    if (typeof opt !== 'string' || opt.trim().length === 0) fail('E_ARG', where, `options[${i}] must be a non-empty string, got ${describe(opt)}`);
  });
  const options = o.options as string[];
  if (new Set(options.map(normalizeAnswer)).size !== options.length) fail('E_ARG', where, `options must be distinct, got ${JSON.stringify(options)}`);
  if (typeof o.answer !== 'string' || !options.some((x) => normalizeAnswer(x) === normalizeAnswer(o.answer as string))) {
    fail('E_ARG', where, `answer must be one of the options ${JSON.stringify(options)}, got ${describe(o.answer)}`);
  }
  if (o.type !== undefined && (typeof o.type !== 'string' || o.type.length === 0)) fail('E_ARG', where, `type must be a non-empty string, got ${describe(o.type)}`);
  if (o.split !== undefined && !SPLITS.includes(o.split as Split)) fail('E_ARG', where, `split must be one of 'train', 'val', 'test', got ${describe(o.split)}`);
  let box: [number, number, number, number] | null = null;
  if (o.box !== undefined) {
    const b = o.box;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((x) => typeof x === 'number' && Number.isFinite(x)) || b[2] <= b[0] || b[3] <= b[1]) {
      fail('E_ARG', where, `box must be [left, top, right, bottom] with right > left and bottom > top, got ${JSON.stringify(b)}`);
    }
    box = [b[0], b[1], b[2], b[3]];
  }
  return {
    image: resolve(dir, o.image),
    question: o.question.trim(),
    options: options.map((x) => x.trim()),
    answer: options.find((x) => normalizeAnswer(x) === normalizeAnswer(o.answer as string))!.trim(),
    type: (o.type as string | undefined) ?? 'dataset',
    split: (o.split as Split | undefined) ?? null,
    box,
  };
}

/** Name-like words of a text (what the tokenizer can hold as word tokens). */
function words(text: string): string[] {
  return text.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
}

export class DatasetWorld implements World<DatasetTask> {
  readonly name: string;
  readonly tokenizer: WordTokenizer;
  readonly patchDim: number;
  readonly view: ViewShape;
  /** The file the world was loaded from. */
  readonly path: string;
  /** Lines left out with skipBadLines: where and why. */
  readonly skipped: { line: number; error: PyVisionError }[];
  private readonly entries: Map<string, Entry>;
  private readonly bySplit: Record<Split, DatasetTask[]>;
  private readonly maxSeqLen: number;
  private readonly limits: Partial<SandboxLimits>;
  private readonly maxPixels: number;
  private readonly expertOptions: ExpertOptions;

  private constructor(path: string, entries: Entry[], skipped: { line: number; error: PyVisionError }[], o: DatasetWorldOptions, view: ViewShape) {
    this.path = path;
    this.name = o.name ?? 'dataset';
    this.view = view;
    this.patchDim = patchDim(view);
    this.skipped = skipped;
    this.entries = new Map(entries.map((e) => [e.task.id, e]));
    this.bySplit = { train: [], val: [], test: [] };
    for (const e of entries) this.bySplit[e.task.split].push(e.task);
    this.maxSeqLen = o.maxSeqLen ?? 512;
    this.limits = o.limits ?? {};
    this.maxPixels = o.maxPixels ?? 2048 * 2048;
    this.expertOptions = { ...DEFAULT_EXPERT_OPTIONS, ...o.expert };
    const maxImages = this.limits.maxImages ?? 32;
    const text = entries.flatMap((e) => [...words(e.task.question), ...e.task.options.flatMap(words)]);
    const largest = Math.max(256, ...entries.map((e) => Math.max(e.image.width, e.image.height)));
    this.tokenizer = new WordTokenizer([...IMAGE_TOOL_WORDS, ...ERROR_WORDS, 'options', ...imageClueWords(maxImages), ...text], { maxNumber: largest });
  }

  /** Loads a JSONL dataset (see the file comment). Errors name the file and line. */
  static async load(path: string, options?: DatasetWorldOptions): Promise<DatasetWorld> {
    if (typeof path !== 'string' || path.length === 0) throw new PyVisionError('E_ARG', `path must be a non-empty string, got ${describe(path)}`);
    const o = v.optionalObject(options, 'options') as DatasetWorldOptions;
    const known = ['name', 'view', 'patch', 'maxImageSide', 'valShare', 'testShare', 'skipBadLines', 'maxSeqLen', 'limits', 'maxPixels', 'expert'];
    for (const key of Object.keys(o)) if (!known.includes(key)) throw new PyVisionError('E_ARG', `options.${key} is not a dataset option (known: ${known.join(', ')})`);
    if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0)) throw new PyVisionError('E_ARG', `options.name must be a non-empty string, got ${describe(o.name)}`);
    const side = v.optionalNumber(o.view, 'options.view', 64, { integer: true, min: 8, max: 1024 });
    const view = checkViewShape({ width: side, height: side, patch: v.optionalNumber(o.patch, 'options.patch', 16, { integer: true, min: 2, max: side }) }, 'options.view');
    const maxSide = v.optionalNumber(o.maxImageSide, 'options.maxImageSide', 1024, { integer: true, min: 8, max: 16384 });
    const valShare = v.optionalNumber(o.valShare, 'options.valShare', 0.1, { min: 0, max: 1 });
    const testShare = v.optionalNumber(o.testShare, 'options.testShare', 0.1, { min: 0, max: 1 - valShare });
    const skipBad = v.boolean(o.skipBadLines, 'options.skipBadLines', false);
    v.optionalNumber(o.maxSeqLen, 'options.maxSeqLen', 512, { integer: true, min: 64, max: 1 << 20 });
    v.optionalNumber(o.maxPixels, 'options.maxPixels', 1, { integer: true, min: 1, max: 1 << 28 });
    const e = v.optionalObject(o.expert, 'options.expert');
    for (const key of Object.keys(e)) {
      if (!(key in DEFAULT_EXPERT_OPTIONS)) throw new PyVisionError('E_ARG', `options.expert.${key} is not an expert option`);
      v.number(e[key], `options.expert.${key}`, { min: 0, max: 1 });
    }
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new PyVisionError('E_IO', `cannot read dataset '${path}': ${error instanceof Error ? error.message : String(error)}`);
    }
    const dir = dirname(resolve(path));
    const entries: Entry[] = [];
    const skipped: { line: number; error: PyVisionError }[] = [];
    const decoded = new Map<string, { image: RgbImage; scale: number }>();
    const lines = text.split('\n');
    for (let k = 0; k < lines.length; k++) {
      const raw = lines[k].trim();
      if (raw.length === 0) continue;
      const where = `${path}:${k + 1}`;
      try {
        const parsed = parseLine(raw, where, dir);
        let loaded = decoded.get(parsed.image);
        if (!loaded) {
          let full: RgbImage;
          try {
            full = await decodeImageFile(parsed.image);
          } catch (error) {
            fail('E_IO', where, error instanceof Error ? error.message : String(error));
          }
          loaded = { image: full, scale: 1 };
          if (full.width > maxSide || full.height > maxSide) {
            const [w, h] = fittedSize(full.width, full.height, maxSide, maxSide);
            loaded = { image: resize(full, w, h), scale: w / full.width };
          }
          decoded.set(parsed.image, loaded);
        }
        const image = loaded.image;
        let split = parsed.split;
        if (split === null) {
          const u = hash32('dataset-split', raw) / 4294967296;
          split = u < testShare ? 'test' : u < testShare + valShare ? 'val' : 'train';
        }
        const box = parsed.box ? (parsed.box.map((x) => x * loaded.scale) as [number, number, number, number]) : null;
        entries.push({ task: { id: `${split}-line-${k + 1}`, line: k + 1, split, type: parsed.type, question: parsed.question, options: parsed.options, answer: parsed.answer, image: parsed.image, box }, image });
      } catch (error) {
        if (!skipBad || !(error instanceof PyVisionError)) throw error;
        skipped.push({ line: k + 1, error });
      }
    }
    if (entries.length === 0) throw new PyVisionError('E_ARG', `${path}: no usable lines${skipped.length > 0 ? ` (${skipped.length} bad)` : ''}`);
    return new DatasetWorld(path, entries, skipped, o, view);
  }

  /** Tasks of a split, in an order shuffled by seed; n larger than the split cycles through it again (ids get '~k'). */
  tasks(split: Split, n: number, seed = 0): DatasetTask[] {
    v.oneOf(split, 'split', SPLITS, 'train');
    v.number(n, 'n', { integer: true, min: 0, max: 10_000_000 });
    v.number(seed, 'seed', { integer: true, min: 0, max: 0xffffffff });
    const pool = this.bySplit[split];
    if (n > 0 && pool.length === 0) throw new PyVisionError('E_ARG', `split '${split}' of ${this.path} has no tasks`);
    const out: DatasetTask[] = [];
    for (let epoch = 0; out.length < n; epoch++) {
      const order = pool.slice();
      const r = random(hash32('dataset-order', seed, epoch));
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (const t of order) {
        if (out.length >= n) break;
        out.push(epoch === 0 ? t : { ...t, id: `${t.id}~${epoch}` });
      }
    }
    return out;
  }

  private entry(task: DatasetTask): Entry {
    const t = v.object(task, 'task') as unknown as DatasetTask;
    const base = typeof t.id === 'string' ? t.id.replace(/~\d+$/, '') : undefined;
    const e = base === undefined ? undefined : this.entries.get(base);
    if (!e) throw new PyVisionError('E_ARG', `task must be a task of the dataset ${this.path}, got ${describe(task)}`);
    return e;
  }

  /** The task's image (decoded at load). */
  image(task: DatasetTask): RgbImage {
    return this.entry(task).image;
  }

  verify(task: DatasetTask, answer: string): number {
    const e = this.entry(task);
    if (typeof answer !== 'string') throw new PyVisionError('E_ARG', `answer must be a string, got ${describe(answer)}`);
    return normalizeAnswer(answer) === normalizeAnswer(e.task.answer) ? 1 : 0;
  }

  prompt(task: DatasetTask): Segment {
    const e = this.entry(task);
    const text = this.tokenizer.encode(questionText(e.task));
    const np = patchCount(this.view);
    const tokens = new Int32Array(text.length + 5 + np);
    tokens[0] = this.tokenizer.id('<bos>');
    tokens[1] = this.tokenizer.id('<q>');
    tokens.set(text, 2);
    let k = 2 + text.length;
    tokens[k++] = this.tokenizer.id('</q>');
    tokens[k++] = this.tokenizer.id('<img>');
    tokens.fill(-1, k, k + np);
    tokens[k + np] = this.tokenizer.id('</img>');
    return { tokens, patches: viewPatches(e.image, this.view) };
  }

  openTool(task: DatasetTask): ToolSession {
    return new ImageToolSession({ image: this.entry(task).image, limits: this.limits, imageLimits: { maxPixels: this.maxPixels } });
  }

  observe(result: ToolResult, limits: ObservationLimits): Segment {
    return observeImages(this.tokenizer, this.view, result, limits);
  }

  expert(task: DatasetTask, seed: number): ExpertTurn[] {
    const e = this.entry(task);
    v.number(seed, 'seed', { integer: true, min: 0 });
    if (!e.task.box) return [{ kind: 'answer', answer: e.task.answer }];
    // Zoom on the box: the visual-search expert's boxes over this image (never a direct answer).
    const side = Math.max(e.image.width, e.image.height);
    return expertTurns(
      { id: task.id, answer: e.task.answer, difficulty: 'zoom', targetBox: e.task.box },
      seed,
      { canvas: side, view: { width: this.view.width }, expert: this.expertOptions },
    ).map((turn) => (turn.kind === 'code' ? { kind: 'code', code: clampCode(turn.code, e.image) } : turn));
  }

  policyConfig(overrides?: Partial<WorldPolicyShape>): WorldPolicyShape {
    return policyShape(this.tokenizer.size, this.patchDim, this.maxSeqLen, overrides);
  }

  record(task: DatasetTask, turns: readonly TurnRecord[]): Record<string, unknown> {
    const e = this.entry(task);
    return imageRecord(e.task, e.image, e.task.box, turns, { line: e.task.line });
  }
}

/** The expert's boxes assume a square canvas of the image's longer side; keep them inside the image. */
function clampCode(code: string, image: RgbImage): string {
  return code.replace(/image_clue_0\.crop\(\((\d+), (\d+), (\d+), (\d+)\)\)/, (_m, l, t, r, b) => {
    const [L, T, R, B] = [Number(l), Number(t), Math.min(Number(r), image.width), Math.min(Number(b), image.height)];
    return `image_clue_0.crop((${Math.min(L, R - 1)}, ${Math.min(T, B - 1)}, ${R}, ${B}))`;
  });
}

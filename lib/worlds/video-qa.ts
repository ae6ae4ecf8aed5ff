/**
 * The video QA world (agent.md sections 2 and 4, issue "Video: on-demand
 * context construction"): procedural videos of a few hundred to a few thousand
 * frames, questions about brief events in them, and two ways to give the
 * policy the video:
 *
 *   context 'on-demand' (default)   the prompt holds only `<video> frames N fps F size W H </video>`
 *                                   and the question; the video lives in the tool (video_clue_0,
 *                                   select_frames), and the frames the agent shows come back as images
 *   context { uniform: k }          the baseline: k frames sampled uniformly are put into the prompt
 *                                   (k x patchesPerImage visual tokens), and the tool has no video
 *
 * Visual tokens are counted the same way in both (patches in the context).
 */
import { PythonSandbox } from '../sandbox/sandbox.js';
import type { SandboxLimits } from '../sandbox/limits.js';
import type { PyValue } from '../sandbox/host.js';
import { checkViewShape, patchCount, patchDim, viewPatches, type ViewShape } from '../image/view.js';
import { PyVisionError } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';
import * as v from '../util/validate.js';
import { builtinEmbeddings, type FrameEmbeddings } from '../video/embed.js';
import { ProceduralVideo, VIDEO_COLOUR_NAMES, VIDEO_SHAPES } from '../video/procedural.js';
import { DEFAULT_CACHE_BYTES } from '../video/source.js';
import { meanColorBuiltin, wrapImage } from './image-builtins.js';
import { WordTokenizer } from './tokenizer.js';
import { observeImages } from './visual-search/world.js';
import { videoGlobals, type VideoToolLimits } from './video-tools.js';
import {
  TaskRng,
  answerFromFrames,
  expertProgram,
  hashSeed,
  makeVideoTask,
  normaliseAnswer,
  uniformFrames,
  videoTaskOptions,
  type VideoTask,
  type VideoTaskOptions,
} from './video-qa-tasks.js';
import type { ExpertTurn, ObservationLimits, Segment, Split, ToolResult, ToolSession, TurnRecord, World, WorldPolicyShape } from './world.js';

export type VideoContext = 'on-demand' | { uniform: number };

export interface VideoQAOptions extends Partial<VideoTaskOptions> {
  /** How the video reaches the policy: 'on-demand' (frames through the tool) or { uniform: k } (k frames in the prompt). Default 'on-demand'. */
  context?: VideoContext;
  /** The view every image is shown at (aspect kept, black padding) and cut into patches. Default 64 x 64, patch 16 (16 patches). */
  view?: ViewShape;
  /** Byte budget of each video's frame cache. Default 64 MiB. */
  cacheBytes?: number;
  /** Videos whose frame embeddings are kept between tool sessions (the tasks of a group share them). Default 256. */
  embeddingCacheVideos?: number;
  /** Limits of the frame tools (frames per get_batch, largest k). */
  toolLimits?: Partial<VideoToolLimits>;
  /**
   * Limits of the sandbox. Default: the sandbox's, with 30 s of wall time per call instead of 2 s:
   * the first select_frames of a video computes its embeddings on the JavaScript thread, and the
   * tool calls of a batch of trajectories wait for each other's (2 s is too short under load).
   */
  sandboxLimits?: Partial<SandboxLimits>;
}

/** Wall time of one tool call in the video world's sandbox (see VideoQAOptions.sandboxLimits). */
export const VIDEO_SANDBOX_WALL_MS = 30_000;

/** Words of the world's vocabulary besides the subset's tokens and the numbers. */
export const VIDEO_QA_WORDS: readonly string[] = [
  'video_clue_0', 'select_frames', 'get_batch', 'get_avg_fps', 'mode', 'min_gap', 'mmr_lambda', 'alpha', 'normalize',
  'uniform', 'topk', 'topk_gap', 'mmr', 'bolt', 'f', 'a', 'b', 'v', 'i', 'k', 'x', 'crop', 'resize', 'size', 'width', 'height',
  'frames', 'fps', 'mean_color',
  ...VIDEO_COLOUR_NAMES, ...VIDEO_SHAPES,
  'does', 'appear', 'in', 'the', 'video', 'changes', 'colour', 'what', 'is', 'it', 'at', 'end', 'which', 'appears', 'first',
  'or', 'how', 'many', 'times', 'options', 'yes', 'no', 'Image', 'VideoReader',
];

function checkContext(context: unknown): VideoContext {
  if (context === undefined || context === 'on-demand') return 'on-demand';
  if (typeof context === 'object' && context !== null && 'uniform' in context) {
    return { uniform: v.number((context as { uniform: unknown }).uniform, 'options.context.uniform', { integer: true, min: 1, max: 256 }) };
  }
  throw new PyVisionError('E_ARG', `options.context must be 'on-demand' or { uniform: k }, got ${JSON.stringify(context)}`);
}

export class VideoQAWorld implements World<VideoTask> {
  readonly name: string;
  readonly tokenizer: WordTokenizer;
  readonly patchDim: number;
  readonly view: ViewShape;
  readonly context: VideoContext;
  readonly taskOptions: VideoTaskOptions;
  /** Visual tokens of one image (patches per view). */
  readonly patchesPerImage: number;
  private readonly options: VideoQAOptions;
  private readonly embeddingCache = new Map<string, Promise<FrameEmbeddings>>();
  private readonly embeddingCacheVideos: number;
  /** Frame index of every frame image handed to a program (for records and calibration). */
  private readonly frameIndex = new WeakMap<RgbImage, number>();
  /** Time spent in select_frames (ms), every call. */
  readonly selectTimes: number[] = [];

  constructor(options: VideoQAOptions = {}) {
    const o = v.optionalObject(options, 'options') as VideoQAOptions;
    const { context, view, cacheBytes, embeddingCacheVideos, toolLimits, sandboxLimits, ...taskOptions } = o;
    this.options = o;
    this.context = checkContext(context);
    this.view = checkViewShape(view ?? { width: 64, height: 64, patch: 16 }, 'options.view');
    this.taskOptions = videoTaskOptions(taskOptions);
    v.optionalNumber(cacheBytes, 'options.cacheBytes', DEFAULT_CACHE_BYTES, { integer: true, min: 0 });
    this.embeddingCacheVideos = v.optionalNumber(embeddingCacheVideos, 'options.embeddingCacheVideos', 256, { integer: true, min: 0 });
    void toolLimits;
    void sandboxLimits;
    this.patchDim = patchDim(this.view);
    this.patchesPerImage = patchCount(this.view);
    this.tokenizer = new WordTokenizer(VIDEO_QA_WORDS);
    this.name = this.context === 'on-demand' ? 'video-qa' : `video-qa/uniform-${this.context.uniform}`;
  }

  tasks(split: Split, n: number, seed = 0): VideoTask[] {
    v.oneOf(split, 'split', ['train', 'val', 'test'], 'train');
    v.number(n, 'n', { integer: true, min: 0 });
    return Array.from({ length: n }, (_, i) => makeVideoTask(this.taskOptions, split, i, seed));
  }

  verify(task: VideoTask, answer: string): number {
    return normaliseAnswer(answer) === normaliseAnswer(task.answer) ? 1 : 0;
  }

  /** The question as the policy reads it: the question, then its options. */
  questionText(task: VideoTask): string {
    return `${task.question} options : ${task.options.join(' , ')}`;
  }

  /** The frames put into the prompt: none on demand, k uniform ones for the baseline. */
  contextFrames(task: VideoTask): number[] {
    return this.context === 'on-demand' ? [] : uniformFrames(task.scene.frameCount, this.context.uniform);
  }

  prompt(task: VideoTask): Segment {
    const s = task.scene;
    const text = `<bos> <video> frames ${s.frameCount} fps ${s.fps} size ${s.width} ${s.height} </video> <q> ${this.questionText(task)} </q>`;
    const head = this.tokenizer.encode(text);
    const frames = this.contextFrames(task);
    if (frames.length === 0) return { tokens: head, patches: new Float32Array(0) };
    const video = new ProceduralVideo(s, { cacheBytes: 0 });
    const Np = this.patchesPerImage;
    const img = this.tokenizer.id('<img>');
    const imgEnd = this.tokenizer.id('</img>');
    const tokens = new Int32Array(head.length + frames.length * (Np + 2));
    tokens.set(head);
    const patches = new Float32Array(frames.length * Np * this.patchDim);
    let at = head.length;
    frames.forEach((i, j) => {
      tokens[at++] = img;
      tokens.fill(-1, at, at + Np);
      at += Np;
      tokens[at++] = imgEnd;
      patches.set(viewPatches(video.renderFrame(i), this.view), j * Np * this.patchDim);
    });
    return { tokens, patches };
  }

  /** The task's video (frames rendered on demand, cached under the byte budget). */
  video(task: VideoTask): ProceduralVideo {
    return new ProceduralVideo(task.scene, { cacheBytes: this.options.cacheBytes ?? DEFAULT_CACHE_BYTES });
  }

  /** The built-in embeddings of the task's video, computed once and shared by the tool sessions of its trajectories. */
  embeddings(task: VideoTask, source: ProceduralVideo): Promise<FrameEmbeddings> {
    let e = this.embeddingCache.get(task.id);
    if (e === undefined) {
      e = builtinEmbeddings(source);
      if (this.embeddingCacheVideos > 0) {
        if (this.embeddingCache.size >= this.embeddingCacheVideos) this.embeddingCache.delete(this.embeddingCache.keys().next().value as string);
        this.embeddingCache.set(task.id, e);
      }
    } else {
      this.embeddingCache.delete(task.id);
      this.embeddingCache.set(task.id, e);
    }
    return e;
  }

  openTool(task: VideoTask): ToolSession {
    const globals: Record<string, PyValue> = { mean_color: meanColorBuiltin };
    if (this.context === 'on-demand') {
      const source = this.video(task);
      Object.assign(
        globals,
        videoGlobals({
          source,
          embeddings: () => this.embeddings(task, source),
          wrapImage: (frame, index) => {
            this.frameIndex.set(frame, index);
            return wrapImage(frame);
          },
          limits: this.options.toolLimits,
          onSelect: (ms) => this.selectTimes.push(ms),
        }),
      );
    }
    const sandbox = new PythonSandbox({ globals, limits: { maxWallMs: VIDEO_SANDBOX_WALL_MS, ...this.options.sandboxLimits } });
    let shown = 0;
    return {
      run: async (code: string): Promise<ToolResult> => {
        const r = await sandbox.run(code);
        // Every shown image becomes image_clue_k for later turns.
        for (const image of r.images) sandbox.setGlobal(`image_clue_${++shown}`, wrapImage(image));
        return { output: r.output, images: r.images, error: r.error === null ? null : { type: r.error.type, message: r.error.message } };
      },
      dispose: () => sandbox.dispose(),
    };
  }

  observe(result: ToolResult, limits: ObservationLimits): Segment {
    return observeImages(this.tokenizer, this.view, result, limits);
  }

  expert(task: VideoTask, seed: number): ExpertTurn[] {
    if (this.context === 'on-demand') return [{ kind: 'code', code: expertProgram(task) }, { kind: 'answer', answer: task.answer }];
    // The baseline's expert answers from its k frames: right when they decide the question, else an open option.
    const rng = new TaskRng(hashSeed('video-qa-expert', seed, task.id));
    return [{ kind: 'answer', answer: answerFromFrames(task, this.contextFrames(task), rng).answer }];
  }

  policyConfig(overrides: Partial<WorldPolicyShape> = {}): WorldPolicyShape {
    const k = this.context === 'on-demand' ? 4 : this.context.uniform;
    // Prompt (about 40 tokens), k images, and room for the turns.
    const maxSeqLen = 64 + k * (this.patchesPerImage + 2) + 192;
    return { vocabSize: this.tokenizer.size, patchDim: this.patchDim, maxSeqLen, ...overrides };
  }

  /** The frame indices a tool result showed (frames fetched with get_batch or v[i]; -1 for other images). */
  shownFrames(result: ToolResult): number[] {
    return result.images.map((image) => this.frameIndex.get(image) ?? -1);
  }

  record(task: VideoTask, turns: readonly TurnRecord[]): Record<string, unknown> {
    const shown = turns.flatMap((t) => (t.result ? this.shownFrames(t.result) : []));
    return {
      type: task.type,
      context: this.context === 'on-demand' ? 'on-demand' : `uniform-${this.context.uniform}`,
      frameCount: task.scene.frameCount,
      fps: task.scene.fps,
      promptFrames: this.contextFrames(task),
      shownFrames: shown,
      answer: task.answer,
    };
  }
}

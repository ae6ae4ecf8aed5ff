/**
 * The video built-ins of the sandbox (agent.md section 2), named after decord
 * as PyVision's models write them:
 *
 *   video_clue_0                     a VideoReader over the task's video
 *   len(v)                           its frame count
 *   v.get_avg_fps()                  frames per second (float)
 *   v.get_batch([i, ...])            the frames, as a list of images
 *   v[i]                             one frame (procedural videos; files: get_batch)
 *   select_frames(v, query, k, mode='topk', min_gap=1, mmr_lambda=0.5, alpha=3, normalize=False)
 *                                    the indices (ascending) of the k frames most relevant to query
 *                                    (a text, or a list of D floats), from the native selectFrames;
 *                                    mode 'uniform', 'topk', 'topk-gap' (or 'topk_gap'), 'mmr', 'bolt'
 *
 * Every misuse raises the Python exception CPython code would see (TypeError,
 * ValueError, IndexError) with a message saying what was wrong; nothing here
 * throws anything else into the interpreter.
 */
import { FRAME_DEFAULTS, FRAME_MODES, selectFrames, type FrameMode } from '../kernels/frames.js';
import { PyBuiltin, PyException, PyList, PyTuple, isHostObject, type HostContext, type PyHostObject, type PyValue } from '../sandbox/host.js';
import { pyTypeName as typeName } from '../sandbox/index.js';
import type { RgbImage } from '../util/rgb.js';
import type { FrameEmbeddings } from '../video/embed.js';
import type { VideoSource } from '../video/source.js';

export interface VideoToolLimits {
  /** Frames one get_batch call may return. Default 32. */
  maxBatchFrames: number;
  /** The largest k select_frames accepts. Default 64. */
  maxSelectFrames: number;
}

export const DEFAULT_VIDEO_TOOL_LIMITS: VideoToolLimits = { maxBatchFrames: 32, maxSelectFrames: 64 };

/** What the host objects need: the video, its embeddings (computed on first use), and how frames become Python images. */
export interface VideoToolOptions {
  source: VideoSource;
  /** The video's frame embeddings, computed once when select_frames first needs them. */
  embeddings: () => Promise<FrameEmbeddings>;
  /** Wraps a frame as the sandbox's image object (with crop, resize, size... and show()). */
  wrapImage: (frame: RgbImage, index: number) => PyHostObject;
  limits?: Partial<VideoToolLimits>;
  /** Called with the time select_frames spent in selectFrames (ms), for the benchmarks. */
  onSelect?: (ms: number) => void;
}


function toInt(value: PyValue, what: string): number {
  if (typeof value === 'bigint' || typeof value === 'boolean') {
    const n = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) throw new PyException('OverflowError', `${what} is too large: ${n}`);
    return Number(n);
  }
  throw new PyException('TypeError', `${what} must be an int, not ${typeName(value)}`);
}

/** The VideoReader host object behind video_clue_0. */
export class VideoReaderObject implements PyHostObject {
  readonly pyTypeName = 'VideoReader';
  readonly limits: VideoToolLimits;
  private cachedEmbeddings: Promise<FrameEmbeddings> | undefined;
  private readonly methods: Map<string, PyBuiltin>;

  constructor(readonly options: VideoToolOptions) {
    this.limits = { ...DEFAULT_VIDEO_TOOL_LIMITS, ...options.limits };
    this.methods = new Map([
      ['get_avg_fps', new PyBuiltin('get_avg_fps', (args, kwargs) => {
        if (args.length > 0 || kwargs.size > 0) throw new PyException('TypeError', `get_avg_fps() takes no arguments (${args.length + kwargs.size} given)`);
        return this.source.fps;
      })],
      ['get_batch', new PyBuiltin('get_batch', (args, kwargs, ctx) => this.getBatch(args, kwargs, ctx))],
    ]);
  }

  get source(): VideoSource {
    return this.options.source;
  }

  /** The embeddings, computed on the first call and shared by later ones. */
  embeddings(): Promise<FrameEmbeddings> {
    this.cachedEmbeddings ??= this.options.embeddings();
    return this.cachedEmbeddings;
  }

  getAttr(name: string): PyValue | undefined {
    return this.methods.get(name);
  }

  len(): number {
    return this.source.frameCount;
  }

  getItem(index: PyValue): PyValue {
    const n = this.source.frameCount;
    let i = toInt(index, 'VideoReader indices');
    if (i < 0) i += n;
    if (i < 0 || i >= n) throw new PyException('IndexError', `frame index ${toInt(index, 'index')} out of range for a video of ${n} frames`);
    const frame = (this.source as { frame?: (i: number) => RgbImage }).frame;
    if (frame === undefined) throw new PyException('TypeError', 'this video is decoded from a file: read frames with v.get_batch([i, ...])');
    return this.options.wrapImage(frame.call(this.source, i), i);
  }

  repr(): string {
    return `<VideoReader: ${this.source.frameCount} frames, ${this.source.fps} fps, ${this.source.width}x${this.source.height}>`;
  }

  private async getBatch(args: PyValue[], kwargs: ReadonlyMap<string, PyValue>, ctx: HostContext): Promise<PyValue> {
    if (args.length !== 1 || kwargs.size > 0) throw new PyException('TypeError', `get_batch() takes exactly one argument, a list of frame indices (${args.length + kwargs.size} given)`);
    const list = args[0];
    if (!(list instanceof PyList) && !(list instanceof PyTuple)) throw new PyException('TypeError', `get_batch() argument must be a list of frame indices, not ${typeName(list)}`);
    const n = this.source.frameCount;
    if (list.items.length > this.limits.maxBatchFrames) {
      throw new PyException('ValueError', `get_batch() returns at most ${this.limits.maxBatchFrames} frames at once, got ${list.items.length} indices`);
    }
    const indices = list.items.map((item, j) => {
      const i = toInt(item, `get_batch() index ${j}`);
      if (i < 0 || i >= n) {
        throw new PyException('IndexError', n === 0 ? `get_batch(): the video has no frames (index ${i})` : `get_batch(): frame index ${i} out of range [0, ${n - 1}]`);
      }
      return i;
    });
    const source = this.source;
    ctx.charge(indices.length * Math.max(1, Math.ceil((source.width * source.height) / 4096)));
    let frames: RgbImage[];
    try {
      frames = await source.frames(indices);
    } catch (error) {
      throw new PyException('RuntimeError', `get_batch(): could not read the frames: ${(error as Error).message}`);
    }
    return new PyList(frames.map((frame, j) => this.options.wrapImage(frame, indices[j])));
  }
}

const SELECT_KEYWORDS = ['mode', 'min_gap', 'mmr_lambda', 'alpha', 'normalize'];

/** select_frames(v, query, k, mode='topk', ...) as a host builtin (async: it awaits the native selectFrames). */
export function selectFramesBuiltin(onSelect?: (ms: number) => void): PyBuiltin {
  return new PyBuiltin('select_frames', async (args, kwargs, ctx) => {
    const given = [...args];
    for (const [name, position] of [['video', 0], ['query', 1], ['k', 2]] as const) {
      const value = kwargs.get(name);
      if (value === undefined) continue;
      if (given.length > position) throw new PyException('TypeError', `select_frames() got multiple values for argument '${name}'`);
      given[position] = value;
    }
    for (const name of kwargs.keys()) {
      if (!SELECT_KEYWORDS.includes(name) && !['video', 'query', 'k'].includes(name)) {
        throw new PyException('TypeError', `select_frames() got an unexpected keyword argument '${name}'`);
      }
    }
    if (given.length < 3 || given.slice(0, 3).some((x) => x === undefined)) {
      throw new PyException('TypeError', 'select_frames() needs 3 arguments: select_frames(video, query, k)');
    }
    if (given.length > 4) throw new PyException('TypeError', `select_frames() takes at most 4 positional arguments (${given.length} given)`);
    const [video, query, kValue] = given;
    if (!isHostObject(video) || !(video instanceof VideoReaderObject)) {
      throw new PyException('TypeError', `select_frames() argument 1 must be a VideoReader, not ${typeName(video)}`);
    }
    const k = toInt(kValue, 'select_frames() k');
    if (k < 1) throw new PyException('ValueError', `select_frames() k must be >= 1, got ${k}`);
    if (k > video.limits.maxSelectFrames) throw new PyException('ValueError', `select_frames() k must be <= ${video.limits.maxSelectFrames}, got ${k}`);
    const modeValue = given[3] ?? kwargs.get('mode') ?? 'topk';
    if (typeof modeValue !== 'string') throw new PyException('TypeError', `select_frames() mode must be a str, not ${typeName(modeValue)}`);
    // 'topk_gap' is accepted for 'topk-gap' (a name token for word-level tokenizers).
    const modeName = modeValue === 'topk_gap' ? 'topk-gap' : modeValue;
    if (!(FRAME_MODES as readonly string[]).includes(modeName)) {
      throw new PyException('ValueError', `select_frames() mode must be one of ${FRAME_MODES.map((m) => `'${m}'`).join(', ')}, got '${modeValue}'`);
    }
    const mode = modeName as FrameMode;
    const minGap = kwargs.has('min_gap') ? toInt(kwargs.get('min_gap')!, 'select_frames() min_gap') : FRAME_DEFAULTS.minGap;
    if (minGap < 0) throw new PyException('ValueError', `select_frames() min_gap must be >= 0, got ${minGap}`);
    const real = (name: string, fallback: number): number => {
      const value = kwargs.get(name);
      if (value === undefined) return fallback;
      if (typeof value === 'number') return value;
      if (typeof value === 'bigint') return Number(value);
      throw new PyException('TypeError', `select_frames() ${name} must be a float, not ${typeName(value)}`);
    };
    const lambda = real('mmr_lambda', FRAME_DEFAULTS.lambda);
    if (!(lambda >= 0 && lambda <= 1)) throw new PyException('ValueError', `select_frames() mmr_lambda must be in [0, 1], got ${lambda}`);
    const alpha = real('alpha', FRAME_DEFAULTS.alpha);
    if (!(alpha > 0 && Number.isFinite(alpha))) throw new PyException('ValueError', `select_frames() alpha must be > 0, got ${alpha}`);
    const normalizeValue = kwargs.get('normalize') ?? false;
    if (typeof normalizeValue !== 'boolean') throw new PyException('TypeError', `select_frames() normalize must be a bool, not ${typeName(normalizeValue)}`);

    const n = video.source.frameCount;
    if (n === 0) throw new PyException('ValueError', 'select_frames(): the video has no frames');
    let embeddings: FrameEmbeddings;
    try {
      embeddings = await video.embeddings();
    } catch (error) {
      throw new PyException('RuntimeError', `select_frames(): could not compute the frame embeddings: ${(error as Error).message}`);
    }
    if (embeddings.frameCount !== n) {
      throw new PyException('RuntimeError', `select_frames(): the embeddings have ${embeddings.frameCount} frames, the video ${n}`);
    }
    const D = embeddings.dim;
    let q: Float32Array;
    if (typeof query === 'string') {
      if (embeddings.embedQuery === undefined) {
        throw new PyException('TypeError', `select_frames(): this video's embeddings have no text encoder; pass the query as a list of ${D} floats`);
      }
      q = embeddings.embedQuery(query);
      if (q.length !== D) throw new PyException('RuntimeError', `select_frames(): the query encoder returned ${q.length} values, the embeddings have ${D}`);
    } else if (query instanceof PyList || query instanceof PyTuple) {
      if (query.items.length !== D) throw new PyException('ValueError', `select_frames() query vector must have ${D} values (the embedding size), got ${query.items.length}`);
      q = new Float32Array(D);
      query.items.forEach((x, j) => {
        if (typeof x === 'number') q[j] = x;
        else if (typeof x === 'bigint') q[j] = Number(x);
        else throw new PyException('TypeError', `select_frames() query vector values must be numbers, not ${typeName(x)} (item ${j})`);
        if (!Number.isFinite(q[j])) throw new PyException('ValueError', `select_frames() query vector item ${j} is not finite`);
      });
    } else {
      throw new PyException('TypeError', `select_frames() query must be a str or a list of floats, not ${typeName(query)}`);
    }
    ctx.charge(Math.ceil((n * D) / 4096));
    const started = performance.now();
    let indices: Int32Array;
    try {
      ({ indices } = await selectFrames(
        { embeddings: embeddings.data, frameOffsets: new Int32Array([0, n]), queries: q, dim: D },
        { k, mode, minGap, lambda, alpha, normalize: normalizeValue },
      ));
    } catch (error) {
      throw new PyException('ValueError', `select_frames(): ${(error as Error).message}`);
    }
    onSelect?.(performance.now() - started);
    const out: PyValue[] = [];
    for (const i of indices) if (i >= 0) out.push(BigInt(i));
    return new PyList(out);
  });
}

/** The globals a video world adds to its sandbox: video_clue_0 and select_frames. */
export function videoGlobals(options: VideoToolOptions): Record<string, PyValue> {
  return { video_clue_0: new VideoReaderObject(options), select_frames: selectFramesBuiltin(options.onSelect) };
}

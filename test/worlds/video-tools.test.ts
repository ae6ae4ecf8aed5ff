import { PyBuiltin, PyException, PyList, PyTuple, type HostContext, type PyHostObject, type PyValue } from '../../lib/sandbox/host.js';
import type { RgbImage } from '../../lib/util/rgb.js';
import { builtinEmbeddings, userEmbeddings } from '../../lib/video/embed.js';
import { ProceduralVideo } from '../../lib/video/procedural.js';
import { VideoReaderObject, videoGlobals } from '../../lib/worlds/video-tools.js';
import { testScene } from '../video/scenes.js';

/** A stand-in for the sandbox's image object: enough to see which frame came back. */
class FrameObject implements PyHostObject {
  readonly pyTypeName = 'Image';
  constructor(readonly frame: RgbImage, readonly index: number) {}
  getAttr(): PyValue | undefined {
    return undefined;
  }
  asImage(): RgbImage {
    return this.frame;
  }
  repr(): string {
    return `<Image frame ${this.index}>`;
  }
}

const ctx = { show: () => undefined, charge: () => undefined, checkPixels: () => undefined } as HostContext;
const kw = (o: Record<string, PyValue> = {}) => new Map(Object.entries(o));

function tools(scene = testScene, limits = {}) {
  const source = new ProceduralVideo(scene);
  const g = videoGlobals({ source, embeddings: () => builtinEmbeddings(source), wrapImage: (f, i) => new FrameObject(f, i), limits });
  const video = g.video_clue_0 as VideoReaderObject;
  const select = g.select_frames as PyBuiltin;
  const call = (name: string, args: PyValue[], kwargs = kw()) => (video.getAttr(name) as PyBuiltin).call(args, kwargs, ctx);
  return { video, select, call, source };
}

const ints = (v: PyValue) => (v as PyList).items.map(Number);
const list = (...xs: number[]) => new PyList(xs.map(BigInt));

async function pyError(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (error instanceof PyException) return `${error.pyType}: ${error.message}`;
    throw error;
  }
  return 'no error';
}

describe('video_clue_0', () => {
  test('len, get_avg_fps, get_batch and v[i]', async () => {
    const { video, call } = tools();
    expect(video.len()).toBe(400);
    expect(await call('get_avg_fps', [])).toBe(20);
    const batch = (await call('get_batch', [list(110, 0, 110)])) as PyList;
    expect(batch.items.map((f) => (f as FrameObject).index)).toEqual([110, 0, 110]);
    expect((video.getItem(110n) as FrameObject).index).toBe(110);
    expect((video.getItem(-1n) as FrameObject).index).toBe(399);
    expect(video.repr()).toBe('<VideoReader: 400 frames, 20 fps, 48x48>');
    expect(await call('get_batch', [new PyTuple([])])).toEqual(new PyList([]));
  });

  test('misuse is a Python exception with a message', async () => {
    const { video, call } = tools(testScene, { maxBatchFrames: 4 });
    expect(await pyError(() => call('get_batch', [list(400)]))).toBe('IndexError: get_batch(): frame index 400 out of range [0, 399]');
    expect(await pyError(() => call('get_batch', [list(-1)]))).toBe('IndexError: get_batch(): frame index -1 out of range [0, 399]');
    expect(await pyError(() => call('get_batch', [new PyList([1.5])]))).toBe('TypeError: get_batch() index 0 must be an int, not float');
    expect(await pyError(() => call('get_batch', [3n]))).toBe('TypeError: get_batch() argument must be a list of frame indices, not int');
    expect(await pyError(() => call('get_batch', []))).toMatch(/^TypeError: get_batch\(\) takes exactly one argument/);
    expect(await pyError(() => call('get_batch', [list(1, 2, 3, 4, 5)]))).toBe('ValueError: get_batch() returns at most 4 frames at once, got 5 indices');
    expect(await pyError(() => call('get_avg_fps', [1n]))).toMatch(/^TypeError: get_avg_fps\(\) takes no arguments/);
    expect(await pyError(() => video.getItem(400n))).toBe('IndexError: frame index 400 out of range for a video of 400 frames');
    expect(await pyError(() => video.getItem('a'))).toBe('TypeError: VideoReader indices must be an int, not str');
    expect(video.getAttr('crop')).toBeUndefined();
  });
});

describe('select_frames', () => {
  test('"red ball" finds the red ball\'s frames; every mode runs the native selectFrames', async () => {
    const { video, select } = tools();
    const red = ints(await select.call([video, 'red ball', 4n], kw(), ctx));
    expect(red).toHaveLength(4);
    for (const i of red) expect(i >= 100 && i < 130).toBe(true);
    expect(red).toEqual([...red].sort((a, b) => a - b));
    const box = ints(await select.call([video, 'red box', 3n], kw(), ctx));
    for (const i of box) expect(i >= 200 && i < 230).toBe(true);
    expect(ints(await select.call([video, 'blue ball', 2n, 'mmr'], kw(), ctx)).every((i) => i >= 300 && i < 330)).toBe(true);
    const gap = ints(await select.call([video, 'red', 2n], kw({ mode: 'topk-gap', min_gap: 50n }), ctx));
    expect(gap.some((i) => i >= 100 && i < 130) && gap.some((i) => i >= 200 && i < 230)).toBe(true);
    expect(ints(await select.call([video, 'red', 2n], kw({ mode: 'topk_gap', min_gap: 50n }), ctx))).toEqual(gap);
    expect(ints(await select.call([video, 'red ball', 4n], kw({ mode: 'uniform' }), ctx))).toEqual([50, 150, 250, 350]);
    const bolt = ints(await select.call([video, 'blue', 3n], kw({ mode: 'bolt', alpha: 3.0 }), ctx));
    expect(bolt).toHaveLength(3);
    expect(bolt.every((i) => i >= 300 && i < 330)).toBe(true);
    expect(ints(await select.call([video, 'red ball', 2n], kw({ mode: 'mmr', mmr_lambda: 1.0, normalize: true }), ctx))).toHaveLength(2);
  });

  test('user embeddings with query vectors given as lists', async () => {
    const source = new ProceduralVideo({ ...testScene, frameCount: 6, objects: [] });
    const data = new Float32Array([1, 0, 0, 1, 1, 1, 0, 0, 0.5, 0.5, 0, 2]);
    const g = videoGlobals({ source, embeddings: async () => userEmbeddings(data, 6), wrapImage: (f, i) => new FrameObject(f, i) });
    const video = g.video_clue_0;
    const select = g.select_frames as PyBuiltin;
    expect(ints(await select.call([video, new PyList([0.0, 1.0]), 2n], kw(), ctx))).toEqual([1, 5]) // scores 0 1 1 0 0.5 2: the tie of frames 1 and 2 goes to 1;
    expect(ints(await select.call([video, new PyTuple([1n, 0n]), 1n], kw(), ctx))).toEqual([0]);
    expect(await pyError(() => select.call([video, 'a cat', 2n], kw(), ctx))).toMatch(/^TypeError: select_frames\(\): this video's embeddings have no text encoder; pass the query as a list of 2 floats/);
    expect(await pyError(() => select.call([video, new PyList([1.0]), 2n], kw(), ctx))).toBe('ValueError: select_frames() query vector must have 2 values (the embedding size), got 1');
  });

  test('huge k, bad k, bad modes, wrong arguments and empty videos are Python exceptions', async () => {
    const { video, select } = tools();
    const e = (args: PyValue[], kwargs = kw()) => pyError(() => select.call(args, kwargs, ctx));
    expect(await e([video, 'red', 10n ** 12n])).toBe('ValueError: select_frames() k must be <= 64, got 1000000000000');
    expect(await e([video, 'red', 10n ** 30n])).toMatch(/^OverflowError/);
    expect(await e([video, 'red', 0n])).toBe('ValueError: select_frames() k must be >= 1, got 0');
    expect(await e([video, 'red', 2.0])).toBe('TypeError: select_frames() k must be an int, not float');
    expect(await e([video, 'red', 2n, 'best'])).toMatch(/^ValueError: select_frames\(\) mode must be one of 'uniform', 'topk'/);
    expect(await e([video, 'red', 2n], kw({ mode: 'topk-gap', min_gap: -1n }))).toBe('ValueError: select_frames() min_gap must be >= 0, got -1');
    expect(await e([video, 'red', 2n], kw({ mmr_lambda: 2.0 }))).toBe('ValueError: select_frames() mmr_lambda must be in [0, 1], got 2');
    expect(await e([video, 'red', 2n], kw({ colour: 'red' }))).toBe("TypeError: select_frames() got an unexpected keyword argument 'colour'");
    expect(await e([video, 'red'])).toBe('TypeError: select_frames() needs 3 arguments: select_frames(video, query, k)');
    expect(await e(['video', 'red', 2n])).toBe('TypeError: select_frames() argument 1 must be a VideoReader, not str');
    expect(await e([video, 3n, 2n])).toBe('TypeError: select_frames() query must be a str or a list of floats, not int');
    expect(ints(await select.call([video], kw({ query: 'red ball', k: 1n }), ctx))).toHaveLength(1);
    // k larger than a short video: the frames it has.
    const short = tools({ ...testScene, frameCount: 3, objects: [] });
    expect(ints(await short.select.call([short.video, 'red', 10n], kw(), ctx))).toEqual([0, 1, 2]);
    const empty = tools({ ...testScene, frameCount: 0, objects: [] });
    expect(await pyError(() => empty.select.call([empty.video, 'red', 2n], kw(), ctx))).toBe('ValueError: select_frames(): the video has no frames');
    expect(await pyError(() => empty.call('get_batch', [list(0)]))).toBe('IndexError: get_batch(): the video has no frames (index 0)');
    expect(empty.video.len()).toBe(0);
  });
});

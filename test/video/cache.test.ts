import { FrameCache } from '../../lib/video/cache.js';
import { ProceduralVideo, renderSceneFrame, type Scene } from '../../lib/video/procedural.js';

const frameOf = (bytes: number) => ({ width: 1, height: bytes / 3, data: new Uint8Array(bytes) });

describe('FrameCache', () => {
  test('evicts the least recently used frames to stay within the byte budget', () => {
    const cache = new FrameCache(300);
    cache.set(0, frameOf(120));
    cache.set(1, frameOf(120));
    expect(cache.stats().bytes).toBe(240);
    cache.get(0); // 1 is now the least recently used
    cache.set(2, frameOf(120)); // 360 > 300: 1 goes
    expect(cache.keys()).toEqual([0, 2]);
    expect(cache.stats()).toMatchObject({ frames: 2, bytes: 240, evictions: 1, hits: 1 });
    cache.set(3, frameOf(240)); // needs 240: both 0 and 2 go
    expect(cache.keys()).toEqual([3]);
    expect(cache.stats()).toMatchObject({ bytes: 240, evictions: 3 });
    expect(cache.get(0)).toBeUndefined();
    expect(cache.stats().misses).toBe(1);
  });

  test('bytes never exceed the budget over a long random sequence; oversized frames are not kept', () => {
    const cache = new FrameCache(1000);
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let step = 0; step < 2000; step++) {
      const index = next() % 50;
      if (next() % 3 === 0) cache.get(index);
      else cache.set(index, frameOf(3 * (1 + (next() % 120))));
      const s = cache.stats();
      expect(s.bytes).toBeLessThanOrEqual(1000);
      expect(s.frames).toBe(cache.keys().length);
    }
    cache.set(99, frameOf(1200));
    expect(cache.has(99)).toBe(false);
    // Replacing a frame counts its bytes once.
    const fresh = new FrameCache(100);
    fresh.set(1, frameOf(60));
    fresh.set(1, frameOf(90));
    expect(fresh.stats()).toMatchObject({ frames: 1, bytes: 90, evictions: 0 });
  });

  test('a budget of 0 keeps nothing; bad budgets are E_ARG', () => {
    const cache = new FrameCache(0);
    cache.set(0, frameOf(3));
    expect(cache.stats().frames).toBe(0);
    expect(() => new FrameCache(-1)).toThrow(/budgetBytes must be an integer >= 0, got -1/);
    expect(() => new FrameCache(1.5)).toThrow(expect.objectContaining({ code: 'E_ARG' }));
  });
});

const scene: Scene = {
  frameCount: 100,
  fps: 10,
  width: 16,
  height: 12,
  background: [60, 60, 60],
  objects: [
    {
      shape: 'ball',
      size: 3,
      visible: [{ start: 10, end: 60 }],
      colours: [{ from: 0, colour: 'red' }, { from: 30, colour: 'blue' }],
      path: { x0: 4, y0: 6, x1: 12, y1: 6 },
      flashes: [{ start: 40, end: 48 }],
    },
  ],
};

describe('ProceduralVideo', () => {
  test('renders frames on demand, caches them under the budget and renders them again after eviction', async () => {
    const frameBytes = 16 * 12 * 3;
    const video = new ProceduralVideo(scene, { cacheBytes: 3 * frameBytes });
    const frames = await video.frames([20, 21, 20]);
    expect(video.rendered).toBe(2);
    expect(frames[0]).toBe(frames[2]);
    expect(frames[0].data).toEqual(renderSceneFrame(scene, 20).data);
    await video.frames([22, 23, 24]);
    expect(video.cache.stats()).toMatchObject({ frames: 3, bytes: 3 * frameBytes });
    expect(video.cache.keys()).toEqual([22, 23, 24]);
    await video.frames([20]);
    expect(video.rendered).toBe(6);
  });

  test('objects appear, move, change colour and flash at their frames', () => {
    const at = (frame: number, x: number, y: number) => Array.from(renderSceneFrame(scene, frame).data.slice(3 * (y * 16 + x), 3 * (y * 16 + x) + 3));
    expect(at(5, 4, 6)).toEqual([60, 60, 60]); // not yet on screen
    expect(at(10, 4, 6)).toEqual([220, 40, 40]); // red at its start position
    expect(at(59, 11, 6)).toEqual([50, 80, 230]); // blue at its end position
    expect(at(59, 4, 6)).toEqual([60, 60, 60]); // it moved away
    expect(at(42, 8, 6)).toEqual([250, 250, 250]); // a flash frame (floor((42 - 40) / 2) odd)
    expect(at(44, 8, 6)).toEqual([50, 80, 230]);
    expect(at(60, 11, 6)).toEqual([60, 60, 60]); // gone
  });

  test('bad scenes and indices are E_ARG naming the field', async () => {
    expect(() => new ProceduralVideo({ ...scene, objects: [{ ...scene.objects[0], shape: 'star' as 'ball' }] })).toThrow(/scene.objects\[0\].shape/);
    expect(() => new ProceduralVideo({ ...scene, objects: [{ ...scene.objects[0], colours: [{ from: 0, colour: 'mauve' }] }] })).toThrow(/unknown colour mauve/);
    const video = new ProceduralVideo(scene);
    await expect(video.frames([100])).rejects.toThrow(/indices\[0\] must be a frame index in \[0, 99\]/);
    const empty = new ProceduralVideo({ ...scene, frameCount: 0, objects: [] });
    await expect(empty.frames([0])).rejects.toThrow(/the video has 0 frames/);
    expect(await empty.frames([])).toEqual([]);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { encodeSafetensors, writeFileAtomic } from '../../lib/policy/safetensors.js';
import { BUILTIN_EMBEDDING_DIM, FEATURES_PER_COLOUR, builtinEmbeddings, embedQuery, encodeFrame, readEmbeddingsFile, userEmbeddings } from '../../lib/video/embed.js';
import { ProceduralVideo, VIDEO_COLOUR_NAMES, renderSceneFrame } from '../../lib/video/procedural.js';
import { testScene } from './scenes.js';

const dot = (a: Float32Array, offset: number, q: Float32Array) => q.reduce((s, x, j) => s + x * a[offset + j], 0);

describe('built-in frame encoder', () => {
  test('presence, shape-likeness and quadrant of each colour', () => {
    const e = new Float32Array(BUILTIN_EMBEDDING_DIM);
    encodeFrame(renderSceneFrame(testScene, 110), e);
    const red = VIDEO_COLOUR_NAMES.indexOf('red') * FEATURES_PER_COLOUR;
    expect(e[red]).toBe(1);
    expect(e[red + 1]).toBeGreaterThan(0.5); // ball-like
    expect(e[red + 2]).toBeLessThan(0.3); // not box-like
    expect(e[red + 4]).toBe(1); // all in the top-left quadrant
    const blue = VIDEO_COLOUR_NAMES.indexOf('blue') * FEATURES_PER_COLOUR;
    expect(e.slice(blue, blue + FEATURES_PER_COLOUR).every((x) => x === 0)).toBe(true);
    encodeFrame(renderSceneFrame(testScene, 210), e);
    expect(e[red + 2]).toBeGreaterThan(0.9); // a square fills its box
    expect(e[red + 7]).toBe(1); // bottom-right
    encodeFrame(renderSceneFrame(testScene, 0), e);
    expect(e.every((x) => x === 0)).toBe(true); // background only
  });

  test('query words rank the frames: red ball > red box > nothing red', async () => {
    const emb = await builtinEmbeddings(new ProceduralVideo(testScene));
    expect(emb.data.length).toBe(400 * BUILTIN_EMBEDDING_DIM);
    const q = embedQuery('Where is the red ball?');
    const s = (i: number) => dot(emb.data, i * BUILTIN_EMBEDDING_DIM, q);
    expect(s(110)).toBeGreaterThan(1.5);
    expect(s(210)).toBeGreaterThan(0.9);
    expect(s(210)).toBeLessThan(s(110) - 0.4);
    expect(s(310)).toBe(0);
    expect(s(0)).toBe(0);
    // Position words and shape words alone.
    const right = embedQuery('the ball on the right');
    expect(dot(emb.data, 310 * BUILTIN_EMBEDDING_DIM, right)).toBeGreaterThan(dot(emb.data, 110 * BUILTIN_EMBEDDING_DIM, right));
    expect(embedQuery('nothing known here').some((x) => x !== 0)).toBe(true);
  });

  test('user embeddings: shape checks, and a safetensors file', async () => {
    const data = new Float32Array(12).map((_, i) => i);
    expect(userEmbeddings(data, 4).dim).toBe(3);
    expect(() => userEmbeddings(data, 5)).toThrow(/embeddings.length must be frameCount \(5\) x D, got 12/);
    expect(() => userEmbeddings([1, 2] as unknown as Float32Array, 1)).toThrow(expect.objectContaining({ code: 'E_DTYPE' }));
    const dir = mkdtempSync(join(tmpdir(), 'pyvision-emb-'));
    try {
      const path = join(dir, 'frames.safetensors');
      await writeFileAtomic(path, encodeSafetensors([{ name: 'embeddings', shape: [4, 3], data }], {}));
      const read = await readEmbeddingsFile(path);
      expect([read.frameCount, read.dim, Array.from(read.data)]).toEqual([4, 3, Array.from(data)]);
      await writeFileAtomic(path, encodeSafetensors([{ name: 'a', shape: [12], data }, { name: 'b', shape: [2, 6], data }], {}));
      await expect(readEmbeddingsFile(path)).rejects.toThrow(/holds 2 tensors \(a, b\); name the one/);
      await expect(readEmbeddingsFile(path, 'a')).rejects.toThrow(/tensor a must be \[N, D\], got \[12\]/);
      expect((await readEmbeddingsFile(path, 'b')).dim).toBe(6);
      await expect(readEmbeddingsFile(join(dir, 'missing.safetensors'))).rejects.toMatchObject({ code: 'E_IO' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

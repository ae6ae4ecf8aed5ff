/**
 * The visual-search world's procedural background: renderTexture (bands of rows share their
 * horizontal interpolations, the generator stepped inline) against the plain per-pixel reference
 * (test/reference/visual_search_texture.ts), byte for
 * byte, on canvas sizes that are and are not multiples of the 32-pixel cell, every tone, and
 * seeds at the ends of the 32-bit range.
 */
import { renderTexture } from '../../lib/worlds/visual-search/scene.js';
import { renderTexturePlain } from '../reference/visual_search_texture.js';

test('renderTexture equals renderTexturePlain byte for byte', () => {
  const cases: [number, number, number, number][] = [
    [256, 256, 0, 0], [256, 256, 0xffffffff, 1], [256, 256, 123456789, 2], [256, 256, 42, 3], [256, 256, 7, 5],
    [64, 64, 1, 0], [100, 77, 2, 1], [33, 31, 3, 2], [1, 1, 4, 3], [257, 129, 5, 0], [640, 512, 2 ** 31, 2],
  ];
  // And 150 seeds spread over the 32-bit range (the fast path rounds by floor(v + 0.5)).
  for (let i = 0, seed = 12345; i < 150; i++, seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) cases.push([128, 96, seed, i % 4]);
  for (const [w, h, seed, tone] of cases) {
    const want = renderTexturePlain(w, h, seed, tone);
    const got = renderTexture(w, h, seed, tone);
    expect([w, h, got.width, got.height]).toEqual([w, h, want.width, want.height]);
    let first = -1;
    for (let i = 0; i < want.data.length && first < 0; i++) if (got.data[i] !== want.data[i]) first = i;
    expect([w, h, seed, tone, first]).toEqual([w, h, seed, tone, -1]);
    expect(got.data.length).toBe(w * h * 3);
  }
});

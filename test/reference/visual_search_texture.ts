/**
 * The visual-search world's procedural background written plainly, per pixel (the reference that
 * lib/worlds/visual-search/scene.ts's renderTexture reproduces byte for byte): value noise on a
 * grid of 32-pixel cells (bilinear between the 4 nodes around each pixel) in a muted tone, plus a
 * per-pixel grain, the generator drawn in order (the grid, then one grain per pixel, row-major).
 */
import type { RgbImage } from '../../lib/util/rgb.js';
import { TONES, random } from '../../lib/worlds/visual-search/scene.js';

export function renderTexturePlain(width: number, height: number, seed: number, tone: number): RgbImage {
  const r = random(seed);
  const cell = 32;
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const raw = new Float64Array(gw * gh * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = r() * 2 - 1;
  // Channel c of a grid node: 0.6 of its own value and 0.4 of the node's first channel (mostly grey variation).
  const grid = new Float64Array(gw * gh * 3);
  for (let i = 0; i < gw * gh; i++) for (let c = 0; c < 3; c++) grid[i * 3 + c] = raw[i * 3 + c] * 0.6 + raw[i * 3] * 0.4;
  const base = TONES[tone % TONES.length];
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor(y / cell);
    const fy = y / cell - y0;
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor(x / cell);
      const fx = x / cell - x0;
      const grain = (r() - 0.5) * 12;
      const n00 = (y0 * gw + x0) * 3;
      const n01 = n00 + 3;
      const n10 = n00 + gw * 3;
      const n11 = n10 + 3;
      for (let c = 0; c < 3; c++) {
        const v = (1 - fy) * ((1 - fx) * grid[n00 + c] + fx * grid[n01 + c]) + fy * ((1 - fx) * grid[n10 + c] + fx * grid[n11 + c]);
        const value = Math.round(base[c] + 26 * v + grain);
        data[(y * width + x) * 3 + c] = value < 0 ? 0 : value > 255 ? 255 : value;
      }
    }
  }
  return { width, height, data };
}


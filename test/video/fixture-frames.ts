/** The known frames of test/fixtures/video/counter.{mkv,mp4} (the same pattern as make-fixture.mjs). */
export const FIXTURE = { width: 48, height: 32, frames: 75, fps: 25 };

export function fixtureFrame(t: number): Uint8Array {
  const { width: W, height: H } = FIXTURE;
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = 3 * (y * W + x);
      data[o] = (x * 4 + t) & 255;
      data[o + 1] = (y * 6) & 255;
      data[o + 2] = 90;
      const bx = (t * 2) % (W - 6);
      const by = 12;
      if (x >= bx && x < bx + 6 && y >= by && y < by + 6) {
        data[o] = 250;
        data[o + 1] = (t * 37) & 255;
        data[o + 2] = (t * 11) & 255;
      }
      if (y >= H - 4 && x < 28) data[o] = data[o + 1] = data[o + 2] = (t >> (x >> 2)) & 1 ? 255 : 0;
    }
  }
  return data;
}

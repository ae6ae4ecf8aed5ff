/** Decoding PNG, JPEG and WebP files with sharp (files generated in the test), and the E_IO errors naming the file. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PyVisionError, decodeImage, decodeImageFile, encodeImage } from '../../lib/index.js';
import type { RgbImage } from '../../lib/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pyvision-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 12 x 8: left half red, right half blue (large flat areas survive lossy codecs). */
function twoHalves(): RgbImage {
  const w = 12;
  const h = 8;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(x < 6 ? [220, 20, 20] : [20, 20, 220], (y * w + x) * 3);
  return { width: w, height: h, data };
}

test('PNG round-trips exactly', async () => {
  const img = twoHalves();
  const path = join(dir, 'a.png');
  writeFileSync(path, await encodeImage(img, 'png'));
  const back = await decodeImageFile(path);
  expect([back.width, back.height]).toEqual([12, 8]);
  expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
});

test.each(['jpeg', 'webp'] as const)('%s decodes to RGB close to the original', async (format) => {
  const img = twoHalves();
  const path = join(dir, `a.${format}`);
  writeFileSync(path, await encodeImage(img, format, 95));
  const back = await decodeImageFile(path);
  expect([back.width, back.height]).toEqual([12, 8]);
  let worst = 0;
  for (let y = 1; y < 7; y++) {
    for (const x of [1, 2, 9, 10]) {
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(back.data[(y * 12 + x) * 3 + c] - img.data[(y * 12 + x) * 3 + c]));
    }
  }
  expect(worst).toBeLessThan(40);
});

test('greyscale and RGBA inputs become RGB', async () => {
  const sharp = (await import('sharp')).default;
  const grey = await sharp(Buffer.from([0, 128, 255, 7]), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer();
  const g = await decodeImage(new Uint8Array(grey), 'grey.png');
  expect(Array.from(g.data)).toEqual([0, 0, 0, 128, 128, 128, 255, 255, 255, 7, 7, 7]);
  const rgba = await sharp(Buffer.from([10, 20, 30, 255, 40, 50, 60, 255]), { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
  expect(Array.from((await decodeImage(new Uint8Array(rgba))).data)).toEqual([10, 20, 30, 40, 50, 60]);
});

test('missing and corrupt files are E_IO errors naming the file', async () => {
  const missing = join(dir, 'missing.png');
  await expect(decodeImageFile(missing)).rejects.toThrow(PyVisionError);
  await expect(decodeImageFile(missing)).rejects.toMatchObject({ code: 'E_IO', message: expect.stringContaining('missing.png') });
  const bad = join(dir, 'bad.jpg');
  writeFileSync(bad, Buffer.from('not an image at all'));
  await expect(decodeImageFile(bad)).rejects.toMatchObject({ code: 'E_IO', message: expect.stringContaining('bad.jpg') });
  await expect(decodeImageFile('' as string)).rejects.toMatchObject({ code: 'E_ARG', message: expect.stringContaining('path') });
  await expect(encodeImage(twoHalves(), 'gif' as 'png')).rejects.toMatchObject({ code: 'E_ARG', message: expect.stringContaining('format') });
});

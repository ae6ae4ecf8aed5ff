/**
 * crop / resize / rotate / meanColor: hand-computed cases, PIL's conventions
 * (rounding of float boxes, black outside, counter-clockwise rotation), every
 * error path, and seeded random cases compared pixel for pixel with the numpy
 * twin in test/reference/image_builtins.py (skipped with a reason without python3).
 */
import { PyVisionError, blankImage, crop, imageFromPixels, meanColor, resize, rotate, roundHalfEven, pyFloatMod } from '../../lib/index.js';
import type { RgbImage } from '../../lib/index.js';
import { rng } from '../helpers.js';
import { fromWire, runTwin, toWire, twinUnavailable, type WireImage } from '../reference/image_twin.js';

/** A w x h image whose pixel (x, y) is (x, y, x + y) (mod 256). */
function ramp(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set([x & 255, y & 255, (x + y) & 255], (y * w + x) * 3);
  }
  return { width: w, height: h, data };
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  const p = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(p, p + 3));
}

function randomImage(r: () => number, w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { width: w, height: h, data };
}

function expectSameImage(got: RgbImage, want: RgbImage, label: string): void {
  expect([got.width, got.height]).toEqual([want.width, want.height]);
  for (let i = 0; i < got.data.length; i++) {
    if (got.data[i] !== want.data[i]) {
      const p = Math.floor(i / 3);
      throw new Error(`${label}: pixel (${p % got.width}, ${Math.floor(p / got.width)}) channel ${i % 3}: ${got.data[i]} != ${want.data[i]}`);
    }
  }
}

describe('roundHalfEven and pyFloatMod match Python', () => {
  test('round', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001, -2.6, 3].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, 2, 3, -3, 3]);
  });
  test('float %', () => {
    expect(pyFloatMod(-90, 360)).toBe(270);
    expect(pyFloatMod(725, 360)).toBe(5);
    expect(pyFloatMod(-1e-20, 360)).toBe(360);
    expect(Object.is(pyFloatMod(-360, 360), 0)).toBe(true);
  });
});

describe('crop', () => {
  const img = ramp(5, 4);
  test('inside', () => {
    const c = crop(img, [1, 1, 3, 4]);
    expect([c.width, c.height]).toEqual([2, 3]);
    expect(pixel(c, 0, 0)).toEqual([1, 1, 2]);
    expect(pixel(c, 1, 2)).toEqual([2, 3, 5]);
  });
  test('outside parts are black', () => {
    const c = crop(img, [-2, -1, 2, 1]);
    expect([c.width, c.height]).toEqual([4, 2]);
    expect(pixel(c, 0, 0)).toEqual([0, 0, 0]);
    expect(pixel(c, 1, 1)).toEqual([0, 0, 0]);
    expect(pixel(c, 2, 1)).toEqual([0, 0, 0]); // source (0, 0) is (0, 0, 0) itself
    expect(pixel(c, 3, 1)).toEqual([1, 0, 1]);
    const far = crop(img, [10, 10, 12, 13]);
    expect(Array.from(far.data).every((v) => v === 0)).toBe(true);
  });
  test('float coordinates round half to even, as PIL', () => {
    const c = crop(img, [0.5, 1.5, 2.5, 3.5]); // -> (0, 2, 2, 4)
    expect([c.width, c.height]).toEqual([2, 2]);
    expect(pixel(c, 0, 0)).toEqual([0, 2, 2]);
  });
  test('errors name the box', () => {
    for (const box of [[3, 0, 1, 2], [0, 3, 2, 1], [1, 1, 1, 3], [0.6, 0, 1.4, 2], [0, 0, NaN, 1], [0, 0, 1], 'x']) {
      expect(() => crop(img, box as number[])).toThrow(PyVisionError);
      try {
        crop(img, box as number[]);
      } catch (error) {
        expect((error as PyVisionError).code).toBe('E_ARG');
        expect((error as PyVisionError).message).toMatch(/box/);
      }
    }
  });
});

describe('resize (area average)', () => {
  test('2x2 -> 1x1 is the rounded mean', () => {
    const img = imageFromPixels(2, 1, [0, 10, 255, 1, 11, 254]);
    expect(Array.from(resize(img, 1, 1).data)).toEqual([1, 11, 255]); // 0.5 -> 1, 10.5 -> 11, 254.5 -> 255 (half up)
  });
  test('3 -> 2 uses fractional coverage', () => {
    // output 0 covers source [0, 1.5): (30 * 1 + 60 * 0.5) / 1.5 = 40; output 1 covers [1.5, 3): (60 * .5 + 90) / 1.5 = 80
    const img = imageFromPixels(3, 1, [30, 0, 0, 60, 0, 0, 90, 0, 0]);
    expect(Array.from(resize(img, 2, 1).data)).toEqual([40, 0, 0, 80, 0, 0]);
  });
  test('upscaling replicates when the factor is integral', () => {
    const img = ramp(2, 2);
    const big = resize(img, 4, 6);
    expect(pixel(big, 3, 5)).toEqual(pixel(img, 1, 1));
    expect(pixel(big, 1, 2)).toEqual(pixel(img, 0, 0));
  });
  test('a constant image stays constant', () => {
    const img = imageFromPixels(7, 5, new Array(105).fill(77));
    expect(Array.from(resize(img, 3, 4).data).every((v) => v === 77)).toBe(true);
  });
  test('errors', () => {
    expect(() => resize(ramp(2, 2), 0, 1)).toThrow(/width/);
    expect(() => resize(ramp(2, 2), 1, 1.5)).toThrow(/height/);
    expect(() => resize({ width: 2, height: 2, data: new Uint8Array(3) }, 1, 1)).toThrow(/image.data/);
  });
});

describe('rotate (PIL: counter-clockwise, same size, nearest, black fill)', () => {
  const img = ramp(4, 3);
  test('0 and 360 copy', () => {
    expectSameImage(rotate(img, 360), img, '360');
    expectSameImage(rotate(img, 0), img, '0');
  });
  test('180 flips both axes', () => {
    const r = rotate(img, 180);
    for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) expect(pixel(r, x, y)).toEqual(pixel(img, 3 - x, 2 - y));
  });
  test('90 on a square is a counter-clockwise transpose', () => {
    const sq = ramp(3, 3);
    const r = rotate(sq, 90);
    // Counter-clockwise: the top-right corner moves to the top-left.
    expect(pixel(r, 0, 0)).toEqual(pixel(sq, 2, 0));
    expect(pixel(r, 0, 2)).toEqual(pixel(sq, 0, 0));
    expect(pixel(r, 2, 2)).toEqual(pixel(sq, 0, 2));
    expectSameImage(rotate(sq, -270), r, '-270');
  });
  test('45 degrees leaves black corners', () => {
    const r = rotate(imageFromPixels(8, 8, new Array(192).fill(200)), 45);
    expect(pixel(r, 0, 0)).toEqual([0, 0, 0]);
    expect(pixel(r, 4, 4)).toEqual([200, 200, 200]);
  });
  test('errors', () => {
    expect(() => rotate(img, Infinity)).toThrow(/degrees/);
    expect(() => rotate(img, '9' as unknown as number)).toThrow(/degrees/);
  });
});

test('meanColor rounds half up', () => {
  expect(meanColor(imageFromPixels(2, 1, [0, 1, 2, 1, 2, 2]))).toEqual([1, 2, 2]);
  expect(meanColor(blankImage(3, 3))).toEqual([0, 0, 0]);
});

const twinReason = twinUnavailable();
(twinReason ? test.skip : test)('random cases match the numpy twin pixel for pixel', () => {
  const r = rng(9);
  const cases: { image: WireImage; calls: unknown[][] }[] = [];
  const expected: (RgbImage | number[])[][] = [];
  for (let c = 0; c < 40; c++) {
    const w = 1 + Math.floor(r() * 23);
    const h = 1 + Math.floor(r() * 19);
    const img = randomImage(r, w, h);
    const calls: unknown[][] = [];
    const want: (RgbImage | number[])[] = [];
    for (let k = 0; k < 6; k++) {
      const which = Math.floor(r() * 4);
      if (which === 0) {
        const l = Math.floor(r() * (w + 8)) - 4 + (r() < 0.3 ? 0.5 : 0);
        const t = Math.floor(r() * (h + 8)) - 4 + (r() < 0.3 ? 0.5 : 0);
        const box = [l, t, l + 2 + Math.floor(r() * 12), t + 2 + Math.floor(r() * 12)];
        calls.push(['crop', box.map(roundHalfEven)]);
        want.push(crop(img, box));
      } else if (which === 1) {
        const size = [1 + Math.floor(r() * 30), 1 + Math.floor(r() * 30)];
        calls.push(['resize', size]);
        want.push(resize(img, size[0], size[1]));
      } else if (which === 2) {
        const deg = r() < 0.3 ? 90 * Math.floor(r() * 9 - 4) : Math.round((r() * 720 - 360) * 100) / 100;
        calls.push(['rotate', deg]);
        want.push(rotate(img, deg));
      } else {
        calls.push(['mean_color']);
        want.push(meanColor(img));
      }
    }
    cases.push({ image: toWire(img), calls });
    expected.push(want);
  }
  const { results } = runTwin<{ results: (WireImage | number[])[][] }>({ op: 'ops', cases });
  results.forEach((calls, c) =>
    calls.forEach((res, k) => {
      const label = `case ${c} call ${k} ${JSON.stringify(cases[c].calls[k])}`;
      if (Array.isArray(res)) expect([label, res]).toEqual([label, expected[c][k]]);
      else expectSameImage(expected[c][k] as RgbImage, fromWire(res), label);
    }),
  );
});
if (twinReason) console.log(`skipping the numpy twin comparison: ${twinReason}`);

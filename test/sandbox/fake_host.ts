/**
 * The test host: the TypeScript side of test/reference/sandbox_twin.py's
 * Image, show and slow_add (an asynchronous host function: it resolves on a
 * later macrotask, so the evaluator really suspends).
 */
import { PyBuiltin, PyException, PyTuple, type PyHostObject, type PyValue } from '../../lib/sandbox/index.js';
import type { RgbImage } from '../../lib/util/rgb.js';

function intArg(v: PyValue, what: string): number {
  if (typeof v !== 'bigint') throw new PyException('TypeError', `${what} must be int`);
  return Number(v);
}

export class FakeImage implements PyHostObject {
  readonly pyTypeName = 'Image';

  constructor(readonly image: RgbImage) {}

  getAttr(name: string): PyValue | undefined {
    const { width, height, data } = this.image;
    switch (name) {
      case 'width':
        return BigInt(width);
      case 'height':
        return BigInt(height);
      case 'size':
        return new PyTuple([BigInt(width), BigInt(height)]);
      case 'pixel':
        return new PyBuiltin('pixel', (args) => {
          if (args.length !== 2) throw new PyException('TypeError', 'pixel() takes 2 arguments');
          const x = intArg(args[0], 'pixel() coordinates');
          const y = intArg(args[1], 'pixel() coordinates');
          if (!(x >= 0 && x < width && y >= 0 && y < height)) throw new PyException('IndexError', 'pixel out of range');
          const i = 3 * (y * width + x);
          return new PyTuple([BigInt(data[i]), BigInt(data[i + 1]), BigInt(data[i + 2])]);
        });
      case 'crop':
        return new PyBuiltin('crop', (args, _kwargs, ctx) => {
          const box = args[0];
          if (args.length !== 1 || !(box instanceof PyTuple) || box.items.length !== 4 || box.items.some((v) => typeof v !== 'bigint')) {
            throw new PyException('TypeError', 'crop() box must be a tuple of 4 ints');
          }
          const [left, top, right, bottom] = box.items.map((v) => Number(v));
          if (right <= left || bottom <= top) throw new PyException('ValueError', 'crop() box must have right > left and bottom > top');
          const w = right - left;
          const h = bottom - top;
          ctx.checkPixels?.(w, h);
          ctx.charge(w * h);
          const out = new Uint8Array(w * h * 3);
          for (let y = top; y < bottom; y++) {
            for (let x = left; x < right; x++) {
              if (x < 0 || x >= width || y < 0 || y >= height) continue;
              const src = 3 * (y * width + x);
              const dst = 3 * ((y - top) * w + (x - left));
              out.set(data.subarray(src, src + 3), dst);
            }
          }
          return new FakeImage({ width: w, height: h, data: out });
        });
    }
    return undefined;
  }

  asImage(): RgbImage {
    return this.image;
  }

  repr(): string {
    return `<Image ${this.image.width}x${this.image.height}>`;
  }
}

/** The 4 x 3 image of the twin's clue_image(). */
export function clueImage(): FakeImage {
  const w = 4;
  const h = 3;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[3 * (y * w + x) + c] = (17 * (y * w + x) + 5 * c) % 256;
  return new FakeImage({ width: w, height: h, data });
}

/** slow_add(a, b): a + b for ints, bools and floats (as Python adds them), resolved on a later macrotask. */
export const slowAdd = new PyBuiltin('slow_add', (args) => {
  const [a, b] = args;
  if (args.length !== 2) throw new PyException('TypeError', 'slow_add() takes 2 arguments');
  const isNum = (v: PyValue): v is bigint | boolean | number => typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'number';
  if (!isNum(a) || !isNum(b)) throw new PyException('TypeError', 'slow_add() takes two numbers');
  const big = (v: bigint | boolean) => (typeof v === 'bigint' ? v : v ? 1n : 0n);
  const sum: PyValue = typeof a !== 'number' && typeof b !== 'number' ? big(a) + big(b) : Number(typeof a === 'number' ? a : big(a)) + Number(typeof b === 'number' ? b : big(b));
  return new Promise<PyValue>((resolve) => setImmediate(() => resolve(sum)));
});

/** The globals every differential program sees. */
export function testGlobals(): Record<string, PyValue> {
  return { image_clue_0: clueImage(), slow_add: slowAdd };
}

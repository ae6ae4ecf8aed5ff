/**
 * The world sandbox's image built-ins against CPython running the numpy twin
 * (test/reference/image_builtins.py): seeded generated programs over random
 * images, several turns each (variables and image_clue_k carry over), compared
 * on printed output, exception class names and the pixels of every shown image.
 * Skipped with the reason when python3 with numpy is absent.
 */
import { ImageToolSession, VisualSearchWorld } from '../../lib/index.js';
import type { RgbImage } from '../../lib/index.js';
import { rng } from '../helpers.js';
import { fromWire, runTwin, toWire, twinUnavailable, type WireImage } from '../reference/image_twin.js';

const MAX_PIXELS = 2000;
const MAX_IMAGES = 6;
const PROGRAMS = 400;

interface TwinTurn {
  output: string;
  error: string | null;
  images: WireImage[];
}

function randomImage(r: () => number): RgbImage {
  const w = 3 + Math.floor(r() * 30);
  const h = 3 + Math.floor(r() * 30);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { width: w, height: h, data };
}

/** A seeded generator of statements over images. */
function generator(r: () => number, image: RgbImage) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const vars = ['image_clue_0', 'a', 'b', 'c', 'image_clue_1', 'image_clue_2'];
  const coord = (limit: number): string => {
    const u = r();
    if (u < 0.6) return String(int(-6, limit + 6));
    if (u < 0.75) return `${int(0, limit)}.5`;
    if (u < 0.82) return `${int(0, limit)}.25`;
    if (u < 0.86) return pick(['True', 'False']);
    if (u < 0.9) return pick(["'x'", 'None', '[1]']);
    if (u < 0.93) return pick(['10000000000', '-10000000000', '1e300', '-1e300']);
    return `${int(0, limit)} + 1`;
  };
  const box = (): string => {
    const u = r();
    const W = image.width;
    const H = image.height;
    if (u < 0.8) {
      const l = int(-5, W);
      const t = int(-5, H);
      const parts = r() < 0.7 ? [String(l), String(t), String(l + int(1, 40)), String(t + int(1, 40))] : [coord(W), coord(H), coord(W), coord(H)];
      return r() < 0.85 ? `(${parts.join(', ')})` : `[${parts.join(', ')}]`;
    }
    return pick(['(1, 2, 3)', '(0, 0, 4, 4, 5)', '5', "'box'", '()', '(0, 0, 0, 0)', '(3, 3, 3.4, 5)']);
  };
  const size = (): string => {
    const u = r();
    if (u < 0.75) return `(${int(1, 45)}, ${int(1, 45)})`;
    return pick(['(0, 4)', '(4, -1)', '(2.5, 3)', '(True, 3)', '(3,)', '[5, 6]', '7', '(60, 60)']);
  };
  const angle = (): string => pick([String(int(-400, 400)), `${int(-360, 360)}.5`, '90', '180', '270', '-90', '0', '360', '45', '1e400', '-1e400', "'x'", 'True', '33.3']);
  const v = () => (r() < 0.5 ? 'image_clue_0' : pick(vars));
  const statement = (): string => {
    const u = r();
    if (u < 0.2) return `${pick(['a', 'b', 'c'])} = ${v()}.crop(${box()})`;
    if (u < 0.3) return `${pick(['a', 'b', 'c'])} = ${v()}.resize(${size()})`;
    if (u < 0.38) return `${pick(['a', 'b', 'c'])} = ${v()}.rotate(${angle()})`;
    if (u < 0.5) return `show(${v()})`;
    if (u < 0.6) return `print(${v()}.size, ${v()}.width, ${v()}.height)`;
    if (u < 0.68) return `print(mean_color(${v()}))`;
    if (u < 0.72) return `print(${v()})`;
    if (u < 0.76) return `show(${v()}.crop(${box()}))`;
    if (u < 0.8) return pick([`${v()}.crop(box=${box()})`, `${v()}.crop()`, `${v()}.crop(${box()}, 1)`, `${v()}.resize(size=${size()})`, `${v()}.rotate(angle=${angle()})`, `${v()}.rotate(1, angle=2)`, `${v()}.crop(bx=(0, 0, 1, 1))`]);
    if (u < 0.84) return pick([`len(${v()})`, `${v()}[0]`, `${v()}.foo`, `mean_color(5)`, `mean_color()`, `show(5)`]);
    if (u < 0.9) return `x = ${v()}.size\nprint(x[0] * x[1], x)`;
    return `show(${v()}.resize((${int(1, 20)}, ${int(1, 20)})).rotate(${angle()}))`;
  };
  return () => Array.from({ length: 1 + Math.floor(r() * 4) }, statement).join('\n');
}

const reason = twinUnavailable();
if (reason) console.log(`skipping the CPython comparison of the image built-ins: ${reason}`);

(reason ? test.skip : test)(`${PROGRAMS} generated programs: output, exception classes and shown pixels match CPython with the twin`, async () => {
  const r = rng(20260);
  const programs: { image: WireImage; turns: string[] }[] = [];
  const images: RgbImage[] = [];
  for (let p = 0; p < PROGRAMS; p++) {
    const image = randomImage(r);
    const next = generator(r, image);
    images.push(image);
    const turns = Array.from({ length: 1 + Math.floor(r() * 3) }, next);
    if (r() < 0.7) turns[0] = `a = image_clue_0\nb = image_clue_0.resize((8, 6))\nc = image_clue_0.crop((1, 1, 6, 6))\n${turns[0]}`;
    programs.push({ image: toWire(image), turns });
  }
  const twin = runTwin<{ results: TwinTurn[][] }>({ op: 'programs', maxPixels: MAX_PIXELS, maxImages: MAX_IMAGES, programs }).results;
  const errorClasses = new Set<string>();
  let shown = 0;
  for (let p = 0; p < PROGRAMS; p++) {
    const session = new ImageToolSession({ image: images[p], imageLimits: { maxPixels: MAX_PIXELS }, limits: { maxImages: MAX_IMAGES } });
    for (let t = 0; t < programs[p].turns.length; t++) {
      const got = await session.run(programs[p].turns[t]);
      const want = twin[p][t];
      const label = `program ${p} turn ${t}:\n${programs[p].turns[t]}\n`;
      expect({ label, output: got.output, error: got.error?.type ?? null }).toEqual({ label, output: want.output, error: want.error });
      expect({ label, images: got.images.length }).toEqual({ label, images: want.images.length });
      got.images.forEach((img, k) => {
        const w = fromWire(want.images[k]);
        expect({ label, size: [img.width, img.height] }).toEqual({ label, size: [w.width, w.height] });
        expect({ label, same: Buffer.from(img.data).equals(Buffer.from(w.data)) }).toEqual({ label, same: true });
      });
      if (got.error) errorClasses.add(got.error.type);
      shown += got.images.length;
    }
    session.dispose();
  }
  // The generator reaches every error the built-ins raise, and shows images.
  for (const cls of ['TypeError', 'ValueError', 'OverflowError', 'MemoryError', 'NameError', 'AttributeError']) expect(errorClasses).toContain(cls);
  expect(shown).toBeGreaterThan(100);
});

test('the same programs, encoded with the visual-search vocabulary and decoded, run identically', async () => {
  const tk = new VisualSearchWorld().tokenizer;
  const unk = tk.id('<unk>');
  const r = rng(4242);
  let compared = 0;
  for (let p = 0; p < 150; p++) {
    const image = randomImage(r);
    const next = generator(r, image);
    const original = new ImageToolSession({ image, imageLimits: { maxPixels: MAX_PIXELS }, limits: { maxImages: MAX_IMAGES } });
    const decoded = new ImageToolSession({ image, imageLimits: { maxPixels: MAX_PIXELS }, limits: { maxImages: MAX_IMAGES } });
    for (let t = 0; t < 3; t++) {
      const source = next();
      const ids = tk.encode(source);
      if (Array.from(ids).includes(unk)) continue;
      const a = await original.run(source);
      const b = await decoded.run(tk.decode(ids));
      expect({ source, output: b.output, error: b.error?.type ?? null, images: b.images.map((i) => Buffer.from(i.data).toString('base64')) })
        .toEqual({ source, output: a.output, error: a.error?.type ?? null, images: a.images.map((i) => Buffer.from(i.data).toString('base64')) });
      compared++;
    }
    original.dispose();
    decoded.dispose();
  }
  expect(compared).toBeGreaterThan(200);
});

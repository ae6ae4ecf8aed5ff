/**
 * Fuzzing the world sandbox with the world's own vocabulary: random token
 * sequences (uniform over the vocabulary, and biased towards code tokens and
 * image calls so that runs get past the parser) are decoded as the rollout
 * decodes a sampled code turn and run in visual-search tool sessions. Every run
 * must resolve (never reject or throw), report either no error or a Python
 * exception class, stay within the output and image limits, and the heap must
 * stay flat.
 *
 * CI runs PYVISION_FUZZ_SEQUENCES (default 100,000) sequences; a longer run:
 *   PYVISION_FUZZ_SEQUENCES=2000000 npm test -- test/worlds/fuzz
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { VisualSearchWorld } from '../../lib/index.js';
import { rng } from '../helpers.js';

const SEQUENCES = Number(process.env.PYVISION_FUZZ_SEQUENCES ?? 100_000);
const PER_SESSION = 200;
const MAX_OUTPUT = 2000;
const MAX_IMAGES = 32;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const PYTHON_EXCEPTIONS = new Set([
  'SyntaxError', 'NameError', 'TypeError', 'ValueError', 'IndexError', 'ZeroDivisionError', 'AttributeError', 'KeyError',
  'OverflowError', 'MemoryError', 'TimeoutError', 'RecursionError', 'RuntimeError', 'UnboundLocalError', 'NotImplementedError',
]);

test(`${SEQUENCES} random token sequences of the world's vocabulary: only tool errors, within limits, flat memory`, async () => {
  // A 64 x 64 canvas: the same vocabulary as the default world (numbers up to 256), less pixel work per call.
  const world = new VisualSearchWorld({ canvas: 64, limits: { maxOutputChars: MAX_OUTPUT, maxImages: MAX_IMAGES, maxSteps: 20_000 } });
  expect(world.tokenizer.vocabulary()).toEqual(new VisualSearchWorld().tokenizer.vocabulary());
  const tk = world.tokenizer;
  const r = rng(77);
  const vocab = tk.size;
  const special = new Set(['<pad>', '<bos>', '<q>', '</q>', '<img>', '</img>', '<code>', '</code>', '<obs>', '</obs>', '<answer>', '</answer>', '<video>', '</video>']);
  const codeish = tk.vocabulary().map((t, i) => [t, i] as const).filter(([t]) => !special.has(t) && !/^\d+$/.test(t)).map(([, i]) => i);
  const fragments = ['image_clue_0', '.', 'crop', '(', '(', '0', ',', '0', ',', '8', ',', '8', ')', ')', 'show', 'print', 'resize', 'rotate', 'mean_color', '=', 'img', '\n', '*', '**', '9', '[', ']', ':', '-', '1']
    .map((t) => tk.id(t));
  const templates = [
    'show(image_clue_0.crop((N, N, N, N)))',
    'img = image_clue_0.crop((N, N, N, N))\nshow(img.resize((N, N)))',
    'print(mean_color(image_clue_0.crop((N, N, N, N))))',
    'show(image_clue_1.crop((N, N, N, N)).rotate(N))',
    'x = image_clue_0.size\nprint(x[0] // N, x[1] % N, N / N)',
    'a = [N, N, N]\nprint(a[N], a[N:N], sum(a) ** N)',
    'print(image_clue_0.width * N - image_clue_0.height, round(N / N))',
  ];
  const task = world.tasks('train', 1)[0];
  const classes = new Map<string, number>();
  let heapAtStart = 0;
  let session = world.openTool(task);
  let imagesInSession = 0;
  for (let s = 0; s < SEQUENCES; s++) {
    if (s % PER_SESSION === 0) {
      session.dispose();
      session = world.openTool(task);
      imagesInSession = 0;
    }
    if (s === Math.min(10_000, Math.floor(SEQUENCES / 5))) {
      gc();
      heapAtStart = process.memoryUsage().heapUsed;
    }
    const length = 1 + Math.floor(r() * 24);
    let ids: number[] = [];
    const mode = r();
    if (mode < 0.4) {
      // A program of the expert's kind with random numbers, then a few random substitutions.
      const n = () => Math.floor(r() * 300) - 20;
      const template = templates[Math.floor(r() * templates.length)].replace(/N/g, () => String(n()));
      ids = Array.from(tk.encode(template));
      for (let k = Math.floor(r() * 3); k > 0; k--) ids[Math.floor(r() * ids.length)] = r() < 0.5 ? fragments[Math.floor(r() * fragments.length)] : Math.floor(r() * vocab);
    } else {
      for (let k = 0; k < length; k++) {
        if (mode < 0.6) ids.push(Math.floor(r() * vocab));
        else if (mode < 0.8) ids.push(codeish[Math.floor(r() * codeish.length)]);
        else ids.push(r() < 0.7 ? fragments[Math.floor(r() * fragments.length)] : codeish[Math.floor(r() * codeish.length)]);
      }
    }
    const code = tk.decode(ids).trim();
    if (code.length === 0) continue;
    const result = await session.run(code);
    if (result.error) {
      if (!PYTHON_EXCEPTIONS.has(result.error.type)) throw new Error(`sequence ${s}: ${JSON.stringify(code)} raised ${result.error.type}: ${result.error.message}`);
      classes.set(result.error.type, (classes.get(result.error.type) ?? 0) + 1);
    }
    // (plain checks: expect() per sequence would cost more than the run itself)
    if (result.output.length > MAX_OUTPUT) throw new Error(`sequence ${s}: ${result.output.length} characters printed, over the limit ${MAX_OUTPUT}`);
    imagesInSession += result.images.length;
    if (imagesInSession > MAX_IMAGES) throw new Error(`sequence ${s}: ${imagesInSession} images in one session, over the limit ${MAX_IMAGES}`);
  }
  session.dispose();
  gc();
  const growth = process.memoryUsage().heapUsed - heapAtStart;
  console.log(`fuzz: ${SEQUENCES} sequences; error classes ${JSON.stringify(Object.fromEntries(classes))}; heap growth after warm-up ${(growth / 2 ** 20).toFixed(1)} MiB`);
  expect(growth).toBeLessThan(32 * 2 ** 20);
  expect(classes.get('SyntaxError')).toBeGreaterThan(0);
  expect(classes.size).toBeGreaterThan(3);
}, 600_000);

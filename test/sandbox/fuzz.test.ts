/**
 * Fuzzing: random token sequences of the subset's vocabulary (PYTHON_SUBSET_TOKENS plus numbers, names,
 * strings, newlines; and mutated valid programs) never make the sandbox throw a JavaScript error or reject, only report Python-style
 * errors; every run stays within the limits; the heap is as flat after as before.
 *
 * CI runs 100,000 sequences. A longer run: SANDBOX_FUZZ=1000000 npm test -- test/sandbox/fuzz.test.ts
 * (SANDBOX_FUZZ_SEED picks another seed).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PYTHON_SUBSET_TOKENS, PythonSandbox, type SandboxLimits } from '../../lib/sandbox/index.js';
import { rng } from '../helpers.js';
import { testGlobals } from './fake_host.js';
import { generatePrograms } from './generator.js';

const COUNT = Number(process.env.SANDBOX_FUZZ ?? 100_000);
const SEED = Number(process.env.SANDBOX_FUZZ_SEED ?? 7);

/** Every class the sandbox may report: CPython's (the subset's errors) and the limits'. */
const PYTHON_ERRORS = new Set([
  'SyntaxError', 'IndentationError', 'NameError', 'TypeError', 'ValueError', 'IndexError', 'ZeroDivisionError', 'AttributeError',
  'OverflowError', 'MemoryError', 'TimeoutError', 'RecursionError', 'NotImplementedError',
]);

const EXTRA_TOKENS = [
  '0', '1', '2', '3', '7', '10', '100', '255', '-1', '0.5', '2.5', '1e9', '1e308', '10**9', '99999999999', '0x1f', '1_0',
  'x', 'y', 'z', 'a', 'b', 'image_clue_0', 'slow_add', 'width', 'size', 'crop', 'pixel',
  "'a'", '"b"', "''", "'hello world'", "'\\n'", '\n', '\n', '\n', '  ', '#', '\\', "'", '"',
];
const VOCABULARY = [...PYTHON_SUBSET_TOKENS, ...EXTRA_TOKENS];

/** Programs that would allocate or run without end if nothing stopped them. */
const BOMBS = [
  'x = [0] * 10 ** 9', "x = 'a' * 10 ** 10", 'x = sum(range(10 ** 12))', 'x = 2 ** 10 ** 10', 'x = list(range(10 ** 10))',
  'a = [0] * 1000\nb = [a] * 1000\nprint(b)', "s = 'ab' * 40000\nt = s * 20\nu = [t] * 100\nprint(u)", 'x = sorted(range(10 ** 7))',
  'x = max(range(10 ** 9), key=abs)', 'x = (1,) * 10 ** 6 + (2,) * 10 ** 6', "print('x' * 10 ** 5 * 10)", 'a = [1]\na += a * 10 ** 6',
];

function getGc(): () => void {
  setFlagsFromString('--expose_gc');
  return runInNewContext('gc') as () => void;
}

/** Valid programs of the differential test's grammar, to be mutated (so that fuzzing also reaches deep into the evaluator). */
const SEEDS = generatePrograms(500, 99).map((p) => p.turns.join(''));

function mutate(random: () => number, source: string, pick: () => string): string {
  const parts = source.match(/\w+|\s+|[^\w\s]+/g) ?? [];
  const n = 1 + Math.floor(random() * 3);
  for (let k = 0; k < n && parts.length > 0; k++) {
    const i = Math.floor(random() * parts.length);
    const r = random();
    if (r < 0.4) parts[i] = pick();
    else if (r < 0.7) parts.splice(i, 1);
    else parts.splice(i, 0, pick());
  }
  return parts.join('');
}

function randomProgram(random: () => number): string {
  const pick = () => VOCABULARY[Math.floor(random() * VOCABULARY.length)];
  if (random() < 0.05) return mutate(random, SEEDS[Math.floor(random() * SEEDS.length)], pick);
  const n = 1 + Math.floor(random() * 24);
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) tokens.push(pick());
  const body = tokens.join(random() < 0.7 ? ' ' : '');
  const r = random();
  // Half the programs get a valid frame so that more of them reach the evaluator.
  if (r < 0.25) return `x = ${body}`;
  if (r < 0.5) return `print(${body})`;
  if (r < 0.505) return BOMBS[Math.floor(random() * BOMBS.length)];
  return body;
}

describe('fuzz: random token sequences', () => {
  test(`${COUNT} sequences: only Python errors, within the limits, heap flat`, async () => {
    const gc = getGc();
    const random = rng(SEED);
    const limits: Partial<SandboxLimits> = { maxSteps: 20_000, maxItems: 20_000, maxOutputChars: 20_000, maxImages: 8, maxWallMs: 5_000 };
    const problems: string[] = [];
    const seen = new Map<string, number>();
    let heapBefore = 0;
    let sandbox = new PythonSandbox({ globals: testGlobals(), limits });
    for (let i = 0; i < COUNT; i++) {
      if (i % 64 === 0) {
        sandbox.dispose();
        sandbox = new PythonSandbox({ globals: testGlobals(), limits });
      }
      if (i === Math.min(2000, COUNT >> 1)) {
        // measured after warm-up (JIT code, interned strings) so that only growth counts
        gc();
        heapBefore = process.memoryUsage().heapUsed;
      }
      const source = randomProgram(random);
      let result;
      try {
        result = await sandbox.run(source);
      } catch (error) {
        problems.push(`rejected: ${JSON.stringify(source)}: ${String(error)}`);
        continue;
      }
      const type = result.error?.type ?? 'ok';
      seen.set(type, (seen.get(type) ?? 0) + 1);
      if (result.error && !PYTHON_ERRORS.has(result.error.type)) {
        problems.push(`${result.error.type}: ${result.error.message} for ${JSON.stringify(source)}`);
      }
      if (result.steps > limits.maxSteps! + limits.maxItems!) problems.push(`ran ${result.steps} steps: ${JSON.stringify(source)}`);
      if (result.output.length > limits.maxOutputChars!) problems.push(`printed ${result.output.length} characters: ${JSON.stringify(source)}`);
      if (sandbox.imageCount > limits.maxImages!) problems.push(`showed ${sandbox.imageCount} images: ${JSON.stringify(source)}`);
      if (problems.length > 20) break;
    }
    sandbox.dispose();
    gc();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    console.log(`fuzz: ${COUNT} sequences (seed ${SEED}), results ${JSON.stringify(Object.fromEntries(seen))}, heap growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    expect(problems).toEqual([]);
    // Every class of outcome is reached: the fuzzing gets past the parser.
    for (const type of ['ok', 'SyntaxError', 'NameError', 'TypeError', 'MemoryError', 'TimeoutError']) expect(seen.get(type) ?? 0).toBeGreaterThan(0);
    expect(growth).toBeLessThan(32 * 2 ** 20);
  }, 300_000);
});

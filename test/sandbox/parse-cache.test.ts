/**
 * The sandbox's fast paths against the plain ones: parseCached (the trees and SyntaxErrors of
 * programs seen before, by their source) against parse, and limits resolved once against limits
 * resolved per sandbox.
 */
import { PythonSandbox } from '../../lib/sandbox/sandbox.js';
import { PARSE_CACHE_LIMITS, SyntaxErrorWithLine, parse, parseCached } from '../../lib/sandbox/parser.js';
import { DEFAULT_SANDBOX_LIMITS, resolveLimits } from '../../lib/sandbox/limits.js';
import { generatePrograms } from './generator.js';
import { loadCorpus, runSandbox } from './differential.js';

type Parsed = { tree: unknown } | { error: [string, string, number] };

function plain(source: string): Parsed {
  try {
    return { tree: parse(source) };
  } catch (error) {
    if (!(error instanceof SyntaxErrorWithLine)) throw error;
    return { error: [error.pyType, error.message, error.line] };
  }
}

function cached(source: string): Parsed {
  try {
    return { tree: parseCached(source) };
  } catch (error) {
    if (!(error instanceof SyntaxErrorWithLine)) throw error;
    return { error: [error.pyType, error.message, error.line] };
  }
}

const sources = [...loadCorpus(), ...generatePrograms(600, 11)].flatMap((p) => p.turns);

test('parseCached gives the tree or SyntaxError of parse, on first sight and on every later one', () => {
  expect(sources.length).toBeGreaterThan(500);
  let errors = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (const source of sources) {
      const want = plain(source);
      const got = cached(source);
      if ('error' in want) errors++;
      if (JSON.stringify(got, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)) !== JSON.stringify(want, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))) {
        throw new Error(`parseCached differs from parse on ${JSON.stringify(source)} (pass ${pass})`);
      }
    }
  }
  expect(errors).toBeGreaterThan(0);
});

test('cached trees are frozen, bounded in number, and long sources are not kept', () => {
  const tree = parseCached('x = (1, 2)\ny = x[0] + 3');
  expect(Object.isFrozen(tree)).toBe(true);
  expect(Object.isFrozen(tree.body)).toBe(true);
  expect(Object.isFrozen(tree.body[0])).toBe(true);
  expect(parseCached('x = (1, 2)\ny = x[0] + 3')).toBe(tree);
  const long = 'x = 1\n'.repeat(Math.ceil(PARSE_CACHE_LIMITS.sourceChars / 6) + 1);
  expect(parseCached(long)).not.toBe(parseCached(long));
  for (let i = 0; i <= PARSE_CACHE_LIMITS.entries; i++) parseCached(`v${i} = ${i}`);
  expect(parseCached('x = (1, 2)\ny = x[0] + 3')).not.toBe(tree);
});

test('programs run twice (the second time from cached trees) give the same results', async () => {
  const programs = [...loadCorpus(), ...generatePrograms(300, 5)];
  for (const program of programs) {
    const first = await runSandbox(program);
    const second = await runSandbox(program);
    expect([program.name, second]).toEqual([program.name, first]);
  }
});

test('limits resolved once: the same values as per sandbox, frozen, handed back as they are', async () => {
  const given = { maxImages: 3, maxSteps: 5000 };
  const once = resolveLimits(given);
  expect(once).toEqual({ ...DEFAULT_SANDBOX_LIMITS, maxImages: 3, maxSteps: 5000 });
  expect(Object.isFrozen(once)).toBe(true);
  expect(resolveLimits(once)).toBe(once);
  const fresh = new PythonSandbox({ limits: given });
  const shared = new PythonSandbox({ limits: once });
  expect(shared.limits).toBe(once);
  expect(shared.limits).toEqual(fresh.limits);
  const program = 'x = 0\nx = x + 1\nprint(list(range(10000)))';
  expect(await shared.run(program)).toEqual(await fresh.run(program));
  // An equal object that resolveLimits did not return is validated again.
  expect(() => resolveLimits({ ...once, maxSteps: 0 })).toThrow(/options\.limits\.maxSteps/);
});

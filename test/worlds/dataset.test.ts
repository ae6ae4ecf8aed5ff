/** DatasetWorld: JSONL lines with images relative to the file, splits, the expert through the sandbox, and errors naming the file and line. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetWorld, PyVisionError, encodeImage } from '../../lib/index.js';
import type { RgbImage, ToolResult } from '../../lib/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pyvision-dataset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function solid(w: number, h: number, rgb: number[]): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, 3 * i);
  return { width: w, height: h, data };
}

beforeAll(async () => {
  mkdirSync(join(dir, 'img'));
  writeFileSync(join(dir, 'img', 'red.png'), await encodeImage(solid(40, 30, [200, 10, 10]), 'png'));
  writeFileSync(join(dir, 'img', 'blue.jpg'), await encodeImage(solid(50, 50, [10, 10, 200]), 'jpeg'));
  writeFileSync(join(dir, 'img', 'big.webp'), await encodeImage(solid(300, 200, [10, 200, 10]), 'webp'));
  writeFileSync(join(dir, 'img', 'broken.png'), Buffer.from('not a png'));
});

function write(name: string, lines: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
}

const good = [
  { image: 'img/red.png', question: 'what color is the image ?', options: ['red', 'blue'], answer: 'red', split: 'train', type: 'color' },
  { image: 'img/blue.jpg', question: 'what color is the image ?', options: ['red', 'blue'], answer: 'blue', split: 'train', type: 'color' },
  { image: 'img/big.webp', question: 'is there a green square ?', options: ['yes', 'no'], answer: 'yes', split: 'test', box: [100, 50, 160, 110] },
  '',
  { image: 'img/red.png', question: 'what color is the image ?', options: ['red', 'green', 'blue'], answer: 'RED', split: 'val' },
];

test('loads a dataset: splits, prompt, verify, tool, expert', async () => {
  const world = await DatasetWorld.load(write('good.jsonl', good), { maxImageSide: 150 });
  expect(world.tasks('train', 2).map((t) => t.line).sort()).toEqual([1, 2]);
  expect(world.tasks('test', 1)[0].line).toBe(3);
  expect(world.tasks('val', 1)[0].answer).toBe('red');
  // n beyond the split cycles with distinct ids.
  const many = world.tasks('train', 5, 3);
  expect(new Set(many.map((t) => t.id)).size).toBe(5);
  const task = world.tasks('train', 2).find((t) => t.line === 2)!;
  expect(world.verify(task, 'blue')).toBe(1);
  expect(world.verify(task, 'red')).toBe(0);
  const p = world.prompt(task);
  expect(world.tokenizer.decode(p.tokens)).toBe('<bos> <q> what color is the image ? options: red, blue </q> <img> </img>');
  expect(p.patches.length).toBe(16 * world.patchDim);
  const session = world.openTool(task);
  expect((await session.run('print(image_clue_0.size)')).output).toBe('(50, 50)\n');
  session.dispose();
  expect(world.expert(task, 1)).toEqual([{ kind: 'answer', answer: 'blue' }]);
  // The line with a box: the big image was resized to 150 x 100 and the box with it; the expert zooms on it.
  const boxed = world.tasks('test', 1)[0];
  expect(world.image(boxed).width).toBe(150);
  expect(boxed.box).toEqual([50, 25, 80, 55]);
  for (let seed = 0; seed < 8; seed++) {
    const turns = world.expert(boxed, seed);
    expect(turns[turns.length - 1]).toEqual({ kind: 'answer', answer: 'yes' });
    const s = world.openTool(boxed);
    const results: ToolResult[] = [];
    for (const turn of turns) if (turn.kind === 'code') results.push(await s.run(world.tokenizer.decode(world.tokenizer.encode(turn.code))));
    s.dispose();
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) expect(r.error).toBeNull();
    const record = world.record(boxed, turns.map((t, k) => (t.kind === 'code' ? { kind: 'code' as const, text: t.code, result: results[k] } : { kind: 'answer' as const, text: t.answer })));
    const crops = record.crops as { missed: boolean }[];
    expect(crops[crops.length - 1].missed).toBe(false);
  }
  expect(world.policyConfig().vocabSize).toBe(world.tokenizer.size);
});

test('bad lines are errors naming the file and line', async () => {
  const cases: [unknown, string, RegExp][] = [
    ['{ not json', 'E_IO', /bad1\.jsonl:2: not valid JSON/],
    [{ image: 'img/red.png', question: 'q ?', options: ['a', 'b'], answer: 'c' }, 'E_ARG', /bad2\.jsonl:2: answer must be one of the options/],
    [{ image: 'img/red.png', question: 'q ?', options: ['a'], answer: 'a' }, 'E_ARG', /bad3\.jsonl:2: options must be an array of at least 2/],
    [{ image: 'img/broken.png', question: 'q ?', options: ['a', 'b'], answer: 'a' }, 'E_IO', /bad4\.jsonl:2: cannot decode image .*broken\.png/],
    [{ image: 'img/missing.png', question: 'q ?', options: ['a', 'b'], answer: 'a' }, 'E_IO', /bad5\.jsonl:2: cannot decode image .*missing\.png/],
    [{ image: 7, question: 'q ?', options: ['a', 'b'], answer: 'a' }, 'E_ARG', /bad6\.jsonl:2: image must be/],
    [{ image: 'img/red.png', question: 'q ?', options: ['a', 'b'], answer: 'a', split: 'dev' }, 'E_ARG', /bad7\.jsonl:2: split must be/],
    [{ image: 'img/red.png', question: 'q ?', options: ['a', 'b'], answer: 'a', box: [5, 5, 2, 9] }, 'E_ARG', /bad8\.jsonl:2: box must be/],
    [{ image: 'img/red.png', question: '', options: ['a', 'b'], answer: 'a' }, 'E_ARG', /bad9\.jsonl:2: question must be/],
    ['[1, 2]', 'E_ARG', /bad10\.jsonl:2: a line must be a JSON object/],
  ];
  for (let k = 0; k < cases.length; k++) {
    const [line, code, message] = cases[k];
    const path = write(`bad${k + 1}.jsonl`, [good[0], line, good[1]]);
    const load = DatasetWorld.load(path);
    await expect(load).rejects.toThrow(PyVisionError);
    await expect(DatasetWorld.load(path)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  }
  await expect(DatasetWorld.load(join(dir, 'nope.jsonl'))).rejects.toMatchObject({ code: 'E_IO', message: expect.stringContaining('nope.jsonl') });
  await expect(DatasetWorld.load(write('empty.jsonl', ['']))).rejects.toMatchObject({ code: 'E_ARG', message: expect.stringContaining('no usable lines') });
  await expect(DatasetWorld.load(write('ok.jsonl', good), { view: 60 })).rejects.toMatchObject({ code: 'E_ARG', message: expect.stringContaining('options.view') });
  await expect(DatasetWorld.load(write('ok.jsonl', good), { colour: 1 } as never)).rejects.toMatchObject({ code: 'E_ARG', message: expect.stringContaining('options.colour') });
});

test('skipBadLines keeps every good line and lists the bad ones', async () => {
  const path = write('mixed.jsonl', [good[0], '{ oops', good[1], { image: 'img/broken.png', question: 'q ?', options: ['a', 'b'], answer: 'a' }]);
  const world = await DatasetWorld.load(path, { skipBadLines: true });
  expect(world.tasks('train', 2).map((t) => t.line).sort()).toEqual([1, 3]);
  expect(world.skipped.map((s) => [s.line, s.error.code])).toEqual([[2, 'E_IO'], [4, 'E_IO']]);
  expect(world.skipped[1].error.message).toMatch(/mixed\.jsonl:4/);
});

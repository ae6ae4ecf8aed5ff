/**
 * The visual-search world: seeded disjoint splits, the prompt and observation
 * segments, the expert's trajectories run through the world's own sandbox and
 * verified correct, the record of crops, and every bad option rejected naming it.
 */
import { PyVisionError, VisualSearchWorld, SPECIAL_TOKENS } from '../../lib/index.js';
import type { ExpertTurn, VisualSearchTask } from '../../lib/index.js';

const world = new VisualSearchWorld();
/** The V*-like world: questions name their targets by shape or colour. */
const attributeWorld = new VisualSearchWorld({ cue: 'attribute' });

/** Runs the expert's code turns in a fresh session; returns the final answer and every result. */
async function playExpert(w: VisualSearchWorld, task: VisualSearchTask, seed: number) {
  const turns: ExpertTurn[] = w.expert(task, seed);
  const session = w.openTool(task);
  const results = [];
  try {
    for (const turn of turns.slice(0, -1)) {
      expect(turn.kind).toBe('code');
      if (turn.kind !== 'code') continue;
      // The code the policy would sample: its tokens decode to a program with the same meaning.
      const decoded = w.tokenizer.decode(w.tokenizer.encode(turn.code));
      expect(w.tokenizer.encode(decoded)).toEqual(w.tokenizer.encode(turn.code));
      expect(Array.from(w.tokenizer.encode(turn.code))).not.toContain(w.tokenizer.id('<unk>'));
      results.push(await session.run(decoded));
    }
  } finally {
    session.dispose();
  }
  const last = turns[turns.length - 1];
  expect(last.kind).toBe('answer');
  return { answer: last.kind === 'answer' ? last.answer : '', results, turns };
}

test('tasks are deterministic per (split, n, seed) and splits are disjoint', () => {
  const a = world.tasks('train', 30, 5);
  const b = world.tasks('train', 30, 5);
  expect(a.map((t) => t.id)).toEqual(b.map((t) => t.id));
  expect(JSON.stringify(a)).toEqual(JSON.stringify(b));
  expect(JSON.stringify(world.tasks('train', 30, 6))).not.toEqual(JSON.stringify(a));
  const scenes = (split: 'train' | 'val' | 'test') => new Set(world.tasks(split, 100, 0).map((t) => JSON.stringify(t.scene)));
  const train = scenes('train');
  const val = scenes('val');
  const test = scenes('test');
  for (const s of val) expect(train.has(s) || test.has(s)).toBe(false);
  for (const s of test) expect(train.has(s)).toBe(false);
  const ids = new Set([...world.tasks('train', 50), ...world.tasks('val', 50), ...world.tasks('test', 50)].map((t) => t.id));
  expect(ids.size).toBe(150);
});

test.each([
  ['attribute', attributeWorld, ['color', 'shape', 'relation', 'count']],
  ['region (the default)', world, ['color']],
  ['region, color and shape', new VisualSearchWorld({ questionTypes: ['color', 'shape'] }), ['color', 'shape']],
])('cue %s: every task has its answer among its options, every type and both difficulties occur', (_name, w, types) => {
  const tasks = w.tasks('train', 200, 1);
  for (const t of tasks) {
    expect(t.options).toContain(t.answer);
    expect(new Set(t.options).size).toBe(t.options.length);
    expect(w.verify(t, t.answer)).toBe(1);
    expect(w.verify(t, ` ${t.answer.toUpperCase()} `)).toBe(1);
    for (const o of t.options) if (o !== t.answer) expect(w.verify(t, o)).toBe(0);
    // The question and options are in the vocabulary.
    expect(Array.from(w.tokenizer.encode(`${t.question} ${t.options.join(' ')}`))).not.toContain(w.tokenizer.id('<unk>'));
  }
  expect(new Set(tasks.map((t) => t.type))).toEqual(new Set(types));
  expect(new Set(tasks.map((t) => t.difficulty))).toEqual(new Set(['first-view', 'zoom']));
});

test('prompt: <bos> <q> question </q> <img> 64 patches </img>', () => {
  const task = world.tasks('val', 1)[0];
  const p = world.prompt(task);
  const tk = world.tokenizer;
  expect(tk.token(p.tokens[0])).toBe('<bos>');
  expect(tk.token(p.tokens[1])).toBe('<q>');
  const close = Array.from(p.tokens).indexOf(tk.id('</q>'));
  expect(tk.decode(p.tokens.subarray(2, close))).toBe(`${task.question} options: ${task.options.join(', ')}`);
  expect(tk.token(p.tokens[close + 1])).toBe('<img>');
  expect(Array.from(p.tokens.subarray(close + 2, close + 66)).every((x) => x === -1)).toBe(true);
  expect(tk.token(p.tokens[close + 66])).toBe('</img>');
  expect(p.tokens.length).toBe(close + 67);
  expect(p.patches.length).toBe(64 * world.patchDim);
  expect(world.patchDim).toBe(192);
  const shape = world.policyConfig();
  expect(shape.vocabSize).toBe(tk.size);
  expect(shape.patchDim).toBe(192);
  expect(new VisualSearchWorld({ patch: 16 }).policyConfig().patchDim).toBe(768);
  expect(tk.size).toBeLessThan(700);
  for (const s of SPECIAL_TOKENS) expect(tk.token(tk.id(s))).toBe(s);
});

test.each([
  ['region', world],
  ['attribute', attributeWorld],
])('cue %s: the expert is correct on every task, through the real sandbox, and its zooms contain the target', async (_name, w) => {
  const world = w;
  const tasks = world.tasks('train', 24, 2);
  let zooms = 0;
  let twoStep = 0;
  let direct = 0;
  for (const task of tasks) {
    const { answer, results, turns } = await playExpert(world, task, 7);
    expect(world.verify(task, answer)).toBe(1);
    for (const r of results) {
      expect(r.error).toBeNull();
      expect(r.images.length).toBe(1);
    }
    if (turns.length === 1) direct++;
    if (results.length >= 2) twoStep++;
    if (results.length > 0) zooms++;
    const record = world.record(task, turns.map((t, k) => (t.kind === 'code' ? { kind: 'code' as const, text: t.code, result: results[k] } : { kind: 'answer' as const, text: t.answer })));
    const crops = record.crops as { box: number[]; missed: boolean }[];
    if (results.length > 0) {
      // The last crop sees the target.
      expect(crops[crops.length - 1].missed).toBe(false);
    }
    expect(record.target).toEqual(task.targetBox);
    if (task.difficulty === 'zoom') expect(results.length).toBeGreaterThan(0);
  }
  expect(direct).toBeGreaterThan(0);
  expect(zooms).toBeGreaterThan(0);
  expect(twoStep).toBeGreaterThan(0);
});

test("cue 'region': the question names a grid cell that holds the target alone; the decoys lie elsewhere; the expert crops that cell", () => {
  const w = new VisualSearchWorld({ questionTypes: ['color', 'shape'] });
  const tasks = w.tasks('train', 300, 3);
  const inside = (box: readonly number[], cell: readonly number[]) => box[0] >= cell[0] && box[1] >= cell[1] && box[2] <= cell[2] && box[3] <= cell[3];
  const touches = (box: readonly number[], cell: readonly number[]) => box[0] < cell[2] && cell[0] < box[2] && box[1] < cell[3] && cell[1] < box[3];
  let twoStep = 0;
  for (const t of tasks) {
    const cell = t.region as [number, number, number, number];
    expect(t.question).toBe(`what ${t.type} is the object of the region ${cell.join(' ')} ?`);
    // A cell of the 8 x 8 grid of the 256 canvas.
    expect(cell.every((x) => x % 32 === 0)).toBe(true);
    expect([cell[2] - cell[0], cell[3] - cell[1]]).toEqual([32, 32]);
    expect(inside(t.targetBox, cell)).toBe(true);
    const objects = t.scene.objects;
    const target = objects[t.focus[0]];
    expect(t.answer).toBe(t.type === 'color' ? target.color : target.shape);
    const size = target.size;
    if (t.difficulty === 'zoom') expect(size >= 2 && size <= 4).toBe(true);
    else expect(size >= 20 && size <= 28).toBe(true);
    objects.forEach((o, k) => {
      if (k !== t.focus[0]) expect(touches([o.x, o.y, o.x + o.size, o.y + o.size], cell)).toBe(false);
    });
    // Every other option is on the canvas, away from the cell: the whole image does not give the answer away.
    for (const option of t.options) {
      expect(objects.some((o) => (t.type === 'color' ? o.color : o.shape) === option)).toBe(true);
    }
    // The expert's last crop is the cell, in the canvas or (two steps) in the first crop's pixels.
    const turns = w.expert(t, 5);
    const codes = turns.filter((x) => x.kind === 'code').map((x) => (x.kind === 'code' ? x.code : ''));
    if (t.difficulty === 'zoom') expect(codes.length).toBeGreaterThan(0);
    if (codes.length === 0) continue;
    const numbers = (code: string) => (code.match(/\d+/g) ?? []).slice(1).map(Number);
    const last = numbers(codes[codes.length - 1]);
    if (codes[codes.length - 1].startsWith('show(image_clue_0.')) expect(last).toEqual(cell);
    else {
      twoStep++;
      const wide = numbers(codes[codes.length - 2]);
      expect(last).toEqual([cell[0] - wide[0], cell[1] - wide[1], cell[2] - wide[0], cell[3] - wide[1]]);
      expect(inside(cell, wide)).toBe(true);
    }
  }
  expect(twoStep).toBeGreaterThan(0);
});

test("cue 'region': the first-view solver reads large targets in their cell and not the small ones", async () => {
  const { calibrateVisualSearch } = await import('../../lib/index.js');
  const { rows } = await calibrateVisualSearch(world, { n: 60 });
  const row = (d: string) => rows.find((r) => r.type === 'color' && r.difficulty === d) as { firstView: number; expert: number; n: number };
  expect(row('first-view').firstView).toBeGreaterThan(0.9);
  expect(row('zoom').firstView).toBeLessThan(0.6);
  expect(row('first-view').expert).toBe(1);
  expect(row('zoom').expert).toBe(1);
});

test('observe: <obs> text <img> patches </img> </obs>, text cut at maxObsTokens, errors shown', () => {
  const tk = world.tokenizer;
  const image = world.image(world.tasks('train', 1)[0]);
  const seg = world.observe({ output: '(256, 256)\n', images: [image, image], error: null }, { maxObsTokens: 64 });
  const toks = Array.from(seg.tokens);
  expect(tk.token(toks[0])).toBe('<obs>');
  expect(tk.decode(toks.slice(1, 7))).toBe('(256, 256)\n');
  expect(toks.filter((x) => x === -1).length).toBe(128);
  expect(seg.patches.length).toBe(128 * 192);
  expect(tk.token(toks[toks.length - 1])).toBe('</obs>');
  const cut = world.observe({ output: '1 2 3 4 5 6 7 8', images: [], error: null }, { maxObsTokens: 3 });
  expect(tk.decode(cut.tokens)).toBe('<obs> 1 2 3 </obs>');
  const err = world.observe({ output: '', images: [], error: { type: 'NameError', message: "name 'foo' is not defined" } }, { maxObsTokens: 64 });
  expect(tk.decode(err.tokens)).toBe("<obs> NameError: name '<unk>' is not defined </obs>");
});

test('tool failure injection fails about the configured share of calls', async () => {
  const flaky = new VisualSearchWorld({ toolFailureRate: 0.5 });
  let failed = 0;
  const task = flaky.tasks('train', 1)[0];
  const s = flaky.openTool(task);
  for (let k = 0; k < 40; k++) {
    const r = await s.run('print(image_clue_0.size)');
    if (r.error) {
      expect(r.error.type).toBe('RuntimeError');
      failed++;
    } else expect(r.output).toBe('(256, 256)\n');
  }
  s.dispose();
  expect(failed).toBeGreaterThan(8);
  expect(failed).toBeLessThan(32);
  // Without the knob no call fails.
  const steady = world.openTool(task as never);
  for (let k = 0; k < 10; k++) expect((await steady.run('x = 1')).error).toBeNull();
  steady.dispose();
});

test('image_clue_k: shown images are named for later turns, state persists, sessions are separate', async () => {
  const task = world.tasks('train', 1)[0];
  const s = world.openTool(task);
  expect((await s.run('a = image_clue_0.crop((0, 0, 100, 50))\nshow(a)\nshow(a.resize((10, 10)))')).images.length).toBe(2);
  const r = await s.run('print(image_clue_1.size, image_clue_2.size, a.width)');
  expect(r.output).toBe('(100, 50) (10, 10) 100\n');
  const other = world.openTool(task);
  expect((await other.run('print(a)')).error?.type).toBe('NameError');
  expect((await other.run('print(image_clue_1)')).error?.type).toBe('NameError');
  s.dispose();
  other.dispose();
});

test('bad options are rejected naming the option', () => {
  const bad: [object, RegExp][] = [
    [{ canvas: 32 }, /options.canvas/],
    [{ canvas: 2000 }, /options.canvas/],
    [{ view: 60 }, /options.view/],
    [{ firstViewShare: 1.5 }, /options.firstViewShare/],
    [{ options: 7 }, /options.options/],
    [{ questionTypes: ['colour'] }, /options.questionTypes\[0\]/],
    [{ questionTypes: [] }, /options.questionTypes/],
    [{ targetSize: [8, 4] }, /options.targetSize\[1\]/],
    [{ toolFailureRate: 1 }, /options.toolFailureRate/],
    [{ expert: { directShare: 2 } }, /options.expert.directShare/],
    [{ expert: { boldness: 1 } }, /options.expert.boldness/],
    [{ canvass: 256 }, /options.canvass/],
    [{ cue: 'shape' }, /options.cue/],
    [{ questionTypes: ['color', 'relation'] }, /options.questionTypes: cue 'region'.*relation/],
    [{ largeSize: [20, 40] }, /options.largeSize/],

    [{ backgrounds: [{ width: 2, height: 2, data: new Uint8Array(5) }] }, /options.backgrounds\[0\]/],
  ];
  for (const [options, message] of bad) {
    expect(() => new VisualSearchWorld(options as never)).toThrow(PyVisionError);
    expect(() => new VisualSearchWorld(options as never)).toThrow(message);
  }
  // The region cell's bound on sizes applies to cue 'region' only.
  expect(() => new VisualSearchWorld({ cue: 'attribute', questionTypes: ['count'], largeSize: [20, 40] })).not.toThrow();
  expect(() => world.tasks('dev' as 'train', 3)).toThrow(/split/);
  expect(() => world.tasks('train', -1)).toThrow(/\bn\b/);
  expect(() => world.verify({} as VisualSearchTask, 'red')).toThrow(/task/);
  expect(() => world.policyConfig({ vocabSize: 10 })).toThrow(/overrides.vocabSize/);
  expect(() => world.policyConfig({ patchDim: 12 })).toThrow(/overrides.patchDim/);
  expect(() => world.observe({ output: 3 } as never, { maxObsTokens: 4 })).toThrow(/result/);
});

test('user photos as backgrounds (decoded images)', () => {
  const photo = { width: 300, height: 200, data: new Uint8Array(300 * 200 * 3).fill(90) };
  const w = new VisualSearchWorld({ backgrounds: [photo] });
  const task = w.tasks('train', 1)[0];
  expect(task.scene.background.kind).toBe('photo');
  const img = w.image(task);
  expect([img.width, img.height]).toEqual([256, 256]);
});

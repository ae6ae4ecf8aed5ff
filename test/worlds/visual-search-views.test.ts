/**
 * The visual-search world's cached views: the prompt's patches computed once per task and the
 * observations' patches looked up by pixels give exactly what fitting each image gives.
 */
import { ViewPatchCache, VisualSearchWorld, checkViewShape, observeImages, viewPatches } from '../../lib/index.js';
import type { ToolResult } from '../../lib/index.js';

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

test('prompt patches: the first view of the canvas, the same on every call', () => {
  const world = new VisualSearchWorld();
  const view = world.settings.view;
  for (const task of world.tasks('val', 4, 0)) {
    const first = world.prompt(task);
    const again = world.prompt(task);
    expect(same(first.patches, viewPatches(world.image(task), view))).toBe(true);
    expect(same(again.patches, first.patches)).toBe(true);
    expect(Array.from(again.tokens)).toEqual(Array.from(first.tokens));
  }
});

test('observations through the cache equal the uncached ones: repeated crops, the whole canvas, several images', async () => {
  const world = new VisualSearchWorld();
  const view = world.settings.view;
  const limits = { maxObsTokens: 64 };
  const task = world.tasks('val', 1, 0)[0];
  world.prompt(task); // the canvas's view enters the cache
  const programs = [
    'show(image_clue_0.crop((0, 0, 256, 256)))',
    'show(image_clue_0.crop((40, 30, 97, 81)))',
    'show(image_clue_0.crop((40, 30, 97, 81)))',
    'print(1)\nshow(image_clue_0.crop((0, 0, 64, 64)))\nshow(image_clue_0.crop((-10, 200, 70, 300)))',
    'show(image_clue_0)',
  ];
  for (let round = 0; round < 2; round++) {
    for (const code of programs) {
      const tool = world.openTool(task);
      const result = (await tool.run(code)) as ToolResult;
      tool.dispose();
      expect(result.error).toBeNull();
      const cached = world.observe(result, limits);
      const plain = observeImages(world.tokenizer, view, result, limits);
      expect([code, Array.from(cached.tokens)]).toEqual([code, Array.from(plain.tokens)]);
      expect([code, same(cached.patches, plain.patches)]).toEqual([code, true]);
    }
  }
});

test('observeImages rejects a cache made for another view', () => {
  const world = new VisualSearchWorld();
  const result: ToolResult = { output: '', images: [world.image(world.tasks('val', 1, 0)[0])], error: null };
  const cache = new ViewPatchCache({ width: 32, height: 32, patch: 8 });
  expect(() => observeImages(world.tokenizer, checkViewShape(world.settings.view), result, { maxObsTokens: 8 }, cache)).toThrow(/cache must be made for the view/);
});

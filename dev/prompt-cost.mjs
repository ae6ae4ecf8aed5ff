// What a new task's first observation costs in the visual-search world (the default options): the
// mean of world.prompt over 256 tasks seen for the first time (after 64 to warm up), the same
// prompts again (cached by the world), and renderTexture alone at 256 x 256.
//   npm run build && node dev/prompt-cost.mjs
import { VisualSearchWorld } from '../dist/lib/worlds/visual-search/world.js';
import { renderTexture } from '../dist/lib/worlds/visual-search/scene.js';

const world = new VisualSearchWorld({ cue: 'attribute', patch: 16 });
const tasks = world.tasks('train', 320);
const mean = (label, from, to, run) => {
  const t0 = performance.now();
  for (let i = from; i < to; i++) run(i);
  console.log(`${label}: ${((performance.now() - t0) / (to - from)).toFixed(3)} ms each`);
};
mean('warm-up prompts', 0, 64, (i) => world.prompt(tasks[i]));
mean('new prompts', 64, 320, (i) => world.prompt(tasks[i]));
mean('the same prompts again', 64, 320, (i) => world.prompt(tasks[i]));
mean('renderTexture 256 x 256', 0, 256, (i) => renderTexture(256, 256, i, i % 4));

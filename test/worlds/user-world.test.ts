/**
 * The user-world example of docs/agent.md ("Writing your own world"): the file
 * test/worlds/user-world.example.ts is the example, word for word (checked
 * here), and it works: its expert's program runs in its tool, prints the four
 * brightnesses, and its answer is verified correct; the prompt and observation
 * segments have the protocol's layout.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { QuadrantWorld } from './user-world.example.js';

const example = fileURLToPath(new URL('./user-world.example.ts', import.meta.url));
const docs = fileURLToPath(new URL('../../docs/agent.md', import.meta.url));

test('docs/agent.md shows the example file word for word (importing from the package)', () => {
  const text = readFileSync(docs, 'utf8');
  const file = readFileSync(example, 'utf8').replace("} from '../../lib/index.js'; // in your project: from 'pyvision-rl'", "} from 'pyvision-rl';");
  expect(text).toContain('```ts\n' + file + '```');
});

test('the example world works end to end', async () => {
  const world = new QuadrantWorld();
  const tasks = world.tasks('train', 12);
  expect(new Set(world.tasks('test', 12).map((t) => t.id)).size).toBe(12);
  for (const task of tasks) {
    const [code, answer] = world.expert(task);
    expect(code.kind).toBe('code');
    const session = world.openTool(task);
    const program = code.kind === 'code' ? world.tokenizer.decode(world.tokenizer.encode(code.code)) : '';
    const result = await session.run(program);
    session.dispose();
    expect(result.error).toBeNull();
    const levels = result.output.trim().split('\n').map(Number);
    expect(levels.length).toBe(4);
    expect(task.options[levels.indexOf(Math.max(...levels))]).toBe(task.answer);
    expect(answer.kind === 'answer' && world.verify(task, answer.answer)).toBe(1);
    const obs = world.observe(result, { maxObsTokens: 64 });
    expect(world.tokenizer.token(obs.tokens[0])).toBe('<obs>');
  }
  const prompt = world.prompt(tasks[0]);
  expect(Array.from(prompt.tokens).filter((t) => t === -1).length).toBe(4);
  expect(prompt.patches.length).toBe(4 * world.patchDim);
  const session = world.openTool(tasks[0]);
  expect((await session.run('brightness(3)')).error?.type).toBe('TypeError');
  session.dispose();
});

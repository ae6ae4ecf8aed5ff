/**
 * The engine's batch arrays are reused from call to call: rollouts running at the same time get
 * their own, a failed start gives them back, and the trajectories are those of rollouts run one
 * after another.
 */
import { jest } from '@jest/globals';

import { Policy } from '../../lib/index.js';
import { rollout, type RolloutOptions } from '../../lib/rollout/rollout.js';
import type { Trajectory } from '../../lib/rollout/types.js';
import { ToyWorld, type ToyTask } from './toy-world.js';
import { trainedToyPolicy } from './toy-policy.js';

const world = new ToyWorld();
let policy: Policy;

beforeAll(async () => {
  policy = await trainedToyPolicy(world, 30, 3);
});

afterAll(() => policy.dispose());

const TASKS = world.tasks('val', 5, 0);

function options(seed: number): RolloutOptions<ToyTask> {
  return { policy, world, tasks: TASKS, groupSize: 3, temperature: 1.2, maxTurns: 4, maxTurnTokens: 8, maxObsTokens: 16, seed };
}

const strip = (t: Trajectory) => ({ tokens: Array.from(t.tokens), patches: Array.from(t.patches), mask: Array.from(t.mask), endReason: t.endReason, toolCalls: t.toolCalls });

test('concurrent rollouts give the trajectories of sequential ones', async () => {
  const a = await rollout(options(1));
  const b = await rollout(options(2));
  const c = await rollout(options(3));
  const [x, y, z] = await Promise.all([rollout(options(1)), rollout(options(2)), rollout(options(3))]);
  expect(x.map(strip)).toEqual(a.map(strip));
  expect(y.map(strip)).toEqual(b.map(strip));
  expect(z.map(strip)).toEqual(c.map(strip));
  expect(a.some((t) => t.toolCalls > 0)).toBe(true);
});

test('a rollout whose session fails to start gives its arrays back; the next ones are unaffected', async () => {
  const want = await rollout(options(4));
  const spy = jest.spyOn(Policy.prototype, 'startSession').mockImplementationOnce(() => Promise.reject(new Error('start failed')));
  await expect(rollout(options(4))).rejects.toThrow('start failed');
  spy.mockRestore();
  const [again, other] = await Promise.all([rollout(options(4)), rollout(options(5))]);
  expect(again.map(strip)).toEqual(want.map(strip));
  expect(other.map(strip)).toEqual((await rollout(options(5))).map(strip));
});

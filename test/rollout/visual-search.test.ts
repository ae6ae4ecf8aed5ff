/**
 * The rollout engine with the built-in visual-search world and its sandboxed
 * Python tool: the expert's replayed trajectories (mask on the action tokens
 * only, observations from running its code, answers the world verifies), and
 * rollouts of a tiny policy taught by SFT on them (teacher-forced logp, tool
 * calls, the same trajectories in another batch).
 */
import { EndReason, Policy } from '../../lib/index.js';
import { replayExpert } from '../../lib/rollout/expert.js';
import { packTrajectories } from '../../lib/rollout/pack.js';
import { rollout } from '../../lib/rollout/rollout.js';
import type { Trajectory } from '../../lib/rollout/types.js';
import { VisualSearchWorld, type VisualSearchTask } from '../../lib/worlds/index.js';
import { expectClose } from '../helpers.js';

const world = new VisualSearchWorld({ expert: { imperfectShare: 0 } });
const tok = world.tokenizer;
const id = (t: string) => tok.id(t);

/** Positions of each action in a trajectory, found by walking the protocol from the prompt. */
function actionSpans(t: Trajectory): [number, number][] {
  const spans: [number, number][] = [];
  let i = world.prompt(t.task as VisualSearchTask).tokens.length;
  while (i < t.tokens.length) {
    const open = t.tokens[i];
    expect([id('<code>'), id('<answer>'), id('<obs>')]).toContain(open);
    const close = open === id('<code>') ? id('</code>') : open === id('<answer>') ? id('</answer>') : id('</obs>');
    let j = i;
    while (j < t.tokens.length && t.tokens[j] !== close) j++;
    if (open !== id('<obs>')) spans.push([i, Math.min(j + 1, t.tokens.length)]);
    i = j + 1;
  }
  return spans;
}

test('expert replay in the visual-search world: the protocol, mask on actions only, verified answers', async () => {
  const tasks = world.tasks('train', 12, 3);
  const trajs = await replayExpert({ world, tasks, seed: 1 });
  let zooms = 0;
  trajs.forEach((t) => {
    expect(t.endReason).toBe(EndReason.DONE);
    expect(t.acc).toBe(1);
    expect(t.logp.every((x) => x === 0)).toBe(true);
    const spans = actionSpans(t);
    expect(spans.length).toBe(t.turns);
    const mask = new Uint8Array(t.tokens.length);
    for (const [a, b] of spans) mask.fill(1, a, b);
    expect(Array.from(t.mask)).toEqual(Array.from(mask));
    for (let i = 0; i < t.tokens.length; i++) if (t.tokens[i] < 0) expect(t.mask[i]).toBe(0);
    const codes = t.turnRecords.filter((r) => r.kind === 'code');
    expect(codes.every((r) => r.result!.error === null)).toBe(true);
    expect(t.toolCalls).toBe(codes.length);
    expect(t.toolImages).toBe(codes.reduce((a, r) => a + r.result!.images.length, 0));
    expect(t.visualTokens).toBe(Array.from(t.tokens).filter((x) => x < 0).length);
    expect(t.visualTokens).toBe((1 + t.toolImages) * world.patchesPerImage);
    zooms += t.toolCalls;
  });
  expect(zooms).toBeGreaterThan(0);
  expect(trajs.some((t) => t.toolCalls === 0)).toBe(true);
});

test('rollouts in the visual-search world: teacher-forced logp, tool calls, the same trajectories in another batch', async () => {
  const policy = await Policy.create({ ...world.policyConfig(), layers: 1, heads: 2, dim: 32, seed: 2, backend: 'cpu' });
  const expert = await replayExpert({ world, tasks: world.tasks('train', 8, 0), seed: 0 });
  const packed = packTrajectories(expert);
  for (let i = 0; i < 25; i++) await policy.trainStep(packed.batch, { kind: 'sft', mask: packed.mask }, { lr: 1e-2, weightDecay: 0 });
  const tasks = world.tasks('val', 4, 0);
  const options = { policy, world, tasks, groupSize: 3, temperature: 1, maxTurns: 5, maxTurnTokens: 48, seed: 5 };
  const trajs = await rollout(options);
  const check = packTrajectories(trajs);
  const { logp } = await policy.logprobs(check.batch);
  const got: number[] = [];
  const want: number[] = [];
  for (let i = 0; i < logp.length; i++) if (check.mask[i]) (got.push(check.oldLogp[i]), want.push(logp[i]));
  expectClose(got, want, 2e-4, 0, 'rollout logp vs teacher-forced logprobs');
  trajs.forEach((t) => {
    const codes = t.turnRecords.filter((r) => r.kind === 'code');
    expect(t.toolCalls).toBe(codes.filter((r) => r.result!.error === null).length);
    for (let i = 0; i < t.tokens.length; i++) if (t.tokens[i] < 0) expect(t.mask[i]).toBe(0);
  });
  // After its short SFT the policy writes programs (some raise in the sandbox: SyntaxError, NameError).
  expect(trajs.filter((t) => t.turnRecords.some((r) => r.kind === 'code')).length).toBeGreaterThan(0);
  const alone = await rollout({ ...options, tasks: [tasks[2]] });
  alone.forEach((t, g) => {
    expect(Array.from(t.tokens)).toEqual(Array.from(trajs[6 + g].tokens));
    expect(t.endReason).toBe(trajs[6 + g].endReason);
  });
  policy.dispose();
});

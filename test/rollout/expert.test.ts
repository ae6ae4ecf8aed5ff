/**
 * The expert's trajectories through the rollout bookkeeping: mask 1 exactly on
 * the expert's action tokens, observations from running its programs in the
 * world's tool, logp 0, answers the world verifies; packing for the trainer.
 */
import { EndReason, Policy, PyVisionError } from '../../lib/index.js';
import { replayExpert } from '../../lib/rollout/expert.js';
import { packTrajectories } from '../../lib/rollout/pack.js';
import { trajectorySeed } from '../../lib/rollout/protocol.js';
import { ToyWorld } from './toy-world.js';
import { toyConfig } from './toy-policy.js';

test('expert replay: the protocol tokens, mask on the actions only, tool observations, verified answers', async () => {
  const world = new ToyWorld({ expertExtraTurns: 1 });
  const tok = world.tokenizer;
  const tasks = world.tasks('train', 8, 1);
  const trajs = await replayExpert({ world, tasks, seed: 5, samples: 2, maxObsTokens: 16 });
  expect(trajs.length).toBe(16);
  trajs.forEach((t, k) => {
    const task = tasks[Math.floor(k / 2)];
    expect(t.task).toBe(task);
    expect(t.sample).toBe(k % 2);
    // Rebuilt from the expert's turns and the toy tool's documented outputs, independently of the engine.
    const turns = world.expert(task, trajectorySeed(5, task.id, k % 2));
    const tokens: number[] = Array.from(world.prompt(task).tokens);
    const mask: number[] = tokens.map(() => 0);
    let calls = 0;
    const action = (open: string, body: string, close: string) => {
      const ids = [tok.id(open), ...tok.encode(body), tok.id(close)];
      tokens.push(...ids);
      mask.push(...ids.map(() => 1));
    };
    const context = (ids: number[]) => {
      tokens.push(...ids);
      mask.push(...ids.map(() => 0));
    };
    for (const turn of turns) {
      if (turn.kind === 'answer') {
        action('<answer>', turn.answer, '</answer>');
        continue;
      }
      action('<code>', turn.code, '</code>');
      const [word, ...rest] = turn.code.split(' ');
      const out = word === 'zoom' ? 'ok' : word === 'say' ? rest.join(' ') : String(calls);
      const img = word === 'zoom' ? [tok.id('<img>'), -1, -1, -1, -1, tok.id('</img>')] : [];
      context([tok.id('<obs>'), ...tok.encode(out), ...img, tok.id('</obs>')]);
      calls++;
    }
    expect(Array.from(t.tokens)).toEqual(tokens);
    expect(Array.from(t.mask)).toEqual(mask);
    expect(t.logp.every((x) => x === 0)).toBe(true);
    expect(t.endReason).toBe(EndReason.DONE);
    expect(t.answer).toBe(task.answer);
    expect(t.acc).toBe(1);
    expect(t.toolCalls).toBe(calls);
    expect(t.turns).toBe(turns.length);
    expect(t.visualTokens).toBe(tokens.filter((x) => x < 0).length);
  });
  // Some trajectories have the odd seed's extra turn, some do not; small tasks zoom, big ones do not.
  expect(new Set(trajs.map((t) => t.turns)).size).toBeGreaterThan(1);
  expect(world.logs.every((l) => l.disposed)).toBe(true);
  // Same seed, same trajectories.
  const again = await replayExpert({ world, tasks, seed: 5, samples: 2, maxObsTokens: 16 });
  expect(again.map((t) => Array.from(t.tokens))).toEqual(trajs.map((t) => Array.from(t.tokens)));
});

test('expert replay under the rollout limits: errors, turns and length end it the same way', async () => {
  const world = new ToyWorld();
  const small = world.tasks('train', 6, 0).filter((t) => t.size === 'small');
  const failing = await replayExpert({ world: new ToyWorld({ alwaysFail: true }), tasks: small, seed: 0 });
  expect(failing.every((t) => t.endReason === EndReason.ERROR_IN_ACTION && t.answer === null && t.acc === 0)).toBe(true);
  const fed = await replayExpert({ world: new ToyWorld({ alwaysFail: true }), tasks: small, seed: 0, errorFeedback: true });
  expect(fed.every((t) => t.endReason === EndReason.DONE && t.toolCalls === 0)).toBe(true);
  const turns = await replayExpert({ world, tasks: small, seed: 0, maxTurns: 1 });
  expect(turns.every((t) => t.endReason === EndReason.EXCEED_MAX_TURNS)).toBe(true);
  const images = await replayExpert({ world, tasks: small, seed: 0, maxImages: 1 });
  expect(images.every((t) => t.endReason === EndReason.EXCEED_MAX_IMAGES)).toBe(true);
  const length = await replayExpert({ world, tasks: small, seed: 0, maxSeqLen: world.prompt(small[0]).tokens.length + 2 });
  expect(length.every((t) => t.endReason === EndReason.OVER_LENGTH && t.tokens.length === world.prompt(small[0]).tokens.length + 2)).toBe(true);
});

test('packTrajectories: the batch, mask, oldLogp and per-sequence advantages the policy takes', async () => {
  const world = new ToyWorld();
  const tasks = world.tasks('train', 5, 2);
  const trajs = await replayExpert({ world, tasks, seed: 1 });
  const packed = packTrajectories(trajs, [1, -1, 0.5, 0, 2]);
  let at = 0;
  trajs.forEach((t, b) => {
    expect(packed.batch.seqOffsets[b]).toBe(at);
    expect(Array.from(packed.batch.tokens.subarray(at, at + t.tokens.length))).toEqual(Array.from(t.tokens));
    expect(Array.from(packed.mask.subarray(at, at + t.tokens.length))).toEqual(Array.from(t.mask));
    expect(packed.sampledTokens[b]).toBe(t.mask.reduce((a, m) => a + m, 0));
    at += t.tokens.length;
  });
  expect(packed.batch.seqOffsets[trajs.length]).toBe(at);
  expect(packed.batch.patches.length).toBe(trajs.reduce((a, t) => a + t.patches.length, 0));
  expect(Array.from(packed.advantages)).toEqual([1, -1, 0.5, 0, 2]);
  // The policy takes it as is: SFT and PG losses with per-sequence advantages.
  const policy = await Policy.create({ ...toyConfig(world), seed: 3, backend: 'cpu' });
  const sft = await policy.trainStep(packed.batch, { kind: 'sft', mask: packed.mask }, { lr: 1e-3 });
  expect(Number.isFinite(sft.loss)).toBe(true);
  const { logp } = await policy.logprobs(packed.batch);
  const pg = await policy.trainStep(packed.batch, { kind: 'pg', mask: packed.mask, oldLogp: logp, advantages: packed.advantages }, { lr: 1e-3 });
  expect(Number.isFinite(pg.loss)).toBe(true);
  policy.dispose();
  expect(() => packTrajectories([])).toThrow(/trajectories must be a non-empty array/);
  expect(() => packTrajectories(trajs, [1])).toThrow(/advantages must hold one value per trajectory \(5\), got 1/);
  expect(() => packTrajectories(trajs, [1, 2, 3, NaN, 4])).toThrow(/advantages\[3\] must be a finite number/);
  expect(() => packTrajectories([{ ...trajs[0], mask: new Uint8Array(1) }])).toThrow(/trajectories\[0\]\.mask and \.logp must have the length of \.tokens/);
});

test('replayExpert: bad options and bad expert turns are rejected naming the field', async () => {
  const world = new ToyWorld();
  const tasks = world.tasks('train', 2, 0);
  const code = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as PyVisionError);
  expect(await code(replayExpert({ world, tasks, seed: -1 }))).toMatchObject({ code: 'E_ARG', message: expect.stringMatching(/options\.seed/) });
  expect(await code(replayExpert({ world, tasks: [], seed: 0 }))).toMatchObject({ code: 'E_ARG', message: expect.stringMatching(/options\.tasks/) });
  expect(await code(replayExpert({ world, tasks, seed: 0, samples: 0 }))).toMatchObject({ code: 'E_ARG', message: expect.stringMatching(/options\.samples/) });
  expect(await code(replayExpert({ world, tasks, seed: 0, maxObsTokens: -1 }))).toMatchObject({ code: 'E_ARG', message: expect.stringMatching(/options\.maxObsTokens/) });
  expect(await code(replayExpert({ world: {} as never, tasks, seed: 0 }))).toMatchObject({ code: 'E_ARG', message: expect.stringMatching(/options\.world\.tasks must be a function/) });
  const noAnswer = new ToyWorld();
  noAnswer.expert = () => [{ kind: 'code', code: 'zoom' }];
  expect(await code(replayExpert({ world: noAnswer, tasks, seed: 0 }))).toMatchObject({ code: 'E_ARG', message: expect.stringMatching(/must end with its one answer turn/) });
  const badTurn = new ToyWorld();
  badTurn.expert = () => [{ kind: 'look' } as never];
  expect(await code(replayExpert({ world: badTurn, tasks, seed: 0 }))).toMatchObject({ code: 'E_ARG', message: expect.stringMatching(/\[0\] must be \{ kind: 'code', code \}/) });
});

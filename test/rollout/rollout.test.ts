/**
 * The rollout engine against the invariants of agent.md section 3, with a
 * small world written against the World interface alone (toy-world.ts):
 * sequences rebuilt independently from the session calls (mask 1 exactly on
 * what generate returned), teacher-forced log-probs, tool calls against the
 * tool's own log, determinism under another batch composition, every end
 * reason provoked, errorFeedback both ways, bad options.
 */
import { jest } from '@jest/globals';

import { EndReason, Policy, PolicySession, PyVisionError, type SequenceBatch } from '../../lib/index.js';
import { packTrajectories } from '../../lib/rollout/pack.js';
import { parseTurn, protocolIds, trajectorySeed } from '../../lib/rollout/protocol.js';
import { emptyTimings, rollout, type RolloutOptions } from '../../lib/rollout/rollout.js';
import type { Trajectory } from '../../lib/rollout/types.js';
import { expectClose } from '../helpers.js';
import { ToyWorld, type ToyTask } from './toy-world.js';
import { toyConfig, trainedToyPolicy, withMaxSeqLen } from './toy-policy.js';

const world = new ToyWorld();
const tok = world.tokenizer;
let trained: Policy;
/** Half-trained: speaks the protocol often, not always (invalid turns, unclosed turns, odd programs). */
let sloppy: Policy;

beforeAll(async () => {
  trained = await trainedToyPolicy(world, 80, 1);
  sloppy = await trainedToyPolicy(world, 12, 2);
});

afterAll(() => {
  trained.dispose();
  sloppy.dispose();
});

const TASKS = world.tasks('val', 6, 0);
const small = TASKS.filter((t) => t.size === 'small');

function base(policy: Policy, over: Partial<RolloutOptions<ToyTask>> = {}): RolloutOptions<ToyTask> {
  return { policy, world, tasks: TASKS, groupSize: 3, temperature: 1, maxTurns: 5, maxTurnTokens: 8, maxObsTokens: 16, seed: 11, ...over };
}

interface Event {
  kind: 'start' | 'generate' | 'end' | 'append';
  batch?: SequenceBatch;
  out?: { tokens: Int32Array; logp: Float32Array; offsets: Int32Array; stopped: Uint8Array };
  sequences?: number[];
}

/** Records every session call of a rollout (the native boundary) to rebuild its sequences independently. */
async function recorded<T>(run: () => Promise<T>): Promise<{ result: T; events: Event[] }> {
  const events: Event[] = [];
  const start = Policy.prototype.startSession;
  const generate = PolicySession.prototype.generate;
  const end = PolicySession.prototype.end;
  const append = PolicySession.prototype.append;
  const spies = [
    jest.spyOn(Policy.prototype, 'startSession').mockImplementation(function (this: Policy, batch) {
      events.push({ kind: 'start', batch: { tokens: batch.tokens.slice(), patches: batch.patches.slice(), seqOffsets: batch.seqOffsets.slice() } });
      return start.call(this, batch);
    }),
    jest.spyOn(PolicySession.prototype, 'generate').mockImplementation(async function (this: PolicySession, o) {
      const out = await generate.call(this, o);
      events.push({ kind: 'generate', out });
      return out;
    }),
    jest.spyOn(PolicySession.prototype, 'end').mockImplementation(function (this: PolicySession, s) {
      events.push({ kind: 'end', sequences: Array.from(s) });
      return end.call(this, s);
    }),
    jest.spyOn(PolicySession.prototype, 'append').mockImplementation(function (this: PolicySession, batch) {
      events.push({ kind: 'append', batch: { tokens: batch.tokens.slice(), patches: batch.patches.slice(), seqOffsets: batch.seqOffsets.slice() } });
      return append.call(this, batch);
    }),
  ];
  try {
    return { result: await run(), events };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

interface Rebuilt {
  tokens: number[];
  mask: number[];
  logp: number[];
  patches: number[];
}

/** Each sequence as the session saw it: prompt, every generated token (sampled), every appended entry. */
function rebuild(events: Event[], patchDim: number): Rebuilt[] {
  const start = events[0];
  expect(start.kind).toBe('start');
  const b = start.batch!;
  const B = b.seqOffsets.length - 1;
  const seqs: Rebuilt[] = [];
  let patch = 0;
  for (let s = 0; s < B; s++) {
    const tokens = Array.from(b.tokens.subarray(b.seqOffsets[s], b.seqOffsets[s + 1]));
    const np = tokens.filter((t) => t < 0).length;
    seqs.push({ tokens, mask: tokens.map(() => 0), logp: tokens.map(() => 0), patches: Array.from(b.patches.subarray(patch * patchDim, (patch + np) * patchDim)) });
    patch += np;
  }
  let live = seqs.map((_, s) => s);
  for (const e of events.slice(1)) {
    if (e.kind === 'generate') {
      const o = e.out!;
      expect(o.offsets.length).toBe(B + 1);
      for (let s = 0; s < B; s++) {
        if (!live.includes(s)) {
          expect(o.offsets[s + 1] - o.offsets[s]).toBe(0);
          continue;
        }
        for (let i = o.offsets[s]; i < o.offsets[s + 1]; i++) {
          seqs[s].tokens.push(o.tokens[i]);
          seqs[s].mask.push(1);
          seqs[s].logp.push(o.logp[i]);
        }
      }
    } else if (e.kind === 'end') {
      live = live.filter((s) => !e.sequences!.includes(s));
    } else if (e.kind === 'append') {
      const a = e.batch!;
      expect(a.seqOffsets.length - 1).toBe(live.length);
      let p = 0;
      live.forEach((s, i) => {
        const entry = Array.from(a.tokens.subarray(a.seqOffsets[i], a.seqOffsets[i + 1]));
        const np = entry.filter((t) => t < 0).length;
        seqs[s].tokens.push(...entry);
        seqs[s].mask.push(...entry.map(() => 0));
        seqs[s].logp.push(...entry.map(() => 0));
        seqs[s].patches.push(...Array.from(a.patches.subarray(p * patchDim, (p + np) * patchDim)));
        p += np;
      });
    }
  }
  return seqs;
}

function checkInvariants(trajs: Trajectory<ToyTask>[], events: Event[], maxSeqLen: number) {
  const seqs = rebuild(events, world.patchDim);
  expect(seqs.length).toBe(trajs.length);
  trajs.forEach((t, s) => {
    const want = seqs[s];
    const n = t.tokens.length;
    // The trajectory is the session's sequence; only a sequence cut at maxSeqLen may be shorter.
    expect(n).toBeLessThanOrEqual(want.tokens.length);
    if (n < want.tokens.length) {
      expect(t.endReason).toBe(EndReason.OVER_LENGTH);
      expect(n).toBe(maxSeqLen);
    }
    expect(Array.from(t.tokens)).toEqual(want.tokens.slice(0, n));
    expect(Array.from(t.mask)).toEqual(want.mask.slice(0, n));
    expect(Array.from(t.logp)).toEqual(Array.from(Float32Array.from(want.logp.slice(0, n))));
    expect(Array.from(t.patches)).toEqual(Array.from(Float32Array.from(want.patches)));
    // Never on the prompt, observation text, image markers or patches.
    for (let i = 0; i < n; i++) if (t.tokens[i] < 0) expect(t.mask[i]).toBe(0);
    expect(t.visualTokens).toBe(Array.from(t.tokens).filter((x) => x < 0).length);
    // toolCalls: code blocks that executed without error; toolImages: images they returned.
    const codes = t.turnRecords.filter((r) => r.kind === 'code');
    expect(t.toolCalls).toBe(codes.filter((r) => r.result!.error === null).length);
    expect(t.toolImages).toBe(codes.reduce((a, r) => a + r.result!.images.length, 0));
    expect(t.turns).toBe(t.turnRecords.length);
    expect(t.acc).toBe(t.answer === null ? 0 : world.verify(t.task, t.answer));
    expect(t.answer !== null).toBe(t.endReason === EndReason.DONE);
    expect(t.group).toBe(t.promptId);
    expect(t.record).toEqual(world.record(t.task, t.turnRecords));
  });
}

async function expectTeacherForced(policy: Policy, trajs: Trajectory[]) {
  const packed = packTrajectories(trajs);
  const { logp } = await policy.logprobs(packed.batch);
  const got: number[] = [];
  const want: number[] = [];
  for (let i = 0; i < logp.length; i++) {
    if (packed.mask[i] === 1) {
      got.push(packed.oldLogp[i]);
      want.push(logp[i]);
    } else expect(packed.oldLogp[i]).toBe(0);
  }
  expect(got.length).toBeGreaterThan(0);
  expectClose(got, want, 2e-4, 0, 'rollout logp vs teacher-forced logprobs');
}

test('invariants: sequences rebuilt from the session calls, teacher-forced logp, tool calls from the tool log', async () => {
  for (const [policy, temperature] of [
    [sloppy, 1.5],
    [trained, 1],
  ] as const) {
    const w = new ToyWorld();
    const { result: trajs, events } = await recorded(() => rollout({ ...base(policy, { temperature, groupSize: 4 }), world: w }));
    expect(trajs.length).toBe(TASKS.length * 4);
    trajs.forEach((t, i) => {
      expect(t.task).toBe(TASKS[Math.floor(i / 4)]);
      expect(t.sample).toBe(i % 4);
    });
    checkInvariants(trajs, events, 64);
    await expectTeacherForced(policy, trajs);
    // The tool's own log: one session per trajectory that ran code, all disposed, the same programs.
    const ran = trajs.filter((t) => t.turnRecords.some((r) => r.kind === 'code'));
    expect(w.logs.length).toBe(ran.length);
    expect(w.logs.every((l) => l.disposed)).toBe(true);
    const fromLog = w.logs.map((l) => `${l.task}:${l.runs.map((r) => r.code).join('|')}`).sort();
    const fromTrajs = ran.map((t) => `${t.task.id}:${t.turnRecords.filter((r) => r.kind === 'code').map((r) => r.text).join('|')}`).sort();
    expect(fromLog).toEqual(fromTrajs);
    const executed = w.logs.reduce((a, l) => a + l.runs.filter((r) => r.result.error === null).length, 0);
    expect(trajs.reduce((a, t) => a + t.toolCalls, 0)).toBe(executed);
    if (policy === trained) {
      // The trained policy speaks the protocol: multi-turn trajectories with tool calls, answered.
      expect(trajs.filter((t) => t.endReason === EndReason.DONE).length).toBeGreaterThan(trajs.length / 2);
      expect(trajs.some((t) => t.toolCalls >= 1 && t.turns >= 2)).toBe(true);
    } else {
      // The sloppy one also produces turns that end the trajectory.
      expect(new Set(trajs.map((t) => t.endReason)).size).toBeGreaterThan(1);
    }
  }
});

test('one worked trajectory: tokens, mask and observations as docs/agent.md shows them', async () => {
  const trajs = await rollout(base(trained, { tasks: [small[0]], groupSize: 1, temperature: 0 }));
  const t = trajs[0];
  const text = Array.from(t.tokens, (x) => (x < 0 ? 'patch' : tok.token(x)));
  const prompt = world.prompt(small[0]).tokens.length;
  const obs = world.observe({ output: 'ok', images: [{ width: 4, height: 4, data: new Uint8Array(48) }], error: null }, { maxObsTokens: 16 });
  // <bos> <q> what colour is it ? small </q> <img> patch x4 </img> | <code> zoom </code> | <obs> ok <img> patch x4 </img> </obs> | <answer> red </answer>
  const answer = small[0].answer;
  expect(text).toEqual([
    ...Array.from(world.prompt(small[0]).tokens, (x) => (x < 0 ? 'patch' : tok.token(x))),
    '<code>', 'zoom', '</code>',
    ...Array.from(obs.tokens, (x) => (x < 0 ? 'patch' : tok.token(x))),
    '<answer>', answer, '</answer>',
  ]);
  const o = prompt + 3;
  const ones = [prompt, prompt + 1, prompt + 2, o + obs.tokens.length, o + obs.tokens.length + 1, o + obs.tokens.length + 2];
  expect(Array.from(t.mask).flatMap((m, i) => (m ? [i] : []))).toEqual(ones);
  expect({ endReason: t.endReason, answer: t.answer, acc: t.acc, turns: t.turns, toolCalls: t.toolCalls, toolImages: t.toolImages, visualTokens: t.visualTokens }).toEqual({
    endReason: EndReason.DONE, answer, acc: 1, turns: 2, toolCalls: 1, toolImages: 1, visualTokens: 8,
  });
  expect(t.patches.length).toBe(8 * world.patchDim);
});

test('determinism: identical seeds give identical trajectories, in any batch and at any position', async () => {
  const strip = (t: Trajectory) => ({ tokens: Array.from(t.tokens), mask: Array.from(t.mask), logp: Array.from(t.logp), endReason: t.endReason, answer: t.answer, toolCalls: t.toolCalls, turns: t.turns });
  const a = await rollout(base(sloppy, { temperature: 1.5 }));
  const b = await rollout(base(sloppy, { temperature: 1.5 }));
  expect(b.map(strip)).toEqual(a.map(strip));
  const c = await rollout(base(sloppy, { temperature: 1.5, seed: 12 }));
  expect(c.map(strip)).not.toEqual(a.map(strip));
  // The last task alone, and first in a batch with other tasks; its samples draw the same tokens.
  const target = TASKS[TASKS.length - 1];
  const alone = await rollout(base(sloppy, { temperature: 1.5, tasks: [target] }));
  const mixed = await rollout(base(sloppy, { temperature: 1.5, tasks: [target, ...TASKS.slice(0, 3), target] }));
  const want = a.slice(-3);
  for (const got of [alone, mixed.slice(0, 3), mixed.slice(-3)]) {
    got.forEach((t, g) => {
      const x = strip(t);
      const y = strip(want[g]);
      expect({ ...x, logp: [] }).toEqual({ ...y, logp: [] });
      expectClose(x.logp, y.logp, 1e-5, 0, 'logp in another batch');
    });
  }
  expect(mixed[0].promptId).toBe(0);
  expect(mixed[mixed.length - 1].promptId).toBe(4);
  // The seed of a trajectory: (seed, task id, sample) only.
  expect(trajectorySeed(11, target.id, 2)).toBe(trajectorySeed(11, target.id, 2));
  expect(new Set([trajectorySeed(11, 'a', 0), trajectorySeed(11, 'a', 1), trajectorySeed(11, 'b', 0), trajectorySeed(12, 'a', 0)]).size).toBe(4);
});

test('end reasons, each provoked on purpose', async () => {
  const reasons = (trajs: Trajectory[]) => trajs.map((t) => t.endReason);
  // DONE: the trained policy answers big tasks directly, small ones after a zoom.
  const done = await rollout(base(trained, { temperature: 0 }));
  expect(reasons(done).every((r) => r === EndReason.DONE)).toBe(true);
  expect(done.every((t) => t.acc === 1)).toBe(true);
  // EXCEED_MAX_TURNS: one turn for tasks that need a zoom first (the zoom still counts as a tool call).
  const turns = await rollout(base(trained, { tasks: small, temperature: 0, maxTurns: 1 }));
  expect(reasons(turns).every((r) => r === EndReason.EXCEED_MAX_TURNS)).toBe(true);
  expect(turns.every((t) => t.toolCalls === 1 && t.turns === 1 && t.answer === null && t.acc === 0)).toBe(true);
  // ERROR_IN_ACTION: a turn that cannot close within maxTurnTokens.
  const unclosed = await rollout(base(trained, { maxTurnTokens: 2 }));
  expect(reasons(unclosed).every((r) => r === EndReason.ERROR_IN_ACTION)).toBe(true);
  expect(unclosed.every((t) => t.turns === 1 && t.turnRecords[0].kind === 'invalid' && t.mask.reduce((a, m) => a + m, 0) === 2)).toBe(true);
  // ERROR_IN_ACTION: a tool error (errorFeedback false, the default).
  const failing = new ToyWorld({ alwaysFail: true });
  const errors = await rollout(base(trained, { world: failing, tasks: small, temperature: 0 }));
  expect(reasons(errors).every((r) => r === EndReason.ERROR_IN_ACTION)).toBe(true);
  expect(errors.every((t) => t.toolCalls === 0 && t.turns === 1 && t.turnRecords[0].result?.error?.type === 'ValueError')).toBe(true);
  // OVER_LENGTH: the observation of the zoom does not fit ...
  const promptLen = world.prompt(small[0]).tokens.length;
  const obsOverflow = await rollout(base(trained, { tasks: small, temperature: 0, maxSeqLen: promptLen + 3 + 4 }));
  expect(reasons(obsOverflow).every((r) => r === EndReason.OVER_LENGTH)).toBe(true);
  expect(obsOverflow.every((t) => t.tokens.length === promptLen + 3 && t.toolCalls === 1)).toBe(true);
  // ... the action is cut by maxSeqLen (of the rollout) ...
  const cut = await rollout(base(trained, { tasks: small, temperature: 0, maxSeqLen: promptLen + 2 }));
  expect(reasons(cut).every((r) => r === EndReason.OVER_LENGTH)).toBe(true);
  expect(cut.every((t) => t.tokens.length === promptLen + 2 && t.toolCalls === 0)).toBe(true);
  // ... or by the policy's own maxSeqLen (the session ends the sequence).
  const short = await withMaxSeqLen(trained, promptLen + 2);
  const native = await rollout(base(short, { tasks: small, temperature: 0 }));
  expect(reasons(native).every((r) => r === EndReason.OVER_LENGTH)).toBe(true);
  expect(native.map((t) => Array.from(t.tokens))).toEqual(cut.map((t) => Array.from(t.tokens)));
  short.dispose();
  // A long observation: the zoom prints 40 words, maxObsTokens lets them through, maxSeqLen does not.
  const chatty = new ToyWorld({ zoomOutput: Array(40).fill('ok').join(' ') });
  const long = await rollout(base(trained, { world: chatty, tasks: small, temperature: 0, maxObsTokens: 40, maxSeqLen: 50 }));
  expect(reasons(long).every((r) => r === EndReason.OVER_LENGTH)).toBe(true);
  expect(long.every((t) => t.tokens.length === promptLen + 3)).toBe(true);
  // EXCEED_MAX_IMAGES: the zoom's image is one too many ...
  const images = await rollout(base(trained, { tasks: small, temperature: 0, maxImages: 1 }));
  expect(reasons(images).every((r) => r === EndReason.EXCEED_MAX_IMAGES)).toBe(true);
  expect(images.every((t) => t.toolImages === 1 && t.visualTokens === 4 && t.toolCalls === 1)).toBe(true);
  // ... or the prompt's image already is (no turn at all).
  const none = await rollout(base(trained, { temperature: 0, maxImages: 0 }));
  expect(reasons(none).every((r) => r === EndReason.EXCEED_MAX_IMAGES)).toBe(true);
  expect(none.every((t) => t.turns === 0 && t.mask.every((m) => m === 0))).toBe(true);
});

test('errorFeedback: false ends at the error, true observes "Type: message" and goes on', async () => {
  const failing = new ToyWorld({ alwaysFail: true });
  const ended = await rollout(base(trained, { world: failing, tasks: small, temperature: 0, errorFeedback: false }));
  const { result: fed, events } = await recorded(() => rollout(base(trained, { world: failing, tasks: small, temperature: 0, errorFeedback: true })));
  checkInvariants(fed, events, 64);
  await expectTeacherForced(trained, fed);
  const feedback = Array.from(tok.encode('ValueError: bad box'));
  fed.forEach((t, i) => {
    expect(ended[i].endReason).toBe(EndReason.ERROR_IN_ACTION);
    expect(t.turns).toBeGreaterThan(1);
    expect(t.toolCalls).toBe(0);
    // The first observation is the error line, after the same first action.
    const n = ended[i].tokens.length;
    expect(Array.from(t.tokens.subarray(0, n))).toEqual(Array.from(ended[i].tokens));
    expect(Array.from(t.tokens.subarray(n, n + feedback.length + 2))).toEqual([tok.id('<obs>'), ...feedback, tok.id('</obs>')]);
    expect(Array.from(t.mask.subarray(n, n + feedback.length + 2)).every((m) => m === 0)).toBe(true);
  });
});

test('timings: every phase measured, the native ones and the orchestration add up to the wall time', async () => {
  const timings = emptyTimings();
  const trajs = await rollout(base(trained, { timings }));
  await rollout(base(trained, { timings }));
  expect(timings.trajectories).toBe(2 * trajs.length);
  expect(timings.sampledTokens).toBe(2 * trajs.reduce((a, t) => a + t.mask.reduce((x, m) => x + m, 0), 0));
  const parts = timings.prompt + timings.start + timings.generate + timings.decode + timings.tool + timings.observation + timings.append + timings.finish;
  expect(parts).toBeLessThanOrEqual(timings.total + 1e-6);
  expect(timings.generate).toBeGreaterThan(0);
});

test('parseTurn: what is executable, what is an answer, what is invalid', () => {
  const ids = protocolIds(tok, 'tokenizer');
  const p = (words: string) => parseTurn(Array.from(words.split(' '), (w) => tok.id(w)), ids, tok);
  expect(p('<code> zoom </code>')).toEqual({ kind: 'code', code: 'zoom' });
  expect(p('<answer> red </answer>')).toEqual({ kind: 'answer', answer: 'red' });
  expect(p('<answer> </answer>')).toEqual({ kind: 'answer', answer: '' });
  expect(p('<code> </code>')).toMatchObject({ kind: 'invalid', why: 'no code' });
  expect(p('<code> zoom')).toMatchObject({ kind: 'invalid', why: 'unclosed' });
  expect(p('zoom </code>')).toMatchObject({ kind: 'invalid' });
  expect(p('<code> zoom </answer>')).toMatchObject({ kind: 'invalid' });
  expect(p('<answer> red </code>')).toMatchObject({ kind: 'invalid' });
  expect(p('<code> <img> zoom </code>')).toMatchObject({ kind: 'invalid', why: "reserved token '<img>' inside the turn" });
  expect(p('<code> <unk> </code>')).toEqual({ kind: 'code', code: '<unk>' });
  expect(p('</code>')).toMatchObject({ kind: 'invalid' });
});

test('bad options are rejected with E_ARG naming the field', async () => {
  const cases: [Partial<Record<keyof RolloutOptions<ToyTask>, unknown>>, RegExp, string?][] = [
    [{ policy: {} }, /options\.policy must be a Policy/],
    [{ world: null }, /options\.world must be an object/],
    [{ world: { tokenizer: tok, patchDim: 12 } }, /options\.world\.tasks must be a function/],
    [{ tasks: [] }, /options\.tasks must be a non-empty array/],
    [{ tasks: [{ id: 3 }] }, /options\.tasks\[0\]\.id must be a string/],
    [{ groupSize: 0 }, /options\.groupSize/],
    [{ groupSize: 1.5 }, /options\.groupSize/],
    [{ temperature: -1 }, /options\.temperature/],
    [{ topK: -2 }, /options\.topK/],
    [{ maxTurns: 0 }, /options\.maxTurns/],
    [{ maxTurnTokens: 0 }, /options\.maxTurnTokens/],
    [{ maxSeqLen: 65 }, /options\.maxSeqLen must be an integer >= 1 <= 64, got 65/],
    [{ maxImages: -1 }, /options\.maxImages/],
    [{ maxObsTokens: 'x' }, /options\.maxObsTokens/],
    [{ errorFeedback: 1 }, /options\.errorFeedback must be a boolean/],
    [{ seed: -1 }, /options\.seed/],
    [{ seed: undefined }, /options\.seed/],
    [{ timings: 3 }, /options\.timings must be an object/],
  ];
  for (const [over, message] of cases) {
    const error = await rollout({ ...base(trained), ...over } as RolloutOptions<ToyTask>).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PyVisionError);
    expect((error as PyVisionError).code).toBe('E_ARG');
    expect((error as Error).message).toMatch(message);
  }
  // A world that does not fit the policy.
  const other = await Policy.create({ ...toyConfig(world), patchDim: 3, backend: 'cpu' });
  await expect(rollout(base(other))).rejects.toThrow(/options\.world\.patchDim \(12\) must equal options\.policy's patchDim \(3\)/);
  other.dispose();
  const tiny = await Policy.create({ ...toyConfig(world), vocabSize: 10, backend: 'cpu' });
  await expect(rollout(base(tiny))).rejects.toThrow(/options\.world\.tokenizer\.size \(\d+\) must be <= options\.policy's vocabSize \(10\)/);
  tiny.dispose();
  // A prompt longer than maxSeqLen.
  await expect(rollout(base(trained, { maxSeqLen: 5 }))).rejects.toMatchObject({ code: 'E_SHAPE', message: expect.stringMatching(/options\.world\.prompt\(options\.tasks\[0\]\) must hold 1 to maxSeqLen \(5\)/) });
  // A world whose observation is not a valid segment: the error names it, and every tool session is disposed.
  const broken = new ToyWorld();
  broken.observe = () => ({ tokens: Int32Array.from([999]), patches: new Float32Array(0) });
  await expect(rollout(base(trained, { world: broken, tasks: small, temperature: 0 }))).rejects.toMatchObject({ code: 'E_ARG', message: expect.stringMatching(/options\.world\.observe\(\.\.\.\)\.tokens\[0\] must be a token id/) });
  expect(broken.logs.length).toBeGreaterThan(0);
  expect(broken.logs.every((l) => l.disposed)).toBe(true);
});

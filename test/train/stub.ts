/**
 * A stub world and two stub rollout engines for the trainer's tests:
 * - `banditRollout`: one turn sampled from the policy (answer letter, and
 *   'x' tokens standing for successful tool calls that return an image);
 * - `scriptedRollout`: fixed outcomes per (task, sample), with the policy's
 *   teacher-forced log-probs, for checking the step's order on known rewards.
 */
import type { Policy } from '../../lib/policy/policy.js';
import type { Trajectory } from '../../lib/rollout/types.js';
import type { ExpertTurn, Segment, Task, Tokenizer, ToolResult, World, WorldPolicyShape } from '../../lib/worlds/world.js';
import { SPECIAL_TOKENS } from '../../lib/worlds/world.js';
import type { RolloutRequest } from '../../lib/train/step.js';

const WORDS = [...SPECIAL_TOKENS, 'A', 'B', 'C', 'D', 'x', 'which'];

export const stubTokenizer: Tokenizer = {
  size: WORDS.length,
  id(token: string) {
    const i = WORDS.indexOf(token);
    if (i < 0) throw new Error(`unknown token ${token}`);
    return i;
  },
  token: (id: number) => WORDS[id],
  encode: (text: string) => Int32Array.from(text.split(/\s+/).filter(Boolean), (w) => (WORDS.includes(w) ? WORDS.indexOf(w) : WORDS.indexOf('<unk>'))),
  decode: (ids: ArrayLike<number>) => Array.from(ids).filter((i) => i >= 0).map((i) => WORDS[i]).join(' '),
};

export interface StubTask extends Task {
  /** Index of the task within its split. */
  index: number;
}

const LETTERS = ['A', 'B', 'C', 'D'];

export class StubWorld implements World<StubTask> {
  readonly name = 'stub';
  readonly tokenizer = stubTokenizer;
  readonly patchDim = 3;
  tasks(split: 'train' | 'val' | 'test', n: number, seed = 0): StubTask[] {
    const base = split === 'train' ? 0 : split === 'val' ? 100000 : 200000;
    return Array.from({ length: n }, (_, i) => ({
      id: `${split}-${seed}-${i}`,
      split,
      index: i,
      type: i % 2 === 0 ? 'even' : 'odd',
      question: 'which',
      options: LETTERS,
      answer: LETTERS[(base + i) % 4],
    }));
  }
  verify(task: StubTask, answer: string): number {
    return answer === task.answer ? 1 : 0;
  }
  prompt(task: StubTask): Segment {
    const t = stubTokenizer;
    const tokens = Int32Array.from([t.id('<bos>'), t.id('<q>'), t.id(task.answer), t.id('</q>'), t.id('<img>'), -1, t.id('</img>')]);
    return { tokens, patches: Float32Array.from([0.1, -0.2, 0.3]) };
  }
  openTool(): { run(code: string): Promise<ToolResult>; dispose(): void } {
    return { run: async () => ({ output: '', images: [], error: null }), dispose() {} };
  }
  observe(): Segment {
    return { tokens: new Int32Array(0), patches: new Float32Array(0) };
  }
  expert(task: StubTask): ExpertTurn[] {
    return [{ kind: 'answer', answer: task.answer }];
  }
  policyConfig(overrides: Partial<WorldPolicyShape> = {}): WorldPolicyShape {
    return { vocabSize: WORDS.length, patchDim: 3, maxSeqLen: 32, ...overrides };
  }
}

function trajectory(task: Task, promptId: number, sample: number, tokens: Int32Array, patches: Float32Array, mask: Uint8Array, logp: Float32Array, o: Partial<Trajectory>): Trajectory {
  return {
    task,
    promptId,
    group: promptId,
    sample,
    tokens,
    patches,
    mask,
    logp,
    turns: 1,
    toolCalls: 0,
    toolImages: 0,
    visualTokens: 1,
    endReason: 0,
    answer: null,
    acc: 0,
    reward: 0,
    turnRecords: [],
    record: {},
    ...o,
  };
}

/** One sampled turn of 3 tokens: the first letter sampled is the answer; each 'x' is a tool call with an image. */
export async function banditRollout(req: RolloutRequest): Promise<Trajectory[]> {
  const world = req.world as unknown as StubWorld;
  const prompts = req.tasks.flatMap((task) => Array.from({ length: req.groupSize }, () => world.prompt(task as StubTask)));
  let at = 0;
  const seqOffsets = Int32Array.from([0, ...prompts.map((p) => (at += p.tokens.length))]);
  const tokens = new Int32Array(at);
  prompts.forEach((p, b) => tokens.set(p.tokens, seqOffsets[b]));
  const patches = new Float32Array(prompts.length * 3);
  prompts.forEach((p, b) => patches.set(p.patches, b * 3));
  const session = await req.policy.startSession({ tokens, patches, seqOffsets });
  const out = await session.generate({ maxNewTokens: 3, temperature: req.temperature, topK: req.topK, seed: req.seed });
  session.dispose();
  const x = stubTokenizer.id('x');
  return prompts.map((p, b) => {
    const task = req.tasks[Math.floor(b / req.groupSize)];
    const sampled = out.tokens.subarray(out.offsets[b], out.offsets[b + 1]);
    const letter = Array.from(sampled).map((id) => stubTokenizer.token(id)).find((w) => LETTERS.includes(w)) ?? null;
    const calls = Array.from(sampled).filter((id) => id === x).length;
    const n = p.tokens.length + sampled.length;
    const mask = new Uint8Array(n);
    mask.fill(1, p.tokens.length);
    const logp = new Float32Array(n);
    logp.set(out.logp.subarray(out.offsets[b], out.offsets[b + 1]), p.tokens.length);
    const all = new Int32Array(n);
    all.set(p.tokens);
    all.set(sampled, p.tokens.length);
    const acc = letter === null ? 0 : world.verify(task as StubTask, letter);
    return trajectory(task, Math.floor(b / req.groupSize), b % req.groupSize, all, p.patches, mask, logp, {
      toolCalls: calls,
      toolImages: calls,
      answer: letter,
      acc,
      endReason: letter === null ? 2 : 0,
      turnRecords: Array.from({ length: calls }, () => ({ kind: 'code' as const, text: 'x' })),
    });
  });
}

/** The expert: the prompt then the correct letter, in the mask. */
export function stubReplayExpert({ world, tasks }: { world: World; tasks: Task[] }): Trajectory[] {
  return tasks.map((task, i) => {
    const p = world.prompt(task);
    const n = p.tokens.length + 1;
    const tokens = new Int32Array(n);
    tokens.set(p.tokens);
    tokens[n - 1] = stubTokenizer.id(task.answer);
    const mask = new Uint8Array(n);
    mask[n - 1] = 1;
    return trajectory(task, i, 0, tokens, p.patches, mask, new Float32Array(n), { acc: 1, answer: task.answer });
  });
}

export interface Outcome {
  acc: number;
  toolCalls?: number;
  toolImages?: number;
  endReason?: number;
}

/**
 * Fixed outcomes: `outcomes(round call index, task index in the call, sample)`.
 * Tokens are the prompt and two letters; logp is the policy's teacher-forced log-prob.
 */
export function scriptedRollout(policy: Policy, outcomes: (call: number, prompt: number, sample: number) => Outcome) {
  let call = 0;
  const calls: RolloutRequest[] = [];
  const fn = async (req: RolloutRequest): Promise<Trajectory[]> => {
    calls.push(req);
    const c = call++;
    const trajs: Trajectory[] = [];
    for (let k = 0; k < req.tasks.length; k++) {
      for (let g = 0; g < req.groupSize; g++) {
        const p = req.world.prompt(req.tasks[k]);
        const n = p.tokens.length + 2;
        const tokens = new Int32Array(n);
        tokens.set(p.tokens);
        tokens[n - 2] = stubTokenizer.id(LETTERS[(k + g) % 4]);
        tokens[n - 1] = stubTokenizer.id(LETTERS[(k * 3 + g) % 4]);
        const mask = new Uint8Array(n);
        mask[n - 2] = 1;
        mask[n - 1] = 1;
        const o = outcomes(c, k, g);
        trajs.push(
          trajectory(req.tasks[k], k, g, tokens, p.patches, mask, new Float32Array(n), {
            acc: o.acc,
            toolCalls: o.toolCalls ?? 1,
            toolImages: o.toolImages ?? 1,
            endReason: o.endReason ?? 0,
          }),
        );
      }
    }
    let at = 0;
    const seqOffsets = Int32Array.from([0, ...trajs.map((t) => (at += t.tokens.length))]);
    const tokens = new Int32Array(at);
    trajs.forEach((t, b) => tokens.set(t.tokens, seqOffsets[b]));
    const patches = new Float32Array(trajs.length * 3);
    trajs.forEach((t, b) => patches.set(t.patches, b * 3));
    const { logp } = await policy.logprobs({ tokens, patches, seqOffsets });
    trajs.forEach((t, b) => {
      for (let i = 0; i < t.tokens.length; i++) t.logp[i] = t.mask[i] ? logp[seqOffsets[b] + i] : 0;
    });
    return trajs;
  };
  return { rollout: fn, calls };
}

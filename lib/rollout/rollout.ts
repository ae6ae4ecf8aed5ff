/**
 * The multi-turn rollout engine (agent.md sections 1 and 3): tasks x groupSize
 * trajectories in one lockstep batched session. Per turn: one
 * `session.generate` for every live trajectory (until `</code>` / `</answer>`
 * or maxTurnTokens), the turns read, every program run in its trajectory's own
 * tool session, the observations built by the world and appended in one
 * `session.append`; trajectories that ended leave the batch (`session.end`).
 */
import { EndReason } from '../kernels/scoring.js';
import { Policy } from '../policy/policy.js';
import type { PolicySession } from '../policy/session.js';
import { PyVisionError, describe, withCallSite } from '../util/errors.js';
import * as v from '../util/validate.js';
import type { Segment, Task, ToolResult, World } from '../worlds/world.js';
import { groupSeeds, protocolIds } from './protocol.js';
import { TrajectoryBuilder, checkSegment, type BuilderStorage, type TurnLimits } from './trajectory.js';
import type { Trajectory } from './types.js';

/** Defaults of the optional rollout settings. */
export const ROLLOUT_DEFAULTS = {
  topK: 0,
  maxImages: 32,
  maxObsTokens: 64,
  errorFeedback: false,
} as const;

export interface RolloutOptions<T extends Task = Task> {
  /** The policy that acts (its current weights). */
  policy: Policy;
  /** Where the tasks come from: tokenizer, prompts, tool, observations, verifier. */
  world: World<T>;
  /** The prompts; trajectory i * groupSize + g is sample g of tasks[i]. */
  tasks: readonly T[];
  /** G: samples per task (one group per task). */
  groupSize: number;
  /** Sampling temperature (0: greedy). */
  temperature: number;
  /** Sample among the k most likely tokens; 0: all. Default 0. */
  topK?: number;
  /** Most actions per trajectory (tool calls and the answer); agent.md: 5 in training, 30 in evaluation. */
  maxTurns: number;
  /** Most tokens of one action; an action that has not closed by then is ERROR_IN_ACTION. */
  maxTurnTokens: number;
  /** Most positions of a trajectory (at most, and by default, the policy's maxSeqLen): OVER_LENGTH. */
  maxSeqLen?: number;
  /** Most images (`<img>` blocks: the prompt's and the observations') in the context: EXCEED_MAX_IMAGES. Default 32. */
  maxImages?: number;
  /** Printed-text tokens of one observation (the rest is cut by the world). Default 64. */
  maxObsTokens?: number;
  /** false (default): a tool error ends the trajectory (ERROR_IN_ACTION); true: `Type: message` is observed and it goes on. */
  errorFeedback?: boolean;
  /** Seed of the sampling: trajectory (task, sample) draws from a hash of (seed, task.id, sample) alone. */
  seed: number;
  /** When given, the time of each phase of this call is added to it (milliseconds). */
  timings?: RolloutTimings;
}

/**
 * Where a rollout's wall time goes, in milliseconds, summed over calls. The
 * native phases are `start` (prompt prefill), `generate` and `append`; the
 * rest is orchestration.
 */
export interface RolloutTimings {
  /** world.prompt and packing the prompts. */
  prompt: number;
  /** policy.startSession (the prompts through the network). */
  start: number;
  /** session.generate. */
  generate: number;
  /** Reading the sampled turns (decode, parse, bookkeeping). */
  decode: number;
  /** The tool sessions running the programs (opening them included). */
  tool: number;
  /** world.observe, the limits, packing the observations. */
  observation: number;
  /** session.end and session.append. */
  append: number;
  /** Building the trajectories (verify, record, copies) and disposing sessions. */
  finish: number;
  /** The whole call. */
  total: number;
  /** Tokens sampled. */
  sampledTokens: number;
  /** Trajectories returned. */
  trajectories: number;
}

export function emptyTimings(): RolloutTimings {
  return { prompt: 0, start: 0, generate: 0, decode: 0, tool: 0, observation: 0, append: 0, finish: 0, total: 0, sampledTokens: 0, trajectories: 0 };
}

interface Resolved<T extends Task> {
  policy: Policy;
  world: World<T>;
  tasks: readonly T[];
  groupSize: number;
  temperature: number;
  topK: number;
  maxTurnTokens: number;
  limits: TurnLimits;
  seed: number;
  timings: RolloutTimings | undefined;
}

/** Checks the world's side of the contract that every engine entry point needs. */
export function checkWorld<T extends Task>(world: unknown, name: string): World<T> {
  const w = v.object(world, name) as unknown as World<T>;
  for (const method of ['tasks', 'verify', 'prompt', 'openTool', 'observe', 'expert'] as const) {
    if (typeof w[method] !== 'function') throw new PyVisionError('E_ARG', `${name}.${method} must be a function, got ${describe(w[method])}`);
  }
  v.object(w.tokenizer, `${name}.tokenizer`);
  v.number(w.patchDim, `${name}.patchDim`, { integer: true, min: 1 });
  return w;
}

export function checkTasks<T extends Task>(tasks: unknown, name: string): readonly T[] {
  if (!Array.isArray(tasks) || tasks.length === 0) throw new PyVisionError('E_ARG', `${name} must be a non-empty array of tasks, got ${describe(tasks)}`);
  tasks.forEach((t, i) => {
    v.object(t, `${name}[${i}]`);
    if (typeof (t as Task).id !== 'string') throw new PyVisionError('E_ARG', `${name}[${i}].id must be a string, got ${describe((t as Task).id)}`);
  });
  return tasks as T[];
}

/** The limits shared by rollout() and replayExpert(). */
export function resolveLimits(o: Record<string, unknown>, maxSeqLenCap: number, maxTurns: number): TurnLimits {
  return {
    maxTurns,
    maxSeqLen: v.optionalNumber(o.maxSeqLen, 'options.maxSeqLen', maxSeqLenCap, { integer: true, min: 1, max: maxSeqLenCap }),
    maxImages: v.optionalNumber(o.maxImages, 'options.maxImages', ROLLOUT_DEFAULTS.maxImages, { integer: true, min: 0 }),
    maxObsTokens: v.optionalNumber(o.maxObsTokens, 'options.maxObsTokens', ROLLOUT_DEFAULTS.maxObsTokens, { integer: true, min: 0 }),
    errorFeedback: v.boolean(o.errorFeedback, 'options.errorFeedback', ROLLOUT_DEFAULTS.errorFeedback),
  };
}

function resolve<T extends Task>(options: RolloutOptions<T>): Resolved<T> {
  const o = v.object(options, 'options');
  if (!(o.policy instanceof Policy)) throw new PyVisionError('E_ARG', `options.policy must be a Policy, got ${describe(o.policy)}`);
  const policy = o.policy;
  const world = checkWorld<T>(o.world, 'options.world');
  const config = policy.config;
  if (world.patchDim !== config.patchDim) {
    throw new PyVisionError('E_ARG', `options.world.patchDim (${world.patchDim}) must equal options.policy's patchDim (${config.patchDim})`);
  }
  if (!(world.tokenizer.size <= config.vocabSize)) {
    throw new PyVisionError('E_ARG', `options.world.tokenizer.size (${world.tokenizer.size}) must be <= options.policy's vocabSize (${config.vocabSize})`);
  }
  const tasks = checkTasks<T>(o.tasks, 'options.tasks');
  const groupSize = v.number(o.groupSize, 'options.groupSize', { integer: true, min: 1 });
  const temperature = v.number(o.temperature, 'options.temperature', { min: 0 });
  const topK = v.optionalNumber(o.topK, 'options.topK', ROLLOUT_DEFAULTS.topK, { integer: true, min: 0, max: 2 ** 31 - 1 });
  const maxTurns = v.number(o.maxTurns, 'options.maxTurns', { integer: true, min: 1 });
  const maxTurnTokens = v.number(o.maxTurnTokens, 'options.maxTurnTokens', { integer: true, min: 1, max: 2 ** 31 - 1 });
  const limits = resolveLimits(o, config.maxSeqLen, maxTurns);
  const seed = v.number(o.seed, 'options.seed', { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  if (o.timings !== undefined) v.object(o.timings, 'options.timings');
  return { policy, world, tasks, groupSize, temperature, topK, maxTurnTokens, limits, seed, timings: o.timings as RolloutTimings | undefined };
}

/**
 * Arrays for the batches handed to startSession and append, reused from call to call: the native
 * side copies a batch before the call's promise resolves, so they are free again once it has
 * returned (a fresh multi-megabyte array per call costs its page faults every time). A rollout
 * takes them for its whole run and gives them back at its end; a rollout running at the same time
 * gets arrays of its own.
 */
class PackBuffers {
  tokens = new Int32Array(0);
  patches = new Float32Array(0);
  /** The trajectory builders' starting arrays, BUILDER_START positions per trajectory. */
  builderTokens = new Int32Array(0);
  builderMask = new Uint8Array(0);
  builderLogp = new Float32Array(0);
  busy = false;

  /** Zeroed starting arrays for B builders (views; a builder that outgrows its part moves to arrays of its own). */
  builders(B: number): BuilderStorage[] {
    const n = B * BUILDER_START;
    if (this.builderTokens.length < n) {
      this.builderTokens = new Int32Array(n);
      this.builderMask = new Uint8Array(n);
      this.builderLogp = new Float32Array(n);
    } else {
      this.builderMask.fill(0, 0, n);
      this.builderLogp.fill(0, 0, n);
    }
    const out: BuilderStorage[] = [];
    for (let b = 0; b < B; b++) {
      const from = b * BUILDER_START;
      const to = from + BUILDER_START;
      out.push({ tokens: this.builderTokens.subarray(from, to), mask: this.builderMask.subarray(from, to), logp: this.builderLogp.subarray(from, to) });
    }
    return out;
  }

  /** The first n tokens and np patch floats of the buffers, grown (doubling) as needed. */
  views(n: number, np: number): { tokens: Int32Array; patches: Float32Array } {
    if (this.tokens.length < n) this.tokens = new Int32Array(Math.max(n, 2 * this.tokens.length));
    if (this.patches.length < np) this.patches = new Float32Array(Math.max(np, 2 * this.patches.length));
    return { tokens: this.tokens.subarray(0, n), patches: this.patches.subarray(0, np) };
  }
}

/** Positions each trajectory builder starts with (the default configuration's sequences fit). */
const BUILDER_START = 256;

const IDLE_BUFFERS = new PackBuffers();

function takeBuffers(): PackBuffers {
  if (IDLE_BUFFERS.busy) return new PackBuffers();
  IDLE_BUFFERS.busy = true;
  return IDLE_BUFFERS;
}

function giveBack(buffers: PackBuffers): void {
  buffers.busy = false;
}

/** Packs one segment per entry into a SequenceBatch in `buffers` (valid until the next pack into them). */
function packSegments(segments: readonly Segment[], buffers: PackBuffers) {
  let n = 0;
  let np = 0;
  for (const s of segments) {
    n += s.tokens.length;
    np += s.patches.length;
  }
  const { tokens, patches } = buffers.views(n, np);
  const seqOffsets = new Int32Array(segments.length + 1);
  let at = 0;
  let pat = 0;
  segments.forEach((s, i) => {
    tokens.set(s.tokens, at);
    patches.set(s.patches, pat);
    at += s.tokens.length;
    pat += s.patches.length;
    seqOffsets[i + 1] = at;
  });
  return { tokens, patches, seqOffsets };
}

/**
 * Rolls out tasks x groupSize trajectories with the policy in the world.
 * Returns them in order (task-major: trajectory i * groupSize + g is sample g
 * of tasks[i]), each with promptId = group = i.
 */
export function rollout<T extends Task>(options: RolloutOptions<T>): Promise<Trajectory<T>[]> {
  return withCallSite(async () => {
    const r = resolve(options);
    const t0 = performance.now();
    const time = emptyTimings();
    const { policy, world, tasks, groupSize, limits } = r;
    const { tokenizer } = world;
    const ids = protocolIds(tokenizer, 'options.world.tokenizer');
    const V = policy.config.vocabSize;

    // Prompts: one per task, shared by its group.
    const prompts = tasks.map((task, i) => {
      const p = world.prompt(task);
      checkSegment(p, world.patchDim, V, `options.world.prompt(options.tasks[${i}])`);
      if (p.tokens.length < 1 || p.tokens.length > limits.maxSeqLen) {
        throw new PyVisionError('E_SHAPE', `options.world.prompt(options.tasks[${i}]) must hold 1 to maxSeqLen (${limits.maxSeqLen}) positions, got ${p.tokens.length}`);
      }
      return p;
    });
    const B = tasks.length * groupSize;
    const buffers = takeBuffers();
    const storage = buffers.builders(B);
    const builders: TrajectoryBuilder<T>[] = [];
    const seeds: number[] = [];
    const entries: Segment[] = [];
    try {
      for (let i = 0; i < tasks.length; i++) {
        const seedOf = groupSeeds(r.seed, tasks[i].id);
        for (let g = 0; g < groupSize; g++) {
          const b = new TrajectoryBuilder(tasks[i], i, g, limits, ids, storage[i * groupSize + g]);
          b.appendContext(prompts[i]);
          builders.push(b);
          seeds.push(seedOf(g));
          entries.push(prompts[i]);
        }
      }
    } catch (error) {
      giveBack(buffers);
      throw error;
    }
    const batch = packSegments(entries, buffers);
    const t1 = performance.now();
    time.prompt += t1 - t0;

    let session: PolicySession;
    try {
      session = await policy.startSession(batch);
    } catch (error) {
      giveBack(buffers);
      throw error;
    }
    const t2 = performance.now();
    time.start += t2 - t1;
    const stopTokens = Int32Array.from([ids.codeEnd, ids.answerEnd]);
    try {
      // A prompt with more images than allowed ends before the first turn.
      const early: number[] = [];
      builders.forEach((b, s) => {
        if (b.images > limits.maxImages) {
          b.end(EndReason.EXCEED_MAX_IMAGES);
          early.push(s);
        }
      });
      if (early.length > 0) await session.end(early);
      let live = builders.map((_, s) => s).filter((s) => !builders[s].ended);

      while (live.length > 0) {
        let t = performance.now();
        const out = await session.generate({ maxNewTokens: r.maxTurnTokens, temperature: r.temperature, topK: r.topK, stopTokens, seeds });
        let now = performance.now();
        time.generate += now - t;
        t = now;

        // Read the turns.
        const code: { s: number; code: string }[] = [];
        for (const s of live) {
          const b = builders[s];
          const begin = out.offsets[s];
          const end = out.offsets[s + 1];
          time.sampledTokens += end - begin;
          const kept = b.appendSampled(out.tokens.subarray(begin, end), out.logp.subarray(begin, end));
          const full = b.length >= limits.maxSeqLen || out.stopped[s] === 2;
          const next = b.takeAction(world, out.tokens.subarray(begin, begin + kept), full);
          if (next.kind === 'code') code.push({ s, code: next.code });
        }
        now = performance.now();
        time.decode += now - t;
        t = now;

        // Run the programs, each in its trajectory's own tool session, one after another: a
        // program's wall-time limit then measures its own run, whatever else is in the batch.
        const results: ToolResult[] = [];
        for (const { s, code: c } of code) results.push(await builders[s].run(world, c));
        now = performance.now();
        time.tool += now - t;
        t = now;

        // Observations of the trajectories that go on, in sequence order.
        const observations: Segment[] = [];
        code.forEach(({ s, code: c }, k) => {
          const segment = builders[s].observe(world, c, results[k]);
          if (segment !== null) {
            checkSegment(segment, world.patchDim, V, 'options.world.observe(...)');
            observations.push(segment);
          }
        });
        const ended = live.filter((s) => builders[s].ended);
        const next = live.filter((s) => !builders[s].ended);
        const obsBatch = packSegments(observations, buffers);
        now = performance.now();
        time.observation += now - t;
        t = now;

        if (ended.length > 0) await session.end(ended);
        if (next.length > 0) {
          const { overflowed } = await session.append(obsBatch);
          // The room was checked above; an overflow here would be an engine bug.
          if (overflowed.some((x) => x !== 0)) throw new PyVisionError('E_INTERNAL', 'an observation overflowed a sequence whose room was checked');
        }
        now = performance.now();
        time.append += now - t;
        t = now;
        next.forEach((s, k) => builders[s].appendContext(observations[k]));
        live = next;
        time.decode += performance.now() - t;
      }
      const t3 = performance.now();
      const trajectories = builders.map((b) => b.build(world));
      time.finish += performance.now() - t3;
      time.trajectories = B;
      return trajectories;
    } finally {
      const t4 = performance.now();
      giveBack(buffers);
      for (const b of builders) b.close();
      session.dispose();
      time.finish += performance.now() - t4;
      time.total = performance.now() - t0;
      if (r.timings !== undefined) for (const k of Object.keys(time) as (keyof RolloutTimings)[]) r.timings[k] += time[k];
    }
  });
}

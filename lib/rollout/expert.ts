/**
 * The scripted expert's trajectories (world.expert) replayed through the same
 * bookkeeping as rollout(): its actions become the sampled tokens (mask 1,
 * logp 0), its programs run in a fresh tool session of the world, and the
 * observations come from world.observe, so an SFT cold start trains on
 * exactly the sequences the policy would produce by acting that way.
 */
import { PyVisionError, describe, withCallSite } from '../util/errors.js';
import * as v from '../util/validate.js';
import type { Task, World } from '../worlds/world.js';
import { protocolIds, trajectorySeed } from './protocol.js';
import { EndReason } from '../kernels/scoring.js';
import { checkTasks, checkWorld, resolveLimits } from './rollout.js';
import { TrajectoryBuilder, checkSegment } from './trajectory.js';
import type { Trajectory } from './types.js';

export interface ReplayExpertOptions<T extends Task = Task> {
  world: World<T>;
  tasks: readonly T[];
  /** The expert of sample g of task t plays world.expert(t, hash of (seed, t.id, g)). */
  seed: number;
  /** Expert trajectories per task (each with its own expert seed). Default 1. */
  samples?: number;
  /** As rollout(); default: no limit beyond the expert's own turns. */
  maxTurns?: number;
  /** As rollout(); default world.policyConfig().maxSeqLen. */
  maxSeqLen?: number;
  /** As rollout(); default 32. */
  maxImages?: number;
  /** As rollout(); default 64. Use the rollout's value. */
  maxObsTokens?: number;
  /** As rollout(); default false. */
  errorFeedback?: boolean;
}

/** `open`, the text's tokens, `close`: the tokens a policy samples to write this action. */
function actionTokens<T extends Task>(world: World<T>, open: number, close: number, text: string): Int32Array {
  const body = world.tokenizer.encode(text);
  const out = new Int32Array(body.length + 2);
  out[0] = open;
  out.set(body, 1);
  out[body.length + 1] = close;
  return out;
}

/**
 * Replays the expert on every task (samples per task, task-major order like
 * rollout()). Trajectories have logp 0 and mask 1 on the expert's action tokens.
 */
export function replayExpert<T extends Task>(options: ReplayExpertOptions<T>): Promise<Trajectory<T>[]> {
  return withCallSite(async () => {
    const o = v.object(options, 'options');
    const world = checkWorld<T>(o.world, 'options.world');
    const tasks = checkTasks<T>(o.tasks, 'options.tasks');
    const seed = v.number(o.seed, 'options.seed', { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
    const samples = v.optionalNumber(o.samples, 'options.samples', 1, { integer: true, min: 1 });
    const maxTurns = v.optionalNumber(o.maxTurns, 'options.maxTurns', Number.MAX_SAFE_INTEGER, { integer: true, min: 1 });
    const cap = world.policyConfig().maxSeqLen;
    const limits = resolveLimits({ ...o, maxSeqLen: o.maxSeqLen ?? cap }, Number.MAX_SAFE_INTEGER, maxTurns);
    const ids = protocolIds(world.tokenizer, 'options.world.tokenizer');
    const V = world.tokenizer.size;

    const one = async (i: number, g: number): Promise<Trajectory<T>> => {
      const task = tasks[i];
      const where = `options.world.expert(options.tasks[${i}], ...)`;
      const turns = world.expert(task, trajectorySeed(seed, task.id, g));
      if (!Array.isArray(turns) || turns.length === 0) throw new PyVisionError('E_ARG', `${where} must return a non-empty array of turns, got ${describe(turns)}`);
      turns.forEach((t, k) => {
        const ok = (t?.kind === 'code' && typeof t.code === 'string') || (t?.kind === 'answer' && typeof t.answer === 'string');
        if (!ok) throw new PyVisionError('E_ARG', `${where}[${k}] must be { kind: 'code', code } or { kind: 'answer', answer }, got ${describe(t)}`);
        if ((t.kind === 'answer') !== (k === turns.length - 1)) throw new PyVisionError('E_ARG', `${where} must end with its one answer turn (turn ${k} is '${t.kind}')`);
      });
      const b = new TrajectoryBuilder(task, i, g, limits, ids);
      try {
        const prompt = world.prompt(task);
        checkSegment(prompt, world.patchDim, V, `options.world.prompt(options.tasks[${i}])`);
        if (prompt.tokens.length > limits.maxSeqLen) {
          throw new PyVisionError('E_SHAPE', `options.world.prompt(options.tasks[${i}]) must hold at most maxSeqLen (${limits.maxSeqLen}) positions, got ${prompt.tokens.length}`);
        }
        b.appendContext(prompt);
        if (b.images > limits.maxImages) b.end(EndReason.EXCEED_MAX_IMAGES);
        for (const turn of turns) {
          if (b.ended) break;
          const tokens =
            turn.kind === 'code' ? actionTokens(world, ids.code, ids.codeEnd, turn.code) : actionTokens(world, ids.answer, ids.answerEnd, turn.answer);
          const kept = b.appendSampled(tokens, new Float32Array(tokens.length));
          const next = b.takeAction(world, tokens.subarray(0, kept), b.length >= limits.maxSeqLen);
          if (next.kind !== 'code') continue;
          const result = await b.run(world, next.code);
          const segment = b.observe(world, next.code, result);
          if (segment !== null) {
            checkSegment(segment, world.patchDim, V, 'options.world.observe(...)');
            b.appendContext(segment);
          }
        }
        return b.build(world);
      } finally {
        b.close();
      }
    };
    // One trajectory after another, as rollout() runs its programs: each wall-time limit sees its own run.
    const out: Trajectory<T>[] = [];
    for (let i = 0; i < tasks.length; i++) for (let g = 0; g < samples; g++) out.push(await one(i, g));
    return out;
  });
}

/**
 * Evaluation: one sample per task (greedy by default, temperature 0) with the
 * evaluation turn budget (30), and the same with the tools disabled.
 */
import type { Policy } from '../policy/policy.js';
import type { Trajectory } from '../rollout/types.js';
import type { Task, ToolSession, World } from '../worlds/world.js';
import { END_REASON_NAMES } from './config.js';
import type { RolloutFn } from './step.js';
import { trajectoryStats } from './step-metrics.js';

/** What `eval --json` prints. */
export interface EvalResult {
  /** Mean verifier score over the tasks. */
  acc: number;
  /** Successful tool calls per trajectory. */
  tool_call_mean: number;
  /** Share of trajectories that wrote at least one code block. */
  tool_call_ratio: number;
  turns_mean: number;
  visual_tokens_mean: number;
  /** Accuracy of the trajectories with at least one successful tool call (NaN: none). */
  acc_with_tool: number;
  /** Accuracy of the trajectories without one (NaN: none). */
  acc_without_tool: number;
  /** Share of each end reason. */
  end_reasons: Record<string, number>;
  /** Tasks evaluated. */
  n: number;
  /** The same per question type. */
  per_type: Record<string, { acc: number; n: number; tool_call_mean: number }>;
}

export interface EvaluateOptions {
  rollout: RolloutFn;
  /** Turn budget. Default 30. */
  maxTurns?: number;
  /** 0 (default): greedy. */
  temperature?: number;
  maxTurnTokens: number;
  maxImages: number;
  errorFeedback?: boolean;
  seed?: number;
  /** Evaluate with every tool call failing (the policy must answer from the first view). */
  toolsDisabled?: boolean;
}

/** A view of `world` whose tool does nothing but fail, so only the first view can be used. */
export function withToolsDisabled<T extends Task>(world: World<T>): World<T> {
  const disabled: ToolSession = {
    async run() {
      return { output: '', images: [], error: { type: 'RuntimeError', message: 'tools are disabled' } };
    },
    dispose() {},
  };
  return new Proxy(world, {
    get(target, key, receiver) {
      if (key === 'openTool') return () => disabled;
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export function summarize(trajs: readonly Trajectory[]): EvalResult {
  const s = trajectoryStats(trajs);
  const end_reasons: Record<string, number> = {};
  for (const name of END_REASON_NAMES) end_reasons[name] = s[`end_reason/${name}`];
  const per_type: EvalResult['per_type'] = {};
  const types = [...new Set(trajs.map((t) => t.task.type))].sort();
  for (const type of types) {
    const of = trajs.filter((t) => t.task.type === type);
    per_type[type] = {
      acc: of.reduce((a, t) => a + t.acc, 0) / of.length,
      n: of.length,
      tool_call_mean: of.reduce((a, t) => a + t.toolCalls, 0) / of.length,
    };
  }
  return {
    acc: s['acc'],
    tool_call_mean: s['tool_call_mean'],
    tool_call_ratio: s['tool_call_ratio'],
    turns_mean: s['turns_mean'],
    visual_tokens_mean: s['visual_tokens_mean'],
    acc_with_tool: s['acc_with_tool'],
    acc_without_tool: s['acc_without_tool'],
    end_reasons,
    n: trajs.length,
    per_type,
  };
}

/** Runs the policy once on each task and summarizes; also returns the trajectories (for samples/). */
export async function evaluate(
  policy: Policy,
  world: World,
  tasks: readonly Task[],
  o: EvaluateOptions,
): Promise<{ result: EvalResult; trajectories: Trajectory[] }> {
  if (tasks.length === 0) return { result: summarize([]), trajectories: [] };
  const trajectories = await o.rollout({
    policy,
    world: o.toolsDisabled ? withToolsDisabled(world) : world,
    tasks: [...tasks],
    groupSize: 1,
    temperature: o.temperature ?? 0,
    topK: 0,
    maxTurns: o.maxTurns ?? 30,
    maxTurnTokens: o.maxTurnTokens,
    maxImages: o.maxImages,
    errorFeedback: o.toolsDisabled ? true : (o.errorFeedback ?? false),
    seed: o.seed ?? 0,
  });
  return { result: summarize(trajectories), trajectories };
}

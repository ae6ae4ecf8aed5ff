/**
 * The per-step metrics record (agent.md section 6, the names verl and
 * PyVision-RL log) plus what tells collapse from a bug: the share of
 * trajectories calling a tool, accuracy with and without tool calls and per
 * question type, in-group reward std, truncation and missed crops.
 * Rollout statistics are over every trajectory generated in the step; the
 * advantage statistic (data/pos_sample_neg_adv_ratio) over the K that trained.
 */
import type { Trajectory } from '../rollout/types.js';
import { END_REASON_NAMES } from './config.js';
import type { StepOutcome } from './step.js';
import type { EvalResult } from './evaluate.js';

import type { MetricsRecord } from '../metrics/types.js';

/** Keys every RL step's record has (agent.md section 6, without the val/ keys of evaluation steps). */
export const STEP_METRIC_KEYS: readonly string[] = [
  'step',
  'critic/score/mean',
  'critic/acc/mean',
  'agent/tool_call_mean',
  'agent/tool_call_max',
  'agent/tool_call_min',
  'agent/tool_call_zero_ratio',
  'agent/turns_mean',
  'agent/tool_image_mean',
  'agent/visual_tokens_mean',
  'response_length/mean',
  'actor/entropy',
  'actor/pg_loss',
  'actor/pg_clipfrac',
  'actor/ppo_kl',
  'actor/grad_norm',
  'actor/lr',
  'filter/zero_variance',
  'filter/end_reason',
  'filter/no_tool_image',
  'filter/gen_rounds',
  'data/pos_sample_neg_adv_ratio',
  ...END_REASON_NAMES.map((n) => `end_reason/${n}`),
  'timing/gen',
  'timing/tool',
  'timing/score',
  'timing/update',
  'timing/step',
  'perf/tokens_per_second',
  // beyond section 6: what tells collapse from a bug
  'agent/tool_call_ratio',
  'critic/acc/with_tool',
  'critic/acc/without_tool',
  'critic/group_std/mean',
  'agent/truncation_ratio',
  'agent/crop_miss_ratio',
  'filter/kept',
  'rollout/trajectories',
  'rollout/total',
  'timing/native',
  'perf/sampled_tokens',
];

/** Keys of evaluation steps (step 0, every valEvery, the last). */
export const VAL_METRIC_KEYS: readonly string[] = [
  'val/acc',
  'val/tool_call_mean',
  'val/turns_mean',
  'val/tool_call_ratio',
  'val/visual_tokens_mean',
  'val/acc_no_tools',
];

const mean = (xs: readonly number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Code turns the policy wrote (executed or not). */
export function codeTurns(t: Trajectory): number {
  let n = 0;
  for (const r of t.turnRecords) if (r.kind === 'code') n++;
  return Math.max(n, t.toolCalls);
}

type Box = [number, number, number, number];
function asBox(value: unknown): Box | null {
  if (!Array.isArray(value) || value.length !== 4 || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) return null;
  return value as Box;
}

/**
 * Crops of a trajectory and those that missed the target, from the world's
 * record: `crops` (boxes [left, top, right, bottom] in the input image, or
 * objects with such a `box`) and `target` (the target's box). A crop misses
 * when it does not contain the target's centre. (0, 0) when the record has
 * no crops or no target.
 */
export function cropCounts(t: Trajectory): { crops: number; missed: number } {
  const rec = t.record as { crops?: unknown; target?: unknown };
  const target = asBox(rec.target);
  if (!Array.isArray(rec.crops) || !target) return { crops: 0, missed: 0 };
  const cx = (target[0] + target[2]) / 2;
  const cy = (target[1] + target[3]) / 2;
  let crops = 0;
  let missed = 0;
  for (const c of rec.crops) {
    const box = asBox(c) ?? asBox((c as { box?: unknown } | null)?.box);
    if (!box) continue;
    crops++;
    if (!(cx >= box[0] && cx < box[2] && cy >= box[1] && cy < box[3])) missed++;
  }
  return { crops, missed };
}

/** Statistics of a set of trajectories (rollouts or an evaluation), keys without prefix. */
export function trajectoryStats(trajs: readonly Trajectory[], correctThreshold = 1): Record<string, number> {
  const out: Record<string, number> = {};
  const n = trajs.length;
  const calls = trajs.map((t) => t.toolCalls);
  out['acc'] = mean(trajs.map((t) => t.acc));
  out['tool_call_mean'] = mean(calls);
  out['tool_call_max'] = n ? Math.max(...calls) : NaN;
  out['tool_call_min'] = n ? Math.min(...calls) : NaN;
  out['tool_call_zero_ratio'] = mean(calls.map((c) => (c === 0 ? 1 : 0)));
  out['tool_call_ratio'] = mean(trajs.map((t) => (codeTurns(t) > 0 ? 1 : 0)));
  out['turns_mean'] = mean(trajs.map((t) => t.turns));
  out['tool_image_mean'] = mean(trajs.map((t) => t.toolImages));
  out['visual_tokens_mean'] = mean(trajs.map((t) => t.visualTokens));
  out['response_length'] = mean(trajs.map((t) => t.mask.reduce((a, b) => a + b, 0)));
  out['acc_with_tool'] = mean(trajs.filter((t) => t.toolCalls > 0).map((t) => t.acc));
  out['acc_without_tool'] = mean(trajs.filter((t) => t.toolCalls === 0).map((t) => t.acc));
  out['correct_ratio'] = mean(trajs.map((t) => (t.acc >= correctThreshold ? 1 : 0)));
  END_REASON_NAMES.forEach((name, code) => (out[`end_reason/${name}`] = n ? trajs.filter((t) => t.endReason === code).length / n : NaN));
  out['truncation_ratio'] = n ? trajs.filter((t) => t.endReason === 1 || t.endReason === 3).length / n : NaN;
  let crops = 0;
  let missed = 0;
  for (const t of trajs) {
    const c = cropCounts(t);
    crops += c.crops;
    missed += c.missed;
  }
  out['crop_miss_ratio'] = crops > 0 ? missed / crops : 0;
  const types = [...new Set(trajs.map((t) => t.task.type))].sort();
  for (const type of types) out[`acc/${type}`] = mean(trajs.filter((t) => t.task.type === type).map((t) => t.acc));
  return out;
}

/** The record of one RL step. */
export function stepRecord(step: number, o: StepOutcome, extra: { lr: number; correctThreshold: number; rolloutTotal: number }): MetricsRecord {
  const g = o.generated;
  const all = g.trajectories;
  const n = all.length;
  const s = trajectoryStats(all, extra.correctThreshold);
  const r: MetricsRecord = { step };
  r['critic/score/mean'] = mean(Array.from(g.rewards));
  r['critic/acc/mean'] = s['acc'];
  for (const k of ['tool_call_mean', 'tool_call_max', 'tool_call_min', 'tool_call_zero_ratio', 'tool_call_ratio', 'turns_mean', 'tool_image_mean', 'visual_tokens_mean', 'truncation_ratio', 'crop_miss_ratio']) {
    r[`agent/${k}`] = s[k];
  }
  r['response_length/mean'] = s['response_length'];
  r['actor/entropy'] = o.update.entropy;
  r['actor/pg_loss'] = o.update.pgLoss;
  r['actor/pg_clipfrac'] = o.update.clipFrac;
  r['actor/ppo_kl'] = o.update.approxKl;
  r['actor/grad_norm'] = o.update.gradNorm;
  r['actor/lr'] = extra.lr;
  r['filter/zero_variance'] = n ? g.dropped.zeroVariance / n : NaN;
  r['filter/end_reason'] = n ? g.dropped.endReason / n : NaN;
  r['filter/no_tool_image'] = n ? g.dropped.noToolImage / n : NaN;
  r['filter/gen_rounds'] = o.rounds;
  r['filter/kept'] = o.kept.length;
  let correct = 0;
  let correctNeg = 0;
  for (const i of o.kept) {
    if (all[i].acc >= extra.correctThreshold) {
      correct++;
      if (g.advantages[i] < 0) correctNeg++;
    }
  }
  r['data/pos_sample_neg_adv_ratio'] = correct ? correctNeg / correct : 0;
  for (const name of END_REASON_NAMES) r[`end_reason/${name}`] = s[`end_reason/${name}`];
  r['critic/acc/with_tool'] = s['acc_with_tool'];
  r['critic/acc/without_tool'] = s['acc_without_tool'];
  // one std per group, averaged over the step's groups
  const stdOf = new Map<number, number>();
  g.groups.forEach((grp, i) => stdOf.set(grp, g.groupStd[i]));
  r['critic/group_std/mean'] = mean([...stdOf.values()]);
  for (const [k, v] of Object.entries(s)) if (k.startsWith('acc/')) r[`critic/${k}`] = v;
  r['timing/gen'] = o.timing.gen;
  r['timing/tool'] = o.timing.tool;
  r['timing/score'] = o.timing.score;
  r['timing/update'] = o.timing.update;
  r['timing/step'] = o.timing.step;
  const rt = o.rolloutTimings;
  // native code: the rollout's prefill, decode and append, and the update (policy.trainStep)
  r['timing/native'] = (rt.start + rt.generate + rt.append) / 1000 + o.timing.update;
  r['perf/sampled_tokens'] = all.reduce((a, t) => a + t.mask.reduce((x, y) => x + y, 0), 0);
  const positions = all.reduce((a, t) => a + t.tokens.length, 0);
  r['perf/tokens_per_second'] = o.timing.step > 0 ? positions / o.timing.step : 0;
  r['rollout/trajectories'] = n;
  r['rollout/total'] = extra.rolloutTotal;
  return r;
}

/** The val/ keys of an evaluation (and its tools-disabled twin). */
export function valRecord(e: EvalResult, noTools: EvalResult | null): MetricsRecord {
  const r: MetricsRecord = {
    'val/acc': e.acc,
    'val/tool_call_mean': e.tool_call_mean,
    'val/turns_mean': e.turns_mean,
    'val/tool_call_ratio': e.tool_call_ratio,
    'val/visual_tokens_mean': e.visual_tokens_mean,
    'val/acc_no_tools': noTools ? noTools.acc : NaN,
    'val/acc/with_tool': e.acc_with_tool,
    'val/acc/without_tool': e.acc_without_tool,
  };
  for (const [type, v] of Object.entries(e.per_type)) r[`val/acc/${type}`] = v.acc;
  return r;
}

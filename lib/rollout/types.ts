/**
 * Trajectories as the rollout engine returns them (docs/agent.md section 3) and
 * the options of a rollout. The trainer, the metrics and the report read these.
 */
import type { ExpertTurn, Task, TurnRecord } from '../worlds/world.js';

/** End reasons, numbered as semantics.md and EndReason of the scoring kernels. */
export type EndReasonName = 'DONE' | 'EXCEED_MAX_TURNS' | 'ERROR_IN_ACTION' | 'OVER_LENGTH' | 'EXCEED_MAX_IMAGES';

export interface Trajectory<T extends Task = Task> {
  task: T;
  /** Task index in the rollout's task list (the prompt id). */
  promptId: number;
  /** Group id (= promptId for one rollout call; the trainer may renumber across rounds). */
  group: number;
  /** Sample index within the group. */
  sample: number;
  /** The packed sequence: token ids, -1 at visual patches. */
  tokens: Int32Array;
  /**
   * patchDim floats per -1 position. Copied from the world's segments on first read (an own
   * accessor that then becomes a plain data property), so a trajectory that is dropped unread
   * never pays for the copy.
   */
  patches: Float32Array;
  /** 1 exactly on sampled tokens. */
  mask: Uint8Array;
  /** Log-probs under the policy at sampling time (0 off the mask). */
  logp: Float32Array;
  turns: number;
  /** Code blocks that executed without error. */
  toolCalls: number;
  /** Images returned by tools. */
  toolImages: number;
  /** Patches in the context (prompt and observations). */
  visualTokens: number;
  /** Numeric end reason (EndReason of the scoring kernels). */
  endReason: number;
  /** The decoded answer, or null when none was given. */
  answer: string | null;
  /** The world's verifier in [0, 1]. */
  acc: number;
  /** Filled by the trainer (accumulativeToolReward); 0 from rollout(). */
  reward: number;
  /** What happened in each turn (decoded code, tool results). */
  turnRecords: TurnRecord[];
  /** The world's own record (world.record), for the report. */
  record: Record<string, unknown>;
}

export type { ExpertTurn };

/**
 * The World contract: everything the rollout engine, the trainer and the
 * report need from a task source. The built-in worlds (visual search, video
 * QA, user datasets) implement it; a user's own world does too.
 *
 * One trajectory is one packed sequence (docs/agent.md):
 *   prompt       <bos> <q> question </q> <img> patch x Np </img>       (world.prompt)
 *   action       <code> program </code>                                 (sampled by the policy)
 *   observation  <obs> printed text <img> patch x Np </img> ... </obs>  (world.observe)
 *   final        <answer> answer </answer>                              (sampled)
 */
import type { RgbImage } from '../util/rgb.js';

export type Split = 'train' | 'val' | 'test';

/** A task: one question with its options and ground truth. Worlds extend it with their own fields. */
export interface Task {
  /** Unique within the world and split, stable for a given seed: it seeds the trajectory's randomness. */
  readonly id: string;
  /** The split the task was drawn from. */
  readonly split: Split;
  /** Question type (for metrics per type, e.g. 'color', 'shape', 'relation', 'count'). */
  readonly type: string;
  /** The question text as the policy reads it. */
  readonly question: string;
  /** Answer options (multiple choice); the answer is one of them. */
  readonly options: readonly string[];
  /** The correct answer, exactly one of `options`. */
  readonly answer: string;
}

/** A piece of a packed sequence: token ids, with -1 where a position is a visual patch. */
export interface Segment {
  /** Token ids in [0, vocabSize), or -1 for a visual patch. */
  tokens: Int32Array;
  /**
   * patchDim floats per -1 position, in position order. The engine keeps the array (not a copy)
   * until the trajectory's patches are first read: do not write into an array once returned.
   */
  patches: Float32Array;
}

/** What one execution of a tool call returned. */
export interface ToolResult {
  /** Printed text (stdout). */
  output: string;
  /** Images the code showed, in order. */
  images: RgbImage[];
  /** null when the code ran; else CPython's exception class name and a short message. */
  error: null | { type: string; message: string };
}

/** A tool session bound to one trajectory: state persists across its calls, never between trajectories. */
export interface ToolSession {
  run(code: string): Promise<ToolResult>;
  /** Frees whatever the session holds (idempotent). */
  dispose(): void;
}

/** The world's vocabulary. Ids are dense in [0, size). */
export interface Tokenizer {
  readonly size: number;
  /** Token id of a token string (special tokens like '<code>' included); throws E_ARG if unknown. */
  id(token: string): number;
  /** The token string of an id. */
  token(id: number): string;
  /** Text to ids; unknown words become '<unk>'. */
  encode(text: string): Int32Array;
  /** Ids to text (the inverse of encode up to white space); -1 (patch) positions are skipped. */
  decode(ids: ArrayLike<number>): string;
}

/** The special tokens of the protocol, by name (every world's tokenizer has them). */
export const SPECIAL_TOKENS = [
  '<pad>', '<bos>', '<unk>', '<q>', '</q>', '<img>', '</img>', '<code>', '</code>',
  '<obs>', '</obs>', '<answer>', '</answer>', '<video>', '</video>',
] as const;

/** Limits on one observation. */
export interface ObservationLimits {
  /** Printed-text tokens kept (the rest is cut). */
  maxObsTokens: number;
}

/** One turn of a scripted (expert) trajectory, in the protocol the policy speaks. */
export type ExpertTurn = { kind: 'code'; code: string } | { kind: 'answer'; answer: string };

/** The sizes a policy needs to act in a world. */
export interface WorldPolicyShape {
  vocabSize: number;
  patchDim: number;
  maxSeqLen: number;
}

export interface World<T extends Task = Task> {
  /** A short name for logs and the report. */
  readonly name: string;
  readonly tokenizer: Tokenizer;
  /** Floats per visual patch (patch * patch * 3). */
  readonly patchDim: number;
  /** n tasks of a split; deterministic for (split, n, seed). Splits are disjoint. */
  tasks(split: Split, n: number, seed?: number): T[];
  /** Correctness of an answer in [0, 1] (1 = correct). */
  verify(task: T, answer: string): number;
  /** The prompt segment: <bos> <q> question </q> and the first view. */
  prompt(task: T): Segment;
  /** A fresh tool session for one trajectory of this task (e.g. the sandbox with image_clue_0). */
  openTool(task: T): ToolSession;
  /**
   * The observation segment of a tool result: <obs> text, <img> patches </img> per image, </obs>.
   * The rollout engine observes results whose code ran; under errorFeedback it passes an errored
   * result with `error: null` and the error's `Type: message` line appended to `output`.
   */
  observe(result: ToolResult, limits: ObservationLimits): Segment;
  /** A scripted expert trajectory for SFT (seeded), ending with an answer turn. */
  expert(task: T, seed: number): ExpertTurn[];
  /** Sizes a policy needs (vocabulary, patch size, sequence length), overridable. */
  policyConfig(overrides?: Partial<WorldPolicyShape>): WorldPolicyShape;
  /** The world's own record of a finished trajectory, for the report (question type, target box, crops...). */
  record?(task: T, turns: readonly TurnRecord[]): Record<string, unknown>;
}

/** What happened in one turn of a trajectory (for records and the report). */
export interface TurnRecord {
  kind: 'code' | 'answer' | 'invalid';
  /** Decoded text of the sampled action (program source or answer). */
  text: string;
  /** The tool result for code turns. */
  result?: ToolResult;
}

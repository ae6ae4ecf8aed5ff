/**
 * The bookkeeping of one trajectory, shared by rollout() and replayExpert():
 * the packed sequence with its mask and log-probs, the counters of agent.md
 * section 3, and what each kind of turn does (section 1). Both callers feed it
 * the tokens of an action; it says whether the trajectory goes on, and with
 * which observation.
 */
import { EndReason } from '../kernels/scoring.js';
import { PyVisionError } from '../util/errors.js';
import { isTypedArray } from '../util/validate.js';
import type { Segment, Task, ToolResult, ToolSession, TurnRecord, World } from '../worlds/world.js';
import { parseTurn, type ProtocolIds } from './protocol.js';
import type { Trajectory } from './types.js';

/** The limits of one trajectory (validated by the caller). */
export interface TurnLimits {
  maxTurns: number;
  maxSeqLen: number;
  maxImages: number;
  maxObsTokens: number;
  errorFeedback: boolean;
}

/** What the engine does after an action. */
export type Next =
  /** The trajectory has ended (endReason is set). */
  | { kind: 'ended' }
  /** Run this program in the trajectory's tool, then observe. */
  | { kind: 'code'; code: string };

/** The text an observation shows for a tool error under errorFeedback: CPython's last traceback line. */
export function errorText(error: { type: string; message: string }): string {
  return error.message.length > 0 ? `${error.type}: ${error.message}` : error.type;
}

/** Zeroed arrays a builder starts in (views of a caller's larger buffers); grown into arrays of its own when full. */
export interface BuilderStorage {
  tokens: Int32Array;
  mask: Uint8Array;
  logp: Float32Array;
}

export class TrajectoryBuilder<T extends Task> {
  /** The sequence so far: tokens[0 .. length), grown as needed. */
  tokens: Int32Array;
  mask: Uint8Array;
  logp: Float32Array;
  length = 0;
  readonly #patches: Float32Array[] = [];
  turns = 0;
  toolCalls = 0;
  toolImages = 0;
  visualTokens = 0;
  /** `<img>` markers in the context (images the policy has seen). */
  images = 0;
  endReason = -1;
  answer: string | null = null;
  readonly turnRecords: TurnRecord[] = [];
  tool: ToolSession | undefined;

  constructor(
    readonly task: T,
    readonly promptId: number,
    readonly sample: number,
    readonly limits: TurnLimits,
    readonly ids: ProtocolIds,
    /** Where to start (all zero, equal lengths); default: arrays of 256 of its own. */
    storage?: BuilderStorage,
  ) {
    this.tokens = storage?.tokens ?? new Int32Array(256);
    this.mask = storage?.mask ?? new Uint8Array(256);
    this.logp = storage?.logp ?? new Float32Array(256);
  }

  #reserve(n: number): void {
    if (this.length + n <= this.tokens.length) return;
    let size = this.tokens.length;
    while (size < this.length + n) size *= 2;
    const grow = <A extends Int32Array | Uint8Array | Float32Array>(a: A, make: (n: number) => A): A => {
      const b = make(size);
      b.set(a.subarray(0, this.length) as never);
      return b;
    };
    this.tokens = grow(this.tokens, (k) => new Int32Array(k));
    this.mask = grow(this.mask, (k) => new Uint8Array(k));
    this.logp = grow(this.logp, (k) => new Float32Array(k));
  }

  get ended(): boolean {
    return this.endReason >= 0;
  }

  end(reason: EndReason): void {
    if (this.endReason < 0) this.endReason = reason;
  }

  /** Appends context the policy did not sample (prompt, observation): mask 0. The caller checked the room. */
  appendContext(segment: Segment): void {
    const { tokens } = segment;
    this.#reserve(tokens.length);
    this.tokens.set(tokens, this.length);
    this.length += tokens.length;
    let patches = 0;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t < 0) patches++;
      else if (t === this.ids.img) this.images++;
    }
    this.visualTokens += patches;
    if (segment.patches.length > 0) this.#patches.push(segment.patches);
  }

  /** Appends sampled tokens (mask 1) with their log-probs, as many as fit in maxSeqLen; returns how many did. */
  appendSampled(tokens: Int32Array, logp: Float32Array): number {
    const n = Math.max(0, Math.min(tokens.length, this.limits.maxSeqLen - this.length));
    this.#reserve(n);
    this.tokens.set(n === tokens.length ? tokens : tokens.subarray(0, n), this.length);
    this.logp.set(n === logp.length ? logp : logp.subarray(0, n), this.length);
    this.mask.fill(1, this.length, this.length + n);
    this.length += n;
    return n;
  }

  /**
   * Reads the action just appended (`turn`: its tokens that fit; `full`: the
   * sequence has no room for another position). An action cut by the end of
   * the sequence is OVER_LENGTH.
   */
  takeAction(world: World<T>, turn: Int32Array, full: boolean): Next {
    if (turn.length > 0) this.turns++;
    const last = turn.length > 0 ? turn[turn.length - 1] : -1;
    if (full && last !== this.ids.codeEnd && last !== this.ids.answerEnd) {
      if (turn.length > 0) this.turnRecords.push({ kind: 'invalid', text: world.tokenizer.decode(turn) });
      this.end(EndReason.OVER_LENGTH);
      return { kind: 'ended' };
    }
    const parsed = parseTurn(turn, this.ids, world.tokenizer);
    if (parsed.kind === 'invalid') {
      this.turnRecords.push({ kind: 'invalid', text: parsed.text });
      this.end(EndReason.ERROR_IN_ACTION);
      return { kind: 'ended' };
    }
    if (parsed.kind === 'answer') {
      this.turnRecords.push({ kind: 'answer', text: parsed.answer });
      this.answer = parsed.answer;
      this.end(EndReason.DONE);
      return { kind: 'ended' };
    }
    return { kind: 'code', code: parsed.code };
  }

  /** Runs a program in this trajectory's tool session (opened at its first call). */
  async run(world: World<T>, code: string): Promise<ToolResult> {
    if (this.tool === undefined) this.tool = world.openTool(this.task);
    return this.tool.run(code);
  }

  /**
   * Books a tool result and returns the observation to append, or null when the
   * trajectory has ended (error without feedback, last turn, too many images,
   * no room).
   */
  observe(world: World<T>, code: string, result: ToolResult): Segment | null {
    this.turnRecords.push({ kind: 'code', text: code, result });
    this.toolImages += result.images.length;
    if (result.error === null) this.toolCalls++;
    else if (!this.limits.errorFeedback) {
      this.end(EndReason.ERROR_IN_ACTION);
      return null;
    }
    if (this.turns >= this.limits.maxTurns) {
      this.end(EndReason.EXCEED_MAX_TURNS);
      return null;
    }
    const shown: ToolResult =
      result.error === null
        ? result
        : { ...result, output: result.output + (result.output.length > 0 && !result.output.endsWith('\n') ? '\n' : '') + errorText(result.error), error: null };
    const segment = world.observe(shown, { maxObsTokens: this.limits.maxObsTokens });
    let images = 0;
    for (let i = 0; i < segment.tokens.length; i++) if (segment.tokens[i] === this.ids.img) images++;
    if (this.images + images > this.limits.maxImages) {
      this.end(EndReason.EXCEED_MAX_IMAGES);
      return null;
    }
    if (this.length + segment.tokens.length > this.limits.maxSeqLen) {
      this.end(EndReason.OVER_LENGTH);
      return null;
    }
    return segment;
  }

  /** The sequence so far (copies): tokens and the patches of its -1 positions. */
  sequence(): { tokens: Int32Array; patches: Float32Array } {
    return { tokens: this.tokens.slice(0, this.length), patches: this.#patchesFlat() };
  }

  #patchesFlat(): Float32Array {
    return concatPatches(this.#patches);
  }

  /** Disposes the tool session (idempotent). */
  close(): void {
    this.tool?.dispose();
    this.tool = undefined;
  }

  build(world: World<T>): Trajectory<T> {
    if (this.endReason < 0) throw new PyVisionError('E_INTERNAL', 'a trajectory was built before it ended');
    const n = this.length;
    const segments = this.#patches;
    const acc = this.answer === null ? 0 : world.verify(this.task, this.answer);
    return {
      task: this.task,
      promptId: this.promptId,
      group: this.promptId,
      sample: this.sample,
      tokens: this.tokens.slice(0, n),
      // The flat patches are copied from the segments on first read (then an ordinary property):
      // a trajectory the trainer's filters drop never pays for its copy.
      get patches(): Float32Array {
        return settle(this, concatPatches(segments));
      },
      set patches(value: Float32Array) {
        settle(this, value);
      },
      mask: this.mask.slice(0, n),
      logp: this.logp.slice(0, n),
      turns: this.turns,
      toolCalls: this.toolCalls,
      toolImages: this.toolImages,
      visualTokens: this.visualTokens,
      endReason: this.endReason,
      answer: this.answer,
      acc,
      reward: 0,
      turnRecords: this.turnRecords,
      record: world.record?.(this.task, this.turnRecords) ?? {},
    };
  }
}

/** The segments' patches, one after the other, in a new array. */
function concatPatches(segments: readonly Float32Array[]): Float32Array {
  let total = 0;
  for (const p of segments) total += p.length;
  const patches = new Float32Array(total);
  let at = 0;
  for (const p of segments) {
    patches.set(p, at);
    at += p.length;
  }
  return patches;
}

/** Turns a trajectory's lazy `patches` into a plain data property holding `value` (its place among the keys kept). */
function settle(trajectory: object, value: Float32Array): Float32Array {
  Object.defineProperty(trajectory, 'patches', { value, writable: true, enumerable: true, configurable: true });
  return value;
}

/** Checks a world's segment (prompt or observation) before it enters a sequence. */
export function checkSegment(segment: Segment, patchDim: number, vocabSize: number, name: string): void {
  if (!isTypedArray(segment?.tokens, 'Int32Array')) throw new PyVisionError('E_DTYPE', `${name}.tokens must be an Int32Array`);
  if (!isTypedArray(segment.patches, 'Float32Array')) throw new PyVisionError('E_DTYPE', `${name}.patches must be a Float32Array`);
  let visual = 0;
  const { tokens } = segment;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === -1) visual++;
    else if (!(t >= 0 && t < vocabSize)) throw new PyVisionError('E_ARG', `${name}.tokens[${i}] must be a token id in [0, ${vocabSize}) or -1, got ${t}`);
  }
  if (segment.patches.length !== visual * patchDim) {
    throw new PyVisionError('E_SHAPE', `${name}.patches must hold patchDim (${patchDim}) floats per -1 position (${visual}), got ${segment.patches.length}`);
  }
}

/**
 * Generation sessions of a policy: multi-turn sampling over a KV cache
 * (policy.md). Started by Policy.startSession (policy.ts); arguments are
 * validated here with messages that name the argument.
 */
import { PyVisionError, describe, withCallSite } from '../util/errors.js';
import { native, type NativeSessionHandle } from '../native/addon.js';
import * as v from '../util/validate.js';
import { LIMITS } from '../util/limits.js';
import { seedOf, validateBatch, type SequenceBatch } from './config.js';
import type { Policy } from './policy.js';

export interface GenerateOptions {
  /** Tokens to sample per sequence at most in this call. */
  maxNewTokens: number;
  /** Softmax temperature; 0 is greedy. Default 1. */
  temperature?: number;
  /** Sample among the k most likely tokens only; 0 or absent: all. */
  topK?: number;
  /** A sequence stops (for this call) after sampling one of these. Default none. */
  stopTokens?: Int32Array | readonly number[];
  /** Seed of the sampling; the same seed reproduces the same tokens on a given backend. Default 0. */
  seed?: number;
  /**
   * One seed per sequence of the session (B, ended ones included), instead of `seed`: sequence b
   * then draws what sequence 0 of a call with `seed: seeds[b]` draws at the same positions, whatever
   * its index and the other sequences of the batch (a rollout's trajectory keeps its tokens when the
   * batch around it changes).
   */
  seeds?: readonly number[];
}

export interface GenerateResult {
  /** The sampled tokens of every sequence, concatenated. */
  tokens: Int32Array;
  /** log-prob of each sampled token under the policy (temperature 1, no top-k): what logprobs() gives. */
  logp: Float32Array;
  /** [B + 1]: sequence b's tokens are tokens[offsets[b] .. offsets[b+1]). */
  offsets: Int32Array;
  /** [B]: 0 ran to maxNewTokens, 1 sampled a stop token, 2 reached maxSeqLen (the sequence has ended). */
  stopped: Uint8Array;
}

export const STOPPED_MAX_NEW_TOKENS = 0;
export const STOPPED_STOP_TOKEN = 1;
export const STOPPED_MAX_SEQ_LEN = 2;

/**
 * Multi-turn generation over a KV cache: generate() samples, append() adds
 * tool observations (tokens and/or patches) after what was generated, and the
 * prefix is never recomputed. A sequence whose next position would pass
 * maxSeqLen ends (stopped = 2; append reports it) without failing the others.
 */
export class PolicySession {
  /** B, the number of sequences. */
  readonly sequences: number;
  #handle: NativeSessionHandle | undefined;
  readonly #policy: Policy;

  /** @internal */
  constructor(policy: Policy, handle: NativeSessionHandle, sequences: number) {
    this.#policy = policy;
    this.#handle = handle;
    this.sequences = sequences;
  }

  #live(): NativeSessionHandle {
    if (this.#handle === undefined) throw new PyVisionError('E_DISPOSED', 'the session was disposed');
    if (this.#policy.disposed) throw new PyVisionError('E_DISPOSED', 'the policy of this session was disposed');
    return this.#handle;
  }

  /** Samples up to maxNewTokens tokens for every live sequence. */
  generate(options: GenerateOptions): Promise<GenerateResult> {
    return withCallSite(async () => {
      const handle = this.#live();
      const o = v.object(options, 'options');
      const maxNewTokens = v.number(o.maxNewTokens, 'options.maxNewTokens', { integer: true, min: 0, max: LIMITS.int32 });
      const temperature = v.optionalNumber(o.temperature, 'options.temperature', 1, { min: 0 });
      const topK = v.optionalNumber(o.topK, 'options.topK', 0, { integer: true, min: 0, max: LIMITS.int32 });
      const seed = seedOf(o.seed, 'options.seed');
      let stops: Int32Array;
      if (o.stopTokens === undefined) stops = new Int32Array(0);
      else if (v.isTypedArray(o.stopTokens, 'Int32Array')) stops = o.stopTokens;
      else if (Array.isArray(o.stopTokens)) {
        const list = o.stopTokens as unknown[];
        list.forEach((t, i) => {
          if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= this.#policy.config.vocabSize) {
            throw new PyVisionError('E_ARG', `options.stopTokens[${i}] must be a token id in [0, ${this.#policy.config.vocabSize}), got ${describe(t)}`);
          }
        });
        stops = Int32Array.from(list as number[]);
      }
      else throw new PyVisionError('E_DTYPE', `options.stopTokens must be an Int32Array or an array of token ids, got ${describe(o.stopTokens)}`);
      const V = this.#policy.config.vocabSize;
      stops.forEach((t, i) => {
        if (!Number.isInteger(t) || t < 0 || t >= V) {
          throw new PyVisionError('E_ARG', `options.stopTokens[${i}] must be a token id in [0, ${V}), got ${t}`);
        }
      });
      let seeds: number[] | undefined;
      if (o.seeds !== undefined) {
        if (!Array.isArray(o.seeds)) throw new PyVisionError('E_DTYPE', `options.seeds must be an array of integers, got ${describe(o.seeds)}`);
        if (o.seeds.length !== this.sequences) {
          throw new PyVisionError('E_SHAPE', `options.seeds must hold one seed per sequence (${this.sequences}), got ${o.seeds.length}`);
        }
        seeds = (o.seeds as unknown[]).map((x, i) => seedOf(x, `options.seeds[${i}]`));
      }
      return native().policySessionGenerate({ session: handle, maxNewTokens, temperature, topK, stopTokens: stops, seed, seeds });
    });
  }

  /**
   * Appends observations: one entry per live sequence, in sequence order
   * (tokens and/or patches; an entry may be empty). Returns, per entry,
   * 1 when it did not fit in maxSeqLen (that sequence has then ended), else 0.
   */
  append(observations: SequenceBatch): Promise<{ overflowed: Uint8Array }> {
    return withCallSite(async () => {
      const handle = this.#live();
      const b = validateBatch(observations, 'observations', this.#policy.config);
      const overflowed = await native().policySessionAppend({ session: handle, observations: b });
      return { overflowed };
    });
  }

  /**
   * Ends sequences (indices in [0, B)): they sample nothing more and take no entry in later
   * `append` calls (`generate` reports them as stopped 2, `state()` as not live; their lengths
   * stay). Ending an ended sequence does nothing.
   */
  end(sequences: readonly number[] | Int32Array): Promise<void> {
    return withCallSite(async () => {
      const handle = this.#live();
      const list = v.isTypedArray(sequences, 'Int32Array') ? sequences : Array.isArray(sequences) ? sequences : undefined;
      if (list === undefined) throw new PyVisionError('E_DTYPE', `sequences must be an Int32Array or an array of sequence indices, got ${describe(sequences)}`);
      const out = new Int32Array(list.length);
      for (let i = 0; i < list.length; i++) {
        const b = list[i];
        if (!Number.isInteger(b) || b < 0 || b >= this.sequences) {
          throw new PyVisionError('E_ARG', `sequences[${i}] must be a sequence index in [0, ${this.sequences}), got ${describe(b)}`);
        }
        out[i] = b;
      }
      await native().policySessionEnd({ session: handle, sequences: out });
    });
  }

  /**
   * Per sequence: whether it is live (can still grow) and its length in
   * positions; and how many positions this session has run through the
   * network in all (each once: the prefix is never recomputed).
   */
  state(): Promise<{ live: Uint8Array; lengths: Int32Array; forwarded: number }> {
    return withCallSite(async () => native().policySessionState({ session: this.#live() }));
  }

  /** Frees the KV cache (once calls in flight finish). Idempotent; later calls throw E_DISPOSED. */
  dispose(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    this.#handle = undefined;
    void native().policySessionDispose({ session: handle })?.catch(() => undefined);
  }
}

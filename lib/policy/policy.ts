/**
 * The policy engine: the decoder-only transformer of policy.md over packed
 * ragged batches of text tokens and visual patches, trained end to end from
 * TypeScript. Everything that touches tensors runs natively off the
 * JavaScript thread and returns a Promise; arguments are validated here with
 * messages that name the argument, the expected and the actual value. The
 * config and batches are config.ts, generation sessions session.ts, the
 * checkpoint files checkpoint.ts.
 *
 * Inputs must not be mutated until the Promise of the call that received them
 * settles. Calls on one policy (and its sessions) are serialised natively.
 */
import type { Backend } from '../native/backend.js';
import { resolveBackend } from '../native/backend.js';
import { PyVisionError, describe, withCallSite } from '../util/errors.js';
import {
  native,
  type NativeAdamW,
  type NativeBackend,
  type NativePolicyHandle,
  type NativePolicyTrainingLoss,
  type NativePolicyTensor,
} from '../native/addon.js';
import { resolveLossOptions, type PolicyLossOptions } from '../kernels/scoring.js';
import * as v from '../util/validate.js';
import { LIMITS } from '../util/limits.js';
import { flattenTensors, seedOf, tensorTable, validateBatch, validateConfig, viewsByName, type PolicyConfig, type SequenceBatch } from './config.js';
import { readCheckpointWeights, readOptimizerState, writeCheckpoint } from './checkpoint.js';
import { PolicySession } from './session.js';

export type { PolicyConfig, SequenceBatch } from './config.js';

export interface PolicyRuntimeOptions {
  /** Where to run: 'auto' (default: PYVISION_RL_BACKEND, else CUDA when available), 'cpu' or 'cuda'. */
  backend?: Backend;
  /** CPU worker threads of this policy (0 or absent: the library default, see setCpuThreads). */
  threads?: number;
}

export interface PolicyCreateConfig extends PolicyConfig, PolicyRuntimeOptions {
  /** Seed of the GPT-2 initialisation (same weights on every backend). Default 0. */
  seed?: number;
}

export interface PolicyLoadOptions extends PolicyRuntimeOptions {
  /** Restore the optimizer and training state saved beside the weights (default true when present). */
  optimizer?: boolean;
}

/** The clipped policy-gradient loss (semantics.md sections 4-5). */
export interface PolicyGradientLoss extends Omit<PolicyLossOptions, 'backend'> {
  kind: 'pg';
  /** 1 at positions in the loss (generated tokens); 0 at sequence starts and visual positions. */
  mask: Uint8Array | Float32Array;
  /** log-probs of the behaviour policy, per position. */
  oldLogp: Float32Array;
  /** per position, or per sequence. */
  advantages: Float32Array;
  /** reference-policy log-probs for the KL term (klCoef > 0). */
  refLogp?: Float32Array;
}

/** Supervised fine-tuning: mean over masked positions of -logp. */
export interface SftLoss {
  kind: 'sft';
  mask: Uint8Array | Float32Array;
}

export type PolicyTrainingLoss = PolicyGradientLoss | SftLoss;

/** AdamW (torch semantics) with decoupled weight decay on matrices, and global-norm clipping. */
export interface AdamWOptions {
  /** Learning rate. */
  lr: number;
  /** Moment decay rates. Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Denominator epsilon. Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay of the 2-D tensors (embeddings, linear weights, lm_head). Default 0.01. */
  weightDecay?: number;
  /** Clip the global L2 norm of the gradient to this value; 0 disables. Default 1.0. */
  gradClip?: number;
}

export interface TrainStepResult {
  /** The loss before the update. */
  loss: number;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** pg: share of masked positions where the clipped branch was taken (0 for sft). */
  clipFrac: number;
  /** pg: masked mean of oldLogp - logp (0 for sft). */
  approxKl: number;
  /** Masked mean of the policy's entropy. */
  entropy: number;
}

function validateThreads(value: unknown, name: string): number {
  return v.optionalNumber(value, name, 0, { integer: true, min: 0, max: LIMITS.cpuThreads });
}

function validateLoss(value: unknown, batch: SequenceBatch): NativePolicyTrainingLoss {
  const l = v.object(value, 'loss');
  if (l.kind !== 'pg' && l.kind !== 'sft') {
    throw new PyVisionError('E_ARG', `loss.kind must be one of 'pg', 'sft'; got ${describe(l.kind)}`);
  }
  const kind = l.kind;
  const N = batch.tokens.length;
  const B = batch.seqOffsets.length - 1;
  const mask = v.typedArrayOf(l.mask, ['Uint8Array', 'Float32Array'] as const, 'loss.mask', N);
  if (kind === 'sft') return { kind: 'sft', mask };
  const oldLogp = v.typedArray(l.oldLogp, 'Float32Array', 'loss.oldLogp', N);
  const advantages = v.typedArray(l.advantages, 'Float32Array', 'loss.advantages');
  if (advantages.length !== N && advantages.length !== B) {
    throw new PyVisionError(
      'E_SHAPE',
      `loss.advantages must have one value per position (${N}) or per sequence (${B}), got ${advantages.length}`,
    );
  }
  const refLogp = v.optionalTypedArray(l.refLogp, 'Float32Array', 'loss.refLogp', N);
  const r = resolveLossOptions(l, 'loss');
  if (r.klCoef > 0 && refLogp === undefined) throw new PyVisionError('E_ARG', 'loss.klCoef > 0 needs loss.refLogp');
  return { kind: 'pg', mask, oldLogp, advantages, refLogp, ...r };
}

function validateOptim(value: unknown): NativeAdamW {
  const o = v.object(value, 'optim');
  const lr = v.number(o.lr, 'optim.lr', { min: 0 });
  let beta1 = 0.9;
  let beta2 = 0.999;
  if (o.betas !== undefined) {
    if (!Array.isArray(o.betas) || o.betas.length !== 2) {
      throw new PyVisionError('E_ARG', `optim.betas must be an array of two numbers, got ${describe(o.betas)}`);
    }
    beta1 = v.number(o.betas[0], 'optim.betas[0]', { min: 0, below: 1 });
    beta2 = v.number(o.betas[1], 'optim.betas[1]', { min: 0, below: 1 });
  }
  return {
    lr,
    beta1,
    beta2,
    eps: v.optionalNumber(o.eps, 'optim.eps', 1e-8, { above: 0 }),
    weightDecay: v.optionalNumber(o.weightDecay, 'optim.weightDecay', 0.01, { min: 0 }),
    gradClip: v.optionalNumber(o.gradClip, 'optim.gradClip', 1.0, { min: 0 }),
  };
}

export class Policy {
  /** The network's shape. */
  readonly config: Readonly<PolicyConfig>;
  /** Number of float32 parameters. */
  readonly parameterCount: number;
  /** The backend this policy runs on. */
  readonly backend: 'cpu' | 'cuda';
  #handle: NativePolicyHandle | undefined;
  readonly #table: NativePolicyTensor[];

  private constructor(handle: NativePolicyHandle, config: PolicyConfig, table: NativePolicyTensor[], backend: NativeBackend) {
    this.#handle = handle;
    this.config = Object.freeze({ ...config });
    this.#table = table;
    this.parameterCount = table.reduce((s, t) => s + t.size, 0);
    this.backend = backend;
  }

  /** A new policy with the GPT-2 initialisation of policy.md, from `config.seed`. */
  static create(config: PolicyCreateConfig): Promise<Policy> {
    return withCallSite(async () => {
      const c = validateConfig(config, 'config');
      const o = config as unknown as Record<string, unknown>;
      const seed = seedOf(o.seed, 'config.seed');
      const threads = validateThreads(o.threads, 'config.threads');
      const backend = resolveBackend(o.backend);
      const table = tensorTable(c);
      const handle = await native().policyCreate({ backend, config: c, threads, seed, parameters: undefined });
      return new Policy(handle, c, table, backend);
    });
  }

  /**
   * A policy with the given weights (every tensor of policy.md by its
   * checkpoint name, exact length, row-major) and a fresh optimizer state.
   */
  static fromTensors(
    config: PolicyConfig,
    tensors: Map<string, Float32Array> | Record<string, Float32Array>,
    opts: PolicyRuntimeOptions = {},
  ): Promise<Policy> {
    return withCallSite(async () => {
      const c = validateConfig(config, 'config');
      const o = v.optionalObject(opts, 'opts');
      if (tensors === null || typeof tensors !== 'object') {
        throw new PyVisionError('E_ARG', `tensors must be a Map or an object of Float32Arrays, got ${describe(tensors)}`);
      }
      const table = tensorTable(c);
      const flat = flattenTensors(table, tensors, 'tensors', 'E_ARG');
      return Policy.#open(c, table, flat, o);
    });
  }

  /**
   * Loads a checkpoint written by save() (or any safetensors file of the
   * tensors of policy.md whose metadata holds the config), with the optimizer
   * and training state saved beside it when present.
   */
  static load(path: string, opts: PolicyLoadOptions = {}): Promise<Policy> {
    return withCallSite(async () => {
      if (typeof path !== 'string' || path === '') throw new PyVisionError('E_ARG', `path must be a non-empty string, got ${describe(path)}`);
      const o = v.optionalObject(opts, 'opts');
      const withOptimizer = v.boolean(o.optimizer, 'opts.optimizer', true);
      const weights = await readCheckpointWeights(path, withOptimizer);
      const policy = await Policy.#open(weights.config, weights.table, weights.flat, o);
      if (weights.optimizerPath !== undefined) {
        try {
          const state = await readOptimizerState(weights.optimizerPath, weights.saveId, path, weights.table);
          await native().policySetOptimizerState({ policy: policy.#live(), ...state });
        } catch (error) {
          policy.dispose();
          throw error;
        }
      }
      return policy;
    });
  }

  static async #open(config: PolicyConfig, table: NativePolicyTensor[], flat: Float32Array, o: Record<string, unknown>): Promise<Policy> {
    const threads = validateThreads(o.threads, 'opts.threads');
    const backend = resolveBackend(o.backend);
    const handle = await native().policyCreate({ backend, config, threads, seed: 0, parameters: flat });
    return new Policy(handle, config, table, backend);
  }

  #live(): NativePolicyHandle {
    if (this.#handle === undefined) throw new PyVisionError('E_DISPOSED', 'the policy was disposed');
    return this.#handle;
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.#handle === undefined;
  }

  /** Frees the native memory (once the calls in flight finish). Idempotent; every later call throws E_DISPOSED. */
  dispose(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    this.#handle = undefined;
    void native().policyDispose({ policy: handle })?.catch(() => undefined);
  }

  /** Copies of the weights, keyed by checkpoint name (views into one buffer). */
  tensors(): Promise<Map<string, Float32Array>> {
    return withCallSite(async () => viewsByName(this.#table, await native().policyParameters({ policy: this.#live() })));
  }

  /** Replaces the weights (every tensor, exact lengths) and resets the optimizer state. */
  setTensors(tensors: Map<string, Float32Array> | Record<string, Float32Array>): Promise<void> {
    return withCallSite(async () => {
      const handle = this.#live();
      if (tensors === null || typeof tensors !== 'object') {
        throw new PyVisionError('E_ARG', `tensors must be a Map or an object of Float32Arrays, got ${describe(tensors)}`);
      }
      await native().policySetParameters({ policy: handle, parameters: flattenTensors(this.#table, tensors, 'tensors', 'E_ARG') });
    });
  }

  /**
   * Writes the weights to `path` (safetensors, policy.md) and the optimizer and
   * training state to a sibling file `<path>.optim-<saveId>` that the weights'
   * metadata names (checkpoint.ts). Atomic: each file is written to a
   * temporary name, fsynced and renamed; the optimizer file first, then the
   * weights, which commit the save. A crash at any point leaves the previous
   * checkpoint loadable.
   */
  save(path: string): Promise<void> {
    return withCallSite(async () => {
      if (typeof path !== 'string' || path === '') throw new PyVisionError('E_ARG', `path must be a non-empty string, got ${describe(path)}`);
      const handle = this.#live();
      const params = await native().policyParameters({ policy: handle });
      const state = await native().policyOptimizerState({ policy: handle });
      await writeCheckpoint(path, this.config, this.#table, params, state);
    });
  }

  /** logp and entropy per position (semantics.md section 6); 0 at sequence starts and visual positions. */
  logprobs(batch: SequenceBatch): Promise<{ logp: Float32Array; entropy: Float32Array }> {
    return withCallSite(async () => {
      const handle = this.#live();
      const b = validateBatch(batch, 'batch', this.config);
      return native().policyLogprobs({ policy: handle, batch: b });
    });
  }

  /** d loss / d parameter for every checkpoint tensor (views into one buffer). */
  gradients(batch: SequenceBatch, loss: PolicyTrainingLoss): Promise<Map<string, Float32Array>> {
    return withCallSite(async () => {
      const handle = this.#live();
      const b = validateBatch(batch, 'batch', this.config);
      const l = validateLoss(loss, b);
      const r = await native().policyGradients({ policy: handle, batch: b, loss: l });
      return viewsByName(this.#table, r.grads);
    });
  }

  /** One AdamW step on the loss of `batch`; returns the loss and metrics before the update. */
  trainStep(batch: SequenceBatch, loss: PolicyTrainingLoss, optim: AdamWOptions): Promise<TrainStepResult> {
    return withCallSite(async () => {
      const handle = this.#live();
      const b = validateBatch(batch, 'batch', this.config);
      const l = validateLoss(loss, b);
      const o = validateOptim(optim);
      const r = await native().policyTrainStep({ policy: handle, batch: b, loss: l, optim: o });
      return { loss: r.loss, gradNorm: r.gradNorm, clipFrac: r.clipFrac, approxKl: r.approxKl, entropy: r.entropy };
    });
  }

  /** Starts a generation session on B prompts (each at least one position); the prompts fill its KV cache. */
  startSession(prompts: SequenceBatch): Promise<PolicySession> {
    return withCallSite(async () => {
      const handle = this.#live();
      const b = validateBatch(prompts, 'prompts', this.config);
      const session = await native().policySessionStart({ policy: handle, prompts: b });
      return new PolicySession(this, session, b.seqOffsets.length - 1);
    });
  }
}

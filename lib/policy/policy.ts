/**
 * The policy engine: the decoder-only transformer of policy.md over packed
 * ragged batches of text tokens and visual patches, trained end to end from
 * TypeScript. Everything that touches tensors runs natively off the
 * JavaScript thread and returns a Promise; arguments are validated here with
 * messages that name the argument, the expected and the actual value.
 *
 * Inputs must not be mutated until the Promise of the call that received them
 * settles. Calls on one policy (and its sessions) are serialised natively.
 */
import { randomBytes } from 'node:crypto';
import { readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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
  type NativeSessionHandle,
} from '../native/addon.js';
import { encodeSafetensors, readSafetensors, readSafetensorsMetadata, writeFileAtomic } from './safetensors.js';
import { resolveLossOptions, type PolicyLossOptions } from '../kernels/scoring.js';
import * as v from '../util/validate.js';
import { LIMITS } from '../util/limits.js';

/** The network's shape (policy.md). */
export interface PolicyConfig {
  /** V: token ids are 0 .. vocabSize - 1. */
  vocabSize: number;
  /** P: floats per visual patch. */
  patchDim: number;
  /** T: the longest sequence (positions, tokens and patches together). */
  maxSeqLen: number;
  /** L: transformer blocks. */
  layers: number;
  /** H: attention heads (dim % heads == 0). */
  heads: number;
  /** C: channels. */
  dim: number;
}

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

/**
 * B packed ragged sequences. Position t holds the token `tokens[t]`, or a
 * visual patch when `tokens[t] === -1`; the patches are `patchDim` floats per
 * -1 position, in position order. Sequence b is `[seqOffsets[b], seqOffsets[b+1])`.
 */
export interface SequenceBatch {
  tokens: Int32Array;
  patches: Float32Array;
  seqOffsets: Int32Array;
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

type TypedName = v.TypedArrayKind;
type TypedOf<N extends TypedName> = v.TypedArrayOf<N>;

/** The realm-safe typed-array check of lib/util/validate.ts. */
function isTyped<N extends TypedName>(value: unknown, kind: N): value is TypedOf<N> {
  return v.isTypedArray(value, kind);
}

function typed<N extends TypedName>(value: unknown, kind: N, name: string, length?: number): TypedOf<N> {
  return v.typedArray(value, kind, name, length);
}

function optionalTyped<N extends TypedName>(value: unknown, kind: N, name: string, length?: number): TypedOf<N> | undefined {
  return value === undefined ? undefined : typed(value, kind, name, length);
}

function offsets(value: unknown, name: string, total: number, totalName: string): Int32Array {
  const o = typed(value, 'Int32Array', name);
  if (o.length < 1) throw new PyVisionError('E_SHAPE', `${name} must have length B + 1 >= 1, got 0`);
  if (o[0] !== 0) throw new PyVisionError('E_SHAPE', `${name}[0] must be 0, got ${o[0]}`);
  if (o[o.length - 1] !== total) {
    throw new PyVisionError('E_SHAPE', `${name}[${o.length - 1}] must equal ${totalName} (${total}), got ${o[o.length - 1]}`);
  }
  return o;
}

const CHECKPOINT_FORMAT = 'pyvision-rl-policy';
const OPTIMIZER_FORMAT = 'pyvision-rl-optimizer';

function validateConfig(value: unknown, name: string): PolicyConfig {
  const c = v.object(value, name);
  const int = (field: keyof PolicyConfig) =>
    v.number(c[field], `${name}.${field}`, { integer: true, min: 1, max: LIMITS.policy[field] });
  const config: PolicyConfig = {
    vocabSize: int('vocabSize'),
    patchDim: int('patchDim'),
    maxSeqLen: int('maxSeqLen'),
    layers: int('layers'),
    heads: int('heads'),
    dim: int('dim'),
  };
  if (config.dim % config.heads !== 0) {
    throw new PyVisionError('E_ARG', `${name}.dim must be a multiple of ${name}.heads (${config.heads}), got ${config.dim}`);
  }
  return config;
}

function validateThreads(value: unknown, name: string): number {
  return v.optionalNumber(value, name, 0, { integer: true, min: 0, max: LIMITS.cpuThreads });
}

function validateBatch(value: unknown, name: string, config: PolicyConfig): SequenceBatch {
  const b = v.object(value, name);
  const tokens = typed(b.tokens, 'Int32Array', `${name}.tokens`);
  const patches = typed(b.patches, 'Float32Array', `${name}.patches`);
  const seqOffsets = offsets(b.seqOffsets, `${name}.seqOffsets`, tokens.length, `${name}.tokens.length`);
  if (patches.length % config.patchDim !== 0) {
    throw new PyVisionError(
      'E_SHAPE',
      `${name}.patches must hold patchDim (${config.patchDim}) floats per visual position, got length ${patches.length}`,
    );
  }
  return { tokens, patches, seqOffsets };
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
  const oldLogp = typed(l.oldLogp, 'Float32Array', 'loss.oldLogp', N);
  const advantages = typed(l.advantages, 'Float32Array', 'loss.advantages');
  if (advantages.length !== N && advantages.length !== B) {
    throw new PyVisionError(
      'E_SHAPE',
      `loss.advantages must have one value per position (${N}) or per sequence (${B}), got ${advantages.length}`,
    );
  }
  const refLogp = optionalTyped(l.refLogp, 'Float32Array', 'loss.refLogp', N);
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

function seedOf(value: unknown, name: string): number {
  return v.optionalNumber(value, name, 0, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
}

function tensorTable(config: PolicyConfig): NativePolicyTensor[] {
  return native().policyTensorTable(config);
}

/** Flat parameter vector (table order) from named tensors; every tensor of policy.md, exact lengths. */
function flattenTensors(
  table: NativePolicyTensor[],
  tensors: Map<string, Float32Array> | Record<string, Float32Array>,
  source: string,
  code: 'E_ARG' | 'E_IO',
): Float32Array {
  const get = (name: string) => (tensors instanceof Map ? tensors.get(name) : Object.prototype.hasOwnProperty.call(tensors, name) ? tensors[name] : undefined);
  const names = tensors instanceof Map ? [...tensors.keys()] : Object.keys(tensors);
  const known = new Set(table.map((t) => t.name));
  for (const name of names) {
    if (!known.has(name)) throw new PyVisionError(code, `${source} has a tensor '${name}' that is not part of the policy (policy.md)`);
  }
  const checked = table.map((t) => {
    const data = get(t.name);
    if (data === undefined) throw new PyVisionError(code, `${source} lacks the tensor '${t.name}' [${t.shape.join(', ')}]`);
    if (!isTyped(data, 'Float32Array')) {
      throw new PyVisionError('E_DTYPE', `${source}: tensor '${t.name}' must be a Float32Array, got ${describe(data)}`);
    }
    if (data.length !== t.size) {
      throw new PyVisionError(
        code === 'E_IO' ? 'E_IO' : 'E_SHAPE',
        `${source}: tensor '${t.name}' must have ${t.size} values (shape [${t.shape.join(', ')}]), got ${data.length}`,
      );
    }
    return data;
  });
  // Every tensor is present with its exact length, so the flat vector is no
  // larger than what the caller already holds.
  const total = table.reduce((s, t) => s + t.size, 0);
  let flat: Float32Array;
  try {
    flat = new Float32Array(total);
  } catch {
    throw new PyVisionError('E_OOM', `${source}: ${total} parameters could not be allocated`);
  }
  table.forEach((t, k) => flat.set(checked[k], t.offset));
  return flat;
}

function isPlainFileName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\\') && !name.includes('\0');
}

function viewsByName(table: NativePolicyTensor[], flat: Float32Array, prefix = ''): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const t of table) out.set(prefix + t.name, flat.subarray(t.offset, t.offset + t.size));
  return out;
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
      const file = await readSafetensors(path);
      const meta = file.metadata;
      if (meta.format !== undefined && meta.format !== CHECKPOINT_FORMAT) {
        throw new PyVisionError('E_IO', `${path}: __metadata__.format is '${meta.format}', expected '${CHECKPOINT_FORMAT}'`);
      }
      if (meta.config === undefined) throw new PyVisionError('E_IO', `${path}: __metadata__.config (the policy config JSON) is missing`);
      let rawConfig: unknown;
      try {
        rawConfig = JSON.parse(meta.config);
      } catch {
        throw new PyVisionError('E_IO', `${path}: __metadata__.config is not JSON: ${JSON.stringify(meta.config.slice(0, 80))}`);
      }
      let config: PolicyConfig;
      try {
        config = validateConfig(rawConfig, `${path} config`);
      } catch (error) {
        throw new PyVisionError('E_IO', (error as Error).message);
      }
      const table = tensorTable(config);
      const named = new Map<string, Float32Array>();
      for (const [name, t] of file.tensors) {
        const expected = table.find((e) => e.name === name);
        if (expected && (t.shape.length !== expected.shape.length || t.shape.some((d, i) => d !== expected.shape[i]))) {
          throw new PyVisionError('E_IO', `${path}: tensor '${name}' has shape [${t.shape}], expected [${expected.shape}]`);
        }
        named.set(name, t.data);
      }
      const flat = flattenTensors(table, named, path, 'E_IO');
      // Only a plain file name beside the weights may be followed: the
      // metadata is part of the (untrusted) file.
      const optimizerName = meta.optimizer;
      if (withOptimizer && optimizerName !== undefined && !isPlainFileName(optimizerName)) {
        throw new PyVisionError('E_IO', `${path}: __metadata__.optimizer must be a file name in the same folder, got ${JSON.stringify(optimizerName.slice(0, 80))}`);
      }
      const policy = await Policy.#open(config, table, flat, o);
      if (withOptimizer && meta.optimizer !== undefined) {
        try {
          await policy.#loadOptimizer(join(dirname(path), meta.optimizer), meta.saveId, path);
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

  async #loadOptimizer(statePath: string, saveId: string | undefined, weightsPath: string): Promise<void> {
    const file = await readSafetensors(statePath);
    const meta = file.metadata;
    if (meta.format !== OPTIMIZER_FORMAT) {
      throw new PyVisionError('E_IO', `${statePath}: __metadata__.format is '${meta.format}', expected '${OPTIMIZER_FORMAT}'`);
    }
    if (saveId === undefined || meta.saveId !== saveId) {
      throw new PyVisionError('E_IO', `${statePath} belongs to another save than ${weightsPath} (saveId ${meta.saveId} vs ${saveId})`);
    }
    const step = typeof meta.step === 'string' && /^(0|[1-9][0-9]*)$/.test(meta.step) ? Number(meta.step) : NaN;
    if (!Number.isSafeInteger(step) || step < 0) throw new PyVisionError('E_IO', `${statePath}: __metadata__.step is not a count: ${meta.step}`);
    const pick = (prefix: string) => {
      const named = new Map<string, Float32Array>();
      for (const [name, t] of file.tensors) if (name.startsWith(prefix)) named.set(name.slice(prefix.length), t.data);
      return flattenTensors(this.#table, named, `${statePath} (${prefix}*)`, 'E_IO');
    };
    const extra = [...file.tensors.keys()].find((n) => !n.startsWith('exp_avg.') && !n.startsWith('exp_avg_sq.'));
    if (extra !== undefined) throw new PyVisionError('E_IO', `${statePath} has an unexpected tensor '${extra}'`);
    await native().policySetOptimizerState({ policy: this.#live(), m: pick('exp_avg.'), v: pick('exp_avg_sq.'), step });
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
   * metadata names. Atomic: each file is written to a temporary name, fsynced
   * and renamed; the optimizer file first, then the weights, which commit the
   * save. A crash at any point leaves the previous checkpoint loadable.
   */
  save(path: string): Promise<void> {
    return withCallSite(async () => {
      if (typeof path !== 'string' || path === '') throw new PyVisionError('E_ARG', `path must be a non-empty string, got ${describe(path)}`);
      const handle = this.#live();
      const params = await native().policyParameters({ policy: handle });
      const state = await native().policyOptimizerState({ policy: handle });
      const previous = await readSafetensorsMetadata(path).then(
        (meta) => meta.optimizer,
        () => undefined,
      );
      const saveId = randomBytes(8).toString('hex');
      const stateName = `${basename(path)}.optim-${saveId}`;
      const statePath = join(dirname(path), stateName);
      const entries = (prefix: string, flat: Float32Array) =>
        this.#table.map((t) => ({ name: prefix + t.name, shape: t.shape, data: flat.subarray(t.offset, t.offset + t.size) }));
      await writeFileAtomic(
        statePath,
        encodeSafetensors([...entries('exp_avg.', state.m), ...entries('exp_avg_sq.', state.v)], {
          format: OPTIMIZER_FORMAT,
          version: '1',
          step: String(state.step),
          saveId,
          optimizer: 'AdamW',
        }),
      );
      await writeFileAtomic(
        path,
        encodeSafetensors(entries('', params), {
          format: CHECKPOINT_FORMAT,
          version: '1',
          config: JSON.stringify(this.config),
          optimizer: stateName,
          saveId,
        }),
      );
      // Older saves' optimizer files are no longer referenced. The previous
      // save's is kept one generation, so that a reader that opened the
      // previous weights just before the rename still finds its state.
      const prefix = `${basename(path)}.optim-`;
      const names = await readdir(dirname(path)).catch(() => [] as string[]);
      for (const name of names) {
        const ours = name.startsWith(prefix) && /^[0-9a-f]{16}$/.test(name.slice(prefix.length));
        if (ours && name !== stateName && name !== previous) {
          await unlink(join(dirname(path), name)).catch(() => undefined);
        }
      }
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
      const maxNewTokens = v.number(o.maxNewTokens, 'options.maxNewTokens', { integer: true, min: 0, max: 2 ** 31 - 1 });
      const temperature = v.optionalNumber(o.temperature, 'options.temperature', 1, { min: 0 });
      const topK = v.optionalNumber(o.topK, 'options.topK', 0, { integer: true, min: 0, max: 2 ** 31 - 1 });
      const seed = seedOf(o.seed, 'options.seed');
      let stops: Int32Array;
      if (o.stopTokens === undefined) stops = new Int32Array(0);
      else if (isTyped(o.stopTokens, 'Int32Array')) stops = o.stopTokens;
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
      const list = isTyped(sequences, 'Int32Array') ? sequences : Array.isArray(sequences) ? sequences : undefined;
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

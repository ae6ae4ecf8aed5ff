/**
 * The policy's shape and what is checked against it: the config (policy.md),
 * the packed batches of sequences, the tensor table (checkpoint order) and
 * the conversions between named tensors and the flat parameter vector. Used
 * by the policy (policy.ts), its sessions (session.ts) and the checkpoint
 * files (checkpoint.ts).
 */
import { PyVisionError, describe } from '../util/errors.js';
import { native, type NativePolicyConfig, type NativePolicyTensor } from '../native/addon.js';
import * as v from '../util/validate.js';
import { LIMITS } from '../util/limits.js';

/** The network's shape (policy.md): the fields as the addon takes them. */
export type PolicyConfig = NativePolicyConfig;

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

export function validateConfig(value: unknown, name: string): PolicyConfig {
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

export function validateBatch(value: unknown, name: string, config: PolicyConfig): SequenceBatch {
  const b = v.object(value, name);
  const tokens = v.typedArray(b.tokens, 'Int32Array', `${name}.tokens`);
  const patches = v.typedArray(b.patches, 'Float32Array', `${name}.patches`);
  const seqOffsets = v.offsetsArray(b.seqOffsets, `${name}.seqOffsets`, tokens.length, `${name}.tokens.length`);
  if (patches.length % config.patchDim !== 0) {
    throw new PyVisionError(
      'E_SHAPE',
      `${name}.patches must hold patchDim (${config.patchDim}) floats per visual position, got length ${patches.length}`,
    );
  }
  return { tokens, patches, seqOffsets };
}

/** A seed: an integer in [0, 2^53 - 1], 0 when absent. */
export function seedOf(value: unknown, name: string): number {
  return v.optionalNumber(value, name, 0, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
}

export function tensorTable(config: PolicyConfig): NativePolicyTensor[] {
  return native().policyTensorTable(config);
}

/** Flat parameter vector (table order) from named tensors; every tensor of policy.md, exact lengths. */
export function flattenTensors(
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
    if (!v.isTypedArray(data, 'Float32Array')) {
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

/** Named views (checkpoint names, with `prefix` in front) into a flat vector of the table's tensors. */
export function viewsByName(table: NativePolicyTensor[], flat: Float32Array, prefix = ''): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const t of table) out.set(prefix + t.name, flat.subarray(t.offset, t.offset + t.size));
  return out;
}

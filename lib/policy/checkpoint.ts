/**
 * The checkpoint files of a policy (policy.md): the weights in a safetensors
 * file whose metadata holds the config, and the optimizer and training state
 * in a sibling file `<weights>.optim-<saveId>` that the weights' metadata
 * names. Policy.save and Policy.load (policy.ts) read and write them here.
 */
import { randomBytes } from 'node:crypto';
import { readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { PyVisionError } from '../util/errors.js';
import type { NativePolicyTensor } from '../native/addon.js';
import { encodeSafetensors, readSafetensors, readSafetensorsMetadata, writeFileAtomic } from './safetensors.js';
import { flattenTensors, tensorTable, validateConfig, type PolicyConfig } from './config.js';

const CHECKPOINT_FORMAT = 'pyvision-rl-policy';
const OPTIMIZER_FORMAT = 'pyvision-rl-optimizer';

/** AdamW's moments (flat, table order) and its step count. */
export interface OptimizerState {
  m: Float32Array;
  v: Float32Array;
  step: number;
}

/** The weights of a checkpoint, checked against its config, and where its optimizer state is. */
export interface CheckpointWeights {
  config: PolicyConfig;
  table: NativePolicyTensor[];
  /** the flat parameter vector, table order */
  flat: Float32Array;
  /** the optimizer file the weights name (a plain file name beside them), when asked for and present */
  optimizerPath: string | undefined;
  saveId: string | undefined;
}

function isPlainFileName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\\') && !name.includes('\0');
}

/**
 * Writes the weights to `path` and the optimizer state to a sibling file
 * that the weights' metadata names. Atomic: each file is written to a
 * temporary name, fsynced and renamed; the optimizer file first, then the
 * weights, which commit the save. A crash at any point leaves the previous
 * checkpoint loadable.
 */
export async function writeCheckpoint(
  path: string,
  config: Readonly<PolicyConfig>,
  table: NativePolicyTensor[],
  params: Float32Array,
  state: OptimizerState,
): Promise<void> {
  const previous = await readSafetensorsMetadata(path).then(
    (meta) => meta.optimizer,
    () => undefined,
  );
  const saveId = randomBytes(8).toString('hex');
  const stateName = `${basename(path)}.optim-${saveId}`;
  const statePath = join(dirname(path), stateName);
  const entries = (prefix: string, flat: Float32Array) =>
    table.map((t) => ({ name: prefix + t.name, shape: t.shape, data: flat.subarray(t.offset, t.offset + t.size) }));
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
      config: JSON.stringify(config),
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
}

/**
 * Reads the weights of a checkpoint written by Policy.save (or any
 * safetensors file of the tensors of policy.md whose metadata holds the
 * config): every tensor with its shape, the config valid. With
 * `withOptimizer`, also where the optimizer state saved beside it is.
 */
export async function readCheckpointWeights(path: string, withOptimizer: boolean): Promise<CheckpointWeights> {
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
  const optimizerPath = withOptimizer && optimizerName !== undefined ? join(dirname(path), optimizerName) : undefined;
  return { config, table, flat, optimizerPath, saveId: meta.saveId };
}

/** Reads the optimizer file of the save `saveId` of the weights at `weightsPath`, against the policy's tensor table. */
export async function readOptimizerState(
  statePath: string,
  saveId: string | undefined,
  weightsPath: string,
  table: NativePolicyTensor[],
): Promise<OptimizerState> {
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
    return flattenTensors(table, named, `${statePath} (${prefix}*)`, 'E_IO');
  };
  const extra = [...file.tensors.keys()].find((n) => !n.startsWith('exp_avg.') && !n.startsWith('exp_avg_sq.'));
  if (extra !== undefined) throw new PyVisionError('E_IO', `${statePath} has an unexpected tensor '${extra}'`);
  return { m: pick('exp_avg.'), v: pick('exp_avg_sq.'), step };
}

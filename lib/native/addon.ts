/**
 * The whole surface of the native module, typed in one place, and its loader.
 * Everything else in lib/ talks to native code through `native()` only.
 *
 * Conventions: data crosses as typed arrays, shapes as integers, enums by
 * name; every binding (kernels, the policy engine, setThreads) takes one
 * options object, handles included (its fields validated in lib/ before the
 * call: native code checks only types, lengths and what protects memory, and
 * repeats no bound of lib/util/limits.ts); every call that touches data returns a Promise and runs
 * on the addon's compute thread. Inputs must not be mutated until the Promise
 * settles (offsets and indices are copied, so memory safety never depends on it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { PyVisionError } from '../util/errors.js';

export type DeviceCode = 0 | 1;
/** A resolved backend, by name (what the kernel bindings take). */
export type NativeBackend = 'cpu' | 'cuda';

// Enums cross the boundary by name; native/core/scoring.h and frames.h hold
// the same lists (kLossAggNames, kKlTypeNames, kAdvantageScaleNames, kFrameModeNames).
export type NativeAdvantageScale = 'none' | 'group-std';
export type NativeLossAggregation = 'token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';
export type NativeKlType = 'k1' | 'k2' | 'k3';
export type NativeFrameMode = 'uniform' | 'topk' | 'topk-gap' | 'mmr' | 'bolt';

/** The options of the clipped policy-gradient loss, validated, as native code reads them (one reader for both uses). */
export interface NativeLossOptions {
  clipLow: number;
  clipHigh: number;
  /** null: no dual clip */
  dualClip: number | null;
  agg: NativeLossAggregation;
  /** null: the longest sequence's token count */
  normDenominator: number | null;
  klCoef: number;
  klType: NativeKlType;
}

export interface NativeCudaDevice {
  name: string;
  totalMemory: number;
  computeCapability: string;
  multiprocessors: number;
  memoryBandwidthGBs: number;
}

export interface NativeBackendInfo {
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  cudaReason: string;
  cudaRuntimeVersion: number;
  cudaDriverVersion: number;
  devices: NativeCudaDevice[];
  cpuThreads: number;
  openmp: boolean;
}

export interface NativeGroupAdvantages {
  advantages: Float32Array;
  groupMean: Float32Array;
  groupStd: Float32Array;
}

export interface NativeSelectResult {
  indices: Int32Array;
  dropped: { zeroVariance: number; endReason: number; noToolImage: number; overLength: number };
}

export interface NativePolicyLoss {
  loss: number;
  grad: Float32Array;
  clipFrac: number;
  clipFracLower: number;
  approxKl: number;
}

/** Opaque native handles of lib/policy/policy.ts and session.ts. */
export type NativePolicyHandle = { readonly __brand: 'NativePolicyHandle' };
export type NativeSessionHandle = { readonly __brand: 'NativeSessionHandle' };

export interface NativePolicyTensor {
  name: string;
  shape: number[];
  /** in floats, into the flat parameter vector */
  offset: number;
  size: number;
  /** AdamW weight decay applies (2-D tensors) */
  decay: boolean;
}

/** The network's shape (policy.md); public as lib/policy/config.ts PolicyConfig, validated there. */
export interface NativePolicyConfig {
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

/** B packed sequences (lib/policy/config.ts SequenceBatch, shapes validated). */
export interface NativeSequenceBatch {
  tokens: Int32Array;
  patches: Float32Array;
  seqOffsets: Int32Array;
}

/** A policy loss resolved by lib/policy/policy.ts; the pg loss carries the NativeLossOptions. */
export interface NativePolicyTrainingLoss extends Partial<NativeLossOptions> {
  kind: 'pg' | 'sft';
  mask: Uint8Array | Float32Array;
  oldLogp?: Float32Array;
  advantages?: Float32Array;
  refLogp?: Float32Array;
}

export interface NativeAdamW {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number;
}

export interface NativePolicyMetrics {
  loss: number;
  gradNorm: number;
  clipFrac: number;
  clipFracLower: number;
  approxKl: number;
  entropy: number;
}

export interface NativeAddon {
  setErrorClass(cls: typeof PyVisionError): void;
  backendInfo(): NativeBackendInfo;
  /** Sets the CPU worker threads (0: all cores; lib/ bounds it by LIMITS.cpuThreads); returns the number in use. */
  setThreads(args: { threads: number }): number;

  // ---- scoring (lib/kernels/scoring.ts): one options object per call ----
  accumulativeToolReward(args: {
    backend: NativeBackend;
    acc: Float32Array;
    toolCalls: Int32Array;
    coef: number;
    correctThreshold: number;
  }): Promise<Float32Array>;
  groupAdvantages(args: {
    backend: NativeBackend;
    rewards: Float32Array;
    groups: Int32Array;
    scale: NativeAdvantageScale;
    eps: number;
  }): Promise<NativeGroupAdvantages>;
  selectRollouts(args: {
    backend: NativeBackend;
    rewards: Float32Array;
    groups: Int32Array;
    endReasons: Uint8Array;
    toolImages: Int32Array;
    lengths: Int32Array | undefined;
    target: number;
    /** the EndReason values that survive */
    keepEndReasons: Uint8Array;
    requireToolImage: boolean;
    /** null: no length filter */
    maxLength: number | null;
    rank: 'std' | 'none';
  }): Promise<NativeSelectResult>;
  policyLoss(
    args: {
      backend: NativeBackend;
      logp: Float32Array;
      oldLogp: Float32Array;
      advantages: Float32Array;
      mask: Uint8Array | Float32Array;
      seqOffsets: Int32Array;
      refLogp: Float32Array | undefined;
    } & NativeLossOptions,
  ): Promise<NativePolicyLoss>;

  // ---- frame selection (lib/kernels/frames.ts) ----
  frameRelevance(args: {
    backend: NativeBackend;
    embeddings: Float32Array;
    frameOffsets: Int32Array;
    queries: Float32Array;
    dim: number;
    normalize: boolean;
  }): Promise<Float32Array>;
  selectFrames(args: {
    backend: NativeBackend;
    embeddings: Float32Array;
    frameOffsets: Int32Array;
    queries: Float32Array;
    dim: number;
    k: number | Int32Array;
    mode: NativeFrameMode;
    minGap: number;
    lambda: number;
    alpha: number;
    normalize: boolean;
  }): Promise<{ indices: Int32Array; scores: Float32Array }>;

  // ---- policy engine (lib/policy/policy.ts, session.ts): one options object per call ----
  policyTensorTable(config: NativePolicyConfig): NativePolicyTensor[];
  policyCreate(args: {
    backend: NativeBackend;
    config: NativePolicyConfig;
    /** 0: the library default (setThreads) */
    threads: number;
    seed: number;
    /** the flat parameter vector (table order); undefined: the GPT-2 initialisation from `seed` */
    parameters: Float32Array | undefined;
  }): Promise<NativePolicyHandle>;
  policyDispose(args: { policy: NativePolicyHandle }): Promise<void> | undefined;
  policyParameters(args: { policy: NativePolicyHandle }): Promise<Float32Array>;
  policySetParameters(args: { policy: NativePolicyHandle; parameters: Float32Array }): Promise<void>;
  policyOptimizerState(args: { policy: NativePolicyHandle }): Promise<{ m: Float32Array; v: Float32Array; step: number }>;
  policySetOptimizerState(args: { policy: NativePolicyHandle; m: Float32Array; v: Float32Array; step: number }): Promise<void>;
  policyLogprobs(args: { policy: NativePolicyHandle; batch: NativeSequenceBatch }): Promise<{ logp: Float32Array; entropy: Float32Array }>;
  policyGradients(args: {
    policy: NativePolicyHandle;
    batch: NativeSequenceBatch;
    loss: NativePolicyTrainingLoss;
  }): Promise<NativePolicyMetrics & { grads: Float32Array }>;
  policyTrainStep(args: {
    policy: NativePolicyHandle;
    batch: NativeSequenceBatch;
    loss: NativePolicyTrainingLoss;
    optim: NativeAdamW;
  }): Promise<NativePolicyMetrics>;
  policySessionStart(args: { policy: NativePolicyHandle; prompts: NativeSequenceBatch }): Promise<NativeSessionHandle>;
  policySessionGenerate(args: {
    session: NativeSessionHandle;
    maxNewTokens: number;
    temperature: number;
    topK: number;
    stopTokens: Int32Array;
    seed: number;
    /** one per sequence, instead of `seed` */
    seeds: number[] | undefined;
  }): Promise<{ tokens: Int32Array; logp: Float32Array; offsets: Int32Array; stopped: Uint8Array }>;
  /** Ends the given sequences of a session (indices in [0, B)). */
  policySessionEnd(args: { session: NativeSessionHandle; sequences: Int32Array }): Promise<void>;
  policySessionAppend(args: { session: NativeSessionHandle; observations: NativeSequenceBatch }): Promise<Uint8Array>;
  policySessionState(args: { session: NativeSessionHandle }): Promise<{ live: Uint8Array; lengths: Int32Array; forwarded: number }>;
  policySessionDispose(args: { session: NativeSessionHandle }): Promise<void> | undefined;
}

/** The package root: the nearest folder above this file with our package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'pyvision-rl') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new PyVisionError('E_LOAD', 'cannot find the pyvision-rl package root');
    dir = parent;
  }
}

let loaded: NativeAddon | undefined;

/** The command that approves and runs the package's install script, for E_LOAD messages. */
export const BUILD_FIX =
  'approve and run its install script: `npm install-scripts approve pyvision-rl && npm rebuild pyvision-rl` ' +
  '(npm 11 skips the install scripts of dependencies until they are approved; for a global install: ' +
  '`npm install -g --allow-scripts=pyvision-rl pyvision-rl`; in a checkout of the package: `npm run build`)';

/**
 * Loads the addon once. PYVISION_RL_ADDON may name a .node file to load
 * instead of build/Release/pyvision_rl.node (e.g. a second build). Without a
 * built addon (the install script did not run: npm 11 blocks dependencies'
 * install scripts until approved, or --ignore-scripts) the first call fails
 * with E_LOAD naming the fix.
 */
export function native(): NativeAddon {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const override = process.env.PYVISION_RL_ADDON;
  let addon: NativeAddon;
  if (override) {
    try {
      addon = require(override) as NativeAddon;
    } catch (error) {
      throw new PyVisionError('E_LOAD', `cannot load the pyvision-rl native addon named by PYVISION_RL_ADDON (${override}): ${(error as Error).message.split('\n')[0]}`);
    }
  } else {
    try {
      const bindings = require('bindings') as (opts: { bindings: string; module_root: string }) => NativeAddon;
      addon = bindings({ bindings: 'pyvision_rl', module_root: packageRoot() });
    } catch (error) {
      const message = (error as Error).message;
      if (/Could not locate the bindings file/.test(message)) {
        throw new PyVisionError('E_LOAD', `the pyvision-rl native addon is not built (no build/Release/pyvision_rl.node in ${packageRoot()}): ${BUILD_FIX}`);
      }
      throw new PyVisionError('E_LOAD', `cannot load the pyvision-rl native addon (${message.split('\n')[0]}); rebuild it: ${BUILD_FIX}`);
    }
  }
  addon.setErrorClass(PyVisionError);
  loaded = addon;
  return addon;
}

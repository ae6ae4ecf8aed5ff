/**
 * Frame selection for on-demand video context (semantics.md section 7): score
 * every frame of many videos against each video's query and choose the few
 * frames a tool call needs. Many videos of different lengths go through one
 * native call; CPU and CUDA return identical indices (see docs/frames.md).
 */
import type { Backend } from '../native/backend.js';
import { resolveBackend } from '../native/backend.js';
import { PyVisionError, describe, withCallSite } from '../util/errors.js';
import { native, type NativeFrameMode } from '../native/addon.js';
import { LIMITS } from '../util/limits.js';
import * as v from '../util/validate.js';

export type FrameMode = NativeFrameMode;
/** The selection modes (they cross to native code by name). */
export const FRAME_MODES: readonly FrameMode[] = ['uniform', 'topk', 'topk-gap', 'mmr', 'bolt'];

/** B videos with N_b frames each, packed. */
export interface FrameBatch {
  /** Frame embeddings of every video, video after video: sum(N_b) rows of D values. */
  embeddings: Float32Array;
  /** B + 1 offsets: video b owns rows frameOffsets[b] .. frameOffsets[b + 1] - 1. */
  frameOffsets: Int32Array;
  /** One query embedding per video: B rows of D values. */
  queries: Float32Array;
  /** D, the feature dimension of embeddings and queries. */
  dim: number;
}

export interface FrameRelevanceOptions {
  /** Cosine relevance dot(e, q) / (|e| |q|) (0 where a norm is 0) instead of the inner product. Default false. */
  normalize?: boolean;
  /** Where to run: 'auto' (default: PYVISION_RL_BACKEND, else CUDA when available), 'cpu' or 'cuda'. */
  backend?: Backend;
}

export interface SelectFramesOptions extends FrameRelevanceOptions {
  /** Frames to keep: one budget for every video, or an Int32Array of B budgets. */
  k: number | Int32Array;
  /** How to choose: 'uniform', 'topk', 'topk-gap', 'mmr' or 'bolt' (docs/frames.md says when to use which). */
  mode: FrameMode;
  /** topk-gap: accepted frames are at least this many frames apart. Default 1 (no constraint: topk). */
  minGap?: number;
  /** mmr: weight of relevance against redundancy, in [0, 1]. Default 0.5. */
  lambda?: number;
  /** bolt: sharpness of the sampling weights, > 0. Default 3 (as published). */
  alpha?: number;
}

/** Defaults of the optional settings, in one place. */
export const FRAME_DEFAULTS = { minGap: 1, lambda: 0.5, alpha: 3, normalize: false } as const;

export interface FrameSelection {
  /**
   * B x kmax (kmax = the largest budget): row b holds video b's selected frame
   * indices (within the video) in ascending order, then -1 in unfilled slots.
   * bolt may repeat a frame.
   */
  indices: Int32Array;
  /** B x kmax: the relevance of each selected frame; NaN in unfilled slots. */
  scores: Float32Array;
}

interface CheckedBatch {
  embeddings: Float32Array;
  frameOffsets: Int32Array;
  queries: Float32Array;
  dim: number;
}

function checkBatch(input: unknown): CheckedBatch {
  const i = v.object(input, 'input');
  const dim = v.number(i.dim, 'input.dim', { integer: true, min: 1, max: LIMITS.int32 });
  const embeddings = v.typedArray(i.embeddings, 'Float32Array', 'input.embeddings');
  if (embeddings.length % dim !== 0) {
    throw new PyVisionError(
      'E_SHAPE',
      `input.embeddings.length must be a multiple of input.dim (${dim}), got ${embeddings.length}`,
    );
  }
  const frameOffsets = v.offsetsArray(i.frameOffsets, 'input.frameOffsets', embeddings.length / dim, 'the frame count');
  const videos = frameOffsets.length - 1;
  const queries = v.typedArray(i.queries, 'Float32Array', 'input.queries', videos * dim);
  return { embeddings, frameOffsets, queries, dim };
}

/** The relevance of every frame to its video's query: Float32Array of sum(N_b). */
export function frameRelevance(input: FrameBatch, opts: FrameRelevanceOptions = {}): Promise<Float32Array> {
  return withCallSite(async () => {
    const b = checkBatch(input);
    const o = v.optionalObject(opts, 'opts');
    const normalize = v.boolean(o.normalize, 'opts.normalize', FRAME_DEFAULTS.normalize);
    return native().frameRelevance({ backend: resolveBackend(o.backend), ...b, normalize });
  });
}

/** Chooses up to k frames per video by relevance to its query (semantics.md section 7). */
export function selectFrames(input: FrameBatch, opts: SelectFramesOptions): Promise<FrameSelection> {
  return withCallSite(async () => {
    const b = checkBatch(input);
    const o = v.object(opts, 'opts');
    const videos = b.frameOffsets.length - 1;
    let k: number | Int32Array;
    let kmax = 0;
    if (v.isTypedArray(o.k, 'Int32Array')) {
      k = v.typedArray(o.k, 'Int32Array', 'opts.k', videos);
      k.forEach((budget, video) => {
        if (budget < 0) throw new PyVisionError('E_ARG', `opts.k[${video}] must be >= 0, got ${budget}`);
        kmax = Math.max(kmax, budget);
      });
    } else if (typeof o.k === 'number') {
      k = v.number(o.k, 'opts.k', { integer: true, min: 0, max: LIMITS.int32 });
      kmax = videos > 0 ? k : 0;
    } else {
      throw new PyVisionError('E_ARG', `opts.k must be an integer >= 0 or an Int32Array of ${videos} budgets, got ${describe(o.k)}`);
    }
    if (videos * kmax > LIMITS.frameOutputSlots) {
      throw new PyVisionError(
        'E_ARG',
        `the output would have B x kmax = ${videos} x ${kmax} slots, more than 2^30; lower opts.k`,
      );
    }
    if (o.mode === undefined) throw new PyVisionError('E_ARG', `opts.mode must be one of ${FRAME_MODES.map((m) => `'${m}'`).join(', ')}; got undefined`);
    const mode = v.oneOf(o.mode, 'opts.mode', FRAME_MODES, 'topk');
    const minGap = v.optionalNumber(o.minGap, 'opts.minGap', FRAME_DEFAULTS.minGap, { integer: true, min: 0, max: LIMITS.int32 });
    const lambda = v.optionalNumber(o.lambda, 'opts.lambda', FRAME_DEFAULTS.lambda, { min: 0, max: 1 });
    const alpha = v.optionalNumber(o.alpha, 'opts.alpha', FRAME_DEFAULTS.alpha, { above: 0 });
    const normalize = v.boolean(o.normalize, 'opts.normalize', FRAME_DEFAULTS.normalize);
    return native().selectFrames({ backend: resolveBackend(o.backend), ...b, k, mode, minGap, lambda, alpha, normalize });
  });
}

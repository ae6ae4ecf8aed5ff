/**
 * The library's size limits, in one place. lib/ checks them with messages
 * that name the argument; native code does not repeat them (it checks only
 * what protects memory, and reports E_OOM when an allocation fails).
 */
export const LIMITS = {
  /** the largest int32 (lengths, counts, offsets, token ids cross as int32) */
  int32: 2 ** 31 - 1,
  /** selectFrames: at most this many B x kmax output slots per call */
  frameOutputSlots: 2 ** 30,
  /** setCpuThreads and the threads options (the addon serves at most one thread per processor) */
  cpuThreads: 4096,
  /** the largest policy config (lib/policy/config.ts) */
  policy: { vocabSize: 2 ** 24, patchDim: 2 ** 20, maxSeqLen: 2 ** 20, layers: 1024, heads: 1024, dim: 2 ** 16 },
} as const;

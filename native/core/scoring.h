// Trajectory scoring kernels: semantics.md sections 1-5.
// One interface, implemented by the CPU backend (cpu/scoring.cc) and the CUDA
// backend (cuda/scoring.cu). All pointers are host memory; sizes are counts of
// elements. Outputs come first, then inputs, then sizes and options.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/common.h"

namespace pv {

enum class AdvantageScale : int { kNone = 0, kGroupStd = 1 };
// The names each enum crosses the JavaScript boundary by, in enum order
// (lib/native/addon.ts has the same lists).
constexpr std::array<const char*, 2> kAdvantageScaleNames{"none", "group-std"};

enum class EndReason : uint8_t {
  kDone = 0,
  kExceedMaxTurns = 1,
  kErrorInAction = 2,
  kOverLength = 3,
  kExceedMaxImages = 4,
};
constexpr int kEndReasonCount = 5;

struct SelectOptions {
  size_t target = 0;                    // K: how many trajectories to keep at most
  std::array<bool, kEndReasonCount> keep_end_reason{true, true, true, false, false};
  bool require_tool_image = true;
  int64_t max_length = -1;              // < 0: no length filter
  bool rank_by_std = true;              // false: keep input order
};

struct SelectResult {
  std::vector<int32_t> indices;  // [<= K] selected trajectories, in rank order
  size_t dropped_zero_variance = 0;
  size_t dropped_end_reason = 0;
  size_t dropped_no_tool_image = 0;
  size_t dropped_over_length = 0;
};

enum class LossAgg : int {
  kTokenMean = 0,
  kSeqMeanTokenSum = 1,
  kSeqMeanTokenMean = 2,
  kSeqMeanTokenSumNorm = 3,
};

constexpr std::array<const char*, 4> kLossAggNames{"token-mean", "seq-mean-token-sum", "seq-mean-token-mean",
                                                   "seq-mean-token-sum-norm"};

enum class KlType : int { kK1 = 0, kK2 = 1, kK3 = 2 };
constexpr std::array<const char*, 3> kKlTypeNames{"k1", "k2", "k3"};

struct LossOptions {
  float clip_low = 0.2f;
  float clip_high = 0.2f;
  bool use_dual_clip = true;
  float dual_clip = 3.0f;
  LossAgg agg = LossAgg::kTokenMean;
  double norm_denominator = 0;  // <= 0: the longest sequence's token count
  float kl_coef = 0;            // KL term used only when > 0 and ref_logp is given
  KlType kl_type = KlType::kK3;
};

// Inputs of the clipped policy-gradient loss. T tokens packed in B sequences.
struct LossInput {
  const float* logp = nullptr;        // [T]
  const float* old_logp = nullptr;    // [T]
  const float* ref_logp = nullptr;    // [T] or null
  const float* advantages = nullptr;  // [T], or [B] when advantages_per_sequence
  bool advantages_per_sequence = false;
  const float* mask = nullptr;        // [T] in {0, 1}, or
  const uint8_t* mask_u8 = nullptr;   // [T] in {0, 1} (exactly one of the two is set)
  const int32_t* seq_offsets = nullptr;  // [B + 1], seq_offsets[0] = 0, seq_offsets[B] = T
  size_t tokens = 0;                  // T
  size_t sequences = 0;               // B
};

struct LossResult {
  double loss = 0;
  double clip_frac = 0;
  double clip_frac_lower = 0;
  double approx_kl = 0;
};

class ScoringKernels {
 public:
  virtual ~ScoringKernels() = default;

  // reward[i] = acc[i] + coef * tool_calls[i] * (acc[i] >= threshold)
  virtual void AccumulativeToolReward(float* reward,                // [N]
                                      const float* acc,             // [N]
                                      const int32_t* tool_calls,    // [N]
                                      size_t n, float coef, float threshold) = 0;

  // Per-trajectory advantage, group mean and unbiased group std.
  virtual void GroupAdvantages(float* advantages,      // [N]
                               float* group_mean,      // [N]
                               float* group_std,       // [N]
                               const float* rewards,   // [N]
                               const int32_t* groups,  // [N] arbitrary ids
                               size_t n, AdvantageScale scale, float eps) = 0;

  virtual SelectResult SelectRollouts(const float* rewards,        // [N]
                                      const int32_t* groups,       // [N]
                                      const uint8_t* end_reasons,  // [N]
                                      const int32_t* tool_images,  // [N]
                                      const int32_t* lengths,      // [N] or null
                                      size_t n, const SelectOptions& options) = 0;

  // Writes d loss / d logp into grad[T] and returns the loss and metrics.
  virtual LossResult PolicyLoss(float* grad,  // [T]
                                const LossInput& input, const LossOptions& options) = 0;
};

ScoringKernels& CpuScoring();
#ifdef PV_WITH_CUDA
ScoringKernels& CudaScoring();
#endif
// The backend for `device`; throws E_BACKEND when it cannot run here.
ScoringKernels& Scoring(Device device);

// Validation shared by every backend (the native safety net behind the
// TypeScript checks). Each throws a pv::Error naming the argument.
void CheckFinite(const float* values, size_t n, const char* name);
void CheckSeqOffsets(const int32_t* offsets, size_t sequences, size_t tokens, const char* name);
void ValidateToolRewardInputs(const float* acc, const int32_t* tool_calls, size_t n);
// E_NONFINITE naming the first trajectory whose reward overflowed float32.
void CheckToolRewards(const float* reward, const float* acc, const int32_t* tool_calls, size_t n, float coef);
void ValidateSelectInputs(const float* rewards, const uint8_t* end_reasons, const int32_t* tool_images,
                          const int32_t* lengths, size_t n);

}  // namespace pv

// Per-token math of the clipped policy-gradient loss (semantics.md section 4),
// shared by the CPU and CUDA backends so that both compute the same function
// op for op. Float32 per token; callers accumulate in float64.
#pragma once

#include <cmath>

#include "core/common.h"
#include "core/exact_math.h"
#include "core/scoring.h"

namespace pv {

struct TokenLoss {
  float loss;          // pg_t + kl_coef * kl_t
  float grad;          // d loss_t / d logp_t
  bool clipped;        // pg2 > pg1
  bool dual_clipped;   // A < 0 and clip1 > -A * dual_clip
};

PV_HD inline float ClampF(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

// exp(x) for x in [-20, 20] (callers clamp first): Cody-Waite range reduction
// and the Cephes degree-6 polynomial, within 2 ulp of the true value. Written
// with plain arithmetic so that the CPU loop vectorises and both backends
// produce the same bits.
PV_HD inline float ExpF(float x) {
  const float n = floorf(ExactAdd(ExactMul(x, 1.44269504088896341f), 0.5f));
  float r = ExactAdd(x, ExactMul(n, -0.693359375f));
  r = ExactAdd(r, ExactMul(n, 2.12194440e-4f));
  float p = 1.9875691500e-4f;
  p = ExactAdd(ExactMul(p, r), 1.3981999507e-3f);
  p = ExactAdd(ExactMul(p, r), 8.3334519073e-3f);
  p = ExactAdd(ExactMul(p, r), 4.1665795894e-2f);
  p = ExactAdd(ExactMul(p, r), 1.6666665459e-1f);
  p = ExactAdd(ExactMul(p, r), 5.0000001201e-1f);
  const float y = ExactAdd(ExactAdd(ExactMul(ExactMul(p, r), r), r), 1.0f);
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
#if defined(__CUDA_ARCH__)
  scale = __int_as_float(e);
#else
  __builtin_memcpy(&scale, &e, sizeof scale);
#endif
  return ExactMul(y, scale);
}
// Gradient gate of clamp: passes strictly inside the bounds.
PV_HD inline bool Inside(float x, float lo, float hi) { return x > lo && x < hi; }

PV_HD inline TokenLoss ClippedTokenLoss(float logp, float old_logp, float advantage, float clip_low,
                                        float clip_high, bool use_dual_clip, float dual_clip) {
  const float x = logp - old_logp;
  const float ratio = ExpF(ClampF(x, -20.0f, 20.0f));
  const float dratio = Inside(x, -20.0f, 20.0f) ? ratio : 0.0f;
  const float lo = 1.0f - clip_low, hi = 1.0f + clip_high;
  const float pg1 = -advantage * ratio;
  const float pg2 = -advantage * ClampF(ratio, lo, hi);
  const float g1 = -advantage * dratio;
  const float g2 = Inside(ratio, lo, hi) ? g1 : 0.0f;
  // Branch-free selects, so that the CPU loop vectorises.
  TokenLoss out;
  out.clipped = pg2 > pg1;
  const float clip1 = out.clipped ? pg2 : pg1;
  const float gclip1 = out.clipped ? g2 : g1;
  const float bound = -advantage * dual_clip;
  out.dual_clipped = use_dual_clip & (advantage < 0.0f) & (clip1 > bound);
  out.loss = out.dual_clipped ? bound : clip1;
  out.grad = out.dual_clipped ? 0.0f : gclip1;
  return out;
}

// KL estimator against a reference policy and its gradient w.r.t. logp.
PV_HD inline void KlPenalty(float logp, float ref_logp, KlType type, float* value, float* grad) {
  if (type == KlType::kK1) {
    *value = logp - ref_logp;
    *grad = 1.0f;
  } else if (type == KlType::kK2) {
    const float diff = logp - ref_logp;
    *value = 0.5f * diff * diff;
    *grad = diff;
  } else {
    const float x = ref_logp - logp;
    const float c = ClampF(x, -20.0f, 20.0f);
    const float ec = ExpF(c);
    const float raw = ec - c - 1.0f;
    *value = ClampF(raw, -10.0f, 10.0f);
    *grad = (Inside(x, -20.0f, 20.0f) && Inside(raw, -10.0f, 10.0f)) ? (1.0f - ec) : 0.0f;
  }
}

// The weight every masked token of a sequence gets in the aggregated loss
// (semantics.md section 5): loss = sum_t m_t * l_t * weight(seq(t)), and the
// gradient is m_t * dl_t * weight(seq(t)).
struct AggWeights {
  double token = 0;       // for token-mean and seq-mean-token-sum-norm: one global weight
  double per_seq = 0;     // for seq-mean-token-sum: 1 / valid sequences
  bool uses_seq_len = false;  // seq-mean-token-mean: per_seq / L_b
};

PV_HD inline double SequenceWeight(LossAgg agg, const AggWeights& w, double seq_mask_count) {
  switch (agg) {
    case LossAgg::kTokenMean:
    case LossAgg::kSeqMeanTokenSumNorm:
      return w.token;
    case LossAgg::kSeqMeanTokenSum:
      return w.per_seq;
    case LossAgg::kSeqMeanTokenMean:
      return seq_mask_count > 0 ? w.per_seq / seq_mask_count : 0.0;
  }
  return 0.0;
}

// Global aggregation weights from the per-sequence mask counts.
inline AggWeights ComputeAggWeights(LossAgg agg, double total_mask, size_t valid_sequences,
                                    double norm_denominator) {
  AggWeights w;
  switch (agg) {
    case LossAgg::kTokenMean:
      w.token = total_mask > 0 ? 1.0 / total_mask : 0.0;
      break;
    case LossAgg::kSeqMeanTokenSumNorm:
      w.token = (total_mask > 0 && norm_denominator > 0) ? 1.0 / norm_denominator : 0.0;
      break;
    case LossAgg::kSeqMeanTokenSum:
    case LossAgg::kSeqMeanTokenMean:
      w.per_seq = valid_sequences > 0 ? 1.0 / static_cast<double>(valid_sequences) : 0.0;
      w.uses_seq_len = agg == LossAgg::kSeqMeanTokenMean;
      break;
  }
  return w;
}

// The loss prologue shared by PolicyLoss (both backends) and the policy's
// fused loss (semantics.md section 5): from the masked-token count of each
// sequence and the longest sequence, the total count, the sequences with at
// least one masked token, and the aggregation weights (the norm denominator
// defaults to the longest sequence's token count).
struct LossPrologue {
  double total_mask = 0;
  size_t valid_sequences = 0;
  AggWeights weights;
};

template <typename Count>
inline LossPrologue MakeLossPrologue(const Count* seq_mask, size_t sequences, size_t longest, LossAgg agg,
                                     double norm_denominator) {
  LossPrologue p;
  for (size_t b = 0; b < sequences; ++b) {
    p.total_mask += static_cast<double>(seq_mask[b]);
    p.valid_sequences += seq_mask[b] > 0;
  }
  const double denominator = norm_denominator > 0 ? norm_denominator : static_cast<double>(longest);
  p.weights = ComputeAggWeights(agg, p.total_mask, p.valid_sequences, denominator);
  return p;
}

// The longest sequence of a packed batch (offsets [B + 1], already checked).
inline size_t LongestSequence(const int32_t* seq_offsets, size_t sequences) {
  size_t longest = 0;
  for (size_t b = 0; b < sequences; ++b)
    longest = longest > static_cast<size_t>(seq_offsets[b + 1] - seq_offsets[b])
                  ? longest
                  : static_cast<size_t>(seq_offsets[b + 1] - seq_offsets[b]);
  return longest;
}

}  // namespace pv

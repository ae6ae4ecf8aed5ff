// CPU backend of the trajectory scoring kernels (semantics.md sections 1-5).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/device.h"
#include "core/loss_math.h"
#include "core/scoring.h"

namespace pv {
namespace {

// Maps arbitrary int32 group ids to dense ids 0..G-1 in order of first
// appearance. Open addressing with a growing power-of-two table; consecutive
// equal ids (the usual layout) reuse the previous answer without a lookup.
struct GroupIndex {
  std::vector<uint32_t> dense;  // [N]
  size_t count = 0;             // G
};

GroupIndex IndexGroups(const int32_t* groups, size_t n) {
  GroupIndex index;
  index.dense.resize(n);
  size_t capacity = 1024;
  std::vector<int32_t> keys(capacity);
  std::vector<uint32_t> values(capacity, UINT32_MAX);
  auto slot_of = [&](int32_t key, size_t cap) {
    return (static_cast<uint32_t>(key) * 0x9E3779B1u) & (cap - 1);
  };
  auto grow = [&] {
    const size_t cap = capacity * 2;
    std::vector<int32_t> k2(cap);
    std::vector<uint32_t> v2(cap, UINT32_MAX);
    for (size_t s = 0; s < capacity; ++s) {
      if (values[s] == UINT32_MAX) continue;
      size_t j = slot_of(keys[s], cap);
      while (v2[j] != UINT32_MAX) j = (j + 1) & (cap - 1);
      k2[j] = keys[s];
      v2[j] = values[s];
    }
    keys.swap(k2);
    values.swap(v2);
    capacity = cap;
  };
  for (size_t i = 0; i < n; ++i) {
    const int32_t key = groups[i];
    if (i > 0 && key == groups[i - 1]) {
      index.dense[i] = index.dense[i - 1];
      continue;
    }
    size_t j = slot_of(key, capacity);
    while (values[j] != UINT32_MAX && keys[j] != key) j = (j + 1) & (capacity - 1);
    if (values[j] == UINT32_MAX) {
      keys[j] = key;
      values[j] = static_cast<uint32_t>(index.count++);
      index.dense[i] = values[j];
      if (index.count * 2 > capacity) grow();
    } else {
      index.dense[i] = values[j];
    }
  }
  return index;
}

// Two-pass group statistics in float64, summing each group in index order
// (the CUDA backend sums in the same order and gets the same bits).
struct GroupStats {
  GroupIndex index;
  std::vector<double> mean;  // [G]
  std::vector<double> std;   // [G] unbiased; 0 for singletons
  std::vector<uint32_t> size;  // [G]
};

GroupStats ComputeGroupStats(const float* rewards, const int32_t* groups, size_t n) {
  GroupStats s;
  s.index = IndexGroups(groups, n);
  const size_t g = s.index.count;
  const uint32_t* dense = s.index.dense.data();
  s.mean.assign(g, 0.0);
  s.std.assign(g, 0.0);
  s.size.assign(g, 0);
  for (size_t i = 0; i < n; ++i) {
    s.mean[dense[i]] += static_cast<double>(rewards[i]);
    s.size[dense[i]] += 1;
  }
  for (size_t k = 0; k < g; ++k) s.mean[k] /= static_cast<double>(s.size[k]);
  std::vector<double>& sq = s.std;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(rewards[i]) - s.mean[dense[i]];
    sq[dense[i]] += d * d;
  }
  for (size_t k = 0; k < g; ++k) {
    sq[k] = s.size[k] > 1 ? std::sqrt(sq[k] / static_cast<double>(s.size[k] - 1)) : 0.0;
  }
  return s;
}

// Stable LSD radix sort of `items` by 64-bit key, descending, 16-bit digits.
void RadixSortDescending(std::vector<uint32_t>& items, const std::vector<uint64_t>& key_of) {
  std::vector<uint32_t> tmp(items.size());
  std::vector<size_t> count(65536 + 1);
  for (int shift = 0; shift < 64; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    bool all_same = true;
    const uint32_t first = items.empty() ? 0 : static_cast<uint32_t>((~key_of[items[0]] >> shift) & 0xFFFF);
    for (uint32_t item : items) {
      const uint32_t digit = static_cast<uint32_t>((~key_of[item] >> shift) & 0xFFFF);
      all_same &= digit == first;
      ++count[digit + 1];
    }
    if (all_same) continue;
    for (size_t d = 0; d < 65536; ++d) count[d + 1] += count[d];
    for (uint32_t item : items) tmp[count[(~key_of[item] >> shift) & 0xFFFF]++] = item;
    items.swap(tmp);
  }
}

uint64_t DoubleBits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

class CpuScoringKernels final : public ScoringKernels {
 public:
  void AccumulativeToolReward(float* reward, const float* acc, const int32_t* tool_calls, size_t n,
                              float coef, float threshold) override {
    ValidateToolRewardInputs(acc, tool_calls, n);
    for (size_t i = 0; i < n; ++i) {
      const double gate = acc[i] >= threshold ? 1.0 : 0.0;
      reward[i] = static_cast<float>(static_cast<double>(acc[i]) +
                                     static_cast<double>(coef) * tool_calls[i] * gate);
    }
  }

  void GroupAdvantages(float* advantages, float* group_mean, float* group_std, const float* rewards,
                       const int32_t* groups, size_t n, AdvantageScale scale, float eps) override {
    CheckFinite(rewards, n, "rewards");
    const GroupStats s = ComputeGroupStats(rewards, groups, n);
    const uint32_t* dense = s.index.dense.data();
    for (size_t i = 0; i < n; ++i) {
      const uint32_t g = dense[i];
      const double centered = static_cast<double>(rewards[i]) - s.mean[g];
      double a = 0.0;
      if (s.size[g] > 1) {
        a = scale == AdvantageScale::kGroupStd ? centered / (s.std[g] + static_cast<double>(eps)) : centered;
      }
      advantages[i] = static_cast<float>(a);
      group_mean[i] = static_cast<float>(s.mean[g]);
      group_std[i] = static_cast<float>(s.std[g]);
    }
  }

  SelectResult SelectRollouts(const float* rewards, const int32_t* groups, const uint8_t* end_reasons,
                              const int32_t* tool_images, const int32_t* lengths, size_t n,
                              const SelectOptions& options) override {
    ValidateSelectInputs(rewards, end_reasons, tool_images, lengths, n);
    const GroupStats s = ComputeGroupStats(rewards, groups, n);
    const uint32_t* dense = s.index.dense.data();
    const size_t num_groups = s.index.count;

    // Zero variance is judged on the full input: max == min within the group.
    std::vector<float> lo(num_groups, std::numeric_limits<float>::infinity());
    std::vector<float> hi(num_groups, -std::numeric_limits<float>::infinity());
    for (size_t i = 0; i < n; ++i) {
      lo[dense[i]] = std::min(lo[dense[i]], rewards[i]);
      hi[dense[i]] = std::max(hi[dense[i]], rewards[i]);
    }

    SelectResult result;
    std::vector<uint32_t> survivors;
    survivors.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t g = dense[i];
      if (hi[g] == lo[g]) {
        ++result.dropped_zero_variance;
      } else if (!options.keep_end_reason[end_reasons[i]]) {
        ++result.dropped_end_reason;
      } else if (options.require_tool_image && tool_images[i] == 0) {
        ++result.dropped_no_tool_image;
      } else if (options.max_length >= 0 && lengths && lengths[i] > options.max_length) {
        ++result.dropped_over_length;
      } else {
        survivors.push_back(static_cast<uint32_t>(i));
      }
    }

    if (options.rank_by_std && !survivors.empty()) {
      // Sort the groups that still have members by std (descending), give each
      // distinct std value a bucket, then counting-sort the survivors by bucket:
      // stable, so equal std keeps ascending trajectory index.
      std::vector<uint8_t> alive(num_groups, 0);
      std::vector<uint32_t> alive_groups;
      for (uint32_t i : survivors) {
        if (!alive[dense[i]]) {
          alive[dense[i]] = 1;
          alive_groups.push_back(dense[i]);
        }
      }
      std::vector<uint64_t> key(num_groups);
      for (uint32_t g : alive_groups) key[g] = DoubleBits(s.std[g]);  // std >= 0: bits are monotonic
      RadixSortDescending(alive_groups, key);
      std::vector<uint32_t> bucket(num_groups, 0);
      uint32_t buckets = 0;
      for (size_t j = 0; j < alive_groups.size(); ++j) {
        if (j > 0 && key[alive_groups[j]] != key[alive_groups[j - 1]]) ++buckets;
        bucket[alive_groups[j]] = buckets;
      }
      ++buckets;
      std::vector<size_t> start(buckets + 1, 0);
      for (uint32_t i : survivors) ++start[bucket[dense[i]] + 1];
      for (uint32_t b = 0; b < buckets; ++b) start[b + 1] += start[b];
      const size_t keep = std::min(options.target, survivors.size());
      std::vector<uint32_t> ranked(survivors.size());
      for (uint32_t i : survivors) ranked[start[bucket[dense[i]]]++] = i;
      result.indices.assign(ranked.begin(), ranked.begin() + keep);
    } else {
      const size_t keep = std::min(options.target, survivors.size());
      result.indices.assign(survivors.begin(), survivors.begin() + keep);
    }
    return result;
  }

  LossResult PolicyLoss(float* grad, const LossInput& in, const LossOptions& o) override {
    return in.mask_u8 ? PolicyLossImpl(grad, in, in.mask_u8, o) : PolicyLossImpl(grad, in, in.mask, o);
  }

 private:
  template <typename Mask>
  static LossResult PolicyLossImpl(float* grad, const LossInput& in, const Mask* mask, const LossOptions& o) {
    const size_t T = in.tokens, B = in.sequences;
    CheckSeqOffsets(in.seq_offsets, B, T, "seqOffsets");
    const int32_t* off = in.seq_offsets;
    const int threads = CpuThreads();

    // Pass 1: mask counts per sequence (and the mask's own validity).
    std::vector<double> seq_mask(B, 0.0);
    size_t bad_mask = SIZE_MAX;
    size_t longest = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : bad_mask) reduction(max : longest) if (T > 65536)
    for (size_t b = 0; b < B; ++b) {
      double count = 0;
      for (size_t t = static_cast<size_t>(off[b]); t < static_cast<size_t>(off[b + 1]); ++t) {
        const float m = static_cast<float>(mask[t]);
        if (m != 0.0f && m != 1.0f) bad_mask = std::min(bad_mask, t);
        count += m;
      }
      seq_mask[b] = count;
      longest = std::max(longest, static_cast<size_t>(off[b + 1] - off[b]));
    }
    if (bad_mask != SIZE_MAX) Fail("E_ARG", "mask[", bad_mask, "] must be 0 or 1, got ", +mask[bad_mask]);
    double total_mask = 0;
    size_t valid = 0;
    for (size_t b = 0; b < B; ++b) {
      total_mask += seq_mask[b];
      valid += seq_mask[b] > 0;
    }
    const double denominator = o.norm_denominator > 0 ? o.norm_denominator : static_cast<double>(longest);
    const AggWeights weights = ComputeAggWeights(o.agg, total_mask, valid, denominator);
    const bool with_kl = o.kl_coef > 0 && in.ref_logp != nullptr;

    // Pass 2: per-token loss and gradient, parallel over sequences.
    double loss = 0, clipped = 0, lower = 0, kl_sum = 0;
    size_t bad = SIZE_MAX;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 64) reduction(+ : loss, clipped, lower, kl_sum) reduction(min : bad) if (T > 65536)
    for (size_t b = 0; b < B; ++b) {
      const double w = SequenceWeight(o.agg, weights, seq_mask[b]);
      const float wf = static_cast<float>(w);
      double seq_loss = 0;
      for (size_t t = static_cast<size_t>(off[b]); t < static_cast<size_t>(off[b + 1]); ++t) {
        const float adv = in.advantages_per_sequence ? in.advantages[b] : in.advantages[t];
        const float lp = in.logp[t], old = in.old_logp[t];
        if (!std::isfinite(lp) || !std::isfinite(old) || !std::isfinite(adv) ||
            (with_kl && !std::isfinite(in.ref_logp[t]))) {
          bad = std::min(bad, t);
          grad[t] = 0.0f;
          continue;
        }
        if (mask[t] == 0) {
          grad[t] = 0.0f;
          continue;
        }
        TokenLoss tl = ClippedTokenLoss(lp, old, adv, o.clip_low, o.clip_high, o.use_dual_clip, o.dual_clip);
        if (with_kl) {
          float kv, kg;
          KlPenalty(lp, in.ref_logp[t], o.kl_type, &kv, &kg);
          tl.loss += o.kl_coef * kv;
          tl.grad += o.kl_coef * kg;
        }
        seq_loss += tl.loss;
        grad[t] = tl.grad * wf;
        clipped += tl.clipped;
        lower += tl.dual_clipped;
        kl_sum += static_cast<double>(old) - static_cast<double>(lp);
      }
      loss += seq_loss * w;
    }
    if (bad != SIZE_MAX) {
      const char* name = !std::isfinite(in.logp[bad]) ? "logp"
                         : !std::isfinite(in.old_logp[bad]) ? "oldLogp"
                         : (with_kl && !std::isfinite(in.ref_logp[bad])) ? "refLogp"
                                                                            : "advantages";
      Fail("E_NONFINITE", name, " must be finite: found a non-finite value at token ", bad);
    }
    LossResult r;
    r.loss = loss;
    if (total_mask > 0) {
      r.clip_frac = clipped / total_mask;
      r.clip_frac_lower = lower / total_mask;
      r.approx_kl = kl_sum / total_mask;
    }
    return r;
  }
};

}  // namespace

ScoringKernels& CpuScoring() {
  static CpuScoringKernels kernels;
  return kernels;
}

}  // namespace pv

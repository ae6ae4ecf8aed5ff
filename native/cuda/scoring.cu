// CUDA backend of the trajectory scoring kernels (semantics.md sections 1-5).
// Group statistics are the functions of core/scoring_stats.h (exact integer
// moments, or two-pass float64 over the members in ascending value order),
// with non-contracted arithmetic, exactly as the CPU backend computes them, so
// the two backends return the same bits for advantages, means and stds (and
// so the same selection and ranking).
#include <cub/cub.cuh>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/device.h"
#include "core/loss_math.h"
#include "core/scoring.h"
#include "core/scoring_stats.h"
#include "cuda/cuda_util.cuh"

namespace pv {
namespace cuda {
namespace {

constexpr unsigned kThreads = 256;

// Runs a two-phase cub call: first to size the temporary storage, then for real.
template <typename Call>
void CubRun(Call call) {
  size_t bytes = 0;
  PV_CUDA_CHECK(call(nullptr, bytes));
  DeviceBuffer<char> temp(std::max<size_t>(bytes, 1));
  PV_CUDA_CHECK(call(temp.get(), bytes));
}

__global__ void ToolRewardKernel(float* reward, const float* acc, const int32_t* tool_calls, size_t n,
                                 float coef, float threshold) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const double gate = acc[i] >= threshold ? 1.0 : 0.0;
    reward[i] = __double2float_rn(__dadd_rn(double(acc[i]), __dmul_rn(__dmul_rn(double(coef), double(tool_calls[i])), gate)));
  }
}

__global__ void IotaKernel(int32_t* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] = static_cast<int32_t>(i);
}

// Sort key of a trajectory: its group id (high half, in signed order), then
// its reward in ascending value order (low half), so that each group's
// members come out contiguous and ascending (the order of the fallback).
__global__ void GroupValueKeyKernel(uint64_t* keys, const int32_t* groups, const float* rewards, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const uint32_t bits = __float_as_uint(rewards[i]);
    const uint32_t ordered = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
    keys[i] = (uint64_t(uint32_t(groups[i]) ^ 0x80000000u) << 32) | ordered;
  }
}

__global__ void HeadFlagKernel(int32_t* flags, const uint64_t* sorted_keys, size_t n) {
  for (size_t j = blockIdx.x * size_t(blockDim.x) + threadIdx.x; j < n; j += size_t(gridDim.x) * blockDim.x)
    flags[j] = (j == 0 || (sorted_keys[j] >> 32) != (sorted_keys[j - 1] >> 32)) ? 1 : 0;
}

__global__ void SegmentStartKernel(int32_t* starts, const int32_t* flags, const int32_t* seg_plus_one, size_t n) {
  for (size_t j = blockIdx.x * size_t(blockDim.x) + threadIdx.x; j < n; j += size_t(gridDim.x) * blockDim.x)
    if (flags[j]) starts[seg_plus_one[j] - 1] = static_cast<int32_t>(j);
}

// One thread per group: the members are contiguous in sorted order, ascending
// by value.
__global__ void GroupStatsKernel(double* mean, double* stdev, int32_t* size, float* lo, float* hi,
                                 const int32_t* starts, const int32_t* perm, const float* rewards,
                                 size_t groups) {
  for (size_t g = blockIdx.x * size_t(blockDim.x) + threadIdx.x; g < groups; g += size_t(gridDim.x) * blockDim.x) {
    const int32_t begin = starts[g], end = starts[g + 1];
    const int32_t* members = perm + begin;
    auto get = [rewards, members](size_t j) { return rewards[members[j]]; };
    const GroupScan scan = GroupScan::Of(get, static_cast<size_t>(end - begin));
    double m, sd;
    if (scan.Exact()) ExactGroupMoments(scan, get, &m, &sd);
    else TwoPassGroupMoments(scan.n, get, &m, &sd);
    mean[g] = m;
    stdev[g] = sd;
    size[g] = end - begin;
    lo[g] = scan.lo;
    hi[g] = scan.hi;
  }
}

// Per-trajectory outputs of groupAdvantages, written through the permutation.
__global__ void AdvantageKernel(float* advantages, float* group_mean, float* group_std, const int32_t* perm,
                                const int32_t* seg_plus_one, const float* rewards, const double* mean,
                                const double* stdev, const int32_t* size, size_t n, int scale, float eps) {
  for (size_t j = blockIdx.x * size_t(blockDim.x) + threadIdx.x; j < n; j += size_t(gridDim.x) * blockDim.x) {
    const int32_t i = perm[j], g = seg_plus_one[j] - 1;
    const double centered = __dsub_rn(double(rewards[i]), mean[g]);
    double a = 0.0;
    if (size[g] > 1) a = scale == 1 ? __ddiv_rn(centered, __dadd_rn(stdev[g], double(eps))) : centered;
    advantages[i] = __double2float_rn(a);
    group_mean[i] = __double2float_rn(mean[g]);
    group_std[i] = __double2float_rn(stdev[g]);
  }
}

// Filter codes of selectRollouts, in the order of semantics.md section 3.
enum : uint8_t { kDropZeroVariance = 0, kDropEndReason = 1, kDropNoToolImage = 2, kDropOverLength = 3, kKeep = 4 };

struct FilterParams {
  bool keep_end_reason[kEndReasonCount];
  bool require_tool_image;
  int64_t max_length;
};

__global__ void FilterKernel(uint8_t* code, double* std_of, const int32_t* perm, const int32_t* seg_plus_one,
                             const double* stdev, const float* lo, const float* hi, const uint8_t* end_reasons,
                             const int32_t* tool_images, const int32_t* lengths, size_t n, FilterParams p) {
  for (size_t j = blockIdx.x * size_t(blockDim.x) + threadIdx.x; j < n; j += size_t(gridDim.x) * blockDim.x) {
    const int32_t i = perm[j], g = seg_plus_one[j] - 1;
    uint8_t c = kKeep;
    if (hi[g] == lo[g]) c = kDropZeroVariance;
    else if (end_reasons[i] >= kEndReasonCount || !p.keep_end_reason[end_reasons[i]]) c = kDropEndReason;  // bounds: the array may have changed since validation
    else if (p.require_tool_image && tool_images[i] == 0) c = kDropNoToolImage;
    else if (p.max_length >= 0 && lengths && lengths[i] > p.max_length) c = kDropOverLength;
    code[i] = c;
    std_of[i] = stdev[g];
  }
}

__global__ void KeepFlagKernel(uint8_t* flags, const uint8_t* code, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    flags[i] = code[i] == kKeep;
}

// Sorted-by-group layout of a batch, with the statistics of every group.
struct GroupLayout {
  size_t groups = 0;
  DeviceBuffer<int32_t> perm, seg_plus_one, starts, size;
  DeviceBuffer<double> mean, stdev;
  DeviceBuffer<float> lo, hi;
};

GroupLayout BuildGroupLayout(const float* d_rewards, const int32_t* groups, size_t n) {
  GroupLayout L;
  const int num = static_cast<int>(n);
  DeviceBuffer<int32_t> d_groups(groups, n), iota(n), flags(n);
  DeviceBuffer<uint64_t> keys(n), sorted_keys(n);
  L.perm.Resize(n);
  L.seg_plus_one.Resize(n);
  const unsigned blocks = BlocksFor(n, kThreads);
  IotaKernel<<<blocks, kThreads>>>(iota.get(), n);
  PV_CUDA_LAUNCH_CHECK();
  GroupValueKeyKernel<<<blocks, kThreads>>>(keys.get(), d_groups.get(), d_rewards, n);
  PV_CUDA_LAUNCH_CHECK();
  CubRun([&](void* temp, size_t& bytes) {
    return cub::DeviceRadixSort::SortPairs(temp, bytes, keys.get(), sorted_keys.get(), iota.get(), L.perm.get(), num);
  });
  HeadFlagKernel<<<blocks, kThreads>>>(flags.get(), sorted_keys.get(), n);
  PV_CUDA_LAUNCH_CHECK();
  CubRun([&](void* temp, size_t& bytes) {
    return cub::DeviceScan::InclusiveSum(temp, bytes, flags.get(), L.seg_plus_one.get(), num);
  });
  int32_t groups_found = 0;
  PV_CUDA_CHECK(cudaMemcpy(&groups_found, L.seg_plus_one.get() + (n - 1), sizeof(int32_t), cudaMemcpyDeviceToHost));
  L.groups = static_cast<size_t>(groups_found);
  L.starts.Resize(L.groups + 1);
  SegmentStartKernel<<<blocks, kThreads>>>(L.starts.get(), flags.get(), L.seg_plus_one.get(), n);
  PV_CUDA_LAUNCH_CHECK();
  const int32_t end = num;
  PV_CUDA_CHECK(cudaMemcpy(L.starts.get() + L.groups, &end, sizeof(int32_t), cudaMemcpyHostToDevice));
  L.mean.Resize(L.groups);
  L.stdev.Resize(L.groups);
  L.size.Resize(L.groups);
  L.lo.Resize(L.groups);
  L.hi.Resize(L.groups);
  GroupStatsKernel<<<BlocksFor(L.groups, kThreads), kThreads>>>(L.mean.get(), L.stdev.get(), L.size.get(), L.lo.get(),
                                                                 L.hi.get(), L.starts.get(), L.perm.get(), d_rewards,
                                                                 L.groups);
  PV_CUDA_LAUNCH_CHECK();
  return L;
}

// Policy loss: one thread per token, the sequence found by binary search.
__device__ int32_t SequenceOf(const int32_t* offsets, int32_t sequences, int32_t t) {
  int32_t lo = 0, hi = sequences;  // offsets[lo] <= t < offsets[hi]
  while (hi - lo > 1) {
    const int32_t mid = (lo + hi) / 2;
    if (offsets[mid] <= t) lo = mid; else hi = mid;
  }
  return lo;
}

template <typename Mask>
__global__ void MaskCountKernel(double* seq_mask, unsigned long long* bad_mask, const Mask* mask,
                                const int32_t* offsets, int32_t sequences, size_t tokens) {
  for (size_t t = blockIdx.x * size_t(blockDim.x) + threadIdx.x; t < tokens; t += size_t(gridDim.x) * blockDim.x) {
    const float m = static_cast<float>(mask[t]);
    if (m != 0.0f && m != 1.0f) atomicMin(bad_mask, static_cast<unsigned long long>(t));
    if (m == 1.0f) atomicAdd(&seq_mask[SequenceOf(offsets, sequences, static_cast<int32_t>(t))], 1.0);
  }
}

struct LossSums {
  double loss, clipped, lower, kl;
};

template <typename Mask>
__global__ void PolicyLossKernel(float* grad, double* sums /* [4] */, unsigned long long* bad,
                                 const float* logp, const float* old_logp, const float* ref_logp,
                                 const float* advantages, bool per_sequence, const Mask* mask,
                                 const int32_t* offsets, const double* seq_mask, int32_t sequences,
                                 size_t tokens, LossOptions o, AggWeights w, bool with_kl) {
  using BlockReduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename BlockReduce::TempStorage storage;
  double loss = 0, clipped = 0, lower = 0, kl = 0;
  for (size_t t = blockIdx.x * size_t(blockDim.x) + threadIdx.x; t < tokens; t += size_t(gridDim.x) * blockDim.x) {
    const int32_t b = SequenceOf(offsets, sequences, static_cast<int32_t>(t));
    const float adv = per_sequence ? advantages[b] : advantages[t];
    const float lp = logp[t], old = old_logp[t];
    grad[t] = 0.0f;
    if (!isfinite(lp) || !isfinite(old) || !isfinite(adv) || (with_kl && !isfinite(ref_logp[t]))) {
      atomicMin(bad, static_cast<unsigned long long>(t));
      continue;
    }
    if (mask[t] == 0) continue;
    const double weight = SequenceWeight(o.agg, w, seq_mask[b]);
    TokenLoss tl = ClippedTokenLoss(lp, old, adv, o.clip_low, o.clip_high, o.use_dual_clip, o.dual_clip);
    if (with_kl) {
      float kv, kg;
      KlPenalty(lp, ref_logp[t], o.kl_type, &kv, &kg);
      tl.loss += o.kl_coef * kv;
      tl.grad += o.kl_coef * kg;
    }
    grad[t] = tl.grad * static_cast<float>(weight);
    loss += double(tl.loss) * weight;
    clipped += tl.clipped;
    lower += tl.dual_clipped;
    kl += double(old) - double(lp);
  }
  const double values[4] = {loss, clipped, lower, kl};
  for (int k = 0; k < 4; ++k) {
    const double total = BlockReduce(storage).Sum(values[k]);
    if (threadIdx.x == 0) atomicAdd(&sums[k], total);
    __syncthreads();
  }
}

class CudaScoringKernels final : public ScoringKernels {
 public:
  void AccumulativeToolReward(float* reward, const float* acc, const int32_t* tool_calls, size_t n, float coef,
                              float threshold) override {
    ValidateToolRewardInputs(acc, tool_calls, n);
    if (n == 0) return;
    DeviceBuffer<float> d_acc(acc, n), d_reward(n);
    DeviceBuffer<int32_t> d_calls(tool_calls, n);
    ToolRewardKernel<<<BlocksFor(n, kThreads), kThreads>>>(d_reward.get(), d_acc.get(), d_calls.get(), n, coef,
                                                          threshold);
    PV_CUDA_LAUNCH_CHECK();
    d_reward.Download(reward, n);
    CheckToolRewards(reward, acc, tool_calls, n, coef);
  }

  void GroupAdvantages(float* advantages, float* group_mean, float* group_std, const float* rewards,
                       const int32_t* groups, size_t n, AdvantageScale scale, float eps) override {
    CheckFinite(rewards, n, "rewards");
    if (n == 0) return;
    DeviceBuffer<float> d_rewards(rewards, n), d_adv(n), d_mean(n), d_std(n);
    GroupLayout L = BuildGroupLayout(d_rewards.get(), groups, n);
    AdvantageKernel<<<BlocksFor(n, kThreads), kThreads>>>(d_adv.get(), d_mean.get(), d_std.get(), L.perm.get(),
                                                         L.seg_plus_one.get(), d_rewards.get(), L.mean.get(),
                                                         L.stdev.get(), L.size.get(), n, static_cast<int>(scale), eps);
    PV_CUDA_LAUNCH_CHECK();
    d_adv.Download(advantages, n);
    d_mean.Download(group_mean, n);
    d_std.Download(group_std, n);
  }

  SelectResult SelectRollouts(const float* rewards, const int32_t* groups, const uint8_t* end_reasons,
                              const int32_t* tool_images, const int32_t* lengths, size_t n,
                              const SelectOptions& options) override {
    CheckFinite(rewards, n, "rewards");
    ValidateSelectInputs(rewards, end_reasons, tool_images, lengths, n);
    SelectResult result;
    if (n == 0) return result;
    DeviceBuffer<float> d_rewards(rewards, n);
    DeviceBuffer<uint8_t> d_end(end_reasons, n), d_code(n), d_flags(n);
    DeviceBuffer<int32_t> d_images(tool_images, n);
    DeviceBuffer<int32_t> d_lengths;
    if (lengths) {
      d_lengths.Resize(n);
      d_lengths.Upload(lengths, n);
    }
    DeviceBuffer<double> d_std_of(n);
    GroupLayout L = BuildGroupLayout(d_rewards.get(), groups, n);
    FilterParams p{};
    for (int r = 0; r < kEndReasonCount; ++r) p.keep_end_reason[r] = options.keep_end_reason[r];
    p.require_tool_image = options.require_tool_image;
    p.max_length = lengths ? options.max_length : -1;
    const unsigned blocks = BlocksFor(n, kThreads);
    FilterKernel<<<blocks, kThreads>>>(d_code.get(), d_std_of.get(), L.perm.get(), L.seg_plus_one.get(),
                                       L.stdev.get(), L.lo.get(), L.hi.get(), d_end.get(), d_images.get(),
                                       lengths ? d_lengths.get() : nullptr, n, p);
    PV_CUDA_LAUNCH_CHECK();
    std::vector<uint8_t> code(n);
    d_code.Download(code.data(), n);
    size_t kept = 0;
    for (uint8_t c : code) {
      if (c == kDropZeroVariance) ++result.dropped_zero_variance;
      else if (c == kDropEndReason) ++result.dropped_end_reason;
      else if (c == kDropNoToolImage) ++result.dropped_no_tool_image;
      else if (c == kDropOverLength) ++result.dropped_over_length;
      else ++kept;
    }
    const size_t keep = std::min(options.target, kept);
    if (keep == 0) return result;

    // Compact the survivors in index order, then (when ranking) a stable
    // descending radix sort on the group std keeps ascending index for ties.
    const int num = static_cast<int>(n);
    DeviceBuffer<int32_t> iota(n), surv_idx(n), sorted_idx(n);
    DeviceBuffer<double> surv_std(n), sorted_std(n);
    DeviceBuffer<int32_t> d_count(1);
    IotaKernel<<<blocks, kThreads>>>(iota.get(), n);
    PV_CUDA_LAUNCH_CHECK();
    KeepFlagKernel<<<blocks, kThreads>>>(d_flags.get(), d_code.get(), n);
    PV_CUDA_LAUNCH_CHECK();
    CubRun([&](void* temp, size_t& bytes) {
      return cub::DeviceSelect::Flagged(temp, bytes, iota.get(), d_flags.get(), surv_idx.get(), d_count.get(), num);
    });
    result.indices.resize(keep);
    if (!options.rank_by_std) {
      surv_idx.Download(result.indices.data(), keep);
      return result;
    }
    CubRun([&](void* temp, size_t& bytes) {
      return cub::DeviceSelect::Flagged(temp, bytes, d_std_of.get(), d_flags.get(), surv_std.get(), d_count.get(), num);
    });
    const int survivors = static_cast<int>(kept);
    CubRun([&](void* temp, size_t& bytes) {
      return cub::DeviceRadixSort::SortPairsDescending(temp, bytes, surv_std.get(), sorted_std.get(), surv_idx.get(),
                                                       sorted_idx.get(), survivors);
    });
    sorted_idx.Download(result.indices.data(), keep);
    return result;
  }

  LossResult PolicyLoss(float* grad, const LossInput& in, const LossOptions& o) override {
    return in.mask_u8 ? Run(grad, in, in.mask_u8, o) : Run(grad, in, in.mask, o);
  }

 private:
  template <typename Mask>
  static LossResult Run(float* grad, const LossInput& in, const Mask* mask, const LossOptions& o) {
    const size_t T = in.tokens, B = in.sequences;
    CheckSeqOffsets(in.seq_offsets, B, T, "seqOffsets");
    LossResult r;
    if (T == 0) return r;
    const size_t longest = LongestSequence(in.seq_offsets, B);
    const int32_t seqs = static_cast<int32_t>(B);
    DeviceBuffer<int32_t> d_off(in.seq_offsets, B + 1);
    DeviceBuffer<Mask> d_mask(mask, T);
    DeviceBuffer<double> d_seq_mask(B);
    d_seq_mask.Zero();
    const unsigned long long none = ~0ull;
    DeviceBuffer<unsigned long long> d_bad(&none, 1);
    const unsigned blocks = BlocksFor(T, kThreads, 4096);
    MaskCountKernel<<<blocks, kThreads>>>(d_seq_mask.get(), d_bad.get(), d_mask.get(), d_off.get(), seqs, T);
    PV_CUDA_LAUNCH_CHECK();
    unsigned long long bad = none;
    d_bad.Download(&bad, 1);
    if (bad != none) Fail("E_ARG", "mask[", bad, "] must be 0 or 1, got ", +mask[bad]);
    std::vector<double> seq_mask(B);
    d_seq_mask.Download(seq_mask.data(), B);
    const LossPrologue prologue = MakeLossPrologue(seq_mask.data(), B, longest, o.agg, o.norm_denominator);
    const double total_mask = prologue.total_mask;
    const AggWeights w = prologue.weights;
    const bool with_kl = o.kl_coef > 0 && in.ref_logp != nullptr;

    const size_t adv_count = in.advantages_per_sequence ? B : T;
    DeviceBuffer<float> d_logp(in.logp, T), d_old(in.old_logp, T), d_adv(in.advantages, adv_count), d_grad(T);
    DeviceBuffer<float> d_ref;
    if (with_kl) {
      d_ref.Resize(T);
      d_ref.Upload(in.ref_logp, T);
    }
    DeviceBuffer<double> d_sums(4);
    d_sums.Zero();
    PolicyLossKernel<<<blocks, kThreads>>>(d_grad.get(), d_sums.get(), d_bad.get(), d_logp.get(), d_old.get(),
                                           with_kl ? d_ref.get() : nullptr, d_adv.get(), in.advantages_per_sequence,
                                           d_mask.get(), d_off.get(), d_seq_mask.get(), seqs, T, o, w, with_kl);
    PV_CUDA_LAUNCH_CHECK();
    d_bad.Download(&bad, 1);
    if (bad != none) {
      const char* name = !std::isfinite(in.logp[bad]) ? "logp"
                         : !std::isfinite(in.old_logp[bad]) ? "oldLogp"
                         : (with_kl && !std::isfinite(in.ref_logp[bad])) ? "refLogp"
                                                                            : "advantages";
      Fail("E_NONFINITE", name, " must be finite: found a non-finite value at token ", bad);
    }
    double sums[4];
    d_sums.Download(sums, 4);
    d_grad.Download(grad, T);
    r.loss = sums[0];
    if (total_mask > 0) {
      r.clip_frac = sums[1] / total_mask;
      r.clip_frac_lower = sums[2] / total_mask;
      r.approx_kl = sums[3] / total_mask;
    }
    return r;
  }
};

}  // namespace
}  // namespace cuda

ScoringKernels& CudaScoring() {
  static cuda::CudaScoringKernels kernels;
  return kernels;
}

}  // namespace pv

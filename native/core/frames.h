// Frame selection for on-demand video context: semantics.md section 7.
// One interface, implemented by the CPU backend (cpu/frames.cc) and the CUDA
// backend (cuda/frames.cu). All pointers are host memory; sizes are counts of
// elements. Outputs come first, then inputs, then sizes and options.
//
// Determinism contract (both backends, every machine):
//   * dot(a, b) over D elements is summed in float64 in one fixed order: 16
//     partial sums, lane l taking the elements j = l, l + 16, l + 32, ... in
//     ascending j, then combined as the butterfly l + (l ^ 8), then ^ 4, ^ 2,
//     ^ 1. Each product of two float32 values is exact in float64, so a fused
//     multiply-add and a multiply-then-add give the same bits.
//   * relevance s_i = float32(dot(e_i, q)), or with `normalize`
//     float32(dot(e_i, q) / (sqrt(dot(e_i, e_i)) * sqrt(dot(q, q)))) and +0
//     where a norm is 0; -0 is written as +0.
//   * every selection compares these float32 relevances (or, for mmr, the
//     float64 objective below); ties go to the lower frame index.
//   * mmr: cos(e_i, e_j) = dot(e_i, e_j) / (sqrt(dot(e_i, e_i)) * sqrt(dot(e_j, e_j))),
//     0 where a norm is 0; objective = lambda * s_i - (1 - lambda) * maxcos_i
//     in float64 (two products and one difference, no fused multiply-add).
//   * bolt: weights, cumulative sum (ascending frame order) and targets in
//     float64 with the operations of FramePow / BoltTarget below.
// Only IEEE operations that are correctly rounded on both the CPU and CUDA
// (+, -, *, /, sqrt, fma of exact products) enter a result, so the backends
// return identical indices and identical relevance bits.
#pragma once

#include <cmath>
#include <cstddef>
#include <array>
#include <cstdint>
#include <cstring>

#include "core/common.h"
#include "core/exact_math.h"

namespace pv {

enum class FrameMode : int { kUniform = 0, kTopk = 1, kTopkGap = 2, kMmr = 3, kBolt = 4 };
// The names the modes cross the JavaScript boundary by, in enum order.
constexpr std::array<const char*, 5> kFrameModeNames{"uniform", "topk", "topk-gap", "mmr", "bolt"};

// A batch of B videos: N_b frames each, packed. D is the feature dimension.
struct FrameBatch {
  const float* embeddings = nullptr;     // [N, D], N = frame_offsets[B]
  const int32_t* frame_offsets = nullptr;  // [B + 1], frame_offsets[0] = 0, non-decreasing
  const float* queries = nullptr;        // [B, D]
  size_t videos = 0;                     // B
  size_t frames = 0;                     // N = sum of N_b
  size_t dim = 0;                        // D >= 1
};

struct FrameOptions {
  FrameMode mode = FrameMode::kTopk;
  const int32_t* budgets = nullptr;  // [B] per-video k, or null: `budget` for every video
  int32_t budget = 0;                // k when budgets is null
  int32_t min_gap = 1;               // topk-gap: accepted frames are >= min_gap apart
  double lambda = 0.5;               // mmr: weight of relevance against redundancy, in [0, 1]
  double alpha = 3.0;                // bolt: sharpness of the sampling weights, > 0
  bool normalize = false;            // cosine relevance instead of the inner product
};

// Output slots past a video's selection hold this index and a NaN score.
constexpr int32_t kNoFrame = -1;

class FrameKernels {
 public:
  virtual ~FrameKernels() = default;

  // relevance[i] = s_i for every frame of every video.
  virtual void FrameRelevance(float* relevance,  // [N]
                              const FrameBatch& batch, bool normalize) = 0;

  // Per video b, row b of `indices` / `scores` holds the selected frame
  // indices (local to the video, ascending) and their relevance, padded with
  // kNoFrame / NaN up to `kmax` (>= every budget).
  virtual void SelectFrames(int32_t* indices,  // [B, kmax]
                            float* scores,     // [B, kmax]
                            const FrameBatch& batch, const FrameOptions& options, size_t kmax) = 0;
};

FrameKernels& CpuFrames();
#ifdef PV_WITH_CUDA
FrameKernels& CudaFrames();

// Kernel-only timing of the CUDA backend on device-resident data, for the
// native check: medians over `repeats` runs after a warm-up, in ms, and the
// card's device-to-device copy rate (bytes read + written per second) as the
// bandwidth yardstick.
struct CudaFrameTiming {
  double score_ms = 0;  // query preparation and scoring
  double total_ms = 0;  // scoring and selection
  double copy_gbs = 0;
};
CudaFrameTiming TimeCudaFrames(const FrameBatch& batch, const FrameOptions& options, size_t kmax, int repeats);
#endif
// The backend for `device`; throws E_BACKEND when it cannot run here.
FrameKernels& Frames(Device device);

// Validation shared by every backend (core/frames.cc), only what protects
// memory behind the TypeScript checks: offsets, budgets against the output
// width, the mode's range; and finite queries. minGap, lambda and alpha are
// validated in lib/kernels/frames.ts only.
// Embedding finiteness is checked inside the scoring pass (a non-finite
// element makes its frame's float64 dot product non-finite), then reported
// by ReportNonFiniteFrame.
void ValidateFrameBatch(const FrameBatch& batch);
void ValidateFrameOptions(const FrameBatch& batch, const FrameOptions& options, size_t kmax);
[[noreturn]] void ReportNonFiniteFrame(const FrameBatch& batch, size_t frame);
[[noreturn]] void ReportRelevanceOverflow(const FrameBatch& batch, size_t frame);

// ---- arithmetic shared by both backends (bit-exact on host and device) ----

// The float32 relevance from a float64 dot product (and norms when
// normalizing): -0 becomes +0, a zero norm gives +0.
PV_HD inline float RelevanceFromDot(double dot) {
  const float s = static_cast<float>(dot);
  return s == 0.0f ? 0.0f : s;
}
PV_HD inline float CosineRelevance(double dot, double norm_a, double norm_b) {
  if (norm_a == 0.0 || norm_b == 0.0) return 0.0f;
  return RelevanceFromDot(ExactDiv(dot, ExactMul(norm_a, norm_b)));
}
// cos(e_i, e_j) of mmr, in float64 (norms are sqrt of the squared norms).
PV_HD inline double FrameCosine(double dot, double norm_a, double norm_b) {
  if (norm_a == 0.0 || norm_b == 0.0) return 0.0;
  return ExactDiv(dot, ExactMul(norm_a, norm_b));
}
// mmr objective: lambda * s - (1 - lambda) * maxcos, with one_minus_lambda = 1 - lambda.
PV_HD inline double MmrObjective(float s, double maxcos, double lambda, double one_minus_lambda) {
  return ExactSub(ExactMul(lambda, static_cast<double>(s)), ExactMul(one_minus_lambda, maxcos));
}

// Order-preserving map of a float32 (not NaN, -0 already +0) to uint32.
PV_HD inline uint32_t OrderedBits(float s) {
#if defined(__CUDA_ARCH__)
  const uint32_t bits = __float_as_uint(s);
#else
  uint32_t bits;
  std::memcpy(&bits, &s, sizeof bits);
#endif
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}
PV_HD inline float FromOrderedBits(uint32_t u) {
  const uint32_t bits = (u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float s;
  std::memcpy(&s, &bits, sizeof s);
  return s;
#endif
}
// Selection key: a larger key is the better frame (higher relevance, then
// lower index). `local` is the frame's index within its video.
PV_HD inline uint64_t FrameKey(float s, uint32_t local) {
  return (static_cast<uint64_t>(OrderedBits(s)) << 32) | static_cast<uint64_t>(0xFFFFFFFFu - local);
}
PV_HD inline uint32_t FrameKeyIndex(uint64_t key) { return 0xFFFFFFFFu - static_cast<uint32_t>(key); }
PV_HD inline float FrameKeyScore(uint64_t key) { return FromOrderedBits(static_cast<uint32_t>(key >> 32)); }

// uniform: i_j = floor((j + 0.5) * n / k), exactly, in integers.
PV_HD inline int32_t UniformFrame(int64_t j, int64_t n, int64_t k) {
  return static_cast<int32_t>(((2 * j + 1) * n) / (2 * k));
}

// bolt target u_j of k: numpy.linspace(1/k, 1 - 1/k, k) (j * step + start,
// the last one = stop), and 0.5 when k = 1.
PV_HD inline double BoltTarget(int64_t j, int64_t k) {
  if (k == 1) return 0.5;
  const double start = ExactDiv(1.0, static_cast<double>(k));
  const double stop = ExactSub(1.0, start);
  if (j == k - 1) return stop;
  const double step = ExactDiv(ExactSub(stop, start), static_cast<double>(k - 1));
  return ExactAdd(ExactMul(static_cast<double>(j), step), start);
}

// x^alpha for x in [0, 1] and alpha > 0, from correctly rounded operations
// only (so host and device agree bit for bit): binary powering for integer
// alpha up to 2^20, else exp(alpha * log(x)) with the series below (relative
// error a few 1e-16, well inside what bolt's float64 cdf resolves).
PV_HD inline double FrameLog(double x) {  // x > 0, finite
  int e = 0;
  double m = frexp(x, &e);  // x = m * 2^e, m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m = ExactMul(m, 2.0);
    e -= 1;
  }
  // log(m) = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.1716
  const double f = ExactDiv(ExactSub(m, 1.0), ExactAdd(m, 1.0));
  const double f2 = ExactMul(f, f);
  double series = 1.0 / 27.0;
  for (int n = 12; n >= 0; --n) series = ExactAdd(ExactDiv(1.0, static_cast<double>(2 * n + 1)), ExactMul(f2, series));
  const double log_m = ExactMul(ExactMul(2.0, f), series);
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double de = static_cast<double>(e);
  return ExactAdd(ExactAdd(ExactMul(de, ln2_hi), log_m), ExactMul(de, ln2_lo));
}
PV_HD inline double FrameExp(double y) {  // y <= 0
  if (y < -745.2) return 0.0;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double n = rint(ExactMul(y, 1.44269504088896338700));
  const double r = ExactSub(ExactSub(y, ExactMul(n, ln2_hi)), ExactMul(n, ln2_lo));  // |r| <= 0.35
  double p = 1.0;
  for (int t = 17; t >= 1; --t) p = ExactAdd(1.0, ExactMul(ExactDiv(r, static_cast<double>(t)), p));
  return ldexp(p, static_cast<int>(n));
}
PV_HD inline double FramePow(double x, double alpha) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  if (alpha == floor(alpha) && alpha <= 1048576.0) {
    uint32_t n = static_cast<uint32_t>(alpha);
    double result = 1.0, base = x;
    for (;;) {
      if (n & 1u) result = ExactMul(result, base);
      n >>= 1;
      if (n == 0) break;
      base = ExactMul(base, base);
    }
    return result;
  }
  return FrameExp(ExactMul(alpha, FrameLog(x)));
}

// bolt weight of a frame with relevance s in a video with relevance range [lo, hi].
PV_HD inline double BoltWeight(float s, float lo, float hi, double alpha) {
  if (hi == lo) return 1.0;
  const double x = ExactDiv(ExactSub(static_cast<double>(s), static_cast<double>(lo)),
                            ExactSub(static_cast<double>(hi), static_cast<double>(lo)));
  return FramePow(x, alpha);
}

}  // namespace pv

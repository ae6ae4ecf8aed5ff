// Sampling one token from a row of logits: policy_sampling.h.
#include "core/policy_sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define PV_SAMPLING_AVX512 1
// GCC 12 reports its own _mm512_undefined_* inside the intrinsics as
// maybe-uninitialized (a false positive, as in cpu/policy_gemm.cc).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace pv {
namespace {

// e^x for x <= 0 in float64, vectorisable: x = n ln 2 + r (ln 2 in two
// parts, |r| <= ln 2 / 2), e^r by its Taylor polynomial of degree 13 (the
// remainder is under 5e-18) in Horner form with fused multiply-adds, times
// 2^n; within 2 ulp of a correctly rounded e^x. 0 below -708, where e^x is
// under 2^-1021 (nothing that a sum holding e^0 = 1 can notice).
#pragma omp declare simd notinbranch
inline double ExpNonPositive(double x) {
  const double c = std::max(x, -708.0);
  // n = round(c / ln 2) by the 1.5 * 2^52 trick (vectorises without -ffast-math).
  const double n = (c * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
  double r = c - n * 6.93145751953125e-1;
  r = r - n * 1.42860682030941723212e-6;
  double p = 1.0 / 6227020800.0;  // 1 / 13!
  p = std::fma(p, r, 1.0 / 479001600.0);
  p = std::fma(p, r, 1.0 / 39916800.0);
  p = std::fma(p, r, 1.0 / 3628800.0);
  p = std::fma(p, r, 1.0 / 362880.0);
  p = std::fma(p, r, 1.0 / 40320.0);
  p = std::fma(p, r, 1.0 / 5040.0);
  p = std::fma(p, r, 1.0 / 720.0);
  p = std::fma(p, r, 1.0 / 120.0);
  p = std::fma(p, r, 1.0 / 24.0);
  p = std::fma(p, r, 1.0 / 6.0);
  p = std::fma(p, r, 0.5);
  p = std::fma(p, r, 1.0);
  p = std::fma(p, r, 1.0);
  const int64_t bits = (static_cast<int64_t>(n) + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -708.0 ? 0.0 : p * scale;
}

// Sums over the vocabulary run in blocks of kSumBlock ids (each block in id
// order, then the blocks in order): the inverse-CDF scan walks the same
// partial sums, so it is consistent with the normaliser to the last bit.
constexpr size_t kSumBlock = 16;

#if !PV_SAMPLING_AVX512

// w[v] = e^((logits[v] - mx) / temperature) and the block sums; returns their total.
double SoftmaxWeights(double* w, double* block_sums, const float* logits, size_t V, double mx, double temperature) {
  if (temperature == 1.0) {  // (x - mx) / 1 is x - mx
#pragma omp simd
    for (size_t v = 0; v < V; ++v) w[v] = ExpNonPositive(static_cast<double>(logits[v]) - mx);
  } else {
#pragma omp simd
    for (size_t v = 0; v < V; ++v) w[v] = ExpNonPositive((static_cast<double>(logits[v]) - mx) / temperature);
  }
  double total = 0;
  for (size_t b = 0; b * kSumBlock < V; ++b) {
    double sum = 0;
    for (size_t v = b * kSumBlock; v < std::min(V, (b + 1) * kSumBlock); ++v) sum += w[v];
    block_sums[b] = sum;
  }
  for (size_t b = 0; b * kSumBlock < V; ++b) total += block_sums[b];
  return total;
}

#endif

// The first id whose cumulative weight exceeds target (the last id when none does).
size_t InverseCdf(const double* w, const double* block_sums, size_t V, double target) {
  double cdf = 0;
  for (size_t b = 0; b * kSumBlock < V; ++b) {
    const double next = cdf + block_sums[b];
    if (next > target) {
      const size_t end = std::min(V, (b + 1) * kSumBlock);
      double prefix = 0;
      for (size_t v = b * kSumBlock; v < end; ++v) {
        prefix += w[v];
        if (cdf + prefix > target) return v;
      }
      return end - 1;
    }
    cdf = next;
  }
  return V - 1;
}

#if PV_SAMPLING_AVX512
// ExpNonPositive on 8 lanes: the same operations in the same order, so the
// same bits as the scalar (or compiler-vectorised) function.
inline __m512d ExpNonPositive8(__m512d x) {
  const __m512d lo = _mm512_set1_pd(-708.0);
  const __m512d c = _mm512_max_pd(x, lo);
  const __m512d big = _mm512_set1_pd(6755399441055744.0);
  const __m512d n = _mm512_sub_pd(_mm512_add_pd(_mm512_mul_pd(c, _mm512_set1_pd(1.4426950408889634)), big), big);
  __m512d r = _mm512_sub_pd(c, _mm512_mul_pd(n, _mm512_set1_pd(6.93145751953125e-1)));
  r = _mm512_sub_pd(r, _mm512_mul_pd(n, _mm512_set1_pd(1.42860682030941723212e-6)));
  __m512d p = _mm512_set1_pd(1.0 / 6227020800.0);
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 479001600.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 39916800.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 3628800.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 362880.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 40320.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 5040.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 720.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 120.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 24.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 6.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0.5));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
  const __m512i bits = _mm512_slli_epi64(_mm512_add_epi64(_mm512_cvttpd_epi64(n), _mm512_set1_epi64(1023)), 52);
  const __m512d y = _mm512_mul_pd(p, _mm512_castsi512_pd(bits));
  return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, lo, _CMP_LT_OQ), y, _mm512_setzero_pd());
}

// 8 x 8 doubles transposed in registers (rows r[0..7] become columns).
inline void Transpose8x8(__m512d r[8]) {
  __m512d t[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    r[4 * i] = _mm512_shuffle_f64x2(t[4 * i], t[4 * i + 2], 0x88);
    r[4 * i + 1] = _mm512_shuffle_f64x2(t[4 * i + 1], t[4 * i + 3], 0x88);
    r[4 * i + 2] = _mm512_shuffle_f64x2(t[4 * i], t[4 * i + 2], 0xdd);
    r[4 * i + 3] = _mm512_shuffle_f64x2(t[4 * i + 1], t[4 * i + 3], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f64x2(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f64x2(r[i], r[i + 4], 0xdd);
  }
  for (int i = 0; i < 8; ++i) r[i] = t[i];
}

// SoftmaxWeights with 8 lanes of e^x, and the block sums of 8 full blocks
// at once (lane l sums block 8 g + l over its ids in id order: the same sums).
double SoftmaxWeights(double* w, double* block_sums, const float* logits, size_t V, double mx, double temperature) {
  const __m512d mxv = _mm512_set1_pd(mx), tv = _mm512_set1_pd(temperature);
  size_t v = 0;
  for (; v + 8 <= V; v += 8) {
    const __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(logits + v)), mxv);
    _mm512_storeu_pd(w + v, ExpNonPositive8(temperature == 1.0 ? d : _mm512_div_pd(d, tv)));
  }
  for (; v < V; ++v)
    w[v] = ExpNonPositive(temperature == 1.0 ? static_cast<double>(logits[v]) - mx
                                             : (static_cast<double>(logits[v]) - mx) / temperature);
  static_assert(kSumBlock == 16, "two 8 x 8 transposes per group of 8 blocks");
  const size_t groups = V / (8 * kSumBlock);
  for (size_t g = 0; g < groups; ++g) {
    const double* base = w + g * 8 * kSumBlock;
    __m512d sum = _mm512_setzero_pd();
    for (size_t half = 0; half < 2; ++half) {
      __m512d r[8];
      for (size_t l = 0; l < 8; ++l) r[l] = _mm512_loadu_pd(base + l * kSumBlock + half * 8);
      Transpose8x8(r);  // r[i] lane l: id (8 g + l) * 16 + half * 8 + i
      for (size_t i = 0; i < 8; ++i) sum = _mm512_add_pd(sum, r[i]);
    }
    _mm512_storeu_pd(block_sums + g * 8, sum);
  }
  for (size_t b = groups * 8; b * kSumBlock < V; ++b) {
    double sum = 0;
    for (size_t x = b * kSumBlock; x < std::min(V, (b + 1) * kSumBlock); ++x) sum += w[x];
    block_sums[b] = sum;
  }
  double total = 0;
  for (size_t b = 0; b * kSumBlock < V; ++b) total += block_sums[b];
  return total;
}
#endif

}  // namespace

SampleScratch& ThreadSampleScratch() {
  thread_local SampleScratch scratch;
  return scratch;
}

// Samples from softmax(logits / temperature) restricted to the top_k largest
// logits (ties: lower id first) with the uniform u; temperature 0 is argmax.
// The returned logp is under the policy itself: log softmax(logits)[token].
// The arithmetic is float64; at temperature 1 the normaliser's terms are the
// sampling weights themselves, computed once.
Sampled SampleToken(const float* logits, size_t V, double temperature, size_t top_k, double u, SampleScratch& scratch) {
  float max_logit = -INFINITY;
#pragma omp simd reduction(max : max_logit)
  for (size_t v = 0; v < V; ++v) max_logit = std::max(max_logit, logits[v]);
  const double mx = max_logit;
  const size_t k = top_k == 0 || top_k > V ? V : top_k;
  scratch.weights.resize(V);
  scratch.blocks.resize((V + kSumBlock - 1) / kSumBlock);
  double* w = scratch.weights.data();
  double* blocks = scratch.blocks.data();
  const double sum = SoftmaxWeights(w, blocks, logits, V, mx, 1.0);
  const double lse = mx + std::log(sum);
  size_t token = 0;
  if (temperature > 0 && k == V) {
    const double total = temperature == 1.0 ? sum : SoftmaxWeights(w, blocks, logits, V, mx, temperature);
    token = InverseCdf(w, blocks, V, u * total);
  } else if (temperature > 0) {
    std::vector<int32_t>& order = scratch.order;
    order.resize(V);
    for (size_t v = 0; v < V; ++v) order[v] = static_cast<int32_t>(v);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
    double total = 0;
    for (size_t i = 0; i < k; ++i) {
      w[i] = ExpNonPositive((static_cast<double>(logits[order[i]]) - mx) / temperature);
      total += w[i];
    }
    const double target = u * total;
    double cdf = 0;
    token = static_cast<size_t>(order[k - 1]);
    for (size_t i = 0; i < k; ++i) {
      cdf += w[i];
      if (cdf > target) {
        token = static_cast<size_t>(order[i]);
        break;
      }
    }
  } else {  // greedy: the first id holding the largest logit
    while (token + 1 < V && !(logits[token] == max_logit)) ++token;
  }
  return Sampled{static_cast<int32_t>(token), static_cast<float>(static_cast<double>(logits[token]) - lse)};
}

}  // namespace pv

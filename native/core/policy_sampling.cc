// Sampling one token from a row of logits: policy_sampling.h.
#include "core/policy_sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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
  size_t argmax = 0;
  while (argmax + 1 < V && !(logits[argmax] == max_logit)) ++argmax;
  const double mx = max_logit;
  const size_t k = top_k == 0 || top_k > V ? V : top_k;
  scratch.weights.resize(V);
  scratch.blocks.resize((V + kSumBlock - 1) / kSumBlock);
  double* w = scratch.weights.data();
  double* blocks = scratch.blocks.data();
  const double sum = SoftmaxWeights(w, blocks, logits, V, mx, 1.0);
  const double lse = mx + std::log(sum);
  size_t token = argmax;
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
  }
  return Sampled{static_cast<int32_t>(token), static_cast<float>(static_cast<double>(logits[token]) - lse)};
}

}  // namespace pv

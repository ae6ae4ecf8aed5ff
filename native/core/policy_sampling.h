// Sampling one token from a row of next-token logits (docs/policy.md,
// "Sampling and sessions"), host code shared by every backend's sessions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pv {

struct Sampled {
  int32_t token;
  float logp;
};

// Per-thread scratch of SampleToken.
struct SampleScratch {
  std::vector<double> weights;  // [V] e^((logit - max) / temperature), in id order
  std::vector<double> blocks;   // [V / kSumBlock] their block sums
  std::vector<int32_t> order;   // [V] top-k: ids by logit
};
SampleScratch& ThreadSampleScratch();

// Samples from softmax(logits / temperature) restricted to the top_k largest
// logits (ties: lower id first) with the uniform u; temperature 0 is argmax.
// The returned logp is under the policy itself: log softmax(logits)[token].
Sampled SampleToken(const float* logits, size_t V, double temperature, size_t top_k, double u, SampleScratch& scratch);

}  // namespace pv

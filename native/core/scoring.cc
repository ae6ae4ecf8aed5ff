// Backend-independent parts of the scoring kernels: dispatch and validation.
#include <cmath>
#include <cstring>

#include "core/device.h"
#include "core/scoring.h"

namespace pv {

// Validation scans longer than this run on all CPU threads.
constexpr size_t kParallelScan = 1 << 18;

ScoringKernels& Scoring(Device device) {
  RequireDevice(device);
#ifdef PV_WITH_CUDA
  if (device == Device::kCuda) return CudaScoring();
#endif
  return CpuScoring();
}

void CheckFinite(const float* values, size_t n, const char* name) {
  // A vectorisable scan of the exponent bits first (all ones: NaN or inf).
  uint32_t bad = 0;
#pragma omp parallel for simd num_threads(CpuThreads()) reduction(| : bad) if (n > kParallelScan)
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], sizeof bits);
    bad |= (bits & 0x7f800000u) == 0x7f800000u;
  }
  if (!bad) return;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i]))
      Fail("E_NONFINITE", name, " must be finite: ", name, "[", i, "] = ", values[i]);
  }
}

void CheckSeqOffsets(const int32_t* offsets, size_t sequences, size_t tokens, const char* name) {
  if (offsets[0] != 0) Fail("E_SHAPE", name, "[0] must be 0, got ", offsets[0]);
  for (size_t b = 0; b < sequences; ++b) {
    if (offsets[b + 1] < offsets[b])
      Fail("E_SHAPE", name, " must be non-decreasing: ", name, "[", b + 1, "] = ", offsets[b + 1], " < ",
           name, "[", b, "] = ", offsets[b]);
  }
  if (static_cast<size_t>(offsets[sequences]) != tokens)
    Fail("E_SHAPE", name, "[", sequences, "] must equal the token count ", tokens, ", got ", offsets[sequences]);
}

void ValidateToolRewardInputs(const float* acc, const int32_t* tool_calls, size_t n) {
  CheckFinite(acc, n, "acc");
  int bad = 0;
  for (size_t i = 0; i < n; ++i) bad |= tool_calls[i] < 0;
  if (!bad) return;
  for (size_t i = 0; i < n; ++i) {
    if (tool_calls[i] < 0) Fail("E_ARG", "toolCalls[", i, "] must be >= 0, got ", tool_calls[i]);
  }
}

void CheckToolRewards(const float* reward, const float* acc, const int32_t* tool_calls, size_t n, float coef) {
  uint32_t bad = 0;
#pragma omp parallel for simd num_threads(CpuThreads()) reduction(| : bad) if (n > kParallelScan)
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &reward[i], sizeof bits);
    bad |= (bits & 0x7f800000u) == 0x7f800000u;
  }
  if (!bad) return;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(reward[i]))
      Fail("E_NONFINITE", "the reward of trajectory ", i, " overflows float32: acc[", i, "] + coef * toolCalls[", i,
           "] = ", acc[i], " + ", coef, " * ", tool_calls[i]);
  }
}

void ValidateSelectInputs(const float* rewards, const uint8_t* end_reasons, const int32_t* tool_images,
                          const int32_t* lengths, size_t n) {
  // Rewards are checked by the group statistics (CheckFinite). A vectorisable
  // scan first; the detailed scan only to name the culprit.
  int bad = 0;
#pragma omp parallel for simd num_threads(CpuThreads()) reduction(| : bad) if (n > kParallelScan)
  for (size_t i = 0; i < n; ++i)
    bad |= (end_reasons[i] >= kEndReasonCount) | (tool_images[i] < 0) | (lengths != nullptr && lengths[i] < 0);
  if (!bad) return;
  for (size_t i = 0; i < n; ++i) {
    if (end_reasons[i] >= kEndReasonCount)
      Fail("E_ARG", "endReasons[", i, "] must be an EndReason (0..4), got ", int(end_reasons[i]));
    if (tool_images[i] < 0) Fail("E_ARG", "toolImages[", i, "] must be >= 0, got ", tool_images[i]);
    if (lengths && lengths[i] < 0) Fail("E_ARG", "lengths[", i, "] must be >= 0, got ", lengths[i]);
  }
}

}  // namespace pv

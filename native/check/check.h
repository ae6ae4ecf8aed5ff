// The standalone native check: every kernel on the CPU and (when compiled
// and present) on CUDA over the same seeded inputs, without Node. It prints
// the worst error against tolerance per kernel, the time per kernel (median
// after warm-up; CUDA events on the GPU) and the fraction of the card's
// memory-bandwidth or FLOP limit, and exits non-zero on any mismatch.
//
// Each kernel family registers its cases with PV_CHECK_CASE in its own file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace pv {
namespace check {

struct Row {
  std::string kernel;
  std::string backend;   // "cpu" or "cuda"
  double worst_error = 0;  // worst |a - b| - (atol + rtol |b|) margin ratio, see Compare
  bool ok = true;
  double ms = 0;          // median time per call
  double bytes = 0;       // bytes moved per call (for the bandwidth fraction)
  double flops = 0;       // floating-point operations per call (for the FLOP fraction)
};

class Context {
 public:
  bool cuda_available = false;
  double peak_bandwidth_gbs = 0;  // of the CUDA device (measured copy rate when known)
  double peak_fp32_tflops = 67;   // CUDA cores, fp32
  int repeats = 10;
  std::mt19937_64 rng{1234};

  // Compares `candidate` to `reference` elementwise with |a - b| <= atol + rtol |b|;
  // records and returns whether all elements pass. The worst element is printed.
  bool Compare(const std::string& kernel, const float* candidate, const float* reference, size_t n, double atol,
               double rtol);
  bool CompareExact(const std::string& kernel, const int32_t* candidate, const int32_t* reference, size_t n);
  bool CompareScalar(const std::string& kernel, double candidate, double reference, double atol, double rtol);

  // Median milliseconds of `repeats` calls after two warm-up calls. On CUDA
  // the calls are bracketed by CUDA events (host-blocking calls included).
  double Time(bool on_cuda, const std::function<void()>& call);
  void Report(const std::string& kernel, const std::string& backend, double ms, double bytes, double flops);

  std::vector<Row> rows;
  bool failed = false;

  std::vector<float> Uniform(size_t n, float lo, float hi);
  std::vector<int32_t> Ints(size_t n, int32_t lo, int32_t hi);
};

using CaseFn = void (*)(Context&);
struct Case {
  const char* name;
  CaseFn fn;
};
std::vector<Case>& Cases();
struct RegisterCase {
  RegisterCase(const char* name, CaseFn fn) { Cases().push_back({name, fn}); }
};

}  // namespace check
}  // namespace pv

#define PV_CHECK_CONCAT_INNER(a, b) a##b
#define PV_CHECK_CONCAT(a, b) PV_CHECK_CONCAT_INNER(a, b)
#define PV_CHECK_CASE(name, fn) static ::pv::check::RegisterCase PV_CHECK_CONCAT(pv_check_case_, __LINE__)(name, fn)

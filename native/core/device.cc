#include "core/device.h"

#include <cstdlib>
#include <mutex>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pv {

#ifndef PV_WITH_CUDA
const CudaStatus& QueryCuda() {
  static const CudaStatus status = [] {
    CudaStatus s;
    s.reason = "this build has no CUDA backend (the CUDA toolkit was not found or PYVISION_RL_CUDA=off)";
    return s;
  }();
  return status;
}
#endif

void RequireDevice(Device device) {
  if (device == Device::kCpu) return;
  const CudaStatus& status = QueryCuda();
  if (!status.available) Fail("E_BACKEND", "backend 'cuda' is unavailable: ", status.reason);
}

namespace {
// PYVISION_RL_THREADS sets the initial CPU thread count (0 or unset: all cores).
int g_default_threads = [] {
  const char* env = std::getenv("PYVISION_RL_THREADS");
  const int value = env ? std::atoi(env) : 0;
  return value > 0 ? value : 0;
}();
}

// At most one thread per processor this process may run on: more only
// oversubscribe the cores, and a team of thousands can fail to start (libgomp
// then ends the process), so a larger request is served with this many.
int MaxCpuThreads() {
#ifdef _OPENMP
  return omp_get_num_procs() > 0 ? omp_get_num_procs() : 1;
#else
  return 1;
#endif
}

int CpuThreads() {
  const int max = MaxCpuThreads();
  return g_default_threads > 0 && g_default_threads < max ? g_default_threads : max;
}

void SetCpuThreads(int threads) {
  g_default_threads = threads > 0 ? threads : 0;
}

int TeamThreadIndex() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

int TeamSize() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace pv

// What compute devices this build has and which of them can run now.
#pragma once

#include <string>
#include <vector>

#include "core/common.h"

namespace pv {

struct CudaDeviceInfo {
  std::string name;
  size_t total_memory = 0;  // bytes
  int major = 0;            // compute capability
  int minor = 0;
  int multiprocessors = 0;
  double memory_bandwidth_gbs = 0;  // theoretical peak from clock and bus width, 0 if unknown
};

struct CudaStatus {
  bool compiled = false;   // was the CUDA backend built into this binary
  bool available = false;  // compiled and at least one usable device
  std::string reason;      // why it is unavailable (empty when available)
  int runtime_version = 0; // CUDART_VERSION of the build, 0 when not compiled
  int driver_version = 0;  // 0 when no driver
  std::vector<CudaDeviceInfo> devices;
};

// Queried once, on first use, and cached; safe to call from any thread.
const CudaStatus& QueryCuda();

// Throws E_BACKEND with the reason when `device` cannot run here.
void RequireDevice(Device device);

// Number of CPU worker threads the CPU backend uses (OpenMP), and a setter;
// 0 restores the default (all cores).
int CpuThreads();
// The most threads CpuThreads() returns: the processors available to this process.
int MaxCpuThreads();
void SetCpuThreads(int threads);

// The calling thread's index in its OpenMP team and the team's size (0 and 1
// outside a parallel region, or in a build without OpenMP).
int TeamThreadIndex();
int TeamSize();

}  // namespace pv

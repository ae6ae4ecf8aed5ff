// CUDA device discovery. A build with the CUDA backend must load and fall
// back to the CPU on machines without a GPU or driver: every failure here
// becomes a reason string, never an exception or an abort.
#include <cuda_runtime.h>

#include <string>

#include "core/device.h"

namespace pv {

const CudaStatus& QueryCuda() {
  static const CudaStatus status = [] {
    CudaStatus s;
    s.compiled = true;
    s.runtime_version = CUDART_VERSION;
    cudaDriverGetVersion(&s.driver_version);
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      s.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err) + " (error " +
                 std::to_string(static_cast<int>(err)) + ")";
      cudaGetLastError();  // clear the sticky error state of this thread
      return s;
    }
    if (count == 0) {
      s.reason = "no CUDA device found";
      return s;
    }
    for (int d = 0; d < count; ++d) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
      CudaDeviceInfo info;
      info.name = prop.name;
      info.total_memory = prop.totalGlobalMem;
      info.major = prop.major;
      info.minor = prop.minor;
      info.multiprocessors = prop.multiProcessorCount;
      int clock_khz = 0, bus_bits = 0;
      if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, d) == cudaSuccess &&
          cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, d) == cudaSuccess) {
        info.memory_bandwidth_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
      }
      s.devices.push_back(info);
    }
    if (s.devices.empty()) {
      s.reason = "cudaGetDeviceProperties failed for every device";
      return s;
    }
    if (s.devices[0].major < 8) {
      s.reason = "device 0 (" + s.devices[0].name + ") has compute capability " +
                 std::to_string(s.devices[0].major) + "." + std::to_string(s.devices[0].minor) +
                 "; this build targets 8.0 and newer";
      return s;
    }
    s.available = true;
    return s;
  }();
  return status;
}

}  // namespace pv

// Small CUDA helpers shared by the CUDA backend: error checks that throw
// pv::Error (never abort), and an owning device buffer.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "core/common.h"

#define PV_CUDA_CHECK(expr)                                                                          \
  do {                                                                                               \
    const cudaError_t pv_err_ = (expr);                                                              \
    if (pv_err_ != cudaSuccess)                                                                      \
      ::pv::Fail("E_CUDA", #expr, " failed: ", cudaGetErrorString(pv_err_), " (error ", int(pv_err_), \
                 ")");                                                                               \
  } while (0)

// Checks the launch of the kernel just issued.
#define PV_CUDA_LAUNCH_CHECK() PV_CUDA_CHECK(cudaGetLastError())

namespace pv {
namespace cuda {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) { Resize(count); }
  DeviceBuffer(const T* host, size_t count) {
    Resize(count);
    Upload(host, count);
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), count_(std::exchange(other.count_, 0)) {}

  void Resize(size_t count) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = count;
    if (count > 0) PV_CUDA_CHECK(cudaMalloc(&ptr_, count * sizeof(T)));
  }
  void Upload(const T* host, size_t count) {
    if (count > 0) PV_CUDA_CHECK(cudaMemcpy(ptr_, host, count * sizeof(T), cudaMemcpyHostToDevice));
  }
  void Download(T* host, size_t count) const {
    if (count > 0) PV_CUDA_CHECK(cudaMemcpy(host, ptr_, count * sizeof(T), cudaMemcpyDeviceToHost));
  }
  void Zero() {
    if (count_ > 0) PV_CUDA_CHECK(cudaMemset(ptr_, 0, count_ * sizeof(T)));
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

inline unsigned BlocksFor(size_t n, unsigned threads, unsigned max_blocks = 65535u * 16u) {
  const size_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > max_blocks ? max_blocks : blocks));
}

}  // namespace cuda
}  // namespace pv

// Shared vocabulary of the native core: errors, devices, sizes.
// Everything here is plain C++17 with no Node or CUDA dependency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define PV_HD __host__ __device__
#else
#define PV_HD
#endif

namespace pv {

// The one error type of the native core. `code` is one of the stable codes of
// lib/util/errors.ts (E_ARG, E_SHAPE, E_DTYPE, E_NONFINITE, E_BACKEND, E_CUDA, ...).
// Native code reports every failure by throwing this; the addon turns it into
// a rejected Promise carrying a PyVisionError. Nothing ever exits or aborts.
class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// Builds a message from streamable parts: Fail("E_ARG", "k must be >= 0, got ", k).
template <typename... Parts>
[[noreturn]] inline void Fail(const char* code, const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  throw Error(code, out.str());
}

enum class Device : int { kCpu = 0, kCuda = 1 };

inline const char* DeviceName(Device device) {
  return device == Device::kCuda ? "cuda" : "cpu";
}

}  // namespace pv

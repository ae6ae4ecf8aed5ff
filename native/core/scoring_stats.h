// Group mean and unbiased std (semantics.md section 2) as functions of the
// group's reward multiset only, so that groups with equal rewards get equal
// bits whatever the order of their members, and tie in selectRollouts'
// ranking (section 3: ties by the lower index). Shared by the CPU and CUDA
// backends, which therefore return the same bits.
//
// Exact path: every float32 is sig * 2^e (sig < 2^24). When a group's values
// fit in 52 bits above its smallest exponent U (with room for the sum of n of
// them), each is an integer k_i = r_i / 2^U < 2^52, and
//   sum r_i        = 2^U * sum k_i                       (exact in float64, any order)
//   n(n-1) var / 2^2U = n sum k_i^2 - (sum k_i)^2 = M2   (exact in 128-bit integers)
// so the mean is sum / n (one rounding) and std = sqrt(M2 / (n (n - 1))) * 2^U,
// computed from exact integers: independent of the order and exact for large
// offsets (1000 + tiny differences).
// Fallback (values spread over more than about 52 binary orders): the
// two-pass float64 formula over the values in ascending order.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/common.h"
#include "core/exact_math.h"

namespace pv {

// 128-bit unsigned integers from two 64-bit halves: the same code on host and device.
struct U128 {
  uint64_t hi = 0, lo = 0;
};

PV_HD inline U128 MulWide(uint64_t a, uint64_t b) {
  U128 r;
#if defined(__CUDA_ARCH__)
  r.hi = __umul64hi(a, b);
  r.lo = a * b;
#else
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  r.hi = static_cast<uint64_t>(p >> 64);
  r.lo = static_cast<uint64_t>(p);
#endif
  return r;
}

PV_HD inline U128 AddWide(U128 a, U128 b) {
  U128 r;
  r.lo = a.lo + b.lo;
  r.hi = a.hi + b.hi + (r.lo < a.lo ? 1u : 0u);
  return r;
}

PV_HD inline U128 SubWide(U128 a, U128 b) {
  U128 r;
  r.lo = a.lo - b.lo;
  r.hi = a.hi - b.hi - (a.lo < b.lo ? 1u : 0u);
  return r;
}

// hi * 2^64 + lo, each half rounded once (hi < 2^53 here, so exact).
PV_HD inline double WideToDouble(U128 a) {
  return ExactAdd(ExactMul(static_cast<double>(a.hi), 18446744073709551616.0), static_cast<double>(a.lo));
}

// 2^e as a double, for -1022 <= e <= 1023.
PV_HD inline double PowerOfTwo(int e) {
  const uint64_t bits = static_cast<uint64_t>(e + 1023) << 52;
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(bits));
#else
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
#endif
}

PV_HD inline uint32_t FloatBits(float r) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(r);
#else
  uint32_t bits;
  std::memcpy(&bits, &r, sizeof bits);
  return bits;
#endif
}

// A float32 r with biased exponent field e is an integer multiple of
// 2^(max(e, 1) - 150) and smaller than 2^(max(e, 1) - 126) in magnitude.
PV_HD inline uint32_t UnitField(uint32_t bits) {
  const uint32_t e = (bits >> 23) & 0xffu;
  return e > 1u ? e : 1u;
}
PV_HD inline bool NonZero(uint32_t bits) { return (bits << 1) != 0u; }
constexpr uint32_t kAllZero = 0xffu;  // min_unit of a group without a nonzero member

// The first pass over a group's n members: the float64 sum in the order
// given (exact when Exact() holds), min, max, and the exponent range of the
// nonzero members. Branch-free, so that the CPU loop vectorises.
struct GroupScan {
  double sum = 0;
  float lo = 0, hi = 0;
  uint32_t min_unit = kAllZero;  // smallest UnitField of a nonzero member
  uint32_t max_unit = 1;         // largest UnitField of any member
  size_t n = 0;

  template <typename Get>
  PV_HD static GroupScan Of(Get get, size_t n) {
    GroupScan s;
    s.n = n;
    double sum = 0;
    float lo = get(0), hi = lo;
    uint32_t min_unit = kAllZero, max_unit = 1;
    for (size_t j = 0; j < n; ++j) {
      const float r = get(j);
      const uint32_t bits = FloatBits(r);
      const uint32_t unit = UnitField(bits);
      lo = r < lo ? r : lo;
      hi = r > hi ? r : hi;
      sum = ExactAdd(sum, static_cast<double>(r));
      min_unit = NonZero(bits) && unit < min_unit ? unit : min_unit;
      max_unit = unit > max_unit ? unit : max_unit;
    }
    s.sum = sum;
    s.lo = lo;
    s.hi = hi;
    s.min_unit = min_unit;
    s.max_unit = max_unit;
    return s;
  }

  // Whether the integers k_i = |r_i| / 2^(min_unit - 150) (< 2^(max_unit + 24 - min_unit))
  // and n of them summed stay below 2^52.
  PV_HD bool Exact() const {
    if (min_unit == kAllZero) return true;
    // ceil(log2(n)), n >= 1
#if defined(__CUDA_ARCH__)
    const uint32_t log_n = n > 1 ? 64u - static_cast<uint32_t>(__clzll(static_cast<long long>(n - 1))) : 0u;
#else
    const uint32_t log_n = n > 1 ? 64u - static_cast<uint32_t>(__builtin_clzll(static_cast<unsigned long long>(n - 1))) : 0u;
#endif
    return max_unit + 24u - min_unit + log_n <= 52u;
  }
};

// Mean and std of a group whose scan is Exact(), from a second pass over the
// members (any order): the integer moments above. sum k_i = sum / 2^unit
// exactly, so only sum k_i^2 needs the pass.
template <typename Get>
PV_HD inline void ExactGroupMoments(const GroupScan& scan, Get get, double* mean, double* stdev) {
  const size_t n = scan.n;
  *mean = ExactDiv(scan.sum, static_cast<double>(n));
  if (n < 2 || scan.min_unit == kAllZero) {
    *stdev = 0.0;
    return;
  }
  const uint32_t min_unit = scan.min_unit;
  U128 sum_k2;
  for (size_t j = 0; j < n; ++j) {
    const uint32_t bits = FloatBits(get(j));
    const uint32_t e = (bits >> 23) & 0xffu;
    const uint64_t sig = (bits & 0x7fffffu) | (e != 0u ? 0x800000u : 0u);
    const uint32_t unit = UnitField(bits);
    const uint64_t k = sig << (unit > min_unit ? unit - min_unit : 0u);  // 0 for a zero
    sum_k2 = AddWide(sum_k2, MulWide(k, k));
  }
  const int unit_exp = static_cast<int>(min_unit) - 150;
  const double sum_k = ExactMul(scan.sum, PowerOfTwo(-unit_exp));  // exact: a power of two, |sum k| < 2^52
  const uint64_t abs_sum = static_cast<uint64_t>(sum_k < 0 ? -sum_k : sum_k);
  U128 n_sum_k2 = MulWide(sum_k2.lo, static_cast<uint64_t>(n));
  n_sum_k2.hi += sum_k2.hi * static_cast<uint64_t>(n);
  const U128 m2 = SubWide(n_sum_k2, MulWide(abs_sum, abs_sum));
  const double var_units = ExactDiv(WideToDouble(m2), ExactMul(static_cast<double>(n), static_cast<double>(n - 1)));
  *stdev = ExactMul(ExactSqrt(var_units), PowerOfTwo(unit_exp));
}

// The fallback: two-pass float64 over the members in the order given, which
// the caller makes ascending by value.
template <typename Get>
PV_HD inline void TwoPassGroupMoments(size_t n, Get get, double* mean, double* stdev) {
  double sum = 0;
  for (size_t j = 0; j < n; ++j) sum = ExactAdd(sum, static_cast<double>(get(j)));
  const double m = ExactDiv(sum, static_cast<double>(n));
  double sq = 0;
  for (size_t j = 0; j < n; ++j) {
    const double d = ExactSub(static_cast<double>(get(j)), m);
    sq = ExactAdd(sq, ExactMul(d, d));
  }
  *mean = m;
  *stdev = n > 1 ? ExactSqrt(ExactDiv(sq, static_cast<double>(n - 1))) : 0.0;
}

}  // namespace pv

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

// Exponent of the unit in the last place of r (r = sig * 2^ulp), and a strict
// bound on its magnitude (|r| < 2^(ulp + 24)). Zero gets kNoUlp.
constexpr int kNoUlp = 1 << 20;
PV_HD inline int UlpExponent(uint32_t bits) {
  const int e = static_cast<int>((bits >> 23) & 0xffu);
  const int ulp = e == 0 ? -149 : e - 150;
  return (bits & 0x7fffffffu) == 0 ? kNoUlp : ulp;
}

// The first pass over a group: the float64 sum in the order given (exact
// when Exact() holds), min, max, and the exponent range.
struct GroupScan {
  double sum = 0;
  float lo = 0, hi = 0;
  int min_ulp = kNoUlp;  // smallest ulp exponent of a nonzero member
  int max_top = -kNoUlp; // members are < 2^max_top in magnitude
  size_t n = 0;

  PV_HD void Add(float r) {
    if (n == 0) lo = hi = r;
    lo = r < lo ? r : lo;
    hi = r > hi ? r : hi;
    sum = ExactAdd(sum, static_cast<double>(r));
    const int ulp = UlpExponent(FloatBits(r));
    if (ulp != kNoUlp) {
      min_ulp = ulp < min_ulp ? ulp : min_ulp;
      max_top = ulp + 24 > max_top ? ulp + 24 : max_top;
    }
    ++n;
  }

  // Whether the integers k_i = r_i / 2^min_ulp and their sum stay below 2^52.
  PV_HD bool Exact() const {
    if (min_ulp == kNoUlp) return true;  // all zero
    int log_n = 0;
    while ((size_t(1) << log_n) < n) ++log_n;
    return max_top - min_ulp + log_n <= 52;
  }
};

// Mean and std of a group whose scan is Exact(), from a second pass over the
// members (any order): the integer moments above.
template <typename Get>
PV_HD inline void ExactGroupMoments(const GroupScan& scan, Get get, double* mean, double* stdev) {
  const size_t n = scan.n;
  *mean = ExactDiv(scan.sum, static_cast<double>(n));
  if (n < 2 || scan.min_ulp == kNoUlp) {
    *stdev = 0.0;
    return;
  }
  const int unit = scan.min_ulp;
  int64_t sum_k = 0;
  U128 sum_k2;
  for (size_t j = 0; j < n; ++j) {
    const uint32_t bits = FloatBits(get(j));
    const int ulp = UlpExponent(bits);
    if (ulp == kNoUlp) continue;
    const uint32_t e = (bits >> 23) & 0xffu;
    const uint64_t sig = (bits & 0x7fffffu) | (e != 0 ? 0x800000u : 0u);
    const uint64_t k = sig << (ulp - unit);
    sum_k += (bits >> 31) ? -static_cast<int64_t>(k) : static_cast<int64_t>(k);
    sum_k2 = AddWide(sum_k2, MulWide(k, k));
  }
  U128 n_sum_k2 = MulWide(sum_k2.lo, static_cast<uint64_t>(n));
  n_sum_k2.hi += sum_k2.hi * static_cast<uint64_t>(n);
  const uint64_t abs_sum = static_cast<uint64_t>(sum_k < 0 ? -sum_k : sum_k);
  const U128 m2 = SubWide(n_sum_k2, MulWide(abs_sum, abs_sum));
  const double var_units = ExactDiv(WideToDouble(m2), ExactMul(static_cast<double>(n), static_cast<double>(n - 1)));
  *stdev = ExactMul(ExactSqrt(var_units), PowerOfTwo(unit));
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

// Correctly rounded, never-fused arithmetic shared by the CPU and CUDA
// backends. The host build compiles with -ffp-contract=off; on the device the
// _rn intrinsics keep nvcc from contracting a*b+c into an FMA. Code that must
// give the same bits on both backends (group statistics, frame relevance, the
// policy-loss exp) is written with these.
#pragma once

#include <cmath>

#include "core/common.h"

namespace pv {

PV_HD inline float ExactMul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
PV_HD inline float ExactAdd(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
PV_HD inline double ExactMul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
PV_HD inline double ExactAdd(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
PV_HD inline double ExactSub(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}
PV_HD inline double ExactDiv(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}
PV_HD inline double ExactSqrt(double a) {
#if defined(__CUDA_ARCH__)
  return __dsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

}  // namespace pv

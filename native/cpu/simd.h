// The CPU backend's vector type: AVX-512 or AVX2+FMA when the build targets
// them (-march=native), portable C++ otherwise. FMA is explicit (the core is
// built with -ffp-contract=off).
#pragma once

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace pv {
namespace cpu {
namespace simd {

#if defined(__AVX512F__)
constexpr size_t kW = 16;  // floats per vector
using Vec = __m512;
inline Vec VZero() { return _mm512_setzero_ps(); }
inline Vec VLoad(const float* p) { return _mm512_loadu_ps(p); }
inline void VStore(float* p, Vec v) { _mm512_storeu_ps(p, v); }
// Non-temporal store (p aligned to the vector size); VStreamFence orders it.
inline void VStream(float* p, Vec v) { _mm512_stream_ps(p, v); }
inline void VStreamFence() { _mm_sfence(); }
inline Vec VSet1(float x) { return _mm512_set1_ps(x); }
inline Vec VFma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec VAdd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline Vec VMul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
inline Vec VMax(Vec a, Vec b) { return _mm512_max_ps(a, b); }
inline float VReduceAdd(Vec a) { return _mm512_reduce_add_ps(a); }
// out[m] = VReduceAdd(in[m]) for m < kW, to the bit (the same pairwise tree:
// lanes i and i + 8, then i + 4, i + 2, i + 1), as one transposed reduction.
inline void VReduceAddMany(float* out, const Vec* in) {
  Vec w[8], x[4], y[2];
  for (int k = 0; k < 8; ++k)
    w[k] = _mm512_add_ps(_mm512_shuffle_f32x4(in[2 * k], in[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(in[2 * k], in[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int k = 0; k < 4; ++k)
    x[k] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  for (int k = 0; k < 2; ++k)
    y[k] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * k], x[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(x[2 * k], x[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  const Vec z = _mm512_add_ps(_mm512_shuffle_ps(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_ps(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
  // z[4 L + e] holds the sum of in[4 e + L].
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  _mm512_storeu_ps(out, _mm512_permutexvar_ps(order, z));
}
// In-register transpose of a 16 x 16 block (rows r[0..15] become columns).
inline void Transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + i + 4], 0x88);
      t[8 * h + i + 4] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + i + 4], 0xdd);
    }
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}
#elif defined(__AVX2__) && defined(__FMA__)
constexpr size_t kW = 8;
using Vec = __m256;
inline Vec VZero() { return _mm256_setzero_ps(); }
inline Vec VLoad(const float* p) { return _mm256_loadu_ps(p); }
inline void VStore(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline void VStream(float* p, Vec v) { _mm256_stream_ps(p, v); }
inline void VStreamFence() { _mm_sfence(); }
inline Vec VSet1(float x) { return _mm256_set1_ps(x); }
inline Vec VFma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec VAdd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec VMul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
inline Vec VMax(Vec a, Vec b) { return _mm256_max_ps(a, b); }
inline float VReduceAdd(Vec a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// out[m] = VReduceAdd(in[m]) for m < kW, to the bit (lanes i and i + 4, then
// i + 2, i + 1), as one transposed reduction.
inline void VReduceAddMany(float* out, const Vec* in) {
  Vec w[4], x[2];
  for (int k = 0; k < 4; ++k)
    w[k] = _mm256_add_ps(_mm256_permute2f128_ps(in[2 * k], in[2 * k + 1], 0x20),
                         _mm256_permute2f128_ps(in[2 * k], in[2 * k + 1], 0x31));
  for (int k = 0; k < 2; ++k)
    x[k] = _mm256_add_ps(_mm256_shuffle_ps(w[2 * k], w[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm256_shuffle_ps(w[2 * k], w[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  const Vec z = _mm256_add_ps(_mm256_shuffle_ps(x[0], x[1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm256_shuffle_ps(x[0], x[1], _MM_SHUFFLE(3, 1, 3, 1)));
  // z[4 L + e] holds the sum of in[2 e + L].
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(z, order));
}
#else
constexpr size_t kW = 4;
struct Vec {
  float v[4];
};
inline Vec VZero() { return Vec{{0, 0, 0, 0}}; }
inline Vec VLoad(const float* p) { Vec r; std::memcpy(r.v, p, sizeof r.v); return r; }
inline void VStore(float* p, Vec v) { std::memcpy(p, v.v, sizeof v.v); }
inline void VStream(float* p, Vec v) { VStore(p, v); }
inline void VStreamFence() {}
inline Vec VSet1(float x) { return Vec{{x, x, x, x}}; }
inline Vec VFma(Vec a, Vec b, Vec c) {
  for (int i = 0; i < 4; ++i) c.v[i] = a.v[i] * b.v[i] + c.v[i];
  return c;
}
inline Vec VAdd(Vec a, Vec b) {
  for (int i = 0; i < 4; ++i) a.v[i] += b.v[i];
  return a;
}
inline Vec VMul(Vec a, Vec b) {
  for (int i = 0; i < 4; ++i) a.v[i] *= b.v[i];
  return a;
}
inline Vec VMax(Vec a, Vec b) {
  for (int i = 0; i < 4; ++i) a.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i];
  return a;
}
inline float VReduceAdd(Vec a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }
inline void VReduceAddMany(float* out, const Vec* in) {
  for (size_t m = 0; m < kW; ++m) out[m] = VReduceAdd(in[m]);
}
#endif


// exp(x) for x in float range, vectorisable (Cephes expf: range reduction by
// ln 2 and a degree-6 polynomial; about 1 ulp). Inputs below -87.3 give ~0.
// Check with -fopt-info-vec that the loops calling it vectorise.
#pragma omp declare simd notinbranch
inline float VecExp(float x) {
  x = std::min(88.3762626647949f, std::max(-87.3365447505531f, x));
  // n = round(x / ln 2) by the 1.5 * 2^23 trick (|x / ln 2| < 2^22): unlike
  // std::floor, it vectorises without -ffast-math.
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

}  // namespace simd
}  // namespace cpu
}  // namespace pv

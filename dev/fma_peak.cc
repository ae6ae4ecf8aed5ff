// Scratch: the machine's fp32 FMA limit, a register-only loop of 12
// independent AVX-512 FMA chains per thread (the yardstick for GEMM rates).
//   g++ -O2 -march=native -fopenmp dev/fma_peak.cc -o /tmp/fma_peak && OMP_NUM_THREADS=2 /tmp/fma_peak
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>

int main() {
  const long iters = 25000000;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    float sink = 0;
#pragma omp parallel reduction(+ : sink)
    {
      __m512 a[12];
      const __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-9f);
      for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
      for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < 12; ++k) a[k] = _mm512_fmadd_ps(a[k], b, c);
      }
      __m512 s = a[0];
      for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
      sink += _mm512_reduce_add_ps(s);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double flops = 2.0 * 16 * 12 * iters * omp_get_max_threads();
    if (flops / seconds / 1e9 > best) best = flops / seconds / 1e9;
    if (sink == 1.0f) std::printf(" ");
  }
  std::printf("fp32 FMA peak %.1f GFLOP/s (%d threads, best of 5)\n", best, omp_get_max_threads());
}

// Scratch: top-k frame selection (k = 16 unless given) on the CPU backend called from C++
// against a plain parallel read (AVX-512 sum, all CPU threads) of the same
// embeddings, interleaved in one process, best of R rounds of each.
//   g++ -O3 -march=native -fopenmp -ffp-contract=off -fno-trapping-math -fno-math-errno -std=c++17 -Inative \
//       dev/frames_topk_vs_read.cc native/core/*.cc native/cpu/*.cc -o /tmp/frames_topk_vs_read
//   /tmp/frames_topk_vs_read N D video_length R [k=16]   e.g. 1000000 512 200 8
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <immintrin.h>
#include <omp.h>
#include "core/frames.h"
#include "core/device.h"
using Clock = std::chrono::steady_clock;
static double Sec(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
__attribute__((noinline)) float PlainSum(const float* p, size_t n, int threads) {
  float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n / 64; ++i) {
      const float* q = p + i * 64;
      a0 = _mm512_add_ps(a0, _mm512_loadu_ps(q)); a1 = _mm512_add_ps(a1, _mm512_loadu_ps(q + 16));
      a2 = _mm512_add_ps(a2, _mm512_loadu_ps(q + 32)); a3 = _mm512_add_ps(a3, _mm512_loadu_ps(q + 48));
    }
    total += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
  return total;
}
int main(int argc, char** argv) {
  const size_t N = argc > 1 ? strtoul(argv[1], 0, 10) : 1000000, D = argc > 2 ? strtoul(argv[2], 0, 10) : 512;
  const size_t len = argc > 3 ? strtoul(argv[3], 0, 10) : N;
  const int R = argc > 4 ? atoi(argv[4]) : 5; const int K = argc > 5 ? atoi(argv[5]) : 16;
  const int threads = pv::CpuThreads();
  std::vector<float> emb(N * D);
  uint32_t x = 1;
  for (float& v : emb) { x = x * 1664525u + 1013904223u; v = (float)(x / 4294967296.0 - 0.5); }
  const size_t B = (N + len - 1) / len;
  std::vector<int32_t> off(B + 1);
  for (size_t b = 0; b <= B; ++b) off[b] = (int32_t)std::min(N, b * len);
  std::vector<float> q(B * D);
  for (float& v : q) { x = x * 1664525u + 1013904223u; v = (float)(x / 4294967296.0 - 0.5); }
  pv::FrameBatch batch; batch.embeddings = emb.data(); batch.frame_offsets = off.data(); batch.queries = q.data();
  batch.videos = B; batch.frames = N; batch.dim = D;
  pv::FrameOptions o; o.budget = K; o.mode = pv::FrameMode::kTopk;
  std::vector<int32_t> idx(B * 16); std::vector<float> sc(B * 16);
  double best_k = 1e9, best_s = 1e9; float sink = 0;
  for (int r = 0; r < R; ++r) {
    auto t0 = Clock::now(); pv::CpuFrames().SelectFrames(idx.data(), sc.data(), batch, o, K); best_k = std::min(best_k, Sec(t0));
    t0 = Clock::now(); sink += PlainSum(emb.data(), emb.size(), threads); best_s = std::min(best_s, Sec(t0));
  }
  uint64_t h = 0; for (size_t i = 0; i < idx.size(); ++i) { uint32_t b; memcpy(&b, &sc[i], 4); h = h * 31 + idx[i] * 7 + b; }
  const double bytes = N * D * 4.0;
  printf("N %zu D %zu len %zu thr %d: topk %.2f ms %.1f GB/s %.2fM f/s | sum %.1f GB/s | fraction %.0f%%  hash %016llx %g\n", N, D, len, threads, best_k * 1e3,
         bytes / best_k / 1e9, N / best_k / 1e6, bytes / best_s / 1e9, 100 * best_s / best_k, (unsigned long long)h, sink);
}

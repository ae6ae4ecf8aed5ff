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
#include "core/frames.h"
#include "core/device.h"
#include "frames_harness.h"
using Clock = std::chrono::steady_clock;
static double Sec(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
int main(int argc, char** argv) {
  const size_t N = argc > 1 ? strtoul(argv[1], 0, 10) : 1000000, D = argc > 2 ? strtoul(argv[2], 0, 10) : 512;
  const size_t len = argc > 3 ? strtoul(argv[3], 0, 10) : N;
  const int R = argc > 4 ? atoi(argv[4]) : 5; const int K = argc > 5 ? atoi(argv[5]) : 16;
  const int threads = pv::CpuThreads();
  SyntheticFrames data(N, D, len);
  const pv::FrameBatch& batch = data.batch;
  const size_t B = batch.videos;
  const std::vector<float>& emb = data.embeddings;
  pv::FrameOptions o; o.budget = K; o.mode = pv::FrameMode::kTopk;
  std::vector<int32_t> idx(B * 16); std::vector<float> sc(B * 16);
  double best_k = 1e9, best_s = 1e9; float sink = 0;
  for (int r = 0; r < R; ++r) {
    auto t0 = Clock::now(); pv::CpuFrames().SelectFrames(idx.data(), sc.data(), batch, o, K); best_k = std::min(best_k, Sec(t0));
    t0 = Clock::now(); sink += PlainSum(emb.data(), emb.size(), threads); best_s = std::min(best_s, Sec(t0));
  }
  const uint64_t h = OutputHash(idx, sc);
  const double bytes = N * D * 4.0;
  printf("N %zu D %zu len %zu thr %d: topk %.2f ms %.1f GB/s %.2fM f/s | sum %.1f GB/s | fraction %.0f%%  hash %016llx %g\n", N, D, len, threads, best_k * 1e3,
         bytes / best_k / 1e9, N / best_k / 1e6, bytes / best_s / 1e9, 100 * best_s / best_k, (unsigned long long)h, sink);
}

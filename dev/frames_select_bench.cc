// Scratch: top-k frame selection (k = 16) on the CPU backend called from C++,
// best of R calls; the kernel's rate without the JavaScript boundary.
//   g++ -O3 -march=native -fopenmp -ffp-contract=off -fno-trapping-math -fno-math-errno -std=c++17 -Inative \
//       dev/frames_select_bench.cc native/core/*.cc native/cpu/*.cc -o /tmp/frames_select_bench
//   /tmp/frames_select_bench N D video_length R      e.g. 10000 512 10000 200
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/frames.h"
#include "frames_harness.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s N D video_length repeats\n", argv[0]);
    return 2;
  }
  const size_t N = std::strtoul(argv[1], nullptr, 10), D = std::strtoul(argv[2], nullptr, 10);
  const size_t len = std::strtoul(argv[3], nullptr, 10);
  const int repeats = std::atoi(argv[4]);
  SyntheticFrames data(N, D, len);
  std::fill(data.queries.begin(), data.queries.end(), 0.01f);  // one query for every video
  const pv::FrameBatch& batch = data.batch;
  const size_t B = batch.videos;
  pv::FrameOptions options;
  options.budget = 16;
  std::vector<int32_t> indices(B * 16);
  std::vector<float> scores(B * 16);
  double best = 1e9;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pv::CpuFrames().SelectFrames(indices.data(), scores.data(), batch, options, 16);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("N=%zu D=%zu video length %zu: %.2f M frames/s, %.1f GB/s (best of %d)\n", N, D, len, N / best / 1e6,
              N * D * 4 / best / 1e9, repeats);
}

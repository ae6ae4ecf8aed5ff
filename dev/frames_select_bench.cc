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

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s N D video_length repeats\n", argv[0]);
    return 2;
  }
  const size_t N = std::strtoul(argv[1], nullptr, 10), D = std::strtoul(argv[2], nullptr, 10);
  const size_t len = std::strtoul(argv[3], nullptr, 10);
  const int repeats = std::atoi(argv[4]);
  std::vector<float> embeddings(N * D);
  uint32_t x = 1;
  for (float& v : embeddings) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<float>(x / 4294967296.0 - 0.5);
  }
  const size_t B = (N + len - 1) / len;
  std::vector<int32_t> offsets(B + 1);
  for (size_t b = 0; b <= B; ++b) offsets[b] = static_cast<int32_t>(std::min(N, b * len));
  std::vector<float> queries(B * D, 0.01f);
  pv::FrameBatch batch;
  batch.embeddings = embeddings.data();
  batch.frame_offsets = offsets.data();
  batch.queries = queries.data();
  batch.videos = B;
  batch.frames = N;
  batch.dim = D;
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

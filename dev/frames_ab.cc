// Scratch: up to four builds of native/cpu/frames.cc in one process, called in
// turn (the order rotated every round), each call after a plain parallel read
// (AVX-512 sum, all CPU threads) of the same embeddings, so that builds are
// compared over the same moments of a shared machine rather than in separate
// processes seconds apart. Build i is compiled with -DCpuFrames=CpuFramesV<i>:
//   F="-O3 -march=native -fopenmp -ffp-contract=off -fno-trapping-math -fno-math-errno -std=c++17 -Inative"
//   git show <commit>:native/cpu/frames.cc > /tmp/frames_old.cc     (the build to compare with)
//   g++ $F -DCpuFrames=CpuFramesV0 -c /tmp/frames_old.cc -o /tmp/frames_v0.o
//   g++ $F -DCpuFrames=CpuFramesV1 -c native/cpu/frames.cc -o /tmp/frames_v1.o
//   g++ $F dev/frames_ab.cc /tmp/frames_v0.o /tmp/frames_v1.o \
//       $(ls native/core/*.cc native/cpu/*.cc | grep -v cpu/frames.cc) -o /tmp/frames_ab
//   /tmp/frames_ab N D video_length rounds [topk|norm|mmr]   e.g. 1000000 512 200 12
// Prints per build: the best and median call, the read's time over the call's
// in each pair (median, min, max) and a hash of the output (equal across builds
// that keep the bits).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "core/device.h"
#include "core/frames.h"
#include "frames_harness.h"

namespace pv {
__attribute__((weak)) FrameKernels& CpuFramesV0();
__attribute__((weak)) FrameKernels& CpuFramesV1();
__attribute__((weak)) FrameKernels& CpuFramesV2();
__attribute__((weak)) FrameKernels& CpuFramesV3();
FrameKernels& CpuFrames() { return CpuFramesV0(); }  // core/frames.cc's dispatch, unused here
}  // namespace pv

using Clock = std::chrono::steady_clock;
static double Sec(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s N D video_length rounds [topk|norm|mmr]\n", argv[0]);
    return 2;
  }
  const size_t N = strtoul(argv[1], 0, 10), D = strtoul(argv[2], 0, 10), len = strtoul(argv[3], 0, 10);
  const int R = atoi(argv[4]);
  if (N == 0 || D == 0 || len == 0 || R < 1) {
    fprintf(stderr, "N, D, video_length and rounds must be >= 1\n");
    return 2;
  }
  const char* mode = argc > 5 ? argv[5] : "topk";
  const int K = 16;
  std::vector<pv::FrameKernels*> builds;
  if (pv::CpuFramesV0) builds.push_back(&pv::CpuFramesV0());
  if (pv::CpuFramesV1) builds.push_back(&pv::CpuFramesV1());
  if (pv::CpuFramesV2) builds.push_back(&pv::CpuFramesV2());
  if (pv::CpuFramesV3) builds.push_back(&pv::CpuFramesV3());
  const int NV = static_cast<int>(builds.size());
  const int threads = pv::CpuThreads();
  SyntheticFrames data(N, D, len);
  const pv::FrameBatch& batch = data.batch;
  const size_t B = batch.videos;
  pv::FrameOptions o;
  o.budget = K;
  o.mode = strcmp(mode, "mmr") == 0 ? pv::FrameMode::kMmr : pv::FrameMode::kTopk;
  o.normalize = strcmp(mode, "norm") == 0;
  std::vector<std::vector<double>> t(NV), ratio(NV);
  std::vector<unsigned long long> hash(NV);
  double sink = 0;
  std::vector<int32_t> idx(B * K);
  std::vector<float> sc(B * K);
  for (int r = 0; r < R; ++r)
    for (int s = 0; s < NV; ++s) {
      const int v = (s + r) % NV;
      auto t0 = Clock::now();
      sink += PlainSum(data.embeddings.data(), data.embeddings.size(), threads);
      const double ts = Sec(t0);
      t0 = Clock::now();
      builds[v]->SelectFrames(idx.data(), sc.data(), batch, o, K);
      const double tk = Sec(t0);
      t[v].push_back(tk);
      ratio[v].push_back(ts / tk);
      hash[v] = OutputHash(idx, sc);
    }
  printf("N %zu D %zu len %zu %s, %d threads, %d rounds\n", N, D, len, mode, threads, R);
  for (int v = 0; v < NV; ++v) {
    std::vector<double> a = t[v], b = ratio[v];
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    printf("V%d  ms best %6.2f median %6.2f | read/call per pair: median %4.0f%% min %4.0f%% max %4.0f%% | hash %016llx\n",
           v, a[0] * 1e3, a[a.size() / 2] * 1e3, 100 * b[b.size() / 2], 100 * b[0], 100 * b.back(),
           static_cast<unsigned long long>(hash[v]));
  }
  fprintf(stderr, "%g\n", sink);
  return 0;
}

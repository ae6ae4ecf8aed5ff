// Scratch: the CPU groupAdvantages and selectRollouts kernels alone (no
// JavaScript, no output allocation per call) on the bench's batch: 1M
// trajectories in groups of 8 with ids (i / 8) * 7919, adjacent and shuffled;
// wall time (median and min of REPS calls; the shuffled calls alternate between two orders of
// the batch, so that none reuses the group index of the call before) and a hash of the outputs, so that
// two builds of scoring.cc can be compared for speed and for identical bits.
//   g++ -O3 -march=native -fopenmp -ffp-contract=off -fno-trapping-math -fno-math-errno -std=c++17 -Inative
//       dev/scoring_phases.cc native/cpu/scoring.cc native/core/scoring.cc native/core/device.cc -o /tmp/scoring_phases
//   PYVISION_RL_THREADS=1 /tmp/scoring_phases [reps] [ids: sparse|dense|negative] [layout: both|adjacent|shuffled]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/scoring.h"

using Clock = std::chrono::steady_clock;

static uint64_t Fnv(const void* data, size_t bytes, uint64_t h = 1469598103934665603ull) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 15;
  const std::string ids = argc > 2 ? argv[2] : "sparse";
  const std::string only = argc > 3 ? argv[3] : "both";
  const size_t n = size_t(1) << 20;
  uint32_t seed = 7;
  auto rand = [&seed] { return (seed = seed * 1103515245u + 12345u) / 4294967296.0; };
  std::vector<float> rewards(n);
  std::vector<int32_t> groups(n), images(n), lengths(n);
  std::vector<uint8_t> ends(n);
  for (size_t i = 0; i < n; ++i) {
    const double acc = rand() < 0.45 ? 1 : 0;
    const int calls = static_cast<int>(rand() * 5);
    rewards[i] = static_cast<float>(acc + 0.1 * calls * (acc >= 1 ? 1 : 0));
    const int32_t g = static_cast<int32_t>(i / 8);
    groups[i] = ids == "dense" ? g : ids == "negative" ? -g * 7919 : g * 7919;
    ends[i] = rand() < 0.8 ? 0 : static_cast<uint8_t>(rand() * 5);
    images[i] = static_cast<int32_t>(rand() * 3);
    lengths[i] = 10 + static_cast<int32_t>(rand() * 4000);
  }
  std::vector<size_t> perm(n);
  for (size_t i = 0; i < n; ++i) perm[i] = i;
  for (size_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[static_cast<size_t>(rand() * (i + 1))]);
  auto permute = [&](auto& a) {
    auto b = a;
    for (size_t i = 0; i < n; ++i) b[i] = a[perm[i]];
    return b;
  };
  struct Layout {
    const char* name;
    std::vector<float> r;
    std::vector<int32_t> g, im, len;
    std::vector<uint8_t> e;
  };
  Layout layouts[3] = {{"adjacent", rewards, groups, images, lengths, ends},
                       {"shuffled", permute(rewards), permute(groups), permute(images), permute(lengths), permute(ends)},
                       {}};
  // A second order of the same batch: the timed calls alternate between the two orders, so that
  // no call finds the group index of the call before (as the bench, and a trainer's next step).
  for (size_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[static_cast<size_t>(rand() * (i + 1))]);
  layouts[2] = {"shuffled", permute(rewards), permute(groups), permute(images), permute(lengths), permute(ends)};
  pv::ScoringKernels& k = pv::CpuScoring();
  pv::SelectOptions opt;
  opt.target = n / 4;
  opt.max_length = 3500;
  std::vector<float> adv(n), mean(n), sd(n);
  std::printf("threads %d, ids %s\n", pv::CpuThreads(), ids.c_str());
  for (int which = 0; which < 2; ++which) {
    Layout& first = layouts[which];
    if (only != "both" && only != first.name) continue;
    std::vector<double> ga, sr, gcpu, scpu;
    uint64_t h = 0;
    for (int rep = 0; rep < reps; ++rep) {
      Layout& L = which == 1 && rep % 2 == 1 ? layouts[2] : first;
      double c0 = CpuSeconds();
      auto t0 = Clock::now();
      k.GroupAdvantages(adv.data(), mean.data(), sd.data(), L.r.data(), L.g.data(), n, pv::AdvantageScale::kNone, 1e-6f);
      auto t1 = Clock::now();
      double c1 = CpuSeconds();
      pv::SelectResult s = k.SelectRollouts(L.r.data(), L.g.data(), L.e.data(), L.im.data(), L.len.data(), n, opt);
      auto t2 = Clock::now();
      double c2 = CpuSeconds();
      ga.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      sr.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
      gcpu.push_back((c1 - c0) * 1e3);
      scpu.push_back((c2 - c1) * 1e3);
      if (rep == 0) {
        h = Fnv(adv.data(), n * 4);
        h = Fnv(mean.data(), n * 4, h);
        h = Fnv(sd.data(), n * 4, h);
        h = Fnv(s.indices.data(), s.indices.size() * 4, h);
        const size_t d[4] = {s.dropped_zero_variance, s.dropped_end_reason, s.dropped_no_tool_image, s.dropped_over_length};
        h = Fnv(d, sizeof d, h);
      }
    }
    auto med = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    auto mn = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
    std::printf("%-9s groupAdvantages %6.2f ms (min %6.2f, cpu %6.2f)  selectRollouts %6.2f ms (min %6.2f, cpu %6.2f)  hash %016llx\n",
                first.name, med(ga), mn(ga), med(gcpu), med(sr), mn(sr), med(scpu), static_cast<unsigned long long>(h));
  }
  return 0;
}

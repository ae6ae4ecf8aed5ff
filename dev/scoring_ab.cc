// Scratch: two builds of the CPU scoring kernels in one process, called
// interleaved (no JavaScript, no fresh output arrays): median process CPU time
// and wall time of groupAdvantages and selectRollouts per call on the bench's
// batch, adjacent and shuffled, and a hash of the outputs (equal hashes: the
// same bits). The older build is compiled with -Dpv=pvbase so that both link
// into one binary. From the repository root, with /tmp/old_scoring.cc a copy
// of the older native/cpu/scoring.cc (git show REV:native/cpu/scoring.cc):
//   F="-O3 -march=native -fopenmp -ffp-contract=off -fno-trapping-math -fno-math-errno -std=c++17 -Inative -w"
//   B="-Dpv=pvbase -DPFX=base_"
//   g++ $F $B -DSCORING_AB_WRAP -c dev/scoring_ab.cc -o /tmp/ab_wrap_base.o
//   g++ $F $B -c /tmp/old_scoring.cc -o /tmp/ab_cpu_base.o
//   g++ $F $B -c native/core/scoring.cc -o /tmp/ab_core_base.o
//   g++ $F $B -c native/core/device.cc -o /tmp/ab_device_base.o
//   g++ $F -DPFX=new_ -DSCORING_AB_WRAP -c dev/scoring_ab.cc -o /tmp/ab_wrap_new.o
//   g++ $F dev/scoring_ab.cc native/cpu/scoring.cc native/core/scoring.cc native/core/device.cc /tmp/ab_*.o -o /tmp/scoring_ab
//   PYVISION_RL_THREADS=1 /tmp/scoring_ab [reps] [ids: sparse|dense|negative|random] [n] [group size]
// AB_SWAP=1 calls the newer build first in each round.
#ifdef SCORING_AB_WRAP
#include "core/scoring.h"
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
extern "C" void CAT(PFX, ga)(float* a, float* m, float* s, const float* r, const int32_t* g, size_t n) {
  pv::CpuScoring().GroupAdvantages(a, m, s, r, g, n, pv::AdvantageScale::kNone, 1e-6f);
}
extern "C" uint64_t CAT(PFX, sr)(const float* r, const int32_t* g, const uint8_t* e, const int32_t* im, const int32_t* len, size_t n) {
  pv::SelectOptions opt;
  opt.target = n / 4;
  opt.max_length = 3500;
  pv::SelectResult s = pv::CpuScoring().SelectRollouts(r, g, e, im, len, n, opt);
  uint64_t h = 1469598103934665603ull;
  for (int32_t v : s.indices) h = (h ^ uint32_t(v)) * 1099511628211ull;
  h = (h ^ s.dropped_zero_variance) * 1099511628211ull;
  h = (h ^ s.dropped_end_reason) * 1099511628211ull;
  return h;
}
#else
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>
extern "C" void base_ga(float*, float*, float*, const float*, const int32_t*, size_t);
extern "C" uint64_t base_sr(const float*, const int32_t*, const uint8_t*, const int32_t*, const int32_t*, size_t);
extern "C" void new_ga(float*, float*, float*, const float*, const int32_t*, size_t);
extern "C" uint64_t new_sr(const float*, const int32_t*, const uint8_t*, const int32_t*, const int32_t*, size_t);
static double cpu() { timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1e3 + t.tv_nsec * 1e-6; }
static double wall() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
static uint64_t fnv(const void* d, size_t b, uint64_t h) { auto p = (const unsigned char*)d; for (size_t i = 0; i < b; ++i) h = (h ^ p[i]) * 1099511628211ull; return h; }
int main(int argc, char** argv) {
  const int reps = argc > 1 ? atoi(argv[1]) : 9;
  const std::string ids = argc > 2 ? argv[2] : "sparse";
  const size_t n = argc > 3 ? strtoul(argv[3], 0, 10) : (1u << 20);
  const int gsize = argc > 4 ? atoi(argv[4]) : 8;
  uint32_t seed = 7;
  auto rand = [&seed] { return (seed = seed * 1103515245u + 12345u) / 4294967296.0; };
  std::vector<float> r(n); std::vector<int32_t> g(n), im(n), len(n); std::vector<uint8_t> e(n);
  for (size_t i = 0; i < n; ++i) {
    const double acc = rand() < 0.45 ? 1 : 0; const int calls = int(rand() * 5);
    r[i] = float(acc + 0.1 * calls * (acc >= 1 ? 1 : 0));
    const int32_t q = int32_t(i / gsize);
    g[i] = ids == "dense" ? q : ids == "negative" ? -q * 7919 : ids == "random" ? int32_t(uint32_t(q) * 2654435761u) : q * 7919;
    e[i] = rand() < 0.8 ? 0 : uint8_t(rand() * 5); im[i] = int32_t(rand() * 3); len[i] = 10 + int32_t(rand() * 4000);
  }
  std::vector<size_t> perm(n); for (size_t i = 0; i < n; ++i) perm[i] = i;
  for (size_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[size_t(rand() * (i + 1))]);
  std::vector<float> rs(n); std::vector<int32_t> gs(n), ims(n), lens(n); std::vector<uint8_t> es(n);
  for (size_t i = 0; i < n; ++i) { rs[i] = r[perm[i]]; gs[i] = g[perm[i]]; ims[i] = im[perm[i]]; lens[i] = len[perm[i]]; es[i] = e[perm[i]]; }
  std::vector<float> a(n), m(n), s(n);
  struct L { const char* name; const float* r; const int32_t* g; const uint8_t* e; const int32_t* im; const int32_t* len; };
  L layouts[2] = {{"adjacent", r.data(), g.data(), e.data(), im.data(), len.data()}, {"shuffled", rs.data(), gs.data(), es.data(), ims.data(), lens.data()}};
  for (const L& x : layouts) {
    std::vector<double> t[2][4];
    uint64_t h[2] = {0, 0};
    for (int rep = 0; rep < reps; ++rep) {
      for (int vv = 0; vv < 2; ++vv) {
        const int v = getenv("AB_SWAP") ? 1 - vv : vv;
        auto ga = v ? new_ga : base_ga; auto sr = v ? new_sr : base_sr;
        double c0 = cpu(), w0 = wall();
        ga(a.data(), m.data(), s.data(), x.r, x.g, n);
        double c1 = cpu(), w1 = wall();
        uint64_t hs = sr(x.r, x.g, x.e, x.im, x.len, n);
        double c2 = cpu(), w2 = wall();
        t[v][0].push_back(c1 - c0); t[v][1].push_back(c2 - c1); t[v][2].push_back(w1 - w0); t[v][3].push_back(w2 - w1);
        if (rep == 0) { uint64_t hh = fnv(a.data(), n * 4, 1469598103934665603ull); hh = fnv(m.data(), n * 4, hh); hh = fnv(s.data(), n * 4, hh); h[v] = hh ^ hs; }
      }
    }
    auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
    for (int v = 0; v < 2; ++v)
      std::printf("%s %-8s cpu GA %6.2f SR %6.2f sum %6.2f | wall GA %6.2f SR %6.2f | hash %016llx\n", v ? "new " : "base", x.name, med(t[v][0]), med(t[v][1]), med(t[v][0]) + med(t[v][1]), med(t[v][2]), med(t[v][3]), (unsigned long long)h[v]);
  }
}
#endif

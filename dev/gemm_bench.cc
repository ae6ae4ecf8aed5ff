// Scratch: times cpu::Gemm on square and model-shaped products and checks it
// against a naive float64 product. g++ -O3 -march=native -fopenmp -Inative dev/gemm_bench.cc native/cpu/policy_gemm.cc
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "cpu/policy_gemm.h"
using namespace pv::cpu;
int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  struct S { size_t M, N, K; bool ta, tb; };
  S shapes[] = {{512,512,512,false,false},{512,512,512,false,true},{8192,768,256,false,true},{8192,256,1024,false,false},{256,1024,8192,true,false},{37,71,53,false,true},{53,29,77,true,false},{16,512,256,false,true}};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1,1);
  for (S s : shapes) {
    std::vector<float> a(s.M*s.K), b(s.K*s.N), c(s.M*s.N);
    for (auto& x : a) x = d(rng);
    for (auto& x : b) x = d(rng);
    size_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    Gemm(c.data(), s.N, a.data(), lda, s.ta, b.data(), ldb, s.tb, s.M, s.N, s.K, false, threads);
    double worst = 0;
    for (size_t i = 0; i < s.M; i += 7) for (size_t j = 0; j < s.N; ++j) {
      double r = 0; for (size_t k = 0; k < s.K; ++k) r += double(s.ta ? a[k*lda+i] : a[i*lda+k]) * double(s.tb ? b[j*ldb+k] : b[k*ldb+j]);
      worst = std::max(worst, std::fabs(r - c[i*s.N+j]));
    }
    int reps = 0; auto t0 = std::chrono::steady_clock::now(); double best = 1e9;
    for (int r = 0; r < 20; ++r) { timespec t0s, t1s; clock_gettime(threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t0s); Gemm(c.data(), s.N, a.data(), lda, s.ta, b.data(), ldb, s.tb, s.M, s.N, s.K, false, threads); clock_gettime(threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t1s); best = std::min(best, (t1s.tv_sec - t0s.tv_sec) + 1e-9 * (t1s.tv_nsec - t0s.tv_nsec)); ++reps; }
    (void)t0;
    printf("M=%zu N=%zu K=%zu ta=%d tb=%d: %.1f GFLOP/s (worst err %.2e)\n", s.M, s.N, s.K, s.ta, s.tb, 2.0*s.M*s.N*s.K/best/1e9, worst);
  }
}

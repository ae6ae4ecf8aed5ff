// Scratch: the CPU policy kernels on the small config's shapes, for A/B runs
// of a change (build this file at both commits and alternate the binaries).
//   g++ -O3 -march=native -fopenmp -ffp-contract=off -fno-trapping-math -fno-math-errno -std=c++17 -Inative \
//       dev/cpu_kernels_bench.cc native/cpu/policy_gemm.cc native/cpu/policy_attention.cc -o /tmp/cpu_kernels_bench
//   /tmp/cpu_kernels_bench [linear|decode|stores|attention]
// linear:    LinearBackward against the same two products as two Gemm calls (in-process A/B), and its
//            worst error against float64
// decode:    products of 16 rows against W^T (a decode step), best of 300
// stores:    8192-row forward products followed by one read of their output (as GELU or attention
//            would read it), best of 10
// attention: forward and backward of the 8 heads of one 512-position sequence (D = 32), best of 100
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/policy_attention.h"
#include "cpu/policy_gemm.h"

using namespace pv::cpu;
using Clock = std::chrono::steady_clock;

static double Seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

static std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

static void Linear() {
  std::mt19937 rng(1);
  const size_t shapes[][2] = {{256, 768}, {256, 256}, {256, 1024}, {1024, 256}};
  double total[2] = {0, 0};
  for (const auto& sh : shapes) {
    const size_t N = 8192, I = sh[0], O = sh[1];
    std::vector<float> dout = Random(N * O, rng), inp = Random(N * I, rng), w = Random(O * I, rng);
    std::vector<float> dinp(N * I), dw0 = Random(O * I, rng), dw(O * I);
    double best[2] = {1e9, 1e9};
    for (int r = 0; r < 10; ++r) {
      const int v = r & 1;
      dw = dw0;
      const auto t0 = Clock::now();
      if (v == 0) {
        Gemm(dinp.data(), I, dout.data(), O, false, w.data(), I, false, N, I, O, false, 2);
        Gemm(dw.data(), I, dout.data(), O, true, inp.data(), I, false, O, I, N, true, 2);
      } else {
        LinearBackward(dinp.data(), dw.data(), dout.data(), inp.data(), w.data(), N, I, O, 2);
      }
      best[v] = std::min(best[v], Seconds(t0));
    }
    double worst = 0;
    for (size_t i = 0; i < O; i += 17)
      for (size_t j = 0; j < I; ++j) {
        double ref = dw0[i * I + j];
        for (size_t n = 0; n < N; ++n) ref += double(dout[n * O + i]) * inp[n * I + j];
        worst = std::max(worst, std::fabs(ref - dw[i * I + j]));
      }
    std::printf("linear backward I=%zu O=%zu: two Gemm %.2f ms, LinearBackward %.2f ms, dweight worst error %.2e\n", I, O,
                best[0] * 1e3, best[1] * 1e3, worst);
    total[0] += best[0];
    total[1] += best[1];
  }
  std::printf("linear backward, all four: %.2fx\n", total[0] / total[1]);
}

static void Decode() {
  std::mt19937 rng(2);
  const size_t shapes[][2] = {{768, 256}, {768, 1024}, {256, 256}, {256, 1024}, {1024, 256}};
  for (const auto& sh : shapes) {
    const size_t M = 16, N = sh[0], K = sh[1];
    std::vector<float> a = Random(M * K, rng), b = Random(N * K, rng), c(M * N);
    double best = 1e9;
    for (int r = 0; r < 300; ++r) {
      const auto t0 = Clock::now();
      Gemm(c.data(), N, a.data(), K, false, b.data(), K, true, M, N, K, false, 2);
      best = std::min(best, Seconds(t0));
    }
    std::printf("decode product M=16 N=%zu K=%zu: %.1f us, %.1f GFLOP/s\n", N, K, best * 1e6, 2.0 * M * N * K / best / 1e9);
  }
}

static void Stores() {
  std::mt19937 rng(3);
  const size_t shapes[][3] = {{8192, 768, 256}, {8192, 1024, 256}, {8192, 256, 1024}, {8192, 256, 256}};
  for (const auto& s : shapes) {
    const size_t M = s[0], N = s[1], K = s[2];
    std::vector<float> a = Random(M * K, rng), b = Random(N * K, rng), bias = Random(N, rng), c(M * N);
    double best = 1e9;
    for (int r = 0; r < 10; ++r) {
      const auto t0 = Clock::now();
      Gemm(c.data(), N, a.data(), K, false, b.data(), K, true, M, N, K, false, 2, bias.data());
      float sum = 0;
#pragma omp parallel for reduction(+ : sum) num_threads(2)
      for (size_t i = 0; i < M * N; ++i) sum += c[i];
      best = std::min(best, Seconds(t0));
      if (sum == 12345.0f) std::printf(" ");
    }
    std::printf("forward product M=%zu N=%zu K=%zu and one read of its output: %.2f ms\n", M, N, K, best * 1e3);
  }
}

static void Attention() {
  const size_t T = 512, C = 256, H = 8, D = C / H;
  std::mt19937 rng(4);
  std::vector<float> qkv = Random(T * 3 * C, rng), dout = Random(T * C, rng), out(T * C), lse(T * H);
  std::vector<float> dqkv(T * 3 * C), scratch;
  double fwd = 1e9, bwd = 1e9;
  for (int r = 0; r < 100; ++r) {
    auto t0 = Clock::now();
    for (size_t h = 0; h < H; ++h)
      AttentionHeadForward(out.data() + h * D, C, lse.data() + h, H, qkv.data() + h * D, 3 * C, qkv.data() + C + h * D,
                           qkv.data() + 2 * C + h * D, 3 * C, T, 0, D, 1.0f / std::sqrt(float(D)), scratch);
    fwd = std::min(fwd, Seconds(t0));
    t0 = Clock::now();
    for (size_t h = 0; h < H; ++h)
      AttentionHeadBackward(dqkv.data() + h * D, dqkv.data() + C + h * D, dqkv.data() + 2 * C + h * D, dout.data() + h * D,
                            out.data() + h * D, C, lse.data() + h, H, qkv.data() + h * D, 3 * C, qkv.data() + C + h * D,
                            qkv.data() + 2 * C + h * D, 3 * C, T, 0, D, 1.0f / std::sqrt(float(D)), scratch);
    bwd = std::min(bwd, Seconds(t0));
  }
  std::printf("attention, 8 heads of one 512-position sequence, one thread: forward %.3f ms, backward %.3f ms\n", fwd * 1e3,
              bwd * 1e3);
}

int main(int argc, char** argv) {
  const char* only = argc > 1 ? argv[1] : "";
  if (!*only || !std::strcmp(only, "linear")) Linear();
  if (!*only || !std::strcmp(only, "decode")) Decode();
  if (!*only || !std::strcmp(only, "stores")) Stores();
  if (!*only || !std::strcmp(only, "attention")) Attention();
}

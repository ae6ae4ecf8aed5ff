// Scratch: one decode step's attention on the CPU (one thread), B sequences
// of `len` cached positions in a KV cache of T rows per sequence, one query
// each; prints the best of 20 in process CPU time, per (key, head), and the
// rate at which K and V are read. Link it against each build's core library
// to compare them (the headers of the same commit):
//   g++ -O3 -march=native -fopenmp -std=c++17 -Inative dev/decode_attention_bench.cc build/libpyvision_core.a \
//       -o /tmp/decode_attention_bench
//   /tmp/decode_attention_bench B C T len      (e.g. 256 96 256 96; heads: 4)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <random>
#include <ctime>
#include "core/policy_ops.h"
using namespace pv;
static double Cpu() { timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6; }
int main(int argc, char** argv) {
  size_t B = atoi(argv[1]), C = atoi(argv[2]), H = 4, T = atoi(argv[3]), len = atoi(argv[4]);
  auto ops = MakeCpuPolicyOps(1);
  std::vector<float> q(B * 3 * C), out(B * C); float* kp = (float*)ops->Alloc(B*T*C*4); float* vp = (float*)ops->Alloc(B*T*C*4);
  std::mt19937 rng(1); std::uniform_real_distribution<float> d(-1, 1);
  for (auto& x : q) x = d(rng); for (size_t i = 0; i < B*T*C; ++i) { kp[i] = d(rng); vp[i] = d(rng); }
  std::vector<int32_t> qo(B + 1), ks(B), fp(B);
  for (size_t b = 0; b < B; ++b) { qo[b] = b; ks[b] = b * T; fp[b] = len - 1; } qo[B] = B;
  AttentionLayout l; l.query_offsets = qo.data(); l.key_start = ks.data(); l.first_position = fp.data(); l.sequences = B; l.max_queries = 1; l.max_keys = len;
  double best = 1e30;
  for (int r = 0; r < 20; ++r) { double c0 = Cpu(); ops->AttentionForward(out.data(), nullptr, q.data(), kp, vp, l, B, C, H, 3 * C, C); best = std::min(best, Cpu() - c0); }
  std::printf("B=%zu C=%zu len=%zu: %.3f ms, %.2f ns per (key, head), %.1f GB/s of K+V\n", B, C, len, best, best * 1e6 / (B * len * H), 2.0 * B * len * C * 4 / (best * 1e-3) / 1e9);
}

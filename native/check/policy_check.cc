// Standalone check of the policy engine's CPU matrix product and of whole
// training steps (no Node): cpu::Gemm against a float64 product on sampled
// rows and its GFLOP/s for every layout the model uses; train-step tokens/s
// of the small config on the CPU; and, when a CUDA device is present, the
// train step of the small config and of L=12, C=768, T=1024 (V=50304) on the
// GPU with its fraction of the card's fp32 limit. (Every op on CUDA against
// the CPU op is in policy_cuda_check.cc.)
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "check/check.h"
#include "core/policy_model.h"
#include "cpu/policy_gemm.h"
#include "core/device.h"

namespace pv {
namespace check {
namespace {

void CheckGemm(Context& ctx) {
  struct Shape {
    const char* what;
    size_t M, N, K;
    bool ta, tb;
  };
  const Shape shapes[] = {
      {"512x512x512 (a @ b)", 512, 512, 512, false, false},
      {"512x512x512 (a @ b^T, forward)", 512, 512, 512, false, true},
      {"512x512x512 (a^T @ b, weight grad)", 512, 512, 512, true, false},
      {"8192x768x256 (small qkv forward)", 8192, 768, 256, false, true},
      {"8192x256x1024 (small mlp.proj dinp)", 8192, 256, 1024, false, false},
      {"1024x256x8192 (small mlp.fc dweight)", 1024, 256, 8192, true, false},
      {"37x71x53 (odd tails)", 37, 71, 53, true, true},
      {"16x1024x256 (generation step)", 16, 1024, 256, false, true},
  };
  const int threads = CpuThreads();
  for (const Shape& s : shapes) {
    std::vector<float> a = ctx.Uniform(s.M * s.K, -1, 1), b = ctx.Uniform(s.K * s.N, -1, 1), c(s.M * s.N);
    const size_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    cpu::Gemm(c.data(), s.N, a.data(), lda, s.ta, b.data(), ldb, s.tb, s.M, s.N, s.K, false, threads);
    // float64 reference on every 7th row
    std::vector<float> got, want;
    for (size_t i = 0; i < s.M; i += 7) {
      for (size_t j = 0; j < s.N; ++j) {
        double r = 0;
        for (size_t k = 0; k < s.K; ++k)
          r += double(s.ta ? a[k * lda + i] : a[i * lda + k]) * double(s.tb ? b[j * ldb + k] : b[k * ldb + j]);
        got.push_back(c[i * s.N + j]);
        want.push_back(static_cast<float>(r));
      }
    }
    ctx.Compare(std::string("gemm ") + s.what, got.data(), want.data(), got.size(), 1e-5 * std::sqrt(double(s.K)), 1e-4);
    const double ms = ctx.Time(false, [&] {
      cpu::Gemm(c.data(), s.N, a.data(), lda, s.ta, b.data(), ldb, s.tb, s.M, s.N, s.K, false, threads);
    });
    ctx.Report(std::string("gemm ") + s.what, "cpu", ms, 0, 2.0 * s.M * s.N * s.K);
    std::printf("%-44s cpu   %.1f GFLOP/s (%d threads)\n", (std::string("gemm ") + s.what).c_str(),
                2.0 * s.M * s.N * s.K / (ms * 1e6), threads);
  }
}

// Floating-point operations of one train step over B sequences of T
// positions: 3x the forward (the backward is twice the forward), forward =
// 2 x (12 L C^2 + C V) per position for the linear layers and lm_head, plus
// causal attention 2 x 2 x C x (T + 1) / 2 per position and layer.
double TrainStepFlops(const PolicyConfig& c, size_t B, size_t T) {
  const double C = double(c.dim), L = double(c.layers), V = double(c.vocab_size);
  const double per_position = 2.0 * (12.0 * L * C * C + C * V) + L * 2.0 * C * (double(T) + 1.0);
  return 3.0 * per_position * double(B * T);
}

struct Batch {
  std::vector<int32_t> tokens, offsets;
  std::vector<float> patches, mask;
  PolicyBatch batch;
  PolicyLossSpec loss;
};

// B sequences of T positions: T/8 visual patches, then tokens (bench/policy.bench.ts).
Batch MakeBatch(Context& ctx, const PolicyConfig& c, size_t B, size_t T) {
  Batch b;
  const size_t visual = std::max<size_t>(1, T / 8);
  std::vector<int32_t> ids = ctx.Ints(B * T, 0, static_cast<int32_t>(c.vocab_size) - 1);
  b.tokens.resize(B * T);
  b.mask.assign(B * T, 0.0f);
  b.offsets.resize(B + 1);
  for (size_t s = 0; s < B; ++s) {
    b.offsets[s + 1] = static_cast<int32_t>((s + 1) * T);
    for (size_t t = 0; t < T; ++t) {
      b.tokens[s * T + t] = t < visual ? -1 : ids[s * T + t];
      b.mask[s * T + t] = t >= visual && t > 0 ? 1.0f : 0.0f;
    }
  }
  b.patches = ctx.Uniform(B * visual * c.patch_dim, -1, 1);
  b.batch.tokens = b.tokens.data();
  b.batch.positions = B * T;
  b.batch.patches = b.patches.data();
  b.batch.patch_floats = b.patches.size();
  b.batch.seq_offsets = b.offsets.data();
  b.batch.sequences = B;
  b.loss.kind = TokenLossKind::kSft;
  b.loss.mask_f32 = b.mask.data();
  return b;
}

void TimeTrainStep(Context& ctx, const char* name, const PolicyConfig& c, size_t B, Device device, int repeats) {
  auto model = std::make_shared<PolicyModel>(c, device, 0);
  model->InitRandom(1);
  Batch b = MakeBatch(ctx, c, B, c.max_seq_len);
  AdamWOptions optim;
  optim.lr = 1e-4;
  const int saved = ctx.repeats;
  ctx.repeats = repeats;
  const double ms = ctx.Time(device == Device::kCuda, [&] { model->TrainStep(b.batch, b.loss, optim); });
  ctx.repeats = saved;
  const double tokens = double(B * c.max_seq_len);
  const std::string label = std::string("train step ") + name + " B=" + std::to_string(B);
  ctx.Report(label, DeviceName(device), ms, 0, TrainStepFlops(c, B, c.max_seq_len));
  std::printf("%-44s %-5s %.0f tokens/s (%.1f ms per step)\n", label.c_str(), DeviceName(device), tokens / ms * 1e3, ms);
}

void CheckTrainSteps(Context& ctx) {
  PolicyConfig small;
  small.vocab_size = 512;
  small.patch_dim = 48;
  small.max_seq_len = 512;
  small.layers = 4;
  small.heads = 8;
  small.dim = 256;
  TimeTrainStep(ctx, "small", small, 16, Device::kCpu, 3);
  if (!ctx.cuda_available) {
    std::printf("train steps on CUDA not run: no CUDA device\n");
    return;
  }
  TimeTrainStep(ctx, "small", small, 16, Device::kCuda, 5);
  PolicyConfig gpt2 = small;
  gpt2.vocab_size = 50304;
  gpt2.max_seq_len = 1024;
  gpt2.layers = 12;
  gpt2.heads = 12;
  gpt2.dim = 768;
  TimeTrainStep(ctx, "L=12 C=768 T=1024 V=50304", gpt2, 16, Device::kCuda, 3);
}

}  // namespace

PV_CHECK_CASE("policy gemm", CheckGemm);
PV_CHECK_CASE("policy train step", CheckTrainSteps);

}  // namespace check
}  // namespace pv

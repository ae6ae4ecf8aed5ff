// Scratch: time per PolicyOps op over training steps of the small config on
// the CPU (a timing decorator around the CPU backend). GENERATE=1 times a
// session instead (prefill T/2, then T/2 sampled tokens); second argument
// `tiny`, or `decode` for the rollout world's shape (L=2 C=64 H=4 V=1300,
// B=$B sequences, default 256, C=$DIM channels, default 64 (96: the trainer's
// default policy), prompts of 64 positions then 64 tokens), where
// "outside the ops" is the sampling and the session's bookkeeping.
//   g++ -O3 -march=native -fopenmp -ffp-contract=off -fno-trapping-math -fno-math-errno -std=c++17 -Inative \
//       dev/policy_profile.cc native/core/*.cc native/cpu/*.cc -o /tmp/policy_profile
// (the flags of the core library in CMakeLists.txt: without -fno-math-errno
// the sqrt of AdamW and LayerNorm does not vectorise)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/policy_model.h"

using namespace pv;
using Clock = std::chrono::steady_clock;

struct Timed final : PolicyOps {
  std::unique_ptr<PolicyOps> in;
  std::map<std::string, double> ms, cpu;
  explicit Timed(std::unique_ptr<PolicyOps> o) : in(std::move(o)) {}
  static double CpuMs() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
  }
  template <typename F>
  void T(const char* name, F f) {
    auto t0 = Clock::now();
    const double c0 = CpuMs();
    f();
    ms[name] += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    cpu[name] += CpuMs() - c0;
  }
  Device device() const override { return in->device(); }
  // LANES=1: sessions split their sequences into the backend's host lanes,
  // whose ops are not timed (only the totals then mean anything).
  size_t HostLanes() const override { return getenv("LANES") ? in->HostLanes() : 1; }
  PolicyOps& LaneOps() override { return getenv("LANES") ? in->LaneOps() : *this; }
  void* Alloc(size_t b) override { return in->Alloc(b); }
  void Free(void* p) override { in->Free(p); }
  void Upload(void* d, const void* s, size_t b) override { T("upload", [&] { in->Upload(d, s, b); }); }
  void Download(void* d, const void* s, size_t b) override { T("download", [&] { in->Download(d, s, b); }); }
  void Copy(void* d, const void* s, size_t b) override { in->Copy(d, s, b); }
  void Zero(void* d, size_t b) override { T("zero", [&] { in->Zero(d, b); }); }
  void Synchronize() override { in->Synchronize(); }
  void EmbeddingForward(float* a, const int32_t* b, const int32_t* c, const int32_t* d, const float* e, const float* f, const float* g, size_t N, size_t C) override { T("embedding fwd", [&] { in->EmbeddingForward(a, b, c, d, e, f, g, N, C); }); }
  void EmbeddingBackward(float* a, float* b, float* c, const float* d, const int32_t* e, const int32_t* f, const int32_t* g, size_t N, size_t C) override { T("embedding bwd", [&] { in->EmbeddingBackward(a, b, c, d, e, f, g, N, C); }); }
  void LayerNormForward(float* a, float* b, float* c, const float* d, const float* e, const float* f, size_t N, size_t C) override { T("layernorm fwd", [&] { in->LayerNormForward(a, b, c, d, e, f, N, C); }); }
  void LayerNormBackward(float* a, float* b, float* c, const float* d, const float* e, const float* f, const float* g, const float* h, size_t N, size_t C) override { T("layernorm bwd", [&] { in->LayerNormBackward(a, b, c, d, e, f, g, h, N, C); }); }
  void MatmulForward(float* a, const float* b, const float* c, const float* d, size_t N, size_t I, size_t O) override { T(("matmul fwd " + std::to_string(I) + "->" + std::to_string(O)).c_str(), [&] { in->MatmulForward(a, b, c, d, N, I, O); }); }
  void MatmulBackward(float* a, float* b, float* c, const float* d, const float* e, const float* f, size_t N, size_t I, size_t O) override { T(("matmul bwd " + std::to_string(I) + "->" + std::to_string(O)).c_str(), [&] { in->MatmulBackward(a, b, c, d, e, f, N, I, O); }); }
  void AttentionForward(float* a, float* b, const float* c, const float* d, const float* e, const AttentionLayout& l, size_t N, size_t C, size_t H, size_t x, size_t y) override { T("attention fwd", [&] { in->AttentionForward(a, b, c, d, e, l, N, C, H, x, y); }); }
  void AttentionBackward(float* a, float* b, float* c, const float* d, const float* e, const float* f, const float* g, const float* h, const float* i, const AttentionLayout& l, size_t N, size_t C, size_t H, size_t x, size_t y) override { T("attention bwd", [&] { in->AttentionBackward(a, b, c, d, e, f, g, h, i, l, N, C, H, x, y); }); }
  void GeluForward(float* a, const float* b, size_t n) override { T("gelu fwd", [&] { in->GeluForward(a, b, n); }); }
  void GeluBackward(float* a, const float* b, const float* c, size_t n) override { T("gelu bwd", [&] { in->GeluBackward(a, b, c, n); }); }
  void ResidualForward(float* a, const float* b, const float* c, size_t n) override { T("residual", [&] { in->ResidualForward(a, b, c, n); }); }
  void GatherRows(float* a, const float* b, const int32_t* c, size_t n, size_t w, size_t l) override { T("gather", [&] { in->GatherRows(a, b, c, n, w, l); }); }
  void ScatterRows(float* a, const float* b, const int32_t* c, size_t n, size_t w, size_t l1, size_t l2) override { T("scatter", [&] { in->ScatterRows(a, b, c, n, w, l1, l2); }); }
  void LogSoftmaxForward(float* a, float* b, const float* c, const int32_t* d, size_t N, size_t V) override { T("logsoftmax fwd", [&] { in->LogSoftmaxForward(a, b, c, d, N, V); }); }
  void LogSoftmaxLossBackward(float* a, float* b, float* c, const float* d, const int32_t* e, const TokenLossArgs& l, size_t N, size_t V) override { T("logsoftmax loss bwd", [&] { in->LogSoftmaxLossBackward(a, b, c, d, e, l, N, V); }); }
  LossSums PolicyLossSums(const float* a, const float* b, const float* c, const TokenLossArgs& l, size_t N) override { LossSums r; T("loss sums", [&] { r = in->PolicyLossSums(a, b, c, l, N); }); return r; }
  double SumSquares(const float* x, size_t n) override { double r; T("sumsquares", [&] { r = in->SumSquares(x, n); }); return r; }
  void AdamW(float* a, float* b, float* c, const float* d, size_t n, const AdamWArgs& g) override { T("adamw", [&] { in->AdamW(a, b, c, d, n, g); }); }
};

int main(int argc, char** argv) {
  const std::string shape = argc > 2 ? argv[2] : "small";
  const bool decode = shape == "decode";
  PolicyConfig c = shape == "tiny" ? PolicyConfig{128, 48, 128, 2, 4, 64}
                   : decode        ? PolicyConfig{1300, 48, 512, 2, 4, size_t(getenv("DIM") ? atoi(getenv("DIM")) : 64)}
                                   : PolicyConfig{512, 48, 512, 4, 8, 256};
  const size_t B = decode && getenv("B") ? size_t(atoi(getenv("B"))) : decode ? 256 : 16;
  const size_t T = decode ? 128 : c.max_seq_len, visual = T / 8;
  if (getenv("THREADS")) SetCpuThreads(atoi(getenv("THREADS")));  // the sampling's host threads too
  auto timed = std::make_unique<Timed>(MakeCpuPolicyOps(getenv("THREADS") ? atoi(getenv("THREADS")) : 0));
  Timed* t = timed.get();
  auto model = std::make_shared<PolicyModel>(c, std::move(timed));
  model->InitRandom(1);
  std::vector<int32_t> tokens(B * T), offsets(B + 1);
  std::vector<float> mask(B * T), patches(B * visual * c.patch_dim, 0.1f);
  for (size_t s = 0; s < B; ++s) {
    offsets[s + 1] = int32_t((s + 1) * T);
    for (size_t i = 0; i < T; ++i) {
      tokens[s * T + i] = i < visual ? -1 : int32_t((s * 31 + i * 7) % c.vocab_size);
      mask[s * T + i] = i >= visual ? 1.0f : 0.0f;
    }
  }
  PolicyBatch batch{tokens.data(), B * T, patches.data(), patches.size(), offsets.data(), B};
  PolicyLossSpec loss;
  loss.mask_f32 = mask.data();
  AdamWOptions optim;
  const int steps = argc > 1 ? atoi(argv[1]) : 3;
  if (!decode) model->TrainStep(batch, loss, optim);
  // Per op, the minimum over the steps of its time in one step (robust to
  // other processes on a shared machine); the step total likewise.
  std::map<std::string, double> best, best_cpu;
  double total = 1e30, total_cpu = 1e30;
  for (int i = 0; i < steps; ++i) {
    std::unique_ptr<PolicySession> prefilled;
    if (decode) {  // the prompts' prefill outside the timing: decode steps only
      std::vector<int32_t> ptok, poff(B + 1);
      for (size_t q = 0; q < B; ++q) {
        for (size_t i = 0; i < T / 2; ++i) ptok.push_back(tokens[q * T + i]);
        poff[q + 1] = int32_t((q + 1) * (T / 2));
      }
      PolicyBatch prompts{ptok.data(), ptok.size(), patches.data(), B * visual * c.patch_dim, poff.data(), B};
      prefilled = model->StartSession(prompts);
      SampleOptions none;
      prefilled->Generate(none);
    }
    t->ms.clear();
    t->cpu.clear();
    auto t0 = Clock::now();
    const double c0 = Timed::CpuMs();
    if (decode) {
      SampleOptions so;
      so.max_new_tokens = T / 2;
      so.seed = i;
      so.temperature = getenv("TEMPERATURE") ? atof(getenv("TEMPERATURE")) : 1.0;
      prefilled->Generate(so);
    } else if (getenv("GENERATE")) {
      // Prompts of T/2 positions, then T/2 sampled tokens per sequence.
      std::vector<int32_t> ptok, poff(B + 1);
      for (size_t q = 0; q < B; ++q) {
        for (size_t i = 0; i < T / 2; ++i) ptok.push_back(tokens[q * T + i]);
        poff[q + 1] = int32_t((q + 1) * (T / 2));
      }
      PolicyBatch prompts{ptok.data(), ptok.size(), patches.data(), B * visual * c.patch_dim, poff.data(), B};
      auto session = model->StartSession(prompts);
      SampleOptions so;
      so.max_new_tokens = T / 2;
      session->Generate(so);
    } else if (getenv("LOGPROBS")) {
      std::vector<float> lp(B * T), en(B * T);
      model->Logprobs(lp.data(), en.data(), batch);
    } else {
      model->TrainStep(batch, loss, optim);
    }
    total = std::min(total, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    total_cpu = std::min(total_cpu, Timed::CpuMs() - c0);
    for (auto& kv : t->ms) best[kv.first] = i == 0 ? kv.second : std::min(best[kv.first], kv.second);
    for (auto& kv : t->cpu) best_cpu[kv.first] = i == 0 ? kv.second : std::min(best_cpu[kv.first], kv.second);
  }
  t->ms = best;
  t->cpu = best_cpu;
  double sum = 0;
  for (auto& kv : t->ms) sum += kv.second;
  std::printf("%s %.1f ms (min over %d runs; sum of per-op minima %.1f ms; outside the ops %.1f ms)\n",
              decode || getenv("GENERATE") ? "generation" : getenv("LOGPROBS") ? "logprobs" : "train step", total, steps,
              sum, total - sum);
  std::printf("  process CPU time %.1f ms (min over the runs)\n", total_cpu);
  if (decode) std::printf("  %.0f sampled tokens/s (B=%zu, %zu tokens each)\n", B * (T / 2) / (total * 1e-3), B, T / 2);
  const int saved_steps = steps;
  std::vector<std::pair<double, std::string>> rows;
  double cpu_total = 0;
  (void)saved_steps;
  for (auto& kv : t->ms) rows.push_back({kv.second, kv.first});
  std::sort(rows.rbegin(), rows.rend());
  (void)cpu_total;
  // Per op: wall time, its share of the total, and the process CPU time
  // (all threads; on a machine shared with other work, wall times include
  // waiting for a core, CPU times do not).
  for (auto& r : rows)
    std::printf("  %-28s %8.1f ms  %5.1f%%  cpu %8.1f ms\n", r.second.c_str(), r.first, 100 * r.first / total,
                t->cpu[r.second]);
}

// Standalone check of the policy ops (core/policy_ops.h): every CUDA op against
// the CPU op on the same seeded inputs, and the time of both with the fraction
// of the card's fp32 peak (matmul, attention) or memory bandwidth (the rest).
// The CPU side always runs (and is timed); the CUDA side runs when a device is
// present, and is skipped with the reason otherwise.
//
// Tolerances (|cuda - cpu| <= atol + rtol |cpu|). Both backends compute in
// float32 and differ only in summation order and in exp/tanh implementations
// (CUDA expf/tanhf vs the CPU's vectorised polynomial, both within ~2 ulp):
//   exact (0, 0)     copies and single additions (embedding forward, residual,
//                    gather/scatter);
//   elementwise      a few ulp: atol 1e-6, rtol 1e-5 (gelu), AdamW 1e-7 / 1e-5;
//   reductions       a K-term float32 sum in two different orders differs by
//                    ~sqrt(K) * 2^-24 * (typical |term|) in practice; the
//                    tolerances below are that times ~100 (matmul atol
//                    1e-5 sqrt(K) with rtol 1e-4; attention and layernorm
//                    likewise, with the row length as K);
//   float64 sums     SumSquares: rtol 1e-10 (orders of 2^-53 * n).
// Inputs are U(-1, 1) unless noted, so every "typical |term|" is <= 1.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <memory>
#include <string>
#include <vector>

#include "check/check.h"
#include "core/device.h"
#include "core/policy_model.h"
#include "core/policy_ops.h"

namespace pv {
namespace check {
namespace {

// Backend memory of `ops` holding a copy of a host vector; freed on scope exit.
template <typename T>
class OpsBuffer {
 public:
  OpsBuffer(PolicyOps& ops, const std::vector<T>& host) : ops_(ops), count_(host.size()) {
    ptr_ = static_cast<T*>(ops_.Alloc(count_ * sizeof(T)));
    ops_.Upload(ptr_, host.data(), count_ * sizeof(T));
  }
  OpsBuffer(PolicyOps& ops, size_t count) : ops_(ops), count_(count) {
    ptr_ = static_cast<T*>(ops_.Alloc(count_ * sizeof(T)));
  }
  ~OpsBuffer() { ops_.Free(ptr_); }
  OpsBuffer(const OpsBuffer&) = delete;
  OpsBuffer& operator=(const OpsBuffer&) = delete;
  T* get() const { return ptr_; }
  std::vector<T> Download() const {
    std::vector<T> host(count_);
    ops_.Download(host.data(), ptr_, count_ * sizeof(T));
    return host;
  }

 private:
  PolicyOps& ops_;
  size_t count_;
  T* ptr_ = nullptr;
};

// The CUDA ops when a device is present, else null (and the reason printed once per case).
std::unique_ptr<PolicyOps> CudaOps(Context& ctx, const char* what) {
#ifdef PV_WITH_CUDA
  if (ctx.cuda_available) return MakeCudaPolicyOps();
  std::printf("%-44s skipped on CUDA: %s\n", what, QueryCuda().reason.c_str());
#else
  (void)ctx;
  std::printf("%-44s skipped on CUDA: this build has no CUDA backend\n", what);
#endif
  return nullptr;
}

void CompareVec(Context& ctx, const std::string& name, const std::vector<float>& gpu, const std::vector<float>& cpu,
                double atol, double rtol) {
  ctx.Compare(name + " cuda~cpu", gpu.data(), cpu.data(), cpu.size(), atol, rtol);
}

// ---- matmul ---------------------------------------------------------------------

// Forward and backward of one linear layer [N, I] -> [N, O]; timed when `timed`.
void MatmulCase(Context& ctx, PolicyOps& cpu, PolicyOps* gpu, size_t N, size_t I, size_t O, bool with_bias,
                bool with_dinp, bool timed) {
  const std::string tag = "matmul " + std::to_string(N) + "x" + std::to_string(I) + "->" + std::to_string(O);
  std::vector<float> inp = ctx.Uniform(N * I, -1, 1), weight = ctx.Uniform(O * I, -1, 1);
  std::vector<float> bias = ctx.Uniform(O, -1, 1), dout = ctx.Uniform(N * O, -1, 1);
  std::vector<float> dw0 = ctx.Uniform(O * I, -1, 1), db0 = ctx.Uniform(O, -1, 1);  // accumulated into
  const double flops_fwd = 2.0 * N * I * O, flops_bwd = 4.0 * N * I * O;

  std::vector<float> out(N * O), dinp(N * I), dw = dw0, db = db0;
  cpu.MatmulForward(out.data(), inp.data(), weight.data(), with_bias ? bias.data() : nullptr, N, I, O);
  cpu.MatmulBackward(with_dinp ? dinp.data() : nullptr, dw.data(), with_bias ? db.data() : nullptr, dout.data(),
                     inp.data(), weight.data(), N, I, O);
  if (timed) {
    ctx.Report(tag + " fwd", "cpu",
               ctx.Time(false, [&] {
                 cpu.MatmulForward(out.data(), inp.data(), weight.data(), with_bias ? bias.data() : nullptr, N, I, O);
               }),
               0, flops_fwd);
    std::vector<float> scratch = dw0, scratch_b = db0;
    ctx.Report(tag + " bwd", "cpu", ctx.Time(false, [&] {
                 cpu.MatmulBackward(with_dinp ? dinp.data() : nullptr, scratch.data(),
                                    with_bias ? scratch_b.data() : nullptr, dout.data(), inp.data(), weight.data(), N,
                                    I, O);
               }),
               0, flops_bwd);
  }
  if (!gpu) return;
  OpsBuffer<float> g_inp(*gpu, inp), g_weight(*gpu, weight), g_bias(*gpu, bias), g_dout(*gpu, dout);
  OpsBuffer<float> g_out(*gpu, N * O), g_dinp(*gpu, N * I), g_dw(*gpu, dw0), g_db(*gpu, db0);
  gpu->MatmulForward(g_out.get(), g_inp.get(), g_weight.get(), with_bias ? g_bias.get() : nullptr, N, I, O);
  gpu->MatmulBackward(with_dinp ? g_dinp.get() : nullptr, g_dw.get(), with_bias ? g_db.get() : nullptr, g_dout.get(),
                      g_inp.get(), g_weight.get(), N, I, O);
  const double k_fwd = std::sqrt(double(std::max<size_t>(I, 1))), k_dinp = std::sqrt(double(std::max<size_t>(O, 1)));
  const double k_dw = std::sqrt(double(std::max<size_t>(N, 1)));
  CompareVec(ctx, tag + " out", g_out.Download(), out, 1e-5 * k_fwd, 1e-4);
  if (with_dinp) CompareVec(ctx, tag + " dinp", g_dinp.Download(), dinp, 1e-5 * k_dinp, 1e-4);
  CompareVec(ctx, tag + " dweight", g_dw.Download(), dw, 1e-5 * k_dw, 1e-4);
  if (with_bias) CompareVec(ctx, tag + " dbias", g_db.Download(), db, 1e-5 * k_dw, 1e-4);
  if (timed) {
    ctx.Report(tag + " fwd", "cuda", ctx.Time(true, [&] {
                 gpu->MatmulForward(g_out.get(), g_inp.get(), g_weight.get(), with_bias ? g_bias.get() : nullptr, N,
                                    I, O);
               }),
               0, flops_fwd);
    ctx.Report(tag + " bwd", "cuda", ctx.Time(true, [&] {
                 gpu->MatmulBackward(with_dinp ? g_dinp.get() : nullptr, g_dw.get(), with_bias ? g_db.get() : nullptr,
                                     g_dout.get(), g_inp.get(), g_weight.get(), N, I, O);
               }),
               0, flops_bwd);
  }
}

void CheckMatmul(Context& ctx) {
  std::unique_ptr<PolicyOps> cpu_ops = MakeCpuPolicyOps(0);
  PolicyOps& cpu = *cpu_ops;
  std::unique_ptr<PolicyOps> gpu = CudaOps(ctx, "policy matmul");
  // Odd sizes (tails in every tile dimension), with and without bias / dinp.
  MatmulCase(ctx, cpu, gpu.get(), 37, 19, 23, true, true, false);
  MatmulCase(ctx, cpu, gpu.get(), 1, 64, 130, false, true, false);
  MatmulCase(ctx, cpu, gpu.get(), 301, 129, 67, true, false, false);
  MatmulCase(ctx, cpu, gpu.get(), 0, 16, 8, true, true, false);
  // The small config's layers (B=16 x T=512 positions, C=256): qkv, mlp.fc, mlp.proj, lm_head.
  MatmulCase(ctx, cpu, gpu.get(), 8192, 256, 768, true, true, true);
  MatmulCase(ctx, cpu, gpu.get(), 8192, 256, 1024, true, true, true);
  MatmulCase(ctx, cpu, gpu.get(), 8192, 1024, 256, true, true, true);
  MatmulCase(ctx, cpu, gpu.get(), 8192, 256, 512, false, true, true);
  // A large square-ish product for the fraction of fp32 peak (fewer CPU repeats).
  const int repeats = ctx.repeats;
  ctx.repeats = 3;
  MatmulCase(ctx, cpu, gpu.get(), 4096, 1024, 4096, true, true, true);
  ctx.repeats = repeats;
}

// ---- attention ------------------------------------------------------------------

struct Layout {
  std::vector<int32_t> query_offsets, key_start, first_position;
  size_t max_queries = 0, max_keys = 0, key_rows = 0;
};

// Packed training layout: each sequence's keys are its own rows.
Layout PackedLayout(const std::vector<size_t>& lengths) {
  Layout l;
  l.query_offsets.push_back(0);
  for (size_t n : lengths) {
    l.key_start.push_back(l.query_offsets.back());
    l.first_position.push_back(0);
    l.query_offsets.push_back(l.query_offsets.back() + int32_t(n));
    l.max_queries = std::max(l.max_queries, n);
    l.max_keys = std::max(l.max_keys, n);
  }
  l.key_rows = size_t(l.query_offsets.back());
  return l;
}

// KV-cache layout: slot s holds rows s * T ..; `cached[s]` positions are there
// already and `queries[s]` new rows follow them.
Layout CacheLayout(const std::vector<size_t>& cached, const std::vector<size_t>& queries, size_t T) {
  Layout l;
  l.query_offsets.push_back(0);
  for (size_t s = 0; s < cached.size(); ++s) {
    l.key_start.push_back(int32_t(s * T));
    l.first_position.push_back(int32_t(cached[s]));
    l.query_offsets.push_back(l.query_offsets.back() + int32_t(queries[s]));
    l.max_queries = std::max(l.max_queries, queries[s]);
    l.max_keys = std::max(l.max_keys, cached[s] + queries[s]);
  }
  l.key_rows = cached.size() * T;
  return l;
}

AttentionLayout View(const Layout& l, const int32_t* q, const int32_t* k, const int32_t* f) {
  AttentionLayout a;
  a.query_offsets = q;
  a.key_start = k;
  a.first_position = f;
  a.sequences = l.key_start.size();
  a.max_queries = l.max_queries;
  a.max_keys = l.max_keys;
  return a;
}

// Sum over query rows of the number of keys each attends to.
double KeysAttended(const Layout& l) {
  double total = 0;
  for (size_t s = 0; s + 1 < l.query_offsets.size(); ++s)
    for (int32_t i = 0; i < l.query_offsets[s + 1] - l.query_offsets[s]; ++i) total += l.first_position[s] + i + 1;
  return total;
}

// Training-style attention over one qkv [N, 3C] buffer: forward, then backward
// into one dqkv buffer; q, k, v are its column blocks (ldq = ldkv = 3C).
void AttentionPackedCase(Context& ctx, PolicyOps& cpu, PolicyOps* gpu, const std::vector<size_t>& lengths, size_t C,
                         size_t H, bool timed) {
  const Layout l = PackedLayout(lengths);
  const size_t N = l.key_rows, ld = 3 * C;
  const std::string tag = "attention B=" + std::to_string(lengths.size()) + " N=" + std::to_string(N) +
                          " C=" + std::to_string(C) + " H=" + std::to_string(H);
  std::vector<float> qkv = ctx.Uniform(N * ld, -1, 1), dout = ctx.Uniform(N * C, -1, 1);
  for (size_t i = 0; i < N * ld; i += 7) qkv[i] *= 4.0f;  // some sharp score rows
  std::vector<float> dqkv0 = ctx.Uniform(N * ld, -1, 1);  // accumulated into
  const AttentionLayout cl = View(l, l.query_offsets.data(), l.key_start.data(), l.first_position.data());
  std::vector<float> out(N * C), lse(N * H), dqkv = dqkv0;
  const float* q = qkv.data();
  cpu.AttentionForward(out.data(), lse.data(), q, q + C, q + 2 * C, cl, N, C, H, ld, ld);
  cpu.AttentionBackward(dqkv.data(), dqkv.data() + C, dqkv.data() + 2 * C, dout.data(), out.data(), lse.data(), q,
                        q + C, q + 2 * C, cl, N, C, H, ld, ld);
  const double keys = KeysAttended(l);
  const double flops_fwd = 4.0 * C * keys, flops_bwd = 10.0 * C * keys;  // QK^T, PV; backward recomputes QK^T
  if (timed) {
    ctx.Report(tag + " fwd", "cpu", ctx.Time(false, [&] {
                 cpu.AttentionForward(out.data(), lse.data(), q, q + C, q + 2 * C, cl, N, C, H, ld, ld);
               }),
               0, flops_fwd);
    std::vector<float> scratch = dqkv0;
    ctx.Report(tag + " bwd", "cpu", ctx.Time(false, [&] {
                 cpu.AttentionBackward(scratch.data(), scratch.data() + C, scratch.data() + 2 * C, dout.data(),
                                       out.data(), lse.data(), q, q + C, q + 2 * C, cl, N, C, H, ld, ld);
               }),
               0, flops_bwd);
  }
  if (!gpu) return;
  OpsBuffer<int32_t> g_qo(*gpu, l.query_offsets), g_ks(*gpu, l.key_start), g_fp(*gpu, l.first_position);
  const AttentionLayout gl = View(l, g_qo.get(), g_ks.get(), g_fp.get());
  OpsBuffer<float> g_qkv(*gpu, qkv), g_dout(*gpu, dout), g_out(*gpu, N * C), g_lse(*gpu, N * H), g_dqkv(*gpu, dqkv0);
  const float* gq = g_qkv.get();
  float* gd = g_dqkv.get();
  gpu->AttentionForward(g_out.get(), g_lse.get(), gq, gq + C, gq + 2 * C, gl, N, C, H, ld, ld);
  CompareVec(ctx, tag + " out", g_out.Download(), out, 2e-5, 1e-4);
  CompareVec(ctx, tag + " lse", g_lse.Download(), lse, 1e-5, 1e-5);
  // The backward from the CPU's forward results, so that it is checked on its own.
  OpsBuffer<float> c_out(*gpu, out), c_lse(*gpu, lse);
  gpu->AttentionBackward(gd, gd + C, gd + 2 * C, g_dout.get(), c_out.get(), c_lse.get(), gq, gq + C, gq + 2 * C, gl,
                         N, C, H, ld, ld);
  const double k = std::sqrt(double(l.max_keys));
  CompareVec(ctx, tag + " dqkv", g_dqkv.Download(), dqkv, 2e-5 * k, 1e-4);
  if (timed) {
    ctx.Report(tag + " fwd", "cuda", ctx.Time(true, [&] {
                 gpu->AttentionForward(g_out.get(), g_lse.get(), gq, gq + C, gq + 2 * C, gl, N, C, H, ld, ld);
               }),
               0, flops_fwd);
    ctx.Report(tag + " bwd", "cuda", ctx.Time(true, [&] {
                 gpu->AttentionBackward(gd, gd + C, gd + 2 * C, g_dout.get(), c_out.get(), c_lse.get(), gq, gq + C,
                                        gq + 2 * C, gl, N, C, H, ld, ld);
               }),
               0, flops_bwd);
  }
}

// Cached attention (generation): new query rows [N, C] against K/V caches
// [B * T, C], forward and backward (the backward reaches cached keys too).
void AttentionCacheCase(Context& ctx, PolicyOps& cpu, PolicyOps* gpu, const std::vector<size_t>& cached,
                        const std::vector<size_t>& queries, size_t T, size_t C, size_t H, bool timed) {
  const Layout l = CacheLayout(cached, queries, T);
  const size_t N = size_t(l.query_offsets.back()), rows = l.key_rows;
  const std::string tag = "attention cached B=" + std::to_string(cached.size()) + " N=" + std::to_string(N) +
                          " C=" + std::to_string(C) + " H=" + std::to_string(H);
  std::vector<float> q = ctx.Uniform(N * C, -1, 1), kc = ctx.Uniform(rows * C, -1, 1), vc = ctx.Uniform(rows * C, -1, 1);
  std::vector<float> dout = ctx.Uniform(N * C, -1, 1);
  const AttentionLayout cl = View(l, l.query_offsets.data(), l.key_start.data(), l.first_position.data());
  std::vector<float> out(N * C), lse(N * H), dq(N * C, 0.0f), dk(rows * C, 0.0f), dv(rows * C, 0.0f);
  cpu.AttentionForward(out.data(), lse.data(), q.data(), kc.data(), vc.data(), cl, N, C, H, C, C);
  cpu.AttentionBackward(dq.data(), dk.data(), dv.data(), dout.data(), out.data(), lse.data(), q.data(), kc.data(),
                        vc.data(), cl, N, C, H, C, C);
  const double flops = 4.0 * C * KeysAttended(l);
  if (timed)
    ctx.Report(tag + " fwd", "cpu", ctx.Time(false, [&] {
                 cpu.AttentionForward(out.data(), nullptr, q.data(), kc.data(), vc.data(), cl, N, C, H, C, C);
               }),
               0, flops);
  if (!gpu) return;
  OpsBuffer<int32_t> g_qo(*gpu, l.query_offsets), g_ks(*gpu, l.key_start), g_fp(*gpu, l.first_position);
  const AttentionLayout gl = View(l, g_qo.get(), g_ks.get(), g_fp.get());
  OpsBuffer<float> g_q(*gpu, q), g_k(*gpu, kc), g_v(*gpu, vc), g_dout(*gpu, dout), g_out(*gpu, N * C),
      g_lse(*gpu, N * H), g_dq(*gpu, N * C), g_dk(*gpu, rows * C), g_dv(*gpu, rows * C);
  gpu->AttentionForward(g_out.get(), g_lse.get(), g_q.get(), g_k.get(), g_v.get(), gl, N, C, H, C, C);
  CompareVec(ctx, tag + " out", g_out.Download(), out, 2e-5, 1e-4);
  CompareVec(ctx, tag + " lse", g_lse.Download(), lse, 1e-5, 1e-5);
  OpsBuffer<float> c_out(*gpu, out), c_lse(*gpu, lse);
  gpu->AttentionBackward(g_dq.get(), g_dk.get(), g_dv.get(), g_dout.get(), c_out.get(), c_lse.get(), g_q.get(),
                         g_k.get(), g_v.get(), gl, N, C, H, C, C);
  const double k = std::sqrt(double(l.max_keys));
  CompareVec(ctx, tag + " dq", g_dq.Download(), dq, 2e-5 * k, 1e-4);
  CompareVec(ctx, tag + " dk", g_dk.Download(), dk, 2e-5 * k, 1e-4);
  CompareVec(ctx, tag + " dv", g_dv.Download(), dv, 2e-5 * k, 1e-4);
  if (timed)
    ctx.Report(tag + " fwd", "cuda", ctx.Time(true, [&] {
                 gpu->AttentionForward(g_out.get(), nullptr, g_q.get(), g_k.get(), g_v.get(), gl, N, C, H, C, C);
               }),
               0, flops);
}

void CheckAttention(Context& ctx) {
  std::unique_ptr<PolicyOps> cpu = MakeCpuPolicyOps(0);
  std::unique_ptr<PolicyOps> gpu = CudaOps(ctx, "policy attention");
  // Odd lengths (1, one chunk of 32 exactly, 33 = a chunk and a tail), odd head size D = 12.
  AttentionPackedCase(ctx, *cpu, gpu.get(), {1, 7, 32, 33, 100}, 36, 3, false);
  AttentionPackedCase(ctx, *cpu, gpu.get(), {65, 3}, 64, 1, false);  // D = 64, one head
  AttentionCacheCase(ctx, *cpu, gpu.get(), {0, 5, 40, 127}, {3, 1, 1, 9}, 160, 48, 4, false);
  // The small config: 16 sequences of 512, C = 256, H = 8 (D = 32); and D = 64.
  AttentionPackedCase(ctx, *cpu, gpu.get(), std::vector<size_t>(16, 512), 256, 8, true);
  AttentionPackedCase(ctx, *cpu, gpu.get(), {512, 511, 300, 77, 512, 1, 250, 512}, 256, 4, true);
  // One decoding step of 16 slots with 511 cached positions each.
  AttentionCacheCase(ctx, *cpu, gpu.get(), std::vector<size_t>(16, 511), std::vector<size_t>(16, 1), 512, 256, 8, true);
}

// ---- layernorm, embedding, elementwise, row copies ----------------------------------

void CheckLayers(Context& ctx) {
  std::unique_ptr<PolicyOps> cpu = MakeCpuPolicyOps(0);
  std::unique_ptr<PolicyOps> gpu = CudaOps(ctx, "policy layers");

  // LayerNorm: odd C with a large offset (two-pass variance), and a timed size.
  for (const auto& [N, C, timed] : std::vector<std::tuple<size_t, size_t, bool>>{{37, 77, false}, {16384, 1024, true}}) {
    const std::string tag = "layernorm " + std::to_string(N) + "x" + std::to_string(C);
    std::vector<float> inp = ctx.Uniform(N * C, -1, 1), w = ctx.Uniform(C, 0.5f, 1.5f), b = ctx.Uniform(C, -1, 1);
    // Row 0 sits on an offset of 100: a one-pass variance would lose ~1e-3 of it; the
    // two-pass one loses ~ulp(100 C) / C in the mean, ~1e-5 absolute in the output.
    for (size_t i = 0; i < C; ++i) inp[i] += 100.0f;
    std::vector<float> dout = ctx.Uniform(N * C, -1, 1), dinp0 = ctx.Uniform(N * C, -1, 1);
    std::vector<float> dw0 = ctx.Uniform(C, -1, 1), db0 = ctx.Uniform(C, -1, 1);
    std::vector<float> out(N * C), mean(N), rstd(N), dinp = dinp0, dw = dw0, db = db0;
    cpu->LayerNormForward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C);
    cpu->LayerNormBackward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), mean.data(),
                           rstd.data(), N, C);
    if (timed) {
      ctx.Report(tag + " fwd", "cpu", ctx.Time(false, [&] {
                   cpu->LayerNormForward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C);
                 }),
                 8.0 * N * C, 0);
      std::vector<float> sdinp = dinp0, sdw = dw0, sdb = db0;
      ctx.Report(tag + " bwd", "cpu", ctx.Time(false, [&] {
                   cpu->LayerNormBackward(sdinp.data(), sdw.data(), sdb.data(), dout.data(), inp.data(), w.data(),
                                          mean.data(), rstd.data(), N, C);
                 }),
                 16.0 * N * C, 0);
    }
    if (gpu) {
      OpsBuffer<float> g_inp(*gpu, inp), g_w(*gpu, w), g_b(*gpu, b), g_dout(*gpu, dout), g_out(*gpu, N * C),
          g_mean(*gpu, N), g_rstd(*gpu, N), g_dinp(*gpu, dinp0), g_dw(*gpu, dw0), g_db(*gpu, db0);
      gpu->LayerNormForward(g_out.get(), g_mean.get(), g_rstd.get(), g_inp.get(), g_w.get(), g_b.get(), N, C);
      CompareVec(ctx, tag + " out", g_out.Download(), out, 5e-5, 1e-4);
      CompareVec(ctx, tag + " mean", g_mean.Download(), mean, 1e-6, 1e-5);
      CompareVec(ctx, tag + " rstd", g_rstd.Download(), rstd, 1e-6, 1e-4);
      OpsBuffer<float> c_mean(*gpu, mean), c_rstd(*gpu, rstd);
      gpu->LayerNormBackward(g_dinp.get(), g_dw.get(), g_db.get(), g_dout.get(), g_inp.get(), g_w.get(), c_mean.get(),
                             c_rstd.get(), N, C);
      CompareVec(ctx, tag + " dinp", g_dinp.Download(), dinp, 5e-5, 1e-4);
      const double k = std::sqrt(double(N));
      CompareVec(ctx, tag + " dweight", g_dw.Download(), dw, 1e-5 * k, 1e-4);
      CompareVec(ctx, tag + " dbias", g_db.Download(), db, 1e-5 * k, 1e-4);
      if (timed) {
        ctx.Report(tag + " fwd", "cuda", ctx.Time(true, [&] {
                     gpu->LayerNormForward(g_out.get(), g_mean.get(), g_rstd.get(), g_inp.get(), g_w.get(), g_b.get(),
                                           N, C);
                   }),
                   8.0 * N * C, 0);
        ctx.Report(tag + " bwd", "cuda", ctx.Time(true, [&] {
                     gpu->LayerNormBackward(g_dinp.get(), g_dw.get(), g_db.get(), g_dout.get(), g_inp.get(), g_w.get(),
                                            c_mean.get(), c_rstd.get(), N, C);
                   }),
                   16.0 * N * C, 0);
      }
    }
  }

  // Embedding: tokens and visual patches mixed, repeated tokens and positions (accumulation).
  {
    const size_t N = 4099, C = 96, V = 50, T = 128, Np = 700;
    std::vector<int32_t> tokens = ctx.Ints(N, 0, int32_t(V) - 1), positions = ctx.Ints(N, 0, int32_t(T) - 1);
    std::vector<int32_t> patch_rows(N, -1);
    for (size_t i = 0; i < Np; ++i) {  // rows 0, 5, 10, ... are patches 0..Np-1
      tokens[i * 5] = -1;
      patch_rows[i * 5] = int32_t(i);
    }
    std::vector<float> tok = ctx.Uniform(V * C, -1, 1), pos = ctx.Uniform(T * C, -1, 1),
                       patch = ctx.Uniform(Np * C, -1, 1), dout = ctx.Uniform(N * C, -1, 1);
    std::vector<float> dtok0 = ctx.Uniform(V * C, -1, 1), dpos0 = ctx.Uniform(T * C, -1, 1);
    std::vector<float> out(N * C), dtok = dtok0, dpos = dpos0, dpatch(Np * C);
    cpu->EmbeddingForward(out.data(), tokens.data(), patch_rows.data(), positions.data(), tok.data(), pos.data(),
                          patch.data(), N, C);
    cpu->EmbeddingBackward(dtok.data(), dpos.data(), dpatch.data(), dout.data(), tokens.data(), patch_rows.data(),
                           positions.data(), N, C);
    if (gpu) {
      OpsBuffer<int32_t> g_tokens(*gpu, tokens), g_rows(*gpu, patch_rows), g_pos_ids(*gpu, positions);
      OpsBuffer<float> g_tok(*gpu, tok), g_pos(*gpu, pos), g_patch(*gpu, patch), g_dout(*gpu, dout), g_out(*gpu, N * C),
          g_dtok(*gpu, dtok0), g_dpos(*gpu, dpos0), g_dpatch(*gpu, Np * C);
      gpu->EmbeddingForward(g_out.get(), g_tokens.get(), g_rows.get(), g_pos_ids.get(), g_tok.get(), g_pos.get(),
                            g_patch.get(), N, C);
      gpu->EmbeddingBackward(g_dtok.get(), g_dpos.get(), g_dpatch.get(), g_dout.get(), g_tokens.get(), g_rows.get(),
                             g_pos_ids.get(), N, C);
      CompareVec(ctx, "embedding out", g_out.Download(), out, 0, 0);
      // ~N/V = 82 and N/T = 32 rows per token and position, summed in another order (atomics).
      CompareVec(ctx, "embedding dtok_emb", g_dtok.Download(), dtok, 1e-5 * std::sqrt(82.0), 1e-5);
      CompareVec(ctx, "embedding dpos_emb", g_dpos.Download(), dpos, 1e-5 * std::sqrt(32.0), 1e-5);
      CompareVec(ctx, "embedding dpatch_out", g_dpatch.Download(), dpatch, 0, 0);
    }
  }

  // Elementwise: gelu (forward, backward in place), residual; a timed size of 16M.
  for (size_t n : {size_t(1) << 24, size_t(1001)}) {
    const bool timed = n > 4096;
    const std::string tag = " n=" + std::to_string(n);
    std::vector<float> x = ctx.Uniform(n, -6, 6), g = ctx.Uniform(n, -1, 1);
    std::vector<float> y(n), dx(n), r(n);
    cpu->GeluForward(y.data(), x.data(), n);
    cpu->GeluBackward(dx.data(), g.data(), x.data(), n);
    cpu->ResidualForward(r.data(), x.data(), g.data(), n);
    if (timed) {
      ctx.Report("gelu fwd" + tag, "cpu", ctx.Time(false, [&] { cpu->GeluForward(y.data(), x.data(), n); }), 8.0 * n, 0);
      ctx.Report("gelu bwd" + tag, "cpu",
                 ctx.Time(false, [&] { cpu->GeluBackward(dx.data(), g.data(), x.data(), n); }), 12.0 * n, 0);
      ctx.Report("residual" + tag, "cpu",
                 ctx.Time(false, [&] { cpu->ResidualForward(r.data(), x.data(), g.data(), n); }), 12.0 * n, 0);
    }
    if (!gpu) continue;
    OpsBuffer<float> g_x(*gpu, x), g_g(*gpu, g), g_y(*gpu, n), g_r(*gpu, n);
    gpu->GeluForward(g_y.get(), g_x.get(), n);
    CompareVec(ctx, "gelu fwd" + tag, g_y.Download(), y, 1e-6, 1e-5);
    gpu->GeluBackward(g_g.get(), g_g.get(), g_x.get(), n);  // dinp aliases dout
    CompareVec(ctx, "gelu bwd in place" + tag, g_g.Download(), dx, 1e-6, 1e-5);
    gpu->Upload(g_g.get(), g.data(), n * sizeof(float));
    gpu->ResidualForward(g_r.get(), g_x.get(), g_g.get(), n);
    CompareVec(ctx, "residual" + tag, g_r.Download(), r, 0, 0);
    if (timed) {
      ctx.Report("gelu fwd" + tag, "cuda", ctx.Time(true, [&] { gpu->GeluForward(g_y.get(), g_x.get(), n); }), 8.0 * n,
                 0);
      ctx.Report("gelu bwd" + tag, "cuda",
                 ctx.Time(true, [&] { gpu->GeluBackward(g_y.get(), g_g.get(), g_x.get(), n); }), 12.0 * n, 0);
      ctx.Report("residual" + tag, "cuda",
                 ctx.Time(true, [&] { gpu->ResidualForward(g_r.get(), g_x.get(), g_g.get(), n); }), 12.0 * n, 0);
    }
  }

  // Row copies: gather the last position of each sequence, scatter new K rows into a cache.
  {
    const size_t rows = 300, width = 45, ld = 3 * width, n = 33;
    std::vector<float> src = ctx.Uniform(rows * ld, -1, 1), cache = ctx.Uniform(rows * width, -1, 1);
    std::vector<int32_t> idx(n);
    for (size_t i = 0; i < n; ++i) idx[i] = int32_t((i * 37 + 11) % rows);  // distinct rows
    std::vector<float> gathered(n * width), scattered = cache;
    cpu->GatherRows(gathered.data(), src.data() + width, idx.data(), n, width, ld);
    cpu->ScatterRows(scattered.data(), src.data() + width, idx.data(), n, width, width, ld);
    if (gpu) {
      OpsBuffer<float> g_src(*gpu, src), g_cache(*gpu, cache), g_out(*gpu, n * width);
      OpsBuffer<int32_t> g_idx(*gpu, idx);
      gpu->GatherRows(g_out.get(), g_src.get() + width, g_idx.get(), n, width, ld);
      gpu->ScatterRows(g_cache.get(), g_src.get() + width, g_idx.get(), n, width, width, ld);
      CompareVec(ctx, "gatherRows", g_out.Download(), gathered, 0, 0);
      CompareVec(ctx, "scatterRows", g_cache.Download(), scattered, 0, 0);
    }
  }
}

// ---- log-softmax, loss gradient, optimizer ------------------------------------------

void CheckLogSoftmax(Context& ctx) {
  std::unique_ptr<PolicyOps> cpu = MakeCpuPolicyOps(0);
  std::unique_ptr<PolicyOps> gpu = CudaOps(ctx, "policy log-softmax");
  for (const auto& [N, V, timed] :
       std::vector<std::tuple<size_t, size_t, bool>>{{67, 513, false}, {5, 1, false}, {4096, 8192, true}}) {
    const std::string tag = "logsoftmax " + std::to_string(N) + "x" + std::to_string(V);
    std::vector<float> logits = ctx.Uniform(N * V, -4, 4);
    for (size_t v = 0; v < V; ++v) logits[v] += 500.0f;  // row 0 on a large offset
    std::vector<int32_t> targets = ctx.Ints(N, -1, int32_t(V) - 1);  // about 1 in V rows without a target
    for (size_t i = 0; i < N; i += 5) targets[i] = -1;
    std::vector<float> weight = ctx.Uniform(N, 0, 1), old_logp = ctx.Uniform(N, -9, -1), adv = ctx.Uniform(N, -2, 2);
    for (size_t i = 0; i < N; i += 3) weight[i] = 0;
    std::vector<float> logp(N), ent(N), blogp(N), bent(N), dlogits(N * V);
    cpu->LogSoftmaxForward(logp.data(), ent.data(), logits.data(), targets.data(), N, V);
    if (timed)
      ctx.Report(tag + " fwd", "cpu", ctx.Time(false, [&] {
                   cpu->LogSoftmaxForward(logp.data(), ent.data(), logits.data(), targets.data(), N, V);
                 }),
                 4.0 * N * V, 0);
    std::unique_ptr<OpsBuffer<float>> g_logits, g_logp, g_ent, g_dlogits, g_weight, g_old, g_adv;
    std::unique_ptr<OpsBuffer<int32_t>> g_targets;
    if (gpu) {
      g_logits = std::make_unique<OpsBuffer<float>>(*gpu, logits);
      g_targets = std::make_unique<OpsBuffer<int32_t>>(*gpu, targets);
      g_logp = std::make_unique<OpsBuffer<float>>(*gpu, N);
      g_ent = std::make_unique<OpsBuffer<float>>(*gpu, N);
      g_dlogits = std::make_unique<OpsBuffer<float>>(*gpu, N * V);
      g_weight = std::make_unique<OpsBuffer<float>>(*gpu, weight);
      g_old = std::make_unique<OpsBuffer<float>>(*gpu, old_logp);
      g_adv = std::make_unique<OpsBuffer<float>>(*gpu, adv);
      gpu->LogSoftmaxForward(g_logp->get(), g_ent->get(), g_logits->get(), g_targets->get(), N, V);
      CompareVec(ctx, tag + " logp", g_logp->Download(), logp, 1e-5, 1e-5);
      CompareVec(ctx, tag + " entropy", g_ent->Download(), ent, 1e-5, 1e-5);
      if (timed)
        ctx.Report(tag + " fwd", "cuda", ctx.Time(true, [&] {
                     gpu->LogSoftmaxForward(g_logp->get(), g_ent->get(), g_logits->get(), g_targets->get(), N, V);
                   }),
                   4.0 * N * V, 0);
    }
    for (TokenLossKind kind : {TokenLossKind::kSft, TokenLossKind::kPolicyGradient}) {
      const std::string ktag = tag + (kind == TokenLossKind::kSft ? " sft" : " pg");
      TokenLossArgs args;
      args.kind = kind;
      args.weight = weight.data();
      args.old_logp = old_logp.data();
      args.advantages = adv.data();
      cpu->LogSoftmaxLossBackward(dlogits.data(), blogp.data(), bent.data(), logits.data(), targets.data(), args, N, V);
      if (timed && kind == TokenLossKind::kPolicyGradient) {
        std::vector<float> scratch(N * V);
        ctx.Report(tag + " loss bwd", "cpu", ctx.Time(false, [&] {
                     cpu->LogSoftmaxLossBackward(scratch.data(), blogp.data(), bent.data(), logits.data(),
                                                 targets.data(), args, N, V);
                   }),
                   8.0 * N * V, 0);
      }
      if (!gpu) continue;
      TokenLossArgs gargs = args;
      gargs.weight = g_weight->get();
      gargs.old_logp = g_old->get();
      gargs.advantages = g_adv->get();
      gpu->LogSoftmaxLossBackward(g_dlogits->get(), g_logp->get(), g_ent->get(), g_logits->get(), g_targets->get(),
                                  gargs, N, V);
      CompareVec(ctx, ktag + " dlogits", g_dlogits->Download(), dlogits, 1e-6, 1e-4);
      CompareVec(ctx, ktag + " logp", g_logp->Download(), blogp, 1e-5, 1e-5);
      // In place: dlogits overwrites the logits.
      OpsBuffer<float> inplace(*gpu, logits);
      gpu->LogSoftmaxLossBackward(inplace.get(), g_logp->get(), g_ent->get(), inplace.get(), g_targets->get(), gargs, N,
                                  V);
      CompareVec(ctx, ktag + " dlogits in place", inplace.Download(), dlogits, 1e-6, 1e-4);
      if (timed && kind == TokenLossKind::kPolicyGradient)
        ctx.Report(tag + " loss bwd", "cuda", ctx.Time(true, [&] {
                     gpu->LogSoftmaxLossBackward(g_dlogits->get(), g_logp->get(), g_ent->get(), g_logits->get(),
                                                 g_targets->get(), gargs, N, V);
                   }),
                   8.0 * N * V, 0);
    }
  }
}

void CheckOptimizer(Context& ctx) {
  std::unique_ptr<PolicyOps> cpu = MakeCpuPolicyOps(0);
  std::unique_ptr<PolicyOps> gpu = CudaOps(ctx, "policy optimizer");
  for (size_t n : {size_t(1) << 24, size_t(12345), size_t(1)}) {
    const bool timed = n > 100000;
    const std::string tag = " n=" + std::to_string(n);
    std::vector<float> params = ctx.Uniform(n, -1, 1), m0 = ctx.Uniform(n, -0.01f, 0.01f),
                       v0 = ctx.Uniform(n, 0, 1e-4f), grads = ctx.Uniform(n, -1, 1);
    AdamWArgs args;
    args.lr = 1e-3f;
    args.weight_decay = 0.1f;
    args.grad_scale = 0.5f;
    args.bias_correction1 = float(1.0 - std::pow(0.9, 3));
    args.bias_correction2 = float(1.0 - std::pow(0.999, 3));
    std::vector<float> p = params, m = m0, v = v0;
    cpu->AdamW(p.data(), m.data(), v.data(), grads.data(), n, args);
    const double sum = cpu->SumSquares(grads.data(), n);
    if (timed) {
      std::vector<float> sp = params, sm = m0, sv = v0;
      ctx.Report("adamw" + tag, "cpu",
                 ctx.Time(false, [&] { cpu->AdamW(sp.data(), sm.data(), sv.data(), grads.data(), n, args); }), 28.0 * n,
                 0);
      ctx.Report("sumSquares" + tag, "cpu", ctx.Time(false, [&] { cpu->SumSquares(grads.data(), n); }), 4.0 * n, 0);
    }
    if (!gpu) continue;
    OpsBuffer<float> g_p(*gpu, params), g_m(*gpu, m0), g_v(*gpu, v0), g_g(*gpu, grads);
    gpu->AdamW(g_p.get(), g_m.get(), g_v.get(), g_g.get(), n, args);
    CompareVec(ctx, "adamw params" + tag, g_p.Download(), p, 1e-7, 1e-5);
    CompareVec(ctx, "adamw m" + tag, g_m.Download(), m, 1e-9, 1e-5);
    CompareVec(ctx, "adamw v" + tag, g_v.Download(), v, 1e-12, 1e-5);
    ctx.CompareScalar("sumSquares" + tag + " cuda~cpu", gpu->SumSquares(g_g.get(), n), sum, 1e-30, 1e-10);
    if (timed) {
      ctx.Report("adamw" + tag, "cuda",
                 ctx.Time(true, [&] { gpu->AdamW(g_p.get(), g_m.get(), g_v.get(), g_g.get(), n, args); }), 28.0 * n, 0);
      ctx.Report("sumSquares" + tag, "cuda", ctx.Time(true, [&] { gpu->SumSquares(g_g.get(), n); }), 4.0 * n, 0);
    }
  }
}

// ---- the whole model ---------------------------------------------------------------
// The layer sequence of core/policy_model.cc on both backends from the same
// seeded weights: logprobs and SFT gradients CUDA against CPU, generation
// checked on each backend against its own full forward (the KV-cache path and
// the packed path must give the same logp), and the time of a train step,
// a logprobs call and a generation on both.

struct ModelBatch {
  std::vector<int32_t> tokens, offsets;
  std::vector<float> patches, mask;
  PolicyBatch View() const {
    PolicyBatch b;
    b.tokens = tokens.data();
    b.positions = tokens.size();
    b.patches = patches.data();
    b.patch_floats = patches.size();
    b.seq_offsets = offsets.data();
    b.sequences = offsets.size() - 1;
    return b;
  }
};

// B sequences of the given lengths; the first `visual` positions of each are patches.
ModelBatch MakeModelBatch(Context& ctx, const PolicyConfig& c, const std::vector<size_t>& lengths, size_t visual) {
  ModelBatch b;
  b.offsets.push_back(0);
  for (size_t n : lengths) {
    std::vector<int32_t> tok = ctx.Ints(n, 0, int32_t(c.vocab_size) - 1);
    for (size_t t = 0; t < n; ++t) {
      const bool is_visual = t < visual && t + 1 < n;
      b.tokens.push_back(is_visual ? -1 : tok[t]);
      b.mask.push_back(t > 0 && !is_visual ? 1.0f : 0.0f);
      if (is_visual) {
        std::vector<float> patch = ctx.Uniform(c.patch_dim, -1, 1);
        b.patches.insert(b.patches.end(), patch.begin(), patch.end());
      }
    }
    b.offsets.push_back(b.offsets.back() + int32_t(n));
  }
  return b;
}

// Generation on one backend: B prompts, `new_tokens` sampled per sequence. Checks
// the sampled tokens' logp against a full forward of prompt + generated tokens.
void GenerateAndCheck(Context& ctx, const std::shared_ptr<PolicyModel>& model, const ModelBatch& prompts,
                      size_t new_tokens, const std::string& tag) {
  std::unique_ptr<PolicySession> session = model->StartSession(prompts.View());
  SampleOptions opt;
  opt.max_new_tokens = new_tokens;
  opt.seed = 7;
  const GenerateResult r = session->Generate(opt);
  ModelBatch full;
  full.patches = prompts.patches;
  full.offsets.push_back(0);
  std::vector<size_t> generated_at;  // positions of the generated tokens in `full`
  const size_t B = prompts.offsets.size() - 1;
  for (size_t s = 0; s < B; ++s) {
    full.tokens.insert(full.tokens.end(), prompts.tokens.begin() + prompts.offsets[s],
                       prompts.tokens.begin() + prompts.offsets[s + 1]);
    for (int32_t g = r.offsets[s]; g < r.offsets[s + 1]; ++g) {
      generated_at.push_back(full.tokens.size());
      full.tokens.push_back(r.tokens[size_t(g)]);
    }
    full.offsets.push_back(int32_t(full.tokens.size()));
  }
  std::vector<float> logp(full.tokens.size()), entropy(full.tokens.size()), want;
  model->Logprobs(logp.data(), entropy.data(), full.View());
  for (size_t t : generated_at) want.push_back(logp[t]);
  ctx.Compare(tag + " generate logp~full forward", r.logp.data(), want.data(), want.size(), 1e-4, 1e-4);
}

// Timed: a train step and a logprobs call on B sequences, and a generation of
// `new_tokens` per sequence from prompts of T/2 positions. Times are ms per
// call; tokens per second are printed beside them.
void ModelCase(Context& ctx, const char* name, const PolicyConfig& c, size_t B, size_t new_tokens,
               bool cpu_repeats_small) {
  const std::string tag = std::string("model ") + name;
  std::vector<size_t> lengths;
  for (size_t b = 0; b < B; ++b) lengths.push_back(c.max_seq_len - (b * 37) % (c.max_seq_len / 2));
  lengths[0] = c.max_seq_len;
  const ModelBatch batch = MakeModelBatch(ctx, c, lengths, c.max_seq_len / 8);
  std::vector<size_t> prompt_lengths(B, c.max_seq_len / 2);
  const ModelBatch prompts = MakeModelBatch(ctx, c, prompt_lengths, c.max_seq_len / 8);
  const size_t N = batch.tokens.size();
  PolicyLossSpec loss;
  loss.kind = TokenLossKind::kSft;
  loss.mask_f32 = batch.mask.data();
  AdamWOptions optim;
  optim.lr = 1e-4;

  auto cpu = std::make_shared<PolicyModel>(c, Device::kCpu, 0);
  cpu->InitRandom(42);
  const size_t P = cpu->parameter_count();
  std::vector<float> logp(N), entropy(N), grads(P);
  cpu->Logprobs(logp.data(), entropy.data(), batch.View());
  cpu->Gradients(grads.data(), batch.View(), loss);
  GenerateAndCheck(ctx, cpu, prompts, 8, tag + " cpu");
  const int repeats = ctx.repeats;
  if (cpu_repeats_small) ctx.repeats = 1;
  const double cpu_train = ctx.Time(false, [&] { cpu->TrainStep(batch.View(), loss, optim); });
  const double cpu_logprobs = ctx.Time(false, [&] { cpu->Logprobs(logp.data(), entropy.data(), batch.View()); });
  ctx.repeats = 1;
  const double cpu_generate = ctx.Time(false, [&] {
    SampleOptions opt;
    opt.max_new_tokens = new_tokens;
    cpu->StartSession(prompts.View())->Generate(opt);
  });
  ctx.repeats = repeats;
  // ms per call; the tokens/s figures are printed beside the table.
  ctx.Report(tag + " train step B=" + std::to_string(B), "cpu", cpu_train, 0, 0);
  ctx.Report(tag + " logprobs B=" + std::to_string(B), "cpu", cpu_logprobs, 0, 0);
  const std::string gen = " generate " + std::to_string(new_tokens) + " B=" + std::to_string(B);
  ctx.Report(tag + gen, "cpu", cpu_generate, 0, 0);
  std::printf("%-44s cpu: train %.0f tokens/s, logprobs %.0f tokens/s, generate %.0f tokens/s\n", tag.c_str(),
              N / cpu_train * 1e3, N / cpu_logprobs * 1e3, B * new_tokens / cpu_generate * 1e3);

  if (!CudaOps(ctx, tag.c_str())) return;
  auto gpu = std::make_shared<PolicyModel>(c, Device::kCuda, 0);
  gpu->InitRandom(42);
  std::vector<float> g_logp(N), g_entropy(N), g_grads(P);
  gpu->Logprobs(g_logp.data(), g_entropy.data(), batch.View());
  ctx.Compare(tag + " logp cuda~cpu", g_logp.data(), logp.data(), N, 1e-4, 1e-4);
  ctx.Compare(tag + " entropy cuda~cpu", g_entropy.data(), entropy.data(), N, 1e-4, 1e-4);
  gpu->Gradients(g_grads.data(), batch.View(), loss);
  double scale = 0;
  for (float g : grads) scale = std::max(scale, double(std::fabs(g)));
  // Whole-network float32 gradients: 1e-3 of the largest gradient plus 1e-2 relative.
  ctx.Compare(tag + " sft gradients cuda~cpu", g_grads.data(), grads.data(), P, 1e-3 * scale, 1e-2);
  GenerateAndCheck(ctx, gpu, prompts, 8, tag + " cuda");
  const double gpu_train = ctx.Time(true, [&] { gpu->TrainStep(batch.View(), loss, optim); });
  const double gpu_logprobs = ctx.Time(true, [&] { gpu->Logprobs(g_logp.data(), g_entropy.data(), batch.View()); });
  const double gpu_generate = ctx.Time(true, [&] {
    SampleOptions opt;
    opt.max_new_tokens = new_tokens;
    gpu->StartSession(prompts.View())->Generate(opt);
  });
  ctx.Report(tag + " train step B=" + std::to_string(B), "cuda", gpu_train, 0, 0);
  ctx.Report(tag + " logprobs B=" + std::to_string(B), "cuda", gpu_logprobs, 0, 0);
  ctx.Report(tag + gen, "cuda", gpu_generate, 0, 0);
  std::printf("%-44s cuda: train %.0f tokens/s, logprobs %.0f tokens/s, generate %.0f tokens/s\n", tag.c_str(),
              N / gpu_train * 1e3, N / gpu_logprobs * 1e3, B * new_tokens / gpu_generate * 1e3);
}

void CheckModel(Context& ctx) {
  PolicyConfig tiny;
  tiny.vocab_size = 128;
  tiny.patch_dim = 48;
  tiny.max_seq_len = 128;
  tiny.layers = 2;
  tiny.heads = 4;
  tiny.dim = 64;
  ModelCase(ctx, "tiny", tiny, 16, tiny.max_seq_len / 2, false);
  PolicyConfig small = tiny;
  small.vocab_size = 512;
  small.max_seq_len = 512;
  small.layers = 4;
  small.heads = 8;
  small.dim = 256;
  ModelCase(ctx, "small", small, 16, 16, true);  // CPU generation is slow at this size
}

PV_CHECK_CASE("policy ops: matmul", CheckMatmul);
PV_CHECK_CASE("policy ops: attention", CheckAttention);
PV_CHECK_CASE("policy ops: layernorm, embedding, elementwise", CheckLayers);
PV_CHECK_CASE("policy ops: log-softmax and loss gradient", CheckLogSoftmax);
PV_CHECK_CASE("policy ops: adamw and sum of squares", CheckOptimizer);
PV_CHECK_CASE("policy model: cuda against cpu", CheckModel);

}  // namespace
}  // namespace check
}  // namespace pv

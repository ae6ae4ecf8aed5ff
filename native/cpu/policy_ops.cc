// CPU backend of the policy network's layer operations (core/policy_ops.h).
// Matrix products go through cpu::Gemm (blocked, packed, FMA-vectorised,
// OpenMP-threaded); everything else is row-parallel OpenMP with `omp simd`
// inner loops and a vectorisable exp so that softmax and GELU vectorise.
// Attention works per (sequence, head) on a block of query rows at a time
// (cpu/policy_attention.cc for head sizes of 1, 2, 4 or 8 vectors; packed-GEMM
// tiles otherwise; a per-query loop for decode steps): its only temporaries
// are a per-thread [query block x keys] tile and the head's transposed K/V
// ([D x keys]), never a B x T x T tensor.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/device.h"
#include "core/policy_ops.h"
#include "cpu/policy_attention.h"
#include "cpu/policy_gemm.h"
#include "cpu/simd.h"

namespace pv {
namespace {

using cpu::simd::VecExp;

// tanh through the vectorisable exp; the small-|u| branch keeps the relative
// error small near 0.
#pragma omp declare simd notinbranch
inline float VecTanh(float u) {
  const float a = std::fabs(u);
  const float e = VecExp(-2.0f * a);
  float t = (1.0f - e) / (1.0f + e);
  const float u2 = u * u;
  const float small = a * (1.0f - u2 * (1.0f / 3.0f - u2 * (2.0f / 15.0f)));
  t = a < 0.0625f ? small : t;
  return u < 0 ? -t : t;
}

#pragma omp declare simd notinbranch
inline float VecGelu(float x) {
  const float k = 0.7978845608028654f;
  const float u = k * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + VecTanh(u));
}

#pragma omp declare simd notinbranch
inline float VecGeluGrad(float x) {
  const float k = 0.7978845608028654f;
  const float u = k * (x + 0.044715f * x * x * x);
  const float t = VecTanh(u);
  const float du = k * (1.0f + 3.0f * 0.044715f * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

// Per-thread scratch that grows and is reused between calls.
struct Scratch {
  std::vector<float> a, b, c, d, e;
};

class CpuPolicyOps final : public PolicyOps {
 public:
  // At most one thread per processor, as CpuThreads(): a team of thousands
  // can fail to start (libgomp then ends the process).
  explicit CpuPolicyOps(int threads)
      : threads_(threads > 0 ? std::min(threads, MaxCpuThreads()) : CpuThreads()) {
    if (threads_ > 1) lane_ = std::make_unique<CpuPolicyOps>(1);
  }

  Device device() const override { return Device::kCpu; }

  // Lanes of one thread each: every op below computes each output element in
  // an order that does not depend on the thread count, so a lane's results
  // are those of the full team.
  size_t HostLanes() const override { return static_cast<size_t>(threads_); }
  PolicyOps& LaneOps() override { return lane_ ? *lane_ : *this; }

  // Blocks of 4 MiB and more (the workspace, parameters, optimizer state)
  // are 2 MiB aligned and marked for transparent huge pages where the kernel
  // offers them: the products stream tens of MB of activations, and with
  // 4 KiB pages their tiles touch a new page every few rows.
  void* Alloc(size_t bytes) override {
    void* p = nullptr;
    constexpr size_t kHuge = size_t(2) << 20;
    const bool huge = bytes >= 2 * kHuge;
    const size_t align = huge ? kHuge : 64;
    const size_t rounded = std::max<size_t>(64, (bytes + align - 1) / align * align);
    if (posix_memalign(&p, align, rounded) != 0 || p == nullptr)
      Fail("E_OOM", "cannot allocate ", bytes, " bytes of host memory for the policy");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(p, rounded, MADV_HUGEPAGE);  // advisory: ignored where THP is off
#endif
    std::memset(p, 0, rounded);
    return p;
  }
  void Free(void* ptr) override { std::free(ptr); }
  void Upload(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void Download(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void Copy(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memmove(dst, src, bytes);
  }
  void Zero(void* dst, size_t bytes) override {
    if (bytes) std::memset(dst, 0, bytes);
  }
  void Synchronize() override {}

  // ---- embedding ---------------------------------------------------------------
  void EmbeddingForward(float* out, const int32_t* tokens, const int32_t* patch_rows, const int32_t* positions,
                        const float* tok_emb, const float* pos_emb, const float* patch_out, size_t N,
                        size_t C) override {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 64) if (N * C > 65536)
    for (size_t t = 0; t < N; ++t) {
      const float* src = tokens[t] >= 0 ? tok_emb + static_cast<size_t>(tokens[t]) * C
                                        : patch_out + static_cast<size_t>(patch_rows[t]) * C;
      const float* pos = pos_emb + static_cast<size_t>(positions[t]) * C;
      float* o = out + t * C;
#pragma omp simd
      for (size_t c = 0; c < C; ++c) o[c] = src[c] + pos[c];
    }
  }

  void EmbeddingBackward(float* dtok_emb, float* dpos_emb, float* dpatch_out, const float* dout,
                         const int32_t* tokens, const int32_t* patch_rows, const int32_t* positions, size_t N,
                         size_t C) override {
    // Channel ranges per thread: every row adds into its own tok/pos row
    // without races, in row order (deterministic).
    const int team = N * C > 65536 ? threads_ : 1;
#pragma omp parallel num_threads(team)
    {
      const int tid = TeamThreadIndex(), nt = TeamSize();
      const size_t c0 = C * static_cast<size_t>(tid) / static_cast<size_t>(nt);
      const size_t c1 = C * static_cast<size_t>(tid + 1) / static_cast<size_t>(nt);
      for (size_t t = 0; t < N; ++t) {
        const float* g = dout + t * C;
        float* pos = dpos_emb + static_cast<size_t>(positions[t]) * C;
        float* dst = tokens[t] >= 0 ? dtok_emb + static_cast<size_t>(tokens[t]) * C : nullptr;
#pragma omp simd
        for (size_t c = c0; c < c1; ++c) pos[c] += g[c];
        if (dst) {
#pragma omp simd
          for (size_t c = c0; c < c1; ++c) dst[c] += g[c];
        } else if (dpatch_out) {
          float* p = dpatch_out + static_cast<size_t>(patch_rows[t]) * C;
#pragma omp simd
          for (size_t c = c0; c < c1; ++c) p[c] = g[c];
        }
      }
    }
  }

  // ---- LayerNorm ---------------------------------------------------------------
  void LayerNormForward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                        size_t N, size_t C) override {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 64) if (N * C > 65536)
    for (size_t t = 0; t < N; ++t) {
      const float* x = inp + t * C;
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (size_t c = 0; c < C; ++c) sum += x[c];
      const float m = sum / static_cast<float>(C);
      float var = 0;
#pragma omp simd reduction(+ : var)
      for (size_t c = 0; c < C; ++c) var += (x[c] - m) * (x[c] - m);
      const float r = 1.0f / std::sqrt(var / static_cast<float>(C) + 1e-5f);
      float* o = out + t * C;
#pragma omp simd
      for (size_t c = 0; c < C; ++c) o[c] = (x[c] - m) * r * weight[c] + bias[c];
      if (mean) mean[t] = m;
      if (rstd) rstd[t] = r;
    }
  }

  void LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, const float* mean, const float* rstd, size_t N, size_t C) override {
    // dweight / dbias: one partial sum per chunk of rows, added in chunk
    // order afterwards, so the result does not depend on the schedule.
    constexpr size_t kChunk = 64;
    const size_t chunks = (N + kChunk - 1) / kChunk;
    std::vector<float> partial(chunks * 2 * C, 0.0f);
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 1) if (N * C > 65536)
    for (size_t chunk = 0; chunk < chunks; ++chunk) {
      float* dw = partial.data() + chunk * 2 * C;
      float* db = dw + C;
      for (size_t t = chunk * kChunk; t < std::min(N, (chunk + 1) * kChunk); ++t) {
        const float* g = dout + t * C;
        const float* x = inp + t * C;
        const float m = mean[t], r = rstd[t];
        float sum_dn = 0, sum_dn_n = 0;
#pragma omp simd reduction(+ : sum_dn, sum_dn_n)
        for (size_t c = 0; c < C; ++c) {
          const float n = (x[c] - m) * r;
          const float dn = g[c] * weight[c];
          sum_dn += dn;
          sum_dn_n += dn * n;
        }
        const float mean_dn = sum_dn / static_cast<float>(C), mean_dn_n = sum_dn_n / static_cast<float>(C);
        float* d = dinp + t * C;
#pragma omp simd
        for (size_t c = 0; c < C; ++c) {
          const float n = (x[c] - m) * r;
          const float dn = g[c] * weight[c];
          d[c] += (dn - mean_dn - n * mean_dn_n) * r;
          dw[c] += g[c] * n;
          db[c] += g[c];
        }
      }
    }
    for (size_t chunk = 0; chunk < chunks; ++chunk) {
      const float* dw = partial.data() + chunk * 2 * C;
#pragma omp simd
      for (size_t c = 0; c < C; ++c) {
        dweight[c] += dw[c];
        dbias[c] += dw[C + c];
      }
    }
  }

  // ---- matmul ------------------------------------------------------------------
  void MatmulForward(float* out, const float* inp, const float* weight, const float* bias, size_t N, size_t I,
                     size_t O) override {
    cpu::Gemm(out, O, inp, I, false, weight, I, true, N, O, I, false, threads_, bias);
  }

  void MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                      const float* weight, size_t N, size_t I, size_t O) override {
    cpu::LinearBackward(dinp, dweight, dout, inp, weight, N, I, O, threads_);
    if (dbias) ColumnSums(dbias, dout, N, O);
  }

  // ---- attention ---------------------------------------------------------------
  void AttentionForward(float* out, float* lse, const float* q, const float* k, const float* v,
                        const AttentionLayout& layout, size_t N, size_t C, size_t H, size_t ldq,
                        size_t ldkv) override {
    if (N == 0) return;
    const size_t D = C / H;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    if (layout.max_queries < kTileMinQueries && cpu::AttentionHeadSupported(D)) {
      // Decode steps: one item per sequence, all its heads at once.
      ForEachSequence(layout, N, C, [&](const HeadItem& it, Scratch& s) {
        cpu::AttentionSequenceDecode(out + it.q0 * C, C, lse ? lse + it.q0 * H : nullptr, q + it.q0 * ldq, ldq,
                                     k + it.ks * ldkv, v + it.ks * ldkv, ldkv, it.nq, it.first, H, D, scale, s.e);
      });
      return;
    }
    if (layout.max_queries < kTileMinQueries && cpu::AttentionRowsSupported(C, H)) {
      // Decode steps with other head sizes: the bits of the per-head loop below.
      ForEachSequence(layout, N, C, [&](const HeadItem& it, Scratch& s) {
        cpu::AttentionSequenceRows(out + it.q0 * C, C, lse ? lse + it.q0 * H : nullptr, q + it.q0 * ldq, ldq,
                                   k + it.ks * ldkv, v + it.ks * ldkv, ldkv, it.nq, it.first, H, C, scale, s.e);
      });
      return;
    }
    ForEachHead(layout, N, C, H, [&](const HeadItem& it, Scratch& s) {
      const size_t h = it.h, q0 = it.q0, nq = it.nq, first = it.first, nk = it.nk, ks = it.ks;
      if (nq >= kTileMinQueries && cpu::AttentionHeadSupported(D)) {
        cpu::AttentionHeadForward(out + q0 * C + h * D, C, lse ? lse + q0 * H + h : nullptr, H, q + q0 * ldq + h * D,
                                  ldq, k + ks * ldkv + h * D, v + ks * ldkv + h * D, ldkv, nq, first, D, scale, s.e);
        return;
      }
      if (nq >= kTileMinQueries) {
        AttentionForwardTiles(out, lse, q, k, v, s, q0, nq, first, ks, h, C, H, D, ldq, ldkv, scale);
        return;
      }
      if (cpu::AttentionHeadSupported(D)) {
        cpu::AttentionHeadDecode(out + q0 * C + h * D, C, lse ? lse + q0 * H + h : nullptr, H, q + q0 * ldq + h * D,
                                 ldq, k + ks * ldkv + h * D, v + ks * ldkv + h * D, ldkv, nq, first, D, scale, s.e);
        return;
      }
      // K of this head, transposed: kt[d][j]
      s.a.resize(D * nk);
      float* kt = s.a.data();
      for (size_t j = 0; j < nk; ++j) {
        const float* kr = k + (ks + j) * ldkv + h * D;
        for (size_t d = 0; d < D; ++d) kt[d * nk + j] = kr[d];
      }
      s.b.resize(nk);
      float* srow = s.b.data();
      for (size_t i = 0; i < nq; ++i) {
        const size_t len = first + i + 1;
        const float* qr = q + (q0 + i) * ldq + h * D;
        std::fill(srow, srow + len, 0.0f);
        for (size_t d = 0; d < D; ++d) {
          const float qd = qr[d] * scale;
          const float* kd = kt + d * nk;
#pragma omp simd
          for (size_t j = 0; j < len; ++j) srow[j] += qd * kd[j];
        }
        const cpu::SoftmaxRowStats st = cpu::SoftmaxForwardRowOnce(srow, len);  // scale is in qd
        const float inv = 1.0f / st.sum;
        float* o = out + (q0 + i) * C + h * D;
        std::fill(o, o + D, 0.0f);
        for (size_t j = 0; j < len; ++j) {
          const float p = srow[j] * inv;
          const float* vr = v + (ks + j) * ldkv + h * D;
#pragma omp simd
          for (size_t d = 0; d < D; ++d) o[d] += p * vr[d];
        }
        if (lse) lse[(q0 + i) * H + h] = st.max + std::log(st.sum);
      }
    });
  }

  void AttentionBackward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                         const float* q, const float* k, const float* v, const AttentionLayout& layout, size_t N,
                         size_t C, size_t H, size_t ldq, size_t ldkv) override {
    if (N == 0) return;
    const size_t D = C / H;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    ForEachHead(layout, N, C, H, [&](const HeadItem& it, Scratch& s) {
      const size_t h = it.h, q0 = it.q0, nq = it.nq, first = it.first, nk = it.nk, ks = it.ks;
      if (nq >= kTileMinQueries && cpu::AttentionHeadSupported(D)) {
        cpu::AttentionHeadBackward(dq + q0 * ldq + h * D, dk + ks * ldkv + h * D, dv + ks * ldkv + h * D,
                                   dout + q0 * C + h * D, out + q0 * C + h * D, C, lse + q0 * H + h, H,
                                   q + q0 * ldq + h * D, ldq, k + ks * ldkv + h * D, v + ks * ldkv + h * D, ldkv, nq,
                                   first, D, scale, s.e);
        return;
      }
      if (nq >= kTileMinQueries) {
        AttentionBackwardTiles(dq, dk, dv, dout, out, lse, q, k, v, s, q0, nq, first, ks, h, C, H, D, ldq, ldkv, scale);
        return;
      }
      // Transposed K and V of this head, and their gradients: [D][nk].
      s.a.resize(4 * D * nk);
      float* kt = s.a.data();
      float* vt = kt + D * nk;
      float* dkt = vt + D * nk;
      float* dvt = dkt + D * nk;
      std::fill(dkt, dkt + 2 * D * nk, 0.0f);
      for (size_t j = 0; j < nk; ++j) {
        const float* kr = k + (ks + j) * ldkv + h * D;
        const float* vr = v + (ks + j) * ldkv + h * D;
        for (size_t d = 0; d < D; ++d) {
          kt[d * nk + j] = kr[d];
          vt[d * nk + j] = vr[d];
        }
      }
      s.b.resize(2 * nk);
      float* prow = s.b.data();
      float* dsrow = prow + nk;
      for (size_t i = 0; i < nq; ++i) {
        const size_t len = first + i + 1;
        const size_t row = q0 + i;
        const float* qr = q + row * ldq + h * D;
        const float* gr = dout + row * C + h * D;
        const float* orow = out + row * C + h * D;
        const float l = lse[row * H + h];
        // P = exp(q.k * scale - lse) and dP = dout . v
        std::fill(prow, prow + len, 0.0f);
        std::fill(dsrow, dsrow + len, 0.0f);
        for (size_t d = 0; d < D; ++d) {
          const float qd = qr[d] * scale, gd = gr[d];
          const float* kd = kt + d * nk;
          const float* vd = vt + d * nk;
#pragma omp simd
          for (size_t j = 0; j < len; ++j) {
            prow[j] += qd * kd[j];
            dsrow[j] += gd * vd[j];
          }
        }
        float di = 0;
        for (size_t d = 0; d < D; ++d) di += gr[d] * orow[d];
#pragma omp simd
        for (size_t j = 0; j < len; ++j) {
          const float p = VecExp(prow[j] - l);
          prow[j] = p;
          dsrow[j] = p * (dsrow[j] - di) * scale;
        }
        float* dqr = dq + row * ldq + h * D;
        for (size_t d = 0; d < D; ++d) {
          const float* kd = kt + d * nk;
          float* dkd = dkt + d * nk;
          float* dvd = dvt + d * nk;
          const float qd = qr[d], gd = gr[d];
          float acc = 0;
#pragma omp simd reduction(+ : acc)
          for (size_t j = 0; j < len; ++j) {
            acc += dsrow[j] * kd[j];
            dkd[j] += dsrow[j] * qd;
            dvd[j] += prow[j] * gd;
          }
          dqr[d] += acc;
        }
      }
      for (size_t j = 0; j < nk; ++j) {
        float* dkr = dk + (ks + j) * ldkv + h * D;
        float* dvr = dv + (ks + j) * ldkv + h * D;
        for (size_t d = 0; d < D; ++d) {
          dkr[d] += dkt[d * nk + j];
          dvr[d] += dvt[d * nk + j];
        }
      }
    });
  }

  // One (sequence, head) of an attention layout: queries q0 .. q0 + nq - 1 at
  // positions first .. first + nq - 1, attending to the nk = first + nq keys
  // from key row ks.
  struct HeadItem {
    size_t h, q0, nq, first, nk, ks;
  };

  // body(item, thread scratch) for every (sequence, head) with queries,
  // dynamically scheduled on the team when the attention is large enough.
  template <typename Body>
  void ForEachHead(const AttentionLayout& layout, size_t N, size_t C, size_t H, const Body& body) {
    const size_t items = layout.sequences * H;
    const int team = N * layout.max_keys * C > 1000000 ? threads_ : 1;
#pragma omp parallel num_threads(team)
    {
      Scratch& s = ThreadScratch();
#pragma omp for schedule(dynamic, 1)
      for (size_t item = 0; item < items; ++item) {
        const size_t b = item / H;
        HeadItem it;
        it.h = item % H;
        it.q0 = static_cast<size_t>(layout.query_offsets[b]);
        it.nq = static_cast<size_t>(layout.query_offsets[b + 1]) - it.q0;
        if (it.nq == 0) continue;
        it.first = static_cast<size_t>(layout.first_position[b]);
        it.nk = it.first + it.nq;
        it.ks = static_cast<size_t>(layout.key_start[b]);
        body(it, s);
      }
    }
  }

  // body(item, thread scratch) for every sequence with queries (item.h = 0),
  // scheduled as ForEachHead.
  template <typename Body>
  void ForEachSequence(const AttentionLayout& layout, size_t N, size_t C, const Body& body) {
    const size_t items = layout.sequences;
    const int team = N * layout.max_keys * C > 1000000 ? threads_ : 1;
#pragma omp parallel num_threads(team)
    {
      Scratch& s = ThreadScratch();
#pragma omp for schedule(dynamic, 1)
      for (size_t b = 0; b < items; ++b) {
        HeadItem it;
        it.h = 0;
        it.q0 = static_cast<size_t>(layout.query_offsets[b]);
        it.nq = static_cast<size_t>(layout.query_offsets[b + 1]) - it.q0;
        if (it.nq == 0) continue;
        it.first = static_cast<size_t>(layout.first_position[b]);
        it.nk = it.first + it.nq;
        it.ks = static_cast<size_t>(layout.key_start[b]);
        body(it, s);
      }
    }
  }

  // ---- attention on query tiles ------------------------------------------------------
  // Sequences with at least kTileMinQueries queries: per (sequence, head),
  // blocks of kQueryTile query rows against all their keys with the packed
  // GEMM (strided operands, no transposed copies): S = Q K^T, causal softmax
  // in place, O = P V; the backward recomputes P from the saved lse.
  static constexpr size_t kTileMinQueries = 16;
  static constexpr size_t kQueryTile = 60;  // a multiple of the GEMM's MR (12 AVX-512, 6 AVX2)

  // dst[d * rows + j] = src[j * ld + d]: the [rows, D] head slice of K or V, transposed.
  static void Transpose(float* dst, const float* src, size_t rows, size_t D, size_t ld) {
    constexpr size_t kBlock = 16;
    for (size_t j0 = 0; j0 < rows; j0 += kBlock) {
      const size_t j1 = std::min(rows, j0 + kBlock);
      for (size_t d = 0; d < D; ++d)
        for (size_t j = j0; j < j1; ++j) dst[d * rows + j] = src[j * ld + d];
    }
  }

  static void AttentionForwardTiles(float* out, float* lse, const float* q, const float* k, const float* v, Scratch& s,
                                    size_t q0, size_t nq, size_t first, size_t ks, size_t h, size_t C, size_t H,
                                    size_t D, size_t ldq, size_t ldkv, float scale) {
    const float* kh = k + ks * ldkv + h * D;
    const float* vh = v + ks * ldkv + h * D;
    // K^T of this head once for all tiles ([D][nk]): the tiles' products then
    // read it as a plain row-major operand (no per-tile transposes).
    const size_t nk = first + nq;
    s.a.resize(D * nk);
    float* kt = s.a.data();
    Transpose(kt, kh, nk, D, ldkv);
    for (size_t i0 = 0; i0 < nq; i0 += kQueryTile) {
      const size_t mq = std::min(kQueryTile, nq - i0);
      const size_t nkb = first + i0 + mq;  // keys of the block's last query
      s.c.resize(mq * nkb);
      float* S = s.c.data();
      float inv_sum[kQueryTile];
      cpu::Gemm(S, nkb, q + (q0 + i0) * ldq + h * D, ldq, false, kt, nk, false, mq, nkb, D, false, 1);
      for (size_t r = 0; r < mq; ++r) {
        float* row = S + r * nkb;
        const size_t len = first + i0 + r + 1;
        const cpu::SoftmaxRowStats st = cpu::SoftmaxForwardRow(row, len, scale);
        std::fill(row + len, row + nkb, 0.0f);
        inv_sum[r] = 1.0f / st.sum;  // applied to the output row (D values, not nkb)
        if (lse) lse[(q0 + i0 + r) * H + h] = st.max + std::log(st.sum);
      }
      float* o = out + (q0 + i0) * C + h * D;
      cpu::Gemm(o, C, S, nkb, false, vh, ldkv, false, mq, D, nkb, false, 1);
      for (size_t r = 0; r < mq; ++r) {
        float* orow = o + r * C;
#pragma omp simd
        for (size_t d = 0; d < D; ++d) orow[d] *= inv_sum[r];
      }
    }
  }

  static void AttentionBackwardTiles(float* dq, float* dk, float* dv, const float* dout, const float* out,
                                     const float* lse, const float* q, const float* k, const float* v, Scratch& s,
                                     size_t q0, size_t nq, size_t first, size_t ks, size_t h, size_t C, size_t H,
                                     size_t D, size_t ldq, size_t ldkv, float scale) {
    const float* kh = k + ks * ldkv + h * D;
    const float* vh = v + ks * ldkv + h * D;
    float* dkh = dk + ks * ldkv + h * D;
    float* dvh = dv + ks * ldkv + h * D;
    const size_t nk = first + nq;
    s.a.resize(2 * D * nk);
    float* kt = s.a.data();
    float* vt = kt + D * nk;
    Transpose(kt, kh, nk, D, ldkv);
    Transpose(vt, vh, nk, D, ldkv);
    for (size_t i0 = 0; i0 < nq; i0 += kQueryTile) {
      const size_t mq = std::min(kQueryTile, nq - i0);
      const size_t nkb = first + i0 + mq;
      s.c.resize(mq * nkb);
      s.d.resize(mq * nkb);
      float* P = s.c.data();
      float* dS = s.d.data();
      const float* qb = q + (q0 + i0) * ldq + h * D;
      const float* gb = dout + (q0 + i0) * C + h * D;
      cpu::Gemm(P, nkb, qb, ldq, false, kt, nk, false, mq, nkb, D, false, 1);
      cpu::Gemm(dS, nkb, gb, C, false, vt, nk, false, mq, nkb, D, false, 1);  // dP = dO V^T
      for (size_t r = 0; r < mq; ++r) {
        const size_t row_index = q0 + i0 + r;
        const size_t len = first + i0 + r + 1;
        float* p = P + r * nkb;
        float* ds = dS + r * nkb;
        const float l = lse[row_index * H + h];
        const float* g = dout + row_index * C + h * D;
        const float* o = out + row_index * C + h * D;
        float di = 0;
        for (size_t d = 0; d < D; ++d) di += g[d] * o[d];
        cpu::SoftmaxBackwardRow(p, ds, len, scale, l, di);
        std::fill(p + len, p + nkb, 0.0f);
        std::fill(ds + len, ds + nkb, 0.0f);
      }
      cpu::Gemm(dq + (q0 + i0) * ldq + h * D, ldq, dS, nkb, false, kh, ldkv, false, mq, D, nkb, true, 1);
      cpu::Gemm(dkh, ldkv, dS, nkb, true, qb, ldq, false, nkb, D, mq, true, 1);
      cpu::Gemm(dvh, ldkv, P, nkb, true, gb, C, false, nkb, D, mq, true, 1);
    }
  }

  // ---- elementwise -------------------------------------------------------------
  void GeluForward(float* out, const float* inp, size_t n) override {
    Chunked(n, 65536, [&](size_t begin, size_t end) {
#pragma omp simd
      for (size_t i = begin; i < end; ++i) out[i] = VecGelu(inp[i]);
    });
  }

  void GeluBackward(float* dinp, const float* dout, const float* inp, size_t n) override {
    Chunked(n, 65536, [&](size_t begin, size_t end) {
#pragma omp simd
      for (size_t i = begin; i < end; ++i) dinp[i] = dout[i] * VecGeluGrad(inp[i]);
    });
  }

  void ResidualForward(float* out, const float* a, const float* b, size_t n) override {
    Chunked(n, 262144, [&](size_t begin, size_t end) {
#pragma omp simd
      for (size_t i = begin; i < end; ++i) out[i] = a[i] + b[i];
    });
  }

  void GatherRows(float* out, const float* inp, const int32_t* rows, size_t n, size_t width, size_t ld_in) override {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 64) if (n * width > 262144)
    for (size_t i = 0; i < n; ++i)
      std::memcpy(out + i * width, inp + static_cast<size_t>(rows[i]) * ld_in, width * sizeof(float));
  }

  void ScatterRows(float* out, const float* inp, const int32_t* rows, size_t n, size_t width, size_t ld_out,
                   size_t ld_in) override {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 64) if (n * width > 262144)
    for (size_t i = 0; i < n; ++i)
      std::memcpy(out + static_cast<size_t>(rows[i]) * ld_out, inp + i * ld_in, width * sizeof(float));
  }

  // ---- log-softmax -------------------------------------------------------------
  void LogSoftmaxForward(float* logp, float* entropy, const float* logits, const int32_t* targets, size_t N,
                         size_t V) override {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 32) if (N * V > 65536)
    for (size_t i = 0; i < N; ++i) {
      if (targets[i] < 0) {
        logp[i] = 0;
        entropy[i] = 0;
        continue;
      }
      RowStats st = Stats(logits + i * V, V);
      logp[i] = logits[i * V + static_cast<size_t>(targets[i])] - st.lse;
      entropy[i] = st.entropy;
    }
  }

  void LogSoftmaxLossBackward(float* dlogits, float* logp, float* entropy, const float* logits,
                              const int32_t* targets, const TokenLossArgs& loss, size_t N, size_t V) override {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 32) if (N * V > 65536)
    for (size_t i = 0; i < N; ++i) {
      float* d = dlogits + i * V;
      if (targets[i] < 0) {
        std::memset(d, 0, V * sizeof(float));
        logp[i] = 0;
        entropy[i] = 0;
        continue;
      }
      const float* x = logits + i * V;
      const RowStats st = Stats(x, V);
      const size_t target = static_cast<size_t>(targets[i]);
      const float lp = x[target] - st.lse;
      logp[i] = lp;
      entropy[i] = st.entropy;
      const float g = TokenLossGrad(lp, i, loss);
      const float lse = st.lse;
#pragma omp simd
      for (size_t v = 0; v < V; ++v) d[v] = -g * VecExp(x[v] - lse);
      d[target] += g;
    }
  }

  LossSums PolicyLossSums(const float* logp, const float* entropy, const float* mask, const TokenLossArgs& loss,
                          size_t N) override {
    // In row order (O(N) next to the products of a training step).
    LossSums sums;
    for (size_t i = 0; i < N; ++i) {
      if (mask[i] == 0.0f) continue;
      const TokenLoss tl = RowTokenLoss(logp[i], i, loss);
      sums.loss += static_cast<double>(loss.weight[i]) * static_cast<double>(tl.loss);
      sums.entropy += entropy[i];
      if (loss.kind == TokenLossKind::kPolicyGradient) {
        sums.clipped += tl.clipped;
        sums.dual_clipped += tl.dual_clipped;
        sums.kl += static_cast<double>(loss.old_logp[i] - logp[i]);
      }
    }
    return sums;
  }

  // ---- optimizer ---------------------------------------------------------------
  double SumSquares(const float* x, size_t n) override {
    double total = 0;
    const size_t chunk = 4096;
    const size_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads_) schedule(static) reduction(+ : total) if (n > 262144)
    for (size_t c = 0; c < chunks; ++c) {
      const size_t end = std::min(n, (c + 1) * chunk);
      double part = 0;
#pragma omp simd reduction(+ : part)
      for (size_t i = c * chunk; i < end; ++i) part += static_cast<double>(x[i]) * static_cast<double>(x[i]);
      total += part;
    }
    return total;
  }

  void AdamW(float* params, float* m, float* v, const float* grads, size_t n, const AdamWArgs& args) override {
    const AdamWArgs a = args;
    Chunked(n, 262144, [&](size_t begin, size_t end) {
#pragma omp simd
      for (size_t i = begin; i < end; ++i) AdamWElement(params + i, m + i, v + i, grads[i], a);
    });
  }

 private:
  // Runs body(begin, end) over [0, n) in chunks of 16384 elements, on the
  // team when n > parallel_above (a plain loop otherwise), so that the inner
  // loops are ordinary `omp simd` loops.
  template <typename Body>
  void Chunked(size_t n, size_t parallel_above, const Body& body) {
    constexpr size_t kChunk = 16384;
    const size_t chunks = (n + kChunk - 1) / kChunk;
    if (n <= parallel_above || threads_ <= 1) {
      body(0, n);
      return;
    }
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 1)
    for (size_t c = 0; c < chunks; ++c) body(c * kChunk, std::min(n, (c + 1) * kChunk));
  }

  struct RowStats {
    float lse;
    float entropy;
  };

  // Log-sum-exp and entropy of one row: the max, then sum e^(x-m) and
  // sum e^(x-m)(x-m) (the row is in L1 after the first sweep).
  static RowStats Stats(const float* x, size_t V) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (size_t v = 0; v < V; ++v) mx = std::max(mx, x[v]);
    float sum = 0, weighted = 0;
#pragma omp simd reduction(+ : sum, weighted)
    for (size_t v = 0; v < V; ++v) {
      const float z = x[v] - mx;
      const float e = VecExp(z);
      sum += e;
      weighted += e * z;
    }
    const float log_sum = std::log(sum);
    return RowStats{mx + log_sum, log_sum - weighted / sum};
  }

  void ColumnSums(float* dbias, const float* dout, size_t N, size_t O) {
    const int team = N * O > 65536 ? threads_ : 1;
#pragma omp parallel num_threads(team)
    {
      const int tid = TeamThreadIndex(), nt = TeamSize();
      const size_t c0 = O * static_cast<size_t>(tid) / static_cast<size_t>(nt);
      const size_t c1 = O * static_cast<size_t>(tid + 1) / static_cast<size_t>(nt);
      if (c1 > c0) {
        std::vector<float> acc(c1 - c0, 0.0f);
        for (size_t t = 0; t < N; ++t) {
          const float* g = dout + t * O + c0;
#pragma omp simd
          for (size_t c = 0; c < c1 - c0; ++c) acc[c] += g[c];
        }
        for (size_t c = c0; c < c1; ++c) dbias[c] += acc[c - c0];
      }
    }
  }

  static Scratch& ThreadScratch() {
    thread_local Scratch scratch;
    return scratch;
  }

  int threads_;
  std::unique_ptr<CpuPolicyOps> lane_;  // one thread, for session lanes (null when threads_ is 1)
};

}  // namespace

std::unique_ptr<PolicyOps> MakeCpuPolicyOps(int threads) { return std::make_unique<CpuPolicyOps>(threads); }

}  // namespace pv

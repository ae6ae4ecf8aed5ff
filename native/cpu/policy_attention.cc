// Register-blocked attention of one (sequence, head): see policy_attention.h.
//
// For a block of R query rows (R x D/W accumulators in registers, W floats
// per vector):
//   S  = Q_blk K^T        Scores: W keys at a time from K^T (transposed once)
//   P  = softmax(S)        in place, causal mask, log-sum-exp saved
//   O  = P V              Combine: one V row (D/W vectors) per key
// and the backward, with P recomputed from the saved log-sum-exp:
//   dP = dO_blk V^T       Scores with V^T
//   dS = P (dP - rowsum(dO o O)) / sqrt(D)
//   dQ += dS K            Combine
//   dK += dS^T Q_blk      Outer: the block's Q rows held in registers
//   dV += P^T dO_blk      Outer
#include "cpu/policy_attention.h"

#include <algorithm>
#include <cmath>

#include "cpu/simd.h"

// GCC 12 reports its own _mm512_undefined_* inside the reduction intrinsics as
// maybe-uninitialized (a false positive, as in policy_gemm.cc).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pv {
namespace cpu {
namespace {

using simd::kW;
using simd::VAdd;
using simd::Vec;
using simd::VecExp;
using simd::VFma;
using simd::VLoad;
using simd::VMul;
using simd::VReduceAdd;
using simd::VSet1;
using simd::VStore;
using simd::VZero;

inline size_t RoundUp(size_t n, size_t m) { return (n + m - 1) / m * m; }

// dst[d * ld_dst + j] = src[j * ld_src + d] for j < rows, zero for rows <= j < ld_dst.
void TransposeHead(float* dst, size_t ld_dst, const float* src, size_t ld_src, size_t rows, size_t D) {
  constexpr size_t kBlock = 16;
  for (size_t j0 = 0; j0 < rows; j0 += kBlock) {
    const size_t j1 = std::min(rows, j0 + kBlock);
    for (size_t d = 0; d < D; ++d)
      for (size_t j = j0; j < j1; ++j) dst[d * ld_dst + j] = src[j * ld_src + d];
  }
  for (size_t d = 0; d < D; ++d) std::fill(dst + d * ld_dst + rows, dst + (d + 1) * ld_dst, 0.0f);
}

template <size_t DV>
struct Head {
  static constexpr size_t D = DV * kW;
  // Rows per block: R * DV accumulators (at most 24 vector registers).
  static constexpr size_t R = DV >= 8 ? 3 : (DV >= 4 ? 6 : 12);

  // S[r * lds + j] = sum_d a_r[d] bt[d * ldbt + j] for j < n (n a multiple of kW).
  static void Scores(float* S, size_t lds, const float* const* a, const float* bt, size_t ldbt, size_t n) {
    for (size_t j = 0; j < n; j += kW) {
      Vec acc[R];
      for (size_t r = 0; r < R; ++r) acc[r] = VZero();
      for (size_t d = 0; d < D; ++d) {
        const Vec b = VLoad(bt + d * ldbt + j);
#pragma GCC unroll 12
        for (size_t r = 0; r < R; ++r) acc[r] = VFma(VSet1(a[r][d]), b, acc[r]);
      }
      for (size_t r = 0; r < R; ++r) VStore(S + r * lds + j, acc[r]);
    }
  }

  // acc[r] = sum_{j < n} P[r * ldp + j] b[j * ldb + 0 .. D).
  static void Combine(Vec (&acc)[R][DV], const float* P, size_t ldp, const float* b, size_t ldb, size_t n) {
    for (size_t r = 0; r < R; ++r)
      for (size_t v = 0; v < DV; ++v) acc[r][v] = VZero();
    for (size_t j = 0; j < n; ++j) {
      Vec bv[DV];
      for (size_t v = 0; v < DV; ++v) bv[v] = VLoad(b + j * ldb + v * kW);
#pragma GCC unroll 12
      for (size_t r = 0; r < R; ++r) {
        const Vec p = VSet1(P[r * ldp + j]);
        for (size_t v = 0; v < DV; ++v) acc[r][v] = VFma(p, bv[v], acc[r][v]);
      }
    }
  }

  // dst[j * ldd + 0 .. D) += sum_{r < mr} P[r * ldp + j] a_r[0 .. D) for j < n.
  static void Outer(float* dst, size_t ldd, const float* P, size_t ldp, const float* const* a, size_t mr, size_t n) {
    Vec av[R][DV];
    for (size_t r = 0; r < R; ++r)
      for (size_t v = 0; v < DV; ++v) av[r][v] = r < mr ? VLoad(a[r] + v * kW) : VZero();
    for (size_t j = 0; j < n; ++j) {
      Vec acc[DV];
      for (size_t v = 0; v < DV; ++v) acc[v] = VZero();
#pragma GCC unroll 12
      for (size_t r = 0; r < R; ++r) {
        const Vec p = VSet1(P[r * ldp + j]);
        for (size_t v = 0; v < DV; ++v) acc[v] = VFma(p, av[r][v], acc[v]);
      }
      float* row = dst + j * ldd;
      for (size_t v = 0; v < DV; ++v) VStore(row + v * kW, VAdd(VLoad(row + v * kW), acc[v]));
    }
  }

  static void Forward(float* out, size_t ldo, float* lse, size_t lse_stride, const float* q, size_t ldq,
                      const float* k, const float* v, size_t ldkv, size_t nq, size_t first, float scale,
                      std::vector<float>& scratch) {
    const size_t nk = first + nq;
    const size_t ld = RoundUp(nk, kW);
    scratch.resize(D * ld + R * ld);
    float* kt = scratch.data();
    float* S = kt + D * ld;
    TransposeHead(kt, ld, k, ldkv, nk, D);
    for (size_t i0 = 0; i0 < nq; i0 += R) {
      const size_t mr = std::min(R, nq - i0);
      const size_t nkb = first + i0 + mr;
      const float* qrow[R];
      for (size_t r = 0; r < R; ++r) qrow[r] = q + (i0 + std::min(r, mr - 1)) * ldq;
      Scores(S, ld, qrow, kt, ld, RoundUp(nkb, kW));
      float inv[R];
      for (size_t r = 0; r < R; ++r) {
        float* row = S + r * ld;
        if (r >= mr) {
          std::fill(row, row + nkb, 0.0f);
          inv[r] = 0;
          continue;
        }
        const size_t len = first + i0 + r + 1;
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (size_t j = 0; j < len; ++j) mx = std::max(mx, row[j] * scale);
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (size_t j = 0; j < len; ++j) {
          const float e = VecExp(row[j] * scale - mx);
          row[j] = e;
          sum += e;
        }
        std::fill(row + len, row + nkb, 0.0f);
        inv[r] = 1.0f / sum;
        if (lse) lse[(i0 + r) * lse_stride] = mx + std::log(sum);
      }
      Vec acc[R][DV];
      Combine(acc, S, ld, v, ldkv, nkb);
      for (size_t r = 0; r < mr; ++r) {
        const Vec s = VSet1(inv[r]);
        for (size_t x = 0; x < DV; ++x) VStore(out + (i0 + r) * ldo + x * kW, VMul(acc[r][x], s));
      }
    }
  }

  static void Backward(float* dq, float* dk, float* dv, const float* dout, const float* out, size_t ldo,
                       const float* lse, size_t lse_stride, const float* q, size_t ldq, const float* k,
                       const float* v, size_t ldkv, size_t nq, size_t first, float scale, std::vector<float>& scratch) {
    const size_t nk = first + nq;
    const size_t ld = RoundUp(nk, kW);
    scratch.resize(2 * D * ld + 2 * R * ld);
    float* kt = scratch.data();
    float* vt = kt + D * ld;
    float* P = vt + D * ld;
    float* dS = P + R * ld;
    TransposeHead(kt, ld, k, ldkv, nk, D);
    TransposeHead(vt, ld, v, ldkv, nk, D);
    for (size_t i0 = 0; i0 < nq; i0 += R) {
      const size_t mr = std::min(R, nq - i0);
      const size_t nkb = first + i0 + mr;
      const size_t nkb_pad = RoundUp(nkb, kW);
      const float* qrow[R];
      const float* grow[R];
      for (size_t r = 0; r < R; ++r) {
        qrow[r] = q + (i0 + std::min(r, mr - 1)) * ldq;
        grow[r] = dout + (i0 + std::min(r, mr - 1)) * ldo;
      }
      Scores(P, ld, qrow, kt, ld, nkb_pad);
      Scores(dS, ld, grow, vt, ld, nkb_pad);  // dP = dO V^T
      for (size_t r = 0; r < R; ++r) {
        float* p = P + r * ld;
        float* ds = dS + r * ld;
        if (r >= mr) {
          std::fill(p, p + nkb_pad, 0.0f);
          std::fill(ds, ds + nkb_pad, 0.0f);
          continue;
        }
        const size_t len = first + i0 + r + 1;
        const float l = lse[(i0 + r) * lse_stride];
        const float* g = dout + (i0 + r) * ldo;
        const float* o = out + (i0 + r) * ldo;
        float di = 0;
        for (size_t d = 0; d < D; ++d) di += g[d] * o[d];
#pragma omp simd
        for (size_t j = 0; j < len; ++j) {
          const float pj = VecExp(p[j] * scale - l);
          p[j] = pj;
          ds[j] = pj * (ds[j] - di) * scale;
        }
        std::fill(p + len, p + nkb_pad, 0.0f);
        std::fill(ds + len, ds + nkb_pad, 0.0f);
      }
      Vec acc[R][DV];
      Combine(acc, dS, ld, k, ldkv, nkb);  // dQ
      for (size_t r = 0; r < mr; ++r) {
        float* row = dq + (i0 + r) * ldq;
        for (size_t x = 0; x < DV; ++x) VStore(row + x * kW, VAdd(VLoad(row + x * kW), acc[r][x]));
      }
      Outer(dk, ldkv, dS, ld, qrow, mr, nkb);
      Outer(dv, ldkv, P, ld, grow, mr, nkb);
    }
  }

  static void Decode(float* out, size_t ldo, float* lse, size_t lse_stride, const float* q, size_t ldq, const float* k,
                     const float* v, size_t ldkv, size_t nq, size_t first, float scale, std::vector<float>& scores) {
    scores.resize(first + nq);
    float* s = scores.data();
    for (size_t i = 0; i < nq; ++i) {
      const size_t len = first + i + 1;
      Vec qv[DV];
      for (size_t x = 0; x < DV; ++x) qv[x] = VMul(VLoad(q + i * ldq + x * kW), VSet1(scale));
      float mx = -INFINITY;
      for (size_t j = 0; j < len; ++j) {
        const float* kr = k + j * ldkv;
        Vec acc = VMul(qv[0], VLoad(kr));
        for (size_t x = 1; x < DV; ++x) acc = VFma(qv[x], VLoad(kr + x * kW), acc);
        s[j] = VReduceAdd(acc);
        mx = std::max(mx, s[j]);
      }
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (size_t j = 0; j < len; ++j) {
        const float e = VecExp(s[j] - mx);
        s[j] = e;
        sum += e;
      }
      Vec acc[DV];
      for (size_t x = 0; x < DV; ++x) acc[x] = VZero();
      for (size_t j = 0; j < len; ++j) {
        const Vec p = VSet1(s[j]);
        for (size_t x = 0; x < DV; ++x) acc[x] = VFma(p, VLoad(v + j * ldkv + x * kW), acc[x]);
      }
      const Vec inv = VSet1(1.0f / sum);
      for (size_t x = 0; x < DV; ++x) VStore(out + i * ldo + x * kW, VMul(acc[x], inv));
      if (lse) lse[i * lse_stride] = mx + std::log(sum);
    }
  }
};

}  // namespace

bool AttentionHeadSupported(size_t D) {
  if (D % kW != 0) return false;
  const size_t dv = D / kW;
  return dv == 1 || dv == 2 || dv == 4 || dv == 8;
}

void AttentionHeadForward(float* out, size_t ldo, float* lse, size_t lse_stride, const float* q, size_t ldq,
                          const float* k, const float* v, size_t ldkv, size_t nq, size_t first, size_t D, float scale,
                          std::vector<float>& scratch) {
  switch (D / kW) {
    case 1: return Head<1>::Forward(out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scratch);
    case 2: return Head<2>::Forward(out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scratch);
    case 4: return Head<4>::Forward(out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scratch);
    default: return Head<8>::Forward(out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scratch);
  }
}

void AttentionHeadBackward(float* dq, float* dk, float* dv, const float* dout, const float* out, size_t ldo,
                           const float* lse, size_t lse_stride, const float* q, size_t ldq, const float* k,
                           const float* v, size_t ldkv, size_t nq, size_t first, size_t D, float scale,
                           std::vector<float>& scratch) {
  switch (D / kW) {
    case 1:
      return Head<1>::Backward(dq, dk, dv, dout, out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scratch);
    case 2:
      return Head<2>::Backward(dq, dk, dv, dout, out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scratch);
    case 4:
      return Head<4>::Backward(dq, dk, dv, dout, out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scratch);
    default:
      return Head<8>::Backward(dq, dk, dv, dout, out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scratch);
  }
}

void AttentionHeadDecode(float* out, size_t ldo, float* lse, size_t lse_stride, const float* q, size_t ldq,
                         const float* k, const float* v, size_t ldkv, size_t nq, size_t first, size_t D, float scale,
                         std::vector<float>& scores) {
  switch (D / kW) {
    case 1: return Head<1>::Decode(out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scores);
    case 2: return Head<2>::Decode(out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scores);
    case 4: return Head<4>::Decode(out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scores);
    default: return Head<8>::Decode(out, ldo, lse, lse_stride, q, ldq, k, v, ldkv, nq, first, scale, scores);
  }
}

}  // namespace cpu
}  // namespace pv

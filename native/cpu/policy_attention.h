// Register-blocked causal attention of one (sequence, head) on the CPU, for
// head sizes that are a small multiple of the vector width: blocks of R query
// rows against all their keys, with K^T and V^T of the head transposed once,
// with the block's R query rows packed once, no GEMM calls and no temporaries
// beyond R x keys tiles.
// Used by cpu/policy_ops.cc for sequences of at least 16 queries; the decode
// kernels below for fewer.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "cpu/simd.h"

namespace pv {
namespace cpu {

// Whether the kernels below handle head size D.
bool AttentionHeadSupported(size_t D);

// The softmax of one query row over its n visible keys, unnormalised and in
// place: x[j] = exp(x[j] * scale - max) with max = max_j x[j] * scale.
// Returns max and the sum of the x[j] (lse = max + log(sum)).
struct SoftmaxRowStats {
  float max, sum;
};
inline SoftmaxRowStats SoftmaxForwardRow(float* x, size_t n, float scale) {
  float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (size_t j = 0; j < n; ++j) mx = std::max(mx, x[j] * scale);
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (size_t j = 0; j < n; ++j) {
    const float e = simd::VecExp(x[j] * scale - mx);
    x[j] = e;
    sum += e;
  }
  return {mx, sum};
}

// SoftmaxForwardRow(x, n, 1) as one compiled copy (not inlined), for the
// per-head decode loop of cpu/policy_ops.cc and AttentionSequenceRows, so
// that the two give the same bits.
SoftmaxRowStats SoftmaxForwardRowOnce(float* x, size_t n);

// The softmax backward of one query row, in place, for its n visible keys:
// on entry p[j] holds the raw score q.k_j and ds[j] holds dP_j = dO.v_j; on
// exit p[j] = exp(p[j] * scale - lse) (the probability, recomputed from the
// saved log-sum-exp) and ds[j] = p[j] * (dP_j - di) * scale, where di is
// dO.O of the row.
inline void SoftmaxBackwardRow(float* p, float* ds, size_t n, float scale, float lse, float di) {
#pragma omp simd
  for (size_t j = 0; j < n; ++j) {
    const float pj = simd::VecExp(p[j] * scale - lse);
    p[j] = pj;
    ds[j] = pj * (ds[j] - di) * scale;
  }
}

// Query row i (0 <= i < nq) sits at position first + i and attends to keys
// 0 .. first + i. Pointers are at the head's first column: q[i * ldq + d],
// k[j * ldkv + d], v[j * ldkv + d], out[i * ldo + d] (written),
// lse[i * lse_stride] (written when not null).
void AttentionHeadForward(float* out, size_t ldo, float* lse, size_t lse_stride, const float* q, size_t ldq,
                          const float* k, const float* v, size_t ldkv, size_t nq, size_t first, size_t D, float scale,
                          std::vector<float>& scratch);

// Gradients accumulated (+=) into dq (stride ldq), dk and dv (stride ldkv),
// from dout and out (stride ldo) and the saved lse.
void AttentionHeadBackward(float* dq, float* dk, float* dv, const float* dout, const float* out, size_t ldo,
                           const float* lse, size_t lse_stride, const float* q, size_t ldq, const float* k,
                           const float* v, size_t ldkv, size_t nq, size_t first, size_t D, float scale,
                           std::vector<float>& scratch);

// Few queries (decode steps): each query row against its keys by dot
// products along D, without transposing the keys. Same arguments as
// AttentionHeadForward; `scores` holds first + nq floats.
void AttentionHeadDecode(float* out, size_t ldo, float* lse, size_t lse_stride, const float* q, size_t ldq,
                         const float* k, const float* v, size_t ldkv, size_t nq, size_t first, size_t D, float scale,
                         std::vector<float>& scores);

// Few queries of one sequence, all H heads at once (decode steps): the
// scores of kW (key, head) pairs per transposed vector reduction, then per
// head the softmax of AttentionHeadDecode, and P V for up to 8 accumulator
// vectors of several heads at a time (independent FMA chains). The same bits
// as AttentionHeadDecode on each head. Pointers at the sequence's column 0:
// q[i * ldq + h * D + d], k[j * ldkv + h * D + d], out[i * ldo + h * D + d],
// lse[i * H + h] (written when not null).
void AttentionSequenceDecode(float* out, size_t ldo, float* lse, const float* q, size_t ldq, const float* k,
                             const float* v, size_t ldkv, size_t nq, size_t first, size_t H, size_t D, float scale,
                             std::vector<float>& scratch);

// Few queries of one sequence, all H heads, for the head sizes the kernels
// above do not take, where AttentionRowsSupported(C, H) (C a multiple of the
// vector width up to 1024, a few H up to 16; AVX-512 builds): the results, to the bit,
// of the per-head loop that cpu/policy_ops.cc runs otherwise (scores summed
// along d in order, SoftmaxForwardRowOnce, P V in key order), with the keys
// vectorised kW at a time instead of one transposed copy of K per head.
// Pointers at the sequence's column 0, as AttentionSequenceDecode.
bool AttentionRowsSupported(size_t C, size_t H);
void AttentionSequenceRows(float* out, size_t ldo, float* lse, const float* q, size_t ldq, const float* k,
                           const float* v, size_t ldkv, size_t nq, size_t first, size_t H, size_t C, float scale,
                           std::vector<float>& scratch);

}  // namespace cpu
}  // namespace pv

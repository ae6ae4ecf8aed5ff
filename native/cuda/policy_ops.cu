// CUDA backend of the policy network's layer operations (core/policy_ops.h).
//
// Every op is issued on one stream owned by the instance, so ops run in call
// order whichever host thread issues them (the addon uses one compute thread);
// Download, SumSquares and PolicyLossSums wait on that stream. The stream is a blocking one,
// so work on the legacy default stream (CUDA events of the native check) is
// ordered with it.
//
// Kernels, one per op unless said:
//   matmul        own tiled SGEMM (shared-memory tiles, register micro-tiles),
//                 one kernel for the three products of a linear layer; the
//                 weight gradient splits the reduction over tokens across
//                 blocks (split-K, atomics into the accumulated gradient);
//   layernorm     one warp per row, two-pass mean and variance; the backward
//                 reduces dweight / dbias per block in shared memory;
//   attention     flash-style: one warp per (query row, head) with an online
//                 softmax over its keys in chunks of 32 (lane = key), the
//                 output accumulated in registers (lane = channel); no N x N
//                 temporaries. Backward: one warp per (query, head) for dq and
//                 one warp per (key, head) for dk and dv, so every gradient
//                 row has a single writer and no atomics are needed;
//   log-softmax   one block per row, online (max, sum, entropy) statistics in
//                 one pass, a second pass writing the gradient in place.
// Per-element math (gelu, AdamW, the token loss gradient) comes from the
// PV_HD functions of core/policy_ops.h and core/loss_math.h, shared with the
// CPU backend.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "core/policy_ops.h"
#include "cuda/cuda_util.cuh"

namespace pv {
namespace cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;

// Grid-stride loop over [0, n).
#define PV_GRID_LOOP(i, n) \
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < (n); i += size_t(gridDim.x) * blockDim.x)

__device__ inline float WarpSum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(kFullMask, x, o);
  return x;
}
__device__ inline float WarpMax(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(kFullMask, x, o));
  return x;
}

// ---- embedding ------------------------------------------------------------------

__global__ void EmbeddingForwardKernel(float* out, const int32_t* tokens, const int32_t* patch_rows,
                                       const int32_t* positions, const float* tok_emb, const float* pos_emb,
                                       const float* patch_out, size_t N, size_t C) {
  PV_GRID_LOOP(e, N * C) {
    const size_t t = e / C, c = e % C;
    const int32_t tok = tokens[t];
    const float x = tok >= 0 ? tok_emb[size_t(tok) * C + c] : patch_out[size_t(patch_rows[t]) * C + c];
    out[e] = x + pos_emb[size_t(positions[t]) * C + c];
  }
}

__global__ void EmbeddingBackwardKernel(float* dtok_emb, float* dpos_emb, float* dpatch_out, const float* dout,
                                        const int32_t* tokens, const int32_t* patch_rows, const int32_t* positions,
                                        size_t N, size_t C) {
  PV_GRID_LOOP(e, N * C) {
    const size_t t = e / C, c = e % C;
    const float g = dout[e];
    const int32_t tok = tokens[t];
    if (tok >= 0) atomicAdd(&dtok_emb[size_t(tok) * C + c], g);
    else if (dpatch_out) dpatch_out[size_t(patch_rows[t]) * C + c] = g;
    atomicAdd(&dpos_emb[size_t(positions[t]) * C + c], g);
  }
}

// ---- layernorm ------------------------------------------------------------------

constexpr unsigned kRowsPerBlock = kThreads / 32;  // one warp per row

__global__ void LayerNormForwardKernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                       const float* bias, size_t N, size_t C) {
  const unsigned lane = threadIdx.x % 32;
  for (size_t row = blockIdx.x * size_t(kRowsPerBlock) + threadIdx.x / 32; row < N;
       row += size_t(gridDim.x) * kRowsPerBlock) {
    const float* x = inp + row * C;
    float sum = 0;
    for (size_t c = lane; c < C; c += 32) sum += x[c];
    const float m = WarpSum(sum) / float(C);
    float sq = 0;
    for (size_t c = lane; c < C; c += 32) {
      const float d = x[c] - m;
      sq += d * d;
    }
    const float s = rsqrtf(WarpSum(sq) / float(C) + 1e-5f);
    float* o = out + row * C;
    for (size_t c = lane; c < C; c += 32) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    if (lane == 0) {
      if (mean) mean[row] = m;
      if (rstd) rstd[row] = s;
    }
  }
}

// Shared memory: dweight and dbias partial sums of this block, [2, C].
__global__ void LayerNormBackwardKernel(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                        const float* weight, const float* mean, const float* rstd, size_t N, size_t C) {
  extern __shared__ float shared[];
  float* sdw = shared;
  float* sdb = shared + C;
  for (size_t c = threadIdx.x; c < C; c += blockDim.x) sdw[c] = sdb[c] = 0;
  __syncthreads();
  const unsigned lane = threadIdx.x % 32;
  for (size_t row = blockIdx.x * size_t(kRowsPerBlock) + threadIdx.x / 32; row < N;
       row += size_t(gridDim.x) * kRowsPerBlock) {
    const float* x = inp + row * C;
    const float* g = dout + row * C;
    const float m = mean[row], s = rstd[row];
    float sum_dnorm = 0, sum_dnorm_norm = 0;
    for (size_t c = lane; c < C; c += 32) {
      const float norm = (x[c] - m) * s;
      const float dnorm = g[c] * weight[c];
      sum_dnorm += dnorm;
      sum_dnorm_norm += dnorm * norm;
    }
    const float mean_dnorm = WarpSum(sum_dnorm) / float(C);
    const float mean_dnorm_norm = WarpSum(sum_dnorm_norm) / float(C);
    float* di = dinp + row * C;
    for (size_t c = lane; c < C; c += 32) {
      const float norm = (x[c] - m) * s;
      const float dnorm = g[c] * weight[c];
      di[c] += (dnorm - mean_dnorm - norm * mean_dnorm_norm) * s;
      atomicAdd(&sdw[c], g[c] * norm);
      atomicAdd(&sdb[c], g[c]);
    }
  }
  __syncthreads();
  for (size_t c = threadIdx.x; c < C; c += blockDim.x) {
    atomicAdd(&dweight[c], sdw[c]);
    atomicAdd(&dbias[c], sdb[c]);
  }
}

// ---- matmul ---------------------------------------------------------------------
// c[m, n] (+)= sum_k A(m, k) B(k, n) (+ bias[n]) for m < M, n < Nn, k in this
// block's slice of [0, K), with
//   A(m, k) = kAKContig ? a[m * lda + k] : a[k * lda + m]
//   B(k, n) = kBKContig ? b[n * ldb + k] : b[k * ldb + n].
// A block computes a BM x BN tile; each of its (BM/TM) * (BN/TN) = 256 threads
// a TM x TN micro-tile of rows ty + i * BM/TM and columns tx + j * BN/TN (so a
// warp's shared-memory reads are broadcasts or consecutive). With more than one
// K slice (gridDim.z > 1) the tile is added with atomics into c, which the
// caller accumulates into.
struct MatmulArgs {
  float* c;
  const float* a;
  const float* b;
  const float* bias;  // [Nn] or null
  size_t M, Nn, K, lda, ldb, ldc;
  size_t k_per_slice;  // multiple of BK
  bool accumulate;
};

template <int BM, int BN, int BK, int TM, int TN, bool kAKContig, bool kBKContig>
__global__ void __launch_bounds__((BM / TM) * (BN / TN)) MatmulKernel(MatmulArgs p) {
  constexpr int kTx = BN / TN, kTy = BM / TM, kT = kTx * kTy;
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  const int tid = threadIdx.x, tx = tid % kTx, ty = tid / kTx;
  const size_t m0 = size_t(blockIdx.y) * BM, n0 = size_t(blockIdx.x) * BN;
  const size_t k_begin = size_t(blockIdx.z) * p.k_per_slice;
  const size_t k_end = min(p.K, k_begin + p.k_per_slice);
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0;

  for (size_t k0 = k_begin; k0 < k_end; k0 += BK) {
    for (int e = tid; e < BM * BK; e += kT) {
      const int mm = kAKContig ? e / BK : e % BM;
      const int kk = kAKContig ? e % BK : e / BM;
      const size_t m = m0 + mm, k = k0 + kk;
      float x = 0;
      if (m < p.M && k < k_end) x = kAKContig ? p.a[m * p.lda + k] : p.a[k * p.lda + m];
      As[kk][mm] = x;
    }
    for (int e = tid; e < BN * BK; e += kT) {
      const int nn = kBKContig ? e / BK : e % BN;
      const int kk = kBKContig ? e % BK : e / BN;
      const size_t n = n0 + nn, k = k0 + kk;
      float x = 0;
      if (n < p.Nn && k < k_end) x = kBKContig ? p.b[n * p.ldb + k] : p.b[k * p.ldb + n];
      Bs[kk][nn] = x;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float ar[TM], br[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) ar[i] = As[kk][ty + i * kTy];
#pragma unroll
      for (int j = 0; j < TN; ++j) br[j] = Bs[kk][tx + j * kTx];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
    }
    __syncthreads();
  }

  const bool sliced = gridDim.z > 1;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const size_t m = m0 + ty + i * kTy;
    if (m >= p.M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const size_t n = n0 + tx + j * kTx;
      if (n >= p.Nn) continue;
      float* dst = p.c + m * p.ldc + n;
      float x = acc[i][j];
      if (p.bias && blockIdx.z == 0) x += p.bias[n];
      if (sliced) atomicAdd(dst, x);
      else *dst = p.accumulate ? *dst + x : x;
    }
  }
}

// Column sums of dout [N, O] added into dbias [O]: a 32 x 8 block sums 32
// columns over a slice of rows, then adds its partial sums with atomics.
__global__ void ColumnSumKernel(float* dbias, const float* dout, size_t N, size_t O, size_t rows_per_slice) {
  __shared__ float partial[8][33];
  const size_t col = size_t(blockIdx.x) * 32 + threadIdx.x;
  const size_t r0 = size_t(blockIdx.y) * rows_per_slice, r1 = min(N, r0 + rows_per_slice);
  float sum = 0;
  if (col < O)
    for (size_t r = r0 + threadIdx.y; r < r1; r += 8) sum += dout[r * O + col];
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && col < O) {
    for (int y = 1; y < 8; ++y) sum += partial[y][threadIdx.x];
    atomicAdd(&dbias[col], sum);
  }
}

// ---- attention ------------------------------------------------------------------
// One warp per (row, head): 8 warps per block take consecutive rows of one
// sequence and one head (blockIdx.y), so they read the same keys and values
// (L1 reuse). Sequences are blockIdx.z, grid-strided.
constexpr int kAttnWarps = 8;
constexpr int kMaxDimPerLane = 8;  // head size D <= 256

struct AttentionArgs {
  const int32_t* query_offsets;
  const int32_t* key_start;
  const int32_t* first_position;
  size_t B, C, H, D, ldq, ldkv;
  float scale;  // 1 / sqrt(D)
};

// Shared memory: per warp the scaled query row, [kAttnWarps, D].
__global__ void AttentionForwardKernel(float* out, float* lse, const float* q, const float* k, const float* v,
                                       AttentionArgs a) {
  extern __shared__ float shared[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const size_t h = blockIdx.y, D = a.D, hd = h * D;
  float* sq = shared + size_t(warp) * D;
  for (size_t s = blockIdx.z; s < a.B; s += gridDim.z) {
    const size_t q0 = size_t(a.query_offsets[s]);
    const size_t nq = size_t(a.query_offsets[s + 1]) - q0;
    const size_t i = size_t(blockIdx.x) * kAttnWarps + warp;
    if (i >= nq) continue;  // warp-uniform; no block-level barrier follows
    const size_t r = q0 + i;
    const size_t pos = size_t(a.first_position[s]) + i;
    const size_t kbase = size_t(a.key_start[s]);
    __syncwarp();
    for (size_t d = lane; d < D; d += 32) sq[d] = q[r * a.ldq + hd + d] * a.scale;
    __syncwarp();
    float acc[kMaxDimPerLane];
#pragma unroll
    for (int t = 0; t < kMaxDimPerLane; ++t) acc[t] = 0;
    float m = -INFINITY, l = 0;
    for (size_t j0 = 0; j0 <= pos; j0 += 32) {
      const size_t j = j0 + lane;
      float score = -INFINITY;
      if (j <= pos) {
        const float* kr = k + (kbase + j) * a.ldkv + hd;
        float dot = 0;
        for (size_t d = 0; d < D; ++d) dot = fmaf(sq[d], kr[d], dot);
        score = dot;
      }
      const float m_new = fmaxf(m, WarpMax(score));  // finite: lane 0's key is always valid
      const float corr = expf(m - m_new);            // 0 on the first chunk
      const float prob = j <= pos ? expf(score - m_new) : 0.0f;
      l = l * corr + WarpSum(prob);
      m = m_new;
#pragma unroll
      for (int t = 0; t < kMaxDimPerLane; ++t) acc[t] *= corr;
      const int valid = int(min(size_t(32), pos + 1 - j0));
      for (int jj = 0; jj < valid; ++jj) {
        const float pj = __shfl_sync(kFullMask, prob, jj);
        const float* vr = v + (kbase + j0 + jj) * a.ldkv + hd;
#pragma unroll
        for (int t = 0; t < kMaxDimPerLane; ++t) {
          const size_t d = lane + 32 * size_t(t);
          if (d < D) acc[t] = fmaf(pj, vr[d], acc[t]);
        }
      }
    }
    const float inv = 1.0f / l;
#pragma unroll
    for (int t = 0; t < kMaxDimPerLane; ++t) {
      const size_t d = lane + 32 * size_t(t);
      if (d < D) out[r * a.C + hd + d] = acc[t] * inv;
    }
    if (lse && lane == 0) lse[r * a.H + h] = m + logf(l);
  }
}

// delta[r, h] = sum_d dout[r, hD + d] * out[r, hD + d] (the softmax backward's
// row term), one thread per (row, head).
__global__ void AttentionDeltaKernel(float* delta, const float* dout, const float* out, size_t N, size_t C, size_t H) {
  const size_t D = C / H;
  PV_GRID_LOOP(e, N * H) {
    const size_t r = e / H, h = e % H;
    const float* g = dout + r * C + h * D;
    const float* o = out + r * C + h * D;
    float sum = 0;
    for (size_t d = 0; d < D; ++d) sum = fmaf(g[d], o[d], sum);
    delta[e] = sum;
  }
}

// dq: one warp per (query row, head), lane = key for the scores, lane =
// channel for the accumulation. Shared memory per warp: q row and dout row, [2D].
__global__ void AttentionBackwardQueryKernel(float* dq, const float* dout, const float* lse, const float* delta,
                                             const float* q, const float* k, const float* v, AttentionArgs a) {
  extern __shared__ float shared[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const size_t h = blockIdx.y, D = a.D, hd = h * D;
  float* sq = shared + size_t(warp) * 2 * D;
  float* sg = sq + D;
  for (size_t s = blockIdx.z; s < a.B; s += gridDim.z) {
    const size_t q0 = size_t(a.query_offsets[s]);
    const size_t nq = size_t(a.query_offsets[s + 1]) - q0;
    const size_t i = size_t(blockIdx.x) * kAttnWarps + warp;
    if (i >= nq) continue;
    const size_t r = q0 + i;
    const size_t pos = size_t(a.first_position[s]) + i;
    const size_t kbase = size_t(a.key_start[s]);
    __syncwarp();
    for (size_t d = lane; d < D; d += 32) {
      sq[d] = q[r * a.ldq + hd + d];
      sg[d] = dout[r * a.C + hd + d];
    }
    __syncwarp();
    const float row_lse = lse[r * a.H + h], row_delta = delta[r * a.H + h];
    float acc[kMaxDimPerLane];
#pragma unroll
    for (int t = 0; t < kMaxDimPerLane; ++t) acc[t] = 0;
    for (size_t j0 = 0; j0 <= pos; j0 += 32) {
      const size_t j = j0 + lane;
      float dscore = 0;
      if (j <= pos) {
        const float* kr = k + (kbase + j) * a.ldkv + hd;
        const float* vr = v + (kbase + j) * a.ldkv + hd;
        float qk = 0, gv = 0;
        for (size_t d = 0; d < D; ++d) {
          qk = fmaf(sq[d], kr[d], qk);
          gv = fmaf(sg[d], vr[d], gv);
        }
        const float prob = expf(qk * a.scale - row_lse);
        dscore = prob * (gv - row_delta);
      }
      const int valid = int(min(size_t(32), pos + 1 - j0));
      for (int jj = 0; jj < valid; ++jj) {
        const float ds = __shfl_sync(kFullMask, dscore, jj);
        const float* kr = k + (kbase + j0 + jj) * a.ldkv + hd;
#pragma unroll
        for (int t = 0; t < kMaxDimPerLane; ++t) {
          const size_t d = lane + 32 * size_t(t);
          if (d < D) acc[t] = fmaf(ds, kr[d], acc[t]);
        }
      }
    }
#pragma unroll
    for (int t = 0; t < kMaxDimPerLane; ++t) {
      const size_t d = lane + 32 * size_t(t);
      if (d < D) dq[r * a.ldq + hd + d] += acc[t] * a.scale;
    }
  }
}

// dk, dv: one warp per (key row, head) over the queries that see that key
// (query positions >= the key's position), lane = query for the scores, lane =
// channel for the accumulation. Shared memory per warp: k row and v row, [2D].
__global__ void AttentionBackwardKeyKernel(float* dk, float* dv, const float* dout, const float* lse,
                                           const float* delta, const float* q, const float* k, const float* v,
                                           AttentionArgs a) {
  extern __shared__ float shared[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const size_t h = blockIdx.y, D = a.D, hd = h * D;
  float* sk = shared + size_t(warp) * 2 * D;
  float* sv = sk + D;
  for (size_t s = blockIdx.z; s < a.B; s += gridDim.z) {
    const size_t q0 = size_t(a.query_offsets[s]);
    const size_t nq = size_t(a.query_offsets[s + 1]) - q0;
    const size_t first = size_t(a.first_position[s]);
    const size_t key = size_t(blockIdx.x) * kAttnWarps + warp;  // key position
    if (key >= first + nq) continue;
    const size_t krow = size_t(a.key_start[s]) + key;
    __syncwarp();
    for (size_t d = lane; d < D; d += 32) {
      sk[d] = k[krow * a.ldkv + hd + d];
      sv[d] = v[krow * a.ldkv + hd + d];
    }
    __syncwarp();
    float acc_k[kMaxDimPerLane], acc_v[kMaxDimPerLane];
#pragma unroll
    for (int t = 0; t < kMaxDimPerLane; ++t) acc_k[t] = acc_v[t] = 0;
    const size_t i_begin = key > first ? key - first : 0;  // first query whose position >= key
    for (size_t i0 = i_begin; i0 < nq; i0 += 32) {
      const size_t i = i0 + lane;
      float prob = 0, dscore = 0;
      if (i < nq) {
        const size_t r = q0 + i;
        const float* qr = q + r * a.ldq + hd;
        const float* gr = dout + r * a.C + hd;
        float qk = 0, gv = 0;
        for (size_t d = 0; d < D; ++d) {
          qk = fmaf(qr[d], sk[d], qk);
          gv = fmaf(gr[d], sv[d], gv);
        }
        prob = expf(qk * a.scale - lse[r * a.H + h]);
        dscore = prob * (gv - delta[r * a.H + h]);
      }
      const int valid = int(min(size_t(32), nq - i0));
      for (int ii = 0; ii < valid; ++ii) {
        const float p = __shfl_sync(kFullMask, prob, ii);
        const float ds = __shfl_sync(kFullMask, dscore, ii);
        const size_t r = q0 + i0 + ii;
        const float* qr = q + r * a.ldq + hd;
        const float* gr = dout + r * a.C + hd;
#pragma unroll
        for (int t = 0; t < kMaxDimPerLane; ++t) {
          const size_t d = lane + 32 * size_t(t);
          if (d < D) {
            acc_v[t] = fmaf(p, gr[d], acc_v[t]);
            acc_k[t] = fmaf(ds, qr[d], acc_k[t]);
          }
        }
      }
    }
#pragma unroll
    for (int t = 0; t < kMaxDimPerLane; ++t) {
      const size_t d = lane + 32 * size_t(t);
      if (d < D) {
        dk[krow * a.ldkv + hd + d] += acc_k[t] * a.scale;
        dv[krow * a.ldkv + hd + d] += acc_v[t];
      }
    }
  }
}

// ---- elementwise ----------------------------------------------------------------

__global__ void GeluForwardKernel(float* out, const float* inp, size_t n) {
  PV_GRID_LOOP(i, n) out[i] = GeluTanh(inp[i]);
}
__global__ void GeluBackwardKernel(float* dinp, const float* dout, const float* inp, size_t n) {
  PV_GRID_LOOP(i, n) dinp[i] = dout[i] * GeluTanhGrad(inp[i]);
}
__global__ void ResidualForwardKernel(float* out, const float* a, const float* b, size_t n) {
  PV_GRID_LOOP(i, n) out[i] = a[i] + b[i];
}
__global__ void GatherRowsKernel(float* out, const float* inp, const int32_t* rows, size_t n, size_t width,
                                 size_t ld_in) {
  PV_GRID_LOOP(e, n * width) {
    const size_t i = e / width, c = e % width;
    out[e] = inp[size_t(rows[i]) * ld_in + c];
  }
}
__global__ void ScatterRowsKernel(float* out, const float* inp, const int32_t* rows, size_t n, size_t width,
                                  size_t ld_out, size_t ld_in) {
  PV_GRID_LOOP(e, n * width) {
    const size_t i = e / width, c = e % width;
    out[size_t(rows[i]) * ld_out + c] = inp[i * ld_in + c];
  }
}

// ---- log-softmax ----------------------------------------------------------------
// Online statistics of a row: m = running max, s = sum exp(x - m),
// t = sum exp(x - m) (x - m). Then lse = m + log s and the entropy
// -sum p log p = log s - t / s, with no cancellation at large offsets.
struct SoftmaxStats {
  float m, s, t;
};

__device__ inline SoftmaxStats MergeStats(SoftmaxStats a, SoftmaxStats b) {
  if (a.s == 0.0f) return b;
  if (b.s == 0.0f) return a;
  const float m = fmaxf(a.m, b.m);
  const float fa = expf(a.m - m), fb = expf(b.m - m);
  return {m, a.s * fa + b.s * fb, fa * (a.t + (a.m - m) * a.s) + fb * (b.t + (b.m - m) * b.s)};
}

__device__ inline SoftmaxStats AddToStats(SoftmaxStats a, float x) {
  if (a.s == 0.0f) return {x, 1.0f, 0.0f};
  if (x <= a.m) {
    const float e = expf(x - a.m);
    return {a.m, a.s + e, a.t + e * (x - a.m)};
  }
  const float f = expf(a.m - x);  // rescale to the new max x
  return {x, a.s * f + 1.0f, f * (a.t + (a.m - x) * a.s)};
}

// Statistics of row `logits` [V] over the whole block (kThreads threads); the
// result is returned to every thread.
__device__ SoftmaxStats BlockRowStats(const float* logits, size_t V) {
  __shared__ SoftmaxStats warp_stats[kThreads / 32];
  SoftmaxStats st{-INFINITY, 0.0f, 0.0f};
  for (size_t v = threadIdx.x; v < V; v += blockDim.x) st = AddToStats(st, logits[v]);
  for (int o = 16; o > 0; o >>= 1) {
    SoftmaxStats other{__shfl_xor_sync(kFullMask, st.m, o), __shfl_xor_sync(kFullMask, st.s, o),
                       __shfl_xor_sync(kFullMask, st.t, o)};
    st = MergeStats(st, other);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_stats[warp] = st;
  __syncthreads();
  SoftmaxStats total = warp_stats[0];
  for (int w = 1; w < int(blockDim.x / 32); ++w) total = MergeStats(total, warp_stats[w]);
  __syncthreads();  // warp_stats is reused by the next row
  return total;
}

__global__ void LogSoftmaxForwardKernel(float* logp, float* entropy, const float* logits, const int32_t* targets,
                                        size_t N, size_t V) {
  for (size_t row = blockIdx.x; row < N; row += gridDim.x) {
    const int32_t target = targets[row];
    if (target < 0) {  // block-uniform
      if (threadIdx.x == 0) logp[row] = entropy[row] = 0;
      continue;
    }
    const float* x = logits + row * V;
    const SoftmaxStats st = BlockRowStats(x, V);
    if (threadIdx.x == 0) {
      logp[row] = x[target] - (st.m + logf(st.s));
      entropy[row] = logf(st.s) - st.t / st.s;
    }
  }
}

__global__ void LogSoftmaxLossBackwardKernel(float* dlogits, float* logp, float* entropy, const float* logits,
                                             const int32_t* targets, TokenLossArgs loss, size_t N, size_t V) {
  for (size_t row = blockIdx.x; row < N; row += gridDim.x) {
    const int32_t target = targets[row];
    float* g = dlogits + row * V;
    if (target < 0) {
      for (size_t v = threadIdx.x; v < V; v += blockDim.x) g[v] = 0;
      if (threadIdx.x == 0) logp[row] = entropy[row] = 0;
      continue;
    }
    const float* x = logits + row * V;
    const SoftmaxStats st = BlockRowStats(x, V);
    const float lse = st.m + logf(st.s);
    const float row_logp = x[target] - lse;
    const float dlogp = TokenLossGrad(row_logp, row, loss);
    if (threadIdx.x == 0) {
      logp[row] = row_logp;
      entropy[row] = logf(st.s) - st.t / st.s;
    }
    __syncthreads();  // x[target] is read above before any thread overwrites it (g may alias x)
    for (size_t v = threadIdx.x; v < V; v += blockDim.x) {
      const float p = expf(x[v] - lse);
      g[v] = dlogp * ((v == size_t(target) ? 1.0f : 0.0f) - p);
    }
    __syncthreads();
  }
}

// The sums of PolicyLossSums in one block: thread j takes rows j, j + kThreads,
// ... in order, then a fixed tree over the threads (the order depends on N only).
__global__ void PolicyLossSumsKernel(double* out /* [5] */, const float* logp, const float* entropy,
                                     const float* mask, TokenLossArgs loss, size_t N) {
  __shared__ double part[5][kThreads];
  double acc[5] = {0, 0, 0, 0, 0};
  for (size_t i = threadIdx.x; i < N; i += blockDim.x) {
    if (mask[i] == 0.0f) continue;
    const TokenLoss tl = RowTokenLoss(logp[i], i, loss);
    acc[0] += double(loss.weight[i]) * double(tl.loss);
    acc[4] += double(entropy[i]);
    if (loss.kind == TokenLossKind::kPolicyGradient) {
      acc[1] += tl.clipped ? 1.0 : 0.0;
      acc[2] += tl.dual_clipped ? 1.0 : 0.0;
      acc[3] += double(loss.old_logp[i] - logp[i]);
    }
  }
  for (int k = 0; k < 5; ++k) part[k][threadIdx.x] = acc[k];
  __syncthreads();
  for (unsigned half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half)
      for (int k = 0; k < 5; ++k) part[k][threadIdx.x] += part[k][threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x < 5) out[threadIdx.x] = part[threadIdx.x][0];
}

// ---- optimizer ------------------------------------------------------------------

constexpr unsigned kSumBlocks = 512;  // fixed, so the float64 sum order depends on n only

__global__ void SumSquaresPartialKernel(double* partial, const float* x, size_t n) {
  __shared__ double warp_sums[kThreads / 32];
  double sum = 0;
  PV_GRID_LOOP(i, n) sum += double(x[i]) * double(x[i]);
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(kFullMask, sum, o);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (unsigned w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
    partial[blockIdx.x] = total;
  }
}

__global__ void SumPartialsKernel(double* out, const double* partial, unsigned count) {
  double total = 0;
  for (unsigned b = 0; b < count; ++b) total += partial[b];
  *out = total;
}

__global__ void AdamWKernel(float* params, float* m, float* v, const float* grads, size_t n, AdamWArgs args) {
  PV_GRID_LOOP(i, n) AdamWElement(&params[i], &m[i], &v[i], grads[i], args);
}

// ---- the backend ----------------------------------------------------------------

class CudaPolicyOps final : public PolicyOps {
 public:
  CudaPolicyOps() {
    int device = 0;
    PV_CUDA_CHECK(cudaGetDevice(&device));
    PV_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors_, cudaDevAttrMultiProcessorCount, device));
    PV_CUDA_CHECK(cudaDeviceGetAttribute(&max_shared_optin_, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    PV_CUDA_CHECK(cudaStreamCreate(&stream_));
  }
  ~CudaPolicyOps() override {
    // Destructors must not throw: errors here are left to the next CUDA call.
    scratch_.reset();
    sums_.reset();
    loss_sums_.reset();
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }

  Device device() const override { return Device::kCuda; }

  void* Alloc(size_t bytes) override {
    void* ptr = nullptr;
    bytes = std::max<size_t>(bytes, 256);  // a valid, distinct pointer even for 0 bytes, as on the CPU
    const cudaError_t malloc_err = cudaMalloc(&ptr, bytes);  // 256-byte aligned
    if (malloc_err != cudaSuccess) {
      cudaGetLastError();  // clear it, so that the next launch check does not report it again
      Fail("E_CUDA", "cudaMalloc of ", bytes, " bytes for the policy failed: ", cudaGetErrorString(malloc_err),
           " (error ", int(malloc_err), ")");
    }
    const cudaError_t err = cudaMemsetAsync(ptr, 0, bytes, stream_);
    if (err != cudaSuccess) {
      cudaFree(ptr);
      PV_CUDA_CHECK(err);
    }
    return ptr;
  }
  void Free(void* ptr) override {
    // cudaFree waits for the device; a failure is reported by the next call.
    if (ptr) cudaFree(ptr);
  }
  void Upload(void* dst, const void* host_src, size_t bytes) override {
    if (bytes == 0) return;
    PV_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
    PV_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host buffer may be freed on return
  }
  void Download(void* host_dst, const void* src, size_t bytes) override {
    if (bytes == 0) {
      Synchronize();
      return;
    }
    PV_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    PV_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void Copy(void* dst, const void* src, size_t bytes) override {
    if (bytes > 0) PV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }
  void Zero(void* dst, size_t bytes) override {
    if (bytes > 0) PV_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_));
  }
  void Synchronize() override { PV_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

  void EmbeddingForward(float* out, const int32_t* tokens, const int32_t* patch_rows, const int32_t* positions,
                        const float* tok_emb, const float* pos_emb, const float* patch_out, size_t N,
                        size_t C) override {
    if (N * C == 0) return;
    EmbeddingForwardKernel<<<BlocksFor(N * C, kThreads), kThreads, 0, stream_>>>(out, tokens, patch_rows, positions,
                                                                                tok_emb, pos_emb, patch_out, N, C);
    PV_CUDA_LAUNCH_CHECK();
  }
  void EmbeddingBackward(float* dtok_emb, float* dpos_emb, float* dpatch_out, const float* dout,
                         const int32_t* tokens, const int32_t* patch_rows, const int32_t* positions, size_t N,
                         size_t C) override {
    if (N * C == 0) return;
    EmbeddingBackwardKernel<<<BlocksFor(N * C, kThreads), kThreads, 0, stream_>>>(
        dtok_emb, dpos_emb, dpatch_out, dout, tokens, patch_rows, positions, N, C);
    PV_CUDA_LAUNCH_CHECK();
  }

  void LayerNormForward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                        const float* bias, size_t N, size_t C) override {
    if (N == 0 || C == 0) return;
    LayerNormForwardKernel<<<BlocksFor(N, kRowsPerBlock), kThreads, 0, stream_>>>(out, mean, rstd, inp, weight,
                                                                                 bias, N, C);
    PV_CUDA_LAUNCH_CHECK();
  }
  void LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, const float* mean, const float* rstd, size_t N, size_t C) override {
    if (N == 0 || C == 0) return;
    const size_t shared = 2 * C * sizeof(float);
    if (shared > 48 * 1024) {  // beyond the default limit: opt in, up to what the device allows
      if (shared > size_t(max_shared_optin_))
        Fail("E_ARG", "LayerNormBackward on CUDA supports C <= ", max_shared_optin_ / (2 * sizeof(float)),
             " channels on this device, got C = ", C);
      PV_CUDA_CHECK(cudaFuncSetAttribute(LayerNormBackwardKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(shared)));
    }
    const unsigned blocks = BlocksFor(N, kRowsPerBlock, unsigned(2 * multiprocessors_));
    LayerNormBackwardKernel<<<blocks, kThreads, shared, stream_>>>(dinp, dweight, dbias, dout, inp, weight, mean,
                                                                   rstd, N, C);
    PV_CUDA_LAUNCH_CHECK();
  }

  void MatmulForward(float* out, const float* inp, const float* weight, const float* bias, size_t N, size_t I,
                     size_t O) override {
    if (N == 0 || O == 0) return;
    // out[n, o] = sum_i inp[n, i] weight[o, i] (+ bias[o]); I = 0 leaves the bias.
    MatmulArgs p{out, inp, weight, bias, N, O, I, I, I, O, 0, false};
    Matmul<true, true>(p, false);
  }
  void MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                      const float* weight, size_t N, size_t I, size_t O) override {
    if (N == 0 || O == 0 || I == 0) {
      if (dinp && N * I > 0) Zero(dinp, N * I * sizeof(float));  // dout @ weight with O = 0
      if (dbias && N > 0 && O > 0) ColumnSums(dbias, dout, N, O);
      return;
    }
    if (dinp) {  // dinp[n, i] = sum_o dout[n, o] weight[o, i]
      MatmulArgs p{dinp, dout, weight, nullptr, N, I, O, O, I, I, 0, false};
      Matmul<true, false>(p, false);
    }
    {  // dweight[o, i] += sum_n dout[n, o] inp[n, i]
      MatmulArgs p{dweight, dout, inp, nullptr, O, I, N, O, I, I, 0, true};
      Matmul<false, false>(p, true);
    }
    if (dbias) ColumnSums(dbias, dout, N, O);
  }

  void AttentionForward(float* out, float* lse, const float* q, const float* k, const float* v,
                        const AttentionLayout& layout, size_t N, size_t C, size_t H, size_t ldq,
                        size_t ldkv) override {
    const AttentionArgs a = MakeAttentionArgs(layout, C, H, ldq, ldkv);
    if (N == 0 || layout.sequences == 0 || layout.max_queries == 0) return;
    const dim3 grid = AttentionGrid(layout.max_queries, H, layout.sequences);
    AttentionForwardKernel<<<grid, kAttnWarps * 32, kAttnWarps * a.D * sizeof(float), stream_>>>(out, lse, q, k, v,
                                                                                               a);
    PV_CUDA_LAUNCH_CHECK();
  }
  void AttentionBackward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                         const float* q, const float* k, const float* v, const AttentionLayout& layout, size_t N,
                         size_t C, size_t H, size_t ldq, size_t ldkv) override {
    const AttentionArgs a = MakeAttentionArgs(layout, C, H, ldq, ldkv);
    if (N == 0 || layout.sequences == 0 || layout.max_queries == 0) return;
    float* delta = static_cast<float*>(Scratch(N * H * sizeof(float)));
    AttentionDeltaKernel<<<BlocksFor(N * H, kThreads), kThreads, 0, stream_>>>(delta, dout, out, N, C, H);
    PV_CUDA_LAUNCH_CHECK();
    const size_t shared = kAttnWarps * 2 * a.D * sizeof(float);
    AttentionBackwardQueryKernel<<<AttentionGrid(layout.max_queries, H, layout.sequences), kAttnWarps * 32, shared,
                                   stream_>>>(dq, dout, lse, delta, q, k, v, a);
    PV_CUDA_LAUNCH_CHECK();
    AttentionBackwardKeyKernel<<<AttentionGrid(layout.max_keys, H, layout.sequences), kAttnWarps * 32, shared,
                                 stream_>>>(dk, dv, dout, lse, delta, q, k, v, a);
    PV_CUDA_LAUNCH_CHECK();
  }

  void GeluForward(float* out, const float* inp, size_t n) override {
    if (n == 0) return;
    GeluForwardKernel<<<BlocksFor(n, kThreads), kThreads, 0, stream_>>>(out, inp, n);
    PV_CUDA_LAUNCH_CHECK();
  }
  void GeluBackward(float* dinp, const float* dout, const float* inp, size_t n) override {
    if (n == 0) return;
    GeluBackwardKernel<<<BlocksFor(n, kThreads), kThreads, 0, stream_>>>(dinp, dout, inp, n);
    PV_CUDA_LAUNCH_CHECK();
  }
  void ResidualForward(float* out, const float* a, const float* b, size_t n) override {
    if (n == 0) return;
    ResidualForwardKernel<<<BlocksFor(n, kThreads), kThreads, 0, stream_>>>(out, a, b, n);
    PV_CUDA_LAUNCH_CHECK();
  }
  void GatherRows(float* out, const float* inp, const int32_t* rows, size_t n, size_t width, size_t ld_in) override {
    if (n * width == 0) return;
    GatherRowsKernel<<<BlocksFor(n * width, kThreads), kThreads, 0, stream_>>>(out, inp, rows, n, width, ld_in);
    PV_CUDA_LAUNCH_CHECK();
  }
  void ScatterRows(float* out, const float* inp, const int32_t* rows, size_t n, size_t width, size_t ld_out,
                   size_t ld_in) override {
    if (n * width == 0) return;
    ScatterRowsKernel<<<BlocksFor(n * width, kThreads), kThreads, 0, stream_>>>(out, inp, rows, n, width, ld_out,
                                                                               ld_in);
    PV_CUDA_LAUNCH_CHECK();
  }

  void LogSoftmaxForward(float* logp, float* entropy, const float* logits, const int32_t* targets, size_t N,
                         size_t V) override {
    if (N == 0) return;
    if (V == 0) Fail("E_SHAPE", "LogSoftmaxForward needs V >= 1, got V = 0");
    LogSoftmaxForwardKernel<<<RowBlocks(N), kThreads, 0, stream_>>>(logp, entropy, logits, targets, N, V);
    PV_CUDA_LAUNCH_CHECK();
  }
  void LogSoftmaxLossBackward(float* dlogits, float* logp, float* entropy, const float* logits,
                              const int32_t* targets, const TokenLossArgs& loss, size_t N, size_t V) override {
    if (N == 0) return;
    if (V == 0) Fail("E_SHAPE", "LogSoftmaxLossBackward needs V >= 1, got V = 0");
    LogSoftmaxLossBackwardKernel<<<RowBlocks(N), kThreads, 0, stream_>>>(dlogits, logp, entropy, logits, targets,
                                                                         loss, N, V);
    PV_CUDA_LAUNCH_CHECK();
  }

  LossSums PolicyLossSums(const float* logp, const float* entropy, const float* mask, const TokenLossArgs& loss,
                          size_t N) override {
    LossSums sums;
    if (N == 0) return sums;
    if (!loss_sums_) loss_sums_ = std::make_unique<DeviceBuffer<double>>(5);
    PolicyLossSumsKernel<<<1, kThreads, 0, stream_>>>(loss_sums_->get(), logp, entropy, mask, loss, N);
    PV_CUDA_LAUNCH_CHECK();
    double host[5];
    Download(host, loss_sums_->get(), sizeof host);
    sums.loss = host[0];
    sums.clipped = host[1];
    sums.dual_clipped = host[2];
    sums.kl = host[3];
    sums.entropy = host[4];
    return sums;
  }

  double SumSquares(const float* x, size_t n) override {
    if (n == 0) return 0;
    if (!sums_) sums_ = std::make_unique<DeviceBuffer<double>>(kSumBlocks + 1);
    double* partial = sums_->get();
    SumSquaresPartialKernel<<<kSumBlocks, kThreads, 0, stream_>>>(partial, x, n);
    PV_CUDA_LAUNCH_CHECK();
    SumPartialsKernel<<<1, 1, 0, stream_>>>(partial + kSumBlocks, partial, kSumBlocks);
    PV_CUDA_LAUNCH_CHECK();
    double result = 0;
    Download(&result, partial + kSumBlocks, sizeof(double));
    return result;
  }
  void AdamW(float* params, float* m, float* v, const float* grads, size_t n, const AdamWArgs& args) override {
    if (n == 0) return;
    AdamWKernel<<<BlocksFor(n, kThreads), kThreads, 0, stream_>>>(params, m, v, grads, n, args);
    PV_CUDA_LAUNCH_CHECK();
  }

 private:
  // Tile shapes: 128 x 128 (8 x 8 per thread) when the output has enough tiles
  // to fill the GPU, else 64 x 64 (4 x 4 per thread). `accumulate` outputs with
  // few tiles and a long reduction split the reduction into slices.
  template <bool kAKContig, bool kBKContig>
  void Matmul(MatmulArgs p, bool allow_split) {
    const size_t big_tiles = ((p.M + 127) / 128) * ((p.Nn + 127) / 128);
    if (big_tiles >= size_t(multiprocessors_)) {
      LaunchMatmul<128, 128, 8, 8, 8, kAKContig, kBKContig>(p, allow_split);
    } else {
      LaunchMatmul<64, 64, 16, 4, 4, kAKContig, kBKContig>(p, allow_split);
    }
  }

  template <int BM, int BN, int BK, int TM, int TN, bool kAKContig, bool kBKContig>
  void LaunchMatmul(MatmulArgs p, bool allow_split) {
    const size_t tiles_m = (p.M + BM - 1) / BM, tiles_n = (p.Nn + BN - 1) / BN;
    size_t slices = 1;
    if (allow_split && p.accumulate) {
      const size_t wanted = (2 * size_t(multiprocessors_) + tiles_m * tiles_n - 1) / (tiles_m * tiles_n);
      const size_t most = (p.K + 8 * BK - 1) / (8 * BK);  // at least 8 K-steps per slice
      slices = std::max<size_t>(1, std::min<size_t>({wanted, most, 65535}));
    }
    const size_t per_slice = ((p.K + slices - 1) / slices + BK - 1) / BK * BK;
    p.k_per_slice = std::max<size_t>(per_slice, BK);
    slices = (p.K + p.k_per_slice - 1) / p.k_per_slice;
    if (slices == 0) slices = 1;
    if (tiles_m > 65535) Fail("E_SHAPE", "matmul: too many rows for one launch (", p.M, ")");
    const dim3 grid{unsigned(tiles_n), unsigned(tiles_m), unsigned(slices)};
    MatmulKernel<BM, BN, BK, TM, TN, kAKContig, kBKContig><<<grid, (BM / TM) * (BN / TN), 0, stream_>>>(p);
    PV_CUDA_LAUNCH_CHECK();
  }

  void ColumnSums(float* dbias, const float* dout, size_t N, size_t O) {
    const size_t col_blocks = (O + 31) / 32;
    const size_t wanted = std::max<size_t>(1, (4 * size_t(multiprocessors_) + col_blocks - 1) / col_blocks);
    const size_t slices = std::min<size_t>({wanted, (N + 63) / 64, 65535});
    const size_t rows_per_slice = (N + slices - 1) / slices;
    const dim3 grid{unsigned(col_blocks), unsigned((N + rows_per_slice - 1) / rows_per_slice)};
    ColumnSumKernel<<<grid, dim3(32, 8), 0, stream_>>>(dbias, dout, N, O, rows_per_slice);
    PV_CUDA_LAUNCH_CHECK();
  }

  static AttentionArgs MakeAttentionArgs(const AttentionLayout& layout, size_t C, size_t H, size_t ldq,
                                         size_t ldkv) {
    if (H == 0 || C % H != 0) Fail("E_SHAPE", "attention: C (", C, ") must be a positive multiple of H (", H, ")");
    const size_t D = C / H;
    if (D > 32 * size_t(kMaxDimPerLane))
      Fail("E_ARG", "attention on CUDA supports head size C / H <= ", 32 * kMaxDimPerLane, ", got ", D);
    if (ldq < C || ldkv < C) Fail("E_SHAPE", "attention: ldq (", ldq, ") and ldkv (", ldkv, ") must be >= C (", C, ")");
    if (H > 65535) Fail("E_SHAPE", "attention: H must be <= 65535, got ", H);
    return {layout.query_offsets, layout.key_start, layout.first_position, layout.sequences, C, H, D, ldq, ldkv,
            1.0f / sqrtf(float(D))};
  }
  static dim3 AttentionGrid(size_t rows, size_t H, size_t B) {
    const size_t x = (rows + kAttnWarps - 1) / kAttnWarps;
    return dim3(unsigned(std::max<size_t>(1, x)), unsigned(H), unsigned(std::min<size_t>(B, 65535)));
  }
  static unsigned RowBlocks(size_t N) { return unsigned(std::min<size_t>(N, size_t(1) << 30)); }

  // A device buffer of at least `bytes`, reused across calls (ops run in
  // stream order, so a later op may reuse it).
  void* Scratch(size_t bytes) {
    if (!scratch_ || scratch_->size() < bytes) scratch_ = std::make_unique<DeviceBuffer<char>>(bytes);
    return scratch_->get();
  }

  cudaStream_t stream_ = nullptr;
  int multiprocessors_ = 1;
  int max_shared_optin_ = 48 * 1024;  // bytes of shared memory a block may opt in to
  std::unique_ptr<DeviceBuffer<char>> scratch_;
  std::unique_ptr<DeviceBuffer<double>> sums_;
  std::unique_ptr<DeviceBuffer<double>> loss_sums_;  // [5] PolicyLossSums
};

}  // namespace
}  // namespace cuda

std::unique_ptr<PolicyOps> MakeCudaPolicyOps() { return std::make_unique<cuda::CudaPolicyOps>(); }

}  // namespace pv

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

// Prefetches rows [j0, j1) of a strided matrix (`width` floats per row) into
// the cache: decode attention reads each sequence's cached keys and values
// once, from rows that are 64 KB or more apart between sequences, where the
// hardware prefetchers start late.
inline void PrefetchRows(const float* x, size_t ld, size_t j0, size_t j1, size_t width) {
  for (size_t j = j0; j < j1; ++j)
    for (size_t c = 0; c < width; c += 16) __builtin_prefetch(x + j * ld + c, 0, 3);
}

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

// The unnormalised softmax of one decode row in place, s[j] = e^(s[j] - mx);
// returns the sum. One compiled copy (not inlined) serves the per-head and
// the all-heads decode, so the two give the same bits.
__attribute__((noinline)) float ExpSumInPlace(float* s, size_t len, float mx) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (size_t j = 0; j < len; ++j) {
    const float e = VecExp(s[j] - mx);
    s[j] = e;
    sum += e;
  }
  return sum;
}

// max_j x[j] for n >= 1 finite values, a vector at a time. A max is exact in
// any order (where +0 and -0 tie, either gives the same exponentials).
inline float MaxOf(const float* x, size_t n) {
  float m = x[0];
  size_t j = 0;
  if (n >= kW) {
    Vec acc = VLoad(x);
    for (j = kW; j + kW <= n; j += kW) acc = simd::VMax(acc, VLoad(x + j));
    alignas(64) float lanes[kW];
    VStore(lanes, acc);
    for (size_t l = 0; l < kW; ++l) m = std::max(m, lanes[l]);
  }
  for (; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

template <size_t DV>
struct Head {
  static constexpr size_t D = DV * kW;
  // Rows per block: R * DV accumulators (at most 24 vector registers).
  static constexpr size_t R = DV >= 8 ? 3 : (DV >= 4 ? 6 : 12);
  // Score tiles (R rows x n keys) are stored chunk-interleaved: the kW keys
  // of chunk c for row r at tile + (c * R + r) * kW. A key's R values then sit
  // at constant offsets from one pointer (the broadcasts of Combine and Outer
  // use a single base register), and each row is still a run of full vectors.
  static float* At(float* tile, size_t r, size_t j) { return tile + ((j / kW) * R + r) * kW + j % kW; }

  // Packs rows a_r (r < R; rows past mr repeat the last) as [d][R] (for
  // Scores) and as [R][D] (for Outer).
  static void PackRows(float* by_d, float* by_r, const float* a, size_t lda, size_t mr) {
    for (size_t r = 0; r < R; ++r) {
      const float* row = a + std::min(r, mr - 1) * lda;
      for (size_t d = 0; d < D; ++d) {
        by_d[d * R + r] = row[d];
        if (by_r) by_r[r * D + d] = row[d];
      }
    }
  }

  // S tile = A B for chunks [0, chunks): A packed [d][R], B^T given as
  // bt[d * ldbt + j]. Two chunks per pass (2R accumulators) share each
  // broadcast of A.
  static void Scores(float* S, const float* a, const float* bt, size_t ldbt, size_t chunks) {
    size_t c = 0;
    for (; c + 2 <= chunks; c += 2) {
      Vec acc0[R], acc1[R];
      for (size_t r = 0; r < R; ++r) acc0[r] = acc1[r] = VZero();
      const float* b = bt + c * kW;
      for (size_t d = 0; d < D; ++d) {
        const Vec b0 = VLoad(b + d * ldbt), b1 = VLoad(b + d * ldbt + kW);
        const float* ad = a + d * R;
#pragma GCC unroll 12
        for (size_t r = 0; r < R; ++r) {
          const Vec x = VSet1(ad[r]);
          acc0[r] = VFma(x, b0, acc0[r]);
          acc1[r] = VFma(x, b1, acc1[r]);
        }
      }
      for (size_t r = 0; r < R; ++r) {
        VStore(S + (c * R + r) * kW, acc0[r]);
        VStore(S + ((c + 1) * R + r) * kW, acc1[r]);
      }
    }
    if (c < chunks) {
      Vec acc[R];
      for (size_t r = 0; r < R; ++r) acc[r] = VZero();
      const float* b = bt + c * kW;
      for (size_t d = 0; d < D; ++d) {
        const Vec b0 = VLoad(b + d * ldbt);
        const float* ad = a + d * R;
#pragma GCC unroll 12
        for (size_t r = 0; r < R; ++r) acc[r] = VFma(VSet1(ad[r]), b0, acc[r]);
      }
      for (size_t r = 0; r < R; ++r) VStore(S + (c * R + r) * kW, acc[r]);
    }
  }

  // acc[r] = sum_{j < n} P(r, j) b[j * ldb + 0 .. D).
  static void Combine(Vec (&acc)[R][DV], const float* P, const float* b, size_t ldb, size_t n) {
    for (size_t r = 0; r < R; ++r)
      for (size_t v = 0; v < DV; ++v) acc[r][v] = VZero();
    for (size_t j = 0; j < n; ++j) {
      Vec bv[DV];
      for (size_t v = 0; v < DV; ++v) bv[v] = VLoad(b + j * ldb + v * kW);
      const float* pj = P + (j / kW) * R * kW + j % kW;
#pragma GCC unroll 12
      for (size_t r = 0; r < R; ++r) {
        const Vec p = VSet1(pj[r * kW]);
        for (size_t v = 0; v < DV; ++v) acc[r][v] = VFma(p, bv[v], acc[r][v]);
      }
    }
  }

  // dst[j * ldd + 0 .. D) += sum_{r < mr} P(r, j) a[r * D + 0 .. D) for j < n
  // (a packed [R][D]). JB keys at a time: JB * DV = 8 independent
  // accumulators, each taking one FMA per row r, so the FMA latency is hidden
  // (one key at a time chains R dependent FMAs per accumulator).
  static constexpr size_t JB = DV >= 8 ? 1 : 8 / DV;
  static void Outer(float* dst, size_t ldd, const float* P, const float* a, size_t mr, size_t n) {
    size_t j = 0;
    for (; j + JB <= n; j += JB) {  // JB divides kW: the JB keys share a chunk
      Vec acc[JB][DV];
      for (size_t b = 0; b < JB; ++b)
        for (size_t v = 0; v < DV; ++v) acc[b][v] = VZero();
      const float* pj = P + (j / kW) * R * kW + j % kW;
      for (size_t r = 0; r < mr; ++r) {
        Vec av[DV];
        for (size_t v = 0; v < DV; ++v) av[v] = VLoad(a + r * D + v * kW);
        for (size_t b = 0; b < JB; ++b) {
          const Vec p = VSet1(pj[r * kW + b]);
          for (size_t v = 0; v < DV; ++v) acc[b][v] = VFma(p, av[v], acc[b][v]);
        }
      }
      for (size_t b = 0; b < JB; ++b) {
        float* row = dst + (j + b) * ldd;
        for (size_t v = 0; v < DV; ++v) VStore(row + v * kW, VAdd(VLoad(row + v * kW), acc[b][v]));
      }
    }
    for (; j < n; ++j) {
      Vec acc[DV];
      for (size_t v = 0; v < DV; ++v) acc[v] = VZero();
      const float* pj = P + (j / kW) * R * kW + j % kW;
      for (size_t r = 0; r < mr; ++r) {
        const Vec p = VSet1(pj[r * kW]);
        for (size_t v = 0; v < DV; ++v) acc[v] = VFma(p, VLoad(a + r * D + v * kW), acc[v]);
      }
      float* row = dst + j * ldd;
      for (size_t v = 0; v < DV; ++v) VStore(row + v * kW, VAdd(VLoad(row + v * kW), acc[v]));
    }
  }

  // Row r of a tile over chunks [0, chunks): keys j < len keep f(j, value),
  // keys len <= j get 0. f is applied a vector at a time (lanes j .. j+kW-1).
  template <typename F>
  static void MapRow(float* tile, size_t r, size_t len, size_t chunks, F&& f) {
    for (size_t c = 0; c < chunks; ++c) {
      float* x = tile + (c * R + r) * kW;
      const size_t j0 = c * kW;
      if (j0 + kW <= len) {
        f(x, kW);
      } else if (j0 < len) {
        f(x, len - j0);
        std::fill(x + (len - j0), x + kW, 0.0f);
      } else {
        std::fill(x, x + kW, 0.0f);
      }
    }
  }

  static void Forward(float* out, size_t ldo, float* lse, size_t lse_stride, const float* q, size_t ldq,
                      const float* k, const float* v, size_t ldkv, size_t nq, size_t first, float scale,
                      std::vector<float>& scratch) {
    const size_t nk = first + nq;
    const size_t ld = RoundUp(nk, kW);
    scratch.resize(D * ld + R * ld + D * R);
    float* kt = scratch.data();
    float* S = kt + D * ld;
    float* qpack = S + R * ld;
    TransposeHead(kt, ld, k, ldkv, nk, D);
    for (size_t i0 = 0; i0 < nq; i0 += R) {
      const size_t mr = std::min(R, nq - i0);
      const size_t nkb = first + i0 + mr;
      const size_t chunks = (nkb + kW - 1) / kW;
      PackRows(qpack, nullptr, q + i0 * ldq, ldq, mr);
      Scores(S, qpack, kt, ld, chunks);
      float inv[R];
      for (size_t r = 0; r < R; ++r) {
        if (r >= mr) {
          MapRow(S, r, 0, chunks, [](float*, size_t) {});
          inv[r] = 0;
          continue;
        }
        const size_t len = first + i0 + r + 1;
        float* row = S + r * kW;  // chunk c of the row at row + c * R * kW
        // Per lane across the chunks (one vector op per chunk), then across
        // the lanes in a fixed order.
        alignas(64) float lane[kW];
        std::fill(lane, lane + kW, -INFINITY);
        for (size_t c = 0; c < chunks; ++c) {
          const float* x = row + c * R * kW;
          const size_t j0 = c * kW;
#pragma omp simd
          for (size_t l = 0; l < kW; ++l) lane[l] = std::max(lane[l], j0 + l < len ? x[l] * scale : -INFINITY);
        }
        float mx = lane[0];
        for (size_t l = 1; l < kW; ++l) mx = std::max(mx, lane[l]);
        std::fill(lane, lane + kW, 0.0f);
        for (size_t c = 0; c < chunks; ++c) {
          float* x = row + c * R * kW;
          const size_t j0 = c * kW;
#pragma omp simd
          for (size_t l = 0; l < kW; ++l) {
            const float e = j0 + l < len ? VecExp(x[l] * scale - mx) : 0.0f;
            x[l] = e;
            lane[l] += e;
          }
        }
        float sum = 0;
        for (size_t l = 0; l < kW; ++l) sum += lane[l];
        inv[r] = 1.0f / sum;
        if (lse) lse[(i0 + r) * lse_stride] = mx + std::log(sum);
      }
      Vec acc[R][DV];
      Combine(acc, S, v, ldkv, nkb);
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
    scratch.resize(2 * D * ld + 2 * R * ld + 4 * D * R);
    float* kt = scratch.data();
    float* vt = kt + D * ld;
    float* P = vt + D * ld;
    float* dS = P + R * ld;
    float* qpack = dS + R * ld;  // [d][R]
    float* qrows = qpack + D * R;  // [R][D]
    float* gpack = qrows + D * R;
    float* grows = gpack + D * R;
    TransposeHead(kt, ld, k, ldkv, nk, D);
    TransposeHead(vt, ld, v, ldkv, nk, D);
    for (size_t i0 = 0; i0 < nq; i0 += R) {
      const size_t mr = std::min(R, nq - i0);
      const size_t nkb = first + i0 + mr;
      const size_t chunks = (nkb + kW - 1) / kW;
      PackRows(qpack, qrows, q + i0 * ldq, ldq, mr);
      PackRows(gpack, grows, dout + i0 * ldo, ldo, mr);
      Scores(P, qpack, kt, ld, chunks);
      Scores(dS, gpack, vt, ld, chunks);  // dP = dO V^T
      for (size_t r = 0; r < R; ++r) {
        if (r >= mr) {
          MapRow(P, r, 0, chunks, [](float*, size_t) {});
          MapRow(dS, r, 0, chunks, [](float*, size_t) {});
          continue;
        }
        const size_t len = first + i0 + r + 1;
        const float l = lse[(i0 + r) * lse_stride];
        const float* g = dout + (i0 + r) * ldo;
        const float* o = out + (i0 + r) * ldo;
        float di = 0;
        for (size_t d = 0; d < D; ++d) di += g[d] * o[d];
        for (size_t c = 0; c < chunks; ++c) {
          float* p = P + (c * R + r) * kW;
          float* ds = dS + (c * R + r) * kW;
          const size_t j0 = c * kW;
          const size_t m = j0 >= len ? 0 : std::min(kW, len - j0);
          SoftmaxBackwardRow(p, ds, m, scale, l, di);
          std::fill(p + m, p + kW, 0.0f);
          std::fill(ds + m, ds + kW, 0.0f);
        }
      }
      Vec acc[R][DV];
      Combine(acc, dS, k, ldkv, nkb);  // dQ
      for (size_t r = 0; r < mr; ++r) {
        float* row = dq + (i0 + r) * ldq;
        for (size_t x = 0; x < DV; ++x) VStore(row + x * kW, VAdd(VLoad(row + x * kW), acc[r][x]));
      }
      Outer(dk, ldkv, dS, qrows, mr, nkb);
      Outer(dv, ldkv, P, grows, mr, nkb);
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
      const float sum = ExpSumInPlace(s, len, mx);
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

// out[h] = P V / sum for the G heads h0 .. h0 + G - 1 of one decode row: one
// V row (G * DV vectors) per key, G * DV independent accumulator chains, each
// summed over the keys in key order as Head<DV>::Decode does.
template <size_t DV, size_t G>
void CombineHeads(float* out, float* lse, const float* s, size_t ld, const float* mx, const float* sum, const float* v,
                  size_t ldkv, size_t len, size_t h0) {
  constexpr size_t D = DV * kW;
  Vec acc[G][DV];
  for (size_t g = 0; g < G; ++g)
    for (size_t x = 0; x < DV; ++x) acc[g][x] = VZero();
  const float* sh = s + h0 * ld;
  for (size_t j = 0; j < len; ++j) {
    const float* vr = v + j * ldkv + h0 * D;
    for (size_t g = 0; g < G; ++g) {
      const Vec p = VSet1(sh[g * ld + j]);
      for (size_t x = 0; x < DV; ++x) acc[g][x] = VFma(p, VLoad(vr + g * D + x * kW), acc[g][x]);
    }
  }
  for (size_t g = 0; g < G; ++g) {
    const size_t h = h0 + g;
    const Vec inv = VSet1(1.0f / sum[h]);
    for (size_t x = 0; x < DV; ++x) VStore(out + h * D + x * kW, VMul(acc[g][x], inv));
    if (lse) lse[h] = mx[h] + std::log(sum[h]);
  }
}

// Heads per CombineHeads call: as many as divide H with at most 8 accumulators.
template <size_t DV>
size_t HeadGroup(size_t H) {
  for (size_t g = 8 / DV; g > 1; g /= 2)
    if (H % g == 0) return g;
  return 1;
}

template <size_t DV>
void DecodeHeads(float* out, size_t ldo, float* lse, const float* q, size_t ldq, const float* k, const float* v,
                 size_t ldkv, size_t nq, size_t first, size_t H, float scale, std::vector<float>& scratch) {
  constexpr size_t D = DV * kW;
  const size_t C = H * D, nk = first + nq, ld = RoundUp(nk, kW), npairs = RoundUp(nk * H, kW);
  scratch.resize(C + npairs + H * ld + 2 * H);
  float* qs = scratch.data();    // [C] the query row, scaled
  float* pairs = qs + C;         // [nk * H] scores of (key j, head h) at j * H + h
  float* s = pairs + npairs;     // [H][ld] scores, then unnormalised probabilities, per head
  float* mx = s + H * ld;        // [H]
  float* sum = mx + H;           // [H]
  const size_t group = HeadGroup<DV>(H);
  for (size_t i = 0; i < nq; ++i) {
    const size_t len = first + i + 1;
    const float* qi = q + i * ldq;
    for (size_t c = 0; c < C; c += kW) VStore(qs + c, VMul(VLoad(qi + c), VSet1(scale)));
    // Scores as Head<DV>::Decode computes them (a product along D, then the
    // vector's sum), kW (key, head) pairs per transposed reduction.
    Vec buf[kW];
    size_t filled = 0, done = 0;
    for (size_t j = 0; j < len; ++j) {
      const float* kr = k + j * ldkv;
      if (j + 16 < len) PrefetchRows(k, ldkv, j + 16, j + 17, C);
      PrefetchRows(v, ldkv, j, j + 1, C);
      for (size_t h = 0; h < H; ++h) {
        const float* qh = qs + h * D;
        const float* kh = kr + h * D;
        Vec acc = VMul(VLoad(qh), VLoad(kh));
        for (size_t x = 1; x < DV; ++x) acc = VFma(VLoad(qh + x * kW), VLoad(kh + x * kW), acc);
        buf[filled++] = acc;
        if (filled == kW) {
          simd::VReduceAddMany(pairs + done, buf);
          done += kW;
          filled = 0;
        }
      }
    }
    for (size_t m = 0; m < filled; ++m) pairs[done + m] = VReduceAdd(buf[m]);
    for (size_t h = 0; h < H; ++h) {
      float* sh = s + h * ld;
      for (size_t j = 0; j < len; ++j) sh[j] = pairs[j * H + h];
      const float m = MaxOf(sh, len);
      mx[h] = m;
      sum[h] = ExpSumInPlace(sh, len, m);
    }
    float* o = out + i * ldo;
    float* l = lse ? lse + i * H : nullptr;
    for (size_t h0 = 0; h0 < H; h0 += group) {
      switch (group) {
        case 8: CombineHeads<DV, (DV <= 1 ? 8 : 1)>(o, l, s, ld, mx, sum, v, ldkv, len, h0); break;
        case 4: CombineHeads<DV, (DV <= 2 ? 4 : 1)>(o, l, s, ld, mx, sum, v, ldkv, len, h0); break;
        case 2: CombineHeads<DV, (DV <= 4 ? 2 : 1)>(o, l, s, ld, mx, sum, v, ldkv, len, h0); break;
        default: CombineHeads<DV, 1>(o, l, s, ld, mx, sum, v, ldkv, len, h0); break;
      }
    }
  }
}

#if defined(__AVX512F__)
// ---- decode rows for any head size: the bits of the per-head loop in cpu/policy_ops.cc ----

constexpr size_t kMaxRowChunks = 64;  // C <= 1024

// o[c] for the G column chunks cc0 .. cc0 + G - 1 (kW columns each) of one
// query row: the sum over the keys, in key order, of p(key, head of the
// column) * v[key][column], a product then a sum per key as the per-head loop
// takes them; pt[j * kW + h] holds key j's probability for head h, spread
// over a chunk's lanes by heads[chunk] (lane -> head of its column). G
// independent chains.
template <size_t G>
void CombineChunks(float* out, const float* pt, const float* v, size_t ldkv, size_t len, size_t cc0,
                   const __m512i* heads) {
  Vec acc[G];
  for (size_t g = 0; g < G; ++g) acc[g] = VZero();
  for (size_t j = 0; j < len; ++j) {
    const Vec p = VLoad(pt + j * kW);
    const float* vr = v + j * ldkv + cc0 * kW;
    for (size_t g = 0; g < G; ++g)
      acc[g] = VAdd(acc[g], VMul(_mm512_permutexvar_ps(heads[cc0 + g], p), VLoad(vr + g * kW)));
  }
  for (size_t g = 0; g < G; ++g) VStore(out + (cc0 + g) * kW, acc[g]);
}

// Few queries of one sequence, all H heads, C a multiple of kW: per block of
// kW keys, their rows transposed in registers (kW x kW blocks) so that each
// (head, d) column is one vector over the block's keys, and the scores summed
// along d in order (a product then a sum, from 0) as the per-head loop sums
// them, one accumulator per head; then per head SoftmaxForwardRowOnce, and
// P V in key order.
template <size_t H>
void DecodeRowsAnyHead(float* out, size_t ldo, float* lse, const float* q, size_t ldq, const float* k, const float* v,
                       size_t ldkv, size_t nq, size_t first, size_t C, float scale, std::vector<float>& scratch) {
  const size_t D = C / H, chunks = C / kW, nk = first + nq, ld = RoundUp(nk, kW);
  scratch.resize(C + C * kW + kW * C + H * ld + nk * kW);
  float* qs = scratch.data();   // [C] the query row, scaled
  float* cols = qs + C;         // [C][kW] the block's columns, one vector over its keys each
  float* tail = cols + C * kW;  // [kW][C] the rows of a last, partial block, zero-padded
  float* s = tail + kW * C;     // [H][ld] scores, then unnormalised probabilities, per head
  float* pt = s + H * ld;       // [nk][kW] per key, its probability for each head (lanes < H)
  __m512i heads[kMaxRowChunks];  // per column chunk: lane -> head of its column
  alignas(64) int32_t lane_heads[kW];
  for (size_t cc = 0; cc < chunks; ++cc) {
    for (size_t l = 0; l < kW; ++l) lane_heads[l] = static_cast<int32_t>((cc * kW + l) / D);
    heads[cc] = _mm512_load_si512(lane_heads);
  }
  for (size_t i = 0; i < nq; ++i) {
    const size_t len = first + i + 1;
    const float* qrow = q + i * ldq;
    for (size_t c = 0; c < C; ++c) qs[c] = qrow[c] * scale;
    for (size_t j0 = 0; j0 < len; j0 += kW) {
      const size_t rows = std::min(kW, len - j0);
      PrefetchRows(k, ldkv, std::min(len, j0 + 2 * kW), std::min(len, j0 + 3 * kW), C);
      PrefetchRows(v, ldkv, j0, j0 + rows, C);
      const float* base = k + j0 * ldkv;
      size_t ldb = ldkv;
      if (rows < kW) {
        for (size_t r = 0; r < kW; ++r)
          for (size_t c = 0; c < C; ++c) tail[r * C + c] = r < rows ? base[r * ldkv + c] : 0.0f;
        base = tail;
        ldb = C;
      }
      for (size_t cc = 0; cc < chunks; ++cc) {
        __m512 r[16];
        for (size_t x = 0; x < kW; ++x) r[x] = VLoad(base + x * ldb + cc * kW);
        simd::Transpose16(r);
        for (size_t x = 0; x < kW; ++x) VStore(cols + (cc * kW + x) * kW, r[x]);
      }
      Vec acc[H];
      for (size_t h = 0; h < H; ++h) acc[h] = VZero();
      for (size_t d = 0; d < D; ++d)
        for (size_t h = 0; h < H; ++h)
          acc[h] = VAdd(acc[h], VMul(VSet1(qs[h * D + d]), VLoad(cols + (h * D + d) * kW)));
      for (size_t h = 0; h < H; ++h) VStore(s + h * ld + j0, acc[h]);
    }
    float inv[H];
    for (size_t h = 0; h < H; ++h) {
      const SoftmaxRowStats st = SoftmaxForwardRowOnce(s + h * ld, len);
      inv[h] = 1.0f / st.sum;
      if (lse) lse[i * H + h] = st.max + std::log(st.sum);
    }
    for (size_t j = 0; j < len; ++j)
      for (size_t h = 0; h < H; ++h) pt[j * kW + h] = s[h * ld + j] * inv[h];
    float* o = out + i * ldo;
    size_t cc = 0;
    for (; cc + 4 <= chunks; cc += 4) CombineChunks<4>(o, pt, v, ldkv, len, cc, heads);
    for (; cc + 2 <= chunks; cc += 2) CombineChunks<2>(o, pt, v, ldkv, len, cc, heads);
    for (; cc < chunks; ++cc) CombineChunks<1>(o, pt, v, ldkv, len, cc, heads);
  }
}
#endif

}  // namespace

__attribute__((noinline)) SoftmaxRowStats SoftmaxForwardRowOnce(float* x, size_t n) {
  return SoftmaxForwardRow(x, n, 1.0f);
}

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

void AttentionSequenceDecode(float* out, size_t ldo, float* lse, const float* q, size_t ldq, const float* k,
                             const float* v, size_t ldkv, size_t nq, size_t first, size_t H, size_t D, float scale,
                             std::vector<float>& scratch) {
  switch (D / kW) {
    case 1: return DecodeHeads<1>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, H, scale, scratch);
    case 2: return DecodeHeads<2>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, H, scale, scratch);
    case 4: return DecodeHeads<4>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, H, scale, scratch);
    default: return DecodeHeads<8>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, H, scale, scratch);
  }
}

bool AttentionRowsSupported(size_t C, size_t H) {
#if defined(__AVX512F__)
  return C % kW == 0 && C <= kMaxRowChunks * kW &&
         (H == 1 || H == 2 || H == 3 || H == 4 || H == 6 || H == 8 || H == 12 || H == 16);
#else
  (void)C;
  (void)H;
  return false;
#endif
}

void AttentionSequenceRows(float* out, size_t ldo, float* lse, const float* q, size_t ldq, const float* k,
                           const float* v, size_t ldkv, size_t nq, size_t first, size_t H, size_t C, float scale,
                           std::vector<float>& scratch) {
#if defined(__AVX512F__)
  switch (H) {
    case 1: return DecodeRowsAnyHead<1>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, C, scale, scratch);
    case 2: return DecodeRowsAnyHead<2>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, C, scale, scratch);
    case 3: return DecodeRowsAnyHead<3>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, C, scale, scratch);
    case 4: return DecodeRowsAnyHead<4>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, C, scale, scratch);
    case 6: return DecodeRowsAnyHead<6>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, C, scale, scratch);
    case 8: return DecodeRowsAnyHead<8>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, C, scale, scratch);
    case 12: return DecodeRowsAnyHead<12>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, C, scale, scratch);
    default: return DecodeRowsAnyHead<16>(out, ldo, lse, q, ldq, k, v, ldkv, nq, first, C, scale, scratch);
  }
#else
  (void)out, (void)ldo, (void)lse, (void)q, (void)ldq, (void)k, (void)v, (void)ldkv, (void)nq, (void)first, (void)H,
      (void)C, (void)scale, (void)scratch;
#endif
}

}  // namespace cpu
}  // namespace pv

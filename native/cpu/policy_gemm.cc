// Blocked, packed, vectorised and threaded SGEMM (see policy_gemm.h).
//
// Loop nest (BLIS): jc over N in NC columns -> pc over K in KC -> pack the
// KC x NC block of op(B) into NR-wide panels (shared, packed in parallel) ->
// ic over M in MC rows (threads) -> pack the MC x KC block of op(A) into
// MR-tall panels (per thread) -> micro-kernel on each MR x NR tile, holding
// the tile in registers for the whole KC loop. Packing absorbs transposes and
// zero-pads tails, so the micro-kernel only ever sees full panels.
#include "cpu/policy_gemm.h"
#include "cpu/simd.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pv {
namespace cpu {
namespace {

using simd::kW;
using simd::Vec;
using simd::VZero;
using simd::VLoad;
using simd::VStore;
using simd::VStream;
using simd::VStreamFence;
using simd::VSet1;
using simd::VFma;
using simd::VAdd;
#if defined(__AVX512F__)
constexpr size_t kMR = 12;
#else
constexpr size_t kMR = 6;
#endif

constexpr size_t kNR = 2 * kW;  // two vectors per tile row
constexpr size_t kKC = 256;      // K block: an NR-panel of B (KC x NR) stays in L1
constexpr size_t kMC = kMR * 20; // M block: the packed A block (MC x KC) stays in L2
constexpr size_t kNC = 3072;     // N block: the packed B block (KC x NC) stays in L3
constexpr size_t kStreamFloats = size_t(1) << 20;  // outputs of 4 MiB and more are streamed

// Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] into MR-tall panels: panel r holds
// rows r*MR .. r*MR+MR-1 as [kc][MR] (zero rows past mc).
void PackA(float* dst, const float* a, size_t lda, bool trans_a, size_t i0, size_t p0, size_t mc, size_t kc) {
  for (size_t r = 0; r < mc; r += kMR) {
    const size_t rows = std::min(kMR, mc - r);
    float* panel = dst + r * kc;
    if (!trans_a) {
      for (size_t i = 0; i < rows; ++i) {
        const float* src = a + (i0 + r + i) * lda + p0;
        for (size_t k = 0; k < kc; ++k) panel[k * kMR + i] = src[k];
      }
    } else {
      for (size_t k = 0; k < kc; ++k) {
        const float* src = a + (p0 + k) * lda + i0 + r;
        for (size_t i = 0; i < rows; ++i) panel[k * kMR + i] = src[i];
      }
    }
    if (rows < kMR)
      for (size_t k = 0; k < kc; ++k)
        for (size_t i = rows; i < kMR; ++i) panel[k * kMR + i] = 0.0f;
  }
}

// GCC 12 reports its own _mm512_undefined_ps inside the shuffle intrinsics as
// maybe-uninitialized (a false positive); silenced for the packing code only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"


// Packs op(B)[p0 .. p0+kc, j0 + panel*NR ..] for panels [first, last) into
// NR-wide panels [kc][NR] (zero columns past nc).
void PackBPanels(float* dst, const float* b, size_t ldb, bool trans_b, size_t p0, size_t j0, size_t nc, size_t kc,
                 size_t first, size_t last) {
  for (size_t panel_index = first; panel_index < last; ++panel_index) {
    const size_t c0 = panel_index * kNR;
    const size_t cols = std::min(kNR, nc - c0);
    float* panel = dst + c0 * kc;
    if (!trans_b) {
      for (size_t k = 0; k < kc; ++k) {
        const float* src = b + (p0 + k) * ldb + j0 + c0;
        float* out = panel + k * kNR;
        if (cols == kNR) {
          std::memcpy(out, src, kNR * sizeof(float));
        } else {
          for (size_t j = 0; j < cols; ++j) out[j] = src[j];
          for (size_t j = cols; j < kNR; ++j) out[j] = 0.0f;
        }
      }
    } else {
      size_t k_done = 0;
#if defined(__AVX512F__)
      // Full panels: 16 x 16 blocks transposed in registers.
      if (cols == kNR) {
        for (; k_done + 16 <= kc; k_done += 16) {
          for (size_t half = 0; half < kNR; half += 16) {
            __m512 r[16];
            for (size_t i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(b + (j0 + c0 + half + i) * ldb + p0 + k_done);
            simd::Transpose16(r);
            for (size_t i = 0; i < 16; ++i) _mm512_storeu_ps(panel + (k_done + i) * kNR + half, r[i]);
          }
        }
      }
#endif
      for (size_t j = 0; j < cols; ++j) {
        const float* src = b + (j0 + c0 + j) * ldb + p0;
        for (size_t k = k_done; k < kc; ++k) panel[k * kNR + j] = src[k];
      }
      if (cols < kNR)
        for (size_t k = 0; k < kc; ++k)
          for (size_t j = cols; j < kNR; ++j) panel[k * kNR + j] = 0.0f;
    }
  }
}

// Stores the accumulated MR x NR tile into C (adding to C when `load_c`);
// a tile cut by the edge of C (rows < MR or cols < NR) goes through a buffer.
// `bias` (the tile's NR columns of it, or null) is added when storing
// without load_c: the first K block of a product with a bias. With `stream`,
// full tiles with aligned rows bypass the caches (non-temporal stores).
inline void StoreTile(const Vec* acc0, const Vec* acc1, float* c, size_t ldc, size_t rows, size_t cols, bool load_c,
                      const float* bias, bool stream) {
  if (rows == kMR && cols == kNR) {
    const Vec bias0 = bias ? VLoad(bias) : VZero(), bias1 = bias ? VLoad(bias + kW) : VZero();
#pragma GCC unroll 16
    for (size_t i = 0; i < kMR; ++i) {
      float* row = c + i * ldc;
      if (load_c) {
        VStore(row, VAdd(VLoad(row), acc0[i]));
        VStore(row + kW, VAdd(VLoad(row + kW), acc1[i]));
      } else if (stream && reinterpret_cast<uintptr_t>(row) % sizeof(Vec) == 0) {
        VStream(row, VAdd(acc0[i], bias0));
        VStream(row + kW, VAdd(acc1[i], bias1));
      } else {
        VStore(row, VAdd(acc0[i], bias0));
        VStore(row + kW, VAdd(acc1[i], bias1));
      }
    }
    return;
  }
  alignas(64) float tile[kMR * kNR];
  for (size_t i = 0; i < kMR; ++i) {
    VStore(tile + i * kNR, acc0[i]);
    VStore(tile + i * kNR + kW, acc1[i]);
  }
  for (size_t i = 0; i < rows; ++i) {
    float* row = c + i * ldc;
    const float* t = tile + i * kNR;
    if (load_c) {
      for (size_t j = 0; j < cols; ++j) row[j] += t[j];
    } else if (bias) {
      for (size_t j = 0; j < cols; ++j) row[j] = t[j] + bias[j];
    } else {
      for (size_t j = 0; j < cols; ++j) row[j] = t[j];
    }
  }
}

#pragma GCC diagnostic pop

// The MR x NR tile of C (+)= A x B-panel over kc, the tile held in registers.
// A's element (i, k) is a[i + k * a_k] (MR consecutive floats per k): a
// packed panel (a_k = MR) or, unpacked, op(A) with trans_a (a_k = lda).
void MicroKernel(size_t kc, const float* __restrict a, size_t a_k, const float* __restrict bp, float* c, size_t ldc,
                 size_t rows, size_t cols, bool load_c, const float* bias, bool stream) {
  Vec acc0[kMR], acc1[kMR];
#pragma GCC unroll 16
  for (size_t i = 0; i < kMR; ++i) {
    acc0[i] = VZero();
    acc1[i] = VZero();
  }
  for (size_t k = 0; k < kc; ++k) {
    const Vec b0 = VLoad(bp + k * kNR);
    const Vec b1 = VLoad(bp + k * kNR + kW);
    const float* ak = a + k * a_k;
#pragma GCC unroll 16
    for (size_t i = 0; i < kMR; ++i) {
      const Vec ai = VSet1(ak[i]);
      acc0[i] = VFma(ai, b0, acc0[i]);
      acc1[i] = VFma(ai, b1, acc1[i]);
    }
  }
  StoreTile(acc0, acc1, c, ldc, rows, cols, load_c, bias, stream);
}

// The same with A unpacked and row-major (no trans_a): element (i, k) is
// a[i * lda + k], read through MR row pointers (full tiles only).
void MicroKernelRows(size_t kc, const float* __restrict a, size_t lda, const float* __restrict bp, float* c,
                     size_t ldc, size_t cols, bool load_c, const float* bias, bool stream) {
  Vec acc0[kMR], acc1[kMR];
  const float* row[kMR];
#pragma GCC unroll 16
  for (size_t i = 0; i < kMR; ++i) {
    acc0[i] = VZero();
    acc1[i] = VZero();
    row[i] = a + i * lda;
  }
  for (size_t k = 0; k < kc; ++k) {
    const Vec b0 = VLoad(bp + k * kNR);
    const Vec b1 = VLoad(bp + k * kNR + kW);
#pragma GCC unroll 16
    for (size_t i = 0; i < kMR; ++i) {
      const Vec ai = VSet1(row[i][k]);
      acc0[i] = VFma(ai, b0, acc0[i]);
      acc1[i] = VFma(ai, b1, acc1[i]);
    }
  }
  StoreTile(acc0, acc1, c, ldc, kMR, cols, load_c, bias, stream);
}



// Per-thread packing buffers that grow and are reused across calls.
struct PackBuffer {
  float* data = nullptr;
  size_t capacity = 0;
  ~PackBuffer() { std::free(data); }
  float* Reserve(size_t count) {
    if (count > capacity) {
      std::free(data);
      data = nullptr;
      capacity = 0;
      void* p = nullptr;
      if (posix_memalign(&p, 64, count * sizeof(float)) != 0) throw std::bad_alloc();
      data = static_cast<float*>(p);
      capacity = count;
    }
    return data;
  }
};

PackBuffer& ThreadBufferA() {
  thread_local PackBuffer buffer;
  return buffer;
}
PackBuffer& ThreadBufferB() {
  thread_local PackBuffer buffer;
  return buffer;
}
// The calling thread's scratch for LinearBackward's second half.
PackBuffer& ThreadBufferPartial() {
  thread_local PackBuffer buffer;
  return buffer;
}

// One thread, no parallel region: small products and products issued from
// inside another parallel region (attention tiles).
void GemmSerial(float* c, size_t ldc, const float* a, size_t lda, bool trans_a, const float* b, size_t ldb,
                bool trans_b, size_t M, size_t N, size_t K, bool accumulate, const float* bias) {
  const size_t kc_max = std::min(kKC, K);
  const size_t nc_max = std::min(kNC, (N + kNR - 1) / kNR * kNR);
  // A fresh product in one K block writes each element of C once: when C is
  // far larger than the L2 cache, non-temporal stores skip reading C's lines
  // before writing them and keep the packed blocks in cache (figures and
  // their command: docs/policy.md, Benchmarks).
  const bool stream = !accumulate && K <= kKC && M * N >= kStreamFloats;
  float* packed_b = ThreadBufferB().Reserve(nc_max * kc_max);
  float* packed_a = ThreadBufferA().Reserve(std::min(kMC, (M + kMR - 1) / kMR * kMR) * kc_max);
  for (size_t jc = 0; jc < N; jc += kNC) {
    const size_t nc = std::min(kNC, N - jc);
    const size_t n_panels = (nc + kNR - 1) / kNR;
    for (size_t pc = 0; pc < K; pc += kKC) {
      const size_t kc = std::min(kKC, K - pc);
      PackBPanels(packed_b, b, ldb, trans_b, pc, jc, nc, kc, 0, n_panels);
      const bool load_c = accumulate || pc > 0;
      for (size_t ic = 0; ic < M; ic += kMC) {
        const size_t mc = std::min(kMC, M - ic);
        // Row-major A (no trans_a) is read in place for full MR-row tiles
        // (MR row streams; the block stays in L2); op(A) = A^T is packed
        // (a contiguous copy of MR floats per k), as are partial tiles.
        const size_t direct_rows = trans_a ? 0 : mc / kMR * kMR;
        if (direct_rows < mc) {
          PackA(packed_a, a, lda, trans_a, ic + direct_rows, pc, mc - direct_rows, kc);
        }
        for (size_t jp = 0; jp < n_panels; ++jp) {
          const size_t j = jp * kNR;
          const size_t cols = std::min(kNR, nc - j);
          const float* bp = packed_b + j * kc;
          const float* tile_bias = bias && !load_c ? bias + jc + j : nullptr;
          for (size_t ir = 0; ir < mc; ir += kMR) {
            float* ct = c + (ic + ir) * ldc + jc + j;
            if (ir < direct_rows) {
              MicroKernelRows(kc, a + (ic + ir) * lda + pc, lda, bp, ct, ldc, cols, load_c, tile_bias, stream);
            } else {
              MicroKernel(kc, packed_a + (ir - direct_rows) * kc, kMR, bp, ct, ldc, std::min(kMR, mc - ir), cols,
                          load_c, tile_bias, stream);
            }
          }
        }
      }
    }
  }
  if (stream) VStreamFence();  // the streamed stores are visible before C is read
}


// Few rows of A (M <= kW: a decode step's active sequences) against a
// row-major B^T (trans_b, no trans_a: the nn.Linear forward), transposed:
// A's rows are packed as at[k * kW + i] (one vector holds element k of every
// row, zero past M), and each group of kSmallNR columns of C (rows of B,
// contiguous along K) keeps one accumulator vector per column: per k, one
// load of at and one broadcast of B per column. No horizontal sums, and B is
// read exactly once. K is cut into the KC blocks of GemmSerial (the first
// block's sum plus the bias, then each further block's sum added), so every
// element has the bits GemmSerial gives it: a row's results do not depend on
// how many rows share the product.
constexpr size_t kSmallM = 16;  // products of at most this many rows take GemmSmallMT
constexpr size_t kSmallNR = 12;

void GemmSmallMT(float* c, size_t ldc, const float* at, const float* b, size_t ldb, size_t M, size_t n0, size_t n1,
                 size_t K, bool accumulate, const float* bias) {
  for (size_t n = n0; n < n1; n += kSmallNR) {
    const size_t nb = std::min(kSmallNR, n1 - n);
    const float* w[kSmallNR];
    for (size_t j = 0; j < kSmallNR; ++j) w[j] = b + (n + std::min(j, nb - 1)) * ldb;
    for (size_t p0 = 0; p0 < K; p0 += kKC) {
      const size_t p1 = std::min(K, p0 + kKC);
      const bool load_c = accumulate || p0 > 0;
      Vec acc[kSmallNR];
      for (size_t j = 0; j < kSmallNR; ++j) acc[j] = VZero();
      for (size_t k = p0; k < p1; ++k) {
        const Vec x = VLoad(at + k * kW);
#pragma GCC unroll 12
        for (size_t j = 0; j < kSmallNR; ++j) acc[j] = VFma(VSet1(w[j][k]), x, acc[j]);
      }
      alignas(64) float lanes[kW];
      for (size_t j = 0; j < nb; ++j) {
        VStore(lanes, acc[j]);
        for (size_t i = 0; i < M; ++i) {
          float* out = c + i * ldc + n + j;
          *out = load_c ? *out + lanes[i] : lanes[i] + (bias ? bias[n + j] : 0.0f);
        }
      }
    }
  }
}

// The calling thread's buffer for GemmSmallMT's packed rows.
PackBuffer& ThreadBufferSmallM() {
  thread_local PackBuffer buffer;
  return buffer;
}

}  // namespace

void Gemm(float* c, size_t ldc, const float* a, size_t lda, bool trans_a, const float* b, size_t ldb, bool trans_b,
          size_t M, size_t N, size_t K, bool accumulate, int threads, const float* bias) {
  if (M == 0 || N == 0) return;
  if (accumulate) bias = nullptr;  // a bias is only added to a fresh product
  if (K == 0) {
    for (size_t i = 0; i < M; ++i) {
      float* row = c + i * ldc;
      if (bias) {
        std::memcpy(row, bias, N * sizeof(float));
      } else if (!accumulate) {
        std::memset(row, 0, N * sizeof(float));
      }
    }
    return;
  }
  if (threads < 1) threads = 1;
  if (M <= kSmallM && trans_b && !trans_a) {
    // kW rows at a time (one pass with AVX-512, two with AVX2 for M > 8).
    float* at = ThreadBufferSmallM().Reserve(K * kW);
    for (size_t m0 = 0; m0 < M; m0 += kW) {
      const size_t mb = std::min(kW, M - m0);
      for (size_t k = 0; k < K; ++k) {
        for (size_t i = 0; i < mb; ++i) at[k * kW + i] = a[(m0 + i) * lda + k];
        for (size_t i = mb; i < kW; ++i) at[k * kW + i] = 0.0f;
      }
      const size_t groups = (N + kSmallNR - 1) / kSmallNR;
      const size_t chunks = std::min<size_t>(static_cast<size_t>(threads) * 4, (groups + 3) / 4);
      const bool parallel = threads > 1 && static_cast<double>(mb) * N * K > 262144.0 && chunks > 1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (parallel)
      for (size_t part = 0; part < chunks; ++part)
        GemmSmallMT(c + m0 * ldc, ldc, at, b, ldb, mb, std::min(N, groups * part / chunks * kSmallNR),
                    std::min(N, groups * (part + 1) / chunks * kSmallNR), K, accumulate, bias);
    }
    return;
  }
  if (threads == 1 || static_cast<double>(M) * N * K <= 64.0 * 64.0 * 64.0) {
    GemmSerial(c, ldc, a, lda, trans_a, b, ldb, trans_b, M, N, K, accumulate, bias);
    return;
  }
  // Each part is a slice of C computed by the serial product with its own
  // packing: no barrier inside the product. Splitting C by rows makes every
  // part pack all of B (a transposing pack when trans_b, a row copy
  // otherwise); by columns, every part reads all of A (in place when A is
  // row-major, a pack when trans_a). Split the way whose duplicated work is
  // cheaper. Two parts per thread, dynamically scheduled (a thread descheduled
  // by another process then holds back at most a quarter of the work), unless
  // the duplication would cost more than 1/64 of the product. Every element of
  // C is computed by one part in a fixed order: the result does not depend on
  // the schedule.
  const size_t t = static_cast<size_t>(threads);
  const double row_dup = static_cast<double>(K) * N * (trans_b ? 4.0 : 1.0);     // per extra part
  const double col_dup = static_cast<double>(M) * K * (trans_a ? 4.0 : 0.5);
  const bool split_columns = (col_dup < row_dup && N >= t * kNR) || M < t * kMR;
  const size_t unit = split_columns ? kNR : kMR;
  const size_t extent = split_columns ? N : M;
  const size_t units = (extent + unit - 1) / unit;
  const double duplicated = split_columns ? col_dup : row_dup;
  const double work = static_cast<double>(M) * N * K;
  const size_t per_thread = duplicated * 2.0 * static_cast<double>(t) * 64.0 <= work ? 2 : 1;
  const size_t parts = std::min(per_thread * t, units);
  bool failed = false;
#pragma omp parallel for num_threads(static_cast<int>(std::min(t, parts))) schedule(dynamic, 1)
  for (size_t part = 0; part < parts; ++part) {
    const size_t begin = std::min(extent, units * part / parts * unit);
    const size_t end = std::min(extent, units * (part + 1) / parts * unit);
    if (begin >= end) continue;
    try {
      if (split_columns) {
        GemmSerial(c + begin, ldc, a, lda, trans_a, b + (trans_b ? begin * ldb : begin), ldb, trans_b, M, end - begin, K,
                   accumulate, bias ? bias + begin : nullptr);
      } else {
        GemmSerial(c + begin * ldc, ldc, a + (trans_a ? begin : begin * lda), lda, trans_a, b, ldb, trans_b, end - begin,
                   N, K, accumulate, bias);
      }
    } catch (...) {
#pragma omp atomic write
      failed = true;
    }
  }
  if (failed) throw std::bad_alloc();
}

void LinearBackward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight, size_t N,
                    size_t I, size_t O, int threads) {
  if (threads < 1) threads = 1;
  const bool split = N >= 2 * kKC && I > 0 && O > 0;
  if (!split) {
    if (dinp) Gemm(dinp, I, dout, O, false, weight, I, false, N, I, O, false, threads);
    Gemm(dweight, I, dout, O, true, inp, I, false, O, I, N, true, threads);
    return;
  }
  // The weight gradient's halves: rows [0, half) accumulate into dweight,
  // rows [half, N) into `partial`, added afterwards. Each half is cut by
  // columns of dweight (same bits) when there are threads to spare; dinp is
  // cut by rows (same bits) into one part per thread.
  const size_t half = (N / 2 + kKC - 1) / kKC * kKC;
  const size_t t = static_cast<size_t>(threads);
  const size_t w_cols = std::max<size_t>(1, std::min(t / 2, (I + kNR - 1) / kNR));
  const size_t x_rows = dinp ? std::max<size_t>(1, std::min(t, (N + kMR - 1) / kMR)) : 0;
  const size_t tasks = 2 * w_cols + x_rows;
  float* partial = ThreadBufferPartial().Reserve(O * I);
  bool failed = false;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
  for (size_t task = 0; task < tasks; ++task) {
    try {
      if (task < 2 * w_cols) {
        const size_t part = task % w_cols, second = task / w_cols;
        const size_t c0 = (I + kNR - 1) / kNR * part / w_cols * kNR;
        const size_t c1 = std::min(I, (I + kNR - 1) / kNR * (part + 1) / w_cols * kNR);
        if (c0 >= c1) continue;
        const size_t r0 = second ? half : 0, r1 = second ? N : half;
        GemmSerial(second ? partial + c0 : dweight + c0, I, dout + r0 * O, O, true, inp + r0 * I + c0, I, false, O,
                   c1 - c0, r1 - r0, !second, nullptr);
      } else {
        const size_t part = task - 2 * w_cols;
        const size_t units = (N + kMR - 1) / kMR;
        const size_t r0 = std::min(N, units * part / x_rows * kMR);
        const size_t r1 = std::min(N, units * (part + 1) / x_rows * kMR);
        if (r0 >= r1) continue;
        GemmSerial(dinp + r0 * I, I, dout + r0 * O, O, false, weight, I, false, r1 - r0, I, O, false, nullptr);
      }
    } catch (...) {
#pragma omp atomic write
      failed = true;
    }
  }
  if (failed) throw std::bad_alloc();
  const size_t count = O * I;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && count >= 65536)
  for (size_t i = 0; i < count; ++i) dweight[i] += partial[i];
}

}  // namespace cpu
}  // namespace pv

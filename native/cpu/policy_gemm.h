// The CPU backend's matrix product: blocked for the caches (BLIS-style
// packing of A and B panels), vectorised with explicit FMA (AVX-512 or AVX2
// when the build targets them, portable C++ otherwise) and threaded with
// OpenMP over row blocks. Used by cpu/policy_ops.cc for every nn.Linear.
#pragma once

#include <cstddef>

namespace pv {
namespace cpu {

// C[M, N] = (accumulate ? C : 0) + op(A) @ op(B) (+ bias[N] broadcast over
// the rows when bias is not null), all row-major float32:
//   op(A)[i, k] = trans_a ? A[k * lda + i] : A[i * lda + k]      (M x K)
//   op(B)[k, j] = trans_b ? B[j * ldb + k] : B[k * ldb + j]      (K x N)
// `threads` OpenMP threads (1: no parallel region). Any sizes, including 0.
void Gemm(float* c, size_t ldc, const float* a, size_t lda, bool trans_a, const float* b, size_t ldb, bool trans_b,
          size_t M, size_t N, size_t K, bool accumulate, int threads, const float* bias = nullptr);

// The two products of a linear layer's backward (row-major, nn.Linear
// layout: weight is [O, I]), as one parallel region of independent tasks with
// no barrier between the products:
//   dinp[N, I] = dout[N, O] @ weight[O, I]       (skipped when dinp is null)
//   dweight[O, I] += dout^T @ inp[N, I]
// For N >= 512 rows the weight gradient's sum over the
// N rows is taken in two fixed halves (the second into a scratch buffer, then
// added), so that the halves run concurrently; the split depends only on the
// sizes, so the result is the same for every thread count.
void LinearBackward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight, size_t N,
                    size_t I, size_t O, int threads);

}  // namespace cpu
}  // namespace pv

// Shared by the scratch frame-selection harnesses in dev/: a synthetic batch
// (embeddings and one query per video from a 32-bit LCG, values in
// [-0.5, 0.5), videos of `len` frames) and a plain parallel read of a buffer.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#include <immintrin.h>
#include <omp.h>
#include "core/frames.h"

struct SyntheticFrames {
  std::vector<float> embeddings, queries;
  std::vector<int32_t> offsets;
  pv::FrameBatch batch;

  SyntheticFrames(size_t N, size_t D, size_t len) : embeddings(N * D) {
    uint32_t x = 1;
    auto next = [&x] {
      x = x * 1664525u + 1013904223u;
      return static_cast<float>(x / 4294967296.0 - 0.5);
    };
    for (float& v : embeddings) v = next();
    const size_t B = (N + len - 1) / len;
    offsets.resize(B + 1);
    for (size_t b = 0; b <= B; ++b) offsets[b] = static_cast<int32_t>(std::min(N, b * len));
    queries.resize(B * D);
    for (float& v : queries) v = next();
    batch.embeddings = embeddings.data();
    batch.frame_offsets = offsets.data();
    batch.queries = queries.data();
    batch.videos = B;
    batch.frames = N;
    batch.dim = D;
  }
  SyntheticFrames(const SyntheticFrames&) = delete;
  SyntheticFrames& operator=(const SyntheticFrames&) = delete;
};

// Sum of p[0, n) (n a multiple of 64 is read whole) with AVX-512 on `threads`
// threads: the read the kernels are compared with.
__attribute__((noinline)) inline float PlainSum(const float* p, size_t n, int threads) {
  float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#pragma omp for schedule(static)
    for (size_t i = 0; i < n / 64; ++i) {
      const float* q = p + i * 64;
      a0 = _mm512_add_ps(a0, _mm512_loadu_ps(q));
      a1 = _mm512_add_ps(a1, _mm512_loadu_ps(q + 16));
      a2 = _mm512_add_ps(a2, _mm512_loadu_ps(q + 32));
      a3 = _mm512_add_ps(a3, _mm512_loadu_ps(q + 48));
    }
    total += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
  return total;
}

// A hash of a selection's output (indices and the bits of their scores): equal
// across builds that return the same bits.
inline uint64_t OutputHash(const std::vector<int32_t>& indices, const std::vector<float>& scores) {
  uint64_t h = 0;
  for (size_t i = 0; i < indices.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &scores[i], 4);
    h = h * 31 + static_cast<uint64_t>(indices[i]) * 7 + bits;
  }
  return h;
}

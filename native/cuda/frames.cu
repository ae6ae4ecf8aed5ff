// CUDA backend of frame selection (semantics.md section 7).
//
// One call = one upload, then one launch per stage for the whole batch (never
// one per video): the queries in float64, the relevance of every frame (two
// frames per warp, a half-warp per frame), then the selection of the mode with
// one block per video, then one download.
//
// Bitwise agreement with the CPU backend (core/frames.h): a half-warp sums a
// dot product exactly as the CPU's 16 lanes do (lane l takes j = l, l + 16,
// ... in ascending j, with fma of exact products) and combines them with the
// same butterfly (__shfl_xor 8, 4, 2, 1); the other arithmetic goes through
// the correctly rounded helpers of core/frames.h. Selections that the CPU
// makes with a heap or a sort are made here by the equivalent argmax passes:
// topk by a radix select of the k-th largest relevance, then the k best in
// index order; topk-gap by repeatedly taking the best frame that no accepted
// frame blocks (the same sequence the sorted greedy accepts); mmr by the eager
// greedy (the CPU's lazy greedy selects the same frames); bolt with the
// cumulative sum in ascending frame order on one thread.
#include <cub/cub.cuh>

#include <algorithm>
#include <chrono>
#include <limits>
#include <vector>

#include "core/device.h"
#include "core/frames.h"
#include "cuda/cuda_util.cuh"

namespace pv {
namespace cuda {
namespace {

constexpr unsigned kScoreThreads = 256;   // 16 frames in flight per block
constexpr unsigned kSelectThreads = 256;  // one block per video
constexpr unsigned kHalfWarps = kSelectThreads / 16;
constexpr unsigned long long kNoFlag = ~0ull;

// Reduction operators (spelled out: cub's own moved between CCCL versions).
struct MaxOp {
  template <typename T>
  __device__ T operator()(const T& a, const T& b) const { return a > b ? a : b; }
};
struct MinOp {
  template <typename T>
  __device__ T operator()(const T& a, const T& b) const { return a < b ? a : b; }
};

// The canonical dot product of core/frames.h over a half-warp: `lane` in
// [0, 16); every lane of the half-warp returns the full sum. All 32 lanes of
// the warp must call it together. With kSquares, *sq = dot(a, a).
template <bool kSquares, typename B>
__device__ double HalfWarpDot(const float* a, const B* b, int D, int lane, double* sq) {
  double acc = 0.0, acc_sq = 0.0;
  int j = lane;
  for (; j + 48 < D; j += 64) {
    const double a0 = a[j], a1 = a[j + 16], a2 = a[j + 32], a3 = a[j + 48];
    const double b0 = b[j], b1 = b[j + 16], b2 = b[j + 32], b3 = b[j + 48];
    acc = fma(a0, b0, acc);
    acc = fma(a1, b1, acc);
    acc = fma(a2, b2, acc);
    acc = fma(a3, b3, acc);
    if (kSquares) {
      acc_sq = fma(a0, a0, acc_sq);
      acc_sq = fma(a1, a1, acc_sq);
      acc_sq = fma(a2, a2, acc_sq);
      acc_sq = fma(a3, a3, acc_sq);
    }
  }
  for (; j < D; j += 16) {
    const double x = a[j], y = b[j];
    acc = fma(x, y, acc);
    if (kSquares) acc_sq = fma(x, x, acc_sq);
  }
  for (int offset = 8; offset >= 1; offset >>= 1) {
    acc = __dadd_rn(acc, __shfl_xor_sync(0xffffffffu, acc, offset, 16));
    if (kSquares) acc_sq = __dadd_rn(acc_sq, __shfl_xor_sync(0xffffffffu, acc_sq, offset, 16));
  }
  if (kSquares) *sq = acc_sq;
  return acc;
}

// The video owning global frame f: the last b with offsets[b] <= f.
__device__ int VideoOf(const int32_t* offsets, int videos, size_t f) {
  int lo = 0, hi = videos;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (static_cast<size_t>(offsets[mid]) <= f) lo = mid; else hi = mid;
  }
  return lo;
}

// qd[b, :] = queries[b, :] in float64; q_norm[b] = sqrt(dot(q_b, q_b)). A half-warp per video.
__global__ void QueryKernel(double* qd, double* q_norm, const float* queries, int videos, int D) {
  const int lane = threadIdx.x & 15;
  const size_t half = (blockIdx.x * size_t(blockDim.x) + threadIdx.x) >> 4;
  const size_t halves = (size_t(gridDim.x) * blockDim.x) >> 4;
  for (size_t base = half & ~size_t(1); base < size_t(videos); base += halves) {
    const bool valid = base + (half & 1) < size_t(videos);
    const size_t b = valid ? base + (half & 1) : base;
    const float* q = queries + b * D;
    if (valid)
      for (int j = lane; j < D; j += 16) qd[b * D + j] = static_cast<double>(q[j]);
    double unused;
    const double sq = HalfWarpDot<false>(q, q, D, lane, &unused);
    if (valid && lane == 0) q_norm[b] = __dsqrt_rn(sq);
  }
}

// relevance[f] for every frame; norms[f] = |e_f| when kSquares and norms is
// set; flags[0] = first frame with a non-finite dot product or norm, flags[1]
// = first frame whose relevance overflows float32.
template <bool kSquares>
__global__ void ScoreKernel(float* relevance, double* norms, unsigned long long* flags, const float* embeddings,
                            const int32_t* offsets, int videos, const double* qd, const double* q_norm, size_t frames,
                            int D, bool normalize) {
  const int lane = threadIdx.x & 15;
  const size_t half = (blockIdx.x * size_t(blockDim.x) + threadIdx.x) >> 4;
  const size_t halves = (size_t(gridDim.x) * blockDim.x) >> 4;
  // Both halves of a warp share `base`, so the loop is warp-uniform.
  for (size_t base = half & ~size_t(1); base < frames; base += halves) {
    const size_t frame = base + (half & 1);
    const bool valid = frame < frames;
    const size_t f = valid ? frame : base;
    const int b = VideoOf(offsets, videos, f);
    double sq = 0.0;
    const double dot = HalfWarpDot<kSquares>(embeddings + f * D, qd + size_t(b) * D, D, lane, &sq);
    if (valid && lane == 0) {
      if (!isfinite(dot) || (kSquares && !isfinite(sq))) {
        atomicMin(&flags[0], static_cast<unsigned long long>(frame));
        relevance[frame] = 0.0f;
      } else {
        float r;
        if (kSquares) {
          const double norm = __dsqrt_rn(sq);
          if (norms) norms[frame] = norm;
          r = normalize ? CosineRelevance(dot, norm, q_norm[b]) : RelevanceFromDot(dot);
        } else {
          r = RelevanceFromDot(dot);
        }
        if (isinf(r)) atomicMin(&flags[1], static_cast<unsigned long long>(frame));
        relevance[frame] = r;
      }
    }
  }
}

struct VideoRange {
  size_t begin, n, k;  // first global frame, frames, min(budget, n) (bolt: budget)
};

__device__ VideoRange RangeOf(const int32_t* offsets, const int32_t* budgets, int32_t budget, bool clamp) {
  const int b = blockIdx.x;
  VideoRange r;
  r.begin = static_cast<size_t>(offsets[b]);
  r.n = static_cast<size_t>(offsets[b + 1]) - r.begin;
  const size_t want = static_cast<size_t>(budgets ? budgets[b] : budget);
  r.k = clamp ? (want < r.n ? want : r.n) : (r.n == 0 ? 0 : want);
  return r;
}

__device__ void Pad(int32_t* row, float* row_scores, size_t count, size_t kmax) {
  for (size_t t = count + threadIdx.x; t < kmax; t += blockDim.x) {
    row[t] = kNoFrame;
    row_scores[t] = __int_as_float(0x7fc00000);  // quiet NaN
  }
}

// Writes, in ascending index order, the frames of the block's video whose
// flag is set (flag(i) -> bool), counting from `out`. Returns the count.
template <typename Flag>
__device__ size_t CompactInOrder(int32_t* row, float* row_scores, const float* relevance, size_t begin, size_t n,
                                 Flag flag) {
  using Scan = cub::BlockScan<int, kSelectThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ size_t written;
  if (threadIdx.x == 0) written = 0;
  __syncthreads();
  for (size_t tile = 0; tile < n; tile += blockDim.x) {
    const size_t i = tile + threadIdx.x;
    const int take = (i < n && flag(i)) ? 1 : 0;
    int pos, total;
    Scan(scan_storage).ExclusiveSum(take, pos, total);
    if (take) {
      row[written + pos] = static_cast<int32_t>(i);
      row_scores[written + pos] = relevance[begin + i];
    }
    __syncthreads();
    if (threadIdx.x == 0) written += static_cast<size_t>(total);
    __syncthreads();
  }
  return written;
}

__global__ void UniformKernel(int32_t* indices, float* scores, const float* relevance, const int32_t* offsets,
                              const int32_t* budgets, int32_t budget, size_t kmax) {
  const VideoRange v = RangeOf(offsets, budgets, budget, true);
  int32_t* row = indices + blockIdx.x * kmax;
  float* row_scores = scores + blockIdx.x * kmax;
  for (size_t j = threadIdx.x; j < v.k; j += blockDim.x) {
    const int32_t i = UniformFrame(static_cast<int64_t>(j), static_cast<int64_t>(v.n), static_cast<int64_t>(v.k));
    row[j] = i;
    row_scores[j] = relevance[v.begin + i];
  }
  Pad(row, row_scores, v.k, kmax);
}

// topk: the k-th largest ordered relevance T by an 8-bit radix select, then
// every frame above T and the lowest-index frames equal to T, in index order.
__global__ void TopkKernel(int32_t* indices, float* scores, const float* relevance, const int32_t* offsets,
                           const int32_t* budgets, int32_t budget, size_t kmax) {
  const VideoRange v = RangeOf(offsets, budgets, budget, true);
  int32_t* row = indices + blockIdx.x * kmax;
  float* row_scores = scores + blockIdx.x * kmax;
  const float* s = relevance + v.begin;
  if (v.k == v.n) {
    for (size_t i = threadIdx.x; i < v.n; i += blockDim.x) {
      row[i] = static_cast<int32_t>(i);
      row_scores[i] = s[i];
    }
  } else if (v.k > 0) {
    __shared__ unsigned histogram[256];
    __shared__ uint32_t prefix, mask;
    __shared__ size_t remaining;
    if (threadIdx.x == 0) {
      prefix = 0;
      mask = 0;
      remaining = v.k;
    }
    __syncthreads();
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (unsigned d = threadIdx.x; d < 256; d += blockDim.x) histogram[d] = 0;
      __syncthreads();
      for (size_t i = threadIdx.x; i < v.n; i += blockDim.x) {
        const uint32_t u = OrderedBits(s[i]);
        if ((u & mask) == prefix) atomicAdd(&histogram[(u >> shift) & 255u], 1u);
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        size_t above = 0;
        int digit = 255;
        for (; digit > 0; --digit) {
          if (above + histogram[digit] >= remaining) break;
          above += histogram[digit];
        }
        remaining -= above;
        prefix |= static_cast<uint32_t>(digit) << shift;
        mask |= 255u << shift;
      }
      __syncthreads();
    }
    // prefix is the k-th largest key; take all above it and the first
    // `remaining` (lowest-index) frames equal to it.
    const uint32_t threshold = prefix;
    const size_t ties_wanted = remaining;
    using Scan = cub::BlockScan<int, kSelectThreads>;
    __shared__ typename Scan::TempStorage scan_storage;
    __shared__ size_t written, ties_seen;
    if (threadIdx.x == 0) {
      written = 0;
      ties_seen = 0;
    }
    __syncthreads();
    for (size_t tile = 0; tile < v.n; tile += blockDim.x) {
      const size_t i = tile + threadIdx.x;
      const uint32_t u = i < v.n ? OrderedBits(s[i]) : 0u;
      const int tie = (i < v.n && u == threshold) ? 1 : 0;
      int tie_rank, tie_total;
      Scan(scan_storage).ExclusiveSum(tie, tie_rank, tie_total);
      __syncthreads();
      const int take = (i < v.n && u > threshold) || (tie && ties_seen + static_cast<size_t>(tie_rank) < ties_wanted) ? 1 : 0;
      int pos, total;
      Scan(scan_storage).ExclusiveSum(take, pos, total);
      if (take) {
        row[written + pos] = static_cast<int32_t>(i);
        row_scores[written + pos] = s[i];
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        written += static_cast<size_t>(total);
        ties_seen += static_cast<size_t>(tie_total);
      }
      __syncthreads();
    }
  }
  Pad(row, row_scores, v.k, kmax);
}

// The best (largest key) frame of the video whose state is 0, or 0 if none.
__device__ uint64_t BestFreeKey(const float* s, const uint8_t* state, size_t n) {
  using Reduce = cub::BlockReduce<unsigned long long, kSelectThreads>;
  __shared__ typename Reduce::TempStorage storage;
  __shared__ unsigned long long best;
  unsigned long long mine = 0;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
    if (state[i] == 0) {
      const unsigned long long key = FrameKey(s[i], static_cast<uint32_t>(i));
      mine = key > mine ? key : mine;
    }
  }
  const unsigned long long total = Reduce(storage).Reduce(mine, MaxOp());
  if (threadIdx.x == 0) best = total;
  __syncthreads();
  const unsigned long long out = best;
  __syncthreads();
  return out;
}

// topk-gap: state 0 free, 1 within minGap - 1 of an accepted frame, 2 accepted.
// `state` is the video's zeroed scratch.
__global__ void TopkGapKernel(int32_t* indices, float* scores, uint8_t* state_all, const float* relevance,
                              const int32_t* offsets, const int32_t* budgets, int32_t budget, int64_t gap,
                              size_t kmax) {
  const VideoRange v = RangeOf(offsets, budgets, budget, true);
  int32_t* row = indices + blockIdx.x * kmax;
  float* row_scores = scores + blockIdx.x * kmax;
  const float* s = relevance + v.begin;
  uint8_t* state = state_all + v.begin;
  for (size_t accepted = 0; accepted < v.k; ++accepted) {
    const uint64_t key = BestFreeKey(s, state, v.n);
    if (key == 0) break;
    const int64_t i = static_cast<int64_t>(FrameKeyIndex(key));
    const int64_t lo = i - gap + 1 > 0 ? i - gap + 1 : 0;
    const int64_t hi = i + gap - 1 < static_cast<int64_t>(v.n) - 1 ? i + gap - 1 : static_cast<int64_t>(v.n) - 1;
    for (int64_t m = lo + threadIdx.x; m <= hi; m += blockDim.x) state[m] = 1;
    __syncthreads();
    if (threadIdx.x == 0) state[i] = 2;
    __syncthreads();
  }
  const size_t count = CompactInOrder(row, row_scores, relevance, v.begin, v.n,
                                      [&](size_t i) { return state[i] == 2; });
  Pad(row, row_scores, count, kmax);
}

// mmr, eager: after each pick, every unselected frame's max cosine is
// updated against it (a half-warp per frame) and the best objective (then
// lowest index) is picked. state: 0 unselected, 2 selected; maxcos scratch.
__global__ void MmrKernel(int32_t* indices, float* scores, uint8_t* state_all, double* maxcos_all,
                          const float* relevance, const double* norms, const float* embeddings,
                          const int32_t* offsets, const int32_t* budgets, int32_t budget, int D, double lambda,
                          double rest, size_t kmax) {
  const VideoRange v = RangeOf(offsets, budgets, budget, true);
  int32_t* row = indices + blockIdx.x * kmax;
  float* row_scores = scores + blockIdx.x * kmax;
  const float* s = relevance + v.begin;
  uint8_t* state = state_all + v.begin;
  double* maxcos = maxcos_all + v.begin;
  __shared__ double best_objective[kHalfWarps];
  __shared__ long long best_index[kHalfWarps];
  __shared__ long long last;
  if (v.k > 0) {
    const uint64_t first = BestFreeKey(s, state, v.n);
    if (threadIdx.x == 0) {
      last = FrameKeyIndex(first);
      state[last] = 2;
    }
    __syncthreads();
  }
  const int lane = threadIdx.x & 15;
  const unsigned hw = threadIdx.x >> 4;
  for (size_t chosen = 1; chosen < v.k; ++chosen) {
    const size_t j = v.begin + static_cast<size_t>(last);
    const float* e_j = embeddings + j * D;
    double objective = 0.0;
    long long index = -1;
    // All half-warps of a warp run the same number of rounds (warp-uniform shuffles).
    const size_t rounds = (v.n + kHalfWarps - 1) / kHalfWarps;
    for (size_t r = 0; r < rounds; ++r) {
      const size_t i = r * kHalfWarps + hw;
      const bool valid = i < v.n;
      const size_t f = v.begin + (valid ? i : 0);
      double unused;
      const double dot = HalfWarpDot<false>(embeddings + f * D, e_j, D, lane, &unused);
      if (valid && state[i] == 0) {
        const double cosine = FrameCosine(dot, norms[f], norms[j]);
        const double m = (chosen == 1 || cosine > maxcos[i]) ? cosine : maxcos[i];
        const double o = MmrObjective(s[i], m, lambda, rest);
        if (index < 0 || o > objective) {
          objective = o;
          index = static_cast<long long>(i);
        }
        if (lane == 0) maxcos[i] = m;
      }
    }
    if (lane == 0) {
      best_objective[hw] = objective;
      best_index[hw] = index;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      long long pick = -1;
      double pick_objective = 0.0;
      for (unsigned h = 0; h < kHalfWarps; ++h) {
        const long long c = best_index[h];
        if (c < 0) continue;
        const double o = best_objective[h];
        if (pick < 0 || o > pick_objective || (o == pick_objective && c < pick)) {
          pick = c;
          pick_objective = o;
        }
      }
      last = pick;
      state[pick] = 2;
    }
    __syncthreads();
  }
  const size_t count = v.k == 0 ? 0
                                : CompactInOrder(row, row_scores, relevance, v.begin, v.n,
                                                 [&](size_t i) { return state[i] == 2; });
  Pad(row, row_scores, count, kmax);
}

// bolt: weights in parallel, their cumulative sum in ascending frame order on
// one thread (the order the CPU sums in), then a binary search per target.
__global__ void BoltKernel(int32_t* indices, float* scores, double* cumulative_all, const float* relevance,
                           const int32_t* offsets, const int32_t* budgets, int32_t budget, double alpha,
                           size_t kmax) {
  const VideoRange v = RangeOf(offsets, budgets, budget, false);
  int32_t* row = indices + blockIdx.x * kmax;
  float* row_scores = scores + blockIdx.x * kmax;
  if (v.k > 0) {
    const float* s = relevance + v.begin;
    double* cum = cumulative_all + v.begin;
    using Reduce = cub::BlockReduce<float, kSelectThreads>;
    __shared__ typename Reduce::TempStorage storage;
    __shared__ float lo, hi;
    float mine_lo = s[0], mine_hi = s[0];
    for (size_t i = threadIdx.x; i < v.n; i += blockDim.x) {
      mine_lo = fminf(mine_lo, s[i]);
      mine_hi = fmaxf(mine_hi, s[i]);
    }
    const float block_lo = Reduce(storage).Reduce(mine_lo, MinOp());
    __syncthreads();
    const float block_hi = Reduce(storage).Reduce(mine_hi, MaxOp());
    if (threadIdx.x == 0) {
      lo = block_lo;
      hi = block_hi;
    }
    __syncthreads();
    for (size_t i = threadIdx.x; i < v.n; i += blockDim.x) cum[i] = BoltWeight(s[i], lo, hi, alpha);
    __syncthreads();
    if (threadIdx.x == 0) {
      double sum = 0.0;
      for (size_t i = 0; i < v.n; ++i) {
        sum = __dadd_rn(sum, cum[i]);
        cum[i] = sum;
      }
    }
    __syncthreads();
    const double total = cum[v.n - 1];
    for (size_t j = threadIdx.x; j < v.k; j += blockDim.x) {
      const double u = BoltTarget(static_cast<int64_t>(j), static_cast<int64_t>(v.k));
      size_t a = 0, b = v.n;
      while (a < b) {
        const size_t mid = a + (b - a) / 2;
        if (ExactDiv(cum[mid], total) >= u) b = mid; else a = mid + 1;
      }
      const size_t i = a < v.n - 1 ? a : v.n - 1;
      row[j] = static_cast<int32_t>(i);
      row_scores[j] = s[i];
    }
  }
  Pad(row, row_scores, v.k, kmax);
}

// Device-resident inputs and scratch of one call.
struct DeviceFrames {
  DeviceBuffer<float> embeddings, queries, relevance;
  DeviceBuffer<int32_t> offsets, budgets;
  DeviceBuffer<double> qd, q_norm, norms;
  DeviceBuffer<unsigned long long> flags;
};

template <typename T>
void UploadTo(DeviceBuffer<T>& buffer, const T* host, size_t count) {
  buffer.Resize(count);
  buffer.Upload(host, count);
}

void Upload(DeviceFrames& d, const FrameBatch& batch, const FrameOptions* o) {
  UploadTo(d.embeddings, batch.embeddings, batch.frames * batch.dim);
  UploadTo(d.queries, batch.queries, batch.videos * batch.dim);
  UploadTo(d.offsets, batch.frame_offsets, batch.videos + 1);
  if (o && o->budgets) UploadTo(d.budgets, o->budgets, batch.videos);
  d.qd.Resize(batch.videos * batch.dim);
  d.q_norm.Resize(batch.videos);
  d.relevance.Resize(batch.frames);
  const unsigned long long none[2] = {kNoFlag, kNoFlag};
  UploadTo(d.flags, none, 2);
}

unsigned ScoreBlocks(size_t frames) {
  static const unsigned most = [] {
    int device = 0, sms = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    return static_cast<unsigned>(std::max(1, sms) * 16);
  }();
  const size_t wanted = (frames + kScoreThreads / 16 - 1) / (kScoreThreads / 16);
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(wanted, most)));
}

// Launches the query and scoring kernels (no synchronisation).
void LaunchScoring(DeviceFrames& d, const FrameBatch& batch, bool normalize, bool want_norms) {
  const int videos = static_cast<int>(batch.videos), D = static_cast<int>(batch.dim);
  if (videos > 0) {
    QueryKernel<<<BlocksFor(batch.videos * 16, kScoreThreads), kScoreThreads>>>(d.qd.get(), d.q_norm.get(),
                                                                               d.queries.get(), videos, D);
    PV_CUDA_LAUNCH_CHECK();
  }
  if (batch.frames == 0) return;
  const unsigned blocks = ScoreBlocks(batch.frames);
  if (normalize || want_norms) {
    if (want_norms) d.norms.Resize(batch.frames);
    ScoreKernel<true><<<blocks, kScoreThreads>>>(d.relevance.get(), want_norms ? d.norms.get() : nullptr,
                                                 d.flags.get(), d.embeddings.get(), d.offsets.get(), videos,
                                                 d.qd.get(), d.q_norm.get(), batch.frames, D, normalize);
  } else {
    ScoreKernel<false><<<blocks, kScoreThreads>>>(d.relevance.get(), nullptr, d.flags.get(), d.embeddings.get(),
                                                  d.offsets.get(), videos, d.qd.get(), d.q_norm.get(),
                                                  batch.frames, D, normalize);
  }
  PV_CUDA_LAUNCH_CHECK();
}

// Throws the error of the first flagged frame, if any.
void CheckFlags(const DeviceFrames& d, const FrameBatch& batch, bool overflow_is_error) {
  unsigned long long flags[2];
  d.flags.Download(flags, 2);
  if (flags[0] != kNoFlag) ReportNonFiniteFrame(batch, static_cast<size_t>(flags[0]));
  if (overflow_is_error && flags[1] != kNoFlag) ReportRelevanceOverflow(batch, static_cast<size_t>(flags[1]));
}

// Scratch of the selection kernels.
struct SelectScratch {
  DeviceBuffer<uint8_t> state;
  DeviceBuffer<double> values;
};

// Launches the selection kernel of the mode (no synchronisation).
void LaunchSelection(int32_t* d_indices, float* d_scores, DeviceFrames& d, SelectScratch& scratch,
                     const FrameBatch& batch, const FrameOptions& o, size_t kmax) {
  const unsigned videos = static_cast<unsigned>(batch.videos);
  const int32_t* budgets = o.budgets ? d.budgets.get() : nullptr;
  const size_t N = batch.frames;
  switch (o.mode) {
    case FrameMode::kUniform:
      UniformKernel<<<videos, kSelectThreads>>>(d_indices, d_scores, d.relevance.get(), d.offsets.get(), budgets,
                                                o.budget, kmax);
      break;
    case FrameMode::kTopk:
      TopkKernel<<<videos, kSelectThreads>>>(d_indices, d_scores, d.relevance.get(), d.offsets.get(), budgets,
                                             o.budget, kmax);
      break;
    case FrameMode::kTopkGap:
      if (o.min_gap <= 1) {
        TopkKernel<<<videos, kSelectThreads>>>(d_indices, d_scores, d.relevance.get(), d.offsets.get(), budgets,
                                               o.budget, kmax);
        break;
      }
      if (scratch.state.size() < std::max<size_t>(N, 1)) scratch.state.Resize(std::max<size_t>(N, 1));
      scratch.state.Zero();
      TopkGapKernel<<<videos, kSelectThreads>>>(d_indices, d_scores, scratch.state.get(), d.relevance.get(),
                                                d.offsets.get(), budgets, o.budget, o.min_gap, kmax);
      break;
    case FrameMode::kMmr:
      if (scratch.state.size() < std::max<size_t>(N, 1)) scratch.state.Resize(std::max<size_t>(N, 1));
      if (scratch.values.size() < std::max<size_t>(N, 1)) scratch.values.Resize(std::max<size_t>(N, 1));
      scratch.state.Zero();
      MmrKernel<<<videos, kSelectThreads>>>(d_indices, d_scores, scratch.state.get(), scratch.values.get(),
                                            d.relevance.get(), N > 0 ? d.norms.get() : nullptr, d.embeddings.get(),
                                            d.offsets.get(), budgets, o.budget, static_cast<int>(batch.dim),
                                            o.lambda, 1.0 - o.lambda, kmax);
      break;
    case FrameMode::kBolt:
      if (scratch.values.size() < std::max<size_t>(N, 1)) scratch.values.Resize(std::max<size_t>(N, 1));
      BoltKernel<<<videos, kSelectThreads>>>(d_indices, d_scores, scratch.values.get(), d.relevance.get(),
                                             d.offsets.get(), budgets, o.budget, o.alpha, kmax);
      break;
  }
  PV_CUDA_LAUNCH_CHECK();
}

class CudaFrameKernels final : public FrameKernels {
 public:
  void FrameRelevance(float* relevance, const FrameBatch& batch, bool normalize) override {
    ValidateFrameBatch(batch);
    if (batch.frames == 0) return;
    DeviceFrames d;
    Upload(d, batch, nullptr);
    LaunchScoring(d, batch, normalize, false);
    CheckFlags(d, batch, false);
    d.relevance.Download(relevance, batch.frames);
  }

  void SelectFrames(int32_t* indices, float* scores, const FrameBatch& batch, const FrameOptions& o,
                    size_t kmax) override {
    ValidateFrameBatch(batch);
    ValidateFrameOptions(batch, o, kmax);
    if (batch.videos == 0) return;
    DeviceFrames d;
    Upload(d, batch, &o);
    LaunchScoring(d, batch, o.normalize, o.mode == FrameMode::kMmr);
    CheckFlags(d, batch, true);
    const size_t slots = batch.videos * kmax;
    if (slots == 0) return;
    DeviceBuffer<int32_t> d_indices(slots);
    DeviceBuffer<float> d_scores(slots);
    SelectScratch scratch;
    LaunchSelection(d_indices.get(), d_scores.get(), d, scratch, batch, o, kmax);
    d_indices.Download(indices, slots);
    d_scores.Download(scores, slots);
  }
};

}  // namespace
}  // namespace cuda

FrameKernels& CudaFrames() {
  static cuda::CudaFrameKernels kernels;
  return kernels;
}

CudaFrameTiming TimeCudaFrames(const FrameBatch& batch, const FrameOptions& o, size_t kmax, int repeats) {
  using namespace cuda;
  ValidateFrameBatch(batch);
  ValidateFrameOptions(batch, o, kmax);
  CudaFrameTiming timing;
  if (batch.videos == 0 || batch.frames == 0) return timing;
  DeviceFrames d;
  Upload(d, batch, &o);
  const size_t slots = std::max<size_t>(1, batch.videos * kmax);
  DeviceBuffer<int32_t> d_indices(slots);
  DeviceBuffer<float> d_scores(slots);
  SelectScratch scratch;
  cudaEvent_t start, scored, stop;
  PV_CUDA_CHECK(cudaEventCreate(&start));
  PV_CUDA_CHECK(cudaEventCreate(&scored));
  PV_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> score_ms, total_ms;
  for (int r = -1; r < repeats; ++r) {  // r = -1 warms up
    PV_CUDA_CHECK(cudaEventRecord(start));
    LaunchScoring(d, batch, o.normalize, o.mode == FrameMode::kMmr);
    PV_CUDA_CHECK(cudaEventRecord(scored));
    if (batch.videos * kmax > 0) LaunchSelection(d_indices.get(), d_scores.get(), d, scratch, batch, o, kmax);
    PV_CUDA_CHECK(cudaEventRecord(stop));
    PV_CUDA_CHECK(cudaEventSynchronize(stop));
    float a = 0, b = 0;
    PV_CUDA_CHECK(cudaEventElapsedTime(&a, start, scored));
    PV_CUDA_CHECK(cudaEventElapsedTime(&b, start, stop));
    if (r >= 0) {
      score_ms.push_back(a);
      total_ms.push_back(b);
    }
  }
  CheckFlags(d, batch, true);
  std::sort(score_ms.begin(), score_ms.end());
  std::sort(total_ms.begin(), total_ms.end());
  timing.score_ms = score_ms[score_ms.size() / 2];
  timing.total_ms = total_ms[total_ms.size() / 2];

  // The card's copy rate, counting the bytes read and written, as a yardstick.
  const size_t copy_bytes = size_t(1) << 30;
  DeviceBuffer<char> from(copy_bytes), to(copy_bytes);
  PV_CUDA_CHECK(cudaMemcpy(to.get(), from.get(), copy_bytes, cudaMemcpyDeviceToDevice));
  PV_CUDA_CHECK(cudaEventRecord(start));
  for (int r = 0; r < 5; ++r) PV_CUDA_CHECK(cudaMemcpy(to.get(), from.get(), copy_bytes, cudaMemcpyDeviceToDevice));
  PV_CUDA_CHECK(cudaEventRecord(stop));
  PV_CUDA_CHECK(cudaEventSynchronize(stop));
  float copy_ms = 0;
  PV_CUDA_CHECK(cudaEventElapsedTime(&copy_ms, start, stop));
  timing.copy_gbs = 5.0 * 2.0 * static_cast<double>(copy_bytes) / (copy_ms * 1e6);
  cudaEventDestroy(start);
  cudaEventDestroy(scored);
  cudaEventDestroy(stop);
  return timing;
}

}  // namespace pv

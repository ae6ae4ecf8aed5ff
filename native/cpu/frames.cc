// CPU backend of frame selection (semantics.md section 7); the dispatch and
// the validation shared with the CUDA backend are in core/frames.cc.
//
// Work plan of one call:
//   1. the frames of all videos are cut into segments (a whole short video, or
//      a piece of a long one) and scored in parallel (one frame at a time,
//      four when the norms are needed too), with the canonical float64 dot
//      product of core/frames.h, the stream prefetched about 16 KiB ahead;
//   2. topk is fused into that pass: each segment keeps the keys of its best
//      min(k, length) frames in a small buffer, merged per video at the end;
//      the other modes keep the relevance of every frame and select per video
//      (in parallel over videos).
// No allocation happens inside a parallel region (every scratch buffer is
// sized beforehand), and errors found there are reported after it.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/device.h"
#include "core/frames.h"
#include "core/scoring.h"

namespace pv {

namespace {

constexpr size_t kLanes = 16;
constexpr size_t kNone = std::numeric_limits<size_t>::max();

// The canonical butterfly: lane l + lane (l ^ 8), then ^ 4, ^ 2, ^ 1.
inline double CombineLanes(const double* lane) {
  double a[8], b[4];
  for (int l = 0; l < 8; ++l) a[l] = lane[l] + lane[l + 8];
  for (int l = 0; l < 4; ++l) b[l] = a[l] + a[l + 4];
  const double c0 = b[0] + b[2], c1 = b[1] + b[3];
  return c0 + c1;
}

// dot[f] = dot(rows[f], q) for F rows at once (independent accumulators hide
// the add latency); with kSquares also sq[f] = dot(rows[f], rows[f]). Lane l
// sums the elements j = l (mod 16) in ascending j, as on every backend. This
// portable version is the definition; DotRows below picks the AVX-512 one
// where the build has it (same lanes, same order, same bits).
template <int F, bool kSquares, typename Q>
inline void DotRowsPortable(double* dot, double* sq, const float* const* rows, const Q* q, size_t D) {
  double acc[F][kLanes], acc_sq[kSquares ? F : 1][kLanes];
  for (int f = 0; f < F; ++f)
    for (size_t l = 0; l < kLanes; ++l) {
      acc[f][l] = 0.0;
      if (kSquares) acc_sq[kSquares ? f : 0][l] = 0.0;
    }
  size_t j = 0;
  for (; j + kLanes <= D; j += kLanes) {
    double qv[kLanes];
    for (size_t l = 0; l < kLanes; ++l) qv[l] = static_cast<double>(q[j + l]);
    for (int f = 0; f < F; ++f) {
      const float* r = rows[f] + j;
      for (size_t l = 0; l < kLanes; ++l) {
        const double e = static_cast<double>(r[l]);
        acc[f][l] += e * qv[l];
        if (kSquares) acc_sq[kSquares ? f : 0][l] += e * e;
      }
    }
  }
  for (; j < D; ++j) {
    const double qj = static_cast<double>(q[j]);
    for (int f = 0; f < F; ++f) {
      const double e = static_cast<double>(rows[f][j]);
      acc[f][j % kLanes] += e * qj;
      if (kSquares) acc_sq[kSquares ? f : 0][j % kLanes] += e * e;
    }
  }
  for (int f = 0; f < F; ++f) {
    dot[f] = CombineLanes(acc[f]);
    if (kSquares) sq[f] = CombineLanes(acc_sq[kSquares ? f : 0]);
  }
}

#if defined(__AVX512F__)
// GCC 12 warns inside its own AVX-512 headers (their _mm512_undefined_pd
// pass-through operands) wherever these intrinsics are inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// lanes 0-7 in `lo`, 8-15 in `hi`; the butterfly of CombineLanes.
inline double CombineLanes512(__m512d lo, __m512d hi) {
  const __m512d a = _mm512_add_pd(lo, hi);
  const __m256d b = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1));
  const __m128d c = _mm_add_pd(_mm256_castpd256_pd128(b), _mm256_extractf128_pd(b, 1));
  return _mm_cvtsd_f64(_mm_add_sd(c, _mm_unpackhi_pd(c, c)));
}

// The product of two float32 values is exact in float64, so the fused
// multiply-add rounds exactly as the portable multiply-then-add does.
inline __m512d Load8(const double* p) { return _mm512_loadu_pd(p); }
inline __m512d Load8(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
inline __m512d Load8(const double* p, __mmask8 m) { return _mm512_maskz_loadu_pd(m, p); }
inline __m512d Load8(const float* p, __mmask8 m) { return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, p)); }

template <int F, bool kSquares, typename Q>
inline void DotRows(double* dot, double* sq, const float* const* rows, const float* const* ahead, const Q* q,
                    size_t D) {
  __m512d lo[F], hi[F], sq_lo[F], sq_hi[F];
  for (int f = 0; f < F; ++f) lo[f] = hi[f] = sq_lo[f] = sq_hi[f] = _mm512_setzero_pd();
  size_t j = 0;
  for (; j + kLanes <= D; j += kLanes) {
    const __m512d q0 = Load8(q + j), q1 = Load8(q + j + 8);
    for (int f = 0; f < F; ++f) {
      // The same column of a row further on (the caller's `ahead`, RowsAhead
      // rows on): every line of the stream is requested that far before it
      // is read.
      _mm_prefetch(reinterpret_cast<const char*>(ahead[f] + j), _MM_HINT_T0);
      const __m512d e0 = _mm512_cvtps_pd(_mm256_loadu_ps(rows[f] + j));
      const __m512d e1 = _mm512_cvtps_pd(_mm256_loadu_ps(rows[f] + j + 8));
      lo[f] = _mm512_fmadd_pd(e0, q0, lo[f]);
      hi[f] = _mm512_fmadd_pd(e1, q1, hi[f]);
      if (kSquares) {
        sq_lo[f] = _mm512_fmadd_pd(e0, e0, sq_lo[f]);
        sq_hi[f] = _mm512_fmadd_pd(e1, e1, sq_hi[f]);
      }
    }
  }
  if (j < D) {
    // Tail: lanes past D keep their sums (mask3 leaves them untouched).
    const size_t rest = D - j;
    const __mmask8 m0 = static_cast<__mmask8>((1u << std::min<size_t>(rest, 8)) - 1);
    const __mmask8 m1 = static_cast<__mmask8>(rest > 8 ? (1u << (rest - 8)) - 1 : 0);
    const __m512d q0 = Load8(q + j, m0), q1 = Load8(q + j + 8, m1);
    for (int f = 0; f < F; ++f) {
      const __m512d e0 = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m0, rows[f] + j));
      const __m512d e1 = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m1, rows[f] + j + 8));
      lo[f] = _mm512_mask3_fmadd_pd(e0, q0, lo[f], m0);
      hi[f] = _mm512_mask3_fmadd_pd(e1, q1, hi[f], m1);
      if (kSquares) {
        sq_lo[f] = _mm512_mask3_fmadd_pd(e0, e0, sq_lo[f], m0);
        sq_hi[f] = _mm512_mask3_fmadd_pd(e1, e1, sq_hi[f], m1);
      }
    }
  }
  for (int f = 0; f < F; ++f) {
    dot[f] = CombineLanes512(lo[f], hi[f]);
    if (kSquares) sq[f] = CombineLanes512(sq_lo[f], sq_hi[f]);
  }
}
#pragma GCC diagnostic pop
#else
template <int F, bool kSquares, typename Q>
inline void DotRows(double* dot, double* sq, const float* const* rows, const float* const* ahead, const Q* q,
                    size_t D) {
  DotRowsPortable<F, kSquares>(dot, sq, rows, q, D);
}
#endif

inline double Dot(const float* a, const float* b, size_t D) {
  double dot, unused;
  const float* rows[1] = {a};
  const float* ahead[1] = {a};  // a single row: nothing further to request
  DotRows<1, false>(&dot, &unused, rows, ahead, b, D);
  return dot;
}

// Elements of 8 bytes between the starts of two threads' scratch regions of n
// elements each: n rounded up to 128 bytes, plus 128 bytes, so that no cache
// line (nor the pair the adjacent-line prefetcher fetches together) holds
// scratch of two threads, whatever the alignment of the buffer.
inline size_t ScratchStride(size_t n) { return (n + 15) / 16 * 16 + 16; }

// How many rows ahead of the one being scored the stream is requested: about
// 16 KiB of embeddings whatever the dimension, and at least one pass of F rows
// (docs/frames.md, "Prefetch distance", has the measurements behind it).
constexpr size_t kPrefetchBytes = 16 * 1024;
inline size_t RowsAhead(size_t D, int F) {
  return std::max<size_t>(static_cast<size_t>(F), kPrefetchBytes / (D * sizeof(float)));
}

// A contiguous run of frames of one video: [begin, end) in global frame numbers.
struct Segment {
  size_t video;
  size_t begin, end;
};

// Threads of a parallel region over `items` independent pieces of work: no
// more than there are pieces (a region over one segment runs on the calling
// thread alone instead of waking a team that has nothing to do, which costs
// tens of milliseconds on a loaded machine). The work's split does not depend
// on it, so neither do the results.
int TeamFor(size_t items) {
  return static_cast<int>(std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(CpuThreads()), items)));
}

// Frames of one unit of parallel work: about 1/8 of a thread's share, and at
// least about 1 MiB of embeddings.
size_t PieceFrames(const FrameBatch& batch, int threads) {
  const size_t min_frames = std::max<size_t>(64, (size_t(1) << 18) / batch.dim);
  const size_t target = static_cast<size_t>(std::max(1, threads)) * 8;
  return std::max(min_frames, (batch.frames + target - 1) / target);
}

// A video longer than a piece is cut into pieces; a shorter one is one segment.
std::vector<Segment> MakeSegments(const FrameBatch& batch, int threads) {
  const size_t piece = PieceFrames(batch, threads);
  const size_t target = static_cast<size_t>(std::max(1, threads)) * 8;
  std::vector<Segment> segments;
  segments.reserve(batch.videos + target);
  for (size_t b = 0; b < batch.videos; ++b) {
    const size_t begin = static_cast<size_t>(batch.frame_offsets[b]);
    const size_t end = static_cast<size_t>(batch.frame_offsets[b + 1]);
    const size_t n = end - begin;
    if (n == 0) continue;
    const size_t pieces = (n + piece - 1) / piece;
    for (size_t p = 0; p < pieces; ++p)
      segments.push_back({b, begin + n * p / pieces, begin + n * (p + 1) / pieces});
  }
  return segments;
}

// The units of parallel work: runs of consecutive segments, segments
// runs[w] .. runs[w + 1] - 1 for unit w, each run closed once it holds a
// piece of frames. A long video's pieces are one run each; short videos are
// grouped, so that a thread streams through contiguous memory (and the
// prefetch of the next rows stays useful across videos) rather than hopping
// between videos the other thread interleaves with its own.
std::vector<size_t> MakeRuns(const std::vector<Segment>& segments, size_t piece) {
  std::vector<size_t> runs(1, 0);
  size_t frames = 0;
  for (size_t s = 0; s < segments.size(); ++s) {
    frames += segments[s].end - segments[s].begin;
    if (frames >= piece || s + 1 == segments.size()) {
      runs.push_back(s + 1);
      frames = 0;
    }
  }
  return runs;
}

struct ScoreFlags {
  size_t nonfinite = kNone;  // first frame with a non-finite dot product or norm
  size_t overflow = kNone;   // first frame whose relevance rounds to +-inf in float32
};

// Scores the frames of one segment and calls sink(frame, relevance) for each
// in ascending order. `qd` is scratch for the query in float64 [D]. With
// kSquares the embedding norms are computed (for normalize and for mmr) and
// stored in norms[frame] when norms is not null.
template <bool kSquares, typename Sink>
void ScoreSegment(const FrameBatch& batch, const Segment& seg, bool normalize, double* qd, double* norms,
                  ScoreFlags& flags, Sink&& sink) {
  const size_t D = batch.dim;
  const float* q = batch.queries + seg.video * D;
  for (size_t j = 0; j < D; ++j) qd[j] = static_cast<double>(q[j]);
  const double q_norm = normalize ? std::sqrt(Dot(q, q, D)) : 0.0;
  // Rows scored together (each row's sums run in the same order whatever F, so
  // F changes no bit): the plain scores one row at a time, which reads the
  // embeddings as one stream (faster than 8 rows side by side on the VM where
  // it was measured, docs/frames.md); with the squares, 4 rows share each
  // query load.
  constexpr int F = kSquares ? 4 : 1;
  double dot[F] = {}, sq[F] = {};
  size_t i = seg.begin;
  auto emit = [&](size_t frame, double d, double s2) {
    if (!std::isfinite(d) || (kSquares && !std::isfinite(s2))) {
      flags.nonfinite = std::min(flags.nonfinite, frame);
      sink(frame, 0.0f);
      return;
    }
    float r;
    if (kSquares) {
      const double norm = std::sqrt(s2);
      if (norms) norms[frame] = norm;
      r = normalize ? CosineRelevance(d, norm, q_norm) : RelevanceFromDot(d);
    } else {
      r = RelevanceFromDot(d);
    }
    if (std::isinf(r)) flags.overflow = std::min(flags.overflow, frame);
    sink(frame, r);
  };
  const size_t last = batch.frames - 1;
  const size_t distance = RowsAhead(D, F);
  for (; i + F <= seg.end; i += F) {
    const float* rows[F];
    const float* ahead[F];
    for (int f = 0; f < F; ++f) {
      rows[f] = batch.embeddings + (i + f) * D;
      ahead[f] = batch.embeddings + std::min(i + f + distance, last) * D;
    }
    DotRows<F, kSquares>(dot, sq, rows, ahead, qd, D);
    for (int f = 0; f < F; ++f) emit(i + f, dot[f], sq[f]);
  }
  for (; i < seg.end; ++i) {
    const float* rows[1] = {batch.embeddings + i * D};
    const float* ahead[1] = {batch.embeddings + std::min(i + distance, last) * D};
    DotRows<1, kSquares>(dot, sq, rows, ahead, qd, D);
    emit(i, dot[0], sq[0]);
  }
}

template <typename Sink>
void ScoreSegmentAny(const FrameBatch& batch, const Segment& seg, bool normalize, bool want_norms, double* qd,
                     double* norms, ScoreFlags& flags, Sink&& sink) {
  if (normalize || want_norms)
    ScoreSegment<true>(batch, seg, normalize, qd, norms, flags, sink);
  else
    ScoreSegment<false>(batch, seg, normalize, qd, norms, flags, sink);
}

// relevance[N] of every frame (and norms[N] when not null); returns the flags.
ScoreFlags ScoreAll(float* relevance, double* norms, const FrameBatch& batch, bool normalize) {
  const std::vector<Segment> segments = MakeSegments(batch, CpuThreads());
  const std::vector<size_t> runs = MakeRuns(segments, PieceFrames(batch, CpuThreads()));
  const long count = static_cast<long>(runs.size() - 1);
  const int threads = TeamFor(runs.size() - 1);
  std::vector<double> qd_all(static_cast<size_t>(threads) * ScratchStride(batch.dim));
  size_t nonfinite = kNone, overflow = kNone;
#pragma omp parallel num_threads(threads) reduction(min : nonfinite, overflow)
  {
    const int t = TeamThreadIndex();
    double* qd = qd_all.data() + static_cast<size_t>(t) * ScratchStride(batch.dim);
#pragma omp for schedule(dynamic, 1)
    for (long w = 0; w < count; ++w) {
      for (size_t s = runs[w]; s < runs[w + 1]; ++s) {
        ScoreFlags flags;
        ScoreSegmentAny(batch, segments[s], normalize, norms != nullptr, qd, norms, flags,
                        [&](size_t frame, float r) { relevance[frame] = r; });
        nonfinite = std::min(nonfinite, flags.nonfinite);
        overflow = std::min(overflow, flags.overflow);
      }
    }
  }
  ScoreFlags flags;
  flags.nonfinite = nonfinite;
  flags.overflow = overflow;
  return flags;
}

// The best `cap` of a stream of distinct keys (a segment's frames: the frame
// index is part of the key), in a buffer of BestKeys::Room(cap) slots: a key
// at or above the threshold (the cap-th best of the last compaction, 0 before
// the first) is stored without a branch; a full buffer is cut back to its best
// cap by nth_element. A binary heap costs a sift per key that enters, with
// branches that do not predict, during which the memory stream waits
// (docs/frames.md has the measurements).
// Kept: the best cap keys, in no particular order (the caller sorts them).
class BestKeys {
 public:
  static size_t Room(size_t cap) { return 2 * cap + 32; }
  BestKeys(uint64_t* buffer, size_t cap) : buf_(buffer), cap_(cap), full_(Room(cap)) {}
  void Add(uint64_t key) {
    buf_[n_] = key;  // n_ < full_ here: a full buffer is cut back at once
    n_ += key >= threshold_ ? 1 : 0;
    if (n_ == full_) Compact();
  }
  // How many keys the buffer's first slots hold: the best min(cap, seen).
  size_t Finish() {
    if (n_ > cap_) Compact();
    return n_;
  }

 private:
  void Compact() {
    std::nth_element(buf_, buf_ + (cap_ - 1), buf_ + n_, std::greater<uint64_t>());
    n_ = cap_;
    threshold_ = buf_[cap_ - 1];
  }
  uint64_t* buf_;
  size_t cap_, full_, n_ = 0;
  uint64_t threshold_ = 0;
};

inline size_t Budget(const FrameOptions& o, size_t b) {
  return static_cast<size_t>(o.budgets ? o.budgets[b] : o.budget);
}

// Writes row b: `count` indices (ascending) and their relevance, then padding.
inline void FillPadding(int32_t* indices, float* scores, size_t count, size_t kmax) {
  for (size_t t = count; t < kmax; ++t) {
    indices[t] = kNoFrame;
    scores[t] = std::numeric_limits<float>::quiet_NaN();
  }
}

struct MmrCandidate {
  double objective;
  int32_t local;    // frame index within the video
  int32_t version;  // how many selected frames its objective accounts for
};
// Heap order: the top is the best candidate (higher objective, then lower index).
inline bool Worse(const MmrCandidate& a, const MmrCandidate& b) {
  return a.objective < b.objective || (a.objective == b.objective && a.local > b.local);
}

class CpuFrameKernels final : public FrameKernels {
 public:
  void FrameRelevance(float* relevance, const FrameBatch& batch, bool normalize) override {
    ValidateFrameBatch(batch);
    const ScoreFlags flags = ScoreAll(relevance, nullptr, batch, normalize);
    if (flags.nonfinite != kNone) ReportNonFiniteFrame(batch, flags.nonfinite);
  }

  void SelectFrames(int32_t* indices, float* scores, const FrameBatch& batch, const FrameOptions& o,
                    size_t kmax) override {
    ValidateFrameBatch(batch);
    ValidateFrameOptions(batch, o, kmax);
    if (o.mode == FrameMode::kTopk || (o.mode == FrameMode::kTopkGap && o.min_gap <= 1)) {
      // With minGap <= 1 every pair of distinct frames is far enough apart:
      // topk-gap accepts exactly the topk frames.
      SelectTopk(indices, scores, batch, o, kmax);
      return;
    }
    const size_t N = batch.frames;
    std::vector<float> relevance(N);
    std::vector<double> norms(o.mode == FrameMode::kMmr ? N : 0);
    const ScoreFlags flags = ScoreAll(relevance.data(), o.mode == FrameMode::kMmr ? norms.data() : nullptr, batch,
                                      o.normalize);
    if (flags.nonfinite != kNone) ReportNonFiniteFrame(batch, flags.nonfinite);
    if (flags.overflow != kNone) ReportRelevanceOverflow(batch, flags.overflow);
    switch (o.mode) {
      case FrameMode::kUniform: SelectUniform(indices, scores, batch, o, kmax, relevance.data()); break;
      case FrameMode::kTopkGap: SelectTopkGap(indices, scores, batch, o, kmax, relevance.data()); break;
      case FrameMode::kMmr: SelectMmr(indices, scores, batch, o, kmax, relevance.data(), norms.data()); break;
      case FrameMode::kBolt: SelectBolt(indices, scores, batch, o, kmax, relevance.data()); break;
      default: Fail("E_INTERNAL", "unhandled frame mode ", static_cast<int>(o.mode));
    }
  }

 private:
  // Fused scoring and selection: each segment keeps its best min(k, length)
  // keys in a min-heap; each video then keeps the best k of its segments'.
  static void SelectTopk(int32_t* indices, float* scores, const FrameBatch& batch, const FrameOptions& o,
                         size_t kmax) {
    const std::vector<Segment> segments = MakeSegments(batch, CpuThreads());
    const std::vector<size_t> runs = MakeRuns(segments, PieceFrames(batch, CpuThreads()));
    const int threads = TeamFor(std::max(segments.size(), static_cast<size_t>(batch.videos)));
    const size_t S = segments.size(), B = batch.videos;
    std::vector<size_t> slot(S + 1, 0);     // candidate slots of each segment
    std::vector<size_t> first(B + 1, 0);    // first segment of each video
    size_t heap_size = 0;
    for (size_t s = 0; s < S; ++s) {
      const size_t cap = std::min(Budget(o, segments[s].video), segments[s].end - segments[s].begin);
      slot[s + 1] = slot[s] + cap;
      heap_size = std::max(heap_size, cap);
    }
    for (size_t s = 0, b = 0; b <= B; ++b) {
      while (s < S && segments[s].video < b) ++s;
      first[b] = s;
    }
    std::vector<uint64_t> keys(slot[S]);
    std::vector<double> qd_all(static_cast<size_t>(threads) * ScratchStride(batch.dim));
    std::vector<uint64_t> heaps(static_cast<size_t>(threads) * ScratchStride(BestKeys::Room(heap_size)));
    // Row b of the output from its segments' keys: the best k, ascending frame index.
    auto finish_video = [&](size_t b) {
      uint64_t* begin = keys.data() + slot[first[b]];
      uint64_t* end = keys.data() + slot[first[b + 1]];
      const size_t n = static_cast<size_t>(batch.frame_offsets[b + 1] - batch.frame_offsets[b]);
      const size_t k = std::min(Budget(o, b), n);
      if (static_cast<size_t>(end - begin) > k) std::nth_element(begin, begin + k, end, std::greater<uint64_t>());
      // Ascending frame index is descending low word.
      std::sort(begin, begin + k, [](uint64_t x, uint64_t y) { return FrameKeyIndex(x) < FrameKeyIndex(y); });
      int32_t* row = indices + b * kmax;
      float* row_scores = scores + b * kmax;
      for (size_t t = 0; t < k; ++t) {
        row[t] = static_cast<int32_t>(FrameKeyIndex(begin[t]));
        row_scores[t] = FrameKeyScore(begin[t]);
      }
      FillPadding(row, row_scores, k, kmax);
    };
    size_t nonfinite = kNone, overflow = kNone;
    const long count = static_cast<long>(runs.size() - 1);
#pragma omp parallel num_threads(threads) reduction(min : nonfinite, overflow)
    {
      const int t = TeamThreadIndex();
      double* qd = qd_all.data() + static_cast<size_t>(t) * ScratchStride(batch.dim);
      uint64_t* heap = heaps.data() + static_cast<size_t>(t) * ScratchStride(BestKeys::Room(heap_size));
#pragma omp for schedule(dynamic, 1)
      for (long w = 0; w < count; ++w) {
        for (size_t s = runs[w]; s < runs[w + 1]; ++s) {
          const Segment& seg = segments[s];
          const size_t cap = slot[s + 1] - slot[s];
          const size_t video_begin = static_cast<size_t>(batch.frame_offsets[seg.video]);
          ScoreFlags flags;
          if (cap == 0) {
            // Nothing to keep; the pass still checks the embeddings.
            ScoreSegmentAny(batch, seg, o.normalize, false, qd, nullptr, flags, [](size_t, float) {});
          } else if (cap == seg.end - seg.begin) {
            // Every frame of the segment is a candidate.
            uint64_t* out = keys.data() + slot[s];
            ScoreSegmentAny(batch, seg, o.normalize, false, qd, nullptr, flags, [&](size_t frame, float r) {
              out[frame - seg.begin] = FrameKey(r, static_cast<uint32_t>(frame - video_begin));
            });
          } else {
            BestKeys best(heap, cap);
            ScoreSegmentAny(batch, seg, o.normalize, false, qd, nullptr, flags, [&](size_t frame, float r) {
              best.Add(FrameKey(r, static_cast<uint32_t>(frame - video_begin)));
            });
            const size_t size = best.Finish();
            std::copy(heap, heap + size, keys.data() + slot[s]);
          }
          nonfinite = std::min(nonfinite, flags.nonfinite);
          overflow = std::min(overflow, flags.overflow);
          // A video that is one segment is finished here, while its keys are in cache
          // (the rows are not returned if an error is reported below).
          if (first[seg.video + 1] - first[seg.video] == 1) finish_video(seg.video);
        }
      }
    }
    if (nonfinite != kNone) ReportNonFiniteFrame(batch, nonfinite);
    if (overflow != kNone) ReportRelevanceOverflow(batch, overflow);

    // The videos cut into several segments, and the empty ones (their rows: padding).
    std::vector<size_t> rest;
    for (size_t b = 0; b < B; ++b)
      if (first[b + 1] - first[b] != 1) rest.push_back(b);
    const long left = static_cast<long>(rest.size());
#pragma omp parallel for num_threads(TeamFor(rest.size())) schedule(dynamic, 16)
    for (long x = 0; x < left; ++x) finish_video(rest[static_cast<size_t>(x)]);
  }

  static void SelectUniform(int32_t* indices, float* scores, const FrameBatch& batch, const FrameOptions& o,
                            size_t kmax, const float* relevance) {
    for (size_t b = 0; b < batch.videos; ++b) {
      const size_t begin = static_cast<size_t>(batch.frame_offsets[b]);
      const size_t n = static_cast<size_t>(batch.frame_offsets[b + 1]) - begin;
      const size_t k = std::min(Budget(o, b), n);
      int32_t* row = indices + b * kmax;
      float* row_scores = scores + b * kmax;
      for (size_t j = 0; j < k; ++j) {
        row[j] = UniformFrame(static_cast<int64_t>(j), static_cast<int64_t>(n), static_cast<int64_t>(k));
        row_scores[j] = relevance[begin + static_cast<size_t>(row[j])];
      }
      FillPadding(row, row_scores, k, kmax);
    }
  }

  // Greedy in descending relevance, rejecting frames closer than minGap to an
  // accepted one. Candidates are ordered lazily: the best `batch` remaining
  // keys are partitioned off and sorted, doubling the batch each round.
  static void SelectTopkGap(int32_t* indices, float* scores, const FrameBatch& batch, const FrameOptions& o,
                            size_t kmax, const float* relevance) {
    const size_t N = batch.frames;
    std::vector<uint64_t> keys(N);
    std::vector<uint8_t> state(N, 0);  // 0 free, 1 too close to an accepted frame, 2 accepted
    const int64_t gap = o.min_gap;
    const long videos = static_cast<long>(batch.videos);
#pragma omp parallel for num_threads(TeamFor(batch.videos)) schedule(dynamic, 1)
    for (long bl = 0; bl < videos; ++bl) {
      const size_t b = static_cast<size_t>(bl);
      const size_t begin = static_cast<size_t>(batch.frame_offsets[b]);
      const size_t n = static_cast<size_t>(batch.frame_offsets[b + 1]) - begin;
      const size_t k = std::min(Budget(o, b), n);
      uint64_t* key = keys.data() + begin;
      uint8_t* st = state.data() + begin;
      for (size_t i = 0; i < n; ++i) key[i] = FrameKey(relevance[begin + i], static_cast<uint32_t>(i));
      size_t accepted = 0, pos = 0, chunk = std::max<size_t>(64, 4 * k);
      while (accepted < k && pos < n) {
        const size_t end = std::min(n, pos + chunk);
        if (end < n) std::nth_element(key + pos, key + end, key + n, std::greater<uint64_t>());
        std::sort(key + pos, key + end, std::greater<uint64_t>());
        for (; pos < end && accepted < k; ++pos) {
          const int64_t i = static_cast<int64_t>(FrameKeyIndex(key[pos]));
          if (st[i] != 0) continue;
          const int64_t lo = std::max<int64_t>(0, i - gap + 1);
          const int64_t hi = std::min<int64_t>(static_cast<int64_t>(n) - 1, i + gap - 1);
          for (int64_t m = lo; m <= hi; ++m) st[m] = 1;
          st[i] = 2;
          ++accepted;
        }
        chunk *= 2;
      }
      int32_t* row = indices + b * kmax;
      float* row_scores = scores + b * kmax;
      size_t t = 0;
      for (size_t i = 0; i < n && t < accepted; ++i) {
        if (st[i] == 2) {
          row[t] = static_cast<int32_t>(i);
          row_scores[t++] = relevance[begin + i];
        }
      }
      FillPadding(row, row_scores, t, kmax);
    }
  }

  // Maximal marginal relevance, greedy. The first frame is the most relevant;
  // every frame's max cosine to it is computed in one parallel pass; the rest
  // of the greedy is lazy: a candidate's objective only falls as frames are
  // selected, so a stale objective is an upper bound, and the candidate on
  // top of the heap is re-scored only against the frames selected since its
  // last update. It is taken when its fresh objective still beats every
  // other bound, which selects exactly the frame the eager greedy would.
  static void SelectMmr(int32_t* indices, float* scores, const FrameBatch& batch, const FrameOptions& o,
                        size_t kmax, const float* relevance, const double* norms) {
    const size_t N = batch.frames, B = batch.videos, D = batch.dim;
    const int threads = CpuThreads();
    std::vector<int32_t> first_pick(B, -1);  // local index of the most relevant frame
    for (size_t b = 0; b < B; ++b) {
      const size_t begin = static_cast<size_t>(batch.frame_offsets[b]);
      const size_t n = static_cast<size_t>(batch.frame_offsets[b + 1]) - begin;
      if (n == 0 || Budget(o, b) == 0) continue;
      uint64_t best = 0;
      for (size_t i = 0; i < n; ++i) best = std::max(best, FrameKey(relevance[begin + i], static_cast<uint32_t>(i)));
      first_pick[b] = static_cast<int32_t>(FrameKeyIndex(best));
    }

    // maxcos[i] = cos(e_i, e_first) for every frame of a video that selects more than one.
    std::vector<double> maxcos(N, 0.0);
    const std::vector<Segment> segments = MakeSegments(batch, threads);
    const std::vector<size_t> runs = MakeRuns(segments, PieceFrames(batch, threads));
    const int team = TeamFor(runs.size() - 1);
    std::vector<double> pick_all(static_cast<size_t>(team) * ScratchStride(D));
    const long count = static_cast<long>(runs.size() - 1);
#pragma omp parallel num_threads(team)
    {
      const int t = TeamThreadIndex();
      double* pick = pick_all.data() + static_cast<size_t>(t) * ScratchStride(D);
#pragma omp for schedule(dynamic, 1)
      for (long w = 0; w < count; ++w) {
        for (size_t s = runs[w]; s < runs[w + 1]; ++s) {
          const Segment& seg = segments[s];
          const size_t begin = static_cast<size_t>(batch.frame_offsets[seg.video]);
          const size_t n = static_cast<size_t>(batch.frame_offsets[seg.video + 1]) - begin;
          if (std::min(Budget(o, seg.video), n) < 2) continue;
          const size_t j = begin + static_cast<size_t>(first_pick[seg.video]);
          const float* e_j = batch.embeddings + j * D;
          for (size_t d = 0; d < D; ++d) pick[d] = static_cast<double>(e_j[d]);
          constexpr int F = 4;
          double dot[F], unused[F];
          size_t i = seg.begin;
          const size_t last = batch.frames - 1;
          const size_t distance = RowsAhead(D, F);
          for (; i + F <= seg.end; i += F) {
            const float* rows[F];
            const float* ahead[F];
            for (int f = 0; f < F; ++f) {
              rows[f] = batch.embeddings + (i + f) * D;
              ahead[f] = batch.embeddings + std::min(i + f + distance, last) * D;
            }
            DotRows<F, false>(dot, unused, rows, ahead, pick, D);
            for (int f = 0; f < F; ++f) maxcos[i + f] = FrameCosine(dot[f], norms[i + f], norms[j]);
          }
          for (; i < seg.end; ++i) {
            const float* rows[1] = {batch.embeddings + i * D};
            const float* ahead[1] = {batch.embeddings + std::min(i + distance, last) * D};
            DotRows<1, false>(dot, unused, rows, ahead, pick, D);
            maxcos[i] = FrameCosine(dot[0], norms[i], norms[j]);
          }
        }
      }
    }

    std::vector<MmrCandidate> heap_all(N);
    std::vector<int32_t> selected_all(N);
    const double lambda = o.lambda, rest = 1.0 - o.lambda;
    const long videos = static_cast<long>(B);
#pragma omp parallel for num_threads(TeamFor(batch.videos)) schedule(dynamic, 1)
    for (long bl = 0; bl < videos; ++bl) {
      const size_t b = static_cast<size_t>(bl);
      const size_t begin = static_cast<size_t>(batch.frame_offsets[b]);
      const size_t n = static_cast<size_t>(batch.frame_offsets[b + 1]) - begin;
      const size_t k = std::min(Budget(o, b), n);
      int32_t* selected = selected_all.data() + begin;
      size_t chosen = 0;
      if (k > 0) selected[chosen++] = first_pick[b];
      if (k > 1) {
        MmrCandidate* heap = heap_all.data() + begin;
        size_t size = 0;
        for (size_t i = 0; i < n; ++i) {
          if (static_cast<int32_t>(i) == first_pick[b]) continue;
          heap[size++] = {MmrObjective(relevance[begin + i], maxcos[begin + i], lambda, rest), static_cast<int32_t>(i), 1};
        }
        std::make_heap(heap, heap + size, Worse);
        while (chosen < k) {
          std::pop_heap(heap, heap + size, Worse);
          MmrCandidate c = heap[--size];
          if (static_cast<size_t>(c.version) < chosen) {
            const size_t i = begin + static_cast<size_t>(c.local);
            double m = maxcos[i];
            for (size_t t = static_cast<size_t>(c.version); t < chosen; ++t) {
              const size_t j = begin + static_cast<size_t>(selected[t]);
              const double cosine =
                  FrameCosine(Dot(batch.embeddings + i * D, batch.embeddings + j * D, D), norms[i], norms[j]);
              if (cosine > m) m = cosine;
            }
            maxcos[i] = m;
            c.objective = MmrObjective(relevance[i], m, lambda, rest);
            c.version = static_cast<int32_t>(chosen);
            if (size > 0 && Worse(c, heap[0])) {
              heap[size++] = c;
              std::push_heap(heap, heap + size, Worse);
              continue;
            }
          }
          selected[chosen++] = c.local;
        }
      }
      std::sort(selected, selected + chosen);
      int32_t* row = indices + b * kmax;
      float* row_scores = scores + b * kmax;
      for (size_t t = 0; t < chosen; ++t) {
        row[t] = selected[t];
        row_scores[t] = relevance[begin + static_cast<size_t>(selected[t])];
      }
      FillPadding(row, row_scores, chosen, kmax);
    }
  }

  // BOLT inverse-transform sampling; k frames per video, duplicates kept.
  static void SelectBolt(int32_t* indices, float* scores, const FrameBatch& batch, const FrameOptions& o,
                         size_t kmax, const float* relevance) {
    std::vector<double> cumulative(batch.frames);
    const long videos = static_cast<long>(batch.videos);
#pragma omp parallel for num_threads(TeamFor(batch.videos)) schedule(dynamic, 1)
    for (long bl = 0; bl < videos; ++bl) {
      const size_t b = static_cast<size_t>(bl);
      const size_t begin = static_cast<size_t>(batch.frame_offsets[b]);
      const size_t n = static_cast<size_t>(batch.frame_offsets[b + 1]) - begin;
      const size_t k = n == 0 ? 0 : Budget(o, b);
      int32_t* row = indices + b * kmax;
      float* row_scores = scores + b * kmax;
      if (k > 0) {
        const float* s = relevance + begin;
        float lo = s[0], hi = s[0];
        for (size_t i = 1; i < n; ++i) {
          lo = std::min(lo, s[i]);
          hi = std::max(hi, s[i]);
        }
        double* cum = cumulative.data() + begin;
        double sum = 0.0;
        for (size_t i = 0; i < n; ++i) {
          sum += BoltWeight(s[i], lo, hi, o.alpha);
          cum[i] = sum;
        }
        const double total = sum;
        for (size_t j = 0; j < k; ++j) {
          const double u = BoltTarget(static_cast<int64_t>(j), static_cast<int64_t>(k));
          // First i with cum[i] / total >= u (the cdf is non-decreasing), clamped to n - 1.
          size_t lo_i = 0, hi_i = n;
          while (lo_i < hi_i) {
            const size_t mid = lo_i + (hi_i - lo_i) / 2;
            if (cum[mid] / total >= u) hi_i = mid; else lo_i = mid + 1;
          }
          row[j] = static_cast<int32_t>(std::min(lo_i, n - 1));
        }
        std::sort(row, row + k);
        for (size_t j = 0; j < k; ++j) row_scores[j] = s[row[j]];
      }
      FillPadding(row, row_scores, k, kmax);
    }
  }
};

}  // namespace

FrameKernels& CpuFrames() {
  static CpuFrameKernels kernels;
  return kernels;
}

}  // namespace pv

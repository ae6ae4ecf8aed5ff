// Standalone check of frame selection: the CPU relevance against a scalar
// version of the canonical summation order of core/frames.h (bitwise), CUDA
// against CPU on the same seeded batches (bitwise: indices and relevance), and
// timings: CPU per call, and on the GPU the kernels alone on device-resident
// data with the fraction of the card's measured copy rate.
//
//   ./build-check/pyvision_check frames        this family only
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "check/check.h"
#include "core/device.h"
#include "core/frames.h"

namespace pv {
namespace check {
namespace {

struct Batch {
  std::vector<float> embeddings, queries;
  std::vector<int32_t> offsets;
  size_t dim = 0;
  FrameBatch view() const {
    FrameBatch b;
    b.embeddings = embeddings.data();
    b.frame_offsets = offsets.data();
    b.queries = queries.data();
    b.videos = offsets.size() - 1;
    b.frames = static_cast<size_t>(offsets.back());
    b.dim = dim;
    return b;
  }
};

// Fast deterministic values in [-0.5, 0.5) (the big timing batches hold 1e9 of them).
void Fill(std::vector<float>& out, uint32_t seed) {
  uint32_t x = seed;
  for (float& v : out) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<float>(x) / 4294967296.0f - 0.5f;
  }
}

Batch MakeBatch(const std::vector<int32_t>& lengths, size_t dim, uint32_t seed) {
  Batch b;
  b.dim = dim;
  b.offsets.assign(lengths.size() + 1, 0);
  for (size_t v = 0; v < lengths.size(); ++v) b.offsets[v + 1] = b.offsets[v] + lengths[v];
  b.embeddings.resize(static_cast<size_t>(b.offsets.back()) * dim);
  b.queries.resize(lengths.size() * dim);
  Fill(b.embeddings, seed);
  Fill(b.queries, seed * 7 + 1);
  return b;
}

// The canonical order, one scalar at a time (the definition in core/frames.h).
double CanonicalDot(const float* a, const float* b, size_t D) {
  double lane[16] = {};
  for (size_t j = 0; j < D; ++j) lane[j % 16] += static_cast<double>(a[j]) * static_cast<double>(b[j]);
  double x[8], y[4];
  for (int l = 0; l < 8; ++l) x[l] = lane[l] + lane[l + 8];
  for (int l = 0; l < 4; ++l) y[l] = x[l] + x[l + 4];
  return (y[0] + y[2]) + (y[1] + y[3]);
}

const char* ModeName(FrameMode m) {
  switch (m) {
    case FrameMode::kUniform: return "uniform";
    case FrameMode::kTopk: return "topk";
    case FrameMode::kTopkGap: return "topk-gap";
    case FrameMode::kMmr: return "mmr";
    case FrameMode::kBolt: return "bolt";
  }
  return "?";
}

void CheckCanonicalOrder(Context& ctx) {
  for (size_t dim : {size_t(1), size_t(17), size_t(100), size_t(512)}) {
    Batch b = MakeBatch({0, 3, 257, 1, 40}, dim, 17 + static_cast<uint32_t>(dim));
    for (size_t i = 0; i < b.embeddings.size(); i += 7) b.embeddings[i] *= 1e5f;  // make order matter
    const FrameBatch view = b.view();
    for (bool normalize : {false, true}) {
      std::vector<float> got(view.frames), want(view.frames);
      CpuFrames().FrameRelevance(got.data(), view, normalize);
      for (size_t v = 0; v < view.videos; ++v) {
        const float* q = b.queries.data() + v * dim;
        const double q_norm = std::sqrt(CanonicalDot(q, q, dim));
        for (int32_t i = b.offsets[v]; i < b.offsets[v + 1]; ++i) {
          const float* e = b.embeddings.data() + static_cast<size_t>(i) * dim;
          const double dot = CanonicalDot(e, q, dim);
          want[i] = normalize ? CosineRelevance(dot, std::sqrt(CanonicalDot(e, e, dim)), q_norm) : RelevanceFromDot(dot);
        }
      }
      ctx.Compare("frameRelevance cpu==canonical D=" + std::to_string(dim) + (normalize ? " cosine" : " dot"),
                  got.data(), want.data(), got.size(), 0, 0);
    }
  }
}

void CheckCudaAgainstCpu(Context& ctx) {
#ifdef PV_WITH_CUDA
  if (!ctx.cuda_available) return;
  std::vector<int32_t> lengths = {0, 1, 2, 7, 50, 131, 300, 3, 0, 64, 1, 90, 200003};
  for (int v = 0; v < 3000; ++v) lengths.push_back(v % 37);
  const std::vector<int32_t> ties_values = {-1, 0, 1};
  for (size_t dim : {size_t(3), size_t(37), size_t(512)}) {
    Batch b = MakeBatch(lengths, dim, 99 + static_cast<uint32_t>(dim));
    if (dim == 3) {  // integer values: exact ties everywhere
      for (float& x : b.embeddings) x = static_cast<float>(ties_values[static_cast<size_t>((x + 0.5f) * 3) % 3]);
    }
    const FrameBatch view = b.view();
    std::vector<int32_t> budgets(view.videos);
    for (size_t v = 0; v < view.videos; ++v) budgets[v] = static_cast<int32_t>((v * 7919) % 23);
    budgets[12] = 64;  // the long video
    size_t kmax = 0;
    for (int32_t k : budgets) kmax = std::max(kmax, static_cast<size_t>(k));
    for (bool normalize : {false, true}) {
      std::vector<float> cpu_rel(view.frames), gpu_rel(view.frames);
      CpuFrames().FrameRelevance(cpu_rel.data(), view, normalize);
      CudaFrames().FrameRelevance(gpu_rel.data(), view, normalize);
      const std::string tag = " D=" + std::to_string(dim) + (normalize ? " cosine" : " dot");
      ctx.Compare("frameRelevance cuda==cpu" + tag, gpu_rel.data(), cpu_rel.data(), view.frames, 0, 0);
      for (FrameMode mode : {FrameMode::kUniform, FrameMode::kTopk, FrameMode::kTopkGap, FrameMode::kMmr,
                             FrameMode::kBolt}) {
        FrameOptions o;
        o.mode = mode;
        o.budgets = budgets.data();
        o.min_gap = 9;
        o.lambda = 0.35;
        o.alpha = mode == FrameMode::kBolt && dim == 37 ? 2.5 : 3.0;
        o.normalize = normalize;
        const size_t slots = view.videos * kmax;
        std::vector<int32_t> ci(slots), gi(slots);
        std::vector<float> cs(slots), gs(slots);
        CpuFrames().SelectFrames(ci.data(), cs.data(), view, o, kmax);
        CudaFrames().SelectFrames(gi.data(), gs.data(), view, o, kmax);
        const std::string name = std::string("selectFrames ") + ModeName(mode) + tag;
        ctx.CompareExact(name + " indices cuda==cpu", gi.data(), ci.data(), slots);
        ctx.Compare(name + " scores cuda==cpu", gs.data(), cs.data(), slots, 0, 0);
      }
    }
  }
#else
  (void)ctx;
#endif
}

void TimeFrames(Context& ctx) {
  const size_t frames = 1000000;
  const int saved_repeats = ctx.repeats;
  ctx.repeats = 3;
  for (size_t dim : {size_t(512), size_t(1024)}) {
    for (size_t video : {frames, size_t(200)}) {
      std::vector<int32_t> lengths(frames / video, static_cast<int32_t>(video));
      Batch b = MakeBatch(lengths, dim, 5);
      const FrameBatch view = b.view();
      const double bytes = static_cast<double>(view.frames) * dim * sizeof(float);
      for (FrameMode mode : {FrameMode::kTopk, FrameMode::kMmr}) {
        FrameOptions o;
        o.mode = mode;
        o.budget = 16;
        const size_t kmax = 16;
        std::vector<int32_t> indices(view.videos * kmax);
        std::vector<float> scores(view.videos * kmax);
        const std::string name = std::string("selectFrames ") + ModeName(mode) + " 1M D=" + std::to_string(dim) +
                                 (video == frames ? " 1 video" : " 200-frame videos");
        const double ms = ctx.Time(false, [&] { CpuFrames().SelectFrames(indices.data(), scores.data(), view, o, kmax); });
        ctx.Report(name, "cpu", ms, bytes, 0);
        std::printf("%-44s cpu   %.2f M frames/s\n", name.c_str(), view.frames / (ms * 1e3));
#ifdef PV_WITH_CUDA
        if (!ctx.cuda_available) continue;
        const CudaFrameTiming t = TimeCudaFrames(view, o, kmax, 10);
        ctx.Report(name + " (kernels)", "cuda", t.total_ms, bytes, 0);
        ctx.Report(name + " (scoring only)", "cuda", t.score_ms, bytes, 0);
        std::printf("%-44s cuda  %.1f M frames/s; scoring %.0f GB/s = %.0f%% and with selection %.0f GB/s = %.0f%% "
                    "of the measured copy rate %.0f GB/s\n",
                    name.c_str(), view.frames / (t.total_ms * 1e3), bytes / (t.score_ms * 1e6),
                    100 * bytes / (t.score_ms * 1e6) / t.copy_gbs, bytes / (t.total_ms * 1e6),
                    100 * bytes / (t.total_ms * 1e6) / t.copy_gbs, t.copy_gbs);
#endif
      }
    }
  }
  ctx.repeats = saved_repeats;
}

}  // namespace

PV_CHECK_CASE("frames canonical order", CheckCanonicalOrder);
PV_CHECK_CASE("frames cuda==cpu", CheckCudaAgainstCpu);
PV_CHECK_CASE("frames timing", TimeFrames);

}  // namespace check
}  // namespace pv

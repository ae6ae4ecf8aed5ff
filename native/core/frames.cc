// Backend-independent parts of frame selection (core/frames.h): the dispatch
// to a backend and the validation both backends share. Only what protects
// memory is checked here (offsets against the frame count, budgets against the
// output width, the mode's range) plus the finiteness of the queries; option
// values (minGap, lambda, alpha) are validated once, in lib/kernels/frames.ts.
#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/frames.h"
#include "core/scoring.h"

namespace pv {

FrameKernels& Frames(Device device) {
  RequireDevice(device);
#ifdef PV_WITH_CUDA
  if (device == Device::kCuda) return CudaFrames();
#endif
  return CpuFrames();
}

namespace {

size_t VideoOfFrame(const FrameBatch& batch, size_t frame) {
  const int32_t* off = batch.frame_offsets;
  const int32_t* it = std::upper_bound(off, off + batch.videos + 1, static_cast<int32_t>(frame));
  return static_cast<size_t>(it - off) - 1;
}

}  // namespace

void ValidateFrameBatch(const FrameBatch& batch) {
  if (batch.dim == 0) Fail("E_ARG", "dim must be an integer >= 1, got 0");
  const int32_t* off = batch.frame_offsets;
  if (off[0] != 0) Fail("E_SHAPE", "frameOffsets[0] must be 0, got ", off[0]);
  for (size_t b = 0; b < batch.videos; ++b) {
    if (off[b + 1] < off[b])
      Fail("E_SHAPE", "frameOffsets must be non-decreasing: frameOffsets[", b + 1, "] = ", off[b + 1],
           " < frameOffsets[", b, "] = ", off[b]);
  }
  if (static_cast<size_t>(off[batch.videos]) != batch.frames)
    Fail("E_SHAPE", "frameOffsets[", batch.videos, "] must equal the frame count (embeddings.length / dim = ",
         batch.frames, "), got ", off[batch.videos]);
  CheckFinite(batch.queries, batch.videos * batch.dim, "queries");
}

void ValidateFrameOptions(const FrameBatch& batch, const FrameOptions& o, size_t kmax) {
  if (o.budgets) {
    for (size_t b = 0; b < batch.videos; ++b) {
      if (o.budgets[b] < 0) Fail("E_ARG", "k[", b, "] must be >= 0, got ", o.budgets[b]);
      if (static_cast<size_t>(o.budgets[b]) > kmax)
        Fail("E_INTERNAL", "k[", b, "] = ", o.budgets[b], " exceeds the output width ", kmax);
    }
  } else {
    if (o.budget < 0) Fail("E_ARG", "k must be >= 0, got ", o.budget);
    if (batch.videos > 0 && static_cast<size_t>(o.budget) > kmax)
      Fail("E_INTERNAL", "k = ", o.budget, " exceeds the output width ", kmax);
  }
  if (static_cast<int>(o.mode) < 0 || static_cast<int>(o.mode) > 4)
    Fail("E_ARG", "mode must be 0..4, got ", static_cast<int>(o.mode));
}

void ReportNonFiniteFrame(const FrameBatch& batch, size_t frame) {
  const size_t video = VideoOfFrame(batch, frame);
  const size_t local = frame - static_cast<size_t>(batch.frame_offsets[video]);
  const float* row = batch.embeddings + frame * batch.dim;
  for (size_t j = 0; j < batch.dim; ++j) {
    if (!std::isfinite(row[j]))
      Fail("E_NONFINITE", "embeddings must be finite: embeddings[", frame * batch.dim + j, "] = ", row[j],
           " (frame ", local, " of video ", video, ", feature ", j, ")");
  }
  Fail("E_INTERNAL", "frame ", frame, " has a non-finite dot product but finite values");
}

void ReportRelevanceOverflow(const FrameBatch& batch, size_t frame) {
  const size_t video = VideoOfFrame(batch, frame);
  Fail("E_NONFINITE", "the relevance of frame ", frame - static_cast<size_t>(batch.frame_offsets[video]),
       " of video ", video, " overflows float32 (|dot(e, q)| > 3.4e38): scale the embeddings or queries down, ",
       "or use normalize");
}

}  // namespace pv

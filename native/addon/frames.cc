// Bindings of frame selection. Arguments arrive positionally from
// lib/kernels/frames.ts (typed in lib/native/addon.ts); each is re-checked here as a safety
// net, the offsets and budgets are copied (GetSnapshot), outputs are allocated
// on the JavaScript thread, and the kernel runs on the compute thread.
#include <algorithm>
#include <vector>

#include "addon/napi_util.h"
#include "addon/registry.h"
#include "core/frames.h"

namespace pv {
namespace napi {
namespace {

// Largest output the kernels write: B x kmax int32 slots in one typed array.
constexpr size_t kMaxOutputSlots = size_t(1) << 30;

// embeddings, frameOffsets, queries, dim at info[first..first+3].
FrameBatch GetFrameBatch(const Napi::CallbackInfo& info, size_t first) {
  const Array<float> embeddings = GetArray<float>(info[first], "embeddings");
  const Array<int32_t> offsets = GetSnapshot<int32_t>(info[first + 1], "frameOffsets");
  if (offsets.length < 1) Fail("E_SHAPE", "frameOffsets must have length B + 1 >= 1, got 0");
  const size_t dim = static_cast<size_t>(GetInteger(info[first + 3], "dim", 1, INT32_MAX));
  if (embeddings.length % dim != 0)
    Fail("E_SHAPE", "embeddings.length must be a multiple of dim (", dim, "), got ", embeddings.length);
  FrameBatch batch;
  batch.videos = offsets.length - 1;
  batch.dim = dim;
  batch.frames = embeddings.length / dim;
  const Array<float> queries = GetArray<float>(info[first + 2], "queries", batch.videos * dim);
  batch.embeddings = embeddings.data;
  batch.frame_offsets = offsets.data;
  batch.queries = queries.data;
  return batch;
}

Napi::Value FrameRelevance(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Device device = GetDevice(info[0]);
    const FrameBatch batch = GetFrameBatch(info, 1);
    const bool normalize = GetBool(info[5], "normalize");
    FrameKernels& kernels = Frames(device);
    Napi::Float32Array out = Napi::Float32Array::New(env, batch.frames);
    float* relevance = out.Data();
    return Task::Start(env, {info[1], info[3]}, {out},
                       [=, &kernels] { kernels.FrameRelevance(relevance, batch, normalize); },
                       ResolveFirstOutput);
  });
}
PV_BINDING("frameRelevance", FrameRelevance);

Napi::Value SelectFrames(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Device device = GetDevice(info[0]);
    const FrameBatch batch = GetFrameBatch(info, 1);
    FrameOptions o;
    size_t kmax = 0;
    if (info[5].IsTypedArray()) {
      const Array<int32_t> k = GetSnapshot<int32_t>(info[5], "k", batch.videos);
      for (size_t b = 0; b < batch.videos; ++b) {
        if (k.data[b] < 0) Fail("E_ARG", "k[", b, "] must be >= 0, got ", k.data[b]);
        kmax = std::max(kmax, static_cast<size_t>(k.data[b]));
      }
      o.budgets = k.data;
    } else {
      o.budget = static_cast<int32_t>(GetInteger(info[5], "k", 0, INT32_MAX));
      kmax = batch.videos > 0 ? static_cast<size_t>(o.budget) : 0;
    }
    if (batch.videos > 0 && kmax > kMaxOutputSlots / batch.videos)
      Fail("E_ARG", "the output would have B x kmax = ", batch.videos, " x ", kmax, " slots, more than 2^30; ",
           "lower k");
    o.mode = static_cast<FrameMode>(GetInteger(info[6], "mode", 0, 4));
    o.min_gap = static_cast<int32_t>(GetInteger(info[7], "minGap", 0, INT32_MAX));
    o.lambda = GetNumber(info[8], "lambda");
    o.alpha = GetNumber(info[9], "alpha");
    o.normalize = GetBool(info[10], "normalize");
    ValidateFrameOptions(batch, o, kmax);
    FrameKernels& kernels = Frames(device);
    const size_t slots = batch.videos * kmax;
    Napi::Int32Array indices = NewCheckedOutput<int32_t>(env, slots, "the selected indices (B x kmax)");
    Napi::Float32Array scores = NewCheckedOutput<float>(env, slots, "the selected scores (B x kmax)");
    int32_t* out_indices = indices.Data();
    float* out_scores = scores.Data();
    return Task::Start(
        env, {info[1], info[3]}, {indices, scores},
        [=, &kernels] { kernels.SelectFrames(out_indices, out_scores, batch, o, kmax); },
        [](Napi::Env env, const std::vector<Napi::Value>& outputs) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("indices", outputs[0]);
          out.Set("scores", outputs[1]);
          return out;
        });
  });
}
PV_BINDING("selectFrames", SelectFrames);

}  // namespace
}  // namespace napi
}  // namespace pv

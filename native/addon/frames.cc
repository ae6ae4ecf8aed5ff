// Bindings of frame selection. Each takes one options object (a Baton) from
// lib/kernels/frames.ts (typed in lib/native/addon.ts), which has validated
// every value and the output size; here only types, lengths, the budgets'
// sign and the mode's name are checked, the offsets and budgets are copied
// (GetSnapshot), outputs are allocated on the JavaScript thread (selectFrames'
// by the addon, so that a size memory cannot hold is E_OOM), and the kernel
// runs on the compute thread.
#include <algorithm>
#include <vector>

#include "addon/napi_util.h"
#include "addon/registry.h"
#include "core/frames.h"

namespace pv {
namespace napi {
namespace {

// embeddings, frameOffsets, queries, dim of the options object.
FrameBatch GetFrameBatch(const Baton& b) {
  const Array<float> embeddings = b.GetArray<float>("embeddings");
  const Array<int32_t> offsets = b.GetSnapshot<int32_t>("frameOffsets");
  if (offsets.length < 1) Fail("E_SHAPE", "frameOffsets must have length B + 1 >= 1, got 0");
  const size_t dim = static_cast<size_t>(b.Integer("dim", 1, INT32_MAX));
  if (embeddings.length % dim != 0)
    Fail("E_SHAPE", "embeddings.length must be a multiple of dim (", dim, "), got ", embeddings.length);
  FrameBatch batch;
  batch.videos = offsets.length - 1;
  batch.dim = dim;
  batch.frames = embeddings.length / dim;
  const Array<float> queries = b.GetArray<float>("queries", batch.videos * dim);
  batch.embeddings = embeddings.data;
  batch.frame_offsets = offsets.data;
  batch.queries = queries.data;
  return batch;
}

// { backend, embeddings, frameOffsets, queries, dim, normalize }
Napi::Value FrameRelevance(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "frameRelevance options");
    const FrameBatch batch = GetFrameBatch(b);
    const bool normalize = b.Bool("normalize");
    FrameKernels& kernels = Frames(b.Backend());
    Napi::Float32Array out = Napi::Float32Array::New(env, batch.frames);
    float* relevance = out.Data();
    return Task::Start(env, {b.object()}, {out},
                       [=, &kernels] { kernels.FrameRelevance(relevance, batch, normalize); },
                       ResolveFirstOutput);
  });
}
PV_BINDING("frameRelevance", FrameRelevance);

// { backend, embeddings, frameOffsets, queries, dim, k: number | Int32Array,
//   mode: 'uniform' | 'topk' | 'topk-gap' | 'mmr' | 'bolt', minGap, lambda, alpha, normalize }
Napi::Value SelectFrames(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "selectFrames options");
    const FrameBatch batch = GetFrameBatch(b);
    FrameOptions o;
    size_t kmax = 0;
    if (b.Get("k").IsTypedArray()) {
      const Array<int32_t> k = b.GetSnapshot<int32_t>("k", batch.videos);
      for (size_t v = 0; v < batch.videos; ++v) {
        if (k.data[v] < 0) Fail("E_ARG", "k[", v, "] must be >= 0, got ", k.data[v]);
        kmax = std::max(kmax, static_cast<size_t>(k.data[v]));
      }
      o.budgets = k.data;
    } else {
      o.budget = static_cast<int32_t>(b.Integer("k", 0, INT32_MAX));
      kmax = batch.videos > 0 ? static_cast<size_t>(o.budget) : 0;
    }
    o.mode = static_cast<FrameMode>(b.Enum("mode", kFrameModeNames));
    o.min_gap = static_cast<int32_t>(b.Integer("minGap", 0, INT32_MAX));
    o.lambda = b.Number("lambda");
    o.alpha = b.Number("alpha");
    o.normalize = b.Bool("normalize");
    ValidateFrameOptions(batch, o, kmax);
    FrameKernels& kernels = Frames(b.Backend());
    const size_t slots = batch.videos * kmax;  // <= 2^31 x 2^31: no overflow; lib/ bounds it
    Napi::Int32Array indices = NewCheckedOutput<int32_t>(env, slots, "the selected indices (B x kmax)");
    Napi::Float32Array scores = NewCheckedOutput<float>(env, slots, "the selected scores (B x kmax)");
    int32_t* out_indices = indices.Data();
    float* out_scores = scores.Data();
    return Task::Start(
        env, {b.object()}, {indices, scores},
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

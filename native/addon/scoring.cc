// Bindings of the trajectory scoring kernels. Each takes one options object
// (a Baton) from lib/kernels/scoring.ts (typed in lib/native/addon.ts), which
// has validated every value; here only types, lengths and enum names are
// checked, offsets and group ids are copied (GetSnapshot), outputs are allocated on the
// JavaScript thread, and the kernel runs on the compute thread.
#include <memory>

#include "addon/loss_options.h"
#include "addon/napi_util.h"
#include "addon/registry.h"
#include "core/scoring.h"

namespace pv {
namespace napi {
namespace {

// { backend, acc, toolCalls, coef, correctThreshold }
Napi::Value AccumulativeToolReward(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "accumulativeToolReward options");
    const Array<float> acc = b.GetArray<float>("acc");
    const Array<int32_t> calls = b.GetArray<int32_t>("toolCalls", acc.length);
    const float coef = static_cast<float>(b.Number("coef"));
    const float threshold = static_cast<float>(b.Number("correctThreshold"));
    ScoringKernels& kernels = Scoring(b.Backend());
    Napi::Float32Array out = Napi::Float32Array::New(env, acc.length);
    float* reward = out.Data();
    const size_t n = acc.length;
    return Task::Start(env, {b.object()}, {out},
                       [=, &kernels] { kernels.AccumulativeToolReward(reward, acc.data, calls.data, n, coef, threshold); },
                       ResolveFirstOutput);
  });
}
PV_BINDING("accumulativeToolReward", AccumulativeToolReward);

// { backend, rewards, groups, scale: 'none' | 'group-std', eps }
Napi::Value GroupAdvantages(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "groupAdvantages options");
    const Array<float> rewards = b.GetArray<float>("rewards");
    // A copy: the group index reads the ids in several passes and sizes its
    // tables from the first, so ids changed while the call is in flight must
    // not reach it.
    const Array<int32_t> groups = b.GetSnapshot<int32_t>("groups", rewards.length);
    const AdvantageScale scale = static_cast<AdvantageScale>(b.Enum("scale", kAdvantageScaleNames));
    const float eps = static_cast<float>(b.Number("eps"));
    ScoringKernels& kernels = Scoring(b.Backend());
    const size_t n = rewards.length;
    Napi::Float32Array adv = Napi::Float32Array::New(env, n);
    Napi::Float32Array mean = Napi::Float32Array::New(env, n);
    Napi::Float32Array stdev = Napi::Float32Array::New(env, n);
    float *a = adv.Data(), *m = mean.Data(), *s = stdev.Data();
    return Task::Start(
        env, {b.object()}, {adv, mean, stdev},
        [=, &kernels] { kernels.GroupAdvantages(a, m, s, rewards.data, groups.data, n, scale, eps); },
        [](Napi::Env env, const std::vector<Napi::Value>& outputs) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("advantages", outputs[0]);
          out.Set("groupMean", outputs[1]);
          out.Set("groupStd", outputs[2]);
          return out;
        });
  });
}
PV_BINDING("groupAdvantages", GroupAdvantages);

// { backend, rewards, groups, endReasons, toolImages, lengths?, target,
//   keepEndReasons: Uint8Array of EndReason, requireToolImage, maxLength: number | null,
//   rank: 'std' | 'none' }
Napi::Value SelectRollouts(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "selectRollouts options");
    const Array<float> rewards = b.GetArray<float>("rewards");
    const size_t n = rewards.length;
    const Array<int32_t> groups = b.GetSnapshot<int32_t>("groups", n);  // a copy, as in groupAdvantages
    const Array<uint8_t> end_reasons = b.GetArray<uint8_t>("endReasons", n);
    const Array<int32_t> tool_images = b.GetArray<int32_t>("toolImages", n);
    const Array<int32_t> lengths = b.GetOptionalArray<int32_t>("lengths", n);
    SelectOptions options;
    options.target = static_cast<size_t>(b.Integer("target", 0, INT32_MAX));
    const Array<uint8_t> keep = b.GetArray<uint8_t>("keepEndReasons");
    options.keep_end_reason.fill(false);
    for (size_t k = 0; k < keep.length; ++k) {
      if (keep.data[k] >= kEndReasonCount) Fail("E_ARG", "keepEndReasons[", k, "] must be an EndReason (0..4), got ", int(keep.data[k]));
      options.keep_end_reason[keep.data[k]] = true;
    }
    options.require_tool_image = b.Bool("requireToolImage");
    options.max_length = b.Has("maxLength") ? b.Integer("maxLength", 0, INT32_MAX) : -1;
    if (options.max_length >= 0 && !lengths.data) Fail("E_ARG", "maxLength needs lengths");
    static const std::array<const char*, 2> kRankNames{"std", "none"};
    options.rank_by_std = b.Enum("rank", kRankNames) == 0;
    ScoringKernels& kernels = Scoring(b.Backend());
    auto result = std::make_shared<SelectResult>();
    return Task::Start(
        env, {b.object()}, {},
        [=, &kernels] {
          *result = kernels.SelectRollouts(rewards.data, groups.data, end_reasons.data, tool_images.data,
                                           lengths.data, n, options);
        },
        [result](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          Napi::Int32Array indices = CopyToTypedArray<Napi::Int32Array>(env, result->indices);
          Napi::Object dropped = Napi::Object::New(env);
          dropped.Set("zeroVariance", static_cast<double>(result->dropped_zero_variance));
          dropped.Set("endReason", static_cast<double>(result->dropped_end_reason));
          dropped.Set("noToolImage", static_cast<double>(result->dropped_no_tool_image));
          dropped.Set("overLength", static_cast<double>(result->dropped_over_length));
          Napi::Object out = Napi::Object::New(env);
          out.Set("indices", indices);
          out.Set("dropped", dropped);
          return out;
        });
  });
}
PV_BINDING("selectRollouts", SelectRollouts);

// { backend, logp, oldLogp, advantages, mask, seqOffsets, refLogp?, ...the loss options (ReadLossOptions) }
Napi::Value PolicyLoss(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policyLoss options");
    const Array<float> logp = b.GetArray<float>("logp");
    const size_t T = logp.length;
    const Array<float> old_logp = b.GetArray<float>("oldLogp", T);
    const Array<int32_t> offsets = b.GetSnapshot<int32_t>("seqOffsets");
    if (offsets.length < 1) Fail("E_SHAPE", "seqOffsets must have length B + 1 >= 1, got 0");
    const size_t B = offsets.length - 1;
    const Array<float> advantages = b.GetArray<float>("advantages");
    if (advantages.length != T && advantages.length != B)
      Fail("E_SHAPE", "advantages must have one value per token (", T, ") or per sequence (", B, "), got ",
           advantages.length);
    LossInput in;
    in.logp = logp.data;
    in.old_logp = old_logp.data;
    in.advantages = advantages.data;
    in.advantages_per_sequence = advantages.length != T;
    in.seq_offsets = offsets.data;
    in.tokens = T;
    in.sequences = B;
    const Napi::Value mask = b.Get("mask");
    if (mask.IsTypedArray() && mask.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      in.mask_u8 = GetArray<uint8_t>(mask, "mask", T).data;
    } else {
      in.mask = GetArray<float>(mask, "mask", T).data;
    }
    in.ref_logp = b.GetOptionalArray<float>("refLogp", T).data;
    const LossOptions o = ReadLossOptions(b);
    if (o.kl_coef > 0 && !in.ref_logp) Fail("E_ARG", "klCoef > 0 needs refLogp");
    ScoringKernels& kernels = Scoring(b.Backend());
    Napi::Float32Array grad = Napi::Float32Array::New(env, T);
    float* g = grad.Data();
    auto result = std::make_shared<LossResult>();
    return Task::Start(
        env, {b.object()}, {grad},
        [=, &kernels] { *result = kernels.PolicyLoss(g, in, o); },
        [result](Napi::Env env, const std::vector<Napi::Value>& outputs) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("loss", result->loss);
          out.Set("grad", outputs[0]);
          out.Set("clipFrac", result->clip_frac);
          out.Set("clipFracLower", result->clip_frac_lower);
          out.Set("approxKl", result->approx_kl);
          return out;
        });
  });
}
PV_BINDING("policyLoss", PolicyLoss);

}  // namespace
}  // namespace napi
}  // namespace pv

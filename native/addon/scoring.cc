// Bindings of the trajectory scoring kernels. Arguments arrive positionally
// from lib/kernels/scoring.ts (typed in lib/native/addon.ts); each is re-checked here as a
// safety net, offsets are copied (GetSnapshot), outputs are allocated on the
// JavaScript thread, and the kernel runs on the compute thread.
#include <memory>

#include "addon/napi_util.h"
#include "addon/registry.h"
#include "core/scoring.h"

namespace pv {
namespace napi {
namespace {

Napi::Value AccumulativeToolReward(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Device device = GetDevice(info[0]);
    const Array<float> acc = GetArray<float>(info[1], "acc");
    const Array<int32_t> calls = GetArray<int32_t>(info[2], "toolCalls", acc.length);
    const float coef = static_cast<float>(GetNumber(info[3], "coef"));
    const float threshold = static_cast<float>(GetNumber(info[4], "correctThreshold"));
    ScoringKernels& kernels = Scoring(device);
    Napi::Float32Array out = Napi::Float32Array::New(env, acc.length);
    float* reward = out.Data();
    const size_t n = acc.length;
    return Task::Start(env, {info[1], info[2]}, {out},
                       [=, &kernels] { kernels.AccumulativeToolReward(reward, acc.data, calls.data, n, coef, threshold); },
                       ResolveFirstOutput);
  });
}
PV_BINDING("accumulativeToolReward", AccumulativeToolReward);

Napi::Value GroupAdvantages(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Device device = GetDevice(info[0]);
    const Array<float> rewards = GetArray<float>(info[1], "rewards");
    const Array<int32_t> groups = GetArray<int32_t>(info[2], "groups", rewards.length);
    const AdvantageScale scale = static_cast<AdvantageScale>(GetInteger(info[3], "scale", 0, 1));
    const double eps = GetNumber(info[4], "eps");
    if (eps < 0) Fail("E_ARG", "eps must be >= 0, got ", eps);
    ScoringKernels& kernels = Scoring(device);
    const size_t n = rewards.length;
    Napi::Float32Array adv = Napi::Float32Array::New(env, n);
    Napi::Float32Array mean = Napi::Float32Array::New(env, n);
    Napi::Float32Array stdev = Napi::Float32Array::New(env, n);
    float *a = adv.Data(), *m = mean.Data(), *s = stdev.Data();
    return Task::Start(
        env, {info[1], info[2]}, {adv, mean, stdev},
        [=, &kernels] { kernels.GroupAdvantages(a, m, s, rewards.data, groups.data, n, scale, static_cast<float>(eps)); },
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

Napi::Value SelectRollouts(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Device device = GetDevice(info[0]);
    const Array<float> rewards = GetArray<float>(info[1], "rewards");
    const size_t n = rewards.length;
    const Array<int32_t> groups = GetArray<int32_t>(info[2], "groups", n);
    const Array<uint8_t> end_reasons = GetArray<uint8_t>(info[3], "endReasons", n);
    const Array<int32_t> tool_images = GetArray<int32_t>(info[4], "toolImages", n);
    const Array<int32_t> lengths = GetOptionalArray<int32_t>(info[5], "lengths", n);
    SelectOptions options;
    options.target = static_cast<size_t>(GetInteger(info[6], "target", 0, INT32_MAX));
    const int64_t keep_mask = GetInteger(info[7], "keepEndReasons", 0, (1 << kEndReasonCount) - 1);
    for (int r = 0; r < kEndReasonCount; ++r) options.keep_end_reason[r] = (keep_mask >> r) & 1;
    options.require_tool_image = GetBool(info[8], "requireToolImage");
    options.max_length = GetInteger(info[9], "maxLength", -1, INT32_MAX);
    if (options.max_length >= 0 && !lengths.data) Fail("E_ARG", "maxLength needs input.lengths");
    options.rank_by_std = GetBool(info[10], "rankByStd");
    ScoringKernels& kernels = Scoring(device);
    auto result = std::make_shared<SelectResult>();
    return Task::Start(
        env, {info[1], info[2], info[3], info[4], info[5]}, {},
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

Napi::Value PolicyLoss(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Device device = GetDevice(info[0]);
    const Array<float> logp = GetArray<float>(info[1], "logp");
    const size_t T = logp.length;
    const Array<float> old_logp = GetArray<float>(info[2], "oldLogp", T);
    const Array<int32_t> offsets = GetSnapshot<int32_t>(info[5], "seqOffsets");
    if (offsets.length < 1) Fail("E_SHAPE", "seqOffsets must have length B + 1 >= 1, got 0");
    const size_t B = offsets.length - 1;
    const Array<float> advantages = GetArray<float>(info[3], "advantages");
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
    const Napi::Value mask = info[4];
    if (mask.IsTypedArray() && mask.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      in.mask_u8 = GetArray<uint8_t>(mask, "mask", T).data;
    } else if (mask.IsTypedArray() && mask.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
      in.mask = GetArray<float>(mask, "mask", T).data;
    } else {
      Fail("E_DTYPE", "mask must be a Uint8Array or a Float32Array");
    }
    in.ref_logp = GetOptionalArray<float>(info[6], "refLogp", T).data;
    LossOptions o;
    o.clip_low = static_cast<float>(GetNumber(info[7], "clipLow"));
    o.clip_high = static_cast<float>(GetNumber(info[8], "clipHigh"));
    if (o.clip_low < 0 || o.clip_low >= 1) Fail("E_ARG", "clipLow must be in [0, 1), got ", o.clip_low);
    if (o.clip_high < 0) Fail("E_ARG", "clipHigh must be >= 0, got ", o.clip_high);
    o.use_dual_clip = !info[9].IsNull();
    if (o.use_dual_clip) {
      o.dual_clip = static_cast<float>(GetNumber(info[9], "dualClip"));
      if (o.dual_clip <= 1) Fail("E_ARG", "dualClip must be > 1 or null, got ", o.dual_clip);
    }
    o.agg = static_cast<LossAgg>(GetInteger(info[10], "agg", 0, 3));
    o.norm_denominator = GetNumber(info[11], "normDenominator");
    if (o.norm_denominator < 0) Fail("E_ARG", "normDenominator must be > 0, got ", o.norm_denominator);
    o.kl_coef = static_cast<float>(GetNumber(info[12], "klCoef"));
    if (o.kl_coef < 0) Fail("E_ARG", "klCoef must be >= 0, got ", o.kl_coef);
    if (o.kl_coef > 0 && !in.ref_logp) Fail("E_ARG", "klCoef > 0 needs input.refLogp");
    o.kl_type = static_cast<KlType>(GetInteger(info[13], "klType", 0, 2));
    ScoringKernels& kernels = Scoring(device);
    Napi::Float32Array grad = Napi::Float32Array::New(env, T);
    float* g = grad.Data();
    auto result = std::make_shared<LossResult>();
    return Task::Start(
        env, {info[1], info[2], info[3], info[4], info[6]}, {grad},
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

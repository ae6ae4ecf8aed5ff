// Bindings of the policy engine (lib/policy/policy.ts and session.ts; typed in
// lib/native/addon.ts).
// A policy and a session are JS externals holding a shared_ptr; every task
// copies the shared_ptr, so disposing while a task runs is safe, and the
// release itself runs on the compute thread (it may wait for the model's lock).
#include <memory>
#include <mutex>
#include <string>

#include "addon/loss_options.h"
#include "addon/napi_util.h"
#include "addon/registry.h"
#include "core/policy_model.h"

namespace pv {
namespace napi {
namespace {

struct PolicyHolder {
  std::shared_ptr<PolicyModel> model;
};
struct SessionHolder {
  std::shared_ptr<PolicySession> session;
};

// The handles: `policy` and `session` fields of a binding's options object.
PolicyHolder& GetPolicyHolder(const Baton& b) {
  const Napi::Value value = b.Get("policy");
  if (!value.IsExternal()) Fail("E_ARG", "policy must be the handle returned by policyCreate");
  return *value.As<Napi::External<PolicyHolder>>().Data();
}

std::shared_ptr<PolicyModel> GetModel(const Baton& b) {
  PolicyHolder& holder = GetPolicyHolder(b);
  if (!holder.model) Fail("E_DISPOSED", "the policy was disposed");
  return holder.model;
}

SessionHolder& GetSessionHolder(const Baton& b) {
  const Napi::Value value = b.Get("session");
  if (!value.IsExternal()) Fail("E_ARG", "session must be the handle returned by policySessionStart");
  return *value.As<Napi::External<SessionHolder>>().Data();
}

std::shared_ptr<PolicySession> GetSession(const Baton& b) {
  SessionHolder& holder = GetSessionHolder(b);
  if (!holder.session) Fail("E_DISPOSED", "the session was disposed");
  return holder.session;
}

// The config object of lib/policy/config.ts (validated there against
// LIMITS.policy); read as sizes, with the checks of ValidatePolicyConfig that
// protect memory (non-zero sizes, whole heads, a parameter count in int32).
PolicyConfig GetConfig(const Baton& b) {
  PolicyConfig c;
  c.vocab_size = static_cast<size_t>(b.Integer("vocabSize", 1, INT32_MAX));
  c.patch_dim = static_cast<size_t>(b.Integer("patchDim", 1, INT32_MAX));
  c.max_seq_len = static_cast<size_t>(b.Integer("maxSeqLen", 1, INT32_MAX));
  c.layers = static_cast<size_t>(b.Integer("layers", 1, INT32_MAX));
  c.heads = static_cast<size_t>(b.Integer("heads", 1, INT32_MAX));
  c.dim = static_cast<size_t>(b.Integer("dim", 1, INT32_MAX));
  ValidatePolicyConfig(c);
  return c;
}

// A SequenceBatch { tokens, patches, seqOffsets }; shapes checked here,
// values (token range, NaN, lengths) on the compute thread. The arrays go
// into `keep` (alive until the task settles).
PolicyBatch GetBatch(const Baton& b, std::vector<Napi::Value>& keep) {
  // Token ids and offsets index memory: copies (GetSnapshot), so that what is
  // validated is what the compute thread reads.
  const Array<int32_t> tokens = b.GetSnapshot<int32_t>("tokens");
  const Array<float> patches = b.GetArray<float>("patches");
  const Array<int32_t> offsets = b.GetSnapshot<int32_t>("seqOffsets");
  if (offsets.length < 1) Fail("E_SHAPE", b.Name("seqOffsets"), " must have length B + 1 >= 1, got 0");
  keep.push_back(b.Get("patches"));
  PolicyBatch batch;
  batch.tokens = tokens.data;
  batch.positions = tokens.length;
  batch.patches = patches.data;
  batch.patch_floats = patches.length;
  batch.seq_offsets = offsets.data;
  batch.sequences = offsets.length - 1;
  return batch;
}

// The loss object of lib/policy/policy.ts (validated there; kind and the
// loss options' enums by name, read by ReadLossOptions).
PolicyLossSpec GetLoss(const Baton& o, size_t N, size_t B, std::vector<Napi::Value>& keep) {
  PolicyLossSpec loss;
  static const std::array<const char*, 2> kKinds{"pg", "sft"};  // TokenLossKind order
  loss.kind = static_cast<TokenLossKind>(o.Enum("kind", kKinds));
  const Napi::Value mask = o.Get("mask");
  keep.push_back(mask);
  if (mask.IsTypedArray() && mask.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    loss.mask_u8 = o.GetArray<uint8_t>("mask", N).data;
  } else if (mask.IsTypedArray() && mask.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    loss.mask_f32 = o.GetArray<float>("mask", N).data;
  } else {
    Fail("E_DTYPE", o.Name("mask"), " must be a Uint8Array or a Float32Array");
  }
  if (loss.kind == TokenLossKind::kPolicyGradient) {
    keep.push_back(o.Get("oldLogp"));
    keep.push_back(o.Get("advantages"));
    keep.push_back(o.Get("refLogp"));
    loss.old_logp = o.GetArray<float>("oldLogp", N).data;
    const Array<float> a = o.GetArray<float>("advantages");
    if (a.length != N && a.length != B)
      Fail("E_SHAPE", o.Name("advantages"), " must have one value per position (", N, ") or per sequence (", B,
           "), got ", a.length);
    loss.advantages = a.data;
    loss.advantages_length = a.length;
    loss.ref_logp = o.GetOptionalArray<float>("refLogp", N).data;
    loss.options = ReadLossOptions(o);  // shared with the policyLoss binding
    if (loss.options.kl_coef > 0 && !loss.ref_logp) Fail("E_ARG", o.Name("klCoef"), " > 0 needs ", o.Name("refLogp"));
  }
  return loss;
}

Napi::Object MetricsObject(Napi::Env env, const PolicyMetrics& m) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("loss", m.loss);
  out.Set("gradNorm", m.grad_norm);
  out.Set("clipFrac", m.clip_frac);
  out.Set("clipFracLower", m.clip_frac_lower);
  out.Set("approxKl", m.approx_kl);
  out.Set("entropy", m.entropy);
  return out;
}

// Drops the last references on the compute thread, after the tasks queued
// before it (destruction may wait for the model's lock).
Napi::Value ReleaseAsync(Napi::Env env, std::shared_ptr<void> victim) {
  auto holder = std::make_shared<std::shared_ptr<void>>(std::move(victim));
  return Task::Start(
      env, {}, {}, [holder] { holder->reset(); },
      ResolveUndefined);
}

// ---- tensor table (sync, O(L)) -------------------------------------------------

// policyTensorTable(config) -> the tensors of policy.md in checkpoint order
Napi::Value PolicyTensorTableFn(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const PolicyConfig config = GetConfig(Baton(info[0], "config"));
    const std::vector<PolicyTensor> table = PolicyTensorTable(config);
    Napi::Array out = Napi::Array::New(env, table.size());
    for (size_t i = 0; i < table.size(); ++i) {
      Napi::Object t = Napi::Object::New(env);
      t.Set("name", table[i].name);
      Napi::Array shape = Napi::Array::New(env, table[i].shape.size());
      for (size_t d = 0; d < table[i].shape.size(); ++d) shape.Set(static_cast<uint32_t>(d), static_cast<double>(table[i].shape[d]));
      t.Set("shape", shape);
      t.Set("offset", static_cast<double>(table[i].offset));
      t.Set("size", static_cast<double>(table[i].size));
      t.Set("decay", table[i].decay);
      out.Set(static_cast<uint32_t>(i), t);
    }
    return out;
  });
}
PV_BINDING("policyTensorTable", PolicyTensorTableFn);

// ---- lifetime ----------------------------------------------------------------------

// policyCreate({ backend, config, threads, seed, parameters? }) -> Promise<handle>
Napi::Value PolicyCreate(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policyCreate options");
    const Device device = b.Backend();
    const PolicyConfig config = GetConfig(b.Child("config"));
    const int threads = static_cast<int>(b.Integer("threads", 0, INT32_MAX));
    const uint64_t seed = static_cast<uint64_t>(b.Integer("seed", 0, kMaxExactInteger));
    size_t count = 0;
    for (const PolicyTensor& t : PolicyTensorTable(config)) count += t.size;
    const Array<float> params = b.GetOptionalArray<float>("parameters", count);
    auto model = std::make_shared<std::shared_ptr<PolicyModel>>();
    return Task::Start(
        env, {b.Get("parameters")}, {},
        [=] {
          auto m = std::make_shared<PolicyModel>(config, device, threads);
          if (params.data) {
            m->SetParameters(params.data);
          } else {
            m->InitRandom(seed);
          }
          *model = std::move(m);
        },
        [model](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          auto* holder = new PolicyHolder{std::move(*model)};
          return Napi::External<PolicyHolder>::New(env, holder, [](Napi::Env, PolicyHolder* h) { delete h; });
        });
  });
}
PV_BINDING("policyCreate", PolicyCreate);

// policyDispose({ policy }) -> Promise<void> (undefined when already disposed)
Napi::Value PolicyDispose(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    PolicyHolder& holder = GetPolicyHolder(Baton(info[0], "policyDispose options"));
    if (!holder.model) return info.Env().Undefined();
    return ReleaseAsync(info.Env(), std::static_pointer_cast<void>(std::move(holder.model)));
  });
}
PV_BINDING("policyDispose", PolicyDispose);

// ---- parameters and optimizer state -------------------------------------------------

// policyParameters({ policy }) -> Promise<Float32Array>
Napi::Value PolicyParameters(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(Baton(info[0], "policyParameters options"));
    Napi::Float32Array out = Napi::Float32Array::New(env, model->parameter_count());
    float* dst = out.Data();
    return Task::Start(env, {}, {out}, [model, dst] { model->GetParameters(dst); },
                       ResolveFirstOutput);
  });
}
PV_BINDING("policyParameters", PolicyParameters);

// policySetParameters({ policy, parameters })
Napi::Value PolicySetParameters(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policySetParameters options");
    std::shared_ptr<PolicyModel> model = GetModel(b);
    const Array<float> params = b.GetArray<float>("parameters", model->parameter_count());
    return Task::Start(env, {b.Get("parameters")}, {}, [model, params] { model->SetParameters(params.data); },
                       ResolveUndefined);
  });
}
PV_BINDING("policySetParameters", PolicySetParameters);

// policyOptimizerState({ policy }) -> Promise<{ m, v, step }>
Napi::Value PolicyOptimizerState(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(Baton(info[0], "policyOptimizerState options"));
    Napi::Float32Array m = Napi::Float32Array::New(env, model->parameter_count());
    Napi::Float32Array v = Napi::Float32Array::New(env, model->parameter_count());
    float *pm = m.Data(), *pv = v.Data();
    auto step = std::make_shared<int64_t>(0);
    return Task::Start(
        env, {}, {m, v}, [model, pm, pv, step] { model->GetOptimizerState(pm, pv, step.get()); },
        [step](Napi::Env env, const std::vector<Napi::Value>& outputs) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("m", outputs[0]);
          out.Set("v", outputs[1]);
          out.Set("step", static_cast<double>(*step));
          return out;
        });
  });
}
PV_BINDING("policyOptimizerState", PolicyOptimizerState);

// policySetOptimizerState({ policy, m, v, step })
Napi::Value PolicySetOptimizerState(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policySetOptimizerState options");
    std::shared_ptr<PolicyModel> model = GetModel(b);
    const Array<float> m = b.GetArray<float>("m", model->parameter_count());
    const Array<float> v = b.GetArray<float>("v", model->parameter_count());
    const int64_t step = b.Integer("step", 0, kMaxExactInteger);
    return Task::Start(env, {b.Get("m"), b.Get("v")}, {}, [model, m, v, step] { model->SetOptimizerState(m.data, v.data, step); },
                       ResolveUndefined);
  });
}
PV_BINDING("policySetOptimizerState", PolicySetOptimizerState);

// ---- log-probs, gradients, train step -------------------------------------------------

// policyLogprobs({ policy, batch }) -> Promise<{ logp, entropy }>
Napi::Value PolicyLogprobs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policyLogprobs options");
    std::shared_ptr<PolicyModel> model = GetModel(b);
    std::vector<Napi::Value> keep;
    const PolicyBatch batch = GetBatch(b.Child("batch"), keep);
    Napi::Float32Array logp = Napi::Float32Array::New(env, batch.positions);
    Napi::Float32Array entropy = Napi::Float32Array::New(env, batch.positions);
    float *lp = logp.Data(), *en = entropy.Data();
    return Task::Start(
        env, keep, {logp, entropy}, [model, batch, lp, en] { model->Logprobs(lp, en, batch); },
        [](Napi::Env env, const std::vector<Napi::Value>& outputs) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("logp", outputs[0]);
          out.Set("entropy", outputs[1]);
          return out;
        });
  });
}
PV_BINDING("policyLogprobs", PolicyLogprobs);

// policyGradients({ policy, batch, loss }) -> Promise<metrics & { grads }>
Napi::Value PolicyGradients(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policyGradients options");
    std::shared_ptr<PolicyModel> model = GetModel(b);
    std::vector<Napi::Value> keep;
    const PolicyBatch batch = GetBatch(b.Child("batch"), keep);
    const PolicyLossSpec loss = GetLoss(b.Child("loss"), batch.positions, batch.sequences, keep);
    Napi::Float32Array grads = Napi::Float32Array::New(env, model->parameter_count());
    float* g = grads.Data();
    auto metrics = std::make_shared<PolicyMetrics>();
    return Task::Start(
        env, keep, {grads}, [model, batch, loss, g, metrics] { *metrics = model->Gradients(g, batch, loss); },
        [metrics](Napi::Env env, const std::vector<Napi::Value>& outputs) -> Napi::Value {
          Napi::Object out = MetricsObject(env, *metrics);
          out.Set("grads", outputs[0]);
          return out;
        });
  });
}
PV_BINDING("policyGradients", PolicyGradients);

// policyTrainStep({ policy, batch, loss, optim }) -> Promise<metrics>
Napi::Value PolicyTrainStep(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policyTrainStep options");
    std::shared_ptr<PolicyModel> model = GetModel(b);
    std::vector<Napi::Value> keep;
    const PolicyBatch batch = GetBatch(b.Child("batch"), keep);
    const PolicyLossSpec loss = GetLoss(b.Child("loss"), batch.positions, batch.sequences, keep);
    // AdamW's settings, validated by lib/policy/policy.ts (validateOptim).
    const Baton o = b.Child("optim");
    AdamWOptions optim;
    optim.lr = o.Number("lr");
    optim.beta1 = o.Number("beta1");
    optim.beta2 = o.Number("beta2");
    optim.eps = o.Number("eps");
    optim.weight_decay = o.Number("weightDecay");
    optim.grad_clip = o.Number("gradClip");
    auto metrics = std::make_shared<PolicyMetrics>();
    return Task::Start(
        env, keep, {}, [model, batch, loss, optim, metrics] { *metrics = model->TrainStep(batch, loss, optim); },
        [metrics](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value { return MetricsObject(env, *metrics); });
  });
}
PV_BINDING("policyTrainStep", PolicyTrainStep);

// ---- sessions --------------------------------------------------------------------------

// policySessionStart({ policy, prompts }) -> Promise<handle>
Napi::Value PolicySessionStart(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policySessionStart options");
    std::shared_ptr<PolicyModel> model = GetModel(b);
    std::vector<Napi::Value> keep;
    const PolicyBatch prompts = GetBatch(b.Child("prompts"), keep);
    auto session = std::make_shared<std::shared_ptr<PolicySession>>();
    return Task::Start(
        env, keep, {}, [model, prompts, session] { *session = model->StartSession(prompts); },
        [session](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          auto* holder = new SessionHolder{std::move(*session)};
          return Napi::External<SessionHolder>::New(env, holder, [](Napi::Env, SessionHolder* h) { delete h; });
        });
  });
}
PV_BINDING("policySessionStart", PolicySessionStart);

// policySessionGenerate({ session, maxNewTokens, temperature, topK, stopTokens, seed, seeds? })
//   -> Promise<{ tokens, logp, offsets, stopped }>
Napi::Value PolicySessionGenerate(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policySessionGenerate options");
    std::shared_ptr<PolicySession> session = GetSession(b);
    SampleOptions o;
    o.max_new_tokens = static_cast<size_t>(b.Integer("maxNewTokens", 0, INT32_MAX));
    o.temperature = b.Number("temperature");
    o.top_k = static_cast<size_t>(b.Integer("topK", 0, INT32_MAX));
    const Array<int32_t> stops = b.GetArray<int32_t>("stopTokens");
    o.stop_tokens.assign(stops.data, stops.data + stops.length);
    o.seed = static_cast<uint64_t>(b.Integer("seed", 0, kMaxExactInteger));
    if (b.Has("seeds")) {
      const Napi::Value value = b.Get("seeds");
      if (!value.IsArray()) Fail("E_DTYPE", "seeds must be an array of integers");
      const Napi::Array seeds = value.As<Napi::Array>();
      o.seeds.resize(seeds.Length());
      for (uint32_t i = 0; i < seeds.Length(); ++i)
        o.seeds[i] = static_cast<uint64_t>(GetInteger(seeds.Get(i), "seeds[i]", 0, kMaxExactInteger));
    }
    auto result = std::make_shared<GenerateResult>();
    return Task::Start(
        env, {}, {}, [session, o, result] { *result = session->Generate(o); },
        [result](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          Napi::Int32Array tokens = CopyToTypedArray<Napi::Int32Array>(env, result->tokens);
          Napi::Float32Array logp = CopyToTypedArray<Napi::Float32Array>(env, result->logp);
          Napi::Int32Array offsets = CopyToTypedArray<Napi::Int32Array>(env, result->offsets);
          Napi::Uint8Array stopped = CopyToTypedArray<Napi::Uint8Array>(env, result->stopped);
          Napi::Object out = Napi::Object::New(env);
          out.Set("tokens", tokens);
          out.Set("logp", logp);
          out.Set("offsets", offsets);
          out.Set("stopped", stopped);
          return out;
        });
  });
}
PV_BINDING("policySessionGenerate", PolicySessionGenerate);

// policySessionAppend({ session, observations }) -> Promise<Uint8Array> (1: did not fit)
Napi::Value PolicySessionAppend(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policySessionAppend options");
    std::shared_ptr<PolicySession> session = GetSession(b);
    std::vector<Napi::Value> keep;
    const PolicyBatch obs = GetBatch(b.Child("observations"), keep);
    auto overflow = std::make_shared<std::vector<uint8_t>>();
    return Task::Start(
        env, keep, {}, [session, obs, overflow] { *overflow = session->Append(obs); },
        [overflow](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          Napi::Uint8Array out = CopyToTypedArray<Napi::Uint8Array>(env, *overflow);
          return out;
        });
  });
}
PV_BINDING("policySessionAppend", PolicySessionAppend);

// policySessionEnd({ session, sequences }): indices in [0, B), checked by the session.
Napi::Value PolicySessionEnd(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Baton b(info[0], "policySessionEnd options");
    std::shared_ptr<PolicySession> session = GetSession(b);
    const Array<int32_t> which = b.GetArray<int32_t>("sequences");
    std::vector<size_t> slots;
    for (size_t i = 0; i < which.length; ++i) {
      if (which.data[i] < 0) Fail("E_ARG", "sequences[", i, "] must be >= 0, got ", which.data[i]);
      slots.push_back(static_cast<size_t>(which.data[i]));
    }
    return Task::Start(env, {}, {}, [session, slots] { session->End(slots); }, ResolveUndefined);
  });
}
PV_BINDING("policySessionEnd", PolicySessionEnd);

// policySessionState({ session }) -> Promise<{ live, lengths, forwarded }>: which
// sequences are live and their lengths (after every call issued before).
Napi::Value PolicySessionState(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicySession> session = GetSession(Baton(info[0], "policySessionState options"));
    auto live = std::make_shared<std::vector<uint8_t>>();
    auto lengths = std::make_shared<std::vector<int32_t>>();
    auto forwarded = std::make_shared<size_t>(0);
    return Task::Start(
        env, {}, {},
        [session, live, lengths, forwarded] {
          *live = session->Live();
          *lengths = session->Lengths();
          *forwarded = session->Forwarded();
        },
        [live, lengths, forwarded](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          Napi::Uint8Array l = CopyToTypedArray<Napi::Uint8Array>(env, *live);
          Napi::Int32Array n = CopyToTypedArray<Napi::Int32Array>(env, *lengths);
          Napi::Object out = Napi::Object::New(env);
          out.Set("live", l);
          out.Set("lengths", n);
          out.Set("forwarded", static_cast<double>(*forwarded));
          return out;
        });
  });
}
PV_BINDING("policySessionState", PolicySessionState);

// policySessionDispose({ session }) -> Promise<void> (undefined when already disposed)
Napi::Value PolicySessionDispose(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    SessionHolder& holder = GetSessionHolder(Baton(info[0], "policySessionDispose options"));
    if (!holder.session) return info.Env().Undefined();
    return ReleaseAsync(info.Env(), std::static_pointer_cast<void>(std::move(holder.session)));
  });
}
PV_BINDING("policySessionDispose", PolicySessionDispose);

}  // namespace
}  // namespace napi
}  // namespace pv

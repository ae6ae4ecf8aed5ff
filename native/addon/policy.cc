// Bindings of the policy engine (lib/policy/policy.ts; typed in lib/native/addon.ts).
// A policy and a session are JS externals holding a shared_ptr; every task
// copies the shared_ptr, so disposing while a task runs is safe, and the
// release itself runs on the compute thread (it may wait for the model's lock).
#include <chrono>
#include <cmath>
#include <map>
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

PolicyHolder& GetPolicyHolder(const Napi::Value& value) {
  if (!value.IsExternal()) Fail("E_ARG", "policy handle must be the value returned by policyCreate");
  return *value.As<Napi::External<PolicyHolder>>().Data();
}

std::shared_ptr<PolicyModel> GetModel(const Napi::Value& value) {
  PolicyHolder& holder = GetPolicyHolder(value);
  if (!holder.model) Fail("E_DISPOSED", "the policy was disposed");
  return holder.model;
}

std::shared_ptr<PolicySession> GetSession(const Napi::Value& value) {
  if (!value.IsExternal()) Fail("E_ARG", "session handle must be the value returned by policySessionStart");
  SessionHolder& holder = *value.As<Napi::External<SessionHolder>>().Data();
  if (!holder.session) Fail("E_DISPOSED", "the session was disposed");
  return holder.session;
}

PolicyConfig GetConfig(const Napi::CallbackInfo& info, size_t first) {
  PolicyConfig c;
  c.vocab_size = static_cast<size_t>(GetInteger(info[first + 0], "config.vocabSize", 1, INT32_MAX));
  c.patch_dim = static_cast<size_t>(GetInteger(info[first + 1], "config.patchDim", 1, INT32_MAX));
  c.max_seq_len = static_cast<size_t>(GetInteger(info[first + 2], "config.maxSeqLen", 1, INT32_MAX));
  c.layers = static_cast<size_t>(GetInteger(info[first + 3], "config.layers", 1, INT32_MAX));
  c.heads = static_cast<size_t>(GetInteger(info[first + 4], "config.heads", 1, INT32_MAX));
  c.dim = static_cast<size_t>(GetInteger(info[first + 5], "config.dim", 1, INT32_MAX));
  ValidatePolicyConfig(c);
  return c;
}

// A SequenceBatch given as (tokens, patches, seqOffsets); shapes checked here,
// values (token range, NaN, lengths) on the compute thread.
PolicyBatch GetBatch(const Napi::Value& tokens_v, const Napi::Value& patches_v, const Napi::Value& offsets_v,
                     const char* name) {
  const std::string n(name);
  // Token ids and offsets index memory: copies (GetSnapshot), so that what is
  // validated is what the compute thread reads.
  const Array<int32_t> tokens = GetSnapshot<int32_t>(tokens_v, (n + ".tokens").c_str());
  const Array<float> patches = GetArray<float>(patches_v, (n + ".patches").c_str());
  const Array<int32_t> offsets = GetSnapshot<int32_t>(offsets_v, (n + ".seqOffsets").c_str());
  if (offsets.length < 1) Fail("E_SHAPE", name, ".seqOffsets must have length B + 1 >= 1, got 0");
  PolicyBatch b;
  b.tokens = tokens.data;
  b.positions = tokens.length;
  b.patches = patches.data;
  b.patch_floats = patches.length;
  b.seq_offsets = offsets.data;
  b.sequences = offsets.length - 1;
  return b;
}

// The loss object of lib/policy/policy.ts (validated there; kind and the
// loss options' enums by name, read by ReadLossOptions).
PolicyLossSpec GetLoss(const Napi::Value& value, size_t N, size_t B, std::vector<Napi::Value>& keep) {
  if (!value.IsObject()) Fail("E_ARG", "loss must be an object");
  Napi::Object o = value.As<Napi::Object>();
  PolicyLossSpec loss;
  static const char* const kKinds[] = {"pg", "sft"};  // TokenLossKind order
  loss.kind = static_cast<TokenLossKind>(GetEnum(o.Get("kind"), "loss.kind", kKinds, 2));
  const Napi::Value mask = o.Get("mask");
  keep.push_back(mask);
  if (mask.IsTypedArray() && mask.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    loss.mask_u8 = GetArray<uint8_t>(mask, "loss.mask", N).data;
  } else if (mask.IsTypedArray() && mask.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    loss.mask_f32 = GetArray<float>(mask, "loss.mask", N).data;
  } else {
    Fail("E_DTYPE", "loss.mask must be a Uint8Array or a Float32Array");
  }
  if (loss.kind == TokenLossKind::kPolicyGradient) {
    const Napi::Value old_logp = o.Get("oldLogp"), adv = o.Get("advantages"), ref = o.Get("refLogp");
    keep.push_back(old_logp);
    keep.push_back(adv);
    keep.push_back(ref);
    loss.old_logp = GetArray<float>(old_logp, "loss.oldLogp", N).data;
    const Array<float> a = GetArray<float>(adv, "loss.advantages");
    if (a.length != N && a.length != B)
      Fail("E_SHAPE", "loss.advantages must have one value per position (", N, ") or per sequence (", B, "), got ",
           a.length);
    loss.advantages = a.data;
    loss.advantages_length = a.length;
    loss.ref_logp = GetOptionalArray<float>(ref, "loss.refLogp", N).data;
    loss.options = ReadLossOptions(Baton(value, "loss"));  // shared with the policyLoss binding
    if (loss.options.kl_coef > 0 && !loss.ref_logp) Fail("E_ARG", "loss.klCoef > 0 needs loss.refLogp");
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

Napi::Value PolicyTensorTableFn(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const PolicyConfig config = GetConfig(info, 0);
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

// policyCreate(device, V, P, T, L, H, C, threads, seed, params?) -> Promise<handle>
Napi::Value PolicyCreate(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Device device = GetDevice(info[0]);
    const PolicyConfig config = GetConfig(info, 1);
    const int threads = static_cast<int>(GetInteger(info[7], "threads", 0, 4096));
    const double seed = GetNumber(info[8], "seed");
    if (seed < 0 || seed > 9007199254740991.0 || seed != static_cast<double>(static_cast<uint64_t>(seed)))
      Fail("E_ARG", "seed must be an integer in [0, 2^53 - 1], got ", seed);
    size_t count = 0;
    for (const PolicyTensor& t : PolicyTensorTable(config)) count += t.size;
    const Array<float> params = GetOptionalArray<float>(info[9], "parameters", count);
    auto model = std::make_shared<std::shared_ptr<PolicyModel>>();
    const uint64_t seed_u = static_cast<uint64_t>(seed);
    return Task::Start(
        env, {info[9]}, {},
        [=] {
          auto m = std::make_shared<PolicyModel>(config, device, threads);
          if (params.data) {
            m->SetParameters(params.data);
          } else {
            m->InitRandom(seed_u);
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

Napi::Value PolicyDispose(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    PolicyHolder& holder = GetPolicyHolder(info[0]);
    if (!holder.model) return info.Env().Undefined();
    return ReleaseAsync(info.Env(), std::static_pointer_cast<void>(std::move(holder.model)));
  });
}
PV_BINDING("policyDispose", PolicyDispose);

// ---- parameters and optimizer state -------------------------------------------------

Napi::Value PolicyParameters(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(info[0]);
    Napi::Float32Array out = Napi::Float32Array::New(env, model->parameter_count());
    float* dst = out.Data();
    return Task::Start(env, {}, {out}, [model, dst] { model->GetParameters(dst); },
                       ResolveFirstOutput);
  });
}
PV_BINDING("policyParameters", PolicyParameters);

Napi::Value PolicySetParameters(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(info[0]);
    const Array<float> params = GetArray<float>(info[1], "parameters", model->parameter_count());
    return Task::Start(env, {info[1]}, {}, [model, params] { model->SetParameters(params.data); },
                       ResolveUndefined);
  });
}
PV_BINDING("policySetParameters", PolicySetParameters);

Napi::Value PolicyOptimizerState(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(info[0]);
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

Napi::Value PolicySetOptimizerState(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(info[0]);
    const Array<float> m = GetArray<float>(info[1], "optimizer.m", model->parameter_count());
    const Array<float> v = GetArray<float>(info[2], "optimizer.v", model->parameter_count());
    const int64_t step = GetInteger(info[3], "optimizer.step", 0, INT64_C(9007199254740991));
    return Task::Start(env, {info[1], info[2]}, {}, [model, m, v, step] { model->SetOptimizerState(m.data, v.data, step); },
                       ResolveUndefined);
  });
}
PV_BINDING("policySetOptimizerState", PolicySetOptimizerState);

// ---- log-probs, gradients, train step -------------------------------------------------

Napi::Value PolicyLogprobs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(info[0]);
    const PolicyBatch batch = GetBatch(info[1], info[2], info[3], "batch");
    Napi::Float32Array logp = Napi::Float32Array::New(env, batch.positions);
    Napi::Float32Array entropy = Napi::Float32Array::New(env, batch.positions);
    float *lp = logp.Data(), *en = entropy.Data();
    return Task::Start(
        env, {info[1], info[2], info[3]}, {logp, entropy}, [model, batch, lp, en] { model->Logprobs(lp, en, batch); },
        [](Napi::Env env, const std::vector<Napi::Value>& outputs) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("logp", outputs[0]);
          out.Set("entropy", outputs[1]);
          return out;
        });
  });
}
PV_BINDING("policyLogprobs", PolicyLogprobs);

Napi::Value PolicyGradients(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(info[0]);
    const PolicyBatch batch = GetBatch(info[1], info[2], info[3], "batch");
    std::vector<Napi::Value> keep{info[1], info[2], info[3]};
    const PolicyLossSpec loss = GetLoss(info[4], batch.positions, batch.sequences, keep);
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

Napi::Value PolicyTrainStep(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(info[0]);
    const PolicyBatch batch = GetBatch(info[1], info[2], info[3], "batch");
    std::vector<Napi::Value> keep{info[1], info[2], info[3]};
    const PolicyLossSpec loss = GetLoss(info[4], batch.positions, batch.sequences, keep);
    if (!info[5].IsObject()) Fail("E_ARG", "optim must be an object");
    Napi::Object o = info[5].As<Napi::Object>();
    AdamWOptions optim;
    optim.lr = GetNumber(o.Get("lr"), "optim.lr");
    optim.beta1 = GetNumber(o.Get("beta1"), "optim.betas[0]");
    optim.beta2 = GetNumber(o.Get("beta2"), "optim.betas[1]");
    optim.eps = GetNumber(o.Get("eps"), "optim.eps");
    optim.weight_decay = GetNumber(o.Get("weightDecay"), "optim.weightDecay");
    optim.grad_clip = GetNumber(o.Get("gradClip"), "optim.gradClip");
    if (optim.lr < 0) Fail("E_ARG", "optim.lr must be >= 0, got ", optim.lr);
    if (optim.beta1 < 0 || optim.beta1 >= 1) Fail("E_ARG", "optim.betas[0] must be in [0, 1), got ", optim.beta1);
    if (optim.beta2 < 0 || optim.beta2 >= 1) Fail("E_ARG", "optim.betas[1] must be in [0, 1), got ", optim.beta2);
    if (optim.eps <= 0) Fail("E_ARG", "optim.eps must be > 0, got ", optim.eps);
    if (optim.weight_decay < 0) Fail("E_ARG", "optim.weightDecay must be >= 0, got ", optim.weight_decay);
    if (optim.grad_clip < 0) Fail("E_ARG", "optim.gradClip must be >= 0, got ", optim.grad_clip);
    auto metrics = std::make_shared<PolicyMetrics>();
    return Task::Start(
        env, keep, {}, [model, batch, loss, optim, metrics] { *metrics = model->TrainStep(batch, loss, optim); },
        [metrics](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value { return MetricsObject(env, *metrics); });
  });
}
PV_BINDING("policyTrainStep", PolicyTrainStep);

// ---- sessions --------------------------------------------------------------------------

Napi::Value PolicySessionStart(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicyModel> model = GetModel(info[0]);
    const PolicyBatch prompts = GetBatch(info[1], info[2], info[3], "prompts");
    auto session = std::make_shared<std::shared_ptr<PolicySession>>();
    return Task::Start(
        env, {info[1], info[2], info[3]}, {}, [model, prompts, session] { *session = model->StartSession(prompts); },
        [session](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          auto* holder = new SessionHolder{std::move(*session)};
          return Napi::External<SessionHolder>::New(env, holder, [](Napi::Env, SessionHolder* h) { delete h; });
        });
  });
}
PV_BINDING("policySessionStart", PolicySessionStart);

Napi::Value PolicySessionGenerate(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicySession> session = GetSession(info[0]);
    SampleOptions o;
    o.max_new_tokens = static_cast<size_t>(GetInteger(info[1], "options.maxNewTokens", 0, INT32_MAX));
    o.temperature = GetNumber(info[2], "options.temperature");
    if (o.temperature < 0) Fail("E_ARG", "options.temperature must be >= 0, got ", o.temperature);
    o.top_k = static_cast<size_t>(GetInteger(info[3], "options.topK", 0, INT32_MAX));
    const Array<int32_t> stops = GetArray<int32_t>(info[4], "options.stopTokens");
    o.stop_tokens.assign(stops.data, stops.data + stops.length);
    o.seed = static_cast<uint64_t>(GetInteger(info[5], "options.seed", 0, INT64_C(9007199254740991)));
    if (!info[6].IsUndefined()) {
      if (!info[6].IsArray()) Fail("E_DTYPE", "options.seeds must be an array of integers");
      const Napi::Array seeds = info[6].As<Napi::Array>();
      o.seeds.resize(seeds.Length());
      for (uint32_t i = 0; i < seeds.Length(); ++i)
        o.seeds[i] = static_cast<uint64_t>(GetInteger(seeds.Get(i), "options.seeds[i]", 0, INT64_C(9007199254740991)));
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

Napi::Value PolicySessionAppend(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicySession> session = GetSession(info[0]);
    const PolicyBatch obs = GetBatch(info[1], info[2], info[3], "observations");
    auto overflow = std::make_shared<std::vector<uint8_t>>();
    return Task::Start(
        env, {info[1], info[2], info[3]}, {}, [session, obs, overflow] { *overflow = session->Append(obs); },
        [overflow](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          Napi::Uint8Array out = CopyToTypedArray<Napi::Uint8Array>(env, *overflow);
          return out;
        });
  });
}
PV_BINDING("policySessionAppend", PolicySessionAppend);

Napi::Value PolicySessionEnd(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicySession> session = GetSession(info[0]);
    const Array<int32_t> which = GetArray<int32_t>(info[1], "sequences");
    std::vector<size_t> slots;
    for (size_t i = 0; i < which.length; ++i) {
      if (which.data[i] < 0) Fail("E_ARG", "sequences[", i, "] must be >= 0, got ", which.data[i]);
      slots.push_back(static_cast<size_t>(which.data[i]));
    }
    return Task::Start(
        env, {}, {}, [session, slots] { session->End(slots); },
        [](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value { return env.Undefined(); });
  });
}
PV_BINDING("policySessionEnd", PolicySessionEnd);

// Which sequences are live and their lengths (after every call issued before).
Napi::Value PolicySessionState(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::shared_ptr<PolicySession> session = GetSession(info[0]);
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

Napi::Value PolicySessionDispose(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    if (!info[0].IsExternal()) Fail("E_ARG", "session handle must be the value returned by policySessionStart");
    SessionHolder& holder = *info[0].As<Napi::External<SessionHolder>>().Data();
    if (!holder.session) return info.Env().Undefined();
    return ReleaseAsync(info.Env(), std::static_pointer_cast<void>(std::move(holder.session)));
  });
}
PV_BINDING("policySessionDispose", PolicySessionDispose);

// ---- single ops, for the per-layer tests ----------------------------------------------
// policyOpRun(device, op, arrays, sizes) runs one PolicyOps op on `device`:
// every typed array of `arrays` is uploaded to backend memory (so outputs
// that accumulate start from the values given), the op runs, and its outputs
// are downloaded back into the same typed arrays. Resolves with the op's
// scalar result (sumSquares) or undefined; with sizes.repeat = k > 0 the op
// runs k more times and the promise resolves with the seconds per call.

struct OpArray {
  void* host = nullptr;
  size_t bytes = 0;
  size_t length = 0;
  void* dev = nullptr;
};

Napi::Value PolicyOpRun(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Device device = GetDevice(info[0]);
    if (!info[1].IsString()) Fail("E_ARG", "op must be a string");
    const std::string op = info[1].As<Napi::String>().Utf8Value();
    if (!info[2].IsObject() || !info[3].IsObject()) Fail("E_ARG", "arrays and sizes must be objects");
    Napi::Object arrays_obj = info[2].As<Napi::Object>();
    Napi::Object sizes_obj = info[3].As<Napi::Object>();
    auto arrays = std::make_shared<std::map<std::string, OpArray>>();
    Napi::Array names = arrays_obj.GetPropertyNames();
    std::vector<Napi::Value> keep;
    for (uint32_t i = 0; i < names.Length(); ++i) {
      const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
      Napi::Value value = arrays_obj.Get(name);
      if (!value.IsTypedArray()) Fail("E_DTYPE", "arrays.", name, " must be a typed array");
      Napi::TypedArray t = value.As<Napi::TypedArray>();
      const napi_typedarray_type type = t.TypedArrayType();
      if (type != napi_float32_array && type != napi_int32_array)
        Fail("E_DTYPE", "arrays.", name, " must be a Float32Array or an Int32Array");
      OpArray a;
      a.length = t.ElementLength();
      a.bytes = t.ByteLength();
      a.host = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
      (*arrays)[name] = a;
      keep.push_back(value);
    }
    auto sizes = std::make_shared<std::map<std::string, double>>();
    Napi::Array size_names = sizes_obj.GetPropertyNames();
    for (uint32_t i = 0; i < size_names.Length(); ++i) {
      const std::string name = size_names.Get(i).As<Napi::String>().Utf8Value();
      (*sizes)[name] = GetNumber(sizes_obj.Get(name), name.c_str());
    }
    auto result = std::make_shared<double>(NAN);
    return Task::Start(
        env, keep, {},
        [device, op, arrays, sizes, result] {
          std::unique_ptr<PolicyOps> ops = MakePolicyOps(device, 0);
          auto size = [&](const char* name) -> size_t {
            auto it = sizes->find(name);
            if (it == sizes->end()) Fail("E_ARG", "op ", op, " needs sizes.", name);
            return static_cast<size_t>(it->second);
          };
          auto number = [&](const char* name, double fallback) {
            auto it = sizes->find(name);
            return it == sizes->end() ? fallback : it->second;
          };
          struct Freer {
            PolicyOps* ops;
            std::map<std::string, OpArray>* arrays;
            ~Freer() {
              for (auto& kv : *arrays) ops->Free(kv.second.dev);
            }
          } freer{ops.get(), arrays.get()};
          for (auto& kv : *arrays) {
            kv.second.dev = ops->Alloc(kv.second.bytes);
            ops->Upload(kv.second.dev, kv.second.host, kv.second.bytes);
          }
          auto f = [&](const char* name) -> float* {
            auto it = arrays->find(name);
            return it == arrays->end() ? nullptr : static_cast<float*>(it->second.dev);
          };
          auto i32 = [&](const char* name) -> int32_t* {
            auto it = arrays->find(name);
            return it == arrays->end() ? nullptr : static_cast<int32_t*>(it->second.dev);
          };
          AttentionLayout layout;
          if (op == "attentionForward" || op == "attentionBackward") {
            layout.query_offsets = i32("queryOffsets");
            layout.key_start = i32("keyStart");
            layout.first_position = i32("firstPosition");
            layout.sequences = size("B");
            layout.max_queries = size("maxQueries");
            layout.max_keys = size("maxKeys");
          }
          std::vector<const char*> outputs;
          auto run_op = [&]() {
            if (op == "embeddingForward") {
              ops->EmbeddingForward(f("out"), i32("tokens"), i32("patchRows"), i32("positions"), f("tokEmb"), f("posEmb"),
                                    f("patchOut"), size("N"), size("C"));
              outputs = {"out"};
            } else if (op == "embeddingBackward") {
              ops->EmbeddingBackward(f("dTokEmb"), f("dPosEmb"), f("dPatchOut"), f("dout"), i32("tokens"), i32("patchRows"),
                                     i32("positions"), size("N"), size("C"));
              outputs = {"dTokEmb", "dPosEmb", "dPatchOut"};
            } else if (op == "layerNormForward") {
              ops->LayerNormForward(f("out"), f("mean"), f("rstd"), f("inp"), f("weight"), f("bias"), size("N"), size("C"));
              outputs = {"out", "mean", "rstd"};
            } else if (op == "layerNormBackward") {
              ops->LayerNormBackward(f("dinp"), f("dweight"), f("dbias"), f("dout"), f("inp"), f("weight"), f("mean"),
                                     f("rstd"), size("N"), size("C"));
              outputs = {"dinp", "dweight", "dbias"};
            } else if (op == "matmulForward") {
              ops->MatmulForward(f("out"), f("inp"), f("weight"), f("bias"), size("N"), size("I"), size("O"));
              outputs = {"out"};
            } else if (op == "matmulBackward") {
              ops->MatmulBackward(f("dinp"), f("dweight"), f("dbias"), f("dout"), f("inp"), f("weight"), size("N"),
                                  size("I"), size("O"));
              outputs = {"dinp", "dweight", "dbias"};
            } else if (op == "attentionForward") {
              ops->AttentionForward(f("out"), f("lse"), f("q"), f("k"), f("v"), layout, size("N"), size("C"), size("H"),
                                    size("ldq"), size("ldkv"));
              outputs = {"out", "lse"};
            } else if (op == "attentionBackward") {
              ops->AttentionBackward(f("dq"), f("dk"), f("dv"), f("dout"), f("out"), f("lse"), f("q"), f("k"), f("v"),
                                     layout, size("N"), size("C"), size("H"), size("ldq"), size("ldkv"));
              outputs = {"dq", "dk", "dv"};
            } else if (op == "geluForward") {
              ops->GeluForward(f("out"), f("inp"), size("n"));
              outputs = {"out"};
            } else if (op == "geluBackward") {
              ops->GeluBackward(f("dinp"), f("dout"), f("inp"), size("n"));
              outputs = {"dinp"};
            } else if (op == "residualForward") {
              ops->ResidualForward(f("out"), f("a"), f("b"), size("n"));
              outputs = {"out"};
            } else if (op == "gatherRows") {
              ops->GatherRows(f("out"), f("inp"), i32("rows"), size("n"), size("width"), size("ldIn"));
              outputs = {"out"};
            } else if (op == "scatterRows") {
              ops->ScatterRows(f("out"), f("inp"), i32("rows"), size("n"), size("width"), size("ldOut"), size("ldIn"));
              outputs = {"out"};
            } else if (op == "logSoftmaxForward") {
              ops->LogSoftmaxForward(f("logp"), f("entropy"), f("logits"), i32("targets"), size("N"), size("V"));
              outputs = {"logp", "entropy"};
            } else if (op == "logSoftmaxLossBackward") {
              TokenLossArgs a;
              a.kind = static_cast<TokenLossKind>(size("kind"));
              a.weight = f("weight");
              a.old_logp = f("oldLogp");
              a.advantages = f("advantages");
              a.ref_logp = f("refLogp");
              a.clip_low = static_cast<float>(number("clipLow", 0.2));
              a.clip_high = static_cast<float>(number("clipHigh", 0.2));
              a.dual_clip = static_cast<float>(number("dualClip", 3.0));
              a.use_dual_clip = a.dual_clip > 1.0f;
              a.kl_coef = static_cast<float>(number("klCoef", 0.0));
              a.kl_type = static_cast<KlType>(static_cast<int>(number("klType", 2)));
              ops->LogSoftmaxLossBackward(f("dlogits"), f("logp"), f("entropy"), f("logits"), i32("targets"), a, size("N"),
                                          size("V"));
              outputs = {"dlogits", "logp", "entropy"};
            } else if (op == "sumSquares") {
              *result = ops->SumSquares(f("x"), size("n"));
            } else if (op == "adamw") {
              AdamWArgs a;
              a.lr = static_cast<float>(number("lr", 1e-3));
              a.beta1 = static_cast<float>(number("beta1", 0.9));
              a.beta2 = static_cast<float>(number("beta2", 0.999));
              a.eps = static_cast<float>(number("eps", 1e-8));
              a.weight_decay = static_cast<float>(number("weightDecay", 0));
              a.grad_scale = static_cast<float>(number("gradScale", 1));
              a.bias_correction1 = static_cast<float>(number("biasCorrection1", 1));
              a.bias_correction2 = static_cast<float>(number("biasCorrection2", 1));
              ops->AdamW(f("params"), f("m"), f("v"), f("grads"), size("n"), a);
              outputs = {"params", "m", "v"};
            } else {
              Fail("E_ARG", "unknown op '", op, "'");
            }
          };
          const size_t repeat = static_cast<size_t>(number("repeat", 0));
          run_op();
          if (repeat > 0) {
            // Timing mode: the op alone, `repeat` more times, after one warm-up call.
            ops->Synchronize();
            const auto t0 = std::chrono::steady_clock::now();
            for (size_t r = 0; r < repeat; ++r) run_op();
            ops->Synchronize();
            *result = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(repeat);
          }
          ops->Synchronize();
          for (const char* name : outputs) {
            auto it = arrays->find(name);
            if (it != arrays->end()) ops->Download(it->second.host, it->second.dev, it->second.bytes);
          }
        },
        [result](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          if (std::isnan(*result)) return env.Undefined();
          return Napi::Number::New(env, *result);
        });
  });
}
PV_BINDING("policyOpRun", PolicyOpRun);

}  // namespace
}  // namespace napi
}  // namespace pv

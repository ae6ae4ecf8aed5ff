// The per-op test harness, a test-only addon (build/Release/pyvision_rl_ops.node,
// the CMake target pyvision_rl_ops outside the default build: `npm run
// build:ops`, which `npm test` runs first). It runs single PolicyOps ops
// (core/policy_ops.h) for test/policy/policy-ops.test.ts and the matmul row of
// bench/policy.bench.ts; typed in test/native/ops-addon.ts. The production
// addon (native/addon) does not contain it.
#include <napi.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "addon/napi_util.h"
#include "core/device.h"
#include "core/policy_model.h"

namespace pv {
namespace napi {
namespace {

// policyOpRun({ backend, op, arrays, sizes }) runs one PolicyOps op on `backend`:
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
    const Baton b(info[0], "policyOpRun options");
    const Device device = b.Backend();
    if (!b.Get("op").IsString()) Fail("E_ARG", "op must be a string");
    const std::string op = b.Get("op").As<Napi::String>().Utf8Value();
    Napi::Object arrays_obj = Baton(b.Get("arrays"), "arrays").object();
    Napi::Object sizes_obj = Baton(b.Get("sizes"), "sizes").object();
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

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass expects a constructor");
  AddonData* data = info.Env().GetInstanceData<AddonData>();
  data->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  exports.Set("policyOpRun", Napi::Function::New(env, PolicyOpRun, "policyOpRun"));
  return exports;
}

}  // namespace
}  // namespace napi
}  // namespace pv

static Napi::Object InitOpsAddon(Napi::Env env, Napi::Object exports) { return pv::napi::Init(env, exports); }

NODE_API_MODULE(pyvision_rl_ops, InitOpsAddon)

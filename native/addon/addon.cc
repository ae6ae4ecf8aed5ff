// Module entry: installs every registered binding, plus the O(1) synchronous
// calls (error class registration, backend information, thread count).
#include <napi.h>

#include "addon/napi_util.h"
#include "addon/registry.h"
#include "core/device.h"

namespace pv {
namespace napi {

std::vector<Binding>& Bindings() {
  static std::vector<Binding> bindings;
  return bindings;
}

namespace {

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass expects a constructor");
  AddonData* data = info.Env().GetInstanceData<AddonData>();
  data->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CudaStatus& cuda = QueryCuda();
  Napi::Object out = Napi::Object::New(env);
  out.Set("cudaCompiled", cuda.compiled);
  out.Set("cudaAvailable", cuda.available);
  out.Set("cudaReason", cuda.reason);
  out.Set("cudaRuntimeVersion", cuda.runtime_version);
  out.Set("cudaDriverVersion", cuda.driver_version);
  Napi::Array devices = Napi::Array::New(env, cuda.devices.size());
  for (size_t i = 0; i < cuda.devices.size(); ++i) {
    const CudaDeviceInfo& d = cuda.devices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("totalMemory", static_cast<double>(d.total_memory));
    o.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    o.Set("multiprocessors", d.multiprocessors);
    o.Set("memoryBandwidthGBs", d.memory_bandwidth_gbs);
    devices.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("devices", devices);
  out.Set("cpuThreads", CpuThreads());
#ifdef _OPENMP
  out.Set("openmp", true);
#else
  out.Set("openmp", false);
#endif
  return out;
}

// setThreads({ threads }) -> the CPU worker threads in use (lib/ bounds
// `threads` by LIMITS.cpuThreads; here it only has to fit an int).
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    const Baton b(info[0], "setThreads options");
    SetCpuThreads(static_cast<int>(b.Integer("threads", 0, INT32_MAX)));
    return Napi::Number::New(info.Env(), CpuThreads());
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo, "backendInfo"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  for (const Binding& b : Bindings()) exports.Set(b.name, Napi::Function::New(env, b.fn, b.name));
  return exports;
}

}  // namespace napi
}  // namespace pv

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return pv::napi::Init(env, exports); }

NODE_API_MODULE(pyvision_rl, InitAddon)

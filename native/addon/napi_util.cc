#include "addon/napi_util.h"

#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace pv {
namespace napi {

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data && !data->error_class.IsEmpty()) {
    Napi::Object error = data->error_class.New({Napi::String::New(env, code), Napi::String::New(env, message)});
    return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void ThrowJs(Napi::Env env, const pv::Error& error) { throw MakeError(env, error.code(), error.what()); }

std::vector<std::shared_ptr<void>>& PendingSnapshots() {
  static std::vector<std::shared_ptr<void>> pending;  // JavaScript thread only
  return pending;
}

namespace {

// Drops the snapshots a binding took but did not hand to a task.
struct DropPendingSnapshots {
  DropPendingSnapshots() { PendingSnapshots().clear(); }
  ~DropPendingSnapshots() { PendingSnapshots().clear(); }
};

}  // namespace

Napi::Value Guard(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& body) {
  DropPendingSnapshots scope;
  try {
    return body();
  } catch (const pv::Error& e) {
    ThrowJs(info.Env(), e);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw MakeError(info.Env(), "E_OOM", "out of host memory");
  } catch (const std::exception& e) {
    throw MakeError(info.Env(), "E_INTERNAL", e.what());
  }
}

const char* TypedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "an unknown typed array";
  }
}

void TypedArrayData(const Napi::Value& value, const char* name, const char* expected_name,
                    napi_typedarray_type* type, void** data, size_t* length) {
  if (!value.IsTypedArray()) Fail("E_DTYPE", name, " must be a ", expected_name, ", got a non-typed-array value");
  napi_env env = value.Env();
  napi_value buffer = nullptr;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, value, type, length, data, &buffer, &offset) != napi_ok)
    Fail("E_DTYPE", name, " must be a ", expected_name, ", got a typed array that cannot be read");
  bool plain = false;
  if (napi_is_arraybuffer(env, buffer, &plain) != napi_ok || !plain)
    Fail("E_DTYPE", name, " must be a ", expected_name, " on an ArrayBuffer, got one on a SharedArrayBuffer");
}

double GetNumber(const Napi::Value& value, const char* name) {
  if (!value.IsNumber()) Fail("E_ARG", name, " must be a number");
  const double v = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v)) Fail("E_NONFINITE", name, " must be finite, got ", v);
  return v;
}

int64_t GetInteger(const Napi::Value& value, const char* name, int64_t min, int64_t max) {
  const double v = GetNumber(value, name);
  if (v != std::floor(v) || v < static_cast<double>(min) || v > static_cast<double>(max))
    Fail("E_ARG", name, " must be an integer in [", min, ", ", max, "], got ", v);
  return static_cast<int64_t>(v);
}

bool GetBool(const Napi::Value& value, const char* name) {
  if (!value.IsBoolean()) Fail("E_ARG", name, " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

int GetEnum(const Napi::Value& value, const char* name, const char* const* names, size_t count) {
  std::string allowed;
  for (size_t i = 0; i < count; ++i) allowed += std::string(i ? ", '" : "'") + names[i] + "'";
  if (!value.IsString()) Fail("E_ARG", name, " must be one of ", allowed);
  const std::string text = value.As<Napi::String>().Utf8Value();
  for (size_t i = 0; i < count; ++i) {
    if (text == names[i]) return static_cast<int>(i);
  }
  Fail("E_ARG", name, " must be one of ", allowed, "; got '", text, "'");
}

Baton::Baton(const Napi::Value& value, const char* what) {
  if (!value.IsObject() || value.IsArray() || value.IsTypedArray()) Fail("E_ARG", what, " must be an options object");
  object_ = value.As<Napi::Object>();
}

Baton Baton::Child(const char* field) const {
  const std::string name = Name(field);
  Baton child(Get(field), name.c_str());
  child.prefix_ = name + ".";
  return child;
}

Device Baton::Backend() const {
  static const std::array<const char*, 2> names{"cpu", "cuda"};
  return Enum("backend", names) == 1 ? Device::kCuda : Device::kCpu;
}

Task::Task(Napi::Env env, Execute_ execute, Resolve resolve)
    : Napi::AsyncWorker(env, "pyvision-rl"),
      deferred_(Napi::Promise::Deferred::New(env)),
      execute_(std::move(execute)),
      resolve_(std::move(resolve)) {}

Napi::Promise Task::Start(Napi::Env env, const std::vector<Napi::Value>& inputs,
                          const std::vector<Napi::Value>& outputs, Execute_ execute, Resolve resolve) {
  Task* task = new Task(env, std::move(execute), std::move(resolve));
  for (const Napi::Value& v : inputs) {
    if (!v.IsUndefined() && !v.IsNull()) task->inputs_.push_back(Napi::Persistent(v));
  }
  for (const Napi::Value& v : outputs) task->outputs_.push_back(Napi::Persistent(v));
  task->snapshots_.swap(PendingSnapshots());
  Napi::Promise promise = task->deferred_.Promise();
  task->Napi::AsyncWorker::Queue();
  return promise;
}

namespace {

// Every task's work runs on one long-lived compute thread, one task at a
// time; the libuv worker that picked the task up waits for it. The kernels'
// OpenMP team then always has the same master thread and stays warm between
// calls (with a master per libuv worker, each call could wake a cold team;
// docs/frames.md has the measurement), their per-thread scratch exists once,
// and concurrent calls queue instead of starting one team per libuv worker on
// the same cores.
class ComputeThread {
 public:
  static ComputeThread& Get() {
    static ComputeThread* instance = new ComputeThread();  // never destroyed: the thread outlives static teardown
    return *instance;
  }

  // Runs fn on the compute thread and returns when it has finished,
  // rethrowing what it threw.
  void Run(const std::function<void()>& fn) {
    Job job{&fn, nullptr, false};
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(&job);
    work_.notify_one();
    done_.wait(lock, [&] { return job.finished; });
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  struct Job {
    const std::function<void()>* fn;
    std::exception_ptr error;
    bool finished;
  };

  ComputeThread() { std::thread([this] { Loop(); }).detach(); }

  void Loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      work_.wait(lock, [&] { return !queue_.empty(); });
      Job* job = queue_.front();
      queue_.pop_front();
      lock.unlock();
      try {
        (*job->fn)();
      } catch (...) {
        job->error = std::current_exception();
      }
      lock.lock();
      job->finished = true;
      done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_, done_;
  std::deque<Job*> queue_;
};

}  // namespace

void Task::Execute() {
  try {
    ComputeThread::Get().Run(execute_);
  } catch (const pv::Error& e) {
    code_ = e.code();
    SetError(e.what());
  } catch (const std::bad_alloc&) {
    code_ = "E_OOM";
    SetError("out of host memory");
  } catch (const std::exception& e) {
    code_ = "E_INTERNAL";
    SetError(e.what());
  }
}

Napi::Value ResolveFirstOutput(Napi::Env, const std::vector<Napi::Value>& outputs) { return outputs[0]; }
Napi::Value ResolveUndefined(Napi::Env env, const std::vector<Napi::Value>&) { return env.Undefined(); }

void Task::OnOK() {
  try {
    std::vector<Napi::Value> outputs;
    outputs.reserve(outputs_.size());
    for (const auto& ref : outputs_) outputs.push_back(ref.Value());
    deferred_.Resolve(resolve_(Env(), outputs));
  } catch (const pv::Error& e) {
    deferred_.Reject(MakeError(Env(), e.code(), e.what()).Value());
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void Task::OnError(const Napi::Error& error) {
  deferred_.Reject(MakeError(Env(), code_, error.Message()).Value());
}

}  // namespace napi
}  // namespace pv

// The JavaScript boundary: argument extraction that raises PyVisionError with
// the argument's name, and the async task that runs native work off the
// JavaScript thread and settles a Promise. Every binding uses these.
#pragma once

#include <napi.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/common.h"

namespace pv {
namespace napi {

// Per-environment state: the PyVisionError class handed over by lib/native/addon.ts.
struct AddonData {
  Napi::FunctionReference error_class;
};

// Creates a PyVisionError(code, message) (or a plain Error before the class
// has been registered).
Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message);

// Converts a native failure into a thrown JavaScript PyVisionError.
[[noreturn]] void ThrowJs(Napi::Env env, const pv::Error& error);

// Wraps a binding body: pv::Error and std exceptions become PyVisionErrors.
Napi::Value Guard(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& body);

template <typename T>
struct TypedArrayTraits;
template <>
struct TypedArrayTraits<float> {
  static constexpr napi_typedarray_type kType = napi_float32_array;
  static constexpr const char* kName = "Float32Array";
};
template <>
struct TypedArrayTraits<int32_t> {
  static constexpr napi_typedarray_type kType = napi_int32_array;
  static constexpr const char* kName = "Int32Array";
};
template <>
struct TypedArrayTraits<uint8_t> {
  static constexpr napi_typedarray_type kType = napi_uint8_array;
  static constexpr const char* kName = "Uint8Array";
};

const char* TypedArrayName(napi_typedarray_type type);

// A typed array argument: its data pointer and length, checked for type and
// (when expected != npos) length. Throws E_DTYPE / E_SHAPE naming `name`.
template <typename T>
struct Array {
  T* data = nullptr;
  size_t length = 0;
};

constexpr size_t kAnyLength = static_cast<size_t>(-1);

// The data pointer and element type of a typed array on an ordinary
// ArrayBuffer. E_DTYPE for anything else, a typed array on a
// SharedArrayBuffer included (another thread could write it while the compute
// thread reads it).
void TypedArrayData(const Napi::Value& value, const char* name, const char* expected_name,
                    napi_typedarray_type* type, void** data, size_t* length);

template <typename T>
Array<T> GetArray(const Napi::Value& value, const char* name, size_t expected = kAnyLength) {
  napi_typedarray_type type;
  void* data = nullptr;
  Array<T> out;
  TypedArrayData(value, name, TypedArrayTraits<T>::kName, &type, &data, &out.length);
  if (type != TypedArrayTraits<T>::kType)
    Fail("E_DTYPE", name, " must be a ", TypedArrayTraits<T>::kName, ", got ", TypedArrayName(type));
  out.data = static_cast<T*>(data);
  if (expected != kAnyLength && out.length != expected)
    Fail("E_SHAPE", name, " must have length ", expected, ", got ", out.length);
  if (out.length > static_cast<size_t>(INT32_MAX)) Fail("E_SHAPE", name, " is too long: ", out.length, " > 2^31 - 1 elements");
  return out;
}

// Copies taken on the JavaScript thread of the offset and index arrays of the
// call being bound (they are small). Validation and the kernels then read the
// copy, so a caller that changes its array while the call is in flight cannot
// make native code index out of bounds. The next Task::Start takes the copies
// over (they live until the task settles); Guard drops them if the binding
// throws first.
std::vector<std::shared_ptr<void>>& PendingSnapshots();

template <typename T>
Array<T> GetSnapshot(const Napi::Value& value, const char* name, size_t expected = kAnyLength) {
  const Array<T> view = GetArray<T>(value, name, expected);
  auto copy = std::make_shared<std::vector<T>>(view.data, view.data + view.length);
  PendingSnapshots().push_back(copy);
  Array<T> out;
  out.data = copy->data();
  out.length = view.length;
  return out;
}

template <typename T>
Array<T> GetOptionalSnapshot(const Napi::Value& value, const char* name, size_t expected = kAnyLength) {
  if (value.IsUndefined() || value.IsNull()) return Array<T>{};
  return GetSnapshot<T>(value, name, expected);
}

// A new zero-filled typed array of `length` elements whose memory is
// allocated here: when the machine cannot serve it the call fails with E_OOM
// naming `what` (V8's own allocation would abort the process). For outputs
// whose size an option sets rather than an input array.
template <typename T>
Napi::TypedArrayOf<T> NewCheckedOutput(Napi::Env env, size_t length, const char* what) {
  if (length == 0) return Napi::TypedArrayOf<T>::New(env, 0);
  if (length > SIZE_MAX / sizeof(T)) Fail("E_OOM", "cannot allocate ", what, ": ", length, " elements");
  void* data = std::calloc(length, sizeof(T));
  if (!data) Fail("E_OOM", "cannot allocate ", what, ": ", length, " x ", sizeof(T), " bytes");
  Napi::ArrayBuffer buffer;
  try {
    buffer = Napi::ArrayBuffer::New(env, data, length * sizeof(T), [](Napi::Env, void* p) { std::free(p); });
  } catch (...) {
    std::free(data);
    throw;
  }
  return Napi::TypedArrayOf<T>::New(env, length, buffer, 0);
}

template <typename T>
Array<T> GetOptionalArray(const Napi::Value& value, const char* name, size_t expected = kAnyLength) {
  if (value.IsUndefined() || value.IsNull()) return Array<T>{};
  return GetArray<T>(value, name, expected);
}

double GetNumber(const Napi::Value& value, const char* name);
int64_t GetInteger(const Napi::Value& value, const char* name, int64_t min, int64_t max);
bool GetBool(const Napi::Value& value, const char* name);
// The largest integer a JavaScript number holds exactly (seeds and counts
// that cross as numbers and are read as 64-bit integers).
constexpr int64_t kMaxExactInteger = INT64_C(9007199254740991);

// The index of `value` (a string) in `names`: enums cross the boundary by
// name. E_ARG naming `name` and the allowed names otherwise.
int GetEnum(const Napi::Value& value, const char* name, const char* const* names, size_t count);

// The one options object of a binding (sharp's baton): its fields by name.
// lib/ has validated every value and range with messages that name the
// argument; the reads here check only types and what protects memory
// (array types and lengths, integer ranges that size or index memory, enum
// names), and repeat no bound written in TypeScript.
class Baton {
 public:
  Baton(const Napi::Value& value, const char* what);

  // The options object in field `field` of this one (a batch, a loss, an
  // optimizer's settings): its fields are named `field.name` in messages.
  Baton Child(const char* field) const;

  Napi::Value Get(const char* field) const { return object_.Get(field); }
  bool Has(const char* field) const {
    const Napi::Value v = Get(field);
    return !v.IsUndefined() && !v.IsNull();
  }
  template <typename T>
  Array<T> GetArray(const char* field, size_t expected = kAnyLength) const {
    return napi::GetArray<T>(Get(field), Name(field).c_str(), expected);
  }
  template <typename T>
  Array<T> GetOptionalArray(const char* field, size_t expected = kAnyLength) const {
    return napi::GetOptionalArray<T>(Get(field), Name(field).c_str(), expected);
  }
  // A copy taken now (see GetSnapshot): for offsets, budgets and indices.
  template <typename T>
  Array<T> GetSnapshot(const char* field, size_t expected = kAnyLength) const {
    return napi::GetSnapshot<T>(Get(field), Name(field).c_str(), expected);
  }
  double Number(const char* field) const { return GetNumber(Get(field), Name(field).c_str()); }
  int64_t Integer(const char* field, int64_t min, int64_t max) const {
    return GetInteger(Get(field), Name(field).c_str(), min, max);
  }
  bool Bool(const char* field) const { return GetBool(Get(field), Name(field).c_str()); }
  template <size_t N>
  int Enum(const char* field, const std::array<const char*, N>& names) const {
    return GetEnum(Get(field), Name(field).c_str(), names.data(), N);
  }
  // `backend`: 'cpu' or 'cuda' (lib/native/backend.ts has resolved 'auto').
  Device Backend() const;
  // Every value of the object, to keep alive while the task runs.
  const Napi::Object& object() const { return object_; }
  // `field` as messages name it (with the parent fields' names in front).
  std::string Name(const char* field) const { return prefix_ + field; }

 private:
  Napi::Object object_;
  std::string prefix_;
};

// Runs `execute` off the JavaScript thread (on the addon's single compute
// thread, one task at a time, see napi_util.cc); resolves with
// `resolve(env, outputs)` on the JavaScript thread, or rejects with a
// PyVisionError carrying the code thrown. `inputs` and `outputs` stay alive
// (persistent references) until the task settles; `outputs` are handed back to
// `resolve` as fresh handles (a Napi::Value captured in a lambda would dangle
// once the binding's handle scope closes).
class Task : public Napi::AsyncWorker {
 public:
  using Execute_ = std::function<void()>;
  using Resolve = std::function<Napi::Value(Napi::Env, const std::vector<Napi::Value>& outputs)>;

  Task(Napi::Env env, Execute_ execute, Resolve resolve);
  // Queues the task and returns its Promise; the task deletes itself when done.
  static Napi::Promise Start(Napi::Env env, const std::vector<Napi::Value>& inputs,
                             const std::vector<Napi::Value>& outputs, Execute_ execute, Resolve resolve);

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  Napi::Promise::Deferred deferred_;
  Execute_ execute_;
  Resolve resolve_;
  std::string code_ = "E_INTERNAL";
  std::vector<Napi::Reference<Napi::Value>> inputs_;
  std::vector<Napi::Reference<Napi::Value>> outputs_;
  std::vector<std::shared_ptr<void>> snapshots_;  // PendingSnapshots() at Start
};

// Resolvers for Task::Start: the first output, or undefined.
Napi::Value ResolveFirstOutput(Napi::Env env, const std::vector<Napi::Value>& outputs);
Napi::Value ResolveUndefined(Napi::Env env, const std::vector<Napi::Value>& outputs);

// A new typed array (Napi::Int32Array, Napi::Float32Array, Napi::Uint8Array)
// holding a copy of `values`.
template <typename TypedArray, typename T>
TypedArray CopyToTypedArray(Napi::Env env, const std::vector<T>& values) {
  TypedArray out = TypedArray::New(env, values.size());
  std::copy(values.begin(), values.end(), out.Data());
  return out;
}

}  // namespace napi
}  // namespace pv

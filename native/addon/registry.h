// Each binding file registers its exports here at static-initialisation time;
// addon.cc installs them all on the module object. Adding a kernel never
// touches addon.cc.
#pragma once

#include <napi.h>

#include <vector>

namespace pv {
namespace napi {

using BindingFn = Napi::Value (*)(const Napi::CallbackInfo&);

struct Binding {
  const char* name;
  BindingFn fn;
};

std::vector<Binding>& Bindings();

struct Register {
  Register(const char* name, BindingFn fn) { Bindings().push_back({name, fn}); }
};

}  // namespace napi
}  // namespace pv

#define PV_CONCAT_INNER(a, b) a##b
#define PV_CONCAT(a, b) PV_CONCAT_INNER(a, b)
// PV_BINDING("jsName", Function): exports Function as native.jsName.
#define PV_BINDING(name, fn) static ::pv::napi::Register PV_CONCAT(pv_binding_, __LINE__)(name, fn)

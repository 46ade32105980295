// Every N-API entry point runs through ck::napi_guard: ck::Error becomes a JS Error/TypeError/RangeError
// carrying `code`; std::bad_alloc becomes ERR_OOM; any other std::exception becomes ERR_NATIVE.
#pragma once
#include <napi.h>
#include <new>
#include "../core/error.h"

namespace ck {

inline Napi::Error make_js_error(Napi::Env env, const std::string& code, const std::string& msg, ErrorKind kind) {
  Napi::Error err = kind == ErrorKind::Type ? Napi::Error(Napi::TypeError::New(env, msg))
                  : kind == ErrorKind::Range ? Napi::Error(Napi::RangeError::New(env, msg))
                  : Napi::Error::New(env, msg);
  err.Value().Set("code", Napi::String::New(env, code));
  return err;
}

template <class Fn>
Napi::Value napi_guard(const Napi::CallbackInfo& info, Fn&& fn) {
  Napi::Env env = info.Env();
  try {
    return fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw make_js_error(env, e.code, e.what(), e.kind);
  } catch (const std::bad_alloc&) {
    throw make_js_error(env, "ERR_OOM", "out of host memory", ErrorKind::Generic);
  } catch (const std::exception& e) {
    throw make_js_error(env, "ERR_NATIVE", e.what(), ErrorKind::Generic);
  }
}

#define CK_EXPORT(exports, name, fn)                                                                  \
  exports.Set(name, Napi::Function::New(exports.Env(), [](const Napi::CallbackInfo& info) {          \
                return ::ck::napi_guard(info, fn);                                                     \
              }, name))

}  // namespace ck

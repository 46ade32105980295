// The one exception type that crosses from kernels and runtime code to the N-API boundary, where
// csrc/binding/errors.h turns it into a JS Error with `code`. C++ never exits, aborts or prints.
#pragma once
#include <stdexcept>
#include <string>

namespace ck {

enum class ErrorKind { Generic, Type, Range };

struct Error : std::runtime_error {
  std::string code;  // ERR_SHAPE, ERR_DEVICE, ERR_CUDA, ERR_CUDA_OOM, ERR_DISPOSED, ERR_FORMAT, ERR_ARG ...
  ErrorKind kind;
  Error(std::string code_, const std::string& msg, ErrorKind k = ErrorKind::Generic)
      : std::runtime_error(msg), code(std::move(code_)), kind(k) {}
};

#define CK_THROW(code, msg) throw ::ck::Error((code), std::string(msg) + " (" + __FILE__ + ":" + std::to_string(__LINE__) + ")")
#define CK_CHECK_ARG(cond, msg) do { if (!(cond)) throw ::ck::Error("ERR_ARG", (msg), ::ck::ErrorKind::Range); } while (0)

}  // namespace ck

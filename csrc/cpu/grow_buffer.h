// A grow-only, 64-byte aligned scratch buffer for the GEMMs' packed operands (csrc/cpu/gemm.cc, gemm_bf16.cc),
// usually thread_local. Grows, never shrinks: re-allocating multi-MiB buffers per call would page-fault on
// every GEMM. Out of memory is ERR_OOM naming the caller (`what`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

#include "core/error.h"

namespace ck {

template <class T>
class GrowBuffer {
 public:
  explicit GrowBuffer(const char* what) : what_(what) {}
  GrowBuffer(const GrowBuffer&) = delete;
  GrowBuffer& operator=(const GrowBuffer&) = delete;
  ~GrowBuffer() { release(); }

  // At least n elements (plus kSlack), valid until the next larger get().
  T* get(int64_t n) {
    if (n > cap_) {
      release();
      void* p = ::operator new(static_cast<size_t>(n + kSlack) * sizeof(T), kAlign, std::nothrow);
      if (!p) CK_THROW("ERR_OOM", std::string(what_) + ": cannot allocate a packing buffer");
      p_ = static_cast<T*>(p);
      cap_ = n;
    }
    return p_;
  }

 private:
  static constexpr std::align_val_t kAlign{64};  // the micro-kernels use aligned loads on packed B
  static constexpr int64_t kSlack = 16;           // the packers' vector stores may run past the end
  void release() {
    if (p_) ::operator delete(p_, kAlign);
    p_ = nullptr;
    cap_ = 0;
  }
  const char* what_;
  T* p_ = nullptr;
  int64_t cap_ = 0;
};

}  // namespace ck

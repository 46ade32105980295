// Host allocation for tensor storage (core/host_alloc.h).
#include "../core/host_alloc.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/error.h"

namespace ck {
namespace {

constexpr size_t kLarge = size_t(256) << 10;  // blocks from here up are mmap'ed and cached
constexpr size_t kPage = 4096;

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;  // size class -> cached blocks
  int64_t cached_bytes = 0;
  int64_t cached_blocks = 0;
  int64_t mapped_bytes = 0;
  int64_t cap;
  Cache() {
    const char* e = std::getenv("CONVKIT_HOST_CACHE_MB");
    long long mb = 1024;
    if (e && *e) {
      char* end = nullptr;
      long long v = std::strtoll(e, &end, 10);
      if (end && *end == '\0' && v >= 0) mb = v;
    }
    cap = (int64_t)mb << 20;
  }
  void drop_all_locked() {
    for (auto& kv : free)
      for (void* p : kv.second) munmap(p, kv.first);
    free.clear();
    mapped_bytes -= cached_bytes;
    cached_bytes = 0;
    cached_blocks = 0;
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: storages may be freed during process teardown
  return *c;
}

[[noreturn]] void oom(size_t bytes, const char* how) {
  throw Error("ERR_OOM", std::string("out of host memory allocating ") + std::to_string(bytes) + " bytes (" + how + ")");
}

}  // namespace

size_t host_alloc_class(size_t bytes) {
  if (bytes < kLarge) return (bytes + 63) / 64 * 64;
  int msb = 63 - __builtin_clzll((unsigned long long)bytes);
  size_t step = size_t(1) << (msb - 2);  // 4 classes per power of two
  size_t n = (bytes + step - 1) / step * step;
  return (n + kPage - 1) / kPage * kPage;
}

void* host_alloc(size_t bytes) {
  if (bytes < kLarge) {
    void* p = std::aligned_alloc(64, bytes == 0 ? 64 : (bytes + 63) / 64 * 64);
    if (!p) oom(bytes, "aligned_alloc failed");
    return p;
  }
  const size_t n = host_alloc_class(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free.find(n);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached_bytes -= (int64_t)n;
      c.cached_blocks--;
      return p;
    }
  }
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    // Give the cache back to the system and try once more before calling it out of memory.
    {
      std::lock_guard<std::mutex> lock(c.mu);
      c.drop_all_locked();
    }
    p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) oom(bytes, std::strerror(errno));
  }
  std::lock_guard<std::mutex> lock(c.mu);
  c.mapped_bytes += (int64_t)n;
  return p;
}

void host_free(void* p, size_t bytes) {
  if (!p) return;
  if (bytes < kLarge) {
    std::free(p);
    return;
  }
  const size_t n = host_alloc_class(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached_bytes + (int64_t)n <= c.cap) {
      c.free[n].push_back(p);
      c.cached_bytes += (int64_t)n;
      c.cached_blocks++;
      return;
    }
    c.mapped_bytes -= (int64_t)n;
  }
  munmap(p, n);
}

HostCacheStats host_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.cached_bytes, c.cached_blocks, c.mapped_bytes};
}

void host_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.drop_all_locked();
}

}  // namespace ck

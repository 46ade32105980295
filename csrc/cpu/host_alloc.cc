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

constexpr size_t kLarge = size_t(256) << 10;  // blocks from here up are mmap'ed one by one
constexpr size_t kPage = 4096;
constexpr size_t kSlab = size_t(2) << 20;      // small blocks come from slabs of this size, aligned to it
constexpr size_t kSlabHeader = kPage;          // the slab's first page holds its header; blocks follow
constexpr int kSmallClasses = 16 + 8 * 4;      // 64..1024 by 64, then 4 per power of two up to 256 KiB

// Small size class of a request (< kLarge): its index and its size.
inline int small_index(size_t bytes) {
  if (bytes <= 1024) return bytes == 0 ? 0 : (int)((bytes + 63) / 64) - 1;
  const int m = 63 - __builtin_clzll((unsigned long long)(bytes - 1));  // 2^m < bytes <= 2^(m+1)
  const size_t step = size_t(1) << (m - 2);
  const size_t j = (bytes - (size_t(1) << m) + step - 1) / step;  // 1..4
  return 16 + (m - 10) * 4 + (int)j - 1;
}
inline size_t small_size(int idx) {
  if (idx < 16) return size_t(idx + 1) * 64;
  const int m = 10 + (idx - 16) / 4;
  const size_t j = size_t((idx - 16) % 4) + 1;
  return (size_t(1) << m) + j * (size_t(1) << (m - 2));
}

// A freed block's first word links it to the next free block of its slab.
struct FreeBlock { FreeBlock* next; };

struct Slab {             // lives in the slab's first page
  size_t block;           // block size of its class
  int cls;
  uint32_t capacity;      // blocks that fit
  uint32_t bumped;        // blocks handed out from the untouched tail so far
  uint32_t used;          // blocks in use
  FreeBlock* dirty;       // freed blocks still resident (counted as cached)
  FreeBlock* clean;       // freed blocks whose pages were given back (not counted)
  int64_t dirty_bytes;
  int avail_pos;          // index in its class's `avail`, -1 when full
  char* blocks() { return reinterpret_cast<char*>(this) + kSlabHeader; }
};

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;  // large size class -> cached blocks
  std::vector<Slab*> avail[kSmallClasses];               // slabs with a free block or an untouched tail
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

  void drop_large_locked() {
    for (auto& kv : free) {
      for (void* p : kv.second) munmap(p, kv.first);
      mapped_bytes -= (int64_t)(kv.first * kv.second.size());
      cached_bytes -= (int64_t)(kv.first * kv.second.size());
      cached_blocks -= (int64_t)kv.second.size();
    }
    free.clear();
  }

  // --- small blocks ---
  Slab* new_slab_locked(int cls) {
    // Map twice the size and keep the aligned half, so that a block's slab is its address rounded down.
    void* raw = mmap(nullptr, 2 * kSlab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const uintptr_t r = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t a = (r + kSlab - 1) & ~(uintptr_t)(kSlab - 1);
    if (a > r) munmap(raw, a - r);
    if (a + kSlab < r + 2 * kSlab) munmap(reinterpret_cast<void*>(a + kSlab), r + 2 * kSlab - (a + kSlab));
#ifdef MADV_NOHUGEPAGE
    // A transparent huge page would make the first touch of a slab cost 2 MiB of memory.
    madvise(reinterpret_cast<void*>(a), kSlab, MADV_NOHUGEPAGE);
#endif
    Slab* s = reinterpret_cast<Slab*>(a);
    s->block = small_size(cls);
    s->cls = cls;
    s->capacity = (uint32_t)((kSlab - kSlabHeader) / s->block);
    s->bumped = 0;
    s->used = 0;
    s->dirty = nullptr;
    s->clean = nullptr;
    s->dirty_bytes = 0;
    s->avail_pos = (int)avail[cls].size();
    avail[cls].push_back(s);
    mapped_bytes += (int64_t)kSlab;
    return s;
  }
  void remove_avail_locked(Slab* s) {
    auto& v = avail[s->cls];
    Slab* last = v.back();
    v[(size_t)s->avail_pos] = last;
    last->avail_pos = s->avail_pos;
    v.pop_back();
    s->avail_pos = -1;
  }
  void unmap_slab_locked(Slab* s) {  // s has no block in use
    remove_avail_locked(s);
    cached_bytes -= s->dirty_bytes;
    cached_blocks -= (int64_t)(s->dirty_bytes / (int64_t)s->block);
    mapped_bytes -= (int64_t)kSlab;
    munmap(s, kSlab);
  }
  // Gives back the whole pages of a free block, past the word that links it.
  static void purge_block(FreeBlock* b, size_t size) {
    const uintptr_t lo = (reinterpret_cast<uintptr_t>(b) + sizeof(FreeBlock) + kPage - 1) & ~(uintptr_t)(kPage - 1);
    const uintptr_t hi = (reinterpret_cast<uintptr_t>(b) + size) & ~(uintptr_t)(kPage - 1);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
  void purge_slab_locked(Slab* s) {
    while (FreeBlock* b = s->dirty) {
      s->dirty = b->next;
      purge_block(b, s->block);
      b->next = s->clean;
      s->clean = b;
    }
    cached_bytes -= s->dirty_bytes;
    cached_blocks -= (int64_t)(s->dirty_bytes / (int64_t)s->block);
    s->dirty_bytes = 0;
  }
  void drop_small_locked() {
    for (auto& v : avail) {
      for (size_t i = v.size(); i-- > 0;) {
        Slab* s = v[i];
        if (s->used == 0) unmap_slab_locked(s);  // swaps the last slab into i: already visited
        else purge_slab_locked(s);
      }
    }
  }

  void* alloc_small_locked(int cls) {
    auto& v = avail[cls];
    Slab* s = v.empty() ? new_slab_locked(cls) : v.back();
    if (!s) return nullptr;
    void* p;
    if (FreeBlock* b = s->dirty) {
      s->dirty = b->next;
      s->dirty_bytes -= (int64_t)s->block;
      cached_bytes -= (int64_t)s->block;
      cached_blocks--;
      p = b;
    } else if (FreeBlock* c = s->clean) {
      s->clean = c->next;
      p = c;
    } else {
      p = s->blocks() + (size_t)s->bumped * s->block;
      s->bumped++;
    }
    s->used++;
    if (s->used == s->capacity) remove_avail_locked(s);
    return p;
  }
  void free_small_locked(void* p) {
    Slab* s = reinterpret_cast<Slab*>(reinterpret_cast<uintptr_t>(p) & ~(uintptr_t)(kSlab - 1));
    if (s->avail_pos < 0) {
      s->avail_pos = (int)avail[s->cls].size();
      avail[s->cls].push_back(s);
    }
    s->used--;
    FreeBlock* b = static_cast<FreeBlock*>(p);
    if (cached_bytes + (int64_t)s->block <= cap) {
      b->next = s->dirty;
      s->dirty = b;
      s->dirty_bytes += (int64_t)s->block;
      cached_bytes += (int64_t)s->block;
      cached_blocks++;
      return;
    }
    // Over the cap: give the memory back.
    b->next = s->clean;
    s->clean = b;
    if (s->used == 0) unmap_slab_locked(s);
    else purge_block(b, s->block);
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
  if (bytes < kLarge) return small_size(small_index(bytes));
  int msb = 63 - __builtin_clzll((unsigned long long)bytes);
  size_t step = size_t(1) << (msb - 2);  // 4 classes per power of two
  size_t n = (bytes + step - 1) / step * step;
  return (n + kPage - 1) / kPage * kPage;
}

void* host_alloc(size_t bytes) {
  Cache& c = cache();
  if (bytes < kLarge) {
    const int cls = small_index(bytes);
    {
      std::lock_guard<std::mutex> lock(c.mu);
      if (void* p = c.alloc_small_locked(cls)) return p;
    }
    std::lock_guard<std::mutex> lock(c.mu);  // no slab could be mapped: give the cache back, try once more
    c.drop_large_locked();
    c.drop_small_locked();
    if (void* p = c.alloc_small_locked(cls)) return p;
    oom(bytes, std::strerror(errno));
  }
  const size_t n = host_alloc_class(bytes);
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
      c.drop_large_locked();
      c.drop_small_locked();
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
  Cache& c = cache();
  if (bytes < kLarge) {
    std::lock_guard<std::mutex> lock(c.mu);
    c.free_small_locked(p);
    return;
  }
  const size_t n = host_alloc_class(bytes);
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
  c.drop_large_locked();
  c.drop_small_locked();
}

}  // namespace ck

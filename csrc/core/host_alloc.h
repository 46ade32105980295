// Host memory for tensor storage: 64-byte aligned blocks, with a cache for large ones.
//
// Why: a training step frees and re-allocates the same few dozen large buffers every step. Through glibc,
// the first large free raises malloc's dynamic mmap threshold, after which such buffers come from the
// arena heaps and fragment them: a 290k-parameter CNN whose live tensors never exceeded 57 MB reached
// 2.7 GB resident after 20 steps. Large blocks therefore bypass malloc: they are mmap'ed in size classes
// (4 per power of two, at most 25% rounding) and, when freed, kept in a per-class free list for the next
// allocation of that class, up to a cap (CONVKIT_HOST_CACHE_MB, default 1024; 0 disables caching). A
// steady-state step then touches no new pages at all. Small blocks (< 256 KiB) use aligned_alloc.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ck {

void* host_alloc(size_t bytes);           // throws ck::Error ERR_OOM; never returns null
void host_free(void* p, size_t bytes);    // bytes: the size given to host_alloc

struct HostCacheStats {
  int64_t cached_bytes;   // held in the free lists, ready for reuse
  int64_t cached_blocks;
  int64_t mapped_bytes;   // all large blocks currently mapped (in use + cached)
};
HostCacheStats host_cache_stats();
void host_empty_cache();  // unmaps every cached block
size_t host_alloc_class(size_t bytes);  // the size a request of `bytes` actually occupies (tests)

}  // namespace ck

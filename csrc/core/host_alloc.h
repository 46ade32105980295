// Host memory for tensor storage: 64-byte aligned blocks in size classes, every freed block kept for reuse
// (up to a cap) and never handed to glibc malloc.
//
// Why: a training step frees and re-allocates the same buffers every step. Through glibc, large buffers
// fragment the arena once malloc's dynamic mmap threshold rises (a 290k-parameter CNN whose live tensors
// never exceeded 57 MB reached 2.7 GB resident after 20 steps), and small ones (< 256 KiB) leave holes
// that glibc's own small allocations (V8, N-API) split, so the next buffer of the same size no longer fits
// there: `x.add(1)` on a 200 KB tensor in a tidy() loop grew the main arena by one buffer per step
// (57 MB -> 900 MB in 12,000 steps with one live tensor). So convkit owns all of its host memory:
//  - large blocks (>= 256 KiB) are mmap'ed one by one in size classes (4 per power of two, at most 25%
//    rounding, whole pages);
//  - small blocks are carved from 2 MiB slabs, one size class per slab (64-byte steps up to 1 KiB, then 4
//    per power of two); a slab's unused tail is never touched, so it costs address space, not memory.
// A freed block goes to its class's free list (large) or back to its slab (small) and is reused by the next
// request of its class, so a steady training loop touches no new pages. Freed, still-resident bytes are
// "cached": at most CONVKIT_HOST_CACHE_MB (default 1024; 0 turns caching off). Past the cap a freed large
// block is unmapped, a small slab left with no live block is unmapped, and the whole pages of any other
// freed small block are given back with madvise(MADV_DONTNEED). host_empty_cache() does all of that at once.
// Thread safety: one mutex; storage is freed from JS (dispose), from V8 finalizers, and from worker threads
// that loaded the addon, and blocks may be freed on another thread than the one that allocated them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ck {

void* host_alloc(size_t bytes);           // throws ck::Error ERR_OOM; never returns null
void host_free(void* p, size_t bytes);    // bytes: the size given to host_alloc

struct HostCacheStats {
  int64_t cached_bytes;   // freed and still resident, ready for reuse (large free lists + small slabs)
  int64_t cached_blocks;
  int64_t mapped_bytes;   // large blocks currently mapped (in use + cached) plus every small slab mapped
};
HostCacheStats host_cache_stats();
void host_empty_cache();  // unmaps every cached large block and empty slab, purges the pages of other free blocks
size_t host_alloc_class(size_t bytes);  // the size a request of `bytes` actually occupies (tests)

}  // namespace ck

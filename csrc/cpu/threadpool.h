// A small persistent thread pool shared by the CPU kernels. set_num_threads/get_num_threads (declared in
// core/kernels.h) are defined in threadpool.cc and size this pool.
#pragma once
#include <cstdint>
#include <functional>

namespace ck {

// Splits [0, n) into at most get_num_threads() contiguous chunks of at least `grain` iterations and
// runs fn(begin, end) on each, using the pool threads plus the calling thread; returns when all chunks
// are done. Runs fn(0, n) inline when there is one chunk, when called from inside a parallel_for task
// (nested) or while the pool is busy with another caller's job, so it never deadlocks. The first
// exception thrown by fn is rethrown in the caller (remaining chunks are skipped).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

// True on pool threads and on a caller while it runs its share of a parallel_for.
bool in_parallel_region();

}  // namespace ck

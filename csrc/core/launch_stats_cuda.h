// Launch statistics of the CUDA kernels (cuda/stats.cu), on a real GPU and on the emulated device alike:
// per kernel label, the launches, blocks and threads; for GEMM-shaped kernels the useful multiply-adds
// (those of the convolution or product itself) and the issued ones (every tile's BM x BN x padded-K); the
// scratch bytes the host code allocated (cuda/common.cuh's Scratch). Off by default (one relaxed atomic
// load per launch); ck.cudaStats in TypeScript turns it on.
//
// Dry run (emulated device only): launches are recorded and then skipped, so the statistics of shapes
// far too large to emulate (a ResNet-18 step at 224x224) come from the very dispatcher code that would
// launch them. Memory operations still run; kernel outputs are left as they were (poison).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ck {
namespace cuda {

struct KernelStats {
  std::string name;
  int64_t launches = 0;
  int64_t blocks = 0;          // summed over launches
  int64_t threads = 0;         // blocks x threads per block, summed
  int64_t min_blocks = 0, max_blocks = 0;
  double useful_macs = 0, issued_macs = 0;  // 0 for kernels that are not GEMM-shaped
};

struct LaunchStats {
  bool enabled = false, dry_run = false;
  int64_t launches = 0;        // every kernel launch, labelled or not
  int64_t scratch_bytes = 0;   // summed over Scratch allocations
  int64_t scratch_allocs = 0;
  int64_t im2col_bytes = 0;    // the part of scratch_bytes that held im2col / col2im matrices
  // The runtime's traffic (cuda/runtime.cu):
  int64_t host_syncs = 0;        // waits of the host for a device: stream/device/event synchronisations
  int64_t allocs = 0;            // device allocations (pool or graph pool) and new pinned host blocks
  int64_t frees = 0;             // device frees
  int64_t h2d_bytes = 0, d2h_bytes = 0, d2d_bytes = 0;
  int64_t uploads_pinned = 0;    // host-to-device copies from pinned memory (no staging)
  int64_t uploads_pageable = 0;  // host-to-device copies from pageable memory (staged through pinned blocks)
  int64_t pinned_allocs = 0;     // new pinned blocks (cache misses)
  int64_t graph_replays = 0;
  std::vector<KernelStats> kernels;  // in order of first launch
};

void stats_set(bool enabled, bool dry_run);  // also resets
LaunchStats stats_snapshot();
bool stats_on();                              // enabled (cheap)
bool stats_dry_run();                         // enabled and dry run: launch() skips the kernel (emulation only)

// Called by ck::cuda::launch for every launch (with the label set by the innermost StatsLabel, or
// "unlabelled"), by Scratch, and by the GEMM-shaped launchers with their multiply-add counts.
void stats_note_launch(unsigned long long blocks, unsigned threads_per_block);
void stats_note_scratch(size_t bytes);
void stats_note_im2col(size_t bytes);
void stats_note_macs(double useful, double issued);
enum class Traffic { Sync, Alloc, Free, H2dPinned, H2dPageable, D2h, D2d, PinnedAlloc, GraphReplay };
void stats_note(Traffic what, size_t bytes = 0);

// Names the launches made while it lives (nests; the innermost wins).
class StatsLabel {
 public:
  explicit StatsLabel(const char* name);
  ~StatsLabel();
  StatsLabel(const StatsLabel&) = delete;
  StatsLabel& operator=(const StatsLabel&) = delete;

 private:
  const char* prev_;
};

}  // namespace cuda
}  // namespace ck

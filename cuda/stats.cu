// Launch statistics (csrc/core/launch_stats_cuda.h): a process-wide table behind one mutex, touched only
// while statistics are on.
#include <atomic>
#include <mutex>

#include "runtime.cuh"
#include "core/launch_stats_cuda.h"

namespace ck {
namespace cuda {
namespace {

std::atomic<int> g_mode{0};  // 0 off, 1 on, 2 on + dry run
std::mutex g_mu;
LaunchStats g_stats;
thread_local const char* t_label = nullptr;
thread_local int64_t t_last = -1;  // index in g_stats.kernels of this thread's last launch (for note_macs)

KernelStats& entry(const char* name) {
  for (auto& k : g_stats.kernels)
    if (k.name == name) return k;
  g_stats.kernels.push_back(KernelStats{});
  g_stats.kernels.back().name = name;
  return g_stats.kernels.back();
}

}  // namespace

void stats_set(bool enabled, bool dry_run) {
#if CK_CUDA_REAL
  if (dry_run) throw Error("ERR_ARG", "cuda stats: a dry run needs the emulated device", ErrorKind::Range);
#endif
  std::lock_guard<std::mutex> lock(g_mu);
  g_stats = LaunchStats{};
  g_stats.enabled = enabled;
  g_stats.dry_run = enabled && dry_run;
  g_mode.store(enabled ? (dry_run ? 2 : 1) : 0, std::memory_order_relaxed);
}

LaunchStats stats_snapshot() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_stats;
}

bool stats_on() { return g_mode.load(std::memory_order_relaxed) != 0; }
bool stats_dry_run() { return g_mode.load(std::memory_order_relaxed) == 2; }

void stats_note_launch(unsigned long long blocks, unsigned threads_per_block) {
  if (!stats_on()) return;
  std::lock_guard<std::mutex> lock(g_mu);
  ++g_stats.launches;
  KernelStats& k = entry(t_label ? t_label : "unlabelled");
  const int64_t b = static_cast<int64_t>(blocks);
  if (k.launches == 0 || b < k.min_blocks) k.min_blocks = b;
  if (b > k.max_blocks) k.max_blocks = b;
  ++k.launches;
  k.blocks += b;
  k.threads += b * threads_per_block;
  t_last = &k - g_stats.kernels.data();
}

void stats_note_scratch(size_t bytes) {
  if (!stats_on() || bytes == 0) return;
  std::lock_guard<std::mutex> lock(g_mu);
  g_stats.scratch_bytes += static_cast<int64_t>(bytes);
  ++g_stats.scratch_allocs;
}

void stats_note_im2col(size_t bytes) {
  if (!stats_on()) return;
  std::lock_guard<std::mutex> lock(g_mu);
  g_stats.im2col_bytes += static_cast<int64_t>(bytes);
}

void stats_note_macs(double useful, double issued) {
  if (!stats_on()) return;
  std::lock_guard<std::mutex> lock(g_mu);
  if (t_last < 0 || t_last >= static_cast<int64_t>(g_stats.kernels.size())) return;
  g_stats.kernels[static_cast<size_t>(t_last)].useful_macs += useful;
  g_stats.kernels[static_cast<size_t>(t_last)].issued_macs += issued;
}

void stats_note(Traffic what, size_t bytes) {
  if (!stats_on()) return;
  std::lock_guard<std::mutex> lock(g_mu);
  const int64_t b = static_cast<int64_t>(bytes);
  switch (what) {
    case Traffic::Sync: ++g_stats.host_syncs; break;
    case Traffic::Alloc: ++g_stats.allocs; break;
    case Traffic::Free: ++g_stats.frees; break;
    case Traffic::H2dPinned: ++g_stats.uploads_pinned; g_stats.h2d_bytes += b; break;
    case Traffic::H2dPageable: ++g_stats.uploads_pageable; g_stats.h2d_bytes += b; break;
    case Traffic::D2h: g_stats.d2h_bytes += b; break;
    case Traffic::D2d: g_stats.d2d_bytes += b; break;
    case Traffic::PinnedAlloc: ++g_stats.pinned_allocs; ++g_stats.allocs; break;
    case Traffic::GraphReplay: ++g_stats.graph_replays; break;
  }
}

StatsLabel::StatsLabel(const char* name) : prev_(t_label) { t_label = name; }
StatsLabel::~StatsLabel() { t_label = prev_; }

}  // namespace cuda
}  // namespace ck

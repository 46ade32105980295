/**
 * Launch statistics of the CUDA kernels, on a GPU and on the emulated device alike: per kernel, the
 * launches, grid sizes and, for the GEMM-shaped kernels (convolution, matmul), the tile utilisation
 * (useful multiply-adds / multiply-adds the tiles issue); the scratch bytes the kernels allocated, and
 * how many of them were im2col matrices.
 *
 *   ck.cudaStats.enable()                  start counting (resets)
 *   ck.cudaStats.enable({ dryRun: true })  emulated device only: record launches without running the
 *                                          kernels (their outputs stay unwritten), for shapes too large to
 *                                          emulate; the statistics come from the same dispatcher code
 *   ck.cudaStats.get()                     the counts so far: launches, host synchronisations, allocations,
 *                                          host<->device bytes, pinned and pageable uploads, graph replays
 *                                          (also ck.cuda.stats())
 *   ck.cudaStats.disable()
 */
import { native } from './binding';

export interface KernelLaunchStats {
  name: string;
  launches: number;
  blocks: number;
  threads: number;
  minBlocks: number;
  maxBlocks: number;
  /** Multiply-adds of the convolution or product itself (0 for kernels that are not GEMM-shaped). */
  usefulMacs: number;
  /** Multiply-adds the launched tiles issue, padding included. */
  issuedMacs: number;
  /** usefulMacs / issuedMacs, or null for kernels that are not GEMM-shaped. */
  utilisation: number | null;
}

export interface CudaLaunchStats {
  enabled: boolean;
  dryRun: boolean;
  launches: number;
  scratchBytes: number;
  scratchAllocs: number;
  im2colBytes: number;
  /** Waits of the host for a device: item()/dataSync() downloads, synchronize(), emptyCache(), timers. */
  hostSyncs: number;
  /** Device allocations (stream-ordered pool, or a CUDA graph's private pool) and new pinned host blocks. */
  allocs: number;
  frees: number;
  h2dBytes: number;
  d2hBytes: number;
  d2dBytes: number;
  /** Host-to-device copies from pinned memory (pinMemory() tensors, DataLoader pinMemory, runtime tables). */
  uploadsPinned: number;
  /** Host-to-device copies from pageable memory: staged through a pinned block, asynchronous all the same. */
  uploadsPageable: number;
  /** New pinned host blocks (the pinned pool's misses). */
  pinnedAllocs: number;
  graphReplays: number;
  kernels: KernelLaunchStats[];
}

/** Testing overrides of the convolution dispatcher (all 'auto' / 0 by default). */
export interface ConvTuning {
  tile?: 'auto' | '64x64' | '64x128' | '128x64' | '128x128';
  /** Split-K factor; 0 lets the dispatcher choose. */
  splits?: number;
  /** 'tf32' needs compute capability 8.0+ (the emulated device reports CONVKIT_EMU_CC, default 90). */
  math?: 'auto' | 'fp32' | 'tf32';
}

const api = () => native;

export const cudaStats = {
  enable(opts: { dryRun?: boolean } = {}): void {
    api().cudaStatsSet({ enabled: true, dryRun: opts.dryRun === true });
  },
  disable(): void {
    api().cudaStatsSet({ enabled: false });
  },
  get(): CudaLaunchStats {
    const s = api().cudaStats();
    return {
      ...s,
      kernels: s.kernels.map((k) => ({ ...k, utilisation: k.issuedMacs > 0 ? k.usefulMacs / k.issuedMacs : null })),
    };
  },
  /** The multiprocessor count and compute capability (major*10 + minor) the kernels plan for. */
  deviceProps(): { smCount: number; computeCapability: number } {
    return api().cudaDeviceProps();
  },
  /** Forces the convolution kernels' tile, split-K factor or math (tests); call with {} to reset. */
  convTuning(t: ConvTuning): void {
    api().cudaConvTuning(t);
  },
};

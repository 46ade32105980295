/**
 * Loads the native addon. CONVKIT_BINARY (a flavour name: cpu, cuda, emu, or a path) decides when set;
 * CONVKIT_BINARY=cuda without a usable GPU is an error naming what is missing. Otherwise: the CUDA
 * binary (prebuilt, or build-cuda/) when an NVIDIA driver is present and a child process could load it
 * and see a GPU; then the CPU binary (prebuilt, or a local build); then whatever node-gyp-build finds.
 * Passing over the CUDA binary is silent, as PyTorch is until CUDA is asked for: the reason is kept in
 * loadReason (ck.info().reason) and given in the error when a CUDA device is requested. If nothing
 * loads, one error lists every attempt and what to do.
 */
import type { ConvTuning, CudaLaunchStats, KernelLaunchStats } from './cuda_stats';
import type { ConvAlgo } from './conv_algo';
import * as fs from 'fs';
import * as path from 'path';
import { isMainThread, workerData } from 'worker_threads';
import { ckError } from './errors';

export interface NativeStorage {
  dispose(): void;
  readonly disposed: boolean;
  readonly bytes: number;
  readonly device: number;
  /** CPU storage in page-locked (pinned) host memory: uploads from it need no staging. */
  readonly pinned: boolean;
}

/** A strided view's geometry: [ndim, offset, ...shape, ...strides], in elements (Tensor.layout()). */
export type Layout = number[];

// ---- operands: every tensor crosses the boundary as one object (csrc/binding/args.h reads them) ----------
/** A contiguous run of 4-byte elements of a storage, from `offset` (in elements). */
export interface Operand {
  storage: NativeStorage;
  offset: number;
}
/** A strided view of a storage. */
export interface ViewOperand {
  storage: NativeStorage;
  layout: Layout;
}
/** Bytes of a storage from byteOffset. */
export interface ByteRange {
  storage: NativeStorage;
  byteOffset: number;
}
/** A batch of (rows, cols) matrices for gemm: element (b, r, c) at offset + b*batchStride + r*rowStride + c*colStride. */
export interface MatrixOperand extends Operand {
  batchStride: number;
  rowStride: number;
  colStride: number;
}

// ---- parameters, one shape per op family (csrc/core/nn_params.h; csrc/binding/params.h reads them) -------
/** Convolution: input (N, C, H, W), weight (O, C/groups, KH, KW), output (N, O, OH, OW); s stride, p padding, d dilation. */
export interface Conv2dParams {
  N: number; C: number; H: number; W: number;
  O: number; KH: number; KW: number; OH: number; OW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number; groups: number;
}
/** Max and average pooling (dh, dw: max only, 1 for avg; countIncludePad, divisorOverride (0 = none): avg only). */
export interface Pool2dParams {
  N: number; C: number; H: number; W: number; OH: number; OW: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  countIncludePad: boolean; divisorOverride: number;
}
export interface AdaptivePool2dParams { N: number; C: number; H: number; W: number; OH: number; OW: number }
/** Batch norm over (N, C, L); eps and momentum where the op uses them. */
export interface BatchNormParams { N: number; C: number; L: number; eps?: number; momentum?: number }
/** An (N, C, L) activation with a per-channel bias. */
export interface ChannelParams { N: number; C: number; L: number }
export interface CountParams { n: number }
export interface SoftmaxParams { rows: number; cols: number; log: boolean }
export interface NllParams { rows: number; classes: number; ignoreIndex: number }
/** A seeded draw of n values: the 64-bit seed in two halves and the stream offset (lib/random.ts). */
export interface SeedParams { seedHi: number; seedLo: number; offset: number }
export interface DropoutParams extends SeedParams { n: number; p: number }
export interface UnaryParams { op: number; inDtype: number; outDtype: number; a: number; b: number }
export interface BinaryParams { op: number; inDtype: number; outDtype: number }
export interface ReduceParams { op: number; dtype: number; outer: number; inner: number; correction: number }
export interface FillParams { dtype: number; n: number; value: number }
export interface RandomParams extends SeedParams { kind: number; dtype: number; n: number; a: number; b: number }
export interface GemmParams { batch: number; M: number; N: number; K: number; alpha: number; beta: number }
/** batchAugment's batch: input (N, C, H, W) padded by pad (with fill) and cropped to (OH, OW). */
export interface BatchAugmentParams { N: number; C: number; H: number; W: number; OH: number; OW: number; pad: number; fill: number }

// ---- operand sets of the nn entry points (the keys name the tensors in native errors) --------------------
export interface Conv2dForwardOperands { input: Operand; weight: Operand; bias: Operand | null; output: Operand }
export interface Conv2dBackwardDataOperands { gradOutput: Operand; weight: Operand; gradInput: Operand }
export interface Conv2dBackwardWeightOperands { input: Operand; gradOutput: Operand; gradWeight: Operand; gradBias: Operand | null }
export type Conv2dEntry<O> = (p: Conv2dParams, o: O) => void;

/** One tensor of an optimizer's parameter group: n contiguous floats each; a state null where unused. */
export interface OptimEntry {
  param: Operand;
  grad: Operand;
  n: number;
  states: [Operand | null, Operand | null, Operand | null];
  /** SGD: 1 = the momentum buffer is new; Adam: the tensor's step count after this step; RMSprop: unused. */
  scalar: number;
  /** Capturable Adam: the tensor's step count (one float32 on its device), incremented by the update. */
  step?: Operand;
}
export interface SgdHyper { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; maximize: boolean }
/** adamw: AdamW's decoupled weight decay (param *= 1 - lr * weightDecay) instead of Adam's L2 term. */
/**
 * capturable: PyTorch's capturable=True (every entry has a `step` operand; on CUDA `hyper` is the group's device
 * buffer of hyperparameters, written by adamHyperUpload, and the update reads lr, betas, eps and weight decay there).
 */
export interface AdamHyper {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; amsgrad: boolean; maximize: boolean; adamw: boolean;
  capturable?: boolean; hyper?: Operand | null;
}
/** Floats in a capturable Adam group's device hyperparameter buffer (kAdamHyperSlots, core/optim_kernels.h). */
export const ADAM_HYPER_SLOTS = 8;
export interface RmspropHyper { lr: number; alpha: number; eps: number; weightDecay: number; momentum: number; centered: boolean; maximize: boolean }

// index family (index_ops.cc)
export interface CatParams { outer: number; inner: number; total: number; sizes: number[] }
/** aScalar / bScalar: the value of a (b) where that operand is null, in `dtype`. */
export interface WhereParams { condDtype: number; dtype: number; aScalar: number; bScalar: number }
export interface IndexParams { dim: number; dtype: number }
export interface SortParams { rows: number; n: number; k: number; descending: boolean; topkOrder: boolean; sorted: boolean; dtype: number }

export interface BuildInfo {
  flavour: string; cudaArchs: string; cudaCompiled: boolean; cudaEmulated: boolean;
  /** The CPU kernels' ISA path in use, the best this CPU supports, why (csrc/cpu/isa.h), AVX512_BF16. */
  cpuIsa: 'baseline' | 'avx2' | 'avx512'; cpuIsaSupported: 'baseline' | 'avx2' | 'avx512'; cpuIsaNote: string; cpuBf16: boolean;
}
export interface CudaInfo { available: boolean; emulated: boolean; deviceCount: number; devices: string[]; runtime: string }
export interface DeviceMemoryStats { device: number; live: number; bytes: number; peakBytes: number; cachedBytes: number }
export interface CudnnInfo {
  /** This binary can run cuDNN (the real CUDA build). */
  compiled: boolean;
  available: boolean;
  /** cudnnGetVersion(): major*10000 + minor*100 + patch, e.g. 90100; null when unavailable. */
  version: number | null;
  /** The libcudnn.so.9 that was loaded, or null. */
  path: string | null;
  /** Why cuDNN is unavailable (every candidate and why it failed), or null. */
  error: string | null;
  attempts: string[];
  notes: string[];
}
export interface CudnnOptions { benchmark: boolean; allowTF32: boolean }

/** Every entry point of the native addon (csrc/binding/*.cc), typed; nothing else is exported. */
export interface Native extends NativeDist {
  Storage: new (...args: never[]) => NativeStorage;
  // tensor core (tensor_ops.cc)
  alloc(device: number, bytes: number): NativeStorage;
  upload(dst: ByteRange, src: ArrayBufferView): void;
  download(src: ByteRange, dst: ArrayBufferView): void;
  copyBytes(dst: ByteRange, src: ByteRange, bytes: number): void;
  unary(p: UnaryParams, o: { input: ViewOperand; output: Operand }): void;
  binary(p: BinaryParams, o: { a: ViewOperand; b: ViewOperand; output: Operand }): void;
  reduce(p: ReduceParams, o: { input: Operand; output: Operand }): void;
  copy(o: { source: ViewOperand; destination: ViewOperand }): void;
  fill(p: FillParams, o: { output: Operand }): void;
  random(p: RandomParams, o: { output: Operand }): void;
  gemm(p: GemmParams, o: { a: MatrixOperand; b: MatrixOperand; c: MatrixOperand }): void;
  // nn (nn_ops.cc): conv, batch norm, pool, activation, softmax/loss, dropout
  conv2dForward: Conv2dEntry<Conv2dForwardOperands>;
  conv2dBackwardData: Conv2dEntry<Conv2dBackwardDataOperands>;
  conv2dBackwardWeight: Conv2dEntry<Conv2dBackwardWeightOperands>;
  /** relu: batch norm + ReLU in one kernel (CPU only, lib/nn/fusion.ts). */
  batchNormTrain(p: BatchNormParams, o: {
    input: Operand; weight: Operand | null; bias: Operand | null; runningMean: Operand | null; runningVar: Operand | null;
    output: Operand; saveMean: Operand; saveInvstd: Operand;
  }, relu?: boolean): void;
  batchNormEval(p: BatchNormParams, o: {
    input: Operand; weight: Operand | null; bias: Operand | null; runningMean: Operand; runningVar: Operand; output: Operand;
  }): void;
  /**
   * relu (the fused batch norm + ReLU's backward, CPU only): dy is masked where the forward's output was > 0,
   * recomputed from input, weight, bias and the saved statistics (bias: the forward's, null if none).
   */
  batchNormBackward(p: BatchNormParams, o: {
    gradOutput: Operand; input: Operand; weight: Operand | null; bias?: Operand | null; saveMean: Operand; saveInvstd: Operand;
    gradInput: Operand; gradWeight: Operand | null; gradBias: Operand | null;
  }, relu?: boolean): void;
  maxPoolForward(p: Pool2dParams, o: { input: Operand; output: Operand; indices: Operand }): void;
  maxPoolBackward(p: Pool2dParams, o: { gradOutput: Operand; indices: Operand; gradInput: Operand }): void;
  avgPoolForward(p: Pool2dParams, o: { input: Operand; output: Operand }): void;
  avgPoolBackward(p: Pool2dParams, o: { gradOutput: Operand; gradInput: Operand }): void;
  adaptiveAvgPoolForward(p: AdaptivePool2dParams, o: { input: Operand; output: Operand }): void;
  adaptiveAvgPoolBackward(p: AdaptivePool2dParams, o: { gradOutput: Operand; gradInput: Operand }): void;
  biasReluForward(p: ChannelParams, o: { input: Operand; bias: Operand; output: Operand }): void;
  biasReluBackward(p: ChannelParams, o: { gradOutput: Operand; output: Operand; gradInput: Operand; gradBias: Operand | null }): void;
  addReluForward(p: CountParams, o: { a: Operand; b: Operand; output: Operand }): void;
  reluBackward(p: CountParams, o: { gradOutput: Operand; output: Operand; gradInput: Operand }): void;
  softmaxForward(p: SoftmaxParams, o: { input: Operand; output: Operand }): void;
  softmaxBackward(p: SoftmaxParams, o: { output: Operand; gradOutput: Operand; gradInput: Operand }): void;
  nllForward(p: NllParams, o: { input: Operand; target: Operand; loss: Operand }): void;
  nllBackward(p: NllParams, o: { target: Operand; gradLoss: Operand; gradInput: Operand }): void;
  /** Mean-reduced cross-entropy in one op (CPU): loss (1) and the log-probabilities (rows, classes) for backward. */
  crossEntropyForward(p: NllParams, o: { input: Operand; target: Operand; loss: Operand; logp: Operand }): void;
  crossEntropyBackward(p: NllParams, o: { logp: Operand; target: Operand; gradLoss: Operand; gradInput: Operand }): void;
  /** offsetBase: inside a CUDA graph capture, the device word the draw's counter starts from (cuda/dropout.cu). */
  dropoutForward(p: DropoutParams, o: { input: Operand; output: Operand; mask: Operand; offsetBase?: Operand | null }): void;
  // index family (index_ops.cc): cat, where / maskedFill, clamp with tensor bounds, gather / scatter, sort / topk
  cat(p: CatParams, o: { inputs: Operand[]; output: Operand }): void;
  where(p: WhereParams, o: { condition: ViewOperand; a: ViewOperand | null; b: ViewOperand | null; output: Operand }): void;
  clampTensor(p: { dtype: number }, o: { input: ViewOperand; min: ViewOperand | null; max: ViewOperand | null; output: Operand }): void;
  clampTensorBackward(o: {
    input: ViewOperand; min: ViewOperand | null; max: ViewOperand | null; gradOutput: Operand;
    gradInput: Operand | null; gradMin: Operand | null; gradMax: Operand | null;
  }): void;
  gather(p: IndexParams, o: { index: ViewOperand; input: ViewOperand; output: ViewOperand }): void;
  scatter(p: IndexParams & { add: boolean }, o: { index: ViewOperand; output: ViewOperand; source: ViewOperand }): void;
  sort(p: SortParams, o: { input: Operand; values: Operand; indices: Operand }): void;
  // cuDNN (cudnn_ops.cc): the conv entry points' arguments, on a CUDA device
  cudnnInfo(): CudnnInfo;
  cudnnSetOptions(o?: Partial<CudnnOptions>): CudnnOptions;
  cudnnConv2dForward: Conv2dEntry<Conv2dForwardOperands>;
  cudnnConv2dBackwardData: Conv2dEntry<Conv2dBackwardDataOperands>;
  cudnnConv2dBackwardWeight: Conv2dEntry<Conv2dBackwardWeightOperands>;
  // optimizers (optim_ops.cc): one call per parameter group and device
  sgdStep(tensors: OptimEntry[], h: SgdHyper): void;
  adamStep(tensors: OptimEntry[], h: AdamHyper): void;
  adamHyperUpload(dst: Operand, h: AdamHyper): void;
  rmspropStep(tensors: OptimEntry[], h: RmspropHyper): void;
  // data (data_ops.cc)
  batchAugment(p: BatchAugmentParams, o: { input: Operand; params: Operand; norm: Operand | null; output: Operand }): void;
  // process (addon.cc)
  buildInfo(): BuildInfo;
  cudaInfo(): CudaInfo;
  synchronize(): void;
  memoryStats(): DeviceMemoryStats[];
  emptyCache(): void;
  /** V8's count of external memory in bytes: every CPU Storage adds its bytes on allocation and gives them back on release. */
  externalMemory(): number;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  // CPU convolution algorithm (conv_algo.cc)
  setConvAlgo(algo: ConvAlgo): void;
  getConvAlgo(): ConvAlgo;
  // fused CPU kernels (fused_ops.cc; lib/nn/fusion.ts)
  conv2dBnActEval(p: Conv2dParams & { eps: number; relu: boolean }, o: {
    input: Operand; weight: Operand; bias: Operand | null; bnWeight: Operand | null; bnBias: Operand | null;
    runningMean: Operand; runningVar: Operand; residual: Operand | null; output: Operand;
  }): void;
  /** Training-mode batch norm + ReLU + 2x2 max pool (stride 2, floor) in one kernel each way (CPU only; lib/nn/fusion.ts). */
  batchNormReluMaxPool2Train(p: { N: number; C: number; H: number; W: number; eps: number; momentum: number }, o: {
    input: Operand; weight: Operand | null; bias: Operand | null; runningMean: Operand | null; runningVar: Operand | null;
    output: Operand; indices: Operand; saveMean: Operand; saveInvstd: Operand;
  }): void;
  batchNormReluMaxPool2Backward(p: { N: number; C: number; H: number; W: number }, o: {
    gradOutput: Operand; indices: Operand; input: Operand; weight: Operand | null; bias: Operand | null; saveMean: Operand;
    saveInvstd: Operand; gradInput: Operand | null; gradWeight: Operand | null; gradBias: Operand | null;
  }): void;
  // bf16 autocast on the CPU (bf16_ops.cc; lib/autocast.ts)
  /** The precision of the CPU GEMM (and so of the CPU convolution) from now on; returns the previous one. */
  setGemmPrecision(precision: 'float32' | 'bfloat16'): 'float32' | 'bfloat16';
  /** The BF16 GEMM's micro-kernel: 'avx512bf16' (vdpbf16ps), 'avx512fma' or 'portable' (its exact emulations). */
  gemmBf16Kernel(): 'avx512bf16' | 'avx512fma' | 'portable';
  /** output = input rounded to bf16 values (round to nearest even), FP32 storage; CPU only. */
  roundBf16(p: CountParams, o: { input: Operand; output: Operand }): void;
  // benchmarks (bench_ops.cc)
  /** The machine's measured peaks (benchmarks' fraction-of-peak column): FMA GF/s and triad GB/s. */
  measurePeak(device: 'cpu' | 'cuda', seconds: number, bytes: number, reps: number): { gflops: number; gbps: number };
  /** CUDA events around work on convkit's stream: start, then stop returns the milliseconds between. */
  cudaTimerStart(): void;
  cudaTimerStop(): number;
  // host emulation (emu_ops.cc)
  /**
   * Emulated builds only (else ERR_DEVICE): the order in which the host emulation runs threads and blocks
   * ('forward' | 'reverse' | 'random' | 'random:<seed>' | 'warps', see cuda/emu/emu.h); returns the previous one.
   */
  emuSetSchedule(spec: string): string;
  /** Emulated builds only (else ERR_DEVICE): the shared-memory poison/race/initialisation checks; returns the previous setting. */
  emuSetChecks(on: boolean): boolean;
  /** Emulated builds only (else ERR_DEVICE): the number of emulated devices (0: CONVKIT_EMU_DEVICES again); returns the previous count. */
  emuSetDevices(count: number): number;
  // cuda_stats.cc (lib/cuda_stats.ts, lib/backends.ts); binaries without CUDA refuse all but cudaStats/cudaSetMath
  cudaStatsSet(o: { enabled: boolean; dryRun?: boolean }): void;
  cudaStats(): Omit<CudaLaunchStats, 'kernels'> & { kernels: Omit<KernelLaunchStats, 'utilisation'>[] };
  cudaSetMath(o: { convTF32: boolean; matmulTF32: boolean }): void;
  cudaConvTuning(o: ConvTuning): void;
  cudaDeviceProps(): { smCount: number; computeCapability: number };
  // cuda_runtime_ops.cc (lib/memory.ts, lib/cuda/graph.ts); binaries without CUDA refuse them (ERR_DEVICE)
  allocPinned(bytes: number): NativeStorage;
  cudaMemory(device: number): { reserved: number; used: number; cached: number; limit: number; total: number };
  cudaEmptyCache(): void;
  cudaSetMemoryFraction(fraction: number, device: number): void;
  cudaGraphBegin(device: number): NativeGraph;
  /** Returns the recorded node count. */
  cudaGraphEnd(g: NativeGraph): number;
  /** With rngBase: writes rngOffset (the generator's counter) there first, in stream order (graph-safe dropout). */
  cudaGraphReplay(g: NativeGraph, rngBase?: Operand | null, rngOffset?: number): void;
  cudaGraphDestroy(g: NativeGraph): void;
  /** The loader's child-process test: a context, an allocation, one kernel and a synchronisation on every device. */
  cudaProbe(): { ok: boolean; why: string };
}

/** An opaque CUDA graph handle (csrc/binding/cuda_runtime_ops.cc). */
export interface NativeGraph {
  readonly __nativeGraph: unique symbol;
}

const root = path.resolve(__dirname, '..');
const FLAVOURS = ['cpu', 'cuda', 'emu'];
const PREBUILDS = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

const prebuilt = (flavour: string) => path.join(PREBUILDS, `convkit.napi.${flavour}.node`);
const localBuild = (flavour: string) => path.join(root, `build-${flavour}`, 'Release', 'convkit.node');

export let binaryPath = '';
/** Why this binary was chosen (and what was passed over), for info(). */
export let loadReason = '';

// The kernel module's version file, or a loadable libcuda: without either the CUDA runtime cannot start.
function nvidiaDriver(): { ok: boolean; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `no CUDA binary for ${process.platform}` };
  if (fs.existsSync('/proc/driver/nvidia/version')) return { ok: true, why: '' };
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/nvidia/lib64', '/usr/lib/wsl/lib',
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
  if (dirs.some((d) => fs.existsSync(path.join(d, 'libcuda.so.1')))) return { ok: true, why: '' };
  return { ok: false, why: 'no NVIDIA driver found (no /proc/driver/nvidia/version, no libcuda.so.1)' };
}

// Loads a CUDA binary in a child process first: a broken driver may crash the loader, and that must
// not take the user's process with it.
function testLoadCuda(p: string): { ok: boolean; why: string } {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { spawnSync } = require('child_process') as typeof import('child_process');
  // Listing the devices is not enough: a GPU without code for its architecture in this binary lists fine and
  // fails at the first kernel. So the child also runs the probe (csrc/binding/cuda_runtime_ops.cc).
  const script = `const m = require(${JSON.stringify(p)}); const info = m.cudaInfo();
process.stdout.write(JSON.stringify({ ...info, probe: info.available ? m.cudaProbe() : null }))`;
  const r = spawnSync(process.execPath, ['-e', script], {
    timeout: 30000,
    encoding: 'utf8',
  });
  if (r.error) return { ok: false, why: `test load failed: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, why: `test load ${r.signal ? `was killed by ${r.signal}` : `exited with ${r.status}`}: ${(r.stderr || '').trim().split('\n').pop()}` };
  try {
    const info = JSON.parse(r.stdout) as { available: boolean; runtime: string; probe: { ok: boolean; why: string } | null };
    if (!info.available) return { ok: false, why: `no usable GPU: ${info.runtime}` };
    if (info.probe && !info.probe.ok) return { ok: false, why: `the CUDA probe (allocate, launch one kernel, synchronise) failed: ${info.probe.why}` };
    return { ok: true, why: '' };
  } catch {
    return { ok: false, why: 'test load printed nothing' };
  }
}

function tryRequire(p: string, attempts: string[]): Native | null {
  if (!fs.existsSync(p)) {
    attempts.push(`  ${p}: not found`);
    return null;
  }
  try {
    return require(p) as Native;
  } catch (e) {
    attempts.push(`  ${p}: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
}

function fail(attempts: string[], extra = ''): never {
  throw ckError(
    'ERR_BINDING',
    'convkit: could not load the native addon. Tried:\n' + attempts.join('\n') +
      '\nTo fix: reinstall convkit so the prebuilt binary for ' + `${process.platform}-${process.arch}` +
      ' is used, or build from a clone with `npm run build:native` (cmake, a C++17 compiler; nvcc for CUDA).' + extra,
  );
}

function loadExplicit(want: string): Native {
  const attempts: string[] = [];
  // A local build is the developer's newest; the prebuilt is what an installed package has.
  const paths = FLAVOURS.includes(want) ? [localBuild(want), prebuilt(want)] : [path.resolve(want)];
  for (const p of paths) {
    const m = tryRequire(p, attempts);
    if (!m) continue;
    binaryPath = p;
    loadReason = `CONVKIT_BINARY=${want}`;
    if (want === 'cuda' && !m.cudaInfo().available) {
      const drv = nvidiaDriver();
      throw ckError(
        'ERR_DEVICE',
        `CONVKIT_BINARY=cuda: the CUDA binary loaded but cannot use a GPU: ${drv.ok ? m.cudaInfo().runtime : drv.why}. ` +
          'It needs an NVIDIA GPU and the NVIDIA driver (580 or newer for the CUDA 13 runtime); unset CONVKIT_BINARY to use the CPU binary.',
      );
    }
    return m;
  }
  return fail(attempts, `\nCONVKIT_BINARY is set to '${want}'.`);
}

// Newest first: in a checkout a local build is usually newer than the prebuilt, in an installed
// package only the prebuilt exists.
function newestFirst(paths: string[]): string[] {
  const t = (p: string) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : -1);
  return paths.filter((p) => fs.existsSync(p)).sort((a, b) => t(b) - t(a));
}

function loadAuto(): Native {
  const attempts: string[] = [];
  const passedOver: string[] = [];
  const cudaCandidates = newestFirst([prebuilt('cuda'), localBuild('cuda')]);
  if (cudaCandidates.length) {
    const drv = nvidiaDriver();
    for (const p of cudaCandidates) {
      const t = drv.ok ? testLoadCuda(p) : drv;
      if (t.ok) {
        const m = tryRequire(p, attempts);
        if (m) {
          binaryPath = p;
          loadReason = 'CUDA binary: an NVIDIA driver and GPU are present';
          return m;
        }
      } else passedOver.push(`${path.relative(root, p)}: ${t.why}`);
    }
  }
  const cpuCandidates = [...newestFirst([prebuilt('cpu'), path.join(root, 'build', 'Release', 'convkit.node'), localBuild('cpu')]), localBuild('emu')];
  for (const p of cpuCandidates) {
    const m = tryRequire(p, attempts);
    if (!m) continue;
    binaryPath = p;
    loadReason = passedOver.length ? `CUDA binary not used (${passedOver.join('; ')})` : 'the only binary present';
    return m;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const p = (require('node-gyp-build') as { path(dir: string): string }).path(root);
    const m = require(p) as Native;
    binaryPath = p;
    loadReason = 'found by node-gyp-build';
    return m;
  } catch (e) {
    attempts.push(`  node-gyp-build: ${(e as Error).message.split('\n')[0]}`);
  }
  return fail(attempts, passedOver.length ? `\nCUDA binaries passed over: ${passedOver.join('; ')}` : '');
}

// DataLoader worker threads (lib/data/worker_pool.ts marks their workerData) must never load the addon: a
// worker terminated by close() while the addon registers itself aborts the whole process. Their entry
// imports only host-array code (transforms/lazy_tensor.ts); an import chain that reaches this module from
// there is a bug, and it fails here, loudly, instead of loading.
if (!isMainThread && (workerData as { convkitLoaderWorker?: unknown } | null)?.convkitLoaderWorker === true) {
  throw ckError('ERR_BINDING', 'convkit: the native addon was required inside a DataLoader worker thread; ' +
    'workers must only import host-array modules (lib/data/worker.ts). Stack of the import:\n' + new Error().stack);
}

export const native: Native = process.env.CONVKIT_BINARY ? loadExplicit(process.env.CONVKIT_BINARY) : loadAuto();

/** ck.distributed's native entries (csrc/binding/dist_ops.cc): one default process group per process. */
export interface NativeDist {
  distInfo(backend: 'gloo' | 'nccl'): {
    gloo: boolean; glooError: string; nccl: boolean; ncclError: string; ncclPath: string; ncclVersion: number; ncclEmulated: boolean;
    ncclAttempts: string[]; initialized: boolean;
  };
  distInit(o: { backend: string; rank: number; worldSize: number; masterAddr: string; masterPort: number; timeoutMs: number; hostname: string; iface: string }): void;
  distDestroy(): void;
  /** kind: 0 allReduce, 1 broadcast, 2 allGather, 3 reduceScatter, 4 barrier; op: 0 sum, 1 avg, 2 max, 3 min, 4 product. */
  distSubmit(p: { kind: number; dtype: number; op: number; root: number; count: number; device: number }, o: { input: Operand | null; output: Operand | null }): number;
  distWait(work: number, o: { output: Operand | null }): void;
  distPoll(work: number): boolean;
}

/**
 * Which convolution implementation runs on CUDA tensors, and the cuDNN settings, in the spirit of
 * torch.backends.cudnn. cuDNN 9 is found with dlopen on first use (CONVKIT_CUDNN_PATH, the dynamic loader's
 * path, the usual install locations, a Python nvidia-cudnn wheel); nothing here needs it to be present.
 *
 *   backends.conv = 'auto'     cuDNN when it loaded, the hand-written kernels otherwise (default)
 *   backends.conv = 'cudnn'    cuDNN or an ERR_CUDNN error naming every place that was searched
 *   backends.conv = 'native'   always the hand-written kernels
 *
 * A layer overrides it with `new nn.Conv2d(..., { backend })`, F.conv2d with `{ backend }`. As in PyTorch
 * the cuDNN settings only affect CUDA tensors: on the CPU the native kernels always run.
 *
 * TF32, as PyTorch's two switches: backends.cudnn.allowTF32 (default true) lets convolutions use TF32
 * tensor cores, cuDNN's and the hand-written kernels' alike (compute capability 8.0 and newer);
 * backends.cuda.matmul.allowTF32 (default false) does the same for matmul and linear (the hand-written
 * matmul has no TF32 kernel yet, so it stays FP32 either way).
 */
import { CudnnInfo, native } from './binding';
import { ckError, ConvkitError, ErrorCode } from './errors';

export type ConvBackend = 'auto' | 'cudnn' | 'native';
const CONV_BACKENDS: readonly ConvBackend[] = ['auto', 'cudnn', 'native'];

export type { CudnnInfo };

let info: CudnnInfo | null = null;
let benchmark = false;
let allowTF32 = true;
let matmulTF32 = false;
let conv: ConvBackend = 'auto';

function cudnnInfo(): CudnnInfo {
  if (!info) {
    info = typeof native.cudnnInfo === 'function'
      ? native.cudnnInfo()
      : { compiled: false, available: false, version: null, path: null, error: 'cuDNN is not available: this convkit binary predates the cuDNN path', attempts: [], notes: [] };
  }
  return info;
}

function pushOptions(): void {
  if (typeof native.cudnnSetOptions === 'function') native.cudnnSetOptions({ benchmark, allowTF32 });
  native.cudaSetMath({ convTF32: allowTF32, matmulTF32 });
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw ckError('ERR_ARG', `backends.cudnn.${name} must be a boolean, got ${String(v)}`, 'TypeError');
  return v;
}

export function checkConvBackend(v: unknown, what = 'backends.conv'): ConvBackend {
  if (typeof v !== 'string' || !(CONV_BACKENDS as readonly string[]).includes(v))
    throw ckError('ERR_ARG', `${what} must be one of ${CONV_BACKENDS.map((b) => `'${b}'`).join(', ')}, got ${JSON.stringify(v)}`, 'TypeError');
  return v as ConvBackend;
}

/** The ERR_CUDNN error for a cuDNN that did not load: the loader's reason and every path it tried. */
export function cudnnUnavailableError(what: string): ConvkitError {
  const i = cudnnInfo();
  return ckError('ERR_CUDNN', `${what}: backend 'cudnn' was asked for, but ${i.error ?? 'cuDNN is not available'}`);
}

/**
 * The implementation a convolution on `device` runs: the per-call `override` (a layer's `backend`) or
 * backends.conv, resolved against whether cuDNN loaded. CPU tensors always get 'native'.
 */
export function resolveConvBackend(deviceType: 'cpu' | 'cuda', override: ConvBackend | undefined, what: string): 'cudnn' | 'native' {
  const want = override === undefined ? conv : checkConvBackend(override, `${what}: backend`);
  if (deviceType !== 'cuda' || want === 'native') return 'native';
  if (cudnnInfo().available) return 'cudnn';
  if (want === 'cudnn') throw cudnnUnavailableError(what);
  return 'native';
}

export const backends = {
  cudnn: {
    /** Whether cuDNN 9 loaded and this binary can run it (loads it on the first call). */
    isAvailable(): boolean {
      return cudnnInfo().available;
    },
    /** cuDNN's version as cudnnGetVersion() gives it (e.g. 90100), or null when unavailable. */
    version(): number | null {
      return cudnnInfo().version;
    },
    /** Everything the loader found out: path, version, and when unavailable the reason and each attempt. */
    info(): CudnnInfo {
      const i = cudnnInfo();
      return { ...i, attempts: [...i.attempts], notes: [...i.notes] };
    },
    /** Time every algorithm once per shape and keep the fastest (torch.backends.cudnn.benchmark). Default false. */
    get benchmark(): boolean {
      return benchmark;
    },
    set benchmark(v: boolean) {
      benchmark = bool('benchmark', v);
      pushOptions();
    },
    /** Let FP32 convolutions use TF32 tensor cores (torch.backends.cudnn.allow_tf32). Default true. */
    get allowTF32(): boolean {
      return allowTF32;
    },
    set allowTF32(v: boolean) {
      allowTF32 = bool('allowTF32', v);
      pushOptions();
    },
  },
  cuda: {
    matmul: {
      /** Let FP32 matmul/linear use TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32). Default false. */
      get allowTF32(): boolean {
        return matmulTF32;
      },
      set allowTF32(v: boolean) {
        if (typeof v !== 'boolean') throw ckError('ERR_ARG', `backends.cuda.matmul.allowTF32 must be a boolean, got ${String(v)}`, 'TypeError');
        matmulTF32 = v;
        pushOptions();
      },
    },
  },
  /** 'auto' | 'cudnn' | 'native': the convolution implementation for CUDA tensors. Default 'auto'. */
  get conv(): ConvBackend {
    return conv;
  },
  set conv(v: ConvBackend) {
    conv = checkConvBackend(v);
  },
};
